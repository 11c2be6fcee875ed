/*
 * engine/verify.c - `ferry verify` (verify.h, docs/verify.md): the
 * source read through the plan's forward mapper against the target read
 * with the source reader for its kind, both canonicalized to the target
 * column types (engine/canon.c) and hashed with XXH3 chunk by chunk;
 * chunks that differ are split down to rows, and every row found
 * different is checked again after the replay has drained, so that a
 * change in flight during a running sync is not reported.
 */
#include "engine/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/canon.h"
#include "engine/change.h"
#include "engine/journal.h"
#include "engine/registry.h"
#include "engine/state.h"

/* Rows of the first chunk; later ones are sized from the measured rate
 * so that a chunk takes about CHUNK_SECONDS. */
#define FIRST_CHUNK_ROWS 10000
#define MIN_CHUNK_ROWS 1000
#define MAX_CHUNK_ROWS 4000000
#define CHUNK_SECONDS 0.5
#define MAX_ROUNDS 5
#define STALL_SECONDS 3.0
#define KEYLESS_EXAMPLES 10

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the migration --------------------------------------------------- */

typedef struct verifier {
	const ferry_verify_options *o;
	ferry_state *state;
	int64_t run;
	char *id, *source, *target, *spec;
	ferry_uri src_uri, dst_uri;
	const ferry_source_ops *sops, *dops;
	const ferry_transform_ops *xops;
	ferry_source *src, *dst;     /* the first pass's connections */
	ferry_schema src_schema, dst_schema;
	ferry_transform *xf;
	ferry_buf scratch;
	bool drained_once, moving, gave_up;
	uint64_t lag;
} verifier;

static int load_settings(verifier *v, ferry_error *err)
{
	ferry_migration_settings m;
	int rc = ferry_state_open_migration(v->o->dir, &v->state, &m, err);
	v->id = m.id;
	v->source = m.source;
	v->target = m.target;
	v->spec = m.spec;
	return rc;
}

/* Both databases through their readers, the target's schema, the plan. */
static int open_sides(verifier *v, ferry_error *err)
{
	int rc = ferry_uri_parse(&v->src_uri, v->source, err);
	if (rc == 0)
		rc = ferry_uri_parse(&v->dst_uri, v->target, err);
	if (rc < 0)
		return rc;
	v->sops = ferry_source_for(v->src_uri.kind);
	v->dops = ferry_source_for(v->dst_uri.kind);
	v->xops = ferry_default_transform();
	if (!v->sops || !v->dops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot read %s databases: verify reads "
		                       "SQLite and PostgreSQL",
		                       ferry_uri_kind_name(!v->sops ? v->src_uri.kind
		                                                    : v->dst_uri.kind));
	rc = v->sops->open(&v->src, &v->src_uri, err);
	if (rc == 0)
		rc = v->dops->open(&v->dst, &v->dst_uri, err);
	if (rc == 0)
		rc = v->sops->introspect(v->src, &v->src_schema, err);
	if (rc == 0)
		rc = v->dops->introspect(v->dst, &v->dst_schema, err);
	ferry_dialect dialect = v->dst_uri.kind == FERRY_URI_SQLITE
	                            ? FERRY_DIALECT_SQLITE
	                            : FERRY_DIALECT_POSTGRESQL;
	if (rc == 0)
		rc = v->xops->build(&v->xf, &v->src_schema, v->spec, dialect, err);
	return rc;
}

static void verifier_close(verifier *v)
{
	if (v->xf)
		v->xops->free(v->xf);
	if (v->sops)
		v->sops->close(v->src);
	if (v->dops)
		v->dops->close(v->dst);
	ferry_schema_free(&v->src_schema);
	ferry_schema_free(&v->dst_schema);
	ferry_state_close(v->state);
	ferry_uri_free(&v->src_uri);
	ferry_uri_free(&v->dst_uri);
	ferry_free(v->id);
	ferry_free(v->source);
	ferry_free(v->target);
	ferry_free(v->spec);
	ferry_buf_free(&v->scratch);
}

/* ---- the replay's lag -------------------------------------------------- */

/* The journal head and the target's replay checkpoint; 0 and 0 when
 * the migration has no journal or checkpoint yet. */
static int lag_now(verifier *v, ferry_journal *j, const ferry_target_ops *tops,
                   ferry_target *tgt, uint64_t *head, uint64_t *applied,
                   ferry_error *err)
{
	*head = j ? ferry_journal_last_lsn(j) : 0;
	*applied = 0;
	return tgt ? tops->checkpoint_get(tgt, v->id, applied, err) : 0;
}

/*
 * Waits until the target's replay checkpoint reaches the journal head
 * (docs/verify.md, "Re-checks"), bounded by --wait and by 3 s without
 * progress; then until the head stays still for 200 ms (a capture that
 * polls has journalled what the source held), at most three times.
 * Sets v->moving when anything moved, v->gave_up and v->lag when the
 * target was left behind.
 */
static int drain(verifier *v, ferry_error *err)
{
	double limit = v->o->wait_seconds > 0 ? v->o->wait_seconds : 30.0;
	double start = now_s();
	ferry_journal *j = NULL;
	const ferry_target_ops *tops = ferry_target_for(v->dst_uri.kind);
	ferry_target *tgt = NULL;
	ferry_buf path = FERRY_BUF_INIT;
	ferry_journal_options jo = {0};
	jo.read_only = true;
	ferry_buf_printf(&path, "%s/journal", v->o->dir);
	int rc = ferry_buf_failed(&path) ? ferry_error_oom(err) : 0;
	if (rc == 0 && access(ferry_buf_cstr(&path), F_OK) == 0)
		rc = ferry_journal_open(&j, ferry_buf_cstr(&path), &jo, err);
	ferry_buf_free(&path);
	if (rc == 0 && tops)
		rc = tops->open(&tgt, &v->dst_uri, err);
	uint64_t head = 0, applied = 0, first_head = 0, first_applied = 0;
	if (rc == 0)
		rc = lag_now(v, j, tops, tgt, &first_head, &first_applied, err);
	head = first_head;
	applied = first_applied;
	v->gave_up = false;
	for (int settle = 0; rc == 0 && settle < 3; settle++) {
		double progress = now_s();
		uint64_t last_applied = applied, target_head = head;
		while (rc == 0 && applied < target_head && !v->gave_up) {
			if (now_s() - start > limit ||
			    now_s() - progress > STALL_SECONDS) {
				v->gave_up = true;
				break;
			}
			usleep(50000);
			rc = lag_now(v, j, tops, tgt, &head, &applied, err);
			if (applied != last_applied) {
				last_applied = applied;
				progress = now_s();
			}
		}
		if (rc < 0 || v->gave_up || now_s() - start > limit)
			break;
		usleep(200000);
		rc = lag_now(v, j, tops, tgt, &head, &applied, err);
		if (head == target_head)
			break;
	}
	if (rc == 0) {
		v->moving = head != first_head || applied != first_applied;
		v->lag = head > applied ? head - applied : 0;
	}
	if (tgt)
		tops->close(tgt);
	ferry_journal_close(j);
	return rc;
}

