/*
 * engine/value.c - value identity, the canonical encoding verification
 * hashes, and the readable form used in logs and reject reports.
 */
#include "engine/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/decimal.h"

static const char *const type_names[] = {
	"null", "int", "float", "numeric", "text", "blob",
	"bool", "date", "timestamp", "timestamptz", "json", "uuid",
};

const char *ferry_type_name(ferry_type t)
{
	if (t == FERRY_ABSENT)
		return "absent";
	if ((unsigned)t > FERRY_TYPE_MAX)
		return "?";
	return type_names[t];
}

ferry_value ferry_value_uuid(const uint8_t bytes[16])
{
	ferry_value v;
	v.type = FERRY_UUID;
	memcpy(v.u.uuid, bytes, 16);
	return v;
}

bool ferry_value_identical(const ferry_value *a, const ferry_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case FERRY_NULL:
	case FERRY_ABSENT:
		return true;
	case FERRY_INT:
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		return a->u.i == b->u.i;
	case FERRY_FLOAT:
		return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
	case FERRY_BOOL:
		return a->u.b == b->u.b;
	case FERRY_DATE:
		return a->u.date == b->u.date;
	case FERRY_UUID:
		return memcmp(a->u.uuid, b->u.uuid, 16) == 0;
	case FERRY_NUMERIC:
	case FERRY_TEXT:
	case FERRY_BLOB:
	case FERRY_JSON:
		return a->u.s.len == b->u.s.len &&
		       (a->u.s.len == 0 ||
		        memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
	}
	return false;
}

/*
 * Canonical classes.  Integers and numerics share CLASS_NUMBER so that a
 * value compares equal across a type change that preserves it.
 */
enum {
	CLASS_NULL = 0x00,
	CLASS_NUMBER = 0x01,
	CLASS_NUMBER_NAN = 0x02,
	CLASS_NUMBER_PINF = 0x03,
	CLASS_NUMBER_NINF = 0x04,
	CLASS_FLOAT = 0x05,
	CLASS_TEXT = 0x06,
	CLASS_BLOB = 0x07,
	CLASS_BOOL = 0x08,
	CLASS_DATE = 0x09,
	CLASS_TIMESTAMP = 0x0a,
	CLASS_TIMESTAMPTZ = 0x0b,
	CLASS_JSON = 0x0c,
	CLASS_UUID = 0x0d
};

/* NUMBER: sign byte, varint scale, varint ndigits, digits as bytes 0..9,
 * after dropping trailing fractional zeros, so each value has one form. */
static void encode_decimal(ferry_decimal *d, ferry_buf *out)
{
	switch (d->kind) {
	case FERRY_DEC_NAN:
		ferry_buf_putc(out, CLASS_NUMBER_NAN);
		return;
	case FERRY_DEC_PINF:
		ferry_buf_putc(out, CLASS_NUMBER_PINF);
		return;
	case FERRY_DEC_NINF:
		ferry_buf_putc(out, CLASS_NUMBER_NINF);
		return;
	}
	ferry_decimal_normalize(d);
	ferry_buf_putc(out, CLASS_NUMBER);
	ferry_buf_putc(out, d->neg ? 1 : 0);
	ferry_buf_put_varint(out, (uint64_t)d->scale);
	ferry_buf_put_varint(out, d->ndigits);
	ferry_buf_append(out, d->digits, d->ndigits);
}

static int canonical_number(const ferry_value *v, ferry_buf *out,
                            ferry_error *err)
{
	ferry_decimal d = FERRY_DECIMAL_INIT;
	int rc = v->type == FERRY_INT
	             ? ferry_decimal_from_int64(&d, v->u.i, err)
	             : ferry_decimal_parse(&d, v->u.s.ptr, v->u.s.len, err);
	if (rc == 0)
		encode_decimal(&d, out);
	ferry_decimal_free(&d);
	if (rc < 0 && rc != FERRY_ENOMEM) {
		ferry_error_prefix(err, "numeric value is corrupt");
		if (err)
			err->code = FERRY_ECORRUPT;
		return FERRY_ECORRUPT;
	}
	return rc;
}

static void canonical_float(double f, ferry_buf *out)
{
	uint64_t bits;
	if (isnan(f))
		bits = UINT64_C(0x7ff8000000000000); /* one NaN for all payloads */
	else if (f == 0.0)
		bits = 0; /* -0.0 == 0.0: SQLite cannot even store the sign */
	else
		memcpy(&bits, &f, sizeof bits);
	ferry_buf_putc(out, CLASS_FLOAT);
	ferry_buf_put_u64be(out, bits);
}

static void canonical_bytes(uint8_t cls, const ferry_value *v, ferry_buf *out)
{
	ferry_buf_putc(out, cls);
	ferry_buf_put_varint(out, v->u.s.len);
	ferry_buf_append(out, v->u.s.ptr, v->u.s.len);
}

