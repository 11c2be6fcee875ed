/*
 * cdc/pgoutput.c - decoder for PostgreSQL's logical replication stream
 * (pgoutput, proto_version 1) and the relation cache that gives its
 * tuples their column names.  docs/pgoutput.md has the byte layouts.
 *
 * The bytes come from the network and are treated as hostile, the way
 * pg_recvlogical.c treats them: every field is length-checked before it
 * is read, every count is checked against the bytes that could back it
 * before anything is allocated for it, and a message must end exactly
 * where its buffer ends.  All integers are big-endian (network order).
 */
#include "cdc/pgoutput.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"

/* ---- time ------------------------------------------------------------ */

int64_t ferry_pgoutput_time_to_unix(int64_t pg_usecs)
{
	if (pg_usecs == INT64_MIN || pg_usecs == INT64_MAX)
		return pg_usecs; /* -infinity, infinity */
	if (pg_usecs > INT64_MAX - 1 - FERRY_PG_EPOCH_UNIX_USECS)
		return INT64_MAX - 1;
	return pg_usecs + FERRY_PG_EPOCH_UNIX_USECS;
}

int64_t ferry_pgoutput_time_from_unix(int64_t unix_usecs)
{
	if (unix_usecs == INT64_MIN || unix_usecs == INT64_MAX)
		return unix_usecs;
	if (unix_usecs < INT64_MIN + 1 + FERRY_PG_EPOCH_UNIX_USECS)
		return INT64_MIN + 1;
	return unix_usecs - FERRY_PG_EPOCH_UNIX_USECS;
}

/* ---- big-endian helpers ----------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	       p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be(uint8_t *out, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void buf_be(ferry_buf *b, uint64_t v, int bytes)
{
	uint8_t tmp[8];
	put_be(tmp, v, bytes);
	ferry_buf_append(b, tmp, (size_t)bytes);
}

/* Two's complement without implementation-defined conversions. */
static int32_t as_i32(uint32_t u)
{
	return u <= INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
}

static int64_t as_i64(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
}

/* A byte as it should appear in a message: 0x5a ('Z'). */
static void describe_byte(char out[16], uint8_t b)
{
	if (b >= 0x20 && b < 0x7f)
		snprintf(out, 16, "0x%02x ('%c')", b, b);
	else
		snprintf(out, 16, "0x%02x", b);
}

/* ---- the streaming replication layer ---------------------------------- */

static int frame_corrupt(ferry_error *err, size_t at, const char *what)
{
	return ferry_error_set(err, FERRY_ECORRUPT,
	                       "replication stream message is corrupt at byte "
	                       "%zu: %s",
	                       at, what);
}

int ferry_pgoutput_frame_decode(ferry_pgoutput_frame *out, const uint8_t *data,
                                size_t len, ferry_error *err)
{
	char what[96], byte[16];
	if (len == 0)
		return frame_corrupt(err, 0, "the message is empty");
	switch (data[0]) {
	case 'w':
		/* pg_recvlogical's check: the header, then at least one byte */
		if (len < FERRY_PGOUTPUT_XLOGDATA_HDR) {
			snprintf(what, sizeof what,
			         "XLogData header needs %d bytes, got %zu",
			         FERRY_PGOUTPUT_XLOGDATA_HDR, len);
			return frame_corrupt(err, len, what);
		}
		if (len == FERRY_PGOUTPUT_XLOGDATA_HDR)
			return frame_corrupt(err, len, "XLogData carries no message");
		out->kind = FERRY_PGOUTPUT_XLOGDATA;
		out->wal_start = be64(data + 1);
		out->wal_end = be64(data + 9);
		out->send_time = as_i64(be64(data + 17));
		out->reply_requested = false;
		out->data = data + FERRY_PGOUTPUT_XLOGDATA_HDR;
		out->len = len - FERRY_PGOUTPUT_XLOGDATA_HDR;
		return 0;
	case 'k':
		if (len != FERRY_PGOUTPUT_KEEPALIVE_LEN) {
			snprintf(what, sizeof what, "keepalive is %zu bytes, not %d", len,
			         FERRY_PGOUTPUT_KEEPALIVE_LEN);
			return frame_corrupt(err, len < FERRY_PGOUTPUT_KEEPALIVE_LEN
			                              ? len
			                              : FERRY_PGOUTPUT_KEEPALIVE_LEN,
			                     what);
		}
		if (data[17] > 1) {
			describe_byte(byte, data[17]);
			snprintf(what, sizeof what,
			         "keepalive reply flag is %s, not 0 or 1", byte);
			return frame_corrupt(err, 17, what);
		}
		out->kind = FERRY_PGOUTPUT_KEEPALIVE;
		out->wal_start = 0;
		out->wal_end = be64(data + 1);
		out->send_time = as_i64(be64(data + 9));
		out->reply_requested = data[17] == 1;
		out->data = NULL;
		out->len = 0;
		return 0;
	default:
		describe_byte(byte, data[0]);
		snprintf(what, sizeof what, "unknown message type byte %s", byte);
		return frame_corrupt(err, 0, what);
	}
}

