/*
 * engine/buf.c - growable byte buffer and bounded reader (see buf.h).
 */
#include "engine/buf.h"

#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"

void ferry_buf_free(ferry_buf *b)
{
	if (!b)
		return;
	ferry_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

void ferry_buf_reset(ferry_buf *b)
{
	b->len = 0;
	b->failed = 0;
}

int ferry_buf_reserve(ferry_buf *b, size_t extra)
{
	if (b->failed)
		return -1;
	/* +1 keeps room for the NUL that ferry_buf_cstr adds. */
	if (extra > SIZE_MAX - b->len - 1) {
		b->failed = 1;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *data = ferry_realloc(b->data, cap);
	if (!data) {
		b->failed = 1;
		return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

void ferry_buf_append(ferry_buf *b, const void *data, size_t len)
{
	if (len == 0 || ferry_buf_reserve(b, len) < 0)
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void ferry_buf_putc(ferry_buf *b, uint8_t c)
{
	if (ferry_buf_reserve(b, 1) < 0)
		return;
	b->data[b->len++] = c;
}

void ferry_buf_puts(ferry_buf *b, const char *s)
{
	ferry_buf_append(b, s, strlen(s));
}

void ferry_buf_vprintf(ferry_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (ferry_buf_reserve(b, (size_t)n) < 0)
		return;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void ferry_buf_printf(ferry_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void ferry_buf_put_varint(ferry_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		tmp[n++] = byte | (v ? 0x80 : 0);
	} while (v);
	ferry_buf_append(b, tmp, n);
}

void ferry_buf_put_svarint(ferry_buf *b, int64_t v)
{
	/* zigzag: small magnitudes of either sign stay short */
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	ferry_buf_put_varint(b, u);
}

void ferry_buf_put_u32le(ferry_buf *b, uint32_t v)
{
	uint8_t tmp[4];
	for (int i = 0; i < 4; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	ferry_buf_append(b, tmp, 4);
}

void ferry_buf_put_u64le(ferry_buf *b, uint64_t v)
{
	uint8_t tmp[8];
	for (int i = 0; i < 8; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	ferry_buf_append(b, tmp, 8);
}

void ferry_buf_put_u64be(ferry_buf *b, uint64_t v)
{
	uint8_t tmp[8];
	for (int i = 0; i < 8; i++)
		tmp[7 - i] = (uint8_t)(v >> (8 * i));
	ferry_buf_append(b, tmp, 8);
}

void ferry_buf_put_ident(ferry_buf *b, const char *name)
{
	const char *p = name, *q;
	ferry_buf_putc(b, '"');
	while ((q = strchr(p, '"')) != NULL) {
		ferry_buf_append(b, p, (size_t)(q - p) + 1);
		ferry_buf_putc(b, '"');
		p = q + 1;
	}
	ferry_buf_puts(b, p);
	ferry_buf_putc(b, '"');
}

void ferry_buf_put_idents(ferry_buf *b, char *const *names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			ferry_buf_puts(b, ", ");
		ferry_buf_put_ident(b, names[i]);
	}
}

const char *ferry_buf_cstr(ferry_buf *b)
{
	if (ferry_buf_reserve(b, 0) < 0)
		return NULL;
	b->data[b->len] = '\0';
	return (const char *)b->data;
}

char *ferry_buf_detach(ferry_buf *b, size_t *len_out)
{
	if (!ferry_buf_cstr(b)) {
		ferry_buf_free(b);
		return NULL;
	}
	char *s = (char *)b->data;
	if (len_out)
		*len_out = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

int ferry_reader_u8(ferry_reader *r, uint8_t *out)
{
	if (r->p >= r->end)
		return -1;
	*out = *r->p++;
	return 0;
}

int ferry_reader_varint(ferry_reader *r, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		uint8_t byte = *r->p++;
		/* the tenth byte may only carry the top bit of a u64 */
		if (shift == 63 && (byte & 0xfe))
			return -1;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

int ferry_reader_svarint(ferry_reader *r, int64_t *out)
{
	uint64_t u;
	if (ferry_reader_varint(r, &u) < 0)
		return -1;
	*out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}

int ferry_reader_u32le(ferry_reader *r, uint32_t *out)
{
	if (ferry_reader_left(r) < 4)
		return -1;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)r->p[i] << (8 * i);
	r->p += 4;
	*out = v;
	return 0;
}

int ferry_reader_u64le(ferry_reader *r, uint64_t *out)
{
	if (ferry_reader_left(r) < 8)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	*out = v;
	return 0;
}

int ferry_reader_u64be(ferry_reader *r, uint64_t *out)
{
	if (ferry_reader_left(r) < 8)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | r->p[i];
	r->p += 8;
	*out = v;
	return 0;
}

int ferry_reader_bytes(ferry_reader *r, size_t len, const uint8_t **out)
{
	if (ferry_reader_left(r) < len)
		return -1;
	*out = r->p;
	r->p += len;
	return 0;
}
