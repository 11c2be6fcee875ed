/*
 * engine/load.c - the offline load (load.h).
 *
 * The main thread plans, checks and creates every target table before any
 * data moves (so a refusal leaves the target untouched), then starts the
 * jobs: each has its own source and target connection and takes the next
 * table, largest first.  The main thread meanwhile reports progress and,
 * when the jobs are done, adds foreign keys.
 */
#include "engine/load.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/registry.h"
#include "engine/state.h"

typedef struct load_table {
	uint32_t index; /* in the transform */
	const ferry_table *src;
	const ferry_table *dst;
	atomic_llong read, loaded, rejected, filtered;
	atomic_int state;
	double started, seconds;
} load_table;

typedef struct loader {
	const ferry_load_options *o;
	ferry_uri src_uri, dst_uri;
	const ferry_source_ops *sops;
	const ferry_target_ops *tops;
	const ferry_transform_ops *xops;
	ferry_schema schema;
	ferry_transform *xf;
	ferry_state *state;
	int64_t run;
	load_table *tables;
	uint32_t ntables;
	atomic_uint next;       /* next table to take, in the tables[] order */
	atomic_int failed;      /* a job failed: the others stop */
	pthread_mutex_t lock;   /* guards running, first_error */
	pthread_cond_t done;
	int running;
	ferry_error first_error;
	double t0;
} loader;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps the first failure of any job; the others stop at their next row. */
static void record_failure(loader *L, ferry_error *err)
{
	pthread_mutex_lock(&L->lock);
	if (L->first_error.code == FERRY_OK) {
		L->first_error = *err;
		*err = (ferry_error)FERRY_ERROR_INIT;
	}
	pthread_mutex_unlock(&L->lock);
	atomic_store(&L->failed, 1);
}

static int handle_reject(loader *L, load_table *lt, const ferry_row *row,
                         int64_t n, const ferry_reject *rej, ferry_error *err)
{
	ferry_buf key = FERRY_BUF_INIT, value = FERRY_BUF_INIT;
	ferry_row_key_format(lt->src, row, n, &key);
	ferry_value_format(&rej->value, &value, 1000);
	int rc = 0;
	if (ferry_buf_failed(&key) || ferry_buf_failed(&value))
		rc = ferry_error_oom(err);
	else if (L->o->stop_on_reject)
		rc = ferry_error_set(err, FERRY_EREJECT,
		                     "table \"%s\", %s, column \"%s\": %s (stopped: "
		                     "--on-error stop)",
		                     lt->src->name, ferry_buf_cstr(&key), rej->column,
		                     rej->reason);
	if (rc == 0)
		rc = ferry_state_add_reject(L->state, L->run, lt->src->name,
		                            ferry_buf_cstr(&key), rej->column,
		                            ferry_buf_cstr(&value), rej->reason, err);
	ferry_buf_free(&key);
	ferry_buf_free(&value);
	return rc;
}

/* Streams one table's rows through the mapper into the open copy. */
static int copy_rows(loader *L, load_table *lt, ferry_scan *scan,
                     ferry_mapper *m, ferry_target *dst, ferry_error *err)
{
	ferry_row srow = FERRY_ROW_INIT, drow = FERRY_ROW_INIT;
	ferry_reject rej;
	int rc;
	int64_t n = 0;
	while ((rc = L->sops->scan_next(scan, &srow, err)) == 1) {
		n++;
		if ((n & 1023) == 0 && atomic_load(&L->failed)) {
			rc = ferry_error_set(err, FERRY_ERROR, "stopped: another job failed");
			break;
		}
		rc = L->xops->map(m, &srow, &drow, &rej, err);
		if (rc == 1) {
			rc = L->tops->copy_row(dst, &drow, err);
			atomic_fetch_add(&lt->loaded, 1);
		} else if (rc == 0) {
			atomic_fetch_add(&lt->filtered, 1);
		} else if (rc == FERRY_EREJECT) {
			atomic_fetch_add(&lt->rejected, 1);
			rc = handle_reject(L, lt, &srow, n, &rej, err);
		}
		atomic_fetch_add(&lt->read, 1);
		if (rc < 0)
			break;
	}
	ferry_row_free(&srow);
	ferry_row_free(&drow);
	return rc < 0 ? rc : 0;
}

