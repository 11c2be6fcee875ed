/* Unit tests for engine/canon: values brought to a target column's type,
 * their canonical bytes, order-preserving keys and canonical JSON. */
#include <math.h>
#include <stdlib.h>

#include "engine/alloc.h"
#include "engine/canon.h"
#include "engine/value.h"
#include "tests/tap.h"

static ferry_sqltype type_of(const char *text)
{
	ferry_sqltype t;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_sqltype_parse(&t, text, &err) < 0)
		tap_diag("bad type %s: %s", text, ferry_error_message(&err));
	ferry_error_clear(&err);
	return t;
}

static ferry_value num(const char *s)
{
	return ferry_value_bytes(FERRY_NUMERIC, s, strlen(s));
}

static ferry_value text(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

static ferry_value json(const char *s)
{
	return ferry_value_bytes(FERRY_JSON, s, strlen(s));
}

/* canon_append of v as type, into a fresh buffer (empty on failure). */
static ferry_buf canon(ferry_value v, const char *type)
{
	ferry_buf b = FERRY_BUF_INIT, scratch = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_sqltype t = type_of(type);
	if (ferry_canon_append(&b, &v, &t, &scratch, &err) < 0) {
		tap_diag("canon failed: %s", ferry_error_message(&err));
		ferry_buf_reset(&b);
	}
	ferry_error_clear(&err);
	ferry_buf_free(&scratch);
	return b;
}

static ferry_buf key(ferry_value v, const char *type)
{
	ferry_buf b = FERRY_BUF_INIT, scratch = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_sqltype t = type_of(type);
	if (ferry_canon_key(&b, &v, &t, &scratch, &err) < 0)
		ferry_buf_reset(&b);
	ferry_error_clear(&err);
	ferry_buf_free(&scratch);
	return b;
}

static int cmp_bufs(ferry_buf *x, ferry_buf *y)
{
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->data, y->data, n);
	c = c ? c : x->len < y->len ? -1 : x->len > y->len;
	ferry_buf_free(x);
	ferry_buf_free(y);
	return c;
}

static int same(ferry_value a, ferry_value b, const char *type)
{
	ferry_buf x = canon(a, type), y = canon(b, type);
	int ok_ = x.len > 0 && y.len > 0;
	return ok_ && cmp_bufs(&x, &y) == 0;
}

/* The fast paths must give exactly ferry_value_canonical's bytes. */
static void matches_value_canonical(ferry_value v, const char *type,
                                    const char *what)
{
	ferry_buf fast = canon(v, type), slow = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value_canonical(&v, &slow, &err);
	ferry_error_clear(&err);
	ok(fast.len > 0 && cmp_bufs(&fast, &slow) == 0,
	   "%s encodes as ferry_value_canonical does", what);
}

static void test_numbers(void)
{
	ok(same(num("19.90"), num("19.9"), "numeric"), "numeric 19.90 == 19.9");
	ok(same(num("19.90"), ferry_value_float(19.9), "numeric(12,2)"),
	   "numeric 19.90 == SQLite's REAL 19.9 in a numeric column");
	ok(same(ferry_value_int(1), num("1.0"), "numeric"), "int 1 == numeric 1.0");
	ok(same(ferry_value_int(1), ferry_value_float(1.0), "bigint"),
	   "int 1 == float 1.0 in an integer column");
	ok(same(num("-0.00"), ferry_value_int(0), "numeric"), "-0.00 == 0");
	ok(same(num("1e2"), ferry_value_int(100), "numeric"), "1e2 == 100");
	ok(same(text("12.50"), num("12.5"), "numeric"),
	   "text 12.50 in a numeric column == 12.5");
	ok(!same(num("19.99"), num("19.9"), "numeric"), "19.99 != 19.9");
	ok(!same(num("1500"), num("15"), "numeric"),
	   "integer trailing zeros count: 1500 != 15");
	ok(!same(text("abc"), num("0"), "numeric"),
	   "text that is no number stays unequal");
	ok(!same(ferry_value_null(), ferry_value_int(0), "bigint"),
	   "NULL != 0");
	ok(!same(ferry_value_null(), text(""), "text"), "NULL != ''");
	ok(same(num("NaN"), ferry_value_float(NAN), "numeric"), "NaN == NaN");
	ok(same(num("0.1"), ferry_value_float(0.1), "numeric"), "0.1 == REAL 0.1");
	ok(same(num("123456789012.345"), ferry_value_float(123456789012.345),
	        "numeric"), "15 significant digits survive a REAL");
	matches_value_canonical(ferry_value_int(0), "bigint", "int 0");
	matches_value_canonical(ferry_value_int(-1234567), "bigint", "int -1234567");
	matches_value_canonical(ferry_value_int(INT64_MIN), "bigint", "INT64_MIN");
	matches_value_canonical(ferry_value_int(1500), "bigint", "int 1500");
	matches_value_canonical(num("-0.00"), "numeric", "numeric -0.00");
	matches_value_canonical(num("0.0500"), "numeric", "numeric 0.0500");
	matches_value_canonical(num("+00012.3400"), "numeric", "numeric +00012.3400");
	matches_value_canonical(num("1500"), "numeric", "numeric 1500");
	/* random decimals through both paths */
	srand(7);
	int agree = 1;
	for (int i = 0; i < 2000 && agree; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s%d.%0*d", rand() % 2 ? "-" : "",
		         rand() % 100000, rand() % 6 + 1, rand() % 1000);
		ferry_value v = num(buf);
		ferry_buf fast = canon(v, "numeric"), slow = FERRY_BUF_INIT;
		ferry_value_canonical(&v, &slow, NULL);
		agree = fast.len > 0 && cmp_bufs(&fast, &slow) == 0;
		if (!agree)
			tap_diag("disagree on %s", buf);
	}
	ok(agree, "2000 random decimals: fast path == ferry_value_canonical");
}

