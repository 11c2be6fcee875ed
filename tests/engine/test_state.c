/* Unit tests for engine/state: ferry.db in a fresh directory (modes 0700
 * and 0600), runs, table rows, rejects and their CSV export byte for
 * byte, reopening, refusals with their messages, several threads on one
 * handle, and allocation failures while opening. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/error.h"
#include "engine/state.h"
#include "tests/tap.h"

static char base[64];

static char *path_in(const char *name)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof bufs[0], "%s/%s", base, name);
	return b;
}

/* The whole file, NUL-terminated (caller frees); NULL if unreadable. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *data = malloc(1 << 20);
	size_t n = data ? fread(data, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (data)
		data[n] = '\0';
	return data;
}

/* One value from a query on the file, through a separate connection (as
 * a user with sqlite3 would see it); "(null)" for NULL, "(error)". */
static char *query(const char *db_path, const char *sql)
{
	static char out[4][512];
	static int next;
	char *o = out[next++ % 4];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	snprintf(o, sizeof out[0], "(error)");
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(o, sizeof out[0], "%s", t ? (const char *)t : "(null)");
		} else if (rc == SQLITE_DONE) {
			snprintf(o, sizeof out[0], "(none)");
		}
	}
	if (!strcmp(o, "(error)"))
		tap_diag("query failed: %s: %s", sql, db ? sqlite3_errmsg(db) : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return o;
}

static int iso_utc(const char *s)
{
	/* 2024-01-02T03:04:05.678Z */
	if (strlen(s) != 24)
		return 0;
	for (int i = 0; i < 24; i++) {
		char c = s[i];
		int want_digit = !(i == 4 || i == 7 || i == 10 || i == 13 ||
		                   i == 16 || i == 19 || i == 23);
		if (want_digit ? (c < '0' || c > '9') : 0)
			return 0;
	}
	return s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
	       s[16] == ':' && s[19] == '.' && s[23] == 'Z';
}