void ferry_pgoutput_frame_encode(const ferry_pgoutput_frame *f, ferry_buf *out)
{
	ferry_buf_putc(out, (uint8_t)f->kind);
	if (f->kind == FERRY_PGOUTPUT_XLOGDATA)
		buf_be(out, f->wal_start, 8);
	buf_be(out, f->wal_end, 8);
	buf_be(out, (uint64_t)f->send_time, 8);
	if (f->kind == FERRY_PGOUTPUT_XLOGDATA)
		ferry_buf_append(out, f->data, f->len);
	else
		ferry_buf_putc(out, f->reply_requested ? 1 : 0);
}

void ferry_pgoutput_status_encode(uint8_t out[FERRY_PGOUTPUT_STATUS_LEN],
                                  const ferry_pgoutput_status *st)
{
	out[0] = 'r';
	put_be(out + 1, st->write_lsn, 8);
	put_be(out + 9, st->flush_lsn, 8);
	put_be(out + 17, st->apply_lsn, 8);
	put_be(out + 25, (uint64_t)st->client_time, 8);
	out[33] = st->reply_requested ? 1 : 0;
}

/* ---- pgoutput messages: decoding -------------------------------------- */

static bool known_type(int type)
{
	return type > 0 && type < 0x7f && strchr("BCORYIUDTM", type) != NULL;
}

const char *ferry_pgoutput_type_name(int type)
{
	switch (type) {
	case FERRY_PGOUTPUT_BEGIN: return "begin";
	case FERRY_PGOUTPUT_COMMIT: return "commit";
	case FERRY_PGOUTPUT_ORIGIN: return "origin";
	case FERRY_PGOUTPUT_RELATION: return "relation";
	case FERRY_PGOUTPUT_TYPE: return "type";
	case FERRY_PGOUTPUT_INSERT: return "insert";
	case FERRY_PGOUTPUT_UPDATE: return "update";
	case FERRY_PGOUTPUT_DELETE: return "delete";
	case FERRY_PGOUTPUT_TRUNCATE: return "truncate";
	case FERRY_PGOUTPUT_MESSAGE: return "logical decoding";
	}
	return "unknown";
}

/* The reader over one message; start is byte 0 for error offsets. */
typedef struct decoder {
	const uint8_t *start;
	const uint8_t *p;
	const uint8_t *end;
	int type;
	ferry_error *err;
} decoder;

static int corrupt(decoder *d, const uint8_t *at, const char *fmt, ...)
    FERRY_PRINTF(3, 4);
static int corrupt(decoder *d, const uint8_t *at, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return ferry_error_set(d->err, FERRY_ECORRUPT,
	                       "pgoutput %s message is corrupt at byte %zu: %s",
	                       ferry_pgoutput_type_name(d->type),
	                       (size_t)(at - d->start), what);
}

static size_t left(const decoder *d) { return (size_t)(d->end - d->p); }

/* Checks that n more bytes are there; `what` names the field. */
static int need(decoder *d, size_t n, const char *what)
{
	if (left(d) >= n)
		return 0;
	return corrupt(d, d->p, "truncated: %s needs %zu bytes, %zu left", what,
	               n, left(d));
}

static int get_u8(decoder *d, uint8_t *out, const char *what)
{
	if (need(d, 1, what) < 0)
		return FERRY_ECORRUPT;
	*out = *d->p++;
	return 0;
}

static int get_i16(decoder *d, int16_t *out, const char *what)
{
	if (need(d, 2, what) < 0)
		return FERRY_ECORRUPT;
	uint16_t u = be16(d->p);
	*out = u <= INT16_MAX ? (int16_t)u : (int16_t)(-(int)(UINT16_MAX - u) - 1);
	d->p += 2;
	return 0;
}

static int get_u32(decoder *d, uint32_t *out, const char *what)
{
	if (need(d, 4, what) < 0)
		return FERRY_ECORRUPT;
	*out = be32(d->p);
	d->p += 4;
	return 0;
}

static int get_u64(decoder *d, uint64_t *out, const char *what)
{
	if (need(d, 8, what) < 0)
		return FERRY_ECORRUPT;
	*out = be64(d->p);
	d->p += 8;
	return 0;
}

static int get_i64(decoder *d, int64_t *out, const char *what)
{
	uint64_t u;
	if (get_u64(d, &u, what) < 0)
		return FERRY_ECORRUPT;
	*out = as_i64(u);
	return 0;
}

