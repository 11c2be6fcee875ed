/*
 * tests/fuzz/make_pgoutput_seeds.c - writes the hand-made part of the
 * seed corpus for fuzz_pgoutput_decode: small sessions that reach every
 * message type, tuple kind and relation cache path, and a few that must
 * be refused.  The real-server part of the corpus (server-NN files) comes
 * from tests/cdc/test_pgoutput.c run with FERRY_PGOUTPUT_SEED_DIR set.
 * Run from the source tree (docs/pgoutput.md):
 *   cc -std=c11 -I. -D_DEFAULT_SOURCE cdc/pgoutput.c \
 *      engine/{alloc,buf,error}.c tests/fuzz/make_pgoutput_seeds.c \
 *      -o /tmp/make_pgoutput_seeds && \
 *   /tmp/make_pgoutput_seeds tests/fuzz/corpus/pgoutput_decode
 */
#include <stdio.h>
#include <string.h>

#include "cdc/pgoutput.h"

/* A fuzz input: CopyData payloads, each behind a 4-byte big-endian length. */
static ferry_buf seed = FERRY_BUF_INIT;
static uint64_t lsn = 0x16B3748;

static void payload(const uint8_t *p, size_t n)
{
	uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
	                  (uint8_t)n};
	ferry_buf_append(&seed, len, 4);
	ferry_buf_append(&seed, p, n);
}

static void xlog_raw(const uint8_t *p, size_t n)
{
	ferry_pgoutput_frame f = {FERRY_PGOUTPUT_XLOGDATA, lsn, lsn + 0x100,
	                          751234567890123, false, p, n};
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_frame_encode(&f, &b);
	payload(b.data, b.len);
	ferry_buf_free(&b);
	lsn += 0x28;
}

static void xlog(const ferry_pgoutput_msg *m)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_encode(m, &b);
	xlog_raw(b.data, b.len);
	ferry_buf_free(&b);
}

static void keepalive(bool reply)
{
	ferry_pgoutput_frame f = {FERRY_PGOUTPUT_KEEPALIVE, 0, lsn,
	                          751234567890999, reply, NULL, 0};
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pgoutput_frame_encode(&f, &b);
	payload(b.data, b.len);
	ferry_buf_free(&b);
}

static int write_seed(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	fwrite(seed.data, 1, seed.len, f);
	fclose(f);
	ferry_buf_reset(&seed);
	return 0;
}

static const ferry_pgoutput_column users_cols[] = {
    {FERRY_PGOUTPUT_COL_KEY, "id", 23, -1},
    {0, "name", 1043, 24},
    {0, "mood", 16390, -1}};

static void relation(uint32_t oid, char ident, uint32_t ncols)
{
	ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_RELATION};
	m.u.relation = (ferry_pgoutput_relation){oid, "public", "users", ident,
	                                         ncols, users_cols};
	xlog(&m);
}

static void datatype(void)
{
	ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_TYPE};
	m.u.datatype = (ferry_pgoutput_datatype){16390, "public", "mood"};
	xlog(&m);
}

static void begin(void)
{
	ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_BEGIN};
	m.u.begin = (ferry_pgoutput_begin){lsn + 0x200, 751234567890123, 731};
	xlog(&m);
}

static void commit(void)
{
	ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_COMMIT};
	m.u.commit = (ferry_pgoutput_commit){0, lsn, lsn + 0x30, 751234567890123};
	xlog(&m);
}

static const ferry_pgoutput_value row_a[] = {
    {FERRY_PGOUTPUT_TEXT, 2, (const uint8_t *)"42"},
    {FERRY_PGOUTPUT_TEXT, 3, (const uint8_t *)"ann"},
    {FERRY_PGOUTPUT_TEXT, 5, (const uint8_t *)"happy"}};
static const ferry_pgoutput_value row_key[] = {
    {FERRY_PGOUTPUT_TEXT, 2, (const uint8_t *)"42"},
    {FERRY_PGOUTPUT_NULL, 0, NULL},
    {FERRY_PGOUTPUT_NULL, 0, NULL}};
static const ferry_pgoutput_value row_b[] = {
    {FERRY_PGOUTPUT_BINARY, 4, (const uint8_t *)"\x00\x00\x00\x2b"},
    {FERRY_PGOUTPUT_UNCHANGED, 0, NULL},
    {FERRY_PGOUTPUT_TEXT, 0, (const uint8_t *)""}};

