/*
 * tests/cdc/test_pgoutput.c - cdc/pgoutput.c: the replication stream
 * framing, every pgoutput message type and tuple kind from hand-built
 * bytes with each field asserted, refusal of every truncation, of
 * trailing bytes and of malformed fields, byte flips that decode or are
 * refused (never a crash: the suite also runs under ASan/UBSan), the
 * relation cache with allocation fault injection, and - when
 * FERRY_TEST_PG names a server with wal_level=logical - the real bytes of
 * a pgoutput slot for inserts, updates (key change, REPLICA IDENTITY
 * FULL, unchanged TOAST), deletes, truncate, an enum type, a replication
 * origin and logical decoding messages.
 *
 * With FERRY_PGOUTPUT_SEED_DIR set, the server part also writes its
 * transactions as fuzz seeds for tests/fuzz/fuzz_pgoutput_decode.c
 * (framing described there).
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cdc/pgoutput.h"
#include "engine/alloc.h"
#include "tests/tap.h"
#include "tests/pg_test.h"

/* ---- building bytes by hand ------------------------------------------- */

typedef struct bytes {
	uint8_t d[16384];
	size_t n;
} bytes;

static void b_u8(bytes *b, unsigned v) { b->d[b->n++] = (uint8_t)v; }

static void b_be(bytes *b, uint64_t v, int len)
{
	for (int i = len - 1; i >= 0; i--)
		b->d[b->n++] = (uint8_t)(v >> (8 * i));
}

static void b_str(bytes *b, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(b->d + b->n, s, n);
	b->n += n;
}

static void b_raw(bytes *b, const void *p, size_t n)
{
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

/* a 't' or 'b' value */
static void b_val(bytes *b, char kind, const void *p, size_t n)
{
	b_u8(b, (uint8_t)kind);
	b_be(b, n, 4);
	b_raw(b, p, n);
}

static void b_text(bytes *b, const char *s) { b_val(b, 't', s, strlen(s)); }

#define LSN_BEGIN UINT64_C(0x00000001ABCDEF00)
#define LSN_END UINT64_C(0x00000001ABCDEF38)
#define COMMIT_TS INT64_C(752000000123456) /* 2023-10-30 in PG's epoch */
#define XID 7654321u
#define RELID 16384u
#define TYPID 16390u

static bytes msg_begin(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'B');
	b_be(&b, LSN_BEGIN, 8);
	b_be(&b, (uint64_t)COMMIT_TS, 8);
	b_be(&b, XID, 4);
	return b;
}

static bytes msg_commit(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'C');
	b_u8(&b, 0);
	b_be(&b, LSN_BEGIN, 8);
	b_be(&b, LSN_END, 8);
	b_be(&b, (uint64_t)COMMIT_TS, 8);
	return b;
}

static bytes msg_origin(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'O');
	b_be(&b, UINT64_C(0xFEDCBA9876543210), 8);
	b_str(&b, "upstream");
	return b;
}

static bytes msg_relation(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'R');
	b_be(&b, RELID, 4);
	b_str(&b, "public");
	b_str(&b, "users");
	b_u8(&b, 'd');
	b_be(&b, 3, 2);
	b_u8(&b, 1), b_str(&b, "id"), b_be(&b, 23, 4), b_be(&b, UINT32_MAX, 4);
	b_u8(&b, 0), b_str(&b, "name"), b_be(&b, 1043, 4), b_be(&b, 24, 4);
	b_u8(&b, 0), b_str(&b, "mood"), b_be(&b, TYPID, 4), b_be(&b, UINT32_MAX, 4);
	return b;
}

static bytes msg_type(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'Y');
	b_be(&b, TYPID, 4);
	b_str(&b, "public");
	b_str(&b, "mood");
	return b;
}

static bytes msg_insert(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'I');
	b_be(&b, RELID, 4);
	b_u8(&b, 'N');
	b_be(&b, 3, 2);
	b_val(&b, 'b', "\x00\x00\x00\x2a", 4);
	b_text(&b, "J\xc3\xa9r\xc3\xb4me");
	b_u8(&b, 'n');
	return b;
}

/* old tag 0: none, else 'K' or 'O' */
static bytes msg_update(char old)
{
	bytes b = {.n = 0};
	b_u8(&b, 'U');
	b_be(&b, RELID, 4);
	if (old) {
		b_u8(&b, (uint8_t)old);
		b_be(&b, 3, 2);
		b_text(&b, "42");
		if (old == 'K') {
			b_u8(&b, 'n'), b_u8(&b, 'n');
		} else {
			b_text(&b, ""), b_text(&b, "sad");
		}
	}
	b_u8(&b, 'N');
	b_be(&b, 3, 2);
	b_text(&b, "43");
	b_u8(&b, 'u');
	b_text(&b, "happy");
	return b;
}

static bytes msg_delete(char old)
{
	bytes b = {.n = 0};
	b_u8(&b, 'D');
	b_be(&b, RELID, 4);
	b_u8(&b, (uint8_t)old);
	b_be(&b, 3, 2);
	b_text(&b, "43");
	if (old == 'K') {
		b_u8(&b, 'n'), b_u8(&b, 'n');
	} else {
		b_text(&b, "bob"), b_u8(&b, 'n');
	}
	return b;
}

static bytes msg_truncate(void)
{
	bytes b = {.n = 0};
	b_u8(&b, 'T');
	b_be(&b, 2, 4);
	b_u8(&b, 3);
	b_be(&b, RELID, 4);
	b_be(&b, 16500, 4);
	return b;
}

static bytes msg_message(bool transactional, const void *content, size_t n)
{
	bytes b = {.n = 0};
	b_u8(&b, 'M');
	b_u8(&b, transactional ? 1 : 0);
	b_be(&b, UINT64_C(0x99), 8);
	b_str(&b, "ferry");
	b_be(&b, n, 4);
	b_raw(&b, content, n);
	return b;
}

/* ---- decoding helpers --------------------------------------------------- */

/* Decodes an exact-size heap copy, so ASan sees any overread.  The copy
 * is returned in *keep (free it) because decoded pointers borrow it. */
static int decode_copy(ferry_pgoutput_msg *m, const uint8_t *p, size_t n,
                       uint8_t **keep, ferry_error *err)
{
	*keep = malloc(n ? n : 1);
	memcpy(*keep, p, n);
	return ferry_pgoutput_decode(m, *keep, n, err);
}

static bool val_is(const ferry_pgoutput_value *v, char kind, const char *data,
                   size_t n)
{
	if ((char)v->kind != kind || v->len != n)
		return false;
	if (kind == 't' || kind == 'b')
		return memcmp(v->data, data, n) == 0;
	return v->data == NULL;
}

static bool text_is(const ferry_pgoutput_value *v, const char *s)
{
	return val_is(v, 't', s, strlen(s));
}

static bool reencodes(const ferry_pgoutput_msg *m, const uint8_t *p, size_t n)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_encode(m, &b);
	bool same = !ferry_buf_failed(&b) && b.len == n && memcmp(b.data, p, n) == 0;
	ferry_buf_free(&b);
	return same;
}

/* ---- time and framing ---------------------------------------------------- */

static void test_time(void)
{
	is_int(ferry_pgoutput_time_to_unix(0), INT64_C(946684800000000),
	       "PG epoch 0 is 2000-01-01 in Unix µs");
	is_int(ferry_pgoutput_time_from_unix(0), -INT64_C(946684800000000),
	       "Unix 0 is before the PG epoch");
	is_int(ferry_pgoutput_time_to_unix(ferry_pgoutput_time_from_unix(
	           INT64_C(1700000000123456))),
	       INT64_C(1700000000123456), "round trip of a 2023 time");
	is_int(ferry_pgoutput_time_to_unix(INT64_MAX), INT64_MAX,
	       "infinity stays infinity");
	is_int(ferry_pgoutput_time_to_unix(INT64_MIN), INT64_MIN,
	       "-infinity stays -infinity");
	is_int(ferry_pgoutput_time_to_unix(INT64_MAX - 2), INT64_MAX - 1,
	       "a finite overflow clamps, not wraps, and is not infinity");
	is_int(ferry_pgoutput_time_from_unix(INT64_MIN + 2), INT64_MIN + 1,
	       "a finite underflow clamps");
}