/* An OID that names something: InvalidOid (0) never does. */
static int get_oid(decoder *d, uint32_t *out, const char *what)
{
	const uint8_t *at = d->p;
	if (get_u32(d, out, what) < 0)
		return FERRY_ECORRUPT;
	return *out ? 0 : corrupt(d, at, "%s is 0 (InvalidOid)", what);
}

/* A NUL-terminated string; the NUL must be inside the message. */
static int get_str(decoder *d, const char **out, const char *what)
{
	const uint8_t *nul = memchr(d->p, '\0', left(d));
	if (!nul)
		return corrupt(d, d->p, "%s has no terminating NUL within the message",
		               what);
	*out = (const char *)d->p;
	d->p = nul + 1;
	return 0;
}

/* An Int32 length or count: refused when negative or when the bytes left
 * cannot hold `unit` bytes per item.  Allocations sized from it are
 * therefore bounded by the message. */
static int get_count32(decoder *d, uint32_t *out, size_t unit,
                       const char *what)
{
	const uint8_t *at = d->p;
	uint32_t u;
	if (get_u32(d, &u, what) < 0)
		return FERRY_ECORRUPT;
	if (u > INT32_MAX)
		return corrupt(d, at, "%s is negative (%d)", what, as_i32(u));
	if (u > left(d) / unit)
		return corrupt(d, at, "%s %u runs past the end (%zu bytes left)", what,
		               u, left(d));
	*out = u;
	return 0;
}

static int get_count16(decoder *d, uint32_t *out, size_t unit,
                       const char *what)
{
	const uint8_t *at = d->p;
	int16_t n;
	if (get_i16(d, &n, what) < 0)
		return FERRY_ECORRUPT;
	if (n < 0)
		return corrupt(d, at, "%s is negative (%d)", what, n);
	if ((size_t)n > left(d) / unit)
		return corrupt(d, at, "%s %d runs past the end (%zu bytes left)", what,
		               n, left(d));
	*out = (uint32_t)n;
	return 0;
}

/* Grows a reusable array to hold n items (n > *cap); returns it, or NULL
 * with the old array untouched. */
static void *grow(void *arr, size_t *cap, size_t n, size_t item)
{
	size_t want = *cap ? *cap : 8;
	while (want < n && want <= SIZE_MAX / 2)
		want *= 2;
	if (want < n || want > SIZE_MAX / item)
		return NULL;
	void *grown = ferry_realloc(arr, want * item);
	if (grown)
		*cap = want;
	return grown;
}

static int decode_value(decoder *d, ferry_pgoutput_value *v, const char *which,
                        uint32_t col)
{
	char what[96], byte[16];
	const uint8_t *at = d->p;
	uint8_t kind;
	snprintf(what, sizeof what, "%s column %u kind", which, col);
	if (get_u8(d, &kind, what) < 0)
		return FERRY_ECORRUPT;
	v->len = 0;
	v->data = NULL;
	switch (kind) {
	case FERRY_PGOUTPUT_NULL:
	case FERRY_PGOUTPUT_UNCHANGED:
		v->kind = (ferry_pgoutput_value_kind)kind;
		return 0;
	case FERRY_PGOUTPUT_TEXT:
	case FERRY_PGOUTPUT_BINARY:
		v->kind = (ferry_pgoutput_value_kind)kind;
		break;
	default:
		describe_byte(byte, kind);
		return corrupt(d, at, "%s column %u has unknown kind byte %s", which,
		               col, byte);
	}
	snprintf(what, sizeof what, "%s column %u value length", which, col);
	if (get_count32(d, &v->len, 1, what) < 0)
		return FERRY_ECORRUPT;
	v->data = d->p;
	d->p += v->len;
	/* text output never holds NUL; one here means the bytes are off */
	if (kind == FERRY_PGOUTPUT_TEXT && memchr(v->data, '\0', v->len))
		return corrupt(d, v->data, "%s column %u text value contains a NUL",
		               which, col);
	return 0;
}

/* TupleData into t, its values in *vals (grown as needed). */
static int decode_tuple(decoder *d, ferry_pgoutput_tuple *t,
                        ferry_pgoutput_value **vals, size_t *cap,
                        const char *which)
{
	char what[64];
	uint32_t ncols;
	snprintf(what, sizeof what, "%s column count", which);
	/* every column takes at least its kind byte */
	if (get_count16(d, &ncols, 1, what) < 0)
		return FERRY_ECORRUPT;
	if (ncols > *cap) {
		ferry_pgoutput_value *grown = grow(*vals, cap, ncols, sizeof **vals);
		if (!grown)
			return ferry_error_oom(d->err);
		*vals = grown;
	}
	for (uint32_t i = 0; i < ncols; i++) {
		int rc = decode_value(d, &(*vals)[i], which, i);
		if (rc < 0)
			return rc;
	}
	t->ncols = ncols;
	t->values = *vals;
	return 0;
}

