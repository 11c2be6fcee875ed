/*
 * engine/state.h - a migration's state: the SQLite file ferry.db in the
 * migration directory (docs/state.md has its tables).  A user can open it
 * with sqlite3; ferry only appends and updates its own rows.
 *
 * One handle may be used from several threads (calls are serialized).
 */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stdint.h>

#include "engine/error.h"

typedef struct ferry_state ferry_state;

/* Opens (creating dir 0700 and ferry.db 0600 when missing) the state in
 * dir.  The schema is created or checked. */
int ferry_state_open(ferry_state **out, const char *dir, ferry_error *err);
void ferry_state_close(ferry_state *st); /* accepts NULL */

/* Records that a command started (arguments already redacted); *run is
 * its id, which rejects and table rows refer to. */
int ferry_state_begin_run(ferry_state *st, const char *command,
                          const char *arguments, int64_t *run,
                          ferry_error *err);
int ferry_state_end_run(ferry_state *st, int64_t run, int exit_code,
                        ferry_error *err);

/* Creates or updates the row of one table in a run. */
int ferry_state_table(ferry_state *st, int64_t run, const char *source,
                      const char *target, int64_t rows_total,
                      int64_t rows_loaded, int64_t rows_rejected,
                      const char *status, ferry_error *err);

int ferry_state_add_reject(ferry_state *st, int64_t run, const char *table,
                           const char *key, const char *column,
                           const char *value, const char *reason,
                           ferry_error *err);

/* Writes the run's rejects to path as CSV (header: table,key,column,
 * value,reason); *count = rows written. */
int ferry_state_rejects_csv(ferry_state *st, int64_t run, const char *path,
                            int64_t *count, ferry_error *err);

/* Settings of the migration (meta table): set replaces; get gives a
 * copy the caller frees (ferry_free), or FERRY_ENOTFOUND. */
int ferry_state_set(ferry_state *st, const char *key, const char *value,
                    ferry_error *err);
int ferry_state_get(ferry_state *st, const char *key, char **value,
                    ferry_error *err);
/* Removes a setting; none there is not an error. */
int ferry_state_unset(ferry_state *st, const char *key, ferry_error *err);

/* An online migration's directory: opens its ferry.db and reads what
 * ferry init recorded (*spec NULL without a spec); the caller frees the
 * strings and closes *st, also after a failure.  FERRY_ENOTFOUND, saying
 * to run ferry init, when dir holds no migration. */
typedef struct ferry_migration_settings {
	char *id, *source, *target, *spec;
} ferry_migration_settings;

int ferry_state_open_migration(const char *dir, ferry_state **st,
                               ferry_migration_settings *out,
                               ferry_error *err);

/*
 * Takes the lock `name` of a migration directory (dir/<name>.lock) for
 * as long as *fd stays open: two processes must not capture, or replay,
 * the same migration at once (the halves `capture` and `replay` may run
 * side by side, so each has its own lock).  Held by another process:
 * FERRY_EINVAL naming its pid and command.  *fd = -1 on failure.
 */
int ferry_state_lock(const char *dir, const char *name, const char *command,
                     int *fd, ferry_error *err);

/* Rejects recorded in all runs. */
int ferry_state_reject_count(ferry_state *st, int64_t *count, ferry_error *err);

#endif
