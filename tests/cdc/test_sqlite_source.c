/*
 * tests/cdc/test_sqlite_source.c - unit tests for cdc/sqlite_source.c
 * against real SQLite files made in a temporary directory: introspection
 * of a rich schema and of every type-map rule, awkward identifiers, a
 * scan that must return every storage class exactly as stored, row
 * order, snapshot isolation from a concurrent writer, clean failures,
 * and clean failure at every allocation of introspect and scan.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cdc/sqlite_source.h"
#include "engine/alloc.h"
#include "tests/tap.h"

static const ferry_source_ops *ops = &ferry_sqlite_source_ops;
static char dir[] = "/tmp/ferry_sqlite_src_XXXXXX";

/* ---- helpers ---- */

/* path of a database file in the test directory (static buffer). */
static const char *db_path(const char *file)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return path;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		ok(0, "exec: %.60s", sql);
		tap_diag("sqlite: %s", msg ? msg : "?");
	}
	sqlite3_free(msg);
}

/* Creates file in the test directory holding sql; returns the open
 * handle when keep is set (the caller closes it), else NULL. */
static sqlite3 *make_db(const char *file, const char *sql, int keep)
{
	sqlite3 *db = NULL;
	unlink(db_path(file));
	if (sqlite3_open(db_path(file), &db) != SQLITE_OK) {
		ok(0, "create %s: %s", file, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	exec_ok(db, sql);
	if (keep)
		return db;
	sqlite3_close(db);
	return NULL;
}

/* Opens a source on file; NULL (after a failed check) if it cannot. */
static ferry_source *open_src(const char *file)
{
	char text[600];
	snprintf(text, sizeof text, "sqlite://%s", db_path(file));
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_source *src = NULL;
	int rc = ferry_uri_parse(&uri, text, &err);
	if (rc == 0) {
		rc = ops->open(&src, &uri, &err);
		ferry_uri_free(&uri);
	}
	if (rc != 0) {
		ok(0, "open %s", file);
		tap_diag("error: %s", ferry_error_message(&err));
	}
	ferry_error_clear(&err);
	return src;
}

static int introspect(ferry_source *src, ferry_schema *s)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ops->introspect(src, s, &err);
	if (!ok(rc == 0, "introspect"))
		tap_diag("error: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc;
}

static const ferry_column *column(const ferry_table *t, const char *name)
{
	int i = t ? ferry_table_column_index(t, name) : -1;
	return i < 0 ? NULL : &t->columns[i];
}

static const ferry_index *index_named(const ferry_table *t, const char *name)
{
	for (uint32_t i = 0; t && i < t->nindexes; i++)
		if (strcmp(t->indexes[i].name, name) == 0)
			return &t->indexes[i];
	return NULL;
}

/* The index columns joined with ",", for one-line comparisons. */
static const char *joined(char **names, uint32_t n)
{
	static char out[256];
	out[0] = '\0';
	for (uint32_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, names[i] ? names[i] : "(pk)");
	}
	return out;
}

/* Scans every row of table, calling check on each; returns the row count
 * or -1 on error. */
typedef void (*row_check)(int rowno, const ferry_row *row);

static int scan_all(ferry_source *src, const ferry_table *t, row_check check)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_scan *scan = NULL;
	ferry_row row = FERRY_ROW_INIT;
	int rc = ops->scan_open(src, t, &scan, &err), n = 0;
	while (rc == 0 && (rc = ops->scan_next(scan, &row, &err)) == 1) {
		rc = 0;
		if (check)
			check(n, &row);
		n++;
	}
	if (rc != 0)
		tap_diag("scan %s: %s", t->name, ferry_error_message(&err));
	ops->scan_close(scan);
	ferry_row_free(&row);
	ferry_error_clear(&err);
	return rc == 0 ? n : -1;
}

static void is_text(const ferry_value *v, const char *want, const char *what)
{
	size_t len = strlen(want);
	ok(v->type == FERRY_TEXT && v->u.s.len == len && v->u.s.ptr &&
	       memcmp(v->u.s.ptr, want, len) == 0,
	   "%s is text \"%.40s\"", what, want);
}

static int64_t count_of(const ferry_schema *s, const char *table)
{
	const ferry_table *t = ferry_schema_find(s, table);
	return t ? t->row_count : -1;
}

/* ---- introspection ---- */