static int decode_begin(decoder *d, ferry_pgoutput_begin *b)
{
	if (get_u64(d, &b->final_lsn, "final LSN") < 0 ||
	    get_i64(d, &b->commit_time, "commit timestamp") < 0 ||
	    get_u32(d, &b->xid, "xid") < 0)
		return FERRY_ECORRUPT;
	return 0;
}

static int decode_commit(decoder *d, ferry_pgoutput_commit *c)
{
	const uint8_t *at = d->p;
	if (get_u8(d, &c->flags, "flags") < 0)
		return FERRY_ECORRUPT;
	if (c->flags != 0)
		return corrupt(d, at, "flags are 0x%02x, not 0", c->flags);
	at = d->p;
	if (get_u64(d, &c->commit_lsn, "commit LSN") < 0 ||
	    get_u64(d, &c->end_lsn, "end LSN") < 0 ||
	    get_i64(d, &c->commit_time, "commit timestamp") < 0)
		return FERRY_ECORRUPT;
	if (c->end_lsn < c->commit_lsn)
		return corrupt(d, at, "end LSN %X/%X is before commit LSN %X/%X",
		               (unsigned)(c->end_lsn >> 32), (unsigned)c->end_lsn,
		               (unsigned)(c->commit_lsn >> 32),
		               (unsigned)c->commit_lsn);
	return 0;
}

static int decode_origin(decoder *d, ferry_pgoutput_origin *o)
{
	if (get_u64(d, &o->commit_lsn, "origin commit LSN") < 0 ||
	    get_str(d, &o->name, "origin name") < 0)
		return FERRY_ECORRUPT;
	return 0;
}

static int decode_column(decoder *d, ferry_pgoutput_column *c, uint32_t i)
{
	char what[64];
	const uint8_t *at = d->p;
	snprintf(what, sizeof what, "column %u flags", i);
	if (get_u8(d, &c->flags, what) < 0)
		return FERRY_ECORRUPT;
	if (c->flags & ~FERRY_PGOUTPUT_COL_KEY)
		return corrupt(d, at, "column %u has unknown flags 0x%02x", i,
		               c->flags);
	snprintf(what, sizeof what, "column %u name", i);
	if (get_str(d, &c->name, what) < 0)
		return FERRY_ECORRUPT;
	snprintf(what, sizeof what, "column %u type oid", i);
	if (get_oid(d, &c->type_oid, what) < 0)
		return FERRY_ECORRUPT;
	uint32_t mod;
	snprintf(what, sizeof what, "column %u type modifier", i);
	if (get_u32(d, &mod, what) < 0)
		return FERRY_ECORRUPT;
	c->typmod = as_i32(mod);
	return 0;
}

static int decode_relation(decoder *d, ferry_pgoutput_msg *m)
{
	ferry_pgoutput_relation *r = &m->u.relation;
	uint8_t ident;
	char byte[16];
	if (get_oid(d, &r->oid, "relation oid") < 0 ||
	    get_str(d, &r->nspname, "namespace") < 0 ||
	    get_str(d, &r->relname, "relation name") < 0)
		return FERRY_ECORRUPT;
	const uint8_t *at = d->p;
	if (get_u8(d, &ident, "replica identity") < 0)
		return FERRY_ECORRUPT;
	if (!strchr("dnfi", ident) || ident == 0) {
		describe_byte(byte, ident);
		return corrupt(d, at, "unknown replica identity %s", byte);
	}
	r->replident = (char)ident;
	uint32_t ncols;
	/* flags, a name's NUL, type oid and typmod: 10 bytes at the least */
	if (get_count16(d, &ncols, 10, "column count") < 0)
		return FERRY_ECORRUPT;
	if (ncols > m->cols_cap_) {
		ferry_pgoutput_column *grown =
		    grow(m->cols_, &m->cols_cap_, ncols, sizeof *grown);
		if (!grown)
			return ferry_error_oom(d->err);
		m->cols_ = grown;
	}
	for (uint32_t i = 0; i < ncols; i++)
		if (decode_column(d, &m->cols_[i], i) < 0)
			return FERRY_ECORRUPT;
	r->ncols = ncols;
	r->cols = m->cols_;
	return 0;
}

static int decode_datatype(decoder *d, ferry_pgoutput_datatype *t)
{
	if (get_oid(d, &t->oid, "type oid") < 0 ||
	    get_str(d, &t->nspname, "namespace") < 0 ||
	    get_str(d, &t->name, "type name") < 0)
		return FERRY_ECORRUPT;
	return 0;
}

