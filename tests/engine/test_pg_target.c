/*
 * tests/engine/test_pg_target.c - engine/pg_target.c against a real
 * PostgreSQL (conninfo in FERRY_TEST_PG): every value type in both COPY
 * formats, read back with libpq and compared exactly; awkward names; the
 * existing-table modes; keys, indexes and identity; foreign keys valid
 * and violated; aborted and failed copies; connection failures that must
 * not show the password.  Each run works in its own schema, dropped at
 * the end.
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/pg_target.h"
#include "tests/tap.h"
#include "tests/pg_test.h"

static const ferry_target_ops *ops = &ferry_pg_target_ops;
static char schema[64];
static char conninfo[2048]; /* FERRY_TEST_PG with search_path = schema */

/* ---- helpers ---------------------------------------------------------- */

/* Whether SQL that must fail does (quietly: the failure is expected). */
static bool sql_fails(const char *q)
{
	PGresult *res = PQexec(admin, q);
	bool failed = PQresultStatus(res) == PGRES_FATAL_ERROR;
	PQclear(res);
	return failed;
}

/* A quoted identifier for the admin's queries. */
static const char *qi(const char *name)
{
	static char out[8][512];
	static int next;
	char *q = PQescapeIdentifier(admin, name, strlen(name));
	char *o = out[next++ % 8];
	snprintf(o, 512, "%s", q ? q : "\"?\"");
	PQfreemem(q);
	return o;
}

static long long count_rows(const char *table)
{
	return atoll(val("SELECT count(*) FROM %s", qi(table)));
}

static ferry_target *open_target(const char *format)
{
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *t = NULL;
	setenv("FERRY_PG_COPY_FORMAT", format, 1);
	if (ferry_uri_parse(&uri, conninfo, &err) == 0) {
		if (ops->open(&t, &uri, &err) < 0)
			tap_diag("open: %s", ferry_error_message(&err));
		ferry_uri_free(&uri);
	} else {
		tap_diag("uri: %s", ferry_error_message(&err));
	}
	ferry_error_clear(&err);
	return t;
}

/* Tables a test builds, each allocated on its own so that pointers to
 * earlier ones stay valid. */
typedef struct tlist {
	ferry_table *t[8];
	int n;
} tlist;

#define TLIST_INIT {{NULL}, 0}

static ferry_table *new_table(tlist *s, const char *name)
{
	ferry_table *t = ferry_calloc(1, sizeof *t);
	t->name = ferry_strdup(name);
	t->row_count = -1;
	s->t[s->n++] = t;
	return t;
}

static void free_tables(tlist *s)
{
	for (int i = 0; i < s->n; i++) {
		ferry_table_clear(s->t[i]);
		ferry_free(s->t[i]);
	}
	s->n = 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static ferry_column *add_col(ferry_table *t, const char *name, const char *type)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(type);
	if (ferry_sqltype_parse(&c->type, type, &err) < 0)
		tap_diag("bad type %s", type);
	ferry_error_clear(&err);
	return c;
}

static char **names(int n, ...)
{
	char **out = ferry_calloc((size_t)n, sizeof *out);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		out[i] = ferry_strdup(va_arg(ap, const char *));
	va_end(ap);
	return out;
}

static ferry_index *add_index(ferry_table *t, const char *name, bool unique,
                              const char *where, int n, char **cols)
{
	ferry_index *ix = ferry_table_add_index(t);
	ix->name = name ? ferry_strdup(name) : NULL;
	ix->unique = unique;
	ix->columns = cols;
	ix->ncolumns = (uint32_t)n;
	ix->where_sql = where ? ferry_strdup(where) : NULL;
	return ix;
}

static ferry_fkey *add_fkey(ferry_table *t, const char *name, const char *col,
                            const char *ref, const char *ref_col,
                            const char *on_delete)
{
	ferry_fkey *fk = ferry_table_add_fkey(t);
	fk->name = name ? ferry_strdup(name) : NULL;
	fk->columns = names(1, col);
	fk->ncolumns = 1;
	fk->ref_table = ferry_strdup(ref);
	fk->ref_columns = ferry_calloc(1, sizeof *fk->ref_columns);
	fk->ref_columns[0] = ref_col ? ferry_strdup(ref_col) : NULL;
	fk->on_delete = on_delete ? ferry_strdup(on_delete) : NULL;
	return fk;
}

/* Fills row i of a load. */
typedef void (*row_fn)(ferry_row *row, int i, void *arg);

/* prepare (mode) + copy_begin + n rows + copy_end; aborts on failure.
 * err keeps the failure for the caller. */
static int load(ferry_target *t, const ferry_table *tb, ferry_existing mode,
                int n, row_fn fill, void *arg, int64_t *stored,
                ferry_error *err)
{
	ferry_row row = FERRY_ROW_INIT;
	int rc = ops->prepare_table(t, tb, mode, err);
	if (rc == 0)
		rc = ops->copy_begin(t, tb, err);
	bool open = rc == 0;
	if (rc == 0)
		rc = ferry_row_resize(&row, tb->ncolumns, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		fill(&row, i, arg);
		rc = ops->copy_row(t, &row, err);
	}
	if (rc == 0)
		rc = ops->copy_end(t, stored, err);
	else if (open)
		ops->copy_abort(t);
	ferry_row_free(&row);
	return rc;
}

/* ---- every value type ------------------------------------------------- */

typedef struct vcase {
	ferry_value v;
	const char *want;  /* PostgreSQL's text output; NULL for SQL NULL */
	const char *label; /* for the TAP line (values may hold newlines) */
} vcase;

typedef struct vlist {
	vcase c[40];
	int n;
} vlist;

static void put(vlist *l, ferry_value v, const char *want, const char *label)
{
	l->c[l->n++] = (vcase){v, want, label};
}

static void fill_case(ferry_row *row, int i, void *arg)
{
	const vlist *l = arg;
	row->values[0] = ferry_value_int(i);
	row->values[1] = l->c[i].v;
}

/* Loads (n, v type) with every case and compares each value read back. */
static void check_type(ferry_target *t, const char *fmt, const char *type,
                       const vlist *l)
{
	char name[128];
	snprintf(name, sizeof name, "v %s %s", type, fmt);
	tlist s = TLIST_INIT;
	ferry_table *tb = new_table(&s, name);
	add_col(tb, "n", "integer");
	add_col(tb, "v", type);
	ferry_error err = FERRY_ERROR_INIT;
	int64_t stored = -1;
	int rc = load(t, tb, FERRY_EXISTING_DROP, l->n, fill_case, (void *)l,
	              &stored, &err);
	if (!ok(rc == 0 && stored == l->n, "%s: %d values load as %s", type,
	        l->n, fmt))
		tap_diag("rc %d stored %lld: %s", rc, (long long)stored,
		         ferry_error_message(&err));
	ferry_error_clear(&err);
	char q[256];
	snprintf(q, sizeof q, "SELECT v FROM %s ORDER BY n", qi(name));
	PGresult *res = PQexec(admin, q);
	int rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;
	for (int i = 0; i < l->n; i++) {
		const char *want = l->c[i].want, *label = l->c[i].label;
		if (i >= rows) {
			ok(0, "%s %s (%s): row missing", type, label, fmt);
			continue;
		}
		if (!want) {
			ok(PQgetisnull(res, i, 0), "%s %s reads back NULL (%s)", type,
			   label, fmt);
			continue;
		}
		const char *got = PQgetvalue(res, i, 0);
		size_t len = (size_t)PQgetlength(res, i, 0);
		bool same = !PQgetisnull(res, i, 0) && len == strlen(want) &&
		            memcmp(got, want, len) == 0;
		if (!ok(same, "%s %s reads back exactly (%s)", type, label, fmt))
			tap_diag("got \"%.200s\" (%zu bytes), want \"%.200s\" (%zu)",
			         got, len, want, strlen(want));
	}
	PQclear(res);
	free_tables(&s);
}

