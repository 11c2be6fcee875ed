/* Unit tests for engine/frame: the journal's frame codec round-trips
 * stored and zstd payloads (with and without a dictionary), detects every
 * single-byte flip and truncation, and refuses hostile headers cleanly. */
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "engine/alloc.h"
#include "engine/change.h"
#include "engine/frame.h"
#include "tests/tap.h"

static uint64_t rng_state = 0x1234567887654321ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static const char *const words[] = {
	"alpha", "order", "shipped", "pending", "customer", "invoice", "Berlin",
	"Lisbon", "widget", "gadget", "refund", "paid", "{\"k\": 1}", "2024-01-"};

/* Appends n realistic change records to b: the payload of a frame. */
static void make_records(ferry_buf *b, unsigned n, unsigned salt)
{
	char text[200];
	for (unsigned i = 0; i < n; i++) {
		ferry_change c = FERRY_CHANGE_INIT;
		ferry_value v[6];
		size_t tl = 0;
		text[0] = '\0';
		for (unsigned w = 0; w < 1 + (i + salt) % 6; w++) {
			const char *word = words[(i * 7 + w * 3 + salt) % 14];
			size_t wl = strlen(word);
			memcpy(text + tl, word, wl);
			tl += wl;
			text[tl++] = ' ';
		}
		v[0] = ferry_value_int((int64_t)(i + salt * 1000));
		v[1] = ferry_value_bytes(FERRY_TEXT, text, tl);
		v[2] = ferry_value_bytes(FERRY_NUMERIC, "1234.50", 7);
		v[3] = ferry_value_bool(i % 2);
		v[4] = ferry_value_timestamp(FERRY_TIMESTAMPTZ,
		                             INT64_C(1700000000000000) + i);
		v[5] = ferry_value_null();
		c.op = FERRY_OP_INSERT;
		c.has_after = true;
		c.table = "public.orders";
		c.schema_version = 1;
		c.txid = 100 + i / 3;
		c.commit_time = INT64_C(1700000000000000) + i;
		c.position = (const uint8_t *)"\x01\x02\x03\x04";
		c.position_len = 4;
		c.after.values = v;
		c.after.ncols = c.after.cap = 6;
		ferry_change_encode(&c, b, NULL);
	}
}

static void random_bytes(ferry_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ferry_buf_putc(b, (uint8_t)rng());
}