/* ---- one table ------------------------------------------------------ */

/* A row's canonical key and hash, kept for the chunk being compared. */
typedef struct entry {
	size_t key;       /* offset in the list's key bytes */
	uint32_t key_len;
	uint64_t hash;
} entry;

typedef struct entries {
	entry *e;
	size_t n, cap;
	ferry_buf keys;
	uint64_t sum;     /* order-independent: sum of XXH3(key, seed=hash) */
} entries;

/* A row found different, missing or extra, until the re-checks settle
 * it; recheck_* hold the last re-read's canonical columns. */
typedef struct suspect {
	size_t key;
	uint32_t key_len;
	bool in_src, in_dst;
	uint64_t src_hash, dst_hash;
	uint32_t src_chunk, dst_chunk;
	bool settled;
	bool seen_src, seen_dst;       /* in the current re-read */
	size_t src_cols, dst_cols;     /* offsets in the round's column buf */
	char *key_text;                /* readable key, once known */
} suspect;

/* Where a chunk that held suspects began and ended, to read it again. */
typedef struct chunk_info {
	uint32_t index;
	ferry_buf src_after, dst_after; /* encoded key rows; empty: from the
	                                   start */
	ferry_buf end;                  /* canonical key bound; empty: to the
	                                   end */
	bool has_end;
} chunk_info;

typedef struct table_ctx {
	verifier *v;
	uint32_t t;
	const ferry_table *src;       /* source table (plan's) */
	const ferry_table *plan;      /* target table as the plan makes it */
	const ferry_table *dst;       /* target table as introspected */
	int *dcol;                    /* plan column j -> target row index */
	uint32_t *keycols;            /* plan columns of the key, key order */
	int *src_keycols;             /* source columns of the key */
	int *dst_keycols;             /* target row indexes of the key */
	uint32_t nkey;
	ferry_mapper *mapper;
	ferry_buf key, row;           /* one row's canonical key and bytes */
	ferry_buf cols;               /* re-check: canonical columns */
	size_t *col_ends;             /* re-check: scratch of offsets */
	suspect *sus;
	size_t nsus, capsus;
	ferry_buf sus_keys;
	chunk_info *chunks;
	size_t nchunks, capchunks;
	ferry_verify_table *out;
	uint32_t max_listed;
} table_ctx;

static const ferry_value *plan_value(const table_ctx *c, const ferry_row *row,
                                     bool target_side, uint32_t j)
{
	return &row->values[target_side ? (uint32_t)c->dcol[j] : j];
}

/* Canonical key into c->key and the row's hash; a row of the target
 * side is in the introspected order, of the source side in the plan's. */
static int digest(table_ctx *c, const ferry_row *row, bool target_side,
                  uint64_t *hash, ferry_error *err)
{
	ferry_buf_reset(&c->key);
	ferry_buf_reset(&c->row);
	int rc = 0;
	for (uint32_t k = 0; rc == 0 && k < c->nkey; k++)
		rc = ferry_canon_key(&c->key, plan_value(c, row, target_side,
		                                         c->keycols[k]),
		                     &c->plan->columns[c->keycols[k]].type,
		                     &c->v->scratch, err);
	for (uint32_t j = 0; rc == 0 && j < c->plan->ncolumns; j++)
		rc = ferry_canon_append(&c->row, plan_value(c, row, target_side, j),
		                        &c->plan->columns[j].type, &c->v->scratch,
		                        err);
	if (rc == 0)
		*hash = XXH3_64bits(c->row.data, c->row.len);
	return rc;
}

static int entries_add(entries *l, const ferry_buf *key, uint64_t hash,
                       ferry_error *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		entry *e = ferry_realloc(l->e, cap * sizeof *e);
		if (!e)
			return ferry_error_oom(err);
		l->e = e;
		l->cap = cap;
	}
	l->e[l->n].key = l->keys.len;
	l->e[l->n].key_len = (uint32_t)key->len;
	l->e[l->n].hash = hash;
	l->n++;
	ferry_buf_append(&l->keys, key->data, key->len);
	l->sum += XXH3_64bits_withSeed(key->data, key->len, hash);
	return ferry_buf_failed(&l->keys) ? ferry_error_oom(err) : 0;
}

static void entries_reset(entries *l)
{
	l->n = 0;
	l->sum = 0;
	ferry_buf_reset(&l->keys);
}

static void entries_free(entries *l)
{
	ferry_free(l->e);
	ferry_buf_free(&l->keys);
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                     size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : an < bn ? -1 : an > bn;
}

/* qsort has no context: the key bytes being sorted are passed here. */
static _Thread_local const uint8_t *sort_keys;

static int entry_cmp(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	return bytes_cmp(sort_keys + x->key, x->key_len, sort_keys + y->key,
	                 y->key_len);
}

static int suspect_add(table_ctx *c, const uint8_t *key, size_t len,
                       bool in_src, uint64_t src_hash, bool in_dst,
                       uint64_t dst_hash, uint32_t chunk, ferry_error *err)
{
	if (c->nsus == c->capsus) {
		size_t cap = c->capsus ? c->capsus * 2 : 64;
		suspect *s = ferry_realloc(c->sus, cap * sizeof *s);
		if (!s)
			return ferry_error_oom(err);
		c->sus = s;
		c->capsus = cap;
	}
	suspect *s = &c->sus[c->nsus++];
	memset(s, 0, sizeof *s);
	s->key = c->sus_keys.len;
	s->key_len = (uint32_t)len;
	s->in_src = in_src;
	s->in_dst = in_dst;
	s->src_hash = src_hash;
	s->dst_hash = dst_hash;
	s->src_chunk = s->dst_chunk = chunk;
	ferry_buf_append(&c->sus_keys, key, len);
	return ferry_buf_failed(&c->sus_keys) ? ferry_error_oom(err) : 0;
}

