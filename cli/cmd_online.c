/*
 * cli/cmd_online.c - the online migration commands: init, sync, capture,
 * replay, status, clean.  engine/online does the work.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "engine/buf.h"
#include "engine/online.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1; /* the passes stop at their next boundary */
}

static void catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int fail(ferry_error *err)
{
	cli_error("%s", ferry_error_message(err));
	ferry_error_clear(err);
	return FERRY_EXIT_FAILURE;
}

int cli_cmd_init(const cli_command *cmd, cli_args *args)
{
	ferry_buf report = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_online_init(args->dir, args->operands[0], args->operands[1],
	                           cli_option_value(cmd, args, "spec"), &report,
	                           &err);
	if (rc == 0 && !args->quiet)
		fputs(ferry_buf_cstr(&report) ? ferry_buf_cstr(&report) : "", stdout);
	ferry_buf_free(&report);
	return rc < 0 ? fail(&err) : FERRY_EXIT_OK;
}

static void print_counts(const cli_args *args, const char *what,
                         const ferry_online_counts *c)
{
	if (args->quiet)
		return;
	if (args->json) {
		printf("{\"snapshot_rows\":%lld,\"captured\":%lld,\"applied\":%lld,"
		       "\"rejected\":%lld,\"filtered\":%lld}\n",
		       (long long)c->snapshot_rows, (long long)c->captured,
		       (long long)c->applied, (long long)c->rejected,
		       (long long)c->filtered);
		return;
	}
	printf("%s:", what);
	if (c->snapshot_rows)
		printf(" snapshot %lld rows,", (long long)c->snapshot_rows);
	printf(" %lld changes captured, %lld applied", (long long)c->captured,
	       (long long)c->applied);
	if (c->filtered)
		printf(", %lld filtered out", (long long)c->filtered);
	if (c->rejected)
		printf(", %lld rejected", (long long)c->rejected);
	printf("\n");
}

static void log_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "ferry: %s\n", line);
}

typedef int (*online_fn)(const ferry_online_options *, ferry_online_counts *,
                         ferry_error *);

static int run_online(const cli_command *cmd, cli_args *args, online_fn fn)
{
	ferry_online_options o = {0};
	ferry_online_counts c = {0};
	ferry_error err = FERRY_ERROR_INIT;
	o.dir = args->dir;
	o.follow = cli_option_value(cmd, args, "follow") != NULL;
	o.stop = &stop_requested;
	o.log = log_line;
	const char *chunk = strcmp(cmd->name, "sync") == 0
	                        ? cli_option_value(cmd, args, "chunk-rows")
	                        : NULL;
	if (chunk) {
		char *end;
		long long n = strtoll(chunk, &end, 10);
		if (*end || n < 1 || n > 1000000000) {
			cli_error("--chunk-rows must be a number from 1 to "
			          "1000000000, not '%s'\nTry 'ferry sync --help'.",
			          chunk);
			return FERRY_EXIT_USAGE;
		}
		o.snapshot_chunk_rows = n;
	}
	catch_stop_signals();
	int rc = fn(&o, &c, &err);
	print_counts(args, cmd->name, &c);
	if (rc < 0)
		return fail(&err);
	return c.rejected ? FERRY_EXIT_REJECTS : FERRY_EXIT_OK;
}

int cli_cmd_sync(const cli_command *cmd, cli_args *args)
{
	return run_online(cmd, args, ferry_online_sync);
}

int cli_cmd_capture(const cli_command *cmd, cli_args *args)
{
	return run_online(cmd, args, ferry_online_capture);
}

int cli_cmd_replay(const cli_command *cmd, cli_args *args)
{
	return run_online(cmd, args, ferry_online_replay);
}

/* A number of seconds for option name, or -1 after saying why not. */
static double seconds_option(const cli_command *cmd, cli_args *args,
                             const char *name, double fallback)
{
	const char *text = cli_option_value(cmd, args, name);
	if (!text)
		return fallback;
	char *end;
	double v = strtod(text, &end);
	if (*end || end == text || !(v >= 0) || v > 1e9) {
		cli_error("--%s must be a number of seconds, not '%s'\nTry 'ferry "
		          "%s --help'.", name, text, cmd->name);
		return -1;
	}
	return v;
}

typedef int (*end_fn)(const ferry_online_options *o,
                      const ferry_cutover_options *co,
                      ferry_online_counts *c, ferry_error *err);

/* cutover and rollback: the same options, the same output. */
static int run_end(const cli_command *cmd, cli_args *args, end_fn fn)
{
	ferry_online_options o = {0};
	ferry_cutover_options co = {0};
	ferry_online_counts c = {0};
	ferry_error err = FERRY_ERROR_INIT;
	o.dir = args->dir;
	o.stop = &stop_requested;
	o.log = log_line;
	co.max_lag_s = seconds_option(cmd, args, "max-lag", 5);
	co.timeout_s = seconds_option(cmd, args, "timeout", 0);
	if (co.max_lag_s < 0 || co.timeout_s < 0)
		return FERRY_EXIT_USAGE;
	co.hook = cli_option_value(cmd, args, "hook");
	co.abort = cli_option_value(cmd, args, "abort") != NULL;
	co.no_reverse = cli_option_value(cmd, args, "no-rollback") != NULL;
	catch_stop_signals();
	int rc = fn(&o, &co, &c, &err);
	return rc < 0 ? fail(&err) : FERRY_EXIT_OK;
}

