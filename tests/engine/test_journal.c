/*
 * Unit tests for engine/journal: group commit and read back across frame
 * and transaction boundaries, reopening, iterating from every LSN,
 * following a live journal (in this process and another), cursors,
 * retention, map growth, dictionaries, format refusal, schemas, stat
 * figures, failed commits, and every allocation failing in turn.
 *
 * Each change is a pure function of its LSN (gen_make), so any read can
 * be checked bit for bit without keeping what was written.
 */
#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/frame.h" /* FERRY_FRAME_MAX_PAYLOAD */
#include "engine/journal.h"
#include "tests/tap.h"

#define BASE_TIME INT64_C(1700000000000000) /* 2023-11-14, microseconds */
#define NCOLS 12

/* ------------------------------------------------------------------ */
/* Changes of realistic shape, a pure function of the LSN               */

typedef struct gen {
	ferry_change c;
	ferry_value before[NCOLS];
	ferry_value after[NCOLS];
	uint8_t pos[12];
	char text[700];
	uint8_t blob[80];
	char json[200];
	char num[48];
	char ddl[120];
} gen;

static uint64_t gen_seed = 1;
static bool gen_noise; /* text of random letters: barely compressible */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static const char *const vocab[] = {
	"order",  "shipped", "pending", "customer", "Lisbon",  "Zürich",
	"widget", "refund",  "paid",    "express",  "東京",    "priority",
	"note:",  "gift",    "return",  "warehouse", "invoice", "🚀"};

static size_t gen_text(char *out, uint64_t *x, size_t max)
{
	size_t n = 0, want = (size_t)(mix64(*x) % max);
	while (n < want) {
		*x = mix64(*x);
		if (gen_noise) {
			out[n++] = (char)('!' + *x % 90);
			continue;
		}
		const char *w = vocab[*x % (sizeof vocab / sizeof *vocab)];
		size_t wl = strlen(w);
		if (n + wl + 1 > max)
			break;
		memcpy(out + n, w, wl);
		n += wl;
		out[n++] = ' ';
	}
	return n;
}

/* The after-image of a row of public.orders: every value type. */
static void gen_row(gen *g, ferry_value *v, uint64_t lsn, uint64_t h)
{
	uint64_t x = h;
	size_t tl = gen_text(g->text, &x, gen_noise ? 680 : 300);
	size_t bl = (size_t)(h >> 8) % sizeof g->blob;
	for (size_t i = 0; i < bl; i++)
		g->blob[i] = (uint8_t)(mix64(h + i) >> 3);
	int nl = snprintf(g->num, sizeof g->num, "%s%llu.%02u",
	                  h & 1 ? "-" : "", (unsigned long long)(h % 100000),
	                  (unsigned)(h >> 40) % 100);
	int jl = snprintf(g->json, sizeof g->json,
	                  "{\"id\": %llu, \"tags\": [\"a\", \"b\"], \"ok\": %s}",
	                  (unsigned long long)lsn, h & 2 ? "true" : "false");
	static const double floats[] = {0.1, -0.0, 1e300, 4.9e-324};
	uint8_t uuid[16];
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(h >> (i * 4));
	v[0] = ferry_value_int((int64_t)lsn);
	v[1] = h % 17 == 0   ? ferry_value_float(NAN)
	       : h % 13 == 0 ? ferry_value_float(floats[h % 4])
	                     : ferry_value_float((double)(h % 100000) / 7.0);
	v[2] = ferry_value_bytes(FERRY_NUMERIC, g->num, (size_t)nl);
	v[3] = ferry_value_bytes(FERRY_TEXT, g->text, tl);
	v[4] = ferry_value_bytes(FERRY_BLOB, g->blob, bl);
	v[5] = ferry_value_bool(h & 4);
	v[6] = ferry_value_date(h % 11 == 0 ? FERRY_DATE_PINF
	                                    : (int32_t)(19000 + h % 3000));
	v[7] = ferry_value_timestamp(FERRY_TIMESTAMP,
	                             BASE_TIME + (int64_t)(h % 1000000));
	v[8] = ferry_value_timestamp(FERRY_TIMESTAMPTZ,
	                             h % 19 == 0 ? FERRY_TS_NINF : BASE_TIME);
	v[9] = ferry_value_bytes(FERRY_JSON, g->json, (size_t)jl);
	v[10] = ferry_value_uuid(uuid);
	v[11] = h & 8 ? ferry_value_null() : ferry_value_int(-(int64_t)(h >> 2));
}

