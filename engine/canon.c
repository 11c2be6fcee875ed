/*
 * engine/canon.c - values brought to a target column's type, their
 * canonical bytes and order-preserving key bytes (canon.h), for
 * verification (docs/verify.md).
 *
 * Speed matters here: every value of both sides passes through it.
 * Integers and plain decimal texts are encoded without allocating (the
 * same bytes ferry_value_canonical would give, which the unit tests
 * check); everything rarer goes through ferry_value_canonical.
 */
#include "engine/canon.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/decimal.h"

/* ferry_value_canonical's class of numbers (engine/value.c). */
#define CLASS_NUMBER 0x01

/* Order-preserving key classes: any fixed order; NULL first. */
enum {
	KEY_NULL = 0x01,
	KEY_INT = 0x10,
	KEY_NUMERIC = 0x11,
	KEY_FLOAT = 0x12,
	KEY_BOOL = 0x13,
	KEY_DATE = 0x14,
	KEY_TIMESTAMP = 0x15,
	KEY_TIMESTAMPTZ = 0x16,
	KEY_TEXT = 0x20,
	KEY_BLOB = 0x21,
	KEY_JSON = 0x22,
	KEY_UUID = 0x30,
	KEY_OTHER = 0x40
};

/* ---- numbers ------------------------------------------------------- */

int ferry_canon_float_text(double f, char *buf, size_t cap)
{
	if (!isfinite(f))
		return -1;
	/* 15 digits read back for most values stored from short decimals;
	 * otherwise the shortest of 16 and 17 */
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, cap, "%.*g", digits, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	if (strcmp(buf, "-0") == 0)
		snprintf(buf, cap, "0");
	return 0;
}

/* The canonical number bytes of a normalized coefficient. */
static void put_number(ferry_buf *out, int neg, uint32_t scale,
                       const uint8_t *digits, uint32_t ndigits)
{
	ferry_buf_putc(out, CLASS_NUMBER);
	ferry_buf_putc(out, neg && ndigits ? 1 : 0);
	ferry_buf_put_varint(out, ndigits ? scale : 0);
	ferry_buf_put_varint(out, ndigits);
	ferry_buf_append(out, digits, ndigits);
}

static void put_int_number(ferry_buf *out, int64_t i)
{
	uint8_t digits[20], rev[20];
	uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
	uint32_t n = 0;
	while (u) {
		rev[n++] = (uint8_t)(u % 10);
		u /= 10;
	}
	for (uint32_t k = 0; k < n; k++)
		digits[k] = rev[n - 1 - k];
	put_number(out, i < 0, 0, digits, n);
}

/* A plain decimal text [+-]digits[.digits], normalized into digits (at
 * most 64); 0 when the text has another form (exponent, NaN, long). */
typedef struct plain_decimal {
	int neg;
	uint32_t scale, ndigits;
	uint8_t digits[64];
} plain_decimal;

static int parse_plain(const char *s, size_t len, plain_decimal *d)
{
	size_t i = 0;
	int seen_digit = 0, seen_point = 0;
	d->neg = 0;
	d->scale = 0;
	d->ndigits = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		d->neg = s[i++] == '-';
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.' && !seen_point) {
			seen_point = 1;
			continue;
		}
		if (c < '0' || c > '9')
			return 0;
		seen_digit = 1;
		if (seen_point)
			d->scale++;
		if (d->ndigits == 0 && c == '0')
			continue; /* leading zero of the coefficient */
		if (d->ndigits == sizeof d->digits)
			return 0;
		d->digits[d->ndigits++] = (uint8_t)(c - '0');
	}
	if (!seen_digit)
		return 0;
	/* the coefficient has no leading zeros, but a fraction's zeros after
	 * the point before the first significant digit are part of scale */
	while (d->scale > 0 && d->ndigits > 0 && d->digits[d->ndigits - 1] == 0) {
		d->ndigits--;
		d->scale--;
	}
	if (d->ndigits == 0) {
		d->scale = 0;
		d->neg = 0;
	}
	return 1;
}

