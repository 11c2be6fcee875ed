/*
 * engine/undo.c - `ferry undo` (undo.h, docs/undo.md): the replay run
 * backwards.  A first pass over the journal finds the source
 * transactions to undo and refuses, before anything changes, a change
 * that cannot be inverted; then the transactions are read again in
 * windows and inverted newest first, each in one target transaction
 * with the undo's checkpoint, so that a crash repeats nothing.
 */
#include "engine/undo.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "engine/alloc.h"
#include "engine/runtime.h"
#include "engine/buf.h"
#include "engine/capture.h"
#include "engine/change.h"
#include "engine/datetime.h"
#include "engine/journal.h"
#include "engine/registry.h"
#include "engine/state.h"

/* Changes read into memory at once, over several transactions when they
 * are small; a larger transaction is read whole (memory is bounded by
 * the largest transaction). */
#define WINDOW_CHANGES 10000
/* Changes that cannot be inverted named in the refusal. */
#define PROBLEMS_NAMED 5

/* One source transaction to undo: its changes are LSNs first..last. */
typedef struct group {
	uint64_t first, last;
} group;

/* An earlier undo's range: the changes (to, from] are undone. */
typedef struct undone {
	uint64_t to, from;
} undone;

typedef struct undoer {
	const ferry_undo_options *o;
	ferry_undo_report *r;
	ferry_state *state;
	int lock_fd;            /* + 1: the replay lock (0: not held) */
	int64_t run;
	char *id, *source, *target, *spec;
	ferry_buf undo_name;          /* "<id>/undo": the undo's checkpoint */
	ferry_uri src_uri, dst_uri;
	const ferry_capture_ops *cops; /* for in_snapshot only: no connection */
	const ferry_target_ops *tops;
	const ferry_transform_ops *xops;
	ferry_target *dst;
	ferry_journal *journal;
	ferry_schema schema;
	ferry_transform *xf;
	ferry_mapper **mappers;       /* two per table: before, after image */
	uint32_t ntables;
	uint64_t snapshot_until;      /* changes up to here were applied
	                                 idempotently (engine/online.c) */
	char **copied_in;             /* per keyless table: its copy's token */
	undone *ranges;               /* undo.ranges */
	size_t nranges;
	group *groups;                /* to undo, oldest first */
	size_t ngroups, groups_cap;
	uint64_t nchanges;            /* changes in groups */
	uint64_t to, from, base;      /* the point, the replay checkpoint, the
	                                 undo checkpoint when this undo began */
	uint64_t done;                /* groups undone, the newest first */
	int64_t said_at;              /* when progress was last said */
} undoer;

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void say(undoer *u, const char *fmt, ...) FERRY_PRINTF(2, 3);
static void say(undoer *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_log_vprintf(u->o->log, u->o->log_arg, fmt, ap);
	va_end(ap);
}

int ferry_undo_parse_time(const char *text, int64_t *out, ferry_error *err)
{
	bool has_zone = false;
	ferry_error why = FERRY_ERROR_INIT;
	int rc = ferry_timestamp_parse(text, strlen(text), out, &has_zone, &why);
	if (rc < 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "\"%s\" is not an ISO 8601 "
		                     "time such as 2026-11-24T03:00:00Z: %s", text,
		                     ferry_error_message(&why));
	else if (!has_zone)
		rc = ferry_error_set(err, FERRY_EINVAL, "\"%s\" has no time zone: "
		                     "add Z for UTC or an offset such as +01:00",
		                     text);
	ferry_error_clear(&why);
	return rc;
}

/* ---- opening the migration ------------------------------------------ */

static int load_settings(undoer *u, ferry_error *err)
{
	ferry_migration_settings m;
	int rc = ferry_state_open_migration(u->o->dir, &u->state, &m, err);
	u->id = m.id;
	u->source = m.source;
	u->target = m.target;
	u->spec = m.spec;
	/* undo writes the target as a replay does: never both at once */
	int fd = -1;
	if (rc == 0)
		rc = ferry_state_lock(u->o->dir, "replay", "undo", &fd, err);
	u->lock_fd = fd + 1;
	if (rc == 0) {
		ferry_buf_printf(&u->undo_name, "%s/undo", u->id);
		if (ferry_buf_failed(&u->undo_name))
			rc = ferry_error_oom(err);
	}
	return rc;
}

/* A setting, or *value NULL when it is not there. */
static int get_optional(undoer *u, const char *key, char **value,
                        ferry_error *err)
{
	ferry_error why = FERRY_ERROR_INIT;
	*value = NULL;
	int rc = ferry_state_get(u->state, key, value, &why);
	if (rc == FERRY_ENOTFOUND)
		rc = 0;
	else if (rc < 0)
		rc = ferry_error_set(err, rc, "%s", ferry_error_message(&why));
	if (rc < 0 || !*value) {
		ferry_free(*value);
		*value = NULL;
	}
	ferry_error_clear(&why);
	return rc;
}

/* Undo reverts a replica: a migration that streams, whose plan still
 * fits the source, and whose application still writes to the source. */
