/* Unit tests for engine/schema: every type spelling schema.h lists,
 * white space and case, refusals with their messages, format round
 * trips, the value type of each column type, and the table model helpers
 * (lookup, keys, appending, clearing) including allocation failures. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "tests/tap.h"

typedef struct spelling {
	const char *text;
	ferry_sqltype_kind kind;
	int32_t precision, scale, length;
} spelling;

/* Every spelling of schema.h's list, plus case and white space. */
static const spelling spellings[] = {
	{"smallint", FERRY_SQL_SMALLINT, -1, -1, -1},
	{"int2", FERRY_SQL_SMALLINT, -1, -1, -1},
	{"integer", FERRY_SQL_INTEGER, -1, -1, -1},
	{"int", FERRY_SQL_INTEGER, -1, -1, -1},
	{"int4", FERRY_SQL_INTEGER, -1, -1, -1},
	{"bigint", FERRY_SQL_BIGINT, -1, -1, -1},
	{"int8", FERRY_SQL_BIGINT, -1, -1, -1},
	{"real", FERRY_SQL_REAL, -1, -1, -1},
	{"float4", FERRY_SQL_REAL, -1, -1, -1},
	{"double precision", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"float8", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"double", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"numeric", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"numeric(12)", FERRY_SQL_NUMERIC, 12, 0, -1},
	{"numeric(12,2)", FERRY_SQL_NUMERIC, 12, 2, -1},
	{"numeric(1000,1000)", FERRY_SQL_NUMERIC, 1000, 1000, -1},
	{"numeric(1,0)", FERRY_SQL_NUMERIC, 1, 0, -1},
	{"decimal", FERRY_SQL_NUMERIC, -1, -1, -1},
	{"decimal(10)", FERRY_SQL_NUMERIC, 10, 0, -1},
	{"decimal(10,4)", FERRY_SQL_NUMERIC, 10, 4, -1},
	{"text", FERRY_SQL_TEXT, -1, -1, -1},
	{"varchar", FERRY_SQL_VARCHAR, -1, -1, -1},
	{"varchar(40)", FERRY_SQL_VARCHAR, -1, -1, 40},
	{"character varying", FERRY_SQL_VARCHAR, -1, -1, -1},
	{"character varying(20)", FERRY_SQL_VARCHAR, -1, -1, 20},
	{"char", FERRY_SQL_CHAR, -1, -1, 1},
	{"char(3)", FERRY_SQL_CHAR, -1, -1, 3},
	{"character", FERRY_SQL_CHAR, -1, -1, 1},
	{"character(7)", FERRY_SQL_CHAR, -1, -1, 7},
	{"bytea", FERRY_SQL_BYTEA, -1, -1, -1},
	{"boolean", FERRY_SQL_BOOLEAN, -1, -1, -1},
	{"bool", FERRY_SQL_BOOLEAN, -1, -1, -1},
	{"date", FERRY_SQL_DATE, -1, -1, -1},
	{"timestamp", FERRY_SQL_TIMESTAMP, -1, -1, -1},
	{"timestamp without time zone", FERRY_SQL_TIMESTAMP, -1, -1, -1},
	{"timestamptz", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"timestamp with time zone", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"json", FERRY_SQL_JSON, -1, -1, -1},
	{"jsonb", FERRY_SQL_JSONB, -1, -1, -1},
	{"uuid", FERRY_SQL_UUID, -1, -1, -1},
	/* case */
	{"BIGINT", FERRY_SQL_BIGINT, -1, -1, -1},
	{"Integer", FERRY_SQL_INTEGER, -1, -1, -1},
	{"Double Precision", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"NUMERIC(12,2)", FERRY_SQL_NUMERIC, 12, 2, -1},
	{"VarChar(9)", FERRY_SQL_VARCHAR, -1, -1, 9},
	{"TIMESTAMP WITH TIME ZONE", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"TimeStampTZ", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"UUID", FERRY_SQL_UUID, -1, -1, -1},
	{"JSONB", FERRY_SQL_JSONB, -1, -1, -1},
	/* white space */
	{"double   precision", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"double\tprecision", FERRY_SQL_DOUBLE, -1, -1, -1},
	{"  integer  ", FERRY_SQL_INTEGER, -1, -1, -1},
	{"\tint8\n", FERRY_SQL_BIGINT, -1, -1, -1},
	{"numeric( 12 , 2 )", FERRY_SQL_NUMERIC, 12, 2, -1},
	{"numeric (12,2)", FERRY_SQL_NUMERIC, 12, 2, -1},
	{"numeric(12, 2)", FERRY_SQL_NUMERIC, 12, 2, -1},
	{" decimal ( 5 ) ", FERRY_SQL_NUMERIC, 5, 0, -1},
	{"character  varying ( 20 )", FERRY_SQL_VARCHAR, -1, -1, 20},
	{"varchar (8)", FERRY_SQL_VARCHAR, -1, -1, 8},
	{"char( 2 )", FERRY_SQL_CHAR, -1, -1, 2},
	{"timestamp  with  time   zone", FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	{"timestamp without\ttime zone", FERRY_SQL_TIMESTAMP, -1, -1, -1},
};

/* The text for a test name: control bytes as \t, \n (TAP names are one
 * line).  Rotates through a few buffers so two can be used at once. */
static const char *esc(const char *text)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];
	size_t n = 0;
	for (const char *p = text; *p && n + 3 < sizeof bufs[0]; p++) {
		if (*p == '\n' || *p == '\t') {
			b[n++] = '\\';
			b[n++] = *p == '\n' ? 'n' : 't';
		} else {
			b[n++] = *p;
		}
	}
	b[n] = '\0';
	return b;
}

