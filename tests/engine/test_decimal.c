/*
 * tests/engine/test_decimal.c - exact decimals: parsing, formatting,
 * scale changes, ordering, exact arithmetic and allocation failures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/decimal.h"
#include "tests/tap.h"

/* A few rotating buffers so one check can show two values. */
static ferry_buf shown[4];
static int next_shown;

static const char *show(const ferry_decimal *d)
{
	ferry_buf *b = &shown[next_shown++ % 4];
	ferry_buf_reset(b);
	if (ferry_decimal_format(d, b) < 0)
		return "(format failed)";
	return ferry_buf_cstr(b);
}

static int parse(ferry_decimal *d, const char *text, ferry_error *err)
{
	return ferry_decimal_parse(d, text, strlen(text), err);
}

/* Parses `text`, which must succeed, into a fresh value owned by the
 * caller. */
static ferry_decimal num(const char *text)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	if (parse(&d, text, &err) < 0) {
		tap_diag("cannot parse \"%s\": %s", text, ferry_error_message(&err));
		abort();
	}
	ferry_error_clear(&err);
	return d;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* "1" followed by n zeros, i.e. 10^n. */
static char *power_of_ten(size_t n)
{
	char *s = repeat('0', n + 1);
	s[0] = '1';
	return s;
}

static void check_round(const char *text, const char *want, int scale)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = parse(&d, text, &err);
	is_int(rc, 0, "parse \"%s\"", text);
	if (rc < 0)
		tap_diag("%s", ferry_error_message(&err));
	is_str(show(&d), want, "\"%s\" formats as \"%s\"", text, want);
	if (scale >= 0)
		is_int(d.scale, scale, "\"%s\" has scale %d", text, scale);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

/* The value must be refused with `code`; the output must stay as it was
 * and the message must quote `quote`. */
