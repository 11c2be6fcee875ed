/*
 * cli/cmd_verify.c - `ferry verify`: prints what engine/verify found.
 * Exit 3 when the source (transformed) and the target differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "engine/verify.h"

static const char *const kind_names[] = {"missing", "extra", "different"};

static double per_second(int64_t rows, double seconds)
{
	return seconds > 0 ? (double)rows / seconds : 0;
}

static void print_json(const ferry_verify_report *r)
{
	printf("{\"tables\":[");
	for (uint32_t i = 0; i < r->ntables; i++) {
		const ferry_verify_table *t = &r->tables[i];
		bool clean = t->missing + t->extra + t->different == 0;
		printf("%s{\"table\":", i ? "," : "");
		cli_json_string(stdout, t->table);
		printf(",\"source_table\":");
		cli_json_string(stdout, t->source_table);
		printf(",\"status\":\"%s\",\"keyed\":%s,\"source_rows\":%lld,"
		       "\"target_rows\":%lld,\"filtered\":%lld,\"rejected\":%lld,"
		       "\"chunks\":%llu,\"rechecks\":%u,\"missing\":%lld,"
		       "\"extra\":%lld,\"different\":%lld,\"seconds\":%.3f,"
		       "\"source_rows_per_second\":%.0f,"
		       "\"target_rows_per_second\":%.0f,\"differences\":[",
		       clean ? "ok" : "different", t->keyed ? "true" : "false",
		       (long long)t->source_rows, (long long)t->target_rows,
		       (long long)t->filtered, (long long)t->rejected,
		       (unsigned long long)t->chunks, t->rechecks,
		       (long long)t->missing, (long long)t->extra,
		       (long long)t->different, t->seconds,
		       per_second(t->source_rows, t->source_seconds),
		       per_second(t->target_rows, t->target_seconds));
		for (uint32_t k = 0; k < t->ndiffs; k++) {
			const ferry_verify_diff *d = &t->diffs[k];
			printf("%s{\"kind\":\"%s\",\"key\":", k ? "," : "",
			       kind_names[d->kind]);
			cli_json_string(stdout, d->key);
			if (d->kind == FERRY_VERIFY_DIFFERENT) {
				printf(",\"columns\":[");
				for (uint32_t j = 0; j < d->ncolumns; j++) {
					printf("%s{\"column\":", j ? "," : "");
					cli_json_string(stdout, d->columns[j]);
					printf(",\"source\":");
					cli_json_string(stdout, d->source_values[j]);
					printf(",\"target\":");
					cli_json_string(stdout, d->target_values[j]);
					printf("}");
				}
				printf("]");
			}
			printf("}");
		}
		printf("]}");
	}
	printf("],\"differences\":%lld,\"lag_changes\":%llu",
	       (long long)r->differences, (unsigned long long)r->lag_changes);
	if (r->note) {
		printf(",\"note\":");
		cli_json_string(stdout, r->note);
	}
	printf(",\"seconds\":%.3f}\n", r->seconds);
}

static void print_table(const ferry_verify_table *t)
{
	char a[32], b[32], rate[32];
	int64_t diffs = t->missing + t->extra + t->different;
	double seconds = t->source_seconds > t->target_seconds
	                     ? t->source_seconds
	                     : t->target_seconds;
	double slower = per_second(t->source_rows > t->target_rows
	                               ? t->source_rows
	                               : t->target_rows,
	                           seconds);
	printf("%s", t->table);
	if (strcmp(t->table, t->source_table) != 0)
		printf(" (from %s)", t->source_table);
	if (diffs == 0)
		printf(": ok");
	else
		printf(": %lld missing, %lld extra, %lld different",
		       (long long)t->missing, (long long)t->extra,
		       (long long)t->different);
	printf(", %s source / %s target rows",
	       cli_human_count((double)t->source_rows, a, sizeof a),
	       cli_human_count((double)t->target_rows, b, sizeof b));
	if (t->filtered)
		printf(", %lld filtered", (long long)t->filtered);
	if (t->rejected)
		printf(", %lld rejected", (long long)t->rejected);
	if (!t->keyed)
		printf(", no key: compared as multisets");
	printf(", %s rows/s per side\n",
	       cli_human_count(slower, rate, sizeof rate));
	for (uint32_t k = 0; k < t->ndiffs; k++) {
		const ferry_verify_diff *d = &t->diffs[k];
		printf("  %-10s %s", kind_names[d->kind], d->key);
		for (uint32_t j = 0; j < d->ncolumns; j++)
			printf("%s%s (source %s, target %s)", j ? ", " : ": ",
			       d->columns[j], d->source_values[j], d->target_values[j]);
		printf("\n");
	}
	if ((int64_t)t->ndiffs < diffs)
		printf("  ... and %lld more\n", (long long)(diffs - t->ndiffs));
}

static int parse_seconds(const char *text, double *out)
{
	char *end;
	double v = strtod(text, &end);
	if (*end || !(v > 0) || v > 86400) {
		cli_error("--wait must be a number of seconds from 0 to 86400, not "
		          "'%s'\nTry 'ferry verify --help'.", text);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_cmd_verify(const cli_command *cmd, cli_args *args)
{
	ferry_verify_options o = {0};
	ferry_verify_report r;
	ferry_error err = FERRY_ERROR_INIT;
	const char *wait = cli_option_value(cmd, args, "wait");
	o.dir = args->dir;
	o.table = cli_option_value(cmd, args, "table");
	if (wait && parse_seconds(wait, &o.wait_seconds) < 0)
		return FERRY_EXIT_USAGE;
	if (ferry_verify(&o, &r, &err) < 0) {
		cli_error("%s", ferry_error_message(&err));
		ferry_error_clear(&err);
		ferry_verify_report_free(&r);
		return FERRY_EXIT_FAILURE;
	}
	if (args->json) {
		print_json(&r);
	} else if (!args->quiet || r.differences) {
		int64_t rows = 0;
		for (uint32_t i = 0; i < r.ntables; i++) {
			print_table(&r.tables[i]);
			rows += r.tables[i].source_rows + r.tables[i].target_rows;
		}
		if (r.note)
			printf("note: %s\n", r.note);
		printf("verify: %u tables, %lld differences (%lld rows read in "
		       "%.2f s)\n", r.ntables, (long long)r.differences,
		       (long long)rows, r.seconds);
	}
	int code = r.differences ? FERRY_EXIT_DIFFERENCES : FERRY_EXIT_OK;
	ferry_verify_report_free(&r);
	return code;
}