/* Recomputes a frame's checksum after the test edits its header. */
static void reseal(uint8_t *f, size_t len)
{
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, f, 32);
	XXH64_update(&st, f + 40, len - 40);
	uint64_t h = XXH64_digest(&st);
	for (int i = 0; i < 8; i++)
		f[32 + i] = (uint8_t)(h >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The test's dictionary store: one id, or every lookup failing with a
 * chosen code. */
typedef struct dict_store {
	uint32_t id;
	const uint8_t *bytes;
	size_t len;
	int fail;
	int calls;
} dict_store;

static int lookup(void *arg, uint32_t id, const void **dict, size_t *len)
{
	dict_store *s = arg;
	s->calls++;
	if (s->fail)
		return s->fail;
	if (id != s->id)
		return FERRY_ENOTFOUND;
	*dict = s->bytes;
	*len = s->len;
	return 0;
}

/* Decodes count records from a payload, which they must fill exactly. */
static int records_decode(const ferry_buf *raw, uint32_t count)
{
	ferry_change c = FERRY_CHANGE_INIT;
	size_t off = 0, used;
	uint32_t n = 0;
	while (off < raw->len &&
	       ferry_change_decode(&c, raw->data + off, raw->len - off, &used,
	                           NULL) == 0) {
		off += used;
		n++;
	}
	ferry_change_free(&c);
	return off == raw->len && n == count;
}

/* Encodes, checks and decompresses one frame; returns its codec or -1. */
static int round_trip(ferry_frame_ctx *ctx, const ferry_buf *payload,
                      uint32_t count, uint64_t first, dict_store *ds,
                      const char *what, ferry_buf *frame)
{
	int records = strstr(what, "random") == NULL; /* else just bytes */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf raw = FERRY_BUF_INIT;
	ferry_frame_info info;
	memset(&info, 0, sizeof info);
	ferry_buf_reset(frame);
	int rc = ferry_frame_encode(ctx, payload->data, payload->len, count, first,
	                            frame, &err);
	if (rc == 0)
		rc = ferry_frame_check(frame->data, frame->len, &info, &err);
	if (rc == 0)
		rc = ferry_frame_decompress(ctx, frame->data, &info, lookup, ds, &raw,
		                            &err);
	int same = rc == 0 && raw.len == payload->len &&
	           memcmp(raw.data, payload->data, raw.len) == 0;
	ok(same && info.count == count && info.first_lsn == first &&
	       info.raw_len == payload->len &&
	       info.stored_len + FERRY_FRAME_HEADER_SIZE == frame->len,
	   "%s: %zu bytes -> %zu, round trip exact", what, payload->len,
	   frame->len);
	if (rc < 0)
		tap_diag("%s", ferry_error_message(&err));
	if (records)
		ok(records_decode(&raw, count), "%s: the %u records decode", what,
		   (unsigned)count);
	ferry_buf_free(&raw);
	ferry_error_clear(&err);
	return same ? info.codec : -1;
}

/* Every single-byte change (three xor masks) of a frame fails the check. */
static void flips(const ferry_buf *frame, const char *what)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	uint8_t *copy = malloc(frame->len);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_frame_info info;
	unsigned missed = 0;
	for (unsigned m = 0; m < 3; m++)
		for (size_t i = 0; i < frame->len; i++) {
			memcpy(copy, frame->data, frame->len);
			copy[i] ^= masks[m];
			if (ferry_frame_check(copy, frame->len, &info, &err) !=
			    FERRY_ECORRUPT) {
				if (missed++ < 5)
					tap_diag("byte %zu ^ 0x%02x not detected", i, masks[m]);
			}
		}
	ok(missed == 0, "%s: each of the %zu bytes flipped (3 masks) is detected",
	   what, frame->len);
	missed = 0;
	for (size_t len = 0; len < frame->len; len++) {
		uint8_t *cut = malloc(len ? len : 1); /* exact: ASan sees overreads */
		memcpy(cut, frame->data, len);
		if (ferry_frame_check(cut, len, &info, &err) != FERRY_ECORRUPT)
			missed++;
		free(cut);
	}
	ok(missed == 0, "%s: each of the %zu truncations is detected", what,
	   frame->len);
	memcpy(copy, frame->data, frame->len);
	ferry_buf longer = FERRY_BUF_INIT;
	ferry_buf_append(&longer, copy, frame->len);
	ferry_buf_putc(&longer, 0);
	is_int(ferry_frame_check(longer.data, longer.len, &info, &err),
	       FERRY_ECORRUPT, "%s: one byte too many is detected", what);
	ferry_buf_free(&longer);
	free(copy);
	ferry_error_clear(&err);
}