static int put_numeric_text(ferry_buf *out, const char *s, size_t len,
                            ferry_error *err)
{
	plain_decimal d;
	if (parse_plain(s, len, &d)) {
		put_number(out, d.neg, d.scale, d.digits, d.ndigits);
		return 0;
	}
	ferry_value v = ferry_value_bytes(FERRY_NUMERIC, s, len);
	return ferry_value_canonical(&v, out, err);
}

/* The value as an int64 when it is an integer in range. */
static int numeric_as_int(const char *s, size_t len, int64_t *out)
{
	plain_decimal d;
	if (!parse_plain(s, len, &d) || d.scale != 0 || d.ndigits > 18)
		return 0;
	int64_t v = 0;
	for (uint32_t k = 0; k < d.ndigits; k++)
		v = v * 10 + d.digits[k];
	*out = d.neg ? -v : v;
	return 1;
}

static int text_is_decimal(const char *s, size_t len)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	int ok = ferry_decimal_parse(&d, s, len, NULL) == 0;
	ferry_decimal_free(&d);
	return ok;
}

/* strtod over exactly len bytes, all of which must be consumed. */
static int text_to_double(const char *s, size_t len, double *out)
{
	char tmp[64];
	if (len == 0 || len >= sizeof tmp)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strcasecmp(tmp, "NaN") == 0) {
		*out = NAN;
		return 1;
	}
	if (strcasecmp(tmp, "Infinity") == 0 || strcasecmp(tmp, "inf") == 0) {
		*out = INFINITY;
		return 1;
	}
	if (strcasecmp(tmp, "-Infinity") == 0 || strcasecmp(tmp, "-inf") == 0) {
		*out = -INFINITY;
		return 1;
	}
	char *end;
	*out = strtod(tmp, &end);
	return *end == '\0' && !isspace((unsigned char)tmp[0]);
}

/* ---- dates, booleans, uuids ----------------------------------------- */

static int ends_with_bc(const char *s, size_t len)
{
	return len > 3 && memcmp(s + len - 3, " BC", 3) == 0;
}

/* A year Y BC is the astronomical year 1 - Y. */
static int32_t date_bc(int32_t days)
{
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days(days, &y, &m, &d);
	return ferry_days_from_civil(1 - y, m, d);
}

static int parse_date_text(const char *s, size_t len, int32_t *out)
{
	if (len == 8 && memcmp(s, "infinity", 8) == 0) {
		*out = FERRY_DATE_PINF;
		return 1;
	}
	if (len == 9 && memcmp(s, "-infinity", 9) == 0) {
		*out = FERRY_DATE_NINF;
		return 1;
	}
	int bc = ends_with_bc(s, len);
	if (ferry_date_parse(s, bc ? len - 3 : len, out, NULL) < 0)
		return 0;
	if (bc)
		*out = date_bc(*out);
	return 1;
}

static int parse_timestamp_text(const char *s, size_t len, int64_t *out)
{
	bool zone;
	if (len == 8 && memcmp(s, "infinity", 8) == 0) {
		*out = FERRY_TS_PINF;
		return 1;
	}
	if (len == 9 && memcmp(s, "-infinity", 9) == 0) {
		*out = FERRY_TS_NINF;
		return 1;
	}
	int bc = ends_with_bc(s, len);
	if (ferry_timestamp_parse(s, bc ? len - 3 : len, out, &zone, NULL) < 0)
		return 0;
	if (bc) {
		int64_t day = *out / FERRY_USECS_PER_DAY;
		int64_t rest = *out % FERRY_USECS_PER_DAY;
		if (rest < 0) {
			rest += FERRY_USECS_PER_DAY;
			day--;
		}
		*out = (int64_t)date_bc((int32_t)day) * FERRY_USECS_PER_DAY + rest;
	}
	return 1;
}