static int check_migration(undoer *u, ferry_error *err)
{
	char *phase = NULL, *stopped = NULL, *step = NULL;
	int rc = get_optional(u, "migration.phase", &phase, err);
	if (rc == 0)
		rc = get_optional(u, "migration.stopped", &stopped, err);
	if (rc == 0)
		rc = get_optional(u, "cutover.step", &step, err);
	if (rc < 0)
		;
	else if (!phase || strcmp(phase, "streaming") != 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "nothing to undo: the "
		                     "migration is %s, not streaming (undo reverts "
		                     "what ferry sync applied)",
		                     phase ? phase : "not initialized");
	else if (stopped && *stopped)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "the migration was "
		                     "stopped by a change of the source schema (%s): "
		                     "undo maps the journal with the plan of the "
		                     "source schema, which is no longer the one the "
		                     "replay used", stopped);
	else if (step && strcmp(step, "cut-over") == 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "the cutover is done: the "
		                     "application writes to the target, and undo "
		                     "only reverts a target before its cutover");
	else if (step && *step)
		rc = ferry_error_set(err, FERRY_EINVAL, "a cutover is in progress "
		                     "(step \"%s\"): finish it, or ferry cutover "
		                     "--abort, first", step);
	ferry_free(phase);
	ferry_free(stopped);
	ferry_free(step);
	return rc;
}

/* The plan exactly as the replay builds it: the source's schema now
 * (read, never written) and the spec; mappers opened on demand. */
static int build_plan(undoer *u, ferry_error *err)
{
	const ferry_source_ops *sops = ferry_source_for(u->src_uri.kind);
	ferry_source *src = NULL;
	if (!sops || !u->cops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot read the "
		                       "schema of %s databases: undo works on "
		                       "online migrations from SQLite and "
		                       "PostgreSQL",
		                       ferry_uri_kind_name(u->src_uri.kind));
	int rc = sops->open(&src, &u->src_uri, err);
	if (rc == 0)
		rc = sops->introspect(src, &u->schema, err);
	sops->close(src);
	if (rc < 0)
		return ferry_error_prefix(err, "undo needs the source's schema to "
		                          "map the journal as the replay did");
	ferry_dialect dialect = u->dst_uri.kind == FERRY_URI_SQLITE
	                            ? FERRY_DIALECT_SQLITE
	                            : FERRY_DIALECT_POSTGRESQL;
	u->xops = ferry_default_transform();
	rc = u->xops->build(&u->xf, &u->schema, u->spec, dialect, err);
	if (rc < 0)
		return rc;
	u->ntables = u->xops->table_count(u->xf);
	u->mappers = ferry_calloc(2 * (size_t)u->ntables + 1, sizeof *u->mappers);
	u->copied_in = ferry_calloc((size_t)u->ntables + 1,
	                            sizeof *u->copied_in);
	return u->mappers && u->copied_in ? 0 : ferry_error_oom(err);
}

/* What the snapshot recorded: see engine/online.c load_snapshot_bounds. */
static int load_snapshot_bounds(undoer *u, ferry_error *err)
{
	char *v = NULL;
	int rc = get_optional(u, "snapshot.until", &v, err);
	if (v)
		u->snapshot_until = strtoull(v, NULL, 10);
	ferry_free(v);
	ferry_buf name = FERRY_BUF_INIT;
	for (uint32_t t = 0; rc == 0 && t < u->ntables; t++) {
		ferry_buf_reset(&name);
		ferry_buf_printf(&name, "snapshot.skip.%s",
		                 u->xops->source_table(u->xf, t)->name);
		rc = ferry_buf_failed(&name)
		         ? ferry_error_oom(err)
		         : get_optional(u, ferry_buf_cstr(&name), &u->copied_in[t],
		                        err);
	}
	ferry_buf_free(&name);
	return rc;
}

static int open_journal(undoer *u, ferry_error *err)
{
	ferry_buf path = FERRY_BUF_INIT;
	ferry_buf_printf(&path, "%s/journal", u->o->dir);
	ferry_journal_options opts = {0};
	opts.read_only = true;
	int rc = ferry_buf_failed(&path)
	             ? ferry_error_oom(err)
	             : ferry_journal_open(&u->journal, ferry_buf_cstr(&path),
	                                  &opts, err);
	ferry_buf_free(&path);
	return rc;
}

/* Marks undo's writes as ferry's, as the replay's are (engine/target.h
 * mark_origin); a target that refuses is no reason not to undo. */
static int mark_origin(undoer *u, ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	ferry_buf_printf(&name, "ferry_%s", u->id);
	if (!ferry_buf_cstr(&name))
		return ferry_error_oom(err);
	ferry_error refused = FERRY_ERROR_INIT;
	int rc = u->tops->mark_origin(u->dst, ferry_buf_cstr(&name), &refused);
	if (rc == FERRY_EUNSUPPORTED)
		rc = 0;
	else if (rc < 0)
		rc = ferry_error_set(err, rc, "%s", ferry_error_message(&refused));
	ferry_error_clear(&refused);
	ferry_buf_free(&name);
	return rc;
}

static int open_migration(undoer *u, ferry_error *err)
{
	int rc = ferry_uri_parse(&u->src_uri, u->source, err);
	if (rc == 0)
		rc = ferry_uri_parse(&u->dst_uri, u->target, err);
	if (rc < 0)
		return rc;
	u->cops = ferry_capture_for(u->src_uri.kind);
	u->tops = ferry_target_for(u->dst_uri.kind);
	if (!u->tops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot write %s databases",
		                       ferry_uri_kind_name(u->dst_uri.kind));
	rc = build_plan(u, err);
	if (rc == 0)
		rc = load_snapshot_bounds(u, err);
	if (rc == 0)
		rc = open_journal(u, err);
	if (rc == 0)
		rc = u->tops->open(&u->dst, &u->dst_uri, err);
	if (rc == 0)
		rc = mark_origin(u, err);
	return rc;
}