static void test_round_trips(void)
{
	ferry_frame_ctx *ctx = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf payload = FERRY_BUF_INIT, frame = FERRY_BUF_INIT;
	is_int(ferry_frame_ctx_new(&ctx, 0, &err), 0, "context with the default level");

	make_records(&payload, 300, 1);
	is_int(round_trip(ctx, &payload, 300, 1, NULL, "300 records", &frame),
	       FERRY_FRAME_ZSTD, "realistic records are zstd-compressed");
	ok(frame.len < payload.len / 3, "and shrink well (%zu -> %zu)", payload.len,
	   frame.len);
	flips(&frame, "zstd frame");

	ferry_buf_reset(&payload);
	random_bytes(&payload, 3000);
	is_int(round_trip(ctx, &payload, 7, 99, NULL, "random bytes", &frame),
	       FERRY_FRAME_STORED, "incompressible payload is stored as is");
	is_int(frame.len, payload.len + FERRY_FRAME_HEADER_SIZE,
	       "a stored frame is header + payload");
	flips(&frame, "stored frame");

	ferry_buf_reset(&payload);
	make_records(&payload, 1, 2);
	is_int(round_trip(ctx, &payload, 1, UINT64_MAX - 5, NULL, "one record",
	                  &frame),
	       FERRY_FRAME_STORED, "a tiny payload zstd cannot shrink is stored");

	ferry_buf_reset(&payload);
	make_records(&payload, 20000, 3);
	ok(payload.len > 1000000, "a payload over 1 MB (%zu)", payload.len);
	ok(round_trip(ctx, &payload, 20000, 5, NULL, "20000 records", &frame) ==
	       FERRY_FRAME_ZSTD, "large frame");

	/* two frames appended to one buffer */
	ferry_buf two = FERRY_BUF_INIT;
	ferry_buf_reset(&payload);
	make_records(&payload, 50, 4);
	ferry_buf_putc(&two, 0xAA); /* something already there */
	ferry_frame_info a, b;
	ok(ferry_frame_encode(ctx, payload.data, payload.len, 50, 1, &two, &err) == 0 &&
	       ferry_frame_encode(ctx, payload.data, 10, 1, 51, &two, &err) == 0,
	   "two frames appended to one buffer");
	ok(ferry_frame_check(two.data + 1, two.len - 1, &a, &err) == FERRY_ECORRUPT,
	   "the pair is not one frame");
	/* the first frame's length is in its header (stored length) */
	const uint8_t *h = two.data + 1;
	size_t first_len = FERRY_FRAME_HEADER_SIZE +
	                   ((size_t)h[28] | (size_t)h[29] << 8 |
	                    (size_t)h[30] << 16 | (size_t)h[31] << 24);
	ok(ferry_frame_check(two.data + 1, first_len, &a, &err) == 0 &&
	       ferry_frame_check(two.data + 1 + first_len, two.len - 1 - first_len,
	                         &b, &err) == 0 &&
	       a.first_lsn == 1 && a.count == 50 && b.first_lsn == 51 &&
	       b.raw_len == 10 && two.data[0] == 0xAA,
	   "each checks on its own, the earlier bytes untouched");
	ferry_buf_free(&two);

	/* refused input */
	ferry_buf_reset(&frame);
	is_int(ferry_frame_encode(ctx, payload.data, payload.len, 0, 1, &frame, &err),
	       FERRY_EINVAL, "a frame of 0 records is refused");
	is_int(ferry_frame_encode(ctx, payload.data,
	                          (size_t)FERRY_FRAME_MAX_PAYLOAD + 1, 1, 1, &frame,
	                          &err),
	       FERRY_EINVAL, "a payload over the limit is refused");
	is_int(frame.len, 0, "refusals write nothing");
	ferry_frame_ctx *bad = NULL;
	is_int(ferry_frame_ctx_new(&bad, 1000, &err), FERRY_EINVAL,
	       "an out-of-range level is refused: %s", ferry_error_message(&err));
	is_int(ferry_frame_ctx_new(&bad, -5, &err), 0, "a fast negative level is fine");
	ferry_frame_ctx_free(bad);
	ferry_frame_ctx_free(NULL);

	ferry_buf_free(&payload);
	ferry_buf_free(&frame);
	ferry_frame_ctx_free(ctx);
	ferry_error_clear(&err);
}

/* Trains a dictionary from many small payloads. */
static int train(ferry_buf *dict, uint32_t *id)
{
	ferry_buf samples = FERRY_BUF_INIT;
	size_t sizes[400];
	for (unsigned i = 0; i < 400; i++) {
		size_t before = samples.len;
		make_records(&samples, 4, i);
		sizes[i] = samples.len - before;
	}
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_frame_train_dict(samples.data, sizes, 400, 16 * 1024, dict,
	                                id, &err);
	if (rc < 0)
		tap_diag("%s", ferry_error_message(&err));
	ferry_buf_free(&samples);
	ferry_error_clear(&err);
	return rc;
}