static int parse_bool_text(const char *s, size_t len, bool *out)
{
	static const char *const yes[] = {"t", "true", "1", "y", "yes", "on"};
	static const char *const no[] = {"f", "false", "0", "n", "no", "off"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		if (strlen(yes[i]) == len && strncasecmp(s, yes[i], len) == 0) {
			*out = true;
			return 1;
		}
		if (strlen(no[i]) == len && strncasecmp(s, no[i], len) == 0) {
			*out = false;
			return 1;
		}
	}
	return 0;
}

static int hexdigit(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

static int parse_uuid_text(const char *s, size_t len, uint8_t out[16])
{
	int n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
			continue;
		int h = hexdigit((unsigned char)s[i]);
		if (h < 0 || n >= 32)
			return 0;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(h << 4);
		else
			out[n / 2] |= (uint8_t)h;
		n++;
	}
	return n == 32;
}

/* ---- coercion ------------------------------------------------------- */

static int is_bytes(const ferry_value *v)
{
	return v->type == FERRY_TEXT || v->type == FERRY_NUMERIC ||
	       v->type == FERRY_JSON || v->type == FERRY_BLOB;
}

static int coerce_number(const ferry_value *v, ferry_value *out,
                         ferry_buf *scratch, ferry_error *err)
{
	char tmp[40];
	if (v->type == FERRY_FLOAT) {
		const char *text = tmp;
		if (isnan(v->u.f))
			text = "NaN";
		else if (isinf(v->u.f))
			text = v->u.f > 0 ? "Infinity" : "-Infinity";
		else
			ferry_canon_float_text(v->u.f, tmp, sizeof tmp);
		ferry_buf_puts(scratch, text);
		if (ferry_buf_failed(scratch))
			return ferry_error_oom(err);
		*out = ferry_value_bytes(FERRY_NUMERIC, scratch->data, scratch->len);
	} else if (v->type == FERRY_TEXT &&
	           text_is_decimal(v->u.s.ptr, v->u.s.len)) {
		*out = ferry_value_bytes(FERRY_NUMERIC, v->u.s.ptr, v->u.s.len);
	} else if (v->type == FERRY_BOOL) {
		*out = ferry_value_int(v->u.b ? 1 : 0);
	}
	return 0;
}

static void coerce_float(const ferry_value *v, bool single, ferry_value *out)
{
	double f;
	if (v->type == FERRY_FLOAT)
		f = v->u.f;
	else if (v->type == FERRY_INT)
		f = (double)v->u.i;
	else if ((v->type == FERRY_NUMERIC || v->type == FERRY_TEXT) &&
	         text_to_double(v->u.s.ptr, v->u.s.len, &f))
		;
	else
		return;
	/* a real column keeps a float4: the double read back is its exact
	 * widening, the double written is rounded when stored */
	*out = ferry_value_float(single ? (double)(float)f : f);
}

static int coerce_json(const ferry_value *v, ferry_value *out,
                       ferry_buf *scratch, ferry_error *err)
{
	if (v->type != FERRY_JSON && v->type != FERRY_TEXT)
		return 0;
	int rc = ferry_canon_json(scratch, v->u.s.ptr, v->u.s.len);
	if (rc == FERRY_ENOMEM)
		return ferry_error_oom(err);
	if (rc < 0) /* not JSON: compared as its bytes */
		*out = ferry_value_bytes(FERRY_JSON, v->u.s.ptr, v->u.s.len);
	else
		*out = ferry_value_bytes(FERRY_JSON, scratch->data, scratch->len);
	return 0;
}

