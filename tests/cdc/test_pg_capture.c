/*
 * tests/cdc/test_pg_capture.c - the pieces of cdc/pg_capture.c that need
 * no stream: the text values pgoutput sends turned into ferry values, and
 * which transactions a snapshot saw.  With FERRY_TEST_PG, every value of
 * a table of every type is read twice, by cdc/pg_source.c's scan and as
 * the text the stream would carry (the type's output in the stream's
 * session settings): the two must be identical, or a row copied by the
 * snapshot and the same row arriving as a change would differ.
 * (tests/integration/test_sync_pgsource.sh drives the capture itself.)
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pg_capture.h"
#include "cdc/pg_source.h"
#include "engine/datetime.h"
#include "tests/tap.h"

static ferry_sqltype type_of(const char *text)
{
	ferry_sqltype t;
	if (ferry_sqltype_parse(&t, text, NULL) < 0)
		tap_diag("bad type %s", text);
	return t;
}

/* Decodes text as type; 0 or the error code. */
static int decode(const char *type, const char *text, ferry_value *v,
                  ferry_buf *scratch)
{
	ferry_sqltype t = type_of(type);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf_reset(scratch);
	int rc = ferry_pg_capture_value(&t, text, strlen(text), v, scratch, &err);
	ferry_error_clear(&err);
	return rc;
}

static void check_values(void)
{
	ferry_buf scratch = FERRY_BUF_INIT;
	ferry_value v;
	ok(decode("bigint", "-9223372036854775808", &v, &scratch) == 0 &&
	   v.type == FERRY_INT && v.u.i == INT64_MIN, "bigint minimum");
	ok(decode("integer", "12x", &v, &scratch) == FERRY_ECORRUPT,
	   "an integer with junk is corrupt");
	ok(decode("bigint", "9223372036854775808", &v, &scratch) ==
	   FERRY_ECORRUPT, "an integer out of range is corrupt");
	ok(decode("double precision", "-0", &v, &scratch) == 0 &&
	   v.type == FERRY_FLOAT && v.u.f == 0 && signbit(v.u.f), "-0 keeps its sign");
	ok(decode("double precision", "NaN", &v, &scratch) == 0 && isnan(v.u.f),
	   "NaN");
	ok(decode("double precision", "-Infinity", &v, &scratch) == 0 &&
	   isinf(v.u.f) && v.u.f < 0, "-Infinity");
	ok(decode("double precision", "0.30000000000000004", &v, &scratch) == 0 &&
	   v.u.f == 0.1 + 0.2, "17 digits round-trip");
	ok(decode("real", "3.4028235e+38", &v, &scratch) == 0 &&
	   v.u.f == (double)3.4028235e+38f, "a real is widened exactly");
	ok(decode("numeric(10,2)", "19.90", &v, &scratch) == 0 &&
	   v.type == FERRY_NUMERIC && v.u.s.len == 5 &&
	   memcmp(v.u.s.ptr, "19.90", 5) == 0, "numeric text kept as is");
	ok(decode("boolean", "t", &v, &scratch) == 0 && v.type == FERRY_BOOL &&
	   v.u.b, "t");
	ok(decode("boolean", "true", &v, &scratch) == FERRY_ECORRUPT,
	   "bool output is t or f only");
	ok(decode("date", "2024-02-29", &v, &scratch) == 0 &&
	   v.type == FERRY_DATE && v.u.date == ferry_days_from_civil(2024, 2, 29),
	   "a date");
	ok(decode("date", "0044-03-15 BC", &v, &scratch) == 0 &&
	   v.u.date == ferry_days_from_civil(-43, 3, 15), "a date BC (year 0 is 1 BC)");
	ok(decode("date", "4713-11-24 BC", &v, &scratch) == 0 &&
	   v.u.date == ferry_days_from_civil(-4712, 11, 24), "the first Julian day");
	ok(decode("date", "5874897-12-31", &v, &scratch) == FERRY_ECORRUPT,
	   "a 7-digit year is refused, not misread");
	ok(decode("date", "infinity", &v, &scratch) == 0 &&
	   v.u.date == FERRY_DATE_PINF, "infinity");
	ok(decode("date", "2023-02-29", &v, &scratch) == FERRY_ECORRUPT,
	   "a day that does not exist");
	ok(decode("timestamp", "2024-01-15 09:30:00.5", &v, &scratch) == 0 &&
	   v.type == FERRY_TIMESTAMP &&
	   v.u.i == ferry_days_from_civil(2024, 1, 15) * FERRY_USECS_PER_DAY +
	                (9 * 3600 + 30 * 60) * INT64_C(1000000) + 500000,
	   "a timestamp with a fraction");
	ok(decode("timestamptz", "2024-01-15 09:30:00.000001+00", &v, &scratch) ==
	   0 && v.type == FERRY_TIMESTAMPTZ &&
	   v.u.i == ferry_days_from_civil(2024, 1, 15) * FERRY_USECS_PER_DAY +
	                (9 * 3600 + 30 * 60) * INT64_C(1000000) + 1,
	   "a timestamptz in UTC");
	ok(decode("timestamptz", "2024-01-15 09:30:00+05:30", &v, &scratch) == 0 &&
	   v.u.i == ferry_days_from_civil(2024, 1, 15) * FERRY_USECS_PER_DAY +
	                (4 * 3600) * INT64_C(1000000),
	   "an offset is taken off");
	ok(decode("timestamptz", "2024-01-15 09:30:00", &v, &scratch) ==
	   FERRY_ECORRUPT, "a timestamptz without its offset is corrupt");
	ok(decode("timestamp", "2024-01-15 09:30:00.1234567", &v, &scratch) ==
	   FERRY_ECORRUPT, "seven fractional digits are refused");
	ok(decode("timestamp", "294276-12-31 23:59:59.999999", &v, &scratch) ==
	   FERRY_ECORRUPT, "a timestamp past what an int64 holds is refused");
	ok(decode("timestamptz", "4714-11-24 00:00:00+00 BC", &v, &scratch) == 0 &&
	   v.u.i == ferry_days_from_civil(-4713, 11, 24) * FERRY_USECS_PER_DAY,
	   "a timestamptz BC");
	ok(decode("timestamp", "-infinity", &v, &scratch) == 0 &&
	   v.u.i == FERRY_TS_NINF, "-infinity");
	ok(decode("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", &v, &scratch) ==
	   0 && v.type == FERRY_UUID && v.u.uuid[0] == 0xa0 && v.u.uuid[15] == 0x11,
	   "a uuid");
	ok(decode("uuid", "a0eebc999c0b4ef8bb6d6bb9bd380a11", &v, &scratch) ==
	   FERRY_ECORRUPT, "a uuid without dashes is not PostgreSQL's output");
	ok(decode("bytea", "\\x00ff10", &v, &scratch) == 0 &&
	   v.type == FERRY_BLOB && v.u.s.len == 3 &&
	   memcmp(v.u.s.ptr, "\x00\xff\x10", 3) == 0, "bytea hex");
	ok(decode("bytea", "\\x", &v, &scratch) == 0 && v.u.s.len == 0,
	   "empty bytea");
	ok(decode("bytea", "\\x0g", &v, &scratch) == FERRY_ECORRUPT,
	   "bad hex");
	ok(decode("jsonb", "{\"a\": 1}", &v, &scratch) == 0 && v.type == FERRY_JSON,
	   "json as text");
	ok(decode("text", "", &v, &scratch) == 0 && v.type == FERRY_TEXT &&
	   v.u.s.len == 0, "empty text");
	ferry_buf_free(&scratch);
}

