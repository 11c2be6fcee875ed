/*
 * tests/engine/test_sqlite_target.c - unit tests for engine/sqlite_target.c:
 * tables created through the ops in a scratch directory and read back
 * with the plain sqlite3 API, checking the storage class and the exact
 * bytes of every value type (docs/sqlite-target.md), quoting of awkward
 * names, keys, indexes, foreign keys, what happens to an existing table,
 * aborts, wrong values, and clean failure at every allocation.
 *
 * FERRY_BENCH_ROWS=N also times a load of N rows and reports rows/s
 * (in $TMPDIR, or /tmp).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/sqlite_target.h"
#include "tests/tap.h"

static const ferry_target_ops *ops = &ferry_sqlite_target_ops;
static char dir[200];

/* ---- helpers ---- */

/* The path of file in the scratch directory (a static buffer). */
static const char *path_of(const char *file)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return path;
}

static ferry_target *open_target(const char *file)
{
	char text[300];
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *tgt = NULL;
	snprintf(text, sizeof text, "sqlite://%s", path_of(file));
	if (ferry_uri_parse(&uri, text, &err) == 0) {
		if (ops->open(&tgt, &uri, &err) < 0)
			tap_diag("open %s: %s", text, ferry_error_message(&err));
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);
	return tgt;
}

static sqlite3 *open_raw(const char *file)
{
	sqlite3 *db = NULL;
	if (sqlite3_open(path_of(file), &db) != SQLITE_OK)
		tap_diag("open raw %s: %s", file, sqlite3_errmsg(db));
	return db;
}

static ferry_column *add_col(ferry_table *t, const char *name,
                             const char *type)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(type);
	if (ferry_sqltype_parse(&c->type, type, NULL) < 0)
		tap_diag("bad type %s", type);
	return c;
}

static ferry_table *add_table(ferry_schema *s, const char *name)
{
	ferry_table *t = ferry_schema_add_table(s);
	t->name = ferry_strdup(name);
	return t;
}

static char **names(int n, const char *const *list)
{
	char **out = ferry_calloc((size_t)n, sizeof *out);
	for (int i = 0; i < n; i++)
		out[i] = list[i] ? ferry_strdup(list[i]) : NULL;
	return out;
}

static void add_index(ferry_table *t, const char *name, bool unique,
                      const char *where, int n, const char *const *cols)
{
	ferry_index *ix = ferry_table_add_index(t);
	ix->name = name ? ferry_strdup(name) : NULL;
	ix->unique = unique;
	ix->columns = names(n, cols);
	ix->ncolumns = (uint32_t)n;
	ix->where_sql = where ? ferry_strdup(where) : NULL;
}