static void parses(const spelling *s)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_sqltype t = {FERRY_SQL_UNKNOWN, 99, 99, 99};
	int rc = ferry_sqltype_parse(&t, s->text, &err);
	is_int(rc, 0, "parse \"%s\"", esc(s->text));
	if (rc != 0)
		tap_diag("%s", ferry_error_message(&err));
	ok(t.kind == s->kind && t.precision == s->precision &&
	       t.scale == s->scale && t.length == s->length,
	   "\"%s\" -> kind %d (%d,%d) length %d", esc(s->text), (int)s->kind,
	   s->precision, s->scale, s->length);
	if (t.kind != s->kind || t.precision != s->precision ||
	    t.scale != s->scale || t.length != s->length)
		tap_diag("got kind %d (%d,%d) length %d", (int)t.kind, t.precision,
		         t.scale, t.length);
	is_int(err.code, FERRY_OK, "\"%s\": no error held", esc(s->text));
	ferry_error_clear(&err);
}

static const char known[] =
    " (known: bigint, integer, smallint, numeric(p,s), double precision, "
    "real, text, varchar(n), char(n), bytea, boolean, date, timestamp, "
    "timestamptz, json, jsonb, uuid)";

/* A refusal: FERRY_EINVAL, the exact message, and *out untouched. */
static void refused(const char *text, const char *why)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_sqltype t = {FERRY_SQL_JSON, 7, 8, 9};
	int rc = ferry_sqltype_parse(&t, text, &err);
	is_int(rc, FERRY_EINVAL, "\"%s\" refused", text);
	char want[512];
	snprintf(want, sizeof want, "unknown column type \"%s\"%s", text, why);
	is_str(ferry_error_message(&err), want, "\"%s\": message", text);
	ok(t.kind == FERRY_SQL_JSON && t.precision == 7 && t.scale == 8 &&
	       t.length == 9,
	   "\"%s\": the output is left as it was", text);
	ferry_error_clear(&err);
}

static void formats(ferry_sqltype t, const char *want)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "<");
	ferry_sqltype_format(&t, &b);
	char expect[128];
	snprintf(expect, sizeof expect, "<%s", want);
	is_str(ferry_buf_cstr(&b), expect, "format kind %d -> \"%s\" (appended)",
	       (int)t.kind, want);
	ferry_buf_free(&b);
}