static void undoer_close(undoer *u)
{
	for (uint32_t i = 0; u->mappers && i < 2 * u->ntables; i++)
		if (u->mappers[i])
			u->xops->mapper_close(u->mappers[i]);
	ferry_free(u->mappers);
	for (uint32_t i = 0; u->copied_in && i < u->ntables; i++)
		ferry_free(u->copied_in[i]);
	ferry_free(u->copied_in);
	if (u->xf)
		u->xops->free(u->xf);
	ferry_schema_free(&u->schema);
	if (u->tops)
		u->tops->close(u->dst);
	ferry_journal_close(u->journal);
	ferry_state_close(u->state);
	if (u->lock_fd)
		close(u->lock_fd - 1);
	ferry_uri_free(&u->src_uri);
	ferry_uri_free(&u->dst_uri);
	ferry_free(u->ranges);
	ferry_free(u->groups);
	ferry_buf_free(&u->undo_name);
	ferry_free(u->id);
	ferry_free(u->source);
	ferry_free(u->target);
	ferry_free(u->spec);
}

/* ---- earlier undos --------------------------------------------------- */

/* undo.ranges: "to:from" pairs separated by spaces. */
static int load_ranges(undoer *u, ferry_error *err)
{
	char *text = NULL;
	int rc = get_optional(u, "undo.ranges", &text, err);
	size_t n = 0;
	for (const char *p = text; p && *p; p++)
		n += *p == ':';
	u->ranges = ferry_calloc(n + 1, sizeof *u->ranges);
	if (rc == 0 && !u->ranges)
		rc = ferry_error_oom(err);
	for (char *p = text; rc == 0 && p && *p;) {
		unsigned long long to, from;
		int used = 0;
		if (sscanf(p, " %llu:%llu%n", &to, &from, &used) != 2)
			break;
		u->ranges[u->nranges].to = to;
		u->ranges[u->nranges].from = from;
		u->nranges++;
		p += used;
	}
	ferry_free(text);
	return rc;
}

static bool undone_before(const undoer *u, uint64_t lsn)
{
	for (size_t i = 0; i < u->nranges; i++)
		if (lsn > u->ranges[i].to && lsn <= u->ranges[i].from)
			return true;
	return false;
}

/* ---- the point -------------------------------------------------------- */

/*
 * The LSN just before the first change committed after o->to_time_us,
 * looking no further than upto (the replay checkpoint): upto when every
 * change up to it was committed at or before that time.
 */
static int resolve_time(undoer *u, uint64_t upto, uint64_t *lsn_out,
                        ferry_error *err)
{
	ferry_journal_iter *it = NULL;
	const ferry_change *ch;
	uint64_t lsn = 0;
	int rc = ferry_journal_iter_open(&it, u->journal, 0, err);
	*lsn_out = upto;
	while (rc == 0 && (rc = ferry_journal_iter_next(it, &ch, &lsn, err)) == 1) {
		rc = 0;
		if (lsn > upto)
			break;
		if (ch->commit_time > u->o->to_time_us) {
			*lsn_out = lsn - 1;
			break;
		}
	}
	ferry_journal_iter_close(it);
	if (rc < 0)
		return rc;
	ferry_buf when = FERRY_BUF_INIT;
	ferry_timestamp_format(u->o->to_time_us, true, &when);
	if (!ferry_buf_cstr(&when))
		rc = ferry_error_oom(err);
	else if (*lsn_out == upto)
		say(u, "%s is LSN %llu: every change the target has applied was "
		    "committed at or before it", ferry_buf_cstr(&when),
		    (unsigned long long)upto);
	else
		say(u, "%s is LSN %llu: the last change committed at or before it",
		    ferry_buf_cstr(&when), (unsigned long long)*lsn_out);
	ferry_buf_free(&when);
	return rc;
}

/* The txid of the change at lsn; *found false when the journal no
 * longer has it (pruned). */
static int txid_at(undoer *u, uint64_t lsn, uint64_t *txid, bool *found,
                   ferry_error *err)
{
	ferry_journal_iter *it = NULL;
	const ferry_change *ch;
	uint64_t got = 0;
	*found = false;
	int rc = ferry_journal_iter_open(&it, u->journal, lsn, err);
	if (rc == 0)
		rc = ferry_journal_iter_next(it, &ch, &got, err);
	if (rc == 1 && got == lsn) {
		*txid = ch->txid;
		*found = true;
	}
	ferry_journal_iter_close(it);
	if (rc == FERRY_ENOTFOUND) { /* pruned: nothing to compare with */
		ferry_error_clear(err);
		return 0;
	}
	return rc < 0 ? rc : 0;
}

/* ---- the first pass: what to undo, and whether it can be ------------ */

typedef struct scan {
	ferry_buf problems;      /* the first PROBLEMS_NAMED, "; "-separated */
	uint64_t nproblems;
	bool in_snapshot;        /* some change was applied during the
	                            snapshot: undo cannot go back past the
	                            end of its group */
	size_t snapshot_group;   /* the newest such change's group */
	uint64_t prev_lsn, prev_txid;
	bool have_prev;
} scan;

static int table_index(const undoer *u, const char *name)
{
	for (uint32_t i = 0; i < u->ntables; i++)
		if (strcmp(u->xops->source_table(u->xf, i)->name, name) == 0)
			return (int)i;
	return -1;
}

static bool keyed(const undoer *u, uint32_t t)
{
	return ferry_table_pk_count(u->xops->source_table(u->xf, t)) > 0 &&
	       ferry_table_pk_count(u->xops->target_table(u->xf, t)) > 0;
}

