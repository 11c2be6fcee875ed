/*
 * engine/frame.h - the journal's frame codec: a batch of change records,
 * zstd-compressed (optionally with a dictionary), behind a checksummed
 * header.  The layout is docs/journal-format.md, "Frame".  This is the
 * only module that includes zstd.h.
 */
#ifndef FERRY_FRAME_H
#define FERRY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

#define FERRY_FRAME_HEADER_SIZE 40
#define FERRY_FRAME_VERSION 1
#define FERRY_FRAME_MAX_PAYLOAD (64u * 1024 * 1024) /* sanity bound */

enum { FERRY_FRAME_STORED = 0, FERRY_FRAME_ZSTD = 1 };

typedef struct ferry_frame_info {
	uint8_t codec;
	uint32_t dict_id;     /* 0: none */
	uint32_t count;       /* records */
	uint64_t first_lsn;
	uint32_t raw_len;     /* uncompressed payload bytes */
	uint32_t stored_len;  /* payload bytes in the frame */
} ferry_frame_info;

/* Compression and decompression state, reused across frames (zstd
 * contexts and the prepared dictionaries).  One per thread. */
typedef struct ferry_frame_ctx ferry_frame_ctx;

int ferry_frame_ctx_new(ferry_frame_ctx **out, int level, ferry_error *err);
void ferry_frame_ctx_free(ferry_frame_ctx *ctx);

/*
 * Makes dict (id != 0) the dictionary for compression; dict_len 0 turns
 * dictionaries off.  The bytes are copied.
 */
int ferry_frame_ctx_set_dict(ferry_frame_ctx *ctx, uint32_t id,
                             const void *dict, size_t dict_len,
                             ferry_error *err);

/*
 * Appends one frame to out: header + payload compressed with zstd (with
 * the context's dictionary if set), or stored as is when compression
 * does not make it smaller.
 */
int ferry_frame_encode(ferry_frame_ctx *ctx, const uint8_t *payload,
                       size_t len, uint32_t count, uint64_t first_lsn,
                       ferry_buf *out, ferry_error *err);

/*
 * Checks a stored frame without decompressing: magic, version, codec,
 * flags, lengths and the checksum.  Fills info.  Returns 0 or
 * FERRY_ECORRUPT with what is wrong (the caller adds the journal path and
 * the LSN range).
 */
int ferry_frame_check(const uint8_t *frame, size_t len, ferry_frame_info *info,
                      ferry_error *err);

/* Looks up a dictionary by id for decompression: 0 and sets *dict and *len
 * (the bytes need only last the call), FERRY_ENOTFOUND (decompress then
 * reports the frame corrupt), or FERRY_ENOMEM / FERRY_ERROR when the
 * lookup itself failed (decompress returns that code, not corruption). */
typedef int (*ferry_frame_dict_fn)(void *arg, uint32_t id, const void **dict,
                                   size_t *len);

/*
 * Decompresses a checked frame's payload into out (reset first).  The
 * result must be exactly info->raw_len bytes, else FERRY_ECORRUPT.
 */
int ferry_frame_decompress(ferry_frame_ctx *ctx, const uint8_t *frame,
                           const ferry_frame_info *info,
                           ferry_frame_dict_fn dicts, void *dicts_arg,
                           ferry_buf *out, ferry_error *err);

/*
 * Trains a dictionary of at most cap bytes from n samples laid end to end
 * in samples (sizes[i] bytes each).  *id is the dictionary's id (never
 * 0).  FERRY_ERROR when zstd cannot train one from these samples.
 */
int ferry_frame_train_dict(const uint8_t *samples, const size_t *sizes,
                           unsigned n, size_t cap, ferry_buf *dict,
                           uint32_t *id, ferry_error *err);

#endif
