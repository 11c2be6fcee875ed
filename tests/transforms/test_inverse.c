/* Unit tests for transforms/inverse: source rows mapped forward by a plan
 * and back by its inverse come back as they were (renames, divide_by,
 * every type change the forward allows, split columns with up + down),
 * in the canonical forms docs/inverse.md names where the source spelling
 * cannot be known; dropped columns are absent from the reverse target,
 * added ones ignored; inexact values are rejects with their reason;
 * irreversible plans are refused with the message naming the columns and
 * the downs; the reversibility report; the transform ops; allocation
 * failures at every step of build + map. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"
#include "tests/tap.h"
#include "transforms/inverse.h"
#include "transforms/plan.h"
#include "transforms/spec.h"

/* ---- the source schema ---- */

static ferry_column *col(ferry_table *t, const char *name, const char *decl,
                         ferry_sqltype type, bool not_null, const char *def,
                         int pk)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(decl);
	c->type = type;
	c->not_null = not_null;
	c->default_sql = def ? ferry_strdup(def) : NULL;
	c->pk_position = pk;
	c->autoincrement = pk == 1 && !strcmp(decl, "INTEGER");
	return c;
}

static ferry_sqltype ty(ferry_sqltype_kind kind)
{
	return (ferry_sqltype){kind, -1, -1, -1};
}

static char **names1(const char *a)
{
	char **n = ferry_calloc(1, sizeof *n);
	n[0] = ferry_strdup(a);
	return n;
}

/*
 * users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email VARCHAR(40),
 *       balance_cents INTEGER DEFAULT 0, created TEXT DEFAULT
 *       CURRENT_TIMESTAMP, legacy TEXT DEFAULT 'old', deleted_at TEXT)
 *   unique index users_email(email), index users_legacy(legacy)
 * texts(id, t_int, t_real, t_bool, t_date, t_ts, t_tz, t_json, t_uuid,
 *       t_bytes: TEXT columns holding typed values, as SQLite apps do)
 * natives(id, i, f, bo, d, ts, tz, u, j, nu, b: one column per type)
 * orders(id, user_id REFERENCES users(id), total_cents)
 */
static void make_schema(ferry_schema *s)
{
	ferry_table *t = ferry_schema_add_table(s);
	t->name = ferry_strdup("users");
	col(t, "id", "INTEGER", ty(FERRY_SQL_BIGINT), true, NULL, 1);
	col(t, "name", "TEXT", ty(FERRY_SQL_TEXT), true, NULL, 0);
	ferry_sqltype v40 = {FERRY_SQL_VARCHAR, -1, -1, 40};
	col(t, "email", "VARCHAR(40)", v40, false, NULL, 0);
	col(t, "balance_cents", "INTEGER", ty(FERRY_SQL_BIGINT), false, "0", 0);
	col(t, "created", "TEXT", ty(FERRY_SQL_TEXT), false, "CURRENT_TIMESTAMP",
	    0);
	col(t, "legacy", "TEXT", ty(FERRY_SQL_TEXT), false, "'old'", 0);
	col(t, "deleted_at", "TEXT", ty(FERRY_SQL_TEXT), false, NULL, 0);
	ferry_index *ix = ferry_table_add_index(t);
	ix->name = ferry_strdup("users_email");
	ix->unique = true;
	ix->columns = names1("email");
	ix->ncolumns = 1;
	ix = ferry_table_add_index(t);
	ix->name = ferry_strdup("users_legacy");
	ix->columns = names1("legacy");
	ix->ncolumns = 1;

	t = ferry_schema_add_table(s);
	t->name = ferry_strdup("texts");
	col(t, "id", "INTEGER", ty(FERRY_SQL_BIGINT), true, NULL, 1);
	const char *texts[] = {"t_int", "t_real", "t_bool", "t_date", "t_ts",
	                       "t_tz", "t_json", "t_uuid", "t_bytes"};
	for (int i = 0; i < 9; i++)
		col(t, texts[i], "TEXT", ty(FERRY_SQL_TEXT), false, NULL, 0);

	t = ferry_schema_add_table(s);
	t->name = ferry_strdup("natives");
	col(t, "id", "INTEGER", ty(FERRY_SQL_BIGINT), true, NULL, 1);
	col(t, "i", "INTEGER", ty(FERRY_SQL_BIGINT), false, NULL, 0);
	col(t, "f", "REAL", ty(FERRY_SQL_DOUBLE), false, NULL, 0);
	col(t, "bo", "BOOLEAN", ty(FERRY_SQL_BOOLEAN), false, NULL, 0);
	col(t, "d", "DATE", ty(FERRY_SQL_DATE), false, NULL, 0);
	col(t, "ts", "DATETIME", ty(FERRY_SQL_TIMESTAMP), false, NULL, 0);
	col(t, "tz", "TIMESTAMPTZ", ty(FERRY_SQL_TIMESTAMPTZ), false, NULL, 0);
	col(t, "u", "UUID", ty(FERRY_SQL_UUID), false, NULL, 0);
	col(t, "j", "JSON", ty(FERRY_SQL_JSONB), false, NULL, 0);
	ferry_sqltype n122 = {FERRY_SQL_NUMERIC, 12, 2, -1};
	col(t, "nu", "NUMERIC(12,2)", n122, false, NULL, 0);
	col(t, "b", "BLOB", ty(FERRY_SQL_BYTEA), false, NULL, 0);

	t = ferry_schema_add_table(s);
	t->name = ferry_strdup("orders");
	col(t, "id", "INTEGER", ty(FERRY_SQL_BIGINT), true, NULL, 1);
	col(t, "user_id", "INTEGER", ty(FERRY_SQL_BIGINT), false, NULL, 0);
	col(t, "total_cents", "INTEGER", ty(FERRY_SQL_BIGINT), false, NULL, 0);
	ferry_fkey *fk = ferry_table_add_fkey(t);
	fk->columns = names1("user_id");
	fk->ref_table = ferry_strdup("users");
	fk->ref_columns = names1("id");
	fk->ncolumns = 1;
}

/* ---- values ---- */

static ferry_value txt(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

static ferry_value num(const char *s)
{
	return ferry_value_bytes(FERRY_NUMERIC, s, strlen(s));
}

static const char *shown(const ferry_value *v)
{
	static char bufs[4][256];
	static int next;
	char *o = bufs[next++ % 4];
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "%s ", ferry_type_name(v->type));
	ferry_value_format(v, &b, 100);
	snprintf(o, sizeof bufs[0], "%s", ferry_buf_cstr(&b));
	ferry_buf_free(&b);
	return o;
}

