/*
 * engine/source.h - the interface every source database reader (cdc/)
 * implements.  engine/ drives it without knowing which database is
 * behind it; engine/registry.c maps a URI kind to its ops.
 *
 * Lifecycle for an offline load: open -> introspect -> for each table
 * (possibly on several connections at once, one per job) scan_open ->
 * scan_next until 0 -> scan_close -> close.  Later issues add snapshot
 * positions, capture and fencing to this table.
 */
#ifndef FERRY_SOURCE_H
#define FERRY_SOURCE_H

#include <stdint.h>

#include "engine/error.h"
#include "engine/schema.h"
#include "engine/uri.h"
#include "engine/value.h"

typedef struct ferry_source ferry_source; /* a connection, reader-defined */
typedef struct ferry_scan ferry_scan;     /* one table's rows, reader-defined */

typedef struct ferry_source_ops {
	const char *name; /* "sqlite" */

	/* Connects read-only.  A failure names the redacted URI and the cause. */
	int (*open)(ferry_source **out, const ferry_uri *uri, ferry_error *err);

	/* Fills out with every user table (not the database's own internal
	 * tables, not ferry's), in a stable order, with row counts. */
	int (*introspect)(ferry_source *src, ferry_schema *out, ferry_error *err);

	/*
	 * Starts reading every row of table (as introspect described it) in
	 * one consistent read transaction, in primary-key order when the
	 * table has a key (rowid order for rowid tables).
	 */
	int (*scan_open)(ferry_source *src, const ferry_table *table,
	                 ferry_scan **out, ferry_error *err);

	/*
	 * Reads the next row into row (resized to the table's column count,
	 * values in column order, each with its exact stored type: SQLite's
	 * storage class, not the declared type).  Returns 1 for a row, 0 at
	 * the end, or a negative code.  Payloads are borrowed: valid until
	 * the next scan_next or scan_close.
	 */
	int (*scan_next)(ferry_scan *scan, ferry_row *row, ferry_error *err);

	void (*scan_close)(ferry_scan *scan); /* accepts NULL */

	/*
	 * A chunk of a resumable copy (engine/online.c, docs/online-sqlite.md
	 * "Resumable snapshot"): as scan_open, but only the rows whose primary
	 * key (the columns with pk_position > 0, in pk_position order) is
	 * greater than after_key, in key order; after_key NULL starts at the
	 * first row.  after_key holds one value per key column, taken from a
	 * row an earlier chunk returned, never with a NULL in it.  limit says
	 * how many rows the caller means to read (0: all): a reader whose
	 * keys cannot hold NULL may stop after limit rows; one whose keys
	 * can (SQLite) must keep delivering, in order, for as long as the
	 * caller reads.  Only for tables with a primary key: FERRY_EINVAL
	 * otherwise.
	 */
	int (*scan_open_after)(ferry_source *src, const ferry_table *table,
	                       const ferry_row *after_key, uint64_t limit,
	                       ferry_scan **out, ferry_error *err);

	void (*close)(ferry_source *src);     /* accepts NULL */
} ferry_source_ops;

#endif
