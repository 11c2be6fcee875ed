/*
 * Crash test for engine/journal: a writer process is killed with SIGKILL
 * at points the parent chooses (after k reported commits, after a number
 * of further appends, right before a commit, or while a commit is in
 * flight), again and again on the same journal.  After every kill the
 * journal must hold exactly a prefix 1..L of what was appended, every
 * change bit for bit what was written, L at least the last commit the
 * writer reported and at most the commit it had in flight, and the
 * capture cursor must name L.
 *
 * Each change is a pure function of its LSN, so the parent knows what
 * every LSN must hold without being told.  The writer reads the capture
 * cursor (the LSN of the last committed change, 8 bytes little-endian)
 * on open to know where to continue.
 *
 * FERRY_TEST_SEED=<n> replays one run; FERRY_CRASH_ROUNDS=<n> changes the
 * number of kills (default 60).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/journal.h"
#include "tests/tap.h"

/* ------------------------------------------------------------------ */
/* The change of each LSN                                              */

#define MAX_TEXT 9000
#define NCOLS 7

typedef struct det_change {
	ferry_change c;
	ferry_value before_v[NCOLS];
	ferry_value after_v[NCOLS];
	char table[8];
	uint8_t pos[8];
	uint8_t blob[8];
	char text[MAX_TEXT];
} det_change;

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * Fills d with the change of LSN lsn: mostly inserts, some updates with a
 * before-image and some deletes, a text of 0..~200 bytes and now and then
 * of several KiB (so frames end at varying places), floats with the
 * awkward values now and then.
 */
static void det_make(det_change *d, uint64_t lsn)
{
	uint64_t h = mix64(lsn ^ 0x6a6f75726e616cULL);
	ferry_change *c = &d->c;
	memset(c, 0, sizeof *c);

	d->table[0] = 't';
	d->table[1] = (char)('0' + lsn % 3);
	d->table[2] = '\0';
	put_le64(d->pos, lsn);
	put_le64(d->blob, h);

	size_t tlen = h % 200;
	if ((h >> 8) % 64 == 0)
		tlen = 1000 + (h >> 16) % 7000;
	uint64_t x = h | 1;
	for (size_t i = 0; i < tlen; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		d->text[i] = (char)('a' + (x >> 59)); /* 32 letters: a..` */
	}

	unsigned kind = (unsigned)(lsn % 10);
	c->op = kind < 7 ? FERRY_OP_INSERT : kind < 9 ? FERRY_OP_UPDATE : FERRY_OP_DELETE;
	c->has_after = c->op != FERRY_OP_DELETE;
	c->has_before = c->op != FERRY_OP_INSERT;
	c->table = d->table;
	c->schema_version = 1 + (uint32_t)(lsn % 3 == 0);
	c->txid = 1000 + lsn / 4;
	c->commit_time = INT64_C(1700000000000000) + (int64_t)lsn * 997;
	c->position = d->pos;
	c->position_len = sizeof d->pos;

	double f;
	switch ((h >> 40) % 16) {
	case 0: f = -0.0; break;
	case 1: f = 1e308; break;
	case 2: f = 4.9e-324; break;
	default: f = (double)lsn * 0.25; break;
	}
	ferry_value *a = d->after_v;
	a[0] = ferry_value_int((int64_t)lsn);
	a[1] = ferry_value_bytes(FERRY_TEXT, d->text, tlen);
	a[2] = ferry_value_float(f);
	a[3] = lsn % 5 == 0 ? ferry_value_null() : ferry_value_int(-(int64_t)(h >> 20));
	a[4] = ferry_value_bool(lsn & 1);
	a[5] = ferry_value_bytes(FERRY_BLOB, d->blob, (size_t)(h >> 60) % 9);
	a[6] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, c->commit_time);
	ferry_value *b = d->before_v;
	b[0] = ferry_value_int((int64_t)lsn);
	b[1] = ferry_value_bytes(FERRY_TEXT, d->text, tlen / 2);
	b[2] = ferry_value_float(-f);
	b[3] = ferry_value_null();
	b[4] = ferry_value_bool(!(lsn & 1));
	b[5] = ferry_value_bytes(FERRY_BLOB, d->blob, 8);
	b[6] = ferry_value_timestamp(FERRY_TIMESTAMP, -(int64_t)lsn);

	if (c->has_after) {
		c->after.values = d->after_v;
		c->after.ncols = c->after.cap = NCOLS;
	}
	if (c->has_before) {
		c->before.values = d->before_v;
		/* a delete carries the key only */
		c->before.ncols = c->op == FERRY_OP_DELETE ? 1 : NCOLS;
		c->before.cap = NCOLS;
	}
}

