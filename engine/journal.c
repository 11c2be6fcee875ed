/*
 * engine/journal.c - the durable, compressed change log (journal.h,
 * docs/journal-format.md), kept in an LMDB environment.
 *
 * The writer encodes each change at once into the open frame; full
 * frames are sealed (compressed) into a pending list that stays in memory
 * until a commit stores all of it, with the capture cursor, in one LMDB
 * write transaction.  Keeping the batch until then is what lets a commit
 * that fills the map be redone whole in a larger one.
 *
 * Readers never hold a transaction across calls: each frame is copied out
 * of a short read transaction, so a reader neither pins old pages (which
 * would make the map grow) nor misses what was committed since, and its
 * memory is bounded by one frame.  Every transaction runs under a shared
 * lock that a map resize takes exclusively, because LMDB allows a resize
 * only while the process has no transaction open.
 */
#include "engine/journal.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/alloc.h"
#include "engine/fs.h"
#include "engine/buf.h"
#include "engine/frame.h"

#define JOURNAL_FORMAT 1
/* 256 KiB measured best (docs/PERFORMANCE.md, Journal): 5% smaller and
 * 3% faster to read than 64 KiB, appends within noise */
#define DEFAULT_FRAME_BYTES ((size_t)256 * 1024)
#define DEFAULT_MAP_BYTES ((size_t)64 * 1024 * 1024)
#define SAMPLE_BYTES ((size_t)1024 * 1024) /* payload sampled for a dict */
#define DICT_CAP ((size_t)64 * 1024)
#define MAX_GROWTH 40       /* map doublings one write may need */
#define MAX_RESIZED 8       /* adoptions of another process's map size */
#define MAX_CURSOR_NAME 63  /* fits ferry_journal_cursor_stat.name */
#define KEEP_BATCH_BYTES ((size_t)8 * 1024 * 1024)

struct ferry_journal {
	MDB_env *env;
	MDB_dbi frames, meta, schemas, cursors, dicts;
	char *dir;
	char *data_path;         /* dir/data.mdb, for stat */
	bool read_only;
	bool lock_ready;
	pthread_rwlock_t maplock;/* txns hold it shared, map resizes alone */
	size_t frame_bytes;
	ferry_frame_ctx *fctx;   /* the writer's: compresses, and prune reads */
	uint64_t committed;      /* meta.next_lsn as this handle last saw it */
	uint64_t next_lsn;       /* the LSN the next append gets */
	ferry_buf payload;       /* the open frame's records */
	uint32_t count;          /* records in it */
	uint64_t first;          /* its first LSN */
	ferry_buf sealed;        /* sealed frames awaiting commit, back to back */
	uint32_t dict_id;        /* dictionary new frames use; 0: none */
	ferry_buf new_dict;      /* trained, stored by the next commit */
	bool sampling;           /* collecting samples to train one */
	ferry_buf samples;
	size_t *sample_sizes;
	unsigned nsamples, samples_cap;
};

struct ferry_journal_iter {
	ferry_journal *j;
	ferry_frame_ctx *fctx;
	uint64_t next;           /* LSN the next call returns; 0: the oldest */
	bool started;            /* a frame was read: the next must follow it */
	ferry_buf frame;         /* the current frame as stored */
	ferry_buf raw;           /* its records */
	uint32_t count, done;    /* records in it, records consumed */
	size_t off;              /* where the next record starts in raw */
	ferry_change change;     /* what next hands out */
	ferry_change scratch;    /* for checking a whole frame first */
	ferry_buf dict;          /* a dictionary copied out for fctx */
	int failed;              /* FERRY_ECORRUPT once a corrupt frame is met */
	char *failure;           /* and its message, repeated from then on */
};

/* ---- small helpers -------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[7 - i] = (uint8_t)(v >> (8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[3 - i] = (uint8_t)(v >> (8 * i));
}

static void put_le(uint8_t *p, uint64_t v, size_t size)
{
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t size)
{
	uint64_t v = 0;
	for (size_t i = size; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* The LSN a frames key names (0 for a key of the wrong size). */
static uint64_t key_lsn(const MDB_val *k)
{
	if (k->mv_size != 8)
		return 0;
	const uint8_t *p = k->mv_data;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The record count a stored frame's header claims, before it is checked
 * (0 when there is no header): enough to find the frame holding an LSN. */
static uint32_t header_count(const MDB_val *v)
{
	if (v->mv_size < FERRY_FRAME_HEADER_SIZE)
		return 0;
	return (uint32_t)get_le((const uint8_t *)v->mv_data + 12, 4);
}

static MDB_val val_of(const void *data, size_t len)
{
	MDB_val v = {len, (void *)data};
	return v;
}

static int lmdb_code(int rc)
{
	if (rc == ENOMEM)
		return FERRY_ENOMEM;
	return rc == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR;
}

static int lmdb_error(const ferry_journal *j, int rc, const char *what,
                      ferry_error *err)
{
	return ferry_error_set(err, lmdb_code(rc), "could not %s journal \"%s\": %s",
	                       what, j->dir, mdb_strerror(rc));
}

static int read_only_error(const ferry_journal *j, ferry_error *err)
{
	return ferry_error_set(err, FERRY_EINVAL,
	                       "journal \"%s\" is open read-only", j->dir);
}

/* Prefixes a frame's corruption with the journal and its LSN range. */
static int frame_corrupt(const ferry_journal *j, uint64_t first, uint64_t last,
                         ferry_error *err)
{
	ferry_error_prefix(err, "journal \"%s\": frame at LSN %llu..%llu is "
	                   "corrupt", j->dir, (unsigned long long)first,
	                   (unsigned long long)last);
	return FERRY_ECORRUPT;
}

static void truncate_buf(ferry_buf *b, size_t len)
{
	b->len = len;
	b->failed = 0;
}

/* ---- transactions --------------------------------------------------- */

/* Begins a transaction under the map lock (held until txn_end).  A map
 * grown by another process is adopted and the begin retried. */
static int txn_begin(ferry_journal *j, unsigned flags, MDB_txn **txn,
                     ferry_error *err)
{
	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&j->maplock);
		int rc = mdb_txn_begin(j->env, NULL, flags, txn);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&j->maplock);
		if (rc != MDB_MAP_RESIZED || tries == MAX_RESIZED)
			return lmdb_error(j, rc, "begin a transaction in", err);
		pthread_rwlock_wrlock(&j->maplock);
		rc = mdb_env_set_mapsize(j->env, 0);
		pthread_rwlock_unlock(&j->maplock);
		if (rc != 0)
			return lmdb_error(j, rc, "adopt the new map size of", err);
	}
}

static void txn_abort(ferry_journal *j, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&j->maplock);
}

static int txn_commit(ferry_journal *j, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&j->maplock);
	return rc;
}

static int grow_map(ferry_journal *j, ferry_error *err)
{
	MDB_envinfo info;
	pthread_rwlock_wrlock(&j->maplock);
	int rc = mdb_env_info(j->env, &info);
	size_t size = info.me_mapsize;
	if (rc == 0)
		rc = size > SIZE_MAX / 2 ? ENOMEM
		                         : mdb_env_set_mapsize(j->env, size * 2);
	pthread_rwlock_unlock(&j->maplock);
	return rc == 0 ? 0 : lmdb_error(j, rc, "grow the map of", err);
}