/* Rows of one chunk whose figures differ: sorted by key and merged. */
static int split_chunk(table_ctx *c, entries *s, entries *d, uint32_t chunk,
                       uint32_t *found, ferry_error *err)
{
	sort_keys = s->keys.data;
	qsort(s->e, s->n, sizeof *s->e, entry_cmp);
	sort_keys = d->keys.data;
	qsort(d->e, d->n, sizeof *d->e, entry_cmp);
	size_t i = 0, k = 0;
	int rc = 0;
	*found = 0;
	while (rc == 0 && (i < s->n || k < d->n)) {
		const entry *a = i < s->n ? &s->e[i] : NULL;
		const entry *b = k < d->n ? &d->e[k] : NULL;
		int cmp = !a   ? 1
		          : !b ? -1
		               : bytes_cmp(s->keys.data + a->key, a->key_len,
		                           d->keys.data + b->key, b->key_len);
		if (cmp == 0 && a->hash == b->hash) {
			i++;
			k++;
			continue;
		}
		(*found)++;
		if (cmp == 0) {
			rc = suspect_add(c, s->keys.data + a->key, a->key_len, true,
			                 a->hash, true, b->hash, chunk, err);
			i++;
			k++;
		} else if (cmp < 0) {
			rc = suspect_add(c, s->keys.data + a->key, a->key_len, true,
			                 a->hash, false, 0, chunk, err);
			i++;
		} else {
			rc = suspect_add(c, d->keys.data + b->key, b->key_len, false, 0,
			                 true, b->hash, chunk, err);
			k++;
		}
	}
	return rc;
}

/* The key values of row (columns idx, in key order) as a change record,
 * which copies them: what scan_open_after starts after. */
static int save_key(const ferry_row *row, const int *idx, uint32_t n,
                    const char *table, ferry_buf *out, ferry_error *err)
{
	ferry_value vals[64];
	if (n > 64)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "table \"%s\" has a primary key of %u columns: "
		                       "verify compares keys of at most 64", table, n);
	for (uint32_t k = 0; k < n; k++)
		vals[k] = row->values[idx[k]];
	ferry_change ch = FERRY_CHANGE_INIT;
	ch.op = FERRY_OP_INSERT;
	ch.has_after = true;
	ch.table = table;
	ch.after.values = vals;
	ch.after.ncols = n;
	ch.after.cap = n;
	ferry_buf_reset(out);
	return ferry_change_encode(&ch, out, err);
}

static int chunk_add(table_ctx *c, uint32_t index, const ferry_buf *src_after,
                     const ferry_buf *dst_after, const ferry_buf *end,
                     bool has_end, ferry_error *err)
{
	if (c->nchunks == c->capchunks) {
		size_t cap = c->capchunks ? c->capchunks * 2 : 16;
		chunk_info *ci = ferry_realloc(c->chunks, cap * sizeof *ci);
		if (!ci)
			return ferry_error_oom(err);
		c->chunks = ci;
		c->capchunks = cap;
	}
	chunk_info *ci = &c->chunks[c->nchunks++];
	memset(ci, 0, sizeof *ci);
	ci->index = index;
	ci->has_end = has_end;
	ferry_buf_append(&ci->src_after, src_after->data, src_after->len);
	ferry_buf_append(&ci->dst_after, dst_after->data, dst_after->len);
	ferry_buf_append(&ci->end, end->data, end->len);
	return ferry_buf_failed(&ci->src_after) ||
	               ferry_buf_failed(&ci->dst_after) || ferry_buf_failed(&ci->end)
	           ? ferry_error_oom(err)
	           : 0;
}

/* Maps a source row: 1 carried (in *out), 0 filtered or rejected. */
static int map_source(table_ctx *c, const ferry_row *in, ferry_row *out,
                      ferry_error *err)
{
	ferry_reject rej;
	int rc = c->v->xops->map(c->mapper, in, out, &rej, err);
	if (rc == 0)
		c->out->filtered++;
	if (rc == FERRY_EREJECT) {
		/* the snapshot and the replay leave such rows out (ferry.db
		 * rejects): not expected on the target */
		c->out->rejected++;
		ferry_error_clear(err);
		rc = 0;
	}
	return rc;
}

/*
 * The first pass over a keyed table: both sides in key order, cut into
 * chunks by the source; each chunk's figures compared, a differing
 * chunk split down to rows (docs/verify.md, "Chunks").
 */
