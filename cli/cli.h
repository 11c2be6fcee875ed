/*
 * cli/cli.h - the `ferry` command line: option parsing and the command
 * table.  The CLI parses, calls the library and prints; it holds no logic
 * the library should own.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>

/* Exit codes: a contract with users and scripts (DESIGN.md). */
enum {
	FERRY_EXIT_OK = 0,
	FERRY_EXIT_FAILURE = 1,
	FERRY_EXIT_USAGE = 2,
	FERRY_EXIT_DIFFERENCES = 3,
	FERRY_EXIT_REJECTS = 4
};

typedef struct cli_option {
	const char *name;       /* long name without "--" */
	char short_name;        /* 0 when none */
	const char *value_name; /* NULL for a flag */
	const char *help;
} cli_option;

#define CLI_MAX_OPTIONS 24
#define CLI_MAX_ARGS 8

/* What the parser found: global options, command options, operands. */
typedef struct cli_args {
	const char *dir;  /* --dir, default "./ferry" */
	bool json;
	bool quiet;
	int verbose;      /* one per -v */
	bool help;
	const char *option_values[CLI_MAX_OPTIONS]; /* by index in the
	                                               command's table; a flag
	                                               that was given is "" */
	const char *operands[CLI_MAX_ARGS];
	int noperands;
} cli_args;

struct cli_command;
typedef int (*cli_run_fn)(const struct cli_command *cmd, cli_args *args);

typedef struct cli_command {
	const char *name;
	const char *operands;   /* synopsis of operands, e.g. "SOURCE TARGET" */
	const char *summary;    /* one line for `ferry --help` */
	const char *description;/* a paragraph for `ferry help COMMAND` */
	int min_operands;
	int max_operands;
	const cli_option *options; /* terminated by a zeroed entry */
	cli_run_fn run;            /* NULL: not implemented in this version */
} cli_command;

extern const cli_command cli_commands[];
extern const cli_option cli_global_options[];

const cli_command *cli_find_command(const char *name);

/* The subcommands, one file each (cli/cmd_*.c). */
int cli_cmd_load(const cli_command *cmd, cli_args *args);
int cli_cmd_log(const cli_command *cmd, cli_args *args);
int cli_cmd_init(const cli_command *cmd, cli_args *args);
int cli_cmd_sync(const cli_command *cmd, cli_args *args);
int cli_cmd_capture(const cli_command *cmd, cli_args *args);
int cli_cmd_replay(const cli_command *cmd, cli_args *args);
int cli_cmd_status(const cli_command *cmd, cli_args *args);
int cli_cmd_clean(const cli_command *cmd, cli_args *args);
int cli_cmd_cutover(const cli_command *cmd, cli_args *args);
int cli_cmd_rollback(const cli_command *cmd, cli_args *args);
int cli_cmd_verify(const cli_command *cmd, cli_args *args);
int cli_cmd_undo(const cli_command *cmd, cli_args *args);

/*
 * Parses argv (after the command name) for cmd.  Global options may come
 * anywhere before a "--".  On a usage error prints the reason and a hint
 * to stderr and returns FERRY_EXIT_USAGE; 0 otherwise.
 */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *out);

/* The value of cmd's option `name`, NULL when not given. */
const char *cli_option_value(const cli_command *cmd, const cli_args *args,
                             const char *name);

void cli_print_usage(void);
void cli_print_command_help(const cli_command *cmd);

/* "ferry: <message>" on stderr, unless it is empty. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
