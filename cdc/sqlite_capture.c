/*
 * cdc/sqlite_capture.c - change capture from a SQLite database with
 * triggers (engine/capture.h; docs/online-sqlite.md is the design).
 *
 * Every captured table gets AFTER INSERT, UPDATE and DELETE triggers
 * that add one row per image to _ferry_changes (an update: its old row,
 * then its new row).  A read turns those rows into changes; a release
 * deletes what the journal holds.  _ferry_columns records the columns
 * each version of a table's triggers copies, so rows an older trigger
 * wrote still decode after a column was added.  Names go in as bound
 * parameters where SQL allows and quoted everywhere else, so any table
 * or column name works.
 *
 * The connection is read-write and runs no transaction between calls:
 * install, check and remove each take the write lock once (BEGIN
 * IMMEDIATE), a read and a snapshot each hold one read transaction.
 */
#include "cdc/sqlite_capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cdc/sqlite_source.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/sqlite_value.h"

/* How long a statement waits for another connection's lock. */
#define BUSY_TIMEOUT_MS 10000

/* The layout of the capture objects; _ferry_meta's "format".  1: seq is
 * AUTOINCREMENT.  2: seq is a plain rowid, kept from ever going back by
 * SEQ_TRIGGER and _ferry_meta's "released".  3: a plain rowid kept from
 * going back because release never deletes the newest row (see
 * cap_release), with no trigger on _ferry_changes.  1-3 write one row
 * per change: tbl, op, ver, both images (o0.., n0..).  4: as 3, but one
 * row per image: kind (version id and image kind), c0.. (docs/
 * online-sqlite.md says why).  All four are read and released; install
 * makes 4. */
#define CAPTURE_FORMAT 4

/* The first format with one image per row. */
#define FORMAT_ROWS 4

/* The trigger on _ferry_changes that keeps seq increasing in format 2
 * (an earlier ferry's installs; still checked and restored there); it
 * cannot clash with a table's _ins/_upd/_del triggers. */
#define SEQ_TRIGGER "_ferry_seq"

/* Columns of _ferry_changes before the images: seq, tbl, op, ver in
 * formats 1-3; seq, kind in format 4. */
#define PAIRED_FIXED_COLS 4
#define ROWS_FIXED_COLS 2

/* kind % 4 in format 4: which image a row holds.  kind / 4 is the id of
 * the version in _ferry_versions. */
enum { KIND_INSERT = 0, KIND_DELETE = 1, KIND_BEFORE = 2, KIND_AFTER = 3 };

/* Messages about reading ferry's own bookkeeping. */
#define STATE_WHAT "could not read capture state of SQLite database"

enum { OP_INS = 1, OP_UPD = 2, OP_DEL = 3 };

static const char *const op_suffix[] = {NULL, "ins", "upd", "del"};
static const char *const op_event[] = {NULL, "INSERT", "UPDATE", "DELETE"};

/* Columns per (table, capture version), for decoding a read. */
typedef struct version_info {
	int64_t id;             /* in _ferry_versions (format 4) */
	char *table;
	uint32_t version;
	uint32_t ncols;
} version_info;

struct ferry_capture {
	sqlite3 *db;
	char *uri;              /* redacted, for messages */
	bool in_snapshot;
	/* the installed layout, read in the transaction that relies on it */
	int64_t format;
	bool checked;           /* checked_cookie is a schema found unchanged */
	int checked_cookie;
	/* what a read needs, reloaded when the schema cookie moves */
	bool cached;
	int cache_cookie;
	/* sorted by id (format 4), else by table (bytes), then version */
	version_info *versions;
	uint32_t nversions;
	uint32_t width;         /* columns per image in _ferry_changes */
	sqlite3_stmt *read_stmt;
	ferry_change change;    /* reused for every change delivered */
	/* the text and blob bytes of an update's old row (format 4): the
	 * read steps past that row before the change is delivered */
	ferry_buf held;
};

/* A growable list of owned names. */
typedef struct names {
	char **v;
	uint32_t n;
} names;

/*
 * Sets err to "<what> \"<name>\": <SQLite's message>", mapping SQLite
 * running out of memory to FERRY_ENOMEM.  Must run before anything else
 * touches db, which would replace the message.
 */
static int db_fail(sqlite3 *db, ferry_error *err, const char *what,
                   const char *name)
{
	int code = sqlite3_errcode(db) == SQLITE_NOMEM ? FERRY_ENOMEM
	                                               : FERRY_ERROR;
	return ferry_error_set(err, code, "%s \"%s\": %s", what, name,
	                       sqlite3_errmsg(db));
}

/* ---- small helpers ---------------------------------------------- */