static const char rich_sql[] =
    "CREATE TABLE \"order\" (\"select\" INTEGER NOT NULL,"
    " \"Line No\" INTEGER NOT NULL, qty NUMERIC DEFAULT 1,"
    " note TEXT DEFAULT 'n/a', PRIMARY KEY (\"select\", \"Line No\"));"
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;"
    "CREATE TABLE log (msg TEXT NOT NULL, at DATETIME);"
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(20) NOT NULL"
    " UNIQUE, name TEXT, age INT, active BOOLEAN DEFAULT 1,"
    " balance DECIMAL(12,2), score NUMERIC, seen DATETIME DEFAULT"
    " CURRENT_TIMESTAMP, misc);"
    "CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v);"
    "CREATE TABLE desckey (id INTEGER PRIMARY KEY DESC, v);"
    "CREATE TABLE intkey (id INT PRIMARY KEY, v);"
    "CREATE TABLE \"We\"\"ird Name\" (\"Mixed Case\" integer primary key,"
    " \"a \"\"q\"\" b\" text, \"x y\" INT,"
    " UNIQUE (\"a \"\"q\"\" b\", \"x y\"));"
    "CREATE TABLE gen (a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL,"
    " c INT AS (a + 1) STORED, d TEXT);"
    "CREATE INDEX gen_b ON gen(b);"
    "CREATE UNIQUE INDEX users_name_age ON users(name, age);"
    "CREATE INDEX log_at ON log(at);"
    "CREATE INDEX users_active ON users(email) WHERE active = 1 AND"
    " name <> 'where (x)';"
    "CREATE INDEX users_lower ON users(lower(name));"
    "CREATE INDEX users_mixed ON users(age, lower(name));"
    "CREATE TABLE child (id INTEGER PRIMARY KEY,"
    " user_id INTEGER REFERENCES USERS ON DELETE CASCADE,"
    " o_sel INT, o_line INT,"
    " FOREIGN KEY (o_sel, o_line) REFERENCES \"order\"(\"SELECT\", \"line no\")"
    " ON UPDATE SET NULL ON DELETE RESTRICT);"
    "CREATE TABLE _ferry_state (x);"
    "CREATE VIEW v_users AS SELECT * FROM users;"
    "INSERT INTO users (email, name, age) VALUES ('a@x', 'a', 1), ('b@x',"
    " 'b', 2), ('c@x', 'c', 3);"
    "INSERT INTO seq (v) VALUES (1), (2);"
    "INSERT INTO log (msg) VALUES ('m');"
    "ANALYZE;"; /* makes sqlite_stat1, which must not be listed */

static void test_tables(const ferry_schema *s)
{
	const char *want[] = {"We\"ird Name", "child", "desckey", "gen",
	                      "intkey", "kv", "log", "order", "seq", "users"};
	size_t n = sizeof want / sizeof *want;
	is_int(s->ntables, n, "user tables only (no sqlite_*, _ferry*, views)");
	for (size_t i = 0; i < n && i < s->ntables; i++)
		is_str(s->tables[i].name, want[i], "table %zu in name order",
		       i);
	ok(!ferry_schema_find(s, "sqlite_sequence") &&
	       !ferry_schema_find(s, "sqlite_stat1"),
	   "sqlite_* tables skipped");
	ok(!ferry_schema_find(s, "_ferry_state"), "_ferry tables skipped");
}

static void test_keys(const ferry_schema *s)
{
	const ferry_table *o = ferry_schema_find(s, "order");
	const ferry_column *c = column(o, "select");
	ok(c && c->pk_position == 1 && c->not_null && !c->autoincrement,
	   "\"order\".\"select\" is key column 1, not generated");
	c = column(o, "Line No");
	ok(c && c->pk_position == 2, "\"order\".\"Line No\" is key column 2");
	ok(o && !o->without_rowid && !o->rowid_key,
	   "\"order\" keyed rowid table");
	is_str(column(o, "qty") ? column(o, "qty")->default_sql : "?", "1",
	       "numeric default as source SQL");
	is_str(column(o, "note") ? column(o, "note")->default_sql : "?",
	       "'n/a'", "text default as source SQL");
	ok(column(o, "note") && !column(o, "note")->not_null, "note nullable");

	const ferry_table *kv = ferry_schema_find(s, "kv");
	ok(kv && kv->without_rowid && !kv->rowid_key, "kv is WITHOUT ROWID");
	ok(kv && kv->nindexes == 0, "WITHOUT ROWID key index not listed");
	c = column(kv, "k");
	ok(c && c->pk_position == 1 && !c->autoincrement,
	   "kv.k key, not rowid");

	const ferry_table *log = ferry_schema_find(s, "log");
	ok(log && log->rowid_key && !log->without_rowid, "log keyed by rowid");
	is_int(log ? (long)ferry_table_pk_count(log) : -1, 0,
	       "log has no key columns");
	ok(column(log, "msg") && column(log, "msg")->not_null,
	   "log.msg NOT NULL");
	ok(column(log, "at") && !column(log, "at")->default_sql, "no default");

	const ferry_table *u = ferry_schema_find(s, "users");
	c = column(u, "id");
	ok(c && c->pk_position == 1 && c->autoincrement,
	   "INTEGER PRIMARY KEY alias");
	ok(u && !u->rowid_key, "users keyed by its alias");
	is_str(column(u, "seen") ? column(u, "seen")->default_sql : "?",
	       "CURRENT_TIMESTAMP", "expression default");
	c = column(ferry_schema_find(s, "seq"), "id");
	ok(c && c->autoincrement, "AUTOINCREMENT column is generated");
	c = column(ferry_schema_find(s, "desckey"), "id");
	ok(c && c->pk_position == 1 && !c->autoincrement,
	   "INTEGER PRIMARY KEY DESC is no rowid alias");
	c = column(ferry_schema_find(s, "intkey"), "id");
	ok(c && c->pk_position == 1 && !c->autoincrement,
	   "INT key is no alias");
	const ferry_table *dk = ferry_schema_find(s, "desckey");
	is_int(dk ? (long)dk->nindexes : -1, 0,
	       "the key's own index not listed");
}

