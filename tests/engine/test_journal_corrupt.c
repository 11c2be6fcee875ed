/*
 * Corruption tests for engine/journal: a journal of several frames is
 * damaged behind its back, through the LMDB API, and must report the
 * damage as FERRY_ECORRUPT naming the journal path and the frame's LSN
 * range, after returning every change before the damaged frame and
 * nothing of it or past it.
 *
 * Damage: every byte of one stored frame flipped, one at a time (xor
 * 0xff, then xor 0x01); a frame deleted from the middle (a gap) and at the
 * end; the frame truncated; the frame stored under a wrong first-LSN key
 * (as is, and with its header rewritten to match the key and a valid
 * checksum, so only the key's place in the log gives it away).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/alloc.h"
#include "engine/journal.h"
#include "tests/tap.h"

/* docs/journal-format.md, "Frame" */
#define FRAME_HEADER_SIZE 40

/* ------------------------------------------------------------------ */
/* The change of each LSN (a pure function of it)                      */

#define NCOLS 6

typedef struct det_change {
	ferry_change c;
	ferry_value before_v[NCOLS];
	ferry_value after_v[NCOLS];
	char table[8];
	uint8_t pos[8];
	char text[400];
} det_change;

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void det_make(det_change *d, uint64_t lsn)
{
	uint64_t h = mix64(lsn);
	ferry_change *c = &d->c;
	memset(c, 0, sizeof *c);
	snprintf(d->table, sizeof d->table, "t%u", (unsigned)(lsn % 3));
	for (int i = 0; i < 8; i++)
		d->pos[i] = (uint8_t)(lsn >> (8 * i));
	size_t tlen = 20 + h % 300;
	uint64_t x = h | 1;
	for (size_t i = 0; i < tlen; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		d->text[i] = (char)('a' + (x >> 60));
	}
	c->op = lsn % 4 == 0 ? FERRY_OP_UPDATE : FERRY_OP_INSERT;
	c->has_after = true;
	c->has_before = c->op == FERRY_OP_UPDATE;
	c->table = d->table;
	c->schema_version = 1;
	c->txid = lsn / 3;
	c->commit_time = INT64_C(1700000000000000) + (int64_t)lsn;
	c->position = d->pos;
	c->position_len = sizeof d->pos;
	ferry_value *a = d->after_v;
	a[0] = ferry_value_int((int64_t)lsn);
	a[1] = ferry_value_bytes(FERRY_TEXT, d->text, tlen);
	a[2] = ferry_value_float((double)lsn / 7.0);
	a[3] = lsn % 5 ? ferry_value_null() : ferry_value_bool(true);
	a[4] = ferry_value_bytes(FERRY_NUMERIC, "19.90", 5);
	a[5] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, c->commit_time);
	memcpy(d->before_v, d->after_v, sizeof d->before_v);
	d->before_v[1] = ferry_value_bytes(FERRY_TEXT, d->text, tlen / 3);
	c->after.values = d->after_v;
	c->after.ncols = c->after.cap = NCOLS;
	if (c->has_before) {
		c->before.values = d->before_v;
		c->before.ncols = c->before.cap = NCOLS;
	}
}

static int rows_same(const ferry_row *a, const ferry_row *b)
{
	if (a->ncols != b->ncols)
		return 0;
	for (uint32_t i = 0; i < a->ncols; i++)
		if (!ferry_value_identical(&a->values[i], &b->values[i]))
			return 0;
	return 1;
}

static int change_same(const ferry_change *g, const ferry_change *w)
{
	return g->op == w->op && g->has_before == w->has_before &&
	       g->has_after == w->has_after && g->table && strcmp(g->table, w->table) == 0 &&
	       g->schema_version == w->schema_version && g->txid == w->txid &&
	       g->commit_time == w->commit_time && g->position_len == w->position_len &&
	       memcmp(g->position, w->position, w->position_len) == 0 &&
	       (!w->has_before || rows_same(&g->before, &w->before)) &&
	       (!w->has_after || rows_same(&g->after, &w->after));
}

/* ------------------------------------------------------------------ */
/* Direct LMDB access to the frames                                    */

static char jdir[4200];

typedef struct raw_frame {
	uint64_t key;
	uint8_t *bytes;
	size_t len;
	uint32_t count;
} raw_frame;

static raw_frame frames[256];
static unsigned nframes;

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct lmdb_h {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
} lmdb_h;

