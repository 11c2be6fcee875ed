/* bench/journal_bench.c - measure the journal (engine/journal.c): durable
 * append throughput with group commit, read (decompress + decode)
 * throughput and the compression ratio, for one configuration.
 *
 *   journal_bench --dir DIR [--changes N] [--level L] [--dict 0|1]
 *                 [--frame-kib K] [--commit N] [--no-sync]
 *
 * DIR must not exist (it is created and left behind: the caller removes
 * it). The changes are row changes shaped like bench/load's data: users
 * (id, name, email, created_at text, balance_cents, score real, ~100 byte
 * bio, active 0/1) and orders (id, user_id, total_cents, status, nullable
 * note), 30% user inserts, 35% order inserts, 20% order updates (status)
 * and 15% user updates (balance, score, active), updates with full
 * before-images, ~5 changes per source transaction, an 8-byte source
 * position on each. Every value is a hash of the change number with a
 * fixed seed: every run writes the same changes.
 *
 * Appends are timed together with their commits (one commit, one fsync,
 * per --commit changes, default 5000); making the changes is not timed.
 * Reading opens the journal anew and iterates every change from LSN 1
 * (the file is in the page cache: this measures decompression and
 * decoding, not the disk). Prints one line of key=value pairs; rss_kb is
 * the peak resident size including the LMDB file pages mapped in,
 * anon_*_kb the process's own memory at the end of writing and reading
 * (the writer's includes the batch of made changes, SLOT_BYTES each).
 *
 * bench/journal builds and runs this over the configurations.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/alloc.h"
#include "engine/journal.h"

#define SEED 0x5eed0f3e44ULL

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The k-th random number of row `row` of table `t` (as gen_load_data). */
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

/* ------------------------------------------------------------------ */
/* Change generation                                                   */

#define USER_COLS 8
#define ORDER_COLS 5
#define SLOT_BYTES 1024 /* text bytes one change may use */

typedef struct slot {
	ferry_change c;
	ferry_value before[USER_COLS];
	ferry_value after[USER_COLS];
	uint8_t pos[8];
	char text[SLOT_BYTES];
	size_t used;
} slot;

typedef struct gen {
	int64_t users, orders;   /* rows inserted so far */
	uint64_t seq;            /* changes made so far */
	uint64_t txid;
	int64_t time_us;
	uint64_t position;
} gen;

static const char *keep(slot *s, const char *str, size_t len)
{
	if (s->used + len > sizeof s->text) {
		fprintf(stderr, "journal_bench: slot overflow\n");
		exit(1);
	}
	char *p = s->text + s->used;
	memcpy(p, str, len);
	s->used += len;
	return p;
}

static ferry_value text(slot *s, const char *str, size_t len)
{
	return ferry_value_bytes(FERRY_TEXT, keep(s, str, len), len);
}

/* About 100 bytes of words, whole words only (as gen_load_data). */
static size_t make_bio(char *out, int64_t row, int version)
{
	size_t n = 0;
	for (int k = 0; n < 92; k++) {
		const char *w = words[rnd(3, row, 10 + k + 31 * version) % N(words)];
		size_t len = strlen(w);
		if (n + (n ? 1 : 0) + len > 110)
			break;
		if (n)
			out[n++] = ' ';
		memcpy(out + n, w, len);
		n += len;
	}
	return n;
}

/* users row `id` at version v (updates bump v: balance, score, active). */
static void user_row(slot *s, ferry_value *v, int64_t id, int version)
{
	char buf[200];
	int n = snprintf(buf, sizeof buf, "%s %s", first_names[rnd(1, id, 1) % N(first_names)],
	                 last_names[rnd(1, id, 2) % N(last_names)]);
	v[0] = ferry_value_int(id);
	v[1] = text(s, buf, (size_t)n);
	n = snprintf(buf, sizeof buf, "user%lld.%llx@example.com", (long long)id,
	             (unsigned long long)(rnd(1, id, 3) & 0xffff));
	v[2] = text(s, buf, (size_t)n);
	time_t t = 1420070400 + (time_t)(rnd(1, id, 4) % (10LL * 365 * 86400));
	struct tm tm;
	gmtime_r(&t, &tm);
	n = (int)strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
	v[3] = text(s, buf, (size_t)n);
	v[4] = ferry_value_int((int64_t)(rnd(1, id, 5 + 16 * version) % 20000000) - 2000000);
	v[5] = ferry_value_float((double)(rnd(1, id, 6 + 16 * version) >> 11) * 0x1p-53 * 1000.0);
	size_t blen = make_bio(buf, id, 0);
	v[6] = text(s, buf, blen);
	v[7] = ferry_value_int(rnd(1, id, 7 + 16 * version) % 10 < 8);
}