static ferry_value text_value(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

/*
 * prepare_table (existing), then copies nrows rows of values (row-major)
 * and ends the copy; the rows written go to *written when it is given.
 * Returns the first error, after copy_abort when the copy failed.
 */
static int load_rows(ferry_target *tgt, const ferry_table *t,
                     ferry_existing existing, ferry_value *values,
                     uint32_t nrows, int64_t *written, ferry_error *err)
{
	int rc = ops->prepare_table(tgt, t, existing, err);
	if (rc < 0)
		return rc;
	rc = ops->copy_begin(tgt, t, err);
	if (rc < 0)
		return rc;
	for (uint32_t r = 0; r < nrows; r++) {
		ferry_row row = {values + (size_t)r * t->ncolumns, t->ncolumns,
		                 t->ncolumns};
		rc = ops->copy_row(tgt, &row, err);
		if (rc < 0) {
			ops->copy_abort(tgt);
			return rc;
		}
	}
	int64_t rows = -1;
	rc = ops->copy_end(tgt, &rows, err);
	if (written)
		*written = rows;
	return rc;
}

/* load_rows + finish_table; reports a failure. */
static int load(ferry_target *tgt, const ferry_table *t, ferry_value *values,
                uint32_t nrows)
{
	ferry_error err = FERRY_ERROR_INIT;
	int64_t rows = -1;
	int rc = load_rows(tgt, t, FERRY_EXISTING_DROP, values, nrows, &rows,
	                   &err);
	if (rc == 0)
		rc = ops->finish_table(tgt, t, &err);
	if (!ok(rc == 0 && rows == nrows, "load %u rows into %s", nrows, t->name))
		tap_diag("rc %d, rows %lld: %s", rc, (long long)rows,
		         ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc;
}

/* The first column of the first row of sql's result, as a fresh string
 * ("(none)" when there is no row, "(null)" for NULL). */
static char *query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *out;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		out = ferry_strdup(sqlite3_errmsg(db));
	else if (sqlite3_step(st) != SQLITE_ROW)
		out = ferry_strdup("(none)");
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		out = ferry_strdup("(null)");
	else
		out = ferry_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void check_query(sqlite3 *db, const char *sql, const char *want,
                        const char *what)
{
	char *got = query_text(db, sql);
	is_str(got, want, "%s", what);
	ferry_free(got);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -999;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		tap_diag("query %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* The sql of a table or index in sqlite_schema. */
static char *schema_sql(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = ?",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			out = ferry_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return out ? out : ferry_strdup("(none)");
}

static void check_schema_has(sqlite3 *db, const char *name, const char *part)
{
	char *sql = schema_sql(db, name);
	if (!ok(strstr(sql, part) != NULL, "schema of %s has %s", name, part))
		tap_diag("schema: %s", sql);
	ferry_free(sql);
}

/*
 * Checks the value of column col in row rowid of table vals: its storage
 * class and exact content (bytes of text and blob, the int64, the bits
 * of the double).
 */
static void check_cell(sqlite3 *db, const char *col, int rowid, int cls,
                       const void *want, int len)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	snprintf(sql, sizeof sql, "SELECT \"%s\" FROM vals WHERE rowid = %d", col,
	         rowid);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		ok(0, "row %d column %s: %s", rowid, col, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return;
	}
	int got = sqlite3_column_type(st, 0);
	is_int(got, cls, "row %d column %s: storage class", rowid, col);
	const void *p = NULL;
	int n = 0;
	int64_t i;
	double f;
	if (got == cls && cls == SQLITE_TEXT) {
		p = sqlite3_column_text(st, 0);
		n = sqlite3_column_bytes(st, 0);
	} else if (got == cls && cls == SQLITE_BLOB) {
		p = sqlite3_column_blob(st, 0);
		n = sqlite3_column_bytes(st, 0);
	} else if (got == cls && cls == SQLITE_INTEGER) {
		i = sqlite3_column_int64(st, 0);
		p = &i;
		n = sizeof i;
	} else if (got == cls && cls == SQLITE_FLOAT) {
		f = sqlite3_column_double(st, 0);
		p = &f;
		n = sizeof f;
	}
	if (cls != SQLITE_NULL &&
	    !ok(got == cls && n == len && (n == 0 || memcmp(p, want, (size_t)n) == 0),
	        "row %d column %s: exact content", rowid, col) &&
	    cls == SQLITE_TEXT && p)
		tap_diag("got \"%.*s\" (%d bytes)", n, (const char *)p, n);
	sqlite3_finalize(st);
}

static void check_text(sqlite3 *db, const char *col, int rowid,
                       const char *want, int len)
{
	check_cell(db, col, rowid, SQLITE_TEXT, want, len < 0 ? (int)strlen(want)
	                                                      : len);
}

static void check_int(sqlite3 *db, const char *col, int rowid, int64_t want)
{
	check_cell(db, col, rowid, SQLITE_INTEGER, &want, sizeof want);
}

static void check_real(sqlite3 *db, const char *col, int rowid, double want)
{
	check_cell(db, col, rowid, SQLITE_FLOAT, &want, sizeof want);
}

static void check_null(sqlite3 *db, const char *col, int rowid)
{
	check_cell(db, col, rowid, SQLITE_NULL, NULL, 0);
}

/* ---- opening ---- */

static void test_open(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *tgt = (ferry_target *)1;
	ferry_uri uri = {0};
	uri.kind = FERRY_URI_POSTGRESQL;
	uri.redacted = "postgresql://x";
	is_int(ops->open(&tgt, &uri, &err), FERRY_EINVAL,
	       "open refuses a postgresql uri");
	ok(tgt == NULL, "open leaves *out NULL on error");

	char missing[256];
	snprintf(missing, sizeof missing, "%s/no/such/dir.db", dir);
	uri.kind = FERRY_URI_SQLITE;
	uri.redacted = uri.path = missing;
	is_int(ops->open(&tgt, &uri, &err), FERRY_ERROR,
	       "open fails in a missing directory");
	ok(strncmp(ferry_error_message(&err), "could not open database \"", 25) ==
	       0 && strstr(ferry_error_message(&err), missing),
	   "the error names the database: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	ops->close(NULL);
	is_str(ops->name, "sqlite", "ops name");

	tgt = open_target("open.db");
	ok(tgt != NULL, "open creates a new database file");
	ok(access(path_of("open.db"), F_OK) == 0, "the file exists");
	sqlite3 *db = open_raw("open.db");
	check_query(db, "PRAGMA journal_mode", "wal", "journal mode is WAL");
	sqlite3_close(db);
	ops->close(tgt);
}

/* ---- every value type ---- */

static const char *const val_cols[][2] = {
	{"i", "bigint"},  {"f", "double precision"}, {"n", "numeric(12,2)"},
	{"t", "text"},    {"b", "bytea"},            {"bo", "boolean"},
	{"d", "date"},    {"ts", "timestamp"},       {"tz", "timestamptz"},
	{"j", "json"},    {"jb", "jsonb"},           {"u", "uuid"},
	{"vc", "varchar(10)"}, {"ch", "char(3)"},    {"si", "smallint"},
	{"r", "real"},    {"nn", "numeric"},         {"ii", "integer"},
};
#define VAL_NCOLS (sizeof val_cols / sizeof *val_cols)

/* What each column is declared as (docs/sqlite-target.md). */
static const char *const val_decls[VAL_NCOLS] = {
	"INTEGER", "REAL",      "NUMERIC(12,2)", "TEXT",    "BLOB",
	"BOOLEAN", "DATE",      "TIMESTAMP",     "TIMESTAMPTZ",
	"JSON TEXT", "JSON TEXT", "UUID",         "VARCHAR(10)",
	"CHARACTER(3)", "INTEGER", "REAL", "NUMERIC", "INTEGER",
};

static ferry_value ts_value(ferry_type type, int64_t y, unsigned mo,
                            unsigned d, int64_t micros_of_day)
{
	return ferry_value_timestamp(type, ferry_days_from_civil(y, mo, d) *
	                                           FERRY_USECS_PER_DAY +
	                                       micros_of_day);
}

static void fill_rows(ferry_value v[5][VAL_NCOLS])
{
	static const uint8_t u1[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
	                               0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
	                               0x9a, 0xbc, 0xde, 0xf0};
	static const uint8_t u2[16] = {0};
	static const uint8_t u3[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff};
	for (int r = 0; r < 5; r++)
		for (size_t c = 0; c < VAL_NCOLS; c++)
			v[r][c] = ferry_value_null();
	/* row 1 */
	v[0][0] = ferry_value_int(INT64_MIN);
	v[0][1] = ferry_value_float(-0.0);
	v[0][2] = ferry_value_bytes(FERRY_NUMERIC, "19.99", 5);
	v[0][3] = ferry_value_bytes(FERRY_TEXT, NULL, 0); /* empty, not NULL */
	v[0][4] = ferry_value_bytes(FERRY_BLOB, NULL, 0);
	v[0][5] = ferry_value_bool(true);
	v[0][6] = ferry_value_date(ferry_days_from_civil(2024, 1, 1));
	v[0][7] = ts_value(FERRY_TIMESTAMP, 2024, 1, 1, INT64_C(45296000000));
	v[0][8] = ts_value(FERRY_TIMESTAMPTZ, 2024, 1, 1, INT64_C(45296500000));
	v[0][9] = ferry_value_bytes(FERRY_JSON, "123", 3);
	v[0][10] = ferry_value_bytes(FERRY_JSON, "{\"a\": 1}", 8);
	v[0][11] = ferry_value_uuid(u1);
	v[0][12] = text_value("abc");
	v[0][13] = text_value("xy ");
	v[0][14] = ferry_value_int(-32768);
	v[0][15] = ferry_value_float(0.5);
	v[0][16] = ferry_value_bytes(FERRY_NUMERIC, "123456789012345678", 18);
	v[0][17] = ferry_value_int(0);
	/* row 2 */
	v[1][0] = ferry_value_int(INT64_MAX);
	v[1][1] = ferry_value_float(0.1);
	v[1][2] = ferry_value_bytes(FERRY_NUMERIC, "19.90", 5);
	v[1][5] = ferry_value_bool(false);
	v[1][6] = ferry_value_date(FERRY_DATE_PINF);
	v[1][7] = ferry_value_timestamp(FERRY_TIMESTAMP, FERRY_TS_NINF);
	v[1][8] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, FERRY_TS_PINF);
	v[1][9] = ferry_value_bytes(FERRY_JSON, "1e5", 3);
	v[1][10] = ferry_value_bytes(FERRY_JSON, "-0", 2);
	v[1][11] = ferry_value_uuid(u2);
	v[1][16] = ferry_value_bytes(FERRY_NUMERIC, "5.00", 4);
	/* row 3 */
	v[2][0] = ferry_value_int(0);
	v[2][1] = ferry_value_float(1e300);
	v[2][2] = ferry_value_bytes(FERRY_NUMERIC, "-0.50", 5);
	v[2][3] = ferry_value_bytes(FERRY_TEXT, "a\0b", 3);
	v[2][4] = ferry_value_bytes(FERRY_BLOB, "\0\1\0", 3);
	v[2][6] = ferry_value_date(ferry_days_from_civil(0, 1, 1)); /* 1 BC */
	v[2][7] = ferry_value_timestamp(FERRY_TIMESTAMP, 1);
	v[2][8] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, -1);
	v[2][9] = ferry_value_bytes(FERRY_JSON, " 12 ", 4);
	v[2][10] = ferry_value_bytes(FERRY_JSON, "\"text\"", 6);
	v[2][11] = ferry_value_uuid(u3);
	/* row 4 */
	v[3][1] = ferry_value_float(1e-300);
	v[3][3] = text_value("h\xc3\xa9llo");
	v[3][6] = ferry_value_date(FERRY_DATE_NINF);
	v[3][9] = ferry_value_bytes(FERRY_JSON, "[1.50]", 6);
	v[3][15] = ferry_value_float(INFINITY);
	/* row 5 stays NULL everywhere */
}

static void check_declared_types(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	size_t i = 0;
	sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info('vals')",
	                   -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW && i < VAL_NCOLS) {
		is_str((const char *)sqlite3_column_text(st, 1), val_decls[i],
		       "%s (%s) is declared %s", val_cols[i][0], val_cols[i][1],
		       val_decls[i]);
		i++;
	}
	is_int(i, VAL_NCOLS, "every column is there");
	sqlite3_finalize(st);
}

static void check_row1(sqlite3 *db)
{
	check_int(db, "i", 1, INT64_MIN);
	/* -0.0 comes back as +0.0: SQLite stores an integral REAL as an
	 * integer on disk, so the sign is gone (docs/values.md) */
	check_real(db, "f", 1, 0.0);
	check_real(db, "n", 1, 19.99);
	check_text(db, "t", 1, "", 0);
	check_cell(db, "b", 1, SQLITE_BLOB, "", 0);
	check_int(db, "bo", 1, 1);
	check_text(db, "d", 1, "2024-01-01", -1);
	check_text(db, "ts", 1, "2024-01-01 12:34:56", -1);
	check_text(db, "tz", 1, "2024-01-01 12:34:56.5+00:00", -1);
	check_text(db, "j", 1, "123", -1);
	check_text(db, "jb", 1, "{\"a\": 1}", -1);
	check_text(db, "u", 1, "12345678-9abc-def0-1234-56789abcdef0", -1);
	check_text(db, "vc", 1, "abc", -1);
	check_text(db, "ch", 1, "xy ", -1);
	check_int(db, "si", 1, -32768);
	check_real(db, "r", 1, 0.5);
	/* an integral numeric within int64 is kept exactly, as an INTEGER */
	check_int(db, "nn", 1, INT64_C(123456789012345678));
	check_int(db, "ii", 1, 0);
}

static void check_rows_2_to_5(sqlite3 *db)
{
	check_int(db, "i", 2, INT64_MAX);
	check_real(db, "f", 2, 0.1);
	check_real(db, "n", 2, 19.9); /* the scale is not kept */
	check_null(db, "t", 2);
	check_null(db, "b", 2);
	check_int(db, "bo", 2, 0);
	check_text(db, "d", 2, "infinity", -1);
	check_text(db, "ts", 2, "-infinity", -1);
	check_text(db, "tz", 2, "infinity", -1);
	check_text(db, "j", 2, "1e5", -1);
	check_text(db, "jb", 2, "-0", -1);
	check_text(db, "u", 2, "00000000-0000-0000-0000-000000000000", -1);
	check_int(db, "nn", 2, 5);

	check_real(db, "f", 3, 1e300);
	check_real(db, "n", 3, -0.5);
	check_text(db, "t", 3, "a\0b", 3);
	check_cell(db, "b", 3, SQLITE_BLOB, "\0\1\0", 3);
	check_null(db, "bo", 3);
	check_text(db, "d", 3, "0001-01-01 BC", -1);
	check_text(db, "ts", 3, "1970-01-01 00:00:00.000001", -1);
	check_text(db, "tz", 3, "1969-12-31 23:59:59.999999+00:00", -1);
	check_text(db, "j", 3, " 12 ", -1);
	check_text(db, "jb", 3, "\"text\"", -1);
	check_text(db, "u", 3, "ffffffff-ffff-ffff-ffff-ffffffffffff", -1);

	check_real(db, "f", 4, 1e-300);
	check_text(db, "t", 4, "h\xc3\xa9llo", -1);
	check_text(db, "d", 4, "-infinity", -1);
	check_text(db, "j", 4, "[1.50]", -1);
	check_real(db, "r", 4, INFINITY);

	for (size_t c = 0; c < VAL_NCOLS; c++)
		check_null(db, val_cols[c][0], 5);
}

static void test_values(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "vals");
	for (size_t c = 0; c < VAL_NCOLS; c++)
		add_col(t, val_cols[c][0], val_cols[c][1]);
	ferry_value v[5][VAL_NCOLS];
	fill_rows(v);
	ferry_target *tgt = open_target("values.db");
	load(tgt, t, &v[0][0], 5);
	ops->close(tgt);

	sqlite3 *db = open_raw("values.db");
	check_declared_types(db);
	check_row1(db);
	check_rows_2_to_5(db);
	/* SQLite's date functions read what was stored */
	check_query(db, "SELECT unixepoch(tz) FROM vals WHERE rowid = 1",
	            "1704112496", "unixepoch() reads the +00:00 timestamptz");
	check_query(db, "SELECT datetime(ts, '+1 day') FROM vals WHERE rowid = 1",
	            "2024-01-02 12:34:56", "datetime() reads the timestamp");
	check_query(db, "SELECT date(d, '+1 month') FROM vals WHERE rowid = 1",
	            "2024-02-01", "date() reads the date");
	check_query(db, "SELECT json_extract(jb, '$.a') FROM vals WHERE rowid = 1",
	            "1", "json_extract() reads the json");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

/* Compares what table times holds with datetime.c's text for v. */
static void check_time_text(const ferry_value *v, int n)
{
	sqlite3 *db = open_raw("times.db");
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db, "SELECT d, ts, tz FROM times ORDER BY rowid", -1,
	                   &st, NULL);
	int r = 0, bad = 0;
	ferry_buf want = FERRY_BUF_INIT;
	for (; sqlite3_step(st) == SQLITE_ROW && r < n; r++) {
		for (int c = 0; c < 3; c++) {
			ferry_buf_reset(&want);
			if (c == 0)
				ferry_date_format(v[r * 3].u.date, &want);
			else
				ferry_timestamp_format(v[r * 3 + c].u.i, false, &want);
			if (c == 2 && v[r * 3 + c].u.i != FERRY_TS_PINF &&
			    v[r * 3 + c].u.i != FERRY_TS_NINF)
				ferry_buf_puts(&want, "+00:00");
			const char *got = (const char *)sqlite3_column_text(st, c);
			const char *w = ferry_buf_cstr(&want);
			if (sqlite3_column_type(st, c) != SQLITE_TEXT ||
			    strcmp(got, w) != 0) {
				if (bad++ < 5)
					tap_diag("row %d column %d: got %s, want %s", r, c,
					         got, w);
			}
		}
	}
	is_int(r, n, "every row read back");
	is_int(bad, 0, "dates and timestamps are stored as datetime.c writes them");
	ferry_buf_free(&want);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/*
 * The writer formats dates and timestamps itself for speed: its text must
 * be datetime.c's, at the edges of the years it handles (1..9999), past
 * them, at day boundaries, for every fraction length, and at random.
 */
static void test_time_text(void)
{
	enum { N = 4000 };
	static const int32_t edge_days[] = {
		-719163, -719162, 2932896, 2932897, 0, -1, 1, 11016, 19417,
		-141427, FERRY_DATE_PINF, FERRY_DATE_NINF, -800000, 3000000,
	};
	static const int64_t edge_micros[] = {
		0, -1, 1, 10, 100000, 999999, 120000, 86399999999, 86400000000,
		-86400000000, -86400000001, INT64_C(-62135596800000000),
		INT64_C(-62135596800000001), INT64_C(253402300799999999),
		INT64_C(253402300800000000), FERRY_TS_PINF, FERRY_TS_NINF,
		INT64_C(9000000000000000000), INT64_C(-9000000000000000000),
	};
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "times");
	add_col(t, "d", "date");
	add_col(t, "ts", "timestamp");
	add_col(t, "tz", "timestamptz");
	ferry_value *v = ferry_calloc(N * 3, sizeof *v);
	uint64_t x = 88172645463325252u; /* xorshift64 */
	for (int r = 0; r < N; r++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int32_t days = r < 14 ? edge_days[r]
		                      : (int32_t)(x % 4000000) - 1000000;
		int64_t micros = r < 19 ? edge_micros[r]
		                        : (int64_t)(x % INT64_C(400000000000000000)) -
		                              INT64_C(100000000000000000);
		if (r >= 19 && r % 3 == 0) /* whole seconds, and shorter fractions */
			micros -= micros % (r % 2 ? 1000000 : 1000);
		v[r * 3] = ferry_value_date(days);
		v[r * 3 + 1] = ferry_value_timestamp(FERRY_TIMESTAMP, micros);
		v[r * 3 + 2] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, micros);
	}
	ferry_target *tgt = open_target("times.db");
	load(tgt, t, v, N);
	ops->close(tgt);

	check_time_text(v, N);
	ferry_free(v);
	ferry_schema_free(&s);
}