static void test_columns(const ferry_schema *s)
{
	const ferry_table *u = ferry_schema_find(s, "users");
	const char *names[] = {"id", "email", "name", "age", "active",
	                       "balance", "score", "seen", "misc"};
	is_int(u ? u->ncolumns : 0, 9, "users column count");
	for (uint32_t i = 0; u && i < 9 && i < u->ncolumns; i++)
		is_str(u->columns[i].name, names[i], "users column %u", i);
	is_str(column(u, "email") ? column(u, "email")->decl_type : "?",
	       "VARCHAR(20)", "decl_type as declared");
	is_str(column(u, "misc") ? column(u, "misc")->decl_type : "?", "",
	       "no declared type is \"\"");

	const ferry_table *g = ferry_schema_find(s, "gen");
	is_int(g ? g->ncolumns : 0, 2, "generated columns skipped");
	ok(column(g, "a") && column(g, "d") && !column(g, "b") &&
	       !column(g, "c"),
	   "gen keeps a and d");
	ok(g && g->nindexes == 0, "index on a generated column skipped");
	ok(g && g->rowid_key, "gen keyed by rowid");
}

static void test_indexes(const ferry_schema *s)
{
	const ferry_table *u = ferry_schema_find(s, "users");
	is_int(u ? u->nindexes : 0, 3,
	       "users: 3 indexes (expressions skipped)");
	const ferry_index *ix = index_named(u, "users_email_key");
	ok(ix && ix->unique && !ix->where_sql, "UNIQUE constraint renamed");
	is_str(ix ? joined(ix->columns, ix->ncolumns) : "?", "email",
	       "UNIQUE constraint columns");
	ix = index_named(u, "users_name_age");
	ok(ix && ix->unique && !ix->where_sql, "CREATE UNIQUE INDEX");
	is_str(ix ? joined(ix->columns, ix->ncolumns) : "?", "name,age",
	       "unique index columns in order");
	ix = index_named(u, "users_active");
	ok(ix && !ix->unique, "partial index");
	is_str(ix ? ix->where_sql : "?", "active = 1 AND name <> 'where (x)'",
	       "partial index predicate");
	ok(!index_named(u, "users_lower") && !index_named(u, "users_mixed"),
	   "expression indexes skipped");
	ok(u && u->nindexes == 3 &&
	       strcmp(u->indexes[0].name, "users_email_key") == 0,
	   "indexes in creation order");

	const ferry_table *log = ferry_schema_find(s, "log");
	ix = index_named(log, "log_at");
	ok(ix && !ix->unique && ix->ncolumns == 1, "secondary index");

	const ferry_table *w = ferry_schema_find(s, "We\"ird Name");
	ix = w && w->nindexes == 1 ? &w->indexes[0] : NULL;
	is_str(ix ? ix->name : "?", "We\"ird Name_a \"q\" b_x y_key",
	       "constraint name from odd identifiers");
	is_str(ix ? joined(ix->columns, ix->ncolumns) : "?", "a \"q\" b,x y",
	       "constraint on odd identifiers");
}

static void test_fkeys(const ferry_schema *s)
{
	const ferry_table *c = ferry_schema_find(s, "child");
	is_int(c ? c->nfkeys : 0, 2, "child has 2 foreign keys");
	if (!c || c->nfkeys != 2)
		return;
	const ferry_fkey *fk = &c->fkeys[0];
	ok(!fk->name, "SQLite foreign keys are unnamed");
	is_str(fk->ref_table, "users", "fk 1 to users, as created");
	is_str(joined(fk->columns, fk->ncolumns), "user_id", "fk 1 column");
	ok(fk->ncolumns == 1 && fk->ref_columns && !fk->ref_columns[0],
	   "fk 1 references the implicit key");
	is_str(fk->on_delete, "CASCADE", "fk 1 on delete");
	ok(!fk->on_update, "fk 1 NO ACTION is NULL");
	fk = &c->fkeys[1];
	is_str(fk->ref_table, "order", "fk 2 to \"order\"");
	is_str(joined(fk->columns, fk->ncolumns), "o_sel,o_line",
	       "fk 2 columns in order");
	is_str(joined(fk->ref_columns, fk->ncolumns), "select,Line No",
	       "fk 2 referenced columns, as created");
	is_str(fk->on_update, "SET NULL", "fk 2 on update");
	is_str(fk->on_delete, "RESTRICT", "fk 2 on delete");
}

static void test_rich(void)
{
	make_db("rich.db", rich_sql, 0);
	ferry_source *src = open_src("rich.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (!src || introspect(src, &s) != 0) {
		ops->close(src);
		return;
	}
	test_tables(&s);
	test_keys(&s);
	test_columns(&s);
	test_indexes(&s);
	test_fkeys(&s);
	ferry_table *u = ferry_schema_find(&s, "users");
	is_int(u ? u->row_count : -1, 3, "users row count");
	is_int(count_of(&s, "seq"), 2, "seq row count");
	is_int(count_of(&s, "kv"), 0, "empty table count");

	/* a second introspect replaces the first */
	ok(introspect(src, &s) == 0 && s.ntables == 10, "introspect again");
	ferry_schema_free(&s);
	ops->close(src);
}

