/*
 * engine/frame.c - the journal's frame codec (frame.h,
 * docs/journal-format.md "Frame").
 *
 * A frame is read back years later by a reader that trusts nothing: the
 * checksum is verified before zstd sees a byte, every length is checked
 * against the bytes actually present, and decompression must land on
 * exactly the stated length.  zstd frames are written with zstd's own
 * content checksum as well: it covers the decompressed bytes, so a
 * damaged dictionary (which the frame checksum cannot see) is caught too.
 */
#include "engine/frame.h"

#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>
#include <zdict.h>
#include <zstd.h>

#include "engine/alloc.h"

/* Prepared decompression dictionaries kept per context: a journal uses
 * very few, so a small table with round-robin replacement is plenty. */
#define DDICT_SLOTS 8

/* zstd's smallest useful dictionary (ZDICT_DICTSIZE_MIN, static-only). */
#define DICT_MIN 256

static const uint8_t frame_magic[4] = {0x46, 0x4A, 0x46, 0x52}; /* FJFR */

struct ferry_frame_ctx {
	int level;
	ZSTD_CCtx *cctx;      /* created on the first encode */
	ZSTD_DCtx *dctx;      /* created on the first decompress */
	ZSTD_CDict *cdict;    /* compression dictionary, or NULL */
	uint32_t cdict_id;
	struct {
		uint32_t id;
		ZSTD_DDict *ddict;
	} ddicts[DDICT_SLOTS];
	unsigned next_slot;
};

static uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_u64le(const uint8_t *p)
{
	return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64le(uint8_t *p, uint64_t v)
{
	put_u32le(p, (uint32_t)v);
	put_u32le(p + 4, (uint32_t)(v >> 32));
}

/* xxh64 of header bytes 0..31 followed by the stored payload. */
static uint64_t frame_hash(const uint8_t *header, const uint8_t *payload,
                           size_t len)
{
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, header, 32);
	XXH64_update(&st, payload, len);
	return XXH64_digest(&st);
}

int ferry_frame_ctx_new(ferry_frame_ctx **out, int level, ferry_error *err)
{
	if (level == 0)
		level = ZSTD_CLEVEL_DEFAULT;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return ferry_error_set(err, FERRY_EINVAL,
		                       "zstd level %d is out of range (%d to %d)",
		                       level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	ferry_frame_ctx *ctx = ferry_calloc(1, sizeof *ctx);
	if (!ctx)
		return ferry_error_oom(err);
	ctx->level = level;
	*out = ctx;
	return 0;
}

void ferry_frame_ctx_free(ferry_frame_ctx *ctx)
{
	if (!ctx)
		return;
	ZSTD_freeCCtx(ctx->cctx);
	ZSTD_freeDCtx(ctx->dctx);
	ZSTD_freeCDict(ctx->cdict);
	for (unsigned i = 0; i < DDICT_SLOTS; i++)
		ZSTD_freeDDict(ctx->ddicts[i].ddict);
	ferry_free(ctx);
}

/* Creates the compression context with the frame parameters every
 * encode uses: the level, the content size and zstd's checksum. */
static int need_cctx(ferry_frame_ctx *ctx, ferry_error *err)
{
	if (ctx->cctx)
		return 0;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!cctx)
		return ferry_error_oom(err);
	size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
	                                  ctx->level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_refCDict(cctx, ctx->cdict);
	if (ZSTD_isError(r)) {
		ZSTD_freeCCtx(cctx);
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not set up zstd compression: %s",
		                       ZSTD_getErrorName(r));
	}
	ctx->cctx = cctx;
	return 0;
}