/* orders row `id`; status advanced `version` steps. */
static void order_row(slot *s, ferry_value *v, int64_t id, int64_t nusers, int version)
{
	char buf[200];
	v[0] = ferry_value_int(id);
	v[1] = ferry_value_int(1 + (int64_t)(rnd(2, id, 1) % (uint64_t)(nusers > 0 ? nusers : 1)));
	v[2] = ferry_value_int(100 + (int64_t)(rnd(2, id, 2) % 5000000));
	const char *st = statuses[(rnd(2, id, 3) + (uint64_t)version) % N(statuses)];
	v[3] = text(s, st, strlen(st));
	if (rnd(2, id, 4) % 100 < 30) {
		v[4] = ferry_value_null();
	} else {
		int n = snprintf(buf, sizeof buf, "%s #%llu", note_words[rnd(2, id, 5) % N(note_words)],
		                 (unsigned long long)(rnd(2, id, 6) % 100000));
		v[4] = text(s, buf, (size_t)n);
	}
}

static void make_change(gen *g, slot *s)
{
	uint64_t seq = ++g->seq;
	uint64_t h = mix(SEED ^ seq);
	ferry_change *c = &s->c;
	memset(c, 0, sizeof *c);
	s->used = 0;
	if (seq % 5 == 1)
		g->txid++;
	g->time_us += 1 + (int64_t)(h % 400);
	g->position += 64 + h % 256;
	for (int i = 0; i < 8; i++)
		s->pos[i] = (uint8_t)(g->position >> (56 - 8 * i));
	c->txid = g->txid;
	c->commit_time = g->time_us;
	c->position = s->pos;
	c->position_len = sizeof s->pos;
	c->schema_version = 1;

	unsigned kind = (unsigned)((h >> 32) % 100);
	if (g->users == 0)
		kind = 0;
	else if (g->orders == 0 && kind >= 65)
		kind = 30;
	int ncols;
	if (kind < 30) {            /* insert users */
		c->table = "public.users";
		c->op = FERRY_OP_INSERT;
		user_row(s, s->after, ++g->users, 0);
		ncols = USER_COLS;
	} else if (kind < 65) {     /* insert orders */
		c->table = "public.orders";
		c->op = FERRY_OP_INSERT;
		order_row(s, s->after, ++g->orders, g->users, 0);
		ncols = ORDER_COLS;
	} else if (kind < 85) {     /* update orders: status */
		int64_t id = 1 + (int64_t)((h >> 8) % (uint64_t)g->orders);
		int ver = (int)((h >> 16) % 4);
		c->table = "public.orders";
		c->op = FERRY_OP_UPDATE;
		order_row(s, s->before, id, g->users, ver);
		order_row(s, s->after, id, g->users, ver + 1);
		ncols = ORDER_COLS;
	} else {                    /* update users: balance, score, active */
		int64_t id = 1 + (int64_t)((h >> 8) % (uint64_t)g->users);
		int ver = (int)((h >> 16) % 8);
		c->table = "public.users";
		c->op = FERRY_OP_UPDATE;
		user_row(s, s->before, id, ver);
		user_row(s, s->after, id, ver + 1);
		ncols = USER_COLS;
	}
	c->has_after = true;
	c->after.values = s->after;
	c->after.ncols = c->after.cap = (uint32_t)ncols;
	if (c->op == FERRY_OP_UPDATE) {
		c->has_before = true;
		c->before.values = s->before;
		c->before.ncols = c->before.cap = (uint32_t)ncols;
	}
}

/* ------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Anonymous resident memory (kB), from /proc: the process's own memory,
 * without the LMDB file pages mapped in (which count in ru_maxrss). */
