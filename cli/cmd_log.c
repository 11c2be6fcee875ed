/*
 * cli/cmd_log.c - `ferry log stat|dump`: a look inside the journal.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/datetime.h"
#include "engine/journal.h"

static int open_journal(const cli_args *args, ferry_journal **j)
{
	ferry_buf path = FERRY_BUF_INIT;
	ferry_buf_printf(&path, "%s/journal", args->dir);
	ferry_journal_options opts = {0};
	opts.read_only = true;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_journal_open(j, ferry_buf_cstr(&path), &opts, &err);
	if (rc < 0)
		cli_error("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	ferry_buf_free(&path);
	return rc < 0 ? FERRY_EXIT_FAILURE : 0;
}

static void print_stat_json(const ferry_journal_stats *s)
{
	printf("{\"frames\":%" PRIu64 ",\"changes\":%" PRIu64
	       ",\"first_lsn\":%" PRIu64 ",\"last_lsn\":%" PRIu64
	       ",\"raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
	       ",\"disk_bytes\":%" PRIu64 ",\"dictionary\":%u,\"cursors\":[",
	       s->frames, s->changes, s->first_lsn, s->last_lsn, s->raw_bytes,
	       s->stored_bytes, s->disk_bytes, s->dict_id);
	for (unsigned i = 0; i < s->ncursors; i++) {
		printf("%s{\"name\":", i ? "," : "");
		cli_json_string(stdout, s->cursors[i].name);
		printf(",\"lsn\":%" PRIu64 ",\"behind\":%" PRIu64 "}",
		       s->cursors[i].lsn, s->cursors[i].behind);
	}
	printf("]}\n");
}

static void print_stat(const cli_args *args, const ferry_journal_stats *s)
{
	double mb = 1024.0 * 1024.0;
	printf("journal:    %s/journal\n", args->dir);
	printf("frames:     %" PRIu64 "\n", s->frames);
	printf("changes:    %" PRIu64 " (LSN %" PRIu64 "..%" PRIu64 ")\n",
	       s->changes, s->first_lsn, s->last_lsn);
	printf("size:       %.1f MB raw, %.1f MB stored (%.1fx), %.1f MB on disk\n",
	       (double)s->raw_bytes / mb, (double)s->stored_bytes / mb,
	       s->stored_bytes ? (double)s->raw_bytes / (double)s->stored_bytes : 0,
	       (double)s->disk_bytes / mb);
	if (s->dict_id)
		printf("dictionary: %u\n", s->dict_id);
	else
		printf("dictionary: none\n");
	for (unsigned i = 0; i < s->ncursors; i++)
		printf("cursor:     %-16s at LSN %" PRIu64 ", %" PRIu64 " behind\n",
		       s->cursors[i].name, s->cursors[i].lsn, s->cursors[i].behind);
}

static int log_stat(const cli_args *args)
{
	ferry_journal *j;
	if (open_journal(args, &j))
		return FERRY_EXIT_FAILURE;
	ferry_journal_stats s;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_journal_stat(j, &s, &err);
	if (rc < 0)
		cli_error("%s", ferry_error_message(&err));
	else if (args->json)
		print_stat_json(&s);
	else
		print_stat(args, &s);
	ferry_error_clear(&err);
	ferry_journal_close(j);
	return rc < 0 ? FERRY_EXIT_FAILURE : FERRY_EXIT_OK;
}

/* A value as JSON: numbers stay numbers where JSON can hold them. */
static void json_value(const ferry_value *v, ferry_buf *tmp)
{
	switch (v->type) {
	case FERRY_NULL:
		fputs("null", stdout);
		return;
	case FERRY_INT:
		printf("%lld", (long long)v->u.i);
		return;
	case FERRY_BOOL:
		fputs(v->u.b ? "true" : "false", stdout);
		return;
	case FERRY_FLOAT:
		if (isfinite(v->u.f)) {
			ferry_buf_reset(tmp);
			ferry_value_format(v, tmp, 0);
			fputs(ferry_buf_cstr(tmp), stdout);
			return;
		}
		break;
	case FERRY_TEXT:
	case FERRY_JSON:
	case FERRY_NUMERIC:
		ferry_buf_reset(tmp);
		ferry_buf_append(tmp, v->u.s.ptr, v->u.s.len);
		cli_json_string(stdout, ferry_buf_cstr(tmp));
		return;
	default:
		break;
	}
	ferry_buf_reset(tmp);
	ferry_value_format(v, tmp, 0);
	cli_json_string(stdout, ferry_buf_cstr(tmp));
}

