/*
 * engine/change.c - the change record codec (docs/change-codec.md).
 *
 * Encoding favours small records, because the journal stores billions:
 * varints for lengths and integers, zigzag for signed values, raw bytes
 * for floats so -0.0 and NaN payloads survive.  Decoding treats the bytes
 * as hostile: every length is checked against what is left before use.
 */
#include "engine/change.h"

#include <string.h>

#include "engine/alloc.h"
#include "engine/decimal.h"

enum { FLAG_BEFORE = 0x01, FLAG_AFTER = 0x02, FLAG_KNOWN = 0x03 };

const char *ferry_op_name(ferry_op op)
{
	static const char *const names[] = {"?",      "insert",   "update",
	                                    "delete", "truncate", "ddl"};
	if (op < 1 || op > FERRY_OP_MAX)
		return "?";
	return names[op];
}

/* Which images an op must carry; the before-image of an update is
 * optional because not every source provides it. */
static const char *images_problem(ferry_op op, bool before, bool after)
{
	switch (op) {
	case FERRY_OP_INSERT:
		return after && !before ? NULL : "an insert needs an after-image only";
	case FERRY_OP_UPDATE:
		return after ? NULL : "an update needs an after-image";
	case FERRY_OP_DELETE:
		return before && !after ? NULL : "a delete needs a before-image only";
	case FERRY_OP_TRUNCATE:
		return !before && !after ? NULL : "a truncate carries no images";
	case FERRY_OP_DDL:
		return after && !before ? NULL : "a ddl change needs an after-image only";
	}
	return "unknown op";
}

static void encode_value(const ferry_value *v, ferry_buf *out)
{
	ferry_buf_putc(out, (uint8_t)v->type);
	switch (v->type) {
	case FERRY_NULL:
	case FERRY_ABSENT:
		break;
	case FERRY_INT:
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		ferry_buf_put_svarint(out, v->u.i);
		break;
	case FERRY_FLOAT: {
		uint64_t bits;
		memcpy(&bits, &v->u.f, sizeof bits);
		ferry_buf_put_u64le(out, bits);
		break;
	}
	case FERRY_BOOL:
		ferry_buf_putc(out, v->u.b ? 1 : 0);
		break;
	case FERRY_DATE:
		ferry_buf_put_svarint(out, v->u.date);
		break;
	case FERRY_UUID:
		ferry_buf_append(out, v->u.uuid, 16);
		break;
	case FERRY_NUMERIC:
	case FERRY_TEXT:
	case FERRY_BLOB:
	case FERRY_JSON:
		ferry_buf_put_varint(out, v->u.s.len);
		ferry_buf_append(out, v->u.s.ptr, v->u.s.len);
		break;
	}
}

/* An insert's after-image and a ddl's statement are whole: the source
 * sent every value (docs/change-codec.md). */
static bool may_be_absent(ferry_op op, bool before)
{
	return before || op == FERRY_OP_UPDATE;
}

static int check_row(const ferry_row *row, ferry_op op, bool before,
                     ferry_error *err)
{
	const char *which = before ? "before" : "after";
	if (row->ncols > FERRY_CHANGE_MAX_COLUMNS)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "%s-image has %u columns, more than %d", which,
		                       row->ncols, FERRY_CHANGE_MAX_COLUMNS);
	for (uint32_t i = 0; i < row->ncols; i++) {
		ferry_type t = row->values[i].type;
		if (t == FERRY_ABSENT && !may_be_absent(op, before))
			return ferry_error_set(err, FERRY_EINVAL,
			                       "%s-image column %u of %s change is "
			                       "absent", which, i, ferry_op_name(op));
		if ((unsigned)t > FERRY_TYPE_MAX && t != FERRY_ABSENT)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "%s-image column %u has unknown type tag %d",
			                       which, i, (int)t);
	}
	return 0;
}

static void encode_row(const ferry_row *row, ferry_buf *out)
{
	ferry_buf_put_varint(out, row->ncols);
	for (uint32_t i = 0; i < row->ncols; i++)
		encode_value(&row->values[i], out);
}