static void save_table(loader *L, load_table *lt, const char *status)
{
	ferry_error ignored = FERRY_ERROR_INIT;
	ferry_state_table(L->state, L->run, lt->src->name, lt->dst->name,
	                  lt->src->row_count, atomic_load(&lt->loaded),
	                  atomic_load(&lt->rejected), status, &ignored);
	ferry_error_clear(&ignored);
}

static int load_table_data(loader *L, load_table *lt, ferry_source *src,
                           ferry_target *dst, ferry_error *err)
{
	ferry_mapper *m = NULL;
	ferry_scan *scan = NULL;
	bool copying = false;
	lt->started = now();
	atomic_store(&lt->state, FERRY_LOAD_COPYING);
	int rc = L->xops->mapper_open(&m, L->xf, lt->index, err);
	if (rc == 0)
		rc = L->sops->scan_open(src, lt->src, &scan, err);
	if (rc == 0 && (rc = L->tops->copy_begin(dst, lt->dst, err)) == 0)
		copying = true;
	if (rc == 0)
		rc = copy_rows(L, lt, scan, m, dst, err);
	int64_t rows = 0;
	if (rc == 0) {
		copying = false;
		rc = L->tops->copy_end(dst, &rows, err);
	}
	if (copying)
		L->tops->copy_abort(dst);
	L->sops->scan_close(scan);
	L->xops->mapper_close(m);
	if (rc == 0 && rows != atomic_load(&lt->loaded))
		rc = ferry_error_set(err, FERRY_ERROR,
		                     "table \"%s\": the target took %lld rows, ferry "
		                     "sent %lld", lt->dst->name, (long long)rows,
		                     (long long)atomic_load(&lt->loaded));
	if (rc == 0) {
		atomic_store(&lt->state, FERRY_LOAD_INDEXING);
		rc = L->tops->finish_table(dst, lt->dst, err);
	}
	lt->seconds = now() - lt->started;
	atomic_store(&lt->state, rc == 0 ? FERRY_LOAD_DONE : FERRY_LOAD_FAILED);
	save_table(L, lt, rc == 0 ? "loaded" : "failed");
	if (rc < 0)
		ferry_error_prefix(err, "table \"%s\"", lt->src->name);
	return rc;
}

static void *job_main(void *arg)
{
	loader *L = arg;
	ferry_source *src = NULL;
	ferry_target *dst = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = L->sops->open(&src, &L->src_uri, &err);
	if (rc == 0)
		rc = L->tops->open(&dst, &L->dst_uri, &err);
	unsigned i;
	while (rc == 0 && !atomic_load(&L->failed) &&
	       (i = atomic_fetch_add(&L->next, 1)) < L->ntables)
		rc = load_table_data(L, &L->tables[i], src, dst, &err);
	if (rc < 0)
		record_failure(L, &err);
	L->tops->close(dst);
	L->sops->close(src);
	ferry_error_clear(&err);
	pthread_mutex_lock(&L->lock);
	L->running--;
	pthread_cond_broadcast(&L->done);
	pthread_mutex_unlock(&L->lock);
	return NULL;
}

