/*
 * transforms/convert.c - typed conversions (convert.h, docs/conversions.md).
 *
 * Every path either produces a value that means exactly what the source
 * value meant, or refuses with a reason.  Text is parsed strictly: no
 * surrounding white space, no partial numbers, no rolled-over dates.
 */
#include "transforms/convert.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/datetime.h"

/* Conversion context, so helpers can refuse with the value in the reason. */
typedef struct conv {
	const ferry_value *in;         /* the value being converted: orig, or
	                                  orig / divide_by once divided */
	const ferry_value *orig;       /* the source value, named in reasons */
	const ferry_decimal *divide_by;
	const ferry_sqltype *to;
	ferry_dialect dialect;
	ferry_arena *scratch;
	ferry_error *err;
} conv;

static const char *type_label(const ferry_sqltype *t, char *buf, size_t cap)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_sqltype_format(t, &b);
	snprintf(buf, cap, "%s", ferry_buf_cstr(&b) ? ferry_buf_cstr(&b) : "?");
	ferry_buf_free(&b);
	return buf;
}

/* "<type> <value>", the source value shown readably (cut at 60 bytes),
 * and once divided " / <divisor> = <quotient>": a reason always names the
 * value the source holds, not only what was made of it. */
static void describe(const conv *c, ferry_buf *b)
{
	ferry_buf_printf(b, "%s ", ferry_type_name(c->orig->type));
	ferry_value_format(c->orig, b, 60);
	if (c->in != c->orig) {
		ferry_buf div = FERRY_BUF_INIT;
		ferry_decimal_format(c->divide_by, &div);
		const char *text = ferry_buf_cstr(&div);
		size_t len = text ? strlen(text) : 0;
		ferry_buf_printf(b, " / %.*s%s = ", len > 40 ? 40 : (int)len,
		                 text ? text : "?", len > 40 ? "..." : "");
		ferry_buf_free(&div);
		ferry_value_format(c->in, b, 60);
	}
}

/* "<value> <why>" */
static int refuse(conv *c, const char *why)
{
	ferry_buf shown = FERRY_BUF_INIT;
	describe(c, &shown);
	int rc = ferry_error_set(c->err, FERRY_EREJECT, "%s %s",
	                         ferry_buf_cstr(&shown) ? ferry_buf_cstr(&shown) : "?",
	                         why);
	ferry_buf_free(&shown);
	return rc;
}

/* "<value>: <reason>" for a reason from engine/decimal, which names the
 * number as it parsed it (1500 for the text '1.5e3'). */
static int refuse_because(conv *c, const ferry_error *why)
{
	ferry_buf shown = FERRY_BUF_INIT;
	describe(c, &shown);
	int rc = ferry_error_set(c->err, FERRY_EREJECT, "%s: %s",
	                         ferry_buf_cstr(&shown) ? ferry_buf_cstr(&shown) : "?",
	                         ferry_error_message(why));
	ferry_buf_free(&shown);
	return rc;
}

static int refuse_type(conv *c)
{
	char label[64], why[128];
	snprintf(why, sizeof why, "cannot be converted to %s",
	         type_label(c->to, label, sizeof label));
	return refuse(c, why);
}

static int oom(conv *c) { return ferry_error_oom(c->err); }

/* ---- text validity ------------------------------------------------ */