/* ---- values a column cannot take ---- */

static void expect_row_error(ferry_target *tgt, const ferry_table *t,
                             ferry_value *values, int code, const char *part,
                             const char *what)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ops->copy_begin(tgt, t, &err);
	ferry_row good = {values, t->ncolumns, t->ncolumns};
	ferry_row bad = {values + t->ncolumns, t->ncolumns, t->ncolumns};
	if (rc == 0)
		rc = ops->copy_row(tgt, &good, &err);
	if (rc == 0)
		rc = ops->copy_row(tgt, &bad, &err);
	is_int(rc, code, "%s: refused", what);
	if (!ok(strstr(ferry_error_message(&err), part) != NULL,
	        "%s: message has %s", what, part))
		tap_diag("message: %s", ferry_error_message(&err));
	ops->copy_abort(tgt);
	ferry_error_clear(&err);
}

static void test_bad_values(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "strict");
	add_col(t, "id", "integer");
	add_col(t, "doc", "json");
	add_col(t, "x", "double precision");
	ferry_target *tgt = open_target("bad.db");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->prepare_table(tgt, t, FERRY_EXISTING_DROP, &err), 0,
	       "prepare strict");

	ferry_value rows[6] = {ferry_value_int(1), ferry_value_null(),
	                       ferry_value_float(1), ferry_value_int(2),
	                       text_value("{}"), ferry_value_null()};
	expect_row_error(tgt, t, rows, FERRY_EINVAL,
	                 "could not insert row 2 into table \"strict\": column "
	                 "\"doc\" takes json values, not text",
	                 "text for a json column");
	rows[4] = ferry_value_bytes(FERRY_JSON, "{}", 2);
	rows[3] = ferry_value_float(2);
	expect_row_error(tgt, t, rows, FERRY_EINVAL, "column \"id\" takes int",
	                 "float for an integer column");
	rows[3] = ferry_value_int(2);
	rows[5] = ferry_value_float(NAN);
	expect_row_error(tgt, t, rows, FERRY_EINVAL,
	                 "column \"x\" cannot store NaN", "NaN for a float column");

	is_int(ops->copy_begin(tgt, t, &err), 0, "copy_begin");
	ferry_row narrow = {rows, 2, 2};
	is_int(ops->copy_row(tgt, &narrow, &err), FERRY_EINVAL,
	       "a row with too few values is refused");
	ops->copy_abort(tgt);
	ops->close(tgt);

	sqlite3 *db = open_raw("bad.db");
	is_int(query_int(db, "SELECT count(*) FROM strict"), 0,
	       "the refused copies left no row behind");
	sqlite3_close(db);
	ferry_error_clear(&err);
	ferry_schema_free(&s);
}