#define is_value(got, want, ...)                                            \
	do {                                                                    \
		const ferry_value *g_ = (got);                                      \
		ferry_value w_ = (want);                                            \
		if (!ok(ferry_value_identical(g_, &w_), __VA_ARGS__))               \
			tap_diag("got %s, want %s", shown(g_), shown(&w_));            \
	} while (0)

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* ---- a forward plan, its inverse, one mapper each way ---- */

typedef struct trip {
	ferry_spec *spec;
	ferry_plan *plan;
	ferry_transform *inv;
	uint32_t table;
	ferry_mapper *fwd, *back;
	ferry_row src, mid, out;
	ferry_reject rej;
	ferry_error err;
} trip;

static const ferry_transform_ops *const ops = &ferry_inverse_transform_ops;

static void trip_close(trip *tr)
{
	ferry_mapper_close(tr->fwd);
	if (tr->back)
		ops->mapper_close(tr->back);
	ops->free(tr->inv);
	ferry_plan_free(tr->plan);
	ferry_spec_free(tr->spec);
	ferry_row_free(&tr->src);
	ferry_row_free(&tr->mid);
	ferry_row_free(&tr->out);
	ferry_error_clear(&tr->err);
	memset(tr, 0, sizeof *tr);
}

/* Builds yaml's plan for `fwd`, its inverse for `old`, and opens both
 * mappers for table; false (diagnosed) when something fails. */
static bool trip_open(trip *tr, const ferry_schema *s, const char *yaml,
                      const char *table, ferry_dialect fwd, ferry_dialect old,
                      const char *what)
{
	memset(tr, 0, sizeof *tr);
	int rc = yaml ? ferry_spec_parse(&tr->spec, "s.yaml", yaml, strlen(yaml),
	                                 &tr->err)
	              : 0;
	if (rc == 0)
		rc = ferry_plan_build(&tr->plan, s, tr->spec, fwd, &tr->err);
	if (rc == 0)
		rc = ferry_inverse_build(&tr->inv, tr->plan, old, &tr->err);
	tr->table = UINT32_MAX;
	for (uint32_t i = 0; rc == 0 && i < tr->plan->ntables; i++)
		if (!strcmp(tr->plan->tables[i].source->name, table))
			tr->table = i;
	if (rc == 0 && tr->table == UINT32_MAX)
		rc = FERRY_ENOTFOUND;
	if (rc == 0)
		rc = ferry_mapper_open(&tr->fwd, tr->plan, &tr->plan->tables[tr->table],
		                       &tr->err);
	if (rc == 0)
		rc = ops->mapper_open(&tr->back, tr->inv, tr->table, &tr->err);
	if (!ok(rc == 0, "%s: plan, inverse and mappers", what)) {
		tap_diag("%d %s", rc, ferry_error_message(&tr->err));
		trip_close(tr);
		return false;
	}
	return true;
}

/* Maps tr->src forward into mid, then mid back into out: the inverse's
 * code (1 when both map). */
static int round_trip(trip *tr, const char *what)
{
	int rc = ferry_mapper_map(tr->fwd, &tr->src, &tr->mid, &tr->rej, &tr->err);
	if (rc != 1) {
		ok(0, "%s: forward maps (%d: %s)", what, rc,
		   rc == FERRY_EREJECT ? tr->rej.reason : ferry_error_message(&tr->err));
		return rc;
	}
	return ops->map(tr->back, &tr->mid, &tr->out, &tr->rej, &tr->err);
}

/* The value of old column name in the reverse row. */
static const ferry_value *back_value(trip *tr, const char *name)
{
	static ferry_value missing;
	missing = ferry_value_bytes(FERRY_TEXT, "(no such column)", 16);
	int i = ferry_table_column_index(ops->target_table(tr->inv, tr->table),
	                                 name);
	return i >= 0 && (uint32_t)i < tr->out.ncols ? &tr->out.values[i]
	                                               : &missing;
}

static int mid_index(trip *tr, const char *name)
{
	return ferry_table_column_index(ops->source_table(tr->inv, tr->table),
	                                name);
}

/* The reverse target's column names joined with ",". */
static const char *target_names(trip *tr)
{
	static char buf[512];
	const ferry_table *t = ops->target_table(tr->inv, tr->table);
	buf[0] = '\0';
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		strcat(buf, i ? "," : "");
		strcat(buf, t->columns[i].name);
	}
	return buf;
}

/* Every value of src identical in out (the whole row rebuilt). */
static void row_is_source(trip *tr, const char *what)
{
	bool same = tr->out.ncols == tr->src.ncols;
	for (uint32_t i = 0; same && i < tr->src.ncols; i++)
		if (!ferry_value_identical(&tr->out.values[i], &tr->src.values[i])) {
			tap_diag("column %u: got %s, want %s", i,
			         shown(&tr->out.values[i]), shown(&tr->src.values[i]));
			same = false;
		}
	ok(same, "%s: the source row comes back identical", what);
}

static void users_row(ferry_row *r, int64_t id, const char *name,
                      int64_t cents, const char *created)
{
	ferry_row_resize(r, 7, NULL);
	r->values[0] = ferry_value_int(id);
	r->values[1] = txt(name);
	r->values[2] = txt("a@x");
	r->values[3] = ferry_value_int(cents);
	r->values[4] = txt(created);
	r->values[5] = txt("L");
	r->values[6] = ferry_value_null();
}

/* ---- renames and divide_by ---- */

