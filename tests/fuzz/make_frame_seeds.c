/*
 * tests/fuzz/make_frame_seeds.c - writes the seed corpus for
 * fuzz_frame_decode: real frames (stored, zstd, zstd with the fuzz
 * dictionary) over several mixes of change records, plus a few frames
 * with a valid checksum whose records do not match the header.
 * Run from the source tree (docs/fuzzing.md):
 *   cc -std=c11 -I. -D_DEFAULT_SOURCE \
 *      engine/{alloc,buf,change,datetime,decimal,error,value,frame}.c \
 *      tests/fuzz/make_frame_seeds.c -lzstd -lxxhash -lm \
 *      -o /tmp/make_frame_seeds && \
 *   /tmp/make_frame_seeds tests/fuzz/corpus/frame_decode
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "engine/change.h"
#include "engine/frame.h"

/* Keep in step with tests/fuzz/fuzz_frame_decode.c. */
#define FUZZ_DICT_ID 0x465a5a31u
static const char fuzz_dict[] =
	"\x01\x02\x0dpublic.orders\x01\x02\x0cpublic.users\x03\x01\x0bwal!"
	"customer shipped pending refund paid express priority warehouse "
	"{\"id\": 1, \"tags\": [\"a\", \"b\"], \"ok\": true} Lisbon Berlin "
	"ALTER TABLE public.orders ADD COLUMN note text 1234.50 -19.90 "
	"widget gadget invoice gift return note: 2024-01-01T00:00:00Z";

static const char *outdir;
static int seq;
static int failed;

static void write_seed(const uint8_t *data, size_t len, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/seed-%02d-%s", outdir, seq++, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len) {
		perror(path);
		failed = 1;
	}
	if (f)
		fclose(f);
}

static const uint8_t uuid[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
                                 5,    6,    7,    8,    9, 10, 11, 12};
static uint8_t noise[3000];

/* One change of each kind, i choosing the op and the values. */
static void add_change(ferry_buf *b, unsigned i, int noisy)
{
	static const char *const texts[] = {"shipped", "pending refund",
	                                    "h\xc3\xa9llo \xf0\x9f\x9a\x80", ""};
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_value v[12];
	char ddl[64];
	v[0] = ferry_value_int((int64_t)i * 7919 - 40000);
	v[1] = ferry_value_float(i % 5 == 0 ? NAN : i % 7 == 0 ? -0.0 : i / 3.0);
	v[2] = ferry_value_bytes(FERRY_NUMERIC, i % 2 ? "1234.50" : "-19.90",
	                         i % 2 ? 7 : 6);
	v[3] = ferry_value_bytes(FERRY_TEXT, texts[i % 4], strlen(texts[i % 4]));
	v[4] = noisy ? ferry_value_bytes(FERRY_BLOB, noise + i % 1000, 1500)
	             : ferry_value_bytes(FERRY_BLOB, "\x00\x01\x02", 3);
	v[5] = ferry_value_bool(i % 2);
	v[6] = ferry_value_date(i % 9 == 0 ? FERRY_DATE_PINF : 19000 + (int32_t)i);
	v[7] = ferry_value_timestamp(FERRY_TIMESTAMP, INT64_C(1700000000000000) + i);
	v[8] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, i % 11 ? 0 : FERRY_TS_NINF);
	v[9] = ferry_value_bytes(FERRY_JSON, "{\"id\": 1, \"ok\": true}", 21);
	v[10] = ferry_value_uuid(uuid);
	v[11] = ferry_value_null();
	c.table = i % 3 ? "public.orders" : "public.users";
	c.schema_version = 1 + i % 2;
	c.txid = 1000 + i / 4;
	c.commit_time = INT64_C(1700000000000000) + (int64_t)i * 1000;
	c.position = (const uint8_t *)"\x00\x00\x00\x01wal!";
	c.position_len = 8;
	c.op = (ferry_op)(1 + i % 5);
	c.has_after = c.op == FERRY_OP_INSERT || c.op == FERRY_OP_UPDATE ||
	              c.op == FERRY_OP_DDL;
	c.has_before = c.op == FERRY_OP_DELETE || (c.op == FERRY_OP_UPDATE && i % 2);
	c.after.values = c.before.values = v;
	c.after.ncols = c.after.cap = c.before.ncols = c.before.cap = 12;
	if (c.op == FERRY_OP_DELETE)
		c.before.ncols = 2; /* the key only */
	if (c.op == FERRY_OP_DDL) {
		int n = snprintf(ddl, sizeof ddl, "ALTER TABLE %s ADD COLUMN c%u int",
		                 c.table, i);
		v[0] = ferry_value_bytes(FERRY_TEXT, ddl, (size_t)n);
		c.after.ncols = 1;
	}
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_change_encode(&c, b, &err) != 0) {
		fprintf(stderr, "encode: %s\n", ferry_error_message(&err));
		failed = 1;
	}
	ferry_error_clear(&err);
}