int ferry_canon_coerce(const ferry_value *v, const ferry_sqltype *type,
                       ferry_value *out, ferry_buf *scratch, ferry_error *err)
{
	*out = *v;
	ferry_buf_reset(scratch);
	if (v->type == FERRY_NULL)
		return 0;
	const char *s = is_bytes(v) ? v->u.s.ptr : NULL;
	size_t len = is_bytes(v) ? v->u.s.len : 0;
	switch (type->kind) {
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT:
	case FERRY_SQL_NUMERIC:
		return coerce_number(v, out, scratch, err);
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE:
		coerce_float(v, type->kind == FERRY_SQL_REAL, out);
		return 0;
	case FERRY_SQL_CHAR:
		if (v->type == FERRY_TEXT) {
			while (len > 0 && s[len - 1] == ' ')
				len--; /* PostgreSQL pads char(n) with blanks */
			*out = ferry_value_bytes(FERRY_TEXT, s, len);
		}
		return 0;
	case FERRY_SQL_BYTEA:
		if (v->type == FERRY_TEXT)
			*out = ferry_value_bytes(FERRY_BLOB, s, len);
		return 0;
	case FERRY_SQL_BOOLEAN: {
		bool b;
		if (v->type == FERRY_INT && (v->u.i == 0 || v->u.i == 1))
			*out = ferry_value_bool(v->u.i == 1);
		else if (v->type == FERRY_TEXT && parse_bool_text(s, len, &b))
			*out = ferry_value_bool(b);
		return 0;
	}
	case FERRY_SQL_DATE: {
		int32_t d;
		if (v->type == FERRY_TEXT && parse_date_text(s, len, &d))
			*out = ferry_value_date(d);
		return 0;
	}
	case FERRY_SQL_TIMESTAMP:
	case FERRY_SQL_TIMESTAMPTZ: {
		int64_t us;
		ferry_type t = type->kind == FERRY_SQL_TIMESTAMP ? FERRY_TIMESTAMP
		                                                 : FERRY_TIMESTAMPTZ;
		if (v->type == FERRY_TEXT && parse_timestamp_text(s, len, &us))
			*out = ferry_value_timestamp(t, us);
		return 0;
	}
	case FERRY_SQL_JSON:
	case FERRY_SQL_JSONB:
		return coerce_json(v, out, scratch, err);
	case FERRY_SQL_UUID: {
		uint8_t u[16];
		if (v->type == FERRY_TEXT && parse_uuid_text(s, len, u))
			*out = ferry_value_uuid(u);
		else if (v->type == FERRY_BLOB && len == 16)
			*out = ferry_value_uuid((const uint8_t *)s);
		return 0;
	}
	default:
		return 0; /* text, varchar, unknown: as they are */
	}
}

int ferry_canon_append(ferry_buf *out, const ferry_value *v,
                       const ferry_sqltype *type, ferry_buf *scratch,
                       ferry_error *err)
{
	ferry_value c;
	int rc = ferry_canon_coerce(v, type, &c, scratch, err);
	if (rc < 0)
		return rc;
	if (c.type == FERRY_INT)
		put_int_number(out, c.u.i);
	else if (c.type == FERRY_NUMERIC)
		rc = put_numeric_text(out, c.u.s.ptr, c.u.s.len, err);
	else
		rc = ferry_value_canonical(&c, out, err);
	if (rc == 0 && ferry_buf_failed(out))
		rc = ferry_error_oom(err);
	return rc;
}

/* ---- keys ----------------------------------------------------------- */

static void put_key_bytes(ferry_buf *out, uint8_t cls, const char *s,
                          size_t len)
{
	ferry_buf_putc(out, cls);
	/* 0x00 becomes 00 ff and the end 00 00: memcmp is byte order and a
	 * prefix sorts first */
	for (size_t i = 0; i < len; i++) {
		ferry_buf_putc(out, (uint8_t)s[i]);
		if (s[i] == '\0')
			ferry_buf_putc(out, 0xff);
	}
	ferry_buf_putc(out, 0);
	ferry_buf_putc(out, 0);
}