/* Copies the live counters into status (whose arrays the caller owns). */
static void snapshot(loader *L, ferry_load_status *s)
{
	s->ntables = L->ntables;
	s->elapsed = now() - L->t0;
	for (uint32_t i = 0; i < L->ntables; i++) {
		load_table *lt = &L->tables[i];
		ferry_load_table_status *ts = &s->tables[i];
		ts->source = lt->src->name;
		ts->target = lt->dst->name;
		ts->rows_total = lt->src->row_count;
		ts->rows_read = atomic_load(&lt->read);
		ts->rows_loaded = atomic_load(&lt->loaded);
		ts->rows_rejected = atomic_load(&lt->rejected);
		ts->rows_filtered = atomic_load(&lt->filtered);
		ts->state = (ferry_load_table_state)atomic_load(&lt->state);
		ts->seconds = ts->state >= FERRY_LOAD_DONE ? lt->seconds
		              : ts->state == FERRY_LOAD_WAITING ? 0
		                                                : now() - lt->started;
	}
}

/* Waits for the jobs, calling the progress callback every interval. */
static void wait_for_jobs(loader *L, ferry_load_status *s)
{
	double interval = L->o->progress_interval > 0 ? L->o->progress_interval : 1;
	pthread_mutex_lock(&L->lock);
	while (L->running > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		long ns = until.tv_nsec + (long)((interval - (long)interval) * 1e9);
		until.tv_sec += (time_t)interval + ns / 1000000000L;
		until.tv_nsec = ns % 1000000000L;
		pthread_cond_timedwait(&L->done, &L->lock, &until);
		if (L->running > 0 && L->o->progress) {
			pthread_mutex_unlock(&L->lock);
			snapshot(L, s);
			L->o->progress(L->o->progress_ctx, s);
			pthread_mutex_lock(&L->lock);
		}
	}
	pthread_mutex_unlock(&L->lock);
}

static int run_jobs(loader *L, int jobs, ferry_load_status *s, ferry_error *err)
{
	pthread_t *threads = ferry_calloc((size_t)jobs, sizeof *threads);
	if (!threads)
		return ferry_error_oom(err);
	L->t0 = now();
	int started = 0;
	pthread_mutex_lock(&L->lock);
	for (; started < jobs; started++) {
		if (pthread_create(&threads[started], NULL, job_main, L) != 0)
			break;
		L->running++;
	}
	pthread_mutex_unlock(&L->lock);
	if (started == 0) {
		ferry_free(threads);
		return ferry_error_set(err, FERRY_ERROR, "could not start a load job");
	}
	wait_for_jobs(L, s);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	ferry_free(threads);
	if (atomic_load(&L->failed)) {
		int code = L->first_error.code;
		ferry_error_set(err, code, "%s", ferry_error_message(&L->first_error));
		return code;
	}
	return 0;
}

static int add_warning(ferry_load_result *r, const char *text)
{
	char **grown = ferry_realloc(r->warnings, (r->nwarnings + 1) * sizeof *grown);
	if (!grown)
		return FERRY_ENOMEM;
	r->warnings = grown;
	grown[r->nwarnings] = ferry_strdup(text);
	return grown[r->nwarnings++] ? 0 : FERRY_ENOMEM;
}

/* Foreign keys come last, once every referenced table has its keys; a
 * key the existing rows violate is left NOT VALID and reported. */