static void frame_seed(ferry_frame_ctx *ctx, const ferry_buf *payload,
                       uint32_t count, const char *name)
{
	ferry_buf out = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_frame_encode(ctx, payload->data, payload->len, count,
	                       1000 + (uint64_t)seq, &out, &err) != 0) {
		fprintf(stderr, "frame %s: %s\n", name, ferry_error_message(&err));
		failed = 1;
	} else {
		char full[128];
		snprintf(full, sizeof full, "%s-%s", name,
		         out.data[5] == FERRY_FRAME_ZSTD
		             ? (out.data[8] | out.data[9] ? "zstd-dict" : "zstd")
		             : "stored");
		write_seed(out.data, out.len, full);
	}
	ferry_buf_free(&out);
	ferry_error_clear(&err);
}

/* A frame whose header claims a different record count, checksum right. */
static void miscount_seed(ferry_frame_ctx *ctx, const ferry_buf *payload,
                          uint32_t count, uint32_t claimed, const char *name)
{
	ferry_buf out = FERRY_BUF_INIT;
	if (ferry_frame_encode(ctx, payload->data, payload->len, count, 1, &out,
	                       NULL) == 0) {
		for (int i = 0; i < 4; i++)
			out.data[12 + i] = (uint8_t)(claimed >> (8 * i));
		XXH64_state_t st;
		XXH64_reset(&st, 0);
		XXH64_update(&st, out.data, 32);
		XXH64_update(&st, out.data + 40, out.len - 40);
		uint64_t h = XXH64_digest(&st);
		for (int i = 0; i < 8; i++)
			out.data[32 + i] = (uint8_t)(h >> (8 * i));
		write_seed(out.data, out.len, name);
	}
	ferry_buf_free(&out);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < sizeof noise; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		noise[i] = (uint8_t)x;
	}
	ferry_frame_ctx *plain = NULL, *dict = NULL;
	if (ferry_frame_ctx_new(&plain, 0, NULL) != 0 ||
	    ferry_frame_ctx_new(&dict, 0, NULL) != 0 ||
	    ferry_frame_ctx_set_dict(dict, FUZZ_DICT_ID, fuzz_dict,
	                             sizeof fuzz_dict - 1, NULL) != 0)
		return 1;
	static const struct {
		unsigned first, count;
		int noisy;
		const char *name;
	} mixes[] = {
		{0, 1, 0, "insert"},         {1, 1, 0, "update"},
		{2, 1, 0, "delete"},         {3, 1, 0, "truncate"},
		{4, 1, 0, "ddl"},            {0, 5, 0, "each-op"},
		{0, 40, 0, "mixed-40"},      {7, 300, 0, "mixed-300"},
		{0, 3, 1, "noisy-3"},        {11, 2, 1, "noisy-2"},
	};
	for (size_t m = 0; m < sizeof mixes / sizeof *mixes; m++) {
		ferry_buf payload = FERRY_BUF_INIT;
		for (unsigned i = 0; i < mixes[m].count; i++)
			add_change(&payload, mixes[m].first + i, mixes[m].noisy);
		frame_seed(plain, &payload, mixes[m].count, mixes[m].name);
		frame_seed(dict, &payload, mixes[m].count, mixes[m].name);
		if (m == 6) {
			miscount_seed(plain, &payload, 40, 41, "count-too-high");
			miscount_seed(plain, &payload, 40, 39, "count-too-low");
		}
		ferry_buf_free(&payload);
	}
	ferry_frame_ctx_free(plain);
	ferry_frame_ctx_free(dict);
	return failed;
}
