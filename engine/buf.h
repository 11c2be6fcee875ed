/*
 * engine/buf.h - growable byte buffer and bounded byte reader.
 *
 * ferry_buf keeps a sticky failure flag instead of returning a code from
 * every append: a caller appends freely and checks ferry_buf_failed() once
 * at the end.  ferry_reader decodes untrusted bytes: every get checks the
 * remaining length first and returns 0 on success, -1 on short or bad
 * input, never reading past the end.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

typedef struct ferry_buf {
	uint8_t *data; /* owned; NUL-terminated after ferry_buf_cstr() */
	size_t len;
	size_t cap;
	int failed;    /* an allocation failed: contents are incomplete */
} ferry_buf;

#define FERRY_BUF_INIT { NULL, 0, 0, 0 }

void ferry_buf_free(ferry_buf *b);
void ferry_buf_reset(ferry_buf *b); /* len = 0, keeps capacity, clears failed */
int ferry_buf_reserve(ferry_buf *b, size_t extra); /* 0, or -1 and failed set */
void ferry_buf_append(ferry_buf *b, const void *data, size_t len);
void ferry_buf_putc(ferry_buf *b, uint8_t c);
void ferry_buf_puts(ferry_buf *b, const char *s);
void ferry_buf_printf(ferry_buf *b, const char *fmt, ...) FERRY_PRINTF(2, 3);
void ferry_buf_vprintf(ferry_buf *b, const char *fmt, va_list ap)
    FERRY_PRINTF(2, 0);
void ferry_buf_put_varint(ferry_buf *b, uint64_t v);   /* LEB128 */
void ferry_buf_put_svarint(ferry_buf *b, int64_t v);   /* zigzag LEB128 */
void ferry_buf_put_u32le(ferry_buf *b, uint32_t v);
void ferry_buf_put_u64le(ferry_buf *b, uint64_t v);
void ferry_buf_put_u64be(ferry_buf *b, uint64_t v);
/* Appends a NUL without counting it in len; returns data as a C string,
 * or NULL if the buffer has failed. */
const char *ferry_buf_cstr(ferry_buf *b);
static inline int ferry_buf_failed(const ferry_buf *b) { return b->failed; }
/* Appends name as a double-quoted SQL identifier (a"b -> "a""b"), so
 * reserved words, spaces, case and quotes in names survive. */
void ferry_buf_put_ident(ferry_buf *b, const char *name);
/* Appends "a", "b", ... (no parentheses). */
void ferry_buf_put_idents(ferry_buf *b, char *const *names, uint32_t n);
/* Moves the contents out: the caller owns the returned NUL-terminated
 * string (free with ferry_free); b is left empty.  NULL if failed. */
char *ferry_buf_detach(ferry_buf *b, size_t *len_out);

typedef struct ferry_reader {
	const uint8_t *p;
	const uint8_t *end;
} ferry_reader;

static inline void ferry_reader_init(ferry_reader *r, const void *data,
                                     size_t len)
{
	r->p = (const uint8_t *)data;
	r->end = r->p + len;
}
static inline size_t ferry_reader_left(const ferry_reader *r)
{
	return (size_t)(r->end - r->p);
}
int ferry_reader_u8(ferry_reader *r, uint8_t *out);
int ferry_reader_varint(ferry_reader *r, uint64_t *out);
int ferry_reader_svarint(ferry_reader *r, int64_t *out);
int ferry_reader_u32le(ferry_reader *r, uint32_t *out);
int ferry_reader_u64le(ferry_reader *r, uint64_t *out);
int ferry_reader_u64be(ferry_reader *r, uint64_t *out);
/* Borrows len bytes from the input: *out points into it. */
int ferry_reader_bytes(ferry_reader *r, size_t len, const uint8_t **out);

#endif