bool ferry_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;
	while (s < end) {
		unsigned char c = *s;
		if (c < 0x80) {
			s++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - s) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* ---- JSON validation: recursive descent with a depth limit -------- */

typedef struct json_parser {
	const char *p, *end;
	int depth;
	bool nul_escape;     /* \u0000 */
	bool lone_surrogate; /* a \uD800-\uDFFF escape not in a high-low pair */
} json_parser;

static bool json_value(json_parser *j);

static void json_ws(json_parser *j)
{
	while (j->p < j->end &&
	       (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool json_lit(json_parser *j, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool json_string(json_parser *j)
{
	bool high = false; /* the last escape was a high surrogate \uD800-\uDBFF */
	j->p++; /* opening quote */
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		if (c == '"') {
			j->lone_surrogate |= high;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			j->lone_surrogate |= high;
			high = false;
			continue;
		}
		if (j->p >= j->end)
			return false;
		char e = *j->p++;
		if (e == 'u') {
			if (j->end - j->p < 4 || !is_hex(j->p[0]) || !is_hex(j->p[1]) ||
			    !is_hex(j->p[2]) || !is_hex(j->p[3]))
				return false;
			unsigned u = 0;
			for (int i = 0; i < 4; i++)
				u = u << 4 | (unsigned)hex_digit(j->p[i]);
			j->p += 4;
			if (u == 0)
				j->nul_escape = true;
			if (u >= 0xdc00 && u <= 0xdfff) { /* low half: needs a high one */
				j->lone_surrogate |= !high;
				high = false;
			} else {
				j->lone_surrogate |= high;
				high = u >= 0xd800 && u <= 0xdbff;
			}
		} else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
			return false;
		} else {
			j->lone_surrogate |= high;
			high = false;
		}
	}
	return false;
}

static bool json_digits(json_parser *j)
{
	const char *start = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

static bool json_number(json_parser *j)
{
	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!json_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!json_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!json_digits(j))
			return false;
	}
	return true;
}

/* Members of an object (is_object) or elements of an array. */
static bool json_container(json_parser *j, bool is_object)
{
	char close = is_object ? '}' : ']';
	if (++j->depth > 1000)
		return false;
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		json_ws(j);
		if (is_object) {
			if (j->p >= j->end || *j->p != '"' || !json_string(j))
				return false;
			json_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!json_value(j))
			return false;
		json_ws(j);
		if (j->p >= j->end)
			return false;
		char c = *j->p++;
		if (c == close)
			break;
		if (c != ',')
			return false;
	}
	j->depth--;
	return true;
}

static bool json_value(json_parser *j)
{
	json_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		return json_container(j, true);
	case '[':
		return json_container(j, false);
	case '"':
		return json_string(j);
	case 't':
		return json_lit(j, "true");
	case 'f':
		return json_lit(j, "false");
	case 'n':
		return json_lit(j, "null");
	default:
		return json_number(j);
	}
}

/* ferry_json_valid, also telling whether an escape is half a surrogate
 * pair: valid JSON (RFC 8259 allows it), but jsonb cannot decode it. */
static bool json_check(const char *s, size_t len, bool *has_nul_escape,
                       bool *has_lone_surrogate)
{
	json_parser j = {s, s + len, 0, false, false};
	bool valid = json_value(&j);
	json_ws(&j);
	*has_nul_escape = j.nul_escape;
	*has_lone_surrogate = j.lone_surrogate;
	return valid && j.p == j.end && ferry_utf8_valid(s, len);
}

bool ferry_json_valid(const char *s, size_t len, bool *has_nul_escape)
{
	bool lone;
	return json_check(s, len, has_nul_escape, &lone);
}

/* ---- numbers ------------------------------------------------------ */

/* The shortest decimal text that reads back as f ("0.1", "1e+300"). */
static void float_text(double f, char *buf, size_t cap)
{
	if (isnan(f)) {
		snprintf(buf, cap, "NaN");
		return;
	}
	if (isinf(f)) {
		snprintf(buf, cap, f > 0 ? "Infinity" : "-Infinity");
		return;
	}
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(buf, cap, "%.*g", digits, f);
		if (strtod(buf, NULL) == f)
			return;
	}
}

/* The value as an exact decimal: integers, numerics, number text, and
 * floats by their shortest round-tripping digits. */