/* format then parse gives the same type */
static void round_trip(const char *text)
{
	ferry_sqltype t, back = {FERRY_SQL_UNKNOWN, 0, 0, 0};
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_sqltype_parse(&t, text, &err) != 0) {
		ok(0, "round trip \"%s\": parses", esc(text));
		ferry_error_clear(&err);
		return;
	}
	ferry_buf b = FERRY_BUF_INIT;
	ferry_sqltype_format(&t, &b);
	const char *shown = ferry_buf_cstr(&b);
	int rc = ferry_sqltype_parse(&back, shown, &err);
	is_int(rc, 0, "round trip \"%s\" -> \"%s\" parses", esc(text), shown);
	ok(back.kind == t.kind && back.precision == t.precision &&
	       back.scale == t.scale && back.length == t.length,
	   "round trip \"%s\" -> \"%s\" gives the same type", esc(text), shown);
	/* and formatting again is stable */
	ferry_buf again = FERRY_BUF_INIT;
	ferry_sqltype_format(&back, &again);
	is_str(ferry_buf_cstr(&again), shown, "\"%s\" formats stably", shown);
	ferry_buf_free(&again);
	ferry_buf_free(&b);
	ferry_error_clear(&err);
}

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++)
		parses(&spellings[i]);

	/* err may be NULL */
	ferry_sqltype t;
	is_int(ferry_sqltype_parse(&t, "bigint", NULL), 0, "parse with no error");
	is_int(t.kind, FERRY_SQL_BIGINT, "parse with no error: kind");
	is_int(ferry_sqltype_parse(&t, "bignit", NULL), FERRY_EINVAL,
	       "refusal with no error object");

	/* a held error is replaced on refusal */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_error_set(&err, FERRY_ERROR, "old");
	ferry_sqltype_parse(&t, "strng", &err);
	is_int(err.code, FERRY_EINVAL, "refusal replaces a held error's code");
	ferry_error_clear(&err);
}

static void test_refusals(void)
{
	refused("strng", known);
	refused("string", known);
	refused("", known);
	refused("   ", known);
	refused("(5)", known);
	refused("int integer", known);
	refused("double precision precision", known);
	refused("timestamp with zone", known);
	refused("timestamp with time zones", known);
	refused("doubleprecision", known);
	refused("varchar2(10)", known);
	refused("serial", known);
	refused("blob", known);
	refused("datetime", known);
	refused("numeric(0)", ": precision must be 1..1000");
	refused("numeric(0,0)", ": precision must be 1..1000");
	refused("numeric(1001)", ": precision must be 1..1000");
	refused("numeric(1001,2)", ": precision must be 1..1000");
	refused("numeric(5,-2)", ": scale must be 0..1000");
	refused("numeric(5,-1)", ": scale must be 0..1000");
	refused("numeric(5,1001)", ": scale must be 0..1000");
	refused("decimal(0)", ": precision must be 1..1000");
	refused("numeric(-5)", ": bad type modifier");
	refused("numeric()", ": bad type modifier");
	refused("numeric(a)", ": bad type modifier");
	refused("numeric(5,)", ": bad type modifier");
	refused("numeric(5,2", ": bad type modifier");
	refused("numeric(5,2)x", ": bad type modifier");
	refused("numeric(5,2,1)", ": bad type modifier");
	refused("numeric(5 2)", ": bad type modifier");
	refused("numeric(1e3)", ": bad type modifier");
	refused("numeric(99999999999999999999)", ": bad type modifier");
	refused("varchar(0)", ": bad type modifier");
	refused("varchar(-3)", ": bad type modifier");
	refused("varchar(10,2)", ": bad type modifier");
	refused("varchar()", ": bad type modifier");
	refused("varchar(x)", ": bad type modifier");
	refused("char(0)", ": bad type modifier");
	refused("character varying(0)", ": bad type modifier");
	refused("text(5)", ": bad type modifier");
	refused("integer(5)", ": bad type modifier");
	refused("bigint(20)", ": bad type modifier");
	refused("timestamp(3)", ": bad type modifier");
	refused("boolean()", ": bad type modifier");
	refused("uuid(1)", ": bad type modifier");

	/* longer than anything known: refused by its whole text */
	char longname[121];
	memset(longname, 'a', 120);
	longname[120] = '\0';
	refused(longname, "");
	char long_numeric[200] = "numeric(12,2)";
	memset(long_numeric + 13, '0', 150);
	long_numeric[163] = '\0';
	refused(long_numeric, "");
	/* white space does not count against the length */
	char padded[220];
	memset(padded, ' ', 200);
	strcpy(padded + 200, "integer");
	ferry_sqltype t;
	is_int(ferry_sqltype_parse(&t, padded, NULL), 0,
	       "200 spaces then integer parses");
	is_int(t.kind, FERRY_SQL_INTEGER, "as integer");
}

