/*
 * cdc/sqlite_source.h - the SQLite file reader (engine/source.h).
 *
 * Reads one SQLite database file read-only, in one snapshot per
 * connection; docs/type-map.md has the type map and introspection rules.
 */
#ifndef FERRY_CDC_SQLITE_SOURCE_H
#define FERRY_CDC_SQLITE_SOURCE_H

#include <stdint.h>

#include <sqlite3.h>

#include "engine/source.h"

extern const ferry_source_ops ferry_sqlite_source_ops;

/*
 * The reader's introspection and scans on any connection, shared with
 * cdc/sqlite_capture.c, whose snapshot copy reads through its own
 * read-write connection inside the transaction that fixed its position.
 * They behave as the ops of the same names; uri (redacted) names the
 * database in messages.  Reads are consistent only inside a read
 * transaction the caller holds on db.
 */
int ferry_sqlite_introspect(sqlite3 *db, const char *uri, ferry_schema *out,
                            ferry_error *err);
int ferry_sqlite_scan_open(sqlite3 *db, const ferry_table *table,
                           ferry_scan **out, ferry_error *err);
/* As ferry_source_ops.scan_open_after (after_key NULL: from the first
 * row; no limit: the caller stops reading). */
int ferry_sqlite_scan_open_after(sqlite3 *db, const ferry_table *table,
                                 const ferry_row *after_key, ferry_scan **out,
                                 ferry_error *err);
int ferry_sqlite_scan_next(ferry_scan *scan, ferry_row *row, ferry_error *err);
void ferry_sqlite_scan_close(ferry_scan *scan);

/*
 * The names of the tables introspect would describe (ordinary user
 * tables, not SQLite's, not ferry's _ferry* objects), in name order, as
 * a ferry_malloc'd array of ferry_malloc'd strings.  Much cheaper than
 * introspect: no columns, no row counts.
 */
int ferry_sqlite_table_names(sqlite3 *db, const char *uri, char ***names,
                             uint32_t *n, ferry_error *err);

#endif