static void gen_make(gen *g, uint64_t lsn)
{
	uint64_t h = mix64(lsn ^ mix64(gen_seed));
	ferry_change *c = &g->c;
	memset(c, 0, sizeof *c);
	unsigned r = (unsigned)(h % 20);
	c->op = r < 11 ? FERRY_OP_INSERT
	        : r < 16 ? FERRY_OP_UPDATE
	        : r < 18 ? FERRY_OP_DELETE
	        : r < 19 ? FERRY_OP_TRUNCATE
	                 : FERRY_OP_DDL;
	c->table = (h >> 5) % 3 == 0   ? "public.orders"
	           : (h >> 5) % 3 == 1 ? "public.users"
	                               : "Sales.\"Line Items\"";
	c->schema_version = 1 + (unsigned)((h >> 12) % 3);
	c->txid = lsn / 5 + 1000;
	c->commit_time = BASE_TIME + (int64_t)lsn * 1000;
	for (int i = 0; i < 8; i++)
		g->pos[i] = (uint8_t)(lsn >> (8 * i));
	memcpy(g->pos + 8, "wal!", 4);
	c->position = g->pos;
	c->position_len = sizeof g->pos;
	if (c->op == FERRY_OP_DDL) {
		int n = snprintf(g->ddl, sizeof g->ddl,
		                 "ALTER TABLE %s ADD COLUMN c%llu integer", c->table,
		                 (unsigned long long)lsn);
		g->after[0] = ferry_value_bytes(FERRY_TEXT, g->ddl, (size_t)n);
		c->has_after = true;
		c->after.values = g->after;
		c->after.ncols = c->after.cap = 1;
		return;
	}
	if (c->op == FERRY_OP_TRUNCATE)
		return;
	gen_row(g, g->after, lsn, h);
	uint32_t ncols = 6 + (uint32_t)(h % 7);
	c->has_after = c->op != FERRY_OP_DELETE;
	c->has_before = c->op == FERRY_OP_DELETE ||
	                (c->op == FERRY_OP_UPDATE && (h >> 9) & 1);
	if (c->has_before) {
		memcpy(g->before, g->after, sizeof g->before);
		g->before[5] = ferry_value_bool(!(h & 4));
		g->before[3] = ferry_value_bytes(FERRY_TEXT, g->text,
		                                 g->after[3].u.s.len / 2);
		c->before.values = g->before;
		c->before.ncols = c->before.cap = ncols;
	}
	if (c->has_after) {
		c->after.values = g->after;
		c->after.ncols = c->after.cap = ncols;
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

static int changes_same(const ferry_change *g, const ferry_change *w)
{
	return g->op == w->op && g->has_before == w->has_before &&
	       g->has_after == w->has_after && g->table &&
	       strcmp(g->table, w->table) == 0 &&
	       g->schema_version == w->schema_version && g->txid == w->txid &&
	       g->commit_time == w->commit_time &&
	       g->position_len == w->position_len &&
	       memcmp(g->position, w->position, w->position_len) == 0 &&
	       (!w->has_before || rows_same(&g->before, &w->before)) &&
	       (!w->has_after || rows_same(&g->after, &w->after));
}

/* The encoded size of the change of lsn: what stat's raw_bytes sums. */
static size_t gen_size(uint64_t lsn)
{
	gen g;
	ferry_buf b = FERRY_BUF_INIT;
	gen_make(&g, lsn);
	ferry_change_encode(&g.c, &b, NULL);
	size_t n = b.len;
	ferry_buf_free(&b);
	return n;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static char base_dir[512];
static int dir_seq;

static void new_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s-%d", base_dir, name, dir_seq++);
}

static void remove_journal(const char *dir)
{
	char path[700];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

static ferry_journal_options options(size_t frame_bytes)
{
	ferry_journal_options o;
	memset(&o, 0, sizeof o);
	o.no_sync = true; /* tests do not need the fsync */
	o.frame_bytes = frame_bytes;
	return o;
}

static ferry_journal *open_or_diag(const char *dir,
                                   const ferry_journal_options *o)
{
	ferry_journal *j = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_journal_open(&j, dir, o, &err) < 0) {
		tap_diag("open %s: %s", dir, ferry_error_message(&err));
		j = NULL;
	}
	ferry_error_clear(&err);
	return j;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Appends the changes of LSNs next..next+n-1 and commits them with the
 * capture cursor set to the last LSN.  0, or the failing call's code. */
static int append_commit(ferry_journal *j, uint64_t next, uint64_t n,
                         ferry_error *err)
{
	gen g;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lsn = 0;
		gen_make(&g, next + i);
		int rc = ferry_journal_append(j, &g.c, &lsn, err);
		if (rc < 0)
			return rc;
		if (lsn != next + i) {
			tap_diag("append gave LSN %llu, want %llu",
			         (unsigned long long)lsn, (unsigned long long)(next + i));
			return FERRY_ERROR;
		}
	}
	uint8_t cur[8];
	put_le64(cur, next + n - 1);
	return ferry_journal_commit(j, cur, sizeof cur, err);
}

/* As append_commit, but an append that fails short of memory is tried
 * once more (injected failures are one-shot), so that a commit never
 * sees a gap; the commit's own failure is returned. */
static int append_commit_retry(ferry_journal *j, uint64_t next, uint64_t n,
                               ferry_error *err)
{
	gen g;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lsn = 0;
		gen_make(&g, next + i);
		int rc = ferry_journal_append(j, &g.c, &lsn, err);
		if (rc == FERRY_ENOMEM)
			rc = ferry_journal_append(j, &g.c, &lsn, err);
		if (rc < 0)
			return rc;
		if (lsn != next + i)
			return FERRY_ERROR;
	}
	return ferry_journal_commit(j, NULL, 0, err);
}

/*
 * Iterates from `from` and expects exactly LSNs first..last, each as made,
 * then the end (0).  max limits how many are read (0: all).  Returns 1
 * when all is as expected, else 0 with a diagnostic.
 */
static int read_expect(ferry_journal *j, uint64_t from, uint64_t first,
                       uint64_t last, uint64_t max)
{
	ferry_journal_iter *it = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	gen g;
	int good = 1;
	uint64_t want = first, n = 0;
	int rc = ferry_journal_iter_open(&it, j, from, &err);
	while (rc >= 0 && good) {
		const ferry_change *c = NULL;
		uint64_t lsn = 0;
		rc = ferry_journal_iter_next(it, &c, &lsn, &err);
		if (rc <= 0)
			break;
		gen_make(&g, want);
		if (lsn != want || !changes_same(c, &g.c)) {
			tap_diag("from %llu: got LSN %llu (%s), want %llu",
			         (unsigned long long)from, (unsigned long long)lsn,
			         lsn == want ? "different change" : "out of order",
			         (unsigned long long)want);
			good = 0;
		}
		want++;
		if (max && ++n == max)
			break;
	}
	if (rc < 0) {
		tap_diag("from %llu: rc %d: %s", (unsigned long long)from, rc,
		         ferry_error_message(&err));
		good = 0;
	} else if (good && !max && want != last + 1) {
		tap_diag("from %llu: ended before %llu, want through %llu",
		         (unsigned long long)from, (unsigned long long)want,
		         (unsigned long long)last);
		good = 0;
	}
	ferry_journal_iter_close(it);
	ferry_error_clear(&err);
	return good;
}

/* Frames as stored, read through LMDB itself (the journal closed). */
typedef struct raw_frame {
	uint64_t key;
	uint32_t count;
	uint32_t dict_id;
	uint8_t codec;
	size_t len;
} raw_frame;

static int lmdb_open(const char *dir, MDB_env **env, MDB_txn **txn,
                     MDB_dbi *dbi, const char *db, bool write)
{
	int rc = mdb_env_create(env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(*env, 8);
	if (rc == 0)
		rc = mdb_env_open(*env, dir, write ? 0 : MDB_RDONLY, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, write ? 0 : MDB_RDONLY, txn);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, db, 0, dbi);
	if (rc != 0)
		tap_diag("lmdb %s: %s", dir, mdb_strerror(rc));
	return rc;
}

static size_t list_frames(const char *dir, raw_frame *out, size_t max)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	if (lmdb_open(dir, &env, &txn, &dbi, "frames", false) == 0 &&
	    mdb_cursor_open(txn, dbi, &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		     rc == 0 && n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			const uint8_t *p = v.mv_data, *kp = k.mv_data;
			raw_frame *f = &out[n++];
			f->key = 0;
			for (int i = 0; i < 8; i++)
				f->key = f->key << 8 | kp[i];
			f->codec = p[5];
			f->dict_id = (uint32_t)get_le64(p + 8) & 0xffffffffu;
			f->count = (uint32_t)(get_le64(p + 12) & 0xffffffffu);
			f->len = v.mv_size;
		}
		mdb_cursor_close(cur);
	}
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return n;
}

static int set_meta_format(const char *dir, uint32_t format)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int rc = lmdb_open(dir, &env, &txn, &dbi, "meta", true);
	if (rc == 0) {
		uint8_t v[4] = {(uint8_t)format, (uint8_t)(format >> 8),
		                (uint8_t)(format >> 16), (uint8_t)(format >> 24)};
		MDB_val k = {6, "format"}, val = {4, v};
		rc = mdb_put(txn, dbi, &k, &val, 0);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc;
}