/* The byte before a tuple: which tuple follows. */
static int get_tuple_tag(decoder *d, uint8_t *tag, const char *allowed)
{
	const uint8_t *at = d->p;
	char byte[16];
	if (get_u8(d, tag, "tuple tag") < 0)
		return FERRY_ECORRUPT;
	if (*tag && strchr(allowed, *tag))
		return 0;
	describe_byte(byte, *tag);
	return corrupt(d, at, "tuple tag is %s, expected one of '%s'", byte,
	               allowed);
}

static int decode_old_tuple(decoder *d, ferry_pgoutput_msg *m, uint8_t tag)
{
	int rc = decode_tuple(d, &m->old_, &m->old_vals_, &m->old_cap_,
	                      tag == 'K' ? "old key tuple" : "old tuple");
	if (rc < 0)
		return rc;
	m->u.change.old_kind = (char)tag;
	m->u.change.old_tuple = &m->old_;
	return 0;
}

static int decode_new_tuple(decoder *d, ferry_pgoutput_msg *m)
{
	int rc = decode_tuple(d, &m->new_, &m->new_vals_, &m->new_cap_,
	                      "new tuple");
	if (rc < 0)
		return rc;
	m->u.change.new_tuple = &m->new_;
	return 0;
}

static int decode_change(decoder *d, ferry_pgoutput_msg *m)
{
	ferry_pgoutput_change *c = &m->u.change;
	uint8_t tag;
	int rc;
	c->old_kind = 0;
	c->old_tuple = c->new_tuple = NULL;
	if (get_oid(d, &c->relid, "relation oid") < 0)
		return FERRY_ECORRUPT;
	switch (m->type) {
	case FERRY_PGOUTPUT_INSERT:
		if (get_tuple_tag(d, &tag, "N") < 0)
			return FERRY_ECORRUPT;
		return decode_new_tuple(d, m);
	case FERRY_PGOUTPUT_UPDATE:
		if (get_tuple_tag(d, &tag, "KON") < 0)
			return FERRY_ECORRUPT;
		if (tag != 'N') {
			if ((rc = decode_old_tuple(d, m, tag)) < 0)
				return rc;
			if (get_tuple_tag(d, &tag, "N") < 0)
				return FERRY_ECORRUPT;
		}
		return decode_new_tuple(d, m);
	default: /* delete */
		if (get_tuple_tag(d, &tag, "KO") < 0)
			return FERRY_ECORRUPT;
		return decode_old_tuple(d, m, tag);
	}
}

static int decode_truncate(decoder *d, ferry_pgoutput_msg *m)
{
	ferry_pgoutput_truncate *t = &m->u.truncate;
	const uint8_t *at = d->p;
	uint32_t n;
	if (get_count32(d, &n, 4, "relation count") < 0)
		return FERRY_ECORRUPT;
	if (n == 0)
		return corrupt(d, at, "relation count is 0");
	at = d->p;
	if (get_u8(d, &t->options, "options") < 0)
		return FERRY_ECORRUPT;
	if (t->options & ~(FERRY_PGOUTPUT_TRUNCATE_CASCADE |
	                   FERRY_PGOUTPUT_TRUNCATE_RESTART_IDENTITY))
		return corrupt(d, at, "unknown options 0x%02x", t->options);
	/* the count was checked before the options byte was taken */
	if (need(d, (size_t)n * 4, "relation oids") < 0)
		return FERRY_ECORRUPT;
	if (n > m->relids_cap_) {
		uint32_t *grown = grow(m->relids_, &m->relids_cap_, n, sizeof *grown);
		if (!grown)
			return ferry_error_oom(d->err);
		m->relids_ = grown;
	}
	for (uint32_t i = 0; i < n; i++)
		if (get_oid(d, &m->relids_[i], "relation oid") < 0)
			return FERRY_ECORRUPT;
	t->nrelids = n;
	t->relids = m->relids_;
	return 0;
}

static int decode_logical_message(decoder *d, ferry_pgoutput_logical_message *lm)
{
	const uint8_t *at = d->p;
	if (get_u8(d, &lm->flags, "flags") < 0)
		return FERRY_ECORRUPT;
	if (lm->flags & ~FERRY_PGOUTPUT_MESSAGE_TRANSACTIONAL)
		return corrupt(d, at, "unknown flags 0x%02x", lm->flags);
	if (get_u64(d, &lm->lsn, "LSN") < 0 ||
	    get_str(d, &lm->prefix, "prefix") < 0 ||
	    get_count32(d, &lm->len, 1, "content length") < 0)
		return FERRY_ECORRUPT;
	lm->content = d->p;
	d->p += lm->len;
	return 0;
}

/* Messages other protocol versions and options send: name them. */
static const char *unsupported_message(uint8_t type)
{
	switch (type) {
	case 'S': return "stream start";
	case 'E': return "stream stop";
	case 'c': return "stream commit";
	case 'A': return "stream abort";
	case 'b': return "begin prepare";
	case 'P': return "prepare";
	case 'K': return "commit prepared";
	case 'r': return "rollback prepared";
	case 'p': return "stream prepare";
	}
	return NULL;
}

