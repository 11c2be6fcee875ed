/*
 * transforms/convert.h - typed conversions: a source value into a target
 * column's type, exactly or not at all.
 *
 * The rules are written down in docs/conversions.md.  A value that does not
 * fit (text that is not a number or a date, an impossible date, precision
 * overflow, an inexact division, a string too long for varchar(n), invalid
 * UTF-8 or JSON for PostgreSQL) is refused with FERRY_EREJECT and a reason
 * naming the value: the row becomes a reject, never a silently altered row.
 */
#ifndef FERRY_CONVERT_H
#define FERRY_CONVERT_H

#include "engine/arena.h"
#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"

/*
 * Converts in to a value of ferry_sqltype_value_type(to) that fits `to`.
 * divide_by, when not NULL, divides the value exactly first (integer cents
 * -> numeric(12,2)).  NULL stays NULL (NOT NULL is the plan's check).
 * out's payload may point into in's payload or into scratch.
 * Returns 0, FERRY_EREJECT (reason in err), or FERRY_ENOMEM.
 */
int ferry_convert(const ferry_value *in, const ferry_sqltype *to,
                  const ferry_decimal *divide_by, ferry_dialect dialect,
                  ferry_value *out, ferry_arena *scratch, ferry_error *err);

/* Whether len bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool ferry_utf8_valid(const char *s, size_t len);

/* Whether len bytes at s are one JSON value (RFC 8259) and nothing else
 * but white space; *has_nul_escape is set when it contains \u0000. */
bool ferry_json_valid(const char *s, size_t len, bool *has_nul_escape);

#endif