static int first_pass_keyed(table_ctx *c, ferry_error *err)
{
	verifier *v = c->v;
	ferry_scan *ss = NULL, *ds = NULL;
	ferry_row in = FERRY_ROW_INIT, out = FERRY_ROW_INIT,
	          drow = FERRY_ROW_INIT;
	entries s = {0}, d = {0};
	ferry_buf bound = FERRY_BUF_INIT, peek = FERRY_BUF_INIT;
	ferry_buf start_src = FERRY_BUF_INIT, start_dst = FERRY_BUF_INIT;
	ferry_buf next_src = FERRY_BUF_INIT, next_dst = FERRY_BUF_INIT;
	uint64_t peek_hash = 0, hash, chunk_rows = FIRST_CHUNK_ROWS;
	bool src_done = false, dst_done = false, have_peek = false;
	int rc = v->sops->scan_open_after(v->src, c->src, NULL, 0, &ss, err);
	if (rc == 0)
		rc = v->dops->scan_open_after(v->dst, c->dst, NULL, 0, &ds, err);
	for (uint32_t chunk = 0; rc == 0 && !src_done; chunk++) {
		double t0 = now_s();
		uint64_t read = 0;
		entries_reset(&s);
		entries_reset(&d);
		/* a chunk ends on a carried row: its key bounds the target side */
		while (rc == 0) {
			rc = v->sops->scan_next(ss, &in, err);
			if (rc <= 0) {
				src_done = rc == 0;
				break;
			}
			read++;
			c->out->source_rows++;
			rc = map_source(c, &in, &out, err);
			if (rc != 1)
				continue;
			rc = digest(c, &out, false, &hash, err);
			if (rc == 0)
				rc = entries_add(&s, &c->key, hash, err);
			ferry_buf_reset(&bound);
			ferry_buf_append(&bound, c->key.data, c->key.len);
			if (rc == 0 && read >= chunk_rows) {
				/* where the next chunk starts, on either side */
				rc = save_key(&in, c->src_keycols, c->nkey, c->src->name,
				              &next_src, err);
				if (rc == 0)
					rc = save_key(&out, (const int *)c->keycols, c->nkey,
					              c->src->name, &next_dst, err);
				break;
			}
		}
		double t1 = now_s();
		if (rc == 0 && have_peek &&
		    (src_done || bytes_cmp(peek.data, peek.len, bound.data,
		                           bound.len) <= 0)) {
			have_peek = false;
			rc = entries_add(&d, &peek, peek_hash, err);
		}
		while (rc == 0 && !have_peek && !dst_done) {
			rc = v->dops->scan_next(ds, &drow, err);
			if (rc <= 0) {
				dst_done = rc == 0;
				break;
			}
			c->out->target_rows++;
			rc = digest(c, &drow, true, &hash, err);
			if (rc == 0 && !src_done &&
			    bytes_cmp(c->key.data, c->key.len, bound.data, bound.len) > 0) {
				have_peek = true; /* the first row of a later chunk */
				peek_hash = hash;
				ferry_buf_reset(&peek);
				ferry_buf_append(&peek, c->key.data, c->key.len);
			} else if (rc == 0) {
				rc = entries_add(&d, &c->key, hash, err);
			}
		}
		double t2 = now_s();
		c->out->source_seconds += t1 - t0;
		c->out->target_seconds += t2 - t1;
		c->out->chunks++;
		uint32_t found = 0;
		if (rc == 0 && (s.n != d.n || s.sum != d.sum))
			rc = split_chunk(c, &s, &d, chunk, &found, err);
		if (rc == 0 && found)
			rc = chunk_add(c, chunk, &start_src, &start_dst, &bound,
			               !src_done, err);
		if (rc == 0 && ferry_buf_failed(&peek))
			rc = ferry_error_oom(err);
		/* the next chunk takes about CHUNK_SECONDS at this rate */
		double took = t2 - t0;
		if (took > 0.001 && read > 0) {
			double want = (double)read * CHUNK_SECONDS / took;
			chunk_rows = want < MIN_CHUNK_ROWS   ? MIN_CHUNK_ROWS
			             : want > MAX_CHUNK_ROWS ? MAX_CHUNK_ROWS
			                                     : (uint64_t)want;
		}
		ferry_buf_reset(&start_src);
		ferry_buf_append(&start_src, next_src.data, next_src.len);
		ferry_buf_reset(&start_dst);
		ferry_buf_append(&start_dst, next_dst.data, next_dst.len);
	}
	v->sops->scan_close(ss);
	v->dops->scan_close(ds);
	ferry_row_free(&in);
	ferry_row_free(&out);
	ferry_row_free(&drow);
	entries_free(&s);
	entries_free(&d);
	ferry_buf_free(&bound);
	ferry_buf_free(&peek);
	ferry_buf_free(&start_src);
	ferry_buf_free(&start_dst);
	ferry_buf_free(&next_src);
	ferry_buf_free(&next_dst);
	return rc;
}

/* ---- reconciling and re-checking suspects ----------------------------- */

static _Thread_local const table_ctx *sort_ctx;

static int suspect_cmp(const void *a, const void *b)
{
	const suspect *x = a, *y = b;
	const uint8_t *k = sort_ctx->sus_keys.data;
	int c = bytes_cmp(k + x->key, x->key_len, k + y->key, y->key_len);
	return c ? c : (x->in_src ? 0 : 1) - (y->in_src ? 0 : 1);
}

/* A row missing from one chunk and extra in another is the same row,
 * filed apart because the databases order its key differently. */
static void reconcile(table_ctx *c)
{
	if (c->nsus == 0)
		return;
	sort_ctx = c;
	qsort(c->sus, c->nsus, sizeof *c->sus, suspect_cmp);
	size_t w = 0;
	for (size_t i = 0; i < c->nsus; i++) {
		suspect *s = &c->sus[i];
		if (w > 0) {
			suspect *p = &c->sus[w - 1];
			const uint8_t *k = c->sus_keys.data;
			if (p->in_src && !p->in_dst && s->in_dst && !s->in_src &&
			    bytes_cmp(k + p->key, p->key_len, k + s->key,
			              s->key_len) == 0) {
				p->in_dst = true;
				p->dst_hash = s->dst_hash;
				p->dst_chunk = s->dst_chunk;
				if (p->src_hash == p->dst_hash)
					w--; /* the same row, equal */
				continue;
			}
		}
		c->sus[w++] = *s;
	}
	c->nsus = w;
}