static int decode_body(decoder *d, ferry_pgoutput_msg *m)
{
	switch (m->type) {
	case FERRY_PGOUTPUT_BEGIN: return decode_begin(d, &m->u.begin);
	case FERRY_PGOUTPUT_COMMIT: return decode_commit(d, &m->u.commit);
	case FERRY_PGOUTPUT_ORIGIN: return decode_origin(d, &m->u.origin);
	case FERRY_PGOUTPUT_RELATION: return decode_relation(d, m);
	case FERRY_PGOUTPUT_TYPE: return decode_datatype(d, &m->u.datatype);
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE: return decode_change(d, m);
	case FERRY_PGOUTPUT_TRUNCATE: return decode_truncate(d, m);
	case FERRY_PGOUTPUT_MESSAGE:
		return decode_logical_message(d, &m->u.message);
	}
	return FERRY_ERROR; /* not reached: the type was checked */
}

int ferry_pgoutput_decode(ferry_pgoutput_msg *m, const uint8_t *data,
                          size_t len, ferry_error *err)
{
	char byte[16];
	if (len == 0)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "pgoutput message is empty");
	uint8_t type = data[0];
	describe_byte(byte, type);
	const char *other = unsupported_message(type);
	if (other)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "pgoutput %s message (type byte %s) is not "
		                       "part of proto_version 1: streaming and "
		                       "two-phase options must be off",
		                       other, byte);
	if (!known_type(type))
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "pgoutput message is corrupt at byte 0: "
		                       "unknown message type byte %s",
		                       byte);
	decoder d = {data, data + 1, data + len, type, err};
	m->type = (ferry_pgoutput_type)type;
	int rc = decode_body(&d, m);
	if (rc < 0)
		return rc;
	if (d.p != d.end)
		return corrupt(&d, d.p, "%zu bytes of trailing garbage", left(&d));
	return 0;
}

/* ---- pgoutput messages: encoding -------------------------------------- */

static void put_str(ferry_buf *b, const char *s)
{
	ferry_buf_append(b, s, strlen(s) + 1);
}

static void encode_tuple(ferry_buf *b, const ferry_pgoutput_tuple *t)
{
	buf_be(b, t->ncols, 2);
	for (uint32_t i = 0; i < t->ncols; i++) {
		const ferry_pgoutput_value *v = &t->values[i];
		ferry_buf_putc(b, (uint8_t)v->kind);
		if (v->kind == FERRY_PGOUTPUT_TEXT || v->kind == FERRY_PGOUTPUT_BINARY) {
			buf_be(b, v->len, 4);
			ferry_buf_append(b, v->data, v->len);
		}
	}
}

static void encode_change(ferry_buf *b, const ferry_pgoutput_msg *m)
{
	const ferry_pgoutput_change *c = &m->u.change;
	buf_be(b, c->relid, 4);
	if (c->old_tuple) {
		ferry_buf_putc(b, (uint8_t)c->old_kind);
		encode_tuple(b, c->old_tuple);
	}
	if (c->new_tuple) {
		ferry_buf_putc(b, 'N');
		encode_tuple(b, c->new_tuple);
	}
}

static void encode_relation(ferry_buf *b, const ferry_pgoutput_relation *r)
{
	buf_be(b, r->oid, 4);
	put_str(b, r->nspname);
	put_str(b, r->relname);
	ferry_buf_putc(b, (uint8_t)r->replident);
	buf_be(b, r->ncols, 2);
	for (uint32_t i = 0; i < r->ncols; i++) {
		ferry_buf_putc(b, r->cols[i].flags);
		put_str(b, r->cols[i].name);
		buf_be(b, r->cols[i].type_oid, 4);
		buf_be(b, (uint32_t)r->cols[i].typmod, 4);
	}
}

