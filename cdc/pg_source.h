/*
 * cdc/pg_source.h - the PostgreSQL reader (engine/source.h).
 *
 * Reads the tables of one schema, the connection's current_schema(), in
 * one REPEATABLE READ READ ONLY snapshot per connection.
 * docs/postgresql-source.md has the type map, the introspection rules
 * and the snapshot rules.
 *
 * Beyond the ops table, the entry points below serve the online
 * PostgreSQL capture: reading under the snapshot a replication slot
 * exported, and copying in short chunks, each in its own transaction,
 * so that no snapshot is held for the hours a big copy takes.  libpq's
 * connection is named by its struct tag so that this header does not
 * pull libpq-fe.h into every file that includes it.
 */
#ifndef FERRY_CDC_PG_SOURCE_H
#define FERRY_CDC_PG_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/source.h"

struct pg_conn; /* libpq's PGconn */

extern const ferry_source_ops ferry_pg_source_ops;

/*
 * As ferry_pg_source_ops.open, but the transaction reads under snapshot,
 * an id from pg_export_snapshot() or from a replication slot created
 * with EXPORT_SNAPSHOT, while the exporting transaction or replication
 * command is still open (SET TRANSACTION SNAPSHOT).  snapshot NULL is
 * plain open.  An unknown or expired id fails with the server's reason.
 */
int ferry_pg_source_open_snapshot(ferry_source **out, const ferry_uri *uri,
                                  const char *snapshot, ferry_error *err);

/*
 * Reads through conn, a connection the caller made and keeps: closing
 * the source ends only the transaction the source began, never conn.
 * name (the redacted URI) names the database in messages.  The source
 * sets the session settings its decoding relies on (client encoding,
 * date, interval and float output, TimeZone UTC, row_security off;
 * docs/postgresql-source.md), which stay after close.
 *
 * With snapshot, conn must be idle: the source begins REPEATABLE READ
 * READ ONLY and imports the snapshot.  Without, it reads in the
 * transaction conn already has open (the caller's choice of isolation
 * and snapshot; the source never ends it, and leaves no savepoint of
 * its own in it), or begins its own when conn is idle.  conn must not be
 * in a failed transaction or a COPY, and must be a regular connection:
 * scans use the extended query protocol, which a replication connection
 * refuses.  (A replication slot's exported snapshot is read this way on
 * a second, regular connection, as pg_dump --snapshot does.)
 */
int ferry_pg_source_attach(ferry_source **out, struct pg_conn *conn,
                           const char *name, const char *snapshot,
                           ferry_error *err);

/*
 * Exports the source's snapshot (pg_export_snapshot()) so that other
 * connections can read exactly what this one reads, through
 * ferry_pg_source_open_snapshot, for as long as this source keeps its
 * transaction.  *out is ferry_malloc'd.  Begins the transaction if the
 * source holds none.
 */
int ferry_pg_source_export_snapshot(ferry_source *src, char **out,
                                    ferry_error *err);

/*
 * Ends the source's transaction: the snapshot is released.  The next
 * introspect or scan begins a new one (at first use), with a new
 * snapshot.  FERRY_EINVAL while a scan is open, or when the
 * transaction is the caller's (attach without snapshot on a connection
 * in a transaction).  A source holding no transaction: nothing to do.
 */
int ferry_pg_source_release(ferry_source *src, ferry_error *err);

/*
 * One chunk of a resumable copy, read in its own short REPEATABLE READ
 * READ ONLY transaction that is committed before this returns: the at
 * most limit (>= 1) rows whose primary key is greater than after_key
 * (NULL: from the first row), in key order, as scan_open_after selects
 * them.  The rows are held in memory by *out, a scan that reads them
 * with the ops' scan_next and is freed with scan_close; it does not use
 * the connection, which is free again at once.  When snapshot is not
 * NULL, *snapshot is set to the chunk transaction's snapshot as
 * pg_current_snapshot() prints it ("xmin:xmax:xip,..."), ferry_malloc'd,
 * so a capture can tell which changes the chunk already saw.
 *
 * The source must hold no transaction (FERRY_EINVAL otherwise: release
 * it first), so chunks never hold back vacuum between them.  A table
 * without a primary key, limit 0 or a malformed after_key: FERRY_EINVAL.
 */
int ferry_pg_source_read_chunk(ferry_source *src, const ferry_table *table,
                               const ferry_row *after_key, uint64_t limit,
                               ferry_scan **out, char **snapshot,
                               ferry_error *err);

/*
 * Decodes a whole binary COPY stream (header, tuples, trailer) as a scan
 * of table would, each column as its declared type (type.kind) travels
 * in binary, and counts its rows.  Malformed input is FERRY_ECORRUPT
 * naming what is wrong; a value ferry cannot hold (a timestamp past
 * year 294247) is FERRY_EUNSUPPORTED.  For tests and fuzzers: the scans
 * use the same decoder on the server's messages.
 */
int ferry_pg_source_decode_copy(const ferry_table *table, const void *data,
                                size_t len, int64_t *rows, ferry_error *err);

#endif