int ferry_value_canonical(const ferry_value *v, ferry_buf *out,
                          ferry_error *err)
{
	switch (v->type) {
	case FERRY_NULL:
		ferry_buf_putc(out, CLASS_NULL);
		break;
	case FERRY_INT:
	case FERRY_NUMERIC: {
		int rc = canonical_number(v, out, err);
		if (rc < 0)
			return rc;
		break;
	}
	case FERRY_FLOAT:
		canonical_float(v->u.f, out);
		break;
	case FERRY_TEXT:
		canonical_bytes(CLASS_TEXT, v, out);
		break;
	case FERRY_BLOB:
		canonical_bytes(CLASS_BLOB, v, out);
		break;
	case FERRY_JSON:
		canonical_bytes(CLASS_JSON, v, out);
		break;
	case FERRY_BOOL:
		ferry_buf_putc(out, CLASS_BOOL);
		ferry_buf_putc(out, v->u.b ? 1 : 0);
		break;
	case FERRY_DATE:
		ferry_buf_putc(out, CLASS_DATE);
		ferry_buf_put_svarint(out, v->u.date);
		break;
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		ferry_buf_putc(out, v->type == FERRY_TIMESTAMP ? CLASS_TIMESTAMP
		                                               : CLASS_TIMESTAMPTZ);
		ferry_buf_put_svarint(out, v->u.i);
		break;
	case FERRY_UUID:
		ferry_buf_putc(out, CLASS_UUID);
		ferry_buf_append(out, v->u.uuid, 16);
		break;
	case FERRY_ABSENT:
		/* verification compares rows read whole, never change images */
		return ferry_error_set(err, FERRY_EINVAL, "a value the source did "
		                       "not send has no canonical form");
	default:
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "value has unknown type tag %d", (int)v->type);
	}
	return ferry_buf_failed(out) ? ferry_error_oom(err) : 0;
}

/* Shortest "%.*g" that reads back to the same double. */
static void format_float(double f, ferry_buf *out)
{
	char tmp[40];
	if (isnan(f)) {
		ferry_buf_puts(out, "NaN");
		return;
	}
	if (isinf(f)) {
		ferry_buf_puts(out, f > 0 ? "Infinity" : "-Infinity");
		return;
	}
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(tmp, sizeof tmp, "%.*g", digits, f);
		if (strtod(tmp, NULL) == f)
			break;
	}
	ferry_buf_puts(out, tmp);
}

static void format_quoted(const ferry_value *v, ferry_buf *out,
                          size_t max_bytes)
{
	size_t n = v->u.s.len;
	if (max_bytes && n > max_bytes)
		n = max_bytes;
	ferry_buf_putc(out, '\'');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v->u.s.ptr[i];
		if (c == '\'')
			ferry_buf_puts(out, "''");
		else if (c == '\\')
			ferry_buf_puts(out, "\\\\");
		else if (c == '\n')
			ferry_buf_puts(out, "\\n");
		else if (c == '\t')
			ferry_buf_puts(out, "\\t");
		else if (c == '\r')
			ferry_buf_puts(out, "\\r");
		else if (c < 0x20 || c == 0x7f)
			ferry_buf_printf(out, "\\x%02x", c);
		else
			ferry_buf_putc(out, c);
	}
	ferry_buf_putc(out, '\'');
	if (n < v->u.s.len)
		ferry_buf_printf(out, "...(%zu bytes)", v->u.s.len);
}

static void format_blob(const ferry_value *v, ferry_buf *out, size_t max_bytes)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = v->u.s.len;
	if (max_bytes && n > max_bytes / 2)
		n = max_bytes / 2;
	ferry_buf_puts(out, "\\x");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v->u.s.ptr[i];
		ferry_buf_putc(out, (uint8_t)hex[c >> 4]);
		ferry_buf_putc(out, (uint8_t)hex[c & 15]);
	}
	if (n < v->u.s.len)
		ferry_buf_printf(out, "...(%zu bytes)", v->u.s.len);
}

static void format_uuid(const uint8_t *u, ferry_buf *out)
{
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			ferry_buf_putc(out, '-');
		ferry_buf_printf(out, "%02x", u[i]);
	}
}

void ferry_value_format(const ferry_value *v, ferry_buf *out, size_t max_bytes)
{
	switch (v->type) {
	case FERRY_NULL:
		ferry_buf_puts(out, "NULL");
		break;
	case FERRY_INT:
		ferry_buf_printf(out, "%lld", (long long)v->u.i);
		break;
	case FERRY_FLOAT:
		format_float(v->u.f, out);
		break;
	case FERRY_NUMERIC:
		ferry_buf_append(out, v->u.s.ptr, v->u.s.len);
		break;
	case FERRY_TEXT:
	case FERRY_JSON:
		format_quoted(v, out, max_bytes);
		break;
	case FERRY_BLOB:
		format_blob(v, out, max_bytes);
		break;
	case FERRY_BOOL:
		ferry_buf_puts(out, v->u.b ? "true" : "false");
		break;
	case FERRY_DATE:
		ferry_date_format(v->u.date, out);
		break;
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		ferry_timestamp_format(v->u.i, v->type == FERRY_TIMESTAMPTZ, out);
		break;
	case FERRY_UUID:
		format_uuid(v->u.uuid, out);
		break;
	case FERRY_ABSENT:
		ferry_buf_puts(out, "(not sent)");
		break;
	default:
		ferry_buf_printf(out, "<bad type %d>", (int)v->type);
	}
}

int ferry_row_resize(ferry_row *row, uint32_t ncols, ferry_error *err)
{
	if (ncols > row->cap) {
		ferry_value *values =
		    ferry_realloc(row->values, (size_t)ncols * sizeof *values);
		if (!values)
			return ferry_error_oom(err);
		row->values = values;
		row->cap = ncols;
	}
	for (uint32_t i = row->ncols; i < ncols; i++)
		row->values[i] = ferry_value_null();
	row->ncols = ncols;
	return 0;
}

bool ferry_row_has_absent(const ferry_row *row)
{
	for (uint32_t i = 0; row && i < row->ncols; i++)
		if (row->values[i].type == FERRY_ABSENT)
			return true;
	return false;
}

void ferry_row_free(ferry_row *row)
{
	if (!row)
		return;
	ferry_free(row->values);
	row->values = NULL;
	row->ncols = row->cap = 0;
}