static void test_format(void)
{
	formats((ferry_sqltype){FERRY_SQL_SMALLINT, -1, -1, -1}, "smallint");
	formats((ferry_sqltype){FERRY_SQL_INTEGER, -1, -1, -1}, "integer");
	formats((ferry_sqltype){FERRY_SQL_BIGINT, -1, -1, -1}, "bigint");
	formats((ferry_sqltype){FERRY_SQL_REAL, -1, -1, -1}, "real");
	formats((ferry_sqltype){FERRY_SQL_DOUBLE, -1, -1, -1}, "double precision");
	formats((ferry_sqltype){FERRY_SQL_NUMERIC, -1, -1, -1}, "numeric");
	formats((ferry_sqltype){FERRY_SQL_NUMERIC, 12, 2, -1}, "numeric(12,2)");
	formats((ferry_sqltype){FERRY_SQL_NUMERIC, 5, 0, -1}, "numeric(5,0)");
	formats((ferry_sqltype){FERRY_SQL_NUMERIC, 5, -1, -1}, "numeric(5,0)");
	formats((ferry_sqltype){FERRY_SQL_TEXT, -1, -1, -1}, "text");
	formats((ferry_sqltype){FERRY_SQL_VARCHAR, -1, -1, -1}, "character varying");
	formats((ferry_sqltype){FERRY_SQL_VARCHAR, -1, -1, 20},
	        "character varying(20)");
	formats((ferry_sqltype){FERRY_SQL_CHAR, -1, -1, 1}, "character(1)");
	formats((ferry_sqltype){FERRY_SQL_CHAR, -1, -1, 4}, "character(4)");
	formats((ferry_sqltype){FERRY_SQL_BYTEA, -1, -1, -1}, "bytea");
	formats((ferry_sqltype){FERRY_SQL_BOOLEAN, -1, -1, -1}, "boolean");
	formats((ferry_sqltype){FERRY_SQL_DATE, -1, -1, -1}, "date");
	formats((ferry_sqltype){FERRY_SQL_TIMESTAMP, -1, -1, -1},
	        "timestamp without time zone");
	formats((ferry_sqltype){FERRY_SQL_TIMESTAMPTZ, -1, -1, -1},
	        "timestamp with time zone");
	formats((ferry_sqltype){FERRY_SQL_JSON, -1, -1, -1}, "json");
	formats((ferry_sqltype){FERRY_SQL_JSONB, -1, -1, -1}, "jsonb");
	formats((ferry_sqltype){FERRY_SQL_UUID, -1, -1, -1}, "uuid");
	formats((ferry_sqltype){FERRY_SQL_UNKNOWN, -1, -1, -1}, "text");

	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++)
		round_trip(spellings[i].text);
}