/* Opens the journal's env and a write (or read) txn on "frames". */
static int lmdb_begin(lmdb_h *h, bool write)
{
	memset(h, 0, sizeof *h);
	int rc = mdb_env_create(&h->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(h->env, 16);
	if (rc == 0)
		rc = mdb_env_open(h->env, jdir, MDB_NOSYNC | (write ? 0 : MDB_RDONLY), 0600);
	if (rc == 0)
		rc = mdb_txn_begin(h->env, NULL, write ? 0 : MDB_RDONLY, &h->txn);
	if (rc == 0)
		rc = mdb_dbi_open(h->txn, "frames", 0, &h->dbi);
	if (rc != 0) {
		tap_diag("lmdb: %s", mdb_strerror(rc));
		if (h->txn)
			mdb_txn_abort(h->txn);
		if (h->env)
			mdb_env_close(h->env);
		memset(h, 0, sizeof *h);
	}
	return rc;
}

static int lmdb_end(lmdb_h *h, bool commit)
{
	int rc = 0;
	if (commit)
		rc = mdb_txn_commit(h->txn);
	else
		mdb_txn_abort(h->txn);
	mdb_env_close(h->env);
	if (rc)
		tap_diag("lmdb commit: %s", mdb_strerror(rc));
	return rc;
}

static int frame_put(lmdb_h *h, uint64_t key, const void *bytes, size_t len)
{
	uint8_t k[8];
	be64(k, key);
	MDB_val mk = { sizeof k, k }, mv = { len, (void *)bytes };
	int rc = mdb_put(h->txn, h->dbi, &mk, &mv, 0);
	if (rc)
		tap_diag("mdb_put: %s", mdb_strerror(rc));
	return rc;
}

static int frame_del(lmdb_h *h, uint64_t key)
{
	uint8_t k[8];
	be64(k, key);
	MDB_val mk = { sizeof k, k };
	int rc = mdb_del(h->txn, h->dbi, &mk, NULL);
	if (rc)
		tap_diag("mdb_del: %s", mdb_strerror(rc));
	return rc;
}

/* One damaging operation: write bytes under key (NULL: delete key), and
 * delete del_key too when it is not 0. */
static int damage(uint64_t key, const void *bytes, size_t len, uint64_t del_key)
{
	lmdb_h h;
	if (lmdb_begin(&h, true))
		return -1;
	int rc = 0;
	if (del_key)
		rc = frame_del(&h, del_key);
	if (rc == 0 && bytes)
		rc = frame_put(&h, key, bytes, len);
	else if (rc == 0 && !del_key)
		rc = frame_del(&h, key);
	if (rc) {
		lmdb_end(&h, false);
		return -1;
	}
	return lmdb_end(&h, true);
}

static int load_frames(void)
{
	lmdb_h h;
	if (lmdb_begin(&h, false))
		return -1;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(h.txn, h.dbi, &cur);
	MDB_val k, v;
	nframes = 0;
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (nframes == sizeof frames / sizeof *frames || k.mv_size != 8 ||
		    v.mv_size < FRAME_HEADER_SIZE)
			break;
		raw_frame *f = &frames[nframes++];
		f->key = get_be64(k.mv_data);
		f->len = v.mv_size;
		f->bytes = malloc(v.mv_size);
		memcpy(f->bytes, v.mv_data, v.mv_size);
		f->count = get_le32(f->bytes + 12);
	}
	mdb_cursor_close(cur);
	lmdb_end(&h, false);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

/* Sets the header's first LSN and recomputes the checksum, so the frame
 * is valid in itself. */
static void rewrite_first_lsn(uint8_t *f, size_t len, uint64_t first)
{
	put_le64(f + 16, first);
	XXH64_state_t *st = XXH64_createState();
	XXH64_reset(st, 0);
	XXH64_update(st, f, 32);
	XXH64_update(st, f + 40, len - 40);
	put_le64(f + 32, XXH64_digest(st));
	XXH64_freeState(st);
}

/* ------------------------------------------------------------------ */
/* Reading through the journal                                         */

typedef struct read_result {
	int rc;               /* of the call that ended the iteration */
	uint64_t returned;    /* changes returned */
	uint64_t first, last; /* LSNs of the first and last returned */
	bool in_order;        /* contiguous from `from`, each as written */
	char msg[600];
} read_result;

static det_change want;

/* Opens the journal, iterates from `from` to the end or the first error. */
static void read_journal(uint64_t from, read_result *r)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal *j = NULL;
	memset(r, 0, sizeof *r);
	r->in_order = true;
	r->rc = ferry_journal_open(&j, jdir, NULL, &err);
	if (r->rc < 0) {
		snprintf(r->msg, sizeof r->msg, "open: %s", ferry_error_message(&err));
		ferry_error_clear(&err);
		return;
	}
	ferry_journal_iter *it = NULL;
	r->rc = ferry_journal_iter_open(&it, j, from, &err);
	if (r->rc < 0) {
		snprintf(r->msg, sizeof r->msg, "%s", ferry_error_message(&err));
	} else {
		for (;;) {
			const ferry_change *c;
			uint64_t lsn;
			r->rc = ferry_journal_iter_next(it, &c, &lsn, &err);
			if (r->rc <= 0)
				break;
			if (r->returned == 0)
				r->first = lsn;
			if (lsn != from + r->returned)
				r->in_order = false;
			r->returned++;
			r->last = lsn;
			det_make(&want, lsn);
			if (!change_same(c, &want.c))
				r->in_order = false;
		}
		if (r->rc < 0)
			snprintf(r->msg, sizeof r->msg, "%s", ferry_error_message(&err));
	}
	ferry_journal_iter_close(it);
	ferry_journal_close(j);
	ferry_error_clear(&err);
}