static void put_key_int(ferry_buf *out, uint8_t cls, int64_t i)
{
	ferry_buf_putc(out, cls);
	ferry_buf_put_u64be(out, (uint64_t)i ^ (UINT64_C(1) << 63));
}

int ferry_canon_key(ferry_buf *out, const ferry_value *v,
                    const ferry_sqltype *type, ferry_buf *scratch,
                    ferry_error *err)
{
	ferry_value c;
	int64_t i;
	int rc = ferry_canon_coerce(v, type, &c, scratch, err);
	if (rc < 0)
		return rc;
	switch (c.type) {
	case FERRY_NULL:
		ferry_buf_putc(out, KEY_NULL);
		break;
	case FERRY_INT:
		put_key_int(out, KEY_INT, c.u.i);
		break;
	case FERRY_NUMERIC:
		if (numeric_as_int(c.u.s.ptr, c.u.s.len, &i)) {
			put_key_int(out, KEY_INT, i);
		} else {
			/* equal values encode alike; the order is not numeric
			 * (docs/verify.md, "Limits") */
			ferry_buf_putc(out, KEY_NUMERIC);
			rc = put_numeric_text(out, c.u.s.ptr, c.u.s.len, err);
		}
		break;
	case FERRY_FLOAT: {
		double f = c.u.f == 0.0 ? 0.0 : c.u.f;
		uint64_t bits;
		if (isnan(f))
			f = NAN;
		memcpy(&bits, &f, sizeof bits);
		/* IEEE order: flip every bit of a negative, the sign of the rest */
		bits = bits >> 63 ? ~bits : bits ^ (UINT64_C(1) << 63);
		ferry_buf_putc(out, KEY_FLOAT);
		ferry_buf_put_u64be(out, bits);
		break;
	}
	case FERRY_BOOL:
		ferry_buf_putc(out, KEY_BOOL);
		ferry_buf_putc(out, c.u.b ? 1 : 0);
		break;
	case FERRY_DATE:
		ferry_buf_putc(out, KEY_DATE);
		ferry_buf_put_u64be(out, (uint64_t)(int64_t)c.u.date ^
		                             (UINT64_C(1) << 63));
		break;
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		put_key_int(out, c.type == FERRY_TIMESTAMP ? KEY_TIMESTAMP
		                                           : KEY_TIMESTAMPTZ,
		            c.u.i);
		break;
	case FERRY_TEXT:
	case FERRY_BLOB:
	case FERRY_JSON:
		put_key_bytes(out, c.type == FERRY_TEXT   ? KEY_TEXT
		                   : c.type == FERRY_BLOB ? KEY_BLOB
		                                          : KEY_JSON,
		              c.u.s.ptr, c.u.s.len);
		break;
	case FERRY_UUID:
		ferry_buf_putc(out, KEY_UUID);
		ferry_buf_append(out, c.u.uuid, 16);
		break;
	default:
		ferry_buf_putc(out, KEY_OTHER);
		rc = ferry_value_canonical(&c, out, err);
	}
	if (rc == 0 && ferry_buf_failed(out))
		rc = ferry_error_oom(err);
	return rc;
}

/* ---- canonical JSON --------------------------------------------------- */

typedef struct json_parser {
	const char *s;
	size_t n, i;
	int depth;
} json_parser;

#define JSON_MAX_DEPTH 512

typedef struct json_member {
	size_t key, key_len, value, value_len, order;
} json_member;

static void json_ws(json_parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	                       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static void put_utf8(ferry_buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		ferry_buf_putc(out, (uint8_t)cp);
	} else if (cp < 0x800) {
		ferry_buf_putc(out, (uint8_t)(0xc0 | cp >> 6));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		ferry_buf_putc(out, (uint8_t)(0xe0 | cp >> 12));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		ferry_buf_putc(out, (uint8_t)(0xf0 | cp >> 18));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp >> 12 & 0x3f)));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		ferry_buf_putc(out, (uint8_t)(0x80 | (cp & 0x3f)));
	}
}