static void test_renames_and_cents(const ferry_schema *s)
{
	static const char yaml[] =
	    "tables:\n"
	    "  users:\n"
	    "    rename: accounts\n"
	    "    columns:\n"
	    "      name: { rename: full_name }\n"
	    "      balance_cents: { rename: balance, type: \"numeric(12,2)\", "
	    "divide_by: 100 }\n";
	trip tr;
	if (!trip_open(&tr, s, yaml, "users", FERRY_DIALECT_POSTGRESQL,
	               FERRY_DIALECT_SQLITE, "renames"))
		return;
	is_str(ops->source_table(tr.inv, tr.table)->name, "accounts",
	       "the reverse reads the target table");
	is_str(ops->target_table(tr.inv, tr.table)->name, "users",
	       "and writes the old one");
	is_str(target_names(&tr),
	       "id,name,email,balance_cents,created,legacy,deleted_at",
	       "under the old column names");
	const ferry_table *old = ops->target_table(tr.inv, tr.table);
	ok(old->columns[0].pk_position == 1 && old->columns[1].not_null &&
	       old->columns[3].type.kind == FERRY_SQL_BIGINT &&
	       !strcmp(old->columns[5].default_sql, "'old'"),
	   "with the old keys, types, NOT NULL and defaults");
	is_int(old->nindexes, 2, "and the old indexes");
	const int64_t cents[] = {1999, 0, -5, 1990, 123456789012, 1};
	const char *shown_as[] = {"19.99", "0.00", "-0.05", "19.90",
	                          "1234567890.12", "0.01"};
	for (int i = 0; i < 6; i++) {
		users_row(&tr.src, i + 1, "Ann", cents[i], "2024-01-02 03:04:05");
		int rc = round_trip(&tr, "cents");
		is_int(rc, 1, "cents %lld: maps back", (long long)cents[i]);
		is_value(&tr.mid.values[mid_index(&tr, "balance")], num(shown_as[i]),
		         "cents %lld: forward is %s", (long long)cents[i],
		         shown_as[i]);
		if (rc == 1)
			row_is_source(&tr, "cents");
	}
	/* a value written after cutover: exact when it has two places */
	int bal = mid_index(&tr, "balance");
	tr.mid.values[bal] = num("20.5");
	is_int(ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err), 1,
	       "20.5 maps back");
	is_value(back_value(&tr, "balance_cents"), ferry_value_int(2050),
	         "20.5 * 100 = 2050");
	tr.mid.values[bal] = ferry_value_null();
	is_int(ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err), 1,
	       "NULL maps back");
	is_value(back_value(&tr, "balance_cents"), ferry_value_null(),
	         "NULL stays NULL");
	trip_close(&tr);
}

static void test_inexact(const ferry_schema *s)
{
	/* divide_by without a type: an unconstrained numeric, which can hold
	 * a third decimal place after cutover */
	static const char yaml[] =
	    "tables:\n"
	    "  users:\n"
	    "    columns:\n"
	    "      balance_cents: { rename: balance, divide_by: 100 }\n";
	trip tr;
	if (!trip_open(&tr, s, yaml, "users", FERRY_DIALECT_POSTGRESQL,
	               FERRY_DIALECT_SQLITE, "inexact"))
		return;
	users_row(&tr.src, 1, "Ann", 1999, "2024-01-02 03:04:05");
	is_int(round_trip(&tr, "inexact"), 1, "1999 round trips");
	row_is_source(&tr, "unconstrained divide_by");
	int bal = mid_index(&tr, "balance");
	tr.mid.values[bal] = num("19.995");
	int rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "19.995 is a reject, not 2000 or 1999");
	is_str(rc == FERRY_EREJECT ? tr.rej.reason : NULL,
	       "numeric 19.995 * 100 = numeric 1999.5 is not an integer",
	       "the reason names the value and the product");
	is_str(rc == FERRY_EREJECT ? tr.rej.column : NULL, "balance",
	       "the column named is the captured one");
	is_value(&tr.rej.value, num("19.995"), "the value is the captured one");
	tr.mid.values[bal] = num("1e20");
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "1e20 * 100 is too large for bigint");
	ok(contains(tr.rej.reason, "is out of range for bigint"),
	   "out of range, not wrapped: %s", tr.rej.reason);
	tr.mid.values[bal] = num("-0.07");
	is_int(ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err), 1,
	       "-0.07 maps back");
	is_value(back_value(&tr, "balance_cents"), ferry_value_int(-7),
	         "-0.07 * 100 = -7");
	/* a NOT NULL old column: a NULL written after cutover is a reject */
	tr.mid.values[bal] = num("1");
	tr.mid.values[mid_index(&tr, "name")] = ferry_value_null();
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "NULL into a NOT NULL old column");
	is_str(rc == FERRY_EREJECT ? tr.rej.reason : NULL,
	       "NULL in column \"name\", which is NOT NULL in the old table",
	       "its reason");
	/* a row of the wrong width is a caller's bug: an error, not a crash */
	tr.mid.ncols = 3;
	is_int(ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err), FERRY_EINVAL,
	       "a row of the wrong width is refused");
	is_str(ferry_error_message(&tr.err),
	       "table \"users\": a row of 3 values, the table has 7 columns",
	       "naming the table and the widths");
	trip_close(&tr);
}

/* ---- type changes of SQLite text columns ---- */

static const char texts_spec[] =
    "tables:\n"
    "  texts:\n"
    "    columns:\n"
    "      t_int: { type: bigint }\n"
    "      t_real: { type: \"double precision\" }\n"
    "      t_bool: { type: boolean }\n"
    "      t_date: { type: date }\n"
    "      t_ts: { type: timestamp }\n"
    "      t_tz: { type: timestamptz }\n"
    "      t_json: { type: jsonb }\n"
    "      t_uuid: { type: uuid }\n"
    "      t_bytes: { type: bytea }\n";

static void texts_row(ferry_row *r, const char *const v[9])
{
	ferry_row_resize(r, 10, NULL);
	r->values[0] = ferry_value_int(7);
	for (int i = 0; i < 9; i++)
		r->values[i + 1] = v[i] ? txt(v[i]) : ferry_value_null();
}

