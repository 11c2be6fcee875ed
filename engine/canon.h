/*
 * engine/canon.h - values brought to a target column's type and encoded
 * canonically, for verification (docs/verify.md, "Canonical values").
 *
 * A value read back from a database is not always in the form ferry
 * wrote it (SQLite keeps numeric 19.90 as the REAL 19.9, a boolean as
 * 1, a date as text; PostgreSQL pads char(n) and sorts jsonb keys).
 * ferry_canon_coerce brings it to the value type of the column, by
 * value and never by rounding; ferry_canon_append then appends the
 * bytes ferry_value_canonical gives for it, so that two values are
 * equal exactly when their bytes are.  ferry_canon_key appends an
 * encoding whose memcmp order is the key order (integers numerically,
 * text and blobs in byte order).
 */
#ifndef FERRY_CANON_H
#define FERRY_CANON_H

#include <stddef.h>

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"

/*
 * Sets *out to v in the value type of `type` (ferry_sqltype_value_type)
 * when v has an accepted form of it (docs/verify.md has the table);
 * otherwise *out = *v, unchanged, so it compares unequal to every value
 * of the column's type.  out's payload may point into v's payload or
 * into scratch (reset by this call): valid until the next call with the
 * same scratch.  Returns 0 or FERRY_ENOMEM.
 */
int ferry_canon_coerce(const ferry_value *v, const ferry_sqltype *type,
                       ferry_value *out, ferry_buf *scratch, ferry_error *err);

/* Appends the canonical bytes of v coerced to type (scratch as above).
 * Returns 0, FERRY_ENOMEM, or FERRY_ECORRUPT for a numeric whose text is
 * not a number. */
int ferry_canon_append(ferry_buf *out, const ferry_value *v,
                       const ferry_sqltype *type, ferry_buf *scratch,
                       ferry_error *err);

/* Appends the order-preserving key bytes of v coerced to type: equal
 * values encode alike, and memcmp orders integers, floats, dates and
 * timestamps by value and text, blobs and uuids by their bytes. */
int ferry_canon_key(ferry_buf *out, const ferry_value *v,
                    const ferry_sqltype *type, ferry_buf *scratch,
                    ferry_error *err);

/*
 * Appends the canonical form of the JSON document s: no insignificant
 * white space, object members sorted by key bytes with the last of
 * duplicate keys kept (jsonb's rule), strings with their escapes
 * resolved and re-escaped minimally, numbers by decimal value (1.0 = 1,
 * 1e2 = 100).  Returns 0; -1 when s is not one JSON value (out is then
 * left as it was); FERRY_ENOMEM.
 */
int ferry_canon_json(ferry_buf *out, const char *s, size_t len);

/* The shortest decimal text that reads back to f (at most 17 digits,
 * no exponent for |f| in [1e-6, 1e21)), written to buf (at least 32
 * bytes); NaN and infinities are refused with -1. */
int ferry_canon_float_text(double f, char *buf, size_t cap);

#endif
