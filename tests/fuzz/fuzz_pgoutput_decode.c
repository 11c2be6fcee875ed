/*
 * tests/fuzz/fuzz_pgoutput_decode.c - libFuzzer target for the logical
 * replication stream decoder (cdc/pgoutput.c).
 *
 * The input is a session as the walsender would send it: CopyData
 * payloads back to back, each behind a 4-byte big-endian length.  Every
 * payload goes through the framing ('w', 'k'), the pgoutput message
 * decoder and the relation cache, as cdc/pg_capture.c will use them.
 * Beyond "no crash", it checks the decoder's promises:
 * - whatever decodes re-encodes to exactly the bytes it came from (so no
 *   byte was skipped or read twice), and borrowed pointers stay inside
 *   the payload;
 * - a cached relation is a deep copy: each payload lives in its own
 *   exact-size heap block, freed before the next, so a cache entry that
 *   still pointed into one would be a use-after-free for ASan;
 * - a change that passes the cache check has the relation's column count;
 * - failures are FERRY_ECORRUPT, FERRY_EUNSUPPORTED or FERRY_ENOMEM with
 *   a message.
 * Built by hand or by `make fuzz` with clang (docs/fuzzing.md); the same
 * function replays the corpus in `make check` (replay_corpus.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdc/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond)
{
	if (!cond)
		abort();
}

static int inside(const void *p, const uint8_t *start, size_t len)
{
	const uint8_t *q = p;
	return q >= start && q <= start + len;
}

/* A borrowed string must start and end (NUL included) inside the bytes. */
static void check_str(const char *s, const uint8_t *start, size_t len)
{
	require(inside(s, start, len));
	size_t n = strnlen(s, (size_t)(start + len - (const uint8_t *)s));
	require((const uint8_t *)s + n < start + len);
}

static void check_tuple(const ferry_pgoutput_tuple *t, const uint8_t *start,
                        size_t len)
{
	require(t->ncols <= len);
	for (uint32_t i = 0; i < t->ncols; i++) {
		const ferry_pgoutput_value *v = &t->values[i];
		switch (v->kind) {
		case FERRY_PGOUTPUT_NULL:
		case FERRY_PGOUTPUT_UNCHANGED:
			require(v->len == 0 && v->data == NULL);
			break;
		case FERRY_PGOUTPUT_TEXT:
			require(memchr(v->data, '\0', v->len) == NULL);
			/* fall through */
		case FERRY_PGOUTPUT_BINARY:
			require(inside(v->data, start, len) &&
			        v->len <= (size_t)(start + len - v->data));
			break;
		default:
			abort();
		}
	}
}

/* Borrowed pointers of a decoded message lie inside its bytes. */
static void check_borrowed(const ferry_pgoutput_msg *m, const uint8_t *p,
                           size_t n)
{
	const ferry_pgoutput_relation *r = &m->u.relation;
	switch (m->type) {
	case FERRY_PGOUTPUT_ORIGIN:
		check_str(m->u.origin.name, p, n);
		break;
	case FERRY_PGOUTPUT_TYPE:
		check_str(m->u.datatype.nspname, p, n);
		check_str(m->u.datatype.name, p, n);
		break;
	case FERRY_PGOUTPUT_RELATION:
		check_str(r->nspname, p, n);
		check_str(r->relname, p, n);
		require(r->ncols <= n / 10);
		for (uint32_t i = 0; i < r->ncols; i++)
			check_str(r->cols[i].name, p, n);
		break;
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE:
		require((m->u.change.old_kind == 0) == (m->u.change.old_tuple == NULL));
		require((m->type == FERRY_PGOUTPUT_DELETE) ==
		        (m->u.change.new_tuple == NULL));
		if (m->u.change.old_tuple)
			check_tuple(m->u.change.old_tuple, p, n);
		if (m->u.change.new_tuple)
			check_tuple(m->u.change.new_tuple, p, n);
		break;
	case FERRY_PGOUTPUT_TRUNCATE:
		require(m->u.truncate.nrelids >= 1 && m->u.truncate.nrelids <= n / 4);
		break;
	case FERRY_PGOUTPUT_MESSAGE:
		check_str(m->u.message.prefix, p, n);
		require(inside(m->u.message.content, p, n) &&
		        m->u.message.len <= (size_t)(p + n - m->u.message.content));
		break;
	default:
		break;
	}
}

static void check_reencode(const ferry_pgoutput_msg *m, const uint8_t *p,
                           size_t n)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_encode(m, &b);
	if (!ferry_buf_failed(&b))
		require(b.len == n && memcmp(b.data, p, n) == 0);
	ferry_buf_free(&b);
}