static void test_frames(void)
{
	ferry_pgoutput_frame f;
	ferry_error err = FERRY_ERROR_INIT;
	bytes w = {.n = 0};
	b_u8(&w, 'w');
	b_be(&w, UINT64_C(0x16B3748), 8);
	b_be(&w, UINT64_C(0x16B3800), 8);
	b_be(&w, (uint64_t)-INT64_C(5), 8);
	bytes inner = msg_begin();
	b_raw(&w, inner.d, inner.n);
	uint8_t *copy;
	copy = malloc(w.n);
	memcpy(copy, w.d, w.n);
	is_int(ferry_pgoutput_frame_decode(&f, copy, w.n, &err), 0,
	       "XLogData decodes: %s", ferry_error_message(&err));
	ok(f.kind == FERRY_PGOUTPUT_XLOGDATA && f.wal_start == 0x16B3748 &&
	       f.wal_end == 0x16B3800 && f.send_time == -5 && !f.reply_requested,
	   "XLogData header fields");
	ok(f.data == copy + 25 && f.len == inner.n,
	   "XLogData message is borrowed, not copied (%zu bytes)", f.len);
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_frame_encode(&f, &b);
	ok(b.len == w.n && memcmp(b.data, w.d, w.n) == 0,
	   "XLogData re-encodes to the same bytes");
	int refused = 0;
	for (size_t n = 0; n <= 25; n++)
		refused += ferry_pgoutput_frame_decode(&f, copy, n, &err) ==
		           FERRY_ECORRUPT;
	ok(refused == 26, "XLogData cut at each of bytes 0..25 is corrupt");
	ok(strstr(ferry_error_message(&err), "carries no message") != NULL,
	   "an empty XLogData says so: %s", ferry_error_message(&err));
	free(copy);

	bytes k = {.n = 0};
	b_u8(&k, 'k');
	b_be(&k, UINT64_C(0xAB00000010), 8);
	b_be(&k, (uint64_t)INT64_C(751234567890123), 8);
	b_u8(&k, 1);
	copy = malloc(k.n);
	memcpy(copy, k.d, k.n);
	is_int(ferry_pgoutput_frame_decode(&f, copy, k.n, &err), 0,
	       "keepalive decodes");
	ok(f.kind == FERRY_PGOUTPUT_KEEPALIVE && f.wal_end == 0xAB00000010 &&
	       f.send_time == 751234567890123 && f.reply_requested &&
	       f.data == NULL && f.len == 0,
	   "keepalive fields, reply requested");
	ferry_buf_reset(&b);
	ferry_pgoutput_frame_encode(&f, &b);
	ok(b.len == k.n && memcmp(b.data, k.d, k.n) == 0,
	   "keepalive re-encodes to the same bytes");
	refused = 0;
	for (size_t n = 0; n < k.n; n++)
		refused += ferry_pgoutput_frame_decode(&f, copy, n, &err) ==
		           FERRY_ECORRUPT;
	ok(refused == (int)k.n, "each of the %zu truncated keepalives is corrupt",
	   k.n);
	copy[17] = 2;
	is_int(ferry_pgoutput_frame_decode(&f, copy, k.n, &err), FERRY_ECORRUPT,
	       "keepalive reply flag 2 is corrupt");
	free(copy);
	b_u8(&k, 0);
	is_int(ferry_pgoutput_frame_decode(&f, k.d, k.n, &err), FERRY_ECORRUPT,
	       "a keepalive with a trailing byte is corrupt");
	is_int(ferry_pgoutput_frame_decode(&f, (const uint8_t *)"d123", 4, &err),
	       FERRY_ECORRUPT, "unknown CopyData kind is corrupt");
	is_str(ferry_error_message(&err),
	       "replication stream message is corrupt at byte 0: unknown "
	       "message type byte 0x64 ('d')",
	       "and the message names the byte");

	uint8_t st[FERRY_PGOUTPUT_STATUS_LEN];
	ferry_pgoutput_status s = {UINT64_C(0x0102030405060708),
	                           UINT64_C(0x1112131415161718),
	                           UINT64_C(0x2122232425262728), -INT64_C(2), true};
	ferry_pgoutput_status_encode(st, &s);
	static const uint8_t want[34] = {
	    'r',  1,    2,    3,    4,    5,    6,    7,    8,    0x11, 0x12, 0x13,
	    0x14, 0x15, 0x16, 0x17, 0x18, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
	    0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1};
	ok(memcmp(st, want, sizeof want) == 0,
	   "standby status update: 'r', write, flush, apply, clock, reply flag");
	s.reply_requested = false;
	ferry_pgoutput_status_encode(st, &s);
	is_int(st[33], 0, "reply flag 0");
	ferry_buf_free(&b);
	ferry_error_clear(&err);
}

/* ---- every message type, field by field --------------------------------- */

static ferry_pgoutput_msg m = FERRY_PGOUTPUT_MSG_INIT;
static ferry_error err = FERRY_ERROR_INIT;
static uint8_t *held; /* the exact-size copy m borrows from */

static int decode(const bytes *b)
{
	free(held);
	return decode_copy(&m, b->d, b->n, &held, &err);
}

static void test_transaction_messages(void)
{
	bytes b = msg_begin();
	is_int(decode(&b), 0, "begin decodes: %s", ferry_error_message(&err));
	ok(m.type == FERRY_PGOUTPUT_BEGIN && m.u.begin.final_lsn == LSN_BEGIN &&
	       m.u.begin.commit_time == COMMIT_TS && m.u.begin.xid == XID,
	   "begin: final LSN, commit time, xid");
	ok(reencodes(&m, b.d, b.n), "begin re-encodes exactly");

	b = msg_commit();
	is_int(decode(&b), 0, "commit decodes");
	ok(m.type == FERRY_PGOUTPUT_COMMIT && m.u.commit.flags == 0 &&
	       m.u.commit.commit_lsn == LSN_BEGIN &&
	       m.u.commit.end_lsn == LSN_END &&
	       m.u.commit.commit_time == COMMIT_TS,
	   "commit: flags, commit LSN, end LSN, commit time");
	ok(reencodes(&m, b.d, b.n), "commit re-encodes exactly");

	b = msg_origin();
	is_int(decode(&b), 0, "origin decodes");
	ok(m.type == FERRY_PGOUTPUT_ORIGIN &&
	       m.u.origin.commit_lsn == UINT64_C(0xFEDCBA9876543210),
	   "origin: commit LSN");
	is_str(m.u.origin.name, "upstream", "origin: name");
	ok((const uint8_t *)m.u.origin.name == held + 9,
	   "origin name is borrowed from the input");
	ok(reencodes(&m, b.d, b.n), "origin re-encodes exactly");

	b = msg_type();
	is_int(decode(&b), 0, "type decodes");
	ok(m.type == FERRY_PGOUTPUT_TYPE && m.u.datatype.oid == TYPID,
	   "type: oid");
	is_str(m.u.datatype.nspname, "public", "type: namespace");
	is_str(m.u.datatype.name, "mood", "type: name");
	ok(reencodes(&m, b.d, b.n), "type re-encodes exactly");

	static const char content[] = {'a', '\0', 'b'};
	b = msg_message(true, content, sizeof content);
	is_int(decode(&b), 0, "logical decoding message decodes");
	ok(m.type == FERRY_PGOUTPUT_MESSAGE &&
	       m.u.message.flags == FERRY_PGOUTPUT_MESSAGE_TRANSACTIONAL &&
	       m.u.message.lsn == 0x99 && m.u.message.len == 3 &&
	       memcmp(m.u.message.content, content, 3) == 0,
	   "message: transactional flag, LSN, content with a NUL");
	is_str(m.u.message.prefix, "ferry", "message: prefix");
	ok(reencodes(&m, b.d, b.n), "message re-encodes exactly");
	b = msg_message(false, "", 0);
	ok(decode(&b) == 0 && m.u.message.flags == 0 && m.u.message.len == 0,
	   "a non-transactional message with no content");
}