static void test_dictionary(void)
{
	ferry_frame_ctx *ctx = NULL, *reader = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf dict = FERRY_BUF_INIT, payload = FERRY_BUF_INIT;
	ferry_buf plain = FERRY_BUF_INIT, with = FERRY_BUF_INIT;
	ferry_buf raw = FERRY_BUF_INIT;
	uint32_t id = 0;
	ferry_frame_ctx_new(&ctx, 3, &err);
	ferry_frame_ctx_new(&reader, 3, &err);
	int trc = train(&dict, &id);
	ok(trc == 0 && id != 0 && dict.len > 0 && dict.len <= 16384,
	   "a dictionary is trained (id %u, %zu bytes)", (unsigned)id, dict.len);
	dict_store ds = {id, dict.data, dict.len, 0, 0};

	make_records(&payload, 4, 777);
	round_trip(ctx, &payload, 4, 10, &ds, "small frame, no dictionary", &plain);
	is_int(ferry_frame_ctx_set_dict(ctx, id, dict.data, dict.len, &err), 0,
	       "the dictionary is set");
	is_int(ferry_frame_ctx_set_dict(ctx, 0, dict.data, dict.len, &err),
	       FERRY_EINVAL, "dictionary id 0 is refused");
	is_int(round_trip(ctx, &payload, 4, 10, &ds, "small frame, dictionary",
	                  &with),
	       FERRY_FRAME_ZSTD, "with the dictionary it is compressed");
	ok(with.len < plain.len, "and smaller (%zu < %zu)", with.len, plain.len);
	ferry_frame_info info;
	ferry_frame_check(with.data, with.len, &info, &err);
	is_int(info.dict_id, id, "the header names the dictionary");
	flips(&with, "dictionary frame");

	/* a second context looks the dictionary up, once, then caches it */
	ds.calls = 0;
	for (int i = 0; i < 3; i++)
		ferry_frame_decompress(reader, with.data, &info, lookup, &ds, &raw, &err);
	ok(raw.len == payload.len && memcmp(raw.data, payload.data, raw.len) == 0 &&
	       ds.calls == 1,
	   "another context decompresses it, looking the dictionary up once");

	ferry_frame_ctx *fresh = NULL;
	ferry_frame_ctx_new(&fresh, 0, &err);
	is_int(ferry_frame_decompress(fresh, with.data, &info, NULL, NULL, &raw, &err),
	       FERRY_ECORRUPT, "without a lookup: corrupt (%s)",
	       ferry_error_message(&err));
	ds.id = id + 1;
	is_int(ferry_frame_decompress(fresh, with.data, &info, lookup, &ds, &raw, &err),
	       FERRY_ECORRUPT, "dictionary not found: corrupt");
	ds.id = id;
	ds.fail = FERRY_ENOMEM;
	is_int(ferry_frame_decompress(fresh, with.data, &info, lookup, &ds, &raw, &err),
	       FERRY_ENOMEM, "a lookup short of memory is not corruption");
	ds.fail = FERRY_ERROR;
	is_int(ferry_frame_decompress(fresh, with.data, &info, lookup, &ds, &raw, &err),
	       FERRY_ERROR, "a failing lookup is not corruption");
	ds.fail = 0;
	/* the wrong dictionary's bytes under the right id */
	ferry_buf other = FERRY_BUF_INIT;
	ferry_buf_append(&other, dict.data, dict.len);
	for (size_t i = other.len / 2; i < other.len; i++)
		other.data[i] ^= 0x5a;
	dict_store wrong = {id, other.data, other.len, 0, 0};
	int wrc = ferry_frame_decompress(fresh, with.data, &info, lookup, &wrong,
	                                 &raw, &err);
	ok(wrc == FERRY_ECORRUPT,
	   "a damaged dictionary is caught by zstd's content checksum: %s",
	   ferry_error_message(&err));
	ferry_buf_free(&other);
	ferry_frame_ctx_free(fresh);

	/* dictionary off again */
	is_int(ferry_frame_ctx_set_dict(ctx, 0, NULL, 0, &err), 0, "dictionary off");
	ferry_buf_reset(&with);
	ferry_frame_encode(ctx, payload.data, payload.len, 4, 10, &with, &err);
	ferry_frame_check(with.data, with.len, &info, &err);
	ok(info.dict_id == 0, "new frames name no dictionary");

	ferry_buf empty = FERRY_BUF_INIT;
	size_t sz = 0;
	is_int(ferry_frame_train_dict(payload.data, &sz, 0, 4096, &empty, &id, &err),
	       FERRY_ERROR, "training without samples fails");
	sz = payload.len;
	is_int(ferry_frame_train_dict(payload.data, &sz, 1, 100, &empty, &id, &err),
	       FERRY_ERROR, "training into a tiny capacity fails");
	is_int(ferry_frame_train_dict(payload.data, &sz, 1, 4096, &empty, &id, &err),
	       FERRY_ERROR, "training from one sample fails: %s",
	       ferry_error_message(&err));
	ferry_buf_free(&empty);

	ferry_buf_free(&dict);
	ferry_buf_free(&payload);
	ferry_buf_free(&plain);
	ferry_buf_free(&with);
	ferry_buf_free(&raw);
	ferry_frame_ctx_free(ctx);
	ferry_frame_ctx_free(reader);
	ferry_error_clear(&err);
}