static int json_hex4(json_parser *p, uint32_t *cp)
{
	if (p->n - p->i < 4)
		return -1;
	*cp = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexdigit((unsigned char)p->s[p->i++]);
		if (h < 0)
			return -1;
		*cp = *cp << 4 | (uint32_t)h;
	}
	return 0;
}

/* Reads a string at p->i and appends its quoted canonical form: escapes
 * resolved, then only '"', '\\' and control bytes escaped. */
static int json_string(json_parser *p, ferry_buf *out)
{
	if (p->i >= p->n || p->s[p->i] != '"')
		return -1;
	p->i++;
	ferry_buf_putc(out, '"');
	while (p->i < p->n && p->s[p->i] != '"') {
		unsigned char c = (unsigned char)p->s[p->i++];
		uint32_t cp;
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			ferry_buf_putc(out, c);
			continue;
		}
		if (p->i >= p->n)
			return -1;
		c = (unsigned char)p->s[p->i++];
		switch (c) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (json_hex4(p, &cp) < 0)
				return -1;
			if (cp >= 0xd800 && cp < 0xdc00 && p->n - p->i >= 6 &&
			    p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
				uint32_t lo;
				size_t at = p->i;
				p->i += 2;
				if (json_hex4(p, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					p->i = at;
			}
			break;
		default:
			return -1;
		}
		if (cp == '"' || cp == '\\')
			ferry_buf_printf(out, "\\%c", (char)cp);
		else if (cp < 0x20 || (cp >= 0xd800 && cp < 0xe000))
			ferry_buf_printf(out, "\\u%04x", (unsigned)cp); /* NUL, lone
			                                                   surrogates */
		else
			put_utf8(out, cp);
	}
	if (p->i >= p->n)
		return -1;
	p->i++;
	ferry_buf_putc(out, '"');
	return 0;
}

static int json_number(json_parser *p, ferry_buf *out)
{
	size_t start = p->i;
	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	size_t digits = p->i;
	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	if (p->i == digits || (p->s[digits] == '0' && p->i - digits > 1))
		return -1;
	if (p->i < p->n && p->s[p->i] == '.') {
		size_t frac = ++p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == frac)
			return -1;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		size_t exp = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == exp)
			return -1;
	}
	ferry_decimal d = FERRY_DECIMAL_INIT;
	int rc = ferry_decimal_parse(&d, p->s + start, p->i - start, NULL);
	if (rc == 0) {
		ferry_decimal_normalize(&d);
		rc = ferry_decimal_format(&d, out);
	} else if (rc != FERRY_ENOMEM) { /* past numeric's limits: as written */
		ferry_buf_append(out, p->s + start, p->i - start);
		rc = 0;
	}
	ferry_decimal_free(&d);
	return rc;
}

static int json_value(json_parser *p, ferry_buf *out);

static int member_cmp(const void *a, const void *b, const ferry_buf *keys)
{
	const json_member *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(keys->data + x->key, keys->data + y->key, n);
	if (c == 0)
		c = x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
	if (c == 0)
		c = x->order < y->order ? -1 : x->order > y->order;
	return c;
}

/* insertion sort: objects are small, and qsort has no context argument */
static void sort_members(json_member *m, size_t n, const ferry_buf *keys)
{
	for (size_t i = 1; i < n; i++) {
		json_member x = m[i];
		size_t j = i;
		while (j > 0 && member_cmp(&m[j - 1], &x, keys) > 0) {
			m[j] = m[j - 1];
			j--;
		}
		m[j] = x;
	}
}

