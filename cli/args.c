/*
 * cli/args.c - option parsing shared by every subcommand.
 *
 * getopt stops at the first operand or needs one table for all commands;
 * users type global options anywhere ("ferry status --dir x --json"), so
 * this small parser knows the global table and the command's own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const cli_option cli_global_options[] = {
	{"dir", 0, "DIR", "the migration's directory (default ./ferry)"},
	{"json", 0, NULL, "print machine-readable JSON"},
	{"quiet", 'q', NULL, "print only errors"},
	{"verbose", 'v', NULL, "say more (repeat for more detail)"},
	{"help", 'h', NULL, "show help for the command"},
	{NULL, 0, NULL, NULL},
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const cli_command *cmd, const char *fmt,
                       const char *what)
{
	fputs("ferry: ", stderr);
	fprintf(stderr, fmt, what);
	if (cmd)
		fprintf(stderr, "\nTry 'ferry %s --help'.\n", cmd->name);
	else
		fputs("\nTry 'ferry --help'.\n", stderr);
	return FERRY_EXIT_USAGE;
}

/* Index of the option called name (long) or c (short), or -1. */
static int find_option(const cli_option *table, const char *name, size_t len,
                       char c)
{
	for (int i = 0; table && table[i].name; i++) {
		if (c ? table[i].short_name == c
		      : strlen(table[i].name) == len &&
		            strncmp(table[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

static void set_global(cli_args *out, int index, const char *value)
{
	switch (index) {
	case 0: out->dir = value; break;
	case 1: out->json = true; break;
	case 2: out->quiet = true; break;
	case 3: out->verbose++; break;
	case 4: out->help = true; break;
	}
}

/*
 * Handles argv[*i], an option; advances *i past its value.  Returns 0 or
 * FERRY_EXIT_USAGE.
 */
static int take_option(const cli_command *cmd, int argc, char **argv, int *i,
                       cli_args *out)
{
	const char *arg = argv[*i];
	bool is_long = arg[1] == '-';
	const char *name = arg + (is_long ? 2 : 1);
	const char *eq = is_long ? strchr(name, '=') : NULL;
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	char c = is_long ? 0 : name[0];
	if (!is_long && len != 1)
		return usage_error(cmd, "unknown option '%s'", arg);
	const cli_option *table = cli_global_options;
	int index = find_option(table, name, len, c);
	bool global = index >= 0;
	if (!global && cmd) {
		table = cmd->options;
		index = find_option(table, name, len, c);
	}
	if (index < 0)
		return usage_error(cmd, "unknown option '%s'", arg);
	const char *value = "";
	if (table[index].value_name) {
		if (eq) {
			value = eq + 1;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			return usage_error(cmd, "option '%s' needs a value", arg);
		}
	} else if (eq) {
		return usage_error(cmd, "option '%s' takes no value", arg);
	}
	if (global)
		set_global(out, index, value);
	else
		out->option_values[index] = value;
	return 0;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *out)
{
	bool options_done = false;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
		} else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
			int rc = take_option(cmd, argc, argv, &i, out);
			if (rc)
				return rc;
		} else if (out->noperands == CLI_MAX_ARGS) {
			return usage_error(cmd, "too many arguments at '%s'", arg);
		} else {
			out->operands[out->noperands++] = arg;
		}
	}
	if (!out->dir)
		out->dir = "./ferry";
	if (out->help || !cmd)
		return 0;
	if (out->noperands < cmd->min_operands)
		return usage_error(cmd, "missing arguments: %s", cmd->operands);
	if (out->noperands > cmd->max_operands)
		return usage_error(cmd, "unexpected argument '%s'",
		                   out->operands[cmd->max_operands]);
	return 0;
}

const char *cli_option_value(const cli_command *cmd, const cli_args *args,
                             const char *name)
{
	int index = find_option(cmd->options, name, strlen(name), 0);
	return index < 0 ? NULL : args->option_values[index];
}