static void print_image(const char *label, const ferry_row *row,
                        const ferry_table *schema, bool json, ferry_buf *tmp)
{
	if (json)
		printf(",\"%s\":{", label);
	else
		printf("  %s:", label);
	for (uint32_t i = 0; i < row->ncols; i++) {
		char fallback[16];
		snprintf(fallback, sizeof fallback, "c%u", i + 1);
		const char *name = schema && i < schema->ncolumns
		                       ? schema->columns[i].name
		                       : fallback;
		if (json) {
			printf("%s", i ? "," : "");
			cli_json_string(stdout, name);
			putchar(':');
			json_value(&row->values[i], tmp);
		} else {
			ferry_buf_reset(tmp);
			ferry_value_format(&row->values[i], tmp, 200);
			printf("%s %s=%s", i ? "," : "", name, ferry_buf_cstr(tmp));
		}
	}
	printf(json ? "}" : "\n");
}

/* The schema a change's images follow, cached for runs of one table. */
typedef struct schema_cache {
	char *table;
	uint32_t version;
	bool found;
	ferry_table t;
} schema_cache;

static const ferry_table *schema_for(ferry_journal *j, schema_cache *c,
                                     const ferry_change *ch)
{
	if (!c->table || strcmp(c->table, ch->table) != 0 ||
	    c->version != ch->schema_version) {
		ferry_table_clear(&c->t);
		ferry_free(c->table);
		c->table = ferry_strdup(ch->table);
		c->version = ch->schema_version;
		c->found = ferry_journal_get_schema(j, ch->table, ch->schema_version,
		                                    &c->t, NULL) == 0;
	}
	return c->found ? &c->t : NULL;
}

static void print_change(uint64_t lsn, const ferry_change *ch,
                         const ferry_table *schema, bool json, ferry_buf *tmp)
{
	ferry_buf_reset(tmp);
	ferry_timestamp_format(ch->commit_time, true, tmp);
	if (json) {
		printf("{\"lsn\":%" PRIu64 ",\"op\":\"%s\",\"table\":", lsn,
		       ferry_op_name(ch->op));
		cli_json_string(stdout, ch->table);
		printf(",\"schema_version\":%u,\"txid\":%" PRIu64 ",\"commit_time\":",
		       ch->schema_version, ch->txid);
		cli_json_string(stdout, ferry_buf_cstr(tmp));
	} else {
		printf("LSN %" PRIu64 "  %s %s (schema v%u)  tx %" PRIu64 " at %s\n",
		       lsn, ferry_op_name(ch->op), ch->table, ch->schema_version,
		       ch->txid, ferry_buf_cstr(tmp));
	}
	if (ch->has_before)
		print_image("before", &ch->before, schema, json, tmp);
	if (ch->has_after)
		print_image("after", &ch->after, schema, json, tmp);
	if (json)
		printf("}\n");
}

static int parse_u64(const char *text, const char *what, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (!*text || *end || text[0] == '-') {
		cli_error("%s must be a number, not '%s'\nTry 'ferry log --help'.",
		          what, text);
		return FERRY_EXIT_USAGE;
	}
	*out = v;
	return 0;
}

static int log_dump(const cli_command *cmd, const cli_args *args)
{
	const char *from_text = cli_option_value(cmd, args, "from");
	const char *limit_text = cli_option_value(cmd, args, "limit");
	const char *table = cli_option_value(cmd, args, "table");
	uint64_t from = 0, limit = UINT64_MAX; /* 0: the oldest change kept */
	if ((from_text && parse_u64(from_text, "--from", &from)) ||
	    (limit_text && parse_u64(limit_text, "--limit", &limit)))
		return FERRY_EXIT_USAGE;
	ferry_journal *j;
	if (open_journal(args, &j))
		return FERRY_EXIT_FAILURE;
	ferry_journal_iter *it = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf tmp = FERRY_BUF_INIT;
	schema_cache cache = {0};
	const ferry_change *ch;
	uint64_t lsn, shown = 0;
	int rc = ferry_journal_iter_open(&it, j, from, &err);
	while (rc == 0 && shown < limit &&
	       (rc = ferry_journal_iter_next(it, &ch, &lsn, &err)) == 1) {
		rc = 0;
		if (table && strcmp(table, ch->table) != 0)
			continue;
		print_change(lsn, ch, schema_for(j, &cache, ch), args->json, &tmp);
		shown++;
	}
	if (rc < 0)
		cli_error("%s", ferry_error_message(&err));
	ferry_table_clear(&cache.t);
	ferry_free(cache.table);
	ferry_buf_free(&tmp);
	ferry_error_clear(&err);
	ferry_journal_iter_close(it);
	ferry_journal_close(j);
	return rc < 0 ? FERRY_EXIT_FAILURE : FERRY_EXIT_OK;
}

int cli_cmd_log(const cli_command *cmd, cli_args *args)
{
	const char *what = args->operands[0];
	if (strcmp(what, "stat") == 0)
		return log_stat(args);
	if (strcmp(what, "dump") == 0)
		return log_dump(cmd, args);
	cli_error("'ferry log' takes stat or dump, not '%s'\nTry 'ferry log --help'.",
	          what);
	return FERRY_EXIT_USAGE;
}