/* ---- names ---- */

static void test_names(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "group");
	add_col(t, "order", "integer")->pk_position = 1;
	add_col(t, "Mixed Case", "text");
	add_col(t, "has \"quotes\"", "text");
	add_col(t, "select", "text");
	add_index(t, "the \"index\"", true, NULL, 2,
	          (const char *const[]){"select", "Mixed Case"});
	ferry_table *w = add_table(&s, "we\"ird Table");
	add_col(w, "from", "text");
	ferry_value v[] = {ferry_value_int(7), text_value("mixed"),
	                   text_value("quoted"), text_value("sel")};
	ferry_value wv[] = {text_value("weird")};
	ferry_target *tgt = open_target("names.db");
	load(tgt, &s.tables[0], v, 1);
	load(tgt, &s.tables[1], wv, 1);
	ops->close(tgt);

	sqlite3 *db = open_raw("names.db");
	check_query(db,
	            "SELECT \"order\" || '/' || \"Mixed Case\" || '/' || "
	            "\"has \"\"quotes\"\"\" || '/' || \"select\" FROM \"group\"",
	            "7/mixed/quoted/sel", "reserved, spaced, quoted names");
	check_query(db, "SELECT group_concat(name, '|') FROM "
	                "pragma_table_info('group')",
	            "order|Mixed Case|has \"quotes\"|select",
	            "column names kept exactly");
	check_query(db, "SELECT \"from\" FROM \"we\"\"ird Table\"", "weird",
	            "table name with a quote and a space");
	check_query(db, "SELECT name FROM sqlite_schema WHERE type = 'index'",
	            "the \"index\"", "index name with quotes");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

