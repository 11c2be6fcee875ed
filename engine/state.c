/*
 * engine/state.c - ferry.db, the migration's state (state.h,
 * docs/state.md).
 */
#include "engine/state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/fs.h"
#include "engine/buf.h"

struct ferry_state {
	sqlite3 *db;
	char *path;
	pthread_mutex_t lock;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"INSERT OR IGNORE INTO meta VALUES ('format', '1');"
	"CREATE TABLE IF NOT EXISTS runs("
	"  id INTEGER PRIMARY KEY, command TEXT NOT NULL, arguments TEXT,"
	"  started TEXT NOT NULL, finished TEXT, exit_code INTEGER);"
	"CREATE TABLE IF NOT EXISTS tables("
	"  run INTEGER NOT NULL REFERENCES runs(id), source TEXT NOT NULL,"
	"  target TEXT NOT NULL, rows_total INTEGER, rows_loaded INTEGER,"
	"  rows_rejected INTEGER, status TEXT, updated TEXT,"
	"  PRIMARY KEY (run, source));"
	"CREATE TABLE IF NOT EXISTS rejects("
	"  id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id),"
	"  \"table\" TEXT NOT NULL, key TEXT, \"column\" TEXT, value TEXT,"
	"  reason TEXT NOT NULL, at TEXT NOT NULL);";

static int state_error(ferry_state *st, ferry_error *err, const char *what)
{
	return ferry_error_set(err, FERRY_ERROR, "could not %s in \"%s\": %s",
	                       what, st->path, sqlite3_errmsg(st->db));
}

int ferry_state_open(ferry_state **out, const char *dir, ferry_error *err)
{
	int made = ferry_make_private_dir(dir, "migration directory", err);
	if (made < 0)
		return made;
	ferry_state *st = ferry_calloc(1, sizeof *st);
	ferry_buf path = FERRY_BUF_INIT;
	ferry_buf_printf(&path, "%s/ferry.db", dir);
	if (!st || !(st->path = ferry_buf_detach(&path, NULL))) {
		ferry_buf_free(&path);
		ferry_free(st);
		return ferry_error_oom(err);
	}
	pthread_mutex_init(&st->lock, NULL);
	/* create the file 0600 before SQLite does, with the umask's say */
	int fd = open(st->path, O_RDWR | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	int rc = 0;
	if (sqlite3_open_v2(st->path, &st->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK)
		rc = state_error(st, err, "open the state");
	else if (sqlite3_busy_timeout(st->db, 30000) != SQLITE_OK ||
	         sqlite3_exec(st->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		rc = state_error(st, err, "create the state tables");
	if (rc < 0) {
		ferry_state_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void ferry_state_close(ferry_state *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	ferry_free(st->path);
	ferry_free(st);
}

/* Runs one statement with text/int64 parameters given as a format:
 * 't' text (const char *, NULL for SQL NULL), 'i' int64_t.  When rowid is
 * not NULL it gets the inserted row's id, read under the lock (another
 * thread's insert could come between otherwise). */
static int exec(ferry_state *st, ferry_error *err, int64_t *rowid,
                const char *what, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *stmt = NULL;
	pthread_mutex_lock(&st->lock);
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	va_start(ap, types);
	for (int i = 0; rc == SQLITE_OK && types[i]; i++) {
		if (types[i] == 'i') {
			rc = sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
		} else {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(stmt, i + 1, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(stmt, i + 1);
		}
	}
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	int result = rc == SQLITE_DONE ? 0 : state_error(st, err, what);
	if (result == 0 && rowid)
		*rowid = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->lock);
	return result;
}

int ferry_state_begin_run(ferry_state *st, const char *command,
                          const char *arguments, int64_t *run,
                          ferry_error *err)
{
	return exec(st, err, run, "record the run",
	            "INSERT INTO runs(command, arguments, started) "
	            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
	            "tt", command, arguments);
}

int ferry_state_end_run(ferry_state *st, int64_t run, int exit_code,
                        ferry_error *err)
{
	return exec(st, err, NULL, "record the end of the run",
	            "UPDATE runs SET finished = strftime('%Y-%m-%dT%H:%M:%fZ'), "
	            "exit_code = ? WHERE id = ?",
	            "ii", (int64_t)exit_code, run);
}

int ferry_state_table(ferry_state *st, int64_t run, const char *source,
                      const char *target, int64_t rows_total,
                      int64_t rows_loaded, int64_t rows_rejected,
                      const char *status, ferry_error *err)
{
	return exec(st, err, NULL, "record table progress",
	            "INSERT OR REPLACE INTO tables VALUES "
	            "(?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
	            "ittiiit", run, source, target, rows_total, rows_loaded,
	            rows_rejected, status);
}

int ferry_state_add_reject(ferry_state *st, int64_t run, const char *table,
                           const char *key, const char *column,
                           const char *value, const char *reason,
                           ferry_error *err)
{
	return exec(st, err, NULL, "record a reject",
	            "INSERT INTO rejects(run, \"table\", key, \"column\", value, "
	            "reason, at) VALUES (?, ?, ?, ?, ?, ?, "
	            "strftime('%Y-%m-%dT%H:%M:%fZ'))",
	            "ittttt", run, table, key, column, value, reason);
}

/* RFC 4180: quote every field, double the quotes inside. */
static void csv_field(FILE *f, const unsigned char *s, bool last)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputc(last ? '\n' : ',', f);
}

int ferry_state_rejects_csv(ferry_state *st, int64_t run, const char *path,
                            int64_t *count, ferry_error *err)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return ferry_error_set(err, FERRY_ERROR,
		                       "could not write rejects to \"%s\": %s", path,
		                       strerror(errno));
	fputs("table,key,column,value,reason\n", f);
	sqlite3_stmt *stmt = NULL;
	pthread_mutex_lock(&st->lock);
	int rc = sqlite3_prepare_v2(st->db,
	                            "SELECT \"table\", key, \"column\", value, "
	                            "reason FROM rejects WHERE run = ? ORDER BY id",
	                            -1, &stmt, NULL);
	*count = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(stmt, 1, run);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int i = 0; i < 5; i++)
			csv_field(f, sqlite3_column_text(stmt, i), i == 4);
		(*count)++;
		rc = SQLITE_OK;
	}
	int result = rc == SQLITE_DONE ? 0 : state_error(st, err, "read rejects");
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->lock);
	if (fclose(f) != 0 && result == 0)
		result = ferry_error_set(err, FERRY_ERROR,
		                         "could not write rejects to \"%s\": %s", path,
		                         strerror(errno));
	return result;
}

int ferry_state_set(ferry_state *st, const char *key, const char *value,
                    ferry_error *err)
{
	return exec(st, err, NULL, "record a setting",
	            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", "tt",
	            key, value);
}

int ferry_state_unset(ferry_state *st, const char *key, ferry_error *err)
{
	return exec(st, err, NULL, "remove a setting",
	            "DELETE FROM meta WHERE key = ?", "t", key);
}

/* Runs a one-row, one-column query with an optional text parameter. */
static int query_one(ferry_state *st, const char *sql, const char *param,
                     sqlite3_stmt **stmt, ferry_error *err)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
	if (rc == SQLITE_OK && param)
		rc = sqlite3_bind_text(*stmt, 1, param, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(*stmt);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	return state_error(st, err, "read the state");
}

int ferry_state_get(ferry_state *st, const char *key, char **value,
                    ferry_error *err)
{
	sqlite3_stmt *stmt = NULL;
	*value = NULL;
	pthread_mutex_lock(&st->lock);
	int rc = query_one(st, "SELECT value FROM meta WHERE key = ?", key, &stmt,
	                   err);
	if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*value = ferry_strdup((const char *)sqlite3_column_text(stmt, 0));
		rc = *value ? 0 : ferry_error_oom(err);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "no setting \"%s\" in \"%s\"",
		                     key, st->path);
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int ferry_state_reject_count(ferry_state *st, int64_t *count, ferry_error *err)
{
	sqlite3_stmt *stmt = NULL;
	pthread_mutex_lock(&st->lock);
	int rc = query_one(st, "SELECT count(*) FROM rejects", NULL, &stmt, err);
	*count = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&st->lock);
	return rc == SQLITE_ROW ? 0 : rc < 0 ? rc : FERRY_ERROR;
}

int ferry_state_open_migration(const char *dir, ferry_state **st,
                               ferry_migration_settings *out,
                               ferry_error *err)
{
	memset(out, 0, sizeof *out);
	*st = NULL;
	ferry_buf path = FERRY_BUF_INIT;
	ferry_buf_printf(&path, "%s/ferry.db", dir);
	bool exists = !ferry_buf_failed(&path) &&
	              access(ferry_buf_cstr(&path), F_OK) == 0;
	ferry_buf_free(&path);
	if (!exists)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "no migration in \"%s\": run ferry init "
		                       "SOURCE TARGET first (or give --dir)", dir);
	int rc = ferry_state_open(st, dir, err);
	if (rc == 0)
		rc = ferry_state_get(*st, "migration.id", &out->id, err);
	if (rc == 0)
		rc = ferry_state_get(*st, "migration.source", &out->source, err);
	if (rc == 0)
		rc = ferry_state_get(*st, "migration.target", &out->target, err);
	if (rc == 0 && ferry_state_get(*st, "migration.spec", &out->spec,
	                               NULL) < 0)
		out->spec = NULL; /* no spec: every table as it is */
	return rc;
}