/* Every type map rule (docs/type-map.md). */
static const struct {
	const char *decl;
	ferry_sqltype_kind kind;
	int precision, scale, length;
} type_cases[] = {
	{"", FERRY_SQL_TEXT, -1, -1, -1},
	{"INTEGER", FERRY_SQL_BIGINT, -1, -1, -1},
	{"int", FERRY_SQL_BIGINT, -1, -1, -1},
	{"TINYINT(1)", FERRY_SQL_BIGINT, -1, -1, -1},
	{"UNSIGNED BIG INT", FERRY_SQL_BIGINT, -1, -1, -1},
	{"POINT", FERRY_SQL_BIGINT, -1, -1, -1},
	{"FLOATING POINT", FERRY_SQL_BIGINT, -1, -1, -1},
	{"BOOLEAN", FERRY_SQL_BOOLEAN, -1, -1, -1},
	{"bool", FERRY_SQL_BOOLEAN, -1, -1, -1},
	{"DATE", FERRY_SQL_DATE, -1, -1, -1},
	{"UPDATE_DATE", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"DATETIME", FERRY_SQL_TIMESTAMP, -1, -1, -1},
	{"timestamp", FERRY_SQL_TIMESTAMP, -1, -1, -1},
	{"TIMESTAMP WITHOUT TIME ZONE", FERRY_SQL_TIMESTAMP, -1, -1, -1},
	{"TIMESTAMPTZ", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"TIMESTAMP WITH TIME ZONE", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"UUID", FERRY_SQL_UUID, -1, -1, -1},
	{"JSON", FERRY_SQL_JSONB, -1, -1, -1},
	{"jsonb", FERRY_SQL_JSONB, -1, -1, -1},
	{"VARCHAR(20)", FERRY_SQL_VARCHAR, -1, -1, 20},
	{"varchar ( 7 )", FERRY_SQL_VARCHAR, -1, -1, 7},
	{"CHARACTER VARYING(255)", FERRY_SQL_VARCHAR, -1, -1, 255},
	{"NVARCHAR(8)", FERRY_SQL_VARCHAR, -1, -1, 8},
	{"CHAR(3)", FERRY_SQL_VARCHAR, -1, -1, 3},
	{"CHARACTER(10)", FERRY_SQL_VARCHAR, -1, -1, 10},
	{"NCHAR(5)", FERRY_SQL_VARCHAR, -1, -1, 5},
	{"VARCHAR", FERRY_SQL_TEXT, -1, -1, -1},
	{"VARCHAR(0)", FERRY_SQL_TEXT, -1, -1, -1},
	{"VARCHAR(-1)", FERRY_SQL_TEXT, -1, -1, -1},
	{"CHAR", FERRY_SQL_TEXT, -1, -1, -1},
	{"TEXT", FERRY_SQL_TEXT, -1, -1, -1},
	{"CLOB", FERRY_SQL_TEXT, -1, -1, -1},
	{"BLOB", FERRY_SQL_BYTEA, -1, -1, -1},
	{"REAL", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"FLOAT", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"DOUBLE", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"DOUBLE PRECISION", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"DECIMAL(12,2)", FERRY_SQL_NUMERIC, 12, 2, -1},
	{"numeric(5, 3)", FERRY_SQL_NUMERIC, 5, 3, -1},
	{"NUMERIC(10)", FERRY_SQL_NUMERIC, 10, 0, -1},
	{"NUMERIC(3,5)", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"NUMERIC(2000)", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"NUMERIC", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"DECIMAL", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"MONEY", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"STRING", FERRY_SQL_NUMERIC, -1, -1, -1},
};