static void test_value_type(void)
{
	static const struct {
		ferry_sqltype_kind kind;
		ferry_type type;
	} map[] = {
		{FERRY_SQL_UNKNOWN, FERRY_TEXT},
		{FERRY_SQL_SMALLINT, FERRY_INT},
		{FERRY_SQL_INTEGER, FERRY_INT},
		{FERRY_SQL_BIGINT, FERRY_INT},
		{FERRY_SQL_REAL, FERRY_FLOAT},
		{FERRY_SQL_DOUBLE, FERRY_FLOAT},
		{FERRY_SQL_NUMERIC, FERRY_NUMERIC},
		{FERRY_SQL_TEXT, FERRY_TEXT},
		{FERRY_SQL_VARCHAR, FERRY_TEXT},
		{FERRY_SQL_CHAR, FERRY_TEXT},
		{FERRY_SQL_BYTEA, FERRY_BLOB},
		{FERRY_SQL_BOOLEAN, FERRY_BOOL},
		{FERRY_SQL_DATE, FERRY_DATE},
		{FERRY_SQL_TIMESTAMP, FERRY_TIMESTAMP},
		{FERRY_SQL_TIMESTAMPTZ, FERRY_TIMESTAMPTZ},
		{FERRY_SQL_JSON, FERRY_JSON},
		{FERRY_SQL_JSONB, FERRY_JSON},
		{FERRY_SQL_UUID, FERRY_UUID},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		ferry_sqltype t = {map[i].kind, 10, 2, 5};
		is_int(ferry_sqltype_value_type(&t), map[i].type,
		       "value type of kind %d is %s", (int)map[i].kind,
		       ferry_type_name(map[i].type));
	}
	/* through parsing too */
	ferry_sqltype t;
	ferry_sqltype_parse(&t, "numeric(12,2)", NULL);
	is_int(ferry_sqltype_value_type(&t), FERRY_NUMERIC, "numeric(12,2) carries numeric");
	ferry_sqltype_parse(&t, "character varying(3)", NULL);
	is_int(ferry_sqltype_value_type(&t), FERRY_TEXT, "varchar(3) carries text");
	ferry_sqltype_parse(&t, "float4", NULL);
	is_int(ferry_sqltype_value_type(&t), FERRY_FLOAT, "float4 carries float");
}

/* ---- the table model ---- */

static int add_col(ferry_table *t, const char *name, const char *decl,
                   int pk, const char *def)
{
	ferry_column *c = ferry_table_add_column(t);
	if (!c)
		return -1;
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(decl);
	c->pk_position = pk;
	c->default_sql = def ? ferry_strdup(def) : NULL;
	ferry_sqltype_parse(&c->type, decl, NULL);
	return 0;
}

static char **names2(const char *a, const char *b)
{
	char **n = ferry_calloc(2, sizeof *n);
	n[0] = ferry_strdup(a);
	n[1] = b ? ferry_strdup(b) : NULL;
	return n;
}