static void test_relation(void)
{
	bytes b = msg_relation();
	is_int(decode(&b), 0, "relation decodes: %s", ferry_error_message(&err));
	const ferry_pgoutput_relation *r = &m.u.relation;
	ok(m.type == FERRY_PGOUTPUT_RELATION && r->oid == RELID &&
	       r->replident == FERRY_PGOUTPUT_IDENT_DEFAULT && r->ncols == 3,
	   "relation: oid, replica identity, column count");
	is_str(r->nspname, "public", "relation: namespace");
	is_str(r->relname, "users", "relation: name");
	is_str(r->cols[0].name, "id", "column 0 name");
	ok(r->cols[0].flags == FERRY_PGOUTPUT_COL_KEY && r->cols[0].type_oid == 23 &&
	       r->cols[0].typmod == -1,
	   "column 0: key, int4, typmod -1");
	is_str(r->cols[1].name, "name", "column 1 name");
	ok(r->cols[1].flags == 0 && r->cols[1].type_oid == 1043 &&
	       r->cols[1].typmod == 24,
	   "column 1: not key, varchar, typmod 24 (varchar(20))");
	is_str(r->cols[2].name, "mood", "column 2 name");
	ok(r->cols[2].type_oid == TYPID, "column 2: the enum type's oid");
	ok(reencodes(&m, b.d, b.n), "relation re-encodes exactly");

	/* a table with no columns is legal in PostgreSQL */
	bytes z = {.n = 0};
	b_u8(&z, 'R'), b_be(&z, 5, 4), b_str(&z, ""), b_str(&z, "empty");
	b_u8(&z, 'n'), b_be(&z, 0, 2);
	ok(decode(&z) == 0 && m.u.relation.ncols == 0 &&
	       m.u.relation.nspname[0] == '\0' &&
	       m.u.relation.replident == FERRY_PGOUTPUT_IDENT_NOTHING,
	   "a relation with no columns, empty namespace, identity nothing");
}

static void test_changes(void)
{
	bytes b = msg_insert();
	is_int(decode(&b), 0, "insert decodes: %s", ferry_error_message(&err));
	const ferry_pgoutput_change *c = &m.u.change;
	ok(m.type == FERRY_PGOUTPUT_INSERT && c->relid == RELID &&
	       c->old_kind == 0 && c->old_tuple == NULL && c->new_tuple &&
	       c->new_tuple->ncols == 3,
	   "insert: relid, no old tuple, three new values");
	ok(val_is(&c->new_tuple->values[0], 'b', "\x00\x00\x00\x2a", 4),
	   "insert: binary value");
	ok(text_is(&c->new_tuple->values[1], "J\xc3\xa9r\xc3\xb4me"),
	   "insert: text value, UTF-8");
	ok(c->new_tuple->values[1].data == held + 1 + 4 + 1 + 2 + 1 + 4 + 4 + 1 + 4,
	   "insert: the value is borrowed from the input");
	ok(val_is(&c->new_tuple->values[2], 'n', NULL, 0), "insert: null");
	ok(reencodes(&m, b.d, b.n), "insert re-encodes exactly");

	b = msg_update(0);
	is_int(decode(&b), 0, "update without old tuple decodes");
	ok(m.type == FERRY_PGOUTPUT_UPDATE && c->relid == RELID &&
	       c->old_kind == 0 && !c->old_tuple && c->new_tuple->ncols == 3 &&
	       text_is(&c->new_tuple->values[0], "43") &&
	       val_is(&c->new_tuple->values[1], 'u', NULL, 0) &&
	       text_is(&c->new_tuple->values[2], "happy"),
	   "update: new tuple with an unchanged TOAST value");
	ok(reencodes(&m, b.d, b.n), "update re-encodes exactly");

	b = msg_update('K');
	is_int(decode(&b), 0, "update with a key tuple decodes");
	ok(c->old_kind == 'K' && c->old_tuple && c->old_tuple->ncols == 3 &&
	       text_is(&c->old_tuple->values[0], "42") &&
	       val_is(&c->old_tuple->values[1], 'n', NULL, 0) &&
	       val_is(&c->old_tuple->values[2], 'n', NULL, 0),
	   "update: 'K' old key tuple");
	ok(c->new_tuple && text_is(&c->new_tuple->values[0], "43"),
	   "update: the new tuple after the key tuple");
	ok(c->old_tuple->values != c->new_tuple->values,
	   "old and new tuples have their own values");
	ok(reencodes(&m, b.d, b.n), "update with key re-encodes exactly");

	b = msg_update('O');
	is_int(decode(&b), 0, "update with an old tuple decodes");
	ok(c->old_kind == 'O' && text_is(&c->old_tuple->values[1], "") &&
	       text_is(&c->old_tuple->values[2], "sad"),
	   "update: 'O' old tuple with an empty text value");
	ok(reencodes(&m, b.d, b.n), "update with old re-encodes exactly");

	b = msg_delete('K');
	is_int(decode(&b), 0, "delete by key decodes");
	ok(m.type == FERRY_PGOUTPUT_DELETE && c->relid == RELID &&
	       c->old_kind == 'K' && c->new_tuple == NULL &&
	       text_is(&c->old_tuple->values[0], "43"),
	   "delete: 'K' tuple, no new tuple");
	ok(reencodes(&m, b.d, b.n), "delete re-encodes exactly");
	b = msg_delete('O');
	ok(decode(&b) == 0 && c->old_kind == 'O' &&
	       text_is(&c->old_tuple->values[1], "bob"),
	   "delete: 'O' tuple");

	b = msg_truncate();
	is_int(decode(&b), 0, "truncate decodes");
	ok(m.type == FERRY_PGOUTPUT_TRUNCATE && m.u.truncate.nrelids == 2 &&
	       m.u.truncate.options == (FERRY_PGOUTPUT_TRUNCATE_CASCADE |
	                                FERRY_PGOUTPUT_TRUNCATE_RESTART_IDENTITY) &&
	       m.u.truncate.relids[0] == RELID && m.u.truncate.relids[1] == 16500,
	   "truncate: two relids, cascade and restart identity");
	ok(reencodes(&m, b.d, b.n), "truncate re-encodes exactly");

	/* a zero-column tuple */
	bytes z = {.n = 0};
	b_u8(&z, 'I'), b_be(&z, 5, 4), b_u8(&z, 'N'), b_be(&z, 0, 2);
	ok(decode(&z) == 0 && m.u.change.new_tuple->ncols == 0,
	   "an insert into a table with no columns");
}

/* All the good messages, for the truncation and mutation tests. */
static int all_messages(bytes *out)
{
	static const char content[] = "payload";
	int n = 0;
	out[n++] = msg_begin();
	out[n++] = msg_commit();
	out[n++] = msg_origin();
	out[n++] = msg_relation();
	out[n++] = msg_type();
	out[n++] = msg_insert();
	out[n++] = msg_update(0);
	out[n++] = msg_update('K');
	out[n++] = msg_update('O');
	out[n++] = msg_delete('K');
	out[n++] = msg_delete('O');
	out[n++] = msg_truncate();
	out[n++] = msg_message(true, content, sizeof content - 1);
	out[n++] = msg_message(false, "", 0);
	return n;
}

static void test_truncations(void)
{
	static bytes msgs[16];
	int n = all_messages(msgs);
	for (int i = 0; i < n; i++) {
		int refused = 0, located = 0;
		for (size_t len = 0; len < msgs[i].n; len++) {
			uint8_t *copy = malloc(len ? len : 1);
			memcpy(copy, msgs[i].d, len);
			if (ferry_pgoutput_decode(&m, copy, len, &err) == FERRY_ECORRUPT)
				refused++;
			if (len > 0 && strstr(ferry_error_message(&err), "at byte"))
				located++;
			free(copy);
		}
		ok(refused == (int)msgs[i].n && located == (int)msgs[i].n - 1,
		   "'%c': each of the %zu truncations is FERRY_ECORRUPT, with the "
		   "offset",
		   msgs[i].d[0], msgs[i].n);
		bytes longer = msgs[i];
		b_u8(&longer, 0);
		uint8_t *copy;
		int rc = decode_copy(&m, longer.d, longer.n, &copy, &err);
		ok(rc == FERRY_ECORRUPT &&
		       strstr(ferry_error_message(&err), "1 bytes of trailing"),
		   "'%c': a trailing byte is refused: %s", msgs[i].d[0],
		   ferry_error_message(&err));
		free(copy);
	}
	uint8_t *copy;
	bytes t = msg_update('K');
	decode_copy(&m, t.d, 16, &copy, &err);
	is_str(ferry_error_message(&err),
	       "pgoutput update message is corrupt at byte 16: truncated: old key "
	       "tuple column 2 kind needs 1 bytes, 0 left",
	       "a truncation names the message, the byte and the field");
	free(copy);
}

/* Every byte of every message replaced by several values: decodes (and
 * then re-encodes to exactly the mutated bytes) or is refused. */