static ferry_value txt(ferry_type type, const char *s)
{
	return ferry_value_bytes(type, s, strlen(s));
}

static ferry_value date(int64_t y, unsigned m, unsigned d)
{
	return ferry_value_date(ferry_days_from_civil(y, m, d));
}

static ferry_value ts(ferry_type type, int64_t y, unsigned mo, unsigned d,
                      int h, int mi, int s, int64_t us)
{
	int64_t days = ferry_days_from_civil(y, mo, d);
	return ferry_value_timestamp(type, days * FERRY_USECS_PER_DAY +
	                                       ((h * 60 + mi) * 60 + s) *
	                                           INT64_C(1000000) + us);
}

static void check_integers(ferry_target *t, const char *fmt)
{
	vlist l = {.n = 0};
	put(&l, ferry_value_int(-32768), "-32768", "min");
	put(&l, ferry_value_int(32767), "32767", "max");
	put(&l, ferry_value_int(0), "0", "zero");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "smallint", &l);
	l.n = 0;
	put(&l, ferry_value_int(INT32_MIN), "-2147483648", "min");
	put(&l, ferry_value_int(INT32_MAX), "2147483647", "max");
	put(&l, ferry_value_int(-1), "-1", "-1");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "integer", &l);
	l.n = 0;
	put(&l, ferry_value_int(INT64_MIN), "-9223372036854775808", "min");
	put(&l, ferry_value_int(INT64_MAX), "9223372036854775807", "max");
	put(&l, ferry_value_int(0), "0", "zero");
	put(&l, ferry_value_int(1234567890123), "1234567890123", "13 digits");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "bigint", &l);
}

static void check_floats(ferry_target *t, const char *fmt)
{
	vlist l = {.n = 0};
	put(&l, ferry_value_float(0.1), "0.1", "0.1");
	put(&l, ferry_value_float(-0.0), "-0", "-0.0");
	put(&l, ferry_value_float(0.0), "0", "0.0");
	put(&l, ferry_value_float(1e-300), "1e-300", "1e-300");
	put(&l, ferry_value_float(1e300), "1e+300", "1e300");
	put(&l, ferry_value_float(NAN), "NaN", "NaN");
	put(&l, ferry_value_float(INFINITY), "Infinity", "Infinity");
	put(&l, ferry_value_float(-INFINITY), "-Infinity", "-Infinity");
	put(&l, ferry_value_float(1.0 / 3), "0.3333333333333333", "1/3");
	put(&l, ferry_value_float(2.0 / 3), "0.6666666666666666", "2/3");
	put(&l, ferry_value_float(-42), "-42", "integral");
	put(&l, ferry_value_float(1e15), "1e+15", "1e15");
	put(&l, ferry_value_float(123456.789), "123456.789", "123456.789");
	put(&l, ferry_value_float(5e-324), "5e-324", "denormal min");
	put(&l, ferry_value_float(1.7976931348623157e308),
	    "1.7976931348623157e+308", "max");
	put(&l, ferry_value_float(0.30000000000000004), "0.30000000000000004",
	    "0.1+0.2");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "double precision", &l);
	l.n = 0;
	put(&l, ferry_value_float((double)0.1f), "0.1", "0.1f");
	put(&l, ferry_value_float(-0.0), "-0", "-0.0");
	put(&l, ferry_value_float((double)3.4028235e38f), "3.4028235e+38", "max");
	put(&l, ferry_value_float((double)(1.0f / 3)), "0.33333334", "1/3");
	put(&l, ferry_value_float(NAN), "NaN", "NaN");
	put(&l, ferry_value_float(-INFINITY), "-Infinity", "-Infinity");
	put(&l, ferry_value_float(16777216), "1.6777216e+07", "2^24");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "real", &l);
}

static void check_numerics(ferry_target *t, const char *fmt)
{
	static const char *const same[] = {
		"19.99", "0.00", "-123.4500", "12345678901234567890123456789012345678",
		"-0.000000012345", "NaN", "Infinity", "-Infinity", "0.0001", "10000",
		"99999999.99999999", "12345678901234567890.123456789012345678",
		"-1", "1.00000000000000000001", "0", "0.00001234", "100000000",
		"1234.5678", "-99999999999999999999.99999999999999999999",
		"0.1", "9999", "10000.0001",
	};
	vlist l = {.n = 0};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++)
		put(&l, txt(FERRY_NUMERIC, same[i]), same[i], same[i]);
	put(&l, txt(FERRY_NUMERIC, "1.5e3"), "1500", "1.5e3");
	put(&l, txt(FERRY_NUMERIC, "1E-3"), "0.001", "1E-3");
	put(&l, txt(FERRY_NUMERIC, "-0.00"), "0.00", "-0.00");
	put(&l, txt(FERRY_NUMERIC, "+7.50"), "7.50", "+7.50");
	put(&l, txt(FERRY_NUMERIC, "1e20"), "100000000000000000000", "1e20");
	put(&l, txt(FERRY_NUMERIC, ".5"), "0.5", ".5");
	put(&l, txt(FERRY_NUMERIC, "-inf"), "-Infinity", "-inf");
	put(&l, txt(FERRY_NUMERIC, "123e-10"), "0.0000000123", "123e-10");
	put(&l, txt(FERRY_NUMERIC, "7E+0"), "7", "7E+0");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "numeric", &l);
	l.n = 0;
	put(&l, txt(FERRY_NUMERIC, "19.99"), "19.99", "19.99");
	put(&l, txt(FERRY_NUMERIC, "0.00"), "0.00", "0.00");
	put(&l, txt(FERRY_NUMERIC, "5"), "5.00", "5 gets the scale");
	put(&l, txt(FERRY_NUMERIC, "-9999999999.99"), "-9999999999.99", "min");
	put(&l, txt(FERRY_NUMERIC, "NaN"), "NaN", "NaN");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "numeric(12,2)", &l);
}

/* 100 KB of text with every COPY special sprinkled in. */
static char *long_text(void)
{
	static const char piece[] = "abc\\def\tghi\njkl\rmno\\N 漢字 ";
	size_t n = 0, cap = 100 * 1024;
	char *s = malloc(cap + sizeof piece);
	while (n < cap) {
		memcpy(s + n, piece, sizeof piece - 1);
		n += sizeof piece - 1;
	}
	s[n] = '\0';
	return s;
}