static int rows_same(const ferry_row *got, const ferry_row *want,
                     const char *which, char *why, size_t whylen)
{
	if (got->ncols != want->ncols) {
		snprintf(why, whylen, "%s: %u columns, want %u", which,
		         (unsigned)got->ncols, (unsigned)want->ncols);
		return 0;
	}
	for (uint32_t i = 0; i < got->ncols; i++)
		if (!ferry_value_identical(&got->values[i], &want->values[i])) {
			snprintf(why, whylen, "%s: column %u differs (type %s, want %s)",
			         which, (unsigned)i, ferry_type_name(got->values[i].type),
			         ferry_type_name(want->values[i].type));
			return 0;
		}
	return 1;
}

/* Field by field; says what differs in why. */
static int change_same(const ferry_change *got, const ferry_change *want,
                       char *why, size_t whylen)
{
	if (got->op != want->op) {
		snprintf(why, whylen, "op %d, want %d", (int)got->op, (int)want->op);
		return 0;
	}
	if (got->has_before != want->has_before || got->has_after != want->has_after) {
		snprintf(why, whylen, "images %d/%d, want %d/%d", got->has_before,
		         got->has_after, want->has_before, want->has_after);
		return 0;
	}
	if (!got->table || strcmp(got->table, want->table) != 0) {
		snprintf(why, whylen, "table \"%s\", want \"%s\"",
		         got->table ? got->table : "(null)", want->table);
		return 0;
	}
	if (got->schema_version != want->schema_version || got->txid != want->txid ||
	    got->commit_time != want->commit_time) {
		snprintf(why, whylen, "schema version/txid/commit time differ");
		return 0;
	}
	if (got->position_len != want->position_len ||
	    (want->position_len &&
	     memcmp(got->position, want->position, want->position_len) != 0)) {
		snprintf(why, whylen, "position differs");
		return 0;
	}
	if (want->has_before && !rows_same(&got->before, &want->before, "before", why, whylen))
		return 0;
	if (want->has_after && !rows_same(&got->after, &want->after, "after", why, whylen))
		return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Randomness (parent and child, seeded)                               */

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(s) % (hi - lo + 1);
}

/* ------------------------------------------------------------------ */
/* The writer (child)                                                  */

/*
 * Messages child -> parent, 9 bytes each (atomic on a pipe): a type byte
 * and a u64 LSN, little-endian.
 *   'B' lsn  about to commit the batch ending at lsn
 *   'M' lsn  the same, for the armed commit: the child then waits for a
 *            byte on the ack pipe before it calls commit
 *   'C' lsn  the batch ending at lsn is committed (commit returned 0)
 *   'E' len  followed by len bytes of message: the writer failed
 */
#define MSG_LEN 9

static void send_msg(int fd, char type, uint64_t lsn)
{
	uint8_t m[MSG_LEN];
	m[0] = (uint8_t)type;
	put_le64(m + 1, lsn);
	ssize_t n;
	do
		n = write(fd, m, sizeof m);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof m)
		_exit(5);
}

static void child_fail(int fd, const char *what, const ferry_error *err)
{
	char text[1024];
	int n = snprintf(text, sizeof text, "writer: %s: %s", what,
	                 err ? ferry_error_message(err) : "");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof text)
		n = (int)sizeof text - 1;
	send_msg(fd, 'E', (uint64_t)n);
	if (write(fd, text, (size_t)n) < 0)
		_exit(6);
	_exit(3);
}

typedef struct round_plan {
	uint64_t child_seed;
	uint64_t mid_after;   /* arm the commit after this many appends; */
	bool armed;           /* ... if armed */
} round_plan;

static det_change child_change;