static void problem(scan *s, uint64_t lsn, const ferry_change *ch,
                    const char *why)
{
	if (s->nproblems++ < PROBLEMS_NAMED)
		ferry_buf_printf(&s->problems, "%sLSN %llu %s of table \"%s\": %s",
		                 s->problems.len ? "; " : "",
		                 (unsigned long long)lsn, ferry_op_name(ch->op),
		                 ch->table, why);
}

/* Why ch (of carried table t) cannot be inverted; NULL when it can. */
static const char *cannot_invert(const undoer *u, uint32_t t,
                                 const ferry_change *ch)
{
	uint32_t width = u->xops->source_table(u->xf, t)->ncolumns;
	switch (ch->op) {
	case FERRY_OP_TRUNCATE:
		return "a truncate keeps no before-images, so the rows it removed "
		       "are not in the journal";
	case FERRY_OP_DDL:
		return "a schema change cannot be undone";
	case FERRY_OP_UPDATE:
	case FERRY_OP_DELETE:
		if (!ch->has_before || ferry_row_has_absent(&ch->before))
			return u->src_uri.kind == FERRY_URI_POSTGRESQL
			           ? "no before-image (the table does not send whole "
			             "old rows: its REPLICA IDENTITY is not FULL)"
			           : "no before-image";
		break;
	default:
		break;
	}
	if ((ch->has_before && ch->before.ncols != width) ||
	    (ch->has_after && ch->after.ncols != width))
		return "its image has another number of columns than the table "
		       "has now (a column was added since)";
	return NULL;
}

/* Whether the replay applied ch while the snapshot was copied: then the
 * target was never at the point before it (engine/online.c apply_one). */
static bool during_snapshot(const undoer *u, uint32_t t,
                            const ferry_change *ch)
{
	uint64_t position = 0;
	ferry_capture_position_get(ch->position, ch->position_len, &position);
	if (keyed(u, t))
		return position <= u->snapshot_until;
	return u->copied_in[t] && u->cops->in_snapshot(u->copied_in[t], ch);
}

static int add_change(undoer *u, scan *s, uint64_t lsn, const ferry_change *ch,
                      ferry_error *err)
{
	bool starts = !s->have_prev || ch->txid != s->prev_txid ||
	              lsn != s->prev_lsn + 1;
	if (starts && u->ngroups == u->groups_cap) {
		size_t cap = u->groups_cap ? 2 * u->groups_cap : 64;
		group *g = ferry_realloc(u->groups, cap * sizeof *g);
		if (!g)
			return ferry_error_oom(err);
		u->groups = g;
		u->groups_cap = cap;
	}
	if (starts)
		u->groups[u->ngroups++].first = lsn;
	u->groups[u->ngroups - 1].last = lsn;
	u->nchanges++;
	s->have_prev = true;
	s->prev_lsn = lsn;
	s->prev_txid = ch->txid;
	int t = table_index(u, ch->table);
	if (t < 0)
		return 0; /* never reached the target */
	const char *why = cannot_invert(u, (uint32_t)t, ch);
	if (why)
		problem(s, lsn, ch, why);
	if (during_snapshot(u, (uint32_t)t, ch)) {
		s->in_snapshot = true;
		s->snapshot_group = u->ngroups - 1;
	}
	return 0;
}

/* Reads (to, from] into u->groups, skipping what earlier undos did. */
static int read_range(undoer *u, scan *s, ferry_error *err)
{
	ferry_journal_iter *it = NULL;
	const ferry_change *ch;
	uint64_t lsn = 0, last = u->to;
	int rc = ferry_journal_iter_open(&it, u->journal, u->to + 1, err);
	while (rc == 0 && (rc = ferry_journal_iter_next(it, &ch, &lsn, err)) == 1) {
		rc = 0;
		if (lsn > u->from)
			break;
		last = lsn;
		if (!undone_before(u, lsn))
			rc = add_change(u, s, lsn, ch, err);
	}
	ferry_journal_iter_close(it);
	if (rc == FERRY_ENOTFOUND) {
		ferry_journal_stats st;
		ferry_error_clear(err);
		memset(&st, 0, sizeof st);
		ferry_journal_stat(u->journal, &st, NULL);
		return ferry_error_set(err, FERRY_EINVAL, "cannot undo to LSN %llu: "
		                       "the journal no longer holds the changes "
		                       "after it (pruned); the earliest point undo "
		                       "can reach is LSN %llu",
		                       (unsigned long long)u->to,
		                       (unsigned long long)(st.first_lsn
		                                                ? st.first_lsn - 1
		                                                : 0));
	}
	if (rc == 0 && last < u->from)
		rc = ferry_error_set(err, FERRY_ECORRUPT, "the journal ends at LSN "
		                     "%llu but the target has applied changes up to "
		                     "LSN %llu: the target was not synced from this "
		                     "migration directory",
		                     (unsigned long long)last,
		                     (unsigned long long)u->from);
	return rc;
}

/* The point must be between two source transactions: the replay
 * committed whole ones, so the target was never inside one. */
static int check_boundary(undoer *u, ferry_error *err)
{
	if (u->to == 0 || u->ngroups == 0 || undone_before(u, u->to) ||
	    u->groups[0].first != u->to + 1)
		return 0;
	uint64_t txid = 0, next = 0;
	bool found = false, found_next = false;
	int rc = txid_at(u, u->to, &txid, &found, err);
	if (rc == 0)
		rc = txid_at(u, u->to + 1, &next, &found_next, err);
	if (rc == 0 && found && found_next && txid == next)
		rc = ferry_error_set(err, FERRY_EINVAL, "cannot undo to LSN %llu: "
		                     "it is inside a source transaction (tx %llu goes "
		                     "on at LSN %llu), and the target was never "
		                     "there: undo to the LSN before the "
		                     "transaction's first change or to its last",
		                     (unsigned long long)u->to,
		                     (unsigned long long)txid,
		                     (unsigned long long)u->to + 1);
	return rc;
}