static void check_texts(ferry_target *t, const char *fmt)
{
	static const char *const same[] = {
		"", "plain", "tab\there", "new\nline", "back\\slash", "cr\rhere",
		"\\N", "\\.", "\\", "trailing\\", "a\r\n\tb\\\\c",
		"漢字 עברית مرحبا 🎉👩‍👩‍👧", "\x01\x02\x1b\x7f controls",
		"  spaces  ", "NULL", "'quoted' \"double\"",
	};
	char *big = long_text();
	vlist l = {.n = 0};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		const char *label = i == 0 ? "empty" : NULL;
		put(&l, txt(FERRY_TEXT, same[i]), same[i], label ? label : "special");
	}
	put(&l, txt(FERRY_TEXT, big), big, "100 KB");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "text", &l);
	l.n = 0;
	put(&l, txt(FERRY_TEXT, "short"), "short", "short");
	put(&l, txt(FERRY_TEXT, "12345678901234567890"), "12345678901234567890",
	    "full length");
	put(&l, txt(FERRY_TEXT, "ü€𝄞"), "ü€𝄞", "multibyte");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "varchar(20)", &l);
	l.n = 0;
	put(&l, txt(FERRY_TEXT, "ab"), "ab   ", "padded");
	put(&l, txt(FERRY_TEXT, "abcde"), "abcde", "full");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "char(5)", &l);
	free(big);
}

/* Text with each special byte at every offset around the 8-byte words
 * the escaper scans by. */
static void fill_offsets(ferry_row *row, int i, void *arg)
{
	static char text[32];
	static const char specials[] = "\t\n\r\\\x01\x0d\x1f~";
	(void)arg;
	memset(text, 'a', 24);
	text[24] = '\0';
	text[i % 24] = specials[i / 24];
	row->values[0] = ferry_value_int(i);
	row->values[1] = txt(FERRY_TEXT, text + i % 5);
}

static void check_escape_offsets(ferry_target *t, const char *fmt)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = new_table(&s, "offsets");
	add_col(tb, "n", "integer");
	add_col(tb, "v", "text");
	int64_t n = 0;
	int rc = load(t, tb, FERRY_EXISTING_DROP, 8 * 24, fill_offsets, NULL, &n,
	              &err);
	PGresult *res = PQexec(admin, "SELECT v FROM offsets ORDER BY n");
	int same = rc == 0 && PQntuples(res) == 8 * 24;
	ferry_row row = FERRY_ROW_INIT;
	ferry_row_resize(&row, 2, &err);
	for (int i = 0; same && i < 8 * 24; i++) {
		fill_offsets(&row, i, NULL);
		same = strcmp(PQgetvalue(res, i, 0), row.values[1].u.s.ptr) == 0;
		if (!same)
			tap_diag("row %d differs", i);
	}
	ok(same, "special bytes at every offset read back exactly (%s)", fmt);
	PQclear(res);
	ferry_row_free(&row);
	ferry_error_clear(&err);
	free_tables(&s);
}

static void check_bytea(ferry_target *t, const char *fmt)
{
	static const char nuls[] = {0, 1, 2, 0, (char)0xff, '\\', '\n', 0};
	uint8_t all[256];
	char all_hex[2 + 512 + 1] = "\\x";
	for (int i = 0; i < 256; i++) {
		all[i] = (uint8_t)i;
		snprintf(all_hex + 2 + 2 * i, 3, "%02x", i);
	}
	vlist l = {.n = 0};
	put(&l, ferry_value_bytes(FERRY_BLOB, nuls, sizeof nuls),
	    "\\x00010200ff5c0a00", "with NULs");
	put(&l, ferry_value_bytes(FERRY_BLOB, "", 0), "\\x", "empty");
	put(&l, ferry_value_bytes(FERRY_BLOB, all, sizeof all), all_hex,
	    "every byte");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "bytea", &l);
}

static void check_bool_uuid_json(ferry_target *t, const char *fmt)
{
	vlist l = {.n = 0};
	put(&l, ferry_value_bool(true), "t", "true");
	put(&l, ferry_value_bool(false), "f", "false");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "boolean", &l);
	static const uint8_t u0[16] = {0}, u1[16] = {
		0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
		0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
	uint8_t uf[16];
	memset(uf, 0xff, sizeof uf);
	l.n = 0;
	put(&l, ferry_value_uuid(u0), "00000000-0000-0000-0000-000000000000",
	    "nil");
	put(&l, ferry_value_uuid(u1), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	    "v4");
	put(&l, ferry_value_uuid(uf), "ffffffff-ffff-ffff-ffff-ffffffffffff",
	    "max");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "uuid", &l);
	static const char doc[] = "{\"b\":1, \"a\": [1, 2.50, \"x\\ty\\\\z\"],"
	                          " \"u\": \"漢字🎉\"}";
	l.n = 0;
	put(&l, txt(FERRY_JSON, doc), doc, "object kept as written");
	put(&l, txt(FERRY_JSON, "null"), "null", "json null");
	put(&l, txt(FERRY_JSON, "\"line\\nbreak\""), "\"line\\nbreak\"",
	    "escaped string");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "json", &l);
	l.n = 0;
	put(&l, txt(FERRY_JSON, doc),
	    "{\"a\": [1, 2.50, \"x\\ty\\\\z\"], \"b\": 1, \"u\": \"漢字🎉\"}",
	    "object normalized");
	put(&l, txt(FERRY_JSON, "[]"), "[]", "empty array");
	put(&l, txt(FERRY_JSON, "\"line\\nbreak\""), "\"line\\nbreak\"",
	    "escaped string");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "jsonb", &l);
}

static void check_dates(ferry_target *t, const char *fmt)
{
	vlist l = {.n = 0};
	put(&l, date(2024, 2, 29), "2024-02-29", "leap day");
	put(&l, ferry_value_date(0), "1970-01-01", "epoch");
	put(&l, ferry_value_date(-1), "1969-12-31", "day before epoch");
	put(&l, date(2000, 1, 1), "2000-01-01", "PostgreSQL epoch");
	put(&l, date(-43, 3, 15), "0044-03-15 BC", "44 BC");
	put(&l, date(0, 12, 31), "0001-12-31 BC", "1 BC");
	put(&l, date(1, 1, 1), "0001-01-01", "1 AD");
	put(&l, date(-4712, 1, 1), "4713-01-01 BC", "4713 BC");
	put(&l, date(9999, 12, 31), "9999-12-31", "9999");
	put(&l, date(12345, 6, 7), "12345-06-07", "five-digit year");
	put(&l, ferry_value_date(FERRY_DATE_PINF), "infinity", "infinity");
	put(&l, ferry_value_date(FERRY_DATE_NINF), "-infinity", "-infinity");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, "date", &l);
}

