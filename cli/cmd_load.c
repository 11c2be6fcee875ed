/*
 * cli/cmd_load.c - `ferry load SOURCE TARGET`: options in, engine/load
 * does the work, progress and the summary out.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/load.h"
#include "engine/uri.h"

typedef struct progress_ctx {
	bool tty;
	int last_len;
} progress_ctx;

static void progress_tty(progress_ctx *p, const ferry_load_status *s)
{
	char line[512], a[16], b[16];
	int n = 0, done = 0;
	for (uint32_t i = 0; i < s->ntables; i++)
		done += s->tables[i].state >= FERRY_LOAD_DONE;
	n += snprintf(line + n, sizeof line - (size_t)n, "[%d/%u tables]", done,
	              s->ntables);
	for (uint32_t i = 0; i < s->ntables && n < (int)sizeof line - 80; i++) {
		const ferry_load_table_status *t = &s->tables[i];
		if (t->state != FERRY_LOAD_COPYING && t->state != FERRY_LOAD_INDEXING)
			continue;
		double rate = t->seconds > 0 ? (double)t->rows_read / t->seconds : 0;
		if (t->state == FERRY_LOAD_INDEXING) {
			n += snprintf(line + n, sizeof line - (size_t)n, "  %s: indexing",
			              t->target);
			continue;
		}
		n += snprintf(line + n, sizeof line - (size_t)n, "  %s %s/%s %s rows/s",
		              t->target, cli_human_count((double)t->rows_read, a, sizeof a),
		              t->rows_total >= 0
		                  ? cli_human_count((double)t->rows_total, b, sizeof b)
		                  : "?",
		              cli_human_count(rate, b, sizeof b));
		if (rate > 0 && t->rows_total > t->rows_read)
			n += snprintf(line + n, sizeof line - (size_t)n, " ETA %.0fs",
			              (double)(t->rows_total - t->rows_read) / rate);
	}
	fprintf(stderr, "\r%-*s", p->last_len, line);
	p->last_len = n;
	fflush(stderr);
}

static void progress_lines(const ferry_load_status *s)
{
	for (uint32_t i = 0; i < s->ntables; i++) {
		const ferry_load_table_status *t = &s->tables[i];
		if (t->state != FERRY_LOAD_COPYING)
			continue;
		double rate = t->seconds > 0 ? (double)t->rows_read / t->seconds : 0;
		fprintf(stderr, "ferry: %s: %lld of %lld rows, %.0f rows/s\n", t->target,
		        (long long)t->rows_read, (long long)t->rows_total, rate);
	}
}

static void on_progress(void *ctx, const ferry_load_status *s)
{
	progress_ctx *p = ctx;
	if (p->tty)
		progress_tty(p, s);
	else
		progress_lines(s);
}

static void print_summary(const ferry_load_result *r)
{
	const ferry_load_status *s = &r->status;
	printf("%-24s %-24s %12s %9s %9s %8s %10s\n", "table", "target", "rows",
	       "rejected", "filtered", "seconds", "rows/s");
	for (uint32_t i = 0; i < s->ntables; i++) {
		const ferry_load_table_status *t = &s->tables[i];
		printf("%-24s %-24s %12lld %9lld %9lld %8.2f %10.0f\n", t->source,
		       t->target, (long long)t->rows_loaded, (long long)t->rows_rejected,
		       (long long)t->rows_filtered, t->seconds,
		       t->seconds > 0 ? (double)t->rows_read / t->seconds : 0.0);
	}
	printf("loaded %lld rows into %u tables in %.2f s with %d job%s",
	       (long long)r->rows_loaded, s->ntables, s->elapsed, r->jobs,
	       r->jobs == 1 ? "" : "s");
	if (r->rows_rejected)
		printf("; %lld rows rejected", (long long)r->rows_rejected);
	printf("\n");
}

static void print_json(const ferry_load_result *r, int exit_code)
{
	const ferry_load_status *s = &r->status;
	printf("{\"tables\":[");
	for (uint32_t i = 0; i < s->ntables; i++) {
		const ferry_load_table_status *t = &s->tables[i];
		printf("%s{\"source\":", i ? "," : "");
		cli_json_string(stdout, t->source);
		printf(",\"target\":");
		cli_json_string(stdout, t->target);
		printf(",\"rows_total\":%lld,\"rows_loaded\":%lld,\"rows_rejected\":%lld,"
		       "\"rows_filtered\":%lld,\"seconds\":%.3f}",
		       (long long)t->rows_total, (long long)t->rows_loaded,
		       (long long)t->rows_rejected, (long long)t->rows_filtered,
		       t->seconds);
	}
	printf("],\"rows_loaded\":%lld,\"rows_rejected\":%lld,\"seconds\":%.3f,"
	       "\"jobs\":%d,\"exit_code\":%d,\"warnings\":[",
	       (long long)r->rows_loaded, (long long)r->rows_rejected, s->elapsed,
	       r->jobs, exit_code);
	for (uint32_t i = 0; i < r->nwarnings; i++) {
		printf("%s", i ? "," : "");
		cli_json_string(stdout, r->warnings[i]);
	}
	printf("]}\n");
}

/* The command as recorded in ferry.db: URIs redacted, options as given. */
static char *command_line(const cli_command *cmd, const cli_args *args)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "ferry load");
	for (int i = 0; i < args->noperands; i++) {
		char *r = ferry_uri_redact(args->operands[i]);
		ferry_buf_printf(&b, " %s", r ? r : "***");
		ferry_free(r);
	}
	for (int i = 0; cmd->options[i].name; i++) {
		const char *v = args->option_values[i];
		if (v)
			ferry_buf_printf(&b, " --%s%s%s", cmd->options[i].name,
			                 *v ? " " : "", v);
	}
	return ferry_buf_detach(&b, NULL);
}