/* ---- keys ---- */

static void test_composite_key(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "cpk");
	add_col(t, "a", "integer")->pk_position = 2;
	add_col(t, "b", "text")->pk_position = 1;
	add_col(t, "v", "text");
	ferry_value v[] = {ferry_value_int(1), text_value("x"), text_value("one"),
	                   ferry_value_int(1), text_value("y"), text_value("two")};
	ferry_target *tgt = open_target("keys.db");
	load(tgt, t, v, 2);

	/* a second copy with a duplicate key fails at its row 2 */
	ferry_value dup[] = {ferry_value_int(2), text_value("z"), text_value("3"),
	                     ferry_value_int(1), text_value("x"), text_value("4")};
	expect_row_error(tgt, t, dup, FERRY_ERROR,
	                 "could not insert row 2 into table \"cpk\": UNIQUE "
	                 "constraint failed",
	                 "duplicate composite key");
	ops->close(tgt);

	sqlite3 *db = open_raw("keys.db");
	check_schema_has(db, "cpk", "PRIMARY KEY (\"b\", \"a\")");
	check_query(db, "SELECT group_concat(a || b || v, ',') FROM cpk",
	            "1xone,1ytwo", "the aborted copy left the table as it was");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

static void test_without_rowid(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "wr");
	add_col(t, "k", "bigint")->pk_position = 1;
	add_col(t, "v", "text");
	t->without_rowid = true;
	ferry_value v[] = {ferry_value_int(2), text_value("b"), ferry_value_int(1),
	                   text_value("a")};
	ferry_target *tgt = open_target("keys.db");
	load(tgt, t, v, 2);
	ops->close(tgt);

	sqlite3 *db = open_raw("keys.db");
	check_schema_has(db, "wr", "\"k\" INTEGER, \"v\" TEXT, PRIMARY KEY (\"k\"))"
	                           " WITHOUT ROWID");
	sqlite3_stmt *st = NULL;
	ok(sqlite3_prepare_v2(db, "SELECT rowid FROM wr", -1, &st, NULL) ==
	       SQLITE_ERROR,
	   "a WITHOUT ROWID table has no rowid");
	sqlite3_finalize(st);
	check_query(db, "SELECT group_concat(k || v, ',') FROM wr", "1a,2b",
	            "rows in key order");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

static void test_rowid_keys(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "ai");
	ferry_column *id = add_col(t, "id", "bigint");
	id->pk_position = 1;
	id->autoincrement = true;
	add_col(t, "name", "text");
	ferry_table *p = add_table(&s, "plain");
	add_col(p, "id", "smallint")->pk_position = 1;
	add_col(p, "name", "text");
	ferry_value v[] = {ferry_value_int(1),  text_value("a"),
	                   ferry_value_int(10), text_value("c"),
	                   ferry_value_int(5),  text_value("b")};
	ferry_target *tgt = open_target("keys.db");
	load(tgt, &s.tables[0], v, 3);
	load(tgt, &s.tables[1], v, 3);
	ops->close(tgt);

	sqlite3 *db = open_raw("keys.db");
	check_schema_has(db, "ai", "(\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, ");
	check_schema_has(db, "plain", "(\"id\" INTEGER PRIMARY KEY, ");
	sqlite3_exec(db, "INSERT INTO ai (name) VALUES ('d')", NULL, NULL, NULL);
	is_int(sqlite3_last_insert_rowid(db), 11,
	       "autoincrement: the next insert gets max + 1");
	sqlite3_exec(db, "DELETE FROM ai WHERE id = 11; INSERT INTO ai (name) "
	                 "VALUES ('e')", NULL, NULL, NULL);
	is_int(sqlite3_last_insert_rowid(db), 12,
	       "autoincrement: a deleted key is not reused");
	is_int(query_int(db, "SELECT count(*) FROM plain WHERE rowid = id"), 3,
	       "a single integer key is the rowid");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

static void test_defaults(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "dflt");
	add_col(t, "id", "integer")->pk_position = 1;
	ferry_column *c = add_col(t, "state", "text");
	c->not_null = true;
	c->default_sql = ferry_strdup("'new'");
	c = add_col(t, "made", "timestamp");
	c->default_sql = ferry_strdup("CURRENT_TIMESTAMP");
	ferry_target *tgt = open_target("keys.db");
	load(tgt, t, NULL, 0);
	ops->close(tgt);

	sqlite3 *db = open_raw("keys.db");
	sqlite3_exec(db, "INSERT INTO dflt (id) VALUES (1)", NULL, NULL, NULL);
	check_query(db, "SELECT state || ',' || (made IS NOT NULL) FROM dflt",
	            "new,1", "defaults apply");
	ok(sqlite3_exec(db, "INSERT INTO dflt (id, state) VALUES (2, NULL)", NULL,
	                NULL, NULL) == SQLITE_CONSTRAINT,
	   "NOT NULL is enforced");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

/* ---- indexes ---- */