static int to_decimal(conv *c, const ferry_value *v, ferry_decimal *d)
{
	char tmp[40];
	ferry_error perr = FERRY_ERROR_INIT;
	int rc;
	switch (v->type) {
	case FERRY_INT:
		return ferry_decimal_from_int64(d, v->u.i, c->err);
	case FERRY_FLOAT:
		float_text(v->u.f, tmp, sizeof tmp);
		rc = ferry_decimal_parse(d, tmp, strlen(tmp), &perr);
		break;
	case FERRY_NUMERIC:
	case FERRY_TEXT:
		rc = ferry_decimal_parse(d, v->u.s.ptr, v->u.s.len, &perr);
		break;
	default:
		return refuse_type(c);
	}
	ferry_error_clear(&perr);
	if (rc == FERRY_ENOMEM)
		return oom(c);
	return rc < 0 ? refuse(c, "is not a number") : 0;
}

/* Sets out to the decimal's text, copied into the scratch arena. */
static int decimal_value(conv *c, const ferry_decimal *d, ferry_value *out)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_decimal_format(d, &b);
	char *text = ferry_buf_failed(&b)
	                 ? NULL
	                 : ferry_arena_strndup(c->scratch, (char *)b.data, b.len);
	size_t len = b.len;
	ferry_buf_free(&b);
	if (!text)
		return oom(c);
	*out = ferry_value_bytes(FERRY_NUMERIC, text, len);
	return 0;
}

/* in / divide_by, exactly, as a NUMERIC value in the arena. */
static int divide(conv *c, const ferry_decimal *divide_by, ferry_value *out)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	int rc = to_decimal(c, c->in, &d);
	if (rc == 0) {
		ferry_error why = FERRY_ERROR_INIT;
		rc = ferry_decimal_div_exact(&d, &d, divide_by, FERRY_DECIMAL_MAX_SCALE,
		                             &why);
		if (rc == FERRY_ENOMEM)
			rc = oom(c);
		else if (rc < 0)
			rc = refuse_because(c, &why);
		ferry_error_clear(&why);
	}
	if (rc == 0)
		rc = decimal_value(c, &d, out);
	ferry_decimal_free(&d);
	return rc;
}

static int out_of_range(conv *c)
{
	char label[64], why[96];
	snprintf(why, sizeof why, "is out of range for %s",
	         type_label(c->to, label, sizeof label));
	return refuse(c, why);
}

static int to_integer(conv *c, ferry_value *out)
{
	int64_t v;
	if (c->in->type == FERRY_INT) {
		v = c->in->u.i;
	} else if (c->in->type == FERRY_BOOL) {
		v = c->in->u.b;
	} else if (c->in->type == FERRY_FLOAT) {
		/* the double's own value, as the databases cast it: 2^62 is
		 * 4611686018427387904, not its shortest digits 4611686018427388000 */
		double f = c->in->u.f;
		if (isnan(f) || (isfinite(f) && f != trunc(f)))
			return refuse(c, "is not an integer");
		/* -2^63 is an int64; 2^63 is not (and compares exactly) */
		if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
			return out_of_range(c);
		v = (int64_t)f;
	} else {
		ferry_decimal d = FERRY_DECIMAL_INIT;
		int rc = to_decimal(c, c->in, &d);
		if (rc == 0 && ferry_decimal_to_int64(&d, &v, NULL) < 0) {
			bool integral = d.kind == FERRY_DEC_PINF ||
			                d.kind == FERRY_DEC_NINF ||
			                (d.kind == FERRY_DEC_FINITE &&
			                 ferry_decimal_rescale(&d, 0, NULL) == 0);
			rc = integral ? out_of_range(c) : refuse(c, "is not an integer");
		}
		ferry_decimal_free(&d);
		if (rc < 0)
			return rc;
	}
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	if (c->to->kind == FERRY_SQL_SMALLINT)
		lo = INT16_MIN, hi = INT16_MAX;
	else if (c->to->kind == FERRY_SQL_INTEGER)
		lo = INT32_MIN, hi = INT32_MAX;
	if (v < lo || v > hi)
		return out_of_range(c);
	*out = ferry_value_int(v);
	return 0;
}

/* Significant digits of a finite decimal: no leading or trailing zeros. */
static uint32_t significant_digits(const ferry_decimal *d)
{
	uint32_t n = d->ndigits;
	while (n > 0 && d->digits[n - 1] == 0)
		n--;
	return n;
}

