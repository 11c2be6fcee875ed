/* bench/sync_driver.c - the source application and the lag sampler for
 * bench/sync (online migration from SQLite, docs/online-sqlite.md).
 *
 *   sync_driver setup DB ROWS [noindex]
 *       creates items (7 columns, ROWS rows, ids 1..ROWS, an index on
 *       account unless noindex) and ticks in DB, journal_mode=WAL.
 *   sync_driver workload DB insert|update|mixed CHANGES FIRST_NEW_ID
 *       row changes on items, single-row statements in transactions of
 *       50: insert-only; update-heavy (80% updates of existing rows, 20%
 *       inserts); mixed (40% inserts, 35% updates, 20% deletes, 5%
 *       primary key changes). Ids 1..FIRST_NEW_ID-1 exist at the start.
 *       Prints "changes=N seconds=S inserts=I updates=U deletes=D
 *       key_changes=K".
 *   sync_driver app DB insert|update TXN N FIRST_ID
 *       the application benchmark: N single-row inserts (ids FIRST_ID..)
 *       or N updates of random ids in 1..FIRST_ID-1, TXN rows per
 *       transaction (1: autocommit), prepared statements, WAL,
 *       synchronous=NORMAL. Prints "rows=N seconds=S rows_per_s=R".
 *   sync_driver floor DB
 *       installs the cheapest capture any trigger-based reader could use:
 *       AFTER INSERT/UPDATE/DELETE triggers on items that each insert one
 *       integer (the row's id) into floor_log.  It records no values, so
 *       it could not replay anything; it is the floor under ferry's
 *       triggers, which record whole rows.
 *   sync_driver paced DB RATE SECONDS LOG ITEMS
 *       RATE transactions/s for SECONDS: each inserts one ticks row (id =
 *       transaction number, src_us = wall clock before COMMIT) and
 *       updates 0-2 random items rows (ids 1..ITEMS): 1-3 row changes.
 *       Paced against an absolute schedule (late transactions are not
 *       skipped; they catch up). LOG gets "id commit_us" per transaction,
 *       commit_us the wall clock right after COMMIT returned.
 *   sync_driver sample CONNINFO INTERVAL_MS OUT LAST_FILE DEADLINE_S
 *       polls the target every INTERVAL_MS for ticks rows above the last
 *       id seen and writes "id seen_us" for each new row, seen_us the wall
 *       clock when the answer arrived. Stops once LAST_FILE exists and
 *       names an id it has seen, or after DEADLINE_S.
 *
 * Every random choice comes from a fixed seed: runs make the same changes.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "sync_driver: %s: %s\n", what, db ? sqlite3_errmsg(db) : strerror(errno));
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sync_driver: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static sqlite3 *open_app(const char *path)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, db);
	sqlite3_busy_timeout(db, 10000);
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA synchronous=NORMAL");
	return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql, db);
	return st;
}

static void run(sqlite3 *db, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("step", db);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                              "golf", "hotel", "india", "juliet", "kilo", "lima"};

/* items: id, account, name, qty, price, note (NULL in 1 of 4), updated_at */
static void bind_item(sqlite3_stmt *st, int64_t id, int64_t salt)
{
	char name[64], note[96];
	uint64_t r = next_rand();
	snprintf(name, sizeof name, "%s %s %lld", words[r % 12], words[(r >> 8) % 12],
	         (long long)(id % 100000));
	snprintf(note, sizeof note, "note %llu for item %lld, salt %lld",
	         (unsigned long long)(r >> 20) % 1000000, (long long)id, (long long)salt);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)((r >> 16) % 5000));
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (int64_t)((r >> 24) % 1000));
	sqlite3_bind_double(st, 5, (double)((r >> 32) % 100000) / 100.0);
	if ((r >> 40) % 4 == 0)
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_text(st, 6, note, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, salt);
}

#define INSERT_ITEM "INSERT INTO items (id, account, name, qty, price, note, updated_at) VALUES (?,?,?,?,?,?,?)"
#define UPDATE_ITEM "UPDATE items SET qty = qty + ?2, price = ?3, updated_at = ?4 WHERE id = ?1"

