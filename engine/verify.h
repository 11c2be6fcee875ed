/*
 * engine/verify.h - `ferry verify`: the source, transformed by the
 * migration's plan, against the target, by chunked canonical hashes
 * (docs/verify.md has the design).  Nothing is locked on either side.
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/error.h"

typedef struct ferry_verify_options {
	const char *dir;       /* the migration directory */
	const char *table;     /* only this table (source or target name);
	                          NULL: every table the plan carries */
	double wait_seconds;   /* the longest wait for the replay to drain
	                          before a re-check; 0: 30 */
	uint32_t max_listed;   /* differences listed per table; 0: 1000
	                          (the counts are always exact) */
} ferry_verify_options;

typedef enum ferry_verify_kind {
	FERRY_VERIFY_MISSING = 0,   /* on the source (carried), not the target */
	FERRY_VERIFY_EXTRA = 1,     /* on the target, not expected */
	FERRY_VERIFY_DIFFERENT = 2  /* on both, some column differs */
} ferry_verify_kind;

/* One difference; every string owned by the report. */
typedef struct ferry_verify_diff {
	ferry_verify_kind kind;
	char *key;              /* "id=5" (target column names); for a table
	                           without a key, the row's values */
	char **columns;         /* DIFFERENT: target columns that differ */
	char **source_values;   /* readable, per differing column */
	char **target_values;
	uint32_t ncolumns;
} ferry_verify_diff;

typedef struct ferry_verify_table {
	char *table;            /* the target table */
	char *source_table;
	bool keyed;             /* compared by key (else as multisets) */
	int64_t source_rows;    /* source rows read */
	int64_t target_rows;    /* target rows read */
	int64_t filtered;       /* source rows the where filter leaves out */
	int64_t rejected;       /* source rows whose values do not convert */
	int64_t missing, extra, different;
	uint64_t chunks;        /* chunks of the first pass */
	uint32_t rechecks;      /* re-check rounds run */
	double seconds;         /* the first pass */
	double source_seconds;  /* of which reading + mapping the source */
	double target_seconds;  /* of which reading the target */
	ferry_verify_diff *diffs; /* at most max_listed */
	uint32_t ndiffs;
} ferry_verify_table;

typedef struct ferry_verify_report {
	ferry_verify_table *tables;
	uint32_t ntables;
	int64_t differences;    /* missing + extra + different, all tables */
	uint64_t lag_changes;   /* journalled changes the target had not
	                           applied when verify stopped waiting */
	char *note;             /* why differences may be in flight, or NULL */
	double seconds;
} ferry_verify_report;

/*
 * Verifies the migration in o->dir.  Returns 0 with *out filled (the
 * caller checks out->differences), or a negative code: no migration, a
 * database that cannot be read, a target table that is missing or has
 * no primary key yet.  *out is always safe to free.  The run is recorded
 * in ferry.db (runs, tables).
 */
int ferry_verify(const ferry_verify_options *o, ferry_verify_report *out,
                 ferry_error *err);

void ferry_verify_report_free(ferry_verify_report *r);

#endif