static void child_main(const char *dir, int wfd, int ackfd, const round_plan *plan)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal *j = NULL;
	ferry_journal_options opts;
	memset(&opts, 0, sizeof opts);
	opts.no_sync = false; /* durable */
	if (ferry_journal_open(&j, dir, &opts, &err) < 0)
		child_fail(wfd, "open", &err);

	uint8_t *pos = NULL;
	size_t pos_len = 0;
	if (ferry_journal_capture_cursor(j, &pos, &pos_len, &err) < 0)
		child_fail(wfd, "capture cursor", &err);
	uint64_t last = 0;
	if (pos_len == 8)
		last = get_le64(pos);
	else if (pos_len != 0)
		child_fail(wfd, "capture cursor is not 8 bytes", NULL);
	ferry_free(pos);
	if (ferry_journal_last_lsn(j) != last)
		child_fail(wfd, "last LSN differs from the capture cursor", NULL);

	uint64_t s = plan->child_seed;
	uint64_t next = last + 1, appended = 0;
	bool armed = plan->armed;
	for (;;) {
		/* batch sizes 1..5000, small ones more often */
		uint64_t r = rng_next(&s) % 8;
		uint64_t batch = r < 3 ? rng_range(&s, 1, 20)
		                 : r < 6 ? rng_range(&s, 1, 500)
		                         : rng_range(&s, 1, 5000);
		for (uint64_t i = 0; i < batch; i++, next++, appended++) {
			uint64_t lsn = 0;
			det_make(&child_change, next);
			if (ferry_journal_append(j, &child_change.c, &lsn, &err) < 0)
				child_fail(wfd, "append", &err);
			if (lsn != next)
				child_fail(wfd, "append gave an unexpected LSN", NULL);
		}
		uint8_t cur[8];
		put_le64(cur, next - 1);
		if (armed && appended >= plan->mid_after) {
			armed = false;
			send_msg(wfd, 'M', next - 1);
			uint8_t ack;
			ssize_t n;
			do
				n = read(ackfd, &ack, 1);
			while (n < 0 && errno == EINTR);
			if (n != 1)
				_exit(7);
		} else {
			send_msg(wfd, 'B', next - 1);
		}
		if (ferry_journal_commit(j, cur, sizeof cur, &err) < 0)
			child_fail(wfd, "commit", &err);
		if (ferry_journal_last_lsn(j) != next - 1)
			child_fail(wfd, "last LSN after commit", NULL);
		send_msg(wfd, 'C', next - 1);
	}
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */

typedef struct progress {
	uint64_t committed;   /* last LSN reported committed */
	uint64_t inflight;    /* LSN of a commit announced, not yet reported; 0 */
	uint64_t commits;     /* 'C' messages this round */
	uint64_t announced_us;/* when the parent read the announcement */
	bool failed;          /* the child reported an error */
	bool eof;
	char error[1100];
} progress;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * How long a commit takes, as the parent sees it (announcement read to
 * report read): base_us + per_change_us * changes.  Learned as the test
 * runs, so "during a commit" kills are spread over the whole commit
 * whatever the machine's speed and the sanitizers' cost.
 */
static double base_us = 0, per_change_us = 0;

static void learn_commit(uint64_t changes, uint64_t us)
{
	if (base_us == 0 || (double)us < base_us)
		base_us = (double)us;
	if (changes >= 100) {
		double pc = (double)us / (double)changes;
		per_change_us = per_change_us == 0 ? pc : 0.8 * per_change_us + 0.2 * pc;
	}
}

static uint64_t commit_estimate_us(uint64_t changes)
{
	double est = base_us + per_change_us * (double)changes;
	return est < 200 ? 200 : (uint64_t)est;
}

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -2; /* timeout */
		if (pr < 0)
			return -1;
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return got ? -1 : 0; /* 0: EOF at a message boundary */
		got += (size_t)n;
	}
	return 1;
}

/*
 * Reads one message into pr.  Returns the type, 0 at EOF, -1 on a
 * protocol error or timeout (pr->error says which).
 */