static int to_numeric(conv *c, ferry_value *out)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_error why = FERRY_ERROR_INIT;
	ferry_value v;
	int rc = to_decimal(c, c->in, &d);
	if (rc == 0 && c->to->precision > 0) {
		int scale = c->to->scale < 0 ? 0 : c->to->scale;
		rc = ferry_decimal_check_fits(&d, c->to->precision, scale, &why);
		if (rc == 0 && d.kind == FERRY_DEC_FINITE)
			rc = ferry_decimal_rescale(&d, scale, &why);
		if (rc == FERRY_EREJECT)
			rc = refuse_because(c, &why);
		else if (rc < 0)
			rc = oom(c);
	}
	/* SQLite stores an integral value within int64 as an exact INTEGER;
	 * anything else becomes a double, which keeps 15 digits */
	int64_t as_int;
	bool exact_int = rc == 0 && d.kind == FERRY_DEC_FINITE &&
	                 ferry_decimal_to_int64(&d, &as_int, NULL) == 0;
	if (rc == 0 && c->dialect == FERRY_DIALECT_SQLITE && !exact_int) {
		if (d.kind != FERRY_DEC_FINITE)
			rc = refuse(c, "cannot be stored in an SQLite NUMERIC column");
		else if (significant_digits(&d) > 15)
			rc = refuse(c, "has more than 15 significant digits, more than "
			               "an SQLite NUMERIC column keeps");
	}
	if (rc == 0)
		rc = decimal_value(c, &d, &v);
	if (rc == 0 && c->dialect == FERRY_DIALECT_SQLITE && d.ndigits > 0 &&
	    !exact_int) {
		/* SQLite reads the text as a double: 1e400 would become Inf and
		 * 1e-330 zero; 15 digits survive only in the normal range */
		double f = strtod(v.u.s.ptr, NULL);
		if (!isfinite(f) || fabs(f) < DBL_MIN)
			rc = refuse(c, "is outside the range of a double, in which an "
			               "SQLite NUMERIC column would store it");
	}
	if (rc == 0)
		*out = v;
	ferry_error_clear(&why);
	ferry_decimal_free(&d);
	return rc;
}

/* Number text to double, refused unless the double means the same
 * decimal value (shortest round trip), so "0.1" passes and a 25-digit
 * value does not. */
static int text_to_double(conv *c, double *out)
{
	ferry_decimal d = FERRY_DECIMAL_INIT, back = FERRY_DECIMAL_INIT;
	int rc = to_decimal(c, c->in, &d);
	if (rc == 0 && d.kind != FERRY_DEC_FINITE) {
		*out = d.kind == FERRY_DEC_NAN ? NAN
		       : d.kind == FERRY_DEC_PINF ? INFINITY : -INFINITY;
	} else if (rc == 0) {
		char *text = ferry_arena_strndup(c->scratch, c->in->u.s.ptr,
		                                 c->in->u.s.len);
		if (!text) {
			rc = oom(c);
		} else {
			char tmp[40];
			*out = strtod(text, NULL);
			float_text(*out, tmp, sizeof tmp);
			rc = ferry_decimal_parse(&back, tmp, strlen(tmp), NULL);
			if (rc == FERRY_ENOMEM)
				rc = oom(c); /* a failed allocation is not a reject */
			else if (rc < 0 || ferry_decimal_cmp(&d, &back) != 0)
				rc = refuse(c, "cannot be represented exactly as a double");
		}
	}
	ferry_decimal_free(&d);
	ferry_decimal_free(&back);
	return rc;
}