static void test_flips(void)
{
	static bytes msgs[16];
	/* fixed values that are lengths' and tags' edges, then two bit flips */
	static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 'n', 'u',
	                                 't',  'b',  'K',  'O',  'N'};
	enum { NVALUES = sizeof values, NTRIES = NVALUES + 2 };
	int n = all_messages(msgs);
	int decoded = 0, refused = 0, bad = 0;
	for (int i = 0; i < n; i++)
		for (size_t at = 0; at < msgs[i].n; at++)
			for (int v = 0; v < NTRIES; v++) {
				uint8_t *copy = malloc(msgs[i].n);
				memcpy(copy, msgs[i].d, msgs[i].n);
				if (v < NVALUES)
					copy[at] = values[v];
				else
					copy[at] ^= v == NVALUES ? 0x01 : 0x80;
				int rc = ferry_pgoutput_decode(&m, copy, msgs[i].n, &err);
				if (rc == 0) {
					decoded++;
					if (!reencodes(&m, copy, msgs[i].n))
						bad++;
				} else if (rc == FERRY_ECORRUPT || rc == FERRY_EUNSUPPORTED) {
					refused++;
				} else {
					bad++;
				}
				free(copy);
			}
	ok(bad == 0 && decoded > 0 && refused > 0,
	   "%d byte flips: %d decoded (each re-encodes exactly), %d refused",
	   decoded + refused + bad, decoded, refused);

	/* random multi-byte mutations and cuts */
	unsigned seed = 4242;
	decoded = refused = bad = 0;
	for (int k = 0; k < 100000; k++) {
		const bytes *src = &msgs[rand_r(&seed) % n];
		uint8_t *copy = malloc(src->n);
		memcpy(copy, src->d, src->n);
		int flips = 1 + rand_r(&seed) % 4;
		for (int f = 0; f < flips; f++)
			copy[rand_r(&seed) % src->n] = (uint8_t)rand_r(&seed);
		size_t len = rand_r(&seed) % 4 ? src->n : (size_t)rand_r(&seed) % src->n;
		int rc = ferry_pgoutput_decode(&m, copy, len, &err);
		if (rc == 0)
			decoded++, bad += !reencodes(&m, copy, len);
		else if (rc == FERRY_ECORRUPT || rc == FERRY_EUNSUPPORTED)
			refused++;
		else
			bad++;
		free(copy);
	}
	ok(bad == 0 && decoded > 0 && refused > 0,
	   "100000 random mutations: %d decoded, %d refused, none misread",
	   decoded, refused);
}

/* Malformed fields: each refused with a message that says what. */
static void expect(const bytes *b, int code, const char *want, const char *name)
{
	uint8_t *copy;
	int rc = decode_copy(&m, b->d, b->n, &copy, &err);
	const char *msg = ferry_error_message(&err);
	ok(rc == code && strstr(msg, want) != NULL, "%s: %s", name, msg);
	if (rc != code || !strstr(msg, want))
		tap_diag("want code %d and \"%s\", got %d", code, want, rc);
	free(copy);
}

static void test_refusals(void)
{
	bytes b = {.n = 0};
	expect(&b, FERRY_ECORRUPT, "empty", "an empty message");
	b_u8(&b, 'Z');
	expect(&b, FERRY_ECORRUPT, "unknown message type byte 0x5a ('Z')",
	       "unknown type");
	static const struct { char t; const char *name; } other[] = {
	    {'S', "stream start"},   {'E', "stream stop"},
	    {'c', "stream commit"},  {'A', "stream abort"},
	    {'b', "begin prepare"},  {'P', "prepare"},
	    {'K', "commit prepared"}, {'r', "rollback prepared"},
	    {'p', "stream prepare"}};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		b.n = 0;
		b_u8(&b, (uint8_t)other[i].t);
		b_be(&b, 1, 4);
		char want[64];
		snprintf(want, sizeof want, "pgoutput %s message (type byte 0x%02x",
		         other[i].name, (unsigned)(uint8_t)other[i].t);
		expect(&b, FERRY_EUNSUPPORTED, want, "not proto_version 1");
	}
	b.n = 0;
	b_u8(&b, 0);
	expect(&b, FERRY_ECORRUPT, "type byte 0x00", "type byte 0");

	b = msg_commit();
	b.d[1] = 1;
	expect(&b, FERRY_ECORRUPT, "at byte 1: flags are 0x01, not 0",
	       "commit flags must be 0");
	b = msg_commit();
	b.d[13] = 0; /* end LSN 0/ABCDEF38: before the commit LSN */
	expect(&b, FERRY_ECORRUPT, "end LSN 0/ABCDEF38 is before commit LSN 1/ABCDEF00",
	       "end LSN before commit LSN");

	b = msg_origin();
	b.n--; /* drop the NUL */
	expect(&b, FERRY_ECORRUPT, "at byte 9: origin name has no terminating NUL",
	       "a string without its NUL");

	b = msg_relation();
	b.d[1] = b.d[2] = b.d[3] = b.d[4] = 0;
	expect(&b, FERRY_ECORRUPT, "at byte 1: relation oid is 0 (InvalidOid)",
	       "relation oid 0");
	b = msg_relation();
	b.d[18] = 'x';
	expect(&b, FERRY_ECORRUPT, "at byte 18: unknown replica identity 0x78 ('x')",
	       "unknown replica identity");
	b = msg_relation();
	b.d[19] = 0xff, b.d[20] = 0xfe;
	expect(&b, FERRY_ECORRUPT, "at byte 19: column count is negative (-2)",
	       "negative column count");
	b = msg_relation();
	b.d[19] = 0x7f, b.d[20] = 0xff;
	expect(&b, FERRY_ECORRUPT, "column count 32767 runs past the end",
	       "a column count the bytes cannot hold");
	b = msg_relation();
	b.d[21] = 0x03;
	expect(&b, FERRY_ECORRUPT, "at byte 21: column 0 has unknown flags 0x03",
	       "unknown column flags");

	b = msg_insert();
	b.d[5] = 'O';
	expect(&b, FERRY_ECORRUPT, "at byte 5: tuple tag is 0x4f ('O'), expected one of 'N'",
	       "an insert with an old tuple");
	b = msg_delete('K');
	b.d[5] = 'N';
	expect(&b, FERRY_ECORRUPT, "expected one of 'KO'", "a delete with a new tuple");
	b = msg_update('K');
	b.d[5] = 'X';
	expect(&b, FERRY_ECORRUPT, "expected one of 'KON'", "an update with tag X");
	b = msg_insert();
	b.d[6] = 0x80;
	expect(&b, FERRY_ECORRUPT, "at byte 6: new tuple column count is negative (-32765)",
	       "negative tuple column count");
	b = msg_insert();
	b.d[7] = 0x30;
	expect(&b, FERRY_ECORRUPT,
	       "new tuple column count 48 runs past the end (23 bytes left)",
	       "more columns than bytes");
	b = msg_insert();
	b.d[8] = 'x';
	expect(&b, FERRY_ECORRUPT, "new tuple column 0 has unknown kind byte 0x78 ('x')",
	       "unknown value kind");
	b = msg_insert();
	b.d[9] = 0xff;
	expect(&b, FERRY_ECORRUPT, "at byte 9: new tuple column 0 value length is negative",
	       "negative value length");
	b = msg_insert();
	b.d[12] = 0x40;
	expect(&b, FERRY_ECORRUPT, "new tuple column 0 value length 64 runs past the end",
	       "a value length past the end");
	b = msg_insert();
	b.d[23] = '\0';
	expect(&b, FERRY_ECORRUPT, "at byte 22: new tuple column 1 text value contains a NUL",
	       "a text value with a NUL");

	b = msg_truncate();
	b.d[1] = 0x80;
	expect(&b, FERRY_ECORRUPT, "relation count is negative", "negative relid count");
	b = msg_truncate();
	b.d[4] = 3;
	expect(&b, FERRY_ECORRUPT, "relation count 3 runs past the end",
	       "more relids than bytes");
	b = msg_truncate();
	b.d[4] = 0;
	expect(&b, FERRY_ECORRUPT, "relation count is 0", "zero relids");
	b = msg_truncate();
	b.d[5] = 4;
	expect(&b, FERRY_ECORRUPT, "at byte 5: unknown options 0x04",
	       "unknown truncate options");
	b = msg_truncate();
	b.d[6] = b.d[7] = b.d[8] = b.d[9] = 0;
	expect(&b, FERRY_ECORRUPT, "relation oid is 0", "truncate relid 0");

	b = msg_message(true, "abc", 3);
	b.d[1] = 2;
	expect(&b, FERRY_ECORRUPT, "at byte 1: unknown flags 0x02",
	       "unknown message flags");
	b = msg_message(true, "abc", 3);
	b.d[16] = 0xff;
	expect(&b, FERRY_ECORRUPT, "content length is negative",
	       "negative content length");
	b = msg_message(true, "abc", 3);
	b.d[19] = 4;
	expect(&b, FERRY_ECORRUPT, "content length 4 runs past the end (3 bytes left)",
	       "content past the end");
	b = msg_type();
	b.d[4] = 0, b.d[3] = 0;
	b.d[1] = b.d[2] = 0;
	expect(&b, FERRY_ECORRUPT, "type oid is 0", "type oid 0");
}