static suspect *find_suspect(table_ctx *c, const ferry_buf *key)
{
	size_t lo = 0, hi = c->nsus;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		suspect *s = &c->sus[mid];
		int cmp = bytes_cmp(c->sus_keys.data + s->key, s->key_len, key->data,
		                    key->len);
		if (cmp == 0)
			return s->settled ? NULL : s;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Appends each plan column's canonical bytes of row, then records
 * where they start in *at: the columns are found again by re-encoding
 * boundaries (ncolumns + 1 offsets follow the bytes). */
static int keep_columns(table_ctx *c, const ferry_row *row, bool target_side,
                        size_t *at, ferry_error *err)
{
	uint32_t n = c->plan->ncolumns;
	int rc = 0;
	for (uint32_t j = 0; rc == 0 && j < n; j++) {
		c->col_ends[j] = c->cols.len;
		rc = ferry_canon_append(&c->cols, plan_value(c, row, target_side, j),
		                        &c->plan->columns[j].type, &c->v->scratch,
		                        err);
	}
	c->col_ends[n] = c->cols.len;
	/* readable values after the canonical bytes: one NUL-ended string
	 * per column */
	size_t texts = c->cols.len;
	for (uint32_t j = 0; rc == 0 && j < n; j++) {
		ferry_value_format(plan_value(c, row, target_side, j), &c->cols, 200);
		ferry_buf_putc(&c->cols, 0);
	}
	*at = c->cols.len;
	ferry_buf_append(&c->cols, c->col_ends, (n + 1) * sizeof *c->col_ends);
	ferry_buf_append(&c->cols, &texts, sizeof texts);
	return rc == 0 && ferry_buf_failed(&c->cols) ? ferry_error_oom(err) : rc;
}

static void kept_offsets(const table_ctx *c, size_t at, size_t *ends,
                         size_t *texts)
{
	uint32_t n = c->plan->ncolumns;
	memcpy(ends, c->cols.data + at, (n + 1) * sizeof *ends);
	memcpy(texts, c->cols.data + at + (n + 1) * sizeof *ends, sizeof *texts);
}

static int remember_key_text(table_ctx *c, suspect *s, const ferry_table *t,
                             const ferry_row *row, ferry_error *err)
{
	if (s->key_text)
		return 0;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_row_key_format(t, row, 0, &b);
	s->key_text = ferry_buf_failed(&b) ? NULL : ferry_buf_detach(&b, NULL);
	ferry_buf_free(&b);
	(void)c;
	return s->key_text ? 0 : ferry_error_oom(err);
}

/* Re-reads chunk ci on both sides (new connections, so new snapshots),
 * keeping the columns of every unsettled suspect met. */
static int reread_chunk(table_ctx *c, ferry_source *src, ferry_source *dst,
                        const chunk_info *ci, ferry_error *err)
{
	verifier *v = c->v;
	ferry_change sa = FERRY_CHANGE_INIT, da = FERRY_CHANGE_INIT;
	ferry_scan *scan = NULL;
	ferry_row in = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	size_t used;
	uint64_t hash;
	int rc = 0;
	if (ci->src_after.len)
		rc = ferry_change_decode(&sa, ci->src_after.data, ci->src_after.len,
		                         &used, err);
	if (rc == 0 && ci->dst_after.len)
		rc = ferry_change_decode(&da, ci->dst_after.data, ci->dst_after.len,
		                         &used, err);
	if (rc == 0)
		rc = v->sops->scan_open_after(src, c->src,
		                              ci->src_after.len ? &sa.after : NULL, 0,
		                              &scan, err);
	int64_t filtered = c->out->filtered, rejected = c->out->rejected;
	while (rc == 0 && (rc = v->sops->scan_next(scan, &in, err)) == 1) {
		rc = map_source(c, &in, &out, err);
		if (rc != 1)
			continue;
		rc = digest(c, &out, false, &hash, err);
		if (rc < 0)
			break;
		if (ci->has_end && bytes_cmp(c->key.data, c->key.len, ci->end.data,
		                             ci->end.len) > 0)
			break;
		suspect *s = find_suspect(c, &c->key);
		if (s && !s->seen_src) {
			s->seen_src = true;
			rc = keep_columns(c, &out, false, &s->src_cols, err);
			if (rc == 0)
				rc = remember_key_text(c, s, c->plan, &out, err);
		}
	}
	c->out->filtered = filtered; /* counted by the first pass */
	c->out->rejected = rejected;
	v->sops->scan_close(scan);
	scan = NULL;
	if (rc == 0)
		rc = v->dops->scan_open_after(dst, c->dst,
		                              ci->dst_after.len ? &da.after : NULL, 0,
		                              &scan, err);
	while (rc == 0 && (rc = v->dops->scan_next(scan, &in, err)) == 1) {
		rc = digest(c, &in, true, &hash, err);
		if (rc < 0)
			break;
		if (ci->has_end && bytes_cmp(c->key.data, c->key.len, ci->end.data,
		                             ci->end.len) > 0)
			break;
		suspect *s = find_suspect(c, &c->key);
		if (s && !s->seen_dst) {
			s->seen_dst = true;
			rc = keep_columns(c, &in, true, &s->dst_cols, err);
			if (rc == 0)
				rc = remember_key_text(c, s, c->dst, &in, err);
		}
	}
	v->dops->scan_close(scan);
	ferry_change_free(&sa);
	ferry_change_free(&da);
	ferry_row_free(&in);
	ferry_row_free(&out);
	return rc;
}

/* Settles what the last re-read found equal or gone on both sides. */
static size_t settle(table_ctx *c)
{
	size_t left = 0, n = c->plan->ncolumns;
	size_t *se = ferry_calloc(2 * (n + 1), sizeof *se);
	if (!se)
		return c->nsus; /* nothing settled: reported as found */
	size_t *de = se + n + 1, st, dt;
	for (size_t i = 0; i < c->nsus; i++) {
		suspect *s = &c->sus[i];
		if (s->settled)
			continue;
		s->in_src = s->seen_src;
		s->in_dst = s->seen_dst;
		bool equal = !s->seen_src && !s->seen_dst;
		if (s->seen_src && s->seen_dst) {
			kept_offsets(c, s->src_cols, se, &st);
			kept_offsets(c, s->dst_cols, de, &dt);
			equal = true;
			for (size_t j = 0; equal && j < n; j++)
				equal = bytes_cmp(c->cols.data + se[j], se[j + 1] - se[j],
				                  c->cols.data + de[j],
				                  de[j + 1] - de[j]) == 0;
		}
		s->settled = equal;
		left += !equal;
	}
	ferry_free(se);
	return left;
}

static int chunk_wanted(const table_ctx *c, uint32_t index)
{
	for (size_t i = 0; i < c->nsus; i++)
		if (!c->sus[i].settled &&
		    ((c->sus[i].in_src && c->sus[i].src_chunk == index) ||
		     (c->sus[i].in_dst && c->sus[i].dst_chunk == index) ||
		     (!c->sus[i].in_src && !c->sus[i].in_dst)))
			return 1;
	return 0;
}

/* One round: drain, then re-read every chunk holding a suspect. */
static int recheck_round(table_ctx *c, size_t *left, ferry_error *err)
{
	verifier *v = c->v;
	ferry_source *src = NULL, *dst = NULL;
	int rc = drain(v, err);
	if (rc == 0)
		rc = v->sops->open(&src, &v->src_uri, err);
	if (rc == 0)
		rc = v->dops->open(&dst, &v->dst_uri, err);
	ferry_buf_reset(&c->cols);
	for (size_t i = 0; i < c->nsus; i++)
		c->sus[i].seen_src = c->sus[i].seen_dst = false;
	for (size_t i = 0; rc == 0 && i < c->nchunks; i++)
		if (chunk_wanted(c, c->chunks[i].index))
			rc = reread_chunk(c, src, dst, &c->chunks[i], err);
	if (rc == 0)
		*left = settle(c);
	c->out->rechecks++;
	v->sops->close(src);
	v->dops->close(dst);
	return rc;
}

static int add_diff(table_ctx *c, ferry_verify_kind kind, char *key,
                    ferry_error *err)
{
	ferry_verify_table *o = c->out;
	if (kind == FERRY_VERIFY_MISSING)
		o->missing++;
	else if (kind == FERRY_VERIFY_EXTRA)
		o->extra++;
	else
		o->different++;
	if (o->ndiffs >= c->max_listed) {
		ferry_free(key);
		return 0;
	}
	ferry_verify_diff *d = ferry_realloc(o->diffs,
	                                     (o->ndiffs + 1) * sizeof *d);
	if (!d) {
		ferry_free(key);
		return ferry_error_oom(err);
	}
	o->diffs = d;
	d = &o->diffs[o->ndiffs++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	d->key = key;
	return 0;
}

/* The columns that differ, with both readable values. */
static int describe_columns(table_ctx *c, const suspect *s,
                            ferry_verify_diff *d, ferry_error *err)
{
	size_t n = c->plan->ncolumns, st, dt;
	size_t *se = ferry_calloc(2 * (n + 1), sizeof *se);
	d->columns = ferry_calloc(n, sizeof *d->columns);
	d->source_values = ferry_calloc(n, sizeof *d->source_values);
	d->target_values = ferry_calloc(n, sizeof *d->target_values);
	int rc = se && d->columns && d->source_values && d->target_values
	             ? 0
	             : ferry_error_oom(err);
	if (rc < 0) {
		ferry_free(se);
		return rc;
	}
	size_t *de = se + n + 1;
	kept_offsets(c, s->src_cols, se, &st);
	kept_offsets(c, s->dst_cols, de, &dt);
	const char *stext = (const char *)c->cols.data + st;
	const char *dtext = (const char *)c->cols.data + dt;
	for (size_t j = 0; rc == 0 && j < n; j++) {
		if (bytes_cmp(c->cols.data + se[j], se[j + 1] - se[j],
		              c->cols.data + de[j], de[j + 1] - de[j]) != 0) {
			uint32_t k = d->ncolumns++;
			d->columns[k] = ferry_strdup(c->plan->columns[j].name);
			d->source_values[k] = ferry_strdup(stext);
			d->target_values[k] = ferry_strdup(dtext);
			if (!d->columns[k] || !d->source_values[k] ||
			    !d->target_values[k])
				rc = ferry_error_oom(err);
		}
		stext += strlen(stext) + 1;
		dtext += strlen(dtext) + 1;
	}
	ferry_free(se);
	return rc;
}

static int report_suspects(table_ctx *c, ferry_error *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < c->nsus; i++) {
		suspect *s = &c->sus[i];
		if (s->settled)
			continue;
		ferry_verify_kind kind = s->in_src && s->in_dst ? FERRY_VERIFY_DIFFERENT
		                         : s->in_src            ? FERRY_VERIFY_MISSING
		                                                : FERRY_VERIFY_EXTRA;
		char *key = s->key_text;
		s->key_text = NULL;
		if (!key)
			key = ferry_strdup("(key not read again)");
		uint32_t before = c->out->ndiffs;
		rc = key ? add_diff(c, kind, key, err) : ferry_error_oom(err);
		if (rc == 0 && kind == FERRY_VERIFY_DIFFERENT &&
		    c->out->ndiffs > before)
			rc = describe_columns(c, s, &c->out->diffs[before], err);
	}
	return rc;
}

/* ---- tables without a key: multisets ---------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct hashes {
	uint64_t *h;
	size_t n, cap;
} hashes;

static int hashes_add(hashes *l, uint64_t h, ferry_error *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint64_t *p = ferry_realloc(l->h, cap * sizeof *p);
		if (!p)
			return ferry_error_oom(err);
		l->h = p;
		l->cap = cap;
	}
	l->h[l->n++] = h;
	return 0;
}

/* Every row's hash of one side; the source through the mapper. */
static int read_hashes(table_ctx *c, bool target_side, hashes *out,
                       ferry_error *err)
{
	verifier *v = c->v;
	const ferry_source_ops *ops = target_side ? v->dops : v->sops;
	ferry_scan *scan = NULL;
	ferry_row in = FERRY_ROW_INIT, mapped = FERRY_ROW_INIT;
	uint64_t hash;
	double t0 = now_s();
	int rc = ops->scan_open(target_side ? v->dst : v->src,
	                        target_side ? c->dst : c->src, &scan, err);
	while (rc == 0 && (rc = ops->scan_next(scan, &in, err)) == 1) {
		const ferry_row *row = &in;
		if (target_side) {
			c->out->target_rows++;
		} else {
			c->out->source_rows++;
			rc = map_source(c, &in, &mapped, err);
			if (rc != 1)
				continue;
			row = &mapped;
		}
		rc = digest(c, row, target_side, &hash, err);
		if (rc == 0)
			rc = hashes_add(out, hash, err);
	}
	ops->scan_close(scan);
	ferry_row_free(&in);
	ferry_row_free(&mapped);
	*(target_side ? &c->out->target_seconds : &c->out->source_seconds) +=
	    now_s() - t0;
	if (rc == 0)
		qsort(out->h, out->n, sizeof *out->h, u64_cmp);
	return rc;
}

static int in_sorted(const uint64_t *h, size_t n, uint64_t x)
{
	return bsearch(&x, h, n, sizeof *h, u64_cmp) != NULL;
}

/* A second read of one side prints up to KEYLESS_EXAMPLES of the rows
 * whose hashes are in want (sorted). */
static int keyless_examples(table_ctx *c, bool target_side,
                            const uint64_t *want, size_t nwant,
                            ferry_verify_kind kind, ferry_error *err)
{
	verifier *v = c->v;
	const ferry_source_ops *ops = target_side ? v->dops : v->sops;
	ferry_scan *scan = NULL;
	ferry_row in = FERRY_ROW_INIT, mapped = FERRY_ROW_INIT;
	ferry_buf text = FERRY_BUF_INIT;
	uint64_t hash;
	size_t shown = 0;
	int64_t filtered = c->out->filtered, rejected = c->out->rejected;
	int rc = ops->scan_open(target_side ? v->dst : v->src,
	                        target_side ? c->dst : c->src, &scan, err);
	while (rc == 0 && shown < nwant && shown < KEYLESS_EXAMPLES &&
	       (rc = ops->scan_next(scan, &in, err)) == 1) {
		const ferry_row *row = &in;
		if (!target_side) {
			rc = map_source(c, &in, &mapped, err);
			if (rc != 1)
				continue;
			row = &mapped;
		}
		rc = digest(c, row, target_side, &hash, err);
		if (rc < 0 || !in_sorted(want, nwant, hash))
			continue;
		ferry_buf_reset(&text);
		ferry_buf_putc(&text, '(');
		for (uint32_t j = 0; j < c->plan->ncolumns; j++) {
			if (j)
				ferry_buf_puts(&text, ", ");
			ferry_value_format(plan_value(c, row, target_side, j), &text,
			                   100);
		}
		ferry_buf_putc(&text, ')');
		char *key = ferry_buf_failed(&text) ? NULL
		                                    : ferry_strdup(ferry_buf_cstr(&text));
		if (!key) {
			rc = ferry_error_oom(err);
			break;
		}
		/* counted already: listed only */
		if (c->out->ndiffs < c->max_listed) {
			ferry_verify_diff *d = ferry_realloc(
			    c->out->diffs, (c->out->ndiffs + 1) * sizeof *d);
			if (!d) {
				ferry_free(key);
				rc = ferry_error_oom(err);
				break;
			}
			c->out->diffs = d;
			memset(&d[c->out->ndiffs], 0, sizeof *d);
			d[c->out->ndiffs].kind = kind;
			d[c->out->ndiffs++].key = key;
		} else {
			ferry_free(key);
		}
		shown++;
	}
	c->out->filtered = filtered;
	c->out->rejected = rejected;
	ops->scan_close(scan);
	ferry_row_free(&in);
	ferry_row_free(&mapped);
	ferry_buf_free(&text);
	return rc < 0 ? rc : 0;
}

/* Multisets of row hashes, sorted and merged (docs/verify.md). */
static int verify_keyless(table_ctx *c, ferry_error *err)
{
	hashes s = {0}, d = {0}, only_s = {0}, only_d = {0};
	int rc = read_hashes(c, false, &s, err);
	if (rc == 0)
		rc = read_hashes(c, true, &d, err);
	c->out->chunks = 1;
	size_t i = 0, k = 0;
	while (rc == 0 && (i < s.n || k < d.n)) {
		if (i < s.n && k < d.n && s.h[i] == d.h[k]) {
			i++;
			k++;
		} else if (k >= d.n || (i < s.n && s.h[i] < d.h[k])) {
			rc = hashes_add(&only_s, s.h[i++], err);
		} else {
			rc = hashes_add(&only_d, d.h[k++], err);
		}
	}
	c->out->missing = (int64_t)only_s.n;
	c->out->extra = (int64_t)only_d.n;
	if (rc == 0 && only_s.n)
		rc = keyless_examples(c, false, only_s.h, only_s.n,
		                      FERRY_VERIFY_MISSING, err);
	if (rc == 0 && only_d.n)
		rc = keyless_examples(c, true, only_d.h, only_d.n, FERRY_VERIFY_EXTRA,
		                      err);
	ferry_free(s.h);
	ferry_free(d.h);
	ferry_free(only_s.h);
	ferry_free(only_d.h);
	return rc;
}

/* ---- a table from start to end ------------------------------------------ */

/* The target table the plan makes, found on the target by name, and its
 * columns and key by name. */
static int bind_target(table_ctx *c, ferry_error *err)
{
	verifier *v = c->v;
	c->dst = ferry_schema_find(&v->dst_schema, c->plan->name);
	if (!c->dst)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "table \"%s\" is not in the target %s: run "
		                       "ferry sync first",
		                       c->plan->name, v->dst_uri.redacted);
	uint32_t n = c->plan->ncolumns;
	c->dcol = ferry_calloc(n + 1, sizeof *c->dcol);
	c->keycols = ferry_calloc(n + 1, sizeof *c->keycols);
	c->src_keycols = ferry_calloc(n + 1, sizeof *c->src_keycols);
	c->dst_keycols = ferry_calloc(n + 1, sizeof *c->dst_keycols);
	c->col_ends = ferry_calloc(n + 1, sizeof *c->col_ends);
	if (!c->dcol || !c->keycols || !c->src_keycols || !c->dst_keycols ||
	    !c->col_ends)
		return ferry_error_oom(err);
	for (uint32_t j = 0; j < n; j++) {
		c->dcol[j] = ferry_table_column_index(c->dst, c->plan->columns[j].name);
		if (c->dcol[j] < 0)
			return ferry_error_set(err, FERRY_ENOTFOUND,
			                       "target table \"%s\" has no column \"%s\" "
			                       "that the plan makes: was it changed "
			                       "after ferry sync?",
			                       c->plan->name, c->plan->columns[j].name);
	}
	uint32_t npk = ferry_table_pk_count(c->plan);
	bool keyed = npk > 0 && ferry_table_pk_count(c->src) == npk;
	for (uint32_t j = 0; keyed && j < n; j++) {
		int pos = c->plan->columns[j].pk_position;
		if (pos <= 0)
			continue;
		c->keycols[pos - 1] = j;
		c->dst_keycols[pos - 1] = c->dcol[j];
		int sidx = -1;
		for (uint32_t s = 0; s < c->src->ncolumns; s++)
			if (c->src->columns[s].pk_position == pos)
				sidx = (int)s;
		c->src_keycols[pos - 1] = sidx;
		keyed = sidx >= 0 && c->dst->columns[c->dcol[j]].pk_position == pos;
	}
	if (npk > 0 && ferry_table_pk_count(c->src) == npk && !keyed)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "target table \"%s\" has no primary key yet: "
		                       "run ferry sync until the snapshot has finished",
		                       c->plan->name);
	c->nkey = keyed ? npk : 0;
	c->out->keyed = keyed;
	return 0;
}