/* A write transaction being filled: LMDB failures are kept apart so that
 * MDB_MAP_FULL can be told from the rest and the write redone. */
typedef struct wtxn {
	ferry_journal *j;
	MDB_txn *txn;
	int mdb_rc;
	ferry_error *err;
} wtxn;

typedef int (*fill_fn)(wtxn *w, void *arg);

static int wfail(wtxn *w, int rc, const char *what)
{
	w->mdb_rc = rc;
	return lmdb_error(w->j, rc, what, w->err);
}

static int wput(wtxn *w, MDB_dbi dbi, const void *key, size_t klen,
                const void *data, size_t len, unsigned flags)
{
	MDB_val k = val_of(key, klen), v = val_of(data, len);
	int rc = mdb_put(w->txn, dbi, &k, &v, flags);
	return rc ? wfail(w, rc, "write to") : 0;
}

/* Runs fill in a write transaction and commits; a full map is doubled
 * and the whole transaction redone, so fill must be repeatable. */
static int write_txn(ferry_journal *j, fill_fn fill, void *arg,
                     ferry_error *err)
{
	for (int round = 0; round <= MAX_GROWTH; round++) {
		wtxn w = {j, NULL, 0, err};
		int rc = txn_begin(j, 0, &w.txn, err);
		if (rc < 0)
			return rc;
		rc = fill(&w, arg);
		if (rc == 0) {
			int mrc = txn_commit(j, w.txn);
			if (mrc != 0)
				rc = wfail(&w, mrc, "commit to");
		} else {
			txn_abort(j, w.txn);
		}
		if (rc == 0 || w.mdb_rc != MDB_MAP_FULL)
			return rc;
		ferry_error_clear(err);
		rc = grow_map(j, err);
		if (rc < 0)
			return rc;
	}
	return ferry_error_set(err, FERRY_ERROR,
	                       "could not write to journal \"%s\": the map is "
	                       "still full after %d doublings", j->dir,
	                       MAX_GROWTH);
}

/* Reads a little-endian meta value of exactly size bytes: 0,
 * FERRY_ENOTFOUND when absent, FERRY_ECORRUPT when of another size. */
static int meta_get(ferry_journal *j, MDB_txn *txn, const char *name,
                    size_t size, uint64_t *out, ferry_error *err)
{
	MDB_val k = val_of(name, strlen(name)), v;
	int rc = mdb_get(txn, j->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return FERRY_ENOTFOUND;
	if (rc != 0)
		return lmdb_error(j, rc, "read", err);
	if (v.mv_size != size)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "journal \"%s\": meta.%s is %zu bytes, not %zu",
		                       j->dir, name, v.mv_size, size);
	*out = get_le(v.mv_data, size);
	return 0;
}

static int meta_put(wtxn *w, const char *name, uint64_t value, size_t size)
{
	uint8_t v[8];
	put_le(v, value, size);
	return wput(w, w->j->meta, name, strlen(name), v, size, 0);
}

/* meta.next_lsn, which every journal has. */
static int head_lsn(ferry_journal *j, MDB_txn *txn, uint64_t *next,
                    ferry_error *err)
{
	int rc = meta_get(j, txn, "next_lsn", 8, next, err);
	if (rc == FERRY_ENOTFOUND || (rc == 0 && *next == 0))
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "journal \"%s\": meta.next_lsn is %s", j->dir,
		                       rc == 0 ? "0" : "missing");
	return rc;
}

/* ---- open and close ------------------------------------------------- */

static int open_env(ferry_journal *j, const ferry_journal_options *o,
                    ferry_error *err)
{
	int rc = mdb_env_create(&j->env);
	if (rc != 0) {
		j->env = NULL;
		return lmdb_error(j, rc, "open", err);
	}
	size_t map = o->map_bytes ? o->map_bytes : DEFAULT_MAP_BYTES;
	map = (map + 4095) / 4096 * 4096;
	unsigned flags = MDB_NOTLS;
	if (o->no_sync)
		flags |= MDB_NOSYNC;
	if (o->read_only)
		flags |= MDB_RDONLY;
	rc = mdb_env_set_maxdbs(j->env, 8);
	if (rc == 0)
		rc = mdb_env_set_mapsize(j->env, map);
	if (rc == 0)
		rc = mdb_env_open(j->env, j->dir, flags, 0600);
	if (rc != 0)
		return lmdb_error(j, rc, "open", err);
	/* slots left by readers that died would pin pages for ever */
	int dead;
	mdb_reader_check(j->env, &dead);
	return 0;
}

/* Checks meta.format, creating the meta values of a new journal. */
static int setup_meta(wtxn *w)
{
	ferry_journal *j = w->j;
	uint64_t format, dict = 0, next;
	int rc = meta_get(j, w->txn, "format", 4, &format, w->err);
	/* a journal is new only if meta is empty: never re-initialise one
	 * that lost its format key */
	if (rc == FERRY_ENOTFOUND && !j->read_only &&
	    meta_get(j, w->txn, "next_lsn", 8, &next, NULL) == FERRY_ENOTFOUND) {
		format = JOURNAL_FORMAT;
		rc = meta_put(w, "format", JOURNAL_FORMAT, 4);
		if (rc == 0)
			rc = meta_put(w, "next_lsn", 1, 8);
		if (rc == 0)
			rc = meta_put(w, "dict", 0, 4);
	} else if (rc == FERRY_ENOTFOUND) {
		return ferry_error_set(w->err, FERRY_ECORRUPT,
		                       "journal \"%s\" has no meta.format", j->dir);
	}
	if (rc < 0)
		return rc;
	if (format > JOURNAL_FORMAT)
		return ferry_error_set(w->err, FERRY_EUNSUPPORTED,
		                       "journal \"%s\" has format %llu; this ferry "
		                       "reads format %d: upgrade ferry", j->dir,
		                       (unsigned long long)format, JOURNAL_FORMAT);
	if (format == 0)
		return ferry_error_set(w->err, FERRY_ECORRUPT,
		                       "journal \"%s\": meta.format is 0", j->dir);
	rc = head_lsn(j, w->txn, &j->committed, w->err);
	if (rc == 0)
		rc = meta_get(j, w->txn, "dict", 4, &dict, w->err);
	if (rc == FERRY_ENOTFOUND)
		rc = 0;
	j->dict_id = (uint32_t)dict;
	j->next_lsn = j->committed;
	return rc;
}

static int setup(wtxn *w, void *arg)
{
	static const char *const names[] = {"frames", "meta", "schemas",
	                                    "cursors", "dicts"};
	ferry_journal *j = w->j;
	MDB_dbi *dbis[] = {&j->frames, &j->meta, &j->schemas, &j->cursors,
	                   &j->dicts};
	for (int i = 0; i < 5; i++) {
		int rc = mdb_dbi_open(w->txn, names[i],
		                      j->read_only ? 0 : MDB_CREATE, dbis[i]);
		if (rc == MDB_NOTFOUND)
			return ferry_error_set(w->err, FERRY_ENOTFOUND,
			                       "could not open journal \"%s\": it has "
			                       "no \"%s\" database", j->dir, names[i]);
		if (rc != 0)
			return wfail(w, rc, "open");
	}
	return setup_meta(w);
}

