/*
 * engine/online.c - the online migration (online.h,
 * docs/online-sqlite.md): snapshot, capture -> journal, journal -> target.
 *
 * Exactly once: a capture pass journals a read of whole source
 * transactions and its cursor in one journal commit, then releases the
 * source rows; a replay batch applies whole groups and the checkpoint in
 * one target transaction.  A crash anywhere repeats at most work whose
 * result was not recorded.
 */
#include "engine/online.h"
#include "engine/online_internal.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/capture.h"
#include "engine/journal.h"
#include "engine/registry.h"
#include "engine/state.h"
#include "engine/verify.h"


bool online_stopped(const online *on)
{
	return (on->o->stop && *on->o->stop) ||
	       (on->deadline_us && ferry_now_us() > on->deadline_us);
}

void online_path_in(ferry_buf *b, const char *dir, const char *name)
{
	ferry_buf_reset(b);
	ferry_buf_printf(b, "%s/%s", dir, name);
}

static int open_endpoints(online *on, ferry_error *err)
{
	int rc = ferry_uri_parse(&on->src_uri, on->source, err);
	if (rc == 0)
		rc = ferry_uri_parse(&on->dst_uri, on->target, err);
	if (rc < 0)
		return rc;
	on->cops = ferry_capture_for(on->src_uri.kind);
	on->tops = ferry_target_for(on->dst_uri.kind);
	on->xops = ferry_default_transform();
	if (!on->cops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot capture changes from %s databases yet: "
		                       "online migration reads SQLite and PostgreSQL",
		                       ferry_uri_kind_name(on->src_uri.kind));
	if (!on->tops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot write %s databases",
		                       ferry_uri_kind_name(on->dst_uri.kind));
	rc = on->cops->open(&on->cap, &on->src_uri, err);
	if (rc == 0)
		rc = on->tops->open(&on->dst, &on->dst_uri, err);
	return rc;
}

ferry_dialect online_dialect_of(const ferry_uri *uri)
{
	return uri->kind == FERRY_URI_SQLITE ? FERRY_DIALECT_SQLITE
	                                     : FERRY_DIALECT_POSTGRESQL;
}

/*
 * The reverse stream's plan: the inverse of the forward plan, which is
 * built as forward runs build it, over the old source's schema (read
 * through its load reader: the capture connection of this direction is
 * on the new primary).
 */
static int build_inverse(online *on, ferry_error *err)
{
	const ferry_source_ops *sops = ferry_source_for(on->dst_uri.kind);
	ferry_source *old = NULL;
	if (!sops || !on->xops->invert)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "this version cannot "
		                       "run the plan backwards into %s databases",
		                       ferry_uri_kind_name(on->dst_uri.kind));
	int rc = sops->open(&old, &on->dst_uri, err);
	if (rc == 0)
		rc = sops->introspect(old, &on->schema, err);
	if (old)
		sops->close(old);
	on->forward_xops = on->xops;
	if (rc == 0)
		rc = on->xops->build(&on->forward_xf, &on->schema, on->spec,
		                     online_dialect_of(&on->src_uri), err);
	if (rc == 0)
		rc = on->forward_xops->invert(&on->xf, &on->xops, on->forward_xf,
		                              online_dialect_of(&on->dst_uri), err);
	return rc;
}

/* The source schema and the plan over it; mappers opened on demand. */
static int build_plan(online *on, ferry_error *err)
{
	int rc = 0;
	if (on->reverse)
		rc = build_inverse(on, err);
	else {
		rc = on->cops->introspect(on->cap, &on->schema, err);
		if (rc == 0)
			rc = on->xops->build(&on->xf, &on->schema, on->spec,
			                     online_dialect_of(&on->dst_uri), err);
	}
	if (rc < 0)
		return rc;
	on->ntables = on->xops->table_count(on->xf);
	on->mappers = ferry_calloc(2 * (size_t)on->ntables + 1,
	                           sizeof *on->mappers);
	on->copied_in = ferry_calloc((size_t)on->ntables + 1,
	                             sizeof *on->copied_in);
	return on->mappers && on->copied_in ? 0 : ferry_error_oom(err);
}

static int open_journal(online *on, bool read_only, ferry_error *err)
{
	ferry_buf path = FERRY_BUF_INIT;
	if (on->reverse && !read_only) {
		online_path_in(&path, on->o->dir, ONLINE_REVERSE_DIR);
		if (!ferry_buf_failed(&path))
			mkdir(ferry_buf_cstr(&path), 0700); /* EEXIST is fine */
	}
	online_path_in(&path, on->o->dir, on->reverse ? ONLINE_REVERSE_JOURNAL
	                                              : "journal");
	ferry_journal_options opts = {0};
	opts.read_only = read_only;
	int rc = ferry_buf_failed(&path)
	             ? ferry_error_oom(err)
	             : ferry_journal_open(&on->journal, ferry_buf_cstr(&path),
	                                  &opts, err);
	ferry_buf_free(&path);
	return rc;
}

static int load_settings(online *on, ferry_error *err)
{
	ferry_migration_settings m;
	int rc = ferry_state_open_migration(on->o->dir, &on->state, &m, err);
	on->id = m.id;
	on->source = m.source;
	on->target = m.target;
	on->spec = m.spec;
	if (rc == 0 && !(on->forward_id = ferry_strdup(m.id)))
		rc = ferry_error_oom(err);
	return rc;
}

void online_reverse_id(ferry_buf *b, const char *forward_id)
{
	ferry_buf_reset(b);
	ferry_buf_printf(b, "%s_r", forward_id);
}

/*
 * Turns the loaded settings around for the reverse stream: it captures
 * on the target and replays into the source, under its own id.
 */
static int turn_around(online *on, ferry_error *err)
{
	ferry_buf rid = FERRY_BUF_INIT;
	online_reverse_id(&rid, on->forward_id);
	char *id = ferry_buf_detach(&rid, NULL);
	if (!id)
		return ferry_error_oom(err);
	char *source = on->source;
	on->source = on->target;
	on->target = source;
	ferry_free(on->id);
	on->id = id;
	on->reverse = true;
	return 0;
}

/*
 * The locks a command needs: two processes capturing, or replaying, the
 * same migration at once would each think they own its cursor.
 */
static int take_locks(online *on, const char *command, bool capture,
                      bool replay, ferry_error *err)
{
	static const char *const names[2] = {"capture", "replay"};
	bool want[2] = {capture, replay};
	int rc = 0;
	for (int i = 0; rc == 0 && i < 2; i++) {
		int fd = -1;
		if (want[i] && !on->lock_fds[i])
			rc = ferry_state_lock(on->o->dir, names[i], command, &fd, err);
		if (fd >= 0)
			on->lock_fds[i] = fd + 1;
	}
	return rc;
}

static void close_companion(online *on);

static void online_close(online *on)
{
	close_companion(on);
	for (int i = 0; i < 2; i++)
		if (on->lock_fds[i])
			close(on->lock_fds[i] - 1);
	for (uint32_t i = 0; on->mappers && i < 2 * on->ntables; i++)
		if (on->mappers[i])
			on->xops->mapper_close(on->mappers[i]);
	ferry_free(on->mappers);
	for (uint32_t i = 0; on->copied_in && i < on->ntables; i++)
		ferry_free(on->copied_in[i]);
	ferry_free(on->copied_in);
	if (on->xf)
		on->xops->free(on->xf);
	if (on->forward_xf)
		on->forward_xops->free(on->forward_xf);
	ferry_schema_free(&on->schema);
	if (on->tops)
		on->tops->close(on->dst);
	if (on->cops)
		on->cops->close(on->cap);
	ferry_journal_close(on->journal);
	ferry_state_close(on->state);
	ferry_uri_free(&on->src_uri);
	ferry_uri_free(&on->dst_uri);
	ferry_free(on->id);
	ferry_free(on->forward_id);
	ferry_free(on->source);
	ferry_free(on->target);
	ferry_free(on->spec);
}

/* ---- rejects ------------------------------------------------------- */

static int record_reject(online *on, const ferry_table *src,
                         const ferry_row *row, const ferry_reject *rej,
                         ferry_error *err)
{
	ferry_buf key = FERRY_BUF_INIT, value = FERRY_BUF_INIT;
	ferry_row_key_format(src, row, 0, &key);
	ferry_value_format(&rej->value, &value, 1000);
	int rc = ferry_buf_failed(&key) || ferry_buf_failed(&value)
	             ? ferry_error_oom(err)
	             : ferry_state_add_reject(on->state, on->run, src->name,
	                                      ferry_buf_cstr(&key), rej->column,
	                                      ferry_buf_cstr(&value), rej->reason,
	                                      err);
	ferry_buf_free(&key);
	ferry_buf_free(&value);
	on->counts->rejected++;
	return rc;
}

static int mapper_for(online *on, uint32_t table, int which, ferry_mapper **m,
                      ferry_error *err)
{
	ferry_mapper **slot = &on->mappers[2 * table + (uint32_t)which];
	if (!*slot) {
		int rc = on->xops->mapper_open(slot, on->xf, table, err);
		if (rc < 0)
			return rc;
	}
	*m = *slot;
	return 0;
}

/* Maps an image (which: 0 before, 1 after); 1 mapped, 0 filtered or
 * rejected, <0 error. */
static int map_row(online *on, uint32_t table, int which, const ferry_row *in,
                   ferry_row *out, ferry_error *err)
{
	ferry_mapper *m;
	ferry_reject rej;
	int rc = mapper_for(on, table, which, &m, err);
	if (rc == 0)
		rc = on->xops->map(m, in, out, &rej, err);
	/* a before-image that does not convert is a row version that was
	 * rejected when it was written: it is not in the target, and it is
	 * already recorded once */
	if (rc == FERRY_EREJECT && which == 0)
		return 0;
	if (rc == FERRY_EREJECT)
		return record_reject(on, on->xops->source_table(on->xf, table), in,
		                     &rej, err);
	return rc;
}