static int json_object(json_parser *p, ferry_buf *out)
{
	ferry_buf parts = FERRY_BUF_INIT;
	json_member *members = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	p->i++; /* '{' */
	json_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		ferry_buf_puts(out, "{}");
		return 0;
	}
	while (rc == 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			json_member *m = ferry_realloc(members, ncap * sizeof *m);
			if (!m) {
				rc = FERRY_ENOMEM;
				break;
			}
			members = m;
			cap = ncap;
		}
		json_member *m = &members[n];
		json_ws(p);
		m->key = parts.len;
		rc = json_string(p, &parts);
		m->key_len = parts.len - m->key;
		json_ws(p);
		if (rc == 0 && (p->i >= p->n || p->s[p->i++] != ':'))
			rc = -1;
		m->value = parts.len;
		if (rc == 0)
			rc = json_value(p, &parts);
		m->value_len = parts.len - m->value;
		m->order = n++;
		json_ws(p);
		if (rc < 0 || p->i >= p->n)
			rc = rc < 0 ? rc : -1;
		else if (p->s[p->i] == ',')
			p->i++;
		else if (p->s[p->i++] == '}')
			break;
		else
			rc = -1;
	}
	if (rc == 0 && ferry_buf_failed(&parts))
		rc = FERRY_ENOMEM;
	if (rc == 0) {
		sort_members(members, n, &parts);
		ferry_buf_putc(out, '{');
		int first = 1;
		for (size_t k = 0; k < n; k++) {
			/* of equal keys, the last one written wins (jsonb) */
			if (k + 1 < n && members[k + 1].key_len == members[k].key_len &&
			    memcmp(parts.data + members[k + 1].key,
			           parts.data + members[k].key, members[k].key_len) == 0)
				continue;
			if (!first)
				ferry_buf_putc(out, ',');
			first = 0;
			ferry_buf_append(out, parts.data + members[k].key,
			                 members[k].key_len);
			ferry_buf_putc(out, ':');
			ferry_buf_append(out, parts.data + members[k].value,
			                 members[k].value_len);
		}
		ferry_buf_putc(out, '}');
	}
	ferry_free(members);
	ferry_buf_free(&parts);
	return rc;
}

static int json_array(json_parser *p, ferry_buf *out)
{
	p->i++; /* '[' */
	ferry_buf_putc(out, '[');
	json_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		ferry_buf_putc(out, ']');
		return 0;
	}
	for (int first = 1;; first = 0) {
		if (!first)
			ferry_buf_putc(out, ',');
		int rc = json_value(p, out);
		if (rc < 0)
			return rc;
		json_ws(p);
		if (p->i >= p->n)
			return -1;
		char c = p->s[p->i++];
		if (c == ']')
			break;
		if (c != ',')
			return -1;
	}
	ferry_buf_putc(out, ']');
	return 0;
}

static int json_word(json_parser *p, const char *word, ferry_buf *out)
{
	size_t len = strlen(word);
	if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
		return -1;
	p->i += len;
	ferry_buf_puts(out, word);
	return 0;
}

static int json_value(json_parser *p, ferry_buf *out)
{
	json_ws(p);
	if (p->i >= p->n || ++p->depth > JSON_MAX_DEPTH)
		return -1;
	int rc;
	switch (p->s[p->i]) {
	case '{': rc = json_object(p, out); break;
	case '[': rc = json_array(p, out); break;
	case '"': rc = json_string(p, out); break;
	case 't': rc = json_word(p, "true", out); break;
	case 'f': rc = json_word(p, "false", out); break;
	case 'n': rc = json_word(p, "null", out); break;
	default: rc = json_number(p, out);
	}
	p->depth--;
	return rc;
}

int ferry_canon_json(ferry_buf *out, const char *s, size_t len)
{
	json_parser p = {s, len, 0, 0};
	size_t mark = out->len;
	int rc = json_value(&p, out);
	json_ws(&p);
	if (rc == 0 && p.i != p.n)
		rc = -1;
	if (rc == 0 && ferry_buf_failed(out))
		rc = FERRY_ENOMEM;
	if (rc < 0 && rc != FERRY_ENOMEM)
		out->len = mark;
	return rc;
}
