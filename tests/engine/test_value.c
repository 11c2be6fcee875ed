/* Unit tests for engine/value: identity, canonical encoding, display. */
#include <math.h>

#include "engine/decimal.h"
#include "engine/value.h"
#include "tests/tap.h"

/* Canonical bytes of v as a fresh buffer (caller frees). */
static ferry_buf canon(ferry_value v)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_value_canonical(&v, &b, &err) < 0)
		tap_diag("canonical failed: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return b;
}

static int same_canon(ferry_value a, ferry_value b)
{
	ferry_buf x = canon(a), y = canon(b);
	int same = x.len == y.len && x.len > 0 && memcmp(x.data, y.data, x.len) == 0;
	ferry_buf_free(&x);
	ferry_buf_free(&y);
	return same;
}

static ferry_value num(const char *text)
{
	return ferry_value_bytes(FERRY_NUMERIC, text, strlen(text));
}

static ferry_value text(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

static void format_case(ferry_value v, size_t max, const char *want)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_value_format(&v, &b, max);
	is_str(ferry_buf_cstr(&b), want, "format %s as %s", ferry_type_name(v.type),
	       want);
	ferry_buf_free(&b);
}

int main(void)
{
	/* the same number from different places encodes the same */
	ok(same_canon(num("19.99"), num("19.990")),
	   "numeric 19.99 == 19.990 (trailing zeros do not matter)");
	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_buf t = FERRY_BUF_INIT;
	ferry_decimal_from_int64(&d, 1999, NULL);
	ferry_decimal_shift(&d, -2, NULL); /* integer cents -> decimal */
	ferry_decimal_format(&d, &t);
	ok(same_canon(num(ferry_buf_cstr(&t)), num("19.99")),
	   "1999 cents / 100 == numeric 19.99 parsed from text");
	ferry_decimal_free(&d);
	ferry_buf_free(&t);
	ok(same_canon(ferry_value_int(5), num("5.00")), "int 5 == numeric 5.00");
	ok(same_canon(ferry_value_int(-5), num("-5")), "int -5 == numeric -5");
	ok(same_canon(num("-0"), num("0.000")), "numeric -0 == 0.000");
	ok(same_canon(ferry_value_int(INT64_MIN), num("-9223372036854775808")),
	   "int64 min == its numeric");
	ok(!same_canon(num("19.99"), num("19.9")), "19.99 != 19.9");
	ok(!same_canon(num("1"), num("-1")), "1 != -1");
	ok(!same_canon(num("10"), num("1")), "10 != 1 (zeros before the point count)");
	ok(!same_canon(num("NaN"), num("0")), "NaN != 0");
	ok(same_canon(num("NaN"), num("nan")), "NaN spellings agree");
	ok(!same_canon(num("Infinity"), num("-Infinity")), "+Inf != -Inf");

	/* floats: -0.0 and 0.0 agree, all NaNs agree, otherwise by bits */
	ok(same_canon(ferry_value_float(-0.0), ferry_value_float(0.0)),
	   "float -0.0 == 0.0 canonically (documented)");
	double nan1 = nan(""), nan2 = -nan("0x7");
	ok(same_canon(ferry_value_float(nan1), ferry_value_float(nan2)),
	   "every NaN payload encodes alike");
	ok(!same_canon(ferry_value_float(0.1), ferry_value_float(nextafter(0.1, 1))),
	   "floats one ulp apart differ");
	ok(same_canon(ferry_value_float(1e300), ferry_value_float(1e300)),
	   "equal floats agree");
	ok(!same_canon(ferry_value_float(5.0), ferry_value_int(5)),
	   "float 5.0 != int 5 (a float is approximate: its own class)");

	/* text, blob, json and NULL stay apart */
	ok(!same_canon(text("abc"), ferry_value_bytes(FERRY_BLOB, "abc", 3)),
	   "text 'abc' != blob 'abc'");
	ok(!same_canon(text(""), ferry_value_null()), "empty text != NULL");
	ok(!same_canon(text("ab"), text("a")), "different text differs");
	ok(!same_canon(text("1"), num("1")), "text '1' != numeric 1");
	ok(same_canon(ferry_value_bytes(FERRY_BLOB, "a\0b", 3),
	              ferry_value_bytes(FERRY_BLOB, "a\0b", 3)),
	   "blob with NUL encodes by all its bytes");
	ok(!same_canon(ferry_value_bytes(FERRY_BLOB, "a\0b", 3),
	               ferry_value_bytes(FERRY_BLOB, "a\0c", 3)),
	   "bytes after a NUL count");
	ok(!same_canon(ferry_value_timestamp(FERRY_TIMESTAMP, 0),
	               ferry_value_timestamp(FERRY_TIMESTAMPTZ, 0)),
	   "timestamp and timestamptz are different classes");
	ok(!same_canon(ferry_value_bool(true), ferry_value_int(1)),
	   "bool true != int 1");
	ok(!same_canon(ferry_value_date(0), ferry_value_date(1)), "dates differ");

	/* canonical encodings are self-delimiting: concatenations never collide */
	ferry_buf ab = canon(text("ab")), c = canon(text("c"));
	ferry_buf a = canon(text("a")), bc = canon(text("bc"));
	ferry_buf_append(&ab, c.data, c.len);
	ferry_buf_append(&a, bc.data, bc.len);
	ok(ab.len != a.len || memcmp(ab.data, a.data, a.len) != 0,
	   "('ab','c') and ('a','bc') encode differently");
	ferry_buf_free(&ab);
	ferry_buf_free(&c);
	ferry_buf_free(&a);
	ferry_buf_free(&bc);

	/* a NUMERIC that is not a number is corrupt, not silently hashed */
	ferry_buf out = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value bad = num("12abc");
	is_int(ferry_value_canonical(&bad, &out, &err), FERRY_ECORRUPT,
	       "canonical of numeric '12abc' is FERRY_ECORRUPT");
	ok(strstr(ferry_error_message(&err), "12abc") != NULL,
	   "the message names the value: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	ferry_buf_free(&out);

	/* identity is bit-exact */
	ferry_value z = ferry_value_float(0.0), nz = ferry_value_float(-0.0);
	ok(!ferry_value_identical(&z, &nz), "identity tells -0.0 from 0.0");
	ferry_value n1 = num("1.5"), n2 = num("1.50");
	ok(!ferry_value_identical(&n1, &n2), "identity tells 1.5 from 1.50");
	ferry_value e1 = text(""), e2 = ferry_value_bytes(FERRY_TEXT, NULL, 0);
	ok(ferry_value_identical(&e1, &e2), "two empty texts are identical");

	format_case(ferry_value_null(), 0, "NULL");
	format_case(ferry_value_int(INT64_MIN), 0, "-9223372036854775808");
	format_case(ferry_value_float(0.1), 0, "0.1");
	format_case(ferry_value_float(1e300), 0, "1e+300");
	format_case(ferry_value_float(-0.0), 0, "-0");
	format_case(ferry_value_float(INFINITY), 0, "Infinity");
	format_case(text("it's\n\t\\"), 0, "'it''s\\n\\t\\\\'");
	format_case(text("abcdefgh"), 3, "'abc'...(8 bytes)");
	format_case(ferry_value_bytes(FERRY_BLOB, "\x00\xff", 2), 0, "\\x00ff");
	format_case(ferry_value_bool(false), 0, "false");
	format_case(ferry_value_date(0), 0, "1970-01-01");
	format_case(ferry_value_timestamp(FERRY_TIMESTAMPTZ, 1), 0,
	            "1970-01-01 00:00:00.000001Z");
	uint8_t u[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
	                 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	format_case(ferry_value_uuid(u), 0, "12345678-9abc-def0-0123-456789abcdef");
	is_str(ferry_type_name(FERRY_TIMESTAMPTZ), "timestamptz", "type names");
	is_str(ferry_type_name((ferry_type)99), "?", "bad type name");
	return tap_done();
}