static void bind_update(sqlite3_stmt *st, int64_t id, int64_t salt)
{
	uint64_t r = next_rand();
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)(r % 7) + 1);
	sqlite3_bind_double(st, 3, (double)((r >> 8) % 100000) / 100.0);
	sqlite3_bind_int64(st, 4, salt);
}

static int cmd_setup(int argc, char **argv)
{
	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "noindex") == 0))
		return 2;
	int64_t rows = atoll(argv[3]);
	sqlite3 *db = open_app(argv[2]);
	exec(db, "CREATE TABLE items (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, "
	         "name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL, note TEXT, "
	         "updated_at INTEGER NOT NULL)");
	if (argc == 4)
		exec(db, "CREATE INDEX items_account ON items (account)");
	exec(db, "CREATE TABLE ticks (id INTEGER PRIMARY KEY, src_us INTEGER NOT NULL, "
	         "payload TEXT)");
	sqlite3_stmt *ins = prep(db, INSERT_ITEM);
	exec(db, "BEGIN");
	for (int64_t id = 1; id <= rows; id++) {
		bind_item(ins, id, 0);
		run(db, ins);
	}
	exec(db, "COMMIT");
	sqlite3_finalize(ins);
	sqlite3_close(db);
	return 0;
}

/* live ids, for updates, deletes and key changes of existing rows */
static int64_t *live;
static int64_t nlive, caplive;

static void live_add(int64_t id)
{
	if (nlive == caplive) {
		caplive = caplive ? 2 * caplive : 1 << 16;
		live = realloc(live, (size_t)caplive * sizeof *live);
		if (!live)
			die("out of memory", NULL);
	}
	live[nlive++] = id;
}

static int cmd_workload(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	const char *kind = argv[3];
	int64_t changes = atoll(argv[4]), next_id = atoll(argv[5]);
	int ins_pct, upd_pct, del_pct; /* the rest: key changes */
	if (strcmp(kind, "insert") == 0)
		ins_pct = 100, upd_pct = 0, del_pct = 0;
	else if (strcmp(kind, "update") == 0)
		ins_pct = 20, upd_pct = 80, del_pct = 0;
	else if (strcmp(kind, "mixed") == 0)
		ins_pct = 40, upd_pct = 35, del_pct = 20;
	else
		return 2;
	for (int64_t id = 1; id < next_id; id++)
		live_add(id);
	sqlite3 *db = open_app(argv[2]);
	sqlite3_stmt *ins = prep(db, INSERT_ITEM), *upd = prep(db, UPDATE_ITEM),
	             *del = prep(db, "DELETE FROM items WHERE id = ?"),
	             *key = prep(db, "UPDATE items SET id = ?2, updated_at = ?3 WHERE id = ?1");
	int64_t done = 0, nins = 0, nupd = 0, ndel = 0, nkey = 0;
	double t0 = mono();
	while (done < changes) {
		exec(db, "BEGIN");
		for (int i = 0; i < 50 && done < changes; i++) {
			int p = (int)(next_rand() % 100);
			if (p < ins_pct || nlive == 0) {
				bind_item(ins, next_id, done);
				run(db, ins);
				live_add(next_id++);
				nins++;
			} else {
				int64_t at = (int64_t)(next_rand() % (uint64_t)nlive), id = live[at];
				if (p < ins_pct + upd_pct) {
					bind_update(upd, id, done);
					run(db, upd);
					nupd++;
				} else if (p < ins_pct + upd_pct + del_pct) {
					sqlite3_bind_int64(del, 1, id);
					run(db, del);
					live[at] = live[--nlive];
					ndel++;
				} else {
					sqlite3_bind_int64(key, 1, id);
					sqlite3_bind_int64(key, 2, next_id);
					sqlite3_bind_int64(key, 3, done);
					run(db, key);
					live[at] = next_id++;
					nkey++;
				}
			}
			if (sqlite3_changes(db) != 1)
				die("a change did not change one row", NULL);
			done++;
		}
		exec(db, "COMMIT");
	}
	double t = mono() - t0;
	printf("changes=%lld seconds=%.3f inserts=%lld updates=%lld deletes=%lld "
	       "key_changes=%lld\n", (long long)done, t, (long long)nins, (long long)nupd,
	       (long long)ndel, (long long)nkey);
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	sqlite3_finalize(del);
	sqlite3_finalize(key);
	sqlite3_close(db);
	return 0;
}

