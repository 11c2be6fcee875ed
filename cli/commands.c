/*
 * cli/commands.c - the table of subcommands (DESIGN.md, "Command line")
 * and the help text built from it.  A command whose run function is NULL
 * is not implemented in this version and says so.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"

static const cli_option no_options[] = {{NULL, 0, NULL, NULL}};

static const cli_option load_options[] = {
	{"spec", 0, "FILE", "the transform spec (YAML)"},
	{"jobs", 'j', "N", "tables loaded at once (default: cores)"},
	{"truncate", 0, NULL, "empty non-empty target tables first"},
	{"drop", 0, NULL, "drop and recreate existing target tables"},
	{"on-error", 0, "stop|continue", "stop at the first rejected row"},
	{"rejects", 0, "FILE", "also write rejected rows to FILE as CSV"},
	{"dry-run", 'n', NULL, "print the plan, write nothing"},
	{NULL, 0, NULL, NULL},
};

static const cli_option init_options[] = {
	{"spec", 0, "FILE", "the transform spec (YAML)"},
	{NULL, 0, NULL, NULL},
};

static const cli_option follow_options[] = {
	{"follow", 'f', NULL, "keep running until stopped"},
	{NULL, 0, NULL, NULL},
};

static const cli_option sync_options[] = {
	{"follow", 'f', NULL, "keep running until stopped"},
	{"chunk-rows", 0, "N", "rows per snapshot chunk (default 100000)"},
	{NULL, 0, NULL, NULL},
};

static const cli_option verify_options[] = {
	{"table", 't', "TABLE", "verify only this table"},
	{"wait", 0, "SECONDS", "longest wait for the replay to drain (default 30)"},
	{NULL, 0, NULL, NULL},
};

static const cli_option cutover_options[] = {
	{"max-lag", 0, "SECONDS", "start only when lag is below this"},
	{"timeout", 0, "SECONDS", "give up (and unfence) after this"},
	{"hook", 0, "CMD", "the command that switches the application"},
	{"abort", 0, NULL, "abandon a cutover in progress and unfence"},
	{"no-rollback", 0, NULL, "no reverse stream: rollback impossible"},
	{NULL, 0, NULL, NULL},
};

static const cli_option rollback_options[] = {
	{"max-lag", 0, "SECONDS", "fence only when lag is below this"},
	{"timeout", 0, "SECONDS", "give up (and unfence) after this"},
	{"hook", 0, "CMD", "the command that switches the application back"},
	{"abort", 0, NULL, "abandon a rollback in progress and unfence"},
	{NULL, 0, NULL, NULL},
};

static const cli_option undo_options[] = {
	{"to", 0, "LSN", "revert the target to this journal position"},
	{"to-time", 0, "TIME", "revert the target to this source commit time"},
	{NULL, 0, NULL, NULL},
};

static const cli_option log_options[] = {
	{"from", 0, "LSN", "start at this journal position"},
	{"limit", 0, "N", "show at most N changes"},
	{"table", 't', "TABLE", "only changes to this table"},
	{NULL, 0, NULL, NULL},
};

const cli_command cli_commands[] = {
	{"load", "SOURCE TARGET", "one-shot offline copy (bulk, fastest path)",
	 "Copies every table of SOURCE into TARGET, reshaped by the spec, as fast "
	 "as the hardware allows; rows a conversion refuses are reported as "
	 "rejects.  Exit 4 when the load finished with rejects.",
	 2, 2, load_options, cli_cmd_load},
	{"init", "SOURCE TARGET", "create the migration directory, check the plan",
	 "Creates the migration directory (--dir), checks the plan and installs "
	 "change capture on SOURCE.",
	 2, 2, init_options, cli_cmd_init},
	{"sync", "", "snapshot, then capture + replay (online)",
	 "Copies a consistent snapshot, then follows every change of the source "
	 "into the target through the journal.  The snapshot is copied in "
	 "chunks of --chunk-rows rows in key order; a sync that is stopped "
	 "or killed continues after the last chunk the target holds.",
	 0, 0, sync_options, cli_cmd_sync},
	{"capture", "", "read source changes into the journal",
	 "The first half of sync: journals source changes.", 0, 0,
	 follow_options, cli_cmd_capture},
	{"replay", "", "apply the journal to the target",
	 "The second half of sync: applies journalled changes to the target "
	 "exactly once.",
	 0, 0, follow_options, cli_cmd_replay},
	{"status", "", "phase, per-table progress, lag",
	 "Shows the migration's phase, per-table progress and lag in changes "
	 "and seconds.",
	 0, 0, no_options, cli_cmd_status},
	{"verify", "", "compare source (transformed) with target",
	 "Compares the source, transformed by the plan, with the target by "
	 "chunked checksums over canonical values, without locking either; "
	 "lists rows missing, extra or different (with the columns).  Rows "
	 "found different are checked again once the replay has drained, so "
	 "changes in flight during a running sync are not reported.  Exit 3 "
	 "when they differ.",
	 0, 0, verify_options, cli_cmd_verify},
	{"cutover", "", "fence writes, drain, verify, switch",
	 "Catches up, fences the application's writes on the source, drains "
	 "the journal into the target, verifies and runs the hook that "
	 "switches the application; each step is printed with its duration.  "
	 "Before the fence it installs capture on the target for the reverse "
	 "stream, so that after the switch ferry sync carries the target's "
	 "writes back into the source (ferry rollback).  Resumable: run it "
	 "again after a crash, or --abort to unfence.  A failure before the "
	 "switch unfences the source.  The hook gets FERRY_MIGRATION, "
	 "FERRY_ACTION=cutover, FERRY_SOURCE and FERRY_TARGET.",
	 0, 0, cutover_options, cli_cmd_cutover},
	{"rollback", "", "drain the reverse stream, switch back",
	 "After a cutover: catches the reverse stream up, fences the target "
	 "(the primary), drains the reverse stream into the source, verifies, "
	 "runs the hook (FERRY_ACTION=rollback) and unfences the source; the "
	 "migration then runs forward again.  Refused before anything is "
	 "touched when the plan cannot be inverted (the message names the "
	 "columns and the `down` that would fix them).  Resumable like "
	 "cutover; --abort unfences the target.",
	 0, 0, rollback_options, cli_cmd_rollback},
	{"undo", "", "revert the target to an earlier point",
	 "Reverts the target to what it was when the replay had applied the "
	 "journal up to --to LSN, or every change committed at or before "
	 "--to-time TIME (ISO 8601 with a zone, e.g. 2026-11-24T03:00:00Z), by "
	 "applying the inverse of every later change, newest first, from "
	 "before-images: one target transaction per source transaction.  "
	 "Refused, before anything changes, when a change cannot be inverted "
	 "(no before-image, a truncate).  Resumable after a crash.  The source "
	 "keeps the changes: ferry verify then lists them.",
	 0, 0, undo_options, cli_cmd_undo},
	{"log", "stat|dump", "inspect the journal",
	 "stat: frames, changes, sizes and cursors.  dump: readable changes.", 1,
	 1, log_options, cli_cmd_log},
	{"migrate", "", "apply versioned in-place schema migrations",
	 "Applies versioned schema migrations in place.", 0, 0, no_options, NULL},
	{"lint", "", "find unsafe migrations",
	 "Reports migrations that would lock or rewrite large tables.", 0, 0,
	 no_options, NULL},
	{"backfill", "", "throttled, resumable backfill",
	 "Fills new columns in batches, throttled and resumable.", 0, 0,
	 no_options, NULL},
	{"clean", "", "remove what ferry installed on source and target",
	 "Removes capture objects, slots and checkpoint tables and says what it "
	 "removed.",
	 0, 0, no_options, cli_cmd_clean},
	{NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

const cli_command *cli_find_command(const char *name)
{
	for (const cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void cli_print_usage(void)
{
	printf("ferry %s - move live databases between systems and schemas\n\n",
	       PACKAGE_VERSION);
	printf("usage: ferry [--dir DIR] [--json] [--quiet] [-v] COMMAND [ARGS]\n\n"
	       "commands:\n");
	for (const cli_command *c = cli_commands; c->name; c++)
		printf("  %-10s %s%s\n", c->name, c->summary,
		       c->run ? "" : " (not yet implemented)");
	printf("  %-10s %s\n", "help", "show help for a command");
	printf("\nglobal options:\n");
	for (const cli_option *o = cli_global_options; o->name; o++)
		printf("  --%-14s %s\n", o->name, o->help);
	printf("  --%-14s %s\n", "version", "print the version");
	printf("\nURIs: sqlite:///path.db (or path.db), postgresql://..., "
	       "mysql://user@host/db,\n      mongodump:///path\n"
	       "exit status: 0 ok, 1 failure, 2 usage error, 3 differences found,"
	       "\n             4 finished with rejected rows\n"
	       "See 'ferry help COMMAND' and the ferry(1) manual page.\n");
}

static void print_option(const cli_option *o)
{
	char left[48];
	if (o->short_name)
		snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
		         o->value_name ? " " : "", o->value_name ? o->value_name : "");
	else
		snprintf(left, sizeof left, "    --%s%s%s", o->name,
		         o->value_name ? " " : "", o->value_name ? o->value_name : "");
	printf("  %-26s %s\n", left, o->help);
}

void cli_print_command_help(const cli_command *cmd)
{
	printf("usage: ferry %s%s%s [options]\n\n", cmd->name,
	       cmd->operands[0] ? " " : "", cmd->operands);
	printf("%s\n", cmd->description);
	if (!cmd->run)
		printf("\n(not yet implemented in ferry %s)\n", PACKAGE_VERSION);
	if (cmd->options[0].name) {
		printf("\noptions:\n");
		for (const cli_option *o = cmd->options; o->name; o++)
			print_option(o);
	}
	printf("\nglobal options:\n");
	for (const cli_option *o = cli_global_options; o->name; o++)
		print_option(o);
}