/* The damage is reported as it must be: changes from..a-1 returned, then
 * FERRY_ECORRUPT naming the journal and "LSN a..b" (b = 0: any range). */
static bool reported(const read_result *r, uint64_t from, uint64_t a, uint64_t b,
                     char *why, size_t whylen)
{
	char range[64];
	snprintf(range, sizeof range, "LSN %llu..%llu", (unsigned long long)a,
	         (unsigned long long)b);
	uint64_t want_n = a > from ? a - from : 0;
	if (r->rc != FERRY_ECORRUPT)
		snprintf(why, whylen, "rc %d (want FERRY_ECORRUPT) after %llu changes: %s", r->rc,
		         (unsigned long long)r->returned, r->msg);
	else if (r->returned != want_n || !r->in_order)
		snprintf(why, whylen, "%llu changes returned (want %llu)%s: %s",
		         (unsigned long long)r->returned, (unsigned long long)want_n,
		         r->in_order ? "" : ", not in order or not as written", r->msg);
	else if (!strstr(r->msg, jdir))
		snprintf(why, whylen, "message does not name the journal: %s", r->msg);
	else if (b && !strstr(r->msg, range))
		snprintf(why, whylen, "message does not say %s: %s", range, r->msg);
	else if (!b && !strstr(r->msg, "LSN "))
		snprintf(why, whylen, "message does not name the LSNs: %s", r->msg);
	else
		return true;
	return false;
}