/* ---- the relation cache -------------------------------------------------- */

/* A Relation message for oid with ncols columns named c0.. */
static bytes relation_for(uint32_t oid, const char *name, int ncols)
{
	bytes b = {.n = 0};
	b_u8(&b, 'R');
	b_be(&b, oid, 4);
	b_str(&b, "sch");
	b_str(&b, name);
	b_u8(&b, 'f');
	b_be(&b, (uint64_t)ncols, 2);
	for (int i = 0; i < ncols; i++) {
		char col[16];
		snprintf(col, sizeof col, "c%d", i);
		b_u8(&b, i == 0), b_str(&b, col), b_be(&b, 25, 4), b_be(&b, (uint32_t)i, 4);
	}
	return b;
}

static bytes insert_for(uint32_t oid, int ncols, char kind)
{
	bytes b = {.n = 0};
	b_u8(&b, 'I');
	b_be(&b, oid, 4);
	b_u8(&b, 'N');
	b_be(&b, (uint64_t)ncols, 2);
	for (int i = 0; i < ncols; i++)
		b_u8(&b, (uint8_t)kind);
	return b;
}

static void test_relcache(void)
{
	ferry_pgoutput_relcache *c = NULL;
	is_int(ferry_pgoutput_relcache_open(&c, &err), 0, "open a relation cache");
	ok(ferry_pgoutput_relcache_get(c, RELID) == NULL &&
	       ferry_pgoutput_relcache_count(c) == 0,
	   "an empty cache knows nothing");
	bytes b = msg_relation();
	decode(&b);
	is_int(ferry_pgoutput_relcache_put(c, &m.u.relation, &err), 0,
	       "put the users relation");
	memset(held, 0xAA, b.n); /* the transient buffer is gone... */
	free(held);
	held = NULL;
	const ferry_pgoutput_relation *r = ferry_pgoutput_relcache_get(c, RELID);
	ok(r && r->oid == RELID && r->replident == 'd' && r->ncols == 3,
	   "...and the cached relation survives it");
	is_str(r ? r->nspname : NULL, "public", "cached namespace");
	is_str(r ? r->relname : NULL, "users", "cached name");
	ok(r && strcmp(r->cols[0].name, "id") == 0 && r->cols[0].flags == 1 &&
	       r->cols[0].type_oid == 23 && r->cols[0].typmod == -1 &&
	       strcmp(r->cols[1].name, "name") == 0 && r->cols[1].typmod == 24 &&
	       strcmp(r->cols[2].name, "mood") == 0 && r->cols[2].type_oid == TYPID,
	   "cached columns: names, key flag, type oids, typmods");

	b = msg_insert();
	decode(&b);
	const ferry_pgoutput_relation *got = NULL;
	ok(ferry_pgoutput_relcache_check(c, &m, &got, &err) == 0 && got == r,
	   "an insert with three values matches users");
	b = insert_for(RELID, 2, 'n');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), FERRY_ECORRUPT,
	       "an insert with two values does not");
	is_str(ferry_error_message(&err),
	       "pgoutput insert on \"public\".\"users\" (oid 16384) is corrupt: "
	       "new tuple has 2 columns, the relation 3",
	       "the message names the relation and both counts");
	b = insert_for(RELID, 3, 'u');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), FERRY_ECORRUPT,
	       "an unchanged TOAST value in an insert is refused");
	ok(strstr(ferry_error_message(&err), "column \"id\" is an unchanged TOAST"),
	   "naming the column: %s", ferry_error_message(&err));
	b = msg_update('K');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), 0,
	       "an update with 'u' in its new tuple passes");
	b = msg_update('O');
	decode(&b);
	((ferry_pgoutput_value *)m.u.change.old_tuple->values)[1].kind =
	    FERRY_PGOUTPUT_UNCHANGED;
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), FERRY_ECORRUPT,
	       "an update with 'u' in its old tuple is refused");
	b = msg_delete('K');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), 0,
	       "a delete by key passes");
	b = insert_for(999, 0, 'n');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), FERRY_ECORRUPT,
	       "a change for an undescribed relation is refused");
	is_str(ferry_error_message(&err),
	       "pgoutput insert names relation oid 999, which no Relation message "
	       "described",
	       "and says which");
	b = msg_truncate();
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), FERRY_ECORRUPT,
	       "a truncate of an unknown relid is refused");
	b = msg_begin();
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), 0,
	       "other messages pass the check");

	/* a new shape for the same oid replaces the old one */
	b = relation_for(RELID, "users2", 5);
	decode(&b);
	is_int(ferry_pgoutput_relcache_put(c, &m.u.relation, &err), 0,
	       "put a new shape of 16384");
	r = ferry_pgoutput_relcache_get(c, RELID);
	ok(r && r->ncols == 5 && strcmp(r->relname, "users2") == 0 &&
	       r->replident == 'f' && strcmp(r->cols[4].name, "c4") == 0 &&
	       r->cols[4].typmod == 4 && ferry_pgoutput_relcache_count(c) == 1,
	   "the new shape replaced the old, still one relation");
	b = insert_for(RELID, 5, 'n');
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), 0,
	       "a five-column insert matches the new shape");

	/* many relations: the table grows, every one stays findable */
	int found = 0;
	for (uint32_t oid = 20000; oid < 21000; oid++) {
		char name[32];
		snprintf(name, sizeof name, "t%u", oid);
		b = relation_for(oid, name, (int)(oid % 7));
		decode(&b);
		ferry_pgoutput_relcache_put(c, &m.u.relation, &err);
	}
	for (uint32_t oid = 20000; oid < 21000; oid++) {
		char name[32];
		snprintf(name, sizeof name, "t%u", oid);
		r = ferry_pgoutput_relcache_get(c, oid);
		found += r && strcmp(r->relname, name) == 0 && r->ncols == oid % 7;
	}
	ok(found == 1000 && ferry_pgoutput_relcache_count(c) == 1001,
	   "1000 more relations, all found (%d)", found);
	ok(ferry_pgoutput_relcache_get(c, 19999) == NULL &&
	       ferry_pgoutput_relcache_get(c, 0) == NULL,
	   "absent oids are not found");
	b = msg_truncate();
	b.d[10] = 0, b.d[11] = 0, b.d[12] = 0x4e, b.d[13] = 0x20; /* 20000 */
	decode(&b);
	is_int(ferry_pgoutput_relcache_check(c, &m, NULL, &err), 0,
	       "a truncate of two known relations passes");
	ferry_pgoutput_relcache_close(c);
	ferry_pgoutput_relcache_close(NULL);
	ok(1, "close frees everything (ASan checks), and accepts NULL");
}

/* Fail each allocation in turn: every path returns FERRY_ENOMEM cleanly,
 * a failed put leaves the cache as it was, nothing leaks. */
static void test_alloc_failures(void)
{
	int clean = 1, runs = 0;
	for (long nth = 1; nth < 2000; nth++) {
		ferry_pgoutput_relcache *c = NULL;
		ferry_pgoutput_msg mm = FERRY_PGOUTPUT_MSG_INIT;
		ferry_error e = FERRY_ERROR_INIT;
		ferry_alloc_fail_at(nth, 0);
		int rc = ferry_pgoutput_relcache_open(&c, &e);
		uint32_t done = 0;
		for (uint32_t oid = 100; rc == 0 && oid < 140; oid++) {
			bytes b = relation_for(oid, "t", (int)(oid % 5) + 1);
			rc = ferry_pgoutput_decode(&mm, b.d, b.n, &e);
			if (rc == 0)
				rc = ferry_pgoutput_relcache_put(c, &mm.u.relation, &e);
			if (rc == 0)
				done++;
			else if (ferry_pgoutput_relcache_count(c) != done ||
			         (done && !ferry_pgoutput_relcache_get(c, 100 + done - 1)))
				clean = 0; /* a failed put changed the cache */
		}
		if (rc == 0) { /* replace one, then decode a change against it */
			bytes b = relation_for(120, "again", 30);
			rc = ferry_pgoutput_decode(&mm, b.d, b.n, &e);
			if (rc == 0)
				rc = ferry_pgoutput_relcache_put(c, &mm.u.relation, &e);
			const ferry_pgoutput_relation *r =
			    ferry_pgoutput_relcache_get(c, 120);
			if (rc != 0 && (!r || r->ncols != 1))
				clean = 0; /* the failed replace lost the old shape */
		}
		if (rc == 0) {
			bytes b = insert_for(120, 30, 'n');
			rc = ferry_pgoutput_decode(&mm, b.d, b.n, &e);
			if (rc == 0)
				rc = ferry_pgoutput_relcache_check(c, &mm, NULL, &e);
		}
		if (rc == 0) {
			bytes b = msg_update('O');
			rc = ferry_pgoutput_decode(&mm, b.d, b.n, &e);
		}
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM)
			clean = 0;
		if (rc != 0 && failures == 0)
			clean = 0;
		ferry_pgoutput_relcache_close(c);
		ferry_pgoutput_msg_free(&mm);
		ferry_error_clear(&e);
		runs++;
		if (failures == 0)
			break;
	}
	ok(clean && runs > 5, "each of %d allocation failures is handled",
	   runs - 1);
}

