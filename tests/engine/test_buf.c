/* Unit tests for engine/buf: appends, varints, the bounded reader. */
#include <stdint.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "tests/tap.h"

static void varint_roundtrip(uint64_t v)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_put_varint(&b, v);
	ferry_reader r;
	uint64_t got = 0;
	ferry_reader_init(&r, b.data, b.len);
	int rc = ferry_reader_varint(&r, &got);
	ok(rc == 0 && got == v && ferry_reader_left(&r) == 0,
	   "varint %llu round-trips in %zu bytes", (unsigned long long)v, b.len);
	/* every strict prefix is refused */
	int refused = 1;
	for (size_t n = 0; n < b.len; n++) {
		ferry_reader_init(&r, b.data, n);
		if (ferry_reader_varint(&r, &got) == 0)
			refused = 0;
	}
	ok(refused, "every truncation of varint %llu is refused",
	   (unsigned long long)v);
	ferry_buf_free(&b);
}

static void svarint_roundtrip(int64_t v)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_put_svarint(&b, v);
	ferry_reader r;
	int64_t got = 0;
	ferry_reader_init(&r, b.data, b.len);
	ok(ferry_reader_svarint(&r, &got) == 0 && got == v,
	   "svarint %lld round-trips", (long long)v);
	ferry_buf_free(&b);
}

int main(void)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "hello");
	ferry_buf_putc(&b, ' ');
	ferry_buf_printf(&b, "%s %d", "world", 42);
	is_str(ferry_buf_cstr(&b), "hello world 42", "puts, putc, printf append");
	is_int(b.len, 14, "len excludes the terminating NUL");
	ferry_buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	for (int i = 0; i < 10000; i++)
		ferry_buf_putc(&b, (uint8_t)'a' + i % 26);
	ok(b.len == 10000 && !ferry_buf_failed(&b), "grows to 10000 bytes");
	size_t len;
	char *s = ferry_buf_detach(&b, &len);
	ok(s && len == 10000 && s[10000] == '\0' && b.data == NULL,
	   "detach hands over a NUL-terminated string");
	ferry_free(s);

	ferry_alloc_fail_at(1, 0);
	ferry_buf_puts(&b, "x");
	ferry_alloc_fail_at(0, 0);
	ok(ferry_buf_failed(&b), "a failed allocation sticks");
	ferry_buf_puts(&b, "more");
	ok(ferry_buf_failed(&b) && ferry_buf_cstr(&b) == NULL,
	   "a failed buffer stays failed and has no string");
	ferry_buf_free(&b);

	uint64_t cases[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX,
	                    (uint64_t)INT64_MAX, UINT64_MAX};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		varint_roundtrip(cases[i]);
	int64_t scases[] = {0, -1, 1, -64, 64, INT32_MIN, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof scases / sizeof *scases; i++)
		svarint_roundtrip(scases[i]);

	/* an 11-byte or over-long varint is refused, not wrapped */
	uint8_t too_long[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                        0xff, 0xff, 0xff, 0xff, 0x01};
	ferry_reader r;
	uint64_t v;
	ferry_reader_init(&r, too_long, sizeof too_long);
	ok(ferry_reader_varint(&r, &v) < 0, "an 11-byte varint is refused");
	uint8_t overflow[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                        0xff, 0xff, 0xff, 0xff, 0x02};
	ferry_reader_init(&r, overflow, sizeof overflow);
	ok(ferry_reader_varint(&r, &v) < 0, "a varint beyond 64 bits is refused");

	ferry_buf_put_u64be(&b, UINT64_C(0x0102030405060708));
	ok(b.len == 8 && b.data[0] == 1 && b.data[7] == 8,
	   "u64be puts the most significant byte first");
	ferry_reader_init(&r, b.data, b.len);
	ok(ferry_reader_u64be(&r, &v) == 0 && v == UINT64_C(0x0102030405060708),
	   "u64be reads back");
	ferry_reader_init(&r, b.data, 7);
	ok(ferry_reader_u64be(&r, &v) < 0, "a short u64 is refused");
	const uint8_t *p;
	ferry_reader_init(&r, b.data, b.len);
	ok(ferry_reader_bytes(&r, 9, &p) < 0 && ferry_reader_left(&r) == 8,
	   "bytes past the end are refused without moving");
	ferry_buf_free(&b);
	return tap_done();
}