#define TOTAL 3000

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/ferry-jcorrupt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	char *base = mkdtemp(tmpl);
	if (!ok(base != NULL, "scratch directory"))
		return tap_done();
	snprintf(jdir, sizeof jdir, "%s/journal", base);

	/* Build: 3000 changes in commits of varying size, small frames. */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal *j = NULL;
	ferry_journal_options opts;
	memset(&opts, 0, sizeof opts);
	opts.no_sync = true;
	opts.frame_bytes = 16 * 1024;
	int rc = ferry_journal_open(&j, jdir, &opts, &err);
	static const unsigned commits[] = { 400, 700, 60, 900, 1, 500, 439 };
	uint64_t lsn = 0, n = 0;
	for (unsigned ci = 0; rc == 0 && ci < sizeof commits / sizeof *commits; ci++) {
		for (unsigned i = 0; rc == 0 && i < commits[ci]; i++) {
			det_make(&want, n + 1);
			rc = ferry_journal_append(j, &want.c, &lsn, &err);
			n++;
		}
		uint8_t cur[8];
		put_le64(cur, n);
		if (rc == 0)
			rc = ferry_journal_commit(j, cur, sizeof cur, &err);
	}
	if (!ok(rc == 0 && n == TOTAL && ferry_journal_last_lsn(j) == TOTAL,
	        "built a journal of %d changes", TOTAL)) {
		tap_diag("%s", ferry_error_message(&err));
		ferry_journal_close(j);
		return tap_done();
	}
	ferry_journal_close(j);
	ferry_error_clear(&err);

	rc = load_frames();
	if (!ok(rc == 0 && nframes >= 6, "read %u frames through LMDB", nframes))
		return tap_done();
	bool keys_ok = true;
	for (unsigned i = 0; i < nframes; i++) {
		uint64_t next = i + 1 < nframes ? frames[i + 1].key : TOTAL + 1;
		if (frames[i].count == 0 || frames[i].key + frames[i].count != next)
			keys_ok = false;
	}
	ok(keys_ok && frames[0].key == 1, "frames are keyed by first LSN, contiguous");

	read_result r;
	read_journal(1, &r);
	ok(r.rc == 0 && r.returned == TOTAL && r.in_order, "the intact journal reads back");

	/* The frame to damage: a middle one, with frames before and after. */
	unsigned ti = 2;
	for (unsigned i = 2; i + 2 < nframes; i++)
		if (frames[i].count > 1 && frames[i].len < 4000) {
			ti = i;
			break;
		}
	raw_frame *t = &frames[ti];
	uint64_t a = t->key, b = t->key + t->count - 1;
	tap_diag("damaging frame %u: LSN %llu..%llu, %zu bytes stored (codec %u)", ti,
	         (unsigned long long)a, (unsigned long long)b, t->len, t->bytes[5]);
	uint8_t *copy = malloc(t->len + 16);
	char why[800];

	/* Every byte flipped, one at a time. */
	static const uint8_t xors[] = { 0xff, 0x01 };
	for (unsigned x = 0; x < sizeof xors; x++) {
		unsigned bad = 0, first_bad = 0;
		char first_why[1024] = "";
		for (size_t i = 0; i < t->len; i++) {
			memcpy(copy, t->bytes, t->len);
			copy[i] ^= xors[x];
			if (damage(a, copy, t->len, 0)) {
				bad++;
				break;
			}
			read_journal(1, &r);
			if (!reported(&r, 1, a, b, why, sizeof why)) {
				if (!bad++) {
					first_bad = (unsigned)i;
					snprintf(first_why, sizeof first_why, "%s", why);
				} else if (bad <= 8) {
					tap_diag("  also byte %zu: %s", i, why);
				}
			}
			/* reading from inside the frame fails too, past it works */
			if (i % 97 == 0 || i < 40) {
				read_journal(a + t->count / 2, &r);
				if (!reported(&r, a + t->count / 2, a, b, why, sizeof why) && !bad++) {
					first_bad = (unsigned)i;
					snprintf(first_why, sizeof first_why, "from the middle: %s", why);
				}
				read_journal(b + 1, &r);
				if (!(r.rc == 0 && r.returned == TOTAL - b && r.in_order) && !bad++) {
					first_bad = (unsigned)i;
					snprintf(first_why, sizeof first_why,
					         "from past it: rc %d, %llu changes: %s", r.rc,
					         (unsigned long long)r.returned, r.msg);
				}
			}
		}
		if (!ok(bad == 0,
		        "each of the %zu bytes of the frame xor 0x%02x: changes before it, then "
		        "FERRY_ECORRUPT naming the journal and LSN %llu..%llu",
		        t->len, xors[x], (unsigned long long)a, (unsigned long long)b))
			tap_diag("%u bytes misreported; first, byte %u: %s", bad, first_bad,
			         first_why);
	}
	ok(damage(a, t->bytes, t->len, 0) == 0, "original frame restored");
	read_journal(1, &r);
	ok(r.rc == 0 && r.returned == TOTAL && r.in_order, "the restored journal reads back");

	/* Truncated. */
	static const size_t cuts[] = { 1, 8, 100 };
	size_t keep[8];
	unsigned nkeep = 0;
	for (unsigned c = 0; c < sizeof cuts / sizeof *cuts; c++)
		if (t->len > FRAME_HEADER_SIZE + cuts[c])
			keep[nkeep++] = t->len - cuts[c];
	keep[nkeep++] = FRAME_HEADER_SIZE;
	keep[nkeep++] = FRAME_HEADER_SIZE - 1;
	keep[nkeep++] = 10;
	keep[nkeep++] = 0;
	for (unsigned c = 0; c < nkeep; c++) {
		damage(a, t->bytes, keep[c], 0);
		read_journal(1, &r);
		if (!ok(reported(&r, 1, a, b, why, sizeof why),
		        "frame truncated to %zu of %zu bytes: FERRY_ECORRUPT, LSN %llu..%llu",
		        keep[c], t->len, (unsigned long long)a, (unsigned long long)b))
			tap_diag("%s", why);
	}
	/* one byte too many */
	memcpy(copy, t->bytes, t->len);
	copy[t->len] = 0;
	damage(a, copy, t->len + 1, 0);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, a, b, why, sizeof why),
	        "frame with a trailing byte: FERRY_ECORRUPT, LSN %llu..%llu",
	        (unsigned long long)a, (unsigned long long)b))
		tap_diag("%s", why);
	damage(a, t->bytes, t->len, 0);

	/* A gap: the frame deleted from the middle. */
	damage(a, NULL, 0, 0);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, a, 0, why, sizeof why),
	        "frame %llu..%llu deleted: the gap is FERRY_ECORRUPT after LSN %llu",
	        (unsigned long long)a, (unsigned long long)b, (unsigned long long)(a - 1)))
		tap_diag("%s", why);
	else
		tap_diag("%s", r.msg);
	read_journal(a, &r);
	if (!ok(r.rc == FERRY_ECORRUPT && r.returned == 0 && strstr(r.msg, jdir),
	        "reading from the missing LSN %llu: FERRY_ECORRUPT", (unsigned long long)a))
		tap_diag("rc %d, %llu changes: %s", r.rc, (unsigned long long)r.returned, r.msg);
	damage(a, t->bytes, t->len, 0);

	/* The last frame deleted: the journal says more was committed. */
	raw_frame *lf = &frames[nframes - 1];
	damage(lf->key, NULL, 0, 0);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, lf->key, 0, why, sizeof why),
	        "the last frame (%llu..%d) deleted: FERRY_ECORRUPT, not a silent end",
	        (unsigned long long)lf->key, TOTAL))
		tap_diag("%s", why);
	damage(lf->key, lf->bytes, lf->len, 0);

	/* Wrong first-LSN key. */
	damage(a + 1, t->bytes, t->len, a);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, a, 0, why, sizeof why),
	        "frame %llu..%llu stored under key %llu: FERRY_ECORRUPT",
	        (unsigned long long)a, (unsigned long long)b, (unsigned long long)(a + 1)))
		tap_diag("%s", why);
	damage(a, t->bytes, t->len, a + 1);

	memcpy(copy, t->bytes, t->len);
	rewrite_first_lsn(copy, t->len, a + 1);
	damage(a, copy, t->len, 0);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, a, 0, why, sizeof why),
	        "key %llu, header (valid checksum) says first LSN %llu: FERRY_ECORRUPT",
	        (unsigned long long)a, (unsigned long long)(a + 1)))
		tap_diag("%s", why);

	damage(a + 1, copy, t->len, a);
	read_journal(1, &r);
	if (!ok(reported(&r, 1, a, 0, why, sizeof why),
	        "frame moved to key %llu with a consistent header (a gap at %llu): "
	        "FERRY_ECORRUPT",
	        (unsigned long long)(a + 1), (unsigned long long)a))
		tap_diag("%s", why);
	damage(a, t->bytes, t->len, a + 1);

	if (frames[ti - 1].count < 2) {
		ok(1, "# SKIP the frame before has one change: no overlap possible");
		goto done;
	}
	memcpy(copy, t->bytes, t->len);
	rewrite_first_lsn(copy, t->len, a - 1);
	damage(a - 1, copy, t->len, a);
	read_journal(1, &r);
	/* the frame before now overlaps: the damage shows at LSN a-1 or before */
	if (!ok(r.rc == FERRY_ECORRUPT && r.returned < a && r.in_order && strstr(r.msg, jdir),
	        "frame moved to key %llu, overlapping the one before: FERRY_ECORRUPT",
	        (unsigned long long)(a - 1)))
		tap_diag("rc %d, %llu changes%s: %s", r.rc, (unsigned long long)r.returned,
		         r.in_order ? "" : " (not as written)", r.msg);
	else
		tap_diag("%s", r.msg);
	damage(a, t->bytes, t->len, a - 1);

done:
	read_journal(1, &r);
	ok(r.rc == 0 && r.returned == TOTAL && r.in_order,
	   "restored once more, the journal reads back whole");

	free(copy);
	for (unsigned i = 0; i < nframes; i++)
		free(frames[i].bytes);
	if (!tap_failed_) {
		char cmd[8400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", base);
	} else {
		tap_diag("journal kept for inspection: %s", jdir);
	}
	return tap_done();
}
