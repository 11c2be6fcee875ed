/*
 * engine/schema.c - the table model (schema.h): building, lookup, release,
 * and SQL column types.
 */
#include "engine/schema.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/alloc.h"

static void free_names(char **names, uint32_t n)
{
	if (!names)
		return;
	for (uint32_t i = 0; i < n; i++)
		ferry_free(names[i]);
	ferry_free(names);
}

void ferry_table_clear(ferry_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		ferry_free(t->columns[i].name);
		ferry_free(t->columns[i].decl_type);
		ferry_free(t->columns[i].default_sql);
	}
	for (uint32_t i = 0; i < t->nindexes; i++) {
		ferry_free(t->indexes[i].name);
		free_names(t->indexes[i].columns, t->indexes[i].ncolumns);
		ferry_free(t->indexes[i].where_sql);
	}
	for (uint32_t i = 0; i < t->nfkeys; i++) {
		ferry_fkey *fk = &t->fkeys[i];
		ferry_free(fk->name);
		free_names(fk->columns, fk->ncolumns);
		free_names(fk->ref_columns, fk->ncolumns);
		ferry_free(fk->ref_table);
		ferry_free(fk->on_delete);
		ferry_free(fk->on_update);
	}
	ferry_free(t->columns);
	ferry_free(t->indexes);
	ferry_free(t->fkeys);
	ferry_free(t->name);
	memset(t, 0, sizeof *t);
}

void ferry_schema_free(ferry_schema *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->ntables; i++)
		ferry_table_clear(&s->tables[i]);
	ferry_free(s->tables);
	s->tables = NULL;
	s->ntables = 0;
}

ferry_table *ferry_schema_find(const ferry_schema *s, const char *name)
{
	for (uint32_t i = 0; i < s->ntables; i++)
		if (strcmp(s->tables[i].name, name) == 0)
			return &s->tables[i];
	return NULL;
}

int ferry_table_column_index(const ferry_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->ncolumns; i++)
		if (strcmp(t->columns[i].name, name) == 0)
			return (int)i;
	return -1;
}

uint32_t ferry_table_pk_count(const ferry_table *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->ncolumns; i++)
		if (t->columns[i].pk_position > 0)
			n++;
	return n;
}

/* Grows an array by one zeroed element; NULL when memory runs out.
 * Arrays grow one element at a time: schemas are small and built once. */
static void *append_zeroed(void **array, uint32_t *count, size_t size)
{
	char *grown = ferry_realloc(*array, (*count + 1) * size);
	if (!grown)
		return NULL;
	*array = grown;
	char *slot = grown + (*count)++ * size;
	memset(slot, 0, size);
	return slot;
}

ferry_table *ferry_schema_add_table(ferry_schema *s)
{
	ferry_table *t =
	    append_zeroed((void **)&s->tables, &s->ntables, sizeof *s->tables);
	if (t)
		t->row_count = -1;
	return t;
}

ferry_column *ferry_table_add_column(ferry_table *t)
{
	ferry_column *c =
	    append_zeroed((void **)&t->columns, &t->ncolumns, sizeof *t->columns);
	if (c)
		c->type = (ferry_sqltype){FERRY_SQL_UNKNOWN, -1, -1, -1};
	return c;
}

ferry_index *ferry_table_add_index(ferry_table *t)
{
	return append_zeroed((void **)&t->indexes, &t->nindexes,
	                     sizeof *t->indexes);
}

ferry_fkey *ferry_table_add_fkey(ferry_table *t)
{
	return append_zeroed((void **)&t->fkeys, &t->nfkeys, sizeof *t->fkeys);
}

/* ---- SQL types ---------------------------------------------------- */