static void check_timestamps(ferry_target *t, const char *fmt, bool tz)
{
	ferry_type ty = tz ? FERRY_TIMESTAMPTZ : FERRY_TIMESTAMP;
	const char *z = tz ? "+00" : "";
	char w[10][64];
	vlist l = {.n = 0};
	snprintf(w[0], 64, "2024-02-29 12:34:56.123456%s", z);
	put(&l, ts(ty, 2024, 2, 29, 12, 34, 56, 123456), w[0], "microseconds");
	snprintf(w[1], 64, "1970-01-01 00:00:00%s", z);
	put(&l, ferry_value_timestamp(ty, 0), w[1], "epoch");
	snprintf(w[2], 64, "1969-12-31 23:59:59.999999%s", z);
	put(&l, ferry_value_timestamp(ty, -1), w[2], "negative epoch");
	snprintf(w[3], 64, "2000-01-01 00:00:00.000001%s", z);
	put(&l, ts(ty, 2000, 1, 1, 0, 0, 0, 1), w[3], "PostgreSQL epoch + 1us");
	snprintf(w[4], 64, "1900-01-01 00:00:00.5%s", z);
	put(&l, ts(ty, 1900, 1, 1, 0, 0, 0, 500000), w[4], "1900");
	snprintf(w[5], 64, "0044-03-15 12:00:00%s BC", z);
	put(&l, ts(ty, -43, 3, 15, 12, 0, 0, 0), w[5], "44 BC");
	snprintf(w[6], 64, "294246-12-31 23:59:59.999999%s", z);
	put(&l, ts(ty, 294246, 12, 31, 23, 59, 59, 999999), w[6], "year 294246");
	put(&l, ferry_value_timestamp(ty, FERRY_TS_PINF), "infinity", "infinity");
	put(&l, ferry_value_timestamp(ty, FERRY_TS_NINF), "-infinity",
	    "-infinity");
	put(&l, ferry_value_null(), NULL, "null");
	check_type(t, fmt, tz ? "timestamptz" : "timestamp", &l);
}

static void check_all_types(const char *fmt)
{
	ferry_target *t = open_target(fmt);
	if (!ok(t != NULL, "open with FERRY_PG_COPY_FORMAT=%s", fmt))
		return;
	check_integers(t, fmt);
	check_floats(t, fmt);
	check_numerics(t, fmt);
	check_texts(t, fmt);
	check_escape_offsets(t, fmt);
	check_bytea(t, fmt);
	check_bool_uuid_json(t, fmt);
	check_dates(t, fmt);
	check_timestamps(t, fmt, false);
	check_timestamps(t, fmt, true);
	ops->close(t);
}

/* ---- names ------------------------------------------------------------ */

static void fill_names(ferry_row *row, int i, void *arg)
{
	static const char *const words[] = {"one", "two \"2\"", "three\tx"};
	(void)arg;
	row->values[0] = ferry_value_int(i + 1);
	row->values[1] = txt(FERRY_TEXT, words[i % 3]);
	row->values[2] = ferry_value_int(i % 2 + 1);
	row->values[3] = ferry_value_bool(i % 2);
}

static void check_names(const char *fmt)
{
	ferry_target *t = open_target(fmt);
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	char tname[64], uname[64];
	snprintf(tname, sizeof tname, "select %s", fmt);
	snprintf(uname, sizeof uname, "Mixed \"Q\" Table %s", fmt);
	ferry_table *sel = new_table(&s, "select");
	add_col(sel, "from", "integer")->pk_position = 1;
	add_col(sel, "Mixed Case", "text");
	add_col(sel, "quo\"te", "integer");
	add_col(sel, "user", "boolean");
	char iname[64];
	snprintf(iname, sizeof iname, "Idx \"odd\" name %s", fmt);
	add_index(sel, iname, false, NULL, 1, names(1, "Mixed Case"));
	ferry_free(sel->name);
	sel->name = ferry_strdup(tname);
	ferry_table *mixed = new_table(&s, uname);
	add_col(mixed, "from", "integer");
	add_col(mixed, "ORDER", "text");
	add_col(mixed, "quo\"te", "integer");
	add_col(mixed, "group by", "boolean");
	add_fkey(mixed, NULL, "quo\"te", tname, "from", NULL);
	int64_t n = 0;
	int rc = load(t, sel, FERRY_EXISTING_DROP, 3, fill_names, NULL, &n, &err);
	if (rc == 0)
		rc = load(t, mixed, FERRY_EXISTING_DROP, 3, fill_names, NULL, &n,
		          &err);
	if (rc == 0)
		rc = ops->finish_table(t, sel, &err);
	if (rc == 0)
		rc = ops->finish_table(t, mixed, &err);
	if (rc == 0)
		rc = ops->add_foreign_keys(t, mixed, &err);
	if (!ok(rc == 0, "reserved, mixed-case, spaced and quoted names (%s)",
	        fmt))
		tap_diag("%s", ferry_error_message(&err));
	char q[512];
	snprintf(q, sizeof q, "SELECT string_agg(%s || '|' || %s, ',' ORDER BY "
	         "%s) FROM %s", qi("quo\"te"), qi("ORDER"), qi("from"),
	         qi(uname));
	is_str(val("%s", q), "1|one,2|two \"2\",1|three\tx",
	       "values under odd names read back (%s)", fmt);
	is_str(val("SELECT indexdef FROM pg_indexes WHERE schemaname = '%s' AND "
	           "indexname = '%s'", schema, iname),
	       val("SELECT 'CREATE INDEX %s ON %s.%s USING btree "
	           "(\"Mixed Case\")'", qi(iname), schema, qi(tname)),
	       "index with an odd name on an odd column (%s)", fmt);
	is_str(val("SELECT conname FROM pg_constraint WHERE contype = 'f' AND "
	           "conrelid = '%s.%s'::regclass", schema, qi(uname)),
	       val("SELECT '%s_quo\"te_fkey'", uname),
	       "generated foreign key name (%s)", fmt);
	ferry_error_clear(&err);
	free_tables(&s);
	ops->close(t);
}

/* ---- existing tables --------------------------------------------------- */

static void fill_two(ferry_row *row, int i, void *arg)
{
	(void)arg;
	row->values[0] = ferry_value_int(i + 1);
	row->values[1] = txt(FERRY_TEXT, i % 2 ? "odd" : "even");
}

static ferry_table *two_col_table(tlist *s, const char *name)
{
	ferry_table *tb = new_table(s, name);
	add_col(tb, "a", "integer");
	add_col(tb, "b", "text");
	return tb;
}

static void check_refuse(ferry_target *t)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = two_col_table(&s, "Full Table");
	is_int(ops->check_table(t, tb, FERRY_EXISTING_REFUSE, &err), 0,
	       "check_table accepts a missing table");
	sqlf("CREATE TABLE \"Full Table\" (a integer, b text); "
	     "INSERT INTO \"Full Table\" VALUES (1, 'x')");
	is_int(ops->check_table(t, tb, FERRY_EXISTING_REFUSE, &err), FERRY_EINVAL,
	       "check_table refuses a non-empty table");
	is_str(ferry_error_message(&err),
	       "target table \"Full Table\" is not empty: use --truncate to empty "
	       "it or --drop to recreate it", "the refusal names the options");
	is_int(ops->prepare_table(t, tb, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "prepare_table refuses it too");
	is_int(count_rows("Full Table"), 1, "the refused table is untouched");
	is_int(ops->check_table(t, tb, FERRY_EXISTING_TRUNCATE, &err), 0,
	       "check_table accepts it for --truncate");
	is_int(ops->check_table(t, tb, FERRY_EXISTING_DROP, &err), 0,
	       "check_table accepts it for --drop");
	sqlf("CREATE VIEW \"A View\" AS SELECT 1 AS a, 'b'::text AS b");
	ferry_table *view = two_col_table(&s, "A View");
	is_int(ops->check_table(t, view, FERRY_EXISTING_DROP, &err), FERRY_EINVAL,
	       "check_table refuses a view of the table's name");
	ok(strstr(ferry_error_message(&err), "exists and is not a table") != NULL,
	   "the message says it is not a table");
	ferry_error_clear(&err);
	free_tables(&s);
}