/* Option values that make no sense are usage errors (exit 2). */
static int read_options(const cli_command *cmd, const cli_args *args,
                        ferry_load_options *o)
{
	const char *jobs = cli_option_value(cmd, args, "jobs");
	const char *on_error = cli_option_value(cmd, args, "on-error");
	bool truncate = cli_option_value(cmd, args, "truncate") != NULL;
	bool drop = cli_option_value(cmd, args, "drop") != NULL;
	if (jobs) {
		char *end;
		long n = strtol(jobs, &end, 10);
		if (*end || n < 1 || n > 256) {
			cli_error("--jobs must be a number from 1 to 256, not '%s'\n"
			          "Try 'ferry load --help'.", jobs);
			return FERRY_EXIT_USAGE;
		}
		o->jobs = (int)n;
	}
	if (on_error && strcmp(on_error, "stop") != 0 &&
	    strcmp(on_error, "continue") != 0) {
		cli_error("--on-error takes 'stop' or 'continue', not '%s'\n"
		          "Try 'ferry load --help'.", on_error);
		return FERRY_EXIT_USAGE;
	}
	if (truncate && drop) {
		cli_error("--truncate and --drop exclude each other\n"
		          "Try 'ferry load --help'.");
		return FERRY_EXIT_USAGE;
	}
	o->stop_on_reject = on_error && strcmp(on_error, "stop") == 0;
	o->existing = drop       ? FERRY_EXISTING_DROP
	              : truncate ? FERRY_EXISTING_TRUNCATE
	                         : FERRY_EXISTING_REFUSE;
	o->spec_path = cli_option_value(cmd, args, "spec");
	o->rejects_csv = cli_option_value(cmd, args, "rejects");
	o->dry_run = cli_option_value(cmd, args, "dry-run") != NULL;
	return 0;
}

int cli_cmd_load(const cli_command *cmd, cli_args *args)
{
	ferry_load_options o;
	memset(&o, 0, sizeof o);
	int rc = read_options(cmd, args, &o);
	if (rc)
		return rc;
	o.source = args->operands[0];
	o.target = args->operands[1];
	o.dir = args->dir;
	progress_ctx pctx = {isatty(STDERR_FILENO), 0};
	if (!args->quiet && !args->json) {
		o.progress = on_progress;
		o.progress_ctx = &pctx;
		o.progress_interval = pctx.tty ? 0.5 : 5.0;
	}
	char *line = command_line(cmd, args);
	o.command_line = line;
	ferry_load_result r;
	ferry_error err = FERRY_ERROR_INIT;
	rc = ferry_load_run(&o, &r, &err);
	if (pctx.last_len)
		fprintf(stderr, "\r%*s\r", pctx.last_len, "");
	int exit_code = rc < 0 ? FERRY_EXIT_FAILURE
	                : r.rows_rejected ? FERRY_EXIT_REJECTS
	                                  : FERRY_EXIT_OK;
	if (rc < 0)
		cli_error("%s", ferry_error_message(&err));
	else if (o.dry_run)
		fputs(r.plan_text, stdout);
	else if (args->json)
		print_json(&r, exit_code);
	else if (!args->quiet)
		print_summary(&r);
	for (uint32_t i = 0; rc == 0 && !args->quiet && i < r.nwarnings; i++)
		fprintf(stderr, "ferry: warning: %s\n", r.warnings[i]);
	if (rc == 0 && r.rows_rejected && !args->quiet && !o.dry_run)
		fprintf(stderr,
		        "ferry: %lld rows rejected: see the rejects table of %s/ferry.db%s%s\n",
		        (long long)r.rows_rejected, o.dir,
		        o.rejects_csv ? " or " : "", o.rejects_csv ? o.rejects_csv : "");
	ferry_load_result_free(&r);
	ferry_error_clear(&err);
	ferry_free(line);
	return exit_code;
}