static int open_dbs(ferry_journal *j, ferry_error *err)
{
	if (!j->read_only)
		return write_txn(j, setup, NULL, err);
	wtxn w = {j, NULL, 0, err};
	int rc = txn_begin(j, MDB_RDONLY, &w.txn, err);
	if (rc < 0)
		return rc;
	rc = setup(&w, NULL);
	if (rc < 0) {
		txn_abort(j, w.txn);
		return rc;
	}
	/* committing a read transaction keeps the database handles open */
	int mrc = txn_commit(j, w.txn);
	return mrc ? lmdb_error(j, mrc, "open", err) : 0;
}

/* Prepares meta.dict for new frames when dictionaries are wanted;
 * otherwise new frames go without (old ones stay readable). */
static int load_dict(ferry_journal *j, bool wanted, ferry_error *err)
{
	if (!wanted || j->read_only) {
		j->dict_id = 0;
		return 0;
	}
	j->sampling = j->dict_id == 0;
	if (j->dict_id == 0)
		return 0;
	MDB_txn *txn;
	int rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0)
		return rc;
	uint8_t key[4];
	put_be32(key, j->dict_id);
	MDB_val k = val_of(key, 4), v;
	int mrc = mdb_get(txn, j->dicts, &k, &v);
	if (mrc == MDB_NOTFOUND)
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "journal \"%s\": dictionary %u named by "
		                     "meta.dict is missing", j->dir,
		                     (unsigned)j->dict_id);
	else if (mrc != 0)
		rc = lmdb_error(j, mrc, "read", err);
	else
		rc = ferry_frame_ctx_set_dict(j->fctx, j->dict_id, v.mv_data,
		                              v.mv_size, err);
	txn_abort(j, txn);
	return rc;
}

static int new_journal(ferry_journal **out, const char *dir,
                       const ferry_journal_options *o, ferry_error *err)
{
	ferry_journal *j = ferry_calloc(1, sizeof *j);
	ferry_buf path = FERRY_BUF_INIT;
	ferry_buf_printf(&path, "%s/data.mdb", dir);
	if (!j || !(j->dir = ferry_strdup(dir)) ||
	    !(j->data_path = ferry_buf_detach(&path, NULL))) {
		ferry_buf_free(&path);
		ferry_journal_close(j);
		return ferry_error_oom(err);
	}
	*out = j;
	if (pthread_rwlock_init(&j->maplock, NULL) != 0)
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not open journal \"%s\": no lock", dir);
	j->lock_ready = true;
	j->read_only = o->read_only;
	j->frame_bytes = o->frame_bytes ? o->frame_bytes : DEFAULT_FRAME_BYTES;
	return ferry_frame_ctx_new(&j->fctx, o->level ? o->level : 3, err);
}

int ferry_journal_open(ferry_journal **out, const char *dir,
                       const ferry_journal_options *opts, ferry_error *err)
{
	ferry_journal_options o = {0};
	if (opts)
		o = *opts;
	if (o.frame_bytes > FERRY_FRAME_MAX_PAYLOAD)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "journal frame size %zu is over the %u-byte "
		                       "limit", o.frame_bytes,
		                       (unsigned)FERRY_FRAME_MAX_PAYLOAD);
	if (!o.read_only) {
		int rc = ferry_make_private_dir(dir, "journal directory", err);
		if (rc < 0)
			return rc;
	}
	ferry_journal *j = NULL;
	int rc = new_journal(&j, dir, &o, err);
	if (rc == 0)
		rc = open_env(j, &o, err);
	if (rc == 0)
		rc = open_dbs(j, err);
	if (rc == 0)
		rc = load_dict(j, o.dictionary, err);
	if (rc < 0) {
		ferry_journal_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

void ferry_journal_close(ferry_journal *j)
{
	if (!j)
		return;
	if (j->env)
		mdb_env_close(j->env);
	if (j->lock_ready)
		pthread_rwlock_destroy(&j->maplock);
	ferry_frame_ctx_free(j->fctx);
	ferry_buf_free(&j->payload);
	ferry_buf_free(&j->sealed);
	ferry_buf_free(&j->new_dict);
	ferry_buf_free(&j->samples);
	ferry_free(j->sample_sizes);
	ferry_free(j->data_path);
	ferry_free(j->dir);
	ferry_free(j);
}

/* ---- dictionary ----------------------------------------------------- */

static void stop_sampling(ferry_journal *j)
{
	j->sampling = false;
	ferry_buf_free(&j->samples);
	ferry_free(j->sample_sizes);
	j->sample_sizes = NULL;
	j->nsamples = j->samples_cap = 0;
}

static int add_sample(ferry_journal *j, const uint8_t *data, size_t len,
                      ferry_error *err)
{
	if (len > SAMPLE_BYTES - j->samples.len)
		len = SAMPLE_BYTES - j->samples.len;
	if (j->nsamples == j->samples_cap) {
		unsigned cap = j->samples_cap ? j->samples_cap * 2 : 64;
		size_t *sizes = ferry_realloc(j->sample_sizes, cap * sizeof *sizes);
		if (!sizes)
			return ferry_error_oom(err);
		j->sample_sizes = sizes;
		j->samples_cap = cap;
	}
	ferry_buf_append(&j->samples, data, len);
	if (ferry_buf_failed(&j->samples)) {
		truncate_buf(&j->samples, j->samples.len);
		return ferry_error_oom(err);
	}
	j->sample_sizes[j->nsamples++] = len;
	return 0;
}

/* Bytes the samples take as frames with the context's current dictionary. */
static int measure(ferry_journal *j, ferry_buf *scratch, size_t *total,
                   ferry_error *err)
{
	const uint8_t *p = j->samples.data;
	*total = 0;
	for (unsigned i = 0; i < j->nsamples; i++) {
		ferry_buf_reset(scratch);
		int rc = ferry_frame_encode(j->fctx, p, j->sample_sizes[i], 1, 1,
		                            scratch, err);
		if (rc < 0)
			return rc;
		*total += scratch->len;
		p += j->sample_sizes[i];
	}
	return 0;
}

/* Puts dict in the compression context if it makes the samples at least
 * 10% smaller: 1 when kept, 0 when not worth it. */
static int dict_pays(ferry_journal *j, const ferry_buf *dict, uint32_t id,
                     ferry_error *err)
{
	ferry_buf scratch = FERRY_BUF_INIT;
	size_t plain = 0, with = 0;
	int rc = measure(j, &scratch, &plain, err);
	if (rc == 0)
		rc = ferry_frame_ctx_set_dict(j->fctx, id, dict->data, dict->len,
		                              err);
	if (rc == 0)
		rc = measure(j, &scratch, &with, err);
	ferry_buf_free(&scratch);
	if (rc == 0 && (double)with <= 0.9 * (double)plain)
		return 1;
	ferry_frame_ctx_set_dict(j->fctx, 0, NULL, 0, NULL);
	return rc;
}

/* Trains a dictionary from the samples.  The dictionary only saves
 * space, so a failure is not the caller's: the journal goes on without
 * one, or, short of memory, tries again at the next frame. */
static void train(ferry_journal *j)
{
	ferry_buf dict = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	uint32_t id = 0;
	int rc = ferry_frame_train_dict(j->samples.data, j->sample_sizes,
	                                j->nsamples, DICT_CAP, &dict, &id, &err);
	if (rc == 0)
		rc = dict_pays(j, &dict, id, &err);
	ferry_error_clear(&err);
	if (rc == FERRY_ENOMEM) {
		ferry_buf_free(&dict);
		return;
	}
	if (rc == 1) {
		j->dict_id = id;
		ferry_buf_free(&j->new_dict);
		j->new_dict = dict;
	} else {
		ferry_buf_free(&dict);
	}
	stop_sampling(j);
}

/* ---- appending and committing --------------------------------------- */

/* Compresses records into a frame on the pending list, or changes
 * nothing.  Frames written while sampling feed the dictionary. */
static int seal(ferry_journal *j, const uint8_t *data, size_t len,
                uint32_t count, uint64_t first, ferry_error *err)
{
	size_t mark = j->sealed.len;
	int rc = ferry_frame_encode(j->fctx, data, len, count, first, &j->sealed,
	                            err);
	if (rc == 0 && j->sampling && j->samples.len < SAMPLE_BYTES)
		rc = add_sample(j, data, len, err);
	if (rc < 0) {
		truncate_buf(&j->sealed, mark);
		return rc;
	}
	if (j->sampling && j->samples.len >= SAMPLE_BYTES)
		train(j);
	return 0;
}

static int seal_open_frame(ferry_journal *j, ferry_error *err)
{
	int rc = seal(j, j->payload.data, j->payload.len, j->count, j->first,
	              err);
	if (rc == 0) {
		truncate_buf(&j->payload, 0);
		j->count = 0;
	}
	return rc;
}

int ferry_journal_append(ferry_journal *j, const ferry_change *c,
                         uint64_t *lsn, ferry_error *err)
{
	if (j->read_only)
		return read_only_error(j, err);
	/* a full frame is sealed when the next change comes (or at commit),
	 * so that a failure leaves both the frame and the new change out */
	if (j->count > 0 && j->payload.len >= j->frame_bytes) {
		int rc = seal_open_frame(j, err);
		if (rc < 0)
			return rc;
	}
	size_t old = j->payload.len;
	int rc = ferry_change_encode(c, &j->payload, err);
	size_t rec = j->payload.len - old;
	if (rc == 0 && rec > FERRY_FRAME_MAX_PAYLOAD)
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "change of %zu bytes does not fit in a journal "
		                     "frame (%u bytes at most)", rec,
		                     (unsigned)FERRY_FRAME_MAX_PAYLOAD);
	if (rc == 0 && old > 0 && old + rec > FERRY_FRAME_MAX_PAYLOAD) {
		rc = seal(j, j->payload.data, old, j->count, j->first, err);
		if (rc == 0) {
			memmove(j->payload.data, j->payload.data + old, rec);
			truncate_buf(&j->payload, rec);
			j->count = 0;
		}
	}
	if (rc < 0) {
		if (j->payload.len >= old)
			truncate_buf(&j->payload, old);
		return rc;
	}
	if (j->count == 0)
		j->first = j->next_lsn;
	j->count++;
	if (lsn)
		*lsn = j->next_lsn;
	j->next_lsn++;
	return 0;
}

