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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/capture.h"
#include "engine/journal.h"
#include "engine/registry.h"
#include "engine/state.h"

typedef struct online {
	const ferry_online_options *o;
	ferry_online_counts *counts;
	ferry_state *state;
	int64_t run;
	char *id, *source, *target, *spec;
	ferry_uri src_uri, dst_uri;
	const ferry_capture_ops *cops;
	const ferry_target_ops *tops;
	const ferry_transform_ops *xops;
	ferry_capture *cap;
	ferry_target *dst;
	ferry_journal *journal;
	ferry_schema schema;
	ferry_transform *xf;
	ferry_mapper **mappers; /* two per table: before-image, after-image */
	bool released_once;     /* this process has released the source log */
	uint32_t ntables;
} online;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void path_in(ferry_buf *b, const char *dir, const char *name)
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
		                       "online migration reads SQLite",
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

/* The source schema and the plan over it; mappers opened on demand. */
static int build_plan(online *on, ferry_error *err)
{
	int rc = on->cops->introspect(on->cap, &on->schema, err);
	ferry_dialect dialect = on->dst_uri.kind == FERRY_URI_SQLITE
	                            ? FERRY_DIALECT_SQLITE
	                            : FERRY_DIALECT_POSTGRESQL;
	if (rc == 0)
		rc = on->xops->build(&on->xf, &on->schema, on->spec, dialect, err);
	if (rc < 0)
		return rc;
	on->ntables = on->xops->table_count(on->xf);
	on->mappers = ferry_calloc(2 * (size_t)on->ntables + 1,
	                           sizeof *on->mappers);
	return on->mappers ? 0 : ferry_error_oom(err);
}

static int open_journal(online *on, bool read_only, ferry_error *err)
{
	ferry_buf path = FERRY_BUF_INIT;
	path_in(&path, on->o->dir, "journal");
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
	ferry_buf path = FERRY_BUF_INIT;
	path_in(&path, on->o->dir, "ferry.db");
	bool exists = !ferry_buf_failed(&path) &&
	              access(ferry_buf_cstr(&path), F_OK) == 0;
	ferry_buf_free(&path);
	if (!exists)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "no migration in \"%s\": run ferry init "
		                       "SOURCE TARGET first (or give --dir)",
		                       on->o->dir);
	int rc = ferry_state_open(&on->state, on->o->dir, err);
	if (rc == 0)
		rc = ferry_state_get(on->state, "migration.id", &on->id, err);
	if (rc == 0)
		rc = ferry_state_get(on->state, "migration.source", &on->source, err);
	if (rc == 0)
		rc = ferry_state_get(on->state, "migration.target", &on->target, err);
	if (rc == 0 &&
	    ferry_state_get(on->state, "migration.spec", &on->spec, NULL) < 0)
		on->spec = NULL; /* no spec: every table as it is */
	return rc;
}