/* ---- the snapshot -------------------------------------------------- */

/*
 * Resumable, chunk by chunk (docs/online-sqlite.md, "Resumable
 * snapshot").  Each chunk is read in its own short read transaction at
 * position Pi, and its rows commit on the target together with the
 * checkpoint "<migration>/snapshot/<table>" = chunks committed.  Before
 * that commit, ferry.db records what the chunk was (slot n % 2: number,
 * position, whether it ended the table, rows so far, its last key), so a
 * restart continues after the last chunk the target holds.  Changes up
 * to snapshot.until (the largest Pi) may already be in copied rows: the
 * replay applies those idempotently.  A table without a key cannot be
 * applied idempotently, so it is copied in one chunk and the replay
 * skips exactly the changes that chunk's snapshot saw (its token).
 */

typedef struct chunk_slot {
	uint64_t n;        /* chunks committed (this one included) */
	uint64_t position; /* the read position of this chunk */
	bool done;         /* the table's last chunk */
	int64_t rows;      /* source rows read, this chunk included */
	ferry_buf key;     /* the last key: a change record (codec); for a
	                      table without a key, its copy's snapshot
	                      token (engine/capture.h) */
} chunk_slot;

static bool keyed(online *on, uint32_t t)
{
	return ferry_table_pk_count(on->xops->source_table(on->xf, t)) > 0 &&
	       ferry_table_pk_count(on->xops->target_table(on->xf, t)) > 0;
}

/*
 * Whether table t is copied chunk by chunk, its overlap with the stream
 * replayed idempotently by key; otherwise it is copied in one piece and
 * the replay skips exactly what the copy saw and applies the rest
 * strictly.  Besides tables without a key, one piece is for tables whose
 * updates may leave out a large value (old rows key-only, a column that
 * can be stored out of line): an overlapping change is applied as an
 * upsert, which may have to write the row whole, and a row that moved
 * between two chunks' reads would be in neither (docs/online-postgresql.md,
 * "Old rows and unsent values").
 */
static bool chunked(online *on, uint32_t t)
{
	const ferry_table *src = on->xops->source_table(on->xf, t);
	if (!keyed(on, t))
		return false;
	for (uint32_t i = 0; src->old_rows_key_only && i < src->ncolumns; i++)
		if (src->columns[i].unsent_if_kept)
			return false;
	return true;
}

static void slot_name(ferry_buf *b, const char *table, uint64_t n)
{
	ferry_buf_reset(b);
	ferry_buf_printf(b, "snapshot.chunk.%s.%u", table, (unsigned)(n % 2));
}

static void progress_name(ferry_buf *b, const online *on, const char *table)
{
	ferry_buf_reset(b);
	ferry_buf_printf(b, "%s/snapshot/%s", on->id, table);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                              : -1;
}

static int write_slot(online *on, const char *table, const chunk_slot *sl,
                      ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT, text = FERRY_BUF_INIT;
	slot_name(&name, table, sl->n);
	ferry_buf_printf(&text, "%llu %llu %d %lld ", (unsigned long long)sl->n,
	                 (unsigned long long)sl->position, sl->done ? 1 : 0,
	                 (long long)sl->rows);
	for (size_t i = 0; i < sl->key.len; i++)
		ferry_buf_printf(&text, "%02x", sl->key.data[i]);
	if (sl->key.len == 0)
		ferry_buf_putc(&text, '-');
	int rc = ferry_buf_failed(&name) || ferry_buf_failed(&text)
	             ? ferry_error_oom(err)
	             : ferry_state_set(on->state, ferry_buf_cstr(&name),
	                               ferry_buf_cstr(&text), err);
	ferry_buf_free(&name);
	ferry_buf_free(&text);
	return rc;
}

/* Reads slot n of table into sl; FERRY_ECORRUPT when ferry.db does not
 * describe chunk n (the target holds a chunk ferry.db never recorded). */
static int read_slot(online *on, const char *table, uint64_t n,
                     chunk_slot *sl, ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	char *text = NULL;
	slot_name(&name, table, n);
	int rc = ferry_buf_failed(&name)
	             ? ferry_error_oom(err)
	             : ferry_state_get(on->state, ferry_buf_cstr(&name), &text,
	                               NULL);
	ferry_buf_free(&name);
	unsigned long long got = 0, pos = 0;
	long long rows = 0;
	int done = 0, used = 0;
	if (rc == 0 && sscanf(text, "%llu %llu %d %lld %n", &got, &pos, &done,
	                      &rows, &used) == 4 && got == n) {
		sl->n = got;
		sl->position = pos;
		sl->done = done != 0;
		sl->rows = rows;
		ferry_buf_reset(&sl->key);
		for (const char *h = text + used; rc == 0 && *h && *h != '-';
		     h += 2) {
			int hi = hexval(h[0]), lo = hi < 0 ? -1 : hexval(h[1]);
			if (lo < 0)
				rc = -1;
			else
				ferry_buf_putc(&sl->key, (uint8_t)(hi << 4 | lo));
		}
		if (ferry_buf_failed(&sl->key))
			rc = ferry_error_oom(err);
		else if (rc == -1)
			rc = FERRY_ECORRUPT;
	} else if (rc != FERRY_ENOMEM) {
		rc = FERRY_ECORRUPT;
	}
	if (rc == FERRY_ECORRUPT)
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "the target holds %llu snapshot chunks of table "
		                     "\"%s\" but ferry.db does not describe chunk "
		                     "%llu: ferry.db is not the one this target was "
		                     "synced with", (unsigned long long)n, table,
		                     (unsigned long long)n);
	ferry_free(text);
	return rc;
}

/* The key of row as a change record (the codec copies its values). */
static int save_key(const ferry_table *src, const ferry_row *row,
                    ferry_buf *out, bool *has_null, ferry_error *err)
{
	ferry_value vals[64];
	uint32_t npk = ferry_table_pk_count(src);
	if (npk > sizeof vals / sizeof *vals)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "table \"%s\" has a primary key of %u "
		                       "columns: a snapshot chunks keys of at "
		                       "most 64", src->name, npk);
	*has_null = false;
	for (uint32_t i = 0; i < src->ncolumns; i++) {
		int pos = src->columns[i].pk_position;
		if (pos > 0) {
			vals[pos - 1] = row->values[i];
			*has_null |= row->values[i].type == FERRY_NULL;
		}
	}
	ferry_change c = FERRY_CHANGE_INIT;
	c.op = FERRY_OP_INSERT;
	c.has_after = true;
	c.table = src->name;
	c.after.values = vals;
	c.after.ncols = npk;
	c.after.cap = npk;
	ferry_buf_reset(out);
	return ferry_change_encode(&c, out, err);
}

/*
 * Copies the next chunk of table t after sl (or the whole table when it
 * has no key) and commits it with its checkpoint; sl then describes it.
 */
static int copy_chunk(online *on, uint32_t t, chunk_slot *sl,
                      ferry_error *err)
{
	const ferry_table *src = on->xops->source_table(on->xf, t);
	const ferry_table *dst = on->xops->target_table(on->xf, t);
	/* a table with chunks committed was being copied by chunks */
	bool by_key = sl->n > 0 || chunked(on, t);
	uint64_t limit = by_key ? on->chunk_rows : 0, position = 0, read = 0;
	ferry_change after = FERRY_CHANGE_INIT;
	ferry_buf key = FERRY_BUF_INIT, name = FERRY_BUF_INIT;
	ferry_scan *scan = NULL;
	ferry_row in = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	bool copying = false, in_snapshot = false, ended = false, has_null;
	size_t used;
	int rc = 0;
	if (sl->key.len)
		rc = ferry_change_decode(&after, sl->key.data, sl->key.len, &used,
		                         err);
	if (rc == 0 && (rc = on->cops->snapshot_begin(on->cap, &position,
	                                              err)) == 0)
		in_snapshot = true;
	if (rc == 0 && !by_key) /* what the one-piece copy sees */
		rc = on->cops->snapshot_token(on->cap, &key, err);
	if (rc == 0)
		rc = on->cops->scan_open(on->cap, src,
		                         sl->key.len ? &after.after : NULL, limit,
		                         &scan, err);
	if (rc == 0 && (rc = on->tops->copy_begin(on->dst, dst, err)) == 0)
		copying = true;
	while (rc == 0) {
		rc = on->cops->scan_next(scan, &in, err);
		if (rc == 0)
			ended = true;
		if (rc != 1)
			break;
		rc = map_row(on, t, 1, &in, &out, err);
		if (rc == 1)
			rc = on->tops->copy_row(on->dst, &out, err);
		if (rc >= 0)
			rc = 0;
		on->counts->snapshot_rows++;
		read++;
		/* a chunk ends only on a key without NULL: (k) > (NULL) is
		 * never true, and the rows after it would be skipped */
		if (rc == 0 && by_key && read >= limit &&
		    (rc = save_key(src, &in, &key, &has_null, err)) == 0 &&
		    !has_null)
			break;
	}
	if (in_snapshot) {
		int end = on->cops->snapshot_end(on->cap, rc == 0 ? err : NULL);
		if (rc == 0)
			rc = end;
	}
	on->cops->scan_close(scan);
	scan = NULL;
	chunk_slot next = {sl->n + 1, position, ended || !by_key,
	                   sl->rows + (int64_t)read, FERRY_BUF_INIT};
	if (rc == 0 && (!next.done || !by_key))
		ferry_buf_append(&next.key, key.data, key.len);
	if (rc == 0 && position > on->snapshot_until) {
		char text[24];
		snprintf(text, sizeof text, "%llu", (unsigned long long)position);
		on->snapshot_until = position;
		rc = ferry_state_set(on->state, "snapshot.until", text, err);
	}
	if (rc == 0 && ferry_buf_failed(&next.key))
		rc = ferry_error_oom(err);
	if (rc == 0)
		rc = write_slot(on, src->name, &next, err);
	progress_name(&name, on, src->name);
	if (rc == 0 && ferry_buf_failed(&name))
		rc = ferry_error_oom(err);
	int64_t rows = 0;
	if (rc == 0) {
		copying = false;
		rc = on->tops->copy_end_checkpoint(on->dst, &rows,
		                                   ferry_buf_cstr(&name), next.n,
		                                   err);
	}
	if (copying)
		on->tops->copy_abort(on->dst);
	if (rc == 0) {
		sl->n = next.n;
		sl->position = next.position;
		sl->done = next.done;
		sl->rows = next.rows;
		ferry_buf_reset(&sl->key);
		ferry_buf_append(&sl->key, next.key.data, next.key.len);
		if (ferry_buf_failed(&sl->key))
			rc = ferry_error_oom(err);
	}
	ferry_buf_free(&next.key);
	ferry_buf_free(&key);
	ferry_buf_free(&name);
	ferry_change_free(&after);
	ferry_row_free(&in);
	ferry_row_free(&out);
	return rc;
}