static void check_refused(const char *text, size_t len, int code,
                          const char *quote)
{
	ferry_decimal d = num("42.5");
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_decimal_parse(&d, text, len, &err);
	is_int(rc, code, "\"%.*s\" refused with %d", (int)len, text, code);
	is_int(err.code, code, "error code held for \"%.*s\"", (int)len, text);
	ok(strstr(ferry_error_message(&err), quote) != NULL,
	   "message for \"%.*s\" quotes it: %s", (int)len, text,
	   ferry_error_message(&err));
	is_str(show(&d), "42.5", "output unchanged after refusing \"%.*s\"",
	       (int)len, text);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_parse_format(void)
{
	check_round("0", "0", 0);
	check_round("-0", "0", 0);
	check_round("+0", "0", 0);
	check_round("-0.00", "0.00", 2);
	check_round("0.000", "0.000", 3);
	check_round("00000", "0", 0);
	check_round("19.90", "19.90", 2);
	check_round("1.50", "1.50", 2);
	check_round("15e-1", "1.5", 1);
	check_round("1.5e3", "1500", 0);
	check_round("1e3", "1000", 0);
	check_round("1E3", "1000", 0);
	check_round("1e+3", "1000", 0);
	check_round("1.5e-3", "0.0015", 4);
	check_round("007.50", "7.50", 2);
	check_round("0.05", "0.05", 2);
	check_round("-0.5", "-0.5", 1);
	check_round("1.", "1", 0);
	check_round(".5", "0.5", 1);
	check_round("-.5", "-0.5", 1);
	check_round("+1.25", "1.25", 2);
	check_round("1.e2", "100", 0);
	check_round("0e5", "0", 0);
	check_round("0e-3", "0.000", 3);
	check_round("0.0e-2", "0.000", 3);
	check_round("-0e-3", "0.000", 3);
	check_round("123e-5", "0.00123", 5);
	check_round("-1500", "-1500", 0);
	check_round("12.345e1", "123.45", 2);
	check_round("1e0", "1", 0);
	check_round("1e-0", "1", 0);
	check_round("1e0003", "1000", 0);
	check_round("0e99999999999999999999", "0", 0);
	check_round("NaN", "NaN", -1);
	check_round("nan", "NaN", -1);
	check_round("NAN", "NaN", -1);
	check_round("Infinity", "Infinity", -1);
	check_round("+Infinity", "Infinity", -1);
	check_round("-Infinity", "-Infinity", -1);
	check_round("iNfInItY", "Infinity", -1);
	check_round("inf", "Infinity", -1);
	check_round("+inf", "Infinity", -1);
	check_round("-INF", "-Infinity", -1);
}

/* The representation itself, not only the text. */
static void test_representation(void)
{
	ferry_decimal d = num("1.5e-3");
	ok(d.ndigits == 2 && d.digits[0] == 1 && d.digits[1] == 5 &&
	   d.scale == 4 && d.neg == 0 && d.kind == FERRY_DEC_FINITE,
	   "1.5e-3 is coef 15, scale 4");
	ferry_decimal_free(&d);
	d = num("1e3");
	ok(d.ndigits == 4 && d.digits[0] == 1 && d.digits[3] == 0 && d.scale == 0,
	   "1e3 is coef 1000, scale 0");
	ferry_decimal_free(&d);
	d = num("-0.00");
	ok(d.ndigits == 0 && d.neg == 0 && d.scale == 2,
	   "-0.00 is zero, not negative, scale 2");
	ferry_decimal_free(&d);
	d = num("007.50");
	ok(d.ndigits == 3 && d.digits[0] == 7 && d.scale == 2,
	   "leading zeros are dropped from the coefficient");
	ferry_decimal_free(&d);
	d = num("-Infinity");
	ok(d.kind == FERRY_DEC_NINF && d.neg == 0, "-Infinity is kind NINF");
	ferry_decimal_free(&d);
}

static void test_parse_refused(void)
{
	static const char *const junk[] = {
		"", "+", "-", ".", "+.", "-.", "1e", "1e+", "1e-", " 1", "1 ",
		"\t1", "--1", "+-1", "0x10", "1_000", "1.2.3", "e5", ".e5", "1e5.0",
		"1e 5", "1,5", "nan1", "-nan", "+NaN", "infinit", "infinityy",
		"Infinity ", "1.5f", "12x", "\xd9\xa1", "1e--5", "ee5", "1..5",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		check_refused(junk[i], strlen(junk[i]), FERRY_EINVAL, junk[i]);

	ferry_error err = FERRY_ERROR_INIT;
	ferry_decimal d = FERRY_DECIMAL_INIT;
	parse(&d, "12x", &err);
	is_str(ferry_error_message(&err), "invalid numeric value \"12x\"",
	       "message for 12x");
	is_int(ferry_decimal_parse(&d, "1\0002", 3, &err), FERRY_EINVAL,
	       "an embedded NUL is refused");
	is_int(ferry_decimal_parse(&d, "12", 1, &err), 0,
	       "only len bytes are read");
	is_str(show(&d), "1", "\"12\" with len 1 is 1");
	is_int(ferry_decimal_parse(&d, NULL, 0, &err), FERRY_EINVAL,
	       "NULL text with len 0 is refused");

	/* long junk is quoted, truncated */
	char *longjunk = repeat('7', 100);
	longjunk[99] = 'x';
	parse(&d, longjunk, &err);
	const char *msg = ferry_error_message(&err);
	ok(strstr(msg, "\"7777777777777777777777777777777777777777...\"") != NULL,
	   "long text is quoted to 40 bytes: %s", msg);
	ok(strlen(msg) < 80, "the message stays short");
	free(longjunk);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_limits(void)
{
	check_refused("1e99999999999999999999",
	              strlen("1e99999999999999999999"), FERRY_EREJECT,
	              "1e99999999999999999999");
	check_refused("1e-99999999999999999999",
	              strlen("1e-99999999999999999999"), FERRY_EREJECT,
	              "1e-99999999999999999999");
	check_refused("0e-99999999999999999999",
	              strlen("0e-99999999999999999999"), FERRY_EREJECT,
	              "is out of range");
	check_refused("-1e2147483648", strlen("-1e2147483648"), FERRY_EREJECT,
	              "-1e2147483648");
	check_refused("1e4294967296", strlen("1e4294967296"), FERRY_EREJECT,
	              "before the point");
	check_refused("1e131072", 8, FERRY_EREJECT,
	              "more than 131072 digits before the point");
	check_refused("1e-16384", 8, FERRY_EREJECT,
	              "more than 16383 digits after the point");
	check_refused("0.5e-16383", 10, FERRY_EREJECT, "0.5e-16383");

	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	is_int(parse(&d, "1e131071", &err), 0, "131072 digits before the point");
	is_int(d.ndigits, 131072, "... all kept");
	is_int(parse(&d, "-1e-16383", &err), 0, "16383 digits after the point");
	is_int(d.scale, 16383, "... scale 16383");
	is_int(d.neg, 1, "... negative");

	/* a text longer than the limits that is still in range */
	char *s = repeat('0', 200000);
	s[199999] = '1';
	is_int(parse(&d, s, &err), 0, "200000 leading zeros are fine");
	is_str(show(&d), "1", "... and leave 1");
	s[0] = '.';
	is_int(parse(&d, s, &err), FERRY_EREJECT,
	       "199999 digits after the point are not");
	free(s);

	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_boundaries(void)
{
	char *nines38 = repeat('9', 38), *ten38 = power_of_ten(38);
	char *digits100 = repeat('3', 100);
	check_round(nines38, nines38, 0);
	check_round(ten38, ten38, 0);
	check_round(digits100, digits100, 0);
	memcpy(digits100, "-12345678.9", 11);
	check_round(digits100, digits100, 90);

	char neg38[64];
	snprintf(neg38, sizeof neg38, "-%s", nines38);
	ferry_decimal a = num(nines38), b = num(ten38), c = num(neg38);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_check_fits(&a, 38, 0, &err), 0,
	       "numeric(38,0) holds 10^38 - 1");
	is_int(ferry_decimal_check_fits(&c, 38, 0, &err), 0,
	       "numeric(38,0) holds -(10^38 - 1)");
	is_int(ferry_decimal_check_fits(&b, 38, 0, &err), FERRY_EREJECT,
	       "numeric(38,0) refuses 10^38");
	is_str(ferry_error_message(&err),
	       "value 100000000000000000000000000000000000000 does not fit "
	       "numeric(38,0): 1 digit too many before the point",
	       "... saying why");
	is_int(ferry_decimal_cmp(&a, &b), -1, "10^38 - 1 < 10^38");
	is_int(ferry_decimal_cmp(&c, &a), -1, "-(10^38 - 1) < 10^38 - 1");
	ferry_decimal_free(&a);
	ferry_decimal_free(&b);
	ferry_decimal_free(&c);
	ferry_error_clear(&err);
	free(nines38);
	free(ten38);
	free(digits100);
}

struct fit_case {
	const char *value;
	int precision, scale, code;
	const char *message; /* NULL: not checked */
};

static void test_check_fits(void)
{
	static const struct fit_case cases[] = {
		{ "123.45", 5, 2, 0, NULL },
		{ "123.450", 5, 2, 0, NULL },
		{ "-999.99", 5, 2, 0, NULL },
		{ "1.23000", 5, 2, 0, NULL },
		{ "0", 5, 2, 0, NULL },
		{ "0.0000000", 5, 2, 0, NULL },
		{ "NaN", 5, 2, 0, NULL },
		{ "1234.5", 5, 2, FERRY_EREJECT,
		  "value 1234.5 does not fit numeric(5,2): "
		  "1 digit too many before the point" },
		{ "12345", 5, 2, FERRY_EREJECT,
		  "value 12345 does not fit numeric(5,2): "
		  "2 digits too many before the point" },
		{ "1.234", 5, 2, FERRY_EREJECT,
		  "value 1.234 does not fit numeric(5,2): "
		  "1 digit too many after the point" },
		{ "-0.00001", 5, 2, FERRY_EREJECT,
		  "value -0.00001 does not fit numeric(5,2): "
		  "3 digits too many after the point" },
		{ "999.995", 5, 2, FERRY_EREJECT, NULL },
		{ "Infinity", 5, 2, FERRY_EREJECT,
		  "value Infinity does not fit numeric(5,2): "
		  "cannot hold an infinite value" },
		{ "-Infinity", 5, 2, FERRY_EREJECT, NULL },
		{ "0.99", 2, 2, 0, NULL },
		{ "1", 2, 2, FERRY_EREJECT,
		  "value 1 does not fit numeric(2,2): "
		  "1 digit too many before the point" },
		{ "5", 1, 0, 0, NULL },
		{ "10", 1, 0, FERRY_EREJECT, NULL },
		{ "0.00123", 3, 5, 0, NULL },
		{ "-0.00999", 3, 5, 0, NULL },
		{ "0.001", 3, 5, 0, NULL },
		{ "0.01", 3, 5, FERRY_EREJECT,
		  "value 0.01 does not fit numeric(3,5): "
		  "absolute value must be less than 10^-2" },
		{ "1", 3, 5, FERRY_EREJECT, NULL },
		{ "0.000123", 3, 5, FERRY_EREJECT,
		  "value 0.000123 does not fit numeric(3,5): "
		  "1 digit too many after the point" },
		{ "12300", 3, -2, 0, NULL },
		{ "-99900.000", 3, -2, 0, NULL },
		{ "100000", 3, -2, FERRY_EREJECT, NULL },
		{ "150", 3, -2, FERRY_EREJECT,
		  "value 150 does not fit numeric(3,-2): must be a multiple of 10^2" },
		{ "12300.5", 3, -2, FERRY_EREJECT, NULL },
		{ "1", 0, 0, FERRY_EINVAL, "invalid numeric precision 0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct fit_case *c = &cases[i];
		ferry_decimal d = num(c->value);
		ferry_decimal before = num(c->value);
		ferry_error err = FERRY_ERROR_INIT;
		int rc = ferry_decimal_check_fits(&d, c->precision, c->scale, &err);
		is_int(rc, c->code, "%s in numeric(%d,%d)", c->value, c->precision,
		       c->scale);
		if (c->message)
			is_str(ferry_error_message(&err), c->message, "... message");
		ok(d.scale == before.scale && d.ndigits == before.ndigits &&
		   ferry_decimal_cmp(&d, &before) == 0, "... value unchanged");
		ferry_decimal_free(&d);
		ferry_decimal_free(&before);
		ferry_error_clear(&err);
	}
}

static void check_rescale(const char *text, int scale, int code,
                          const char *want)
{
	ferry_decimal d = num(text);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_rescale(&d, scale, &err), code,
	       "rescale %s to %d", text, scale);
	is_str(show(&d), want, "... gives %s", want);
	if (code == FERRY_EREJECT)
		ok(strstr(ferry_error_message(&err), text) != NULL,
		   "... message names the value: %s", ferry_error_message(&err));
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_rescale(void)
{
	check_rescale("19.99", 1, FERRY_EREJECT, "19.99");
	check_rescale("19.90", 1, 0, "19.9");
	check_rescale("19.90", 0, FERRY_EREJECT, "19.90");
	check_rescale("19.00", 0, 0, "19");
	check_rescale("5", 3, 0, "5.000");
	check_rescale("-5.5", 3, 0, "-5.500");
	check_rescale("0", 4, 0, "0.0000");
	check_rescale("0.00", 0, 0, "0");
	check_rescale("0.05", 1, FERRY_EREJECT, "0.05");
	check_rescale("0.05", 0, FERRY_EREJECT, "0.05");
	check_rescale("0.50", 1, 0, "0.5");
	check_rescale("0.500", 0, FERRY_EREJECT, "0.500");
	check_rescale("1500", 2, 0, "1500.00");
	check_rescale("1500.00", 2, 0, "1500.00");
	check_rescale("1", -1, FERRY_EINVAL, "1");
	check_rescale("1", 16384, FERRY_EINVAL, "1");
	check_rescale("NaN", 2, 0, "NaN");
	check_rescale("-Infinity", 2, 0, "-Infinity");

	ferry_decimal d = num("1");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_rescale(&d, 16383, &err), 0, "rescale to 16383");
	is_int(d.ndigits, 16384, "... appends 16383 zeros");
	is_int(ferry_decimal_rescale(&d, 0, &err), 0, "and back to 0");
	is_str(show(&d), "1", "... gives 1");
	ferry_decimal_free(&d);

	d = num("19.99");
	ferry_decimal_rescale(&d, 1, &err);
	is_str(ferry_error_message(&err),
	       "rescaling 19.99 to scale 1 would lose digits", "message");

	/* a long value is quoted to 40 bytes */
	char *s = repeat('1', 100);
	s[50] = '.';
	ferry_decimal_free(&d);
	d = num(s);
	is_int(ferry_decimal_rescale(&d, 10, &err), FERRY_EREJECT,
	       "rescale of a 100-digit value");
	ok(strstr(ferry_error_message(&err),
	          "rescaling 1111111111111111111111111111111111111111... to") !=
	       NULL, "... message truncated: %s", ferry_error_message(&err));
	is_str(show(&d), s, "... value unchanged");
	free(s);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void check_shift(const char *text, int32_t power, int code,
                        const char *want)
{
	ferry_decimal d = num(text);
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_shift(&d, power, &err), code, "shift %s by %d",
	       text, (int)power);
	if (want)
		is_str(show(&d), want, "... gives %s", want);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_shift(void)
{
	check_shift("1999", -2, 0, "19.99");
	check_shift("19.99", 2, 0, "1999");
	check_shift("1.5", 3, 0, "1500");
	check_shift("19.90", 1, 0, "199.0");
	check_shift("-19.90", -1, 0, "-1.990");
	check_shift("0.05", 2, 0, "5");
	check_shift("12", 0, 0, "12");
	check_shift("0", -2, 0, "0.00");
	check_shift("0.00", 5, 0, "0");
	check_shift("0", INT32_MAX, 0, "0");
	check_shift("1", INT32_MAX, FERRY_EREJECT, "1");
	check_shift("1", INT32_MIN, FERRY_EREJECT, "1");
	check_shift("1", 131072, FERRY_EREJECT, "1");
	check_shift("12.5", -16383, FERRY_EREJECT, "12.5");
	check_shift("NaN", 5, 0, "NaN");
	check_shift("Infinity", -5, 0, "Infinity");

	check_shift("12.50", -16383, FERRY_EREJECT, "12.50");
	check_shift("12.50", -16382, 0, NULL); /* 0.00...0125, scale 16383 */

	ferry_decimal d = num("1");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_shift(&d, 131071, &err), 0, "shift 1 by 131071");
	is_int(d.ndigits, 131072, "... 131072 digits");
	is_int(ferry_decimal_shift(&d, 1, &err), FERRY_EREJECT,
	       "one more digit before the point is refused");
	ok(strstr(ferry_error_message(&err), "before the point") != NULL,
	   "... saying why: %s", ferry_error_message(&err));
	is_int(d.ndigits, 131072, "... value unchanged");
	is_int(ferry_decimal_shift(&d, -131071, &err), 0, "shift back to 1");
	is_int(d.scale, 16383, "... trailing zeros go to meet the scale limit");
	ferry_decimal one = num("1");
	is_int(ferry_decimal_cmp(&d, &one), 0, "... value 1");
	is_int(ferry_decimal_shift(&d, -16383, &err), 0, "shift to 1e-16383");
	is_int(d.scale, 16383, "... scale 16383");
	is_int(d.ndigits, 1, "... coefficient 1");
	is_int(ferry_decimal_shift(&d, -1, &err), FERRY_EREJECT,
	       "one more place is refused");
	ok(strstr(ferry_error_message(&err), "after the point") != NULL,
	   "... saying why: %s", ferry_error_message(&err));
	is_int(d.scale, 16383, "... value unchanged");
	ferry_decimal_free(&one);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_cmp(void)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{ "1.50", "1.5", 0 },      { "1", "1.000", 0 },
		{ "0", "0.00", 0 },        { "0", "-0", 0 },
		{ "-0.0", "0.000", 0 },    { "1500", "1.5e3", 0 },
		{ "1.5", "1.51", -1 },     { "2", "10", -1 },
		{ "0.1", "0.09", 1 },      { "-1", "1", -1 },
		{ "-2", "-1", -1 },        { "-0.5", "0", -1 },
		{ "0", "0.001", -1 },      { "100", "99.999", 1 },
		{ "-100", "-99.999", -1 }, { "0.0010", "0.001", 0 },
		{ "1.0001", "1.00010", 0 }, { "1.0001", "1.0000", 1 },
		{ "-Infinity", "-1e100", -1 }, { "Infinity", "1e100", 1 },
		{ "NaN", "Infinity", 1 },  { "NaN", "nan", 0 },
		{ "Infinity", "inf", 0 },  { "-Infinity", "-inf", 0 },
		{ "-Infinity", "Infinity", -1 }, { "NaN", "-Infinity", 1 },
		{ "NaN", "0", 1 },         { "-Infinity", "0", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ferry_decimal a = num(cases[i].a), b = num(cases[i].b);
		is_int(ferry_decimal_cmp(&a, &b), cases[i].want, "cmp(%s, %s)",
		       cases[i].a, cases[i].b);
		is_int(ferry_decimal_cmp(&b, &a), -cases[i].want, "cmp(%s, %s)",
		       cases[i].b, cases[i].a);
		ferry_decimal_free(&a);
		ferry_decimal_free(&b);
	}

	/* a strictly ascending list: every pair must agree with the order */
	static const char *const sorted[] = {
		"-Infinity", "-1e100", "-100", "-99.999", "-1", "-0.5", "-0.001",
		"0", "1e-16383", "0.001", "0.0011", "0.5", "1", "1.0001", "9.99",
		"10", "99.999", "100", "1e38", "1e100", "Infinity", "NaN",
	};
	size_t n = sizeof sorted / sizeof sorted[0];
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			ferry_decimal a = num(sorted[i]), b = num(sorted[j]);
			int want = i < j ? -1 : i > j ? 1 : 0;
			if (ferry_decimal_cmp(&a, &b) != want) {
				tap_diag("cmp(%s, %s) wrong", sorted[i], sorted[j]);
				bad++;
			}
			ferry_decimal_free(&a);
			ferry_decimal_free(&b);
		}
	}
	is_int(bad, 0, "cmp agrees with a sorted list of %zu values", n);
}

static void test_zero_normalize(void)
{
	static const struct {
		const char *in, *want;
		int zero;
	} cases[] = {
		{ "19.900", "19.9", 0 }, { "5.00", "5", 0 },
		{ "0.000", "0", 1 },     { "-0", "0", 1 },
		{ "1500", "1500", 0 },   { "0.05", "0.05", 0 },
		{ "-2.50", "-2.5", 0 },  { "NaN", "NaN", 0 },
		{ "Infinity", "Infinity", 0 }, { "100.0010", "100.001", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ferry_decimal d = num(cases[i].in);
		is_int(ferry_decimal_is_zero(&d), cases[i].zero, "is_zero(%s)",
		       cases[i].in);
		ferry_decimal_normalize(&d);
		is_str(show(&d), cases[i].want, "normalize(%s)", cases[i].in);
		ferry_decimal_free(&d);
	}
	ferry_decimal d = num("5.00");
	ferry_decimal_normalize(&d);
	is_int(d.scale, 0, "5.00 normalizes to scale 0");
	ferry_decimal_free(&d);
}

static void check_mul(const char *a, const char *b, const char *want)
{
	ferry_decimal x = num(a), y = num(b), out = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_mul(&out, &x, &y, &err), 0, "%s * %s", a, b);
	is_str(show(&out), want, "... = %s", want);
	if (out.kind == FERRY_DEC_FINITE && out.ndigits == 0)
		is_int(out.neg, 0, "... zero is not negative");
	ferry_decimal_free(&x);
	ferry_decimal_free(&y);
	ferry_decimal_free(&out);
	ferry_error_clear(&err);
}

static void test_mul(void)
{
	check_mul("1.5", "2.00", "3.000");
	check_mul("-1.5", "2", "-3.0");
	check_mul("-2", "-3", "6");
	check_mul("0", "-5", "0");
	check_mul("-0.00", "1.5", "0.000");
	check_mul("-5", "0.0", "0.0");
	check_mul("123456789", "987654321", "121932631112635269");
	check_mul("0.1", "0.1", "0.01");
	check_mul("99", "99", "9801");
	check_mul("NaN", "1", "NaN");
	check_mul("0", "NaN", "NaN");
	check_mul("Infinity", "0", "NaN");
	check_mul("0.00", "-Infinity", "NaN");
	check_mul("Infinity", "-2", "-Infinity");
	check_mul("-Infinity", "-Infinity", "Infinity");
	check_mul("-0.5", "Infinity", "-Infinity");

	char *nines = repeat('9', 38);
	check_mul(nines, nines,
	          "99999999999999999999999999999999999998"
	          "00000000000000000000000000000000000001");
	free(nines);

	ferry_decimal a = num("-1.5");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_mul(&a, &a, &a, &err), 0, "a = a * a");
	is_str(show(&a), "2.25", "... = 2.25");
	ferry_decimal_free(&a);

	ferry_decimal x = num("1e-10000"), big = num("1e100000");
	ferry_decimal out = num("7");
	is_int(ferry_decimal_mul(&out, &x, &x, &err), FERRY_EREJECT,
	       "scale 20000 is refused");
	ok(strstr(ferry_error_message(&err), "after the point") != NULL,
	   "... saying why: %s", ferry_error_message(&err));
	is_str(show(&out), "7", "... output unchanged");
	is_int(ferry_decimal_mul(&out, &big, &big, &err), FERRY_EREJECT,
	       "200001 digits before the point are refused");
	is_str(show(&out), "7", "... output unchanged");
	is_int(ferry_decimal_mul(&x, &x, &big, &err), 0, "1e-10000 * 1e100000");
	ferry_decimal want = num("1e90000");
	is_int(ferry_decimal_cmp(&x, &want), 0, "... = 1e90000");
	is_int(x.scale, 10000, "... with scale 10000");
	ferry_decimal_free(&want);
	ferry_decimal_free(&x);
	ferry_decimal_free(&big);
	ferry_decimal_free(&out);
	ferry_error_clear(&err);
}