typedef struct commit_args {
	const void *position;
	size_t position_len;
	bool dict_clash;         /* the new dictionary's id is taken */
} commit_args;

/* Stores the new dictionary; an id already taken by other bytes (zstd
 * picks ids at random) means this dictionary cannot be used. */
static int put_dict(wtxn *w, commit_args *a)
{
	ferry_journal *j = w->j;
	uint8_t key[4];
	put_be32(key, j->dict_id);
	MDB_val k = val_of(key, 4), v = val_of(j->new_dict.data, j->new_dict.len);
	int rc = mdb_put(w->txn, j->dicts, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		if (v.mv_size == j->new_dict.len &&
		    memcmp(v.mv_data, j->new_dict.data, v.mv_size) == 0)
			return 0;
		a->dict_clash = true;
		return ferry_error_set(w->err, FERRY_ERROR,
		                       "could not store dictionary %u in journal "
		                       "\"%s\": another dictionary has that id",
		                       (unsigned)j->dict_id, j->dir);
	}
	return rc ? wfail(w, rc, "write to") : 0;
}

static int fill_commit(wtxn *w, void *arg)
{
	ferry_journal *j = w->j;
	commit_args *a = arg;
	uint64_t head;
	int rc = head_lsn(j, w->txn, &head, w->err);
	if (rc < 0)
		return rc;
	if (head != j->committed)
		return ferry_error_set(w->err, FERRY_ERROR,
		                       "could not commit to journal \"%s\": another "
		                       "writer has appended to it (next LSN %llu, "
		                       "expected %llu)", j->dir,
		                       (unsigned long long)head,
		                       (unsigned long long)j->committed);
	for (size_t off = 0; rc == 0 && off < j->sealed.len;) {
		const uint8_t *f = j->sealed.data + off;
		size_t len = FERRY_FRAME_HEADER_SIZE + (size_t)get_le(f + 28, 4);
		uint8_t key[8];
		put_be64(key, get_le(f + 16, 8));
		rc = wput(w, j->frames, key, 8, f, len, MDB_APPEND);
		off += len;
	}
	if (rc == 0)
		rc = meta_put(w, "next_lsn", j->next_lsn, 8);
	if (rc == 0 && a->position)
		rc = wput(w, j->meta, "capture", 7, a->position, a->position_len, 0);
	if (rc == 0 && j->new_dict.len > 0)
		rc = put_dict(w, a);
	if (rc == 0)
		rc = meta_put(w, "dict", j->dict_id, 4);
	return rc;
}

/* Forgets the batch, committed or not; a big pending list gives its
 * memory back rather than keep the high-water mark. */
static void drop_batch(ferry_journal *j)
{
	if (j->sealed.cap > KEEP_BATCH_BYTES)
		ferry_buf_free(&j->sealed);
	if (j->payload.cap > KEEP_BATCH_BYTES)
		ferry_buf_free(&j->payload);
	truncate_buf(&j->sealed, 0);
	truncate_buf(&j->payload, 0);
	j->count = 0;
	j->next_lsn = j->committed;
}

int ferry_journal_commit(ferry_journal *j, const void *position,
                         size_t position_len, ferry_error *err)
{
	if (j->read_only)
		return read_only_error(j, err);
	commit_args a = {position, position_len, false};
	int rc = 0;
	if (j->count > 0)
		rc = seal_open_frame(j, err);
	if (rc == 0 && (j->sealed.len > 0 || position || j->new_dict.len > 0))
		rc = write_txn(j, fill_commit, &a, err);
	if (rc == 0) {
		j->committed = j->next_lsn;
		ferry_buf_free(&j->new_dict);
	} else if (a.dict_clash) {
		ferry_frame_ctx_set_dict(j->fctx, 0, NULL, 0, NULL);
		ferry_buf_free(&j->new_dict);
		j->dict_id = 0;
	}
	drop_batch(j);
	return rc;
}

uint64_t ferry_journal_last_lsn(const ferry_journal *j)
{
	/* re-read: another process may be the writer */
	ferry_journal *mj = (ferry_journal *)j;
	uint64_t next = j->committed;
	MDB_txn *txn;
	if (txn_begin(mj, MDB_RDONLY, &txn, NULL) == 0) {
		if (head_lsn(mj, txn, &next, NULL) < 0)
			next = j->committed;
		txn_abort(mj, txn);
	}
	return next - 1;
}