static int capture_pass(online *on, int64_t *got, ferry_error *err);

/* Where table t's copy stands: 0 chunks, or the slot of the last one the
 * target holds. */
static int table_progress(online *on, uint32_t t, chunk_slot *sl,
                          ferry_error *err)
{
	const ferry_table *src = on->xops->source_table(on->xf, t);
	ferry_buf name = FERRY_BUF_INIT;
	uint64_t n = 0;
	progress_name(&name, on, src->name);
	int rc = ferry_buf_failed(&name)
	             ? ferry_error_oom(err)
	             : on->tops->checkpoint_get(on->dst, ferry_buf_cstr(&name), &n,
	                                        err);
	ferry_buf_free(&name);
	sl->n = 0;
	sl->done = false;
	sl->rows = 0;
	ferry_buf_reset(&sl->key);
	if (rc == 0 && n > 0)
		rc = read_slot(on, src->name, n, sl, err);
	return rc;
}

static int table_finished(online *on, const char *table, bool *finished,
                          ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	char *v = NULL;
	ferry_buf_printf(&name, "snapshot.finished.%s", table);
	int rc = ferry_buf_failed(&name)
	             ? ferry_error_oom(err)
	             : ferry_state_get(on->state, ferry_buf_cstr(&name), &v, NULL);
	*finished = rc == 0;
	ferry_free(v);
	ferry_buf_free(&name);
	return rc == FERRY_ENOMEM ? rc : 0;
}

/* Keys and identity; then the table is never copied again.  A keyless
 * table's copy position is where its changes start to count. */
static int finish_copy(online *on, uint32_t t, const chunk_slot *sl,
                       ferry_error *err)
{
	const ferry_table *src = on->xops->source_table(on->xf, t);
	ferry_buf name = FERRY_BUF_INIT;
	/* unique indexes wait until the replay has passed snapshot.until:
	 * replaying an older change can briefly give a row a value another
	 * row holds now, which the target must not refuse (see
	 * finish_indexes) */
	ferry_table keys_only = *on->xops->target_table(on->xf, t);
	keys_only.nindexes = 0;
	int rc = on->tops->finish_table(on->dst, &keys_only, err);
	/* a one-piece copy's last slot keeps the copy's snapshot token, a
	 * chunked copy's last slot no key */
	if (rc == 0 && sl->key.len) {
		ferry_free(on->copied_in[t]);
		on->copied_in[t] = ferry_malloc(sl->key.len + 1);
		if (on->copied_in[t]) {
			memcpy(on->copied_in[t], sl->key.data, sl->key.len);
			on->copied_in[t][sl->key.len] = '\0';
		}
		ferry_buf_printf(&name, "snapshot.skip.%s", src->name);
		rc = ferry_buf_failed(&name) || !on->copied_in[t]
		         ? ferry_error_oom(err)
		         : ferry_state_set(on->state, ferry_buf_cstr(&name),
		                           on->copied_in[t], err);
	}
	ferry_buf_reset(&name);
	ferry_buf_printf(&name, "snapshot.finished.%s", src->name);
	if (rc == 0)
		rc = ferry_buf_failed(&name)
		         ? ferry_error_oom(err)
		         : ferry_state_set(on->state, ferry_buf_cstr(&name), "1", err);
	ferry_buf_free(&name);
	return rc;
}

/* Copies what is left of table t, chunk by chunk, journalling captured
 * changes about once a second so the source's log stays short. */
static int copy_table(online *on, uint32_t t, chunk_slot *sl,
                      int64_t *last_pass, ferry_error *err)
{
	int rc = 0;
	while (rc == 0 && !sl->done && !online_stopped(on)) {
		rc = copy_chunk(on, t, sl, err);
		if (rc == 0 && ferry_now_us() - *last_pass > 1000000) {
			int64_t got;
			rc = capture_pass(on, &got, err);
			*last_pass = ferry_now_us();
		}
	}
	if (rc == 0 && sl->done)
		rc = finish_copy(on, t, sl, err);
	if (rc < 0)
		ferry_error_prefix(err, "snapshot of table \"%s\"",
		                   on->xops->source_table(on->xf, t)->name);
	return rc;
}

/* The capture cursor: where the stream starts.  Taken once, before any
 * chunk is read, so every chunk's position is at or after it. */
static int start_stream(online *on, ferry_error *err)
{
	uint8_t *stored = NULL, pos[FERRY_CAPTURE_POSITION_LEN];
	size_t len = 0;
	uint64_t position = 0;
	int rc = ferry_journal_capture_cursor(on->journal, &stored, &len, err);
	ferry_free(stored);
	if (rc < 0 || len > 0)
		return rc;
	rc = on->cops->stream_start(on->cap, &position, err);
	ferry_capture_position_put(pos, position);
	if (rc == 0)
		rc = ferry_journal_commit(on->journal, pos, sizeof pos, err);
	return rc;
}

/* Records which tables the snapshot copies and their estimated rows, for
 * ferry status. */
static int record_tables(online *on, ferry_error *err)
{
	ferry_buf list = FERRY_BUF_INIT;
	for (uint32_t t = 0; t < on->ntables; t++) {
		const ferry_table *src = on->xops->source_table(on->xf, t);
		ferry_buf_printf(&list, "%lld\t%s\n", (long long)src->row_count,
		                 src->name);
	}
	int rc = ferry_buf_failed(&list)
	             ? ferry_error_oom(err)
	             : ferry_state_set(on->state, "snapshot.tables",
	                               ferry_buf_cstr(&list) ? ferry_buf_cstr(&list)
	                                                     : "",
	                               err);
	ferry_buf_free(&list);
	return rc;
}

/*
 * Copies every table, resuming after the chunks the target already
 * holds.  A table no chunk of which committed is (re)created empty: on a
 * first run an existing table with rows is refused, on a resumed one it
 * can only hold what this snapshot created.
 */
static int snapshot(online *on, bool resumed, ferry_error *err)
{
	chunk_slot *slots = ferry_calloc(on->ntables + 1, sizeof *slots);
	bool *finished = ferry_calloc(on->ntables + 1, sizeof *finished);
	int64_t last_pass = ferry_now_us();
	int rc = slots && finished ? 0 : ferry_error_oom(err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "migration.phase", "snapshot", err);
	if (rc == 0 && !resumed)
		rc = ferry_state_set(on->state, "snapshot.indexes", "pending", err);
	on->indexes_pending |= rc == 0 && !resumed;
	if (rc == 0)
		rc = record_tables(on, err);
	if (rc == 0)
		rc = start_stream(on, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++) {
		const ferry_table *src = on->xops->source_table(on->xf, t);
		rc = table_finished(on, src->name, &finished[t], err);
		if (rc == 0 && !finished[t])
			rc = table_progress(on, t, &slots[t], err);
	}
	ferry_existing existing =
	    resumed ? FERRY_EXISTING_TRUNCATE : FERRY_EXISTING_REFUSE;
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++)
		if (!finished[t] && slots[t].n == 0)
			rc = on->tops->check_table(
			    on->dst, on->xops->target_table(on->xf, t), existing, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++)
		if (!finished[t] && slots[t].n == 0)
			rc = on->tops->prepare_table(
			    on->dst, on->xops->target_table(on->xf, t), existing, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables && !online_stopped(on); t++)
		if (!finished[t])
			rc = copy_table(on, t, &slots[t], &last_pass, err);
	/* no foreign keys while syncing: the source may not enforce its own
	 * (SQLite's are off by default), and a change it accepted must not
	 * stall the replay; they are added at cutover, after verify */
	if (rc == 0 && !online_stopped(on))
		rc = ferry_state_set(on->state, "migration.phase", "streaming", err);
	for (uint32_t t = 0; slots && t < on->ntables; t++)
		ferry_buf_free(&slots[t].key);
	ferry_free(slots);
	ferry_free(finished);
	return rc;
}

/* ---- capture: source -> journal ----------------------------------- */

static int append_change(void *arg, const ferry_change *c, ferry_error *err)
{
	online *on = arg;
	on->counts->captured++;
	return ferry_journal_append(on->journal, c, NULL, err);
}

#define SCHEMA_STOP_ADVICE                                                   \
	"the sync stopped so that the target cannot diverge.  This version "    \
	"does not carry schema changes into a running migration: to go on, "   \
	"run ferry clean, drop or empty the target tables, and ferry init + "   \
	"ferry sync again (the new snapshot has the change); or make schema "   \
	"changes after the cutover"

/* Where a stop is recorded: each direction stops on its own. */
static const char *stopped_key(const online *on)
{
	return on->reverse ? "reverse.stopped" : "migration.stopped";
}

/* Stops on any schema change: the plan was built for the schema it saw,
 * and carrying a change silently would let source and target diverge.
 * The stop is recorded, so every later run says the same: the capture
 * has already moved to the new schema, and going on would feed the old
 * plan images it was not built for. */