static void check_div(const char *a, const char *b, int32_t max_scale,
                      int code, const char *want)
{
	ferry_decimal x = num(a), y = num(b), out = num("42");
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_decimal_div_exact(&out, &x, &y, max_scale, &err);
	is_int(rc, code, "%s / %s within %d places", a, b, (int)max_scale);
	if (code == 0)
		is_str(show(&out), want, "... = %s", want);
	else
		is_str(ferry_error_message(&err), want, "... message");
	if (code != 0)
		is_str(show(&out), "42", "... output unchanged");
	ferry_decimal_free(&x);
	ferry_decimal_free(&y);
	ferry_decimal_free(&out);
	ferry_error_clear(&err);
}

static void test_div(void)
{
	const int32_t M = FERRY_DECIMAL_MAX_SCALE;
	check_div("1999", "100", M, 0, "19.99");
	check_div("1990", "100", M, 0, "19.90");
	check_div("19.90", "1", M, 0, "19.90");
	/* dividing by a power of ten acts like a shift: digits are kept */
	check_div("1990", "100.00", M, 0, "19.90");
	check_div("1990", "1e2", M, 0, "19.90");
	check_div("1990", "100", 1, 0, "19.9");
	check_div("1990", "100", 0, FERRY_EREJECT,
	          "1990 / 100 has no exact decimal value within 0 places");
	check_div("12.3", "1000", M, 0, "0.0123");
	check_div("600", "30", M, 0, "20.0");
	check_div("198", "99", M, 0, "2");
	check_div("0", "100", M, 0, "0.00");
	check_div("5", "0.001", M, 0, "5000");
	check_div("1", "3", M, FERRY_EREJECT,
	          "1 / 3 has no exact decimal value within 16383 places");
	check_div("1", "8", M, 0, "0.125");
	check_div("1", "8", 3, 0, "0.125");
	check_div("1", "8", 2, FERRY_EREJECT,
	          "1 / 8 has no exact decimal value within 2 places");
	check_div("1", "3", 5, FERRY_EREJECT,
	          "1 / 3 has no exact decimal value within 5 places");
}