static int first_pass(undoer *u, ferry_error *err)
{
	scan s;
	memset(&s, 0, sizeof s);
	int rc = read_range(u, &s, err);
	if (rc == 0)
		rc = check_boundary(u, err);
	if (rc == 0 && ferry_buf_failed(&s.problems))
		rc = ferry_error_oom(err);
	if (rc == 0 && s.nproblems)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot undo to LSN "
		                     "%llu: %llu change%s cannot be inverted: %s%s; "
		                     "nothing was changed", (unsigned long long)u->to,
		                     (unsigned long long)s.nproblems,
		                     s.nproblems == 1 ? "" : "s",
		                     ferry_buf_cstr(&s.problems),
		                     s.nproblems > PROBLEMS_NAMED ? "; ..." : "");
	if (rc == 0 && s.in_snapshot)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot undo to LSN "
		                     "%llu: the changes up to LSN %llu were applied "
		                     "while the snapshot was copied (its chunks were "
		                     "read at different moments), so the target was "
		                     "never at a point before them; the earliest "
		                     "point undo can reach is LSN %llu",
		                     (unsigned long long)u->to,
		                     (unsigned long long)u->groups[s.snapshot_group].last,
		                     (unsigned long long)u->groups[s.snapshot_group].last);
	ferry_buf_free(&s.problems);
	return rc;
}

/* ---- inverting ------------------------------------------------------ */

/* Maps an image (which: 0 before, 1 after) as the replay did: 1 in, 0
 * filtered or rejected (the replay never wrote it), <0 error. */
static int map_image(undoer *u, uint32_t t, int which, const ferry_row *in,
                     ferry_row *out, ferry_error *err)
{
	ferry_mapper **slot = &u->mappers[2 * t + (uint32_t)which];
	ferry_reject rej;
	int rc = *slot ? 0 : u->xops->mapper_open(slot, u->xf, t, err);
	if (rc == 0)
		rc = u->xops->map(*slot, in, out, &rej, err);
	return rc == FERRY_EREJECT ? 0 : rc;
}

/*
 * Applies the inverse of what engine/online.c apply_one did with ch
 * (docs/undo.md has the table), strictly: a target that no longer holds
 * what the replay wrote is an error, never a silent no-op.
 */
static int invert_one(undoer *u, const ferry_change *ch, ferry_row *b,
                      ferry_row *a, ferry_error *err)
{
	int t = table_index(u, ch->table);
	if (t < 0) {
		u->r->skipped++;
		return 0;
	}
	const ferry_table *dst = u->xops->target_table(u->xf, (uint32_t)t);
	int in_b = 0, in_a = 0;
	if (ch->has_before)
		in_b = map_image(u, (uint32_t)t, 0, &ch->before, b, err);
	if (in_b >= 0 && ch->has_after)
		in_a = map_image(u, (uint32_t)t, 1, &ch->after, a, err);
	if (in_b < 0 || in_a < 0)
		return in_b < 0 ? in_b : in_a;
	ferry_op op = ch->op;
	if (op == FERRY_OP_UPDATE && ch->has_before && in_b != in_a)
		op = in_a ? FERRY_OP_INSERT : FERRY_OP_DELETE;
	int rc;
	if (op == FERRY_OP_DELETE && in_b)
		rc = u->tops->apply_change(u->dst, dst, FERRY_OP_INSERT, NULL, b,
		                           false, err);
	else if (op == FERRY_OP_INSERT && in_a)
		rc = u->tops->apply_change(u->dst, dst, FERRY_OP_DELETE, a, NULL,
		                           false, err);
	else if (op == FERRY_OP_UPDATE && in_a && ch->has_before)
		rc = u->tops->apply_change(u->dst, dst, FERRY_OP_UPDATE, a, b,
		                           false, err);
	else if (op == FERRY_OP_UPDATE && in_a) /* the first pass refuses it */
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "no before-image");
	else {
		u->r->skipped++;
		return 0;
	}
	if (rc == 0)
		u->r->rows++;
	return rc;
}

/* The changes of groups [lo, hi], encoded back to back (the iterator's
 * change lives only until its next call), with where each starts. */
typedef struct window {
	size_t lo, hi;
	ferry_buf records;
	size_t *offsets;          /* per change, and one past the last */
	uint64_t *lsns;
	size_t *group_start;      /* per group of the window: its first change */
	size_t n, cap;
} window;

static int window_add(window *w, uint64_t lsn, const ferry_change *ch,
                      ferry_error *err)
{
	if (w->n + 1 >= w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		size_t *o = ferry_realloc(w->offsets, cap * sizeof *o);
		if (o)
			w->offsets = o;
		uint64_t *l = o ? ferry_realloc(w->lsns, cap * sizeof *l) : NULL;
		if (l)
			w->lsns = l;
		if (!o || !l)
			return ferry_error_oom(err);
		w->cap = cap;
	}
	w->offsets[w->n] = w->records.len;
	w->lsns[w->n] = lsn;
	int rc = ferry_change_encode(ch, &w->records, err);
	if (rc == 0 && ferry_buf_failed(&w->records))
		rc = ferry_error_oom(err);
	if (rc == 0)
		w->offsets[++w->n] = w->records.len;
	return rc;
}