static void test_tables(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ok(ferry_schema_find(&s, "users") == NULL, "empty schema: nothing found");

	ferry_table *t = ferry_schema_add_table(&s);
	ok(t != NULL, "add a table");
	is_int(s.ntables, 1, "one table");
	ok(t == &s.tables[0], "the pointer is the new last element");
	ok(t->name == NULL && t->columns == NULL && t->ncolumns == 0 &&
	       t->indexes == NULL && t->nindexes == 0 && t->fkeys == NULL &&
	       t->nfkeys == 0 && !t->without_rowid && !t->rowid_key,
	   "a new table is zeroed");
	is_int(t->row_count, -1, "a new table's row count is unknown (-1)");
	t->name = ferry_strdup("users");
	is_int(ferry_table_pk_count(t), 0, "no columns: no key");
	is_int(ferry_table_column_index(t, "id"), -1, "no columns: no index");

	ferry_column *c = ferry_table_add_column(t);
	ok(c != NULL && c == &t->columns[0], "add a column");
	ok(c->name == NULL && c->decl_type == NULL && !c->not_null &&
	       c->default_sql == NULL && c->pk_position == 0 && !c->autoincrement,
	   "a new column is zeroed");
	ok(c->type.kind == FERRY_SQL_UNKNOWN && c->type.precision == -1 &&
	       c->type.scale == -1 && c->type.length == -1,
	   "a new column's type is unknown with no modifiers");
	c->name = ferry_strdup("id");
	c->decl_type = ferry_strdup("INTEGER");
	c->pk_position = 1;
	add_col(t, "name", "text", 0, "'x'");
	add_col(t, "Email", "varchar(40)", 0, NULL);
	for (int i = 0; i < 40; i++) { /* growth moves the array */
		char n[16];
		snprintf(n, sizeof n, "c%d", i);
		add_col(t, n, "integer", 0, i % 2 ? "0" : NULL);
	}
	is_int(t->ncolumns, 43, "43 columns");
	is_int(ferry_table_column_index(t, "id"), 0, "column_index id");
	is_int(ferry_table_column_index(t, "name"), 1, "column_index name");
	is_int(ferry_table_column_index(t, "Email"), 2, "column_index Email");
	is_int(ferry_table_column_index(t, "email"), -1,
	       "column_index is an exact match (case)");
	is_int(ferry_table_column_index(t, "c39"), 42, "column_index of the last");
	is_int(ferry_table_column_index(t, "c4"), 7, "c4 is not confused with c40");
	is_int(ferry_table_column_index(t, ""), -1, "empty name not found");
	is_int(ferry_table_column_index(t, "nam"), -1, "prefix not found");
	is_str(t->columns[1].default_sql, "'x'", "defaults are kept");
	is_int(ferry_table_pk_count(t), 1, "single-column key");

	ferry_index *ix = ferry_table_add_index(t);
	ok(ix && ix->name == NULL && !ix->unique && ix->columns == NULL &&
	       ix->ncolumns == 0 && ix->where_sql == NULL,
	   "a new index is zeroed");
	ix->name = ferry_strdup("users_email");
	ix->unique = true;
	ix->columns = names2("Email", "name");
	ix->ncolumns = 2;
	ix->where_sql = ferry_strdup("Email IS NOT NULL");
	ferry_index *ix2 = ferry_table_add_index(t);
	ok(ix2 == &t->indexes[1], "second index");
	is_int(t->nindexes, 2, "two indexes");
	is_str(t->indexes[0].name, "users_email", "first index kept after growth");
	ix2->name = ferry_strdup("users_name");
	ix2->columns = names2("name", NULL);
	ix2->ncolumns = 1;

	/* a second table: orders with a composite key and foreign keys */
	ferry_table *o = ferry_schema_add_table(&s);
	ok(o == &s.tables[1], "second table appended");
	t = &s.tables[0]; /* may have moved */
	is_str(t->name, "users", "first table survives growth");
	o->name = ferry_strdup("orders");
	add_col(o, "shop", "integer", 2, NULL);
	add_col(o, "id", "bigint", 1, NULL);
	add_col(o, "user_id", "integer", 0, NULL);
	is_int(ferry_table_pk_count(o), 2, "composite key: two columns");
	ferry_fkey *fk = ferry_table_add_fkey(o);
	ok(fk && fk->name == NULL && fk->columns == NULL && fk->ncolumns == 0 &&
	       fk->ref_table == NULL && fk->ref_columns == NULL &&
	       fk->on_delete == NULL && fk->on_update == NULL,
	   "a new foreign key is zeroed");
	fk->columns = names2("user_id", "shop");
	fk->ref_columns = names2("id", NULL); /* NULL: the primary key */
	fk->ncolumns = 2;
	fk->ref_table = ferry_strdup("users");
	fk->on_delete = ferry_strdup("CASCADE");
	fk->on_update = ferry_strdup("SET NULL");
	fk->name = ferry_strdup("orders_user");
	ferry_fkey *fk2 = ferry_table_add_fkey(o);
	ok(fk2 == &o->fkeys[1] && o->nfkeys == 2, "second foreign key");
	fk2->columns = names2("shop", NULL);
	fk2->ncolumns = 1;
	fk2->ref_columns = ferry_calloc(1, sizeof *fk2->ref_columns);
	fk2->ref_table = ferry_strdup("shops");

	for (int i = 0; i < 20; i++) {
		ferry_table *x = ferry_schema_add_table(&s);
		char n[16];
		snprintf(n, sizeof n, "t%d", i);
		x->name = ferry_strdup(n);
	}
	is_int(s.ntables, 22, "22 tables");
	ok(ferry_schema_find(&s, "users") == &s.tables[0], "find users");
	ok(ferry_schema_find(&s, "orders") == &s.tables[1], "find orders");
	ok(ferry_schema_find(&s, "t19") == &s.tables[21], "find the last table");
	ok(ferry_schema_find(&s, "t1") == &s.tables[3], "t1 is not t10..t19");
	ok(ferry_schema_find(&s, "Users") == NULL, "find is exact (case)");
	ok(ferry_schema_find(&s, "user") == NULL, "find is exact (prefix)");
	ok(ferry_schema_find(&s, "") == NULL, "empty name not found");
	is_str(s.tables[1].fkeys[0].ref_table, "users", "fkey data intact");
	is_str(s.tables[0].indexes[0].columns[1], "name", "index data intact");

	/* clearing one table zeroes it and leaks nothing (ASan checks) */
	ferry_table_clear(&s.tables[1]);
	ok(s.tables[1].name == NULL && s.tables[1].ncolumns == 0 &&
	       s.tables[1].columns == NULL && s.tables[1].nfkeys == 0 &&
	       s.tables[1].fkeys == NULL && s.tables[1].nindexes == 0 &&
	       s.tables[1].row_count == 0,
	   "table_clear zeroes the table");
	/* a cleared table can be filled again */
	o = &s.tables[1];
	o->name = ferry_strdup("orders2");
	add_col(o, "id", "integer", 1, NULL);
	is_int(o->ncolumns, 1, "a cleared table takes columns again");
	ok(ferry_schema_find(&s, "orders2") == o, "and is found by its new name");
	ferry_table_clear(NULL);

	ferry_schema_free(&s);
	ok(s.tables == NULL && s.ntables == 0, "schema_free empties the schema");
	ferry_schema_free(&s); /* twice is fine */
	ferry_schema_free(NULL);
	ok(ferry_schema_find(&s, "users") == NULL, "freed schema finds nothing");
}