/* ---- against a real server ---------------------------------------------- */

static char schema[64], slot[64], pub[64], origin[64];
static ferry_buf big_seen = FERRY_BUF_INIT; /* the TOASTed value, decoded */

/* Type oids the Type messages described, for rendering. */
static struct { uint32_t oid; char name[64]; } seen_types[8];
static int nseen_types;

/* Seeds: Relation/Type messages so far, then one transaction. */
static ferry_buf seed_schema = FERRY_BUF_INIT, seed_tx = FERRY_BUF_INIT;
static int seed_count;

static void seed_frame(ferry_buf *out, uint64_t lsn, const uint8_t *p,
                       size_t n)
{
	ferry_pgoutput_frame f = {FERRY_PGOUTPUT_XLOGDATA, lsn, lsn, 0, false, p, n};
	ferry_buf frame = FERRY_BUF_INIT;
	ferry_pgoutput_frame_encode(&f, &frame);
	uint8_t len[4] = {(uint8_t)(frame.len >> 24), (uint8_t)(frame.len >> 16),
	                  (uint8_t)(frame.len >> 8), (uint8_t)frame.len};
	ferry_buf_append(out, len, 4);
	ferry_buf_append(out, frame.data, frame.len);
	ferry_buf_free(&frame);
}

static void seed_flush(void)
{
	const char *dir = getenv("FERRY_PGOUTPUT_SEED_DIR");
	size_t total = seed_schema.len + seed_tx.len;
	if (dir && seed_tx.len && total <= 4096) {
		char path[4096];
		snprintf(path, sizeof path, "%s/server-%02d", dir, ++seed_count);
		FILE *f = fopen(path, "wb");
		if (f) {
			fwrite(seed_schema.data, 1, seed_schema.len, f);
			fwrite(seed_tx.data, 1, seed_tx.len, f);
			fclose(f);
		}
	}
	ferry_buf_reset(&seed_tx);
}

static void render_value(ferry_buf *o, const ferry_pgoutput_value *v)
{
	switch (v->kind) {
	case FERRY_PGOUTPUT_NULL: ferry_buf_puts(o, "n"); return;
	case FERRY_PGOUTPUT_UNCHANGED: ferry_buf_puts(o, "u"); return;
	case FERRY_PGOUTPUT_BINARY:
		ferry_buf_puts(o, "b:");
		for (uint32_t i = 0; i < v->len; i++)
			ferry_buf_printf(o, "%02x", v->data[i]);
		return;
	case FERRY_PGOUTPUT_TEXT:
		if (v->len > 64)
			ferry_buf_printf(o, "t<%u bytes>", v->len);
		else
			ferry_buf_printf(o, "t:%.*s", (int)v->len, (const char *)v->data);
		return;
	}
}

static void render_tuple(ferry_buf *o, char tag, const ferry_pgoutput_tuple *t)
{
	ferry_buf_printf(o, " %c(", tag);
	for (uint32_t i = 0; i < t->ncols; i++) {
		if (i)
			ferry_buf_putc(o, ',');
		render_value(o, &t->values[i]);
	}
	ferry_buf_putc(o, ')');
}

static const char *type_label(uint32_t oid, char *buf, size_t n)
{
	for (int i = 0; i < nseen_types; i++)
		if (seen_types[i].oid == oid)
			return seen_types[i].name;
	snprintf(buf, n, "%u", oid);
	return buf;
}

static const char *rel_label(const ferry_pgoutput_relcache *c, uint32_t oid)
{
	const ferry_pgoutput_relation *r = ferry_pgoutput_relcache_get(c, oid);
	return r ? r->relname : "?";
}

/* One line per message, without the values that change run to run
 * (LSNs, xids, times, relation oids): those are checked separately. */
static void render(ferry_buf *o, const ferry_pgoutput_msg *mm,
                   const ferry_pgoutput_relcache *c)
{
	char tmp[32];
	switch (mm->type) {
	case FERRY_PGOUTPUT_BEGIN: ferry_buf_puts(o, "B"); break;
	case FERRY_PGOUTPUT_COMMIT: ferry_buf_puts(o, "C"); break;
	case FERRY_PGOUTPUT_ORIGIN:
		ferry_buf_printf(o, "O %s %X/%X",
		                 strcmp(mm->u.origin.name, origin) ? "?" : "origin",
		                 (unsigned)(mm->u.origin.commit_lsn >> 32),
		                 (unsigned)mm->u.origin.commit_lsn);
		break;
	case FERRY_PGOUTPUT_TYPE:
		ferry_buf_printf(o, "Y %s.%s",
		                 strcmp(mm->u.datatype.nspname, schema) ? "?" : "s",
		                 mm->u.datatype.name);
		break;
	case FERRY_PGOUTPUT_RELATION: {
		const ferry_pgoutput_relation *r = &mm->u.relation;
		ferry_buf_printf(o, "R %s.%s %c", strcmp(r->nspname, schema) ? "?" : "s",
		                 r->relname, r->replident);
		for (uint32_t i = 0; i < r->ncols; i++)
			ferry_buf_printf(o, " %s%s:%s:%d", r->cols[i].name,
			                 r->cols[i].flags ? "*" : "",
			                 type_label(r->cols[i].type_oid, tmp, sizeof tmp),
			                 r->cols[i].typmod);
		break;
	}
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE:
		ferry_buf_printf(o, "%c %s", mm->type, rel_label(c, mm->u.change.relid));
		if (mm->u.change.old_tuple)
			render_tuple(o, mm->u.change.old_kind, mm->u.change.old_tuple);
		if (mm->u.change.new_tuple)
			render_tuple(o, 'N', mm->u.change.new_tuple);
		break;
	case FERRY_PGOUTPUT_TRUNCATE:
		ferry_buf_printf(o, "T %u", mm->u.truncate.options);
		for (uint32_t i = 0; i < mm->u.truncate.nrelids; i++)
			ferry_buf_printf(o, "%s%s", i ? "," : " ",
			                 rel_label(c, mm->u.truncate.relids[i]));
		break;
	case FERRY_PGOUTPUT_MESSAGE:
		ferry_buf_printf(o, "M %u %s ", mm->u.message.flags,
		                 mm->u.message.prefix);
		for (uint32_t i = 0; i < mm->u.message.len; i++) {
			uint8_t ch = mm->u.message.content[i];
			if (ch >= 0x20 && ch < 0x7f)
				ferry_buf_putc(o, ch);
			else
				ferry_buf_printf(o, "\\x%02x", ch);
		}
		break;
	}
}