static int cmd_app(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	int update = strcmp(argv[3], "update") == 0;
	int64_t txn = atoll(argv[4]), n = atoll(argv[5]), first = atoll(argv[6]);
	if (!update && strcmp(argv[3], "insert") != 0)
		return 2;
	sqlite3 *db = open_app(argv[2]);
	sqlite3_stmt *st = prep(db, update ? UPDATE_ITEM : INSERT_ITEM);
	sqlite3_stmt *begin = prep(db, "BEGIN"), *commit = prep(db, "COMMIT");
	rng ^= (uint64_t)first * 0x2545f4914f6cdd1dULL; /* other ids per phase */
	double t0 = mono();
	for (int64_t i = 0; i < n; i++) {
		if (txn > 1 && i % txn == 0)
			run(db, begin);
		if (update)
			bind_update(st, 1 + (int64_t)(next_rand() % (uint64_t)(first - 1)), i);
		else
			bind_item(st, first + i, i);
		run(db, st);
		if (txn > 1 && (i % txn == txn - 1 || i == n - 1))
			run(db, commit);
	}
	double t = mono() - t0;
	printf("rows=%lld seconds=%.3f rows_per_s=%.0f\n", (long long)n, t, n / t);
	sqlite3_finalize(st);
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_close(db);
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmd_floor(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	sqlite3 *db = open_app(argv[2]);
	exec(db, "CREATE TABLE floor_log (seq INTEGER PRIMARY KEY, k);"
	         "CREATE TRIGGER floor_ins AFTER INSERT ON items FOR EACH ROW"
	         " BEGIN INSERT INTO floor_log (k) VALUES (NEW.id); END;"
	         "CREATE TRIGGER floor_upd AFTER UPDATE ON items FOR EACH ROW"
	         " BEGIN INSERT INTO floor_log (k) VALUES (NEW.id); END;"
	         "CREATE TRIGGER floor_del AFTER DELETE ON items FOR EACH ROW"
	         " BEGIN INSERT INTO floor_log (k) VALUES (OLD.id); END;");
	sqlite3_close(db);
	return 0;
}

static int cmd_paced(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	double rate = atof(argv[3]), seconds = atof(argv[4]);
	int64_t items = atoll(argv[6]);
	int64_t total = (int64_t)(rate * seconds);
	int64_t *commit = malloc((size_t)total * sizeof *commit),
	        *dur = malloc((size_t)total * sizeof *dur);
	if (!commit || !dur)
		die("out of memory", NULL);
	sqlite3 *db = open_app(argv[2]);
	sqlite3_stmt *begin = prep(db, "BEGIN"), *end = prep(db, "COMMIT"),
	             *ins = prep(db, "INSERT INTO ticks (id, src_us, payload) VALUES (?,?,?)"),
	             *upd = prep(db, UPDATE_ITEM);
	int64_t changes = 0, late = 0, max_late = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	double t0 = mono();
	for (int64_t i = 0; i < total; i++) {
		/* absolute schedule: transaction i starts at start + i / rate */
		int64_t off_ns = (int64_t)((double)i * 1e9 / rate);
		struct timespec due = start;
		due.tv_sec += off_ns / 1000000000;
		due.tv_nsec += off_ns % 1000000000;
		if (due.tv_nsec >= 1000000000) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t behind = (int64_t)(now.tv_sec - due.tv_sec) * 1000000 +
		                 (now.tv_nsec - due.tv_nsec) / 1000;
		if (behind > 0) {
			if (behind > 1000)
				late++;
			if (behind > max_late)
				max_late = behind;
		} else {
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
				;
		}
		int64_t b = now_us();
		run(db, begin);
		int nupd = (int)(next_rand() % 3);
		for (int k = 0; k < nupd; k++) {
			bind_update(upd, 1 + (int64_t)(next_rand() % (uint64_t)items), i);
			run(db, upd);
		}
		char payload[48];
		snprintf(payload, sizeof payload, "tick %lld with %d updates", (long long)i + 1, nupd);
		sqlite3_bind_int64(ins, 1, i + 1);
		sqlite3_bind_int64(ins, 2, now_us());
		sqlite3_bind_text(ins, 3, payload, -1, SQLITE_TRANSIENT);
		run(db, ins);
		run(db, end);
		commit[i] = now_us();
		dur[i] = commit[i] - b;
		changes += 1 + nupd;
	}
	double t = mono() - t0;
	FILE *f = fopen(argv[5], "w");
	if (!f)
		die(argv[5], NULL);
	for (int64_t i = 0; i < total; i++)
		fprintf(f, "%lld %lld\n", (long long)i + 1, (long long)commit[i]);
	fclose(f);
	qsort(dur, (size_t)total, sizeof *dur, cmp_i64);
	printf("transactions=%lld changes=%lld seconds=%.3f tx_per_s=%.1f "
	       "late_over_1ms=%lld max_behind_ms=%.1f txn_p50_us=%lld txn_p99_us=%lld "
	       "txn_max_us=%lld\n",
	       (long long)total, (long long)changes, t, total / t, (long long)late,
	       max_late / 1000.0, (long long)dur[total / 2], (long long)dur[total * 99 / 100],
	       (long long)dur[total - 1]);
	sqlite3_finalize(begin);
	sqlite3_finalize(end);
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	sqlite3_close(db);
	return 0;
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_sample(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	int interval_ms = atoi(argv[3]);
	const char *last_file = argv[5];
	double deadline = mono() + atof(argv[6]);
	signal(SIGTERM, on_term);
	PGconn *c = PQconnectdb(argv[2]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "sync_driver sample: %s", PQerrorMessage(c));
		return 1;
	}
	FILE *out = fopen(argv[4], "w");
	if (!out)
		die(argv[4], NULL);
	int64_t last = 0, want = -1, polls = 0, max_poll_us = 0;
	char lastbuf[32];
	const char *params[1] = {lastbuf};
	while (!stop && mono() < deadline) {
		snprintf(lastbuf, sizeof lastbuf, "%lld", (long long)last);
		int64_t t_send = now_us();
		PGresult *r = PQexecParams(c, "SELECT id FROM ticks WHERE id > $1::bigint ORDER BY id",
		                           1, NULL, params, NULL, NULL, 0);
		int64_t t = now_us();
		if (t - t_send > max_poll_us)
			max_poll_us = t - t_send;
		polls++;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "sync_driver sample: %s", PQerrorMessage(c));
			PQclear(r);
			return 1;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			int64_t id = atoll(PQgetvalue(r, i, 0));
			fprintf(out, "%lld %lld\n", (long long)id, (long long)t);
			last = id;
		}
		PQclear(r);
		if (want < 0) {
			FILE *f = fopen(last_file, "r");
			long long w;
			if (f && fscanf(f, "%lld", &w) == 1)
				want = w;
			if (f)
				fclose(f);
		}
		if (want >= 0 && last >= want)
			break;
		usleep((useconds_t)interval_ms * 1000);
	}
	fclose(out);
	PQfinish(c);
	fprintf(stderr, "sample: polls=%lld max_poll_ms=%.1f last_seen=%lld\n", (long long)polls,
	        max_poll_us / 1000.0, (long long)last);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;
	if (argc >= 2 && strcmp(argv[1], "setup") == 0)
		rc = cmd_setup(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "workload") == 0)
		rc = cmd_workload(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "app") == 0)
		rc = cmd_app(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "floor") == 0)
		rc = cmd_floor(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "paced") == 0)
		rc = cmd_paced(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "sample") == 0)
		rc = cmd_sample(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: see the comment at the top of bench/sync_driver.c\n");
	return rc;
}