static void check_visibility(void)
{
	ok(ferry_pg_capture_xid_visible("100:105:", 99), "below xmin: visible");
	ok(!ferry_pg_capture_xid_visible("100:105:", 105), "xmax: not visible");
	ok(!ferry_pg_capture_xid_visible("100:105:", 200), "after: not visible");
	ok(ferry_pg_capture_xid_visible("100:105:100,102", 101),
	   "between, not running: visible");
	ok(!ferry_pg_capture_xid_visible("100:105:100,102", 102),
	   "running when taken: not visible");
	/* the stream's xids are 32 bits, the snapshot's 64 */
	uint64_t epoch = UINT64_C(1) << 32;
	char snap[80];
	snprintf(snap, sizeof snap, "%llu:%llu:", (unsigned long long)(epoch + 5),
	         (unsigned long long)(epoch + 10));
	ok(ferry_pg_capture_xid_visible(snap, 4294967290u),
	   "an xid just before the wraparound is older");
	ok(!ferry_pg_capture_xid_visible(snap, 12), "one just after is newer");
	ok(!ferry_pg_capture_xid_visible("junk", 1) &&
	   !ferry_pg_capture_xid_visible("1:x:", 1) &&
	   !ferry_pg_capture_xid_visible("5:3:", 1),
	   "a malformed snapshot sees nothing");
}

/* ---- against the server ---------------------------------------------- */

