/*
 * engine/undo.h - `ferry undo` (docs/undo.md): reverts an online
 * migration's target to an earlier journal position by applying, newest
 * first, the inverse of every change the target holds after it, built
 * from the journalled before-images and mapped through the same plan as
 * the replay.  One target transaction per source transaction, each with
 * the undo's checkpoint, so a crash never inverts a change twice.
 */
#ifndef FERRY_UNDO_H
#define FERRY_UNDO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/error.h"

typedef struct ferry_undo_options {
	const char *dir;               /* the migration directory */
	bool by_time;                  /* to_time_us chooses the point, not
	                                  to_lsn */
	uint64_t to_lsn;               /* keep the changes up to this LSN */
	int64_t to_time_us;            /* keep the changes committed at or
	                                  before this (us since 1970, UTC) */
	volatile sig_atomic_t *stop;   /* set by a signal handler: stop
	                                  between two transactions; may be
	                                  NULL */
	/* told each step (one line, no newline); may be NULL */
	void (*log)(void *arg, const char *line);
	void *log_arg;
} ferry_undo_options;

typedef struct ferry_undo_report {
	uint64_t to;            /* the point the target is reverted to */
	uint64_t from;          /* the replay checkpoint: (to, from] undone */
	uint64_t transactions;  /* source transactions undone by this undo */
	uint64_t resumed;       /* of which an earlier, interrupted run did */
	uint64_t changes;       /* journalled changes in them (this run) */
	uint64_t rows;          /* rows this run inserted, updated or
	                           deleted on the target */
	uint64_t skipped;       /* changes (this run) that had not changed the
	                           target: filtered, rejected, tables the plan
	                           does not carry */
} ferry_undo_report;

/*
 * Parses an ISO 8601 time with a zone ("2026-11-24T03:00:00Z",
 * "2026-11-24 04:00:00.5+01:00") into microseconds since 1970 UTC.
 * FERRY_EINVAL, saying what is wrong, for anything else, a time without
 * a zone included.
 */
int ferry_undo_parse_time(const char *text, int64_t *out, ferry_error *err);

/*
 * Runs (or, after a crash or a stop, resumes) the undo o describes.
 * Refuses, before changing anything, a point the target has not passed,
 * a range holding a change that cannot be inverted (listed), a cutover
 * in progress or done; then inverts transaction by transaction.  *out
 * is filled as far as the run got, also on failure.  The run is
 * recorded in ferry.db.
 */
int ferry_undo(const ferry_undo_options *o, ferry_undo_report *out,
               ferry_error *err);

#endif