static void test_indexes(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "ux");
	add_col(t, "id", "integer")->pk_position = 1;
	add_col(t, "email", "text");
	add_col(t, "status", "text");
	add_index(t, "ux_email", true, NULL, 1, (const char *const[]){"email"});
	add_index(t, "ux_active", false, "status = 'active'", 1,
	          (const char *const[]){"email"});
	add_index(t, "sqlite_autoindex_ux_1", true, NULL, 2,
	          (const char *const[]){"status", "email"});
	ferry_value v[] = {ferry_value_int(1), text_value("a@x"),
	                   text_value("active"), ferry_value_int(2),
	                   text_value("b@x"), text_value("gone")};
	ferry_target *tgt = open_target("index.db");
	load(tgt, t, v, 2);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->finish_table(tgt, t, &err), 0,
	       "finish_table again keeps the indexes it made");

	/* a unique index over duplicate rows fails, naming it */
	ferry_table *d = add_table(&s, "dup");
	add_col(d, "email", "text");
	add_index(d, "dup_email", true, NULL, 1, (const char *const[]){"email"});
	ferry_value dv[] = {text_value("same"), text_value("same")};
	is_int(load_rows(tgt, d, FERRY_EXISTING_DROP, dv, 2, NULL, &err), 0,
	       "duplicates load before the index");
	is_int(ops->finish_table(tgt, d, &err), FERRY_ERROR,
	       "the unique index refuses them");
	is_str(ferry_error_message(&err),
	       "could not create index \"dup_email\" on table \"dup\": UNIQUE "
	       "constraint failed: dup.email",
	       "the error names the index and the table");
	/* an index name another table holds is an error, not skipped */
	add_index(d, "ux_email", false, NULL, 1, (const char *const[]){"email"});
	d->indexes[0].unique = false;
	is_int(ops->finish_table(tgt, d, &err), FERRY_ERROR,
	       "an index name used by another table is refused");
	ok(strstr(ferry_error_message(&err), "already exists") != NULL,
	   "because it exists: %s", ferry_error_message(&err));
	ops->close(tgt);
	ferry_error_clear(&err);

	sqlite3 *db = open_raw("index.db");
	ok(sqlite3_exec(db, "INSERT INTO ux VALUES (3, 'a@x', 'new')", NULL, NULL,
	                NULL) == SQLITE_CONSTRAINT,
	   "the unique index is enforced after finish_table");
	check_schema_has(db, "ux_active", "WHERE status = 'active'");
	check_query(db, "SELECT \"partial\" FROM pragma_index_list('ux') WHERE "
	                "name = 'ux_active'",
	            "1", "the partial index is partial");
	check_schema_has(db, "ux_status_email_key",
	                 "CREATE UNIQUE INDEX \"ux_status_email_key\" ON \"ux\" "
	                 "(\"status\", \"email\")");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

/* ---- foreign keys ---- */

static void add_fkey(ferry_table *t, const char *name, const char *col,
                     const char *ref, const char *ref_col,
                     const char *on_delete, const char *on_update)
{
	ferry_fkey *fk = ferry_table_add_fkey(t);
	fk->name = name ? ferry_strdup(name) : NULL;
	fk->columns = names(1, &col);
	fk->ncolumns = 1;
	fk->ref_table = ferry_strdup(ref);
	fk->ref_columns = names(1, &ref_col);
	fk->on_delete = on_delete ? ferry_strdup(on_delete) : NULL;
	fk->on_update = on_update ? ferry_strdup(on_update) : NULL;
}

static void test_foreign_keys(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *c = add_table(&s, "child");
	add_col(c, "id", "integer")->pk_position = 1;
	add_col(c, "parent_id", "integer");
	add_col(c, "other_id", "integer");
	add_fkey(c, "child_parent_fk", "parent_id", "parent", "id", "CASCADE",
	         "set null");
	add_fkey(c, NULL, "other_id", "parent", NULL, NULL, NULL);
	ferry_table *p = add_table(&s, "parent");
	add_col(p, "id", "integer")->pk_position = 1;
	/* the child first, pointing at a parent that never comes: the load
	 * does not check foreign keys */
	ferry_value v[] = {ferry_value_int(1), ferry_value_int(99),
	                   ferry_value_int(98)};
	ferry_target *tgt = open_target("fk.db");
	load(tgt, &s.tables[0], v, 1);
	load(tgt, &s.tables[1], NULL, 0);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->add_foreign_keys(tgt, &s.tables[0], &err), 0,
	       "add_foreign_keys has nothing left to do");

	ferry_table *b = add_table(&s, "badfk");
	add_col(b, "x", "integer");
	add_fkey(b, NULL, "x", "parent", "id", "EXPLODE", NULL);
	is_int(ops->prepare_table(tgt, b, FERRY_EXISTING_DROP, &err),
	       FERRY_EINVAL, "an unknown foreign key action is refused");
	is_str(ferry_error_message(&err),
	       "could not create table \"badfk\": unknown foreign key action "
	       "\"EXPLODE\"",
	       "the error names the table and the action");
	ops->close(tgt);
	ferry_error_clear(&err);

	sqlite3 *db = open_raw("fk.db");
	check_schema_has(db, "child",
	                 "CONSTRAINT \"child_parent_fk\" FOREIGN KEY "
	                 "(\"parent_id\") REFERENCES \"parent\" (\"id\") ON DELETE "
	                 "CASCADE ON UPDATE SET NULL");
	check_schema_has(db, "child",
	                 ", FOREIGN KEY (\"other_id\") REFERENCES \"parent\")");
	is_int(query_int(db, "SELECT count(*) FROM pragma_foreign_key_list("
	                     "'child')"),
	       2, "SQLite knows both foreign keys");
	is_int(query_int(db, "SELECT count(*) FROM child"), 1,
	       "the orphan row loaded");
	is_int(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = "
	                     "'badfk'"),
	       0, "the refused table was not created");
	sqlite3_close(db);
	ferry_schema_free(&s);
}

/* ---- existing tables ---- */