int ferry_state_lock(const char *dir, const char *name, const char *command,
                     int *fd, ferry_error *err)
{
	char path[4096], holder[256] = "";
	*fd = -1;
	if (snprintf(path, sizeof path, "%s/%s.lock", dir, name) >=
	    (int)sizeof path)
		return ferry_error_set(err, FERRY_EINVAL, "the migration directory "
		                       "path is too long: %s", dir);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return ferry_error_set(err, FERRY_ERROR, "could not open %s: %s",
		                       path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t n = pread(f, holder, sizeof holder - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(f);
		if (e == EWOULDBLOCK)
			return ferry_error_set(err, FERRY_EINVAL, "another ferry process "
			                       "(%s) is working on this migration: "
			                       "wait for it to end, or stop it",
			                       *holder ? holder : "pid unknown");
		return ferry_error_set(err, FERRY_ERROR, "could not lock %s: %s",
		                       path, strerror(e));
	}
	char line[256];
	int len = snprintf(line, sizeof line, "pid %ld, ferry %s\n",
	                   (long)getpid(), command);
	/* written over the last holder's line, then cut to length: a
	 * process refused meanwhile reads a whole line, never an empty
	 * file; the name is only for its message */
	if (pwrite(f, line, (size_t)len, 0) != len || ftruncate(f, len) < 0) {
	}
	*fd = f;
	return 0;
}