static void test_text_columns(const ferry_schema *s)
{
	trip tr;
	/* SQLite -> SQLite: jsonb is not normalised there */
	if (!trip_open(&tr, s, texts_spec, "texts", FERRY_DIALECT_SQLITE,
	               FERRY_DIALECT_SQLITE, "text columns"))
		return;
	/* the canonical spellings come back identical */
	const char *canonical[9] = {
	    "-42", "0.1", "true", "2024-02-29", "2024-01-02 03:04:05.5",
	    "2024-01-02 03:04:05", "{\"a\": [1, 2.50]}",
	    "123e4567-e89b-12d3-a456-426614174000", "bytes \x01\x7f"};
	texts_row(&tr.src, canonical);
	int rc = round_trip(&tr, "canonical text");
	is_int(rc, 1, "canonical text values map back");
	if (rc == 1)
		row_is_source(&tr, "canonical spellings");
	ok(tr.mid.values[3].type == FERRY_BOOL && tr.mid.values[6].type ==
	       FERRY_TIMESTAMPTZ && tr.mid.values[8].type == FERRY_UUID,
	   "and were typed forward (bool, timestamptz, uuid)");
	/* other spellings come back in the canonical form: the same value */
	const char *other[9] = {
	    "+42", "1e-1", "YES", "2024-02-29", "2024-01-02T03:04:05.500",
	    "2024-01-02T05:04:05+02:00", "[]",
	    "{123E4567-E89B-12D3-A456-426614174000}", ""};
	const char *comes_back[9] = {
	    "42", "0.1", "true", "2024-02-29", "2024-01-02 03:04:05.5",
	    "2024-01-02 03:04:05", "[]",
	    "123e4567-e89b-12d3-a456-426614174000", ""};
	texts_row(&tr.src, other);
	rc = round_trip(&tr, "other spellings");
	is_int(rc, 1, "other spellings map back");
	for (int i = 0; rc == 1 && i < 9; i++)
		is_value(&tr.out.values[i + 1], txt(comes_back[i]),
		         "'%s' comes back as '%s'", other[i], comes_back[i]);
	/* a timestamptz: the UTC wall clock, no suffix */
	int tz = mid_index(&tr, "t_tz");
	tr.mid.values[tz] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, 0);
	is_int(ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err), 1,
	       "the epoch maps back");
	is_value(back_value(&tr, "t_tz"), txt("1970-01-01 00:00:00"),
	         "timestamptz back into text: UTC, no zone suffix");
	/* values the old text column cannot give back are rejects */
	tr.mid.values[tz] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, FERRY_TS_PINF);
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "infinity has no text form the forward reads");
	is_str(rc == FERRY_EREJECT ? tr.rej.column : NULL, "t_tz", "in t_tz");
	ok(contains(tr.rej.reason, "would come back as text 'infinity', which "
	                           "the forward conversion refuses: "),
	   "saying why: %s", tr.rej.reason);
	trip_close(&tr);

	/* jsonb on PostgreSQL: the report says so */
	ferry_spec *spec = NULL;
	ferry_plan *plan = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	ferry_spec_parse(&spec, "s.yaml", texts_spec, strlen(texts_spec), &err);
	ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(plan ? ferry_inverse_check(plan, FERRY_DIALECT_SQLITE, &report, &err)
	            : -99,
	       0, "the text columns can be rolled back");
	const char *r = ferry_buf_cstr(&report);
	ok(contains(r, "rollback lossy: table \"texts\": column \"t_tz\" (t_tz): "
	               "text timestamps come back as 'YYYY-MM-DD HH:MM:SS[.ffffff]' "
	               "in UTC (offsets and a 'T' are not kept)\n"),
	   "lossy: text timestamptz");
	ok(contains(r, "column \"t_int\" (t_int): numbers in text come back in one "
	               "spelling"),
	   "lossy: numbers in text");
	ok(contains(r, "column \"t_bool\" (t_bool): text booleans come back as "
	               "'true' or 'false'"),
	   "lossy: booleans in text");
	ok(contains(r, "column \"t_json\" (t_json): PostgreSQL normalises jsonb"),
	   "lossy: jsonb on PostgreSQL");
	ok(!contains(r, "\"t_date\"") && !contains(r, "\"t_bytes\""),
	   "not lossy: dates (one spelling) and bytes");
	ok(contains(r, "\nrollback: possible, lossy\n") &&
	       r[strlen(r) - 1] == '\n',
	   "the verdict ends the report");
	ferry_buf_free(&report);
	ferry_plan_free(plan);
	ferry_spec_free(spec);
	ferry_error_clear(&err);
}

static void test_text_rejects(const ferry_schema *s)
{
	/* an integer column carried as text on the new primary */
	static const char yaml[] =
	    "tables:\n"
	    "  natives:\n"
	    "    columns:\n"
	    "      i: { type: text }\n"
	    "      d: { type: timestamptz }\n"
	    "      f: { type: \"numeric\" }\n"
	    "      bo: { type: integer }\n";
	trip tr;
	if (!trip_open(&tr, s, yaml, "natives", FERRY_DIALECT_POSTGRESQL,
	               FERRY_DIALECT_POSTGRESQL, "rejects"))
		return;
	ferry_row_resize(&tr.src, 11, NULL);
	tr.src.values[0] = ferry_value_int(1);
	tr.src.values[1] = ferry_value_int(42);
	tr.src.values[2] = ferry_value_float(0.1);
	tr.src.values[3] = ferry_value_bool(true);
	tr.src.values[4] = ferry_value_date(19782);
	int rc = round_trip(&tr, "natives as text");
	is_int(rc, 1, "natives round trip");
	if (rc == 1)
		row_is_source(&tr, "int as text, date as timestamptz, float as "
		                   "numeric, bool as integer");
	int i = mid_index(&tr, "i");
	tr.mid.values[i] = txt("042");
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "'042' cannot come back exactly");
	is_str(rc == FERRY_EREJECT ? tr.rej.reason : NULL,
	       "text '042' would come back as int 42, which reads forward as "
	       "text '42'",
	       "the reason shows both readings");
	tr.mid.values[i] = txt("12.5");
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "'12.5' is not a bigint");
	is_str(rc == FERRY_EREJECT ? tr.rej.reason : NULL,
	       "text '12.5' is not an integer", "never rounded to 12 or 13");
	tr.mid.values[i] = txt("-9");
	int d = mid_index(&tr, "d");
	tr.mid.values[d] = ferry_value_timestamp(
	    FERRY_TIMESTAMPTZ, INT64_C(19782) * FERRY_USECS_PER_DAY + 1);
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "a time of day cannot go back into a date");
	is_str(rc == FERRY_EREJECT ? tr.rej.reason : NULL,
	       "timestamptz 2024-02-29 00:00:00.000001Z has a time of day, which "
	       "date column \"d\" cannot hold",
	       "its reason");
	tr.mid.values[d] = ferry_value_timestamp(FERRY_TIMESTAMPTZ,
	                                         -FERRY_USECS_PER_DAY);
	int f = mid_index(&tr, "f");
	tr.mid.values[f] = num("0.1000000000000000000001");
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "a numeric no double holds");
	ok(contains(tr.rej.reason, "cannot be represented exactly as a double"),
	   "its reason: %s", tr.rej.reason);
	tr.mid.values[f] = num("19.995");
	int bo = mid_index(&tr, "bo");
	tr.mid.values[bo] = ferry_value_int(2);
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, FERRY_EREJECT, "2 is not a boolean");
	is_str(rc == FERRY_EREJECT ? tr.rej.column : NULL, "bo", "in bo");
	tr.mid.values[bo] = ferry_value_int(0);
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, 1, "values the old columns hold map back");
	is_value(back_value(&tr, "i"), ferry_value_int(-9), "'-9' -> -9");
	is_value(back_value(&tr, "d"), ferry_value_date(-1),
	         "midnight UTC -> the date");
	is_value(back_value(&tr, "f"), ferry_value_float(19.995),
	         "19.995 -> the double 19.995");
	is_value(back_value(&tr, "bo"), ferry_value_bool(false), "0 -> false");
	trip_close(&tr);
}

