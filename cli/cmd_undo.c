/*
 * cli/cmd_undo.c - `ferry undo --to LSN | --to-time TIME`: parses the
 * point, lets engine/undo revert the target, prints the progress on
 * stderr and the summary on stdout.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/undo.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1; /* the undo stops between two transactions */
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

static void log_line(void *arg, const char *line)
{
	if (!*(const bool *)arg)
		fprintf(stderr, "ferry: %s\n", line);
}

static int usage(void)
{
	fprintf(stderr, "Try 'ferry undo --help'.\n");
	return FERRY_EXIT_USAGE;
}

/* The point from --to or --to-time into o; an exit code on error. */
static int parse_point(const cli_command *cmd, const cli_args *args,
                       ferry_undo_options *o)
{
	const char *lsn = cli_option_value(cmd, args, "to");
	const char *when = cli_option_value(cmd, args, "to-time");
	if (!lsn == !when) {
		cli_error("give the point to undo to with one of --to LSN or "
		          "--to-time TIME");
		return usage();
	}
	if (lsn) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(lsn, &end, 10);
		if (*lsn < '0' || *lsn > '9' || *end || errno) {
			cli_error("--to must be a journal LSN (a number, as ferry "
			          "status and ferry log show), not '%s'", lsn);
			return usage();
		}
		o->to_lsn = n;
		return 0;
	}
	ferry_error err = FERRY_ERROR_INIT;
	o->by_time = true;
	if (ferry_undo_parse_time(when, &o->to_time_us, &err) < 0) {
		cli_error("--to-time: %s", ferry_error_message(&err));
		ferry_error_clear(&err);
		return usage();
	}
	return 0;
}

static void print_summary(const cli_args *args, const ferry_undo_report *r)
{
	if (args->quiet)
		return;
	if (args->json) {
		printf("{\"to\":%llu,\"from\":%llu,\"transactions\":%llu,"
		       "\"resumed\":%llu,\"changes\":%llu,\"rows\":%llu,"
		       "\"skipped\":%llu}\n",
		       (unsigned long long)r->to, (unsigned long long)r->from,
		       (unsigned long long)r->transactions,
		       (unsigned long long)r->resumed,
		       (unsigned long long)r->changes, (unsigned long long)r->rows,
		       (unsigned long long)r->skipped);
		return;
	}
	printf("undo: the target is at LSN %llu: %llu source transaction%s "
	       "undone", (unsigned long long)r->to,
	       (unsigned long long)r->transactions,
	       r->transactions == 1 ? "" : "s");
	if (r->resumed)
		printf(" (%llu by an earlier run)", (unsigned long long)r->resumed);
	printf(", %llu changes in this run (%llu rows changed",
	       (unsigned long long)r->changes, (unsigned long long)r->rows);
	if (r->skipped)
		printf(", %llu changes had not reached the target",
		       (unsigned long long)r->skipped);
	printf(")\n");
	printf("note: the target now differs from the source by the undone "
	       "changes; the source still has them (ferry verify lists them), "
	       "and the replay goes on after LSN %llu without applying them "
	       "again\n", (unsigned long long)r->from);
}

int cli_cmd_undo(const cli_command *cmd, cli_args *args)
{
	ferry_undo_options o = {0};
	ferry_undo_report r;
	ferry_error err = FERRY_ERROR_INIT;
	bool quiet = args->quiet;
	int code = parse_point(cmd, args, &o);
	if (code)
		return code;
	o.dir = args->dir;
	o.stop = &stop_requested;
	o.log = log_line;
	o.log_arg = &quiet;
	catch_stop_signals();
	if (ferry_undo(&o, &r, &err) < 0) {
		cli_error("%s", ferry_error_message(&err));
		ferry_error_clear(&err);
		return FERRY_EXIT_FAILURE;
	}
	print_summary(args, &r);
	return FERRY_EXIT_OK;
}
