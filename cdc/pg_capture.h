/*
 * cdc/pg_capture.h - change capture from PostgreSQL by logical
 * replication (engine/capture.h; docs/online-postgresql.md is the
 * design): a publication and a pgoutput slot named after the migration,
 * the stream read through libpq's replication protocol, tables read
 * through cdc/pg_source.c.  A cutover's write fence is a trigger on each
 * captured table that only sessions with a replication origin pass
 * (docs/online-postgresql.md, "The write fence").
 */
#ifndef FERRY_CDC_PG_CAPTURE_H
#define FERRY_CDC_PG_CAPTURE_H

#include <stddef.h>

#include "engine/capture.h"

extern const ferry_capture_ops ferry_pg_capture_ops;

/*
 * Turns one value as pgoutput sends it (the type's text output, in the
 * session settings the stream runs with: DateStyle ISO, TimeZone UTC,
 * extra_float_digits 3, bytea_output hex) into the value a scan of a
 * column of that type gives (cdc/pg_source.c), so that a row copied by
 * the snapshot and the same row arriving as a change are identical.
 * Payloads are borrowed from text, except a bytea's, which is appended
 * to scratch: it points into scratch, so earlier values of the same row
 * stay valid only if the caller reserved room for all of them first
 * (len / 2 bytes per bytea), as the capture does.
 * FERRY_ECORRUPT when the text is not what PostgreSQL prints for the
 * type.  Exposed for tests.
 */
int ferry_pg_capture_value(const ferry_sqltype *type, const char *text,
                           size_t len, ferry_value *out, ferry_buf *scratch,
                           ferry_error *err);

/*
 * Whether a transaction with 32-bit xid is visible in a snapshot printed
 * by pg_current_snapshot() ("xmin:xmax:xip1,xip2,..." with 64-bit xids):
 * committed before the snapshot was taken.  A malformed snapshot sees
 * nothing.  Exposed for tests.
 */
bool ferry_pg_capture_xid_visible(const char *snapshot, uint32_t xid);

#endif