/* ---- every native type through another type and back ---- */

static void natives_row(ferry_row *r)
{
	static const uint8_t uuid[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b,
	                                 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66,
	                                 0x14, 0x17, 0x40, 0x00};
	ferry_row_resize(r, 11, NULL);
	r->values[0] = ferry_value_int(3);
	r->values[1] = ferry_value_int(-9007199254740992);
	r->values[2] = ferry_value_float(-1234.5e-7);
	r->values[3] = ferry_value_bool(true);
	r->values[4] = ferry_value_date(-719162); /* 0001-01-01 */
	r->values[5] = ferry_value_timestamp(FERRY_TIMESTAMP,
	                                     INT64_C(1709210096789012));
	r->values[6] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, INT64_C(-1));
	r->values[7] = ferry_value_uuid(uuid);
	r->values[8] = ferry_value_bytes(FERRY_JSON, "{\"k\":[true,null]}", 17);
	r->values[9] = num("-19.90");
	r->values[10] = ferry_value_bytes(FERRY_BLOB, uuid, 16);
}

static void test_native_types(const ferry_schema *s)
{
	static const struct {
		const char *yaml;
		const char *what;
	} cases[] = {
	    {"i: { type: text }\n      f: { type: text }\n"
	     "      bo: { type: text }\n      d: { type: text }\n"
	     "      ts: { type: text }\n      tz: { type: text }\n"
	     "      u: { type: text }\n      j: { type: text }\n"
	     "      nu: { type: text }\n",
	     "everything as text"},
	    {"i: { type: \"numeric(20)\" }\n      f: { type: numeric }\n"
	     "      bo: { type: smallint }\n      d: { type: timestamp }\n"
	     "      ts: { type: timestamptz }\n      tz: { type: timestamptz }\n"
	     "      u: { type: \"varchar(36)\" }\n      j: { type: json }\n"
	     "      nu: { type: \"double precision\" }\n"
	     "      b: { type: uuid }\n",
	     "numbers widened, dates as timestamps, bytes as a uuid"},
	    {"i: { type: \"double precision\" }\n      d: { type: timestamptz }\n"
	     "      nu: { type: \"numeric(30,5)\" }\n      j: { type: jsonb }\n"
	     "      f: { type: \"double precision\" }\n",
	     "integers as doubles, a wider numeric"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		for (int dialects = 0; dialects < 2; dialects++) {
			ferry_dialect fwd = dialects ? FERRY_DIALECT_SQLITE
			                             : FERRY_DIALECT_POSTGRESQL;
			ferry_dialect old = dialects ? FERRY_DIALECT_POSTGRESQL
			                             : FERRY_DIALECT_SQLITE;
			char yaml[1024], what[160];
			snprintf(yaml, sizeof yaml,
			         "tables:\n  natives:\n    columns:\n      %s",
			         cases[k].yaml);
			snprintf(what, sizeof what, "%s (%s -> %s)", cases[k].what,
			         dialects ? "PostgreSQL" : "SQLite",
			         dialects ? "SQLite" : "PostgreSQL");
			trip tr;
			if (!trip_open(&tr, s, yaml, "natives", fwd, old, what))
				continue;
			natives_row(&tr.src);
			int rc = round_trip(&tr, what);
			is_int(rc, 1, "%s: maps back", what);
			if (rc == 1)
				row_is_source(&tr, what);
			if (rc != 1)
				tap_diag("%s", rc == FERRY_EREJECT ? tr.rej.reason
				                                   : ferry_error_message(&tr.err));
			trip_close(&tr);
		}
	}
}

/* ---- up + down, drops, adds, where ---- */

static void test_split_column(const ferry_schema *s)
{
	static const struct {
		const char *yaml;
		const char *what;
	} cases[] = {
	    {"tables:\n  users:\n    columns:\n"
	     "      name: { drop: true }\n"
	     "    add:\n"
	     "      first_name: { type: text, up: \"substr(name, 1, instr(name, ' ') "
	     "- 1)\" }\n"
	     "      last_name: { type: text, up: \"substr(name, instr(name, ' ') + "
	     "1)\" }\n"
	     "    down:\n"
	     "      name: \"first_name || ' ' || last_name\"\n",
	     "dropped, split into added columns"},
	    {"tables:\n  users:\n    columns:\n"
	     "      name: { rename: first_name, up: \"substr(name, 1, instr(name, "
	     "' ') - 1)\" }\n"
	     "    add:\n"
	     "      last_name: { type: text, up: \"substr(name, instr(name, ' ') + "
	     "1)\" }\n"
	     "    down:\n"
	     "      name: \"first_name || ' ' || last_name\"\n",
	     "renamed with up, plus an added column"},
	};
	for (int k = 0; k < 2; k++) {
		trip tr;
		if (!trip_open(&tr, s, cases[k].yaml, "users",
		               FERRY_DIALECT_POSTGRESQL, FERRY_DIALECT_SQLITE,
		               cases[k].what))
			continue;
		is_str(target_names(&tr),
		       "id,name,email,balance_cents,created,legacy,deleted_at",
		       "%s: name is rebuilt, in its place", cases[k].what);
		users_row(&tr.src, 5, "Ann Lee", 100, "2024-01-02 03:04:05");
		int rc = round_trip(&tr, cases[k].what);
		is_int(rc, 1, "%s: maps back", cases[k].what);
		is_value(&tr.mid.values[mid_index(&tr, "first_name")], txt("Ann"),
		         "%s: forward first_name", cases[k].what);
		is_value(&tr.mid.values[mid_index(&tr, "last_name")], txt("Lee"),
		         "%s: forward last_name", cases[k].what);
		if (rc == 1)
			row_is_source(&tr, cases[k].what);
		/* a change on the new primary */
		tr.mid.values[mid_index(&tr, "last_name")] = txt("Smith-Jones");
		rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
		is_int(rc, 1, "%s: a changed row maps back", cases[k].what);
		is_value(back_value(&tr, "name"), txt("Ann Smith-Jones"),
		         "%s: the down rebuilds name from the new values",
		         cases[k].what);
		/* a NULL part makes the down NULL: name is NOT NULL */
		tr.mid.values[mid_index(&tr, "last_name")] = ferry_value_null();
		rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
		is_int(rc, FERRY_EREJECT, "%s: a NULL rebuilt name is a reject",
		       cases[k].what);
		is_str(rc == FERRY_EREJECT ? tr.rej.column : NULL, "name",
		       "%s: naming the old column", cases[k].what);
		ferry_buf d = FERRY_BUF_INIT;
		ops->describe(tr.inv, &d);
		ok(contains(ferry_buf_cstr(&d),
		            "  name = first_name || ' ' || last_name\n"),
		   "%s: describe shows the down", cases[k].what);
		ferry_buf_free(&d);
		trip_close(&tr);
	}
	/* a down that fails on a row's data is a reject, not an error */
	trip tr;
	if (trip_open(&tr, s,
	              "tables:\n  users:\n    columns:\n"
	              "      name: { up: \"json_object('n', name)\" }\n"
	              "    down:\n      name: \"json_extract(name, '$.n')\"\n",
	              "users", FERRY_DIALECT_POSTGRESQL, FERRY_DIALECT_SQLITE,
	              "json down")) {
		users_row(&tr.src, 1, "Bo", 1, "2024-01-02 03:04:05");
		int rc = round_trip(&tr, "json down");
		is_int(rc, 1, "json down maps back");
		if (rc == 1)
			row_is_source(&tr, "json up + down");
		tr.mid.values[1] = txt("{not json");
		rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
		is_int(rc, FERRY_EREJECT, "malformed JSON in the down is a reject");
		ok(contains(tr.rej.reason, "a down expression failed on this row: "),
		   "saying which: %s", tr.rej.reason);
		trip_close(&tr);
	}
}

static void test_drops_and_adds(const ferry_schema *s)
{
	static const char yaml[] =
	    "tables:\n"
	    "  users:\n"
	    "    where: \"deleted_at IS NULL\"\n"
	    "    columns:\n"
	    "      legacy: { drop: true }\n"
	    "      created: { type: timestamptz }\n"
	    "    add:\n"
	    "      plan: { type: text, default: \"'free'\" }\n"
	    "      label: { type: text, up: \"name || '!'\" }\n";
	trip tr;
	if (!trip_open(&tr, s, yaml, "users", FERRY_DIALECT_POSTGRESQL,
	               FERRY_DIALECT_SQLITE, "drops and adds"))
		return;
	is_str(target_names(&tr), "id,name,email,balance_cents,created,deleted_at",
	       "the dropped column is not in the reverse target");
	const ferry_table *old = ops->target_table(tr.inv, tr.table);
	is_int(old->nindexes, 1, "nor its index");
	is_str(old->nindexes ? old->indexes[0].name : NULL, "users_email",
	       "the other index stays");
	is_int(ops->source_table(tr.inv, tr.table)->ncolumns, 8,
	       "the reverse reads all 8 target columns");
	users_row(&tr.src, 9, "Cy", 250, "2024-03-04 05:06:07");
	int rc = round_trip(&tr, "drops");
	is_int(rc, 1, "maps back");
	is_int(tr.out.ncols, 6, "six values back");
	is_value(back_value(&tr, "created"), txt("2024-03-04 05:06:07"),
	         "created comes back in its text form");
	/* added columns are ignored whatever they hold */
	tr.mid.values[mid_index(&tr, "plan")] = txt("gold");
	tr.mid.values[mid_index(&tr, "label")] = ferry_value_null();
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, 1, "changed added columns map back");
	is_value(back_value(&tr, "name"), txt("Cy"), "and change nothing");
	/* the reverse does not filter: a row leaving `where` is written */
	tr.mid.values[mid_index(&tr, "deleted_at")] = txt("2024-05-01");
	rc = ops->map(tr.back, &tr.mid, &tr.out, &tr.rej, &tr.err);
	is_int(rc, 1, "a row outside the forward where still maps back");
	is_value(back_value(&tr, "deleted_at"), txt("2024-05-01"),
	         "with its new value");
	ferry_buf d = FERRY_BUF_INIT;
	ops->describe(tr.inv, &d);
	const char *text = ferry_buf_cstr(&d);
	ok(contains(text, "reverse table \"users\" -> \"users\"\n"),
	   "describe: the table");
	ok(contains(text, "  created timestamp with time zone -> created text\n"),
	   "describe: a conversion back");
	ok(contains(text, "  legacy: not written back (dropped)\n"),
	   "describe: the dropped column");
	ok(contains(text, "  plan: ignored (added)\n  label: ignored (added)\n"),
	   "describe: the added columns");
	ok(contains(text, "rollback lossy: table \"users\": column \"legacy\" is "
	                  "dropped: the old database keeps its old values; rows "
	                  "created after cutover get its default or NULL\n"),
	   "describe: the drop is lossy");
	ok(contains(text, "rollback lossy: table \"users\": rows outside `where` "
	                  "stayed only in the old database"),
	   "describe: the where is lossy");
	ok(contains(text, "rollback: possible, lossy\n"), "describe: the verdict");
	ferry_buf_free(&d);
	is_int(ops->warning_count(tr.inv), 3, "three lossy notes as warnings");
	trip_close(&tr);
}

