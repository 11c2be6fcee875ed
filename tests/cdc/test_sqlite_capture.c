/*
 * tests/cdc/test_sqlite_capture.c - unit tests for cdc/sqlite_capture.c
 * against real SQLite files in a temporary directory, with a second
 * "application" connection doing the writes: installation and its
 * refusals, every op with exact images, transactions (rollback,
 * uncommitted rows, commit order), release and re-read after a crash,
 * the snapshot position under concurrent writes, removal, schema drift,
 * awkward names, clean failure at every allocation, and the cost the
 * triggers add to the application's inserts.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cdc/sqlite_capture.h"
#include "engine/alloc.h"
#include "tests/tap.h"

static const ferry_capture_ops *ops = &ferry_sqlite_capture_ops;
static char dir[] = "/tmp/ferry_capture_XXXXXX";

/* ---- helpers ---- */

static const char *db_path(const char *file)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return path;
}

static int exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		ok(0, "exec: %.60s", sql);
		tap_diag("sqlite: %s", msg ? msg : "?");
	}
	sqlite3_free(msg);
	return rc == SQLITE_OK;
}

/* The application's connection to a new database made from sql, in WAL
 * mode (so a capture reader never blocks it) unless rollback is set. */
static sqlite3 *make_app(const char *file, const char *sql, int rollback)
{
	sqlite3 *db = NULL;
	char side[600];
	unlink(db_path(file));
	snprintf(side, sizeof side, "%s-wal", db_path(file));
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", db_path(file));
	unlink(side);
	if (sqlite3_open(db_path(file), &db) != SQLITE_OK) {
		ok(0, "create %s: %s", file, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	if (!rollback)
		exec_ok(db, "PRAGMA journal_mode = WAL");
	exec_ok(db, sql);
	return db;
}

static int64_t app_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -999;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		tap_diag("query failed: %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* The first column of the first row as text (static buffer). */
static const char *app_text(sqlite3 *db, const char *sql)
{
	static char out[256];
	sqlite3_stmt *st = NULL;
	strcpy(out, "(none)");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof out, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static int64_t ferry_objects(sqlite3 *db)
{
	return app_int(db, "SELECT count(*) FROM sqlite_master"
	               " WHERE name LIKE '\\_ferry%' ESCAPE '\\'");
}

static int has_object(sqlite3 *db, const char *type, const char *name)
{
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = ?1"
	                       " AND name = ?2", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

static ferry_capture *open_cap(const char *file, int *rc_out)
{
	char text[600];
	snprintf(text, sizeof text, "sqlite://%s", db_path(file));
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture *cap = NULL;
	int rc = ferry_uri_parse(&uri, text, &err);
	if (rc == 0) {
		rc = ops->open(&cap, &uri, &err);
		ferry_uri_free(&uri);
	}
	if (rc_out)
		*rc_out = rc;
	else if (rc != 0)
		tap_diag("open %s: %s", file, ferry_error_message(&err));
	ferry_error_clear(&err);
	return cap;
}

/* Introspects and installs every table (or only `only`, when given). */
static int install(ferry_capture *cap, const char *id, const char *only,
                   ferry_error *err)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	int rc = ops->introspect(cap, &s, err);
	if (rc == 0 && only) {
		ferry_schema one = FERRY_SCHEMA_INIT;
		for (uint32_t i = 0; i < s.ntables; i++) {
			if (strcmp(s.tables[i].name, only) != 0)
				continue;
			one.tables = &s.tables[i];
			one.ntables = 1;
		}
		rc = ops->install(cap, &one, id, err);
	} else if (rc == 0) {
		rc = ops->install(cap, &s, id, err);
	}
	ferry_schema_free(&s);
	return rc;
}

/* ---- collecting changes ---- */

typedef struct got {
	ferry_op op;
	char *table;
	uint32_t version;
	uint64_t txid, seq;
	int64_t commit_time;
	int has_before, has_after;
	ferry_value *before, *after;
	uint32_t nbefore, nafter;
} got;

typedef struct sink {
	got *v;
	size_t n;
	int fail_at; /* the callback fails on this change (1-based); 0 never */
} sink;

/* Deep copies with malloc, not ferry_malloc: the fault loop counts only
 * the library's allocations. */
static ferry_value *copy_row(const ferry_row *row)
{
	ferry_value *v = calloc(row->ncols + 1, sizeof *v);
	for (uint32_t i = 0; i < row->ncols; i++) {
		v[i] = row->values[i];
		if (ferry_type_has_bytes(v[i].type)) {
			char *p = malloc(v[i].u.s.len + 1);
			memcpy(p, v[i].u.s.ptr, v[i].u.s.len);
			v[i].u.s.ptr = p;
		}
	}
	return v;
}

static void free_values(ferry_value *v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		if (ferry_type_has_bytes(v[i].type))
			free((void *)v[i].u.s.ptr);
	free(v);
}

static int collect(void *arg, const ferry_change *c, ferry_error *err)
{
	sink *s = arg;
	if (s->fail_at && (size_t)s->fail_at == s->n + 1)
		return ferry_error_set(err, FERRY_ERROR, "journal is full");
	s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
	got *g = &s->v[s->n++];
	memset(g, 0, sizeof *g);
	g->op = c->op;
	g->table = strdup(c->table);
	g->version = c->schema_version;
	g->txid = c->txid;
	g->commit_time = c->commit_time;
	if (ferry_capture_position_get(c->position, c->position_len, &g->seq))
		g->seq = UINT64_MAX;
	g->has_before = c->has_before;
	g->has_after = c->has_after;
	if (c->has_before) {
		g->before = copy_row(&c->before);
		g->nbefore = c->before.ncols;
	}
	if (c->has_after) {
		g->after = copy_row(&c->after);
		g->nafter = c->after.ncols;
	}
	return 0;
}

static void sink_free(sink *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].table);
		free_values(s->v[i].before, s->v[i].nbefore);
		free_values(s->v[i].after, s->v[i].nafter);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int read_into(ferry_capture *cap, uint64_t after, sink *s,
                     uint64_t *last)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ops->read(cap, after, 0, collect, s, last, &err);
	if (rc != 0)
		tap_diag("read: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc;
}

static int is_text(const ferry_value *v, const char *want, size_t len)
{
	return v->type == FERRY_TEXT && v->u.s.len == len &&
	       memcmp(v->u.s.ptr, want, len) == 0;
}

static int is_intv(const ferry_value *v, int64_t want)
{
	return v->type == FERRY_INT && v->u.i == want;
}

/* A change's image column as a readable string, for diagnostics. */
static void show(const char *label, const got *g)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "%s: %s %s v%u seq %llu", label,
	                 ferry_op_name(g->op), g->table, g->version,
	                 (unsigned long long)g->seq);
	for (uint32_t i = 0; i < g->nbefore; i++) {
		ferry_buf_puts(&b, i ? ", " : " before ");
		ferry_value_format(&g->before[i], &b, 20);
	}
	for (uint32_t i = 0; i < g->nafter; i++) {
		ferry_buf_puts(&b, i ? ", " : " after ");
		ferry_value_format(&g->after[i], &b, 20);
	}
	tap_diag("%s", ferry_buf_cstr(&b));
	ferry_buf_free(&b);
}

/* ---- installation ---- */

static void test_install(void)
{
	sqlite3 *app = make_app("install.db",
	    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
	    "CREATE TABLE logs (msg);", 0);
	ferry_capture *cap = open_cap("install.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	char *id = NULL;
	is_int(ops->installed(cap, &id, &err), FERRY_ENOTFOUND,
	       "installed: nothing yet");
	int rc = install(cap, "m1", NULL, &err);
	is_int(rc, 0, "install m1");
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	static const char *const objects[] = {
		"_ferry_users_ins", "_ferry_users_upd", "_ferry_users_del",
		"_ferry_logs_ins", "_ferry_logs_upd", "_ferry_logs_del"};
	int all = 1;
	for (size_t i = 0; i < 6; i++)
		all &= has_object(app, "trigger", objects[i]);
	ok(all, "three triggers per table");
	ok(has_object(app, "table", "_ferry_changes") &&
	   has_object(app, "table", "_ferry_meta") &&
	   has_object(app, "table", "_ferry_columns"), "capture tables made");
	is_str(app_text(app, "SELECT group_concat(name, ' ') FROM"
	                " pragma_table_info('_ferry_changes')"),
	       "seq kind c0 c1",
	       "one image per row: two columns (widest table has 2)");
	is_int(app_int(app, "SELECT count(*) FROM pragma_table_info("
	               "'_ferry_changes') WHERE name GLOB 'c[0-9]*'"
	               " AND type <> ''"), 0, "image columns have no type");
	is_str(app_text(app, "SELECT group_concat(tbl || ' ' || version || ' '"
	                " || id, ', ') FROM (SELECT * FROM _ferry_versions"
	                " ORDER BY id)"), "logs 1 1, users 1 2",
	       "one version id per table");
	is_str(app_text(app, "SELECT value FROM _ferry_meta"
	                " WHERE key = 'migration'"), "m1", "meta names m1");
	is_int(app_int(app, "SELECT value FROM _ferry_meta"
	               " WHERE key = 'format'"), 4, "meta: format 4");
	ok(!has_object(app, "trigger", "_ferry_seq") &&
	   app_int(app, "SELECT count(*) FROM sqlite_master WHERE"
	           " name = '_ferry_changes' AND sql LIKE '%AUTOINCREMENT%'")
	       == 0 &&
	   app_int(app, "SELECT value FROM _ferry_meta"
	           " WHERE key = 'released'") == 0,
	   "format 4: plain seq, no trigger on it, nothing released yet");
	rc = ops->installed(cap, &id, &err);
	is_str(rc == 0 ? id : NULL, "m1", "installed: m1");
	ferry_free(id);

	int64_t cookie = app_int(app, "PRAGMA schema_version");
	is_int(install(cap, "m1", NULL, &err), 0, "install m1 again");
	is_int(app_int(app, "PRAGMA schema_version"), cookie,
	       "again: nothing changed");
	exec_ok(app, "DROP TRIGGER _ferry_users_upd");
	ok(!has_object(app, "trigger", "_ferry_users_upd"), "trigger dropped");
	is_int(install(cap, "m1", NULL, &err), 0, "install m1 once more");
	ok(has_object(app, "trigger", "_ferry_users_upd"),
	   "the missing trigger is made again");

	rc = install(cap, "m2", NULL, &err);
	is_int(rc, FERRY_EINVAL, "install m2 refused");
	ok(strstr(ferry_error_message(&err), "\"m1\"") != NULL,
	   "message names the migration holding it");
	tap_diag("%s", ferry_error_message(&err));
	is_str(app_text(app, "PRAGMA journal_mode"), "wal",
	       "journal mode left alone");
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* A table of n columns c0.. created through app. */
static void create_wide(sqlite3 *app, const char *name, int n)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_printf(&sql, "CREATE TABLE %s (c0 INTEGER PRIMARY KEY", name);
	for (int i = 1; i < n; i++)
		ferry_buf_printf(&sql, ", c%d", i);
	ferry_buf_puts(&sql, ")");
	exec_ok(app, ferry_buf_cstr(&sql));
	ferry_buf_free(&sql);
}

/* _ferry_changes holds 2 + width columns, at most SQLite's 2000. */
static void test_wide(sqlite3 *app, ferry_capture *cap)
{
	ferry_error err = FERRY_ERROR_INIT;
	create_wide(app, "wide1999", 1999);
	int rc = install(cap, "m1", "wide1999", &err);
	is_int(rc, FERRY_EUNSUPPORTED, "1999 columns: refused");
	tap_diag("%s", ferry_error_message(&err));
	is_int(ferry_objects(app), 0, "and nothing made");
	exec_ok(app, "DROP TABLE wide1999");
	create_wide(app, "wide1998", 1998);
	rc = install(cap, "m1", "wide1998", &err);
	is_int(rc, 0, "1998 columns: captured");
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	exec_ok(app, "INSERT INTO wide1998 (c0, c1997) VALUES (1, 'last');"
	        "UPDATE wide1998 SET c1 = 'first' WHERE c0 = 1");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read the wide changes");
	ok(s.n == 2 && s.v[0].nafter == 1998 && is_intv(&s.v[0].after[0], 1) &&
	   is_text(&s.v[0].after[1997], "last", 4) &&
	   s.v[0].after[500].type == FERRY_NULL, "a 1998-column image");
	ok(s.n == 2 && s.v[1].nbefore == 1998 && s.v[1].nafter == 1998 &&
	   s.v[1].before[1].type == FERRY_NULL &&
	   is_text(&s.v[1].before[1997], "last", 4) &&
	   is_text(&s.v[1].after[1], "first", 5) &&
	   is_text(&s.v[1].after[1997], "last", 4),
	   "a 1998-column update: both images");
	sink_free(&s);
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->remove(cap, &report, &err), 0, "remove");
	ferry_buf_free(&report);
	exec_ok(app, "DROP TABLE wide1998");
	ferry_error_clear(&err);
}

static void test_install_refusals(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc;
	ferry_capture *cap = open_cap("nonexistent.db", &rc);
	ok(!cap && rc == FERRY_ENOTFOUND, "open of a missing file: ENOTFOUND");

	/* rollback-journal database: journal mode must stay */
	sqlite3 *app = make_app("refuse.db",
	    "CREATE TABLE a (id INTEGER PRIMARY KEY, v);"
	    "CREATE TABLE b (id INTEGER PRIMARY KEY, v);", 1);
	cap = open_cap("refuse.db", NULL);
	uint64_t last = 0, p;
	sink s = {0};
	is_int(ops->read(cap, 0, 0, collect, &s, &last, &err), FERRY_ENOTFOUND,
	       "read before install: ENOTFOUND");
	is_int(ops->snapshot_begin(cap, &p, &err), FERRY_ENOTFOUND,
	       "snapshot before install: ENOTFOUND");
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(ops->check(cap, &d, &err), FERRY_ENOTFOUND,
	       "check before install: ENOTFOUND");

	/* a table that does not exist, after one that does: all or nothing */
	ferry_schema sch = FERRY_SCHEMA_INIT;
	ops->introspect(cap, &sch, &err);
	ferry_table *ghost = ferry_schema_add_table(&sch);
	ghost->name = ferry_strdup("ghost");
	ferry_column *gc = ferry_table_add_column(ghost);
	gc->name = ferry_strdup("x");
	gc->decl_type = ferry_strdup("");
	rc = ops->install(cap, &sch, "m1", &err);
	is_int(rc, FERRY_ENOTFOUND, "install with a missing table fails");
	tap_diag("%s", ferry_error_message(&err));
	is_int(ferry_objects(app), 0, "and leaves nothing behind");
	ferry_schema_free(&sch);

	/* columns read before an ALTER: stale, refused */
	ops->introspect(cap, &sch, &err);
	exec_ok(app, "ALTER TABLE b ADD COLUMN late");
	rc = ops->install(cap, &sch, "m1", &err);
	is_int(rc, FERRY_EINVAL, "install with stale columns refused");
	tap_diag("%s", ferry_error_message(&err));
	is_int(ferry_objects(app), 0, "and leaves nothing behind");
	ferry_schema_free(&sch);

	is_int(ops->install(cap, &sch, "", &err), FERRY_EINVAL,
	       "empty migration id refused");
	test_wide(app, cap);

	/* a leftover ferry object of nobody */
	exec_ok(app, "CREATE TABLE _ferry_changes (seq INTEGER PRIMARY KEY)");
	rc = install(cap, "m1", NULL, &err);
	is_int(rc, FERRY_EINVAL, "install over a stray _ferry object refused");
	tap_diag("%s", ferry_error_message(&err));
	exec_ok(app, "DROP TABLE _ferry_changes");

	is_int(install(cap, "m1", NULL, &err), 0,
	       "install on rollback journal");
	is_str(app_text(app, "PRAGMA journal_mode"), "delete",
	       "journal mode still delete");
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- images ---- */

static void bind_row(sqlite3_stmt *st, int row)
{
	static const uint8_t nul_blob[] = {0x00, 0xff, 0x00};
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int(st, 1, row);
	switch (row) {
	case 1:
		sqlite3_bind_text(st, 2, "abc", -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 3, 1.5);
		sqlite3_bind_text(st, 4, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, nul_blob, 3, SQLITE_STATIC);
		sqlite3_bind_null(st, 6);
		sqlite3_bind_text(st, 7, "12.50", -1, SQLITE_STATIC);
		break;
	case 2:
		sqlite3_bind_int64(st, 2, INT64_MIN);
		sqlite3_bind_double(st, 3, -0.0);
		sqlite3_bind_null(st, 4);
		sqlite3_bind_zeroblob(st, 5, 0);
		sqlite3_bind_double(st, 6, -0.0);
		sqlite3_bind_int64(st, 7, INT64_MAX);
		break;
	case 3:
		sqlite3_bind_int64(st, 2, INT64_MAX);
		sqlite3_bind_double(st, 3, NAN);
		sqlite3_bind_text(st, 4, "a\0b", 3, SQLITE_STATIC);
		sqlite3_bind_null(st, 5);
		sqlite3_bind_double(st, 6, 1e308);
		sqlite3_bind_text(st, 7, "abc", -1, SQLITE_STATIC);
		break;
	default:
		sqlite3_bind_double(st, 2, 3.0);
		sqlite3_bind_int(st, 3, 5);
		sqlite3_bind_int(st, 4, 42);
		sqlite3_bind_int(st, 5, 7);
		sqlite3_bind_text(st, 6, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(st, 7, nul_blob, 2, SQLITE_STATIC);
		break;
	}
}

/* Every after-image equals the row as the table holds it now. */
static int images_match_table(ferry_capture *cap, const sink *s)
{
	ferry_schema sch = FERRY_SCHEMA_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_scan *scan = NULL;
	ferry_row row = FERRY_ROW_INIT;
	int same = ops->introspect(cap, &sch, &err) == 0 &&
	           ops->scan_open(cap, ferry_schema_find(&sch, "k"), NULL, 0, &scan,
	                          &err) == 0;
	size_t i = 0;
	while (same && ops->scan_next(scan, &row, &err) == 1) {
		same = i < s->n && s->v[i].nafter == row.ncols;
		for (uint32_t c = 0; same && c < row.ncols; c++)
			same = ferry_value_identical(&s->v[i].after[c],
			                             &row.values[c]);
		i++;
	}
	ops->scan_close(scan);
	ferry_row_free(&row);
	ferry_schema_free(&sch);
	ferry_error_clear(&err);
	return same && i == s->n;
}

static void check_inserted_images(const sink *s)
{
	const ferry_value *r1 = s->v[0].after, *r2 = s->v[1].after,
	                  *r3 = s->v[2].after, *r4 = s->v[3].after;
	ok(is_text(&r1[1], "abc", 3), "INTEGER column holding text: text");
	ok(r1[2].type == FERRY_FLOAT && r1[2].u.f == 1.5, "real 1.5");
	ok(is_text(&r1[3], "", 0), "empty text stays text, not NULL");
	ok(r1[4].type == FERRY_BLOB && r1[4].u.s.len == 3 &&
	   memcmp(r1[4].u.s.ptr, "\0\377\0", 3) == 0, "blob with NULs");
	ok(r1[5].type == FERRY_NULL, "NULL stays NULL");
	ok(r1[6].type == FERRY_FLOAT && r1[6].u.f == 12.5,
	   "NUMERIC affinity made '12.50' a real, as the table holds it");
	ok(is_intv(&r2[1], INT64_MIN), "int64 min");
	ok(r2[2].type == FERRY_FLOAT && !signbit(r2[2].u.f),
	   "-0.0 in a REAL column is 0.0 (SQLite stores it as integer 0)");
	ok(r2[3].type == FERRY_NULL, "NULL text");
	ok(r2[4].type == FERRY_BLOB && r2[4].u.s.len == 0, "empty blob");
	ok(r2[5].type == FERRY_FLOAT && signbit(r2[5].u.f),
	   "-0.0 in an untyped column keeps its sign");
	ok(is_intv(&r2[6], INT64_MAX), "int64 max in NUMERIC column");
	ok(is_intv(&r3[1], INT64_MAX), "int64 max");
	ok(r3[2].type == FERRY_NULL, "NaN was stored as NULL by SQLite");
	ok(is_text(&r3[3], "a\0b", 3), "text with a NUL byte");
	ok(r3[5].type == FERRY_FLOAT && r3[5].u.f == 1e308, "1e308");
	ok(is_text(&r3[6], "abc", 3), "NUMERIC column holding text");
	ok(is_intv(&r4[1], 3), "3.0 into INTEGER column: integer 3");
	ok(r4[2].type == FERRY_FLOAT && r4[2].u.f == 5.0, "5 into REAL: 5.0");
	ok(is_text(&r4[3], "42", 2), "42 into TEXT: '42'");
	ok(is_intv(&r4[4], 7), "integer in a BLOB column stays integer");
	ok(is_text(&r4[5], "", 0), "empty text in untyped column");
	ok(r4[6].type == FERRY_BLOB && r4[6].u.s.len == 2,
	   "blob in a NUMERIC column stays a blob");
}

static void test_images(void)
{
	sqlite3 *app = make_app("types.db",
	    "CREATE TABLE k (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT,"
	    " b BLOB, u, n NUMERIC)", 0);
	ferry_capture *cap = open_cap("types.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on types");
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(app, "INSERT INTO k VALUES (?, ?, ?, ?, ?, ?, ?)",
	                   -1, &st, NULL);
	for (int row = 1; row <= 4; row++) {
		bind_row(st, row);
		if (sqlite3_step(st) != SQLITE_DONE)
			tap_diag("insert %d: %s", row, sqlite3_errmsg(app));
	}
	sqlite3_finalize(st);
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read the inserts");
	is_int(s.n, 4, "four changes");
	if (s.n == 4) {
		int shape = 1;
		for (size_t i = 0; i < 4; i++)
			shape &= s.v[i].op == FERRY_OP_INSERT &&
			         !s.v[i].has_before && s.v[i].has_after &&
			         s.v[i].nafter == 7;
		ok(shape, "inserts with 7-column after-images only");
		check_inserted_images(&s);
		ok(images_match_table(cap, &s),
		   "every after-image is identical to the row the table holds");
	}
	sink_free(&s);

	exec_ok(app, "UPDATE k SET u = x'00', t = '' WHERE id = 2;"
	        "DELETE FROM k WHERE id = 3");
	uint64_t first = last;
	is_int(read_into(cap, first, &s, &last), 0, "read update and delete");
	is_int(s.n, 2, "two changes");
	if (s.n == 2) {
		const got *u = &s.v[0], *d = &s.v[1];
		ok(u->op == FERRY_OP_UPDATE && u->has_before && u->has_after,
		   "update has both images");
		ok(u->before[5].type == FERRY_FLOAT &&
		   signbit(u->before[5].u.f) &&
		   u->after[5].type == FERRY_BLOB && u->after[5].u.s.len == 1,
		   "update: before -0.0, after blob 00");
		ok(u->before[3].type == FERRY_NULL &&
		   is_text(&u->after[3], "", 0), "update: NULL to empty text");
		ok(is_intv(&u->before[1], INT64_MIN) &&
		   is_intv(&u->after[1], INT64_MIN),
		   "unchanged column in both");
		ok(d->op == FERRY_OP_DELETE && d->has_before && !d->has_after &&
		   is_text(&d->before[3], "a\0b", 3) &&
		   d->before[2].type == FERRY_NULL,
		   "delete: exact before-image");
	}
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- ops and transactions ---- */

static int expect(const got *g, ferry_op op, int64_t bid, const char *bv,
                  int64_t aid, const char *av)
{
	int good = g->op == op && strcmp(g->table, "t") == 0 && g->version == 1;
	if (bv)
		good &= g->has_before && g->nbefore == 2 &&
		        is_intv(&g->before[0], bid) &&
		        is_text(&g->before[1], bv, strlen(bv));
	else
		good &= !g->has_before;
	if (av)
		good &= g->has_after && g->nafter == 2 &&
		        is_intv(&g->after[0], aid) &&
		        is_text(&g->after[1], av, strlen(av));
	else
		good &= !g->has_after;
	if (!good)
		show("unexpected", g);
	return good;
}

static void test_ops(void)
{
	sqlite3 *app = make_app("ops.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	ferry_capture *cap = open_cap("ops.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on ops");
	int64_t t0 = 0;
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		t0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	exec_ok(app,
	    "INSERT INTO t VALUES (1, 'a');"
	    "UPDATE t SET v = 'b' WHERE id = 1;"
	    "UPDATE t SET id = 10 WHERE id = 1;"
	    "DELETE FROM t WHERE id = 10;"
	    "BEGIN; INSERT INTO t VALUES (2, 'x'); DELETE FROM t WHERE id = 2;"
	    "COMMIT;"
	    "WITH RECURSIVE c(x) AS (SELECT 3 UNION ALL SELECT x + 1 FROM c"
	    " WHERE x < 52) INSERT INTO t SELECT x, 'r' || x FROM c;"
	    "UPDATE t SET v = v || '!' WHERE id BETWEEN 3 AND 52;");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read ops");
	is_int(s.n, 106, "6 single changes + 50 inserts + 50 updates");
	if (s.n == 106) {
		ok(expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 1, "a"), "insert");
		ok(expect(&s.v[1], FERRY_OP_UPDATE, 1, "a", 1, "b"), "update");
		ok(expect(&s.v[2], FERRY_OP_UPDATE, 1, "b", 10, "b"),
		   "key update: before key 1, after key 10");
		ok(expect(&s.v[3], FERRY_OP_DELETE, 10, "b", 0, NULL),
		   "delete");
		ok(expect(&s.v[4], FERRY_OP_INSERT, 0, NULL, 2, "x") &&
		   expect(&s.v[5], FERRY_OP_DELETE, 2, "x", 0, NULL),
		   "insert and delete in one transaction: both captured");
		int good = 1;
		char want[16], want2[16];
		for (int i = 0; i < 50; i++) {
			snprintf(want, sizeof want, "r%d", i + 3);
			snprintf(want2, sizeof want2, "r%d!", i + 3);
			good &= expect(&s.v[6 + i], FERRY_OP_INSERT, 0, NULL,
			               i + 3, want);
			good &= expect(&s.v[56 + i], FERRY_OP_UPDATE, i + 3,
			               want, i + 3, want2);
		}
		ok(good, "multi-row statements: one change per row, in order");
		int order = 1, group = 1, when = 1;
		int64_t t1 = t0 + 60 * 1000000LL;
		for (size_t i = 0; i < s.n; i++) {
			order &= i == 0 || s.v[i].seq > s.v[i - 1].seq;
			group &= s.v[i].txid == last;
			when &= s.v[i].commit_time >= t0 &&
			        s.v[i].commit_time < t1 &&
			        s.v[i].commit_time == s.v[0].commit_time;
		}
		ok(order, "positions strictly increase");
		ok(group, "every change's txid is the group id: the last seq");
		ok(when, "commit_time is the time of the read");
		is_int(last, s.v[s.n - 1].seq, "*last is the last position");
	}
	sink_free(&s);
	uint64_t before = last;
	is_int(read_into(cap, last, &s, &last), 0, "read with nothing new");
	ok(s.n == 0 && last == before, "no changes, *last unchanged");
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static void test_rollback(void)
{
	sqlite3 *app = make_app("rollback.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)", 0);
	ferry_capture *cap = open_cap("rollback.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on rollback");
	exec_ok(app, "BEGIN; INSERT INTO t VALUES (1, 'a');"
	        "UPDATE t SET v = 'b'; ROLLBACK");
	exec_ok(app, "INSERT INTO t VALUES (5, 'z')");
	/* the third row conflicts: the statement's first two go too */
	ok(sqlite3_exec(app, "INSERT INTO t VALUES (6, 'p'), (7, 'q'),"
	                " (8, 'z')", NULL, NULL, NULL) == SQLITE_CONSTRAINT,
	   "a failing multi-row insert");
	exec_ok(app, "BEGIN; INSERT INTO t VALUES (9, 'k'); SAVEPOINT s;"
	        "INSERT INTO t VALUES (10, 'l'); ROLLBACK TO s; COMMIT");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read");
	is_int(s.n, 2, "rolled-back work left no captured rows");
	if (s.n == 2)
		ok(expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 5, "z") &&
		   expect(&s.v[1], FERRY_OP_INSERT, 0, NULL, 9, "k"),
		   "only the committed rows: 5 and 9 (not the savepoint's 10)");
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static void test_order(void)
{
	sqlite3 *app = make_app("order.db",
	    "CREATE TABLE a (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE b (id INTEGER PRIMARY KEY);", 0);
	sqlite3 *app2 = NULL;
	sqlite3_open(db_path("order.db"), &app2);
	sqlite3_busy_timeout(app2, 10000);
	ferry_capture *cap = open_cap("order.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on order");
	exec_ok(app, "BEGIN; INSERT INTO a VALUES (1);"
	        "INSERT INTO b VALUES (1); INSERT INTO a VALUES (2); COMMIT");
	exec_ok(app2, "INSERT INTO b VALUES (2)");
	exec_ok(app, "BEGIN; INSERT INTO a VALUES (3)");
	exec_ok(app, "INSERT INTO b VALUES (3); COMMIT");
	exec_ok(app2, "BEGIN; INSERT INTO b VALUES (4);"
	        "INSERT INTO a VALUES (4); COMMIT");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read");
	static const char *const want[] = {"a1", "b1", "a2", "b2", "a3", "b3",
	                                   "b4", "a4"};
	int good = s.n == 8;
	for (size_t i = 0; good && i < 8; i++) {
		char name[8];
		snprintf(name, sizeof name, "%s%lld", s.v[i].table,
		         (long long)s.v[i].after[0].u.i);
		good = strcmp(name, want[i]) == 0;
		if (!good)
			tap_diag("change %zu is %s, want %s", i, name, want[i]);
	}
	ok(good, "two tables, two connections: changes in commit order");
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app2);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static void test_uncommitted(void)
{
	sqlite3 *app = make_app("uncommitted.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	ferry_capture *cap = open_cap("uncommitted.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on uncommitted");
	exec_ok(app, "INSERT INTO t VALUES (1, 'done')");
	exec_ok(app, "BEGIN; INSERT INTO t VALUES (2, 'open');"
	        "INSERT INTO t VALUES (3, 'open')");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0,
	       "read while a write transaction is open");
	ok(s.n == 1 && expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 1, "done"),
	   "only the committed row");
	sink_free(&s);
	exec_ok(app, "COMMIT");
	is_int(read_into(cap, last, &s, &last), 0, "read after the commit");
	ok(s.n == 2 && expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 2, "open") &&
	   expect(&s.v[1], FERRY_OP_INSERT, 0, NULL, 3, "open"),
	   "the transaction's rows, whole");
	sink_free(&s);

	/* a callback failure: the read returns its error, *last unchanged */
	exec_ok(app, "INSERT INTO t VALUES (4, 'x'), (5, 'y')");
	uint64_t before = last;
	s.fail_at = 2;
	int rc = ops->read(cap, last, 0, collect, &s, &last, &err);
	ok(rc == FERRY_ERROR && last == before &&
	   strcmp(ferry_error_message(&err), "journal is full") == 0,
	   "a failing callback stops the read with its error");
	s.fail_at = 0;
	sink_free(&s);
	is_int(read_into(cap, last, &s, &last), 0, "read again");
	is_int(s.n, 2, "and gets both changes again");
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static int same_changes(const sink *a, const sink *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const got *x = &a->v[i], *y = &b->v[i];
		if (x->seq != y->seq || x->op != y->op || x->txid != y->txid ||
		    x->nafter != y->nafter || x->nbefore != y->nbefore)
			return 0;
		for (uint32_t c = 0; c < x->nafter; c++)
			if (!ferry_value_identical(&x->after[c], &y->after[c]))
				return 0;
		for (uint32_t c = 0; c < x->nbefore; c++)
			if (!ferry_value_identical(&x->before[c],
			                           &y->before[c]))
				return 0;
	}
	return 1;
}

static void test_release(void)
{
	sqlite3 *app = make_app("release.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	ferry_capture *cap = open_cap("release.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on release");
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');"
	        "UPDATE t SET v = 'B' WHERE id = 2;"
	        "DELETE FROM t WHERE id = 3");
	sink first = {0}, again = {0};
	uint64_t last = 0, last2 = 0;
	is_int(read_into(cap, 0, &first, &last), 0, "read");
	is_int(first.n, 5, "five changes");
	/* crash after the journal committed, before release: read again */
	ops->close(cap);
	cap = open_cap("release.db", NULL);
	is_int(read_into(cap, 0, &again, &last2), 0,
	       "read again after a crash");
	ok(same_changes(&first, &again) && last == last2,
	   "the same changes, positions, group and images");
	sink_free(&again);
	exec_ok(app, "INSERT INTO t VALUES (4, 'd'), (5, 'e')");
	is_int(ops->release(cap, last, &err), 0, "release up to the cursor");
	is_int(app_int(app, "SELECT count(*) FROM _ferry_changes"), 2,
	       "released rows are gone, later ones kept");
	ok(app_int(app, "SELECT min(seq) FROM _ferry_changes") > (int64_t)last,
	   "what is kept is after the cursor");
	is_int(read_into(cap, last, &again, &last2), 0, "read from the cursor");
	ok(again.n == 2 && again.v[0].seq > last &&
	   expect(&again.v[0], FERRY_OP_INSERT, 0, NULL, 4, "d"),
	   "only the newer changes");
	is_int(ops->release(cap, last2, &err), 0, "release all");
	is_int(ops->release(cap, last2, &err), 0, "release twice is harmless");
	is_int(app_int(app, "SELECT count(*) FROM _ferry_changes"), 1,
	       "only the newest row stays");
	is_int(read_into(cap, last2, &again, &last2), 0, "read after it");
	is_int(again.n, 2, "the kept row is not read again");
	exec_ok(app, "INSERT INTO t VALUES (6, 'f')");
	ok(app_int(app, "SELECT max(seq) FROM _ferry_changes") > (int64_t)last2,
	   "a sequence number is never reused after release");
	sink_free(&first);
	sink_free(&again);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/*
 * One capture pass as sync runs it: read after the journal's cursor,
 * "commit" (the cursor moves), then release unless a crash is simulated.
 * Fails unless every position is after the cursor and increasing and
 * there were `want` changes.
 */
static int pass(ferry_capture *cap, uint64_t *cursor, size_t want,
                int release)
{
	sink s = {0};
	uint64_t last = *cursor;
	int fine = read_into(cap, *cursor, &s, &last) == 0 && s.n == want;
	for (size_t i = 0; fine && i < s.n; i++)
		fine = s.v[i].seq > (i ? s.v[i - 1].seq : *cursor);
	if (fine && s.n)
		fine = last == s.v[s.n - 1].seq;
	if (!fine)
		tap_diag("pass after %llu: %zu changes, want %zu",
		         (unsigned long long)*cursor, s.n, want);
	sink_free(&s);
	*cursor = last;
	if (fine && release) {
		ferry_error err = FERRY_ERROR_INIT;
		fine = ops->release(cap, *cursor, &err) == 0;
		if (!fine)
			tap_diag("release: %s", ferry_error_message(&err));
		ferry_error_clear(&err);
	}
	return fine;
}

static int has_drift(const ferry_capture_drift *d, ferry_drift_kind kind,
                     const char *table, const char *column);

/* seq is a plain rowid in formats 3 and 4: release keeps the newest row,
 * so seq never gives out a number at or below one already given out. */
static void test_seq_never_reused(void)
{
	sqlite3 *app = make_app("seq.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	ferry_capture *cap = open_cap("seq.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on seq");
	uint64_t cursor = 0;
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
	ok(pass(cap, &cursor, 3, 1) && cursor == 3, "three changes released");
	is_int(app_int(app, "SELECT group_concat(seq) FROM _ferry_changes"), 3,
	       "release keeps only the newest row");
	is_int(app_int(app, "SELECT value FROM _ferry_meta"
	               " WHERE key = 'released'"), 3,
	       "the largest released seq is recorded");
	exec_ok(app, "INSERT INTO t VALUES (4, 'd')");
	is_int(app_int(app, "SELECT max(seq) FROM _ferry_changes"), 4,
	       "a new row follows the last seq");

	/* crash between the journal commit and release: the journal's
	 * cursor is the truth, the rows are still there */
	ok(pass(cap, &cursor, 1, 0) && cursor == 4, "read, not released");
	ops->close(cap);
	sqlite3_close(app);
	app = NULL;
	is_int(sqlite3_open(db_path("seq.db"), &app), SQLITE_OK, "reopen app");
	cap = open_cap("seq.db", NULL);
	ok(pass(cap, &cursor, 0, 1), "after the crash: nothing new, released");
	is_int(app_int(app, "SELECT group_concat(seq) FROM _ferry_changes"), 4,
	       "the newest row again");
	exec_ok(app, "UPDATE t SET v = v || '!'");
	ok(app_int(app, "SELECT min(seq) FROM _ferry_changes WHERE seq > 4") == 5 &&
	   app_int(app, "SELECT max(seq) FROM _ferry_changes") == 12,
	   "one statement updating four rows after it: 5..12 (two each)");
	ok(pass(cap, &cursor, 4, 1) && cursor == 12,
	   "and they are read: four changes, the cursor at the last row");

	/* close and reopen both sides with everything released */
	ops->close(cap);
	sqlite3_close(app);
	app = NULL;
	sqlite3_open(db_path("seq.db"), &app);
	cap = open_cap("seq.db", NULL);
	uint64_t p = 0;
	is_int(ops->snapshot_begin(cap, &p, &err), 0, "snapshot of empty log");
	is_int(p, 12, "P is the last seq given out");
	ops->snapshot_end(cap, &err);
	exec_ok(app, "BEGIN; INSERT INTO t VALUES (5, 'e'); ROLLBACK;"
	        "INSERT INTO t VALUES (6, 'f')");
	is_int(app_int(app, "SELECT max(seq) FROM _ferry_changes"), 13,
	       "after reopening and a rollback: 13");

	/* a release that leaves later rows: the floor is what was deleted */
	ok(pass(cap, &cursor, 1, 0) && cursor == 13, "read 13");
	exec_ok(app, "INSERT INTO t VALUES (7, 'g')");
	is_int(ops->release(cap, 13, &err), 0, "release part of the log");
	is_int(app_int(app, "SELECT value FROM _ferry_meta"
	               " WHERE key = 'released'"), 13, "released = 13");
	ok(pass(cap, &cursor, 1, 1) && cursor == 14, "read 14");
	is_int(ops->release(cap, 5, &err), 0, "releasing less is harmless");
	is_int(app_int(app, "SELECT value FROM _ferry_meta"
	               " WHERE key = 'released'"), 14, "released stays 14");

	int fine = 1;
	for (int round = 0; round < 20; round++) {
		char sql[200];
		snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d, 'x');"
		         "DELETE FROM t WHERE id = %d", 100 + round,
		         100 + round);
		fine &= exec_ok(app, sql);
		fine &= pass(cap, &cursor, 2, round % 3 != 2);
	}
	ok(fine && cursor == 54, "20 rounds of write, read, release: 15..54");

	/* a log emptied by something else would give out seqs the journal
	 * already has: the next read refuses instead of skipping changes */
	exec_ok(app, "DELETE FROM _ferry_changes; INSERT INTO t VALUES (1000, 'h')");
	sink s = {0};
	uint64_t last = cursor;
	is_int(read_into(cap, cursor, &s, &last), FERRY_ECORRUPT,
	       "a log below the cursor is refused");
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* Whether check reported column of table as added (not fatal). */
static int has_added(const ferry_capture_drift *d, const char *table,
                     const char *column)
{
	for (uint32_t i = 0; i < d->nitems; i++)
		if (d->items[i].kind == FERRY_DRIFT_COLUMN_ADDED &&
		    strcmp(d->items[i].table, table) == 0 && d->items[i].column &&
		    strcmp(d->items[i].column, column) == 0)
			return 1;
	return 0;
}

/* The application's error for sql, or "" when it succeeded. */
static const char *app_error(sqlite3 *db, const char *sql)
{
	static char text[300];
	char *msg = NULL;
	text[0] = 0;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		snprintf(text, sizeof text, "%s", msg ? msg : "?");
	sqlite3_free(msg);
	return text;
}

/* The cutover's write fence: the application's writes fail with
 * ferry's message, a connection with triggers off (ferry's replay) still
 * writes, capture still reads, unfence and remove take it away. */
static void test_fence(void)
{
	sqlite3 *app = make_app("fence.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
	    "CREATE TABLE \"o'd\" (id INTEGER PRIMARY KEY);"
	    "INSERT INTO t VALUES (1, 'a')", 0);
	ferry_capture *cap = open_cap("fence.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on fence");
	bool fenced = true;
	ok(ops->fenced(cap, &fenced, &err) == 0 && !fenced, "not fenced yet");
	exec_ok(app, "INSERT INTO t VALUES (2, 'b')");
	int rc = ops->fence(cap, "migration m is cutting over", &err);
	if (!ok(rc == 0, "fence"))
		tap_diag("%s", ferry_error_message(&err));
	ok(ops->fenced(cap, &fenced, &err) == 0 && fenced, "fenced");
	is_str(app_error(app, "INSERT INTO t VALUES (3, 'c')"),
	       "ferry: table \"t\" is fenced: migration m is cutting over",
	       "an insert fails with ferry's message");
	is_str(app_error(app, "UPDATE t SET v = 'x'"),
	       "ferry: table \"t\" is fenced: migration m is cutting over",
	       "so does an update");
	is_str(app_error(app, "INSERT INTO \"o'd\" VALUES (1)"),
	       "ferry: table \"o'd\" is fenced: migration m is cutting over",
	       "on every captured table");
	is_int(app_int(app, "SELECT count(*) FROM t"), 2, "nothing changed");
	is_int(ops->fence(cap, "again", &err), 0, "fence again: harmless");
	is_str(app_error(app, "DELETE FROM t"),
	       "ferry: table \"t\" is fenced: migration m is cutting over",
	       "the first fence's message stays");
	sqlite3 *ferry_side = NULL;
	int enabled = 1;
	sqlite3_open(db_path("fence.db"), &ferry_side);
	sqlite3_db_config(ferry_side, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &enabled);
	is_str(app_error(ferry_side, "INSERT INTO t VALUES (3, 'from ferry')"),
	       "", "a connection with triggers off (ferry's replay) writes");
	sqlite3_close(ferry_side);
	uint64_t cursor = 0;
	ok(pass(cap, &cursor, 1, 1), "capture reads the change made before "
	   "the fence, not ferry's");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->unfence(cap, &report, &err), 0, "unfence");
	ok(strstr(ferry_buf_cstr(&report), "dropped trigger _ferry_t_fin\n") &&
	   strstr(ferry_buf_cstr(&report), "dropped trigger _ferry_o'd_fde\n"),
	   "saying what it dropped");
	ferry_buf_free(&report);
	is_str(app_error(app, "INSERT INTO t VALUES (4, 'd')"), "",
	       "the application writes again");
	is_int(ops->unfence(cap, NULL, &err), 0, "unfence again: harmless");
	ok(pass(cap, &cursor, 1, 1), "and is captured");
	/* a schema change made just before the fence must still be found:
	 * the fence's own DDL must not mark the schema as seen */
	exec_ok(app, "ALTER TABLE t ADD COLUMN z");
	is_int(ops->fence(cap, "m", &err), 0, "fence after a column was added");
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(ops->check(cap, &d, &err), 0, "check");
	ok(has_added(&d, "t", "z"),
	   "the column added before the fence is reported");
	ferry_capture_drift_free(&d);
	is_int(ops->unfence(cap, NULL, &err), 0, "unfence");
	exec_ok(app, "ALTER TABLE t ADD COLUMN y");
	is_int(ops->unfence(cap, NULL, &err), 0, "unfence with nothing fenced");
	is_int(ops->check(cap, &d, &err), 0, "check");
	ok(has_added(&d, "t", "y"),
	   "nor does unfence hide a change made before it");
	ferry_capture_drift_free(&d);
	is_int(ops->fence(cap, "m", &err), 0, "fence once more");
	is_int(ops->remove(cap, &report, &err), 0, "remove");
	is_int(ferry_objects(app), 6, "remove leaves the fence's triggers (three per table)");
	ok(sqlite3_exec(app, "INSERT INTO t (x) VALUES (99)", NULL, NULL,
	                NULL) != SQLITE_OK, "which still refuse writes");
	is_int(ops->unfence(cap, NULL, &err), 0,
	       "unfence without the capture installed");
	is_int(ferry_objects(app), 0, "unfence takes the fence");
	ferry_buf_free(&report);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* Format 4 writes one row per image; an update's two rows are one
 * change at the position of the second. */
static void test_rows_layout(void)
{
	sqlite3 *app = make_app("rows.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)", 0);
	ferry_capture *cap = open_cap("rows.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on rows");
	exec_ok(app, "INSERT INTO t VALUES (1, 'a', x'00ff');"
	        "UPDATE t SET v = 'bb', b = x'' WHERE id = 1;"
	        "DELETE FROM t WHERE id = 1");
	is_str(app_text(app, "SELECT group_concat(seq || ':' || (kind % 4),"
	                " ' ') FROM _ferry_changes"), "1:0 2:2 3:3 4:1",
	       "insert, update (old row, new row), delete");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->describe(cap, &report, &err), 0, "describe");
	is_str(ferry_buf_cstr(&report), "3 changes wait in _ferry_changes",
	       "an update counts once");
	ferry_buf_free(&report);
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read rows");
	ok(s.n == 3 && last == 4 && s.v[0].seq == 1 && s.v[1].seq == 3 &&
	   s.v[2].seq == 4, "three changes at seqs 1, 3, 4");
	ok(s.n == 3 && s.v[1].op == FERRY_OP_UPDATE && s.v[1].nbefore == 3 &&
	   is_text(&s.v[1].before[1], "a", 1) &&
	   s.v[1].before[2].type == FERRY_BLOB &&
	   s.v[1].before[2].u.s.len == 2 &&
	   memcmp(s.v[1].before[2].u.s.ptr, "\0\xff", 2) == 0 &&
	   is_text(&s.v[1].after[1], "bb", 2) &&
	   s.v[1].after[2].type == FERRY_BLOB &&
	   s.v[1].after[2].u.s.len == 0,
	   "the update's old row keeps its bytes past the new row");
	sink_free(&s);
	is_int(read_into(cap, 2, &s, &last), FERRY_ECORRUPT,
	       "a read from inside an update is refused");
	sink_free(&s);

	/* damaged logs: each stops the read, none is guessed at */
	static const struct {
		const char *damage, *says, *what;
	} cases[] = {
		/* 5: the insert, 6 and 7: the update's old and new rows */
		{"DELETE FROM _ferry_changes WHERE seq = 7", "not followed",
		 "an old row without its new row"},
		{"DELETE FROM _ferry_changes WHERE seq = 6", "without its old",
		 "a new row without its old row"},
		{"UPDATE _ferry_changes SET kind = 4 * 999 WHERE seq = 5",
		 "of no capture version", "an unknown version id"},
		{"UPDATE _ferry_changes SET kind = CAST(kind AS TEXT)"
		 " WHERE seq = 5", "of no capture version", "a kind as text"},
		{"UPDATE _ferry_changes SET kind = NULL WHERE seq = 5",
		 "of no capture version", "no kind"},
		{"UPDATE _ferry_changes SET kind = kind + 1 WHERE seq = 7",
		 "not followed", "an update's rows of two kinds"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		exec_ok(app, "INSERT INTO t VALUES (2, 'c', NULL);"
		        "UPDATE t SET v = 'd' WHERE id = 2");
		exec_ok(app, cases[i].damage);
		int rc = ops->read(cap, 4, 0, collect, &s, &last, &err);
		char name[96];
		snprintf(name, sizeof name, "%s: refused", cases[i].what);
		ok(rc == FERRY_ECORRUPT &&
		   strstr(ferry_error_message(&err), cases[i].says), "%s", name);
		tap_diag("%d %s", rc, ferry_error_message(&err));
		sink_free(&s);
		/* back to a log that ends at 4, for the next case */
		exec_ok(app, "DELETE FROM t WHERE id = 2;"
		        "DELETE FROM _ferry_changes WHERE seq > 4");
	}
	/* a trigger made again needs its version's id: without the row the
	 * install stops rather than write rows no reader can place */
	exec_ok(app, "DELETE FROM _ferry_versions WHERE tbl = 't';"
	        "DROP TRIGGER _ferry_t_ins");
	is_int(install(cap, "m", NULL, &err), FERRY_ECORRUPT,
	       "a version without its id: install refused");
	ok(strstr(ferry_error_message(&err), "_ferry_versions has no row for "
	          "its version 1") != NULL, "naming the table's version");
	ok(!has_object(app, "trigger", "_ferry_t_ins"), "and no trigger made");
	exec_ok(app, "UPDATE _ferry_meta SET value = 5 WHERE key = 'format'");
	is_int(install(cap, "m", NULL, &err), FERRY_EUNSUPPORTED,
	       "format 5: refused");
	ok(strstr(ferry_error_message(&err), "format 5") != NULL,
	   "the message names it");
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/*
 * The capture of table t (id, v) for migration "m" in format 3, written
 * out as the ferry that made format 3 installed it: this SQL is that
 * format's contract, which this ferry must keep reading.
 */
static void make_format3(sqlite3 *app)
{
	exec_ok(app,
	    "CREATE TABLE _ferry_meta (key TEXT PRIMARY KEY, value);"
	    "CREATE TABLE _ferry_columns (tbl TEXT NOT NULL,"
	    " version INTEGER NOT NULL, pos INTEGER NOT NULL,"
	    " name TEXT NOT NULL, PRIMARY KEY (tbl, version, pos))"
	    " WITHOUT ROWID;"
	    "CREATE TABLE _ferry_changes (seq INTEGER PRIMARY KEY,"
	    " tbl TEXT NOT NULL, op INTEGER NOT NULL, ver INTEGER NOT NULL,"
	    " o0, o1, n0, n1);"
	    "INSERT INTO _ferry_meta VALUES ('format', 3), ('released', 0),"
	    " ('migration', 'm');"
	    "INSERT INTO _ferry_columns VALUES ('t', 1, 0, 'id'),"
	    " ('t', 1, 1, 'v');"
	    "CREATE TRIGGER \"_ferry_t_ins\" AFTER INSERT ON \"t\" FOR EACH ROW"
	    " BEGIN INSERT INTO _ferry_changes (tbl, op, ver, n0, n1) VALUES"
	    " ('t', 1, 1, NEW.\"id\", NEW.\"v\"); END;"
	    "CREATE TRIGGER \"_ferry_t_upd\" AFTER UPDATE ON \"t\" FOR EACH ROW"
	    " BEGIN INSERT INTO _ferry_changes (tbl, op, ver, o0, o1, n0, n1)"
	    " VALUES ('t', 2, 1, OLD.\"id\", OLD.\"v\", NEW.\"id\","
	    " NEW.\"v\"); END;"
	    "CREATE TRIGGER \"_ferry_t_del\" AFTER DELETE ON \"t\" FOR EACH ROW"
	    " BEGIN INSERT INTO _ferry_changes (tbl, op, ver, o0, o1) VALUES"
	    " ('t', 3, 1, OLD.\"id\", OLD.\"v\"); END;"
	    "INSERT INTO _ferry_meta (key, value) SELECT 'schema_version',"
	    " schema_version FROM pragma_schema_version");
}

/* Format 3 (both images in one row), as an earlier ferry made it, still
 * reads every kind of change, follows an added column in its own
 * layout, installs again without changing layout, and removes. */
static void test_format3(void)
{
	sqlite3 *app = make_app("format3.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	make_format3(app);
	ferry_capture *cap = open_cap("format3.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(ops->check(cap, &d, &err), 0, "check format 3");
	is_int(d.nitems, 0, "nothing changed");
	exec_ok(app, "INSERT INTO t VALUES (1, 'a');"
	        "UPDATE t SET v = 'b' WHERE id = 1;"
	        "UPDATE t SET id = 10 WHERE id = 1;"
	        "DELETE FROM t WHERE id = 10");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read format 3");
	ok(s.n == 4 && last == 4 &&
	   expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 1, "a") &&
	   expect(&s.v[1], FERRY_OP_UPDATE, 1, "a", 1, "b") &&
	   expect(&s.v[2], FERRY_OP_UPDATE, 1, "b", 10, "b") &&
	   expect(&s.v[3], FERRY_OP_DELETE, 10, "b", 0, NULL) &&
	   s.v[1].seq == 2 && s.v[3].seq == 4,
	   "insert, update, key update, delete: one row each");
	sink_free(&s);
	is_int(ops->release(cap, last, &err), 0, "release");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->describe(cap, &report, &err), 0, "describe");
	is_str(ferry_buf_cstr(&report), "0 changes wait in _ferry_changes",
	       "nothing waits");
	ferry_buf_reset(&report);

	exec_ok(app, "ALTER TABLE t ADD COLUMN w");
	is_int(ops->check(cap, &d, &err), 0, "check follows an added column");
	ok(has_added(&d, "t", "w"), "reported as added");
	is_str(app_text(app, "SELECT group_concat(name, ' ') FROM"
	                " pragma_table_info('_ferry_changes')"),
	       "seq tbl op ver o0 o1 n0 n1 o2 n2",
	       "widened in the format-3 layout");
	ok(!has_object(app, "table", "_ferry_versions"),
	   "no format-4 table made");
	exec_ok(app, "INSERT INTO t VALUES (20, 'x', 'y');"
	        "UPDATE t SET w = 'z' WHERE id = 20");
	is_int(read_into(cap, last, &s, &last), 0, "read the new version");
	ok(s.n == 2 && s.v[0].version == 2 && s.v[0].nafter == 3 &&
	   is_text(&s.v[0].after[2], "y", 1) && s.v[1].nbefore == 3 &&
	   is_text(&s.v[1].before[2], "y", 1) &&
	   is_text(&s.v[1].after[2], "z", 1) && last == 6,
	   "three-column images of version 2");
	sink_free(&s);
	is_int(ops->describe(cap, &report, &err), 0, "describe");
	is_str(ferry_buf_cstr(&report), "2 changes wait in _ferry_changes",
	       "one row per change");
	ferry_buf_reset(&report);
	exec_ok(app, "DROP TRIGGER _ferry_t_del");
	is_int(install(cap, "m", NULL, &err), 0, "install format 3 again");
	is_int(app_int(app, "SELECT value FROM _ferry_meta"
	               " WHERE key = 'format'"), 3, "still format 3");
	exec_ok(app, "DELETE FROM t WHERE id = 20");
	is_int(read_into(cap, last, &s, &last), 0, "read the delete");
	ok(s.n == 1 && s.v[0].op == FERRY_OP_DELETE && s.v[0].nbefore == 3 &&
	   is_text(&s.v[0].before[2], "z", 1),
	   "its re-made trigger writes format 3");
	sink_free(&s);
	is_int(ops->remove(cap, &report, &err), 0, "remove format 3");
	is_int(ferry_objects(app), 0, "nothing of ferry's left");
	ferry_buf_free(&report);
	ferry_capture_drift_free(&d);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* Format 2 (plain seq kept by the trigger _ferry_seq), as an earlier
 * ferry made it, still reads, releases, checks its trigger and removes. */
static void test_format2(void)
{
	sqlite3 *app = make_app("format2.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	make_format3(app);
	ferry_capture *cap = open_cap("format2.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	exec_ok(app, "UPDATE _ferry_meta SET value = 2 WHERE key = 'format';"
	        "CREATE TRIGGER _ferry_seq AFTER INSERT ON _ferry_changes"
	        " FOR EACH ROW WHEN NEW.seq = 1 BEGIN UPDATE _ferry_changes"
	        " SET seq = 1 + coalesce((SELECT value FROM _ferry_meta"
	        " WHERE key = 'released'), 0) WHERE seq = 1; END");
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(ops->check(cap, &d, &err), 0, "check format 2");
	uint64_t cursor = 0;
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'), (2, 'b')");
	ok(pass(cap, &cursor, 2, 1) && cursor == 2, "read and released");
	exec_ok(app, "INSERT INTO t VALUES (3, 'c')");
	ok(pass(cap, &cursor, 1, 1) && cursor == 3, "and the next one");
	exec_ok(app, "DROP TRIGGER _ferry_seq");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "check: its trigger dropped");
	ok(has_drift(&d, FERRY_DRIFT_TRIGGER_DROPPED, "_ferry_changes", NULL),
	   "reported as a dropped trigger of _ferry_changes");
	tap_diag("%s", ferry_error_message(&err));
	is_int(install(cap, "m", NULL, &err), 0, "install again");
	ok(has_object(app, "trigger", "_ferry_seq"), "makes it again");
	is_int(ops->check(cap, &d, &err), 0, "check passes again");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->remove(cap, &report, &err), 0, "remove format 2");
	ok(strstr(ferry_buf_cstr(&report), "dropped trigger _ferry_seq\n") !=
	   NULL, "its trigger is reported dropped");
	is_int(ferry_objects(app), 0, "nothing of ferry's left");
	ferry_buf_free(&report);
	ferry_capture_drift_free(&d);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* Format 1 (AUTOINCREMENT, no _ferry_seq), as an earlier ferry made it,
 * still reads, releases and removes. */
static void test_format1(void)
{
	sqlite3 *app = make_app("format1.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	make_format3(app);
	ferry_capture *cap = open_cap("format1.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	exec_ok(app, "DROP TABLE _ferry_changes;"
	        "CREATE TABLE _ferry_changes (seq INTEGER PRIMARY KEY"
	        " AUTOINCREMENT, tbl TEXT NOT NULL, op INTEGER NOT NULL,"
	        " ver INTEGER NOT NULL, o0, o1, n0, n1);"
	        "UPDATE _ferry_meta SET value = 1 WHERE key = 'format';"
	        "DELETE FROM _ferry_meta WHERE key = 'released'");
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(ops->check(cap, &d, &err), 0, "format 1 needs no _ferry_seq");
	is_int(install(cap, "m", NULL, &err), 0, "install again");
	ok(!has_object(app, "trigger", "_ferry_seq"), "and gets none");
	uint64_t cursor = 0;
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'), (2, 'b')");
	ok(pass(cap, &cursor, 2, 1) && cursor == 2, "read and released");
	uint64_t p = 0;
	is_int(ops->snapshot_begin(cap, &p, &err), 0, "snapshot");
	is_int(p, 2, "P from the AUTOINCREMENT counter");
	ops->snapshot_end(cap, &err);
	exec_ok(app, "INSERT INTO t VALUES (3, 'c')");
	is_int(app_int(app, "SELECT max(seq) FROM _ferry_changes"), 3,
	       "AUTOINCREMENT goes on after the released log");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->remove(cap, &report, &err), 0, "remove format 1");
	const char *text = ferry_buf_cstr(&report);
	ok(strstr(text, "deleted row _ferry_changes of sqlite_sequence\n") &&
	   !strstr(text, "_ferry_seq"), "its counter is reported deleted");
	is_int(ferry_objects(app), 0, "nothing of ferry's left");
	ferry_buf_free(&report);
	ferry_capture_drift_free(&d);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- snapshot ---- */

static int64_t scan_count(ferry_capture *cap, const ferry_table *t,
                          int64_t *max_first)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_scan *scan = NULL;
	ferry_row row = FERRY_ROW_INIT;
	int64_t n = -1;
	*max_first = 0;
	if (ops->scan_open(cap, t, NULL, 0, &scan, &err) == 0) {
		n = 0;
		while (ops->scan_next(scan, &row, &err) == 1) {
			n++;
			if (row.values[0].type == FERRY_INT &&
			    row.values[0].u.i > *max_first)
				*max_first = row.values[0].u.i;
		}
	} else {
		tap_diag("scan: %s", ferry_error_message(&err));
	}
	ops->scan_close(scan);
	ferry_row_free(&row);
	ferry_error_clear(&err);
	return n;
}

static void test_snapshot(void)
{
	sqlite3 *app = make_app("snapshot.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0);
	ferry_capture *cap = open_cap("snapshot.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on snapshot");
	exec_ok(app, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1"
	        " FROM c WHERE x < 5) INSERT INTO t SELECT x, 'v' FROM c");
	uint64_t p = 0;
	is_int(ops->snapshot_begin(cap, &p, &err), 0, "snapshot begins");
	is_int(p, 5, "P = max(seq) = 5");
	ok(exec_ok(app, "INSERT INTO t VALUES (6, 'w'), (7, 'w');"
	           "UPDATE t SET v = 'x' WHERE id = 1"),
	   "the application writes during the snapshot");
	ferry_schema sch = FERRY_SCHEMA_INIT;
	is_int(ops->introspect(cap, &sch, &err), 0, "introspect in snapshot");
	ferry_table *t = ferry_schema_find(&sch, "t");
	is_int(t ? t->row_count : -1, 5, "the snapshot counts 5 rows");
	int64_t top = 0;
	is_int(t ? scan_count(cap, t, &top) : -1, 5,
	       "the snapshot scan sees none of the later rows");
	ferry_table changes = {0};
	ferry_column seq = {0};
	seq.name = "seq";
	seq.decl_type = "INTEGER";
	seq.pk_position = 1;
	changes.name = "_ferry_changes";
	changes.columns = &seq;
	changes.ncolumns = 1;
	is_int(scan_count(cap, &changes, &top), 5,
	       "it sees 5 captured rows");
	is_int(top, (int64_t)p, "the largest seq it sees is P");
	uint64_t last = 0;
	sink s = {0};
	is_int(ops->read(cap, p, 0, collect, &s, &last, &err), FERRY_EINVAL,
	       "read refused during a snapshot");
	is_int(ops->release(cap, p, &err), FERRY_EINVAL,
	       "release refused during a snapshot");
	ferry_buf token = FERRY_BUF_INIT;
	is_int(ops->snapshot_token(cap, &token, &err), 0, "a snapshot token");
	is_str(ferry_buf_cstr(&token), "5", "it is the snapshot's position");
	is_int(ops->snapshot_end(cap, &err), 0, "snapshot ends");
	is_int(ops->snapshot_token(cap, &token, &err), FERRY_EINVAL,
	       "no token outside a snapshot");
	ferry_buf_free(&token);
	{
		uint8_t pos[FERRY_CAPTURE_POSITION_LEN];
		ferry_change c = FERRY_CHANGE_INIT;
		c.position = pos;
		c.position_len = sizeof pos;
		ferry_capture_position_put(pos, 5);
		ok(ops->in_snapshot("5", &c), "the token sees the change at P");
		ferry_capture_position_put(pos, 6);
		ok(!ops->in_snapshot("5", &c), "and not the one after it");
		ferry_capture_position_put(pos, 1);
		ok(!ops->in_snapshot("5x", &c) && !ops->in_snapshot("", &c),
		   "a malformed token sees nothing");
	}
	is_int(ops->release(cap, p, &err), 0, "release up to P");
	is_int(read_into(cap, p, &s, &last), 0, "read after P");
	ok(s.n == 3 && s.v[0].seq > p &&
	   expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 6, "w") &&
	   expect(&s.v[1], FERRY_OP_INSERT, 0, NULL, 7, "w") &&
	   expect(&s.v[2], FERRY_OP_UPDATE, 1, "v", 1, "x"),
	   "exactly the changes made after the snapshot, all after P");
	sink_free(&s);
	is_int(ops->release(cap, last, &err), 0, "release all");
	is_int(ops->snapshot_begin(cap, &p, &err), 0, "snapshot of empty log");
	is_int(p, (int64_t)last, "P is still the last seq given out, not 0");
	ops->snapshot_end(cap, &err);
	ferry_schema_free(&sch);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- removal ---- */

static void test_remove(void)
{
	sqlite3 *app = make_app("remove.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
	    "CREATE TABLE \"o d\"\"d\" (x);"
	    "CREATE TABLE mine (id INTEGER PRIMARY KEY AUTOINCREMENT);"
	    "CREATE TRIGGER app_trigger AFTER INSERT ON t BEGIN"
	    " INSERT INTO mine (id) VALUES (NULL); END;", 0);
	ferry_capture *cap = open_cap("remove.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on remove");
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'); INSERT INTO \"o d\"\"d\""
	        " VALUES (1)");
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->remove(cap, &report, &err), 0, "remove");
	const char *text = ferry_buf_cstr(&report);
	for (const char *p = text; *p; p += strcspn(p, "\n") + 1)
		tap_diag("report: %.*s", (int)strcspn(p, "\n"), p);
	ok(strstr(text, "dropped trigger _ferry_t_ins\n") &&
	   strstr(text, "dropped trigger _ferry_t_upd\n") &&
	   strstr(text, "dropped trigger _ferry_t_del\n") &&
	   strstr(text, "dropped trigger _ferry_o d\"d_ins\n") &&
	   strstr(text, "dropped table _ferry_changes\n") &&
	   strstr(text, "dropped table _ferry_columns\n") &&
	   strstr(text, "dropped table _ferry_meta\n") &&
	   !strstr(text, "_ferry_seq") && !strstr(text, "sqlite_sequence"),
	   "one report line per removed object");
	is_int(ferry_objects(app), 0, "sqlite_schema has no _ferry object");
	is_int(app_int(app, "SELECT count(*) FROM sqlite_sequence"
	               " WHERE name = '_ferry_changes'"), 0,
	       "no sqlite_sequence row for _ferry_changes");
	ok(has_object(app, "trigger", "app_trigger") &&
	   app_int(app, "SELECT count(*) FROM sqlite_sequence"
	           " WHERE name = 'mine'") == 1,
	   "the application's trigger and sequence stay");
	ok(exec_ok(app, "INSERT INTO t VALUES (2, 'b')"),
	   "the application writes as before");
	ferry_buf_reset(&report);
	is_int(ops->remove(cap, &report, &err), 0, "remove again");
	ok(strstr(ferry_buf_cstr(&report), "no capture objects") != NULL,
	   "the report says nothing was installed");
	char *id = NULL;
	is_int(ops->installed(cap, &id, &err), FERRY_ENOTFOUND,
	       "nothing installed");
	is_int(install(cap, "other", NULL, &err), 0,
	       "another migration can install now");
	ferry_buf_free(&report);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- schema drift ---- */

static void test_added_column(void)
{
	sqlite3 *app = make_app("added.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)", 0);
	ferry_capture *cap = open_cap("added.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on added");
	is_int(ops->check(cap, &d, &err), 0, "check after install");
	is_int(d.nitems, 0, "no drift");
	exec_ok(app, "INSERT INTO t VALUES (1, 'one');"
	        "CREATE INDEX t_a ON t(a);");
	is_int(ops->check(cap, &d, &err), 0, "check after an unrelated index");
	is_int(d.nitems, 0, "still no drift");
	exec_ok(app, "ALTER TABLE t ADD COLUMN z INTEGER DEFAULT 7;"
	        "INSERT INTO t VALUES (2, 'two', 9)");
	int rc = ops->check(cap, &d, &err);
	is_int(rc, 0, "check after ADD COLUMN succeeds");
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	ok(d.nitems == 1 && !d.fatal &&
	   d.items[0].kind == FERRY_DRIFT_COLUMN_ADDED && !d.items[0].fatal &&
	   strcmp(d.items[0].table, "t") == 0 &&
	   strcmp(d.items[0].column, "z") == 0 && d.items[0].version == 2 &&
	   d.items[0].ncolumns == 3, "reported: column z added, version 2");
	if (d.nitems)
		tap_diag("%s", d.items[0].text);
	exec_ok(app, "INSERT INTO t VALUES (3, 'three', 11);"
	        "UPDATE t SET z = 12 WHERE id = 3; UPDATE t SET a = 'uno'"
	        " WHERE id = 1");
	is_int(app_int(app, "SELECT count(*) FROM pragma_table_info("
	               "'_ferry_changes') WHERE name = 'c2'"), 1,
	       "_ferry_changes widened for the third column");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read across the change");
	is_int(s.n, 5, "five changes");
	if (s.n == 5) {
		ok(s.v[0].version == 1 && s.v[0].nafter == 2 &&
		   expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 1, "one"),
		   "before the ALTER: version 1, 2 columns");
		ok(s.v[1].version == 1 && s.v[1].nafter == 2,
		   "between ALTER and check: old triggers, version 1");
		ok(s.v[2].version == 2 && s.v[2].nafter == 3 &&
		   is_intv(&s.v[2].after[2], 11),
		   "after check: version 2, z = 11");
		ok(s.v[3].op == FERRY_OP_UPDATE && s.v[3].nbefore == 3 &&
		   is_intv(&s.v[3].before[2], 11) &&
		   is_intv(&s.v[3].after[2], 12),
		   "update of the new column: both images");
		ok(s.v[4].version == 2 && is_intv(&s.v[4].before[2], 7) &&
		   is_text(&s.v[4].after[1], "uno", 3),
		   "old row: the default in both images");
	}
	sink_free(&s);
	is_int(ops->check(cap, &d, &err), 0, "check again");
	is_int(d.nitems, 0, "nothing new");
	/* a second handle (a restarted capture) agrees */
	ops->close(cap);
	cap = open_cap("added.db", NULL);
	is_int(ops->check(cap, &d, &err), 0, "check from a new connection");
	is_int(d.nitems, 0, "nothing new either");
	ferry_capture_drift_free(&d);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static int has_drift(const ferry_capture_drift *d, ferry_drift_kind kind,
                     const char *table, const char *column)
{
	for (uint32_t i = 0; i < d->nitems; i++)
		if (d->items[i].kind == kind && d->items[i].fatal &&
		    strcmp(d->items[i].table, table) == 0 &&
		    (!column || (d->items[i].column &&
		                 strcmp(d->items[i].column, column) == 0)))
			return 1;
	return 0;
}

static void test_dropped_column(void)
{
	sqlite3 *app = make_app("dropped.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, c TEXT)", 0);
	ferry_capture *cap = open_cap("dropped.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on dropped");
	char *msg = NULL;
	int rc = sqlite3_exec(app, "ALTER TABLE t DROP COLUMN c", NULL, NULL,
	                      &msg);
	ok(rc != SQLITE_OK && msg && strstr(msg, "_ferry_t_"),
	   "SQLite refuses DROP COLUMN of a captured column (the triggers "
	   "use it)");
	tap_diag("sqlite: %s", msg ? msg : "(none)");
	sqlite3_free(msg);
	/* the way SQLite migrations drop columns: rebuild the table */
	exec_ok(app, "BEGIN;"
	        "CREATE TABLE t_new (id INTEGER PRIMARY KEY, a TEXT);"
	        "INSERT INTO t_new SELECT id, a FROM t; DROP TABLE t;"
	        "ALTER TABLE t_new RENAME TO t; COMMIT");
	int64_t cookie = app_int(app, "PRAGMA schema_version");
	rc = ops->check(cap, &d, &err);
	is_int(rc, FERRY_EUNSUPPORTED, "check reports an error");
	tap_diag("%s", ferry_error_message(&err));
	ok(d.fatal && has_drift(&d, FERRY_DRIFT_COLUMN_DROPPED, "t", "c"),
	   "column c dropped");
	ok(has_drift(&d, FERRY_DRIFT_TRIGGER_DROPPED, "t", NULL),
	   "and the triggers went with the old table");
	ok(strstr(ferry_error_message(&err),
	          "column \"c\" was dropped from table \"t\"") != NULL,
	   "the message says what changed");
	is_int(app_int(app, "PRAGMA schema_version"), cookie,
	       "check changed nothing");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "and says so again on the next pass");
	ferry_capture_drift_free(&d);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

static void test_other_drift(void)
{
	sqlite3 *app = make_app("drift.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);"
	    "CREATE TABLE w (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE skip (id INTEGER PRIMARY KEY);", 0);
	ferry_capture *cap = open_cap("drift.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
	ferry_schema sch = FERRY_SCHEMA_INIT;
	ops->introspect(cap, &sch, &err);
	ferry_schema two = {sch.tables + 1, 2}; /* t, w: skip left out */
	ok(strcmp(sch.tables[0].name, "skip") == 0, "tables sorted by name");
	is_int(ops->install(cap, &two, "m", &err), 0, "install t and w");
	is_int(ops->check(cap, &d, &err), 0, "skip is not new");
	exec_ok(app, "ALTER TABLE t RENAME COLUMN x TO y");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "rename reported");
	ok(d.nitems == 1 &&
	   has_drift(&d, FERRY_DRIFT_COLUMN_RENAMED, "t", "x") &&
	   strcmp(d.items[0].new_name, "y") == 0, "column x renamed to y");
	tap_diag("%s", ferry_error_message(&err));
	exec_ok(app, "ALTER TABLE t RENAME COLUMN y TO x;"
	        "CREATE TABLE fresh (a)");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "new table reported");
	ok(d.nitems == 1 &&
	   has_drift(&d, FERRY_DRIFT_TABLE_ADDED, "fresh", NULL),
	   "table fresh created (and only that)");
	exec_ok(app, "DROP TABLE fresh; DROP TRIGGER _ferry_t_del");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "dropped trigger reported");
	ok(d.nitems == 1 &&
	   has_drift(&d, FERRY_DRIFT_TRIGGER_DROPPED, "t", NULL) &&
	   strcmp(d.items[0].new_name, "_ferry_t_del") == 0,
	   "trigger _ferry_t_del dropped");
	is_int(ops->install(cap, &two, "m", &err), 0,
	       "install again makes it again");
	exec_ok(app, "ALTER TABLE t ADD COLUMN g"
	        " GENERATED ALWAYS AS (x || '!')");
	is_int(ops->check(cap, &d, &err), 0, "a generated column is no drift");
	is_int(d.nitems, 0, "nothing reported: generated columns are not "
	       "copied, so not captured");
	exec_ok(app, "DROP TABLE w");
	is_int(ops->check(cap, &d, &err), FERRY_EUNSUPPORTED,
	       "dropped table reported");
	ok(d.nitems == 1 && has_drift(&d, FERRY_DRIFT_TABLE_DROPPED, "w", NULL),
	   "table w dropped or renamed");
	tap_diag("%s", ferry_error_message(&err));
	ferry_capture_drift_free(&d);
	ferry_schema_free(&sch);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- names ---- */

/* "Ünïcødé", split so no hex escape swallows the letter after it */
#define UNICODE_NAME "\xc3\x9c" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9"

static void test_names(void)
{
	sqlite3 *app = make_app("names.db",
	    "CREATE TABLE \"select\" (\"from\" INTEGER PRIMARY KEY,"
	    " \"order\" TEXT);"
	    "CREATE TABLE \"my \"\"odd\"\" table\" (\"a b\" TEXT, \"it's\" INT,"
	    " \"x\"\"y\" BLOB);"
	    "CREATE TABLE a (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE a_ins (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE \"" UNICODE_NAME "\" (\"\xc3\xa7" "ol\");"
	    "CREATE TABLE \"rowid\" (rowid TEXT, oid TEXT);", 0);
	ferry_capture *cap = open_cap("names.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	int rc = install(cap, "m'\"1", NULL, &err);
	is_int(rc, 0, "install with awkward names (and migration id)");
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	ok(has_object(app, "trigger", "_ferry_select_ins") &&
	   has_object(app, "trigger", "_ferry_my \"odd\" table_upd") &&
	   has_object(app, "trigger", "_ferry_a_ins") &&
	   has_object(app, "trigger", "_ferry_a_ins_ins") &&
	   has_object(app, "trigger", "_ferry_rowid_del"),
	   "trigger names derived from any table name");
	is_int(app_int(app, "SELECT count(*) FROM sqlite_master"
	               " WHERE type = 'trigger' AND name <> '_ferry_seq'"), 18,
	       "18 table triggers");
	exec_ok(app,
	    "INSERT INTO \"select\" VALUES (1, 'o');"
	    "UPDATE \"select\" SET \"from\" = 2;"
	    "INSERT INTO \"my \"\"odd\"\" table\" VALUES ('s p', 4, x'22');"
	    "DELETE FROM \"my \"\"odd\"\" table\";"
	    "INSERT INTO a_ins VALUES (8); INSERT INTO a VALUES (9);"
	    "INSERT INTO \"" UNICODE_NAME "\" VALUES ('\xc3\xa7');"
	    "INSERT INTO \"rowid\" VALUES ('r', 'o');");
	sink s = {0};
	uint64_t last = 0;
	is_int(read_into(cap, 0, &s, &last), 0, "read");
	is_int(s.n, 8, "eight changes");
	if (s.n == 8) {
		ok(strcmp(s.v[0].table, "select") == 0 &&
		   is_text(&s.v[0].after[1], "o", 1) &&
		   s.v[1].op == FERRY_OP_UPDATE &&
		   is_intv(&s.v[1].before[0], 1) &&
		   is_intv(&s.v[1].after[0], 2),
		   "reserved words");
		ok(strcmp(s.v[2].table, "my \"odd\" table") == 0 &&
		   is_text(&s.v[2].after[0], "s p", 3) &&
		   is_intv(&s.v[2].after[1], 4) &&
		   s.v[2].after[2].type == FERRY_BLOB &&
		   s.v[3].op == FERRY_OP_DELETE &&
		   is_text(&s.v[3].before[0], "s p", 3),
		   "spaces and quotes in table and column names");
		ok(strcmp(s.v[4].table, "a_ins") == 0 &&
		   strcmp(s.v[5].table, "a") == 0,
		   "a and a_ins kept apart");
		ok(strcmp(s.v[6].table, UNICODE_NAME) == 0 &&
		   is_text(&s.v[6].after[0], "\xc3\xa7", 2), "UTF-8 names");
		ok(strcmp(s.v[7].table, "rowid") == 0 && s.v[7].nafter == 2 &&
		   is_text(&s.v[7].after[0], "r", 1) &&
		   is_text(&s.v[7].after[1], "o", 1),
		   "columns named rowid and oid are the columns");
	}
	sink_free(&s);
	ferry_buf report = FERRY_BUF_INIT;
	is_int(ops->remove(cap, &report, &err), 0, "remove");
	is_int(ferry_objects(app), 0, "nothing left");
	ferry_buf_free(&report);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* The documented limits of trigger capture (docs/online-sqlite.md),
 * pinned so that a change of SQLite's behaviour is noticed: INSERT OR
 * REPLACE deletes the rows in its way without firing delete triggers
 * unless recursive_triggers is on, and incremental blob I/O fires no
 * trigger at all. */
static void test_limits(void)
{
	sqlite3 *app = make_app("replace.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE);"
	    "CREATE TABLE f (id INTEGER PRIMARY KEY, b BLOB);"
	    "INSERT INTO f VALUES (1, x'00');", 0);
	ferry_capture *cap = open_cap("replace.db", NULL);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(install(cap, "m", NULL, &err), 0, "install on limits");
	exec_ok(app, "INSERT INTO t VALUES (1, 'a'), (2, 'b');");
	uint64_t last = 0;
	sink s = {0};
	read_into(cap, 0, &s, &last);
	sink_free(&s);
	exec_ok(app, "INSERT OR REPLACE INTO t VALUES (3, 'a')");
	read_into(cap, last, &s, &last);
	ok(s.n == 1 && expect(&s.v[0], FERRY_OP_INSERT, 0, NULL, 3, "a"),
	   "REPLACE: the insert only; the replaced row's delete is not seen");
	sink_free(&s);
	exec_ok(app, "PRAGMA recursive_triggers = ON;"
	        "INSERT OR REPLACE INTO t VALUES (4, 'b')");
	read_into(cap, last, &s, &last);
	ok(s.n == 2 && expect(&s.v[0], FERRY_OP_DELETE, 2, "b", 0, NULL) &&
	   expect(&s.v[1], FERRY_OP_INSERT, 0, NULL, 4, "b"),
	   "with recursive_triggers on, the delete is captured first");
	sink_free(&s);
	sqlite3_blob *blob = NULL;
	int rc = sqlite3_blob_open(app, "main", "f", "b", 1, 1, &blob);
	if (rc == SQLITE_OK)
		rc = sqlite3_blob_write(blob, "B", 1, 0);
	sqlite3_blob_close(blob);
	is_str(app_text(app, "SELECT b FROM f WHERE id = 1"), "B",
	       "sqlite3_blob_write changed the row");
	read_into(cap, last, &s, &last);
	ok(rc == SQLITE_OK && s.n == 0, "but fired no trigger: not captured");
	sink_free(&s);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
}

/* ---- allocation failures ---- */

static void test_faults(void)
{
	sqlite3 *app = make_app("faults.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w BLOB)", 0);
	int bad = 0;
	long n;
	for (n = 1; n < 5000; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		sink s = {0};
		uint64_t last = 0;
		int installed = 0, rc;
		exec_ok(app, "DELETE FROM t");
		ferry_alloc_fail_at(n, 0);
		ferry_capture *cap = open_cap("faults.db", &rc);
		if (rc == 0)
			rc = install(cap, "m", NULL, &err);
		if (rc == 0) {
			installed = 1;
			exec_ok(app, "INSERT INTO t VALUES (1, 'a', x'00'),"
			        " (2, 'b', x'01'); UPDATE t SET v = 'c'");
			rc = ops->read(cap, 0, 0, collect, &s, &last, &err);
		}
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		int good = failures > 0 ? rc == FERRY_ENOMEM
		                        : rc == 0 && s.n == 4;
		if (!installed && ferry_objects(app) != 0)
			good = 0; /* a failed install left something */
		if (!good && bad++ < 5)
			tap_diag("fail at %ld: rc %d (%s), %zu changes", n, rc,
			         ferry_error_message(&err), s.n);
		ops->close(cap);
		sink_free(&s);
		ferry_error_clear(&err);
		ferry_capture *clean = open_cap("faults.db", NULL);
		ferry_buf report = FERRY_BUF_INIT;
		ops->remove(clean, &report, &err);
		ferry_buf_free(&report);
		ops->close(clean);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(bad == 0 && n > 20,
	   "open, install and read fail cleanly at each of %ld allocations",
	   n - 1);
	sqlite3_close(app);
}

/* check following an added column, then remove, failing each time at
 * the next allocation: a failure must change nothing */
static void test_faults_check(void)
{
	sqlite3 *app = make_app("faults2.db",
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w BLOB)", 0);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture *cap = open_cap("faults2.db", NULL);
	install(cap, "m", NULL, &err);
	exec_ok(app, "ALTER TABLE t ADD COLUMN z");
	int bad = 0;
	long n;
	for (n = 1; n < 5000; n++) {
		ferry_capture_drift d = FERRY_CAPTURE_DRIFT_INIT;
		ferry_alloc_fail_at(n, 0);
		int rc = ops->check(cap, &d, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		int good = failures > 0
		               ? rc == FERRY_ENOMEM &&
		                     app_int(app, "SELECT max(version) FROM"
		                             " _ferry_columns") == 1
		               : rc == 0 && d.nitems == 1;
		if (!good && bad++ < 5)
			tap_diag("check fail at %ld: rc %d (%s)", n, rc,
			         ferry_error_message(&err));
		ferry_capture_drift_free(&d);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(bad == 0 && n > 10,
	   "check fails cleanly, changing nothing, at each of %ld allocations",
	   n - 1);
	bad = 0;
	for (n = 1; n < 5000; n++) {
		ferry_buf report = FERRY_BUF_INIT;
		ferry_alloc_fail_at(n, 0);
		int rc = ops->remove(cap, &report, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		int good = failures > 0 ? rc == FERRY_ENOMEM : rc == 0;
		if (failures > 0 && rc == FERRY_ENOMEM && report.len == 0 &&
		    !report.failed && ferry_objects(app) == 0)
			good = 0; /* removed, yet the report was wiped */
		if (!good && bad++ < 5)
			tap_diag("remove fail at %ld: rc %d (%s)", n, rc,
			         ferry_error_message(&err));
		ferry_buf_free(&report);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(bad == 0 && n > 3, "remove fails cleanly at each of %ld allocations",
	   n - 1);
	is_int(ferry_objects(app), 0, "and finally removed everything");
	ops->close(cap);
	sqlite3_close(app);
}

/* ---- trigger cost ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Inserts rows into a 6-column table (or, with update, updates two
 * columns of each of them, inserted before capture is installed), batch
 * rows per transaction (1 = autocommit); returns rows per second. */
static double write_rate(int triggers, int rows, int batch, int update)
{
	sqlite3 *app = make_app("cost.db",
	    "PRAGMA synchronous = NORMAL;"
	    "CREATE TABLE t6 (id INTEGER PRIMARY KEY, a INTEGER, b TEXT,"
	    " c REAL, d BLOB, e TEXT)", 0);
	char sql[400];
	snprintf(sql, sizeof sql, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
	         " SELECT x + 1 FROM c WHERE x < %d) INSERT INTO t6 SELECT x,"
	         " x * 7919, 'some customer name', x * 0.25,"
	         " x'30313233343536373839616263646566',"
	         " '2024-05-01T12:00:00Z' FROM c", rows);
	if (update)
		exec_ok(app, sql);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture *cap = NULL;
	if (triggers) {
		cap = open_cap("cost.db", NULL);
		if (install(cap, "m", NULL, &err) != 0)
			tap_diag("install: %s", ferry_error_message(&err));
	}
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(app, update
	                   ? "UPDATE t6 SET a = ?2, b = ?3 WHERE id = ?1"
	                   : "INSERT INTO t6 VALUES (?, ?, ?, ?, ?, ?)", -1,
	                   &st, NULL);
	double t0 = now_s();
	for (int i = 1; i <= rows; i++) {
		if (batch > 1 && i % batch == 1)
			sqlite3_exec(app, "BEGIN", NULL, NULL, NULL);
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_int64(st, 2, (int64_t)i * 7919 + update);
		sqlite3_bind_text(st, 3, update ? "another customer name"
		                                : "some customer name", -1,
		                  SQLITE_STATIC);
		if (!update) {
			sqlite3_bind_double(st, 4, i * 0.25);
			sqlite3_bind_blob(st, 5, "0123456789abcdef", 16,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, 6, "2024-05-01T12:00:00Z", -1,
			                  SQLITE_STATIC);
		}
		sqlite3_step(st);
		if (batch > 1 && (i % batch == 0 || i == rows))
			sqlite3_exec(app, "COMMIT", NULL, NULL, NULL);
	}
	double secs = now_s() - t0;
	int64_t captured = triggers ? app_int(app, "SELECT count(*) FROM"
	                                      " _ferry_changes") : rows;
	if (captured != rows)
		tap_diag("captured %lld rows of %d", (long long)captured, rows);
	sqlite3_finalize(st);
	ops->close(cap);
	sqlite3_close(app);
	ferry_error_clear(&err);
	return rows / secs;
}

static void test_trigger_cost(void)
{
	const int rows = 100000;
	static const struct {
		int batch, update;
		const char *label;
	} modes[] = {{1000, 0, "inserts, transactions of 1000"},
	             {1, 0, "inserts, autocommit"},
	             {1000, 1, "updates, transactions of 1000"},
	             {1, 1, "updates, autocommit"}};
	for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
		double plain = write_rate(0, rows, modes[m].batch,
		                          modes[m].update);
		double captured = write_rate(1, rows, modes[m].batch,
		                             modes[m].update);
		tap_diag("trigger cost, %d rows of a 6-column table, %s "
		         "(WAL, synchronous=NORMAL): %.0f rows/s without "
		         "capture, %.0f with; %.2fx slower", rows,
		         modes[m].label, plain, captured, plain / captured);
	}
	ok(1, "trigger cost measured (not asserted)");
}

/* ---- main ---- */

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			unlink(db_path(e->d_name));
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	test_install();
	test_install_refusals();
	test_images();
	test_ops();
	test_rollback();
	test_order();
	test_uncommitted();
	test_release();
	test_seq_never_reused();
	test_rows_layout();
	test_format3();
	test_format2();
	test_format1();
	test_fence();
	test_snapshot();
	test_remove();
	test_added_column();
	test_dropped_column();
	test_other_drift();
	test_names();
	test_limits();
	test_faults();
	test_faults_check();
	if (!getenv("FERRY_SKIP_BENCH"))
		test_trigger_cost();
	remove_dir();
	return tap_done();
}