/* What the changes below must decode to, message by message. */
static const char *const expected_text[] = {
    /* 1: an insert of two rows, with the enum type described first */
    "B",
    "Y s.mood",
    "R s.items d id*:23:-1 name:25:-1 qty:23:-1 price:1700:655366 "
    "note:1043:24 mood:mood:-1 data:17:-1",
    "I items N(t:1,t:apple,t:3,t:1.50,t:x,t:happy,t:\\x00ff)",
    "I items N(t:2,n,t:0,n,t:quote's,t:sad,n)",
    "C",
    /* 2: an update that keeps the key: no old tuple */
    "B", "U items N(t:1,t:apple,t:4,t:1.50,t:x,t:happy,t:\\x00ff)", "C",
    /* 3: a primary key change: the old key */
    "B", "U items K(t:2,n,n,n,n,n,n) N(t:10,n,t:0,n,t:quote's,t:sad,n)", "C",
    /* 4: a delete by key */
    "B", "D items K(t:10,n,n,n,n,n,n)", "C",
    /* 5: REPLICA IDENTITY FULL, three changes in one transaction; with
     * FULL every column is part of the identity */
    "B", "R s.full_t f a*:23:-1 b*:25:-1", "I full_t N(t:1,t:one)",
    "U full_t O(t:1,t:one) N(t:1,t:uno)", "D full_t O(t:1,t:uno)", "C",
    /* 6: a value stored out of line */
    "B", "R s.toasty d id*:23:-1 big:25:-1 n:23:-1",
    "I toasty N(t:1,t<10000 bytes>,t:1)", "C",
    /* 7: an update that leaves it alone: 'u' */
    "B", "U toasty N(t:1,u,t:2)", "C",
    /* 8: logical decoding messages */
    "B", "M 1 ferry hello\\x00world", "C",
    "M 0 ferry ping",
    /* 9: a transaction replayed from a replication origin */
    "B", "O origin 0/ABCDEF", "I items N(t:3,t:from origin,n,n,n,n,n)", "C",
    /* 10: truncate two tables, cascade and restart identity; TRUNCATE
     * invalidates the relations, so pgoutput describes them again */
    "B", "Y s.mood",
    "R s.items d id*:23:-1 name:25:-1 qty:23:-1 price:1700:655366 "
    "note:1043:24 mood:mood:-1 data:17:-1",
    "R s.full_t f a*:23:-1 b*:25:-1", "T 3 items,full_t", "C",
    /* 11: a new column: the relation is described again */
    "B", "Y s.mood",
    "R s.items d id*:23:-1 name:25:-1 qty:23:-1 price:1700:655366 "
    "note:1043:24 mood:mood:-1 data:17:-1 extra:23:-1",
    "I items N(t:5,n,n,n,n,n,n,t:42)", "C",
};

static int run_sql(const char *what, const char *q)
{
	if (sqlf("%s", q) < 0) {
		tap_diag("while %s", what);
		return -1;
	}
	return 0;
}

/* Runs the workload whose changes expected_text describes. */
static int make_changes(void)
{
	char q[4096];
	snprintf(q, sizeof q,
	         "INSERT INTO %s.items VALUES (1, 'apple', 3, 1.50, 'x', 'happy', "
	         "'\\x00ff'), (2, NULL, 0, NULL, 'quote''s', 'sad', NULL)",
	         schema);
	if (run_sql("inserting", q) < 0)
		return -1;
	snprintf(q, sizeof q, "UPDATE %s.items SET qty = 4 WHERE id = 1", schema);
	if (run_sql("updating", q) < 0)
		return -1;
	snprintf(q, sizeof q, "UPDATE %s.items SET id = 10 WHERE id = 2", schema);
	if (run_sql("changing a key", q) < 0)
		return -1;
	snprintf(q, sizeof q, "DELETE FROM %s.items WHERE id = 10", schema);
	if (run_sql("deleting", q) < 0)
		return -1;
	snprintf(q, sizeof q,
	         "BEGIN; INSERT INTO %s.full_t VALUES (1, 'one'); "
	         "UPDATE %s.full_t SET b = 'uno' WHERE a = 1; "
	         "DELETE FROM %s.full_t WHERE a = 1; COMMIT",
	         schema, schema, schema);
	if (run_sql("changing full_t", q) < 0)
		return -1;
	/* md5 hex does not compress much, and EXTERNAL storage never
	 * compresses: the value lives in the TOAST table */
	snprintf(q, sizeof q,
	         "INSERT INTO %s.toasty SELECT 1, left(string_agg(md5(i::text), ''), "
	         "10000), 1 FROM generate_series(1, 320) i",
	         schema);
	if (run_sql("inserting a big value", q) < 0)
		return -1;
	snprintf(q, sizeof q, "UPDATE %s.toasty SET n = 2 WHERE id = 1", schema);
	if (run_sql("updating beside the big value", q) < 0)
		return -1;
	if (run_sql("emitting messages",
	            "SELECT pg_logical_emit_message(true, 'ferry', "
	            "'\\x68656c6c6f00776f726c64'::bytea)") < 0 ||
	    run_sql("emitting messages",
	            "SELECT pg_logical_emit_message(false, 'ferry', 'ping')") < 0)
		return -1;
	snprintf(q, sizeof q,
	         "SELECT pg_replication_origin_create('%s'); "
	         "SELECT pg_replication_origin_session_setup('%s'); BEGIN; "
	         "SELECT pg_replication_origin_xact_setup('0/ABCDEF', now()); "
	         "INSERT INTO %s.items (id, name) VALUES (3, 'from origin'); COMMIT; "
	         "SELECT pg_replication_origin_session_reset(); "
	         "SELECT pg_replication_origin_drop('%s')",
	         origin, origin, schema, origin);
	if (run_sql("replaying from an origin", q) < 0)
		return -1;
	snprintf(q, sizeof q,
	         "TRUNCATE %s.items, %s.full_t RESTART IDENTITY CASCADE", schema,
	         schema);
	if (run_sql("truncating", q) < 0)
		return -1;
	snprintf(q, sizeof q,
	         "ALTER TABLE %s.items ADD COLUMN extra int; "
	         "INSERT INTO %s.items (id, extra) VALUES (5, 42)",
	         schema, schema);
	return run_sql("adding a column", q);
}

/* Transaction bookkeeping checked while decoding. */
typedef struct tx_check {
	bool in_tx;
	uint64_t final_lsn;
	uint32_t xid;
	int bad_lsn, bad_xid, bad_time, bad_check, bad_rel;
	int64_t t0, t1; /* Unix µs window the commits must fall in */
} tx_check;

static void check_row_msg(const ferry_pgoutput_msg *mm, uint32_t row_xid,
                          tx_check *tc, ferry_pgoutput_relcache *c)
{
	const ferry_pgoutput_relation *rel = NULL;
	if (ferry_pgoutput_relcache_check(c, mm, &rel, &err) < 0) {
		tc->bad_check++;
		tap_diag("check: %s", ferry_error_message(&err));
	}
	switch (mm->type) {
	case FERRY_PGOUTPUT_BEGIN:
		tc->in_tx = true;
		tc->final_lsn = mm->u.begin.final_lsn;
		tc->xid = mm->u.begin.xid;
		tc->bad_xid += mm->u.begin.xid != row_xid;
		break;
	case FERRY_PGOUTPUT_COMMIT: {
		int64_t t = ferry_pgoutput_time_to_unix(mm->u.commit.commit_time);
		tc->bad_lsn += !tc->in_tx || mm->u.commit.commit_lsn != tc->final_lsn ||
		               mm->u.commit.end_lsn <= mm->u.commit.commit_lsn;
		tc->bad_time += t < tc->t0 || t > tc->t1;
		tc->in_tx = false;
		break;
	}
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE: {
		char q[256];
		snprintf(q, sizeof q, "SELECT '%s.%s'::regclass::oid", schema,
		         rel ? rel->relname : "?");
		tc->bad_rel += !rel || (uint32_t)atoll(val("%s", q)) != mm->u.change.relid;
		break;
	}
	default:
		break;
	}
}