static int to_float(conv *c, ferry_value *out)
{
	double f = 0.0; /* set on every path that uses it; -O2 cannot tell */
	int rc = 0;
	switch (c->in->type) {
	case FERRY_FLOAT:
		f = c->in->u.f;
		break;
	case FERRY_INT:
		f = (double)c->in->u.i;
		/* 2^63 itself is out of int64 range: compare before casting back */
		if (f >= 9223372036854775808.0 || (int64_t)f != c->in->u.i)
			return refuse(c, "cannot be represented exactly as a double");
		break;
	case FERRY_NUMERIC:
	case FERRY_TEXT:
		rc = text_to_double(c, &f);
		break;
	default:
		return refuse_type(c);
	}
	if (rc < 0)
		return rc;
	if (c->to->kind == FERRY_SQL_REAL && isfinite(f) && (double)(float)f != f)
		return refuse(c, "cannot be represented exactly as real (float4)");
	if (isnan(f) && c->dialect == FERRY_DIALECT_SQLITE)
		return refuse(c, "is NaN, which SQLite would store as NULL");
	*out = ferry_value_float(f);
	return 0;
}

/* ---- text and bytes ----------------------------------------------- */

static int text_value(conv *c, const char *s, size_t len, ferry_value *out)
{
	char *copy = ferry_arena_strndup(c->scratch, s, len);
	if (!copy)
		return oom(c);
	*out = ferry_value_bytes(FERRY_TEXT, copy, len);
	return 0;
}

/* Renders a non-text value as the text a database would show for it. */
static int render_text(conv *c, ferry_value *out)
{
	char tmp[64];
	ferry_buf b = FERRY_BUF_INIT;
	int rc;
	switch (c->in->type) {
	case FERRY_INT:
		snprintf(tmp, sizeof tmp, "%lld", (long long)c->in->u.i);
		return text_value(c, tmp, strlen(tmp), out);
	case FERRY_FLOAT:
		float_text(c->in->u.f, tmp, sizeof tmp);
		return text_value(c, tmp, strlen(tmp), out);
	case FERRY_BOOL:
		return text_value(c, c->in->u.b ? "true" : "false",
		                  c->in->u.b ? 4 : 5, out);
	case FERRY_DATE:
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
	case FERRY_UUID:
		ferry_value_format(c->in, &b, 0);
		rc = ferry_buf_failed(&b) ? oom(c)
		                          : text_value(c, (char *)b.data, b.len, out);
		ferry_buf_free(&b);
		return rc;
	case FERRY_BLOB:
		return refuse(c, "is a blob: declare the column bytea (type: bytea) "
		                 "to carry bytes");
	default:
		*out = *c->in; /* TEXT, NUMERIC, JSON: already text */
		out->type = FERRY_TEXT;
		return 0;
	}
}

static int check_text(conv *c, const ferry_value *v)
{
	const char *s = v->u.s.ptr;
	size_t len = v->u.s.len;
	if (c->dialect == FERRY_DIALECT_POSTGRESQL) {
		if (len && memchr(s, '\0', len))
			return refuse(c, "contains a NUL byte, which PostgreSQL text "
			                 "cannot store");
		if (!ferry_utf8_valid(s, len))
			return refuse(c, "is not valid UTF-8");
	}
	if (c->to->length > 0 && (c->to->kind == FERRY_SQL_VARCHAR ||
	                          c->to->kind == FERRY_SQL_CHAR)) {
		size_t chars = utf8_chars(s, len);
		if (chars > (size_t)c->to->length) {
			char why[96];
			snprintf(why, sizeof why, "is %zu characters, longer than %s(%d)",
			         chars, c->to->kind == FERRY_SQL_CHAR ? "char" : "varchar",
			         c->to->length);
			return refuse(c, why);
		}
	}
	return 0;
}

static int to_text(conv *c, ferry_value *out)
{
	int rc = render_text(c, out);
	return rc < 0 ? rc : check_text(c, out);
}

static int to_bytea(conv *c, ferry_value *out)
{
	if (c->in->type != FERRY_BLOB && c->in->type != FERRY_TEXT)
		return refuse_type(c);
	*out = *c->in;
	out->type = FERRY_BLOB;
	return 0;
}

