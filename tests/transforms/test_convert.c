/*
 * tests/transforms/test_convert.c - typed conversions (transforms/convert.h,
 * docs/conversions.md): every (value, target type, divide_by, dialect)
 * either converts to exactly the expected value or is refused with
 * FERRY_EREJECT and a reason that names the value.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/arena.h"
#include "engine/buf.h"
#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"
#include "transforms/convert.h"
#include "tests/tap.h"

/* ---- case table ---------------------------------------------------- */

enum { PG = FERRY_DIALECT_POSTGRESQL, LITE = FERRY_DIALECT_SQLITE, BOTH = 2 };

typedef struct ccase {
	int line;
	ferry_value in;
	const char *type;   /* parsed with ferry_sqltype_parse */
	const char *div;    /* divide_by as decimal text, or NULL */
	int dialect;        /* PG, LITE or BOTH */
	int rc;             /* 0 or FERRY_EREJECT */
	ferry_type out;     /* expected output type when rc == 0 */
	const char *want;   /* rc == 0: ferry_value_format of the output;
	                       rc < 0: a substring of the reason */
} ccase;

#define V_NULL {.type = FERRY_NULL, .u = {.i = 0}}
#define V_INT(x) {.type = FERRY_INT, .u = {.i = (x)}}
#define V_FLOAT(x) {.type = FERRY_FLOAT, .u = {.f = (x)}}
#define V_BOOL(x) {.type = FERRY_BOOL, .u = {.b = (x)}}
#define V_DATE(x) {.type = FERRY_DATE, .u = {.date = (x)}}
#define V_TS(x) {.type = FERRY_TIMESTAMP, .u = {.i = (x)}}
#define V_TSTZ(x) {.type = FERRY_TIMESTAMPTZ, .u = {.i = (x)}}
#define V_BYTES(t, str) {.type = (t), .u = {.s = {(str), sizeof(str) - 1}}}
#define V_TEXT(s) V_BYTES(FERRY_TEXT, s)
#define V_BLOB(s) V_BYTES(FERRY_BLOB, s)
#define V_NUM(s) V_BYTES(FERRY_NUMERIC, s)
#define V_JSON(s) V_BYTES(FERRY_JSON, s)
#define V_UUID(...) {.type = FERRY_UUID, .u = {.uuid = {__VA_ARGS__}}}

/* accepted: in -> type gives a value of type ot formatted as want */
#define YES(in, type, ot, want) {__LINE__, in, type, NULL, BOTH, 0, ot, want}
#define YES_IN(d, in, type, ot, want) {__LINE__, in, type, NULL, d, 0, ot, want}
#define YES_DIV(in, div, type, ot, want) {__LINE__, in, type, div, BOTH, 0, ot, want}
/* refused with a reason containing why */
#define NO(in, type, why) {__LINE__, in, type, NULL, BOTH, FERRY_EREJECT, FERRY_NULL, why}
#define NO_IN(d, in, type, why) {__LINE__, in, type, NULL, d, FERRY_EREJECT, FERRY_NULL, why}
#define NO_DIV(in, div, type, why) {__LINE__, in, type, div, BOTH, FERRY_EREJECT, FERRY_NULL, why}

#define UUID_BYTES 0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, \
	0x42, 0x66, 0x14, 0x17, 0x40, 0x00
#define UUID_TEXT "123e4567-e89b-12d3-a456-426614174000"

#define D_2024_02_29 19782
#define TS_2024_01_02_030405_5 INT64_C(1704164645500000)