static int check_change(const ferry_change *c, ferry_error *err)
{
	const char *problem = images_problem(c->op, c->has_before, c->has_after);
	if (problem)
		return ferry_error_set(err, FERRY_EINVAL, "cannot encode %s change: %s",
		                       ferry_op_name(c->op), problem);
	if (!c->table || strlen(c->table) > FERRY_CHANGE_MAX_NAME)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "cannot encode change: table name is %s",
		                       c->table ? "too long" : "missing");
	if (c->position_len > FERRY_CHANGE_MAX_POSITION)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "cannot encode change: source position is "
		                       "%zu bytes, more than %d",
		                       c->position_len, FERRY_CHANGE_MAX_POSITION);
	if (c->has_before && check_row(&c->before, c->op, true, err) < 0)
		return FERRY_EINVAL;
	if (c->has_after && check_row(&c->after, c->op, false, err) < 0)
		return FERRY_EINVAL;
	return 0;
}

int ferry_change_encode(const ferry_change *c, ferry_buf *out,
                        ferry_error *err)
{
	int rc = check_change(c, err);
	if (rc < 0)
		return rc;
	size_t table_len = strlen(c->table);
	ferry_buf_putc(out, (uint8_t)c->op);
	ferry_buf_putc(out, (uint8_t)((c->has_before ? FLAG_BEFORE : 0) |
	                              (c->has_after ? FLAG_AFTER : 0)));
	ferry_buf_put_varint(out, table_len);
	ferry_buf_append(out, c->table, table_len);
	ferry_buf_put_varint(out, c->schema_version);
	ferry_buf_put_varint(out, c->txid);
	ferry_buf_put_svarint(out, c->commit_time);
	ferry_buf_put_varint(out, c->position_len);
	ferry_buf_append(out, c->position, c->position_len);
	if (c->has_before)
		encode_row(&c->before, out);
	if (c->has_after)
		encode_row(&c->after, out);
	return ferry_buf_failed(out) ? ferry_error_oom(err) : 0;
}

/* Decoding state: the reader and where the record began, for messages. */
typedef struct decoder {
	ferry_reader r;
	const uint8_t *start;
	ferry_error *err;
} decoder;

static int corrupt(decoder *d, const char *what)
{
	return ferry_error_set(d->err, FERRY_ECORRUPT,
	                       "change record is corrupt at byte %zu: %s",
	                       (size_t)(d->r.p - d->start), what);
}

static int read_len(decoder *d, size_t limit, size_t *out, const char *what)
{
	uint64_t n;
	if (ferry_reader_varint(&d->r, &n) < 0)
		return corrupt(d, what);
	if (n > limit || n > ferry_reader_left(&d->r))
		return corrupt(d, what);
	*out = (size_t)n;
	return 0;
}

static int decode_bytes(decoder *d, ferry_value *v)
{
	size_t n;
	const uint8_t *p;
	if (read_len(d, SIZE_MAX, &n, "value length runs past the end") < 0)
		return FERRY_ECORRUPT;
	ferry_reader_bytes(&d->r, n, &p);
	v->u.s.ptr = (const char *)p;
	v->u.s.len = n;
	if (v->type != FERRY_NUMERIC)
		return 0;
	/* a NUMERIC that is not a number would fail far from here: refuse it
	 * now, while the record's position is known */
	ferry_decimal num = FERRY_DECIMAL_INIT;
	ferry_error perr = FERRY_ERROR_INIT;
	int rc = ferry_decimal_parse(&num, v->u.s.ptr, n, &perr);
	ferry_decimal_free(&num);
	ferry_error_clear(&perr);
	if (rc == FERRY_ENOMEM)
		return ferry_error_oom(d->err);
	return rc < 0 ? corrupt(d, "numeric value is not a number") : 0;
}

static int decode_value(decoder *d, ferry_value *v, bool may_be_absent)
{
	uint8_t tag, b;
	int64_t i;
	uint64_t bits;
	const uint8_t *p;
	if (ferry_reader_u8(&d->r, &tag) < 0)
		return corrupt(d, "truncated before a value");
	if (tag == FERRY_ABSENT && !may_be_absent)
		return corrupt(d, "an absent value in an image that must be whole");
	if (tag > FERRY_TYPE_MAX && tag != FERRY_ABSENT)
		return corrupt(d, "unknown value type tag");
	v->type = (ferry_type)tag;
	switch (v->type) {
	case FERRY_NULL:
	case FERRY_ABSENT:
		v->u.i = 0;
		return 0;
	case FERRY_INT:
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		if (ferry_reader_svarint(&d->r, &v->u.i) < 0)
			return corrupt(d, "truncated integer");
		return 0;
	case FERRY_FLOAT:
		if (ferry_reader_u64le(&d->r, &bits) < 0)
			return corrupt(d, "truncated float");
		memcpy(&v->u.f, &bits, sizeof bits);
		return 0;
	case FERRY_BOOL:
		if (ferry_reader_u8(&d->r, &b) < 0 || b > 1)
			return corrupt(d, "bad boolean");
		v->u.b = b;
		return 0;
	case FERRY_DATE:
		if (ferry_reader_svarint(&d->r, &i) < 0 || i < INT32_MIN ||
		    i > INT32_MAX)
			return corrupt(d, "bad date");
		v->u.date = (int32_t)i;
		return 0;
	case FERRY_UUID:
		if (ferry_reader_bytes(&d->r, 16, &p) < 0)
			return corrupt(d, "truncated uuid");
		memcpy(v->u.uuid, p, 16);
		return 0;
	default:
		return decode_bytes(d, v);
	}
}

