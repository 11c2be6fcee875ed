/*
 * cli/output.h - small printing helpers shared by the subcommands.
 */
#ifndef FERRY_CLI_OUTPUT_H
#define FERRY_CLI_OUTPUT_H

#include <stdio.h>

/* Writes s as a JSON string literal (quotes included). */
void cli_json_string(FILE *f, const char *s);

/* "1.2M", "345k", "999" */
const char *cli_human_count(double n, char *buf, size_t cap);

#endif