static int check_drift(online *on, ferry_error *err)
{
	ferry_capture_drift drift = FERRY_CAPTURE_DRIFT_INIT;
	int rc = on->cops->check(on->cap, &drift, err);
	if (rc == 0 && drift.nitems > 0) {
		ferry_buf what = FERRY_BUF_INIT;
		ferry_buf_puts(&what, "the source schema changed: ");
		for (uint32_t i = 0; i < drift.nitems; i++)
			ferry_buf_printf(&what, "%s%s", i ? "; " : "", drift.items[i].text);
		const char *text = ferry_buf_cstr(&what);
		rc = text ? ferry_state_set(on->state, stopped_key(on), text, err)
		          : ferry_error_oom(err);
		if (rc == 0)
			rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "%s; "
			                     SCHEMA_STOP_ADVICE, text);
		ferry_buf_free(&what);
	} else if (rc == FERRY_EUNSUPPORTED) {
		/* a fatal change: the capture said what it was */
		ferry_state_set(on->state, stopped_key(on),
		                ferry_error_message(err), NULL);
	}
	ferry_capture_drift_free(&drift);
	return rc;
}

/* A migration stopped by a schema change stays stopped. */
static int refuse_stopped(online *on, ferry_error *err)
{
	char *why = NULL;
	int rc = ferry_state_get(on->state, stopped_key(on), &why, NULL);
	if (rc == 0)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "%s; " SCHEMA_STOP_ADVICE,
		                     why);
	else
		rc = rc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	ferry_free(why);
	return rc;
}

static int recheck_new_tables(online *on, ferry_error *err);

/* One pass: every committed source change after the cursor into the
 * journal with the new cursor, then released on the source. */
static int capture_pass(online *on, int64_t *got, ferry_error *err)
{
	uint8_t *stored = NULL, pos[FERRY_CAPTURE_POSITION_LEN];
	size_t len = 0;
	uint64_t cursor = 0, last = 0;
	int64_t before = on->counts->captured;
	int rc = check_drift(on, err);
	if (rc == 0)
		rc = recheck_new_tables(on, err);
	if (rc == 0)
		rc = ferry_journal_capture_cursor(on->journal, &stored, &len, err);
	if (rc == 0 && (len == 0 ||
	                ferry_capture_position_get(stored, len, &cursor) < 0))
		rc = ferry_error_set(err, FERRY_ECORRUPT,
		                     "the journal has no capture cursor: the snapshot "
		                     "has not finished");
	ferry_free(stored);
	last = cursor;
	if (rc == 0)
		rc = on->cops->read(on->cap, cursor, 0, append_change, on, &last, err);
	ferry_capture_position_put(pos, last);
	if (rc == 0 && last != cursor)
		rc = ferry_journal_commit(on->journal, pos, sizeof pos, err);
	/* release after every journal commit; and once per process even with
	 * nothing new, for rows a crash left between commit and release */
	if (rc == 0 && (last != cursor || !on->released_once) && last > 0) {
		rc = on->cops->release(on->cap, last, err);
		on->released_once = rc == 0;
	}
	*got = on->counts->captured - before;
	return rc;
}

/* ---- replay: journal -> target ------------------------------------- */