static void test_div_edges(void)
{
	const int32_t M = FERRY_DECIMAL_MAX_SCALE;
	check_div("1", "0", M, FERRY_EREJECT, "cannot divide 1 by zero");
	check_div("0", "0.00", M, FERRY_EREJECT, "cannot divide 0 by zero");
	check_div("Infinity", "0", M, FERRY_EREJECT,
	          "cannot divide Infinity by zero");
	check_div("123456789012345678", "100", M, 0, "1234567890123456.78");
	check_div("10", "4", M, 0, "2.5");
	check_div("-1", "8", M, 0, "-0.125");
	check_div("1", "-8", M, 0, "-0.125");
	check_div("-1", "-8", M, 0, "0.125");
	check_div("6", "0.2", M, 0, "30");
	check_div("1.000", "1", 0, 0, "1.000");
	check_div("7", "7", M, 0, "1");
	check_div("0.00", "5", M, 0, "0.00");
	check_div("-0", "-5", M, 0, "0");
	check_div("1", "1024", M, 0, "0.0009765625");
	check_div("1", "18446744073709551616", M, 0,
	          "0.0000000000000000000542101086242752217003726400434970855712890625");
	check_div("1", "18446744073709551616", 63, FERRY_EREJECT,
	          "1 / 18446744073709551616 has no exact decimal value "
	          "within 63 places");
	check_div("2.5", "0.5", M, 0, "5.0");
	check_div("0.001", "1000", M, 0, "0.000001");
	check_div("12.34", "0.01", M, 0, "1234.00");
	check_div("1e-16383", "2", M, FERRY_EREJECT,
	          "0.00000000000000000000000000000000000000... / 2 has no "
	          "exact decimal value within 16383 places");
	check_div("1e131071", "0.1", M, FERRY_EREJECT,
	          "1000000000000000000000000000000000000000... / 0.1 is out of "
	          "range: more than 131072 digits before the point");
	check_div("NaN", "0", M, 0, "NaN");
	check_div("1", "NaN", M, 0, "NaN");
	check_div("Infinity", "-Infinity", M, 0, "NaN");
	check_div("Infinity", "-2", M, 0, "-Infinity");
	check_div("-Infinity", "-0.5", M, 0, "Infinity");
	check_div("1.50", "Infinity", M, 0, "0.00");
	check_div("1", "2", -1, FERRY_EINVAL, "invalid maximum scale -1");
	check_div("1", "2", INT32_MAX, 0, "0.5");
	check_div("1", "79792266297612001", M, FERRY_EREJECT,
	          "1 / 79792266297612001 has no exact decimal value within "
	          "16383 places");
}