static void online_close(online *on)
{
	for (uint32_t i = 0; on->mappers && i < 2 * on->ntables; i++)
		if (on->mappers[i])
			on->xops->mapper_close(on->mappers[i]);
	ferry_free(on->mappers);
	if (on->xf)
		on->xops->free(on->xf);
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

static int copy_table(online *on, uint32_t t, ferry_error *err)
{
	const ferry_table *src = on->xops->source_table(on->xf, t);
	const ferry_table *dst = on->xops->target_table(on->xf, t);
	ferry_scan *scan = NULL;
	ferry_row in = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	int64_t rows = 0;
	bool copying = false;
	int rc = on->cops->scan_open(on->cap, src, &scan, err);
	if (rc == 0 && (rc = on->tops->copy_begin(on->dst, dst, err)) == 0)
		copying = true;
	while (rc == 0 && (rc = on->cops->scan_next(scan, &in, err)) == 1) {
		rc = map_row(on, t, 1, &in, &out, err);
		if (rc == 1)
			rc = on->tops->copy_row(on->dst, &out, err);
		on->counts->snapshot_rows++;
	}
	if (rc == 0) {
		copying = false;
		rc = on->tops->copy_end(on->dst, &rows, err);
	}
	if (copying)
		on->tops->copy_abort(on->dst);
	on->cops->scan_close(scan);
	ferry_row_free(&in);
	ferry_row_free(&out);
	if (rc == 0)
		rc = on->tops->finish_table(on->dst, dst, err);
	if (rc < 0)
		ferry_error_prefix(err, "snapshot of table \"%s\"", src->name);
	return rc;
}

/*
 * Copies every table in the capture connection's snapshot transaction at
 * position P, then journals P as the capture cursor: changes up to P are
 * in the copy, changes after it will be captured.
 */
static int snapshot(online *on, bool restart, ferry_error *err)
{
	uint64_t position;
	uint8_t pos[FERRY_CAPTURE_POSITION_LEN];
	/* a snapshot that was interrupted restarts from empty tables: they
	 * were empty when it first began, so their rows are its own */
	ferry_existing existing =
	    restart ? FERRY_EXISTING_TRUNCATE : FERRY_EXISTING_REFUSE;
	int rc = ferry_state_set(on->state, "migration.phase", "snapshot", err);
	if (rc == 0)
		rc = on->cops->snapshot_begin(on->cap, &position, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++)
		rc = on->tops->check_table(on->dst, on->xops->target_table(on->xf, t),
		                           existing, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++)
		rc = on->tops->prepare_table(on->dst,
		                             on->xops->target_table(on->xf, t),
		                             existing, err);
	for (uint32_t t = 0; rc == 0 && t < on->ntables; t++)
		rc = copy_table(on, t, err);
	int end = on->cops->snapshot_end(on->cap, rc == 0 ? err : NULL);
	if (rc == 0)
		rc = end;
	/* no foreign keys while syncing: the source may not enforce its own
	 * (SQLite's are off by default), and a change it accepted must not
	 * stall the replay; they are added at cutover, after verify */
	ferry_capture_position_put(pos, position);
	if (rc == 0)
		rc = ferry_journal_commit(on->journal, pos, sizeof pos, err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "migration.phase", "streaming", err);
	return rc;
}

/* ---- capture: source -> journal ----------------------------------- */

static int append_change(void *arg, const ferry_change *c, ferry_error *err)
{
	online *on = arg;
	on->counts->captured++;
	return ferry_journal_append(on->journal, c, NULL, err);
}

/* Stops on any schema change: the plan was built for the schema it saw,
 * and carrying a change silently would let source and target diverge. */
static int check_drift(online *on, ferry_error *err)
{
	ferry_capture_drift drift = FERRY_CAPTURE_DRIFT_INIT;
	int rc = on->cops->check(on->cap, &drift, err);
	if (rc == 0 && drift.nitems > 0) {
		ferry_buf what = FERRY_BUF_INIT;
		for (uint32_t i = 0; i < drift.nitems; i++)
			ferry_buf_printf(&what, "%s%s", i ? "; " : "", drift.items[i].text);
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
		                     "the source schema changed: %s; the sync stopped "
		                     "so the target cannot diverge (carrying schema "
		                     "changes comes next: for now run ferry clean and "
		                     "start a new migration)",
		                     ferry_buf_cstr(&what) ? ferry_buf_cstr(&what) : "?");
		ferry_buf_free(&what);
	}
	ferry_capture_drift_free(&drift);
	return rc;
}

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
	int in_b = 0, in_a = 0, rc = 0;
	if (ch->has_before)
		in_b = map_row(on, (uint32_t)t, 0, &ch->before, b, err);
	if (in_b >= 0 && ch->has_after)
		in_a = map_row(on, (uint32_t)t, 1, &ch->after, a, err);
	if (in_b < 0 || in_a < 0)
		return in_b < 0 ? in_b : in_a;
	ferry_op op = ch->op;
	if (op == FERRY_OP_UPDATE && ch->has_before && in_b != in_a)
		op = in_a ? FERRY_OP_INSERT : FERRY_OP_DELETE;
	if (op == FERRY_OP_TRUNCATE)
		rc = on->tops->apply_change(on->dst, dst, op, NULL, NULL, false, err);
	else if ((op == FERRY_OP_DELETE && in_b) ||
	         (op == FERRY_OP_INSERT && in_a) ||
	         (op == FERRY_OP_UPDATE && in_a))
		rc = on->tops->apply_change(on->dst, dst, op,
		                            ch->has_before && in_b ? b : NULL,
		                            in_a ? a : NULL, false, err);
	else
		on->counts->filtered++;
	if (rc == 0)
		on->counts->applied++;
	return rc;
}

/* Applies every journalled change after the target's checkpoint, in
 * batches of whole groups, each with its checkpoint. */
static int replay_pass(online *on, int64_t *got, ferry_error *err)
{
	uint64_t applied = 0, lsn = 0, last_group = 0, group = 0;
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
	return rc;
}

/* ---- commands ------------------------------------------------------ */

static bool stopped(const online *on)
{
	return on->o->stop && *on->o->stop;
}

/* Opens everything a running migration needs: settings, journal,
 * source and target connections, the plan. */
static int start(online *on, const ferry_online_options *o,
                 ferry_online_counts *c, const char *command, ferry_error *err)
{
	memset(on, 0, sizeof *on);
	memset(c, 0, sizeof *c);
	on->o = o;
	on->counts = c;
	int rc = load_settings(on, err);
	if (rc == 0)
		rc = ferry_state_begin_run(on->state, command, NULL, &on->run, err);
	if (rc == 0)
		rc = open_journal(on, false, err);
	if (rc == 0)
		rc = open_endpoints(on, err);
	if (rc == 0)
		rc = build_plan(on, err);
	return rc;
}