static long rss_anon_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "RssAnon: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void die(const char *what, const ferry_error *err)
{
	fprintf(stderr, "journal_bench: %s: %s\n", what, err ? ferry_error_message(err) : "");
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: journal_bench --dir DIR [--changes N] [--level L] [--dict 0|1]\n"
	                "                     [--frame-kib K] [--commit N] [--no-sync]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t total = 1000000, commit_every = 5000;
	ferry_journal_options opts;
	memset(&opts, 0, sizeof opts);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--no-sync")) {
			opts.no_sync = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--dir"))
			dir = v;
		else if (!strcmp(a, "--changes"))
			total = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--level"))
			opts.level = atoi(v);
		else if (!strcmp(a, "--dict"))
			opts.dictionary = atoi(v) != 0;
		else if (!strcmp(a, "--frame-kib"))
			opts.frame_bytes = (size_t)strtoull(v, NULL, 10) * 1024;
		else if (!strcmp(a, "--commit"))
			commit_every = strtoull(v, NULL, 10);
		else
			usage();
	}
	if (!dir || total == 0 || commit_every == 0)
		usage();

	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal *j = NULL;
	if (ferry_journal_open(&j, dir, &opts, &err) < 0)
		die("open", &err);

	slot *slots = calloc(commit_every, sizeof *slots);
	if (!slots)
		die("out of memory", NULL);
	gen g;
	memset(&g, 0, sizeof g);
	g.time_us = INT64_C(1700000000000000);

	double append_s = 0, commit_s = 0, max_commit_s = 0;
	uint64_t done = 0, commits = 0;
	while (done < total) {
		uint64_t n = total - done < commit_every ? total - done : commit_every;
		for (uint64_t i = 0; i < n; i++)
			make_change(&g, &slots[i]);
		double t0 = now();
		for (uint64_t i = 0; i < n; i++)
			if (ferry_journal_append(j, &slots[i].c, NULL, &err) < 0)
				die("append", &err);
		double t1 = now();
		uint8_t pos[8];
		memcpy(pos, slots[n - 1].pos, sizeof pos);
		if (ferry_journal_commit(j, pos, sizeof pos, &err) < 0)
			die("commit", &err);
		double t2 = now();
		append_s += t1 - t0;
		commit_s += t2 - t1;
		if (t2 - t1 > max_commit_s)
			max_commit_s = t2 - t1;
		done += n;
		commits++;
	}
	if (ferry_journal_last_lsn(j) != total)
		die("last LSN is not the number of changes", NULL);
	long anon_write = rss_anon_kb();
	ferry_journal_close(j);
	free(slots);

	/* read everything back, from a fresh open */
	j = NULL;
	double r0 = now();
	ferry_journal_options ro;
	memset(&ro, 0, sizeof ro);
	ro.read_only = true;
	if (ferry_journal_open(&j, dir, &ro, &err) < 0)
		die("open to read", &err);
	ferry_journal_iter *it = NULL;
	if (ferry_journal_iter_open(&it, j, 1, &err) < 0)
		die("iter_open", &err);
	uint64_t got = 0, cols = 0, last = 0;
	for (;;) {
		const ferry_change *c;
		uint64_t lsn;
		int rc = ferry_journal_iter_next(it, &c, &lsn, &err);
		if (rc < 0)
			die("iter_next", &err);
		if (rc == 0)
			break;
		got++;
		last = lsn;
		cols += c->after.ncols + (c->has_before ? c->before.ncols : 0);
	}
	long anon_read = rss_anon_kb();
	ferry_journal_iter_close(it);
	double read_s = now() - r0;
	if (got != total || last != total)
		die("read back a different number of changes", NULL);

	ferry_journal_stats st;
	memset(&st, 0, sizeof st);
	if (ferry_journal_stat(j, &st, &err) < 0)
		die("stat", &err);
	ferry_journal_close(j);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double put_s = append_s + commit_s;
	printf("changes=%llu level=%d dict=%d frame_kib=%zu commit=%llu sync=%d "
	       "append_s=%.3f commit_s=%.3f max_commit_ms=%.2f append_cps=%.0f "
	       "read_s=%.3f read_cps=%.0f raw=%llu stored=%llu disk=%llu ratio=%.2f "
	       "frames=%llu commits=%llu dict_id=%u cols=%llu rss_kb=%ld anon_write_kb=%ld "
	       "anon_read_kb=%ld\n",
	       (unsigned long long)total, opts.level ? opts.level : 3, opts.dictionary,
	       (opts.frame_bytes ? opts.frame_bytes : 65536) / 1024,
	       (unsigned long long)commit_every, !opts.no_sync, append_s, commit_s,
	       max_commit_s * 1000, (double)total / put_s, read_s, (double)total / read_s,
	       (unsigned long long)st.raw_bytes, (unsigned long long)st.stored_bytes,
	       (unsigned long long)st.disk_bytes,
	       st.stored_bytes ? (double)st.raw_bytes / (double)st.stored_bytes : 0.0,
	       (unsigned long long)st.frames, (unsigned long long)commits, st.dict_id, (unsigned long long)cols,
	       ru.ru_maxrss, anon_write, anon_read);
	return 0;
}