/* Reads groups [w->lo, w->hi], one iterator per run of adjacent ones. */
static int window_read(undoer *u, window *w, ferry_error *err)
{
	ferry_buf_reset(&w->records);
	w->n = 0;
	ferry_free(w->group_start);
	w->group_start = ferry_calloc(w->hi - w->lo + 2, sizeof *w->group_start);
	if (!w->group_start)
		return ferry_error_oom(err);
	ferry_journal_iter *it = NULL;
	int rc = 0;
	for (size_t g = w->lo; rc == 0 && g <= w->hi; g++) {
		const group *gr = &u->groups[g];
		w->group_start[g - w->lo] = w->n;
		if (!it || u->groups[g - 1].last + 1 != gr->first) {
			ferry_journal_iter_close(it);
			it = NULL;
			rc = ferry_journal_iter_open(&it, u->journal, gr->first, err);
		}
		const ferry_change *ch;
		uint64_t lsn = 0;
		while (rc == 0 && lsn < gr->last) {
			rc = ferry_journal_iter_next(it, &ch, &lsn, err);
			if (rc == 0)
				rc = ferry_error_set(err, FERRY_ECORRUPT, "the journal "
				                     "ends before LSN %llu, which it held "
				                     "a moment ago",
				                     (unsigned long long)gr->last);
			else if (rc == 1)
				rc = window_add(w, lsn, ch, err);
		}
	}
	w->group_start[w->hi - w->lo + 1] = w->n;
	ferry_journal_iter_close(it);
	return rc;
}

static void window_free(window *w)
{
	ferry_buf_free(&w->records);
	ferry_free(w->offsets);
	ferry_free(w->lsns);
	ferry_free(w->group_start);
}

/* Inverts group g of the window in one target transaction, newest
 * change first, with the undo checkpoint counting it. */
static int undo_group(undoer *u, window *w, size_t g, ferry_error *err)
{
	size_t from = w->group_start[g - w->lo], to = w->group_start[g - w->lo + 1];
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_row b = FERRY_ROW_INIT, a = FERRY_ROW_INIT;
	size_t k = to, used;
	int rc = u->tops->apply_begin(u->dst, err);
	bool open = rc == 0;
	while (rc == 0 && k > from) {
		k--;
		rc = ferry_change_decode(&c, w->records.data + w->offsets[k],
		                         w->offsets[k + 1] - w->offsets[k], &used,
		                         err);
		if (rc == 0)
			rc = invert_one(u, &c, &b, &a, err);
		if (rc < 0)
			ferry_error_prefix(err, "could not undo LSN %llu (%s of table "
			                   "\"%s\")", (unsigned long long)w->lsns[k],
			                   ferry_op_name(c.op), c.table ? c.table : "?");
	}
	if (rc == 0) {
		open = false;
		rc = u->tops->apply_commit(u->dst, ferry_buf_cstr(&u->undo_name),
		                           u->base + u->done + 1, err);
		if (rc < 0)
			ferry_error_prefix(err, "could not undo the source transaction "
			                   "of LSN %llu..%llu",
			                   (unsigned long long)u->groups[g].first,
			                   (unsigned long long)u->groups[g].last);
	}
	if (open)
		u->tops->apply_abort(u->dst);
	if (rc == 0) {
		u->done++;
		u->r->transactions++;
		u->r->changes += to - from;
	}
	ferry_change_free(&c);
	ferry_row_free(&b);
	ferry_row_free(&a);
	return rc;
}

/* A replay running alongside would apply newer changes between two
 * inverted transactions: stop before the target is neither state. */
static int check_replay_still(undoer *u, ferry_error *err)
{
	uint64_t applied = 0;
	int rc = u->tops->checkpoint_get(u->dst, u->id, &applied, err);
	if (rc == 0 && applied != u->from)
		rc = ferry_error_set(err, FERRY_ERROR, "the replay applied changes "
		                     "up to LSN %llu while this undo ran (it began "
		                     "at LSN %llu): stop ferry sync and ferry "
		                     "replay; the target now mixes undone and newly "
		                     "applied changes (ferry verify shows them)",
		                     (unsigned long long)applied,
		                     (unsigned long long)u->from);
	return rc;
}

static void progress(undoer *u, size_t g, bool force)
{
	int64_t now = ferry_now_us();
	if (!force && now - u->said_at < 1000000)
		return;
	u->said_at = now;
	say(u, "undone %llu/%llu source transaction%s (LSN %llu..%llu, %llu "
	    "changes)", (unsigned long long)u->done,
	    (unsigned long long)u->ngroups, plural(u->ngroups),
	    (unsigned long long)u->groups[g].first,
	    (unsigned long long)u->groups[g].last,
	    (unsigned long long)(u->groups[g].last - u->groups[g].first + 1));
}