static void test_type_map(void)
{
	size_t n = sizeof type_cases / sizeof *type_cases;
	char sql[4096] = "CREATE TABLE types (";
	for (size_t i = 0; i < n; i++) {
		char col[128];
		snprintf(col, sizeof col, "%sc%zu %s", i ? ", " : "", i,
		         type_cases[i].decl);
		strcat(sql, col);
	}
	strcat(sql, ");");
	make_db("types.db", sql, 0);
	ferry_source *src = open_src("types.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		const ferry_table *t = ferry_schema_find(&s, "types");
		is_int(t ? t->ncolumns : 0, n, "one column per declared type");
		for (size_t i = 0; t && i < n && i < t->ncolumns; i++) {
			const ferry_sqltype *ty = &t->columns[i].type;
			ok(ty->kind == type_cases[i].kind &&
			       ty->precision == type_cases[i].precision &&
			       ty->scale == type_cases[i].scale &&
			       ty->length == type_cases[i].length,
			   "type \"%s\"", type_cases[i].decl);
			if (ty->kind != type_cases[i].kind)
				tap_diag("kind %d, want %d", ty->kind,
				         type_cases[i].kind);
			/* SQLite upper-cases INT, INTEGER, REAL, TEXT, BLOB */
			ok(strcasecmp(t->columns[i].decl_type,
			              type_cases[i].decl) == 0,
			   "decl_type \"%s\" kept", type_cases[i].decl);
		}
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* Virtual tables and their shadow tables are skipped. */
static void test_virtual(void)
{
	sqlite3 *db = make_db("virt.db", "CREATE TABLE plain (x);", 1);
	char *msg = NULL;
	int rc = sqlite3_exec(db,
	                      "CREATE VIRTUAL TABLE docs USING fts5(body);"
	                      "INSERT INTO docs VALUES ('hello');",
	                      NULL, NULL, &msg);
	sqlite3_free(msg);
	sqlite3_close(db);
	if (rc != SQLITE_OK) {
		ok(1, "# SKIP no fts5 in this SQLite");
		return;
	}
	ferry_source *src = open_src("virt.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		is_int(s.ntables, 1, "virtual and shadow tables skipped");
		is_str(s.ntables ? s.tables[0].name : "?", "plain",
		       "plain table");
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* Generated constraint names that would collide are numbered, and long
 * ones are clipped to PostgreSQL's 63 bytes on a character boundary.
 * A foreign key on a generated column cannot be carried. */
static void test_constraint_names(void)
{
	make_db(
	    "names.db",
	    "CREATE TABLE t (a, b, c AS (a) REFERENCES t(a),"
	    " d REFERENCES t(a), UNIQUE (a));"
	    "CREATE INDEX t_a_key ON t(b);"
	    "CREATE TABLE \"éééééééééééééééééééééééééééééééééé\" (x UNIQUE);",
	    0);
	ferry_source *src = open_src("names.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		const ferry_table *t = ferry_schema_find(&s, "t");
		ok(index_named(t, "t_a_key") && index_named(t, "t_a_key1"),
		   "taken constraint name numbered");
		ok(t && t->nfkeys == 1 &&
		       strcmp(t->fkeys[0].columns[0], "d") == 0,
		   "foreign key on a generated column skipped");
		const ferry_table *e = s.ntables == 2 ? &s.tables[1] : NULL;
		const char *name = e && e->nindexes ? e->indexes[0].name : "";
		ok(strlen(name) <= 63 && strlen(name) == 62 &&
		       strcmp(name + strlen(name) - 4, "_key") == 0,
		   "long constraint name clipped: %s", name);
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* ---- scans ---- */

#define BIG_TEXT (100 * 1024)
static char big_text[BIG_TEXT + 1];

static void check_values(int rowno, const ferry_row *row)
{
	const ferry_value *v = row->values;
	if (!ok(row->ncols == 5, "row %d has 5 values", rowno))
		return;
	switch (rowno) {
	case 0: /* id 1: the ordinary classes */
		ok(v[0].type == FERRY_INT && v[0].u.i == 1, "id 1");
		ok(v[1].type == FERRY_INT && v[1].u.i == 42, "integer 42");
		is_text(&v[2], "hello", "text");
		ok(v[3].type == FERRY_FLOAT && v[3].u.f == 1.5, "real 1.5");
		ok(v[4].type == FERRY_BLOB && v[4].u.s.len == 3 &&
		       memcmp(v[4].u.s.ptr, "a\0b", 3) == 0,
		   "blob with NUL byte");
		break;
	case 1: /* id 2: values the declared type does not describe */
		is_text(&v[1], "abc", "INTEGER column holding text");
		ok(v[2].type == FERRY_INT && v[2].u.i == 7,
		   "TEXT column holding 7");
		ok(v[3].type == FERRY_FLOAT && v[3].u.f == 3.0,
		   "REAL column: integer 3 reads back as float 3.0");
		ok(v[4].type == FERRY_FLOAT && v[4].u.f == 2.5,
		   "BLOB column float");
		break;
	case 2: /* id 3: empties and NULLs */
		ok(v[1].type == FERRY_NULL, "NULL");
		ok(v[2].type == FERRY_TEXT && v[2].u.s.len == 0 && v[2].u.s.ptr,
		   "empty text stays text");
		ok(v[3].type == FERRY_NULL, "NULL real");
		ok(v[4].type == FERRY_BLOB && v[4].u.s.len == 0 && v[4].u.s.ptr,
		   "empty blob stays blob");
		break;
	case 3: /* id 4: extremes */
		ok(v[1].type == FERRY_INT && v[1].u.i == INT64_MIN,
		   "int64 min");
		ok(v[3].type == FERRY_FLOAT && v[3].u.f == 1e300, "1e300");
		ok(v[4].type == FERRY_INT && v[4].u.i == INT64_MAX,
		   "int64 max");
		break;
	case 4: /* id 5: -0.0 as SQLite keeps it */
		ok(v[1].type == FERRY_INT && v[1].u.i == 0,
		   "-0.0 in an INTEGER column is stored as integer 0");
		is_text(&v[2], "0.0",
		        "-0.0 in a TEXT column is stored as \"0.0\"");
		ok(v[3].type == FERRY_FLOAT && v[3].u.f == 0.0 &&
		       !signbit(v[3].u.f),
		   "-0.0 in a REAL column reads back as +0.0 (stored as 0)");
		ok(v[4].type == FERRY_FLOAT && v[4].u.f == 0.0 &&
		       signbit(v[4].u.f),
		   "-0.0 in a BLOB column keeps its sign");
		break;
	case 5: /* id 6: unicode and a long text */
		is_text(&v[1],
		        "h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac "
		        "\xf0\x9f\x8e\x89",
		        "unicode text");
		ok(v[2].type == FERRY_TEXT && v[2].u.s.len == BIG_TEXT &&
		       memcmp(v[2].u.s.ptr, big_text, BIG_TEXT) == 0,
		   "100 KB text");
		ok(v[3].type == FERRY_TEXT && v[3].u.s.len == 3 &&
		       memcmp(v[3].u.s.ptr, "x\0y", 3) == 0,
		   "text with a NUL byte");
		ok(v[4].type == FERRY_INT && v[4].u.i == -5,
		   "BLOB column integer");
		break;
	case 6: /* id 7 */
		ok(v[1].type == FERRY_INT && v[1].u.i == INT64_MAX,
		   "int64 max");
		ok(v[3].type == FERRY_FLOAT && v[3].u.f == 1e-300, "1e-300");
		break;
	}
}

/* Inserts (id, i, t, r, b) rows with exact bindings. */
static void insert_values(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db, "INSERT INTO vals VALUES (?1, ?2, ?3, ?4, ?5)",
	                   -1, &st, NULL);
	for (int row = 1; row <= 7; row++) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int(st, 1, row);
		if (row == 1) {
			sqlite3_bind_int(st, 2, 42);
			sqlite3_bind_text(st, 3, "hello", -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 4, 1.5);
			sqlite3_bind_blob(st, 5, "a\0b", 3, SQLITE_STATIC);
		} else if (row == 2) {
			sqlite3_bind_text(st, 2, "abc", -1, SQLITE_STATIC);
			/* made TEXT by affinity ... */
			sqlite3_bind_int(st, 3, 7);
			sqlite3_bind_int(st, 4, 3);
			sqlite3_bind_double(st, 5, 2.5);
		} else if (row == 3) {
			sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC);
			sqlite3_bind_zeroblob(st, 5, 0);
		} else if (row == 4) {
			sqlite3_bind_int64(st, 2, INT64_MIN);
			sqlite3_bind_double(st, 4, 1e300);
			sqlite3_bind_int64(st, 5, INT64_MAX);
		} else if (row == 5) {
			for (int c = 2; c <= 5; c++)
				sqlite3_bind_double(st, c, -0.0);
		} else if (row == 6) {
			sqlite3_bind_text(
			    st, 2,
			    "h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5"
			    "\xe6\x9c\xac \xf0\x9f\x8e\x89",
			    -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, big_text, BIG_TEXT,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, 4, "x\0y", 3, SQLITE_STATIC);
			sqlite3_bind_int(st, 5, -5);
		} else {
			sqlite3_bind_int64(st, 2, INT64_MAX);
			sqlite3_bind_double(st, 4, 1e-300);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			ok(0, "insert row %d: %s", row, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
}

static void test_scan_values(void)
{
	for (int i = 0; i < BIG_TEXT; i++)
		big_text[i] = (char)('a' + i % 26);
	sqlite3 *db = make_db("vals.db",
	                      "CREATE TABLE vals (id INTEGER PRIMARY KEY,"
	                      " i INTEGER, t TEXT, r REAL, b BLOB);",
	                      1);
	if (!db)
		return;
	insert_values(db);
	/* ... so store the integer while t is declared INT, then declare it
	 * TEXT again: a file whose declared types do not describe its values
	 * (the schema edit takes effect on the next connection) */
	exec_ok(db, "PRAGMA writable_schema = ON;"
	            "UPDATE sqlite_master SET sql = replace(sql, ' t TEXT',"
	            " ' t INT') WHERE name = 'vals';");
	sqlite3_close(db);
	db = NULL;
	sqlite3_open(db_path("vals.db"), &db);
	exec_ok(db, "UPDATE vals SET t = 7 WHERE id = 2;"
	            "PRAGMA writable_schema = ON;"
	            "UPDATE sqlite_master SET sql = replace(sql, ' t INT',"
	            " ' t TEXT') WHERE name = 'vals';");
	sqlite3_close(db);

	ferry_source *src = open_src("vals.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		const ferry_table *t = ferry_schema_find(&s, "vals");
		is_str(t ? column(t, "t")->decl_type : "?", "TEXT",
		       "t declared TEXT again");
		if (t)
			is_int(scan_all(src, t, check_values), 7,
			       "scan returns 7 rows");
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* ---- order ---- */

static char order_seen[64];

static void note_first(int rowno, const ferry_row *row)
{
	const ferry_value *v = &row->values[0];
	char one[24];
	if (v->type == FERRY_INT)
		snprintf(one, sizeof one, "%s%lld", rowno ? "," : "",
		         (long long)v->u.i);
	else if (v->type == FERRY_TEXT)
		snprintf(one, sizeof one, "%s%.*s", rowno ? "," : "",
		         (int)v->u.s.len, v->u.s.ptr);
	else
		snprintf(one, sizeof one, "%s?", rowno ? "," : "");
	if (strlen(order_seen) + strlen(one) < sizeof order_seen)
		strcat(order_seen, one);
}

/* Scans table and returns the first column of each row, joined. */
static const char *scan_order(ferry_source *src, const ferry_schema *s,
                              const char *table)
{
	order_seen[0] = '\0';
	const ferry_table *t = ferry_schema_find(s, table);
	if (!t || scan_all(src, t, note_first) < 0)
		return "(error)";
	return order_seen;
}

static void test_order(void)
{
	make_db(
	    "order.db",
	    "CREATE TABLE \"select\" (\"Line No\" INT, \"the \"\"key\"\"\" INT,"
	    " v, PRIMARY KEY (\"the \"\"key\"\"\", \"Line No\"));"
	    "INSERT INTO \"select\" VALUES (2, 2, 'a'), (1, 1, 'b'),"
	    " (2, 1, 'c'), (1, 2, 'd');"
	    "CREATE TABLE keyless (v TEXT);"
	    "INSERT INTO keyless (rowid, v) VALUES (5, 'e'), (2, 'b'),"
	    " (9, 'i');"
	    "CREATE TABLE shadow (rowid TEXT, v);"
	    "INSERT INTO shadow (_rowid_, rowid) VALUES (3, 'x1'), (1, 'x3'),"
	    " (2, 'x2');"
	    "CREATE TABLE wr (k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
	    "INSERT INTO wr VALUES ('c', 1), ('a', 2), ('b', 3);"
	    "CREATE TABLE tk (k TEXT PRIMARY KEY, v);"
	    "INSERT INTO tk VALUES ('b', 1), ('a', 2), ('c', 3);",
	    0);
	ferry_source *src = open_src("order.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		is_str(
		    scan_order(src, &s, "select"), "1,2,1,2",
		    "composite key order (key's first column is the second)");
		is_str(scan_order(src, &s, "keyless"), "b,e,i", "rowid order");
		is_str(scan_order(src, &s, "shadow"), "x3,x2,x1",
		       "rowid order when a column is named rowid");
		is_str(scan_order(src, &s, "wr"), "a,b,c",
		       "WITHOUT ROWID key order");
		is_str(scan_order(src, &s, "tk"), "a,b,c", "text key order");
		/* the composite key's second value, to see the full order */
		const ferry_table *t = ferry_schema_find(&s, "select");
		ok(t && column(t, "the \"key\"")->pk_position == 1 &&
		       column(t, "Line No")->pk_position == 2,
		   "key positions follow the PRIMARY KEY clause");
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* ---- snapshot, concurrency, failures ---- */

static void test_snapshot(void)
{
	sqlite3 *w =
	    make_db("snap.db",
	            "PRAGMA journal_mode = WAL;"
	            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);"
	            "CREATE TABLE gone (x);"
	            "INSERT INTO a (v) VALUES ('one'), ('two'), ('three');"
	            "INSERT INTO gone VALUES (1);",
	            1);
	if (!w)
		return;
	ferry_source *src = open_src("snap.db");
	ferry_source *other = open_src("snap.db"); /* a second load job */
	exec_ok(w, "INSERT INTO a (v) VALUES ('four');"
	           "UPDATE a SET v = 'ONE' WHERE id = 1;"
	           "DELETE FROM a WHERE id = 2;"
	           "DROP TABLE gone;"
	           "CREATE TABLE late (x);");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		is_int(s.ntables, 2, "snapshot: old tables");
		is_int(count_of(&s, "a"), 3, "snapshot: old row count");
		is_str(scan_order(src, &s, "a"), "1,2,3", "snapshot: old rows");
		ferry_table *a = ferry_schema_find(&s, "a");
		ok(a && a->ncolumns == 2, "a has 2 columns");
		is_str(scan_order(src, &s, "gone"), "1",
		       "snapshot: dropped table still readable");
	}
	ferry_schema other_s = FERRY_SCHEMA_INIT;
	if (other && introspect(other, &other_s) == 0)
		is_int(count_of(&other_s, "a"), 3,
		       "second connection: snapshot");
	ferry_schema_free(&other_s);
	ops->close(other);

	/* a new connection sees the new state; the old table is gone */
	ferry_source *now = open_src("snap.db");
	ferry_schema s2 = FERRY_SCHEMA_INIT;
	if (now && introspect(now, &s2) == 0) {
		is_int(count_of(&s2, "a"), 3, "new snapshot: 3 rows again");
		is_str(scan_order(now, &s2, "a"), "1,3,4", "new snapshot rows");
		ok(ferry_schema_find(&s2, "late") &&
		       !ferry_schema_find(&s2, "gone"),
		   "new snapshot: new tables");
		const ferry_table *gone = ferry_schema_find(&s, "gone");
		ferry_error err = FERRY_ERROR_INIT;
		ferry_scan *scan = (ferry_scan *)&err;
		int rc = gone ? ops->scan_open(now, gone, &scan, &err) : 0;
		ok(rc < 0 && !scan, "scan of a vanished table fails");
		is_str(ferry_error_message(&err),
		       "could not scan table \"gone\": no such table: gone",
		       "vanished table message");
		ferry_error_clear(&err);
	}
	ferry_schema_free(&s2);
	ops->close(now);
	ferry_schema_free(&s);
	ops->close(src);
	sqlite3_close(w);
}

static void test_open_failures(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_source *src = (ferry_source *)&err;
	ferry_uri uri;
	char text[600];
	snprintf(text, sizeof text, "sqlite://%s", db_path("missing.db"));
	if (ferry_uri_parse(&uri, text, &err) == 0) {
		int rc = ops->open(&src, &uri, &err);
		is_int(rc, FERRY_ENOTFOUND, "missing file: FERRY_ENOTFOUND");
		ok(!src, "missing file: no source");
		char want[700];
		snprintf(want, sizeof want,
		         "could not open SQLite database \"%s\": "
		         "No such file or directory",
		         text);
		is_str(ferry_error_message(&err), want, "missing file message");
		ok(access(db_path("missing.db"), F_OK) != 0, "no file created");
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);

	FILE *f = fopen(db_path("junk.db"), "w");
	if (f) {
		for (int i = 0; i < 200; i++)
			fputs("this is not a database\n", f);
		fclose(f);
	}
	snprintf(text, sizeof text, "sqlite://%s", db_path("junk.db"));
	if (ferry_uri_parse(&uri, text, &err) == 0) {
		int rc = ops->open(&src, &uri, &err);
		ok(rc < 0 && !src, "not a database: open fails");
		ok(strstr(ferry_error_message(&err),
		          "file is not a database") &&
		       strncmp(ferry_error_message(&err),
		               "could not read SQLite database \"", 32) == 0,
		   "not a database: message");
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);

	if (ferry_uri_parse(&uri, "postgresql://u:secret@h/db", &err) == 0) {
		int rc = ops->open(&src, &uri, &err);
		is_int(rc, FERRY_EINVAL, "wrong URI kind refused");
		ok(!strstr(ferry_error_message(&err), "secret"),
		   "password hidden");
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);
	is_str(ops->name, "sqlite", "ops name");
	ops->close(NULL);
	ops->scan_close(NULL);
	ok(1, "close and scan_close accept NULL");
}

/* A scan that reached its end stays at the end. */
static void test_scan_end(void)
{
	make_db("end.db", "CREATE TABLE t (x); INSERT INTO t VALUES (1);", 0);
	ferry_source *src = open_src("end.db");
	ferry_schema s = FERRY_SCHEMA_INIT;
	if (src && introspect(src, &s) == 0) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_scan *scan = NULL;
		ferry_row row = FERRY_ROW_INIT;
		int rc = ops->scan_open(src, &s.tables[0], &scan, &err);
		int a = rc ? rc : ops->scan_next(scan, &row, &err);
		int b = rc ? rc : ops->scan_next(scan, &row, &err);
		int c = rc ? rc : ops->scan_next(scan, &row, &err);
		ok(a == 1 && b == 0 && c == 0, "1 row, then 0, and 0 again");
		ops->scan_close(scan);
		ferry_row_free(&row);
		ferry_error_clear(&err);
	}
	ferry_schema_free(&s);
	ops->close(src);
}

/* ---- fault injection ---- */

static void test_introspect_faults(void)
{
	ferry_source *src = open_src("rich.db");
	if (!src)
		return;
	int bad = 0;
	long n;
	for (n = 1; n < 100000; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_schema s = FERRY_SCHEMA_INIT;
		ferry_alloc_fail_at(n, 0);
		int rc = ops->introspect(src, &s, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (failures > 0 ? rc != FERRY_ENOMEM || s.ntables != 0
		                 : rc != 0 || s.ntables != 10) {
			if (bad++ < 5)
				tap_diag("fail at %ld: rc %d (%s)", n, rc,
				         ferry_error_message(&err));
		}
		ferry_schema_free(&s);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(bad == 0 && n > 50,
	   "introspect fails cleanly at each of %ld allocations", n - 1);
	ops->close(src);
}

static void test_scan_faults(void)
{
	int bad = 0;
	long n;
	for (n = 1; n < 1000; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_source *src = NULL;
		ferry_scan *scan = NULL;
		ferry_row row = FERRY_ROW_INIT;
		ferry_uri uri;
		char text[600];
		snprintf(text, sizeof text, "sqlite://%s", db_path("order.db"));
		ferry_table t = {0};
		ferry_column cols[2] = {{0}};
		cols[0].name = "the \"key\"";
		cols[0].pk_position = 1;
		cols[1].name = "v";
		t.name = "select";
		t.columns = cols;
		t.ncolumns = 2;
		ferry_alloc_fail_at(n, 0);
		int rc = ferry_uri_parse(&uri, text, &err), rows = 0;
		if (rc == 0) {
			rc = ops->open(&src, &uri, &err);
			ferry_uri_free(&uri);
		}
		if (rc == 0)
			rc = ops->scan_open(src, &t, &scan, &err);
		while (rc == 0 &&
		       (rc = ops->scan_next(scan, &row, &err)) == 1) {
			rc = 0;
			rows++;
		}
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (failures > 0 ? rc != FERRY_ENOMEM : rc != 0 || rows != 4)
			bad++;
		ops->scan_close(scan);
		ops->close(src);
		ferry_row_free(&row);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(bad == 0 && n > 3,
	   "open and scan fail cleanly at each of %ld allocations", n - 1);
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
		ok(0, "mkdtemp");
		return tap_done();
	}
	test_rich();
	test_type_map();
	test_virtual();
	test_constraint_names();
	test_scan_values();
	test_order();
	test_snapshot();
	test_open_failures();
	test_scan_end();
	test_introspect_faults();
	test_scan_faults();
	remove_dir();
	return tap_done();
}
