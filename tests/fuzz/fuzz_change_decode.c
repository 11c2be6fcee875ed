/*
 * tests/fuzz/fuzz_change_decode.c - libFuzzer target for the change codec.
 *
 * Decodes records back to back from the input.  Beyond "no crash", it
 * checks the codec's promise: whatever decodes re-encodes to bytes that
 * decode to an identical change.  Built by `make fuzz` with clang; the
 * same function replays the corpus in `make check` (replay_corpus.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/change.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_row(const ferry_row *a, const ferry_row *b)
{
	if (a->ncols != b->ncols)
		return 0;
	for (uint32_t i = 0; i < a->ncols; i++)
		if (!ferry_value_identical(&a->values[i], &b->values[i]))
			return 0;
	return 1;
}

static void check_reencode(const ferry_change *c)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_change again = FERRY_CHANGE_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	size_t used;
	if (ferry_change_encode(c, &b, &err) != 0 ||
	    ferry_change_decode(&again, b.data, b.len, &used, &err) != 0 ||
	    used != b.len || again.op != c->op ||
	    strcmp(again.table, c->table) != 0 || again.txid != c->txid ||
	    again.commit_time != c->commit_time ||
	    again.schema_version != c->schema_version ||
	    again.position_len != c->position_len ||
	    (c->has_before && !same_row(&c->before, &again.before)) ||
	    (c->has_after && !same_row(&c->after, &again.after)))
		abort(); /* a decoded change that does not survive re-encoding */
	ferry_buf_free(&b);
	ferry_change_free(&again);
	ferry_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	size_t off = 0, used;
	while (off < size &&
	       ferry_change_decode(&c, data + off, size - off, &used, &err) == 0) {
		if (used == 0 || used > size - off)
			abort();
		check_reencode(&c);
		off += used;
	}
	ferry_change_free(&c);
	ferry_error_clear(&err);
	return 0;
}