/* Inverts every group not undone yet, newest first, a window at a time. */
static int undo_groups(undoer *u, ferry_error *err)
{
	window w;
	memset(&w, 0, sizeof w);
	int rc = 0;
	bool first = true;
	while (rc == 0 && u->done < u->ngroups) {
		if (u->o->stop && *u->o->stop) {
			rc = ferry_error_set(err, FERRY_ERROR, "stopped after %llu of "
			                     "%llu source transactions: run ferry undo "
			                     "--to %llu again to finish",
			                     (unsigned long long)u->done,
			                     (unsigned long long)u->ngroups,
			                     (unsigned long long)u->to);
			break;
		}
		w.hi = u->ngroups - 1 - u->done;
		w.lo = w.hi;
		uint64_t n = u->groups[w.hi].last - u->groups[w.hi].first + 1;
		while (w.lo > 0 && n + (u->groups[w.lo - 1].last -
		                        u->groups[w.lo - 1].first + 1) <=
		                       WINDOW_CHANGES) {
			w.lo--;
			n += u->groups[w.lo].last - u->groups[w.lo].first + 1;
		}
		rc = check_replay_still(u, err);
		if (rc == 0)
			rc = window_read(u, &w, err);
		for (size_t g = w.hi + 1; rc == 0 && g-- > w.lo;) {
			if (u->o->stop && *u->o->stop)
				break;
			rc = undo_group(u, &w, g, err);
			if (rc < 0)
				ferry_error_prefix(err, "undo stopped after %llu of %llu "
				                   "source transactions",
				                   (unsigned long long)u->done,
				                   (unsigned long long)u->ngroups);
			if (rc == 0) {
				progress(u, g, first || u->done == u->ngroups);
				if (first)
					ferry_test_crash_point("undo-group");
				first = false;
			}
		}
	}
	window_free(&w);
	return rc;
}

/* ---- the undo ---------------------------------------------------------- */

/* The requested point; with a time, looked for up to upto. */
static int requested_point(undoer *u, uint64_t upto, uint64_t *to,
                           ferry_error *err)
{
	if (!u->o->by_time) {
		*to = u->o->to_lsn;
		return 0;
	}
	return resolve_time(u, upto, to, err);
}

/*
 * Decides to, from and base: a pending undo (undo.pending "to from base
 * groups") resumes when the same point is asked for; one that undid
 * nothing yet gives way to a new point; else a new undo starts at the
 * replay checkpoint.  *pending_groups is the pending undo's group count
 * (0 for a new undo).
 */
static int choose_range(undoer *u, uint64_t *pending_groups, ferry_error *err)
{
	uint64_t applied = 0, counted = 0;
	char *pending = NULL;
	unsigned long long pto = 0, pfrom = 0, pbase = 0, pgroups = 0;
	int rc = u->tops->checkpoint_get(u->dst, u->id, &applied, err);
	if (rc == 0)
		rc = u->tops->checkpoint_get(u->dst, ferry_buf_cstr(&u->undo_name),
		                             &counted, err);
	if (rc == 0)
		rc = get_optional(u, "undo.pending", &pending, err);
	bool resuming = rc == 0 && pending &&
	                sscanf(pending, "%llu %llu %llu %llu", &pto, &pfrom,
	                       &pbase, &pgroups) == 4;
	ferry_free(pending);
	*pending_groups = 0;
	if (rc < 0)
		return rc;
	if (resuming && counted < pbase)
		return ferry_error_set(err, FERRY_ECORRUPT, "ferry.db says an undo "
		                       "began at undo checkpoint %llu but the target's "
		                       "is %llu: ferry.db is not the one this target "
		                       "was synced with", pbase,
		                       (unsigned long long)counted);
	uint64_t done = resuming ? counted - pbase : 0;
	if (resuming && done > 0 && applied != pfrom)
		return ferry_error_set(err, FERRY_ERROR, "an undo to LSN %llu was "
		                       "interrupted after %llu of %llu source "
		                       "transactions, and the replay has applied "
		                       "changes up to LSN %llu since (the undo began "
		                       "at LSN %llu): the target mixes undone and "
		                       "newly applied changes (ferry verify shows "
		                       "them), so undo cannot go on; to start again "
		                       "from a known state, ferry clean, empty the "
		                       "target tables and ferry init + ferry sync",
		                       pto, (unsigned long long)done, pgroups,
		                       (unsigned long long)applied, pfrom);
	uint64_t to = 0;
	rc = requested_point(u, resuming && done > 0 ? pfrom : applied, &to, err);
	if (rc < 0)
		return rc;
	if (resuming && done > 0 && to != pto)
		return ferry_error_set(err, FERRY_EINVAL, "an undo to LSN %llu is "
		                       "in progress (%llu of %llu source transactions "
		                       "undone): run ferry undo --to %llu to finish it "
		                       "first", pto, (unsigned long long)done, pgroups,
		                       pto);
	if (resuming && (done > 0 || (to == pto && applied == pfrom))) {
		u->to = pto;
		u->from = pfrom;
		u->base = pbase;
		u->done = done;
		*pending_groups = pgroups;
		return 0;
	}
	u->to = to;
	u->from = applied;
	u->base = counted;
	u->done = 0;
	return 0;
}

static int refuse_point(undoer *u, ferry_error *err)
{
	if (u->to > u->from)
		return ferry_error_set(err, FERRY_EINVAL, "cannot undo to LSN %llu: "
		                       "the target has applied changes up to LSN "
		                       "%llu only (ferry status shows it); undo "
		                       "reverts to an earlier point",
		                       (unsigned long long)u->to,
		                       (unsigned long long)u->from);
	if (u->to == u->from)
		return ferry_error_set(err, FERRY_EINVAL, "nothing to undo: the "
		                       "target has applied nothing after LSN %llu",
		                       (unsigned long long)u->to);
	return 0;
}

static int record_pending(undoer *u, ferry_error *err)
{
	char text[96];
	snprintf(text, sizeof text, "%llu %llu %llu %llu",
	         (unsigned long long)u->to, (unsigned long long)u->from,
	         (unsigned long long)u->base, (unsigned long long)u->ngroups);
	return ferry_state_set(u->state, "undo.pending", text, err);
}

/* Once every group is undone: the range joins undo.ranges, and only
 * then is undo.pending emptied (each write is its own; a crash between
 * two is finished by the next run, see forget_own_range). */
