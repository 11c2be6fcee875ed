/*
 * engine/target.h - the interface every target writer implements
 * (engine/pg_target.c, engine/sqlite_target.c).
 *
 * Offline load: open -> prepare_table (every table, before any data) ->
 * copy_begin/copy_row.../copy_end per table (one connection per job) ->
 * finish_table (keys, indexes, identity) -> add_foreign_keys (after all
 * tables) -> close.
 *
 * Rows handed to copy_row were produced by transforms/convert for the
 * table's column types: each value is NULL or of
 * ferry_sqltype_value_type(column type), and fits it (length, precision,
 * valid UTF-8 without NUL, valid JSON, NOT NULL respected).  A writer may
 * rely on that; anything it still cannot store is an error that fails the
 * table, never a silent change.
 */
#ifndef FERRY_TARGET_H
#define FERRY_TARGET_H

#include <stdint.h>

#include "engine/error.h"
#include "engine/schema.h"
#include "engine/uri.h"
#include "engine/value.h"

typedef struct ferry_target ferry_target;

/* What prepare_table does with a table that already exists. */
typedef enum ferry_existing {
	FERRY_EXISTING_REFUSE = 0, /* error if it has rows (empty: reuse only if
	                              the columns match, else error) */
	FERRY_EXISTING_TRUNCATE,   /* empty it, keep its definition */
	FERRY_EXISTING_DROP        /* drop and recreate */
} ferry_existing;

typedef struct ferry_target_ops {
	const char *name; /* "postgresql", "sqlite" */

	int (*open)(ferry_target **out, const ferry_uri *uri, ferry_error *err);

	/*
	 * Checks what prepare_table would do, without changing anything: a
	 * non-empty existing table under FERRY_EXISTING_REFUSE is an error
	 * naming the table and the options (--truncate, --drop).  The load
	 * checks every table first so a refusal leaves the target untouched.
	 */
	int (*check_table)(ferry_target *tgt, const ferry_table *table,
	                   ferry_existing existing, ferry_error *err);

	/* Creates the table with its columns only: keys, indexes and foreign
	 * keys come after the data (faster, as pgloader does). */
	int (*prepare_table)(ferry_target *tgt, const ferry_table *table,
	                     ferry_existing existing, ferry_error *err);

	int (*copy_begin)(ferry_target *tgt, const ferry_table *table,
	                  ferry_error *err);
	int (*copy_row)(ferry_target *tgt, const ferry_row *row, ferry_error *err);
	/* Ends the copy and makes it durable; *rows = rows written. */
	int (*copy_end)(ferry_target *tgt, int64_t *rows, ferry_error *err);
	/* Abandons a copy after an error (rolls back what the copy wrote). */
	void (*copy_abort)(ferry_target *tgt);

	/* Primary key, unique and secondary indexes, identity/sequence past
	 * the largest value of autoincrement columns. */
	int (*finish_table)(ferry_target *tgt, const ferry_table *table,
	                    ferry_error *err);

	/* Foreign keys of table; called after every table is finished. */
	int (*add_foreign_keys)(ferry_target *tgt, const ferry_table *table,
	                        ferry_error *err);

	void (*close)(ferry_target *tgt); /* accepts NULL */
} ferry_target_ops;

#endif