static int add_foreign_keys(loader *L, ferry_target *dst, ferry_load_result *r,
                            ferry_error *err)
{
	for (uint32_t i = 0; i < L->ntables; i++) {
		if (L->tables[i].dst->nfkeys == 0)
			continue;
		ferry_error why = FERRY_ERROR_INIT;
		int rc = L->tops->add_foreign_keys(dst, L->tables[i].dst, &why);
		if (rc == FERRY_EREJECT)
			rc = add_warning(r, ferry_error_message(&why));
		else if (rc < 0)
			ferry_error_set(err, rc, "%s", ferry_error_message(&why));
		ferry_error_clear(&why);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Every table checked before any is touched, then every table created. */
static int prepare_target(loader *L, ferry_target *dst, ferry_error *err)
{
	for (uint32_t i = 0; i < L->ntables; i++) {
		int rc = L->tops->check_table(dst, L->tables[i].dst, L->o->existing, err);
		if (rc < 0)
			return rc;
	}
	for (uint32_t i = 0; i < L->ntables; i++) {
		int rc =
		    L->tops->prepare_table(dst, L->tables[i].dst, L->o->existing, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int compare_size(const void *a, const void *b)
{
	int64_t x = ((const load_table *)a)->src->row_count;
	int64_t y = ((const load_table *)b)->src->row_count;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int make_tables(loader *L, ferry_error *err)
{
	L->ntables = L->xops->table_count(L->xf);
	L->tables = ferry_calloc(L->ntables ? L->ntables : 1, sizeof *L->tables);
	if (!L->tables)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < L->ntables; i++) {
		L->tables[i].index = i;
		L->tables[i].src = L->xops->source_table(L->xf, i);
		L->tables[i].dst = L->xops->target_table(L->xf, i);
	}
	/* largest first, so one big table does not start last */
	qsort(L->tables, L->ntables, sizeof *L->tables, compare_size);
	return 0;
}

/* Loading an SQLite file into itself (under another name or link) with
 * --drop would destroy the source before reading it. */
static int refuse_same_file(const loader *L, ferry_error *err)
{
	struct stat a, b;
	if (L->src_uri.kind != FERRY_URI_SQLITE ||
	    L->dst_uri.kind != FERRY_URI_SQLITE ||
	    stat(L->src_uri.path, &a) != 0 || stat(L->dst_uri.path, &b) != 0)
		return 0;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "source and target are the same database "
		                       "\"%s\": load into another file",
		                       L->dst_uri.redacted);
	return 0;
}

static int find_ops(loader *L, ferry_error *err)
{
	int rc = ferry_uri_parse(&L->src_uri, L->o->source, err);
	if (rc == 0)
		rc = ferry_uri_parse(&L->dst_uri, L->o->target, err);
	if (rc < 0)
		return rc;
	L->sops = ferry_source_for(L->src_uri.kind);
	L->tops = ferry_target_for(L->dst_uri.kind);
	L->xops = ferry_default_transform();
	if (!L->sops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot read %s databases yet: this version "
		                       "loads from SQLite",
		                       ferry_uri_kind_name(L->src_uri.kind));
	if (!L->tops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "cannot write %s databases: targets are "
		                       "PostgreSQL and SQLite",
		                       ferry_uri_kind_name(L->dst_uri.kind));
	return refuse_same_file(L, err);
}

static int plan_load(loader *L, ferry_load_result *r, ferry_error *err)
{
	ferry_source *src = NULL;
	int rc = L->sops->open(&src, &L->src_uri, err);
	if (rc == 0)
		rc = L->sops->introspect(src, &L->schema, err);
	L->sops->close(src);
	if (rc < 0)
		return rc;
	ferry_dialect dialect = L->dst_uri.kind == FERRY_URI_SQLITE
	                            ? FERRY_DIALECT_SQLITE
	                            : FERRY_DIALECT_POSTGRESQL;
	rc = L->xops->build(&L->xf, &L->schema, L->o->spec_path, dialect, err);
	for (uint32_t i = 0; rc == 0 && i < L->xops->warning_count(L->xf); i++)
		if (add_warning(r, L->xops->warning(L->xf, i)) < 0)
			rc = ferry_error_oom(err);
	if (rc == 0)
		rc = make_tables(L, err);
	return rc;
}

/* SQLite takes one writer at a time: more jobs would only wait. */
static int job_count(const loader *L)
{
	int jobs = L->o->jobs;
	if (jobs <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = cores > 0 ? (int)cores : 1;
	}
	if (L->dst_uri.kind == FERRY_URI_SQLITE)
		jobs = 1;
	if ((uint32_t)jobs > L->ntables)
		jobs = L->ntables ? (int)L->ntables : 1;
	return jobs;
}

static int copy_everything(loader *L, ferry_load_result *r, ferry_error *err)
{
	ferry_target *dst = NULL;
	int rc = ferry_state_open(&L->state, L->o->dir, err);
	if (rc == 0)
		rc = ferry_state_begin_run(L->state, "load", L->o->command_line,
		                           &L->run, err);
	if (rc == 0)
		rc = L->tops->open(&dst, &L->dst_uri, err);
	if (rc == 0)
		rc = prepare_target(L, dst, err);
	r->jobs = job_count(L);
	if (rc == 0 && L->ntables > 0)
		rc = run_jobs(L, r->jobs, &r->status, err);
	if (rc == 0)
		rc = add_foreign_keys(L, dst, r, err);
	L->tops->close(dst);
	snapshot(L, &r->status);
	for (uint32_t i = 0; i < L->ntables; i++) {
		r->rows_loaded += r->status.tables[i].rows_loaded;
		r->rows_rejected += r->status.tables[i].rows_rejected;
	}
	if (rc == 0 && L->o->rejects_csv) {
		int64_t written;
		rc = ferry_state_rejects_csv(L->state, L->run, L->o->rejects_csv,
		                             &written, err);
	}
	if (L->state) {
		ferry_error ignored = FERRY_ERROR_INIT;
		ferry_state_end_run(L->state, L->run,
		                    rc < 0 ? 1 : r->rows_rejected ? 4 : 0, &ignored);
		ferry_error_clear(&ignored);
	}
	return rc;
}

/* Gives the final status its own copies of the table names. */
static int own_names(ferry_load_status *s)
{
	int rc = 0;
	for (uint32_t i = 0; i < s->ntables; i++) {
		ferry_load_table_status *ts = &s->tables[i];
		ts->source = ts->source ? ferry_strdup(ts->source) : NULL;
		ts->target = ts->target ? ferry_strdup(ts->target) : NULL;
		if (!ts->source || !ts->target)
			rc = FERRY_ENOMEM;
	}
	return rc;
}

int ferry_load_run(const ferry_load_options *opts, ferry_load_result *out,
                   ferry_error *err)
{
	memset(out, 0, sizeof *out);
	loader L;
	memset(&L, 0, sizeof L);
	L.o = opts;
	pthread_mutex_init(&L.lock, NULL);
	pthread_cond_init(&L.done, NULL);
	int rc = find_ops(&L, err);
	if (rc == 0)
		rc = plan_load(&L, out, err);
	if (rc == 0) {
		out->status.tables = ferry_calloc(L.ntables ? L.ntables : 1,
		                                  sizeof *out->status.tables);
		if (!out->status.tables)
			rc = ferry_error_oom(err);
	}
	if (rc == 0 && opts->dry_run) {
		ferry_buf text = FERRY_BUF_INIT;
		L.xops->describe(L.xf, &text);
		out->plan_text = ferry_buf_detach(&text, NULL);
		snapshot(&L, &out->status);
		if (!out->plan_text)
			rc = ferry_error_oom(err);
	} else if (rc == 0) {
		rc = copy_everything(&L, out, err);
	}
	/* the status names point into the schema and plan, freed below */
	if (out->status.tables && own_names(&out->status) < 0 && rc == 0)
		rc = ferry_error_oom(err);
	if (L.xf)
		L.xops->free(L.xf);
	ferry_state_close(L.state);
	ferry_schema_free(&L.schema);
	ferry_uri_free(&L.src_uri);
	ferry_uri_free(&L.dst_uri);
	ferry_free(L.tables);
	ferry_error_clear(&L.first_error);
	pthread_mutex_destroy(&L.lock);
	pthread_cond_destroy(&L.done);
	return rc;
}

void ferry_load_result_free(ferry_load_result *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nwarnings; i++)
		ferry_free(r->warnings[i]);
	ferry_free(r->warnings);
	for (uint32_t i = 0; r->status.tables && i < r->status.ntables; i++) {
		ferry_free((char *)r->status.tables[i].source);
		ferry_free((char *)r->status.tables[i].target);
	}
	ferry_free(r->status.tables);
	ferry_free(r->plan_text);
	memset(r, 0, sizeof *r);
}