void ferry_pgoutput_encode(const ferry_pgoutput_msg *m, ferry_buf *out)
{
	const ferry_pgoutput_truncate *t = &m->u.truncate;
	const ferry_pgoutput_logical_message *lm = &m->u.message;
	ferry_buf_putc(out, (uint8_t)m->type);
	switch (m->type) {
	case FERRY_PGOUTPUT_BEGIN:
		buf_be(out, m->u.begin.final_lsn, 8);
		buf_be(out, (uint64_t)m->u.begin.commit_time, 8);
		buf_be(out, m->u.begin.xid, 4);
		break;
	case FERRY_PGOUTPUT_COMMIT:
		ferry_buf_putc(out, m->u.commit.flags);
		buf_be(out, m->u.commit.commit_lsn, 8);
		buf_be(out, m->u.commit.end_lsn, 8);
		buf_be(out, (uint64_t)m->u.commit.commit_time, 8);
		break;
	case FERRY_PGOUTPUT_ORIGIN:
		buf_be(out, m->u.origin.commit_lsn, 8);
		put_str(out, m->u.origin.name);
		break;
	case FERRY_PGOUTPUT_RELATION:
		encode_relation(out, &m->u.relation);
		break;
	case FERRY_PGOUTPUT_TYPE:
		buf_be(out, m->u.datatype.oid, 4);
		put_str(out, m->u.datatype.nspname);
		put_str(out, m->u.datatype.name);
		break;
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE:
		encode_change(out, m);
		break;
	case FERRY_PGOUTPUT_TRUNCATE:
		buf_be(out, t->nrelids, 4);
		ferry_buf_putc(out, t->options);
		for (uint32_t i = 0; i < t->nrelids; i++)
			buf_be(out, t->relids[i], 4);
		break;
	case FERRY_PGOUTPUT_MESSAGE:
		ferry_buf_putc(out, lm->flags);
		buf_be(out, lm->lsn, 8);
		put_str(out, lm->prefix);
		buf_be(out, lm->len, 4);
		ferry_buf_append(out, lm->content, lm->len);
		break;
	}
}

void ferry_pgoutput_msg_free(ferry_pgoutput_msg *m)
{
	if (!m)
		return;
	ferry_free(m->old_vals_);
	ferry_free(m->new_vals_);
	ferry_free(m->cols_);
	ferry_free(m->relids_);
	memset(m, 0, sizeof *m);
}

/* ---- relation cache ---------------------------------------------------- */

/*
 * One relation in one allocation: the description, its columns, then all
 * of its strings.  A single block means a put either fully succeeds or
 * leaves nothing behind, and a replace frees exactly one thing.
 */
typedef struct entry {
	ferry_pgoutput_relation rel;
	ferry_pgoutput_column cols[];
} entry;

struct ferry_pgoutput_relcache {
	entry **slots; /* open addressing, linear probing; NULL = free */
	size_t cap;    /* a power of two, or 0 before the first put */
	size_t count;
};

int ferry_pgoutput_relcache_open(ferry_pgoutput_relcache **out,
                                 ferry_error *err)
{
	ferry_pgoutput_relcache *c = ferry_calloc(1, sizeof *c);
	if (!c)
		return ferry_error_oom(err);
	*out = c;
	return 0;
}

void ferry_pgoutput_relcache_close(ferry_pgoutput_relcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		ferry_free(c->slots[i]);
	ferry_free(c->slots);
	ferry_free(c);
}

static size_t slot_of(uint32_t oid, size_t cap)
{
	return (size_t)(oid * UINT32_C(2654435761)) & (cap - 1);
}

/* The slot holding oid, or the free slot where it would go. */
static size_t find_slot(entry *const *slots, size_t cap, uint32_t oid)
{
	size_t i = slot_of(oid, cap);
	while (slots[i] && slots[i]->rel.oid != oid)
		i = (i + 1) & (cap - 1);
	return i;
}

/* Doubles the table; on failure the old one stays as it was. */
static int grow_table(ferry_pgoutput_relcache *c, ferry_error *err)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	if (cap > SIZE_MAX / sizeof(entry *))
		return ferry_error_oom(err);
	entry **slots = ferry_calloc(cap, sizeof *slots);
	if (!slots)
		return ferry_error_oom(err);
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i])
			slots[find_slot(slots, cap, c->slots[i]->rel.oid)] = c->slots[i];
	ferry_free(c->slots);
	c->slots = slots;
	c->cap = cap;
	return 0;
}

/* Appends s to the string area at *pos; returns the copy. */
static const char *copy_str(char **pos, const char *s, size_t n)
{
	char *copy = *pos;
	memcpy(copy, s, n + 1);
	*pos += n + 1;
	return copy;
}

static entry *copy_relation(const ferry_pgoutput_relation *r)
{
	size_t nsp = strlen(r->nspname), rel = strlen(r->relname);
	size_t strings = nsp + rel + 2;
	size_t ncols = r->ncols; /* size_t: the check matters where it is 32 bits */
	if (ncols > (SIZE_MAX / 2) / sizeof(ferry_pgoutput_column))
		return NULL;
	for (uint32_t i = 0; i < r->ncols; i++) {
		size_t n = strlen(r->cols[i].name) + 1;
		if (strings > SIZE_MAX / 4 - n)
			return NULL;
		strings += n;
	}
	size_t size = sizeof(entry) + ncols * sizeof(ferry_pgoutput_column);
	if (size > SIZE_MAX - strings)
		return NULL;
	entry *e = ferry_malloc(size + strings);
	if (!e)
		return NULL;
	char *pos = (char *)e + size;
	e->rel = *r;
	e->rel.nspname = copy_str(&pos, r->nspname, nsp);
	e->rel.relname = copy_str(&pos, r->relname, rel);
	for (uint32_t i = 0; i < r->ncols; i++) {
		e->cols[i] = r->cols[i];
		e->cols[i].name =
		    copy_str(&pos, r->cols[i].name, strlen(r->cols[i].name));
	}
	e->rel.cols = e->cols;
	return e;
}