static int to_bool(conv *c, ferry_value *out)
{
	static const char *const truths[] = {"true", "t", "yes", "y", "on", "1"};
	static const char *const lies[] = {"false", "f", "no", "n", "off", "0"};
	const ferry_value *in = c->in;
	if (in->type == FERRY_BOOL) {
		*out = *in;
		return 0;
	}
	if ((in->type == FERRY_INT && (in->u.i == 0 || in->u.i == 1)) ||
	    (in->type == FERRY_FLOAT && (in->u.f == 0.0 || in->u.f == 1.0))) {
		*out = ferry_value_bool(in->type == FERRY_INT ? in->u.i == 1
		                                              : in->u.f == 1.0);
		return 0;
	}
	if (in->type == FERRY_TEXT && in->u.s.len <= 5) {
		for (size_t i = 0; i < 6; i++) {
			if (strlen(truths[i]) == in->u.s.len &&
			    strncasecmp(in->u.s.ptr, truths[i], in->u.s.len) == 0) {
				*out = ferry_value_bool(true);
				return 0;
			}
			if (strlen(lies[i]) == in->u.s.len &&
			    strncasecmp(in->u.s.ptr, lies[i], in->u.s.len) == 0) {
				*out = ferry_value_bool(false);
				return 0;
			}
		}
	}
	return refuse(c, "is not a boolean (true/false, t/f, yes/no, on/off, 1/0)");
}

/* ---- dates and times ---------------------------------------------- */

static int to_date(conv *c, ferry_value *out)
{
	int32_t days;
	if (c->in->type == FERRY_DATE) {
		*out = *c->in;
		return 0;
	}
	if (c->in->type != FERRY_TEXT)
		return refuse_type(c);
	if (ferry_date_parse(c->in->u.s.ptr, c->in->u.s.len, &days, NULL) < 0)
		return refuse(c, "is not a valid date (YYYY-MM-DD)");
	*out = ferry_value_date(days);
	return 0;
}

static int to_timestamp(conv *c, ferry_value *out)
{
	bool tz = c->to->kind == FERRY_SQL_TIMESTAMPTZ;
	ferry_type want = tz ? FERRY_TIMESTAMPTZ : FERRY_TIMESTAMP;
	const ferry_value *in = c->in;
	int64_t us;
	bool has_zone;
	switch (in->type) {
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		/* a wall clock becomes UTC for timestamptz (docs/conversions.md);
		 * an instant has no wall clock without a zone: refuse */
		if (in->type == FERRY_TIMESTAMPTZ && !tz)
			return refuse(c, "has a time zone; use type timestamptz");
		*out = ferry_value_timestamp(want, in->u.i);
		return 0;
	case FERRY_DATE:
		/* infinity stays infinity; a date past the microseconds' range
		 * (about year 294000) has no timestamp */
		if (in->u.date == FERRY_DATE_PINF || in->u.date == FERRY_DATE_NINF) {
			us = in->u.date > 0 ? FERRY_TS_PINF : FERRY_TS_NINF;
		} else if (in->u.date > INT64_MAX / FERRY_USECS_PER_DAY ||
		           in->u.date < -(INT64_MAX / FERRY_USECS_PER_DAY)) {
			char label[64], why[96];
			snprintf(why, sizeof why, "is out of range for %s",
			         type_label(c->to, label, sizeof label));
			return refuse(c, why);
		} else {
			us = (int64_t)in->u.date * FERRY_USECS_PER_DAY;
		}
		*out = ferry_value_timestamp(want, us);
		return 0;
	case FERRY_TEXT:
		if (ferry_timestamp_parse(in->u.s.ptr, in->u.s.len, &us, &has_zone,
		                          NULL) < 0)
			return refuse(c, "is not a valid timestamp "
			                 "(YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])");
		if (has_zone && !tz)
			return refuse(c, "has a time zone offset; use type timestamptz");
		*out = ferry_value_timestamp(want, us);
		return 0;
	default:
		return refuse_type(c);
	}
}

/* ---- json and uuid ------------------------------------------------ */