static void test_refuse(ferry_target *tgt, ferry_table *t, sqlite3 *db)
{
	ferry_error err = FERRY_ERROR_INIT;
	const char *want = "target table \"ex\" is not empty: use --truncate to "
	                   "empty it or --drop to recreate it";
	is_int(ops->check_table(tgt, t, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "check_table refuses a table with rows");
	is_str(ferry_error_message(&err), want, "refusal message");
	is_int(ops->prepare_table(tgt, t, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "prepare_table refuses it too");
	is_str(ferry_error_message(&err), want, "prepare_table's message");
	ferry_free(t->name);
	t->name = ferry_strdup("EX");
	is_int(ops->check_table(tgt, t, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "names match without regard to case, as in SQLite");
	ferry_free(t->name);
	t->name = ferry_strdup("ex");
	is_int(query_int(db, "SELECT count(*) FROM ex"), 2,
	       "refusing changed nothing");
	ferry_error_clear(&err);
}

/* Table ex, empty, exists with columns id, doc: other definitions of ex
 * are refused unless dropped. */
static void test_other_columns(ferry_target *tgt, ferry_schema *s,
                               sqlite3 *db)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *o = add_table(s, "ex");
	add_col(o, "id", "integer");
	add_col(o, "body", "json");
	is_int(ops->check_table(tgt, o, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "an empty table with other columns is refused");
	is_str(ferry_error_message(&err),
	       "target table \"ex\" exists with other columns (column 2 is \"doc\" "
	       "JSON TEXT, not \"body\" JSON TEXT): use --drop to recreate it",
	       "the message names the difference");
	is_int(ops->prepare_table(tgt, o, FERRY_EXISTING_TRUNCATE, &err),
	       FERRY_EINVAL, "truncate refuses other columns too");
	o->ncolumns = 1; /* only "id": the table has more */
	is_int(ops->check_table(tgt, o, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "an extra column is refused");
	is_str(ferry_error_message(&err),
	       "target table \"ex\" exists with other columns (more than 1): use "
	       "--drop to recreate it",
	       "the message says so");
	o->ncolumns = 2;
	add_col(o, "extra", "text");
	ferry_free(o->columns[1].name);
	o->columns[1].name = ferry_strdup("doc");
	is_int(ops->check_table(tgt, o, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "a missing column is refused");
	ok(strstr(ferry_error_message(&err), "(2, not 3)") != NULL,
	   "the message counts them: %s", ferry_error_message(&err));

	/* drop: recreated with the new definition */
	is_int(ops->check_table(tgt, o, FERRY_EXISTING_DROP, &err), 0,
	       "check_table accepts dropping");
	is_int(ops->prepare_table(tgt, o, FERRY_EXISTING_DROP, &err), 0,
	       "prepare_table drops and recreates");
	check_query(db, "SELECT group_concat(name, ',') FROM pragma_table_info("
	                "'ex')",
	            "id,doc,extra", "the new columns are there");
	is_int(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = "
	                     "'ex_user_idx'"),
	       0, "the old index went with the old table");
	ferry_error_clear(&err);
}

static void test_existing(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "ex");
	add_col(t, "id", "integer")->pk_position = 1;
	add_col(t, "doc", "json");
	ferry_value v[] = {ferry_value_int(1), ferry_value_bytes(FERRY_JSON, "1", 1),
	                   ferry_value_int(2), ferry_value_bytes(FERRY_JSON, "2", 1)};
	ferry_target *tgt = open_target("existing.db");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->check_table(tgt, t, FERRY_EXISTING_REFUSE, &err), 0,
	       "check_table accepts a missing table");
	load(tgt, t, v, 2);
	sqlite3 *db = open_raw("existing.db");
	sqlite3_exec(db, "CREATE INDEX ex_user_idx ON ex (doc)", NULL, NULL, NULL);
	test_refuse(tgt, t, db);

	is_int(ops->check_table(tgt, t, FERRY_EXISTING_TRUNCATE, &err), 0,
	       "check_table accepts truncating it");
	is_int(query_int(db, "SELECT count(*) FROM ex"), 2,
	       "check_table changed nothing");
	is_int(ops->prepare_table(tgt, t, FERRY_EXISTING_TRUNCATE, &err), 0,
	       "prepare_table truncates");
	is_int(query_int(db, "SELECT count(*) FROM ex"), 0, "the table is empty");
	is_int(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = "
	                     "'ex_user_idx'"),
	       1, "truncating keeps the definition");
	is_int(load_rows(tgt, t, FERRY_EXISTING_REFUSE, v, 2, NULL, &err), 0,
	       "an empty table with the same columns is reused");
	is_int(query_int(db, "SELECT count(*) FROM ex"), 2, "and loaded");
	sqlite3_exec(db, "DELETE FROM ex", NULL, NULL, NULL);
	test_other_columns(tgt, &s, db);
	ops->close(tgt);
	ferry_error_clear(&err);
	sqlite3_close(db);
	ferry_schema_free(&s);
}

static void test_affinity_mismatch(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "aff");
	add_col(t, "j", "json");
	sqlite3 *db = open_raw("existing.db");
	sqlite3_exec(db, "CREATE TABLE aff (j JSON)", NULL, NULL, NULL);
	/* why json is declared JSON TEXT: under JSON the document changes */
	sqlite3_exec(db, "INSERT INTO aff VALUES ('1e5')", NULL, NULL, NULL);
	check_query(db, "SELECT typeof(j) || ' ' || j FROM aff",
	            "integer 100000", "a JSON column would store 1e5 as 100000");
	sqlite3_exec(db, "DELETE FROM aff", NULL, NULL, NULL);
	sqlite3_close(db);
	ferry_target *tgt = open_target("existing.db");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->check_table(tgt, t, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL,
	       "a column whose affinity would change values is refused");
	ok(strstr(ferry_error_message(&err), "column 1 is \"j\" JSON, not \"j\" "
	                                     "JSON TEXT"),
	   "message: %s", ferry_error_message(&err));
	ops->close(tgt);
	ferry_error_clear(&err);
	ferry_schema_free(&s);
}

/* ---- aborts and connections ---- */

static void test_abort_and_connections(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *a = add_table(&s, "a");
	add_col(a, "x", "integer");
	ferry_table *b = add_table(&s, "b");
	add_col(b, "x", "integer");
	ferry_value v[] = {ferry_value_int(1), ferry_value_int(2),
	                   ferry_value_int(3)};
	ferry_target *one = open_target("conn.db");
	ferry_target *two = open_target("conn.db");
	ok(one && two, "two connections to one file");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ops->prepare_table(one, &s.tables[0], FERRY_EXISTING_DROP, &err),
	       0, "prepare a");
	is_int(ops->copy_begin(one, &s.tables[0], &err), 0, "copy_begin a");
	for (int i = 0; i < 3; i++) {
		ferry_row row = {&v[i], 1, 1};
		ops->copy_row(one, &row, &err);
	}
	ops->copy_abort(one);
	sqlite3 *db = open_raw("conn.db");
	is_int(query_int(db, "SELECT count(*) FROM a"), 0,
	       "copy_abort leaves nothing");

	int64_t rows = -1;
	is_int(load_rows(two, &s.tables[1], FERRY_EXISTING_DROP, v, 3, &rows,
	                 &err),
	       0, "the second connection loads b");
	is_int(rows, 3, "copy_end counts the rows");
	is_int(load_rows(one, &s.tables[0], FERRY_EXISTING_REFUSE, v, 2, &rows,
	                 &err),
	       0, "then the first loads a");
	is_int(rows, 2, "copy_end counts them");
	/* close in the middle of a copy rolls it back */
	is_int(ops->copy_begin(two, &s.tables[1], &err), 0, "copy_begin b");
	ferry_row row = {&v[0], 1, 1};
	ops->copy_row(two, &row, &err);
	ops->close(two);
	ops->close(one);
	is_int(query_int(db, "SELECT (SELECT count(*) FROM a) * 10 + "
	                     "(SELECT count(*) FROM b)"),
	       23, "committed copies stay, the unfinished one is gone");
	sqlite3_close(db);
	ferry_error_clear(&err);
	ferry_schema_free(&s);
}

/* ---- allocation failures ---- */