static const ccase cases[] = {
	/* ---- divide_by into numeric ---- */
	YES_DIV(V_INT(1999), "100", "numeric(12,2)", FERRY_NUMERIC, "19.99"),
	YES_DIV(V_INT(1990), "100", "numeric(12,2)", FERRY_NUMERIC, "19.90"),
	YES_DIV(V_INT(-1999), "100", "numeric(12,2)", FERRY_NUMERIC, "-19.99"),
	YES_DIV(V_INT(0), "100", "numeric(12,2)", FERRY_NUMERIC, "0.00"),
	YES_DIV(V_INT(5), "100", "numeric(12,2)", FERRY_NUMERIC, "0.05"),
	YES_DIV(V_INT(1999), "100", "numeric", FERRY_NUMERIC, "19.99"),
	YES_DIV(V_INT(1990), "100", "numeric", FERRY_NUMERIC, "19.90"),
	YES_DIV(V_INT(1990), "100", "numeric(12,4)", FERRY_NUMERIC, "19.9000"),
	YES_DIV(V_INT(1), "8", "numeric", FERRY_NUMERIC, "0.125"),
	YES_DIV(V_INT(1999), "100.00", "numeric(12,2)", FERRY_NUMERIC, "19.99"),
	{__LINE__, V_INT(INT64_C(123456789012345678)), "numeric(20,2)", "100", PG,
	 0, FERRY_NUMERIC, "1234567890123456.78"},
	{__LINE__, V_INT(INT64_MAX), "numeric(21,2)", "100", PG, 0, FERRY_NUMERIC,
	 "92233720368547758.07"},
	{__LINE__, V_INT(INT64_MIN), "numeric", "1000", PG, 0, FERRY_NUMERIC,
	 "-9223372036854775.808"},
	NO_DIV(V_INT(123456789), "100", "numeric(5,2)", "does not fit numeric(5,2)"),
	NO_DIV(V_INT(100000), "100", "numeric(5,2)", "does not fit numeric(5,2)"),
	YES_DIV(V_INT(99999), "100", "numeric(5,2)", FERRY_NUMERIC, "999.99"),
	NO_DIV(V_INT(1), "3", "numeric", "no exact decimal value"),
	NO_DIV(V_INT(2), "3", "numeric(12,2)", "no exact decimal value"),
	NO_DIV(V_INT(10), "0", "numeric", "divide"),
	NO_DIV(V_INT(1), "1000", "numeric(12,2)", "does not fit numeric(12,2)"),
	YES_DIV(V_TEXT("12.5"), "100", "numeric", FERRY_NUMERIC, "0.125"),
	YES_DIV(V_TEXT("12.5"), "100", "numeric(12,3)", FERRY_NUMERIC, "0.125"),
	NO_DIV(V_TEXT("12.5"), "100", "numeric(12,2)", "does not fit"),
	YES_DIV(V_TEXT("1999"), "100", "numeric(12,2)", FERRY_NUMERIC, "19.99"),
	NO_DIV(V_TEXT("abc"), "100", "numeric(12,2)", "is not a number"),
	YES_DIV(V_NUM("19.99"), "10", "numeric(12,3)", FERRY_NUMERIC, "1.999"),
	YES_DIV(V_FLOAT(1999.0), "100", "numeric(12,2)", FERRY_NUMERIC, "19.99"),
	NO_DIV(V_BOOL(true), "100", "numeric(12,2)", "cannot be converted"),
	/* divide_by into other types: the quotient is converted on */
	YES_DIV(V_INT(1200), "100", "bigint", FERRY_INT, "12"),
	NO_DIV(V_INT(1250), "100", "bigint", "is not an integer"),
	YES_DIV(V_INT(1250), "100", "double precision", FERRY_FLOAT, "12.5"),
	YES_DIV(V_INT(1999), "100", "text", FERRY_TEXT, "'19.99'"),
	NO_DIV(V_INT(3276800), "100", "smallint", "out of range for smallint"),

	/* ---- numeric without divide_by ---- */
	YES(V_INT(5), "numeric(12,2)", FERRY_NUMERIC, "5.00"),
	YES(V_INT(5), "numeric", FERRY_NUMERIC, "5"),
	YES(V_INT(-42), "numeric(5)", FERRY_NUMERIC, "-42"),
	YES_IN(PG, V_INT(INT64_MIN), "numeric", FERRY_NUMERIC,
	       "-9223372036854775808"),
	NO(V_INT(123456), "numeric(5,2)", "does not fit numeric(5,2)"),
	YES(V_TEXT("12.340"), "numeric(5,2)", FERRY_NUMERIC, "12.34"),
	NO(V_TEXT("12.345"), "numeric(5,2)", "too many after the point"),
	NO(V_TEXT("1.5e3"), "numeric(3,0)", "does not fit numeric(3,0)"),
	YES(V_TEXT("1.5e3"), "numeric(4,0)", FERRY_NUMERIC, "1500"),
	YES(V_TEXT("-0.00"), "numeric(5,2)", FERRY_NUMERIC, "0.00"),
	YES(V_TEXT("19.90"), "numeric", FERRY_NUMERIC, "19.90"),
	YES(V_TEXT("+7"), "numeric", FERRY_NUMERIC, "7"),
	NO(V_TEXT("abc"), "numeric", "is not a number"),
	NO(V_TEXT(" 12"), "numeric", "is not a number"),
	NO(V_TEXT("12 "), "numeric", "is not a number"),
	NO(V_TEXT(""), "numeric", "is not a number"),
	NO(V_TEXT("1,5"), "numeric", "is not a number"),
	YES(V_NUM("19.99"), "numeric(4,2)", FERRY_NUMERIC, "19.99"),
	YES(V_NUM("19.9"), "numeric(12,2)", FERRY_NUMERIC, "19.90"),
	YES(V_FLOAT(0.1), "numeric", FERRY_NUMERIC, "0.1"),
	YES(V_FLOAT(0.1), "numeric(12,2)", FERRY_NUMERIC, "0.10"),
	YES(V_FLOAT(19.99), "numeric(12,2)", FERRY_NUMERIC, "19.99"),
	YES_IN(PG, V_FLOAT(1.0 / 3), "numeric", FERRY_NUMERIC, "0.3333333333333333"),
	NO_IN(LITE, V_FLOAT(1.0 / 3), "numeric", "15 significant digits"),
	NO(V_FLOAT(1.0 / 3), "numeric(5,2)", "does not fit numeric(5,2)"),
	YES(V_FLOAT(-0.0), "numeric", FERRY_NUMERIC, "0"),
	YES(V_FLOAT(1e20), "numeric", FERRY_NUMERIC, "100000000000000000000"),
	YES(V_FLOAT(1.5e-5), "numeric", FERRY_NUMERIC, "0.000015"),
	YES_IN(PG, V_FLOAT(NAN), "numeric", FERRY_NUMERIC, "NaN"),
	YES_IN(PG, V_FLOAT(NAN), "numeric(5,2)", FERRY_NUMERIC, "NaN"),
	YES_IN(PG, V_NUM("NaN"), "numeric(5,2)", FERRY_NUMERIC, "NaN"),
	YES_IN(PG, V_FLOAT(INFINITY), "numeric", FERRY_NUMERIC, "Infinity"),
	YES_IN(PG, V_TEXT("-Infinity"), "numeric", FERRY_NUMERIC, "-Infinity"),
	NO_IN(PG, V_FLOAT(INFINITY), "numeric(5,2)", "infinite"),
	NO(V_BOOL(true), "numeric", "cannot be converted to numeric"),
	NO(V_DATE(0), "numeric", "cannot be converted to numeric"),
	NO(V_BLOB("\x01"), "numeric", "cannot be converted to numeric"),
	/* SQLite keeps 15 significant digits in a NUMERIC column */
	YES_IN(LITE, V_NUM("123456789012345"), "numeric", FERRY_NUMERIC,
	       "123456789012345"),
	YES_IN(LITE, V_NUM("1234567890.12345"), "numeric", FERRY_NUMERIC,
	       "1234567890.12345"),
	/* integral within int64: stored as an exact INTEGER, any length */
	YES_IN(LITE, V_NUM("1234567890123456"), "numeric", FERRY_NUMERIC,
	       "1234567890123456"),
	YES_IN(LITE, V_NUM("-9223372036854775808"), "numeric", FERRY_NUMERIC,
	       "-9223372036854775808"),
	NO_IN(LITE, V_NUM("9223372036854775808"), "numeric", "15 significant digits"),
	NO_IN(LITE, V_NUM("1234567890123456.5"), "numeric", "15 significant digits"),
	NO_IN(LITE, V_NUM("1234567890.123456"), "numeric", "15 significant digits"),
	YES_IN(PG, V_NUM("1234567890.123456"), "numeric", FERRY_NUMERIC,
	       "1234567890.123456"),
	YES_IN(LITE, V_NUM("19.90"), "numeric", FERRY_NUMERIC, "19.90"),
	YES_IN(LITE, V_NUM("19.90"), "numeric(12,2)", FERRY_NUMERIC, "19.90"),
	YES_IN(LITE, V_NUM("100000000000000000000"), "numeric", FERRY_NUMERIC,
	       "100000000000000000000"),
	YES_IN(LITE, V_NUM("0.000000000000000000001"), "numeric", FERRY_NUMERIC,
	       "0.000000000000000000001"),
	{__LINE__, V_INT(1999), "numeric(12,2)", "100", LITE, 0, FERRY_NUMERIC,
	 "19.99"},
	{__LINE__, V_INT(INT64_C(123456789012345678)), "numeric(20,2)", "100", LITE,
	 FERRY_EREJECT, FERRY_NULL, "15 significant digits"},
	NO_IN(LITE, V_NUM("NaN"), "numeric", "SQLite"),
	NO_IN(LITE, V_FLOAT(NAN), "numeric", "SQLite"),
	NO_IN(LITE, V_NUM("Infinity"), "numeric", "SQLite"),
	NO_IN(LITE, V_NUM("1e400"), "numeric", "SQLite"),
	NO_IN(LITE, V_NUM("-1e309"), "numeric", "SQLite"),
	NO_IN(LITE, V_NUM("1e-330"), "numeric", "SQLite"),
	NO_IN(LITE, V_NUM("1.79769313486232e308"), "numeric", "range of a double"),
	NO_IN(LITE, V_NUM("-2.2e-308"), "numeric", "range of a double"),
	NO_IN(LITE, V_TEXT("1e999"), "numeric(5)", "does not fit numeric(5,0)"),
	{__LINE__, V_INT(1), "numeric", "1e400", LITE, FERRY_EREJECT, FERRY_NULL,
	 "range of a double"},

	/* ---- integers ---- */
	YES(V_INT(32767), "smallint", FERRY_INT, "32767"),
	YES(V_INT(-32768), "int2", FERRY_INT, "-32768"),
	NO(V_INT(32768), "smallint", "out of range for smallint"),
	NO(V_INT(-32769), "smallint", "out of range for smallint"),
	YES(V_INT(2147483647), "integer", FERRY_INT, "2147483647"),
	YES(V_INT(-2147483647 - 1), "int4", FERRY_INT, "-2147483648"),
	NO(V_INT(2147483648), "integer", "out of range for integer"),
	NO(V_INT(-2147483649), "int", "out of range for integer"),
	YES(V_INT(INT64_MAX), "bigint", FERRY_INT, "9223372036854775807"),
	YES(V_INT(INT64_MIN), "int8", FERRY_INT, "-9223372036854775808"),
	YES(V_TEXT("32767"), "smallint", FERRY_INT, "32767"),
	NO(V_TEXT("32768"), "smallint", "out of range for smallint"),
	YES(V_TEXT("9223372036854775807"), "bigint", FERRY_INT,
	    "9223372036854775807"),
	YES(V_TEXT("-9223372036854775808"), "bigint", FERRY_INT,
	    "-9223372036854775808"),
	NO(V_TEXT("9223372036854775808"), "bigint", "out of range for bigint"),
	NO(V_TEXT("100000000000000000000"), "integer", "out of range for integer"),
	YES(V_TEXT("12.0"), "bigint", FERRY_INT, "12"),
	YES(V_TEXT("12.000"), "integer", FERRY_INT, "12"),
	YES(V_TEXT("1e3"), "bigint", FERRY_INT, "1000"),
	YES(V_TEXT("-0"), "bigint", FERRY_INT, "0"),
	YES(V_TEXT("+12"), "bigint", FERRY_INT, "12"),
	NO(V_TEXT("12.5"), "bigint", "is not an integer"),
	NO(V_TEXT("abc"), "bigint", "is not a number"),
	NO(V_TEXT("abc"), "integer", "is not a number"),
	NO(V_TEXT(" 12"), "bigint", "is not a number"),
	NO(V_TEXT("12 "), "bigint", "is not a number"),
	NO(V_TEXT("0x10"), "bigint", "is not a number"),
	NO(V_TEXT(""), "bigint", "is not a number"),
	NO(V_TEXT("NaN"), "bigint", "is not an integer"),
	YES(V_NUM("42.00"), "bigint", FERRY_INT, "42"),
	NO(V_NUM("42.01"), "bigint", "is not an integer"),
	YES(V_FLOAT(3.0), "bigint", FERRY_INT, "3"),
	YES(V_FLOAT(-3.0), "smallint", FERRY_INT, "-3"),
	YES(V_FLOAT(-0.0), "bigint", FERRY_INT, "0"),
	NO(V_FLOAT(3.5), "bigint", "is not an integer"),
	NO(V_FLOAT(0.1), "integer", "is not an integer"),
	NO(V_FLOAT(1e300), "bigint", "out of range for bigint"),
	NO(V_FLOAT(40000.0), "smallint", "out of range for smallint"),
	NO(V_FLOAT(NAN), "bigint", "is not an integer"),
	NO(V_FLOAT(INFINITY), "bigint", "bigint"),
	NO(V_FLOAT(9223372036854775808.0), "bigint", "out of range for bigint"),
	YES(V_FLOAT(-9223372036854775808.0), "bigint", FERRY_INT,
	    "-9223372036854775808"),
	YES(V_FLOAT(4611686018427387904.0), "bigint", FERRY_INT,
	    "4611686018427387904"),
	YES(V_FLOAT(9007199254740993.0), "bigint", FERRY_INT, "9007199254740992"),
	YES(V_BOOL(true), "integer", FERRY_INT, "1"),
	YES(V_BOOL(false), "smallint", FERRY_INT, "0"),
	NO(V_DATE(0), "bigint", "cannot be converted to bigint"),
	NO(V_BLOB("12"), "bigint", "cannot be converted to bigint"),
	NO(V_JSON("12"), "bigint", "cannot be converted to bigint"),

	/* ---- double precision ---- */
	YES(V_INT(9007199254740992), "double precision", FERRY_FLOAT,
	    "9007199254740992"),
	NO(V_INT(9007199254740993), "double precision", "exactly as a double"),
	YES(V_INT(-9007199254740992), "float8", FERRY_FLOAT, "-9007199254740992"),
	NO(V_INT(-9007199254740993), "float8", "exactly as a double"),
	NO(V_INT(INT64_MAX), "double precision", "exactly as a double"),
	YES(V_INT(INT64_MIN), "double precision", FERRY_FLOAT,
	    "-9.223372036854776e+18"),
	YES(V_INT(4611686018427387904), "double", FERRY_FLOAT,
	    "4.611686018427388e+18"),
	YES(V_TEXT("0.1"), "double precision", FERRY_FLOAT, "0.1"),
	YES(V_TEXT("0.30000000000000004"), "double precision", FERRY_FLOAT,
	    "0.30000000000000004"),
	YES(V_TEXT("-2.5e-3"), "double precision", FERRY_FLOAT, "-0.0025"),
	YES(V_TEXT("1e308"), "double precision", FERRY_FLOAT, "1e+308"),
	YES(V_TEXT("-0"), "double precision", FERRY_FLOAT, "-0"),
	NO(V_TEXT("1e309"), "double precision", "exactly as a double"),
	NO(V_TEXT("1e-400"), "double precision", "exactly as a double"),
	NO(V_TEXT("1234567890123456789012345"), "double precision",
	   "exactly as a double"),
	NO(V_TEXT("12345678901234567890"), "double precision",
	   "exactly as a double"),
	NO(V_TEXT("0.1000000000000000000001"), "double precision",
	   "exactly as a double"),
	NO(V_TEXT("abc"), "double precision", "is not a number"),
	NO(V_TEXT(" 0.1"), "double precision", "is not a number"),
	YES(V_NUM("19.99"), "double precision", FERRY_FLOAT, "19.99"),
	YES(V_NUM("19.90"), "double precision", FERRY_FLOAT, "19.9"),
	YES(V_FLOAT(0.1), "double precision", FERRY_FLOAT, "0.1"),
	YES(V_FLOAT(-0.0), "double precision", FERRY_FLOAT, "-0"),
	YES(V_FLOAT(INFINITY), "double precision", FERRY_FLOAT, "Infinity"),
	YES(V_TEXT("-Infinity"), "double precision", FERRY_FLOAT, "-Infinity"),
	YES_IN(PG, V_FLOAT(NAN), "double precision", FERRY_FLOAT, "NaN"),
	YES_IN(PG, V_TEXT("NaN"), "double precision", FERRY_FLOAT, "NaN"),
	YES_IN(PG, V_NUM("NaN"), "double precision", FERRY_FLOAT, "NaN"),
	NO_IN(LITE, V_FLOAT(NAN), "double precision", "NaN"),
	NO_IN(LITE, V_TEXT("NaN"), "double precision", "NULL"),
	NO_IN(LITE, V_NUM("NaN"), "real", "NaN"),
	NO(V_BOOL(true), "double precision", "cannot be converted to double"),
	NO(V_DATE(0), "double precision", "cannot be converted to double"),

	/* ---- real (float4) ---- */
	YES(V_FLOAT(0.5), "real", FERRY_FLOAT, "0.5"),
	YES(V_FLOAT(-1.25), "float4", FERRY_FLOAT, "-1.25"),
	NO(V_FLOAT(0.1), "real", "real (float4)"),
	NO(V_TEXT("0.1"), "real", "real (float4)"),
	YES(V_TEXT("0.5"), "real", FERRY_FLOAT, "0.5"),
	YES(V_INT(16777216), "real", FERRY_FLOAT, "16777216"),
	NO(V_INT(16777217), "real", "real (float4)"),
	NO(V_FLOAT(1e300), "real", "real (float4)"),
	NO(V_FLOAT(-1e39), "real", "real (float4)"),
	NO(V_FLOAT(1e-50), "real", "real (float4)"),
	YES(V_FLOAT(3.4028234663852886e38), "real", FERRY_FLOAT,
	    "3.4028234663852886e+38"),
	YES(V_FLOAT(INFINITY), "real", FERRY_FLOAT, "Infinity"),
	YES_IN(PG, V_FLOAT(NAN), "real", FERRY_FLOAT, "NaN"),
	NO_IN(LITE, V_FLOAT(NAN), "real", "NaN"),

	/* ---- text: validity per dialect ---- */
	YES(V_TEXT("hello"), "text", FERRY_TEXT, "'hello'"),
	YES(V_TEXT(""), "text", FERRY_TEXT, "''"),
	YES(V_TEXT("\xe6\x97\xa5\xe6\x9c\xac"), "text", FERRY_TEXT,
	    "'\xe6\x97\xa5\xe6\x9c\xac'"),
	YES(V_TEXT("\xf0\x9f\x98\x80"), "text", FERRY_TEXT, "'\xf0\x9f\x98\x80'"),
	NO_IN(PG, V_TEXT("a\xc0\xaf"), "text", "not valid UTF-8"),
	NO_IN(PG, V_TEXT("\xed\xa0\x80"), "text", "not valid UTF-8"),
	NO_IN(PG, V_TEXT("x\xe4\xb8"), "text", "not valid UTF-8"),
	NO_IN(PG, V_TEXT("\xf4\x90\x80\x80"), "text", "not valid UTF-8"),
	NO_IN(PG, V_TEXT("\xff"), "varchar(10)", "not valid UTF-8"),
	YES_IN(LITE, V_TEXT("a\xc0\xaf"), "text", FERRY_TEXT, "'a\xc0\xaf'"),
	YES_IN(LITE, V_TEXT("\xed\xa0\x80"), "text", FERRY_TEXT, "'\xed\xa0\x80'"),
	YES_IN(LITE, V_TEXT("x\xe4\xb8"), "text", FERRY_TEXT, "'x\xe4\xb8'"),
	YES_IN(LITE, V_TEXT("\xf4\x90\x80\x80"), "text", FERRY_TEXT,
	       "'\xf4\x90\x80\x80'"),
	NO_IN(PG, V_TEXT("a\0b"), "text", "NUL byte"),
	NO_IN(PG, V_TEXT("\0"), "varchar(5)", "NUL byte"),
	YES_IN(LITE, V_TEXT("a\0b"), "text", FERRY_TEXT, "'a\\x00b'"),
	YES(V_TEXT("tab\there\nline"), "text", FERRY_TEXT,
	    "'tab\\there\\nline'"),
	/* varchar(n) and char(n) count characters, not bytes */
	YES(V_TEXT("abc"), "varchar(3)", FERRY_TEXT, "'abc'"),
	NO(V_TEXT("abcd"), "varchar(3)", "is 4 characters, longer than varchar(3)"),
	YES(V_TEXT("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), "varchar(3)",
	    FERRY_TEXT, "'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'"),
	NO(V_TEXT("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9ex"), "varchar(3)",
	   "4 characters"),
	YES(V_TEXT("abcdefghij"), "character varying", FERRY_TEXT,
	    "'abcdefghij'"),
	YES(V_TEXT("ab"), "char(2)", FERRY_TEXT, "'ab'"),
	NO(V_TEXT("abc"), "char(2)", "longer than char(2)"),
	YES(V_TEXT("a"), "char", FERRY_TEXT, "'a'"),
	NO(V_TEXT("ab"), "char", "longer than char(1)"),
	NO(V_INT(12345), "varchar(3)", "5 characters"),
	/* other values rendered as text */
	YES(V_INT(42), "text", FERRY_TEXT, "'42'"),
	YES(V_INT(INT64_MIN), "text", FERRY_TEXT, "'-9223372036854775808'"),
	YES(V_FLOAT(0.1), "text", FERRY_TEXT, "'0.1'"),
	YES(V_FLOAT(3.0), "text", FERRY_TEXT, "'3'"),
	YES(V_FLOAT(1e300), "text", FERRY_TEXT, "'1e+300'"),
	YES(V_FLOAT(NAN), "text", FERRY_TEXT, "'NaN'"),
	YES(V_BOOL(true), "text", FERRY_TEXT, "'true'"),
	YES(V_BOOL(false), "varchar(5)", FERRY_TEXT, "'false'"),
	NO(V_BOOL(false), "varchar(4)", "longer than varchar(4)"),
	YES(V_DATE(D_2024_02_29), "text", FERRY_TEXT, "'2024-02-29'"),
	YES(V_TS(TS_2024_01_02_030405_5), "text", FERRY_TEXT,
	    "'2024-01-02 03:04:05.5'"),
	YES(V_TSTZ(TS_2024_01_02_030405_5), "text", FERRY_TEXT,
	    "'2024-01-02 03:04:05.5Z'"),
	YES(V_UUID(UUID_BYTES), "text", FERRY_TEXT, "'" UUID_TEXT "'"),
	YES(V_NUM("19.90"), "text", FERRY_TEXT, "'19.90'"),
	YES(V_JSON("{\"a\": [1, 2]}"), "text", FERRY_TEXT, "'{\"a\": [1, 2]}'"),
	NO(V_BLOB("\x01\x02"), "text", "bytea"),
	NO(V_BLOB("abc"), "varchar(10)", "bytea"),

	/* ---- bytea ---- */
	YES(V_BLOB("\x00\xff\x10"), "bytea", FERRY_BLOB, "\\x00ff10"),
	YES(V_BLOB(""), "bytea", FERRY_BLOB, "\\x"),
	YES(V_TEXT("abc"), "bytea", FERRY_BLOB, "\\x616263"),
	YES(V_TEXT("a\0\xff"), "bytea", FERRY_BLOB, "\\x6100ff"),
	NO(V_INT(1), "bytea", "cannot be converted to bytea"),
	NO(V_UUID(UUID_BYTES), "bytea", "cannot be converted to bytea"),

	/* ---- boolean ---- */
	YES(V_BOOL(true), "boolean", FERRY_BOOL, "true"),
	YES(V_BOOL(false), "bool", FERRY_BOOL, "false"),
	YES(V_INT(0), "boolean", FERRY_BOOL, "false"),
	YES(V_INT(1), "boolean", FERRY_BOOL, "true"),
	NO(V_INT(2), "boolean", "is not a boolean"),
	NO(V_INT(-1), "boolean", "is not a boolean"),
	YES(V_FLOAT(0.0), "boolean", FERRY_BOOL, "false"),
	YES(V_FLOAT(1.0), "boolean", FERRY_BOOL, "true"),
	NO(V_FLOAT(0.5), "boolean", "is not a boolean"),
	YES(V_TEXT("t"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("TRUE"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("yes"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("On"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("1"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("y"), "boolean", FERRY_BOOL, "true"),
	YES(V_TEXT("f"), "boolean", FERRY_BOOL, "false"),
	YES(V_TEXT("False"), "boolean", FERRY_BOOL, "false"),
	YES(V_TEXT("no"), "boolean", FERRY_BOOL, "false"),
	YES(V_TEXT("N"), "boolean", FERRY_BOOL, "false"),
	YES(V_TEXT("OFF"), "boolean", FERRY_BOOL, "false"),
	YES(V_TEXT("0"), "boolean", FERRY_BOOL, "false"),
	NO(V_TEXT("maybe"), "boolean", "is not a boolean"),
	NO(V_TEXT(""), "boolean", "is not a boolean"),
	NO(V_TEXT(" t"), "boolean", "is not a boolean"),
	NO(V_TEXT("true "), "boolean", "is not a boolean"),
	NO(V_TEXT("tru"), "boolean", "is not a boolean"),
	NO(V_TEXT("t\0"), "boolean", "is not a boolean"),
	NO(V_TEXT("2"), "boolean", "is not a boolean"),
	NO(V_NUM("1"), "boolean", "is not a boolean"),
	NO(V_DATE(0), "boolean", "is not a boolean"),

	/* ---- date ---- */
	YES(V_TEXT("2024-02-29"), "date", FERRY_DATE, "2024-02-29"),
	YES(V_TEXT("1970-01-01"), "date", FERRY_DATE, "1970-01-01"),
	YES(V_TEXT("0001-01-01"), "date", FERRY_DATE, "0001-01-01"),
	YES(V_TEXT("9999-12-31"), "date", FERRY_DATE, "9999-12-31"),
	YES(V_TEXT("2000-02-29"), "date", FERRY_DATE, "2000-02-29"),
	NO(V_TEXT("2023-02-29"), "date", "is not a valid date"),
	NO(V_TEXT("1900-02-29"), "date", "is not a valid date"),
	NO(V_TEXT("2024-13-01"), "date", "is not a valid date"),
	NO(V_TEXT("2024-04-31"), "date", "is not a valid date"),
	NO(V_TEXT("2024-00-10"), "date", "is not a valid date"),
	NO(V_TEXT("0000-01-01"), "date", "is not a valid date"),
	NO(V_TEXT("2024-1-01"), "date", "is not a valid date"),
	NO(V_TEXT("2024-01-01 "), "date", "is not a valid date"),
	NO(V_TEXT("2024-01-01 00:00:00"), "date", "is not a valid date"),
	NO(V_TEXT("today"), "date", "is not a valid date"),
	YES(V_DATE(D_2024_02_29), "date", FERRY_DATE, "2024-02-29"),
	YES_IN(PG, V_DATE(FERRY_DATE_PINF), "date", FERRY_DATE, "infinity"),
	NO(V_TS(0), "date", "cannot be converted to date"),
	NO(V_INT(19782), "date", "cannot be converted to date"),

	/* ---- timestamp and timestamptz ---- */
	YES(V_TEXT("2024-01-02 03:04:05.5"), "timestamp", FERRY_TIMESTAMP,
	    "2024-01-02 03:04:05.5"),
	YES(V_TEXT("2024-01-02T03:04:05.123456"), "timestamp", FERRY_TIMESTAMP,
	    "2024-01-02 03:04:05.123456"),
	YES(V_TEXT("2024-01-02 03:04:05.000001"), "timestamp", FERRY_TIMESTAMP,
	    "2024-01-02 03:04:05.000001"),
	YES(V_TEXT("2024-01-02 03:04"), "timestamp", FERRY_TIMESTAMP,
	    "2024-01-02 03:04:00"),
	YES(V_TEXT("2024-01-02"), "timestamp without time zone", FERRY_TIMESTAMP,
	    "2024-01-02 00:00:00"),
	YES(V_TEXT("1969-12-31 23:59:59.999999"), "timestamp", FERRY_TIMESTAMP,
	    "1969-12-31 23:59:59.999999"),
	NO(V_TEXT("2024-01-02 03:04:05+02:00"), "timestamp", "time zone"),
	NO(V_TEXT("2024-01-02 03:04:05Z"), "timestamp", "time zone"),
	NO(V_TEXT("2024-01-02 03:04:05.1234567"), "timestamp",
	   "is not a valid timestamp"),
	NO(V_TEXT("2024-01-02 24:00:00"), "timestamp", "is not a valid timestamp"),
	NO(V_TEXT("2024-01-02 23:59:60"), "timestamp", "is not a valid timestamp"),
	NO(V_TEXT("2023-02-29 10:00:00"), "timestamp", "is not a valid timestamp"),
	NO(V_TEXT("2024-01-02 03:04:05 "), "timestamp", "is not a valid timestamp"),
	NO(V_TEXT("yesterday"), "timestamptz", "is not a valid timestamp"),
	YES(V_TEXT("2024-01-02 03:04:05+02:00"), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-01-02 01:04:05Z"),
	YES(V_TEXT("2024-01-02 03:04:05.25-05"), "timestamp with time zone",
	    FERRY_TIMESTAMPTZ, "2024-01-02 08:04:05.25Z"),
	YES(V_TEXT("2024-01-02T03:04:05Z"), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-01-02 03:04:05Z"),
	YES(V_TEXT("2024-01-01 01:00:00+0130"), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2023-12-31 23:30:00Z"),
	/* a wall clock without a zone is taken as UTC */
	YES(V_TEXT("2024-01-02 03:04:05"), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-01-02 03:04:05Z"),
	YES(V_TS(TS_2024_01_02_030405_5), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-01-02 03:04:05.5Z"),
	YES(V_TS(TS_2024_01_02_030405_5), "timestamp", FERRY_TIMESTAMP,
	    "2024-01-02 03:04:05.5"),
	YES(V_TSTZ(TS_2024_01_02_030405_5), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-01-02 03:04:05.5Z"),
	NO(V_TSTZ(TS_2024_01_02_030405_5), "timestamp", "time zone"),
	YES(V_DATE(D_2024_02_29), "timestamp", FERRY_TIMESTAMP,
	    "2024-02-29 00:00:00"),
	YES(V_DATE(D_2024_02_29), "timestamptz", FERRY_TIMESTAMPTZ,
	    "2024-02-29 00:00:00Z"),
	YES(V_DATE(-1), "timestamp", FERRY_TIMESTAMP, "1969-12-31 00:00:00"),
	YES_IN(PG, V_DATE(FERRY_DATE_PINF), "timestamp", FERRY_TIMESTAMP,
	       "infinity"),
	YES_IN(PG, V_DATE(FERRY_DATE_NINF), "timestamptz", FERRY_TIMESTAMPTZ,
	       "-infinity"),
	NO(V_DATE(200000000), "timestamp", "out of range"),
	NO(V_DATE(-200000000), "timestamptz", "out of range"),
	YES_IN(PG, V_TS(FERRY_TS_PINF), "timestamptz", FERRY_TIMESTAMPTZ,
	       "infinity"),
	NO(V_INT(0), "timestamp", "cannot be converted to timestamp"),
	NO(V_FLOAT(0.0), "timestamptz", "cannot be converted to timestamp"),

	/* ---- json and jsonb ---- */
	YES(V_TEXT("{\"a\":1}"), "json", FERRY_JSON, "'{\"a\":1}'"),
	YES(V_TEXT(" [1, 2.5, -3e2, true, false, null, \"x\"] "), "jsonb",
	    FERRY_JSON, "' [1, 2.5, -3e2, true, false, null, \"x\"] '"),
	YES(V_TEXT("{\"a\":{\"b\":[{},[],{\"c\":[null]}]},\"d\":\"\\\"\"}"),
	    "jsonb", FERRY_JSON,
	    "'{\"a\":{\"b\":[{},[],{\"c\":[null]}]},\"d\":\"\\\\\"\"}'"),
	YES(V_TEXT("42"), "json", FERRY_JSON, "'42'"),
	YES(V_TEXT("-0.5E+3"), "json", FERRY_JSON, "'-0.5E+3'"),
	YES(V_TEXT("\"str\""), "json", FERRY_JSON, "'\"str\"'"),
	YES(V_TEXT("null"), "json", FERRY_JSON, "'null'"),
	YES(V_TEXT("\"\\u00e9\\n\\t\\/\\b\\f\\r\""), "jsonb", FERRY_JSON,
	    "'\"\\\\u00e9\\\\n\\\\t\\\\/\\\\b\\\\f\\\\r\"'"),
	YES(V_TEXT("\"\xe6\x97\xa5\""), "jsonb", FERRY_JSON, "'\"\xe6\x97\xa5\"'"),
	YES(V_JSON("{\"k\": [1]}"), "jsonb", FERRY_JSON, "'{\"k\": [1]}'"),
	NO(V_TEXT("[1,2,]"), "json", "is not valid JSON"),
	NO(V_TEXT("{\"a\":1,}"), "json", "is not valid JSON"),
	NO(V_TEXT("{'a':1}"), "json", "is not valid JSON"),
	NO(V_TEXT("'a'"), "jsonb", "is not valid JSON"),
	NO(V_TEXT("{a:1}"), "json", "is not valid JSON"),
	NO(V_TEXT("NaN"), "json", "is not valid JSON"),
	NO(V_TEXT("Infinity"), "jsonb", "is not valid JSON"),
	NO(V_TEXT("01"), "json", "is not valid JSON"),
	NO(V_TEXT("[01]"), "json", "is not valid JSON"),
	NO(V_TEXT("-"), "json", "is not valid JSON"),
	NO(V_TEXT("-a"), "json", "is not valid JSON"),
	NO(V_TEXT("1."), "json", "is not valid JSON"),
	NO(V_TEXT(".5"), "json", "is not valid JSON"),
	NO(V_TEXT("+1"), "json", "is not valid JSON"),
	NO(V_TEXT("1e"), "json", "is not valid JSON"),
	NO(V_TEXT("\"a\tb\""), "json", "is not valid JSON"),
	NO(V_TEXT("\"a\nb\""), "jsonb", "is not valid JSON"),
	NO(V_TEXT("\"a\0b\""), "json", "is not valid JSON"),
	NO(V_TEXT("\"\\x41\""), "json", "is not valid JSON"),
	NO(V_TEXT("\"\\u12\""), "json", "is not valid JSON"),
	NO(V_TEXT("\"\\u12g4\""), "json", "is not valid JSON"),
	NO(V_TEXT("\"abc"), "json", "is not valid JSON"),
	NO(V_TEXT("[1"), "json", "is not valid JSON"),
	NO(V_TEXT("{\"a\"}"), "json", "is not valid JSON"),
	NO(V_TEXT("{\"a\" 1}"), "json", "is not valid JSON"),
	NO(V_TEXT("[1 2]"), "json", "is not valid JSON"),
	NO(V_TEXT("{} {}"), "json", "is not valid JSON"),
	NO(V_TEXT(""), "json", "is not valid JSON"),
	NO(V_TEXT("   "), "json", "is not valid JSON"),
	NO(V_TEXT("True"), "json", "is not valid JSON"),
	NO(V_TEXT("nul"), "json", "is not valid JSON"),
	NO(V_TEXT("truex"), "json", "is not valid JSON"),
	NO(V_TEXT("\"\xc0\xaf\""), "json", "is not valid JSON"),
	NO_IN(LITE, V_TEXT("[1,]"), "json", "is not valid JSON"),
	/* \u0000 and unpaired surrogates: json keeps the text, jsonb decodes */
	YES(V_TEXT("\"a\\u0000b\""), "json", FERRY_JSON, "'\"a\\\\u0000b\"'"),
	NO(V_TEXT("\"a\\u0000b\""), "jsonb", "\\u0000"),
	YES(V_TEXT("\"\\ud83d\\ude04\""), "jsonb", FERRY_JSON,
	    "'\"\\\\ud83d\\\\ude04\"'"),
	YES(V_TEXT("\"\\uD83D\\uDE04\""), "jsonb", FERRY_JSON,
	    "'\"\\\\uD83D\\\\uDE04\"'"),
	YES(V_TEXT("\"\\ud83d\""), "json", FERRY_JSON, "'\"\\\\ud83d\"'"),
	NO(V_TEXT("\"\\ud83d\""), "jsonb", "surrogate"),
	NO(V_TEXT("\"\\ude04\\ud83d\""), "jsonb", "surrogate"),
	NO(V_TEXT("\"\\ud83d\\ud83d\""), "jsonb", "surrogate"),
	NO(V_TEXT("\"\\ud83dx\""), "jsonb", "surrogate"),
	NO(V_TEXT("{\"\\udc00\":1}"), "jsonb", "surrogate"),
	/* other values as JSON */
	YES(V_INT(5), "json", FERRY_JSON, "'5'"),
	YES(V_INT(-9), "jsonb", FERRY_JSON, "'-9'"),
	YES(V_FLOAT(0.5), "json", FERRY_JSON, "'0.5'"),
	YES(V_FLOAT(1e300), "jsonb", FERRY_JSON, "'1e+300'"),
	YES(V_FLOAT(1e-7), "json", FERRY_JSON, "'1e-07'"),
	NO(V_FLOAT(NAN), "json", "has no JSON form"),
	NO(V_FLOAT(-INFINITY), "jsonb", "has no JSON form"),
	YES(V_BOOL(true), "json", FERRY_JSON, "'true'"),
	YES(V_NUM("19.90"), "json", FERRY_JSON, "'19.90'"),
	NO(V_NUM("NaN"), "jsonb", "has no JSON form"),
	NO(V_DATE(0), "json", "cannot be converted to json"),
	NO(V_BLOB("{}"), "json", "cannot be converted to json"),
	NO(V_UUID(UUID_BYTES), "jsonb", "cannot be converted to jsonb"),

	/* ---- uuid ---- */
	YES(V_TEXT(UUID_TEXT), "uuid", FERRY_UUID, UUID_TEXT),
	YES(V_TEXT("123e4567e89b12d3a456426614174000"), "uuid", FERRY_UUID,
	    UUID_TEXT),
	YES(V_TEXT("{" UUID_TEXT "}"), "uuid", FERRY_UUID, UUID_TEXT),
	YES(V_TEXT("{123e4567e89b12d3a456426614174000}"), "uuid", FERRY_UUID,
	    UUID_TEXT),
	YES(V_TEXT("123E4567-E89B-12D3-A456-426614174000"), "uuid", FERRY_UUID,
	    UUID_TEXT),
	YES(V_UUID(UUID_BYTES), "uuid", FERRY_UUID, UUID_TEXT),
	YES(V_BLOB("\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17"
	           "\x40\x00"), "uuid", FERRY_UUID, UUID_TEXT),
	NO(V_BLOB("\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17"
	          "\x40"), "uuid", "is not a UUID"),
	NO(V_TEXT("123e4567-e89b-12d3-a456-42661417400"), "uuid", "is not a UUID"),
	NO(V_TEXT("123e4567-e89b-12d3-a456-4266141740000"), "uuid",
	   "is not a UUID"),
	NO(V_TEXT("123e4567e89b12d3a45642661417400"), "uuid", "is not a UUID"),
	NO(V_TEXT("123e4567-e89b-12d3-a456-42661417400g"), "uuid", "is not a UUID"),
	NO(V_TEXT("123e456-7e89b-12d3-a456-426614174000"), "uuid", "is not a UUID"),
	NO(V_TEXT("123e4567-e89b-12d3-a456_426614174000"), "uuid", "is not a UUID"),
	NO(V_TEXT("{" UUID_TEXT), "uuid", "is not a UUID"),
	NO(V_TEXT(UUID_TEXT "}"), "uuid", "is not a UUID"),
	NO(V_TEXT(" " UUID_TEXT), "uuid", "is not a UUID"),
	NO(V_TEXT("urn:uuid:" UUID_TEXT), "uuid", "is not a UUID"),
	NO(V_TEXT("not a uuid"), "uuid", "is not a UUID"),
	NO(V_TEXT(""), "uuid", "is not a UUID"),
	NO(V_INT(1), "uuid", "is not a UUID"),
};

/* ---- helpers ------------------------------------------------------- */

static ferry_arena arena = FERRY_ARENA_INIT;

static const char *dialect_name(int d)
{
	return d == LITE ? "sqlite" : "postgresql";
}

/* ferry_value_format into b (reset first); returns the C string. */
static const char *fmt(ferry_buf *b, const ferry_value *v, size_t max)
{
	ferry_buf_reset(b);
	ferry_value_format(v, b, max);
	const char *s = ferry_buf_cstr(b);
	return s ? s : "(format failed)";
}

/* Whether the reason shows the offending value: as ferry_value_format
 * shows it in reject reports, or its own bytes (numbers and text quoted
 * by engine/decimal and engine/datetime). */
static bool names_value(const char *reason, const ferry_value *in)
{
	ferry_buf b = FERRY_BUF_INIT;
	bool found = strstr(reason, fmt(&b, in, 60)) != NULL;
	ferry_buf_free(&b);
	if (!found && ferry_type_has_bytes(in->type) && in->u.s.len > 0) {
		size_t n = in->u.s.len > 40 ? 40 : in->u.s.len;
		char raw[41];
		memcpy(raw, in->u.s.ptr, n);
		raw[n] = '\0';
		found = strlen(raw) == n && strstr(reason, raw) != NULL;
	}
	return found;
}

static ferry_sqltype type_of(const char *text)
{
	ferry_sqltype t;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_sqltype_parse(&t, text, &err) < 0) {
		tap_diag("bad type in test: %s", ferry_error_message(&err));
		abort();
	}
	ferry_error_clear(&err);
	return t;
}

static ferry_decimal dec(const char *text)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	if (ferry_decimal_parse(&d, text, strlen(text), NULL) < 0) {
		tap_diag("bad decimal in test: %s", text);
		abort();
	}
	return d;
}

/* Runs one conversion and checks it against the expectation. */
static void check(int line, const ferry_value *in, const char *type,
                  const char *div, int dialect, int want_rc, ferry_type want_type,
                  const char *want)
{
	ferry_sqltype to = type_of(type);
	ferry_decimal d = FERRY_DECIMAL_INIT;
	if (div)
		d = dec(div);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf shown = FERRY_BUF_INIT, got = FERRY_BUF_INIT;
	ferry_value out = ferry_value_null();
	ferry_arena_reset(&arena);
	int rc = ferry_convert(in, &to, div ? &d : NULL, (ferry_dialect)dialect,
	                       &out, &arena, &err);
	char label[200];
	snprintf(label, sizeof label, "line %d: %s %s -> %s%s%s (%s)", line,
	         ferry_type_name(in->type), fmt(&shown, in, 40), type,
	         div ? " / " : "", div ? div : "", dialect_name(dialect));
	if (want_rc == 0) {
		const char *text = rc == 0 ? fmt(&got, &out, 0) : "(refused)";
		bool same = rc == 0 && out.type == want_type &&
		            out.type == ferry_sqltype_value_type(&to) &&
		            strcmp(text, want) == 0;
		if (!ok(same, "%s gives %s", label, want)) {
			tap_diag("  rc %d, type %s, value %s", rc, ferry_type_name(out.type),
			         text);
			if (rc < 0)
				tap_diag("  reason: %s", ferry_error_message(&err));
		}
	} else {
		const char *reason = ferry_error_message(&err);
		bool refused = rc == want_rc && err.code == want_rc &&
		               strstr(reason, want) != NULL;
		if (!ok(refused, "%s refused: %s", label, want)) {
			tap_diag("  rc %d, reason: %s", rc, reason);
			if (rc == 0)
				tap_diag("  gave %s %s", ferry_type_name(out.type),
				         fmt(&got, &out, 0));
		}
		if (rc < 0 && !ok(names_value(reason, in), "%s: reason names the value",
		                  label))
			tap_diag("  reason: %s", reason);
	}
	ferry_error_clear(&err);
	ferry_buf_free(&shown);
	ferry_buf_free(&got);
	ferry_decimal_free(&d);
}

static void run_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const ccase *c = &cases[i];
		for (int d = PG; d <= LITE; d++)
			if (c->dialect == BOTH || c->dialect == d)
				check(c->line, &c->in, c->type, c->div, d, c->rc, c->out,
				      c->want);
	}
}

/* ---- cases built at run time ---------------------------------------- */

static void test_null_everywhere(void)
{
	static const char *const types[] = {
		"smallint", "integer", "bigint", "real", "double precision",
		"numeric", "numeric(12,2)", "text", "varchar(3)", "char(1)", "bytea",
		"boolean", "date", "timestamp", "timestamptz", "json", "jsonb", "uuid",
	};
	ferry_decimal hundred = dec("100");
	int bad = 0;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		ferry_sqltype to = type_of(types[i]);
		for (int d = PG; d <= LITE; d++) {
			for (int div = 0; div < 2; div++) {
				ferry_value in = ferry_value_null(), out = ferry_value_int(7);
				ferry_error err = FERRY_ERROR_INIT;
				ferry_arena_reset(&arena);
				int rc = ferry_convert(&in, &to, div ? &hundred : NULL,
				                       (ferry_dialect)d, &out, &arena, &err);
				if (rc != 0 || out.type != FERRY_NULL || err.code != 0) {
					bad++;
					tap_diag("NULL -> %s (%s%s): rc %d, type %s", types[i],
					         dialect_name(d), div ? ", / 100" : "", rc,
					         ferry_type_name(out.type));
				}
				ferry_error_clear(&err);
			}
		}
	}
	ok(bad == 0, "NULL stays NULL for every type, dialect and divide_by");
	ferry_decimal_free(&hundred);
}

static char *nested(int depth, char open, char close, const char *inner)
{
	size_t n = strlen(inner), len = 2 * (size_t)depth + n;
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memset(s, open, (size_t)depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, close, (size_t)depth);
	s[len] = '\0';
	return s;
}

/* {"a":{"a":...{"a":1}...}} with depth objects. */
static char *nested_objects(int depth)
{
	size_t len = (size_t)depth * 6 + 1;
	char *s = malloc(len + 1), *p = s;
	if (!s)
		abort();
	for (int i = 0; i < depth; i++) {
		memcpy(p, "{\"a\":", 5);
		p += 5;
	}
	*p++ = '1';
	for (int i = 0; i < depth; i++)
		*p++ = '}';
	*p = '\0';
	return s;
}

static void test_json_depth(void)
{
	bool nul;
	static const int depths[] = {1, 999, 1000, 1001, 5000};
	for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
		int depth = depths[i];
		bool want = depth <= 1000;
		char *arr = nested(depth, '[', ']', "1");
		char *obj = nested_objects(depth);
		char *mixed = nested(depth, '[', ']', "{\"k\":[]}");
		is_int(ferry_json_valid(arr, strlen(arr), &nul), want,
		       "json_valid: %d nested arrays", depth);
		is_int(ferry_json_valid(obj, strlen(obj), &nul), want,
		       "json_valid: %d nested objects", depth);
		/* the object and its empty array add two levels */
		is_int(ferry_json_valid(mixed, strlen(mixed), &nul), depth + 2 <= 1000,
		       "json_valid: %d arrays around an object", depth);
		ferry_value in = ferry_value_bytes(FERRY_TEXT, arr, strlen(arr)), out;
		ferry_sqltype to = type_of("jsonb");
		ferry_error err = FERRY_ERROR_INIT;
		ferry_arena_reset(&arena);
		int rc = ferry_convert(&in, &to, NULL, FERRY_DIALECT_POSTGRESQL, &out,
		                       &arena, &err);
		if (want)
			ok(rc == 0 && out.type == FERRY_JSON && out.u.s.len == strlen(arr),
			   "%d nested arrays into jsonb", depth);
		else
			ok(rc == FERRY_EREJECT &&
			       strstr(ferry_error_message(&err), "is not valid JSON") &&
			       strstr(ferry_error_message(&err), "...(") != NULL,
			   "%d nested arrays into jsonb refused, value shown cut: %s",
			   depth, ferry_error_message(&err));
		ferry_error_clear(&err);
		free(arr);
		free(obj);
		free(mixed);
	}
	/* an unclosed deep document must not read past its end */
	char *open = nested(600, '[', ']', "1");
	open[600 + 1 + 599] = '\0';
	ok(!ferry_json_valid(open, strlen(open), &nul), "unclosed deep array");
	free(open);
}

static void test_utf8_direct(void)
{
	static const struct {
		const char *s;
		size_t len;
		bool valid;
		const char *name;
	} u[] = {
		{"", 0, true, "empty"},
		{"plain ascii", 11, true, "ascii"},
		{"a\0b", 3, true, "NUL is a valid code point"},
		{"\x7f", 1, true, "DEL"},
		{"\xc2\x80", 2, true, "U+0080"},
		{"\xdf\xbf", 2, true, "U+07FF"},
		{"\xe0\xa0\x80", 3, true, "U+0800"},
		{"\xed\x9f\xbf", 3, true, "U+D7FF"},
		{"\xee\x80\x80", 3, true, "U+E000"},
		{"\xef\xbf\xbf", 3, true, "U+FFFF"},
		{"\xf0\x90\x80\x80", 4, true, "U+10000"},
		{"\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF"},
		{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9, true, "three CJK"},
		{"\xc0\xaf", 2, false, "overlong '/' (C0 AF)"},
		{"\xc1\xbf", 2, false, "overlong C1"},
		{"\xe0\x80\xaf", 3, false, "overlong 3-byte '/'"},
		{"\xe0\x9f\xbf", 3, false, "overlong 3-byte U+07FF"},
		{"\xf0\x80\x80\xaf", 4, false, "overlong 4-byte '/'"},
		{"\xf0\x8f\xbf\xbf", 4, false, "overlong 4-byte U+FFFF"},
		{"\xed\xa0\x80", 3, false, "surrogate U+D800"},
		{"\xed\xbf\xbf", 3, false, "surrogate U+DFFF"},
		{"\xed\xa0\xbd\xed\xb8\x80", 6, false, "CESU-8 surrogate pair"},
		{"\xf4\x90\x80\x80", 4, false, "U+110000"},
		{"\xf5\x80\x80\x80", 4, false, "F5 lead"},
		{"\xf8\x88\x80\x80\x80", 5, false, "5-byte form"},
		{"\xff", 1, false, "FF"},
		{"\xfe", 1, false, "FE"},
		{"\x80", 1, false, "lone continuation"},
		{"a\xbf", 2, false, "continuation after ASCII"},
		{"\xe4\xb8", 2, false, "truncated 3-byte"},
		{"\xe4", 1, false, "lead byte alone"},
		{"\xf0\x9f\x98", 3, false, "truncated 4-byte"},
		{"\xc3\x28", 2, false, "bad continuation"},
		{"\xe4\xb8\xad\xe4", 4, false, "truncated after a good one"},
		{"\xe4\x41\xad", 3, false, "ASCII inside a sequence"},
	};
	for (size_t i = 0; i < sizeof u / sizeof *u; i++)
		is_int(ferry_utf8_valid(u[i].s, u[i].len), u[i].valid, "utf8_valid: %s",
		       u[i].name);
	/* the length bounds the check: a valid prefix of a longer string */
	ok(ferry_utf8_valid("\xe4\xb8\xad\xff", 3), "utf8_valid reads only len");
	ok(!ferry_utf8_valid("\xe4\xb8\xad", 2), "utf8_valid: cut by len");
}

static void test_json_direct(void)
{
	static const struct {
		const char *s;
		bool valid, nul;
	} j[] = {
		{"{}", true, false},
		{"[]", true, false},
		{" \t\r\n{ } \n", true, false},
		{"0", true, false},
		{"-0", true, false},
		{"-0.0e-0", true, false},
		{"1E400", true, false},
		{"123456789012345678901234567890", true, false},
		{"\"\"", true, false},
		{"\"\\u0000\"", true, true},
		{"[\"x\", {\"y\": \"\\u0000\"}]", true, true},
		{"\"\\u00000\"", true, true},
		{"\"\\\\u0000\"", true, false},
		{"\"\\u0001\"", true, false},
		{"\"\\u1000\"", true, false},
		{"\"\xf0\x9f\x98\x80\"", true, false},
		{"\"\x7f\"", true, false},
		{"{\"a\":[1,{\"b\":null}],\"c\":false}", true, false},
		{"{\"a\":1,\"a\":2}", true, false},
		{"\"\\/\"", true, false},
		{"[1,,2]", false, false},
		{"[,]", false, false},
		{"{,}", false, false},
		{"{\"a\":1,,\"b\":2}", false, false},
		{"{\"a\"::1}", false, false},
		{"{1:1}", false, false},
		{"[1]]", false, false},
		{"]", false, false},
		{"00", false, false},
		{"-01", false, false},
		{"1.e5", false, false},
		{"1e+", false, false},
		{"0x1", false, false},
		{"--1", false, false},
		{"\xef\xbb\xbf{}", false, false},
		{"\"\\U0041\"", false, false},
		{"\"\\\"", false, false},
		{"\"\\", false, false},
		{"[\"\x1f\"]", false, false},
		{"\f1", false, false},
		{"1 2", false, false},
		{"\"\xed\xa0\x80\"", false, false},
		{"\"\xff\"", false, false},
	};
	for (size_t i = 0; i < sizeof j / sizeof *j; i++) {
		bool nul = !j[i].nul;
		bool valid = ferry_json_valid(j[i].s, strlen(j[i].s), &nul);
		ok(valid == j[i].valid && (!valid || nul == j[i].nul),
		   "json_valid: %s is %s%s", j[i].s, j[i].valid ? "valid" : "invalid",
		   j[i].nul ? " with \\u0000" : "");
	}
	bool nul;
	ok(!ferry_json_valid("[1]x", 4, &nul), "json_valid: trailing garbage");
	ok(ferry_json_valid("[1]x", 3, &nul), "json_valid reads only len");
	ok(!ferry_json_valid("[1]", 2, &nul), "json_valid: cut by len");
	ok(!ferry_json_valid("\"a\0\"", 4, &nul), "json_valid: raw NUL in string");
	ok(!ferry_json_valid("1\0", 2, &nul), "json_valid: NUL after value");
	ok(!ferry_json_valid("tru", 3, &nul), "json_valid: short literal");
	ok(!ferry_json_valid("-", 1, &nul), "json_valid: bare minus");
}

/* Reasons for long values are cut, and still say which value it was. */
static void test_long_values(void)
{
	char text[201];
	memset(text, 'x', 200);
	text[200] = '\0';
	ferry_value in = ferry_value_bytes(FERRY_TEXT, text, 200), out;
	ferry_sqltype to = type_of("varchar(10)");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_arena_reset(&arena);
	int rc = ferry_convert(&in, &to, NULL, FERRY_DIALECT_POSTGRESQL, &out,
	                       &arena, &err);
	const char *reason = ferry_error_message(&err);
	ok(rc == FERRY_EREJECT && strstr(reason, "200 characters") &&
	       strstr(reason, "...(200 bytes)") && strlen(reason) < 200,
	   "200-character text into varchar(10): %s", reason);
	ferry_error_clear(&err);

	to = type_of("varchar(200)");
	ferry_arena_reset(&arena);
	rc = ferry_convert(&in, &to, NULL, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                   &err);
	ok(rc == 0 && out.type == FERRY_TEXT && out.u.s.len == 200 &&
	       memcmp(out.u.s.ptr, text, 200) == 0,
	   "200 characters fit varchar(200)");
	ferry_error_clear(&err);

	/* a float as numeric keeps its shortest digits, not 17 */
	ferry_value f = ferry_value_float(1e300);
	to = type_of("numeric");
	ferry_arena_reset(&arena);
	rc = ferry_convert(&f, &to, NULL, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                   &err);
	bool digits = rc == 0 && out.type == FERRY_NUMERIC && out.u.s.len == 301 &&
	              out.u.s.ptr[0] == '1';
	for (size_t i = 1; digits && i < 301; i++)
		digits = out.u.s.ptr[i] == '0';
	ok(digits, "float 1e300 into numeric is 1 and 300 zeros");
	ferry_error_clear(&err);

	/* a huge exact value: 1 followed by 1000 zeros, divided by 10^1000 */
	char big[1002];
	big[0] = '1';
	memset(big + 1, '0', 1000);
	big[1001] = '\0';
	ferry_value n = ferry_value_bytes(FERRY_NUMERIC, big, 1001);
	ferry_decimal d = dec(big);
	ferry_arena_reset(&arena);
	rc = ferry_convert(&n, &to, &d, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                   &err);
	/* dividing by a power of ten moves the point: 1000 places are kept */
	bool one = rc == 0 && out.type == FERRY_NUMERIC && out.u.s.len == 1002 &&
	           memcmp(out.u.s.ptr, "1.", 2) == 0;
	for (size_t i = 2; one && i < 1002; i++)
		one = out.u.s.ptr[i] == '0';
	ok(one, "10^1000 / 10^1000 = 1.000... with 1000 places");
	ferry_error_clear(&err);
	to = type_of("double precision");
	ferry_arena_reset(&arena);
	rc = ferry_convert(&n, &to, NULL, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                   &err);
	ok(rc == FERRY_EREJECT && strstr(ferry_error_message(&err), "10000000000"),
	   "10^1000 into double refused: %.80s", ferry_error_message(&err));
	ferry_error_clear(&err);
	ferry_decimal_free(&d);

	/* exact in PostgreSQL; in SQLite only inside the double range */
	char tiny[340], huge[302];
	snprintf(tiny, sizeof tiny, "0.%0330d", 1); /* 1e-330 */
	huge[0] = '1';
	memset(huge + 1, '0', 300); /* 1e300 */
	huge[301] = '\0';
	check(__LINE__, &(ferry_value)V_NUM("1e-330"), "numeric", NULL, PG, 0,
	      FERRY_NUMERIC, tiny);
	check(__LINE__, &(ferry_value)V_NUM("1e300"), "numeric", NULL, LITE, 0,
	      FERRY_NUMERIC, huge);
	char minus[303] = "-15";
	memset(minus + 3, '0', 299); /* -1.5e300 */
	minus[302] = '\0';
	check(__LINE__, &(ferry_value)V_NUM("-1.5e300"), "numeric", NULL, LITE, 0,
	      FERRY_NUMERIC, minus);
	check(__LINE__, &(ferry_value)V_NUM("2.2250738585072014e-308"), "numeric",
	      NULL, LITE, FERRY_EREJECT, FERRY_NULL, "15 significant digits");
}

/* Where the output's bytes live: borrowed from the input or the arena. */
static void test_payloads(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_sqltype text = type_of("text");
	char src[] = "borrowed";
	ferry_value in = ferry_value_bytes(FERRY_TEXT, src, 8), out;
	ferry_arena_reset(&arena);
	ok(ferry_convert(&in, &text, NULL, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                 &err) == 0 && out.u.s.ptr == src && out.u.s.len == 8,
	   "text to text borrows the input's bytes");

	ferry_value i = ferry_value_int(-17);
	ferry_arena_reset(&arena);
	ok(ferry_convert(&i, &text, NULL, FERRY_DIALECT_POSTGRESQL, &out, &arena,
	                 &err) == 0 && out.u.s.len == 3 &&
	       memcmp(out.u.s.ptr, "-17", 3) == 0 && out.u.s.ptr[3] == '\0',
	   "int to text lives in the arena, NUL-terminated");

	/* many conversions into one arena: earlier outputs stay valid */
	ferry_value outs[2000];
	ferry_sqltype num = type_of("numeric(12,2)");
	ferry_decimal hundred = dec("100");
	ferry_arena_reset(&arena);
	bool all = true;
	for (int k = 0; k < 2000; k++) {
		ferry_value v = ferry_value_int(k * 7 + 1);
		all &= ferry_convert(&v, &num, &hundred, FERRY_DIALECT_SQLITE, &outs[k],
		                     &arena, &err) == 0;
	}
	for (int k = 0; all && k < 2000; k++) {
		char want[32];
		int v = k * 7 + 1;
		snprintf(want, sizeof want, "%d.%02d", v / 100, v % 100);
		all = outs[k].u.s.len == strlen(want) &&
		      memcmp(outs[k].u.s.ptr, want, outs[k].u.s.len) == 0;
	}
	ok(all, "2000 outputs in one arena stay valid until reset");
	ferry_decimal_free(&hundred);
	ferry_error_clear(&err);
}

/* Every allocation failure surfaces as FERRY_ENOMEM (or the normal
 * answer when the failed allocation was not needed) and leaks nothing. */
static void test_alloc_failures(void)
{
	static const struct {
		ferry_value in;
		const char *type, *div;
		int dialect;
	} f[] = {
		{V_INT(1999), "numeric(12,2)", "100", PG},
		{V_INT(1), "numeric", "3", PG},
		{V_TEXT("12.5"), "numeric(12,3)", "100", LITE},
		{V_TEXT("abc"), "bigint", NULL, PG},
		{V_TEXT("0.1"), "double precision", NULL, PG},
		{V_INT(42), "text", NULL, PG},
		{V_DATE(19782), "varchar(20)", NULL, PG},
		{V_TEXT("abcd"), "varchar(3)", NULL, PG},
		{V_FLOAT(19.99), "numeric(4,2)", NULL, LITE},
		{V_NUM("1e400"), "numeric", NULL, LITE},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		ferry_sqltype to = type_of(f[i].type);
		ferry_decimal d = FERRY_DECIMAL_INIT;
		if (f[i].div)
			d = dec(f[i].div);
		/* the answer without failures */
		ferry_arena scratch = FERRY_ARENA_INIT;
		ferry_error err = FERRY_ERROR_INIT;
		ferry_value out;
		int want = ferry_convert(&f[i].in, &to, f[i].div ? &d : NULL,
		                         (ferry_dialect)f[i].dialect, &out, &scratch,
		                         &err);
		ferry_error_clear(&err);
		ferry_arena_free(&scratch);
		for (long nth = 1; nth < 500; nth++) {
			ferry_alloc_fail_at(nth, 1);
			int rc = ferry_convert(&f[i].in, &to, f[i].div ? &d : NULL,
			                       (ferry_dialect)f[i].dialect, &out, &scratch,
			                       &err);
			long failed = ferry_alloc_failures();
			ferry_alloc_fail_at(0, 0);
			if (rc != want && rc != FERRY_ENOMEM) {
				bad++;
				tap_diag("%s -> %s, allocation %ld fails: rc %d, want %d (%s)",
				         ferry_type_name(f[i].in.type), f[i].type, nth, rc, want,
				         ferry_error_message(&err));
			}
			if (rc == FERRY_ENOMEM && err.code != FERRY_ENOMEM) {
				bad++;
				tap_diag("ENOMEM without the error set");
			}
			ferry_error_clear(&err);
			ferry_arena_free(&scratch);
			if (failed == 0)
				break;
		}
		ferry_decimal_free(&d);
	}
	ok(bad == 0, "allocation failures give FERRY_ENOMEM or the normal answer");
}

int main(void)
{
	run_table();
	test_null_everywhere();
	test_json_depth();
	test_utf8_direct();
	test_json_direct();
	test_long_values();
	test_payloads();
	test_alloc_failures();
	ferry_arena_free(&arena);
	return tap_done();
}