/* Edits a copy of frame with edit() and reseals it: the checksum is valid,
 * so only the header's meaning or the payload can give it away. */
static int check_edited(const ferry_buf *frame, void (*edit)(ferry_buf *),
                        ferry_error *err)
{
	ferry_buf copy = FERRY_BUF_INIT;
	ferry_buf raw = FERRY_BUF_INIT;
	ferry_frame_info info;
	ferry_frame_ctx *ctx = NULL;
	ferry_buf_append(&copy, frame->data, frame->len);
	edit(&copy);
	reseal(copy.data, copy.len);
	ferry_frame_ctx_new(&ctx, 0, NULL);
	int rc = ferry_frame_check(copy.data, copy.len, &info, err);
	if (rc == 0)
		rc = ferry_frame_decompress(ctx, copy.data, &info, NULL, NULL, &raw,
		                            err);
	ferry_frame_ctx_free(ctx);
	ferry_buf_free(&copy);
	ferry_buf_free(&raw);
	return rc;
}

static void edit_codec(ferry_buf *f) { f->data[5] = 2; }
static void edit_version(ferry_buf *f) { f->data[4] = 2; }
static void edit_flags(ferry_buf *f) { f->data[6] = 1; }
static void edit_count(ferry_buf *f) { put32(f->data + 12, 0); }
static void edit_raw_more(ferry_buf *f)
{
	uint32_t raw = (uint32_t)f->data[24] | (uint32_t)f->data[25] << 8 |
	               (uint32_t)f->data[26] << 16 | (uint32_t)f->data[27] << 24;
	put32(f->data + 24, raw + 1);
}
static void edit_raw_huge(ferry_buf *f)
{
	put32(f->data + 24, FERRY_FRAME_MAX_PAYLOAD + 1);
}
static void edit_dict_on_stored(ferry_buf *f) { put32(f->data + 8, 7); }
static void edit_dict_missing(ferry_buf *f) { put32(f->data + 8, 7); }
static void edit_trailing(ferry_buf *f)
{
	ferry_buf_putc(f, 0);
	put32(f->data + 28, (uint32_t)(f->len - 40));
}
static void edit_zstd_middle(ferry_buf *f)
{
	f->data[40 + (f->len - 40) / 2] ^= 0x20;
}
static void edit_zstd_magic(ferry_buf *f) { f->data[40] ^= 0xff; }