static int read_msg(int fd, progress *pr, uint64_t *lsn, int timeout_ms)
{
	uint8_t m[MSG_LEN];
	int rc = read_full(fd, m, sizeof m, timeout_ms);
	if (rc == 0) {
		pr->eof = true;
		return 0;
	}
	if (rc < 0) {
		snprintf(pr->error, sizeof pr->error, "%s",
		         rc == -2 ? "the writer made no progress for 30 s"
		                  : "the pipe broke mid-message");
		return -1;
	}
	uint64_t v = get_le64(m + 1);
	switch (m[0]) {
	case 'B':
	case 'M':
		pr->inflight = v;
		pr->announced_us = now_us();
		break;
	case 'C':
		if (v == pr->inflight && v > pr->committed)
			learn_commit(v - pr->committed, now_us() - pr->announced_us);
		if (v != pr->inflight)
			snprintf(pr->error, sizeof pr->error,
			         "commit %llu reported, %llu announced",
			         (unsigned long long)v, (unsigned long long)pr->inflight);
		pr->committed = v;
		pr->inflight = 0;
		pr->commits++;
		break;
	case 'E': {
		size_t n = v < sizeof pr->error - 1 ? (size_t)v : sizeof pr->error - 1;
		if (read_full(fd, pr->error, n, 5000) != 1)
			n = 0;
		pr->error[n] = '\0';
		pr->failed = true;
		break;
	}
	default:
		snprintf(pr->error, sizeof pr->error, "bad message type %d", m[0]);
		return -1;
	}
	*lsn = v;
	return m[0];
}

enum {
	KILL_AFTER_COMMITS,  /* after k commits, at once */
	KILL_AFTER_APPENDS,  /* after k commits and n further appends */
	KILL_BEFORE_COMMIT,  /* at the armed commit, before it is called */
	KILL_AT_COMMIT,      /* at the armed commit, as it is called */
	KILL_DURING_COMMIT,  /* at the armed commit, some microseconds in */
	KILL_MODES
};

static const char *mode_names[KILL_MODES] = {
	"after k commits", "after further appends", "before a commit",
	"as a commit starts", "during a commit",
};

static det_change want_change;

/*
 * Reopens the journal and checks it holds exactly 1..L with the right
 * contents; returns L via *lout.  read_only: open it read-only.
 */
static void verify(const char *dir, int round, uint64_t committed,
                   uint64_t inflight, int mode, bool read_only, uint64_t *lout,
                   unsigned *landed)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_journal *j = NULL;
	ferry_journal_options opts;
	memset(&opts, 0, sizeof opts);
	opts.read_only = read_only;
	int rc = ferry_journal_open(&j, dir, &opts, &err);
	if (!ok(rc == 0, "round %d: the journal reopens after the kill%s", round,
	        read_only ? " (read-only)" : "")) {
		tap_diag("%s", ferry_error_message(&err));
		ferry_error_clear(&err);
		return;
	}

	uint64_t L = ferry_journal_last_lsn(j);
	*lout = L;
	if (mode == KILL_BEFORE_COMMIT) {
		/* the armed commit was never called */
		if (!ok(L == committed, "round %d: L = %llu, the last reported commit", round,
		        (unsigned long long)L))
			tap_diag("reported %llu, announced %llu", (unsigned long long)committed,
			         (unsigned long long)inflight);
	} else {
		if (!ok(L == committed || (inflight && L == inflight),
		        "round %d: L = %llu is the last reported commit or the one in flight",
		        round, (unsigned long long)L))
			tap_diag("reported committed %llu, in flight %llu",
			         (unsigned long long)committed, (unsigned long long)inflight);
	}
	if (inflight && L == inflight)
		(*landed)++;

	uint8_t *pos = NULL;
	size_t pos_len = 0;
	rc = ferry_journal_capture_cursor(j, &pos, &pos_len, &err);
	if (L == 0)
		ok(rc == 0 && pos_len == 0, "round %d: no capture cursor in an empty journal",
		   round);
	else if (!ok(rc == 0 && pos_len == 8 && get_le64(pos) == L,
	             "round %d: the capture cursor is L", round))
		tap_diag("rc %d, %zu bytes, value %llu: %s", rc, pos_len,
		         (unsigned long long)(pos_len == 8 ? get_le64(pos) : 0),
		         ferry_error_message(&err));
	ferry_free(pos);
	ferry_error_clear(&err);

	ferry_journal_stats st;
	memset(&st, 0, sizeof st);
	rc = ferry_journal_stat(j, &st, &err);
	if (!ok(rc == 0 && st.last_lsn == L && st.first_lsn == (L ? 1u : 0u) &&
	            st.changes == L,
	        "round %d: stat agrees (first %llu, last %llu, %llu changes)", round,
	        (unsigned long long)st.first_lsn, (unsigned long long)st.last_lsn,
	        (unsigned long long)st.changes))
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);

	/* every LSN 1..L, in order, each exactly its change */
	ferry_journal_iter *it = NULL;
	uint64_t n = 0;
	char why[256] = "";
	bool good = true;
	rc = ferry_journal_iter_open(&it, j, 1, &err);
	if (rc < 0) {
		good = false;
		snprintf(why, sizeof why, "iter_open: %s", ferry_error_message(&err));
	}
	while (good) {
		const ferry_change *c = NULL;
		uint64_t lsn = 0;
		rc = ferry_journal_iter_next(it, &c, &lsn, &err);
		if (rc == 0)
			break;
		if (rc < 0) {
			good = false;
			snprintf(why, sizeof why, "after %llu changes: %s", (unsigned long long)n,
			         ferry_error_message(&err));
			break;
		}
		n++;
		if (lsn != n) {
			good = false;
			snprintf(why, sizeof why, "LSN %llu where %llu was due",
			         (unsigned long long)lsn, (unsigned long long)n);
			break;
		}
		det_make(&want_change, lsn);
		char what[200];
		if (!change_same(c, &want_change.c, what, sizeof what)) {
			good = false;
			snprintf(why, sizeof why, "LSN %llu: %s", (unsigned long long)lsn, what);
			break;
		}
	}
	ferry_journal_iter_close(it);
	if (good && n != L) {
		good = false;
		snprintf(why, sizeof why, "%llu changes, want %llu", (unsigned long long)n,
		         (unsigned long long)L);
	}
	if (!ok(good, "round %d: LSNs 1..%llu contiguous, each change as written", round,
	        (unsigned long long)L))
		tap_diag("%s", why);
	ferry_error_clear(&err);
	ferry_journal_close(j);
}

