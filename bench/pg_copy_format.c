/*
 * bench/pg_copy_format.c - times engine/pg_target.c loading the same rows
 * with COPY text and COPY binary, to choose FERRY_PG_COPY_FORMAT's default
 * (docs/postgresql-target.md records the results).
 *
 * The table is shaped like a typical application table: (id bigint, name
 * text, email text, created_at timestamp, balance numeric(12,2), score
 * double precision, bio text of ~100 characters, active boolean).  Values
 * come from small pools built up front so the timing is the writer's and
 * the server's, not the generator's.  Each run is prepare (drop and
 * create) + copy + commit; runs alternate formats to even out caching.
 *
 *   pg_copy_format [conninfo [rows [runs]]]   (conninfo: $FERRY_TEST_PG)
 *
 * The table, ferry_bench_copy, is dropped at the end.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/pg_target.h"

#define POOL 4096

static char names[POOL][32], emails[POOL][48], balances[POOL][16];
static char bios[POOL][128];
static double scores[POOL];

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void build_pools(void)
{
	static const char *const words[] = {
	    "lorem",       "ipsum",      "dolor",      "sit",   "amet",
	    "consectetur", "adipiscing", "elit",       "sed",   "do",
	    "eiusmod",     "tempor",     "incididunt", "labore"};
	for (int i = 0; i < POOL; i++) {
		uint64_t r = next_random();
		snprintf(names[i], sizeof names[i], "User %05u",
		         (unsigned)(r % 100000));
		snprintf(emails[i], sizeof emails[i], "user%u@example.com",
		         (unsigned)(r % 1000000));
		snprintf(balances[i], sizeof balances[i], "%u.%02u",
		         (unsigned)(r % 10000000), (unsigned)(r >> 32) % 100);
		/* full-precision doubles, as computed REAL values are */
		scores[i] =
		    (double)(next_random() >> 11) / (double)(1ull << 53) * 100;
		size_t n = 0;
		while (n < 96) {
			const char *w = words[next_random() % 14];
			n += (size_t)snprintf(bios[i] + n, sizeof bios[i] - n,
			                      "%s ", w);
		}
		bios[i][n - 1] = '\0';
	}
}

static void add(ferry_table *t, const char *name, const char *type)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(type);
	ferry_sqltype_parse(&c->type, type, NULL);
}

static void fill(ferry_row *row, int64_t i)
{
	static const int64_t base = INT64_C(1577836800000000); /* 2020-01-01 */
	int k = (int)(i % POOL);
	ferry_value *v = row->values;
	v[0] = ferry_value_int(i + 1);
	v[1] = ferry_value_bytes(FERRY_TEXT, names[k], strlen(names[k]));
	v[2] = ferry_value_bytes(FERRY_TEXT, emails[k], strlen(emails[k]));
	v[3] = ferry_value_timestamp(FERRY_TIMESTAMP,
	                             base + i * 37000000 + i * 7919 % 1000000);
	v[4] =
	    ferry_value_bytes(FERRY_NUMERIC, balances[k], strlen(balances[k]));
	v[5] = ferry_value_float(scores[(k * 7) % POOL]);
	v[6] = ferry_value_bytes(FERRY_TEXT, bios[k], strlen(bios[k]));
	v[7] = ferry_value_bool(i % 3 != 0);
}

static double now(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One load; returns wall seconds (and client CPU seconds), -1 on error. */
static double run(const ferry_uri *uri, const ferry_table *t, int64_t rows,
                  const char *format, double *cpu)
{
	const ferry_target_ops *ops = &ferry_pg_target_ops;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *tgt = NULL;
	ferry_row row = FERRY_ROW_INIT;
	int64_t stored = 0;
	setenv("FERRY_PG_COPY_FORMAT", format, 1);
	int rc = ops->open(&tgt, uri, &err);
	if (rc == 0)
		rc = ferry_row_resize(&row, t->ncolumns, &err);
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	if (rc == 0)
		rc = ops->prepare_table(tgt, t, FERRY_EXISTING_DROP, &err);
	if (rc == 0)
		rc = ops->copy_begin(tgt, t, &err);
	for (int64_t i = 0; rc == 0 && i < rows; i++) {
		fill(&row, i);
		rc = ops->copy_row(tgt, &row, &err);
	}
	if (rc == 0)
		rc = ops->copy_end(tgt, &stored, &err);
	double wall = now(CLOCK_MONOTONIC) - w0;
	*cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (rc < 0)
		fprintf(stderr, "pg_copy_format: %s\n",
		        ferry_error_message(&err));
	ferry_error_clear(&err);
	ferry_row_free(&row);
	ops->close(tgt);
	return rc < 0 || stored != rows ? -1 : wall;
}

int main(int argc, char **argv)
{
	const char *info = argc > 1 ? argv[1] : getenv("FERRY_TEST_PG");
	int64_t rows = argc > 2 ? atoll(argv[2]) : 1000000;
	int runs = argc > 3 ? atoi(argv[3]) : 3;
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	if (!info || ferry_uri_parse(&uri, info, &err) < 0) {
		fprintf(stderr,
		        "usage: pg_copy_format [conninfo [rows [runs]]] %s\n",
		        ferry_error_message(&err));
		return 2;
	}
	build_pools();
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = ferry_schema_add_table(&s);
	t->name = ferry_strdup("ferry_bench_copy");
	add(t, "id", "bigint");
	add(t, "name", "text");
	add(t, "email", "text");
	add(t, "created_at", "timestamp");
	add(t, "balance", "numeric(12,2)");
	add(t, "score", "double precision");
	add(t, "bio", "text");
	add(t, "active", "boolean");
	static const char *const formats[] = {"text", "binary"};
	int status = 0;
	for (int r = 0; r < runs; r++)
		for (int f = 0; f < 2; f++) {
			double cpu, wall = run(&uri, t, rows, formats[f], &cpu);
			if (wall < 0) {
				status = 1;
				continue;
			}
			printf("%-6s run %d: %lld rows in %.3f s wall "
			       "(%.0f rows/s), client cpu %.3f s\n",
			       formats[f], r + 1, (long long)rows, wall,
			       (double)rows / wall, cpu);
			fflush(stdout);
		}
	PGconn *conn = PQconnectdb(uri.conninfo);
	PQclear(PQexec(conn, "DROP TABLE IF EXISTS ferry_bench_copy"));
	PQfinish(conn);
	ferry_schema_free(&s);
	ferry_uri_free(&uri);
	return status;
}
