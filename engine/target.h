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
 *
 * Online apply (docs/online-sqlite.md, "Replay"): apply_begin ->
 * apply_change... -> apply_commit, or apply_abort; then the next batch.
 * A batch is one target transaction holding whole source transactions
 * and the migration's checkpoint, so that a restart resumes exactly after
 * the last batch committed.  A copy and a batch are never open at once
 * on one target, nor is a checkpoint read or dropped during either.
 * After an error from apply_change the batch is failed: the caller calls
 * apply_abort (apply_commit refuses it and rolls back).
 */
#ifndef FERRY_TARGET_H
#define FERRY_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/change.h"
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
	/*
	 * As copy_end, and in the copy's transaction upserts (migration, lsn)
	 * into _ferry_checkpoint (created when missing): a chunk of an online
	 * snapshot and the record that it is there commit together, so a
	 * resumed snapshot knows exactly which chunks the target holds.  As
	 * for apply_commit, the checkpoint never goes back (an lsn below the
	 * stored one fails and rolls the copy back).  Names of the form
	 * "<migration>/..." belong to that migration: checkpoint_drop of the
	 * migration removes them too.
	 */
	int (*copy_end_checkpoint)(ferry_target *tgt, int64_t *rows,
	                           const char *migration, uint64_t lsn,
	                           ferry_error *err);
	/* Abandons a copy after an error (rolls back what the copy wrote). */
	void (*copy_abort)(ferry_target *tgt);

	/* Primary key, unique and secondary indexes, identity/sequence past
	 * the largest value of autoincrement columns. */
	int (*finish_table)(ferry_target *tgt, const ferry_table *table,
	                    ferry_error *err);

	/* Foreign keys of table; called after every table is finished. */
	int (*add_foreign_keys)(ferry_target *tgt, const ferry_table *table,
	                        ferry_error *err);

	/* Starts one target transaction for a batch of whole source
	 * transactions.  Creates _ferry_checkpoint(migration PRIMARY KEY,
	 * lsn bigint NOT NULL, updated timestamp) if it is missing, in the
	 * schema new tables go to. */
	int (*apply_begin)(ferry_target *tgt, ferry_error *err);

	/*
	 * Applies one change to table, the TARGET table (its columns, types
	 * and primary key by pk_position).  before and after are images in
	 * table's column order, converted to its column types as for
	 * copy_row; NULL when the change has none.  Values travel as
	 * parameters, never in SQL text.
	 *
	 * The row a change is about is found by its key: the primary key
	 * columns (=).  A table without a primary key (rowid_key) has every
	 * column as its key, matched NULL-safely (IS NOT DISTINCT FROM, IS),
	 * and of several identical rows exactly one is changed: they cannot
	 * be told apart, so which one does not matter, and refusing would
	 * stop replication on a legitimate duplicate.  Such a table cannot
	 * be applied idempotently (nothing says whether a row is already
	 * there): FERRY_EUNSUPPORTED; copy it in one piece so that its
	 * changes can be applied strictly.
	 *
	 * Strict mode (idempotent false): exactly what the source did, or
	 * an error saying the target has diverged.
	 *   INSERT   inserts after (a present key is the server's error).
	 *   UPDATE   the row with the key of before (when the source gives no
	 *            before-image, before is NULL: the key of after) gets
	 *            after's values; a changed key moves the row (UPDATE SET
	 *            key = new WHERE key = old).  Exactly one row, else
	 *            update of "t" key (id=5) matched 0 rows: the target
	 *            has diverged.
	 *   DELETE   deletes the row with before's key; exactly one row.
	 *   TRUNCATE empties the table (no CASCADE).
	 * Idempotent mode (while the snapshot and the stream overlap): the
	 * change converges whether or not the target already has it.
	 *   INSERT   upsert of after by primary key (ON CONFLICT DO UPDATE,
	 *            never a REPLACE that deletes and fires ON DELETE).
	 *   UPDATE   upsert of after; if the key changed, the row still at
	 *            the old key is moved to the new one first, or deleted
	 *            when the new key already has a row.
	 *   DELETE   deletes the row if it is there.
	 *
	 * A writer may report an error from a later call than the change's
	 * (PostgreSQL pipelines the batch), apply_commit at the latest; the
	 * message names the table, the operation and the key.
	 */
	int (*apply_change)(ferry_target *tgt, const ferry_table *table,
	                    ferry_op op, const ferry_row *before,
	                    const ferry_row *after, bool idempotent,
	                    ferry_error *err);

	/* Upserts (migration, lsn) into _ferry_checkpoint in the batch's
	 * transaction and commits both.  A checkpoint never goes back: an
	 * lsn below the stored one fails the batch (two replayers).  lsn is
	 * stored as a signed 64-bit integer: at most INT64_MAX.  On failure
	 * the batch is rolled back. */
	int (*apply_commit)(ferry_target *tgt, const char *migration,
	                    uint64_t lsn, ferry_error *err);

	/* Rolls the batch back; the connection stays usable.  Harmless
	 * without a batch. */
	void (*apply_abort)(ferry_target *tgt);

	/* *lsn = the migration's committed checkpoint; 0 when it has none
	 * or _ferry_checkpoint does not exist.  Not during a batch. */
	int (*checkpoint_get)(ferry_target *tgt, const char *migration,
	                      uint64_t *lsn, ferry_error *err);

	/* Removes the migration's checkpoint (and those named
	 * "<migration>/...") and drops _ferry_checkpoint once no migration
	 * has one (ferry clean); on PostgreSQL also the replication origin
	 * "ferry_<migration>" mark_origin created.  Not during a batch. */
	int (*checkpoint_drop)(ferry_target *tgt, const char *migration,
	                       ferry_error *err);

	/*
	 * Marks what this connection writes from now on as ferry's, under
	 * the name origin ("ferry_<migration id>"), so that a capture of this
	 * database does not carry ferry's own writes back (two-way use: the
	 * reverse stream after a cutover, a forward stream after a
	 * rollback).  PostgreSQL: the replication origin of that name,
	 * created if missing, set up for the session; every transaction
	 * committed afterwards carries it and pgoutput readers skip it.
	 * SQLite, which has no origins: the connection fires no triggers
	 * (neither capture nor fence triggers see ferry's writes; as with
	 * PostgreSQL's replication apply, user triggers do not run twice).
	 * FERRY_EUNSUPPORTED when the database refuses it (a role that may
	 * not use replication origins), with how to allow it.  Not during a
	 * batch or copy.  checkpoint_drop removes the origin again.
	 */
	int (*mark_origin)(ferry_target *tgt, const char *origin,
	                   ferry_error *err);

	void (*close)(ferry_target *tgt); /* accepts NULL; aborts a batch */
} ferry_target_ops;

/*
 * Checks the images an apply_change of op needs, against the table's
 * width: the after-image for insert and update, the before-image for
 * delete (and for an update of a table without primary key).  Writers
 * call it first; FERRY_EINVAL / FERRY_EUNSUPPORTED name op and table.
 *
 * Absent values (FERRY_ABSENT: not sent by the source) are allowed only
 * in non-key columns of a before-image (the row is found by its key) and
 * of a strict update's after-image (a partial update: those columns keep
 * their values).  Anywhere else - an insert, a key column, a table
 * without a primary key, an idempotent update, which may have to insert
 * the row whole - the change is refused: FERRY_EUNSUPPORTED.
 */
int ferry_target_check_images(const ferry_table *table, ferry_op op,
                              const ferry_row *before, const ferry_row *after,
                              bool idempotent, ferry_error *err);

#endif