int main(void)
{
	uint64_t seed;
	const char *env = getenv("FERRY_TEST_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int rounds = 60;
	env = getenv("FERRY_CRASH_ROUNDS");
	if (env && atoi(env) > 0)
		rounds = atoi(env);
	tap_diag("seed %llu (FERRY_TEST_SEED=%llu replays it), %d rounds",
	         (unsigned long long)seed, (unsigned long long)seed, rounds);
	uint64_t rs = seed;

	char tmpl[4096];
	const char *tmp = getenv("TMPDIR");
	snprintf(tmpl, sizeof tmpl, "%s/ferry-jcrash-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	char *base = mkdtemp(tmpl);
	if (!ok(base != NULL, "scratch directory"))
		return tap_done();
	char jdir[4200];
	snprintf(jdir, sizeof jdir, "%s/journal", base);

	signal(SIGPIPE, SIG_IGN);
	uint64_t L = 0;          /* verified length after the last round */
	unsigned per_mode[KILL_MODES] = {0}, landed = 0, lost_inflight = 0;
	uint64_t t0 = now_us();

	for (int round = 1; round <= rounds; round++) {
		round_plan plan;
		memset(&plan, 0, sizeof plan);
		plan.child_seed = rng_next(&rs);
		int mode = (int)rng_range(&rs, 0, KILL_MODES - 1);
		uint64_t k = rng_range(&rs, 0, 6);       /* commits to wait for */
		uint64_t further = rng_range(&rs, 1, 8000);
		uint64_t delay = 0;
		if (mode >= KILL_BEFORE_COMMIT) {
			plan.armed = true;
			plan.mid_after = rng_range(&rs, 0, 12000);
		}
		/* a fraction in [0, 1.5] of the commit's expected duration */
		uint64_t frac = rng_range(&rs, 0, 1500);
		per_mode[mode]++;

		int up[2], ack[2];
		if (pipe(up) < 0 || pipe(ack) < 0) {
			ok(0, "round %d: pipe: %s", round, strerror(errno));
			break;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			ok(0, "round %d: fork: %s", round, strerror(errno));
			break;
		}
		if (pid == 0) {
			close(up[0]);
			close(ack[1]);
			child_main(jdir, up[1], ack[0], &plan);
			_exit(4);
		}
		close(up[1]);
		close(ack[0]);

		progress pr;
		memset(&pr, 0, sizeof pr);
		pr.committed = L;
		bool proto_error = false;
		uint64_t lsn = 0;
		int t = 0;

		/* run the child up to the kill point */
		switch (mode) {
		case KILL_AFTER_COMMITS:
		case KILL_AFTER_APPENDS:
			while (pr.commits < k && (t = read_msg(up[0], &pr, &lsn, 30000)) > 0 &&
			       !pr.failed)
				;
			if (mode == KILL_AFTER_APPENDS && !pr.eof && !pr.failed) {
				/* n further appends: kill at the first announcement past them */
				uint64_t target = pr.committed + further;
				for (;;) {
					t = read_msg(up[0], &pr, &lsn, 30000);
					if (t <= 0 || pr.failed)
						break;
					if ((t == 'B' || t == 'M') && lsn >= target)
						break;
				}
				if (pr.inflight && !pr.eof && !pr.failed) {
					delay = commit_estimate_us(pr.inflight - pr.committed) * frac / 1000;
					sleep_us(delay);
				}
			}
			break;
		default:
			for (;;) {
				t = read_msg(up[0], &pr, &lsn, 30000);
				if (t <= 0 || pr.failed || t == 'M')
					break;
			}
			if (t == 'M') {
				if (mode != KILL_BEFORE_COMMIT) {
					uint8_t b = 1;
					if (write(ack[1], &b, 1) != 1)
						proto_error = true;
					if (mode == KILL_DURING_COMMIT) {
						delay = commit_estimate_us(pr.inflight - pr.committed) *
						        frac / 1000;
						sleep_us(delay);
					}
				}
			}
			break;
		}
		if (pr.error[0] && !pr.failed)
			proto_error = true;

		kill(pid, SIGKILL);
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(ack[1]);
		/* what the child reported before it died counts too */
		while (!pr.failed && !pr.eof) {
			t = read_msg(up[0], &pr, &lsn, 30000);
			if (t < 0) {
				proto_error = true;
				break;
			}
		}
		close(up[0]);
		if (pr.error[0] && !pr.failed)
			proto_error = true;

		if (!ok(!pr.failed && !proto_error &&
		            (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
		        "round %d: writer killed %s (k %llu, delay %llu us), reported %llu, "
		        "in flight %llu",
		        round, mode_names[mode], (unsigned long long)k, (unsigned long long)delay,
		        (unsigned long long)pr.committed, (unsigned long long)pr.inflight)) {
			tap_diag("%s", pr.error[0] ? pr.error : "the writer exited on its own");
			if (WIFEXITED(status))
				tap_diag("exit status %d", WEXITSTATUS(status));
			break;
		}
		if (pr.inflight && mode != KILL_BEFORE_COMMIT)
			lost_inflight++;

		uint64_t newL = 0;
		bool ro = L > 0 && round % 3 == 0;
		verify(jdir, round, pr.committed, pr.inflight, mode, ro, &newL, &landed);
		if (!ok(newL >= L, "round %d: the journal did not shrink (%llu -> %llu)", round,
		        (unsigned long long)L, (unsigned long long)newL))
			break;
		L = newL;
		if (tap_failed_)
			break; /* the next rounds would only repeat the damage */
	}

	double secs = (double)(now_us() - t0) / 1e6;
	tap_diag("final journal: %llu changes in %.1f s", (unsigned long long)L, secs);
	for (int m = 0; m < KILL_MODES; m++)
		tap_diag("kills %s: %u", mode_names[m], per_mode[m]);
	tap_diag("kills with a commit in flight: %u, of which it landed: %u",
	         lost_inflight, landed);
	tap_diag("commit time seen by the parent: %.0f us + %.2f us per change", base_us,
	         per_change_us);
	ok(L > 0, "the writer made progress across the rounds");

	if (!tap_failed_) {
		char cmd[8400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", base);
	} else {
		tap_diag("journal kept for inspection: %s", jdir);
	}
	return tap_done();
}
