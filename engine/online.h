/*
 * engine/online.h - the online migration (docs/online-sqlite.md): init,
 * the snapshot, capture into the journal, replay into the target, status
 * and clean.  Each step is exactly once across crashes: the journal keeps
 * the capture cursor with the frames, the target keeps the replay
 * checkpoint with the rows.
 *
 * A migration directory holds ferry.db (settings: migration id, source,
 * target, spec, phase) and journal/.  URIs are stored as given, so a
 * password is refused at init: libpq reads it from PGPASSWORD or
 * ~/.pgpass instead, and it never reaches a file of ferry's.
 */
#ifndef FERRY_ONLINE_H
#define FERRY_ONLINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

typedef struct ferry_online_options {
	const char *dir;               /* the migration directory */
	bool follow;                   /* run until *stop is set */
	volatile sig_atomic_t *stop;   /* set by a signal handler; may be NULL */
	int64_t batch_changes;         /* replay commits after this many; 0: 5000 */
	int64_t snapshot_chunk_rows;   /* rows per snapshot chunk; 0: 100000 */
	/* told what the run does on its own: a lost connection and the
	 * reconnect (one line, no newline); may be NULL */
	void (*log)(void *arg, const char *line);
	void *log_arg;
} ferry_online_options;

typedef struct ferry_online_counts {
	int64_t snapshot_rows;  /* rows copied by a snapshot in this run */
	int64_t captured;       /* changes journalled in this run */
	int64_t applied;        /* changes applied in this run */
	int64_t rejected;       /* changes whose values did not convert */
	int64_t filtered;       /* changes the where filter skipped */
} ferry_online_counts;

/* Creates the directory, checks the plan, installs capture on the source
 * and records everything.  Refuses an existing migration directory. */
int ferry_online_init(const char *dir, const char *source, const char *target,
                      const char *spec, ferry_buf *report, ferry_error *err);

/* Snapshot if not done, then capture and replay until caught up (or until
 * *stop with follow). */
int ferry_online_sync(const ferry_online_options *o, ferry_online_counts *c,
                      ferry_error *err);

/* The halves, separately runnable (two processes). */
int ferry_online_capture(const ferry_online_options *o, ferry_online_counts *c,
                         ferry_error *err);
int ferry_online_replay(const ferry_online_options *o, ferry_online_counts *c,
                        ferry_error *err);

/* One table's snapshot progress. */
typedef struct ferry_online_table_status {
	char *table;             /* the source table */
	int64_t rows_copied;     /* source rows read by committed chunks
	                            (the chunk being committed may count) */
	int64_t rows_estimated;  /* the source's count when the snapshot
	                            began; -1 unknown */
	const char *state;       /* "pending", "copying", "copied" (rows
	                            in, keys and indexes to come), "done" */
} ferry_online_table_status;

typedef struct ferry_online_status {
	char phase[32];          /* initialized, snapshot, streaming */
	ferry_online_table_status *tables; /* in copy order; none before the
	                                      snapshot began */
	uint32_t ntables;
	uint64_t journal_head;   /* last journalled LSN */
	uint64_t applied;        /* last LSN applied to the target */
	uint64_t lag_changes;
	double lag_seconds;      /* source commit time of the oldest unapplied
	                            change to now; 0 when caught up */
	uint64_t capture_position;
	int64_t rejects;
	char *stopped;           /* why a schema change stopped the sync;
	                            NULL when it did not */
	char *source;            /* what capture holds on the source (pending
	                            changes, a slot's WAL); NULL if unknown */
	char cutover_step[16];   /* "" none, catch-up .. switch, cut-over */
	char rollback_step[16];  /* "" none, catch-up .. switch, unfence */
	bool has_reverse;        /* cut over, with a reverse stream: */
	uint64_t reverse_head;   /* its journal's last LSN */
	uint64_t reverse_applied;/* its last LSN applied to the source */
	uint64_t reverse_lag_changes;
	double reverse_lag_seconds;
} ferry_online_status;

int ferry_online_get_status(const char *dir, ferry_online_status *out,
                            ferry_error *err);
void ferry_online_status_free(ferry_online_status *s);

/* What ferry cutover was asked (docs/cutover.md). */
typedef struct ferry_cutover_options {
	double max_lag_s;   /* fence only once the lag is at most this */
	double timeout_s;   /* 0: none; past it before the switch: unfence */
	const char *hook;   /* the switch, run with sh -c; may be NULL */
	bool abort;         /* abandon a cutover in progress, unfence */
	bool no_reverse;    /* cut over without the reverse stream (rollback
	                       becomes impossible) */
} ferry_cutover_options;

/*
 * Runs (or, after a crash, resumes) the cutover state machine: catch up,
 * fence the source, drain, switch (the hook), record the cutover.  Each
 * step is said through o->log with its duration.  A failure before the
 * switch unfences the source and says so.
 */
int ferry_online_cutover(const ferry_online_options *o,
                         const ferry_cutover_options *co,
                         ferry_online_counts *c, ferry_error *err);

/*
 * After a cutover: catch the reverse stream up, fence the target (the
 * primary), drain the reverse stream into the source, verify, run the
 * hook, unfence the source (docs/cutover.md, "Rollback").  Uses co's
 * timeout, hook and abort.  Refused, before anything is touched, when
 * the migration has no reverse stream (the plan cannot be inverted:
 * the message names the columns and the `down` that would fix them).
 */
int ferry_online_rollback(const ferry_online_options *o,
                          const ferry_cutover_options *co,
                          ferry_online_counts *c, ferry_error *err);

/* Removes capture objects from the source and the checkpoint from the
 * target, one report line per thing removed. */
int ferry_online_clean(const char *dir, ferry_buf *report, ferry_error *err);

#endif