int ferry_frame_ctx_set_dict(ferry_frame_ctx *ctx, uint32_t id,
                             const void *dict, size_t dict_len,
                             ferry_error *err)
{
	ZSTD_CDict *cdict = NULL;
	if (dict_len > 0) {
		if (id == 0)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "a frame dictionary needs an id other "
			                       "than 0");
		cdict = ZSTD_createCDict(dict, dict_len, ctx->level);
		if (!cdict)
			return ferry_error_set(err, FERRY_ERROR,
			                       "could not load zstd dictionary %u",
			                       (unsigned)id);
	}
	if (ctx->cctx) {
		size_t r = ZSTD_CCtx_refCDict(ctx->cctx, cdict);
		if (ZSTD_isError(r)) {
			ZSTD_freeCDict(cdict);
			return ferry_error_set(err, FERRY_ERROR,
			                       "could not use zstd dictionary %u: %s",
			                       (unsigned)id, ZSTD_getErrorName(r));
		}
	}
	ZSTD_freeCDict(ctx->cdict);
	ctx->cdict = cdict;
	ctx->cdict_id = cdict ? id : 0;
	return 0;
}

int ferry_frame_encode(ferry_frame_ctx *ctx, const uint8_t *payload,
                       size_t len, uint32_t count, uint64_t first_lsn,
                       ferry_buf *out, ferry_error *err)
{
	if (count == 0 || len > FERRY_FRAME_MAX_PAYLOAD)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "cannot encode a frame of %u records and "
		                       "%zu bytes (1 record and %u bytes at most)",
		                       (unsigned)count, len,
		                       (unsigned)FERRY_FRAME_MAX_PAYLOAD);
	int rc = need_cctx(ctx, err);
	if (rc < 0)
		return rc;
	size_t bound = ZSTD_compressBound(len);
	if (ferry_buf_reserve(out, FERRY_FRAME_HEADER_SIZE + bound) < 0)
		return ferry_error_oom(err);
	uint8_t *h = out->data + out->len;
	uint8_t *body = h + FERRY_FRAME_HEADER_SIZE;
	size_t zlen = ZSTD_compress2(ctx->cctx, body, bound, payload, len);
	if (ZSTD_isError(zlen))
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not compress a frame: %s",
		                       ZSTD_getErrorName(zlen));
	uint8_t codec = FERRY_FRAME_ZSTD;
	if (zlen >= len) { /* zstd did not help: store the payload as is */
		codec = FERRY_FRAME_STORED;
		zlen = len;
		if (len > 0)
			memcpy(body, payload, len);
	}
	memcpy(h, frame_magic, 4);
	h[4] = FERRY_FRAME_VERSION;
	h[5] = codec;
	h[6] = h[7] = 0;
	put_u32le(h + 8, codec == FERRY_FRAME_ZSTD ? ctx->cdict_id : 0);
	put_u32le(h + 12, count);
	put_u64le(h + 16, first_lsn);
	put_u32le(h + 24, (uint32_t)len);
	put_u32le(h + 28, (uint32_t)zlen);
	put_u64le(h + 32, frame_hash(h, body, zlen));
	out->len += FERRY_FRAME_HEADER_SIZE + zlen;
	return 0;
}

static int corrupt(ferry_error *err, const char *what)
{
	return ferry_error_set(err, FERRY_ECORRUPT, "%s", what);
}

/* The header's fields that do not need the checksum to be judged. */
static int check_fields(const ferry_frame_info *info, uint16_t flags,
                        ferry_error *err)
{
	if (info->codec != FERRY_FRAME_STORED && info->codec != FERRY_FRAME_ZSTD)
		return ferry_error_set(err, FERRY_ECORRUPT, "unknown codec %u",
		                       (unsigned)info->codec);
	if (flags != 0)
		return ferry_error_set(err, FERRY_ECORRUPT, "unknown flags 0x%04x",
		                       (unsigned)flags);
	if (info->codec == FERRY_FRAME_STORED && info->dict_id != 0)
		return corrupt(err, "a stored payload names a dictionary");
	if (info->count == 0)
		return corrupt(err, "record count is 0");
	if (info->raw_len > FERRY_FRAME_MAX_PAYLOAD)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "payload length %u exceeds the %u-byte limit",
		                       (unsigned)info->raw_len,
		                       (unsigned)FERRY_FRAME_MAX_PAYLOAD);
	if (info->codec == FERRY_FRAME_STORED && info->stored_len != info->raw_len)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "stored payload is %u bytes but %u are stated",
		                       (unsigned)info->stored_len,
		                       (unsigned)info->raw_len);
	return 0;
}