static void check_against_scan(const char *conninfo)
{
	PGconn *admin = PQconnectdb(conninfo);
	if (!ok(PQstatus(admin) == CONNECTION_OK, "connect")) {
		PQfinish(admin);
		return;
	}
	static const char setup[] =
	    "SET client_min_messages = warning; "
	    "DROP SCHEMA IF EXISTS ferry_capture_values CASCADE; "
	    "CREATE SCHEMA ferry_capture_values; "
	    "SET search_path = ferry_capture_values; "
	    "CREATE TYPE mood AS ENUM ('sad', 'happy'); "
	    "CREATE TABLE v (id int PRIMARY KEY, i2 smallint, i8 bigint, "
	    "r real, d double precision, n numeric, n2 numeric(12,2), t text, "
	    "vc varchar(5), c char(3), b bytea, bo boolean, da date, "
	    "ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, "
	    "iv interval, tm time, m mood, a int[]); "
	    "INSERT INTO v VALUES "
	    "(1, -32768, 9223372036854775807, 'NaN', '-0', 'NaN', 0.10, '', "
	    " 'abc', 'x', '\\x00ff', true, '4713-01-01 BC', "
	    " '294246-12-31 23:59:59.999999', '1999-12-31 23:59:59.5+14', "
	    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\" : 1}', "
	    " '{\"b\": [1, 2]}', '1 day -2 hours', '24:00', 'happy', "
	    " '{1,NULL,3}'), "
	    "(2, 1, -1, 'Infinity', 1e-310, 1e-40, -99999.99, 'é\ttab', "
	    " NULL, NULL, '\\x', false, 'infinity', '-infinity', "
	    " '2024-02-29 12:00:00.000001-08', NULL, NULL, 'null', NULL, NULL, "
	    " NULL, '{}'), "
	    "(3, 0, 0, 3.4028235e+38, 0.1, 123456789012345678901234567890.5, "
	    " 0, repeat('x', 3000), 'a''b', 'ab', NULL, NULL, '0001-01-01', "
	    " '2000-01-01 00:00:00', 'infinity', NULL, NULL, NULL, NULL, NULL, "
	    " NULL, NULL)";
	PGresult *res = PQexec(admin, setup);
	if (!ok(PQresultStatus(res) == PGRES_COMMAND_OK, "a table of every type")) {
		tap_diag("%s", PQerrorMessage(admin));
		PQclear(res);
		PQfinish(admin);
		return;
	}
	PQclear(res);
	/* the stream's own session settings */
	PQclear(PQexec(admin, "SET datestyle = ISO, YMD; SET timezone = UTC; "
	                      "SET extra_float_digits = 3; SET bytea_output = "
	                      "hex; SET intervalstyle = postgres"));
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_scan *scan = NULL;
	ferry_row row = FERRY_ROW_INIT;
	int rc = ferry_pg_source_attach(&src, admin, "test", NULL, &err);
	if (rc == 0)
		rc = ferry_pg_source_ops.introspect(src, &s, &err);
	ferry_table *t = rc == 0 ? ferry_schema_find(&s, "v") : NULL;
	/* the text first: the scan's COPY holds the connection */
	/* text results are each type's output function, as pgoutput's
	 * (not ::text: that strips char(n)'s padding and spells bool out) */
	res = PQexec(admin, "SELECT i2, i8, r, d, n, n2, t, vc, c, b, bo, da, "
	                    "ts, tz, u, j, jb, iv, tm, m, a FROM v ORDER BY id");
	if (t)
		rc = ferry_pg_source_ops.scan_open(src, t, &scan, &err);
	int rows = 0, same = 0, compared = 0;
	ferry_buf scratch = FERRY_BUF_INIT;
	while (t && rc == 0 && PQresultStatus(res) == PGRES_TUPLES_OK &&
	       (rc = ferry_pg_source_ops.scan_next(scan, &row, &err)) == 1) {
		rc = 0;
		for (uint32_t c = 1; c < t->ncolumns; c++) {
			const ferry_value *want = &row.values[c];
			ferry_value got = ferry_value_null();
			int col = (int)c - 1;
			if (!PQgetisnull(res, rows, col)) {
				ferry_buf_reset(&scratch);
				const char *text = PQgetvalue(res, rows, col);
				if (ferry_pg_capture_value(&t->columns[c].type, text,
				                           (size_t)PQgetlength(res, rows,
				                                               col),
				                           &got, &scratch, &err) < 0) {
					tap_diag("row %d %s: %s", rows + 1, t->columns[c].name,
					         ferry_error_message(&err));
					ferry_error_clear(&err);
					compared++;
					continue;
				}
			}
			compared++;
			if (ferry_value_identical(&got, want)) {
				same++;
			} else {
				ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT;
				ferry_value_format(&got, &a, 60);
				ferry_value_format(want, &b, 60);
				tap_diag("row %d %s: stream %s, scan %s", rows + 1,
				         t->columns[c].name, ferry_buf_cstr(&a),
				         ferry_buf_cstr(&b));
				ferry_buf_free(&a);
				ferry_buf_free(&b);
			}
		}
		rows++;
	}
	if (rc < 0)
		tap_diag("%s", ferry_error_message(&err));
	is_int(rows, 3, "three rows scanned");
	ok(compared > 0 && same == compared,
	   "every value the stream would carry equals the scan's (%d of %d)",
	   same, compared);
	PQclear(res);
	ferry_buf_free(&scratch);
	ferry_row_free(&row);
	ferry_pg_source_ops.scan_close(scan);
	ferry_pg_source_ops.close(src);
	ferry_schema_free(&s);
	ferry_error_clear(&err);
	PQclear(PQexec(admin, "DROP SCHEMA ferry_capture_values CASCADE"));
	PQfinish(admin);
}

int main(void)
{
	check_values();
	check_visibility();
	const char *pg = getenv("FERRY_TEST_PG");
	if (pg && *pg)
		check_against_scan(pg);
	else if (getenv("FERRY_TEST_REQUIRE_SERVERS"))
		ok(0, "FERRY_TEST_PG is set (scripts/test starts the server)");
	else
		printf("ok %d - # SKIP FERRY_TEST_PG not set: no comparison with "
		       "scans\n", ++tap_count_);
	return tap_done();
}