static const struct {
	const char *name;
	ferry_sqltype_kind kind;
} type_names[] = {
	{"smallint", FERRY_SQL_SMALLINT},
	{"int2", FERRY_SQL_SMALLINT},
	{"integer", FERRY_SQL_INTEGER},
	{"int", FERRY_SQL_INTEGER},
	{"int4", FERRY_SQL_INTEGER},
	{"bigint", FERRY_SQL_BIGINT},
	{"int8", FERRY_SQL_BIGINT},
	{"real", FERRY_SQL_REAL},
	{"float4", FERRY_SQL_REAL},
	{"double precision", FERRY_SQL_DOUBLE},
	{"double", FERRY_SQL_DOUBLE},
	{"float8", FERRY_SQL_DOUBLE},
	{"numeric", FERRY_SQL_NUMERIC},
	{"decimal", FERRY_SQL_NUMERIC},
	{"text", FERRY_SQL_TEXT},
	{"varchar", FERRY_SQL_VARCHAR},
	{"character varying", FERRY_SQL_VARCHAR},
	{"char", FERRY_SQL_CHAR},
	{"character", FERRY_SQL_CHAR},
	{"bpchar", FERRY_SQL_CHAR},
	{"bytea", FERRY_SQL_BYTEA},
	{"boolean", FERRY_SQL_BOOLEAN},
	{"bool", FERRY_SQL_BOOLEAN},
	{"date", FERRY_SQL_DATE},
	{"timestamp", FERRY_SQL_TIMESTAMP},
	{"timestamp without time zone", FERRY_SQL_TIMESTAMP},
	{"timestamptz", FERRY_SQL_TIMESTAMPTZ},
	{"timestamp with time zone", FERRY_SQL_TIMESTAMPTZ},
	{"json", FERRY_SQL_JSON},
	{"jsonb", FERRY_SQL_JSONB},
	{"uuid", FERRY_SQL_UUID},
};

/* Copies text lower-cased with runs of white space folded to one space
 * and trimmed; false if it does not fit. */
static bool fold(const char *text, char *out, size_t cap)
{
	size_t n = 0;
	bool space = false;
	for (const char *p = text; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = n > 0;
			continue;
		}
		if (space && *p != '(' && out[n - 1] != '(' && *p != ',' &&
		    *p != ')' && out[n - 1] != ',') {
			if (n + 1 >= cap)
				return false;
			out[n++] = ' ';
		}
		space = false;
		if (n + 1 >= cap)
			return false;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
	return true;
}

/* Parses "(a)" or "(a,b)" at s; returns the count of numbers, -1 if bad. */
static int parse_params(const char *s, long *a, long *b)
{
	char *end;
	if (*s != '(')
		return -1;
	*a = strtol(s + 1, &end, 10);
	if (end == s + 1 || *a < 0 || *a > 1000000)
		return -1;
	if (*end == ')' && end[1] == '\0')
		return 1;
	if (*end != ',')
		return -1;
	const char *second = end + 1;
	*b = strtol(second, &end, 10);
	if (end == second || *b < -1000 || *b > 1000000 || *end != ')' ||
	    end[1] != '\0')
		return -1;
	return 2;
}

static int bad_type(ferry_error *err, const char *text, const char *why)
{
	return ferry_error_set(err, FERRY_EINVAL, "unknown column type \"%s\"%s",
	                       text, why);
}

int ferry_sqltype_parse(ferry_sqltype *out, const char *text, ferry_error *err)
{
	char folded[96];
	if (!fold(text, folded, sizeof folded))
		return bad_type(err, text, "");
	char *paren = strchr(folded, '(');
	size_t base_len = paren ? (size_t)(paren - folded) : strlen(folded);
	while (base_len > 0 && folded[base_len - 1] == ' ')
		base_len--;
	ferry_sqltype t = {FERRY_SQL_UNKNOWN, -1, -1, -1};
	for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
		if (strlen(type_names[i].name) == base_len &&
		    strncmp(type_names[i].name, folded, base_len) == 0)
			t.kind = type_names[i].kind;
	if (t.kind == FERRY_SQL_UNKNOWN)
		return bad_type(err, text,
		                " (known: bigint, integer, smallint, numeric(p,s), "
		                "double precision, real, text, varchar(n), char(n), "
		                "bytea, boolean, date, timestamp, timestamptz, json, "
		                "jsonb, uuid)");
	if (paren) {
		long a = 0, b = 0;
		int n = parse_params(paren, &a, &b);
		if (t.kind == FERRY_SQL_NUMERIC && n >= 1) {
			if (a < 1 || a > 1000)
				return bad_type(err, text, ": precision must be 1..1000");
			if (n == 2 && (b < 0 || b > 1000))
				return bad_type(err, text, ": scale must be 0..1000");
			t.precision = (int32_t)a;
			t.scale = n == 2 ? (int32_t)b : 0;
		} else if ((t.kind == FERRY_SQL_VARCHAR || t.kind == FERRY_SQL_CHAR) &&
		           n == 1 && a >= 1) {
			t.length = (int32_t)a;
		} else {
			return bad_type(err, text, ": bad type modifier");
		}
	} else if (t.kind == FERRY_SQL_CHAR) {
		t.length = 1; /* SQL: char means char(1) */
	}
	*out = t;
	return 0;
}