static int to_json(conv *c, ferry_value *out)
{
	const ferry_value *in = c->in;
	bool nul_escape, lone_surrogate;
	switch (in->type) {
	case FERRY_TEXT:
	case FERRY_JSON:
		if (!json_check(in->u.s.ptr, in->u.s.len, &nul_escape, &lone_surrogate))
			return refuse(c, "is not valid JSON");
		if (nul_escape && c->to->kind == FERRY_SQL_JSONB)
			return refuse(c, "contains \\u0000, which jsonb cannot store");
		if (lone_surrogate && c->to->kind == FERRY_SQL_JSONB)
			return refuse(c, "contains an unpaired UTF-16 surrogate escape "
			                 "(\\ud800-\\udfff), which jsonb cannot store");
		*out = *in;
		out->type = FERRY_JSON;
		return 0;
	case FERRY_INT:
	case FERRY_FLOAT:
	case FERRY_BOOL:
		if (in->type == FERRY_FLOAT && !isfinite(in->u.f))
			return refuse(c, "has no JSON form");
		if (render_text(c, out) < 0)
			return FERRY_ENOMEM;
		out->type = FERRY_JSON;
		return 0;
	case FERRY_NUMERIC:
		if (!ferry_json_valid(in->u.s.ptr, in->u.s.len, &nul_escape))
			return refuse(c, "has no JSON form");
		*out = *in;
		out->type = FERRY_JSON;
		return 0;
	default:
		return refuse_type(c);
	}
}

/* 8-4-4-4-12 hex, or 32 hex digits, optionally in braces. */
static bool parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	if (len >= 2 && s[0] == '{' && s[len - 1] == '}') {
		s++;
		len -= 2;
	}
	bool hyphens = len == 36;
	if (len != 32 && !hyphens)
		return false;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (hyphens && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (s[i] != '-')
				return false;
			continue;
		}
		int h = hex_digit(s[i]), l;
		if (h < 0 || i + 1 >= len || (l = hex_digit(s[i + 1])) < 0)
			return false;
		out[n++] = (uint8_t)(h << 4 | l);
		i++;
	}
	return n == 16;
}

static int to_uuid(conv *c, ferry_value *out)
{
	uint8_t bytes[16];
	const ferry_value *in = c->in;
	if (in->type == FERRY_UUID) {
		*out = *in;
		return 0;
	}
	if (in->type == FERRY_BLOB && in->u.s.len == 16) {
		*out = ferry_value_uuid((const uint8_t *)in->u.s.ptr);
		return 0;
	}
	if (in->type == FERRY_TEXT && parse_uuid(in->u.s.ptr, in->u.s.len, bytes)) {
		*out = ferry_value_uuid(bytes);
		return 0;
	}
	return refuse(c, "is not a UUID");
}

int ferry_convert(const ferry_value *in, const ferry_sqltype *to,
                  const ferry_decimal *divide_by, ferry_dialect dialect,
                  ferry_value *out, ferry_arena *scratch, ferry_error *err)
{
	if (in->type == FERRY_NULL) {
		*out = *in;
		return 0;
	}
	conv c = {in, in, divide_by, to, dialect, scratch, err};
	ferry_value quotient;
	if (divide_by) {
		int rc = divide(&c, divide_by, &quotient);
		if (rc < 0)
			return rc;
		c.in = &quotient;
	}
	switch (to->kind) {
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT:
		return to_integer(&c, out);
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE:
		return to_float(&c, out);
	case FERRY_SQL_NUMERIC:
		return to_numeric(&c, out);
	case FERRY_SQL_BYTEA:
		return to_bytea(&c, out);
	case FERRY_SQL_BOOLEAN:
		return to_bool(&c, out);
	case FERRY_SQL_DATE:
		return to_date(&c, out);
	case FERRY_SQL_TIMESTAMP:
	case FERRY_SQL_TIMESTAMPTZ:
		return to_timestamp(&c, out);
	case FERRY_SQL_JSON:
	case FERRY_SQL_JSONB:
		return to_json(&c, out);
	case FERRY_SQL_UUID:
		return to_uuid(&c, out);
	default:
		return to_text(&c, out);
	}
}