int ferry_journal_capture_cursor(ferry_journal *j, uint8_t **pos, size_t *len,
                                 ferry_error *err)
{
	*pos = NULL;
	*len = 0;
	MDB_txn *txn;
	int rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0)
		return rc;
	MDB_val k = val_of("capture", 7), v;
	int mrc = mdb_get(txn, j->meta, &k, &v);
	if (mrc == 0 && v.mv_size > 0) {
		*pos = ferry_malloc(v.mv_size);
		if (*pos) {
			memcpy(*pos, v.mv_data, v.mv_size);
			*len = v.mv_size;
		} else {
			rc = ferry_error_oom(err);
		}
	} else if (mrc != 0 && mrc != MDB_NOTFOUND) {
		rc = lmdb_error(j, mrc, "read", err);
	}
	txn_abort(j, txn);
	return rc;
}

/* ---- reading frames ------------------------------------------------- */

/*
 * Decodes every record of a frame's payload, which must hold exactly
 * count of them: a frame is checked whole before any of it is used.
 * *at gets the offset of record `index`, *newest the latest commit time.
 */
static int check_records(const ferry_buf *raw, uint32_t count,
                         uint64_t first, uint32_t index, ferry_change *scratch,
                         size_t *at, int64_t *newest, ferry_error *err)
{
	size_t off = 0;
	*newest = INT64_MIN;
	for (uint32_t i = 0; i < count; i++) {
		if (i == index)
			*at = off;
		size_t used;
		int rc = off < raw->len
		             ? ferry_change_decode(scratch, raw->data + off,
		                                   raw->len - off, &used, err)
		             : ferry_error_set(err, FERRY_ECORRUPT,
		                               "the payload ends after %u of %u "
		                               "records", (unsigned)i,
		                               (unsigned)count);
		if (rc < 0) {
			if (off < raw->len)
				ferry_error_prefix(err, "record %u (LSN %llu)",
				                   (unsigned)i + 1,
				                   (unsigned long long)(first + i));
			return rc;
		}
		if (scratch->commit_time > *newest)
			*newest = scratch->commit_time;
		off += used;
	}
	if (off != raw->len)
		return ferry_error_set(err, FERRY_ECORRUPT,
		                       "%zu bytes follow the last record",
		                       raw->len - off);
	return 0;
}

static int iter_dict(void *arg, uint32_t id, const void **dict, size_t *len)
{
	ferry_journal_iter *it = arg;
	ferry_journal *j = it->j;
	MDB_txn *txn;
	if (txn_begin(j, MDB_RDONLY, &txn, NULL) < 0)
		return FERRY_ERROR;
	uint8_t key[4];
	put_be32(key, id);
	MDB_val k = val_of(key, 4), v;
	int mrc = mdb_get(txn, j->dicts, &k, &v);
	int rc = mrc == MDB_NOTFOUND ? FERRY_ENOTFOUND : mrc ? FERRY_ERROR : 0;
	if (rc == 0) {
		ferry_buf_reset(&it->dict);
		ferry_buf_append(&it->dict, v.mv_data, v.mv_size);
		rc = ferry_buf_failed(&it->dict) ? FERRY_ENOMEM : 0;
	}
	txn_abort(j, txn);
	*dict = it->dict.data;
	*len = it->dict.len;
	return rc;
}

/* The frame found for an LSN: its key, its stored bytes, and the last
 * LSN before the next frame (or the head).  Ranges in messages come from
 * the keys, not from the header, which may be what is damaged. */
typedef struct spot {
	uint64_t key;
	MDB_val val;
	uint64_t end;
} spot;

/* Whether a stored frame passes its own checks, claiming count records. */
static bool intact(const MDB_val *v, uint32_t *count)
{
	ferry_frame_info info;
	if (ferry_frame_check(v->mv_data, v->mv_size, &info, NULL) < 0)
		return false;
	*count = info.count;
	return true;
}

/* No frame holds want though it is below the head: the frames before it
 * were pruned, or some are missing (a gap, reported as the missing
 * range: a frame that should be there and is not is a corrupt one). */
static int not_held(ferry_journal *j, uint64_t want, bool before,
                    uint64_t end, ferry_error *err)
{
	if (!before)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "journal \"%s\": LSN %llu has been pruned",
		                       j->dir, (unsigned long long)want);
	return ferry_error_set(err, FERRY_ECORRUPT,
	                       "journal \"%s\": frame at LSN %llu..%llu is "
	                       "corrupt: it is missing", j->dir,
	                       (unsigned long long)want, (unsigned long long)end);
}

/* Finds the frame that must hold want (below head): the one keyed want,
 * else the one before it, unless that one is intact and ends before
 * want.  A damaged one is returned, to be reported by the caller. */
static int locate(ferry_journal *j, MDB_cursor *cur, uint64_t want,
                  uint64_t head, spot *out, ferry_error *err)
{
	uint8_t kb[8];
	put_be64(kb, want);
	MDB_val k = val_of(kb, 8), v = val_of(NULL, 0);
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_error(j, rc, "read", err);
	uint64_t after = rc == 0 ? key_lsn(&k) : head;
	if (after != want) {
		rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return lmdb_error(j, rc, "read", err);
		uint32_t count;
		if (rc == MDB_NOTFOUND || key_lsn(&k) >= want ||
		    (intact(&v, &count) && want - key_lsn(&k) >= count))
			return not_held(j, want, rc == 0, after - 1, err);
	}
	out->key = key_lsn(&k);
	out->val = v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_error(j, rc, "read", err);
	uint64_t next = rc == 0 ? key_lsn(&k) : head;
	out->end = next > out->key ? next - 1 : out->key;
	return 0;
}

/* Copies the frame holding it->next out of a short read transaction:
 * 1 and *at, or 0 when it->next is past the head. */
static int fetch(ferry_journal_iter *it, spot *at, ferry_error *err)
{
	ferry_journal *j = it->j;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint64_t head;
	int rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0)
		return rc;
	rc = head_lsn(j, txn, &head, err);
	int mrc = rc == 0 ? mdb_cursor_open(txn, j->frames, &cur) : 0;
	if (mrc != 0)
		rc = lmdb_error(j, mrc, "read", err);
	if (rc == 0 && it->next == 0) { /* from the oldest frame kept */
		MDB_val k, v;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		it->next = mrc == 0 ? key_lsn(&k) : head;
		if (mrc != 0 && mrc != MDB_NOTFOUND)
			rc = lmdb_error(j, mrc, "read", err);
	}
	if (rc == 0 && it->next < head)
		rc = locate(j, cur, it->next, head, at, err);
	if (rc == 0 && it->next < head) {
		ferry_buf_reset(&it->frame);
		ferry_buf_append(&it->frame, at->val.mv_data, at->val.mv_size);
		rc = ferry_buf_failed(&it->frame) ? ferry_error_oom(err) : 1;
	}
	if (cur)
		mdb_cursor_close(cur);
	txn_abort(j, txn);
	return rc;
}

/* Checks and unpacks the frame just fetched; it must start at its key
 * and hold it->next (and, once reading has begun, start exactly there). */