/* ---- refusals ---- */

static void refused(const ferry_schema *s, const char *yaml, const char *want,
                    const char *what)
{
	ferry_spec *spec = NULL;
	ferry_plan *plan = NULL;
	ferry_transform *inv = (ferry_transform *)&spec; /* must become NULL */
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_spec_parse(&spec, "s.yaml", yaml, strlen(yaml), &err);
	if (rc == 0)
		rc = ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, &err);
	if (!ok(rc == 0, "%s: the forward plan builds", what)) {
		tap_diag("%s", ferry_error_message(&err));
		ferry_spec_free(spec);
		return;
	}
	rc = ferry_inverse_build(&inv, plan, FERRY_DIALECT_SQLITE, &err);
	is_int(rc, FERRY_EINVAL, "%s: refused", what);
	ok(inv == NULL, "%s: no inverse", what);
	is_str(ferry_error_message(&err), want, "%s: the message", what);
	ferry_buf report = FERRY_BUF_INIT;
	ferry_error_clear(&err);
	rc = ferry_inverse_check(plan, FERRY_DIALECT_SQLITE, &report, &err);
	is_int(rc, FERRY_EINVAL, "%s: the check refuses too", what);
	const char *r = ferry_buf_cstr(&report);
	const char *last = r ? strstr(r, "rollback is not possible: ") : NULL;
	ok(last && !strncmp(last, want, strlen(want)) &&
	       !strcmp(last + strlen(want), "\n"),
	   "%s: the report ends with the refusal", what);
	ferry_buf_free(&report);
	ferry_plan_free(plan);
	ferry_spec_free(spec);
	ferry_error_clear(&err);
}

