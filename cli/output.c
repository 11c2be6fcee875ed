/*
 * cli/output.c - printing helpers (output.h).
 */
#include "cli/output.h"

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

const char *cli_human_count(double n, char *buf, size_t cap)
{
	if (n >= 1e6)
		snprintf(buf, cap, "%.1fM", n / 1e6);
	else if (n >= 1e4)
		snprintf(buf, cap, "%.0fk", n / 1e3);
	else
		snprintf(buf, cap, "%.0f", n);
	return buf;
}