static int unpack(ferry_journal_iter *it, const spot *at, ferry_error *err)
{
	ferry_frame_info info;
	uint64_t key = at->key;
	int rc = ferry_frame_check(it->frame.data, it->frame.len, &info, err);
	if (rc == 0 && info.first_lsn != key)
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "its header says LSN %llu",
		                     (unsigned long long)info.first_lsn);
	else if (rc == 0 && it->started && key != it->next)
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "LSN %llu was expected to start it",
		                     (unsigned long long)it->next);
	else if (rc == 0 && (key > it->next || it->next - key >= info.count))
		rc = ferry_error_set(err, FERRY_ECORRUPT, "it does not hold LSN %llu",
		                     (unsigned long long)it->next);
	if (rc == 0)
		rc = ferry_frame_decompress(it->fctx, it->frame.data, &info,
		                            iter_dict, it, &it->raw, err);
	int64_t newest;
	uint32_t index = (uint32_t)(it->next - key);
	if (rc == 0)
		rc = check_records(&it->raw, info.count, key, index, &it->scratch,
		                   &it->off, &newest, err);
	if (rc == FERRY_ECORRUPT)
		return frame_corrupt(it->j, key, at->end, err);
	if (rc < 0)
		return rc;
	it->count = info.count;
	it->done = index;
	it->started = true;
	return 0;
}

int ferry_journal_iter_open(ferry_journal_iter **out, ferry_journal *j,
                            uint64_t from, ferry_error *err)
{
	ferry_journal_iter *it = ferry_calloc(1, sizeof *it);
	if (!it)
		return ferry_error_oom(err);
	ferry_change init = FERRY_CHANGE_INIT;
	it->change = init;
	it->scratch = init;
	it->j = j;
	it->next = from;
	int rc = ferry_frame_ctx_new(&it->fctx, 0, err);
	if (rc < 0) {
		ferry_journal_iter_close(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* Keeps a corruption so every later call reports it again. */
static void remember_failure(ferry_journal_iter *it, const ferry_error *err)
{
	it->failed = FERRY_ECORRUPT;
	it->failure = ferry_strdup(ferry_error_message(err));
}

int ferry_journal_iter_next(ferry_journal_iter *it, const ferry_change **change,
                            uint64_t *lsn, ferry_error *err)
{
	if (it->failed)
		return ferry_error_set(err, it->failed, "%s",
		                       it->failure ? it->failure
		                                   : "journal frame is corrupt");
	if (it->done == it->count) {
		spot at = {0, {0, NULL}, 0};
		it->count = it->done = 0;
		int rc = fetch(it, &at, err);
		if (rc == 0)
			return 0; /* the current end */
		if (rc == 1)
			rc = unpack(it, &at, err);
		if (rc == FERRY_ECORRUPT)
			remember_failure(it, err);
		if (rc < 0)
			return rc;
	}
	size_t used;
	int rc = ferry_change_decode(&it->change, it->raw.data + it->off,
	                             it->raw.len - it->off, &used, err);
	if (rc < 0)
		return rc; /* short of memory: the frame was checked whole */
	it->off += used;
	it->done++;
	*change = &it->change;
	*lsn = it->next++;
	return 1;
}

void ferry_journal_iter_close(ferry_journal_iter *it)
{
	if (!it)
		return;
	ferry_frame_ctx_free(it->fctx);
	ferry_buf_free(&it->frame);
	ferry_buf_free(&it->raw);
	ferry_buf_free(&it->dict);
	ferry_change_free(&it->change);
	ferry_change_free(&it->scratch);
	ferry_free(it->failure);
	ferry_free(it);
}

/* ---- cursors -------------------------------------------------------- */

static int check_cursor_name(const ferry_journal *j, const char *name,
                             ferry_error *err)
{
	size_t len = name ? strlen(name) : 0;
	bool bad = len == 0 || len > MAX_CURSOR_NAME;
	for (size_t i = 0; !bad && i < len; i++)
		bad = name[i] <= ' ' || name[i] > '~';
	if (bad)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "bad cursor name for journal \"%s\": 1 to %d "
		                       "printable ASCII characters, no spaces",
		                       j->dir, MAX_CURSOR_NAME);
	return 0;
}

typedef struct cursor_args {
	const char *name;
	uint64_t lsn;
} cursor_args;

static int fill_cursor(wtxn *w, void *arg)
{
	cursor_args *a = arg;
	uint64_t head;
	int rc = head_lsn(w->j, w->txn, &head, w->err);
	if (rc < 0)
		return rc;
	if (a->lsn >= head)
		return ferry_error_set(w->err, FERRY_EINVAL,
		                       "could not set cursor \"%s\" of journal "
		                       "\"%s\" to LSN %llu: the last committed "
		                       "change is LSN %llu", a->name, w->j->dir,
		                       (unsigned long long)a->lsn,
		                       (unsigned long long)(head - 1));
	uint8_t v[8];
	put_le(v, a->lsn, 8);
	return wput(w, w->j->cursors, a->name, strlen(a->name), v, 8, 0);
}

int ferry_journal_cursor_set(ferry_journal *j, const char *name, uint64_t lsn,
                             ferry_error *err)
{
	if (j->read_only)
		return read_only_error(j, err);
	int rc = check_cursor_name(j, name, err);
	if (rc < 0)
		return rc;
	cursor_args a = {name, lsn};
	return write_txn(j, fill_cursor, &a, err);
}

int ferry_journal_cursor_get(ferry_journal *j, const char *name, uint64_t *lsn,
                             ferry_error *err)
{
	*lsn = 0;
	int rc = check_cursor_name(j, name, err);
	MDB_txn *txn;
	if (rc == 0)
		rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0)
		return rc;
	MDB_val k = val_of(name, strlen(name)), v;
	int mrc = mdb_get(txn, j->cursors, &k, &v);
	if (mrc == MDB_NOTFOUND)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "journal \"%s\" has no cursor \"%s\"", j->dir,
		                     name);
	else if (mrc != 0)
		rc = lmdb_error(j, mrc, "read", err);
	else if (v.mv_size != 8)
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "journal \"%s\": cursor \"%s\" is %zu bytes, "
		                     "not 8", j->dir, name, v.mv_size);
	else
		*lsn = get_le(v.mv_data, 8);
	txn_abort(j, txn);
	return rc;
}

/* ---- retention ------------------------------------------------------ */

/* The lowest cursor: 1, or 0 when there is none. */
static int min_cursor(wtxn *w, uint64_t *floor)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int found = 0;
	int rc = mdb_cursor_open(w->txn, w->j->cursors, &cur);
	if (rc != 0)
		return wfail(w, rc, "read");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t lsn = v.mv_size == 8 ? get_le(v.mv_data, 8) : 0;
		if (!found || lsn < *floor)
			*floor = lsn;
		found = 1;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? found : wfail(w, rc, "read");
}

typedef struct prune_args {
	int64_t cutoff;          /* frames must be older than this */
	uint64_t deleted;
	ferry_buf raw;
	ferry_change scratch;
	MDB_txn *txn;            /* for the dictionary lookups */
	ferry_journal *j;
} prune_args;