static void change(ferry_pgoutput_type type, uint32_t relid, char old_kind,
                   const ferry_pgoutput_value *old_vals,
                   const ferry_pgoutput_value *new_vals, uint32_t ncols)
{
	ferry_pgoutput_tuple o = {ncols, old_vals}, n = {ncols, new_vals};
	ferry_pgoutput_msg m = {.type = type};
	m.u.change = (ferry_pgoutput_change){relid, old_kind,
	                                     old_kind ? &o : NULL,
	                                     new_vals ? &n : NULL};
	xlog(&m);
}

static void truncate_rels(const uint32_t *relids, uint32_t n, uint8_t options)
{
	ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_TRUNCATE};
	m.u.truncate = (ferry_pgoutput_truncate){options, n, relids};
	xlog(&m);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	int rc = 0;
	static const uint32_t two[] = {16384, 16385};

	keepalive(false);
	keepalive(true);
	rc |= write_seed(dir, "hand-keepalives");

	keepalive(false);
	datatype();
	relation(16384, 'd', 3);
	begin();
	change(FERRY_PGOUTPUT_INSERT, 16384, 0, NULL, row_a, 3);
	commit();
	rc |= write_seed(dir, "hand-insert");

	relation(16384, 'd', 3);
	begin();
	change(FERRY_PGOUTPUT_UPDATE, 16384, 0, NULL, row_b, 3);
	change(FERRY_PGOUTPUT_UPDATE, 16384, 'K', row_key, row_a, 3);
	change(FERRY_PGOUTPUT_DELETE, 16384, 'K', row_key, NULL, 3);
	commit();
	rc |= write_seed(dir, "hand-update-delete-key");

	relation(16384, 'f', 3);
	begin();
	change(FERRY_PGOUTPUT_UPDATE, 16384, 'O', row_a, row_a, 3);
	change(FERRY_PGOUTPUT_DELETE, 16384, 'O', row_a, NULL, 3);
	commit();
	rc |= write_seed(dir, "hand-identity-full");

	relation(16384, 'd', 3);
	relation(16385, 'n', 0);
	begin();
	change(FERRY_PGOUTPUT_INSERT, 16385, 0, NULL, row_a, 0);
	truncate_rels(two, 2, FERRY_PGOUTPUT_TRUNCATE_CASCADE |
	                          FERRY_PGOUTPUT_TRUNCATE_RESTART_IDENTITY);
	commit();
	rc |= write_seed(dir, "hand-truncate-zero-columns");

	{
		ferry_pgoutput_msg m = {.type = FERRY_PGOUTPUT_ORIGIN};
		m.u.origin = (ferry_pgoutput_origin){0xABCDEF, "upstream"};
		begin();
		xlog(&m);
		m = (ferry_pgoutput_msg){.type = FERRY_PGOUTPUT_MESSAGE};
		m.u.message = (ferry_pgoutput_logical_message){
		    FERRY_PGOUTPUT_MESSAGE_TRANSACTIONAL, lsn, "ferry", 11,
		    (const uint8_t *)"hello\0world"};
		xlog(&m);
		commit();
		m.u.message = (ferry_pgoutput_logical_message){0, lsn, "", 0,
		                                               (const uint8_t *)""};
		xlog(&m);
	}
	rc |= write_seed(dir, "hand-origin-messages");

	/* a new shape replaces the old one, then a change of the new shape */
	relation(16384, 'd', 1);
	relation(16384, 'i', 3);
	change(FERRY_PGOUTPUT_INSERT, 16384, 0, NULL, row_b, 3);
	rc |= write_seed(dir, "hand-relation-replaced");

	/* refused by the cache check: wrong count, unknown relid, 'u' */
	relation(16384, 'd', 2);
	change(FERRY_PGOUTPUT_INSERT, 16384, 0, NULL, row_a, 3);
	change(FERRY_PGOUTPUT_INSERT, 99, 0, NULL, row_a, 3);
	relation(16384, 'd', 3);
	change(FERRY_PGOUTPUT_INSERT, 16384, 0, NULL, row_b, 3);
	rc |= write_seed(dir, "hand-check-refusals");

	/* refused by the decoders */
	xlog_raw((const uint8_t *)"S\0\0\0\1\1", 6);     /* stream start */
	xlog_raw((const uint8_t *)"Z", 1);               /* unknown type */
	xlog_raw((const uint8_t *)"I\0\0\x40\0N\0\1t", 9); /* truncated */
	xlog_raw((const uint8_t *)"Y\0\0\x40\6p\0t\0\0", 10); /* trailing */
	payload((const uint8_t *)"w\0\0", 3);              /* short header */
	payload((const uint8_t *)"q", 1);                  /* unknown kind */
	rc |= write_seed(dir, "hand-refusals");

	ferry_buf_free(&seed);
	return rc ? 1 : 0;
}