static void test_refusals(const ferry_schema *s)
{
	refused(s,
	        "tables:\n  users:\n    columns:\n"
	        "      name: { up: \"upper(name)\" }\n",
	        "rollback is not possible: table \"users\": column \"name\" is "
	        "computed by `up` without a `down`; add to the spec: users: down: "
	        "{ name: \"...\" } (SQLite expressions over the new table's "
	        "columns that rebuild them)",
	        "up without down");
	refused(s,
	        "tables:\n  users:\n    columns:\n"
	        "      id: { drop: true }\n"
	        "      name: { drop: true }\n"
	        "      email: { up: \"lower(email)\" }\n"
	        "      legacy: { drop: true }\n"
	        "  orders:\n    columns:\n"
	        "      total_cents: { rename: total, up: \"total_cents / 100.0\" }\n",
	        "rollback is not possible: table \"users\": column \"id\" is "
	        "dropped and is part of the primary key; table \"users\": column "
	        "\"name\" is dropped and is NOT NULL without a default; table "
	        "\"users\": column \"email\" is computed by `up` without a `down`; "
	        "table \"orders\": column \"total_cents\" is computed by `up` "
	        "without a `down`; add to the spec: users: down: { id: \"...\", "
	        "name: \"...\", email: \"...\" }, orders: down: { total_cents: "
	        "\"...\" } (SQLite expressions over the new table's columns that "
	        "rebuild them)",
	        "every column that stops it, by table");
	/* the downs the message asks for make it reversible */
	trip tr;
	if (trip_open(&tr, s,
	              "tables:\n  orders:\n    columns:\n"
	              "      total_cents: { rename: total, type: \"numeric(12,2)\", "
	              "up: \"total_cents / 100.0\" }\n"
	              "    down:\n      total_cents: \"CAST(round(total * 100) AS "
	              "INTEGER)\"\n",
	              "orders", FERRY_DIALECT_POSTGRESQL, FERRY_DIALECT_SQLITE,
	              "fixed by a down")) {
		ferry_row_resize(&tr.src, 3, NULL);
		tr.src.values[0] = ferry_value_int(1);
		tr.src.values[1] = ferry_value_int(2);
		tr.src.values[2] = ferry_value_int(1999);
		int rc = round_trip(&tr, "fixed");
		is_int(rc, 1, "fixed: maps back");
		if (rc == 1)
			row_is_source(&tr, "up with its down");
		const ferry_table *old = ops->target_table(tr.inv, tr.table);
		is_int(old->nfkeys, 1, "the old foreign key is described");
		trip_close(&tr);
	}
}

/* ---- the report and the ops ---- */

static void check_is(const ferry_schema *s, const char *yaml,
                     ferry_dialect fwd, const char *want, const char *what)
{
	ferry_spec *spec = NULL;
	ferry_plan *plan = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	int rc = yaml ? ferry_spec_parse(&spec, "s.yaml", yaml, strlen(yaml), &err)
	              : 0;
	if (rc == 0)
		rc = ferry_plan_build(&plan, s, spec, fwd, &err);
	if (rc == 0)
		rc = ferry_inverse_check(plan, FERRY_DIALECT_POSTGRESQL, &report, &err);
	is_int(rc, 0, "%s: reversible", what);
	is_str(ferry_buf_cstr(&report), want, "%s: the report", what);
	ferry_buf_free(&report);
	ferry_plan_free(plan);
	ferry_spec_free(spec);
	ferry_error_clear(&err);
}

static void test_report(const ferry_schema *s)
{
	check_is(s, NULL, FERRY_DIALECT_POSTGRESQL, "rollback: possible\n",
	         "no spec");
	check_is(s,
	         "tables:\n  users:\n    rename: a\n    columns:\n"
	         "      name: { rename: n }\n"
	         "      balance_cents: { type: \"numeric(12,2)\", divide_by: 100 }\n"
	         "  natives:\n    columns:\n"
	         "      f: { type: numeric }\n      i: { type: text }\n"
	         "      d: { type: timestamptz }\n      u: { type: text }\n",
	         FERRY_DIALECT_POSTGRESQL, "rollback: possible\n",
	         "renames, divide_by, exact conversions");
	check_is(s,
	         "tables:\n  natives:\n    columns:\n"
	         "      i: { type: \"char(20)\" }\n",
	         FERRY_DIALECT_POSTGRESQL,
	         "rollback lossy: table \"natives\": column \"i\" (i): PostgreSQL "
	         "pads char(n) with blanks and the blanks are written back\n"
	         "rollback: possible, lossy\n",
	         "char(n) on PostgreSQL");
	check_is(s,
	         "tables:\n  natives:\n    columns:\n"
	         "      i: { type: \"char(20)\" }\n",
	         FERRY_DIALECT_SQLITE, "rollback: possible\n",
	         "char(n) on SQLite is not padded");
}

static void test_ops(const ferry_schema *s)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_transform *t = (ferry_transform *)&err;
	int rc = ops->build(&t, s, NULL, FERRY_DIALECT_SQLITE, &err);
	is_int(rc, FERRY_EUNSUPPORTED, "ops: build needs a forward plan");
	ok(t == NULL, "ops: and makes nothing");
	is_str(ferry_error_message(&err),
	       "the inverse transform is built from a forward plan: use "
	       "ferry_inverse_build",
	       "ops: saying so");
	ferry_plan *plan = NULL;
	rc = ferry_plan_build(&plan, s, NULL, FERRY_DIALECT_POSTGRESQL, &err);
	if (rc == 0)
		rc = ferry_inverse_build(&t, plan, FERRY_DIALECT_SQLITE, &err);
	is_int(rc, 0, "ops: the inverse of a copy-as-is plan");
	if (rc == 0) {
		is_int(ops->table_count(t), 4, "ops: every table");
		ok(ops->source_table(t, 2) == &plan->tables[2].target,
		   "ops: the source is the plan's target, borrowed");
		is_str(ops->target_table(t, 3)->name, "orders", "ops: target 3");
		is_int(ops->warning_count(t), 0, "ops: nothing lossy");
		ferry_buf d = FERRY_BUF_INIT;
		ops->describe(t, &d);
		ok(contains(ferry_buf_cstr(&d), "\nrollback: possible\n"),
		   "ops: describe ends with the verdict");
		ferry_buf_free(&d);
		ferry_mapper *m = NULL;
		rc = ops->mapper_open(&m, t, 2, &err);
		is_int(rc, 0, "ops: a mapper without downs");
		ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
		ferry_reject rej;
		natives_row(&src);
		if (rc == 0) {
			is_int(ops->map(m, &src, &out, &rej, &err), 1, "ops: maps");
			bool same = out.ncols == src.ncols;
			for (uint32_t i = 0; same && i < src.ncols; i++)
				same = ferry_value_identical(&out.values[i], &src.values[i]);
			ok(same, "ops: a copied row comes back as it is");
		}
		ops->mapper_close(m);
		ops->mapper_close(NULL);
		ferry_row_free(&src);
		ferry_row_free(&out);
	}
	ops->free(rc == 0 ? t : NULL);
	ops->free(NULL);
	ferry_plan_free(plan);
	ferry_error_clear(&err);
}