int cli_cmd_cutover(const cli_command *cmd, cli_args *args)
{
	return run_end(cmd, args, ferry_online_cutover);
}

int cli_cmd_rollback(const cli_command *cmd, cli_args *args)
{
	return run_end(cmd, args, ferry_online_rollback);
}

int cli_cmd_status(const cli_command *cmd, cli_args *args)
{
	ferry_online_status s;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_online_get_status(args->dir, &s, &err) < 0) {
		ferry_online_status_free(&s);
		return fail(&err);
	}
	if (args->json) {
		printf("{\"phase\":");
		cli_json_string(stdout, s.phase);
		printf(",\"tables\":[");
		for (uint32_t i = 0; i < s.ntables; i++) {
			const ferry_online_table_status *t = &s.tables[i];
			printf("%s{\"table\":", i ? "," : "");
			cli_json_string(stdout, t->table);
			printf(",\"state\":\"%s\",\"rows_copied\":%lld,"
			       "\"rows_estimated\":%lld}", t->state,
			       (long long)t->rows_copied,
			       (long long)t->rows_estimated);
		}
		printf("]");
		if (s.stopped) {
			printf(",\"stopped\":");
			cli_json_string(stdout, s.stopped);
		}
		if (s.source) {
			printf(",\"source\":");
			cli_json_string(stdout, s.source);
		}
		printf(",\"cutover\":");
		cli_json_string(stdout, s.cutover_step);
		printf(",\"rollback\":");
		cli_json_string(stdout, s.rollback_step);
		if (s.has_reverse)
			printf(",\"reverse\":{\"journal_head\":%llu,\"applied\":%llu,"
			       "\"lag_changes\":%llu,\"lag_seconds\":%.3f}",
			       (unsigned long long)s.reverse_head,
			       (unsigned long long)s.reverse_applied,
			       (unsigned long long)s.reverse_lag_changes,
			       s.reverse_lag_seconds);
		printf(",\"journal_head\":%llu,\"applied\":%llu,\"lag_changes\":%llu,"
		       "\"lag_seconds\":%.3f,\"capture_position\":%llu,"
		       "\"rejects\":%lld}\n",
		       (unsigned long long)s.journal_head,
		       (unsigned long long)s.applied,
		       (unsigned long long)s.lag_changes, s.lag_seconds,
		       (unsigned long long)s.capture_position, (long long)s.rejects);
		ferry_online_status_free(&s);
		return FERRY_EXIT_OK;
	}
	printf("phase:        %s\n", s.phase);
	if (s.stopped)
		printf("stopped:      %s\n", s.stopped);
	for (uint32_t i = 0; i < s.ntables; i++) {
		const ferry_online_table_status *t = &s.tables[i];
		printf("%s%-20s %-8s %lld", i ? "              " : "snapshot:     ",
		       t->table, t->state, (long long)t->rows_copied);
		if (t->rows_estimated > 0)
			printf(" of ~%lld rows (%.0f%%)", (long long)t->rows_estimated,
			       100.0 * (double)t->rows_copied /
			           (double)t->rows_estimated);
		else
			printf(" rows");
		printf("\n");
	}
	printf("journal head: LSN %llu (source position %llu)\n",
	       (unsigned long long)s.journal_head,
	       (unsigned long long)s.capture_position);
	printf("applied:      LSN %llu\n", (unsigned long long)s.applied);
	printf("lag:          %llu changes, %.1f s\n",
	       (unsigned long long)s.lag_changes, s.lag_seconds);
	printf("rejects:      %lld\n", (long long)s.rejects);
	if (s.source)
		printf("source:       %s\n", s.source);
	if (*s.cutover_step)
		printf("cutover:      %s\n", strcmp(s.cutover_step, "cut-over") == 0
		       ? "cut over: the target is the primary"
		       : s.cutover_step);
	if (*s.rollback_step)
		printf("rollback:     %s\n", s.rollback_step);
	if (s.has_reverse)
		printf("reverse:      LSN %llu journalled, %llu applied to the "
		       "source, lag %llu changes, %.1f s\n",
		       (unsigned long long)s.reverse_head,
		       (unsigned long long)s.reverse_applied,
		       (unsigned long long)s.reverse_lag_changes,
		       s.reverse_lag_seconds);
	ferry_online_status_free(&s);
	(void)cmd;
	return FERRY_EXIT_OK;
}

int cli_cmd_clean(const cli_command *cmd, cli_args *args)
{
	ferry_buf report = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_online_clean(args->dir, &report, &err);
	if (!args->quiet && ferry_buf_cstr(&report))
		fputs(ferry_buf_cstr(&report), stdout);
	ferry_buf_free(&report);
	(void)cmd;
	return rc < 0 ? fail(&err) : FERRY_EXIT_OK;
}