static void test_floats(void)
{
	ok(same(ferry_value_float(-0.0), ferry_value_float(0.0), "double precision"),
	   "-0.0 == 0.0");
	ok(same(ferry_value_int(1), ferry_value_float(1.0), "double precision"),
	   "INTEGER 1 in a REAL column == 1.0");
	ok(same(text("2.5"), ferry_value_float(2.5), "double precision"),
	   "text 2.5 == 2.5");
	ok(!same(ferry_value_float(0.1), ferry_value_float(nextafter(0.1, 1)),
	         "double precision"), "one ulp apart differs");
	ok(same(ferry_value_float(0.1), ferry_value_float((double)0.1f), "real"),
	   "a real column compares as float4");
	char buf[40];
	ok(ferry_canon_float_text(19.9, buf, sizeof buf) == 0 &&
	       strcmp(buf, "19.9") == 0, "19.9 prints as 19.9");
	ok(ferry_canon_float_text(0.1 + 0.2, buf, sizeof buf) == 0 &&
	       strtod(buf, NULL) == 0.1 + 0.2, "0.1 + 0.2 round-trips (%s)", buf);
}

static void test_other_types(void)
{
	ok(same(text("ab  "), text("ab"), "char(4)"), "char(n) padding ignored");
	ok(!same(text("ab  "), text("ab"), "text"), "text keeps trailing blanks");
	ok(same(ferry_value_int(1), ferry_value_bool(true), "boolean"),
	   "SQLite's 1 == true");
	ok(same(text("f"), ferry_value_bool(false), "boolean"), "'f' == false");
	ok(same(text("2024-01-15"), ferry_value_date(19737), "date"),
	   "text date == date");
	ok(same(text("infinity"), ferry_value_date(FERRY_DATE_PINF), "date"),
	   "'infinity' == date infinity");
	ok(same(text("2024-01-15 09:30:00.5"),
	        ferry_value_timestamp(FERRY_TIMESTAMP,
	                              INT64_C(1705311000500000)), "timestamp"),
	   "text timestamp == microseconds");
	ok(same(text("2024-01-15 09:30:00+00:00"),
	        ferry_value_timestamp(FERRY_TIMESTAMPTZ,
	                              INT64_C(1705311000000000)), "timestamptz"),
	   "text timestamptz in UTC == microseconds");
	ok(!same(ferry_value_timestamp(FERRY_TIMESTAMP, 1),
	         ferry_value_timestamp(FERRY_TIMESTAMP, 2), "timestamp"),
	   "one microsecond differs");
	uint8_t u[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
	                 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
	ok(same(text("12345678-9abc-def0-1234-56789abcdef0"), ferry_value_uuid(u),
	        "uuid"), "uuid text == uuid");
	ok(same(text("abc"), ferry_value_bytes(FERRY_BLOB, "abc", 3), "bytea"),
	   "text in a bytea column == blob");
	ok(!same(ferry_value_bytes(FERRY_BLOB, "a\0b", 3),
	         ferry_value_bytes(FERRY_BLOB, "a\0c", 3), "bytea"),
	   "bytes after a NUL count");
}

static void json_case(const char *in, const char *want)
{
	ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry_canon_json(&b, in, strlen(in));
	if (want) {
		is_str(rc == 0 ? ferry_buf_cstr(&b) : "(refused)", want,
		       "json %s", in);
	} else {
		ok(rc == -1 && b.len == 0, "json %s is refused", in);
	}
	ferry_buf_free(&b);
}

static void test_json(void)
{
	json_case("{\"b\": 1, \"a\": [1, 2.50, true, null]}",
	          "{\"a\":[1,2.5,true,null],\"b\":1}");
	json_case("{\"a\":1,\"a\":2}", "{\"a\":2}");
	json_case(" \"\\u0041\\/\\n\" ", "\"A/\\u000a\"");
	json_case("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
	json_case("1e2", "100");
	json_case("-0", "0");
	json_case("{}", "{}");
	json_case("[ ]", "[]");
	json_case("{\"a\":1", NULL);
	json_case("[1,]", NULL);
	json_case("01", NULL);
	json_case("tru", NULL);
	json_case("1 2", NULL);
	ok(same(json("{\"a\": 1, \"b\": 2}"), text("{\"b\":2,\"a\":1}"), "jsonb"),
	   "jsonb compares by value");
	ok(!same(json("{\"a\": 1}"), json("{\"a\": 2}"), "jsonb"),
	   "different JSON differs");
	ok(same(json("not json"), text("not json"), "json"),
	   "text that is not JSON compares as its bytes");
}

static void test_keys(void)
{
	ferry_buf a, b;
	a = key(ferry_value_int(-5), "bigint");
	b = key(ferry_value_int(3), "bigint");
	ok(cmp_bufs(&a, &b) < 0, "key -5 < 3");
	a = key(ferry_value_int(255), "bigint");
	b = key(ferry_value_int(256), "bigint");
	ok(cmp_bufs(&a, &b) < 0, "key 255 < 256");
	a = key(num("7.00"), "numeric");
	b = key(ferry_value_int(7), "numeric");
	ok(cmp_bufs(&a, &b) == 0, "numeric key 7.00 == 7");
	a = key(text("ab"), "text");
	b = key(text("abc"), "text");
	ok(cmp_bufs(&a, &b) < 0, "key 'ab' < 'abc'");
	a = key(ferry_value_bytes(FERRY_TEXT, "a\0", 2), "text");
	b = key(text("a"), "text");
	ok(cmp_bufs(&a, &b) > 0, "key 'a\\0' > 'a'");
	a = key(text("B"), "text");
	b = key(text("a"), "text");
	ok(cmp_bufs(&a, &b) < 0, "key order is byte order: 'B' < 'a'");
	a = key(ferry_value_float(-1.5), "double precision");
	b = key(ferry_value_float(-0.5), "double precision");
	ok(cmp_bufs(&a, &b) < 0, "key -1.5 < -0.5");
	a = key(ferry_value_float(-0.0), "double precision");
	b = key(ferry_value_float(0.0), "double precision");
	ok(cmp_bufs(&a, &b) == 0, "key -0.0 == 0.0");
	a = key(text("2024-01-02"), "date");
	b = key(ferry_value_date(19724), "date");
	ok(cmp_bufs(&a, &b) == 0, "date key from text == date");
	a = key(ferry_value_date(-1), "date");
	b = key(ferry_value_date(1), "date");
	ok(cmp_bufs(&a, &b) < 0, "date key -1 < 1");
}

/* Every allocation failure is reported, never a crash or a leak. */
static void test_out_of_memory(void)
{
	int clean = 1;
	for (long n = 1; n < 200; n++) {
		ferry_buf b = FERRY_BUF_INIT, scratch = FERRY_BUF_INIT;
		ferry_error err = FERRY_ERROR_INIT;
		ferry_sqltype t = type_of("jsonb");
		ferry_value v = json("{\"z\": [1, {\"y\": \"x\"}], \"a\": 2.50}");
		ferry_alloc_fail_at(n, 0);
		int rc = ferry_canon_append(&b, &v, &t, &scratch, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc < 0 && rc != FERRY_ENOMEM)
			clean = 0;
		ferry_error_clear(&err);
		ferry_buf_free(&b);
		ferry_buf_free(&scratch);
		if (failures == 0)
			break;
	}
	ok(clean, "allocation failures in canonical JSON give FERRY_ENOMEM");
}

int main(void)
{
	test_numbers();
	test_floats();
	test_other_types();
	test_json();
	test_keys();
	test_out_of_memory();
	return tap_done();
}
