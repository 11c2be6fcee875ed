/* bench/gen_load_data.c - write the SQLite database that bench/load loads.
 *
 *   gen_load_data FILE USERS ORDERS
 *
 * Every value is a pure function of the table and the row number (a
 * splitmix64 hash with a fixed seed), so the same arguments always give
 * the same rows, whatever the machine. FILE must not exist.
 *
 * Build: cc -O2 -o gen_load_data gen_load_data.c -lsqlite3
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEED 0x5eed0f3e44ULL

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The k-th random number of row `row` of table `t`. */
static uint64_t rnd(int t, int64_t row, int k)
{
	return mix(SEED ^ mix(((uint64_t)t << 56) ^ ((uint64_t)row << 8) ^ (uint64_t)k));
}

static const char *first_names[] = {
	"Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Ken", "Margaret",
	"Edsger", "Donald", "Frances", "John", "Radia", "Niklaus", "Sophie",
	"Tim", "Hedy", "Guido", "Bjarne", "Karen", "José", "Zoë", "Łukasz", "Chloé",
};
static const char *last_names[] = {
	"Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Ritchie",
	"Thompson", "Hamilton", "Dijkstra", "Knuth", "Allen", "McCarthy",
	"Perlman", "Wirth", "Wilson", "Berners-Lee", "Lamarr", "van Rossum",
	"Stroustrup", "Spärck Jones", "O'Neil", "Müller", "García", "Nowak",
};
static const char *words[] = {
	"data", "migration", "loves", "postgres", "and", "sqlite", "the", "quick",
	"brown", "fox", "jumps", "over", "lazy", "dog", "café", "naïve", "résumé",
	"\"quoted\"", "comma,", "tab\tstop", "back\\slash", "semi;colon", "100%",
	"émigré", "über", "日本", "orders", "shipping", "refund", "weekly",
};
static const char *statuses[] = {
	"pending", "paid", "shipped", "delivered", "cancelled", "refunded",
};
static const char *note_words[] = {
	"leave at door", "gift wrap", "call first", "fragile", "express",
	"back entrance", "no \"signature\"", "ring twice, then wait", "ASAP",
};

#define N(a) (sizeof a / sizeof *a)

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "gen_load_data: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(db, sql);
}

/* About 100 bytes of words, whole words only. */
static int make_bio(char *out, int64_t row)
{
	int n = 0;
	for (int k = 0; n < 92; k++) {
		const char *w = words[rnd(3, row, 10 + k) % N(words)];
		size_t len = strlen(w);
		if (n + (n ? 1 : 0) + (int)len > 110)
			break;
		if (n)
			out[n++] = ' ';
		memcpy(out + n, w, len);
		n += (int)len;
	}
	out[n] = 0;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: gen_load_data FILE USERS ORDERS\n");
		return 2;
	}
	int64_t nusers = atoll(argv[2]), norders = atoll(argv[3]);
	if (nusers < 1 || norders < 0) {
		fprintf(stderr, "gen_load_data: bad row counts\n");
		return 2;
	}
	sqlite3 *db;
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		die(db, "open");
	exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=8192;");
	exec(db,
	     "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT,"
	     " created_at TEXT, balance_cents INTEGER, score REAL, bio TEXT,"
	     " active INTEGER);"
	     "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER,"
	     " total_cents INTEGER, status TEXT, note TEXT);");
	exec(db, "BEGIN");

	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT INTO users VALUES (?,?,?,?,?,?,?,?)", -1, &st, NULL))
		die(db, "prepare users");
	const time_t base = 1420070400; /* 2015-01-01 00:00:00 UTC */
	char name[128], email[160], ts[32], bio[160];
	for (int64_t id = 1; id <= nusers; id++) {
		const char *fn = first_names[rnd(1, id, 1) % N(first_names)];
		const char *ln = last_names[rnd(1, id, 2) % N(last_names)];
		snprintf(name, sizeof name, "%s %s", fn, ln);
		snprintf(email, sizeof email, "user%lld.%llx@example.com", (long long)id,
		         (unsigned long long)(rnd(1, id, 3) & 0xffff));
		time_t t = base + (time_t)(rnd(1, id, 4) % (10LL * 365 * 86400));
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
		int64_t balance = (int64_t)(rnd(1, id, 5) % 20000000) - 2000000;
		/* Any double in [0, 1000): exercises shortest round-trip output. */
		double score = (double)(rnd(1, id, 6) >> 11) * 0x1p-53 * 1000.0;
		int blen = make_bio(bio, id);
		int active = rnd(1, id, 7) % 10 < 8;

		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, ts, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, balance);
		sqlite3_bind_double(st, 6, score);
		sqlite3_bind_text(st, 7, bio, blen, SQLITE_STATIC);
		sqlite3_bind_int(st, 8, active);
		if (sqlite3_step(st) != SQLITE_DONE)
			die(db, "insert users");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(db, "INSERT INTO orders VALUES (?,?,?,?,?)", -1, &st, NULL))
		die(db, "prepare orders");
	char note[128];
	for (int64_t id = 1; id <= norders; id++) {
		int64_t user_id = 1 + (int64_t)(rnd(2, id, 1) % (uint64_t)nusers);
		int64_t total = 100 + (int64_t)(rnd(2, id, 2) % 5000000);
		const char *status = statuses[rnd(2, id, 3) % N(statuses)];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, user_id);
		sqlite3_bind_int64(st, 3, total);
		sqlite3_bind_text(st, 4, status, -1, SQLITE_STATIC);
		if (rnd(2, id, 4) % 100 < 30) {
			sqlite3_bind_null(st, 5);
		} else {
			snprintf(note, sizeof note, "%s #%llu",
			         note_words[rnd(2, id, 5) % N(note_words)],
			         (unsigned long long)(rnd(2, id, 6) % 100000));
			sqlite3_bind_text(st, 5, note, -1, SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			die(db, "insert orders");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	exec(db, "COMMIT");
	if (sqlite3_close(db) != SQLITE_OK)
		die(db, "close");
	return 0;
}