static void check_reuse(ferry_target *t)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = two_col_table(&s, "empty one");
	sqlf("CREATE TABLE \"empty one\" (a integer CHECK (a < 100), b text)");
	is_int(ops->check_table(t, tb, FERRY_EXISTING_REFUSE, &err), 0,
	       "check_table accepts an empty table with the same columns");
	int64_t n = 0;
	int rc = load(t, tb, FERRY_EXISTING_REFUSE, 4, fill_two, NULL, &n, &err);
	if (!ok(rc == 0 && n == 4, "an empty existing table is reused"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT count(*) FROM pg_constraint WHERE conrelid = "
	           "'\"empty one\"'::regclass AND contype = 'c'"), "1",
	       "the reused table keeps its definition");
	sqlf("CREATE TABLE \"other cols\" (a integer, c text)");
	ferry_table *other = two_col_table(&s, "other cols");
	is_int(ops->check_table(t, other, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "check_table refuses other column names");
	is_str(ferry_error_message(&err),
	       "target table \"other cols\" exists with other columns (column 2 "
	       "is \"c\", not \"b\"): use --drop to recreate it",
	       "the message suggests --drop");
	sqlf("CREATE TABLE \"more cols\" (a integer, b text, c text)");
	ferry_table *more = two_col_table(&s, "more cols");
	is_int(ops->prepare_table(t, more, FERRY_EXISTING_REFUSE, &err),
	       FERRY_EINVAL, "prepare_table refuses an extra column");
	ok(strstr(ferry_error_message(&err), "use --drop") != NULL,
	   "that message suggests --drop too");
	/* a reused table whose types differ from the plan: binary cannot
	 * send bigint values into numeric, so the table goes as text */
	sqlf("CREATE TABLE \"typed\" (a numeric(20,0), b varchar(10))");
	ferry_table *typed = two_col_table(&s, "typed");
	typed->columns[0].type.kind = FERRY_SQL_BIGINT;
	rc = load(t, typed, FERRY_EXISTING_REFUSE, 3, fill_two, NULL, &n, &err);
	if (!ok(rc == 0 && n == 3, "a reused table with other types loads"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT string_agg(a || b, ',' ORDER BY a) FROM typed"),
	       "1even,2odd,3even", "its values convert on the server");
	ferry_error_clear(&err);
	free_tables(&s);
}

static void check_truncate_drop(ferry_target *t)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = two_col_table(&s, "kept");
	sqlf("CREATE TABLE kept (a integer CHECK (a > 0), b text); "
	     "INSERT INTO kept SELECT g, 'old' FROM generate_series(1, 50) g");
	int64_t n = 0;
	int rc = load(t, tb, FERRY_EXISTING_TRUNCATE, 3, fill_two, NULL, &n,
	              &err);
	if (!ok(rc == 0 && n == 3, "--truncate empties and reloads"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT count(*) || ' ' || count(*) FILTER (WHERE b = 'old') "
	           "FROM kept"), "3 0", "only the new rows are left");
	is_str(val("SELECT count(*) FROM pg_constraint WHERE conrelid = "
	           "'kept'::regclass AND contype = 'c'"), "1",
	       "--truncate keeps the table's definition");
	sqlf("CREATE TABLE dropped (a integer, legacy text, b text); "
	     "INSERT INTO dropped VALUES (9, 'x', 'y')");
	ferry_table *dr = two_col_table(&s, "dropped");
	rc = load(t, dr, FERRY_EXISTING_DROP, 2, fill_two, NULL, &n, &err);
	if (!ok(rc == 0 && n == 2, "--drop recreates and reloads"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT string_agg(attname, ',' ORDER BY attnum) FROM "
	           "pg_attribute WHERE attrelid = 'dropped'::regclass AND "
	           "attnum > 0 AND NOT attisdropped"), "a,b",
	       "the recreated table has the planned columns");
	is_int(count_rows("dropped"), 2, "and only the new rows");
	/* TRUNCATE without CASCADE: a referencing table blocks it */
	sqlf("CREATE TABLE parent_t (a integer PRIMARY KEY, b text); "
	     "INSERT INTO parent_t VALUES (1, 'p'); "
	     "CREATE TABLE child_t (p integer REFERENCES parent_t); "
	     "INSERT INTO child_t VALUES (1)");
	ferry_table *pt = two_col_table(&s, "parent_t");
	is_int(ops->prepare_table(t, pt, FERRY_EXISTING_TRUNCATE, &err),
	       FERRY_ERROR, "--truncate of a referenced table fails");
	ok(starts_with(ferry_error_message(&err),
	               "could not truncate table \"parent_t\": cannot truncate "
	               "a table referenced in a foreign key constraint"),
	   "with PostgreSQL's reason");
	tap_diag("%s", ferry_error_message(&err));
	is_int(count_rows("parent_t"), 1, "the referenced table keeps its rows");
	ferry_error_clear(&err);
	free_tables(&s);
}

/* ---- finish_table ------------------------------------------------------ */

static void fill_items(ferry_row *row, int i, void *arg)
{
	(void)arg;
	static char code[16];
	snprintf(code, sizeof code, "c%d", i);
	row->values[0] = ferry_value_int(i < 5 ? i + 1 : 100);
	row->values[1] = txt(FERRY_TEXT, code);
	row->values[2] = ferry_value_int(i % 3);
	row->values[3] = ferry_value_bool(i == 2);
}

static ferry_table *items_table(tlist *s, const char *name,
                                const char *idtype)
{
	ferry_table *tb = new_table(s, name);
	ferry_column *id = add_col(tb, "id", idtype);
	id->pk_position = 1;
	id->autoincrement = true;
	add_col(tb, "code", "text")->not_null = true;
	add_col(tb, "grp", "integer");
	add_col(tb, "deleted", "boolean")->default_sql = ferry_strdup("false");
	add_index(tb, "items_code_key", true, NULL, 1, names(1, "code"));
	add_index(tb, "idx_grp", false, NULL, 2, names(2, "grp", "code"));
	add_index(tb, "idx_live", false, "NOT deleted", 1, names(1, "grp"));
	add_index(tb, NULL, true, NULL, 2, names(2, "grp", "id"));
	return tb;
}

static const char *indexes_of(const char *table)
{
	return val("SELECT string_agg(c.relname || CASE WHEN i.indisprimary "
	           "THEN ':pk' WHEN i.indisunique THEN ':unique' ELSE '' END || "
	           "CASE WHEN i.indpred IS NOT NULL THEN ':' || "
	           "pg_get_expr(i.indpred, i.indrelid) ELSE '' END, ',' ORDER "
	           "BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = "
	           "i.indexrelid WHERE i.indrelid = '%s'::regclass", table);
}