static int decode_row(decoder *d, ferry_row *row, bool may_be_absent)
{
	size_t ncols;
	/* each value takes at least one byte: a count beyond what is left is
	 * garbage, and checking it first bounds the allocation */
	if (read_len(d, FERRY_CHANGE_MAX_COLUMNS, &ncols,
	             "column count is out of range") < 0)
		return FERRY_ECORRUPT;
	if (ferry_row_resize(row, (uint32_t)ncols, d->err) < 0)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < ncols; i++) {
		int rc = decode_value(d, &row->values[i], may_be_absent);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int keep_table_name(ferry_change *c, const uint8_t *name, size_t len,
                           ferry_error *err)
{
	if (len + 1 > c->table_cap_) {
		char *copy = ferry_realloc(c->table_buf_, len + 1);
		if (!copy)
			return ferry_error_oom(err);
		c->table_buf_ = copy;
		c->table_cap_ = len + 1;
	}
	memcpy(c->table_buf_, name, len);
	c->table_buf_[len] = '\0';
	c->table = c->table_buf_;
	return 0;
}

static int decode_header(decoder *d, ferry_change *c)
{
	uint8_t op, flags;
	size_t n;
	const uint8_t *p;
	uint64_t version;
	if (ferry_reader_u8(&d->r, &op) < 0 || ferry_reader_u8(&d->r, &flags) < 0)
		return corrupt(d, "truncated header");
	if (op < 1 || op > FERRY_OP_MAX)
		return corrupt(d, "unknown op");
	if (flags & ~FLAG_KNOWN)
		return corrupt(d, "unknown flags");
	c->op = (ferry_op)op;
	c->has_before = flags & FLAG_BEFORE;
	c->has_after = flags & FLAG_AFTER;
	if (images_problem(c->op, c->has_before, c->has_after))
		return corrupt(d, "images do not match the op");
	if (read_len(d, FERRY_CHANGE_MAX_NAME, &n, "bad table name length") < 0)
		return FERRY_ECORRUPT;
	ferry_reader_bytes(&d->r, n, &p);
	if (memchr(p, '\0', n))
		return corrupt(d, "table name contains a NUL byte");
	if (keep_table_name(c, p, n, d->err) < 0)
		return FERRY_ENOMEM;
	if (ferry_reader_varint(&d->r, &version) < 0 || version > UINT32_MAX)
		return corrupt(d, "bad schema version");
	c->schema_version = (uint32_t)version;
	if (ferry_reader_varint(&d->r, &c->txid) < 0 ||
	    ferry_reader_svarint(&d->r, &c->commit_time) < 0)
		return corrupt(d, "truncated transaction fields");
	if (read_len(d, FERRY_CHANGE_MAX_POSITION, &n,
	             "bad source position length") < 0)
		return FERRY_ECORRUPT;
	ferry_reader_bytes(&d->r, n, &c->position);
	c->position_len = n;
	return 0;
}

int ferry_change_decode(ferry_change *c, const uint8_t *data, size_t len,
                        size_t *consumed, ferry_error *err)
{
	decoder d = {{data, data + len}, data, err};
	int rc = decode_header(&d, c);
	c->before.ncols = c->after.ncols = 0;
	if (rc == 0 && c->has_before)
		rc = decode_row(&d, &c->before, may_be_absent(c->op, true));
	if (rc == 0 && c->has_after)
		rc = decode_row(&d, &c->after, may_be_absent(c->op, false));
	if (rc < 0) {
		c->has_before = c->has_after = false;
		return rc;
	}
	*consumed = (size_t)(d.r.p - data);
	return 0;
}

void ferry_change_free(ferry_change *c)
{
	if (!c)
		return;
	ferry_row_free(&c->before);
	ferry_row_free(&c->after);
	ferry_free(c->table_buf_);
	c->table_buf_ = NULL;
	c->table_cap_ = 0;
	c->table = NULL;
}
