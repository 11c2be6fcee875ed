/*
 * engine/online_internal.h - what engine/online.c (the streams) shares
 * with engine/cutover.c (cutover, the reverse stream's set-up,
 * rollback).  Not an interface for anything outside engine/.
 *
 * One `online` is one direction of one migration: forward (source ->
 * target, the journal in <dir>/journal) or, after a cutover, reverse
 * (the target, now the primary -> the old source through the inverse
 * of the plan, the journal in <dir>/reverse/journal).  In the reverse
 * direction src_uri/cops are the old target and dst_uri/tops the old
 * source: the stream code does not know which way it runs.
 */
#ifndef FERRY_ONLINE_INTERNAL_H
#define FERRY_ONLINE_INTERNAL_H

#include "engine/capture.h"
#include "engine/journal.h"
#include "engine/online.h"
#include "engine/runtime.h"
#include "engine/state.h"
#include "engine/target.h"
#include "engine/transform.h"
#include "engine/uri.h"

/* The reverse stream's journal, under the migration directory. */
#define ONLINE_REVERSE_DIR "reverse"
#define ONLINE_REVERSE_JOURNAL "reverse/journal"

typedef struct online {
	const ferry_online_options *o;
	ferry_online_counts *counts;
	ferry_state *state;
	int64_t run;
	char *id, *source, *target, *spec;
	char *forward_id;        /* the migration's own id (== id forward) */
	bool reverse;            /* the reverse stream (see above) */
	ferry_uri src_uri, dst_uri;
	const ferry_capture_ops *cops;
	const ferry_target_ops *tops;
	const ferry_transform_ops *xops;
	ferry_capture *cap;
	ferry_target *dst;
	ferry_journal *journal;
	ferry_schema schema;     /* the (old) source's: the plan's */
	ferry_transform *xf;
	/* reverse: the forward plan the inverse (xf) borrows */
	const ferry_transform_ops *forward_xops;
	ferry_transform *forward_xf;
	ferry_mapper **mappers; /* two per table: before-image, after-image */
	bool released_once;     /* this process has released the source log */
	int64_t tables_checked_us; /* when the source was last searched for
	                              tables the migration does not capture */
	int64_t tables_every_us;   /* how often (new_tables_interval_us) */
	uint32_t ntables;
	uint64_t chunk_rows;     /* rows per snapshot chunk */
	uint64_t snapshot_until; /* changes up to here apply idempotently */
	char **copied_in;        /* per keyless table: the snapshot token of
	                            its one-piece copy (changes it saw are
	                            skipped) */
	bool indexes_pending;    /* the target's indexes wait for the replay
	                            to pass snapshot_until */
	uint64_t applied_position; /* source position of the last change this
	                              process committed to the target */
	bool origin_refused;     /* the target would not take ferry's origin
	                            (said once per run) */
	int lock_fds[2];         /* + 1: the capture and replay locks held
	                            (0: not held) */
	/* reverse, PostgreSQL source: the forward capture, read now and then
	 * so that its slot lets go of the WAL the reverse stream writes */
	struct online *companion;
	ferry_online_counts companion_counts;
	int64_t companion_at;    /* when it last read */
	int64_t deadline_us;     /* passes stop here (--timeout); 0: none */
} online;

/* Which way a command runs. */
typedef enum online_direction {
	ONLINE_FORWARD,
	ONLINE_REVERSE,
	ONLINE_FOLLOW_CUTOVER /* reverse once cut over, else forward */
} online_direction;

bool online_stopped(const online *on);
void online_say(online *on, const char *fmt, ...) FERRY_PRINTF(2, 3);

/* Opens everything a running migration needs (settings, journal, both
 * connections, the plan) for one direction. */
int online_start(online *on, const ferry_online_options *o,
                 ferry_online_counts *c, const char *command,
                 online_direction direction, ferry_error *err);
/* Ends the run (recorded in ferry.db) and closes everything; returns rc. */
int online_finish(online *on, int rc);

/* Capture and/or replay passes until one finds nothing new (or, with
 * follow, until stopped). */
int online_run_passes(online *on, bool do_capture, bool do_replay,
                      ferry_error *err);
int online_need_streaming(online *on, ferry_error *err);
/* Passes until one shows the lag is at most max_lag_s (*lag: the bound
 * it shows). */
int online_catch_up(online *on, double max_lag_s, double *lag,
                    ferry_error *err);

/* The SQL dialect of a database the plan writes. */
ferry_dialect online_dialect_of(const ferry_uri *uri);

/* Removes dir/name for each name, in order (files before their
 * directories); what is not there is fine. */
void online_remove_in(const char *dir, const char *const *names, size_t n);

/* dir/name into b. */
void online_path_in(ferry_buf *b, const char *dir, const char *name);

/* The reverse stream's id: the migration's with a suffix, so its slot,
 * origin and checkpoint never collide with the forward ones. */
void online_reverse_id(ferry_buf *b, const char *forward_id);

/*
 * Takes the reverse stream away: its capture on the target (and a fence
 * there), its checkpoint in the source, its journal (engine/cutover.c).
 * old_source and new_primary are the migration's source and target;
 * forget: also unset reverse.id.  Idempotent; report may be NULL.
 */
int online_reverse_teardown(online *on, const ferry_uri *old_source,
                            const ferry_uri *new_primary, bool forget,
                            ferry_buf *report, ferry_error *err);

/* Removes a fence from the migration's target (left by a rollback);
 * nothing when there is none.  What it removed goes to out, or is said
 * when out is NULL. */
int online_unfence_target(online *on, const ferry_uri *target,
                          ferry_buf *out, ferry_error *err);

#endif