static int prune_dict(void *arg, uint32_t id, const void **dict, size_t *len)
{
	prune_args *a = arg;
	uint8_t key[4];
	put_be32(key, id);
	MDB_val k = val_of(key, 4), v;
	int rc = mdb_get(a->txn, a->j->dicts, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? FERRY_ENOTFOUND : FERRY_ERROR;
	*dict = v.mv_data;
	*len = v.mv_size;
	return 0;
}

/* Whether the oldest frame (key..end by the keys) may go: 1 yes, 0 no
 * (then it and every frame after it stay). */
static int prunable(wtxn *w, prune_args *a, const MDB_val *v, uint64_t key,
                    uint64_t end, uint64_t floor)
{
	ferry_frame_info info;
	int64_t newest;
	size_t at;
	int rc = ferry_frame_check(v->mv_data, v->mv_size, &info, w->err);
	if (rc == 0 && info.first_lsn != key)
		rc = ferry_error_set(w->err, FERRY_ECORRUPT,
		                     "its header says LSN %llu",
		                     (unsigned long long)info.first_lsn);
	if (rc == 0 && key + info.count - 1 > floor)
		return 0;
	if (rc == 0)
		rc = ferry_frame_decompress(w->j->fctx, v->mv_data, &info,
		                            prune_dict, a, &a->raw, w->err);
	if (rc == 0)
		rc = check_records(&a->raw, info.count, key, 0, &a->scratch, &at,
		                   &newest, w->err);
	if (rc == FERRY_ECORRUPT)
		return frame_corrupt(w->j, key, end, w->err);
	if (rc < 0)
		return rc;
	return newest < a->cutoff;
}

/* Looks at the oldest frame: 1 and deletes it if it may go, else 0. */
static int prune_first(wtxn *w, prune_args *a, MDB_cursor *cur,
                       uint64_t head, uint64_t floor)
{
	MDB_val k, v, nk, nv;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : wfail(w, rc, "read");
	uint8_t key[8];
	uint64_t first = key_lsn(&k);
	put_be64(key, first);
	rc = mdb_cursor_get(cur, &nk, &nv, MDB_NEXT);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return wfail(w, rc, "read");
	uint64_t next = rc == 0 ? key_lsn(&nk) : head;
	rc = prunable(w, a, &v, first, next > first ? next - 1 : first, floor);
	if (rc <= 0)
		return rc;
	k = val_of(key, 8);
	rc = mdb_del(w->txn, w->j->frames, &k, NULL);
	return rc ? wfail(w, rc, "delete from") : 1;
}

static int fill_prune(wtxn *w, void *arg)
{
	prune_args *a = arg;
	uint64_t floor = 0, head;
	MDB_cursor *cur;
	a->deleted = 0;
	a->txn = w->txn;
	int rc = head_lsn(w->j, w->txn, &head, w->err);
	if (rc == 0)
		rc = min_cursor(w, &floor);
	if (rc <= 0)
		return rc;
	int mrc = mdb_cursor_open(w->txn, w->j->frames, &cur);
	if (mrc != 0)
		return wfail(w, mrc, "read");
	/* only ever the oldest frame goes, so the journal stays contiguous */
	while ((rc = prune_first(w, a, cur, head, floor)) == 1)
		a->deleted++;
	mdb_cursor_close(cur);
	return rc;
}

int ferry_journal_prune(ferry_journal *j, int64_t now_us, int64_t window_us,
                        uint64_t *frames, ferry_error *err)
{
	if (frames)
		*frames = 0;
	if (j->read_only)
		return read_only_error(j, err);
	prune_args a = {0, 0, FERRY_BUF_INIT, FERRY_CHANGE_INIT, NULL, j};
	/* saturate: a window reaching before 1970 or after 2262 is allowed */
	if (window_us < 0)
		window_us = 0;
	a.cutoff = now_us < INT64_MIN + window_us ? INT64_MIN : now_us - window_us;
	int rc = write_txn(j, fill_prune, &a, err);
	ferry_buf_free(&a.raw);
	ferry_change_free(&a.scratch);
	if (rc == 0 && frames)
		*frames = a.deleted;
	return rc;
}

/* ---- schemas -------------------------------------------------------- */

static void put_string(ferry_buf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	ferry_buf_put_varint(b, len);
	ferry_buf_append(b, s, len);
}

static int encode_schema(const ferry_table *t, ferry_buf *b, ferry_error *err)
{
	ferry_buf_put_u32le(b, t->ncolumns);
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		const ferry_column *c = &t->columns[i];
		if (c->pk_position < 0 || c->pk_position > 255 || !c->name)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "could not store the schema of table "
			                       "\"%s\": column %u has %s", t->name,
			                       (unsigned)i + 1,
			                       c->name ? "a key position out of range"
			                               : "no name");
		put_string(b, c->name);
		put_string(b, c->decl_type);
		ferry_buf_putc(b, (uint8_t)c->type.kind);
		ferry_buf_put_svarint(b, c->type.precision);
		ferry_buf_put_svarint(b, c->type.scale);
		ferry_buf_put_svarint(b, c->type.length);
		ferry_buf_putc(b, c->not_null ? 1 : 0);
		ferry_buf_putc(b, (uint8_t)c->pk_position);
	}
	ferry_buf_putc(b, (uint8_t)((t->without_rowid ? 1 : 0) |
	                            (t->rowid_key ? 2 : 0)));
	return ferry_buf_failed(b) ? ferry_error_oom(err) : 0;
}

/* The schemas key: table name, a 0 byte, the version big-endian. */
static int schema_key(ferry_journal *j, const char *table, uint32_t version,
                      ferry_buf *key, ferry_error *err)
{
	size_t len = table ? strlen(table) : 0;
	size_t max = (size_t)mdb_env_get_maxkeysize(j->env) - 5;
	if (len == 0 || len > max)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use table name \"%s\" in journal "
		                       "\"%s\": 1 to %zu bytes", table ? table : "",
		                       j->dir, max);
	uint8_t v[4];
	put_be32(v, version);
	ferry_buf_append(key, table, len);
	ferry_buf_putc(key, 0);
	ferry_buf_append(key, v, 4);
	return ferry_buf_failed(key) ? ferry_error_oom(err) : 0;
}

typedef struct schema_args {
	ferry_buf key, val;
	const char *table;
	uint32_t version;
} schema_args;

static int fill_schema(wtxn *w, void *arg)
{
	schema_args *a = arg;
	MDB_val k = val_of(a->key.data, a->key.len);
	MDB_val v = val_of(a->val.data, a->val.len);
	int rc = mdb_put(w->txn, w->j->schemas, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		if (v.mv_size == a->val.len &&
		    memcmp(v.mv_data, a->val.data, v.mv_size) == 0)
			return 0; /* stored once: the same again is fine */
		return ferry_error_set(w->err, FERRY_EINVAL,
		                       "journal \"%s\" already holds a different "
		                       "schema version %u of table \"%s\"",
		                       w->j->dir, (unsigned)a->version, a->table);
	}
	return rc ? wfail(w, rc, "write to") : 0;
}