/* The cached copy equals the message and owns all of its strings. */
static void check_cached(const ferry_pgoutput_relcache *c,
                         const ferry_pgoutput_relation *r, const uint8_t *p,
                         size_t n)
{
	const ferry_pgoutput_relation *got = ferry_pgoutput_relcache_get(c, r->oid);
	require(got != NULL && got->oid == r->oid && got->ncols == r->ncols &&
	        got->replident == r->replident);
	require(!inside(got->nspname, p, n) && !inside(got->relname, p, n));
	require(strcmp(got->nspname, r->nspname) == 0 &&
	        strcmp(got->relname, r->relname) == 0);
	for (uint32_t i = 0; i < r->ncols; i++) {
		require(!inside(got->cols[i].name, p, n));
		require(strcmp(got->cols[i].name, r->cols[i].name) == 0 &&
		        got->cols[i].flags == r->cols[i].flags &&
		        got->cols[i].type_oid == r->cols[i].type_oid &&
		        got->cols[i].typmod == r->cols[i].typmod);
	}
}

static void check_error(int rc, const ferry_error *err)
{
	require(rc == FERRY_ECORRUPT || rc == FERRY_EUNSUPPORTED ||
	        rc == FERRY_ENOMEM);
	require(ferry_error_message(err)[0] != '\0');
}

#define MAX_OIDS 64

/* One CopyData payload, in its own exact-size block. */
static void one_payload(const uint8_t *payload, size_t n,
                        ferry_pgoutput_relcache *c, ferry_pgoutput_msg *m,
                        uint32_t *oids, int *noids)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_pgoutput_frame f;
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return;
	memcpy(p, payload, n);
	int rc = ferry_pgoutput_frame_decode(&f, p, n, &err);
	if (rc < 0) {
		check_error(rc, &err);
		goto done;
	}
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_frame_encode(&f, &b);
	require(ferry_buf_failed(&b) || (b.len == n && memcmp(b.data, p, n) == 0));
	ferry_buf_free(&b);
	if (f.kind == FERRY_PGOUTPUT_KEEPALIVE)
		goto done;
	require(f.data == p + FERRY_PGOUTPUT_XLOGDATA_HDR && f.len >= 1 &&
	        f.len == n - FERRY_PGOUTPUT_XLOGDATA_HDR);
	rc = ferry_pgoutput_decode(m, f.data, f.len, &err);
	if (rc < 0) {
		check_error(rc, &err);
		goto done;
	}
	check_borrowed(m, f.data, f.len);
	check_reencode(m, f.data, f.len);
	if (m->type == FERRY_PGOUTPUT_RELATION) {
		rc = ferry_pgoutput_relcache_put(c, &m->u.relation, &err);
		if (rc < 0) {
			check_error(rc, &err);
			goto done;
		}
		check_cached(c, &m->u.relation, p, n);
		if (*noids < MAX_OIDS)
			oids[(*noids)++] = m->u.relation.oid;
		goto done;
	}
	const ferry_pgoutput_relation *rel = NULL;
	rc = ferry_pgoutput_relcache_check(c, m, &rel, &err);
	if (rc < 0) {
		check_error(rc, &err);
		goto done;
	}
	if (rel) {
		const ferry_pgoutput_change *ch = &m->u.change;
		require(rel->oid == ch->relid);
		require(!ch->old_tuple || ch->old_tuple->ncols == rel->ncols);
		require(!ch->new_tuple || ch->new_tuple->ncols == rel->ncols);
	}
done:
	ferry_error_clear(&err);
	free(p); /* the cache must not point in here any more */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_pgoutput_relcache *c = NULL;
	ferry_pgoutput_msg m = FERRY_PGOUTPUT_MSG_INIT;
	uint32_t oids[MAX_OIDS];
	int noids = 0;
	if (ferry_pgoutput_relcache_open(&c, NULL) < 0)
		return 0;
	size_t off = 0;
	while (size - off >= 4) {
		size_t n = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
		           (size_t)data[off + 2] << 8 | data[off + 3];
		off += 4;
		if (n > size - off)
			break;
		one_payload(data + off, n, c, &m, oids, &noids);
		off += n;
	}
	/* every cached relation is still whole after its bytes were freed */
	for (int i = 0; i < noids; i++) {
		const ferry_pgoutput_relation *r = ferry_pgoutput_relcache_get(c, oids[i]);
		require(r != NULL && r->oid == oids[i]);
		size_t sum = strlen(r->nspname) + strlen(r->relname);
		for (uint32_t k = 0; k < r->ncols; k++)
			sum += strlen(r->cols[k].name);
		require(sum < size + 1);
	}
	require(ferry_pgoutput_relcache_count(c) <= (size_t)noids ||
	        noids == MAX_OIDS);
	ferry_pgoutput_relcache_close(c);
	ferry_pgoutput_msg_free(&m);
	return 0;
}