int ferry_frame_check(const uint8_t *frame, size_t len, ferry_frame_info *info,
                      ferry_error *err)
{
	if (len < FERRY_FRAME_HEADER_SIZE)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "frame is %zu bytes, shorter than its header",
		                       len);
	if (memcmp(frame, frame_magic, 4) != 0)
		return corrupt(err, "bad magic");
	if (frame[4] != FERRY_FRAME_VERSION)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "unknown frame version %u", (unsigned)frame[4]);
	ferry_frame_info fi;
	fi.codec = frame[5];
	fi.dict_id = get_u32le(frame + 8);
	fi.count = get_u32le(frame + 12);
	fi.first_lsn = get_u64le(frame + 16);
	fi.raw_len = get_u32le(frame + 24);
	fi.stored_len = get_u32le(frame + 28);
	if ((size_t)fi.stored_len != len - FERRY_FRAME_HEADER_SIZE)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "header says %u payload bytes, the frame has "
		                       "%zu",
		                       (unsigned)fi.stored_len,
		                       len - FERRY_FRAME_HEADER_SIZE);
	if (frame_hash(frame, frame + FERRY_FRAME_HEADER_SIZE, fi.stored_len) !=
	    get_u64le(frame + 32))
		return corrupt(err, "checksum mismatch");
	uint16_t flags = (uint16_t)(frame[6] | frame[7] << 8);
	int rc = check_fields(&fi, flags, err);
	if (rc < 0)
		return rc;
	*info = fi;
	return 0;
}

/* The prepared dictionary for id: from the cache, else looked up through
 * the caller and prepared (zstd copies the bytes). */
static int find_ddict(ferry_frame_ctx *ctx, uint32_t id,
                      ferry_frame_dict_fn dicts, void *arg, ZSTD_DDict **out,
                      ferry_error *err)
{
	for (unsigned i = 0; i < DDICT_SLOTS; i++)
		if (ctx->ddicts[i].ddict && ctx->ddicts[i].id == id) {
			*out = ctx->ddicts[i].ddict;
			return 0;
		}
	const void *dict = NULL;
	size_t len = 0;
	int rc = dicts ? dicts(arg, id, &dict, &len) : FERRY_ENOTFOUND;
	if (rc == FERRY_ENOMEM)
		return ferry_error_oom(err);
	if (rc != 0 && rc != FERRY_ENOTFOUND)
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not look up dictionary %u",
		                       (unsigned)id);
	if (rc != 0 || !dict || len == 0)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "dictionary %u is missing", (unsigned)id);
	ZSTD_DDict *dd = ZSTD_createDDict(dict, len);
	if (!dd)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "dictionary %u cannot be loaded", (unsigned)id);
	unsigned slot = ctx->next_slot++ % DDICT_SLOTS;
	ZSTD_freeDDict(ctx->ddicts[slot].ddict);
	ctx->ddicts[slot].id = id;
	ctx->ddicts[slot].ddict = dd;
	*out = dd;
	return 0;
}

/* Checks, before anything is allocated, that a zstd payload is exactly
 * one zstd frame stating exactly raw_len bytes of content. */