int ferry_journal_put_schema(ferry_journal *j, const ferry_table *t,
                             uint32_t version, ferry_error *err)
{
	if (j->read_only)
		return read_only_error(j, err);
	schema_args a = {FERRY_BUF_INIT, FERRY_BUF_INIT, t->name, version};
	int rc = schema_key(j, t->name, version, &a.key, err);
	if (rc == 0)
		rc = encode_schema(t, &a.val, err);
	if (rc == 0)
		rc = write_txn(j, fill_schema, &a, err);
	ferry_buf_free(&a.key);
	ferry_buf_free(&a.val);
	return rc;
}

/* Reads a varint-length string as a new C string; NULL and *what set
 * when the bytes are bad, NULL alone when memory runs out. */
static char *get_string(ferry_reader *r, const char **what)
{
	uint64_t len;
	const uint8_t *p;
	if (ferry_reader_varint(r, &len) < 0 || len > ferry_reader_left(r) ||
	    ferry_reader_bytes(r, (size_t)len, &p) < 0 ||
	    memchr(p, 0, (size_t)len)) {
		*what = "a bad column name or type";
		return NULL;
	}
	return ferry_strndup((const char *)p, (size_t)len);
}

static int get_int32(ferry_reader *r, int32_t *out)
{
	int64_t v;
	if (ferry_reader_svarint(r, &v) < 0 || v < INT32_MIN || v > INT32_MAX)
		return -1;
	*out = (int32_t)v;
	return 0;
}

/* Fills c from the reader: 0, FERRY_ENOMEM, or FERRY_ECORRUPT with *what. */
static int decode_column(ferry_reader *r, ferry_column *c, const char **what)
{
	uint8_t kind, not_null, pk;
	if (!(c->name = get_string(r, what)))
		return *what ? FERRY_ECORRUPT : FERRY_ENOMEM;
	if (!(c->decl_type = get_string(r, what)))
		return *what ? FERRY_ECORRUPT : FERRY_ENOMEM;
	if (ferry_reader_u8(r, &kind) < 0 || kind > FERRY_SQL_UUID ||
	    get_int32(r, &c->type.precision) < 0 ||
	    get_int32(r, &c->type.scale) < 0 || get_int32(r, &c->type.length) < 0 ||
	    ferry_reader_u8(r, &not_null) < 0 || not_null > 1 ||
	    ferry_reader_u8(r, &pk) < 0) {
		*what = "a bad column type or flag";
		return FERRY_ECORRUPT;
	}
	c->type.kind = (ferry_sqltype_kind)kind;
	c->not_null = not_null;
	c->pk_position = pk;
	return 0;
}

static int decode_schema(const MDB_val *v, ferry_table *t, const char **what)
{
	ferry_reader r;
	uint32_t n;
	uint8_t flags;
	ferry_reader_init(&r, v->mv_data, v->mv_size);
	/* a column takes at least 8 bytes: bounds the count before use */
	if (ferry_reader_u32le(&r, &n) < 0 || n > ferry_reader_left(&r) / 8) {
		*what = "a bad column count";
		return FERRY_ECORRUPT;
	}
	for (uint32_t i = 0; i < n; i++) {
		ferry_column *c = ferry_table_add_column(t);
		if (!c)
			return FERRY_ENOMEM;
		int rc = decode_column(&r, c, what);
		if (rc < 0)
			return rc;
	}
	if (ferry_reader_u8(&r, &flags) < 0 || (flags & ~3u) ||
	    ferry_reader_left(&r) != 0) {
		*what = "bad table flags";
		return FERRY_ECORRUPT;
	}
	t->without_rowid = flags & 1;
	t->rowid_key = (flags & 2) != 0;
	return 0;
}

int ferry_journal_get_schema(ferry_journal *j, const char *table,
                             uint32_t version, ferry_table *out,
                             ferry_error *err)
{
	ferry_buf key = FERRY_BUF_INIT;
	ferry_table t = {0};
	const char *what = NULL;
	MDB_txn *txn;
	t.row_count = -1;
	int rc = schema_key(j, table, version, &key, err);
	if (rc == 0)
		rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0) {
		ferry_buf_free(&key);
		return rc;
	}
	MDB_val k = val_of(key.data, key.len), v;
	int mrc = mdb_get(txn, j->schemas, &k, &v);
	if (mrc == 0 && (rc = decode_schema(&v, &t, &what)) == 0 &&
	    !(t.name = ferry_strdup(table)))
		rc = FERRY_ENOMEM;
	txn_abort(j, txn);
	ferry_buf_free(&key);
	if (mrc == MDB_NOTFOUND)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "journal \"%s\" has no schema version %u of "
		                     "table \"%s\"", j->dir, (unsigned)version, table);
	else if (mrc != 0)
		rc = lmdb_error(j, mrc, "read", err);
	else if (rc == FERRY_ENOMEM)
		ferry_error_oom(err);
	else if (rc < 0)
		ferry_error_set(err, rc, "journal \"%s\": schema version %u of table "
		                "\"%s\" is corrupt: %s", j->dir, (unsigned)version,
		                table, what);
	if (rc < 0) {
		ferry_table_clear(&t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- stat ----------------------------------------------------------- */

static int stat_frames(ferry_journal *j, MDB_txn *txn, ferry_journal_stats *s,
                       ferry_error *err)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, j->frames, &cur);
	if (rc != 0)
		return lmdb_error(j, rc, "read", err);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (s->frames++ == 0)
			s->first_lsn = key_lsn(&k);
		s->stored_bytes += v.mv_size;
		s->changes += header_count(&v);
		if (v.mv_size >= FERRY_FRAME_HEADER_SIZE)
			s->raw_bytes += get_le((const uint8_t *)v.mv_data + 24, 4);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : lmdb_error(j, rc, "read", err);
}

static int stat_cursors(ferry_journal *j, MDB_txn *txn, ferry_journal_stats *s,
                        ferry_error *err)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, j->cursors, &cur);
	if (rc != 0)
		return lmdb_error(j, rc, "read", err);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && s->ncursors < 16;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		ferry_journal_cursor_stat *c = &s->cursors[s->ncursors++];
		size_t n = k.mv_size < sizeof c->name ? k.mv_size : sizeof c->name - 1;
		memcpy(c->name, k.mv_data, n);
		c->name[n] = '\0';
		c->lsn = v.mv_size == 8 ? get_le(v.mv_data, 8) : 0;
		c->behind = s->last_lsn > c->lsn ? s->last_lsn - c->lsn : 0;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_error(j, rc, "read", err);
}

int ferry_journal_stat(ferry_journal *j, ferry_journal_stats *out,
                       ferry_error *err)
{
	memset(out, 0, sizeof *out);
	MDB_txn *txn;
	uint64_t head = 1, dict = 0;
	int rc = txn_begin(j, MDB_RDONLY, &txn, err);
	if (rc < 0)
		return rc;
	rc = head_lsn(j, txn, &head, err);
	if (rc == 0)
		rc = meta_get(j, txn, "dict", 4, &dict, err);
	if (rc == FERRY_ENOTFOUND)
		rc = 0;
	out->last_lsn = head - 1;
	out->dict_id = (uint32_t)dict;
	if (rc == 0)
		rc = stat_frames(j, txn, out, err);
	if (rc == 0)
		rc = stat_cursors(j, txn, out, err);
	txn_abort(j, txn);
	struct stat sb;
	if (rc == 0 && stat(j->data_path, &sb) == 0)
		out->disk_bytes = (uint64_t)sb.st_size;
	return rc;
}