static void table_ctx_free(table_ctx *c)
{
	if (c->mapper)
		c->v->xops->mapper_close(c->mapper);
	ferry_free(c->dcol);
	ferry_free(c->keycols);
	ferry_free(c->src_keycols);
	ferry_free(c->dst_keycols);
	ferry_free(c->col_ends);
	ferry_buf_free(&c->key);
	ferry_buf_free(&c->row);
	ferry_buf_free(&c->cols);
	for (size_t i = 0; i < c->nsus; i++)
		ferry_free(c->sus[i].key_text);
	ferry_free(c->sus);
	ferry_buf_free(&c->sus_keys);
	for (size_t i = 0; i < c->nchunks; i++) {
		ferry_buf_free(&c->chunks[i].src_after);
		ferry_buf_free(&c->chunks[i].dst_after);
		ferry_buf_free(&c->chunks[i].end);
	}
	ferry_free(c->chunks);
}

static int verify_table(verifier *v, uint32_t t, ferry_verify_table *out,
                        ferry_error *err)
{
	table_ctx c;
	memset(&c, 0, sizeof c);
	c.v = v;
	c.t = t;
	c.out = out;
	c.src = v->xops->source_table(v->xf, t);
	c.plan = v->xops->target_table(v->xf, t);
	c.max_listed = v->o->max_listed ? v->o->max_listed : 1000;
	out->table = ferry_strdup(c.plan->name);
	out->source_table = ferry_strdup(c.src->name);
	double t0 = now_s();
	int rc = out->table && out->source_table ? 0 : ferry_error_oom(err);
	if (rc == 0)
		rc = bind_target(&c, err);
	if (rc == 0)
		rc = v->xops->mapper_open(&c.mapper, v->xf, t, err);
	if (rc == 0 && !c.nkey)
		rc = verify_keyless(&c, err);
	if (rc == 0 && c.nkey)
		rc = first_pass_keyed(&c, err);
	out->seconds = now_s() - t0;
	if (rc == 0 && c.nkey)
		reconcile(&c);
	/* every suspect is read again after the replay drained; more rounds
	 * only while the sync is moving (docs/verify.md, "Re-checks") */
	size_t left = c.nsus;
	for (int round = 0; rc == 0 && left > 0 && round < MAX_ROUNDS; round++) {
		rc = recheck_round(&c, &left, err);
		if (!v->moving || v->gave_up)
			break;
	}
	if (rc == 0 && c.nkey)
		rc = report_suspects(&c, err);
	if (rc < 0)
		ferry_error_prefix(err, "table \"%s\"", c.plan->name);
	table_ctx_free(&c);
	return rc;
}