/* Appending under allocation failure: NULL, and the parent unchanged. */
static void test_alloc_failures(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = ferry_schema_add_table(&s);
	t->name = ferry_strdup("t");
	add_col(t, "a", "integer", 1, NULL);

	ferry_alloc_fail_at(1, 0);
	ok(ferry_schema_add_table(&s) == NULL, "add_table fails cleanly");
	is_int(ferry_alloc_failures(), 1, "one injected failure");
	is_int(s.ntables, 1, "the schema keeps one table");
	t = &s.tables[0];
	ferry_alloc_fail_at(1, 0);
	ok(ferry_table_add_column(t) == NULL, "add_column fails cleanly");
	is_int(t->ncolumns, 1, "the table keeps one column");
	is_str(t->columns[0].name, "a", "and its data");
	ferry_alloc_fail_at(1, 0);
	ok(ferry_table_add_index(t) == NULL, "add_index fails cleanly");
	is_int(t->nindexes, 0, "no index added");
	ferry_alloc_fail_at(1, 0);
	ok(ferry_table_add_fkey(t) == NULL, "add_fkey fails cleanly");
	is_int(t->nfkeys, 0, "no foreign key added");
	ferry_alloc_fail_at(0, 0);

	/* building a whole schema under failure at every step */
	long n;
	int clean = 1;
	for (n = 1; n < 1000; n++) {
		ferry_schema x = FERRY_SCHEMA_INIT;
		ferry_alloc_fail_at(n, 0);
		int failed = 0;
		for (int i = 0; i < 3 && !failed; i++) {
			ferry_table *tt = ferry_schema_add_table(&x);
			if (!tt) {
				failed = 1;
				break;
			}
			tt->name = ferry_strdup("tbl");
			for (int j = 0; j < 4 && !failed; j++)
				failed = add_col(tt, "c", "text", j == 0, "'d'") < 0;
			ferry_index *ii = failed ? NULL : ferry_table_add_index(tt);
			if (!failed && !ii)
				failed = 1;
			if (ii) {
				ii->name = ferry_strdup("i");
				ii->columns = ferry_calloc(1, sizeof *ii->columns);
				ii->ncolumns = ii->columns ? 1 : 0;
				if (ii->columns)
					ii->columns[0] = ferry_strdup("c");
			}
		}
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (x.ntables > 3)
			clean = 0;
		ferry_schema_free(&x);
		if (fails == 0)
			break;
	}
	ok(clean && n < 1000, "schema building under failure at every step "
	                      "(%ld runs) frees cleanly", n);
	ferry_schema_free(&s);
}

int main(void)
{
	test_parse();
	test_refusals();
	test_format();
	test_value_type();
	test_tables();
	test_alloc_failures();
	return tap_done();
}