/* Flips one byte of the frame keyed first (the journal closed). */
static int flip_frame_byte(const char *dir, uint64_t first, size_t at)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint8_t key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(first >> (56 - 8 * i));
	MDB_val k = {8, key}, v;
	int rc = lmdb_open(dir, &env, &txn, &dbi, "frames", true);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && at < v.mv_size) {
		uint8_t *copy = malloc(v.mv_size);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[at] ^= 0x10;
		MDB_val nv = {v.mv_size, copy};
		rc = mdb_put(txn, dbi, &k, &nv, 0);
		free(copy);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_empty(void)
{
	char dir[600], path[700];
	ferry_error err = FERRY_ERROR_INIT;
	new_dir(dir, sizeof dir, "empty");
	ferry_journal *j = open_or_diag(dir, NULL);
	if (!ok(j != NULL, "a new journal opens with default options"))
		return;
	struct stat sb;
	int src = stat(dir, &sb);
	ok(src == 0 && (sb.st_mode & 0777) == 0700, "its directory is 0700 (%o)",
	   (unsigned)(sb.st_mode & 0777));
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	src = stat(path, &sb);
	ok(src == 0 && (sb.st_mode & 0077) == 0, "data.mdb is private (%o)",
	   (unsigned)(sb.st_mode & 0777));
	is_int(ferry_journal_last_lsn(j), 0, "an empty journal's last LSN is 0");
	uint8_t *pos = (uint8_t *)"x";
	size_t len = 99;
	ok(ferry_journal_capture_cursor(j, &pos, &len, &err) == 0 && pos == NULL &&
	       len == 0,
	   "no capture cursor before the first commit");
	ferry_journal_stats st;
	ok(ferry_journal_stat(j, &st, &err) == 0 && st.frames == 0 &&
	       st.changes == 0 && st.first_lsn == 0 && st.last_lsn == 0 &&
	       st.dict_id == 0 && st.ncursors == 0 && st.disk_bytes > 0,
	   "stat of an empty journal");
	ok(read_expect(j, 1, 1, 0, 0), "iterating an empty journal ends at once");
	ok(read_expect(j, 0, 1, 0, 0), "so does iterating from the oldest");
	is_int(ferry_journal_commit(j, NULL, 0, &err), 0,
	       "committing nothing is fine");
	is_int(ferry_journal_last_lsn(j), 0, "and changes nothing");
	ferry_journal_close(j);
	ferry_journal_close(NULL);

	ferry_journal_options o = options(0);
	o.frame_bytes = (size_t)FERRY_FRAME_MAX_PAYLOAD + 1;
	is_int(ferry_journal_open(&j, dir, &o, &err), FERRY_EINVAL,
	       "a frame size over the limit is refused");
	o = options(0);
	o.level = 99;
	is_int(ferry_journal_open(&j, dir, &o, &err), FERRY_EINVAL,
	       "a bad zstd level is refused");
	snprintf(path, sizeof path, "%s/not-there/journal", base_dir);
	int rc = ferry_journal_open(&j, path, NULL, &err);
	ok(rc < 0 && strstr(ferry_error_message(&err), path),
	   "a directory that cannot be made: %s", ferry_error_message(&err));
	o = options(0);
	o.read_only = true;
	snprintf(path, sizeof path, "%s/never-made", base_dir);
	is_int(ferry_journal_open(&j, path, &o, &err), FERRY_ENOTFOUND,
	       "read-only open of no journal: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	remove_journal(dir);
}

/* A batch size: small ones often, some large. */
static uint64_t batch_size(uint64_t *x)
{
	*x = mix64(*x);
	unsigned r = (unsigned)(*x % 8);
	return r < 3 ? 1 + *x / 8 % 5 : r < 6 ? 1 + *x / 8 % 150 : 1 + *x / 8 % 1500;
}

#define N_MAIN 6000

static void check_stat(const char *dir, ferry_journal *j, uint64_t n)
{
	static raw_frame frames[4096];
	ferry_journal_stats st;
	ferry_error err = FERRY_ERROR_INIT;
	uint64_t raw = 0, stored = 0;
	for (uint64_t lsn = 1; lsn <= n; lsn++)
		raw += gen_size(lsn);
	ferry_journal_cursor_set(j, "replay", n - 100, &err);
	ferry_journal_cursor_set(j, "verify", 1, &err);
	int rc = ferry_journal_stat(j, &st, &err);
	ferry_journal_close(j);
	size_t nf = list_frames(dir, frames, 4096);
	bool contiguous = nf > 0 && frames[0].key == 1;
	for (size_t i = 0; i < nf; i++) {
		stored += frames[i].len;
		uint64_t next = i + 1 < nf ? frames[i + 1].key : n + 1;
		if (frames[i].key + frames[i].count != next)
			contiguous = false;
	}
	ok(contiguous, "the %zu frames are keyed by first LSN and contiguous", nf);
	ok(rc == 0 && st.frames == nf && st.changes == n && st.first_lsn == 1 &&
	       st.last_lsn == n,
	   "stat: %llu frames, %llu changes, LSN %llu..%llu",
	   (unsigned long long)st.frames, (unsigned long long)st.changes,
	   (unsigned long long)st.first_lsn, (unsigned long long)st.last_lsn);
	ok(st.raw_bytes == raw && st.stored_bytes == stored && stored < raw,
	   "stat: %llu raw bytes (the encoded changes), %llu stored (the frames)",
	   (unsigned long long)st.raw_bytes, (unsigned long long)st.stored_bytes);
	char path[700];
	struct stat sb;
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	ok(stat(path, &sb) == 0 && st.disk_bytes == (uint64_t)sb.st_size,
	   "stat: data.mdb is %llu bytes", (unsigned long long)st.disk_bytes);
	ok(st.ncursors == 2 && strcmp(st.cursors[0].name, "replay") == 0 &&
	       st.cursors[0].lsn == n - 100 && st.cursors[0].behind == 100 &&
	       strcmp(st.cursors[1].name, "verify") == 0 &&
	       st.cursors[1].behind == n - 1 && st.dict_id == 0,
	   "stat: the cursors and how far behind they are");
	ferry_error_clear(&err);
}

static void test_round_trip(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(8 * 1024);
	new_dir(dir, sizeof dir, "main");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	uint64_t next = 1, x = 42, commits = 0;
	int rc = 0;
	bool capture_ok = true;
	while (rc == 0 && next <= N_MAIN) {
		uint64_t n = batch_size(&x);
		if (next + n - 1 > N_MAIN)
			n = N_MAIN - next + 1;
		rc = append_commit(j, next, n, &err);
		next += n;
		commits++;
		uint8_t *pos = NULL;
		size_t len = 0;
		ferry_journal_capture_cursor(j, &pos, &len, &err);
		if (len != 8 || get_le64(pos) != next - 1 ||
		    ferry_journal_last_lsn(j) != next - 1)
			capture_ok = false;
		ferry_free(pos);
	}
	if (!ok(rc == 0, "%d changes appended in %llu commits of 1 to 1500",
	        N_MAIN, (unsigned long long)commits))
		tap_diag("%s", ferry_error_message(&err));
	ok(capture_ok, "after each commit: the capture cursor and last LSN");
	ok(read_expect(j, 1, 1, N_MAIN, 0), "all of them read back from LSN 1");
	ok(read_expect(j, 0, 1, N_MAIN, 0), "and from the oldest (0)");
	ferry_journal_close(j);

	j = open_or_diag(dir, &o);
	if (!j)
		return;
	is_int(ferry_journal_last_lsn(j), N_MAIN, "reopened: the last LSN");
	ok(read_expect(j, 1, 1, N_MAIN, 0), "reopened: all read back");
	int every = 1;
	for (uint64_t from = 1; from <= N_MAIN && every; from++)
		every = read_expect(j, from, from, N_MAIN, from % 500 == 0 ? 0 : 3);
	ok(every, "iterating from each LSN 1..%d gives that LSN on", N_MAIN);
	ok(read_expect(j, N_MAIN + 1, N_MAIN + 1, N_MAIN, 0),
	   "from past the head: the end at once");
	ok(read_expect(j, N_MAIN + 1000, N_MAIN + 1, N_MAIN, 0),
	   "from far past the head: the end at once");
	uint64_t lsn = 0;
	gen g;
	gen_make(&g, N_MAIN + 1);
	ok(ferry_journal_append(j, &g.c, &lsn, &err) == 0 && lsn == N_MAIN + 1,
	   "appending after the reopen continues at LSN %d", N_MAIN + 1);
	ferry_journal_close(j); /* discards it */
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	is_int(ferry_journal_last_lsn(j), N_MAIN,
	       "a change appended but not committed is gone after close");
	ok(ferry_journal_append(j, &g.c, &lsn, &err) == 0 && lsn == N_MAIN + 1,
	   "and its LSN is given again");
	ferry_journal_close(j);
	j = open_or_diag(dir, &o);
	if (j)
		check_stat(dir, j, N_MAIN);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_follow(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(64 * 1024);
	new_dir(dir, sizeof dir, "follow");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	ferry_journal_iter *it = NULL, *ahead = NULL;
	ferry_journal_iter_open(&it, j, 1, &err);
	ferry_journal_iter_open(&ahead, j, 31, &err);
	const ferry_change *c;
	uint64_t lsn;
	is_int(ferry_journal_iter_next(it, &c, &lsn, &err), 0,
	       "a new journal's iterator is at the end");
	append_commit(j, 1, 20, &err);
	gen g;
	int good = 1;
	for (uint64_t want = 1; want <= 10; want++) {
		gen_make(&g, want);
		if (ferry_journal_iter_next(it, &c, &lsn, &err) != 1 || lsn != want ||
		    !changes_same(c, &g.c))
			good = 0;
	}
	ok(good, "after a commit, next returns the new changes");
	append_commit(j, 21, 20, &err); /* while `it` is inside the first frame */
	for (uint64_t want = 11; want <= 40; want++) {
		gen_make(&g, want);
		if (ferry_journal_iter_next(it, &c, &lsn, &err) != 1 || lsn != want ||
		    !changes_same(c, &g.c))
			good = 0;
	}
	ok(good, "a commit while inside a frame: the rest, then the new frame");
	is_int(ferry_journal_iter_next(it, &c, &lsn, &err), 0, "then the end again");
	is_int(ferry_journal_iter_next(it, &c, &lsn, &err), 0, "and it stays there");
	ok(ferry_journal_iter_next(ahead, &c, &lsn, &err) == 1 && lsn == 31,
	   "an iterator opened past the head picks up when its LSN arrives");
	/* appended but not committed: invisible */
	gen_make(&g, 41);
	ferry_journal_append(j, &g.c, &lsn, &err);
	is_int(ferry_journal_iter_next(it, &c, &lsn, &err), 0,
	       "an appended change is not seen before its commit");
	ferry_journal_commit(j, NULL, 0, &err);
	ok(ferry_journal_iter_next(it, &c, &lsn, &err) == 1 && lsn == 41,
	   "and is seen after it");
	uint8_t *pos = NULL;
	size_t len = 0;
	ferry_journal_capture_cursor(j, &pos, &len, &err);
	ok(len == 8 && get_le64(pos) == 40,
	   "a commit without a position keeps the stored capture cursor");
	ferry_free(pos);
	ferry_journal_iter_close(it);
	ferry_journal_iter_close(ahead);
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

/* A child process: opens the journal read-only and follows it while the
 * parent writes, told by byte b on rfd that LSN 1..b*100 are committed;
 * it answers on wfd.  Exit status 0 when all was as expected. */
static void follower(const char *dir, int rfd, int wfd)
{
	ferry_journal_options o = options(0);
	o.read_only = true;
	ferry_journal *j = NULL;
	ferry_journal_iter *it = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	uint8_t b = 0;
	uint64_t want = 1;
	gen g;
	if (ferry_journal_open(&j, dir, &o, &err) < 0 ||
	    ferry_journal_iter_open(&it, j, 1, &err) < 0)
		_exit(2);
	while (read(rfd, &b, 1) == 1 && b != 0) {
		const ferry_change *c;
		uint64_t lsn;
		int rc;
		if (ferry_journal_last_lsn(j) != (uint64_t)b * 100)
			_exit(3);
		while ((rc = ferry_journal_iter_next(it, &c, &lsn, &err)) == 1) {
			gen_make(&g, want);
			if (lsn != want++ || !changes_same(c, &g.c))
				_exit(4);
		}
		if (rc < 0 || want != (uint64_t)b * 100 + 1)
			_exit(5);
		if (ferry_journal_append(j, &g.c, &lsn, &err) != FERRY_EINVAL)
			_exit(6);
		if (write(wfd, &b, 1) != 1)
			_exit(7);
	}
	_exit(0); /* no cleanup: the parent's heap is not ours to free */
}

static void test_other_process(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(4096);
	new_dir(dir, sizeof dir, "procs");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	int to_child[2], from_child[2];
	if (pipe(to_child) || pipe(from_child))
		return;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		follower(dir, to_child[0], from_child[1]);
	}
	close(to_child[0]);
	close(from_child[1]);
	int good = pid > 0;
	for (uint8_t b = 1; good && b <= 5; b++) {
		uint8_t ack = 0;
		good = append_commit(j, (uint64_t)(b - 1) * 100 + 1, 100, &err) == 0 &&
		       write(to_child[1], &b, 1) == 1 &&
		       read(from_child[0], &ack, 1) == 1 && ack == b;
	}
	uint8_t zero = 0;
	if (write(to_child[1], &zero, 1) != 1)
		good = 0;
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(good && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a read-only reader in another process follows five commits "
	   "(exit status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(to_child[1]);
	close(from_child[0]);
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_commit_failure(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(2048);
	new_dir(dir, sizeof dir, "fail");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	append_commit(j, 1, 50, &err);
	gen g;
	uint64_t lsn;
	for (uint64_t i = 51; i <= 120; i++) {
		gen_make(&g, i);
		ferry_journal_append(j, &g.c, &lsn, &err);
	}
	/* a large last change: sealing its frame at commit must allocate */
	static uint8_t noise[300000];
	for (size_t i = 0; i < sizeof noise; i++)
		noise[i] = (uint8_t)(mix64(i) >> 7);
	gen_make(&g, 121);
	g.after[4] = ferry_value_bytes(FERRY_BLOB, noise, sizeof noise);
	g.c.op = FERRY_OP_INSERT;
	g.c.has_before = false;
	g.c.has_after = true;
	g.c.after.values = g.after;
	g.c.after.ncols = g.c.after.cap = 6;
	ferry_journal_append(j, &g.c, &lsn, &err);
	uint8_t cur[8];
	put_le64(cur, 121);
	ferry_alloc_fail_at(1, 1);
	int rc = ferry_journal_commit(j, cur, 8, &err);
	ferry_alloc_fail_at(0, 0);
	is_int(rc, FERRY_ENOMEM, "a commit that runs out of memory fails");
	is_int(ferry_journal_last_lsn(j), 50, "nothing of its batch is stored");
	uint8_t *pos = NULL;
	size_t len = 0;
	ferry_journal_capture_cursor(j, &pos, &len, &err);
	ok(len == 8 && get_le64(pos) == 50, "the capture cursor is unchanged");
	ferry_free(pos);
	ok(read_expect(j, 1, 1, 50, 0), "readers see only what was committed");
	gen_make(&g, 51);
	ok(ferry_journal_append(j, &g.c, &lsn, &err) == 0 && lsn == 51,
	   "the dropped LSNs are given again");
	ferry_journal_close(j);
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	ok(ferry_journal_last_lsn(j) == 50 && read_expect(j, 1, 1, 50, 0),
	   "reopened: still exactly the first commit");

	/* a second writer (another process) commits behind this one's back */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		ferry_journal *other = NULL;
		if (ferry_journal_open(&other, dir, &o, NULL) < 0 ||
		    append_commit(other, 51, 10, NULL) < 0)
			_exit(1);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "another process appended LSN 51..60");
	rc = append_commit(j, 51, 5, &err);
	ok(rc == FERRY_ERROR && strstr(ferry_error_message(&err), "another writer"),
	   "this writer's next commit is refused: %s", ferry_error_message(&err));
	ok(ferry_journal_last_lsn(j) == 60 && read_expect(j, 1, 1, 60, 0),
	   "and stores nothing: the journal holds the other writer's changes");
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_cursors(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(0);
	new_dir(dir, sizeof dir, "cursors");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	append_commit(j, 1, 30, &err);
	uint64_t lsn = 77;
	is_int(ferry_journal_cursor_get(j, "replay", &lsn, &err), FERRY_ENOTFOUND,
	       "a missing cursor: FERRY_ENOTFOUND (%s)", ferry_error_message(&err));
	is_int(lsn, 0, "and LSN 0");
	is_int(ferry_journal_cursor_set(j, "replay", 0, &err), 0, "cursor at 0");
	ok(ferry_journal_cursor_get(j, "replay", &lsn, &err) == 0 && lsn == 0,
	   "reads back 0");
	is_int(ferry_journal_cursor_set(j, "replay", 30, &err), 0, "cursor moved");
	ok(ferry_journal_cursor_get(j, "replay", &lsn, &err) == 0 && lsn == 30,
	   "reads back 30");
	is_int(ferry_journal_cursor_set(j, "replay", 31, &err), FERRY_EINVAL,
	       "past the head is refused: %s", ferry_error_message(&err));
	is_int(ferry_journal_cursor_set(j, "", 1, &err), FERRY_EINVAL,
	       "an empty name is refused");
	is_int(ferry_journal_cursor_set(j, "has space", 1, &err), FERRY_EINVAL,
	       "a name with a space is refused");
	char longname[80];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	is_int(ferry_journal_cursor_set(j, longname, 1, &err), FERRY_EINVAL,
	       "a name over 63 characters is refused");
	longname[63] = '\0';
	is_int(ferry_journal_cursor_set(j, longname, 1, &err), 0,
	       "63 characters are fine");
	ferry_journal_close(j);
	o.read_only = true;
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	ok(ferry_journal_cursor_get(j, "replay", &lsn, &err) == 0 && lsn == 30,
	   "a read-only handle reads the cursor");
	is_int(ferry_journal_cursor_set(j, "replay", 1, &err), FERRY_EINVAL,
	       "but cannot set one: %s", ferry_error_message(&err));
	uint64_t frames = 9;
	is_int(ferry_journal_prune(j, 0, 0, &frames, &err), FERRY_EINVAL,
	       "nor prune");
	is_int(ferry_journal_commit(j, NULL, 0, &err), FERRY_EINVAL, "nor commit");
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_prune(void)
{
	static raw_frame fr[512];
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(4096);
	new_dir(dir, sizeof dir, "prune");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	append_commit(j, 1, 700, &err);
	append_commit(j, 701, 300, &err);
	ferry_journal_close(j);
	size_t nf = list_frames(dir, fr, 512);
	ok(nf > 20, "a journal of %zu frames", nf);
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	int64_t far = BASE_TIME + INT64_C(1000000) * 1000000; /* far future */
	uint64_t pruned = 99;
	ok(ferry_journal_prune(j, far, 0, &pruned, &err) == 0 && pruned == 0,
	   "no cursor at all: nothing is pruned");
	ferry_journal_cursor_set(j, "replay", 500, &err);
	ferry_journal_cursor_set(j, "undo", 1000, &err);
	/* the window keeps everything: the newest change is at LSN 1000 */
	ok(ferry_journal_prune(j, BASE_TIME + 1000, 1000000, &pruned, &err) == 0 &&
	       pruned == 0,
	   "changes inside the window stay");
	/* the window lets go of changes before LSN 300 (commit times are
	 * BASE + LSN ms): frames wholly at or below 299 go */
	int64_t now = BASE_TIME + 300 * 1000 + 3600 * INT64_C(1000000);
	ok(ferry_journal_prune(j, now, 3600 * INT64_C(1000000), &pruned, &err) == 0,
	   "prune with a window reaching LSN 300");
	size_t expect = 0;
	while (expect < nf && fr[expect].key + fr[expect].count - 1 < 300)
		expect++;
	is_int(pruned, expect, "the %zu frames older than the window went", expect);
	ferry_journal_stats st;
	ferry_journal_stat(j, &st, &err);
	is_int(st.first_lsn, fr[expect].key, "the journal now starts at LSN %llu",
	       (unsigned long long)fr[expect].key);
	/* now the cursor holds back: LSN 500 */
	ok(ferry_journal_prune(j, far, 0, &pruned, &err) == 0,
	   "prune with the window open");
	size_t expect2 = expect;
	while (expect2 < nf && fr[expect2].key + fr[expect2].count - 1 <= 500)
		expect2++;
	is_int(pruned, expect2 - expect,
	       "the frames at or below the lowest cursor (500) went, no more");
	ok(read_expect(j, 501, 501, 1000, 0), "the consumer at 500 reads on");
	ok(read_expect(j, fr[expect2].key, fr[expect2].key, 1000, 0),
	   "from the first kept LSN (%llu)", (unsigned long long)fr[expect2].key);
	ok(read_expect(j, 0, fr[expect2].key, 1000, 0),
	   "from the oldest (0): the first kept LSN");
	ferry_journal_iter *it = NULL;
	const ferry_change *c;
	uint64_t lsn;
	ferry_journal_iter_open(&it, j, 1, &err);
	int rc = ferry_journal_iter_next(it, &c, &lsn, &err);
	ok(rc == FERRY_ENOTFOUND && strstr(ferry_error_message(&err), "pruned"),
	   "from LSN 1: FERRY_ENOTFOUND (%s)", ferry_error_message(&err));
	ferry_journal_iter_close(it);
	ferry_journal_cursor_set(j, "replay", 1000, &err);
	ok(ferry_journal_prune(j, far, 0, &pruned, &err) == 0 &&
	       pruned == nf - expect2,
	   "every cursor at the head: every frame goes");
	ferry_journal_stat(j, &st, &err);
	ok(st.frames == 0 && st.first_lsn == 0 && st.last_lsn == 1000,
	   "an empty journal that remembers its head");
	ok(read_expect(j, 0, 1001, 1000, 0) && read_expect(j, 1001, 1001, 1000, 0),
	   "iterating it ends at once");
	ok(append_commit(j, 1001, 5, &err) == 0 && read_expect(j, 0, 1001, 1005, 0),
	   "and it goes on at LSN 1001");
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_map_growth(void)
{
	char dir[600], path[700];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(0);
	o.map_bytes = 64 * 1024;
	new_dir(dir, sizeof dir, "growth");
	gen_noise = true;
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	ferry_journal *reader = NULL;
	ok(append_commit(j, 1, 10, &err) == 0, "a journal in a 64 KiB map");
	uint64_t next = 11, x = 7;
	int rc = 0;
	while (rc == 0 && next <= 12000) {
		uint64_t n = batch_size(&x) * 3;
		rc = append_commit(j, next, n, &err);
		next += n;
	}
	if (!ok(rc == 0, "%llu changes of noise appended: the map grows",
	        (unsigned long long)next - 1))
		tap_diag("%s", ferry_error_message(&err));
	ferry_journal_stats st;
	ferry_journal_stat(j, &st, &err);
	ok(st.disk_bytes > 16 * 64 * 1024 && st.stored_bytes > 3 * 1024 * 1024,
	   "%llu bytes on disk, so at least 4 doublings",
	   (unsigned long long)st.disk_bytes);
	ok(read_expect(j, 1, 1, next - 1, 0), "all of it reads back");
	ferry_journal_close(j);

	/* another process grows the map under a reader here */
	j = open_or_diag(dir, &o);
	o.read_only = true;
	reader = open_or_diag(dir, &o);
	if (!j || !reader) {
		ferry_journal_close(j);
		ferry_journal_close(reader);
		return;
	}
	uint64_t before = next - 1;
	ok(read_expect(reader, before - 5, before - 5, before, 0),
	   "a reader here reads to the head");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		ferry_journal_options wo = options(0);
		wo.map_bytes = 64 * 1024;
		ferry_journal *w = NULL;
		if (ferry_journal_open(&w, dir, &wo, NULL) < 0)
			_exit(1);
		uint64_t at = before + 1;
		for (int i = 0; i < 40; i++, at += 300)
			if (append_commit(w, at, 300, NULL) < 0)
				_exit(2);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "another process appended 12000 more");
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat sb;
	stat(path, &sb);
	tap_diag("data.mdb is now %lld bytes", (long long)sb.st_size);
	is_int(ferry_journal_last_lsn(reader), before + 12000,
	       "the reader sees the new head");
	ok(read_expect(reader, before - 5, before - 5, before + 12000, 0),
	   "and reads it all, adopting the grown map");
	is_int(append_commit(j, before + 1, 1, &err), FERRY_ERROR,
	       "the stale writer here cannot commit over it");
	gen_noise = false;
	ferry_journal_close(reader);
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

/* Appends n changes with dictionaries on or off; returns stored bytes. */
static uint64_t dict_journal(const char *dir, bool dictionary, uint64_t n,
                             uint32_t *dict_id)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(2048);
	o.dictionary = dictionary;
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return 0;
	uint64_t next = 1, x = 99;
	int rc = 0;
	while (rc == 0 && next <= n) {
		uint64_t b = batch_size(&x);
		if (next + b - 1 > n)
			b = n - next + 1;
		rc = append_commit(j, next, b, &err);
		next += b;
	}
	ferry_journal_stats st;
	memset(&st, 0, sizeof st);
	if (rc == 0)
		rc = ferry_journal_stat(j, &st, &err);
	if (rc < 0)
		tap_diag("%s", ferry_error_message(&err));
	*dict_id = st.dict_id;
	ferry_journal_close(j);
	ferry_error_clear(&err);
	return st.stored_bytes;
}

static void test_dictionary(void)
{
	static raw_frame fr[8192];
	char on[600], off[600];
	ferry_error err = FERRY_ERROR_INIT;
	uint32_t id_on = 0, id_off = 0;
	const uint64_t n = 20000;
	new_dir(on, sizeof on, "dict-on");
	new_dir(off, sizeof off, "dict-off");
	uint64_t with = dict_journal(on, true, n, &id_on);
	uint64_t without = dict_journal(off, false, n, &id_off);
	ok(id_on != 0, "dictionary on: stat names dictionary %u", (unsigned)id_on);
	is_int(id_off, 0, "dictionary off: no dictionary");
	ok(with > 0 && with < without, "with it the frames are smaller: %llu < %llu",
	   (unsigned long long)with, (unsigned long long)without);
	size_t nf = list_frames(on, fr, 8192);
	size_t plain = 0, using = 0;
	uint64_t sampled = 0;
	for (size_t i = 0; i < nf; i++) {
		if (fr[i].dict_id == 0 && using == 0) {
			plain++;
			sampled += fr[i].count;
		} else if (fr[i].dict_id == id_on) {
			using++;
		}
	}
	ok(plain > 0 && using > 0 && plain + using == nf,
	   "the first %zu frames go without, the %zu after use it", plain, using);
	uint64_t sample_bytes = 0;
	for (uint64_t lsn = 1; lsn <= sampled; lsn++)
		sample_bytes += gen_size(lsn);
	ok(sample_bytes >= 1024 * 1024 && sample_bytes < 1024 * 1024 + 8192,
	   "the frames without hold the first 1 MiB of payload (%llu bytes, "
	   "%llu changes)", (unsigned long long)sample_bytes,
	   (unsigned long long)sampled);

	ferry_journal_options o = options(2048);
	ferry_journal *j = open_or_diag(on, &o); /* dictionary off now */
	if (j) {
		ok(read_expect(j, 1, 1, n, 0), "a dictionary journal reads back "
		   "through a handle without the option");
		append_commit(j, n + 1, 50, &err);
		ferry_journal_stats st;
		ferry_journal_stat(j, &st, &err);
		is_int(st.dict_id, 0, "new frames there use none");
		ferry_journal_close(j);
	}
	o.dictionary = true;
	j = open_or_diag(on, &o);
	if (j) {
		ok(read_expect(j, 1, 1, n + 50, 0), "reopened with dictionaries: "
		   "old and new frames read back");
		ferry_journal_close(j);
	}
	o.read_only = true;
	j = open_or_diag(on, &o);
	if (j) {
		ok(read_expect(j, n / 2, n / 2, n + 50, 0),
		   "a read-only handle reads dictionary frames from the middle");
		ferry_journal_close(j);
	}
	j = open_or_diag(off, &o);
	if (j) {
		ok(read_expect(j, 1, 1, n, 0), "the journal without reads back");
		ferry_journal_close(j);
	}
	ferry_error_clear(&err);
	remove_journal(on);
	remove_journal(off);
}

static void test_format(void)
{
	char dir[600], want[900];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(0);
	new_dir(dir, sizeof dir, "format");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	append_commit(j, 1, 10, &err);
	ferry_journal_close(j);
	ok(set_meta_format(dir, 2) == 0, "meta.format set to 2 behind its back");
	snprintf(want, sizeof want,
	         "journal \"%s\" has format 2; this ferry reads format 1: "
	         "upgrade ferry", dir);
	is_int(ferry_journal_open(&j, dir, &o, &err), FERRY_EUNSUPPORTED,
	       "a newer format is refused");
	is_str(ferry_error_message(&err), want, "with the path and both versions");
	o.read_only = true;
	is_int(ferry_journal_open(&j, dir, &o, &err), FERRY_EUNSUPPORTED,
	       "read-only too");
	set_meta_format(dir, 1);
	o.read_only = false;
	j = open_or_diag(dir, &o);
	ok(j && read_expect(j, 1, 1, 10, 0), "back at format 1 it opens");
	ferry_journal_close(j);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void add_column(ferry_table *t, const char *name, const char *decl,
                       ferry_sqltype_kind kind, int p, int s, int len,
                       bool not_null, int pk)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = decl ? ferry_strdup(decl) : NULL;
	c->type.kind = kind;
	c->type.precision = p;
	c->type.scale = s;
	c->type.length = len;
	c->not_null = not_null;
	c->pk_position = pk;
	c->default_sql = ferry_strdup("now()"); /* not part of the schema key */
}

static int tables_same(const ferry_table *a, const ferry_table *b)
{
	if (strcmp(a->name, b->name) || a->ncolumns != b->ncolumns ||
	    a->without_rowid != b->without_rowid || a->rowid_key != b->rowid_key)
		return 0;
	for (uint32_t i = 0; i < a->ncolumns; i++) {
		const ferry_column *x = &a->columns[i], *y = &b->columns[i];
		if (strcmp(x->name, y->name) ||
		    strcmp(x->decl_type ? x->decl_type : "", y->decl_type) ||
		    x->type.kind != y->type.kind ||
		    x->type.precision != y->type.precision ||
		    x->type.scale != y->type.scale ||
		    x->type.length != y->type.length || x->not_null != y->not_null ||
		    x->pk_position != y->pk_position)
			return 0;
	}
	return 1;
}

static void test_schema(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(0);
	new_dir(dir, sizeof dir, "schema");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	ferry_table t;
	memset(&t, 0, sizeof t);
	t.name = ferry_strdup("Sales.\"Line Items\"");
	t.without_rowid = true;
	add_column(&t, "id", "bigint", FERRY_SQL_BIGINT, -1, -1, -1, true, 1);
	add_column(&t, "sku", "varchar(20)", FERRY_SQL_VARCHAR, -1, -1, 20, true, 2);
	add_column(&t, "price", "numeric(12,2)", FERRY_SQL_NUMERIC, 12, 2, -1,
	           false, 0);
	add_column(&t, "note", NULL, FERRY_SQL_TEXT, -1, -1, -1, false, 0);
	add_column(&t, "größe", "jsonb", FERRY_SQL_JSONB, -1, -1, -1, false, 0);
	add_column(&t, "at", "timestamp with time zone", FERRY_SQL_TIMESTAMPTZ,
	           -1, -1, -1, false, 0);
	is_int(ferry_journal_put_schema(j, &t, 3, &err), 0, "a schema is stored");
	is_int(ferry_journal_put_schema(j, &t, 3, &err), 0,
	       "storing the same again is fine");
	ferry_table got;
	memset(&got, 0, sizeof got);
	is_int(ferry_journal_get_schema(j, t.name, 3, &got, &err), 0, "read back");
	ok(tables_same(&t, &got) && got.row_count == -1,
	   "every column's name, declared type, kind, precision, scale, length, "
	   "not-null and key position, and the table flags");
	ferry_table_clear(&got);
	t.columns[2].type.scale = 3;
	is_int(ferry_journal_put_schema(j, &t, 3, &err), FERRY_EINVAL,
	       "a different schema under the same version is refused: %s",
	       ferry_error_message(&err));
	is_int(ferry_journal_put_schema(j, &t, 4, &err), 0,
	       "under a new version it is stored");
	t.without_rowid = false;
	t.rowid_key = true;
	t.ncolumns = 0;
	is_int(ferry_journal_put_schema(j, &t, 5, &err), 0,
	       "a table of no columns is stored");
	t.ncolumns = 6;
	memset(&got, 0, sizeof got);
	ok(ferry_journal_get_schema(j, t.name, 5, &got, &err) == 0 &&
	       got.ncolumns == 0 && got.rowid_key && !got.without_rowid,
	   "and read back");
	ferry_table_clear(&got);
	ferry_journal_close(j);
	o.read_only = true;
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	memset(&got, 0, sizeof got);
	t.without_rowid = true; /* as version 4 was stored */
	t.rowid_key = false;
	ok(ferry_journal_get_schema(j, t.name, 4, &got, &err) == 0 &&
	       got.columns[2].type.scale == 3 && tables_same(&t, &got),
	   "a read-only handle reads version 4");
	ferry_table_clear(&got);
	is_int(ferry_journal_get_schema(j, t.name, 2, &got, &err), FERRY_ENOTFOUND,
	       "a missing version: %s", ferry_error_message(&err));
	is_int(ferry_journal_get_schema(j, "Sales", 3, &got, &err), FERRY_ENOTFOUND,
	       "a missing table (a prefix of a stored name)");
	is_int(ferry_journal_put_schema(j, &t, 9, &err), FERRY_EINVAL,
	       "a read-only handle cannot store one");
	char longname[600];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	is_int(ferry_journal_get_schema(j, longname, 1, &got, &err), FERRY_EINVAL,
	       "a table name too long for an LMDB key is refused");
	ferry_journal_close(j);
	ferry_table_clear(&t);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_big_changes(void)
{
	char dir[600];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(4096);
	new_dir(dir, sizeof dir, "big");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	size_t big = (size_t)FERRY_FRAME_MAX_PAYLOAD + 10;
	uint8_t *blob = calloc(1, big);
	ferry_value v[2];
	ferry_change c = FERRY_CHANGE_INIT;
	c.op = FERRY_OP_INSERT;
	c.has_after = true;
	c.table = "files";
	c.after.values = v;
	c.after.ncols = c.after.cap = 2;
	v[0] = ferry_value_int(1);
	v[1] = ferry_value_bytes(FERRY_BLOB, blob, 100000);
	append_commit(j, 1, 3, &err);
	uint64_t lsn = 0;
	ok(ferry_journal_append(j, &c, &lsn, &err) == 0 && lsn == 4,
	   "a change larger than the frame size is taken");
	v[1] = ferry_value_bytes(FERRY_BLOB, blob, big);
	is_int(ferry_journal_append(j, &c, &lsn, &err), FERRY_EINVAL,
	       "a change larger than any frame is refused: %s",
	       ferry_error_message(&err));
	gen g;
	gen_make(&g, 5);
	ok(ferry_journal_append(j, &g.c, &lsn, &err) == 0 && lsn == 5,
	   "and takes no LSN");
	ok(ferry_journal_commit(j, NULL, 0, &err) == 0, "committed");
	ferry_journal_iter *it = NULL;
	const ferry_change *got;
	ferry_journal_iter_open(&it, j, 4, &err);
	ok(ferry_journal_iter_next(it, &got, &lsn, &err) == 1 && lsn == 4 &&
	       got->after.values[1].u.s.len == 100000,
	   "the large change reads back");
	ok(ferry_journal_iter_next(it, &got, &lsn, &err) == 1 && lsn == 5 &&
	       changes_same(got, &g.c),
	   "and the one after it");
	ferry_journal_iter_close(it);
	ferry_journal_close(j);

	/* a frame already holding changes, and one that fills the rest */
	o = options(FERRY_FRAME_MAX_PAYLOAD);
	j = open_or_diag(dir, &o);
	if (j) {
		v[1] = ferry_value_bytes(FERRY_BLOB, blob, 1000);
		ferry_journal_append(j, &c, &lsn, &err);
		v[1] = ferry_value_bytes(FERRY_BLOB, blob,
		                         FERRY_FRAME_MAX_PAYLOAD - 500);
		ok(ferry_journal_append(j, &c, &lsn, &err) == 0 && lsn == 7 &&
		       ferry_journal_commit(j, NULL, 0, &err) == 0,
		   "a change that does not fit the open frame starts a new one");
		ferry_journal_iter_open(&it, j, 6, &err);
		ok(ferry_journal_iter_next(it, &got, &lsn, &err) == 1 && lsn == 6 &&
		       got->after.values[1].u.s.len == 1000 &&
		       ferry_journal_iter_next(it, &got, &lsn, &err) == 1 &&
		       lsn == 7 &&
		       got->after.values[1].u.s.len == FERRY_FRAME_MAX_PAYLOAD - 500,
		   "both read back");
		ferry_journal_iter_close(it);
		ferry_journal_close(j);
		raw_frame fr[16];
		size_t nf = list_frames(dir, fr, 16);
		if (!ok(nf >= 2 && fr[nf - 2].key == 6 && fr[nf - 2].count == 1 &&
		            fr[nf - 1].key == 7 && fr[nf - 1].count == 1,
		        "each in its own frame"))
			for (size_t i = 0; i < nf; i++)
				tap_diag("frame %llu: %u changes, %zu bytes",
				         (unsigned long long)fr[i].key, (unsigned)fr[i].count,
				         fr[i].len);
	}
	free(blob);
	ferry_error_clear(&err);
	remove_journal(dir);
}

static void test_corrupt_stays_failed(void)
{
	static raw_frame fr[256];
	char dir[600], range[80];
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(2048);
	new_dir(dir, sizeof dir, "corrupt");
	ferry_journal *j = open_or_diag(dir, &o);
	if (!j)
		return;
	append_commit(j, 1, 300, &err);
	ferry_journal_close(j);
	size_t nf = list_frames(dir, fr, 256);
	raw_frame *t = &fr[nf / 2];
	uint64_t a = t->key, b = t->key + t->count - 1;
	ok(nf > 4 && flip_frame_byte(dir, a, t->len / 2) == 0,
	   "a byte of frame %llu..%llu flipped behind the journal's back",
	   (unsigned long long)a, (unsigned long long)b);
	j = open_or_diag(dir, &o);
	if (!j)
		return;
	ferry_journal_iter *it = NULL;
	const ferry_change *c;
	uint64_t lsn = 0, n = 0;
	int rc;
	ferry_journal_iter_open(&it, j, 1, &err);
	while ((rc = ferry_journal_iter_next(it, &c, &lsn, &err)) == 1)
		n++;
	snprintf(range, sizeof range, "frame at LSN %llu..%llu is corrupt",
	         (unsigned long long)a, (unsigned long long)b);
	ok(rc == FERRY_ECORRUPT && n == a - 1 &&
	       strstr(ferry_error_message(&err), dir) &&
	       strstr(ferry_error_message(&err), range),
	   "the changes before it, then: %s", ferry_error_message(&err));
	char first[1000];
	snprintf(first, sizeof first, "%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	is_int(ferry_journal_iter_next(it, &c, &lsn, &err), FERRY_ECORRUPT,
	       "the next call fails the same way, never skipping the frame");
	is_str(ferry_error_message(&err), first, "with the same message");
	ferry_journal_iter *mid = NULL;
	ferry_journal_iter_open(&mid, j, a + 1, &err);
	is_int(ferry_journal_iter_next(mid, &c, &lsn, &err), FERRY_ECORRUPT,
	       "starting inside the frame fails too");
	ferry_journal_iter_close(mid);
	ok(read_expect(j, b + 1, b + 1, 300, 0), "starting past it reads on");
	uint64_t pruned = 0;
	ferry_journal_cursor_set(j, "replay", 300, &err);
	rc = ferry_journal_prune(j, INT64_MAX, 0, &pruned, &err);
	ok(rc == FERRY_ECORRUPT && strstr(ferry_error_message(&err), range),
	   "prune stops at it: %s", ferry_error_message(&err));
	ferry_journal_stats st;
	ferry_journal_stat(j, &st, &err);
	ok(st.first_lsn == 1 && st.frames == nf,
	   "and deletes nothing (its transaction is dropped)");
	ferry_journal_close(j);
	flip_frame_byte(dir, a, t->len / 2);
	j = open_or_diag(dir, &o);
	if (j) {
		is_int(ferry_journal_iter_next(it, &c, &lsn, &err), FERRY_ECORRUPT,
		       "repaired, the failed iterator still reports the damage");
		ok(read_expect(j, 1, 1, 300, 0), "a new iterator reads it all");
		ferry_journal_close(j);
	}
	ferry_journal_iter_close(it);
	ferry_error_clear(&err);
	remove_journal(dir);
}

/* Dictionary training with each allocation from just before it failing:
 * the journal must take every append and commit it reports. */
static void test_dictionary_faults(void)
{
	uint64_t pre = 0, bytes = 0;
	while (bytes + gen_size(pre + 1) < 1024 * 1024 - 3 * 2048)
		bytes += gen_size(++pre);
	long n;
	int clean = 1, trained = 0;
	for (n = 1; n < 10000; n++) {
		char dir[600];
		ferry_error err = FERRY_ERROR_INIT;
		ferry_journal_options o = options(2048);
		o.dictionary = true;
		new_dir(dir, sizeof dir, "dict-fault");
		ferry_journal *j = open_or_diag(dir, &o);
		if (!j || append_commit(j, 1, pre, &err) < 0) {
			clean = 0;
			ferry_journal_close(j);
			break;
		}
		uint64_t committed = pre, next = pre + 1;
		ferry_alloc_fail_at(n, 0);
		for (int round = 0; round < 3; round++) {
			int rc = append_commit_retry(j, next, 40, &err);
			if (rc < 0 && rc != FERRY_ENOMEM) {
				clean = 0;
				tap_diag("allocation %ld: %s", n, ferry_error_message(&err));
			}
			if (rc == 0)
				committed = next + 39;
			next = ferry_journal_last_lsn(j) + 1;
		}
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		ferry_journal_stats st;
		ferry_journal_stat(j, &st, &err);
		trained += st.dict_id != 0;
		if (ferry_journal_last_lsn(j) != committed ||
		    !read_expect(j, 1, 1, committed, 0)) {
			clean = 0;
			tap_diag("allocation %ld: the journal differs", n);
		}
		ferry_journal_close(j);
		ferry_error_clear(&err);
		remove_journal(dir);
		if (failures == 0 || !clean)
			break;
	}
	ok(clean, "dictionary training with each of %ld allocations failing: "
	   "0 or FERRY_ENOMEM, and the journal as reported", n - 1);
	ok(trained == n, "a dictionary was trained in %d of %ld runs", trained, n);
}

/* One run of open, appends, commits, cursors, schemas, stat, prune and
 * iteration with the nth allocation failing.  Tracks what was committed
 * in *committed; returns 0 when every call gave 0 or FERRY_ENOMEM. */
static int fault_run(const char *dir, uint64_t *committed)
{
	static const uint64_t batches[] = {20, 35, 1, 12};
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal_options o = options(1024);
	o.map_bytes = 64 * 1024;
	ferry_journal *j = NULL;
	int bad = 0;
	gen g;
#define EXPECT(call)                                                          \
	do {                                                                      \
		int rc_ = (call);                                                     \
		if (rc_ < 0 && rc_ != FERRY_ENOMEM) {                                 \
			tap_diag("%s: %d: %s", #call, rc_, ferry_error_message(&err));    \
			bad = 1;                                                          \
		}                                                                     \
	} while (0)
	*committed = 0;
	int rc = ferry_journal_open(&j, dir, &o, &err);
	EXPECT(rc);
	if (rc < 0) {
		ferry_error_clear(&err);
		return bad;
	}
	for (size_t b = 0; b < 4; b++) {
		uint64_t next = *committed + 1;
		for (uint64_t i = 0; i < batches[b]; i++) {
			uint64_t lsn;
			gen_make(&g, next + i);
			rc = ferry_journal_append(j, &g.c, &lsn, &err);
			if (rc == FERRY_ENOMEM) /* the one failure is spent: again */
				rc = ferry_journal_append(j, &g.c, &lsn, &err);
			EXPECT(rc);
			if (rc == 0 && lsn != next + i)
				bad = 1;
		}
		rc = ferry_journal_commit(j, NULL, 0, &err);
		EXPECT(rc);
		if (rc == 0)
			*committed += batches[b];
		if (ferry_journal_last_lsn(j) != *committed)
			bad = 1;
	}
	ferry_table t, got;
	memset(&t, 0, sizeof t);
	memset(&got, 0, sizeof got);
	t.name = "orders";
	ferry_column cols[2] = {{"id", "int", {FERRY_SQL_INTEGER, -1, -1, -1}, true,
	                         NULL, 1, false, false},
	                        {"v", "", {FERRY_SQL_TEXT, -1, -1, -1}, false, NULL,
	                         0, false, false}};
	t.columns = cols;
	t.ncolumns = 2;
	EXPECT(ferry_journal_put_schema(j, &t, 1, &err));
	rc = ferry_journal_get_schema(j, "orders", 1, &got, &err);
	if (rc != FERRY_ENOTFOUND) /* when the put failed */
		EXPECT(rc);
	ferry_table_clear(&got);
	uint64_t cur = 0;
	EXPECT(ferry_journal_cursor_set(j, "replay", *committed / 2, &err));
	rc = ferry_journal_cursor_get(j, "replay", &cur, &err);
	if (rc != FERRY_ENOTFOUND)
		EXPECT(rc);
	ferry_journal_stats st;
	EXPECT(ferry_journal_stat(j, &st, &err));
	uint8_t *pos = NULL;
	size_t len;
	EXPECT(ferry_journal_capture_cursor(j, &pos, &len, &err));
	ferry_free(pos);
	uint64_t pruned;
	/* every frame is below the cursor's reach or inside the window: prune
	 * reads frames but keeps them all, so the check below sees LSN 1 on */
	EXPECT(ferry_journal_prune(j, BASE_TIME, 0, &pruned, &err));
	ferry_journal_iter *it = NULL;
	rc = ferry_journal_iter_open(&it, j, 0, &err);
	EXPECT(rc);
	while (rc >= 0 && it) {
		const ferry_change *c;
		uint64_t lsn;
		rc = ferry_journal_iter_next(it, &c, &lsn, &err);
		if (rc == FERRY_ENOMEM)
			rc = ferry_journal_iter_next(it, &c, &lsn, &err);
		EXPECT(rc);
		if (rc <= 0)
			break;
		gen_make(&g, lsn);
		if (!changes_same(c, &g.c))
			bad = 1;
	}
	ferry_journal_iter_close(it);
	ferry_journal_close(j);
	ferry_error_clear(&err);
#undef EXPECT
	return bad;
}

static void test_faults(void)
{
	long n;
	int clean = 1, consistent = 1;
	for (n = 1; n < 100000; n++) {
		char dir[600];
		uint64_t committed = 0;
		new_dir(dir, sizeof dir, "fault");
		ferry_alloc_fail_at(n, 0);
		if (fault_run(dir, &committed)) {
			clean = 0;
			tap_diag("allocation %ld failing broke a call", n);
		}
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		/* what the run reported committed is exactly what is there */
		ferry_journal *j = NULL;
		ferry_journal_options o = options(1024);
		o.read_only = true;
		if (ferry_journal_open(&j, dir, &o, NULL) == 0) {
			if (ferry_journal_last_lsn(j) != committed ||
			    !read_expect(j, 0, 1, committed, 0)) {
				consistent = 0;
				tap_diag("allocation %ld failing: journal differs", n);
			}
			ferry_journal_close(j);
		} else if (committed != 0) {
			consistent = 0;
		}
		remove_journal(dir);
		if (failures == 0)
			break;
		if (!clean && !consistent)
			break;
	}
	ok(clean, "each of %ld allocations failing in turn: every call gives 0 "
	   "or FERRY_ENOMEM", n - 1);
	ok(consistent, "and the journal holds exactly what was reported committed");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base_dir, sizeof base_dir, "%s/ferry-journal-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_empty();
	test_round_trip();
	test_follow();
	test_other_process();
	test_commit_failure();
	test_cursors();
	test_prune();
	test_map_growth();
	test_dictionary();
	test_format();
	test_schema();
	test_big_changes();
	test_corrupt_stays_failed();
	test_faults();
	test_dictionary_faults();
	if (!tap_failed_)
		rmdir(base_dir);
	else
		tap_diag("journals kept in %s", base_dir);
	return tap_done();
}