static int fault_run(const ferry_uri *uri, const ferry_table *t,
                     ferry_value *v, ferry_error *err)
{
	ferry_target *tgt = NULL;
	int rc = ops->open(&tgt, uri, err);
	if (rc < 0)
		return rc;
	rc = ops->check_table(tgt, t, FERRY_EXISTING_TRUNCATE, err);
	if (rc == 0)
		rc = load_rows(tgt, t, FERRY_EXISTING_DROP, v, 2, NULL, err);
	if (rc == 0)
		rc = ops->finish_table(tgt, t, err);
	if (rc == 0)
		rc = ops->add_foreign_keys(tgt, t, err);
	ops->close(tgt);
	return rc;
}

/* Fails the nth allocation of a run (and every later one when sticky),
 * for n = 1.. until a run needs no failure. */
static void fault_loop(const ferry_uri *uri, const ferry_table *t,
                       ferry_value *v, int sticky)
{
	int bad = 0, last_rc = -1;
	long n;
	for (n = 1; n < 10000; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_alloc_fail_at(n, sticky);
		int rc = fault_run(uri, t, v, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM) {
			bad++;
			tap_diag("failing allocation %ld: rc %d: %s", n, rc,
			         ferry_error_message(&err));
		}
		ferry_error_clear(&err);
		last_rc = rc;
		if (failures == 0)
			break;
	}
	ok(n > 5 && n < 10000, "the run makes %ld allocations (sticky %d)",
	   n - 1, sticky);
	is_int(bad, 0, "every failing allocation gives 0 or FERRY_ENOMEM "
	               "(sticky %d)", sticky);
	is_int(last_rc, 0, "the run without failures succeeds");
}

static void test_faults(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "fault table");
	add_col(t, "id", "bigint")->pk_position = 1;
	add_col(t, "day", "date");
	add_col(t, "at", "timestamptz");
	add_col(t, "u", "uuid");
	add_col(t, "name", "text");
	add_index(t, NULL, true, NULL, 1, (const char *const[]){"name"});
	add_fkey(t, "self", "id", "fault table", "id", "CASCADE", NULL);
	static const uint8_t u[16] = {1, 2, 3};
	ferry_value v[] = {ferry_value_int(1), ferry_value_date(19000),
	                   ferry_value_timestamp(FERRY_TIMESTAMPTZ, 0),
	                   ferry_value_uuid(u), text_value("one"),
	                   ferry_value_int(2), ferry_value_null(),
	                   ferry_value_null(), ferry_value_null(),
	                   text_value("two")};
	char text[300];
	ferry_uri uri;
	snprintf(text, sizeof text, "sqlite://%s", path_of("fault.db"));
	ferry_uri_parse(&uri, text, NULL);
	fault_loop(&uri, t, v, 0);
	fault_loop(&uri, t, v, 1);
	sqlite3 *db = open_raw("fault.db");
	check_query(db, "SELECT group_concat(id || name || ifnull(at, '-'), ',') "
	                "FROM \"fault table\"",
	            "1one1970-01-01 00:00:00+00:00,2two-", "its data is there");
	check_query(db, "SELECT name FROM sqlite_schema WHERE type = 'index'",
	            "fault table_name_key", "its index is there");
	sqlite3_close(db);
	ferry_uri_free(&uri);
	ferry_schema_free(&s);
}

/* ---- speed ---- */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench(long nrows)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = add_table(&s, "users");
	add_col(t, "id", "integer")->pk_position = 1;
	add_col(t, "name", "text");
	add_col(t, "email", "text");
	add_col(t, "created", "timestamp");
	add_col(t, "balance", "numeric(12,2)");
	add_col(t, "score", "real");
	add_col(t, "bio", "text");
	add_col(t, "active", "boolean");
	char bio[101], name[32], email[48], balance[24];
	memset(bio, 'x', 100);
	bio[100] = '\0';
	ferry_target *tgt = open_target("bench.db");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value v[8];
	ferry_row row = {v, 8, 8};
	int rc = ops->prepare_table(tgt, t, FERRY_EXISTING_DROP, &err);
	double start = now_seconds();
	rc = rc ? rc : ops->copy_begin(tgt, t, &err);
	for (long i = 1; rc == 0 && i <= nrows; i++) {
		int nn = snprintf(name, sizeof name, "user %ld", i);
		int ne = snprintf(email, sizeof email, "user%ld@example.com", i);
		int nb = snprintf(balance, sizeof balance, "%ld.%02ld", i % 100000,
		                  i % 100);
		v[0] = ferry_value_int(i);
		v[1] = ferry_value_bytes(FERRY_TEXT, name, (size_t)nn);
		v[2] = ferry_value_bytes(FERRY_TEXT, email, (size_t)ne);
		v[3] = ferry_value_timestamp(FERRY_TIMESTAMP,
		                             INT64_C(1700000000000000) + i * 1000001);
		v[4] = ferry_value_bytes(FERRY_NUMERIC, balance, (size_t)nb);
		v[5] = ferry_value_float((double)i / 7.0);
		v[6] = ferry_value_bytes(FERRY_TEXT, bio, 100);
		v[7] = ferry_value_bool(i % 2);
		rc = ops->copy_row(tgt, &row, &err);
	}
	int64_t rows = 0;
	double copied = now_seconds();
	rc = rc ? rc : ops->copy_end(tgt, &rows, &err);
	double secs = now_seconds() - start;
	ok(rc == 0 && rows == nrows, "bench: %ld rows loaded", nrows);
	tap_diag("bench: %ld rows in %.3f s = %.0f rows/s (copy_row %.3f s, "
	         "copy_end %.3f s)", nrows, secs, (double)nrows / secs,
	         copied - start, secs - (copied - start));
	ops->close(tgt);
	ferry_error_clear(&err);
	ferry_schema_free(&s);
}

static void remove_dir(void)
{
	static const char *const files[] = {
		"open.db", "values.db", "bad.db",  "names.db", "keys.db",
		"index.db", "fk.db",    "existing.db", "conn.db", "fault.db",
		"bench.db", "times.db",
	};
	char path[300];
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		unlink(path_of(files[i]));
		snprintf(path, sizeof path, "%s-wal", path_of(files[i]));
		unlink(path);
		snprintf(path, sizeof path, "%s-shm", path_of(files[i]));
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/ferry-sqlite-target-XXXXXX",
	         tmp && *tmp && strlen(tmp) < 100 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	test_open();
	test_values();
	test_time_text();
	test_bad_values();
	test_names();
	test_composite_key();
	test_without_rowid();
	test_rowid_keys();
	test_defaults();
	test_indexes();
	test_foreign_keys();
	test_existing();
	test_affinity_mismatch();
	test_abort_and_connections();
	test_faults();
	const char *n = getenv("FERRY_BENCH_ROWS");
	if (n && atol(n) > 0)
		bench(atol(n));
	remove_dir();
	return tap_done();
}