static int table_index(online *on, const char *name)
{
	for (uint32_t i = 0; i < on->ntables; i++)
		if (strcmp(on->xops->source_table(on->xf, i)->name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Applies one change through the plan.  An update that moves a row into
 * or out of the `where` filter becomes an insert or a delete.
 */
static int apply_one(online *on, const ferry_change *ch, ferry_row *b,
                     ferry_row *a, ferry_error *err)
{
	int t = table_index(on, ch->table);
	if (t < 0)
		return 0; /* a table the plan does not carry */
	const ferry_table *dst = on->xops->target_table(on->xf, (uint32_t)t);
	uint64_t position = 0;
	ferry_capture_position_get(ch->position, ch->position_len, &position);
	bool by_key = keyed(on, (uint32_t)t) && !on->copied_in[t];
	if (!by_key && on->copied_in[t] &&
	    on->cops->in_snapshot(on->copied_in[t], ch))
		return 0; /* the table's one-piece copy has it */
	/* changes the snapshot's chunks may hold already converge */
	bool idempotent = by_key && position <= on->snapshot_until;
	int in_b = 0, in_a = 0, rc = 0;
	/* whether the row was in the target before is the filter's verdict
	 * on the old row: without it, an update that takes the row out of
	 * the filter would leave it there */
	if (ch->op == FERRY_OP_UPDATE && !ch->has_before && on->xops->filters &&
	    on->xops->filters(on->xf, (uint32_t)t))
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "table \"%s\" has a where filter, and the "
		                       "source sent an update without the old row "
		                       "(its replica identity was lowered from FULL "
		                       "after ferry init?  The migration cannot "
		                       "carry this change: ALTER TABLE \"%s\" "
		                       "REPLICA IDENTITY FULL, then ferry clean and "
		                       "start it again)", ch->table, ch->table);
	if (ch->has_before)
		in_b = map_row(on, (uint32_t)t, 0, &ch->before, b, err);
	if (in_b >= 0 && ch->has_after)
		in_a = map_row(on, (uint32_t)t, 1, &ch->after, a, err);
	if (in_b < 0 || in_a < 0)
		return in_b < 0 ? in_b : in_a;
	ferry_op op = ch->op;
	if (on->reverse) {
		/* the inverse filters nothing: an image that did not map was
		 * rejected (and recorded).  Forward, a rejected new version
		 * takes the row out of the target; backwards that would delete
		 * a row from the database a rollback returns to, so the change
		 * is left out instead (verify then shows the row, and rollback
		 * refuses until a later change fixes it).  An update whose old
		 * version had been left out writes the new one whole. */
		if ((ch->has_after && !in_a) ||
		    (op == FERRY_OP_DELETE && ch->has_before && !in_b))
			return 0;
		if (op == FERRY_OP_UPDATE && ch->has_before && !in_b) {
			rc = on->tops->apply_change(on->dst, dst, FERRY_OP_INSERT, NULL,
			                            a, true, err);
			if (rc == 0)
				on->counts->applied++;
			return rc;
		}
	} else if (op == FERRY_OP_UPDATE && ch->has_before && in_b != in_a) {
		op = in_a ? FERRY_OP_INSERT : FERRY_OP_DELETE;
	}
	if (op == FERRY_OP_TRUNCATE)
		rc = on->tops->apply_change(on->dst, dst, op, NULL, NULL,
		                            idempotent, err);
	else if ((op == FERRY_OP_DELETE && in_b) ||
	         (op == FERRY_OP_INSERT && in_a) ||
	         (op == FERRY_OP_UPDATE && in_a))
		rc = on->tops->apply_change(on->dst, dst, op,
		                            ch->has_before && in_b ? b : NULL,
		                            in_a ? a : NULL, idempotent, err);
	else
		on->counts->filtered++;
	if (rc == 0)
		on->counts->applied++;
	return rc;
}

/*
 * Creates the target's unique and secondary indexes once the replay has
 * passed snapshot.until: from there on every change is newer than every
 * copied row, so the target moves through states the source had, which
 * its unique indexes accepted.  Passed means a change beyond it was
 * committed by this process, or everything journalled is applied and
 * the journal's capture cursor is beyond it.
 */
static int finish_indexes(online *on, ferry_error *err)
{
	bool passed = on->applied_position >= on->snapshot_until;
	int rc = 0;
	if (!passed) {
		uint8_t *pos = NULL;
		size_t len = 0;
		uint64_t cursor = 0, applied = 0;
		rc = ferry_journal_capture_cursor(on->journal, &pos, &len, err);
		if (rc == 0 && len)
			ferry_capture_position_get(pos, len, &cursor);
		ferry_free(pos);
		if (rc == 0)
			rc = on->tops->checkpoint_get(on->dst, on->id, &applied, err);
		passed = rc == 0 && cursor >= on->snapshot_until &&
		         applied == ferry_journal_last_lsn(on->journal);
	}
	for (uint32_t t = 0; rc == 0 && passed && t < on->ntables; t++) {
		rc = on->tops->finish_table(on->dst,
		                            on->xops->target_table(on->xf, t), err);
		if (rc < 0)
			ferry_error_prefix(err, "the indexes of table \"%s\"",
			                   on->xops->target_table(on->xf, t)->name);
	}
	if (rc == 0 && passed) {
		rc = ferry_state_set(on->state, "snapshot.indexes", "done", err);
		on->indexes_pending = rc < 0;
	}
	return rc;
}

/* Applies every journalled change after the target's checkpoint, in
 * batches of whole groups, each with its checkpoint. */
static int replay_pass(online *on, int64_t *got, ferry_error *err)
{
	uint64_t applied = 0, lsn = 0, last_group = 0, group = 0;
	uint64_t batch_position = 0;
	int64_t in_batch = 0, limit = on->o->batch_changes > 0
	                                  ? on->o->batch_changes : 5000;
	const ferry_change *ch;
	ferry_journal_iter *it = NULL;
	ferry_row b = FERRY_ROW_INIT, a = FERRY_ROW_INIT;
	bool open_batch = false;
	int rc = on->tops->checkpoint_get(on->dst, on->id, &applied, err);
	if (rc == 0)
		rc = ferry_journal_iter_open(&it, on->journal, applied + 1, err);
	*got = 0;
	while (rc == 0 && (rc = ferry_journal_iter_next(it, &ch, &lsn, err)) == 1) {
		rc = 0;
		/* commit only between groups: a group is whole source transactions */
		if (open_batch && ch->txid != group && in_batch >= limit) {
			rc = on->tops->apply_commit(on->dst, on->id, last_group, err);
			open_batch = false;
			in_batch = 0;
		}
		if (rc == 0 && !open_batch)
			rc = on->tops->apply_begin(on->dst, err);
		open_batch = rc == 0;
		if (rc == 0)
			rc = apply_one(on, ch, &b, &a, err);
		group = ch->txid;
		last_group = lsn;
		ferry_capture_position_get(ch->position, ch->position_len,
		                           &batch_position);
		in_batch++;
		(*got)++;
	}
	if (rc == 0 && open_batch) {
		rc = on->tops->apply_commit(on->dst, on->id, last_group, err);
		open_batch = false;
	}
	if (open_batch)
		on->tops->apply_abort(on->dst);
	ferry_journal_iter_close(it);
	ferry_row_free(&b);
	ferry_row_free(&a);
	if (rc == 0 && batch_position > on->applied_position)
		on->applied_position = batch_position;
	if (rc == 0 && on->indexes_pending)
		rc = finish_indexes(on, err);
	return rc;
}

/* ---- commands ------------------------------------------------------ */

/* What the snapshot recorded for the replay: until where changes apply
 * idempotently, and where each keyless table's copy stands. */
static int load_snapshot_bounds(online *on, ferry_error *err)
{
	char *v = NULL;
	ferry_buf name = FERRY_BUF_INIT;
	on->chunk_rows = on->o->snapshot_chunk_rows > 0
	                     ? (uint64_t)on->o->snapshot_chunk_rows
	                     : 100000;
	int rc = ferry_state_get(on->state, "snapshot.until", &v, NULL);
	if (rc == 0)
		on->snapshot_until = strtoull(v, NULL, 10);
	ferry_free(v);
	v = NULL;
	if (rc != FERRY_ENOMEM)
		rc = ferry_state_get(on->state, "snapshot.indexes", &v, NULL);
	on->indexes_pending = rc == 0 && strcmp(v, "pending") == 0;
	ferry_free(v);
	rc = rc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++) {
		ferry_buf_reset(&name);
		ferry_buf_printf(&name, "snapshot.skip.%s",
		                 on->xops->source_table(on->xf, t)->name);
		v = NULL;
		rc = ferry_buf_failed(&name)
		         ? FERRY_ENOMEM
		         : ferry_state_get(on->state, ferry_buf_cstr(&name), &v,
		                           NULL);
		if (rc == 0)
			on->copied_in[t] = v;
		else
			ferry_free(v);
		rc = rc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	}
	ferry_buf_free(&name);
	return rc;
}

/* Opens everything a running migration needs: settings, journal,
 * source and target connections, the plan. */
static int mark_origin(online *on, ferry_error *err);

/* An undo half done (engine/undo.c) leaves the target between two
 * states: a replay or a cutover now would build on that. */
static int refuse_during_undo(online *on, ferry_error *err)
{
	char *pending = NULL;
	int rc = ferry_state_get(on->state, "undo.pending", &pending, NULL);
	if (rc == 0 && *pending)
		rc = ferry_error_set(err, FERRY_EINVAL, "an undo to LSN %llu did "
		                     "not finish: run ferry undo --to %llu again "
		                     "to finish it first",
		                     strtoull(pending, NULL, 10),
		                     strtoull(pending, NULL, 10));
	else
		rc = rc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	ferry_free(pending);
	return rc;
}

/*
 * Whether this run goes backwards: asked for, or (for sync, capture and
 * replay) because the migration is cut over, when the application
 * writes to the target and the reverse stream is what runs.
 */
static int choose_direction(online *on, online_direction direction,
                            ferry_error *err)
{
	char *step = NULL, *why = NULL;
	int rc = 0;
	if (direction == ONLINE_FOLLOW_CUTOVER) {
		rc = ferry_state_get(on->state, "cutover.step", &step, NULL);
		direction = rc == 0 && strcmp(step, "cut-over") == 0
		                ? ONLINE_REVERSE : ONLINE_FORWARD;
		rc = rc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	}
	if (rc == 0 && direction == ONLINE_REVERSE) {
		char *rid = NULL;
		rc = ferry_state_get(on->state, "reverse.id", &rid, NULL);
		ferry_free(rid);
		if (rc == FERRY_ENOTFOUND) {
			ferry_state_get(on->state, "reverse.none", &why, NULL);
			rc = ferry_error_set(err, FERRY_EINVAL, "the migration is cut "
			                     "over and has no reverse stream (%s): "
			                     "there is nothing to carry back",
			                     why ? why : "it was not set up");
		} else if (rc == 0) {
			rc = turn_around(on, err);
		} else {
			rc = ferry_error_oom(err);
		}
	}
	ferry_free(step);
	ferry_free(why);
	return rc;
}

/* Appends name as one line of a "migration.tables" list: a newline in
 * it (PostgreSQL names may hold one) as \n, a backslash as \\. */
static void put_table_line(ferry_buf *b, const char *name)
{
	for (const char *p = name; *p; p++) {
		if (*p == '\\' || *p == '\n')
			ferry_buf_putc(b, '\\');
		ferry_buf_putc(b, *p == '\n' ? 'n' : (uint8_t)*p);
	}
	ferry_buf_putc(b, '\n');
}

/* Whether name is a line of list (put_table_line's form); -1 when
 * memory runs out. */
static int listed(const char *list, const char *name)
{
	ferry_buf line = FERRY_BUF_INIT;
	put_table_line(&line, name);
	const char *want = ferry_buf_cstr(&line);
	int found = -1;
	if (want) {
		size_t n = line.len;
		found = 0;
		for (const char *p = list; *p && !found;) {
			const char *end = strchr(p, '\n');
			size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
			found = len == n && memcmp(p, want, n) == 0;
			p += len;
		}
	}
	ferry_buf_free(&line);
	return found;
}

/*
 * Refuses a plan (xf) with a table the migration was not initialized
 * with: one created on the source since (or let in by the spec since).
 * Its rows were never copied and a capture that watches a fixed set of
 * tables (a PostgreSQL publication) never sends its changes, so going on
 * would leave it out of the target without a word.  Not recorded as a
 * stop: excluding the table in the spec lets the next run go on.
 * Captures that find new tables themselves (check) are left to that;
 * a migration initialized before "migration.tables" existed is not
 * checked.
 */
static int refuse_new_tables(online *on, const ferry_transform *xf,
                             ferry_error *err)
{
	if (on->reverse || on->cops->check_finds_new_tables)
		return 0;
	char *list = NULL;
	int rc = ferry_state_get(on->state, "migration.tables", &list, err);
	if (rc == FERRY_ENOTFOUND) {
		ferry_error_clear(err);
		return 0;
	}
	uint32_t n = rc == 0 ? on->xops->table_count(xf) : 0;
	for (uint32_t t = 0; rc == 0 && t < n; t++) {
		const char *name = on->xops->source_table(xf, t)->name;
		int found = listed(list, name);
		if (found < 0)
			rc = ferry_error_oom(err);
		else if (!found)
			rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "the source "
			                     "schema changed: table \"%s\" is not one "
			                     "the migration captures: it was created "
			                     "after ferry init (or the spec let it in "
			                     "since), so its rows would never reach "
			                     "the target. Exclude it in the spec "
			                     "(exclude: [\"%s\"]) to go on without it, "
			                     "or run ferry clean, drop or empty the "
			                     "target tables, and ferry init + ferry "
			                     "sync again to carry it", name, name);
	}
	ferry_free(list);
	return rc;
}

/* How often a running capture searches the source for new tables when
 * its check does not (microseconds): an introspection and a plan each
 * time.  FERRY_TEST_NEW_TABLES_MS sets it for tests. */
static int64_t new_tables_interval_us(void)
{
	const char *ms = getenv("FERRY_TEST_NEW_TABLES_MS");
	return ms && *ms ? (int64_t)atoll(ms) * 1000 : (int64_t)30 * 1000000;
}

/* refuse_new_tables against the source as it is now, every
 * tables_every_us while the passes run.  Not for a companion
 * (the forward slot read after a cutover, open_companion): it carries
 * nothing and has no plan. */
static int recheck_new_tables(online *on, ferry_error *err)
{
	int64_t now = ferry_now_us();
	if (!on->xops || on->reverse || on->cops->check_finds_new_tables ||
	    now - on->tables_checked_us < on->tables_every_us)
		return 0;
	on->tables_checked_us = now;
	ferry_schema schema = FERRY_SCHEMA_INIT;
	ferry_transform *xf = NULL;
	int rc = on->cops->introspect(on->cap, &schema, err);
	if (rc == 0)
		rc = on->xops->build(&xf, &schema, on->spec,
		                     online_dialect_of(&on->dst_uri), err);
	if (rc == 0)
		rc = refuse_new_tables(on, xf, err);
	if (xf)
		on->xops->free(xf);
	ferry_schema_free(&schema);
	return rc;
}

int online_start(online *on, const ferry_online_options *o,
                 ferry_online_counts *c, const char *command,
                 online_direction direction, ferry_error *err)
{
	memset(on, 0, sizeof *on);
	memset(c, 0, sizeof *c);
	on->o = o;
	on->counts = c;
	int rc = load_settings(on, err);
	if (rc == 0)
		rc = take_locks(on, command, strcmp(command, "replay") != 0,
		                strcmp(command, "capture") != 0, err);
	if (rc == 0)
		rc = refuse_during_undo(on, err);
	if (rc == 0)
		rc = choose_direction(on, direction, err);
	if (rc == 0)
		rc = refuse_stopped(on, err);
	if (rc == 0)
		rc = ferry_state_begin_run(on->state, command, NULL, &on->run, err);
	if (rc == 0)
		rc = open_journal(on, false, err);
	if (rc == 0)
		rc = open_endpoints(on, err);
	if (rc == 0)
		rc = mark_origin(on, err);
	if (rc == 0)
		rc = build_plan(on, err);
	if (rc == 0)
		rc = refuse_new_tables(on, on->xf, err);
	on->tables_checked_us = ferry_now_us();
	on->tables_every_us = new_tables_interval_us();
	if (rc == 0 && !on->reverse)
		rc = load_snapshot_bounds(on, err);
	return rc;
}