static int finish(online *on, int rc)
{
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
static int run_passes(online *on, bool do_capture, bool do_replay,
                      ferry_error *err)
{
	int rc = 0;
	useconds_t idle = 2000;
	while (rc == 0 && !stopped(on)) {
		int64_t captured = 0, applied = 0;
		if (do_capture)
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

static int need_streaming(online *on, ferry_error *err)
{
	char *phase = NULL;
	int rc = ferry_state_get(on->state, "migration.phase", &phase, err);
	if (rc == 0 && strcmp(phase, "streaming") != 0)
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "the snapshot has not been taken: run ferry sync");
	ferry_free(phase);
	return rc;
}

int ferry_online_sync(const ferry_online_options *o, ferry_online_counts *c,
                      ferry_error *err)
{
	online on;
	char *phase = NULL;
	int rc = start(&on, o, c, "sync", err);
	if (rc == 0)
		rc = ferry_state_get(on.state, "migration.phase", &phase, err);
	if (rc == 0 && strcmp(phase, "streaming") != 0)
		rc = snapshot(&on, strcmp(phase, "snapshot") == 0, err);
	ferry_free(phase);
	if (rc == 0)
		rc = run_passes(&on, true, true, err);
	return finish(&on, rc);
}

int ferry_online_capture(const ferry_online_options *o, ferry_online_counts *c,
                         ferry_error *err)
{
	online on;
	int rc = start(&on, o, c, "capture", err);
	if (rc == 0)
		rc = need_streaming(&on, err);
	if (rc == 0)
		rc = run_passes(&on, true, false, err);
	return finish(&on, rc);
}

int ferry_online_replay(const ferry_online_options *o, ferry_online_counts *c,
                        ferry_error *err)
{
	online on;
	int rc = start(&on, o, c, "replay", err);
	if (rc == 0)
		rc = need_streaming(&on, err);
	if (rc == 0)
		rc = run_passes(&on, false, true, err);
	return finish(&on, rc);
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
		int64_t t = now_us();
		memcpy(raw, &t, sizeof t); /* unique enough without urandom */
	}
	if (f)
		fclose(f);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
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
		rc = ferry_state_set(on->state, "migration.phase", "initialized", err);
	return rc;
}

/* Removes what a failed init created in dir (not dir itself). */
static void forget_directory(const char *dir)
{
	static const char *const files[] = {"ferry.db", "ferry.db-journal",
	                                    "journal/data.mdb", "journal/lock.mdb",
	                                    "journal"};
	ferry_buf path = FERRY_BUF_INIT;
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		path_in(&path, dir, files[i]);
		if (!ferry_buf_failed(&path))
			remove(ferry_buf_cstr(&path));
	}
	ferry_buf_free(&path);
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
	path_in(&db, dir, "ferry.db");
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
	}
	online_close(&on);
	if (rc < 0 && created)
		forget_directory(dir); /* a failed init leaves nothing to clean */
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
	if (rc == 0)
		rc = ferry_state_reject_count(on.state, &out->rejects, err);
	if (rc == 0)
		rc = open_journal(&on, true, err);
	if (rc == 0)
		rc = ferry_journal_capture_cursor(on.journal, &pos, &len, err);
	if (rc == 0 && len)
		ferry_capture_position_get(pos, len, &out->capture_position);
	out->journal_head = on.journal ? ferry_journal_last_lsn(on.journal) : 0;
	if (rc == 0)
		rc = ferry_uri_parse(&on.dst_uri, on.target, err);
	if (rc == 0 && !(on.tops = ferry_target_for(on.dst_uri.kind)))
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "unknown target kind");
	if (rc == 0)
		rc = on.tops->open(&on.dst, &on.dst_uri, err);
	if (rc == 0)
		rc = on.tops->checkpoint_get(on.dst, on.id, &out->applied, err);
	if (rc == 0 && out->journal_head > out->applied) {
		out->lag_changes = out->journal_head - out->applied;
		ferry_journal_iter *it = NULL;
		const ferry_change *ch;
		uint64_t lsn;
		if (ferry_journal_iter_open(&it, on.journal, out->applied + 1, NULL) ==
		        0 &&
		    ferry_journal_iter_next(it, &ch, &lsn, NULL) == 1)
			out->lag_seconds = (double)(now_us() - ch->commit_time) / 1e6;
		ferry_journal_iter_close(it);
	}
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
		rc = open_endpoints(&on, err);
	if (rc == 0)
		rc = on.cops->remove(on.cap, report, err);
	if (rc == 0)
		rc = on.tops->checkpoint_drop(on.dst, on.id, err);
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