static int record_done(undoer *u, ferry_error *err)
{
	ferry_buf ranges = FERRY_BUF_INIT;
	char to[24], from[24], at[24];
	for (size_t i = 0; i < u->nranges; i++)
		ferry_buf_printf(&ranges, "%llu:%llu ",
		                 (unsigned long long)u->ranges[i].to,
		                 (unsigned long long)u->ranges[i].from);
	ferry_buf_printf(&ranges, "%llu:%llu", (unsigned long long)u->to,
	                 (unsigned long long)u->from);
	snprintf(to, sizeof to, "%llu", (unsigned long long)u->to);
	snprintf(from, sizeof from, "%llu", (unsigned long long)u->from);
	snprintf(at, sizeof at, "%lld", (long long)(ferry_now_us() / 1000000));
	int rc = ferry_buf_cstr(&ranges)
	             ? ferry_state_set(u->state, "undo.ranges",
	                               ferry_buf_cstr(&ranges), err)
	             : ferry_error_oom(err);
	if (rc == 0)
		ferry_test_crash_point("undo-ranges");
	if (rc == 0)
		rc = ferry_state_set(u->state, "undo.to", to, err);
	if (rc == 0)
		rc = ferry_state_set(u->state, "undo.from", from, err);
	if (rc == 0)
		rc = ferry_state_set(u->state, "undo.at", at, err);
	if (rc == 0)
		rc = ferry_state_set(u->state, "undo.pending", "", err);
	ferry_buf_free(&ranges);
	return rc;
}

/* Takes (to, from] out of the earlier undos' ranges: a run killed while
 * record_done wrote ferry.db may have put it there already. */
static void forget_own_range(undoer *u)
{
	size_t kept = 0;
	for (size_t i = 0; i < u->nranges; i++)
		if (u->ranges[i].to != u->to || u->ranges[i].from != u->from)
			u->ranges[kept++] = u->ranges[i];
	u->nranges = kept;
}

static int run_undo(undoer *u, ferry_error *err)
{
	uint64_t pending_groups = 0;
	int rc = choose_range(u, &pending_groups, err);
	if (rc == 0)
		rc = refuse_point(u, err);
	if (rc == 0 && pending_groups)
		forget_own_range(u);
	u->r->to = u->to;
	u->r->from = u->from;
	if (rc == 0)
		rc = first_pass(u, err);
	if (rc < 0)
		return rc;
	if (pending_groups && pending_groups != u->ngroups)
		return ferry_error_set(err, FERRY_ECORRUPT, "the undo to LSN %llu "
		                       "in progress counted %llu source transactions "
		                       "and the journal now holds %llu: the journal "
		                       "changed below the replay checkpoint",
		                       (unsigned long long)u->to,
		                       (unsigned long long)pending_groups,
		                       (unsigned long long)u->ngroups);
	if (u->ngroups == 0)
		return ferry_error_set(err, FERRY_EINVAL, "nothing to undo: every "
		                       "change after LSN %llu up to LSN %llu was "
		                       "undone already by an earlier ferry undo",
		                       (unsigned long long)u->to,
		                       (unsigned long long)u->from);
	u->r->resumed = u->done;
	u->r->transactions = u->done;
	if (pending_groups)
		say(u, "resuming the undo to LSN %llu: %llu of %llu source "
		    "transaction%s undone already", (unsigned long long)u->to,
		    (unsigned long long)u->done, (unsigned long long)u->ngroups,
		    u->done == 1 ? " was" : "s were");
	else
		rc = record_pending(u, err);
	if (rc == 0 && !pending_groups)
		say(u, "undo to LSN %llu: %llu source transaction%s, %llu "
		    "change%s (LSN %llu..%llu), newest first",
		    (unsigned long long)u->to, (unsigned long long)u->ngroups,
		    plural(u->ngroups), (unsigned long long)u->nchanges,
		    plural(u->nchanges),
		    (unsigned long long)u->groups[0].first,
		    (unsigned long long)u->groups[u->ngroups - 1].last);
	if (rc == 0)
		rc = undo_groups(u, err);
	if (rc == 0)
		rc = check_replay_still(u, err);
	if (rc == 0)
		rc = record_done(u, err);
	return rc;
}

static void run_arguments(const ferry_undo_options *o, ferry_buf *out)
{
	if (!o->by_time) {
		ferry_buf_printf(out, "--to %llu", (unsigned long long)o->to_lsn);
		return;
	}
	ferry_buf_puts(out, "--to-time ");
	ferry_timestamp_format(o->to_time_us, true, out);
}

int ferry_undo(const ferry_undo_options *o, ferry_undo_report *out,
               ferry_error *err)
{
	undoer u;
	memset(&u, 0, sizeof u);
	memset(out, 0, sizeof *out);
	u.o = o;
	u.r = out;
	ferry_buf args = FERRY_BUF_INIT;
	run_arguments(o, &args);
	int rc = load_settings(&u, err);
	if (rc == 0)
		rc = ferry_state_begin_run(u.state, "undo", ferry_buf_cstr(&args),
		                           &u.run, err);
	bool begun = rc == 0;
	if (rc == 0)
		rc = check_migration(&u, err);
	if (rc == 0)
		rc = open_migration(&u, err);
	if (rc == 0)
		rc = load_ranges(&u, err);
	if (rc == 0)
		rc = run_undo(&u, err);
	if (begun) {
		ferry_error ignored = FERRY_ERROR_INIT;
		ferry_state_end_run(u.state, u.run, rc < 0 ? 1 : 0, &ignored);
		ferry_error_clear(&ignored);
	}
	ferry_buf_free(&args);
	undoer_close(&u);
	return rc;
}