static void test_open_modes(void)
{
	const char *dir = path_in("mig");
	mode_t old = umask(0); /* the modes must not come from the umask */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_state *st = NULL;
	int rc = ferry_state_open(&st, dir, &err);
	umask(old);
	is_int(rc, 0, "open creates the migration directory");
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	ok(st != NULL, "a handle comes back");
	struct stat sb;
	ok(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory exists");
	is_int(sb.st_mode & 07777, 0700, "the directory is 0700 (umask 0)");
	char db[300];
	snprintf(db, sizeof db, "%s/ferry.db", dir);
	ok(stat(db, &sb) == 0 && S_ISREG(sb.st_mode), "ferry.db exists");
	is_int(sb.st_mode & 07777, 0600, "ferry.db is 0600 (umask 0)");
	is_str(query(db, "SELECT value FROM meta WHERE key = 'format'"), "1",
	       "meta: format = 1");
	is_str(query(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
	                 "AND name IN ('meta', 'runs', 'tables', 'rejects')"),
	       "4", "the four tables exist");
	ferry_state_close(st);

	/* an existing directory is used as it is */
	st = NULL;
	rc = ferry_state_open(&st, dir, &err);
	is_int(rc, 0, "opening again works");
	is_str(query(db, "SELECT count(*) FROM meta"), "1",
	       "meta is not duplicated by a second open");
	ferry_state_close(st);
	ferry_state_close(NULL); /* accepted */
	ferry_error_clear(&err);
}

static void test_runs_tables_rejects(void)
{
	const char *dir = path_in("runs");
	char db[300], csv[300];
	snprintf(db, sizeof db, "%s/ferry.db", dir);
	snprintf(csv, sizeof csv, "%s/rejects.csv", base);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_state *st = NULL;
	if (ferry_state_open(&st, dir, &err) != 0) {
		ok(0, "open: %s", ferry_error_message(&err));
		return;
	}
	int64_t run1 = -1, run2 = -1;
	is_int(ferry_state_begin_run(st, "load", "--source sqlite:///x.db "
	                             "--target postgresql://u:***@h/db", &run1, &err),
	       0, "begin run 1");
	is_int(run1, 1, "the first run is 1");
	is_int(ferry_state_begin_run(st, "verify", NULL, &run2, &err), 0,
	       "begin run 2 (no arguments)");
	is_int(run2, 2, "the second run is 2");
	is_str(query(db, "SELECT command FROM runs WHERE id = 1"), "load",
	       "run 1: command");
	is_str(query(db, "SELECT arguments FROM runs WHERE id = 1"),
	       "--source sqlite:///x.db --target postgresql://u:***@h/db",
	       "run 1: arguments");
	is_str(query(db, "SELECT arguments FROM runs WHERE id = 2"), "(null)",
	       "run 2: NULL arguments");
	ok(iso_utc(query(db, "SELECT started FROM runs WHERE id = 1")),
	   "started is ISO 8601 UTC with milliseconds");
	is_str(query(db, "SELECT finished FROM runs WHERE id = 1"), "(null)",
	       "not finished yet");
	is_str(query(db, "SELECT exit_code FROM runs WHERE id = 1"), "(null)",
	       "no exit code yet");
	is_int(ferry_state_end_run(st, run1, 3, &err), 0, "end run 1");
	ok(iso_utc(query(db, "SELECT finished FROM runs WHERE id = 1")),
	   "finished is ISO 8601 UTC");
	is_str(query(db, "SELECT exit_code FROM runs WHERE id = 1"), "3",
	       "exit code recorded");
	is_str(query(db, "SELECT finished FROM runs WHERE id = 2"), "(null)",
	       "run 2 is not touched");
	is_int(ferry_state_end_run(st, run1, 0, &err), 0, "end run 1 again");
	is_str(query(db, "SELECT exit_code FROM runs WHERE id = 1"), "0",
	       "the exit code is updated");

	/* table rows: created, then updated in place */
	is_int(ferry_state_table(st, run1, "users", "accounts", 100, 0, 0,
	                         "loading", &err),
	       0, "table row created");
	is_int(ferry_state_table(st, run1, "users", "accounts", 100, 97, 3,
	                         "loaded", &err),
	       0, "table row updated");
	is_int(ferry_state_table(st, run1, "orders", "orders", 5, 0, 0, "failed",
	                         &err),
	       0, "second table");
	is_int(ferry_state_table(st, run2, "users", "accounts", 1, 1, 0, "loaded",
	                         &err),
	       0, "same table in another run");
	is_str(query(db, "SELECT count(*) FROM tables"), "3",
	       "three rows: (run 1, users) updated in place");
	is_str(query(db, "SELECT rows_total || '/' || rows_loaded || '/' || "
	                 "rows_rejected || '/' || status || '/' || target "
	                 "FROM tables WHERE run = 1 AND source = 'users'"),
	       "100/97/3/loaded/accounts", "the update replaced the values");
	ok(iso_utc(query(db, "SELECT updated FROM tables WHERE run = 1 AND "
	                     "source = 'users'")),
	   "updated is ISO 8601 UTC");
	is_str(query(db, "SELECT status FROM tables WHERE run = 2"), "loaded",
	       "run 2's row is separate");
	is_int(ferry_state_table(st, run1, "big", "big", INT64_MAX, INT64_MIN, -1,
	                         NULL, &err),
	       0, "extreme counts and NULL status");
	is_str(query(db, "SELECT rows_total || ' ' || rows_loaded || ' ' || "
	                 "rows_rejected || ' ' || (status IS NULL) FROM tables "
	                 "WHERE source = 'big'"),
	       "9223372036854775807 -9223372036854775808 -1 1",
	       "64-bit counts kept exactly");

	/* rejects, with everything CSV must quote */
	is_int(ferry_state_add_reject(st, run1, "users", "id=5", "email",
	                              "'a,b'", "text 'a,b' is not an email", &err),
	       0, "reject with commas");
	is_int(ferry_state_add_reject(st, run1, "users", "id=6", "name",
	                              "'say \"hi\"'",
	                              "text 'say \"hi\"' is 9 characters, longer "
	                              "than varchar(3)", &err),
	       0, "reject with quotes");
	is_int(ferry_state_add_reject(st, run1, "we\"ird,table", "a=1, b='x'",
	                              "notes", "'line1\nline2\r\n'",
	                              "multi\nline reason", &err),
	       0, "reject with newlines");
	is_int(ferry_state_add_reject(st, run1, "logs", NULL, NULL, NULL,
	                              "row 7: NULL in column \"x\"", &err),
	       0, "reject with NULL key, column and value");
	is_int(ferry_state_add_reject(st, run2, "users", "id=9", "c", "1", "r2",
	                              &err),
	       0, "reject in run 2");
	is_int(ferry_state_add_reject(st, run1, "", "", "", "", "empty fields",
	                              &err),
	       0, "reject with empty strings");
	ok(iso_utc(query(db, "SELECT at FROM rejects WHERE id = 1")),
	   "a reject's time is ISO 8601 UTC");
	is_str(query(db, "SELECT run FROM rejects WHERE key = 'id=9'"), "2",
	       "the reject refers to its run");

	int64_t count = -1;
	is_int(ferry_state_rejects_csv(st, run1, csv, &count, &err), 0,
	       "rejects_csv for run 1");
	is_int(count, 5, "five rows written");
	char *text = slurp(csv);
	is_str(text,
	       "table,key,column,value,reason\n"
	       "\"users\",\"id=5\",\"email\",\"'a,b'\",\"text 'a,b' is not an "
	       "email\"\n"
	       "\"users\",\"id=6\",\"name\",\"'say \"\"hi\"\"'\",\"text 'say "
	       "\"\"hi\"\"' is 9 characters, longer than varchar(3)\"\n"
	       "\"we\"\"ird,table\",\"a=1, b='x'\",\"notes\",\"'line1\nline2\r\n'"
	       "\",\"multi\nline reason\"\n"
	       "\"logs\",\"\",\"\",\"\",\"row 7: NULL in column \"\"x\"\"\"\n"
	       "\"\",\"\",\"\",\"\",\"empty fields\"\n",
	       "the CSV, byte for byte (RFC 4180 quoting)");
	free(text);

	count = -1;
	is_int(ferry_state_rejects_csv(st, run2, csv, &count, &err), 0,
	       "rejects_csv for run 2 overwrites the file");
	is_int(count, 1, "one row");
	text = slurp(csv);
	is_str(text, "table,key,column,value,reason\n"
	             "\"users\",\"id=9\",\"c\",\"1\",\"r2\"\n",
	       "run 2's CSV");
	free(text);

	count = -1;
	is_int(ferry_state_rejects_csv(st, 99, csv, &count, &err), 0,
	       "rejects_csv of a run without rejects");
	is_int(count, 0, "zero rows");
	text = slurp(csv);
	is_str(text, "table,key,column,value,reason\n", "only the header");
	free(text);

	/* an unwritable path */
	char bad[300];
	snprintf(bad, sizeof bad, "%s/no/such/dir/r.csv", base);
	count = 42;
	is_int(ferry_state_rejects_csv(st, run1, bad, &count, &err), FERRY_ERROR,
	       "rejects_csv to a missing directory fails");
	char want[400];
	snprintf(want, sizeof want,
	         "could not write rejects to \"%s\": No such file or directory", bad);
	is_str(ferry_error_message(&err), want, "with a clear message");

	/* a constraint failure reports the database's reason */
	int64_t r = -1;
	is_int(ferry_state_begin_run(st, NULL, "x", &r, &err), FERRY_ERROR,
	       "a run without a command is refused");
	snprintf(want, sizeof want,
	         "could not record the run in \"%s\": NOT NULL constraint "
	         "failed: runs.command", db);
	is_str(ferry_error_message(&err), want, "with the path and SQLite's reason");
	is_int(r, -1, "the run id is not set on failure");
	is_int(ferry_state_add_reject(st, run1, "t", "k", "c", "v", NULL, &err),
	       FERRY_ERROR, "a reject without a reason is refused");
	snprintf(want, sizeof want,
	         "could not record a reject in \"%s\": NOT NULL constraint "
	         "failed: rejects.reason", db);
	is_str(ferry_error_message(&err), want, "with the path and SQLite's reason");
	ferry_state_close(st);

	/* reopening keeps everything, ids continue */
	st = NULL;
	is_int(ferry_state_open(&st, dir, &err), 0, "reopen");
	is_str(query(db, "SELECT count(*) FROM runs"), "2", "two runs kept");
	is_str(query(db, "SELECT count(*) FROM rejects"), "6", "six rejects kept");
	is_str(query(db, "SELECT count(*) FROM tables"), "4", "four table rows kept");
	int64_t run3 = -1;
	is_int(ferry_state_begin_run(st, "load", "", &run3, &err), 0,
	       "a run after reopening");
	is_int(run3, 3, "its id continues at 3");
	count = -1;
	is_int(ferry_state_rejects_csv(st, run1, csv, &count, &err), 0,
	       "run 1's rejects after reopening");
	is_int(count, 5, "still five");
	ferry_state_close(st);
	ferry_error_clear(&err);
}

static void test_open_failures(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_state *st = NULL;

	/* dir is a regular file */
	const char *file = path_in("plainfile");
	FILE *f = fopen(file, "w");
	fputs("x", f);
	fclose(f);
	int rc = ferry_state_open(&st, file, &err);
	is_int(rc, FERRY_EINVAL, "a regular file as the directory is refused");
	char want[400];
	snprintf(want, sizeof want,
	         "could not use \"%s\" as the migration directory: not a directory",
	         file);
	is_str(ferry_error_message(&err), want, "with a clear message");
	ok(st == NULL, "no handle");

	/* the parent is missing */
	char deep[300];
	snprintf(deep, sizeof deep, "%s/missing/mig", base);
	rc = ferry_state_open(&st, deep, &err);
	is_int(rc, FERRY_ERROR, "a missing parent directory fails");
	snprintf(want, sizeof want,
	         "could not create the migration directory \"%s\": No such file "
	         "or directory", deep);
	is_str(ferry_error_message(&err), want, "naming the directory and errno");

	/* ferry.db is not a database */
	const char *junk = path_in("junk");
	mkdir(junk, 0700);
	char junk_db[300];
	snprintf(junk_db, sizeof junk_db, "%s/ferry.db", junk);
	f = fopen(junk_db, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database. ", f);
	fclose(f);
	rc = ferry_state_open(&st, junk, &err);
	is_int(rc, FERRY_ERROR, "a ferry.db that is not SQLite is refused");
	snprintf(want, sizeof want,
	         "could not create the state tables in \"%s\": file is not a "
	         "database", junk_db);
	is_str(ferry_error_message(&err), want, "with the path and the reason");
	ok(st == NULL, "no handle");

	/* with no error object */
	rc = ferry_state_open(&st, file, NULL);
	is_int(rc, FERRY_EINVAL, "refusal without an error object");
	ferry_error_clear(&err);
}

/* ---- threads ---- */

enum { THREADS = 4, PER_THREAD = 150, RUNS_PER_THREAD = 40 };

typedef struct worker {
	ferry_state *st;
	int64_t run;
	int id;
	int failures;
	int64_t runs[RUNS_PER_THREAD];
} worker;

static void *add_rejects(void *arg)
{
	worker *w = arg;
	ferry_error err = FERRY_ERROR_INIT;
	for (int i = 0; i < PER_THREAD; i++) {
		char key[32], value[32];
		snprintf(key, sizeof key, "id=%d", i);
		snprintf(value, sizeof value, "%d", w->id * 1000 + i);
		char table[16];
		snprintf(table, sizeof table, "t%d", w->id);
		if (ferry_state_add_reject(w->st, w->run, table, key, "c", value,
		                           "why", &err) != 0)
			w->failures++;
	}
	ferry_error_clear(&err);
	return NULL;
}

/* begin_run while other threads insert rejects: the id returned must be
 * the run's own */
static void *begin_runs(void *arg)
{
	worker *w = arg;
	ferry_error err = FERRY_ERROR_INIT;
	for (int i = 0; i < RUNS_PER_THREAD; i++) {
		char cmd[32];
		snprintf(cmd, sizeof cmd, "w%d-%d", w->id, i);
		w->runs[i] = -1;
		if (ferry_state_begin_run(w->st, cmd, NULL, &w->runs[i], &err) != 0)
			w->failures++;
		char table[16];
		snprintf(table, sizeof table, "r%d", w->id);
		if (ferry_state_add_reject(w->st, 1, table, cmd, "c", "v", "why",
		                           &err) != 0)
			w->failures++;
	}
	ferry_error_clear(&err);
	return NULL;
}

static void test_threads(void)
{
	const char *dir = path_in("threads");
	char db[300];
	snprintf(db, sizeof db, "%s/ferry.db", dir);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_state *st = NULL;
	if (ferry_state_open(&st, dir, &err) != 0) {
		ok(0, "open: %s", ferry_error_message(&err));
		return;
	}
	int64_t run = -1;
	ferry_state_begin_run(st, "load", NULL, &run, &err);
	worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){.st = st, .run = run, .id = i};
		pthread_create(&th[i], NULL, add_rejects, &w[i]);
	}
	int failures = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "4 threads x %d add_reject: no failure", PER_THREAD);
	char csv[300];
	snprintf(csv, sizeof csv, "%s/threads.csv", base);
	int64_t count = -1;
	is_int(ferry_state_rejects_csv(st, run, csv, &count, &err), 0,
	       "rejects_csv after the threads");
	is_int(count, THREADS * PER_THREAD, "every reject is recorded");
	for (int i = 0; i < THREADS; i++) {
		char sql[200], want[32];
		snprintf(sql, sizeof sql,
		         "SELECT count(DISTINCT key) || ' ' || sum(value) FROM "
		         "rejects WHERE \"table\" = 't%d'", i);
		long long sum = 0;
		for (int k = 0; k < PER_THREAD; k++)
			sum += i * 1000 + k;
		snprintf(want, sizeof want, "%d %lld", PER_THREAD, sum);
		is_str(query(db, sql), want, "thread %d: all its rejects, once each",
		       i);
	}

	/* run ids under concurrency */
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){.st = st, .run = run, .id = i};
		pthread_create(&th[i], NULL, begin_runs, &w[i]);
	}
	failures = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "4 threads beginning runs: no failure");
	int right = 0;
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < RUNS_PER_THREAD; k++) {
			char sql[100], want[32];
			snprintf(sql, sizeof sql, "SELECT command FROM runs WHERE id = %lld",
			         (long long)w[i].runs[k]);
			snprintf(want, sizeof want, "w%d-%d", i, k);
			right += strcmp(query(db, sql), want) == 0;
		}
	is_int(right, THREADS * RUNS_PER_THREAD,
	       "every begin_run returned its own run's id");
	is_str(query(db, "SELECT count(*) FROM runs"), "161", "161 runs");
	ferry_state_close(st);
	ferry_error_clear(&err);
}