static void test_div_big(void)
{
	const int32_t M = FERRY_DECIMAL_MAX_SCALE;
	char *nines = repeat('9', 38), *ones = repeat('1', 38);
	check_div(nines, "9", M, 0, ones);
	check_div(nines, "9999999999999999999", M, 0, "10000000000000000001");
	check_div(nines, "99999999999999999999", M, FERRY_EREJECT,
	          "99999999999999999999999999999999999999 / "
	          "99999999999999999999 has no exact decimal value within "
	          "16383 places");
	free(nines);
	free(ones);
	nines = repeat('9', 100);
	char *threes = repeat('3', 100);
	check_div(nines, "3", M, 0, threes);
	check_div(nines, threes, M, 0, "3");
	check_div(threes, nines, M, FERRY_EREJECT,
	          "3333333333333333333333333333333333333333... / "
	          "9999999999999999999999999999999999999999... has no exact "
	          "decimal value within 16383 places");
	free(nines);
	free(threes);

	/* aliasing: out is one of the operands */
	ferry_decimal a = num("1999"), b = num("100");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_div_exact(&a, &a, &b, M, &err), 0, "a = a / b");
	is_str(show(&a), "19.99", "... = 19.99");
	is_int(ferry_decimal_div_exact(&b, &a, &b, M, &err), 0, "b = a / b");
	is_str(show(&b), "0.1999", "... = 0.1999");
	ferry_decimal_free(&a);
	ferry_decimal_free(&b);
	ferry_error_clear(&err);
}