int ferry_pgoutput_relcache_put(ferry_pgoutput_relcache *c,
                                const ferry_pgoutput_relation *rel,
                                ferry_error *err)
{
	entry *e = copy_relation(rel);
	if (!e)
		return ferry_error_oom(err);
	if (c->cap) {
		size_t i = find_slot(c->slots, c->cap, rel->oid);
		if (c->slots[i]) { /* a new shape for a known table */
			ferry_free(c->slots[i]);
			c->slots[i] = e;
			return 0;
		}
	}
	/* keep the load at most one half, so probes stay short */
	if ((c->count + 1) * 2 > c->cap && grow_table(c, err) < 0) {
		ferry_free(e);
		return FERRY_ENOMEM;
	}
	c->slots[find_slot(c->slots, c->cap, rel->oid)] = e;
	c->count++;
	return 0;
}

const ferry_pgoutput_relation *
ferry_pgoutput_relcache_get(const ferry_pgoutput_relcache *c, uint32_t oid)
{
	if (!c->cap)
		return NULL;
	entry *e = c->slots[find_slot(c->slots, c->cap, oid)];
	return e ? &e->rel : NULL;
}

size_t ferry_pgoutput_relcache_count(const ferry_pgoutput_relcache *c)
{
	return c->count;
}

static int check_tuple(const ferry_pgoutput_relation *rel,
                       const ferry_pgoutput_tuple *t, const char *op,
                       const char *which, bool may_be_unchanged,
                       ferry_error *err)
{
	if (t->ncols != rel->ncols)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "pgoutput %s on \"%s\".\"%s\" (oid %u) is "
		                       "corrupt: %s has %u columns, the relation %u",
		                       op, rel->nspname, rel->relname, rel->oid, which,
		                       t->ncols, rel->ncols);
	for (uint32_t i = 0; i < t->ncols && !may_be_unchanged; i++)
		if (t->values[i].kind == FERRY_PGOUTPUT_UNCHANGED)
			return ferry_error_set(err, FERRY_ECORRUPT,
			                       "pgoutput %s on \"%s\".\"%s\" (oid %u) is "
			                       "corrupt: %s column \"%s\" is an unchanged "
			                       "TOAST value, which only an update's new "
			                       "tuple may hold",
			                       op, rel->nspname, rel->relname, rel->oid,
			                       which, rel->cols[i].name);
	return 0;
}

static int unknown_relation(ferry_error *err, const char *op, uint32_t oid)
{
	return ferry_error_set(err, FERRY_ECORRUPT,
	                       "pgoutput %s names relation oid %u, which no "
	                       "Relation message described",
	                       op, oid);
}

int ferry_pgoutput_relcache_check(const ferry_pgoutput_relcache *c,
                                  const ferry_pgoutput_msg *m,
                                  const ferry_pgoutput_relation **rel_out,
                                  ferry_error *err)
{
	const char *op = ferry_pgoutput_type_name(m->type);
	if (m->type == FERRY_PGOUTPUT_TRUNCATE) {
		for (uint32_t i = 0; i < m->u.truncate.nrelids; i++)
			if (!ferry_pgoutput_relcache_get(c, m->u.truncate.relids[i]))
				return unknown_relation(err, op, m->u.truncate.relids[i]);
		return 0;
	}
	if (m->type != FERRY_PGOUTPUT_INSERT && m->type != FERRY_PGOUTPUT_UPDATE &&
	    m->type != FERRY_PGOUTPUT_DELETE)
		return 0;
	const ferry_pgoutput_change *ch = &m->u.change;
	const ferry_pgoutput_relation *rel =
	    ferry_pgoutput_relcache_get(c, ch->relid);
	if (!rel)
		return unknown_relation(err, op, ch->relid);
	if (ch->old_tuple &&
	    check_tuple(rel, ch->old_tuple, op,
	                ch->old_kind == 'K' ? "old key tuple" : "old tuple", false,
	                err) < 0)
		return FERRY_ECORRUPT;
	if (ch->new_tuple &&
	    check_tuple(rel, ch->new_tuple, op, "new tuple",
	                m->type == FERRY_PGOUTPUT_UPDATE, err) < 0)
		return FERRY_ECORRUPT;
	if (rel_out)
		*rel_out = rel;
	return 0;
}