static int names_push(names *l, const char *s)
{
	char **grown = ferry_realloc(l->v, (l->n + 1) * sizeof *grown);
	if (!grown)
		return -1;
	l->v = grown;
	if (!(grown[l->n] = ferry_strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static void names_free(names *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		ferry_free(l->v[i]);
	ferry_free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int names_find(const names *l, const char *s)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return (int)i;
	return -1;
}

static bool names_equal(const names *a, const names *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* Appends s as an SQL string literal ('it''s'). */
static void put_literal(ferry_buf *b, const char *s)
{
	ferry_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			ferry_buf_putc(b, '\'');
		ferry_buf_putc(b, (uint8_t)*s);
	}
	ferry_buf_putc(b, '\'');
}

/* "_ferry_<table>_<ins|upd|del>": a fixed-length suffix after any table
 * name, so distinct tables never share a trigger name.  NULL when memory
 * runs out. */
static char *trigger_name(const char *table, int op)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "_ferry_%s_%s", table, op_suffix[op]);
	return ferry_buf_detach(&b, NULL);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* SQLite's integers are signed: a position past INT64_MAX cannot exist,
 * so clamping keeps "seq > after" and "seq <= upto" meaning the same. */
static sqlite3_int64 clamp_seq(uint64_t seq)
{
	return seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)seq;
}

/* ---- statements ------------------------------------------------- */

static int run(ferry_capture *cap, const char *sql, const char *what,
               ferry_error *err)
{
	if (sqlite3_exec(cap->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return db_fail(cap->db, err, what, cap->uri);
}

/* Runs the statement built in b (freed here), naming name on failure. */
static int run_buf(ferry_capture *cap, ferry_buf *b, const char *what,
                   const char *name, ferry_error *err)
{
	const char *sql = ferry_buf_cstr(b);
	int rc = 0;
	if (!sql)
		rc = ferry_error_oom(err);
	else if (sqlite3_exec(cap->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(cap->db, err, what, name);
	ferry_buf_free(b);
	return rc;
}

/* Prepares sql with text parameters ?1 = a1 and ?2 = a2 when given. */
static int prepare(ferry_capture *cap, const char *sql, const char *a1,
                   const char *a2, sqlite3_stmt **st, ferry_error *err)
{
	int rc = sqlite3_prepare_v2(cap->db, sql, -1, st, NULL);
	if (rc == SQLITE_OK && a1)
		rc = sqlite3_bind_text(*st, 1, a1, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && a2)
		rc = sqlite3_bind_text(*st, 2, a2, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		return 0;
	rc = db_fail(cap->db, err, STATE_WHAT, cap->uri);
	sqlite3_finalize(*st);
	*st = NULL;
	return rc;
}

/* The first column of the first row as an integer; *found is false when
 * there is no row or the value is NULL. */
static int query_int(ferry_capture *cap, const char *sql, const char *a1,
                     const char *a2, int64_t *out, bool *found,
                     ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(cap, sql, a1, a2, &st, err);
	if (rc != 0)
		return rc;
	*found = false;
	*out = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*found = true;
		*out = sqlite3_column_int64(st, 0);
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE
	         ? 0 : db_fail(cap->db, err, STATE_WHAT, cap->uri);
	sqlite3_finalize(st);
	return rc;
}

/* Steps st to the end, collecting its first column. */
static int collect_names(ferry_capture *cap, sqlite3_stmt *st, names *out,
                         ferry_error *err)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		if (!s || names_push(out, s) != 0)
			return ferry_error_oom(err);
	}
	return rc == SQLITE_DONE ? 0 : db_fail(cap->db, err, STATE_WHAT,
	                                       cap->uri);
}

static int query_names(ferry_capture *cap, const char *sql, const char *a1,
                       names *out, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(cap, sql, a1, NULL, &st, err);
	if (rc == 0)
		rc = collect_names(cap, st, out, err);
	sqlite3_finalize(st);
	return rc;
}

/* Whether the schema has an object of type and exactly this name. */
static int object_exists(ferry_capture *cap, const char *type,
                         const char *name, bool *exists, ferry_error *err)
{
	int64_t one;
	return query_int(cap, "SELECT 1 FROM sqlite_master"
	                 " WHERE type = ?1 AND name = ?2",
	                 type, name, &one, exists, err);
}

static int schema_cookie(ferry_capture *cap, int *cookie, ferry_error *err)
{
	int64_t v;
	bool found;
	int rc = query_int(cap, "PRAGMA schema_version", NULL, NULL, &v,
	                   &found, err);
	*cookie = (int)v;
	return rc;
}

/* ---- transactions ----------------------------------------------- */

/* Refuses calls that would end or nest inside an open snapshot. */
static int idle(ferry_capture *cap, const char *what, ferry_error *err)
{
	if (!cap->in_snapshot)
		return 0;
	return ferry_error_set(err, FERRY_EINVAL, "%s \"%s\": a snapshot is "
	                       "open on this connection", what, cap->uri);
}

static int begin(ferry_capture *cap, bool write, const char *what,
                 ferry_error *err)
{
	return run(cap, write ? "BEGIN IMMEDIATE" : "BEGIN", what, err);
}

/* Commits when rc is 0, else rolls back; returns the outcome. */
static int finish(ferry_capture *cap, int rc, const char *what,
                  ferry_error *err)
{
	if (rc == 0)
		rc = run(cap, "COMMIT", what, err);
	if (rc != 0 && !sqlite3_get_autocommit(cap->db))
		sqlite3_exec(cap->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* ---- ferry's tables --------------------------------------------- */

static bool rows_layout(const ferry_capture *cap)
{
	return cap->format >= FORMAT_ROWS;
}

/* The most image columns _ferry_changes can have: SQLite limits a table
 * to SQLITE_LIMIT_COLUMN columns (2000 by default), and it has one per
 * captured column plus two (format 4), or two plus four. */
static uint32_t max_width(ferry_capture *cap)
{
	int limit = sqlite3_limit(cap->db, SQLITE_LIMIT_COLUMN, -1);
	if (rows_layout(cap))
		return limit > ROWS_FIXED_COLS
		           ? (uint32_t)(limit - ROWS_FIXED_COLS) : 0;
	return limit > PAIRED_FIXED_COLS
	           ? (uint32_t)(limit - PAIRED_FIXED_COLS) / 2 : 0;
}

static int current_width(ferry_capture *cap, uint32_t *width,
                         ferry_error *err)
{
	int64_t n;
	bool found;
	int rc = query_int(cap, "SELECT count(*) FROM pragma_table_xinfo("
	                   "'_ferry_changes', 'main')"
	                   " WHERE name GLOB ?1 || '[0-9]*'",
	                   rows_layout(cap) ? "c" : "n", NULL, &n, &found,
	                   err);
	*width = (uint32_t)n;
	return rc;
}

/* Gives _ferry_changes image columns for need columns. */
static int widen(ferry_capture *cap, uint32_t need, ferry_error *err)
{
	uint32_t width;
	int rc = current_width(cap, &width, err);
	for (uint32_t i = width; rc == 0 && i < need; i++) {
		ferry_buf sql = FERRY_BUF_INIT;
		if (rows_layout(cap))
			ferry_buf_printf(&sql, "ALTER TABLE _ferry_changes"
			                 " ADD COLUMN c%" PRIu32, i);
		else
			ferry_buf_printf(&sql, "ALTER TABLE _ferry_changes"
			                 " ADD COLUMN o%" PRIu32 ";"
			                 " ALTER TABLE _ferry_changes"
			                 " ADD COLUMN n%" PRIu32, i, i);
		rc = run_buf(cap, &sql, "could not widen table",
		             "_ferry_changes", err);
	}
	return rc;
}

/*
 * Format 2 (installed by an earlier ferry; format 3 has no such trigger,
 * as release keeps the newest row instead: the trigger's WHEN test on
 * every captured row cost about 5% of an application insert's time,
 * measured with bench/sync).
 * seq of format 2 is a plain INTEGER PRIMARY KEY: a new row gets
 * max(seq) + 1, without AUTOINCREMENT's read and write of sqlite_sequence
 * per statement (measured: its cost was a third of capture's).  But a
 * release can empty the table, and an empty table starts again at 1,
 * below the journal's cursor.  So release records in "released" the
 * largest seq it ever deleted (in the transaction that deletes it), and
 * this trigger moves a row that got seq 1 (only a row written into an
 * empty table can) to released + 1.  Every seq is then larger than any
 * seq ever committed: SQLite has one writer at a time, and the trigger
 * runs in the writer's transaction.  The WHEN test costs less per row
 * than the subquery a max(seq, released) + 1 in the table triggers would
 * (measured).  remove drops it; check reports it missing.
 */
static void build_seq_trigger(ferry_buf *b)
{
	ferry_buf_puts(b, "CREATE TRIGGER " SEQ_TRIGGER " AFTER INSERT ON"
	               " _ferry_changes FOR EACH ROW WHEN NEW.seq = 1 BEGIN"
	               " UPDATE _ferry_changes SET seq = 1 + coalesce((SELECT"
	               " value FROM _ferry_meta WHERE key = 'released'), 0)"
	               " WHERE seq = 1; END");
}

/* Creates ferry's tables in format CAPTURE_FORMAT; width = image columns
 * to start with.  kind has no NOT NULL: only the triggers write it, the
 * reader refuses anything but an integer it knows, and every constraint
 * is work in each application statement. */
static int create_objects(ferry_capture *cap, const char *id, uint32_t width,
                          ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql,
	    "CREATE TABLE _ferry_meta (key TEXT PRIMARY KEY, value);"
	    "CREATE TABLE _ferry_columns (tbl TEXT NOT NULL,"
	    " version INTEGER NOT NULL, pos INTEGER NOT NULL,"
	    " name TEXT NOT NULL, PRIMARY KEY (tbl, version, pos))"
	    " WITHOUT ROWID;"
	    "CREATE TABLE _ferry_versions (id INTEGER PRIMARY KEY,"
	    " tbl TEXT NOT NULL, version INTEGER NOT NULL,"
	    " UNIQUE (tbl, version));"
	    "CREATE TABLE _ferry_changes (seq INTEGER PRIMARY KEY, kind");
	for (uint32_t i = 0; i < width; i++)
		ferry_buf_printf(&sql, ", c%" PRIu32, i);
	ferry_buf_puts(&sql, ");");
	ferry_buf_printf(&sql, "INSERT INTO _ferry_meta VALUES ('format', %d),"
	                 " ('released', 0), ('migration', ", CAPTURE_FORMAT);
	put_literal(&sql, id);
	ferry_buf_puts(&sql, ")");
	cap->format = CAPTURE_FORMAT;
	return run_buf(cap, &sql,
	               "could not install capture in SQLite database", cap->uri,
	               err);
}

/* Reads the installed format into cap->format (format 1 had no such
 * key), refusing one this ferry does not know. */
static int read_format(ferry_capture *cap, ferry_error *err)
{
	int64_t format;
	bool exists;
	int rc = query_int(cap, "SELECT value FROM _ferry_meta"
	                   " WHERE key = 'format'", NULL, NULL, &format,
	                   &exists, err);
	if (rc != 0)
		return rc;
	if (!exists)
		format = 1;
	if (format < 1 || format > CAPTURE_FORMAT)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "could not use "
		                       "capture in SQLite database \"%s\": it "
		                       "has format %" PRId64 "; this ferry "
		                       "handles formats 1 to %d", cap->uri,
		                       format, CAPTURE_FORMAT);
	cap->format = format;
	return 0;
}

/*
 * Reads the installed migration id into *owner and the format into
 * cap->format.  Returns 1 when nothing is installed (no _ferry_meta), 0
 * when found, or a negative code.
 */
static int read_owner(ferry_capture *cap, char **owner, ferry_error *err)
{
	bool exists;
	int rc = object_exists(cap, "table", "_ferry_meta", &exists, err);
	if (rc != 0 || !exists)
		return rc != 0 ? rc : 1;
	rc = read_format(cap, err);
	if (rc != 0)
		return rc;
	names got = {0};
	rc = query_names(cap, "SELECT value FROM _ferry_meta"
	                 " WHERE key = 'migration'", NULL, &got, err);
	if (rc == 0 && got.n == 0)
		rc = ferry_error_set(err, FERRY_ECORRUPT, "could not use "
		                     "capture in SQLite database \"%s\": "
		                     "_ferry_meta names no migration",
		                     cap->uri);
	if (rc == 0) {
		*owner = got.v[0];
		got.v[0] = NULL; /* now the caller's */
	}
	names_free(&got);
	return rc;
}

/* Whether the installed layout keeps seq with SEQ_TRIGGER (format 2;
 * format 1 has AUTOINCREMENT, format 3 keeps the newest row), and
 * whether that trigger is there. */
static int seq_trigger_state(ferry_capture *cap, bool *needed, bool *exists,
                             ferry_error *err)
{
	int64_t format = 1;
	bool found = false;
	*exists = false;
	int rc = query_int(cap, "SELECT value FROM _ferry_meta"
	                   " WHERE key = 'format'", NULL, NULL, &format, &found,
	                   err);
	*needed = rc == 0 && found && format == 2;
	if (rc == 0 && *needed)
		rc = object_exists(cap, "trigger", SEQ_TRIGGER, exists, err);
	return rc;
}

/* Makes SEQ_TRIGGER again when the layout has it and it is missing (an
 * install run again makes missing triggers again). */
static int restore_seq_trigger(ferry_capture *cap, ferry_error *err)
{
	bool needed, exists;
	int rc = seq_trigger_state(cap, &needed, &exists, err);
	if (rc != 0 || !needed || exists)
		return rc;
	ferry_buf sql = FERRY_BUF_INIT;
	build_seq_trigger(&sql);
	return run_buf(cap, &sql, "could not create trigger", SEQ_TRIGGER,
	               err);
}

/* Without _ferry_meta, any other ferry object is a leftover nobody owns:
 * adopting it could mix two migrations' changes.  A replay checkpoint
 * (engine/sqlite_target.c) is not capture's: a database that was a
 * migration's target holds one when its capture is installed for the
 * reverse stream; so does a fence, which outlives the capture (a rolled
 * back target stays fenced until the next cutover). */
static int refuse_strays(ferry_capture *cap, ferry_error *err)
{
	names stray = {0};
	int rc = query_names(cap, "SELECT name FROM sqlite_master"
	                     " WHERE type IN ('table', 'trigger')"
	                     " AND substr(name, 1, 7) = '_ferry_'"
	                     " AND name <> '_ferry_checkpoint'"
	                     " AND NOT (type = 'trigger' AND substr(name, -4) IN"
	                     " ('_fin', '_fup', '_fde'))"
	                     " ORDER BY name LIMIT 1", NULL, &stray, err);
	if (rc == 0 && stray.n > 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not install "
		                     "capture in SQLite database \"%s\": it "
		                     "holds ferry object \"%s\" of an unknown "
		                     "migration (remove it with ferry clean)",
		                     cap->uri, stray.v[0]);
	names_free(&stray);
	return rc;
}

/* Stores the schema cookie as it is now, after ferry's own DDL, so that
 * check finds nothing until the application changes the schema. */
static int store_cookie(ferry_capture *cap, ferry_error *err)
{
	return run(cap, "INSERT OR REPLACE INTO _ferry_meta (key, value)"
	           " SELECT 'schema_version', schema_version"
	           " FROM pragma_schema_version",
	           "could not install capture in SQLite database", err);
}

/* ---- columns ---------------------------------------------------- */

/* The table's columns as a scan reads them (generated and hidden ones
 * are not copied, so not captured either); *exists is false when no
 * table has exactly that name. */
static int current_columns(ferry_capture *cap, const char *table,
                           names *out, bool *exists, ferry_error *err)
{
	int rc = object_exists(cap, "table", table, exists, err);
	if (rc != 0 || !*exists)
		return rc;
	return query_names(cap, "SELECT name"
	                   " FROM pragma_table_xinfo(?1, 'main')"
	                   " WHERE hidden = 0 ORDER BY cid", table, out, err);
}

/* The table's newest capture version; 0 when it is not captured. */
static int recorded_version(ferry_capture *cap, const char *table,
                            uint32_t *version, ferry_error *err)
{
	int64_t v;
	bool found;
	int rc = query_int(cap, "SELECT max(version) FROM _ferry_columns"
	                   " WHERE tbl = ?1", table, NULL, &v, &found, err);
	*version = found ? (uint32_t)v : 0;
	return rc;
}

static int recorded_columns(ferry_capture *cap, const char *table,
                            uint32_t version, names *out, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(cap, "SELECT name FROM _ferry_columns"
	                 " WHERE tbl = ?1 AND version = ?2 ORDER BY pos",
	                 table, NULL, &st, err);
	if (rc == 0 && sqlite3_bind_int64(st, 2, version) != SQLITE_OK)
		rc = db_fail(cap->db, err, STATE_WHAT, cap->uri);
	if (rc == 0)
		rc = collect_names(cap, st, out, err);
	sqlite3_finalize(st);
	return rc;
}

static int record_columns(ferry_capture *cap, const char *table,
                          uint32_t version, const names *cols,
                          ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (rows_layout(cap)) {
		rc = prepare(cap, "INSERT INTO _ferry_versions (tbl, version)"
		             " VALUES (?1, ?2)", table, NULL, &st, err);
		if (rc == 0 && (sqlite3_bind_int64(st, 2, version) !=
		                    SQLITE_OK ||
		                sqlite3_step(st) != SQLITE_DONE))
			rc = db_fail(cap->db, err, "could not record columns "
			             "of table", table);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == 0)
		rc = prepare(cap, "INSERT INTO _ferry_columns"
		             " (tbl, version, pos, name)"
		             " VALUES (?1, ?2, ?3, ?4)", table, NULL, &st, err);
	for (uint32_t i = 0; rc == 0 && i < cols->n; i++) {
		sqlite3_reset(st);
		if (sqlite3_bind_int64(st, 2, version) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 3, i) != SQLITE_OK ||
		    sqlite3_bind_text(st, 4, cols->v[i], -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			rc = db_fail(cap->db, err, "could not record columns "
			             "of table", table);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- triggers --------------------------------------------------- */

/* "CREATE TRIGGER "<name>" AFTER <event> ON "<table>" FOR EACH ROW BEGIN" */
static void put_trigger_head(ferry_buf *b, const char *name,
                             const char *table, int op)
{
	ferry_buf_puts(b, "CREATE TRIGGER ");
	ferry_buf_put_ident(b, name);
	ferry_buf_printf(b, " AFTER %s ON ", op_event[op]);
	ferry_buf_put_ident(b, table);
	ferry_buf_puts(b, " FOR EACH ROW BEGIN");
}

/* " INSERT INTO _ferry_changes (kind, c0, ..) VALUES (<kind>, <row>."a", ..);" */
static void put_image_insert(ferry_buf *b, const names *cols, int64_t kind,
                             const char *row)
{
	ferry_buf_puts(b, " INSERT INTO _ferry_changes (kind");
	for (uint32_t i = 0; i < cols->n; i++)
		ferry_buf_printf(b, ", c%" PRIu32, i);
	ferry_buf_printf(b, ") VALUES (%" PRId64, kind);
	for (uint32_t i = 0; i < cols->n; i++) {
		ferry_buf_printf(b, ", %s.", row);
		ferry_buf_put_ident(b, cols->v[i]);
	}
	ferry_buf_puts(b, ");");
}

/*
 * Format 4, version id 5 (kind 4 * 5 + image kind):
 * CREATE TRIGGER "_ferry_t_upd" AFTER UPDATE ON "t" FOR EACH ROW BEGIN
 * INSERT INTO _ferry_changes (kind, c0, ..) VALUES (22, OLD."a", ..);
 * INSERT INTO _ferry_changes (kind, c0, ..) VALUES (23, NEW."a", ..); END
 */
static void build_rows_trigger(ferry_buf *b, const char *name,
                               const char *table, const names *cols,
                               int64_t version_id, int op)
{
	int64_t base = version_id * 4;
	put_trigger_head(b, name, table, op);
	if (op == OP_INS)
		put_image_insert(b, cols, base + KIND_INSERT, "NEW");
	else if (op == OP_DEL)
		put_image_insert(b, cols, base + KIND_DELETE, "OLD");
	else {
		put_image_insert(b, cols, base + KIND_BEFORE, "OLD");
		put_image_insert(b, cols, base + KIND_AFTER, "NEW");
	}
	ferry_buf_puts(b, " END");
}

/*
 * Formats 1-3:
 * CREATE TRIGGER "_ferry_t_upd" AFTER UPDATE ON "t" FOR EACH ROW BEGIN
 * INSERT INTO _ferry_changes (tbl, op, ver, o0, .., n0, ..) VALUES
 * ('t', 2, <version>, OLD."a", .., NEW."a", ..); END
 */
static void build_paired_trigger(ferry_buf *b, const char *name,
                                 const char *table, const names *cols,
                                 uint32_t version, int op)
{
	put_trigger_head(b, name, table, op);
	ferry_buf_puts(b, " INSERT INTO _ferry_changes (tbl, op, ver");
	for (uint32_t i = 0; op != OP_INS && i < cols->n; i++)
		ferry_buf_printf(b, ", o%" PRIu32, i);
	for (uint32_t i = 0; op != OP_DEL && i < cols->n; i++)
		ferry_buf_printf(b, ", n%" PRIu32, i);
	ferry_buf_puts(b, ") VALUES (");
	put_literal(b, table);
	ferry_buf_printf(b, ", %d, %" PRIu32, op, version);
	for (uint32_t i = 0; op != OP_INS && i < cols->n; i++) {
		ferry_buf_puts(b, ", OLD.");
		ferry_buf_put_ident(b, cols->v[i]);
	}
	for (uint32_t i = 0; op != OP_DEL && i < cols->n; i++) {
		ferry_buf_puts(b, ", NEW.");
		ferry_buf_put_ident(b, cols->v[i]);
	}
	ferry_buf_puts(b, "); END");
}

/* The id of table's version in _ferry_versions (format 4). */
static int version_id(ferry_capture *cap, const char *table,
                      uint32_t version, int64_t *id, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(cap, "SELECT id FROM _ferry_versions"
	                 " WHERE tbl = ?1 AND version = ?2", table, NULL, &st,
	                 err);
	int step = SQLITE_ERROR;
	if (rc == 0 && sqlite3_bind_int64(st, 2, version) == SQLITE_OK)
		step = sqlite3_step(st);
	if (rc == 0 && step == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (rc == 0 && step == SQLITE_DONE)
		rc = ferry_error_set(err, FERRY_ECORRUPT, "could not capture "
		                     "table \"%s\" of SQLite database \"%s\": "
		                     "_ferry_versions has no row for its version "
		                     "%" PRIu32, table, cap->uri, version);
	else if (rc == 0)
		rc = db_fail(cap->db, err, STATE_WHAT, cap->uri);
	sqlite3_finalize(st);
	return rc;
}

/*
 * Creates the table's three triggers for version: the missing ones, or
 * (replace) all of them, dropping the old ones first.
 */
static int make_triggers(ferry_capture *cap, const char *table,
                         const names *cols, uint32_t version, bool replace,
                         ferry_error *err)
{
	int64_t id = 0;
	int rc = rows_layout(cap) ? version_id(cap, table, version, &id, err)
	                          : 0;
	for (int op = OP_INS; rc == 0 && op <= OP_DEL; op++) {
		char *name = trigger_name(table, op);
		bool exists = false;
		if (!name)
			return ferry_error_oom(err);
		rc = object_exists(cap, "trigger", name, &exists, err);
		ferry_buf sql = FERRY_BUF_INIT;
		if (rc == 0 && exists && replace) {
			ferry_buf_puts(&sql, "DROP TRIGGER ");
			ferry_buf_put_ident(&sql, name);
			ferry_buf_puts(&sql, ";");
		}
		if (rc == 0 && (!exists || replace)) {
			if (rows_layout(cap))
				build_rows_trigger(&sql, name, table, cols, id,
				                   op);
			else
				build_paired_trigger(&sql, name, table, cols,
				                     version, op);
			rc = run_buf(cap, &sql, "could not create trigger",
			             name, err);
		}
		ferry_buf_free(&sql);
		ferry_free(name);
	}
	return rc;
}

/* ---- install ---------------------------------------------------- */

static bool same_columns(const names *cur, const ferry_table *t)
{
	if (cur->n != t->ncolumns)
		return false;
	for (uint32_t i = 0; i < cur->n; i++)
		if (strcmp(cur->v[i], t->columns[i].name) != 0)
			return false;
	return true;
}

/* Refuses a table capture cannot take, before anything is built. */
static int check_table(ferry_capture *cap, const ferry_table *t,
                       ferry_error *err)
{
	if (strncmp(t->name, "_ferry", 6) == 0)
		return ferry_error_set(err, FERRY_EINVAL, "could not install "
		                       "capture on table \"%s\": names "
		                       "beginning with _ferry are ferry's own",
		                       t->name);
	if (t->ncolumns == 0 || t->ncolumns > max_width(cap))
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "could not "
		                       "install capture on table \"%s\": it "
		                       "has %" PRIu32 " columns; capture "
		                       "handles 1 to %" PRIu32, t->name,
		                       t->ncolumns, max_width(cap));
	return 0;
}

/* The table's columns must still be those the caller read, and (when
 * captured already: version > 0) those its triggers copy: a trigger made
 * from stale columns would break the application's writes or shift the
 * images.  A table new to capture gets version 1. */
static int install_columns(ferry_capture *cap, const ferry_table *t,
                           const names *cur, uint32_t version,
                           ferry_error *err)
{
	if (!same_columns(cur, t))
		return ferry_error_set(err, FERRY_EINVAL, "could not install "
		                       "capture on table \"%s\": its columns "
		                       "changed since it was read (read the "
		                       "schema again)", t->name);
	if (version == 0)
		return record_columns(cap, t->name, 1, cur, err);
	names rec = {0};
	int rc = recorded_columns(cap, t->name, version, &rec, err);
	if (rc == 0 && !names_equal(&rec, cur))
		rc = ferry_error_set(err, FERRY_EINVAL, "could not install "
		                     "capture on table \"%s\": it changed "
		                     "since capture was installed (run a "
		                     "capture check, or remove the capture and "
		                     "start again)", t->name);
	names_free(&rec);
	return rc;
}

static int install_table(ferry_capture *cap, const ferry_table *t,
                         ferry_error *err)
{
	int rc = check_table(cap, t, err);
	names cur = {0};
	bool exists = false;
	uint32_t version = 0;
	if (rc == 0)
		rc = current_columns(cap, t->name, &cur, &exists, err);
	if (rc == 0 && !exists)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "could not install "
		                     "capture on table \"%s\": no such table",
		                     t->name);
	if (rc == 0)
		rc = recorded_version(cap, t->name, &version, err);
	if (rc == 0)
		rc = install_columns(cap, t, &cur, version, err);
	if (rc == 0)
		rc = widen(cap, cur.n, err);
	if (rc == 0)
		rc = make_triggers(cap, t->name, &cur, version ? version : 1,
		                   false, err);
	names_free(&cur);
	return rc;
}

/* Records every table not captured now as left out on purpose, so that
 * check reports only tables created later. */
static int mark_uncaptured(ferry_capture *cap, ferry_error *err)
{
	char **all = NULL;
	uint32_t n = 0;
	sqlite3_stmt *st = NULL;
	int rc = ferry_sqlite_table_names(cap->db, cap->uri, &all, &n, err);
	if (rc == 0)
		rc = prepare(cap, "INSERT OR IGNORE INTO _ferry_meta (key)"
		             " SELECT 'uncaptured:' || ?1 WHERE NOT EXISTS"
		             " (SELECT 1 FROM _ferry_columns WHERE tbl = ?1)",
		             NULL, NULL, &st, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(st);
		if (sqlite3_bind_text(st, 1, all[i], -1, SQLITE_STATIC) !=
		        SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			rc = db_fail(cap->db, err, "could not record table",
			             all[i]);
	}
	sqlite3_finalize(st);
	for (uint32_t i = 0; i < n; i++)
		ferry_free(all[i]);
	ferry_free(all);
	return rc;
}

/* Takes the database for migration id: creates ferry's tables, or finds
 * them already made for the same id. */
static int claim(ferry_capture *cap, const ferry_schema *tables,
                 const char *id, ferry_error *err)
{
	char *owner = NULL;
	int rc = read_owner(cap, &owner, err);
	if (rc == 0 && strcmp(owner, id) != 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not install "
		                     "capture for migration \"%s\" in SQLite "
		                     "database \"%s\": it holds the capture of "
		                     "migration \"%s\" (remove that first with "
		                     "ferry clean)", id, cap->uri, owner);
	ferry_free(owner);
	if (rc != 1)
		return rc;
	cap->format = CAPTURE_FORMAT;
	rc = refuse_strays(cap, err);
	uint32_t width = 1;
	for (uint32_t i = 0; i < tables->ntables; i++)
		if (tables->tables[i].ncolumns > width)
			width = tables->tables[i].ncolumns;
	if (width > max_width(cap))
		width = 1; /* check_table names the table that is too wide */
	if (rc == 0)
		rc = create_objects(cap, id, width, err);
	return rc;
}

static int cap_install(ferry_capture *cap, const ferry_schema *tables,
                       const char *id, ferry_error *err)
{
	static const char what[] =
	    "could not install capture in SQLite database";
	int rc = idle(cap, what, err);
	if (rc != 0)
		return rc;
	if (!id || !*id)
		return ferry_error_set(err, FERRY_EINVAL, "%s \"%s\": no "
		                       "migration id", what, cap->uri);
	rc = begin(cap, true, what, err);
	if (rc != 0)
		return rc;
	rc = claim(cap, tables, id, err);
	if (rc == 0)
		rc = restore_seq_trigger(cap, err);
	for (uint32_t i = 0; rc == 0 && i < tables->ntables; i++)
		rc = install_table(cap, &tables->tables[i], err);
	if (rc == 0)
		rc = run(cap, "DELETE FROM _ferry_meta"
		         " WHERE key LIKE 'uncaptured:%'", what, err);
	if (rc == 0)
		rc = mark_uncaptured(cap, err);
	if (rc == 0)
		rc = store_cookie(cap, err);
	return finish(cap, rc, what, err);
}

static int cap_installed(ferry_capture *cap, char **migration_id,
                         ferry_error *err)
{
	*migration_id = NULL;
	int rc = read_owner(cap, migration_id, err);
	if (rc == 1)
		return ferry_error_set(err, FERRY_ENOTFOUND, "no capture is "
		                       "installed in SQLite database \"%s\"",
		                       cap->uri);
	return rc;
}

/* ---- remove ----------------------------------------------------- */

/* kind is "trigger" or "table". */
static int drop_object(ferry_capture *cap, const char *kind,
                       const char *name, ferry_buf *report, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_printf(&sql, "DROP %s ", kind);
	ferry_buf_put_ident(&sql, name);
	int rc = run_buf(cap, &sql, strcmp(kind, "trigger") == 0
	                                ? "could not drop trigger"
	                                : "could not drop table", name, err);
	if (rc == 0)
		ferry_buf_printf(report, "dropped %s %s\n", kind, name);
	return rc;
}

/* Deletes the AUTOINCREMENT counter of a format 1 _ferry_changes (DROP
 * TABLE would too, silently; doing it here lets the report say so).
 * sqlite_sequence itself stays: SQLite does not let it be dropped. */
static int drop_sequence(ferry_capture *cap, ferry_buf *report,
                         bool *any, ferry_error *err)
{
	bool exists;
	int rc = object_exists(cap, "table", "sqlite_sequence", &exists, err);
	if (rc != 0 || !exists)
		return rc;
	rc = run(cap, "DELETE FROM sqlite_sequence"
	         " WHERE name = '_ferry_changes'",
	         "could not remove capture from SQLite database", err);
	if (rc == 0 && sqlite3_changes(cap->db) > 0) {
		ferry_buf_puts(report, "deleted row _ferry_changes of "
		               "sqlite_sequence\n");
		*any = true;
	}
	return rc;
}

static int remove_all(ferry_capture *cap, ferry_buf *report, ferry_error *err)
{
	static const char *const tables[] = {"_ferry_changes", "_ferry_columns",
	                                     "_ferry_versions", "_ferry_meta"};
	names trig = {0};
	int rc = query_names(cap, "SELECT name FROM sqlite_master"
	                     " WHERE type = 'trigger'"
	                     " AND substr(name, 1, 7) = '_ferry_'"
	                     " AND substr(name, -4) IN ('_ins', '_upd', '_del')"
	                     " ORDER BY name", NULL, &trig, err);
	bool any = trig.n > 0, seq_trigger = false;
	for (uint32_t i = 0; rc == 0 && i < trig.n; i++)
		rc = drop_object(cap, "trigger", trig.v[i], report, err);
	names_free(&trig);
	if (rc == 0)
		rc = object_exists(cap, "trigger", SEQ_TRIGGER, &seq_trigger,
		                   err);
	if (rc == 0 && seq_trigger) {
		rc = drop_object(cap, "trigger", SEQ_TRIGGER, report, err);
		any = true;
	}
	if (rc == 0)
		rc = drop_sequence(cap, report, &any, err);
	for (size_t i = 0; rc == 0 && i < sizeof tables / sizeof *tables; i++) {
		bool exists;
		rc = object_exists(cap, "table", tables[i], &exists, err);
		if (rc == 0 && exists) {
			rc = drop_object(cap, "table", tables[i], report, err);
			any = true;
		}
	}
	if (rc == 0 && !any)
		ferry_buf_printf(report, "no capture objects in SQLite "
		                 "database \"%s\"\n", cap->uri);
	return rc;
}

static int cap_remove(ferry_capture *cap, ferry_buf *report, ferry_error *err)
{
	static const char what[] =
	    "could not remove capture from SQLite database";
	int rc = idle(cap, what, err);
	if (rc != 0)
		return rc;
	size_t len = report->len;
	rc = begin(cap, true, what, err);
	if (rc == 0)
		rc = finish(cap, remove_all(cap, report, err), what, err);
	if (rc == 0 && ferry_buf_failed(report))
		rc = ferry_error_oom(err); /* removed, but the report is lost */
	if (rc != 0 && !ferry_buf_failed(report))
		report->len = len; /* nothing was dropped after all */
	cap->cached = false;
	return rc;
}

/* ---- schema check ----------------------------------------------- */

/* Appends one difference; text is formatted from fmt. */
static int add_drift(ferry_capture_drift *d, ferry_drift_kind kind,
                     bool fatal, const char *table, const char *column,
                     const char *new_name, ferry_error *err,
                     const char *fmt, ...) FERRY_PRINTF(8, 9);

static int add_drift(ferry_capture_drift *d, ferry_drift_kind kind,
                     bool fatal, const char *table, const char *column,
                     const char *new_name, ferry_error *err,
                     const char *fmt, ...)
{
	ferry_drift_item *grown =
	    ferry_realloc(d->items, (d->nitems + 1) * sizeof *grown);
	if (!grown)
		return ferry_error_oom(err);
	d->items = grown;
	ferry_drift_item *it = &grown[d->nitems];
	memset(it, 0, sizeof *it);
	d->nitems++;
	it->kind = kind;
	it->fatal = fatal;
	d->fatal |= fatal;
	ferry_buf text = FERRY_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&text, fmt, ap);
	va_end(ap);
	it->text = ferry_buf_detach(&text, NULL);
	it->table = ferry_strdup(table);
	if (column)
		it->column = ferry_strdup(column);
	if (new_name)
		it->new_name = ferry_strdup(new_name);
	if (!it->text || !it->table || (column && !it->column) ||
	    (new_name && !it->new_name))
		return ferry_error_oom(err);
	return 0;
}

/* Columns appended at the end: the only change capture follows. */
static int added_columns(ferry_capture_drift *d, const char *table,
                         const names *rec, const names *cur,
                         uint32_t version, ferry_error *err)
{
	int rc = 0;
	for (uint32_t i = rec->n; rc == 0 && i < cur->n; i++) {
		rc = add_drift(d, FERRY_DRIFT_COLUMN_ADDED, false, table,
		               cur->v[i], NULL, err, "column \"%s\" was added "
		               "to table \"%s\" (captured from capture version "
		               "%" PRIu32 " on)", cur->v[i], table,
		               version + 1);
		if (rc == 0) {
			d->items[d->nitems - 1].version = version + 1;
			d->items[d->nitems - 1].ncolumns = cur->n;
		}
	}
	return rc;
}

/*
 * Names what happened to a table's columns when they are not the
 * recorded ones plus some at the end.  A rename keeps the column's
 * position and the count; anything else missing was dropped.
 */
static int changed_columns(ferry_capture_drift *d, const char *table,
                           const names *rec, const names *cur,
                           ferry_error *err)
{
	uint32_t before = d->nitems;
	bool same_count = rec->n == cur->n;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < rec->n; i++) {
		if (names_find(cur, rec->v[i]) >= 0)
			continue;
		if (same_count && names_find(rec, cur->v[i]) < 0)
			rc = add_drift(d, FERRY_DRIFT_COLUMN_RENAMED, true,
			               table, rec->v[i], cur->v[i], err,
			               "column \"%s\" of table \"%s\" was "
			               "renamed to \"%s\"", rec->v[i], table,
			               cur->v[i]);
		else
			rc = add_drift(d, FERRY_DRIFT_COLUMN_DROPPED, true,
			               table, rec->v[i], NULL, err, "column "
			               "\"%s\" was dropped from table \"%s\"",
			               rec->v[i], table);
	}
	for (uint32_t i = 0; rc == 0 && i < cur->n; i++) {
		bool renamed = same_count && names_find(cur, rec->v[i]) < 0;
		if (names_find(rec, cur->v[i]) < 0 && !renamed)
			rc = add_drift(d, FERRY_DRIFT_COLUMN_ADDED, true, table,
			               cur->v[i], NULL, err, "column \"%s\" "
			               "was added to table \"%s\"", cur->v[i],
			               table);
	}
	if (rc == 0 && d->nitems == before)
		rc = add_drift(d, FERRY_DRIFT_COLUMN_MOVED, true, table, NULL,
		               NULL, err, "the columns of table \"%s\" were "
		               "reordered", table);
	return rc;
}

static int compare_triggers(ferry_capture *cap, ferry_capture_drift *d,
                            const char *table, ferry_error *err)
{
	int rc = 0;
	for (int op = OP_INS; rc == 0 && op <= OP_DEL; op++) {
		char *name = trigger_name(table, op);
		bool exists = false;
		if (!name)
			return ferry_error_oom(err);
		rc = object_exists(cap, "trigger", name, &exists, err);
		if (rc == 0 && !exists)
			rc = add_drift(d, FERRY_DRIFT_TRIGGER_DROPPED, true,
			               table, NULL, name, err, "trigger \"%s\" "
			               "of table \"%s\" was dropped: changes "
			               "to the table may have gone uncaptured",
			               name, table);
		ferry_free(name);
	}
	return rc;
}

/*
 * Compares one captured table; sets *follow when capture can go on with
 * its current columns cur (only columns were added).
 */
static int compare_table(ferry_capture *cap, ferry_capture_drift *d,
                         const char *table, uint32_t version, names *cur,
                         bool *follow, ferry_error *err)
{
	bool exists;
	*follow = false;
	int rc = current_columns(cap, table, cur, &exists, err);
	if (rc != 0)
		return rc;
	if (!exists)
		return add_drift(d, FERRY_DRIFT_TABLE_DROPPED, true, table,
		                 NULL, NULL, err, "table \"%s\" was dropped or "
		                 "renamed", table);
	names rec = {0};
	rc = recorded_columns(cap, table, version, &rec, err);
	bool prefix = rec.n <= cur->n;
	for (uint32_t i = 0; prefix && i < rec.n; i++)
		prefix = strcmp(rec.v[i], cur->v[i]) == 0;
	if (rc == 0 && prefix) {
		rc = added_columns(d, table, &rec, cur, version, err);
		*follow = rc == 0 && cur->n > rec.n;
	} else if (rc == 0) {
		rc = changed_columns(d, table, &rec, cur, err);
	}
	names_free(&rec);
	if (rc == 0)
		rc = compare_triggers(cap, d, table, err);
	return rc;
}

/* Captures table's added columns: a new version, wider images, new
 * triggers, all in the check's write transaction. */
static int follow_table(ferry_capture *cap, const char *table,
                        uint32_t version, const names *cur, ferry_error *err)
{
	if (cur->n > max_width(cap))
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "could not "
		                       "capture table \"%s\": it has %" PRIu32
		                       " columns now; capture handles at most %"
		                       PRIu32, table, cur->n, max_width(cap));
	int rc = record_columns(cap, table, version + 1, cur, err);
	if (rc == 0)
		rc = widen(cap, cur->n, err);
	if (rc == 0)
		rc = make_triggers(cap, table, cur, version + 1, true, err);
	return rc;
}

/* Reports every user table nobody chose about: not captured and not
 * left out at install. */
static int new_tables(ferry_capture *cap, ferry_capture_drift *d,
                      const names *captured, ferry_error *err)
{
	char **all = NULL;
	uint32_t n = 0;
	int rc = ferry_sqlite_table_names(cap->db, cap->uri, &all, &n, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		int64_t one;
		bool known = names_find(captured, all[i]) >= 0;
		if (!known)
			rc = query_int(cap, "SELECT 1 FROM _ferry_meta WHERE"
			               " key = 'uncaptured:' || ?1", all[i],
			               NULL, &one, &known, err);
		if (rc == 0 && !known)
			rc = add_drift(d, FERRY_DRIFT_TABLE_ADDED, true, all[i],
			               NULL, NULL, err, "table \"%s\" was "
			               "created", all[i]);
	}
	for (uint32_t i = 0; i < n; i++)
		ferry_free(all[i]);
	ferry_free(all);
	return rc;
}

/* Without SEQ_TRIGGER, a release that emptied _ferry_changes lets seq
 * start again at 1, below the journal's cursor. */
static int compare_seq_trigger(ferry_capture *cap, ferry_capture_drift *d,
                               ferry_error *err)
{
	bool needed, exists;
	int rc = seq_trigger_state(cap, &needed, &exists, err);
	if (rc == 0 && needed && !exists)
		rc = add_drift(d, FERRY_DRIFT_TRIGGER_DROPPED, true,
		               "_ferry_changes", NULL, SEQ_TRIGGER, err,
		               "trigger \"%s\" of table \"_ferry_changes\" "
		               "was dropped: changes may have been given "
		               "positions already used", SEQ_TRIGGER);
	return rc;
}

/* Compares every captured table, then follows added columns unless
 * something fatal was found. */
static int compare_all(ferry_capture *cap, ferry_capture_drift *d,
                       ferry_error *err)
{
	names tables = {0};
	int rc = query_names(cap, "SELECT DISTINCT tbl FROM _ferry_columns"
	                     " ORDER BY tbl", NULL, &tables, err);
	uint32_t *versions = ferry_calloc(tables.n, sizeof *versions);
	names *cur = ferry_calloc(tables.n, sizeof *cur);
	bool *follow = ferry_calloc(tables.n, sizeof *follow);
	if (rc == 0 && (!versions || !cur || !follow))
		rc = ferry_error_oom(err);
	for (uint32_t i = 0; rc == 0 && i < tables.n; i++) {
		rc = recorded_version(cap, tables.v[i], &versions[i], err);
		if (rc == 0)
			rc = compare_table(cap, d, tables.v[i], versions[i],
			                   &cur[i], &follow[i], err);
	}
	if (rc == 0)
		rc = new_tables(cap, d, &tables, err);
	if (rc == 0)
		rc = compare_seq_trigger(cap, d, err);
	for (uint32_t i = 0; rc == 0 && !d->fatal && i < tables.n; i++)
		if (follow[i])
			rc = follow_table(cap, tables.v[i], versions[i],
			                  &cur[i], err);
	for (uint32_t i = 0; cur && i < tables.n; i++)
		names_free(&cur[i]);
	ferry_free(cur);
	ferry_free(follow);
	ferry_free(versions);
	names_free(&tables);
	return rc;
}

/* The one-line error for fatal differences: every one of them. */
static int drift_error(ferry_capture *cap, const ferry_capture_drift *d,
                       ferry_error *err)
{
	ferry_buf msg = FERRY_BUF_INIT;
	const char *sep = "";
	for (uint32_t i = 0; i < d->nitems; i++) {
		if (!d->items[i].fatal)
			continue;
		ferry_buf_printf(&msg, "%s%s", sep, d->items[i].text);
		sep = "; ";
	}
	const char *text = ferry_buf_cstr(&msg);
	if (!text) {
		ferry_buf_free(&msg);
		return ferry_error_oom(err);
	}
	int rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "could not continue "
	                         "capture from SQLite database \"%s\": the "
	                         "schema changed: %s (remove the capture with "
	                         "ferry clean and start the migration again)",
	                         cap->uri, text);
	ferry_buf_free(&msg);
	return rc;
}

static int check_txn(ferry_capture *cap, ferry_capture_drift *d,
                     int *cookie, ferry_error *err)
{
	char *owner = NULL;
	int rc = read_owner(cap, &owner, err);
	ferry_free(owner);
	if (rc == 1)
		return ferry_error_set(err, FERRY_ENOTFOUND, "could not check "
		                       "capture of SQLite database \"%s\": no "
		                       "capture is installed", cap->uri);
	int64_t stored = 0;
	bool found = false;
	if (rc == 0)
		rc = query_int(cap, "SELECT value FROM _ferry_meta"
		               " WHERE key = 'schema_version'", NULL, NULL,
		               &stored, &found, err);
	if (rc == 0)
		rc = schema_cookie(cap, cookie, err);
	if (rc != 0 || (found && stored == *cookie))
		return rc;
	rc = compare_all(cap, d, err);
	if (rc == 0 && d->fatal)
		return drift_error(cap, d, err);
	if (rc == 0)
		rc = store_cookie(cap, err);
	if (rc == 0)
		rc = schema_cookie(cap, cookie, err);
	return rc;
}

/*
 * Whether the schema is still the one install or the last check stored:
 * two reads without a transaction, so no lock is taken.  A change made
 * between them moves the cookie past the one read, so the next pass
 * sees it.
 */
static int schema_unchanged(ferry_capture *cap, int *cookie, bool *same,
                            ferry_error *err)
{
	bool exists;
	int64_t stored = 0;
	*same = false;
	int rc = object_exists(cap, "table", "_ferry_meta", &exists, err);
	if (rc == 0 && exists)
		rc = query_int(cap, "SELECT value FROM _ferry_meta"
		               " WHERE key = 'schema_version'", NULL, NULL,
		               &stored, &exists, err);
	if (rc == 0 && exists) {
		rc = schema_cookie(cap, cookie, err);
		*same = rc == 0 && stored == *cookie;
	}
	return rc;
}

static int cap_check(ferry_capture *cap, ferry_capture_drift *out,
                     ferry_error *err)
{
	static const char what[] = "could not check capture of SQLite database";
	ferry_capture_drift_free(out);
	int cookie = 0;
	bool same = false;
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = schema_cookie(cap, &cookie, err);
	if (rc != 0 || (cap->checked && cookie == cap->checked_cookie))
		return rc;
	rc = schema_unchanged(cap, &cookie, &same, err);
	if (rc != 0 || same) {
		cap->checked = rc == 0;
		cap->checked_cookie = cookie;
		return rc;
	}
	rc = begin(cap, true, what, err);
	if (rc != 0)
		return rc;
	rc = finish(cap, check_txn(cap, out, &cookie, err), what, err);
	cap->checked = rc == 0;
	cap->checked_cookie = cookie;
	/* half a comparison says nothing */
	if (rc != 0 && !out->fatal)
		ferry_capture_drift_free(out);
	return rc;
}

/* ---- snapshot and scans ----------------------------------------- */

static int snapshot_position(ferry_capture *cap, uint64_t *position,
                             ferry_error *err)
{
	bool exists;
	int rc = object_exists(cap, "table", "_ferry_changes", &exists, err);
	if (rc == 0 && !exists)
		return ferry_error_set(err, FERRY_ENOTFOUND, "could not begin "
		                       "snapshot of SQLite database \"%s\": no "
		                       "capture is installed (changes made "
		                       "during the copy would be lost)",
		                       cap->uri);
	/* "released" (format 2) or the AUTOINCREMENT counter (format 1)
	 * covers a released (emptied) table; max(seq) covers a database
	 * whose sqlite_sequence row was lost */
	bool counter = false;
	if (rc == 0)
		rc = object_exists(cap, "table", "sqlite_sequence", &counter,
		                   err);
	int64_t p = 0;
	if (rc == 0)
		rc = query_int(cap, counter
		               ? "SELECT max("
		                 "coalesce((SELECT seq FROM sqlite_sequence"
		                 " WHERE name = '_ferry_changes'), 0),"
		                 " coalesce((SELECT max(seq)"
		                 " FROM _ferry_changes), 0),"
		                 " coalesce((SELECT value FROM _ferry_meta"
		                 " WHERE key = 'released'), 0))"
		               : "SELECT max("
		                 "coalesce((SELECT max(seq)"
		                 " FROM _ferry_changes), 0),"
		                 " coalesce((SELECT value FROM _ferry_meta"
		                 " WHERE key = 'released'), 0))",
		               NULL, NULL, &p, &exists, err);
	*position = p > 0 ? (uint64_t)p : 0;
	return rc;
}

static int cap_snapshot_begin(ferry_capture *cap, uint64_t *position,
                              ferry_error *err)
{
	static const char what[] =
	    "could not begin snapshot of SQLite database";
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = begin(cap, false, what, err);
	if (rc != 0)
		return rc;
	/* the first read fixes the transaction's snapshot: P is read in it */
	rc = snapshot_position(cap, position, err);
	if (rc != 0) {
		sqlite3_exec(cap->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	cap->in_snapshot = true;
	return 0;
}

static int cap_snapshot_end(ferry_capture *cap, ferry_error *err);

/* The last seq given out: read in a snapshot of its own. */
static int cap_stream_start(ferry_capture *cap, uint64_t *position,
                            ferry_error *err)
{
	int rc = cap_snapshot_begin(cap, position, err);
	return rc < 0 ? rc : cap_snapshot_end(cap, err);
}

static int cap_snapshot_end(ferry_capture *cap, ferry_error *err)
{
	if (!cap->in_snapshot)
		return 0;
	cap->in_snapshot = false;
	return finish(cap, 0, "could not end snapshot of SQLite database", err);
}

static int cap_introspect(ferry_capture *cap, ferry_schema *out,
                          ferry_error *err)
{
	return ferry_sqlite_introspect(cap->db, cap->uri, out, err);
}

/* A snapshot sees exactly the changes up to its position: the token is
 * that position, in decimal. */
static int cap_snapshot_token(ferry_capture *cap, ferry_buf *out,
                              ferry_error *err)
{
	uint64_t position = 0;
	if (!cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "could not describe the "
		                       "snapshot of SQLite database \"%s\": none "
		                       "is open", cap->uri);
	int rc = snapshot_position(cap, &position, err);
	if (rc == 0)
		ferry_buf_printf(out, "%llu", (unsigned long long)position);
	return rc;
}

static bool cap_in_snapshot(const char *token, const ferry_change *c)
{
	uint64_t position = 0;
	char *end;
	unsigned long long seen = strtoull(token, &end, 10);
	return ferry_capture_position_get(c->position, c->position_len,
	                                  &position) == 0 &&
	       *token && !*end && position <= seen;
}

/* SQLite keys can hold NULL: limit is the caller's to apply. */
static int cap_scan_open(ferry_capture *cap, const ferry_table *table,
                         const ferry_row *after_key, uint64_t limit,
                         ferry_scan **out, ferry_error *err)
{
	(void)limit;
	return ferry_sqlite_scan_open_after(cap->db, table, after_key, out, err);
}

/* ---- reading changes -------------------------------------------- */

static void drop_cache(ferry_capture *cap)
{
	for (uint32_t i = 0; i < cap->nversions; i++)
		ferry_free(cap->versions[i].table);
	ferry_free(cap->versions);
	cap->versions = NULL;
	cap->nversions = 0;
	sqlite3_finalize(cap->read_stmt);
	cap->read_stmt = NULL;
	cap->cached = false;
}

static int load_versions(ferry_capture *cap, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(cap, rows_layout(cap)
	                 ? "SELECT v.tbl, v.version, count(c.pos), v.id"
	                   " FROM _ferry_versions v JOIN _ferry_columns c"
	                   " ON c.tbl = v.tbl AND c.version = v.version"
	                   " GROUP BY v.id ORDER BY v.id"
	                 : "SELECT tbl, version, count(*), 0"
	                   " FROM _ferry_columns"
	                   " GROUP BY tbl, version ORDER BY tbl, version",
	                 NULL, NULL, &st, err);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = 0;
		version_info *grown = ferry_realloc(cap->versions,
		    (cap->nversions + 1) * sizeof *grown);
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!grown || !name) {
			rc = ferry_error_oom(err);
			break;
		}
		cap->versions = grown;
		version_info *v = &grown[cap->nversions];
		if (!(v->table = ferry_strdup(name))) {
			rc = ferry_error_oom(err);
			break;
		}
		v->version = (uint32_t)sqlite3_column_int64(st, 1);
		v->ncols = (uint32_t)sqlite3_column_int64(st, 2);
		v->id = sqlite3_column_int64(st, 3);
		cap->nversions++;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = db_fail(cap->db, err, STATE_WHAT, cap->uri);
	sqlite3_finalize(st);
	return rc;
}

static int prepare_read(ferry_capture *cap, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	if (rows_layout(cap)) {
		ferry_buf_puts(&sql, "SELECT seq, kind");
		for (uint32_t i = 0; i < cap->width; i++)
			ferry_buf_printf(&sql, ", c%" PRIu32, i);
	} else {
		ferry_buf_puts(&sql, "SELECT seq, tbl, op, ver");
		for (uint32_t i = 0; i < cap->width; i++)
			ferry_buf_printf(&sql, ", o%" PRIu32, i);
		for (uint32_t i = 0; i < cap->width; i++)
			ferry_buf_printf(&sql, ", n%" PRIu32, i);
	}
	ferry_buf_puts(&sql, " FROM _ferry_changes"
	               " WHERE seq > ?1 ORDER BY seq");
	const char *text = ferry_buf_cstr(&sql);
	int rc = 0;
	if (!text)
		rc = ferry_error_oom(err);
	else if (sqlite3_prepare_v2(cap->db, text, -1, &cap->read_stmt, NULL))
		rc = db_fail(cap->db, err, "could not read changes of SQLite "
		             "database", cap->uri);
	ferry_buf_free(&sql);
	return rc;
}

/* Loads what decoding needs, unless the schema (so ferry's bookkeeping,
 * which changes only with DDL) is as when it was last loaded. */
static int load_cache(ferry_capture *cap, ferry_error *err)
{
	int cookie;
	int rc = schema_cookie(cap, &cookie, err);
	if (rc != 0 || (cap->cached && cookie == cap->cache_cookie))
		return rc;
	drop_cache(cap);
	bool exists;
	rc = object_exists(cap, "table", "_ferry_changes", &exists, err);
	if (rc == 0 && !exists)
		return ferry_error_set(err, FERRY_ENOTFOUND, "could not read "
		                       "changes of SQLite database \"%s\": no "
		                       "capture is installed", cap->uri);
	if (rc == 0)
		rc = read_format(cap, err);
	if (rc == 0)
		rc = load_versions(cap, err);
	if (rc == 0)
		rc = current_width(cap, &cap->width, err);
	if (rc == 0)
		rc = prepare_read(cap, err);
	if (rc != 0) {
		drop_cache(cap);
		return rc;
	}
	cap->cached = true;
	cap->cache_cookie = cookie;
	return 0;
}

/* Formats 1-3: versions are sorted by table, then version. */
static const version_info *find_version(const ferry_capture *cap,
                                        const char *table, int64_t version)
{
	uint32_t lo = 0, hi = cap->nversions;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const version_info *v = &cap->versions[mid];
		int cmp = strcmp(v->table, table);
		if (cmp == 0)
			cmp = v->version < version ? -1 : v->version > version;
		if (cmp == 0)
			return v;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Format 4: versions are sorted by id. */
static const version_info *find_version_id(const ferry_capture *cap,
                                           int64_t id)
{
	uint32_t lo = 0, hi = cap->nversions;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const version_info *v = &cap->versions[mid];
		if (v->id == id)
			return v;
		if (v->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Fills image with ncols values from result columns first, first + 1, .. */
static int read_image(ferry_capture *cap, sqlite3_stmt *st, int first,
                      uint32_t ncols, ferry_row *image, ferry_error *err)
{
	int rc = ferry_row_resize(image, ncols, err);
	for (uint32_t i = 0; rc == 0 && i < ncols; i++)
		if (ferry_sqlite_column_value(st, first + (int)i,
		                              &image->values[i]) != 0)
			rc = ferry_error_oom(err);
	return rc;
}

/* Sets what every change has; the images are the caller's to read. */
static void start_change(ferry_capture *cap, const version_info *v,
                         ferry_op op, int64_t seq, uint8_t pos[8])
{
	ferry_change *c = &cap->change;
	c->op = op;
	c->table = v->table;
	c->schema_version = v->version;
	ferry_capture_position_put(pos, (uint64_t)seq);
	c->position = pos;
	c->position_len = FERRY_CAPTURE_POSITION_LEN;
	c->has_before = op != FERRY_OP_INSERT;
	c->has_after = op != FERRY_OP_DELETE;
}

/* Formats 1-3: turns the current row of the read into cap->change. */
static int build_paired_change(ferry_capture *cap, sqlite3_stmt *st,
                               uint8_t pos[8], ferry_error *err)
{
	ferry_change *c = &cap->change;
	int64_t seq = sqlite3_column_int64(st, 0);
	const char *tbl = (const char *)sqlite3_column_text(st, 1);
	int op = sqlite3_column_int(st, 2);
	int64_t ver = sqlite3_column_int64(st, 3);
	if (!tbl && sqlite3_errcode(cap->db) == SQLITE_NOMEM)
		return ferry_error_oom(err);
	const version_info *v = tbl ? find_version(cap, tbl, ver) : NULL;
	if (!v || v->ncols > cap->width || op < OP_INS || op > OP_DEL)
		return ferry_error_set(err, FERRY_ECORRUPT, "could not read "
		                       "change %" PRId64 " of SQLite database "
		                       "\"%s\": no capture version %" PRId64
		                       " of table \"%s\" with op %d", seq,
		                       cap->uri, ver, tbl ? tbl : "", op);
	start_change(cap, v, (ferry_op)op, seq, pos);
	int rc = 0;
	if (c->has_before)
		rc = read_image(cap, st, PAIRED_FIXED_COLS, v->ncols,
		                &c->before, err);
	if (rc == 0 && c->has_after)
		rc = read_image(cap, st, PAIRED_FIXED_COLS + (int)cap->width,
		                v->ncols, &c->after, err);
	return rc;
}

/* Copies the text and blob bytes image borrows from the statement into
 * cap->held, so that they outlive the next step. */
static int hold_image(ferry_capture *cap, ferry_row *image, ferry_error *err)
{
	ferry_buf_reset(&cap->held);
	for (uint32_t i = 0; i < image->ncols; i++) {
		ferry_value *v = &image->values[i];
		if (v->type == FERRY_TEXT || v->type == FERRY_BLOB)
			ferry_buf_append(&cap->held, v->u.s.ptr, v->u.s.len);
	}
	if (ferry_buf_failed(&cap->held))
		return ferry_error_oom(err);
	size_t at = 0;
	for (uint32_t i = 0; i < image->ncols; i++) {
		ferry_value *v = &image->values[i];
		if (v->type != FERRY_TEXT && v->type != FERRY_BLOB)
			continue;
		v->u.s.ptr = v->u.s.len ? (const char *)cap->held.data + at : "";
		at += v->u.s.len;
	}
	return 0;
}

/* The version of the current row's kind (format 4), or NULL. */
static const version_info *row_version(const ferry_capture *cap,
                                       sqlite3_stmt *st, int64_t *kind)
{
	*kind = sqlite3_column_int64(st, 1);
	if (sqlite3_column_type(st, 1) != SQLITE_INTEGER || *kind < 0)
		return NULL;
	const version_info *v = find_version_id(cap, *kind / 4);
	return v && v->ncols <= cap->width ? v : NULL;
}

/*
 * Format 4: turns the current row of the read into cap->change, stepping
 * st to an update's second row (its new image), whose seq is then the
 * change's position.
 */
static int build_rows_change(ferry_capture *cap, sqlite3_stmt *st,
                             uint8_t pos[8], ferry_error *err)
{
	static const ferry_op ops[] = {FERRY_OP_INSERT, FERRY_OP_DELETE,
	                               FERRY_OP_UPDATE};
	ferry_change *c = &cap->change;
	int64_t seq = sqlite3_column_int64(st, 0), kind;
	const version_info *v = row_version(cap, st, &kind);
	if (!v || kind % 4 == KIND_AFTER)
		return ferry_error_set(err, FERRY_ECORRUPT, "could not read "
		                       "change %" PRId64 " of SQLite database "
		                       "\"%s\": its kind %lld is %s", seq,
		                       cap->uri, (long long)kind, v
		                       ? "an update's new row without its old row"
		                       : "of no capture version");
	start_change(cap, v, ops[kind % 4], seq, pos);
	int rc = read_image(cap, st, ROWS_FIXED_COLS, v->ncols,
	                    c->has_before ? &c->before : &c->after, err);
	if (rc != 0 || kind % 4 != KIND_BEFORE)
		return rc;
	rc = hold_image(cap, &c->before, err);
	if (rc != 0)
		return rc;
	int step = sqlite3_step(st);
	int64_t after_kind = -1;
	if (step == SQLITE_ROW)
		(void)row_version(cap, st, &after_kind);
	else if (step != SQLITE_DONE)
		return db_fail(cap->db, err, "could not read changes of SQLite "
		               "database", cap->uri);
	if (after_kind != kind - KIND_BEFORE + KIND_AFTER)
		return ferry_error_set(err, FERRY_ECORRUPT, "could not read "
		                       "change %" PRId64 " of SQLite database "
		                       "\"%s\": an update's old row is not "
		                       "followed by its new row", seq, cap->uri);
	ferry_capture_position_put(pos, (uint64_t)sqlite3_column_int64(st, 0));
	return read_image(cap, st, ROWS_FIXED_COLS, v->ncols, &c->after, err);
}

/* Hands every row after `after` to fn; *last = the last one's seq. */
static int deliver(ferry_capture *cap, uint64_t after, uint64_t group,
                   ferry_capture_fn fn, void *arg, uint64_t *last,
                   ferry_error *err)
{
	static const char what[] = "could not read changes of SQLite database";
	sqlite3_stmt *st = cap->read_stmt;
	uint8_t pos[FERRY_CAPTURE_POSITION_LEN];
	int64_t now = now_us();
	if (sqlite3_bind_int64(st, 1, clamp_seq(after)) != SQLITE_OK)
		return db_fail(cap->db, err, what, cap->uri);
	int rc = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = rows_layout(cap) ? build_rows_change(cap, st, pos, err)
		                      : build_paired_change(cap, st, pos, err);
		if (rc == 0) {
			cap->change.txid = group;
			cap->change.commit_time = now;
			rc = fn(arg, &cap->change, err);
		}
		if (rc != 0)
			break;
		*last = (uint64_t)sqlite3_column_int64(st, 0);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(cap->db, err, what, cap->uri);
	sqlite3_reset(st); /* a statement still stepping would block COMMIT */
	return rc;
}

static int cap_read(ferry_capture *cap, uint64_t after,
                    uint64_t max_changes_hint, ferry_capture_fn fn, void *arg,
                    uint64_t *last, ferry_error *err)
{
	static const char what[] = "could not read changes of SQLite database";
	(void)max_changes_hint; /* SQLite records no transaction boundaries */
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = begin(cap, false, what, err);
	if (rc != 0)
		return rc;
	rc = load_cache(cap, err);
	int64_t top = 0;
	bool found = false;
	if (rc == 0)
		rc = query_int(cap, "SELECT max(seq) FROM _ferry_changes", NULL,
		               NULL, &top, &found, err);
	uint64_t seen = *last;
	/* release keeps the newest row (format 3) or records what it took
	 * (format 2), so a log below the cursor was emptied by something
	 * else: seq would hand out positions the journal already has, and
	 * changes would be skipped */
	if (rc == 0 && found && (uint64_t)top < after)
		rc = ferry_error_set(err, FERRY_ECORRUPT, "%s \"%s\": "
		                     "_ferry_changes ends at %lld, below the "
		                     "%llu changes already journalled: rows were "
		                     "deleted outside ferry, so later changes "
		                     "cannot be told apart (start the migration "
		                     "again: ferry clean, ferry init)", what,
		                     cap->uri, (long long)top,
		                     (unsigned long long)after);
	if (rc == 0 && found && (uint64_t)top > after)
		rc = deliver(cap, after, (uint64_t)top, fn, arg, &seen, err);
	rc = finish(cap, rc, what, err);
	if (rc == 0)
		*last = seen;
	return rc;
}

static int cap_release(ferry_capture *cap, uint64_t upto, ferry_error *err)
{
	static const char what[] =
	    "could not release changes of SQLite database";
	static const char *const sql[] = {
	    /* format 1 has no such key */
	    "UPDATE _ferry_meta SET value = max(value, coalesce((SELECT"
	    " max(seq) FROM _ferry_changes WHERE seq <= ?1), 0))"
	    " WHERE key = 'released'",
	    /* the newest row stays: an empty table would hand out seq 1
	     * again, below the journal's cursor (format 3 has nothing else
	     * that prevents it); the reader never returns it again, as it
	     * reads only above the cursor */
	    "DELETE FROM _ferry_changes WHERE seq <= ?1"
	    " AND seq < (SELECT max(seq) FROM _ferry_changes)"};
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = begin(cap, true, what, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < sizeof sql / sizeof *sql; i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(cap->db, sql[i], -1, &st, NULL) !=
		        SQLITE_OK ||
		    sqlite3_bind_int64(st, 1, clamp_seq(upto)) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			rc = db_fail(cap->db, err, what, cap->uri);
		sqlite3_finalize(st);
	}
	return finish(cap, rc, what, err);
}

/* ---- connections ------------------------------------------------ */

static void cap_close(ferry_capture *cap)
{
	if (!cap)
		return;
	drop_cache(cap);
	ferry_change_free(&cap->change);
	ferry_buf_free(&cap->held);
	/* _v2: a scan still open keeps the handle alive until it closes;
	 * closing rolls back a snapshot's read transaction */
	sqlite3_close_v2(cap->db);
	ferry_free(cap->uri);
	ferry_free(cap);
}

/* Makes a missing or unreadable file fail at open, with errno's words
 * (SQLite would only say "unable to open database file"). */
static int check_file(const ferry_uri *uri, ferry_error *err)
{
	if (uri->kind != FERRY_URI_SQLITE || !uri->path)
		return ferry_error_set(err, FERRY_EINVAL, "could not open "
		                       "SQLite database \"%s\": not a SQLite "
		                       "URI", uri->redacted);
	if (access(uri->path, R_OK | W_OK) == 0)
		return 0;
	int e = errno;
	return ferry_error_set(err, e == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
	                       "could not open SQLite database \"%s\": %s",
	                       uri->redacted, strerror(e));
}

static int cap_open(ferry_capture **out, const ferry_uri *uri,
                    ferry_error *err)
{
	*out = NULL;
	int rc = check_file(uri, err);
	if (rc != 0)
		return rc;
	ferry_capture *cap = ferry_calloc(1, sizeof *cap);
	if (!cap || !(cap->uri = ferry_strdup(uri->redacted))) {
		ferry_free(cap);
		return ferry_error_oom(err);
	}
	ferry_change init = FERRY_CHANGE_INIT;
	cap->change = init;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(uri->path, &cap->db, flags, NULL);
	if (!cap->db) {
		cap_close(cap);
		return ferry_error_oom(err);
	}
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(cap->db, BUSY_TIMEOUT_MS);
		/* reading the schema now turns "not a database" into an open
		 * failure instead of a surprise in the first call */
		rc = sqlite3_exec(cap->db, "SELECT count(*) FROM sqlite_master",
		                  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = db_fail(cap->db, err, "could not open SQLite database",
		             cap->uri);
		cap_close(cap);
		return rc;
	}
	*out = cap;
	return 0;
}

/* The changes the triggers wrote that no pass has journalled yet. */
static int cap_describe(ferry_capture *cap, ferry_buf *out, ferry_error *err)
{
	bool exists = false, found = false;
	int64_t n = 0;
	int rc = object_exists(cap, "table", "_ferry_changes", &exists, err);
	if (rc == 0 && exists)
		rc = read_format(cap, err);
#define UNRELEASED "SELECT count(*) FROM _ferry_changes WHERE seq >" \
	" coalesce((SELECT value FROM _ferry_meta WHERE key = 'released'), 0)"
	/* an update's old row is half a change (format 4) */
	if (rc == 0 && exists)
		rc = query_int(cap, rows_layout(cap)
		                        ? UNRELEASED " AND kind % 4 <> 2"
		                        : UNRELEASED,
		               NULL, NULL, &n, &found, err);
#undef UNRELEASED
	if (rc == 0 && exists)
		ferry_buf_printf(out, "%lld changes wait in _ferry_changes",
		                 (long long)n);
	return rc;
}

/* ---- the write fence (docs/cutover.md) ------------------------- */

/* Fence triggers end in _fin, _fup, _fde: never a capture trigger's
 * _ins, _upd, _del, whatever the table is called. */
static const char *const fence_suffix[] = {"fin", "fup", "fde"};
static const char *const fence_event[] = {"INSERT", "UPDATE", "DELETE"};

static const char FENCE_TRIGGERS[] =
    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    " AND substr(name, 1, 7) = '_ferry_'"
    " AND substr(name, -4) IN ('_fin', '_fup', '_fde') ORDER BY name";

static int cap_fence(ferry_capture *cap, const char *message,
                     ferry_error *err)
{
	static const char what[] = "could not fence SQLite database";
	names tables = {0};
	int cookie;
	bool seen;
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = begin(cap, true, what, err);
	if (rc != 0)
		return rc;
	rc = schema_unchanged(cap, &cookie, &seen, err);
	if (rc == 0)
		rc = query_names(cap, "SELECT DISTINCT tbl FROM _ferry_columns"
	                 " ORDER BY tbl", NULL, &tables, err);
	for (uint32_t t = 0; rc == 0 && t < tables.n; t++) {
		for (int op = 0; rc == 0 && op < 3; op++) {
			ferry_buf name = FERRY_BUF_INIT, sql = FERRY_BUF_INIT,
			          text = FERRY_BUF_INIT;
			ferry_buf_printf(&name, "_ferry_%s_%s", tables.v[t],
			                 fence_suffix[op]);
			ferry_buf_printf(&text, "ferry: table \"%s\" is fenced: %s",
			                 tables.v[t], message);
			if (!ferry_buf_cstr(&name) || !ferry_buf_cstr(&text)) {
				rc = ferry_error_oom(err);
			} else {
				ferry_buf_puts(&sql, "CREATE TRIGGER IF NOT EXISTS ");
				ferry_buf_put_ident(&sql, ferry_buf_cstr(&name));
				ferry_buf_printf(&sql, " BEFORE %s ON ", fence_event[op]);
				ferry_buf_put_ident(&sql, tables.v[t]);
				ferry_buf_puts(&sql, " BEGIN SELECT RAISE(ABORT, ");
				put_literal(&sql, ferry_buf_cstr(&text));
				ferry_buf_puts(&sql, "); END");
				rc = run_buf(cap, &sql, "could not create trigger",
				             ferry_buf_cstr(&name), err);
			}
			ferry_buf_free(&name);
			ferry_buf_free(&sql);
			ferry_buf_free(&text);
		}
	}
	names_free(&tables);
	if (rc == 0)
		rc = run(cap, "INSERT OR IGNORE INTO _ferry_meta (key, value)"
		         " VALUES ('fenced', strftime('%Y-%m-%dT%H:%M:%fZ'))",
		         what, err);
	/* ferry's own DDL is not a schema change, but one the application
	 * made before it still has to be found by the next check */
	if (rc == 0 && seen)
		rc = store_cookie(cap, err);
	return finish(cap, rc, what, err);
}

static int cap_unfence(ferry_capture *cap, ferry_buf *report,
                       ferry_error *err)
{
	static const char what[] = "could not unfence SQLite database";
	names trig = {0};
	ferry_buf ignored = FERRY_BUF_INIT;
	int cookie;
	bool seen;
	int rc = idle(cap, what, err);
	if (rc == 0)
		rc = begin(cap, true, what, err);
	if (rc != 0)
		return rc;
	rc = schema_unchanged(cap, &cookie, &seen, err);
	if (rc == 0)
		rc = query_names(cap, FENCE_TRIGGERS, NULL, &trig, err);
	for (uint32_t i = 0; rc == 0 && i < trig.n; i++)
		rc = drop_object(cap, "trigger", trig.v[i],
		                 report ? report : &ignored, err);
	names_free(&trig);
	ferry_buf_free(&ignored);
	/* a fence outlives the capture it came with (remove leaves it: a
	 * rolled-back target stays fenced until the next cutover) */
	bool meta = false;
	if (rc == 0)
		rc = object_exists(cap, "table", "_ferry_meta", &meta, err);
	if (rc == 0 && meta)
		rc = run(cap, "DELETE FROM _ferry_meta WHERE key = 'fenced'", what,
		         err);
	/* ferry's own DDL is not a schema change, but one the application
	 * made before it still has to be found by the next check */
	if (rc == 0 && seen)
		rc = store_cookie(cap, err);
	return finish(cap, rc, what, err);
}

static int cap_fenced(ferry_capture *cap, bool *fenced, ferry_error *err)
{
	names trig = {0};
	int rc = query_names(cap, FENCE_TRIGGERS, NULL, &trig, err);
	*fenced = rc == 0 && trig.n > 0;
	names_free(&trig);
	return rc;
}

const ferry_capture_ops ferry_sqlite_capture_ops = {
	.name = "sqlite",
	.check_finds_new_tables = true,
	.open = cap_open,
	.introspect = cap_introspect,
	.install = cap_install,
	.installed = cap_installed,
	.remove = cap_remove,
	.check = cap_check,
	.snapshot_begin = cap_snapshot_begin,
	.snapshot_end = cap_snapshot_end,
	.scan_open = cap_scan_open,
	.snapshot_token = cap_snapshot_token,
	.stream_start = cap_stream_start,
	.in_snapshot = cap_in_snapshot,
	.scan_next = ferry_sqlite_scan_next,
	.scan_close = ferry_sqlite_scan_close,
	.read = cap_read,
	.release = cap_release,
	.describe = cap_describe,
	.fence = cap_fence,
	.unfence = cap_unfence,
	.fenced = cap_fenced,
	.close = cap_close,
};