static void check_int64(int64_t v, const char *want)
{
	ferry_decimal d = num("123.456");
	ferry_error err = FERRY_ERROR_INIT;
	int64_t back = 0;
	is_int(ferry_decimal_from_int64(&d, v, &err), 0, "from_int64(%s)", want);
	is_str(show(&d), want, "... formats as %s", want);
	is_int(d.scale, 0, "... scale 0");
	is_int(ferry_decimal_to_int64(&d, &back, &err), 0, "... back");
	ok(back == v, "... to the same int64");
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void check_to_int64(const char *text, int code, int64_t want)
{
	ferry_decimal d = num(text);
	ferry_error err = FERRY_ERROR_INIT;
	int64_t got = 12345;
	is_int(ferry_decimal_to_int64(&d, &got, &err), code, "to_int64(%s)",
	       text);
	if (code == 0) {
		ok(got == want, "... = %" PRId64, want);
	} else {
		is_int(got, 12345, "... output unchanged");
		ok(strstr(ferry_error_message(&err), show(&d)) != NULL,
		   "... message names the value: %s", ferry_error_message(&err));
	}
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_int64(void)
{
	check_int64(INT64_MIN, "-9223372036854775808");
	check_int64(INT64_MAX, "9223372036854775807");
	check_int64(INT64_MIN + 1, "-9223372036854775807");
	check_int64(0, "0");
	check_int64(-1, "-1");
	check_int64(1000, "1000");

	check_to_int64("-9223372036854775808", 0, INT64_MIN);
	check_to_int64("9223372036854775807", 0, INT64_MAX);
	check_to_int64("9223372036854775807.000", 0, INT64_MAX);
	check_to_int64("-92233720368547758.08e2", 0, INT64_MIN);
	check_to_int64("9223372036854775808", FERRY_EREJECT, 0);
	check_to_int64("-9223372036854775809", FERRY_EREJECT, 0);
	check_to_int64("18446744073709551616", FERRY_EREJECT, 0);
	check_to_int64("99999999999999999999", FERRY_EREJECT, 0);
	check_to_int64("12.00", 0, 12);
	check_to_int64("-12.00", 0, -12);
	check_to_int64("12.50", FERRY_EREJECT, 0);
	check_to_int64("0.5", FERRY_EREJECT, 0);
	check_to_int64("-0.001", FERRY_EREJECT, 0);
	check_to_int64("0.000", 0, 0);
	check_to_int64("-0", 0, 0);
	check_to_int64("1e18", 0, INT64_C(1000000000000000000));
	check_to_int64("1e19", FERRY_EREJECT, 0);
	check_to_int64("NaN", FERRY_EREJECT, 0);
	check_to_int64("Infinity", FERRY_EREJECT, 0);
	check_to_int64("-Infinity", FERRY_EREJECT, 0);

	ferry_decimal d = num("9223372036854775808");
	ferry_error err = FERRY_ERROR_INIT;
	int64_t v;
	ferry_decimal_to_int64(&d, &v, &err);
	is_str(ferry_error_message(&err),
	       "cannot convert 9223372036854775808 to bigint: out of range",
	       "overflow message");
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

static void test_copy_free(void)
{
	char *s = repeat('8', 100);
	s[3] = '.';
	ferry_decimal src = num(s), out = num("1"), special = num("-inf");
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_decimal_copy(&out, &src, &err), 0, "copy a 100-digit value");
	is_str(show(&out), s, "... same text");
	is_int(out.scale, 96, "... same scale");
	is_int(ferry_decimal_copy(&out, &out, &err), 0, "copy onto itself");
	is_str(show(&out), s, "... unchanged");
	is_int(ferry_decimal_copy(&out, &special, &err), 0, "copy a special");
	is_str(show(&out), "-Infinity", "... = -Infinity");
	ferry_decimal_free(&src);
	ok(src.digits == NULL && src.ndigits == 0 && src.scale == 0 &&
	   ferry_decimal_is_zero(&src), "free leaves zero, scale 0");
	ferry_decimal_free(&src);
	ferry_decimal_free(NULL);
	ok(1, "free twice and free(NULL) are fine");
	ferry_decimal_free(&out);
	ferry_decimal_free(&special);
	free(s);

	ferry_buf b = FERRY_BUF_INIT;
	ferry_decimal d = num("-0.05");
	ferry_buf_puts(&b, "x=");
	is_int(ferry_decimal_format(&d, &b), 0, "format appends");
	is_str(ferry_buf_cstr(&b), "x=-0.05", "... after what was there");
	ferry_buf_free(&b);
	ferry_decimal_free(&d);
	ferry_error_clear(&err);
}

/*
 * One pass of parse, mul, div, format and friends; every step either
 * succeeds or fails with FERRY_ENOMEM leaving its output as it was.
 * Returns 1 when everything ran, 0 after a clean failure, -1 on a bug.
 */
static int fault_pass(void)
{
	ferry_decimal a = FERRY_DECIMAL_INIT, b = FERRY_DECIMAL_INIT;
	ferry_decimal c = FERRY_DECIMAL_INIT, q = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf out = FERRY_BUF_INIT;
	int rc, result = -1;
	const char *step = "parse a";
	if ((rc = parse(&a, "123456789012345678901234567890.125", &err)) < 0)
		goto done;
	step = "parse b";
	if ((rc = parse(&b, "-0.5e-3", &err)) < 0)
		goto done;
	step = "from_int64";
	if ((rc = ferry_decimal_from_int64(&c, INT64_MIN, &err)) < 0)
		goto done;
	step = "mul";
	if ((rc = ferry_decimal_mul(&c, &a, &b, &err)) < 0)
		goto done;
	step = "div";
	if ((rc = ferry_decimal_div_exact(&q, &c, &b, 100, &err)) < 0)
		goto done;
	step = "copy";
	if ((rc = ferry_decimal_copy(&b, &q, &err)) < 0)
		goto done;
	step = "rescale";
	if ((rc = ferry_decimal_rescale(&b, 20, &err)) < 0)
		goto done;
	step = "shift";
	if ((rc = ferry_decimal_shift(&b, 30, &err)) < 0)
		goto done;
	step = "format";
	if ((rc = ferry_decimal_format(&q, &out)) < 0)
		goto done;
	ferry_buf_putc(&out, ' ');
	if ((rc = ferry_decimal_format(&b, &out)) < 0)
		goto done;
	step = "result";
	const char *text = ferry_buf_cstr(&out);
	rc = text ? 0 : FERRY_ENOMEM;
	if (text && strcmp(text, "123456789012345678901234567890.1250000 "
	                         "12345678901234567890123456789012500000000"
	                         "0000000000000000000") != 0) {
		tap_diag("fault pass computed \"%s\"", text);
		rc = FERRY_ERROR;
	}
done:
	if (rc == 0)
		result = 1;
	else if (rc == FERRY_ENOMEM && (err.code == FERRY_ENOMEM ||
	                               !strcmp(step, "format") ||
	                               !strcmp(step, "result")))
		result = 0;
	else
		tap_diag("step %s failed with %d: %s", step, rc,
		         ferry_error_message(&err));
	ferry_decimal_free(&a);
	ferry_decimal_free(&b);
	ferry_decimal_free(&c);
	ferry_decimal_free(&q);
	ferry_buf_free(&out);
	ferry_error_clear(&err);
	return result;
}

/* Runs one fallible operation on out: 0 mul, 1 div, 2 rescale. */
static int run_op(int op, ferry_decimal *out, const ferry_decimal *a,
                  const ferry_decimal *b, ferry_error *err)
{
	if (op == 0)
		return ferry_decimal_mul(out, a, b, err);
	if (op == 1)
		return ferry_decimal_div_exact(out, a, b, 50, err);
	return ferry_decimal_rescale(out, 200, err);
}

/* A failed allocation inside mul, div or rescale leaves the output as it
 * was before the call; once nothing fails, the result is right. */
static int fault_keeps_output(void)
{
	static const char *const want[] = {
		"-30864197253086419726.25", "-4938271560493827156.2", NULL,
	};
	ferry_decimal a = num("12345678901234567890.5"), b = num("-2.5");
	ferry_decimal out = FERRY_DECIMAL_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	int bad = 0;
	for (int op = 0; op < 3; op++) {
		for (long n = 1; n < 100; n++) {
			if (parse(&out, "77.7", &err) < 0)
				bad++;
			ferry_alloc_fail_at(n, 0);
			int rc = run_op(op, &out, &a, &b, &err);
			long failures = ferry_alloc_failures();
			ferry_alloc_fail_at(0, 0);
			const char *got = show(&out);
			if (rc == FERRY_ENOMEM ? strcmp(got, "77.7") != 0 : rc != 0) {
				tap_diag("op %d, allocation %ld: %d, %s", op, n, rc, got);
				bad++;
			}
			if (failures > 0)
				continue;
			if (want[op] && strcmp(got, want[op]) != 0)
				bad++;
			break;
		}
	}
	ferry_decimal_free(&a);
	ferry_decimal_free(&b);
	ferry_decimal_free(&out);
	ferry_error_clear(&err);
	return bad;
}

static void test_faults(void)
{
	long n;
	int bad = 0, failed_runs = 0;
	for (n = 1; n < 1000; n++) {
		ferry_alloc_fail_at(n, 0);
		int r = fault_pass();
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (r < 0) {
			tap_diag("allocation %ld: unclean failure", n);
			bad++;
		}
		if (r == 0)
			failed_runs++;
		if (failures == 0) {
			ok(r == 1, "run with no injected failure completes");
			break;
		}
		if (r == 1)
			tap_diag("allocation %ld failed but went unnoticed", n);
	}
	ok(n < 1000, "fault loop ends (%ld allocations)", n - 1);
	ok(failed_runs > 0, "some injected failures were seen (%d)", failed_runs);
	is_int(bad, 0, "every injected failure was clean");

	/* sticky: every allocation from the nth on fails */
	bad = 0;
	for (n = 1; n < 1000; n++) {
		ferry_alloc_fail_at(n, 1);
		int r = fault_pass();
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (r < 0)
			bad++;
		if (failures == 0)
			break;
	}
	is_int(bad, 0, "sticky failures are clean too");
	is_int(fault_keeps_output(), 0, "failed mul/div/rescale keep the output");
}

int main(void)
{
	test_parse_format();
	test_representation();
	test_parse_refused();
	test_limits();
	test_boundaries();
	test_check_fits();
	test_rescale();
	test_shift();
	test_cmp();
	test_zero_normalize();
	test_mul();
	test_div();
	test_div_edges();
	test_div_big();
	test_int64();
	test_copy_free();
	test_faults();
	for (int i = 0; i < 4; i++)
		ferry_buf_free(&shown[i]);
	return tap_done();
}