/*
 * A run that stops on an error leaves ferry's capture on the source,
 * where it costs the source something for as long as the migration
 * waits (a replication slot keeps WAL: a forgotten one fills the disk;
 * triggers keep recording): say so, with what it holds now, and the two
 * ways out.
 */
static void warn_capture_left(online *on)
{
	ferry_buf held = FERRY_BUF_INIT;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (on->cap && on->cops->describe &&
	    on->cops->describe(on->cap, &held, &ignored) == 0 &&
	    ferry_buf_cstr(&held) && *ferry_buf_cstr(&held))
		online_say(on, "note: ferry's capture stays on the source while this "
		    "migration waits (%s): run ferry sync again once the cause "
		    "is fixed, or ferry clean to abandon the migration",
		    ferry_buf_cstr(&held));
	else if (on->src_uri.kind == FERRY_URI_POSTGRESQL)
		online_say(on, "note: ferry's replication slot ferry_%s stays on the "
		    "source and keeps its WAL while this migration waits: run "
		    "ferry sync again once the cause is fixed, or ferry clean "
		    "to abandon the migration (it drops the slot)", on->id);
	ferry_error_clear(&ignored);
	ferry_buf_free(&held);
}

int online_finish(online *on, int rc)
{
	if (rc < 0 && rc != FERRY_ENOMEM && on->id && on->o->log)
		warn_capture_left(on);
	if (on->state) {
		ferry_error ignored = FERRY_ERROR_INIT;
		ferry_state_end_run(on->state, on->run, rc < 0 ? 1 : 0, &ignored);
		ferry_error_clear(&ignored);
	}
	online_close(on);
	return rc;
}

/* Until a signal with follow, else until a pass finds nothing new.  The
 * wait between empty passes is a poll interval, not a synchronisation:
 * it starts at 2 ms and doubles while idle up to 100 ms, so a busy source
 * is followed closely (a fixed 100 ms made the lag 63 ms at p50) and an
 * idle one is not polled hard. */
/* How often the reverse stream reads the forward slot. */
#define COMPANION_EVERY_US INT64_C(5000000)

/*
 * After a cutover from a PostgreSQL source, nothing reads the forward
 * slot there, yet the reverse stream writes to that database: the slot
 * would keep all that WAL until the rollback (a slot nobody reads fills
 * the disk).  The reverse capture therefore reads the forward stream
 * too, to a barrier, now and then: ferry's own transactions are skipped
 * and confirmed, so the slot moves on; an application write that got
 * past the fence is journalled forward, where it belongs.
 */
static int open_companion(online *on, ferry_error *err)
{
	online *fwd = ferry_calloc(1, sizeof *fwd);
	if (!fwd)
		return ferry_error_oom(err);
	on->companion = fwd;
	fwd->o = on->o;
	fwd->counts = &on->companion_counts;
	int rc = load_settings(fwd, err);
	if (rc == 0)
		rc = open_journal(fwd, false, err);
	if (rc == 0)
		rc = ferry_uri_parse(&fwd->src_uri, fwd->source, err);
	if (rc == 0 && !(fwd->cops = ferry_capture_for(fwd->src_uri.kind)))
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot read %s",
		                     fwd->src_uri.redacted);
	if (rc == 0)
		rc = fwd->cops->open(&fwd->cap, &fwd->src_uri, err);
	return rc;
}

static void close_companion(online *on)
{
	if (!on->companion)
		return;
	online_close(on->companion);
	ferry_free(on->companion);
	on->companion = NULL;
}

static int companion_pass(online *on, int64_t *got, ferry_error *err)
{
	*got = 0;
	if (!on->reverse || on->dst_uri.kind != FERRY_URI_POSTGRESQL ||
	    (on->companion_at &&
	     ferry_now_us() - on->companion_at < COMPANION_EVERY_US))
		return 0;
	int rc = on->companion ? 0 : open_companion(on, err);
	if (rc == 0 && on->companion->cops->read_barrier)
		rc = on->companion->cops->read_barrier(on->companion->cap, err);
	if (rc == 0)
		rc = capture_pass(on->companion, got, err);
	if (rc < 0) {
		ferry_error_prefix(err, "reading the source's forward stream");
		close_companion(on); /* opened again on the next pass */
	}
	on->companion_at = ferry_now_us();
	return rc;
}

int online_run_passes(online *on, bool do_capture, bool do_replay,
                      ferry_error *err)
{
	int rc = 0;
	useconds_t idle = 2000;
	while (rc == 0 && !online_stopped(on)) {
		int64_t captured = 0, applied = 0, forward = 0;
		if (do_capture)
			rc = companion_pass(on, &forward, err);
		if (rc == 0 && do_capture)
			rc = capture_pass(on, &captured, err);
		if (rc == 0 && do_replay)
			rc = replay_pass(on, &applied, err);
		if (rc < 0 || (captured == 0 && applied == 0 && !on->o->follow))
			break;
		if (captured || applied) {
			idle = 2000;
			continue;
		}
		usleep(idle);
		idle = idle < 50000 ? idle * 2 : 100000;
	}
	return rc;
}

/*
 * Passes until the lag is at most max_lag_s.  Each pass reads every
 * change committed before it began (a read barrier, or an SQLite read
 * transaction) and applies all it read, so when it ends no change older
 * than its start is unapplied: its duration bounds the lag (*lag).  A
 * busy source is fenced once a pass is short enough, not only at a
 * quiet moment.
 */
int online_catch_up(online *on, double max_lag_s, double *lag,
                    ferry_error *err)
{
	int rc = 0;
	*lag = 0;
	while (rc == 0 && !online_stopped(on)) {
		int64_t t0 = ferry_now_us(), captured = 0, applied = 0;
		if (on->cops->read_barrier)
			rc = on->cops->read_barrier(on->cap, err);
		if (rc == 0)
			rc = capture_pass(on, &captured, err);
		if (rc == 0)
			rc = replay_pass(on, &applied, err);
		*lag = (double)(ferry_now_us() - t0) / 1e6;
		if (rc < 0 || (captured == 0 && applied == 0) || *lag <= max_lag_s)
			break;
	}
	return rc;
}

int online_need_streaming(online *on, ferry_error *err)
{
	char *phase = NULL;
	int rc = ferry_state_get(on->state, "migration.phase", &phase, err);
	if (rc == 0 && strcmp(phase, "streaming") != 0)
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "the snapshot has not been taken: run ferry sync");
	ferry_free(phase);
	return rc;
}

/* ---- lost connections ------------------------------------------------ */

void online_say(online *on, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_log_vprintf(on->o->log, on->o->log_arg, fmt, ap);
	va_end(ap);
}

/*
 * Marks ferry's writes to the target with the migration's origin
 * ("ferry_<id>", engine/target.h mark_origin) so that a capture of the
 * target (the reverse stream after a cutover) never carries them back.
 * A target that refuses (a role without the right) is told once per
 * run; the forward migration does not need it, a cutover will.
 */
static int mark_origin(online *on, ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	ferry_buf_printf(&name, "ferry_%s", on->id);
	if (!ferry_buf_cstr(&name))
		return ferry_error_oom(err);
	ferry_error refused = FERRY_ERROR_INIT;
	int rc = on->tops->mark_origin(on->dst, ferry_buf_cstr(&name),
	                               &refused);
	ferry_buf_free(&name);
	if (rc == FERRY_EUNSUPPORTED) {
		if (!on->origin_refused)
			online_say(on, "warning: %s; until then a cutover cannot "
			    "start the reverse stream",
			    ferry_error_message(&refused));
		on->origin_refused = true;
		rc = 0;
	} else if (rc < 0) {
		rc = ferry_error_set(err, rc, "%s", ferry_error_message(&refused));
	}
	ferry_error_clear(&refused);
	return rc;
}

/* Opens the connections and the journal again (dropping what a failed
 * pass buffered in it); the plan and the state stay. */
static int reconnect(online *on, ferry_error *err)
{
	close_companion(on);
	on->cops->close(on->cap);
	on->cap = NULL;
	on->tops->close(on->dst);
	on->dst = NULL;
	ferry_journal_close(on->journal);
	on->journal = NULL;
	on->released_once = false;
	int rc = open_journal(on, false, err);
	if (rc == 0)
		rc = on->cops->open(&on->cap, &on->src_uri, err);
	if (rc == 0)
		rc = on->tops->open(&on->dst, &on->dst_uri, err);
	if (rc == 0)
		rc = mark_origin(on, err);
	return rc;
}

/* How long a run without --follow keeps trying to reconnect. */
#define RECONNECT_GIVE_UP_US INT64_C(60000000)

/*
 * Runs step; when a connection broke (FERRY_ECONNLOST: a server restart,
 * a network cut) reconnects with backoff (0.1 s doubling to 10 s) and
 * runs it again.  That is safe because every step goes on from what is
 * recorded (the journal's capture cursor, the target's checkpoints):
 * the same as a restart of the process, without the restart.  With
 * follow it keeps trying until stopped; without, for a minute.
 */
static int with_reconnect(online *on, int (*step)(online *, ferry_error *),
                          ferry_error *err)
{
	int rc = step(on, err);
	int64_t waited = 0, backoff = 100000;
	while (rc == FERRY_ECONNLOST && !online_stopped(on) &&
	       (on->o->follow || waited < RECONNECT_GIVE_UP_US)) {
		online_say(on, "%s; reconnecting in %.1f s", ferry_error_message(err),
		    (double)backoff / 1e6);
		usleep((useconds_t)backoff);
		waited += backoff;
		backoff = backoff < 5000000 ? backoff * 2 : 10000000;
		ferry_error_clear(err);
		rc = reconnect(on, err);
		if (rc == 0) {
			online_say(on, "reconnected");
			rc = step(on, err);
		}
	}
	return rc;
}