/* Decodes every row of a slot function's result; returns the trace. */
static int decode_rows(PGresult *res, ferry_buf *trace, tx_check *tc,
                       bool seeds)
{
	ferry_pgoutput_relcache *c = NULL;
	ferry_pgoutput_msg mm = FERRY_PGOUTPUT_MSG_INIT;
	int failed = 0;
	if (ferry_pgoutput_relcache_open(&c, &err) < 0)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		size_t n;
		unsigned char *raw =
		    PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &n);
		uint32_t row_xid = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL, 10);
		unsigned hi = 0, lo = 0;
		sscanf(PQgetvalue(res, i, 0), "%X/%X", &hi, &lo);
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, raw, n);
		PQfreemem(raw);
		if (ferry_pgoutput_decode(&mm, copy, n, &err) < 0) {
			failed++;
			tap_diag("row %d: %s", i, ferry_error_message(&err));
			free(copy);
			continue;
		}
		if (seeds) {
			uint64_t lsn = (uint64_t)hi << 32 | lo;
			bool schema_msg = mm.type == FERRY_PGOUTPUT_RELATION ||
			                  mm.type == FERRY_PGOUTPUT_TYPE;
			seed_frame(schema_msg ? &seed_schema : &seed_tx, lsn, copy, n);
		}
		if (mm.type == FERRY_PGOUTPUT_RELATION &&
		    ferry_pgoutput_relcache_put(c, &mm.u.relation, &err) < 0)
			failed++;
		if (mm.type == FERRY_PGOUTPUT_TYPE &&
		    nseen_types < (int)(sizeof seen_types / sizeof seen_types[0])) {
			seen_types[nseen_types].oid = mm.u.datatype.oid;
			snprintf(seen_types[nseen_types].name, 64, "%s",
			         mm.u.datatype.name);
			nseen_types++;
		}
		check_row_msg(&mm, row_xid, tc, c);
		if (mm.type == FERRY_PGOUTPUT_INSERT && mm.u.change.new_tuple->ncols > 1 &&
		    mm.u.change.new_tuple->values[1].len > 64) {
			ferry_buf_reset(&big_seen);
			ferry_buf_append(&big_seen, mm.u.change.new_tuple->values[1].data,
			                 mm.u.change.new_tuple->values[1].len);
		}
		render(trace, &mm, c);
		ferry_buf_putc(trace, '\n');
		if (seeds && (mm.type == FERRY_PGOUTPUT_COMMIT ||
		              (mm.type == FERRY_PGOUTPUT_MESSAGE && !tc->in_tx)))
			seed_flush();
		free(copy);
	}
	ferry_pgoutput_relcache_close(c);
	ferry_pgoutput_msg_free(&mm);
	return failed ? -1 : 0;
}

static PGresult *slot_rows(const char *fn, bool binary)
{
	char q[1024];
	snprintf(q, sizeof q,
	         "SELECT lsn, xid, data FROM %s('%s', NULL, NULL, 'proto_version', "
	         "'1', 'publication_names', '%s', 'messages', 'true'%s)",
	         fn, slot, pub, binary ? ", 'binary', 'true'" : "");
	PGresult *res = PQexecParams(admin, q, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		tap_diag("%s: %s", q, PQerrorMessage(admin));
		PQclear(res);
		return NULL;
	}
	return res;
}

static void check_trace(const char *trace)
{
	size_t nexp = sizeof expected_text / sizeof expected_text[0];
	char *copy = strdup(trace), *save = NULL;
	size_t i = 0;
	int mismatches = 0;
	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		if (i < nexp)
			is_str(line, expected_text[i], "server message %zu", i + 1);
		else
			mismatches++;
	}
	ok(i == nexp && mismatches == 0, "%zu messages decoded, %zu expected", i,
	   nexp);
	if (i != nexp)
		tap_diag("trace:\n%s", trace);
	free(copy);
}

static int setup_server(const char *conninfo)
{
	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! cannot connect to FERRY_TEST_PG: %s\n",
		       PQerrorMessage(admin));
		return -1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	long tag = (long)getpid() * 1000 + (long)(time(NULL) % 1000);
	snprintf(schema, sizeof schema, "ferry_pgo_%ld", tag);
	snprintf(slot, sizeof slot, "ferry_pgo_slot_%ld", tag);
	snprintf(pub, sizeof pub, "ferry_pgo_pub_%ld", tag);
	snprintf(origin, sizeof origin, "ferry_pgo_origin_%ld", tag);
	char q[4096];
	snprintf(q, sizeof q,
	         "CREATE SCHEMA %s; "
	         "CREATE TYPE %s.mood AS ENUM ('sad', 'happy'); "
	         "CREATE TABLE %s.items (id int PRIMARY KEY, name text, qty int, "
	         "price numeric(10,2), note varchar(20), mood %s.mood, data bytea); "
	         "CREATE TABLE %s.full_t (a int, b text); "
	         "ALTER TABLE %s.full_t REPLICA IDENTITY FULL; "
	         "CREATE TABLE %s.toasty (id int PRIMARY KEY, big text, n int); "
	         "ALTER TABLE %s.toasty ALTER COLUMN big SET STORAGE EXTERNAL; "
	         "CREATE PUBLICATION %s FOR TABLE %s.items, %s.full_t, %s.toasty",
	         schema, schema, schema, schema, schema, schema, schema, schema, pub,
	         schema, schema, schema);
	if (run_sql("creating the schema", q) < 0)
		return -1;
	snprintf(q, sizeof q,
	         "SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", slot);
	return run_sql("creating the slot", q);
}

static void teardown_server(void)
{
	sqlf("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
	     "WHERE slot_name = '%s'",
	     slot);
	sqlf("DROP PUBLICATION IF EXISTS %s", pub);
	sqlf("DROP SCHEMA IF EXISTS %s CASCADE", schema);
	sqlf("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin "
	     "WHERE roname = '%s'",
	     origin);
}

static void test_server(const char *conninfo)
{
	if (setup_server(conninfo) < 0) {
		ok(0, "server setup");
		teardown_server();
		return;
	}
	tx_check tc = {0};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	tc.t0 = (int64_t)ts.tv_sec * 1000000 - 5000000;
	int rc = make_changes();
	ok(rc == 0, "the workload ran");
	clock_gettime(CLOCK_REALTIME, &ts);
	tc.t1 = (int64_t)ts.tv_sec * 1000000 + 5000000;

	/* binary first, with peek: the text read below consumes the slot */
	PGresult *res = slot_rows("pg_logical_slot_peek_binary_changes", true);
	ferry_buf trace = FERRY_BUF_INIT;
	tx_check tcb = tc;
	ok(res && decode_rows(res, &trace, &tcb, false) == 0,
	   "binary mode: %d rows decode", res ? PQntuples(res) : -1);
	const char *t = ferry_buf_cstr(&trace);
	ok(t && strstr(t, "I items N(b:00000001,b:6170706c65,b:00000003,") != NULL,
	   "binary mode: int4 and text as their send format ('b')");
	ok(t && strstr(t, "U toasty N(b:00000001,u,b:00000002)") != NULL,
	   "binary mode: the unchanged TOAST value is still 'u'");
	PQclear(res);
	ferry_buf_free(&trace);
	nseen_types = 0;

	res = slot_rows("pg_logical_slot_get_binary_changes", false);
	ok(res && decode_rows(res, &trace, &tc, true) == 0,
	   "text mode: %d rows decode", res ? PQntuples(res) : -1);
	PQclear(res);
	t = ferry_buf_cstr(&trace);
	check_trace(t ? t : "");
	ok(tc.bad_lsn == 0, "every commit LSN matches its begin's final LSN, end "
	                    "LSN after it");
	ok(tc.bad_xid == 0, "every begin carries the xid the slot reports");
	ok(tc.bad_time == 0, "every commit time is now (PG epoch converted)");
	ok(tc.bad_check == 0, "every change passes the relation cache check");
	ok(tc.bad_rel == 0, "every change's relid is its table's oid");

	/* the big value itself, byte for byte ('u' above shows it was stored
	 * out of line) */
	char q[512];
	snprintf(q, sizeof q,
	         "SELECT big FROM %s.toasty", schema);
	res = PQexec(admin, q);
	ok(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	       strlen(PQgetvalue(res, 0, 0)) == big_seen.len &&
	       memcmp(PQgetvalue(res, 0, 0), big_seen.data, big_seen.len) == 0,
	   "the TOASTed value decodes whole in its insert (%zu bytes)",
	   big_seen.len);
	PQclear(res);
	res = slot_rows("pg_logical_slot_peek_binary_changes", false);
	ok(res && PQntuples(res) == 0, "the slot is consumed");
	PQclear(res);
	ferry_buf_free(&trace);
	teardown_server();
	ok(atoi(val("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
	            "'%s'",
	            slot)) == 0,
	   "the slot is dropped");
}

int main(void)
{
	test_time();
	test_frames();
	test_transaction_messages();
	test_relation();
	test_changes();
	test_truncations();
	test_flips();
	test_refusals();
	test_relcache();
	test_alloc_failures();
	free(held);
	held = NULL;
	ferry_pgoutput_msg_free(&m);

	const char *conninfo = getenv("FERRY_TEST_PG");
	if (conninfo && *conninfo) {
		test_server(conninfo);
		PQfinish(admin);
	} else if (getenv("FERRY_TEST_REQUIRE_SERVERS")) {
		printf("Bail out! FERRY_TEST_PG not set\n");
		return 1;
	} else {
		ok(1, "# SKIP FERRY_TEST_PG not set: no real-server part");
	}
	ferry_buf_free(&big_seen);
	ferry_buf_free(&seed_schema);
	ferry_buf_free(&seed_tx);
	ferry_error_clear(&err);
	return tap_done();
}