void ferry_sqltype_format(const ferry_sqltype *t, ferry_buf *out)
{
	static const char *const names[] = {
		[FERRY_SQL_UNKNOWN] = "text",
		[FERRY_SQL_SMALLINT] = "smallint",
		[FERRY_SQL_INTEGER] = "integer",
		[FERRY_SQL_BIGINT] = "bigint",
		[FERRY_SQL_REAL] = "real",
		[FERRY_SQL_DOUBLE] = "double precision",
		[FERRY_SQL_NUMERIC] = "numeric",
		[FERRY_SQL_TEXT] = "text",
		[FERRY_SQL_VARCHAR] = "character varying",
		[FERRY_SQL_CHAR] = "character",
		[FERRY_SQL_BYTEA] = "bytea",
		[FERRY_SQL_BOOLEAN] = "boolean",
		[FERRY_SQL_DATE] = "date",
		[FERRY_SQL_TIMESTAMP] = "timestamp without time zone",
		[FERRY_SQL_TIMESTAMPTZ] = "timestamp with time zone",
		[FERRY_SQL_JSON] = "json",
		[FERRY_SQL_JSONB] = "jsonb",
		[FERRY_SQL_UUID] = "uuid",
	};
	ferry_buf_puts(out, names[t->kind]);
	if (t->kind == FERRY_SQL_NUMERIC && t->precision > 0)
		ferry_buf_printf(out, "(%d,%d)", t->precision,
		                 t->scale < 0 ? 0 : t->scale);
	else if ((t->kind == FERRY_SQL_VARCHAR || t->kind == FERRY_SQL_CHAR) &&
	         t->length > 0)
		ferry_buf_printf(out, "(%d)", t->length);
}

ferry_type ferry_sqltype_value_type(const ferry_sqltype *t)
{
	switch (t->kind) {
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT:
		return FERRY_INT;
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE:
		return FERRY_FLOAT;
	case FERRY_SQL_NUMERIC:
		return FERRY_NUMERIC;
	case FERRY_SQL_BYTEA:
		return FERRY_BLOB;
	case FERRY_SQL_BOOLEAN:
		return FERRY_BOOL;
	case FERRY_SQL_DATE:
		return FERRY_DATE;
	case FERRY_SQL_TIMESTAMP:
		return FERRY_TIMESTAMP;
	case FERRY_SQL_TIMESTAMPTZ:
		return FERRY_TIMESTAMPTZ;
	case FERRY_SQL_JSON:
	case FERRY_SQL_JSONB:
		return FERRY_JSON;
	case FERRY_SQL_UUID:
		return FERRY_UUID;
	default:
		return FERRY_TEXT;
	}
}

/* "id=5" or "a=1, b='x'" from the primary key; "row N" for rowid tables. */
void ferry_row_key_format(const ferry_table *t, const ferry_row *row,
                          int64_t n, ferry_buf *out)
{
	uint32_t npk = ferry_table_pk_count(t);
	if (npk == 0) {
		ferry_buf_printf(out, "row %lld", (long long)n);
		return;
	}
	for (uint32_t k = 1; k <= npk; k++)
		for (uint32_t i = 0; i < t->ncolumns; i++)
			if (t->columns[i].pk_position == (int)k) {
				ferry_buf_printf(out, "%s%s=", k > 1 ? ", " : "",
				                 t->columns[i].name);
				ferry_value_format(&row->values[i], out, 200);
			}
}