static int sync_step(online *on, ferry_error *err)
{
	char *phase = NULL;
	int rc = ferry_state_get(on->state, "migration.phase", &phase, err);
	if (rc == 0 && strcmp(phase, "streaming") != 0)
		rc = snapshot(on, strcmp(phase, "snapshot") == 0, err);
	ferry_free(phase);
	if (rc == 0)
		rc = online_run_passes(on, true, true, err);
	return rc;
}

static int capture_step(online *on, ferry_error *err)
{
	return online_run_passes(on, true, false, err);
}

static int replay_step(online *on, ferry_error *err)
{
	return online_run_passes(on, false, true, err);
}

int ferry_online_sync(const ferry_online_options *o, ferry_online_counts *c,
                      ferry_error *err)
{
	online on;
	int rc = online_start(&on, o, c, "sync", ONLINE_FOLLOW_CUTOVER, err);
	if (rc == 0)
		rc = with_reconnect(&on, sync_step, err);
	return online_finish(&on, rc);
}

int ferry_online_capture(const ferry_online_options *o, ferry_online_counts *c,
                         ferry_error *err)
{
	online on;
	int rc = online_start(&on, o, c, "capture", ONLINE_FOLLOW_CUTOVER, err);
	if (rc == 0)
		rc = online_need_streaming(&on, err);
	if (rc == 0)
		rc = with_reconnect(&on, capture_step, err);
	return online_finish(&on, rc);
}

int ferry_online_replay(const ferry_online_options *o, ferry_online_counts *c,
                        ferry_error *err)
{
	online on;
	int rc = online_start(&on, o, c, "replay", ONLINE_FOLLOW_CUTOVER, err);
	if (rc == 0)
		rc = online_need_streaming(&on, err);
	if (rc == 0)
		rc = with_reconnect(&on, replay_step, err);
	return online_finish(&on, rc);
}

/* ---- init, status, clean ------------------------------------------- */

/* A password in a URI would have to be stored to reconnect: refused. */
static int refuse_password(const char *uri, ferry_error *err)
{
	char *redacted = ferry_uri_redact(uri);
	if (!redacted)
		return ferry_error_oom(err);
	bool has = strcmp(redacted, uri) != 0;
	int rc = has ? ferry_error_set(err, FERRY_EINVAL,
	                               "\"%s\" contains a password, which ferry "
	                               "would have to store: give it in "
	                               "PGPASSWORD or ~/.pgpass instead",
	                               redacted)
	             : 0;
	ferry_free(redacted);
	return rc;
}

/* The tables the plan carries, as a schema sharing their storage. */
static int carried_tables(online *on, ferry_schema *out, ferry_error *err)
{
	out->tables = ferry_calloc(on->ntables ? on->ntables : 1,
	                           sizeof *out->tables);
	if (!out->tables)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < on->ntables; i++)
		out->tables[i] = *on->xops->source_table(on->xf, i);
	out->ntables = on->ntables;
	return 0;
}

static void migration_id(char out[33])
{
	unsigned char raw[16] = {0};
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(raw, 1, sizeof raw, f) != sizeof raw) {
		int64_t t = ferry_now_us();
		memcpy(raw, &t, sizeof t); /* unique enough without urandom */
	}
	if (f)
		fclose(f);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* "migration.tables": the source tables the migration captures, one
 * name per line (put_table_line), as init planned them. */
static int record_tables_captured(online *on, ferry_error *err)
{
	ferry_buf list = FERRY_BUF_INIT;
	for (uint32_t t = 0; t < on->ntables; t++)
		put_table_line(&list, on->xops->source_table(on->xf, t)->name);
	int rc = ferry_buf_failed(&list)
	             ? ferry_error_oom(err)
	             : ferry_state_set(on->state, "migration.tables",
	                               ferry_buf_cstr(&list) ? ferry_buf_cstr(&list)
	                                                     : "",
	                               err);
	ferry_buf_free(&list);
	return rc;
}

static int record_settings(online *on, const char *id, ferry_error *err)
{
	int rc = ferry_state_set(on->state, "migration.id", id, err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "migration.source", on->source, err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "migration.target", on->target, err);
	if (rc == 0 && on->spec)
		rc = ferry_state_set(on->state, "migration.spec", on->spec, err);
	if (rc == 0)
		rc = record_tables_captured(on, err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "migration.phase", "initialized", err);
	return rc;
}

/* Removes what a failed init created in dir (not dir itself). */
void online_remove_in(const char *dir, const char *const *names, size_t n)
{
	ferry_buf path = FERRY_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		online_path_in(&path, dir, names[i]);
		if (!ferry_buf_failed(&path))
			remove(ferry_buf_cstr(&path));
	}
	ferry_buf_free(&path);
}

static void forget_directory(const char *dir)
{
	static const char *const files[] = {"ferry.db", "ferry.db-journal",
	                                    "journal/data.mdb", "journal/lock.mdb",
	                                    "journal"};
	online_remove_in(dir, files, sizeof files / sizeof *files);
}

/*
 * Tables whose old rows carry only their key (PostgreSQL REPLICA
 * IDENTITY DEFAULT, docs/online-postgresql.md): a plan that needs whole
 * old rows for such a table (a `where` filter, an expression mixing a
 * large column with others) is refused, naming what and the fix.
 */
static int refuse_key_only_plans(online *on, ferry_error *err)
{
	ferry_buf why = FERRY_BUF_INIT, fix = FERRY_BUF_INIT;
	for (uint32_t t = 0; on->xops->needs_whole_rows && t < on->ntables;
	     t++) {
		const ferry_table *src = on->xops->source_table(on->xf, t);
		if (!src->old_rows_key_only ||
		    !on->xops->needs_whole_rows(on->xf, t, &why))
			continue;
		ferry_buf_puts(&fix, "ALTER TABLE ");
		ferry_buf_put_ident(&fix, src->name);
		ferry_buf_puts(&fix, " REPLICA IDENTITY FULL; ");
	}
	int rc = 0;
	if (ferry_buf_failed(&why) || ferry_buf_failed(&fix))
		rc = ferry_error_oom(err);
	else if (fix.len)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
		                     "the plan needs whole old rows for %s, and the "
		                     "source sends only the key (REPLICA IDENTITY "
		                     "DEFAULT): %sthen ferry init again",
		                     ferry_buf_cstr(&why), ferry_buf_cstr(&fix));
	ferry_buf_free(&why);
	ferry_buf_free(&fix);
	return rc;
}

/* One warning line per table whose old rows carry only its key. */
static void warn_key_only(online *on, ferry_buf *report)
{
	for (uint32_t t = 0; t < on->ntables; t++) {
		const ferry_table *src = on->xops->source_table(on->xf, t);
		if (!src->old_rows_key_only)
			continue;
		ferry_buf_printf(report, "warning: table \"%s\" sends only its key "
		                 "in old rows (REPLICA IDENTITY DEFAULT): ferry undo "
		                 "cannot undo its changes, and an `up` expression "
		                 "that reads a large value together with other "
		                 "columns stops the sync when an update leaves that "
		                 "value unchanged; ALTER TABLE ", src->name);
		ferry_buf_put_ident(report, src->name);
		ferry_buf_puts(report, " REPLICA IDENTITY FULL gives whole rows\n");
	}
}

int ferry_online_init(const char *dir, const char *source, const char *target,
                      const char *spec, ferry_buf *report, ferry_error *err)
{
	online on;
	ferry_online_options o = {0};
	ferry_online_counts c = {0};
	ferry_buf db = FERRY_BUF_INIT;
	memset(&on, 0, sizeof on);
	on.o = &o;
	on.counts = &c;
	o.dir = dir;
	online_path_in(&db, dir, "ferry.db");
	int rc = access(ferry_buf_cstr(&db), F_OK) == 0
	             ? ferry_error_set(err, FERRY_EINVAL,
	                               "\"%s\" already holds a migration: use "
	                               "another --dir, or ferry clean and remove it",
	                               dir)
	             : 0;
	ferry_buf_free(&db);
	if (rc == 0)
		rc = refuse_password(source, err);
	if (rc == 0)
		rc = refuse_password(target, err);
	on.source = ferry_strdup(source);
	on.target = ferry_strdup(target);
	on.spec = spec ? realpath(spec, NULL) : NULL;
	if (rc == 0 && (!on.source || !on.target))
		rc = ferry_error_oom(err);
	if (rc == 0 && spec && !on.spec)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not read spec \"%s\": %s",
		                     spec, strerror(errno));
	if (rc == 0)
		rc = open_endpoints(&on, err);
	if (rc == 0)
		rc = build_plan(&on, err);
	if (rc == 0)
		rc = refuse_key_only_plans(&on, err);
	for (uint32_t t = 0; rc == 0 && t < on.ntables; t++)
		rc = on.tops->check_table(on.dst, on.xops->target_table(on.xf, t),
		                          FERRY_EXISTING_REFUSE, err);
	char id[33];
	migration_id(id);
	ferry_schema carried = FERRY_SCHEMA_INIT;
	if (rc == 0)
		rc = carried_tables(&on, &carried, err);
	if (rc == 0)
		rc = ferry_state_open(&on.state, dir, err);
	if (rc == 0)
		rc = open_journal(&on, false, err);
	if (rc == 0)
		rc = on.cops->install(on.cap, &carried, id, err);
	ferry_free(carried.tables); /* the tables themselves belong to the schema */
	if (rc == 0)
		rc = record_settings(&on, id, err);
	bool created = on.state != NULL;
	if (rc == 0) {
		ferry_buf_printf(report, "migration %s in %s\n", id, dir);
		ferry_buf_printf(report, "capture installed on %s for %u tables\n",
		                 on.src_uri.redacted, on.ntables);
		on.xops->describe(on.xf, report);
		warn_key_only(&on, report);
	}
	online_close(&on);
	if (rc < 0 && created)
		forget_directory(dir); /* a failed init leaves nothing to clean */
	return rc;
}