static void check_finish(ferry_target *t)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	sqlf("CREATE TABLE squatter (x integer); "
	     "CREATE INDEX idx_grp ON squatter (x)");
	ferry_table *tb = items_table(&s, "items", "bigint");
	int64_t n = 0;
	int rc = load(t, tb, FERRY_EXISTING_DROP, 6, fill_items, NULL, &n, &err);
	if (rc == 0)
		rc = ops->finish_table(t, tb, &err);
	if (!ok(rc == 0, "finish_table adds keys, indexes and identity"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(indexes_of("items"),
	       "idx_grp_1,idx_live:(NOT deleted),items_code_key:unique,"
	       "items_grp_id_key:unique,items_pkey:pk",
	       "primary key, unique, secondary and partial indexes; a taken "
	       "name gets a suffix");
	is_str(val("SELECT pg_get_indexdef('idx_grp_1'::regclass)"),
	       val("SELECT 'CREATE INDEX idx_grp_1 ON %s.items USING btree "
	           "(grp, code)'", schema), "columns in index order");
	is_str(val("INSERT INTO items (code) VALUES ('new') RETURNING id"), "101",
	       "the identity continues after the largest id");
	ok(sql_fails("INSERT INTO items (code) VALUES ('c0')"),
	   "the unique index is enforced");
	is_str(val("SELECT deleted FROM items WHERE code = 'new'"), "f",
	       "the column default applies");
	rc = ops->finish_table(t, tb, &err);
	if (!ok(rc == 0, "finish_table again (a reused table) succeeds"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT count(*) FROM pg_index WHERE indrelid = "
	           "'items'::regclass"), "5", "and adds no duplicate index");
	/* an empty table with an integer identity starts at 1 */
	ferry_table *empty = items_table(&s, "items_empty", "integer");
	for (uint32_t i = 0; i < empty->nindexes; i++) {
		ferry_free(empty->indexes[i].name);
		empty->indexes[i].name = NULL; /* generated names */
	}
	rc = load(t, empty, FERRY_EXISTING_DROP, 0, fill_items, NULL, &n, &err);
	if (rc == 0)
		rc = ops->finish_table(t, empty, &err);
	if (!ok(rc == 0, "finish_table on an empty table"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT format_type(atttypid, atttypmod) || ' ' || "
	           "attidentity::text FROM pg_attribute WHERE attrelid = "
	           "'items_empty'::regclass AND attname = 'id'"), "integer d",
	       "an integer autoincrement column is an integer identity");
	is_str(val("INSERT INTO items_empty (code) VALUES ('x') RETURNING id"),
	       "1", "an empty table's identity starts at 1");
	is_str(indexes_of("items_empty"),
	       "items_empty_code_key:unique,items_empty_grp_code_idx,"
	       "items_empty_grp_id_key:unique,items_empty_grp_idx:(NOT deleted),"
	       "items_empty_pkey:pk", "unnamed indexes get PostgreSQL-style names");
	ferry_error_clear(&err);
	free_tables(&s);
}

/* ---- foreign keys ------------------------------------------------------ */

static void fill_child(ferry_row *row, int i, void *arg)
{
	const int64_t *parents = arg;
	row->values[0] = ferry_value_int(i + 1);
	row->values[1] = ferry_value_int(parents[i]);
}

static void check_fkeys(ferry_target *t)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *p = new_table(&s, "parent");
	add_col(p, "id", "integer")->pk_position = 1;
	add_col(p, "b", "text");
	ferry_table *good = new_table(&s, "child");
	add_col(good, "id", "integer");
	add_col(good, "parent_id", "integer");
	add_fkey(good, NULL, "parent_id", "parent", "id", "cascade");
	add_fkey(good, "child_parent_pk", "parent_id", "parent", NULL, NULL);
	ferry_table *bad = new_table(&s, "child2");
	add_col(bad, "id", "integer");
	add_col(bad, "parent_id", "integer");
	add_fkey(bad, NULL, "parent_id", "parent", "id", NULL);
	int64_t n = 0, good_refs[3] = {1, 2, 2}, bad_refs[3] = {1, 999, 2};
	int rc = load(t, p, FERRY_EXISTING_DROP, 3, fill_two, NULL, &n, &err);
	if (rc == 0)
		rc = ops->finish_table(t, p, &err);
	if (rc == 0)
		rc = load(t, good, FERRY_EXISTING_DROP, 3, fill_child, good_refs, &n,
		          &err);
	if (rc == 0)
		rc = load(t, bad, FERRY_EXISTING_DROP, 3, fill_child, bad_refs, &n,
		          &err);
	if (rc == 0)
		rc = ops->add_foreign_keys(t, good, &err);
	if (!ok(rc == 0, "valid foreign keys are added"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(val("SELECT string_agg(conname || ':' || convalidated || ':' || "
	           "confdeltype::text, ',' ORDER BY conname) FROM pg_constraint WHERE "
	           "conrelid = 'child'::regclass"),
	       "child_parent_id_fkey:true:c,child_parent_pk:true:a",
	       "named and generated, validated, with their actions");
	is_int(ops->add_foreign_keys(t, good, &err), 0,
	       "adding them again (a reused table) is a no-op");
	rc = ops->add_foreign_keys(t, bad, &err);
	is_int(rc, FERRY_EREJECT, "a violated foreign key is a reject");
	is_str(ferry_error_message(&err),
	       "foreign key \"child2_parent_id_fkey\" on \"child2\" is violated "
	       "by existing rows, left NOT VALID: insert or update on table "
	       "\"child2\" violates foreign key constraint "
	       "\"child2_parent_id_fkey\"; detail: Key (parent_id)=(999) is not "
	       "present in table \"parent\".", "the reject says which and why");
	is_str(val("SELECT convalidated FROM pg_constraint WHERE conname = "
	           "'child2_parent_id_fkey'"), "f",
	       "the violated constraint is left NOT VALID");
	ok(sql_fails("INSERT INTO child2 VALUES (9, 12345)"),
	   "and still checks new rows");
	ferry_fkey *odd = add_fkey(bad, "odd", "id", "parent", "id", "EXPLODE");
	(void)odd;
	sqlf("DELETE FROM child2 WHERE parent_id = 999");
	is_int(ops->add_foreign_keys(t, bad, &err), FERRY_EINVAL,
	       "an unknown referential action is refused");
	ok(strstr(ferry_error_message(&err), "unknown action \"EXPLODE\""),
	   "naming the action");
	is_str(val("SELECT convalidated FROM pg_constraint WHERE conname = "
	           "'child2_parent_id_fkey'"), "t",
	       "a NOT VALID key is validated again once the rows are fixed");
	ferry_error_clear(&err);
	free_tables(&s);
}

static void fill_nothing(ferry_row *row, int i, void *arg)
{
	(void)row;
	(void)i;
	(void)arg;
}

/* CREATE TABLE "t" () is valid, and COPY needs no column list for it. */
static void check_no_columns(const char *fmt)
{
	ferry_target *t = open_target(fmt);
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = new_table(&s, "no columns");
	int64_t n = 0;
	int rc = load(t, tb, FERRY_EXISTING_DROP, 4, fill_nothing, NULL, &n, &err);
	if (!ok(rc == 0 && n == 4, "a table without columns loads (%s)", fmt))
		tap_diag("%s", ferry_error_message(&err));
	is_int(count_rows("no columns"), 4, "with every row (%s)", fmt);
	ferry_error_clear(&err);
	free_tables(&s);
	ops->close(t);
}

/* ---- failures during a copy -------------------------------------------- */

static void fill_wide(ferry_row *row, int i, void *arg)
{
	static const char pad[] = "..........................................."
	                          "..........................................";
	(void)arg;
	row->values[0] = ferry_value_int(i);
	row->values[1] = txt(FERRY_TEXT, pad);
}

static void check_abort(const char *fmt)
{
	ferry_target *t = open_target(fmt);
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = two_col_table(&s, "aborted");
	ferry_row row = FERRY_ROW_INIT;
	ferry_row_resize(&row, 2, &err);
	int rc = ops->prepare_table(t, tb, FERRY_EXISTING_DROP, &err);
	if (rc == 0)
		rc = ops->copy_begin(t, tb, &err);
	/* the hot path must not allocate: every allocation would fail */
	ferry_alloc_fail_at(1, 1);
	for (int i = 0; rc == 0 && i < 20000; i++) { /* > 2 MB: flushed */
		fill_wide(&row, i, NULL);
		rc = ops->copy_row(t, &row, &err);
	}
	long allocations = ferry_alloc_failures();
	ferry_alloc_fail_at(0, 0);
	ok(rc == 0 && allocations == 0, "20000 rows streamed, with flushes, "
	   "without one allocation (%s)", fmt);
	ops->copy_abort(t);
	is_int(count_rows("aborted"), 0, "an aborted copy leaves the table empty "
	       "(%s)", fmt);
	int64_t n = 0;
	rc = load(t, tb, FERRY_EXISTING_REFUSE, 3, fill_two, NULL, &n, &err);
	ok(rc == 0 && n == 3, "the connection is usable after the abort (%s)",
	   fmt);
	/* a value of the wrong type is the caller's bug: refused, no crash */
	rc = ops->copy_begin(t, tb, &err);
	row.values[0] = ferry_value_int(7);
	row.values[1] = ferry_value_int(8);
	if (rc == 0)
		rc = ops->copy_row(t, &row, &err);
	is_int(rc, FERRY_EINVAL, "a value of the wrong type is refused (%s)", fmt);
	is_str(ferry_error_message(&err), "could not copy into table \"aborted\": "
	       "column \"b\" got a int value, expected text",
	       "naming table and column (%s)", fmt);
	row.ncols = 1;
	is_int(ops->copy_row(t, &row, &err), FERRY_EINVAL,
	       "a row of the wrong width is refused (%s)", fmt);
	row.ncols = 2;
	ops->copy_abort(t);
	ops->copy_abort(t); /* twice is harmless */
	is_int(count_rows("aborted"), 3, "the earlier rows are intact (%s)", fmt);
	ferry_row_free(&row);
	ferry_error_clear(&err);
	free_tables(&s);
	ops->close(t);
}

static void fill_nulls(ferry_row *row, int i, void *arg)
{
	(void)arg;
	row->values[0] = ferry_value_int(i);
	row->values[1] = i == 2 ? ferry_value_null() : txt(FERRY_TEXT, "x");
}

static void check_server_error(const char *fmt)
{
	ferry_target *t = open_target(fmt);
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = two_col_table(&s, "nn");
	tb->columns[1].not_null = true;
	int64_t n = -1;
	int rc = load(t, tb, FERRY_EXISTING_DROP, 5, fill_nulls, NULL, &n, &err);
	is_int(rc, FERRY_ERROR, "a row the server refuses fails the copy (%s)",
	       fmt);
	const char *msg = ferry_error_message(&err);
	ok(starts_with(msg, "could not copy into table \"nn\": null value in "
	               "column \"b\" of relation \"nn\" violates not-null "
	               "constraint") &&
	       strstr(msg, "; context: COPY nn, line 3") && !strchr(msg, '\n'),
	   "the message names the table, has PostgreSQL's reason and context, "
	   "on one line (%s)", fmt);
	tap_diag("%s", msg);
	is_int(count_rows("nn"), 0, "nothing of the failed copy remains (%s)", fmt);
	rc = load(t, tb, FERRY_EXISTING_REFUSE, 2, fill_nulls, NULL, &n, &err);
	ok(rc == 0 && n == 2, "the connection is usable afterwards (%s)", fmt);
	if (strcmp(fmt, "binary") == 0) {
		ferry_table *small = new_table(&s, "small");
		add_col(small, "a", "smallint");
		add_col(small, "b", "text");
		ferry_row row = FERRY_ROW_INIT;
		ferry_row_resize(&row, 2, &err);
		row.values[0] = ferry_value_int(40000);
		row.values[1] = txt(FERRY_TEXT, "x");
		rc = ops->prepare_table(t, small, FERRY_EXISTING_DROP, &err);
		if (rc == 0 && (rc = ops->copy_begin(t, small, &err)) == 0) {
			rc = ops->copy_row(t, &row, &err);
			ops->copy_abort(t);
		}
		is_int(rc, FERRY_ERROR, "binary refuses a smallint out of range");
		is_str(ferry_error_message(&err), "could not copy into table "
		       "\"small\": value 40000 cannot be stored in column \"a\" "
		       "of type smallint",
		       "naming the value and column");
		ferry_row_free(&row);
	}
	ferry_error_clear(&err);
	free_tables(&s);
	ops->close(t);
}

/* ---- allocation failures ----------------------------------------------- */

static void fill_oom(ferry_row *row, int i, void *arg)
{
	static const char *const texts[] = {"a", "b\tx", "c\\"};
	(void)arg;
	row->values[0] = ferry_value_int(i + 1);
	row->values[1] = txt(FERRY_TEXT, texts[i % 3]);
	row->values[2] = ferry_value_int(i % 2 + 1);
}

/* The whole life of a target with one allocation failing, for each
 * allocation in turn: ENOMEM or success, never a crash or a leak. */
static int oom_run(const ferry_uri *uri, const ferry_table *tb,
                   ferry_row *row, ferry_error *err)
{
	ferry_target *t = NULL;
	int64_t n = 0;
	int rc = ops->open(&t, uri, err);
	if (rc == 0)
		rc = ops->prepare_table(t, tb, FERRY_EXISTING_DROP, err);
	if (rc == 0)
		rc = ops->copy_begin(t, tb, err);
	for (int i = 0; rc == 0 && i < 3; i++) {
		fill_oom(row, i, NULL);
		rc = ops->copy_row(t, row, err);
	}
	if (rc == 0)
		rc = ops->copy_end(t, &n, err);
	if (rc == 0)
		rc = ops->finish_table(t, tb, err);
	if (rc == 0)
		rc = ops->add_foreign_keys(t, tb, err);
	ops->copy_abort(t);
	ops->close(t);
	return rc;
}

static void check_alloc_failures(const char *fmt)
{
	tlist s = TLIST_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_table *tb = new_table(&s, "oom");
	ferry_column *id = add_col(tb, "id", "bigint");
	id->pk_position = 1;
	id->autoincrement = true;
	add_col(tb, "b", "text");
	add_col(tb, "p", "integer");
	add_index(tb, "oom_b", true, "b <> ''", 1, names(1, "b"));
	add_fkey(tb, NULL, "p", "oom_parent", "id", "cascade");
	sqlf("CREATE TABLE IF NOT EXISTS oom_parent (id integer PRIMARY KEY); "
	     "INSERT INTO oom_parent VALUES (1), (2) ON CONFLICT DO NOTHING");
	setenv("FERRY_PG_COPY_FORMAT", fmt, 1);
	ferry_uri uri;
	ferry_row row = FERRY_ROW_INIT;
	int bad = 0, injected = 0;
	int rc = ferry_uri_parse(&uri, conninfo, &err);
	if (rc == 0 && (rc = ferry_row_resize(&row, 3, &err)) < 0)
		ferry_uri_free(&uri);
	for (long nth = 1; rc == 0 && nth < 10000; nth++) {
		ferry_alloc_fail_at(nth, 0);
		rc = oom_run(&uri, tb, &row, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (failures == 0)
			break;
		injected++;
		if (rc != FERRY_ENOMEM && rc != 0) {
			bad++;
			tap_diag("allocation %ld: rc %d: %s", nth, rc,
			         ferry_error_message(&err));
		}
		ferry_error_clear(&err);
		rc = 0;
	}
	if (injected) {
		ferry_row_free(&row);
		ferry_uri_free(&uri);
	}
	ok(injected > 20 && bad == 0, "each of %d allocation failures is "
	   "FERRY_ENOMEM (%s)", injected, fmt);
	if (!ok(rc == 0, "the run without a failure succeeds (%s)", fmt))
		tap_diag("rc %d: %s", rc, ferry_error_message(&err));
	is_str(val("SELECT count(*) || ' ' || count(DISTINCT b) FROM oom"), "3 3",
	       "and loads every row (%s)", fmt);
	ferry_error_clear(&err);
	free_tables(&s);
}

/* ---- connections ------------------------------------------------------- */

/* A failed connection is FERRY_ECONNLOST: the URI connected when the
 * migration began, so the online commands try again (engine/online.c). */
static void open_must_fail(const char *info, int want, const char *label)
{
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *t = NULL;
	if (ferry_uri_parse(&uri, info, &err) < 0) {
		ok(strstr(ferry_error_message(&err), "S3cr3tX") == NULL,
		   "%s: refused by the URI parser without the password", label);
		ferry_error_clear(&err);
		return;
	}
	int rc = ops->open(&t, &uri, &err);
	const char *msg = ferry_error_message(&err);
	is_int(rc, want, "%s: open fails", label);
	ok(t == NULL && strstr(msg, "S3cr3tX") == NULL && *msg &&
	   !strchr(msg, '\n'), "%s: one-line message without the password",
	   label);
	tap_diag("%s", msg);
	ferry_error_clear(&err);
	ferry_uri_free(&uri);
}

static void check_connections(const char *host)
{
	char info[1024];
	snprintf(info, sizeof info, "host=%s port=1 user=postgres "
	         "password=S3cr3tX dbname=postgres", host);
	open_must_fail(info, FERRY_ECONNLOST, "bad port");
	{
		ferry_uri uri;
		ferry_error err = FERRY_ERROR_INIT;
		ferry_target *t = NULL;
		if (ferry_uri_parse(&uri, info, &err) == 0) {
			ops->open(&t, &uri, &err);
			ok(strncmp(ferry_error_message(&err), "could not connect to \"",
			           22) == 0 &&
			   strstr(ferry_error_message(&err), uri.redacted),
			   "the message names the redacted conninfo");
			ferry_uri_free(&uri);
		}
		ferry_error_clear(&err);
	}
	snprintf(info, sizeof info, "postgresql://postgres:S3cr3tX@/postgres?"
	         "host=%s&port=1", host);
	open_must_fail(info, FERRY_ECONNLOST, "URI with a password");
	snprintf(info, sizeof info, "host=%s port=1 password='S3cr3tX", host);
	open_must_fail(info, FERRY_ERROR, "unterminated quote");
	snprintf(info, sizeof info, "host=%s port=1 password=S3cr3tX "
	         "sslmode=bogus", host);
	open_must_fail(info, FERRY_ECONNLOST, "bad sslmode");
	setenv("FERRY_PG_COPY_FORMAT", "csv", 1);
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *t = NULL;
	if (ferry_uri_parse(&uri, conninfo, &err) == 0) {
		is_int(ops->open(&t, &uri, &err), FERRY_EINVAL,
		       "an unknown FERRY_PG_COPY_FORMAT is refused");
		is_str(ferry_error_message(&err), "invalid FERRY_PG_COPY_FORMAT "
		       "\"csv\": use text or binary", "naming the choices");
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);
	unsetenv("FERRY_PG_COPY_FORMAT");
}

/* ---- main -------------------------------------------------------------- */

static int setup(const char *base)
{
	snprintf(schema, sizeof schema, "ferry_test_%ld", (long)getpid());
	if (strstr(base, "://"))
		snprintf(conninfo, sizeof conninfo, "%s%soptions=-csearch_path%%3D%s",
		         base, strchr(base, '?') ? "&" : "?", schema);
	else
		snprintf(conninfo, sizeof conninfo,
		         "%s options='-csearch_path=%s'", base, schema);
	admin = PQconnectdb(base);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! cannot connect to FERRY_TEST_PG: %s\n",
		       PQerrorMessage(admin));
		return -1;
	}
	if (sqlf("SET client_min_messages = warning; "
	         "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
	         "SET search_path = %s; SET TimeZone = 'UTC'; "
	         "SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1",
	         schema, schema, schema) < 0)
		return -1;
	return 0;
}

int main(void)
{
	const char *base = getenv("FERRY_TEST_PG");
	if (!base || !*base) {
		if (getenv("FERRY_TEST_REQUIRE_SERVERS")) {
			printf("Bail out! FERRY_TEST_PG not set\n");
			return 1;
		}
		printf("1..0 # SKIP FERRY_TEST_PG not set\n");
		return 0;
	}
	if (setup(base) < 0) {
		PQfinish(admin);
		return 1;
	}
	check_all_types("text");
	check_all_types("binary");
	check_names("text");
	check_names("binary");
	check_no_columns("text");
	check_no_columns("binary");
	ferry_target *t = open_target("binary");
	if (ok(t != NULL, "open for the table tests")) {
		check_refuse(t);
		check_reuse(t);
		check_truncate_drop(t);
		check_finish(t);
		check_fkeys(t);
		ops->close(t);
	}
	check_abort("text");
	check_abort("binary");
	check_server_error("text");
	check_server_error("binary");
	check_alloc_failures("text");
	check_alloc_failures("binary");
	PQconninfoOption *opts = PQconninfoParse(base, NULL);
	const char *host = "/tmp";
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "host") == 0 && o->val)
			host = o->val;
	check_connections(host);
	PQconninfoFree(opts);
	sqlf("DROP SCHEMA %s CASCADE", schema);
	PQfinish(admin);
	return tap_done();
}