/* ---- allocation failures ---- */

static const char fault_spec[] =
    "tables:\n"
    "  users:\n"
    "    rename: accounts\n"
    "    where: \"deleted_at IS NULL\"\n"
    "    columns:\n"
    "      name: { drop: true }\n"
    "      balance_cents: { rename: balance, type: \"numeric(12,2)\", "
    "divide_by: 100 }\n"
    "      created: { type: timestamptz }\n"
    "      legacy: { drop: true }\n"
    "    add:\n"
    "      first_name: { type: text, up: \"substr(name, 1, instr(name, ' ') - "
    "1)\" }\n"
    "      last_name: { type: text, up: \"substr(name, instr(name, ' ') + "
    "1)\" }\n"
    "    down:\n"
    "      name: \"first_name || ' ' || last_name\"\n";

/* Build + check + map three rows there and back: 0, FERRY_ENOMEM, or
 * FERRY_ERROR for a wrong result. */
static int fault_run(const ferry_schema *s, const ferry_spec *spec,
                     const ferry_plan *plan)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_transform *inv = NULL;
	ferry_mapper *fwd = NULL, *back = NULL;
	ferry_row src = FERRY_ROW_INIT, mid = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	ferry_reject rej;
	(void)s;
	(void)spec;
	int rc = ferry_inverse_check(plan, FERRY_DIALECT_SQLITE, &report, &err);
	if (rc == 0 && !contains(ferry_buf_cstr(&report), "possible, lossy\n"))
		rc = FERRY_ERROR;
	if (rc == 0)
		rc = ferry_inverse_build(&inv, plan, FERRY_DIALECT_SQLITE, &err);
	if (rc == 0) {
		ferry_buf d = FERRY_BUF_INIT;
		ops->describe(inv, &d);
		ferry_buf_free(&d);
		rc = ferry_mapper_open(&fwd, plan, &plan->tables[0], &err);
	}
	if (rc == 0)
		rc = ops->mapper_open(&back, inv, 0, &err);
	for (int i = 0; rc == 0 && i < 3; i++) {
		if (ferry_row_resize(&src, 7, &err) < 0) {
			rc = FERRY_ENOMEM;
			break;
		}
		users_row(&src, i + 1, "Ann Lee", 1999 + i, "2024-01-02 03:04:05");
		int r = ferry_mapper_map(fwd, &src, &mid, &rej, &err);
		if (r == 1)
			r = ops->map(back, &mid, &out, &rej, &err);
		if (r != 1) {
			if (r == FERRY_EREJECT)
				tap_diag("reject: %s: %s", rej.column, rej.reason);
			rc = r;
			break;
		}
		ferry_value want_name = txt("Ann Lee");
		if (out.ncols != 6 || !ferry_value_identical(&out.values[0],
		                                             &src.values[0]) ||
		    !ferry_value_identical(&out.values[1], &want_name) ||
		    !ferry_value_identical(&out.values[3], &src.values[3]) ||
		    !ferry_value_identical(&out.values[4], &src.values[4]))
			rc = FERRY_ERROR; /* wrong data is never fine */
	}
	if (rc == 0 && (!inv || ops->target_table(inv, 0)->ncolumns != 6 ||
	                ops->target_table(inv, 0)->nindexes != 1 ||
	                ops->warning_count(inv) != 3))
		rc = FERRY_ERROR;
	if (rc != 0 && rc != FERRY_ENOMEM)
		tap_diag("fault run: %d %s", rc, ferry_error_message(&err));
	if (back)
		ops->mapper_close(back);
	ferry_mapper_close(fwd);
	ops->free(inv);
	ferry_row_free(&src);
	ferry_row_free(&mid);
	ferry_row_free(&out);
	ferry_buf_free(&report);
	ferry_error_clear(&err);
	return rc;
}

static void test_alloc_failures(const ferry_schema *s)
{
	ferry_spec *spec = NULL;
	ferry_plan *plan = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_spec_parse(&spec, "s.yaml", fault_spec, strlen(fault_spec),
	                          &err);
	if (rc == 0)
		rc = ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(rc, 0, "fault plan builds");
	if (rc != 0) {
		tap_diag("%s", ferry_error_message(&err));
		ferry_spec_free(spec);
		ferry_error_clear(&err);
		return;
	}
	is_int(fault_run(s, spec, plan), 0, "the fault run passes without faults");
	long n;
	int clean = 1, successes = 0;
	for (n = 1; n < 5000; n++) {
		ferry_alloc_fail_at(n, 0);
		rc = fault_run(s, spec, plan);
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM) {
			clean = 0;
			tap_diag("failing allocation %ld: rc %d", n, rc);
		}
		if (rc == FERRY_ENOMEM && fails == 0)
			clean = 0;
		successes += rc == 0;
		if (fails == 0)
			break;
	}
	ok(clean, "inverse build + map with allocation %ld failing in turn: 0 or "
	          "FERRY_ENOMEM, never wrong", n);
	ok(n > 10 && n < 5000, "the fault loop ended after %ld runs", n);
	ok(successes >= 1, "the last run succeeds");
	for (n = 1; n < 300; n += 5) {
		ferry_alloc_fail_at(n, 1);
		rc = fault_run(s, spec, plan);
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM)
			clean = 0;
	}
	ok(clean, "sticky failures: 0 or FERRY_ENOMEM");
	ferry_plan_free(plan);
	ferry_spec_free(spec);
	ferry_error_clear(&err);
}

int main(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	make_schema(&s);
	test_renames_and_cents(&s);
	test_inexact(&s);
	test_text_columns(&s);
	test_text_rejects(&s);
	test_native_types(&s);
	test_split_column(&s);
	test_drops_and_adds(&s);
	test_refusals(&s);
	test_report(&s);
	test_ops(&s);
	test_alloc_failures(&s);
	ferry_schema_free(&s);
	return tap_done();
}