static void test_hostile(void)
{
	ferry_frame_ctx *ctx = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf payload = FERRY_BUF_INIT, zf = FERRY_BUF_INIT,
	          sf = FERRY_BUF_INIT;
	ferry_frame_ctx_new(&ctx, 0, &err);
	make_records(&payload, 200, 9);
	ferry_frame_encode(ctx, payload.data, payload.len, 200, 1, &zf, &err);
	ferry_buf_reset(&payload);
	random_bytes(&payload, 500);
	ferry_frame_encode(ctx, payload.data, payload.len, 3, 1, &sf, &err);
	ok(zf.data[5] == 1 && sf.data[5] == 0, "a zstd and a stored frame");

	static const struct {
		void (*edit)(ferry_buf *);
		int zstd;
		const char *what;
	} cases[] = {
		{edit_codec, 1, "unknown codec"},
		{edit_version, 1, "unknown format version"},
		{edit_flags, 1, "reserved flags set"},
		{edit_count, 1, "record count 0"},
		{edit_raw_more, 1, "zstd: stated length one more than it holds"},
		{edit_raw_more, 0, "stored: stated length differs from stored"},
		{edit_raw_huge, 1, "stated length over the limit"},
		{edit_dict_on_stored, 0, "stored payload naming a dictionary"},
		{edit_dict_missing, 1, "zstd naming a dictionary nobody has"},
		{edit_trailing, 1, "bytes after the zstd frame"},
		{edit_zstd_middle, 1, "a zstd payload byte changed"},
		{edit_zstd_magic, 1, "zstd magic damaged"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = check_edited(cases[i].zstd ? &zf : &sf, cases[i].edit, &err);
		is_int(rc, FERRY_ECORRUPT, "%s, valid checksum: corrupt (%s)",
		       cases[i].what, ferry_error_message(&err));
	}
	ferry_buf_free(&payload);
	ferry_buf_free(&zf);
	ferry_buf_free(&sf);
	ferry_frame_ctx_free(ctx);
	ferry_error_clear(&err);
}

/* Every allocation of encode, decompress and training failed in turn. */
static void test_faults(void)
{
	ferry_buf payload = FERRY_BUF_INIT, dict = FERRY_BUF_INIT;
	uint32_t id = 0;
	make_records(&payload, 200, 5);
	train(&dict, &id);
	dict_store ds = {id, dict.data, dict.len, 0, 0};
	long n;
	int clean = 1;
	for (n = 1; n < 10000; n++) {
		ferry_frame_ctx *ctx = NULL;
		ferry_buf frame = FERRY_BUF_INIT, raw = FERRY_BUF_INIT;
		ferry_buf d2 = FERRY_BUF_INIT;
		ferry_error err = FERRY_ERROR_INIT;
		ferry_frame_info info;
		size_t sz = payload.len / 4;
		size_t sizes[4] = {sz, sz, sz, payload.len - 3 * sz};
		uint32_t id2;
		ferry_alloc_fail_at(n, 0);
		int rc = ferry_frame_ctx_new(&ctx, 0, &err);
		if (rc == 0)
			rc = ferry_frame_ctx_set_dict(ctx, id, dict.data, dict.len, &err);
		if (rc == 0)
			rc = ferry_frame_encode(ctx, payload.data, payload.len, 200, 1,
			                        &frame, &err);
		if (rc == 0)
			rc = ferry_frame_check(frame.data, frame.len, &info, &err);
		if (rc == 0)
			rc = ferry_frame_decompress(ctx, frame.data, &info, lookup, &ds,
			                            &raw, &err);
		if (rc == 0)
			rc = ferry_frame_train_dict(payload.data, sizes, 4, 1024, &d2,
			                            &id2, &err);
		if (rc == FERRY_ERROR)
			rc = 0; /* zstd may find four samples too few: not a fault */
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM) {
			clean = 0;
			tap_diag("allocation %ld: rc %d: %s", n, rc,
			         ferry_error_message(&err));
		}
		if (rc == 0 && failures == 0 &&
		    (raw.len != payload.len ||
		     memcmp(raw.data, payload.data, raw.len) != 0)) {
			clean = 0;
			tap_diag("allocation %ld: wrong round trip", n);
		}
		ferry_frame_ctx_free(ctx);
		ferry_buf_free(&frame);
		ferry_buf_free(&raw);
		ferry_buf_free(&d2);
		ferry_error_clear(&err);
		if (failures == 0)
			break;
	}
	ok(clean, "each of %ld allocations failing gives 0 or FERRY_ENOMEM", n - 1);
	ferry_buf_free(&payload);
	ferry_buf_free(&dict);
}

int main(void)
{
	test_round_trips();
	test_dictionary();
	test_hostile();
	test_faults();
	return tap_done();
}
