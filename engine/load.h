/*
 * engine/load.h - `ferry load`: the one-shot offline copy.
 *
 * Reads every carried table of the source, reshapes its rows through the
 * transform and bulk-copies them into the target, several tables at once;
 * keys and indexes are built after the data, foreign keys after every
 * table.  Rows a conversion refuses become rejects in the migration's
 * ferry.db.  The library prints nothing: progress reaches the caller
 * through a callback.
 */
#ifndef FERRY_LOAD_H
#define FERRY_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/target.h"

typedef enum ferry_load_table_state {
	FERRY_LOAD_WAITING = 0,
	FERRY_LOAD_COPYING,
	FERRY_LOAD_INDEXING,
	FERRY_LOAD_DONE,
	FERRY_LOAD_FAILED
} ferry_load_table_state;

typedef struct ferry_load_table_status {
	const char *source;       /* valid while the load runs / result lives */
	const char *target;
	int64_t rows_total;       /* rows in the source table, -1 if unknown */
	int64_t rows_read;
	int64_t rows_loaded;
	int64_t rows_rejected;
	int64_t rows_filtered;    /* dropped by `where` */
	ferry_load_table_state state;
	double seconds;           /* copy + indexes, so far */
} ferry_load_table_status;

typedef struct ferry_load_status {
	ferry_load_table_status *tables;
	uint32_t ntables;
	double elapsed;           /* seconds since the copy started */
} ferry_load_status;

typedef void (*ferry_load_progress_fn)(void *ctx, const ferry_load_status *s);

typedef struct ferry_load_options {
	const char *source;       /* URIs as the user typed them */
	const char *target;
	const char *spec_path;    /* NULL: copy every table as it is */
	const char *dir;          /* migration directory holding ferry.db */
	int jobs;                 /* tables at once; <= 0: one per core */
	ferry_existing existing;
	bool stop_on_reject;      /* --on-error stop */
	const char *rejects_csv;  /* also write rejects here; NULL: no */
	bool dry_run;             /* plan only: nothing is written anywhere */
	const char *command_line; /* redacted, recorded in ferry.db */
	ferry_load_progress_fn progress;
	void *progress_ctx;
	double progress_interval; /* seconds between progress calls */
} ferry_load_options;

typedef struct ferry_load_result {
	ferry_load_status status;  /* final per-table figures (owned) */
	char **warnings;           /* partly carried things (owned) */
	uint32_t nwarnings;
	int64_t rows_loaded;
	int64_t rows_rejected;
	char *plan_text;           /* dry run: the plan (owned) */
	int jobs;                  /* jobs actually used */
} ferry_load_result;

/*
 * Runs the load.  Returns 0 when it finished (rejects or not: see
 * rows_rejected), or a negative code with err set; on failure the tables
 * already finished stay loaded and the load can be re-run with --drop.
 */
int ferry_load_run(const ferry_load_options *opts, ferry_load_result *out,
                   ferry_error *err);
void ferry_load_result_free(ferry_load_result *r);

#endif