/* ---- the command ---------------------------------------------------- */

static bool wanted(const verifier *v, uint32_t t)
{
	const char *only = v->o->table;
	return !only ||
	       strcmp(v->xops->source_table(v->xf, t)->name, only) == 0 ||
	       strcmp(v->xops->target_table(v->xf, t)->name, only) == 0;
}

static int record(verifier *v, const ferry_verify_report *r, int rc,
                  ferry_error *err)
{
	for (uint32_t i = 0; rc == 0 && i < r->ntables; i++) {
		const ferry_verify_table *t = &r->tables[i];
		bool clean = t->missing + t->extra + t->different == 0;
		rc = ferry_state_table(v->state, v->run, t->source_table, t->table,
		                       t->source_rows - t->filtered - t->rejected,
		                       t->target_rows, t->rejected,
		                       clean ? "verified" : "different", err);
	}
	ferry_error ignored = FERRY_ERROR_INIT;
	ferry_state_end_run(v->state, v->run,
	                    rc < 0 ? 1 : r->differences ? 3 : 0, &ignored);
	ferry_error_clear(&ignored);
	return rc;
}

int ferry_verify(const ferry_verify_options *o, ferry_verify_report *out,
                 ferry_error *err)
{
	verifier v;
	memset(&v, 0, sizeof v);
	memset(out, 0, sizeof *out);
	v.o = o;
	double t0 = now_s();
	int rc = load_settings(&v, err);
	bool running = false;
	if (rc == 0)
		rc = ferry_state_begin_run(v.state, "verify", o->table, &v.run, err);
	running = rc == 0;
	if (rc == 0)
		rc = open_sides(&v, err);
	uint32_t n = rc == 0 ? v.xops->table_count(v.xf) : 0, matched = 0;
	if (rc == 0) {
		out->tables = ferry_calloc(n + 1, sizeof *out->tables);
		rc = out->tables ? 0 : ferry_error_oom(err);
	}
	for (uint32_t t = 0; rc == 0 && t < n; t++) {
		if (!wanted(&v, t))
			continue;
		matched++;
		ferry_verify_table *vt = &out->tables[out->ntables++];
		rc = verify_table(&v, t, vt, err);
		out->differences += vt->missing + vt->extra + vt->different;
	}
	if (rc == 0 && o->table && matched == 0)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "the plan carries no table \"%s\" (give a "
		                     "source or target table name)", o->table);
	if (rc == 0 && out->differences && v.gave_up && v.lag) {
		out->lag_changes = v.lag;
		ferry_buf note = FERRY_BUF_INIT;
		ferry_buf_printf(&note, "the target is %llu journalled changes "
		                 "behind and nothing is applying them: some "
		                 "differences may be changes not yet replayed "
		                 "(run ferry sync, then verify again)",
		                 (unsigned long long)v.lag);
		out->note = ferry_buf_failed(&note) ? NULL
		                                    : ferry_buf_detach(&note, NULL);
		ferry_buf_free(&note);
	}
	out->seconds = now_s() - t0;
	if (running)
		rc = record(&v, out, rc, err);
	verifier_close(&v);
	return rc;
}

void ferry_verify_report_free(ferry_verify_report *r)
{
	for (uint32_t i = 0; r && i < r->ntables; i++) {
		ferry_verify_table *t = &r->tables[i];
		for (uint32_t k = 0; k < t->ndiffs; k++) {
			ferry_verify_diff *d = &t->diffs[k];
			for (uint32_t j = 0; j < d->ncolumns; j++) {
				ferry_free(d->columns[j]);
				ferry_free(d->source_values[j]);
				ferry_free(d->target_values[j]);
			}
			ferry_free(d->columns);
			ferry_free(d->source_values);
			ferry_free(d->target_values);
			ferry_free(d->key);
		}
		ferry_free(t->diffs);
		ferry_free(t->table);
		ferry_free(t->source_table);
	}
	if (r) {
		ferry_free(r->tables);
		ferry_free(r->note);
		memset(r, 0, sizeof *r);
	}
}