static int check_zstd_sizes(const uint8_t *src, const ferry_frame_info *info,
                            ferry_error *err)
{
	unsigned long long size = ZSTD_getFrameContentSize(src, info->stored_len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		return corrupt(err, "zstd payload has no valid frame header");
	if (size != info->raw_len)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "zstd payload holds %llu bytes but %u are "
		                       "stated", size, (unsigned)info->raw_len);
	size_t zsize = ZSTD_findFrameCompressedSize(src, info->stored_len);
	if (ZSTD_isError(zsize) || zsize != info->stored_len)
		return corrupt(err, "zstd payload is not exactly one zstd frame");
	return 0;
}

/* Decompresses a checked zstd payload into dst (raw_len bytes of room). */
static int unzstd(ferry_frame_ctx *ctx, const uint8_t *src,
                  const ferry_frame_info *info, ZSTD_DDict *dd,
                  uint8_t *dst, ferry_error *err)
{
	size_t got = dd ? ZSTD_decompress_usingDDict(ctx->dctx, dst, info->raw_len,
	                                             src, info->stored_len, dd)
	                : ZSTD_decompressDCtx(ctx->dctx, dst, info->raw_len, src,
	                                      info->stored_len);
	if (ZSTD_isError(got))
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "zstd payload does not decompress: %s",
		                       ZSTD_getErrorName(got));
	if (got != info->raw_len)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "zstd payload decompresses to %zu bytes, not "
		                       "%u", got, (unsigned)info->raw_len);
	return 0;
}

int ferry_frame_decompress(ferry_frame_ctx *ctx, const uint8_t *frame,
                           const ferry_frame_info *info,
                           ferry_frame_dict_fn dicts, void *dicts_arg,
                           ferry_buf *out, ferry_error *err)
{
	const uint8_t *src = frame + FERRY_FRAME_HEADER_SIZE;
	ferry_buf_reset(out);
	if (info->raw_len > FERRY_FRAME_MAX_PAYLOAD)
		return corrupt(err, "payload length exceeds the limit");
	if (info->codec == FERRY_FRAME_STORED) {
		if (info->stored_len != info->raw_len)
			return corrupt(err, "stored payload length mismatch");
		if (ferry_buf_reserve(out, info->raw_len) < 0)
			return ferry_error_oom(err);
		if (info->raw_len > 0)
			memcpy(out->data, src, info->raw_len);
		out->len = info->raw_len;
		return 0;
	}
	if (info->codec != FERRY_FRAME_ZSTD)
		return corrupt(err, "unknown codec");
	int rc = check_zstd_sizes(src, info, err);
	if (rc < 0)
		return rc;
	if (!ctx->dctx && !(ctx->dctx = ZSTD_createDCtx()))
		return ferry_error_oom(err);
	ZSTD_DDict *dd = NULL;
	if (info->dict_id != 0)
		rc = find_ddict(ctx, info->dict_id, dicts, dicts_arg, &dd, err);
	if (rc == 0 && ferry_buf_reserve(out, info->raw_len) < 0)
		rc = ferry_error_oom(err);
	if (rc == 0)
		rc = unzstd(ctx, src, info, dd, out->data, err);
	if (rc == 0)
		out->len = info->raw_len;
	return rc;
}

int ferry_frame_train_dict(const uint8_t *samples, const size_t *sizes,
                           unsigned n, size_t cap, ferry_buf *dict,
                           uint32_t *id, ferry_error *err)
{
	if (cap < DICT_MIN || n == 0)
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not train a zstd dictionary: %s",
		                       n == 0 ? "no samples" : "capacity too small");
	ferry_buf_reset(dict);
	if (ferry_buf_reserve(dict, cap) < 0)
		return ferry_error_oom(err);
	size_t len = ZDICT_trainFromBuffer(dict->data, cap, samples, sizes, n);
	if (ZDICT_isError(len))
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not train a zstd dictionary: %s",
		                       ZDICT_getErrorName(len));
	unsigned dict_id = ZDICT_getDictID(dict->data, len);
	if (dict_id == 0)
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not train a zstd dictionary: it has no "
		                       "id");
	dict->len = len;
	*id = dict_id;
	return 0;
}
