/*
 * tests/fuzz/fuzz_frame_decode.c - libFuzzer target for the journal's
 * frame codec (engine/frame.c) and the records inside a frame.
 *
 * Each input is read as a stored frame twice: as is (so the checksum
 * check itself is fuzzed), then with its checksum recomputed, because a
 * mutation almost never keeps xxh64 right and the fuzzer would otherwise
 * never get past it to the header checks, zstd and the records.  A frame
 * that checks and decompresses must yield exactly its stated length, and
 * its records are decoded as the journal reads them.  Dictionary id
 * FUZZ_DICT_ID resolves to a fixed raw-content dictionary, the same bytes
 * tests/fuzz/make_frame_seeds.c compresses its dictionary seeds with.
 *
 * Build (docs/fuzzing.md; from the source tree):
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild \
 *     -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
 *     tests/fuzz/fuzz_frame_decode.c \
 *     engine/{alloc,buf,change,datetime,decimal,error,value,frame}.c \
 *     -lzstd -lxxhash -lm -o fuzz_frame_decode
 *   ./fuzz_frame_decode -max_total_time=600 NEW_DIR \
 *     tests/fuzz/corpus/frame_decode
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "engine/change.h"
#include "engine/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep in step with tests/fuzz/make_frame_seeds.c. */
#define FUZZ_DICT_ID 0x465a5a31u
static const char fuzz_dict[] =
	"\x01\x02\x0dpublic.orders\x01\x02\x0cpublic.users\x03\x01\x0bwal!"
	"customer shipped pending refund paid express priority warehouse "
	"{\"id\": 1, \"tags\": [\"a\", \"b\"], \"ok\": true} Lisbon Berlin "
	"ALTER TABLE public.orders ADD COLUMN note text 1234.50 -19.90 "
	"widget gadget invoice gift return note: 2024-01-01T00:00:00Z";

static int lookup(void *arg, uint32_t id, const void **dict, size_t *len)
{
	(void)arg;
	if (id != FUZZ_DICT_ID)
		return FERRY_ENOTFOUND;
	*dict = fuzz_dict;
	*len = sizeof fuzz_dict - 1;
	return 0;
}

/* One context for the whole run, as a journal reader keeps one: its
 * prepared-dictionary cache is exercised across inputs too. */
static ferry_frame_ctx *ctx;

static void decode_records(const ferry_buf *raw, uint32_t count)
{
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	size_t off = 0, used;
	for (uint32_t i = 0; i < count && off < raw->len; i++) {
		if (ferry_change_decode(&c, raw->data + off, raw->len - off, &used,
		                        &err) != 0)
			break;
		if (used == 0 || used > raw->len - off)
			abort(); /* the decoder claimed bytes it was not given */
		off += used;
	}
	ferry_change_free(&c);
	ferry_error_clear(&err);
}

static void decode_frame(const uint8_t *frame, size_t size)
{
	ferry_frame_info info;
	ferry_buf raw = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_frame_check(frame, size, &info, &err) == 0) {
		if ((size_t)info.stored_len + FERRY_FRAME_HEADER_SIZE != size ||
		    info.count == 0 || info.raw_len > FERRY_FRAME_MAX_PAYLOAD)
			abort(); /* check passed a frame it should have refused */
		if (ferry_frame_decompress(ctx, frame, &info, lookup, NULL, &raw,
		                           &err) == 0) {
			if (raw.len != info.raw_len)
				abort();
			decode_records(&raw, info.count);
		}
	}
	ferry_buf_free(&raw);
	ferry_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx && ferry_frame_ctx_new(&ctx, 0, NULL) != 0)
		return 0;
	decode_frame(data, size);
	if (size < FERRY_FRAME_HEADER_SIZE)
		return 0;
	uint8_t *copy = malloc(size); /* exact size: overreads are caught */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, copy, 32);
	XXH64_update(&st, copy + FERRY_FRAME_HEADER_SIZE,
	             size - FERRY_FRAME_HEADER_SIZE);
	uint64_t h = XXH64_digest(&st);
	for (int i = 0; i < 8; i++)
		copy[32 + i] = (uint8_t)(h >> (8 * i));
	decode_frame(copy, size);
	free(copy);
	return 0;
}
