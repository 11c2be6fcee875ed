/*
 * cli/main.c - `ferry`: finds the subcommand, parses, runs, maps the
 * result to an exit code.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"

static int run_help(int argc, char **argv)
{
	cli_args args = {0};
	int rc = cli_parse(NULL, argc, argv, &args);
	if (rc)
		return rc;
	if (args.noperands == 0) {
		cli_print_usage();
		return FERRY_EXIT_OK;
	}
	const cli_command *cmd = cli_find_command(args.operands[0]);
	if (!cmd || args.noperands > 1) {
		cli_error("no help for '%s': not a ferry command\n"
		          "Try 'ferry --help'.", args.operands[args.noperands - 1]);
		return FERRY_EXIT_USAGE;
	}
	cli_print_command_help(cmd);
	return FERRY_EXIT_OK;
}

/*
 * The index of the command name: the first word that is not a leading
 * global option (nor --dir's value); argc when there is none.
 */
static int command_index(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0)
		i += strcmp(argv[i], "--dir") == 0 ? 2 : 1;
	return i;
}

static bool leading_flag(int first, char **argv, const char *flag,
                         const char *short_flag)
{
	for (int i = 1; i < first; i++)
		if (strcmp(argv[i], flag) == 0 || strcmp(argv[i], short_flag) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int first = command_index(argc, argv);
	if (leading_flag(first, argv, "--version", "-V")) {
		printf("ferry %s\n", PACKAGE_VERSION);
		return FERRY_EXIT_OK;
	}
	if (leading_flag(first, argv, "--help", "-h")) {
		cli_print_usage();
		return FERRY_EXIT_OK;
	}
	if (first >= argc) {
		cli_args args = {0};
		int rc = cli_parse(NULL, argc - 1, argv + 1, &args);
		if (rc)
			return rc; /* an unknown option, said by the parser */
		cli_error("no command given\nTry 'ferry --help'.");
		return FERRY_EXIT_USAGE;
	}
	const char *name = argv[first];
	/* hand the leading globals to the command's parser with its own */
	char *rest[256];
	int nrest = 0;
	for (int i = 1; i < argc && nrest < 256; i++)
		if (i != first)
			rest[nrest++] = argv[i];
	if (argc - 1 > 256) {
		cli_error("too many arguments");
		return FERRY_EXIT_USAGE;
	}
	if (strcmp(name, "help") == 0)
		return run_help(nrest, rest);
	const cli_command *cmd = cli_find_command(name);
	if (!cmd) {
		cli_error("unknown command '%s'\nTry 'ferry --help'.", name);
		return FERRY_EXIT_USAGE;
	}
	cli_args args = {0};
	int rc = cli_parse(cmd, nrest, rest, &args);
	if (rc)
		return rc;
	if (args.help) {
		cli_print_command_help(cmd);
		return FERRY_EXIT_OK;
	}
	if (!cmd->run) {
		cli_error("'%s' is not implemented in this version (%s) yet", name,
		          PACKAGE_VERSION);
		return FERRY_EXIT_FAILURE;
	}
	return cmd->run(cmd, &args);
}