void ferry_online_status_free(ferry_online_status *s)
{
	for (uint32_t i = 0; s && i < s->ntables; i++)
		ferry_free(s->tables[i].table);
	if (s) {
		ferry_free(s->tables);
		s->tables = NULL;
		s->ntables = 0;
		ferry_free(s->stopped);
		s->stopped = NULL;
		ferry_free(s->source);
		s->source = NULL;
	}
}

/* The slot with the higher chunk number: the last one written. */
static void latest_slot(online *on, const char *table,
                        ferry_online_table_status *ts)
{
	ferry_buf name = FERRY_BUF_INIT;
	uint64_t best = 0;
	for (int k = 0; k < 2; k++) {
		char *text = NULL;
		unsigned long long n = 0;
		int done = 0;
		long long rows = 0;
		slot_name(&name, table, (uint64_t)k);
		if (!ferry_buf_failed(&name) &&
		    ferry_state_get(on->state, ferry_buf_cstr(&name), &text,
		                    NULL) == 0 &&
		    sscanf(text, "%llu %*u %d %lld", &n, &done, &rows) == 3 &&
		    n > best) {
			best = n;
			ts->rows_copied = rows;
			ts->state = done ? "copied" : "copying";
		}
		ferry_free(text);
	}
	ferry_buf_free(&name);
}

/* Per-table progress from what the snapshot recorded in ferry.db. */
static int status_tables(online *on, ferry_online_status *out,
                         ferry_error *err)
{
	char *list = NULL;
	if (ferry_state_get(on->state, "snapshot.tables", &list, NULL) < 0)
		return 0; /* the snapshot has not begun */
	uint32_t n = 0;
	for (const char *p = list; *p; p++)
		n += *p == '\n';
	out->tables = ferry_calloc(n + 1, sizeof *out->tables);
	int rc = out->tables ? 0 : ferry_error_oom(err);
	ferry_buf name = FERRY_BUF_INIT;
	for (char *line = list, *nl; rc == 0 && (nl = strchr(line, '\n'));
	     line = nl + 1) {
		*nl = '\0';
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		ferry_online_table_status *ts = &out->tables[out->ntables];
		ts->rows_estimated = strtoll(line, NULL, 10);
		ts->state = "pending";
		if (!(ts->table = ferry_strdup(tab + 1))) {
			rc = ferry_error_oom(err);
			break;
		}
		out->ntables++;
		latest_slot(on, ts->table, ts);
		char *v = NULL;
		ferry_buf_reset(&name);
		ferry_buf_printf(&name, "snapshot.finished.%s", ts->table);
		if (!ferry_buf_failed(&name) &&
		    ferry_state_get(on->state, ferry_buf_cstr(&name), &v,
		                    NULL) == 0)
			ts->state = "done";
		ferry_free(v);
	}
	ferry_buf_free(&name);
	ferry_free(list);
	return rc;
}

/* What the capture holds on the source.  Best effort: a source that
 * cannot be reached leaves the line out, the status is still shown. */
static void source_line(online *on, ferry_online_status *out)
{
	ferry_buf line = FERRY_BUF_INIT;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (ferry_uri_parse(&on->src_uri, on->source, &ignored) == 0 &&
	    (on->cops = ferry_capture_for(on->src_uri.kind)) != NULL &&
	    on->cops->open(&on->cap, &on->src_uri, &ignored) == 0 &&
	    on->cops->describe(on->cap, &line, &ignored) == 0 && line.len)
		out->source = ferry_buf_detach(&line, NULL);
	ferry_buf_free(&line);
	ferry_error_clear(&ignored);
}

/* Where one direction's stream stands: journal head, what its target
 * applied, the lag. */
static int stream_status(online *on, uint64_t *head, uint64_t *applied,
                         uint64_t *lag_changes, double *lag_seconds,
                         ferry_error *err)
{
	int rc = open_journal(on, true, err);
	*head = on->journal ? ferry_journal_last_lsn(on->journal) : 0;
	if (rc == 0)
		rc = ferry_uri_parse(&on->dst_uri, on->target, err);
	if (rc == 0 && !(on->tops = ferry_target_for(on->dst_uri.kind)))
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "unknown target kind");
	if (rc == 0)
		rc = on->tops->open(&on->dst, &on->dst_uri, err);
	if (rc == 0)
		rc = on->tops->checkpoint_get(on->dst, on->id, applied, err);
	if (rc == 0 && *head > *applied) {
		*lag_changes = *head - *applied;
		ferry_journal_iter *it = NULL;
		const ferry_change *ch;
		uint64_t lsn;
		if (ferry_journal_iter_open(&it, on->journal, *applied + 1, NULL) ==
		        0 &&
		    ferry_journal_iter_next(it, &ch, &lsn, NULL) == 1)
			*lag_seconds = (double)(ferry_now_us() - ch->commit_time) / 1e6;
		ferry_journal_iter_close(it);
	}
	return rc;
}

static void copy_setting(online *on, const char *key, char *out, size_t size)
{
	char *v = NULL;
	if (ferry_state_get(on->state, key, &v, NULL) == 0)
		snprintf(out, size, "%s", v);
	ferry_free(v);
}

/* The reverse stream, once the migration is cut over and has one. */
static int reverse_status(const char *dir, ferry_online_status *out,
                          ferry_error *err)
{
	online rev;
	ferry_online_options o = {0};
	ferry_online_counts c = {0};
	memset(&rev, 0, sizeof rev);
	rev.o = &o;
	rev.counts = &c;
	o.dir = dir;
	char *rid = NULL;
	int rc = load_settings(&rev, err);
	if (rc == 0 && ferry_state_get(rev.state, "reverse.id", &rid, NULL) == 0) {
		out->has_reverse = true;
		rc = turn_around(&rev, err);
		if (rc == 0)
			rc = stream_status(&rev, &out->reverse_head,
			                   &out->reverse_applied,
			                   &out->reverse_lag_changes,
			                   &out->reverse_lag_seconds, err);
	}
	ferry_free(rid);
	online_close(&rev);
	return rc;
}

int ferry_online_get_status(const char *dir, ferry_online_status *out,
                            ferry_error *err)
{
	online on;
	ferry_online_options o = {0};
	ferry_online_counts c = {0};
	char *phase = NULL;
	uint8_t *pos = NULL;
	size_t len = 0;
	memset(out, 0, sizeof *out);
	memset(&on, 0, sizeof on);
	on.o = &o;
	on.counts = &c;
	o.dir = dir;
	int rc = load_settings(&on, err);
	if (rc == 0)
		rc = ferry_state_get(on.state, "migration.phase", &phase, err);
	if (rc == 0)
		snprintf(out->phase, sizeof out->phase, "%s", phase);
	if (rc == 0) {
		copy_setting(&on, "cutover.step", out->cutover_step,
		             sizeof out->cutover_step);
		copy_setting(&on, "rollback.step", out->rollback_step,
		             sizeof out->rollback_step);
		rc = ferry_state_reject_count(on.state, &out->rejects, err);
	}
	if (rc == 0)
		rc = status_tables(&on, out, err);
	if (rc == 0 && ferry_state_get(on.state, "migration.stopped",
	                               &out->stopped, NULL) == FERRY_ENOMEM)
		rc = ferry_error_oom(err);
	if (rc == 0)
		source_line(&on, out);
	if (rc == 0)
		rc = stream_status(&on, &out->journal_head, &out->applied,
		                   &out->lag_changes, &out->lag_seconds, err);
	if (rc == 0)
		rc = ferry_journal_capture_cursor(on.journal, &pos, &len, err);
	if (rc == 0 && len)
		ferry_capture_position_get(pos, len, &out->capture_position);
	if (rc == 0 && strcmp(out->cutover_step, "cut-over") == 0)
		rc = reverse_status(dir, out, err);
	ferry_free(pos);
	ferry_free(phase);
	online_close(&on);
	return rc;
}

int ferry_online_clean(const char *dir, ferry_buf *report, ferry_error *err)
{
	online on;
	ferry_online_options o = {0};
	ferry_online_counts c = {0};
	memset(&on, 0, sizeof on);
	on.o = &o;
	on.counts = &c;
	o.dir = dir;
	int rc = load_settings(&on, err);
	if (rc == 0)
		rc = take_locks(&on, "clean", true, true, err);
	if (rc == 0)
		rc = open_endpoints(&on, err);
	/* a fence is not part of the capture: it goes first */
	if (rc == 0)
		rc = on.cops->unfence(on.cap, report, err);
	if (rc == 0)
		rc = on.cops->remove(on.cap, report, err);
	if (rc < 0 && on.id && on.src_uri.kind == FERRY_URI_POSTGRESQL) {
		/* the slot is what must not be forgotten */
		char *cause = ferry_strdup(ferry_error_message(err));
		ferry_error_set(err, rc, "%s; so the replication slot ferry_%s "
		                "(if it is there) still holds WAL on the source: "
		                "run ferry clean again once the source is "
		                "reachable", cause ? cause : "", on.id);
		ferry_free(cause);
	}
	if (rc == 0)
		rc = on.tops->checkpoint_drop(on.dst, on.id, err);
	/* after a cutover the reverse stream's capture is on the target */
	if (rc == 0)
		rc = online_reverse_teardown(&on, &on.src_uri, &on.dst_uri, true,
		                             report, err);
	/* and a rollback leaves the target fenced */
	if (rc == 0)
		rc = online_unfence_target(&on, &on.dst_uri, report, err);
	if (rc == 0) {
		ferry_buf_printf(report, "removed the replay checkpoint of migration "
		                 "%s from %s\n", on.id, on.dst_uri.redacted);
		ferry_buf_printf(report, "kept %s (ferry.db and the journal): remove "
		                 "it when you no longer need them\n", dir);
		rc = ferry_state_set(on.state, "migration.phase", "cleaned", err);
	}
	online_close(&on);
	return rc;
}