/* Every allocation of open failing in turn: FERRY_ENOMEM, no handle, no
 * leak (ASan); SQLite allocates on its own. */
static void test_alloc_failures(void)
{
	const char *dir = path_in("faults");
	long n;
	int clean = 1;
	for (n = 1; n < 200; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_state *st = NULL;
		ferry_alloc_fail_at(n, 0);
		int rc = ferry_state_open(&st, dir, &err);
		int64_t run = 0;
		if (rc == 0)
			rc = ferry_state_begin_run(st, "load", "x", &run, &err);
		if (rc == 0)
			rc = ferry_state_add_reject(st, run, "t", "k", "c", "v", "r", &err);
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM) {
			clean = 0;
			tap_diag("run %ld: %d %s", n, rc, ferry_error_message(&err));
		}
		if (rc == FERRY_ENOMEM && st == NULL && fails == 0)
			clean = 0;
		ferry_state_close(st);
		ferry_error_clear(&err);
		if (fails == 0)
			break;
	}
	ok(clean, "open under allocation failure at every step (%ld runs): "
	          "0 or FERRY_ENOMEM, nothing leaks", n);
	ok(n > 1 && n < 200, "the fault loop ended");
}

int main(void)
{
	snprintf(base, sizeof base, "/tmp/ferry_state_XXXXXX");
	if (!mkdtemp(base)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_open_modes();
	test_runs_tables_rejects();
	test_open_failures();
	test_threads();
	test_alloc_failures();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", base);
	return tap_done();
}
