/* Unit tests for transforms/plan: a hand-built SQLite-like shop schema
 * reshaped by specs (names, drops, types, divide_by, added columns, keys,
 * defaults, indexes, foreign keys, exclude), every refusal with its exact
 * message, reversibility as describe reports it, row mapping (renames,
 * conversions, where, up expressions over every bound value type,
 * rejects), a long run through one mapper, and allocation failures at
 * every step of build + map. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"
#include "tests/tap.h"
#include "transforms/plan.h"
#include "transforms/spec.h"

/* ---- the source schema ---- */

static ferry_column *col(ferry_table *t, const char *name, const char *decl,
                         ferry_sqltype_kind kind, int length, bool not_null,
                         const char *def, int pk, bool autoinc)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(decl);
	c->type = (ferry_sqltype){kind, -1, -1, length};
	c->not_null = not_null;
	c->default_sql = def ? ferry_strdup(def) : NULL;
	c->pk_position = pk;
	c->autoincrement = autoinc;
	return c;
}

static char **names1(const char *a)
{
	char **n = ferry_calloc(1, sizeof *n);
	n[0] = a ? ferry_strdup(a) : NULL;
	return n;
}

static void index1(ferry_table *t, const char *name, bool unique,
                   const char *column, const char *where)
{
	ferry_index *ix = ferry_table_add_index(t);
	ix->name = ferry_strdup(name);
	ix->unique = unique;
	ix->columns = names1(column);
	ix->ncolumns = 1;
	ix->where_sql = where ? ferry_strdup(where) : NULL;
}

/*
 * users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
 *       email VARCHAR(40) DEFAULT (lower('X')), balance_cents INTEGER
 *       DEFAULT 0, created TEXT DEFAULT CURRENT_TIMESTAMP, legacy TEXT
 *       DEFAULT 'old', deleted_at TEXT DEFAULT NULL)
 *   unique index users_email(email), index users_legacy(legacy)
 * orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id)
 *        ON DELETE CASCADE, total_cents INTEGER, status TEXT DEFAULT 'new')
 *   index orders_user(user_id), a second foreign key to users(<pk>)
 * audit_log, audit_2024, settings, kinds (every value type)
 */
static void make_schema(ferry_schema *s)
{
	ferry_table *t = ferry_schema_add_table(s);
	t->name = ferry_strdup("users");
	t->row_count = 3;
	col(t, "id", "INTEGER", FERRY_SQL_BIGINT, -1, true, NULL, 1, true);
	col(t, "name", "TEXT", FERRY_SQL_TEXT, -1, true, NULL, 0, false);
	col(t, "email", "VARCHAR(40)", FERRY_SQL_VARCHAR, 40, false,
	    "(lower('X'))", 0, false);
	col(t, "balance_cents", "INTEGER", FERRY_SQL_BIGINT, -1, false, "0", 0,
	    false);
	col(t, "created", "TEXT", FERRY_SQL_TEXT, -1, false, "CURRENT_TIMESTAMP",
	    0, false);
	col(t, "legacy", "TEXT", FERRY_SQL_TEXT, -1, false, "'old'", 0, false);
	col(t, "deleted_at", "TEXT", FERRY_SQL_TEXT, -1, false, "NULL", 0, false);
	index1(t, "users_email", true, "email", NULL);
	index1(t, "users_legacy", false, "legacy", "legacy IS NOT NULL");

	t = ferry_schema_add_table(s);
	t->name = ferry_strdup("orders");
	col(t, "id", "INTEGER", FERRY_SQL_BIGINT, -1, true, NULL, 1, true);
	col(t, "user_id", "INTEGER", FERRY_SQL_BIGINT, -1, false, NULL, 0, false);
	col(t, "total_cents", "INTEGER", FERRY_SQL_BIGINT, -1, false, "-5", 0,
	    false);
	col(t, "status", "TEXT", FERRY_SQL_TEXT, -1, false, "'new'", 0, false);
	index1(t, "orders_user", false, "user_id", NULL);
	ferry_fkey *fk = ferry_table_add_fkey(t);
	fk->columns = names1("user_id");
	fk->ref_table = ferry_strdup("users");
	fk->ref_columns = names1("id");
	fk->ncolumns = 1;
	fk->on_delete = ferry_strdup("CASCADE");
	fk = ferry_table_add_fkey(t); /* REFERENCES users: the primary key */
	fk->name = ferry_strdup("orders_owner");
	fk->columns = names1("id");
	fk->ref_table = ferry_strdup("users");
	fk->ref_columns = names1(NULL);
	fk->ncolumns = 1;

	const char *others[] = {"audit_log", "audit_2024", "settings"};
	for (int i = 0; i < 3; i++) {
		t = ferry_schema_add_table(s);
		t->name = ferry_strdup(others[i]);
		col(t, "k", "TEXT", FERRY_SQL_TEXT, -1, false, NULL, 1, false);
		col(t, "v", "TEXT", FERRY_SQL_TEXT, -1, false, NULL, 0, false);
	}

	t = ferry_schema_add_table(s);
	t->name = ferry_strdup("kinds");
	t->rowid_key = true;
	static const struct {
		const char *name;
		ferry_sqltype_kind kind;
	} kinds[] = {{"b", FERRY_SQL_BYTEA},    {"f", FERRY_SQL_DOUBLE},
	             {"i", FERRY_SQL_BIGINT},   {"t", FERRY_SQL_TEXT},
	             {"n", FERRY_SQL_TEXT},     {"bo", FERRY_SQL_BOOLEAN},
	             {"nu", FERRY_SQL_NUMERIC}, {"d", FERRY_SQL_DATE},
	             {"ts", FERRY_SQL_TIMESTAMP}, {"u", FERRY_SQL_UUID},
	             {"j", FERRY_SQL_JSON},     {"eb", FERRY_SQL_BYTEA},
	             {"et", FERRY_SQL_TEXT}};
	for (int i = 0; i < 13; i++)
		col(t, kinds[i].name, "", kinds[i].kind, -1, false, NULL, 0, false);
}

/* ---- helpers ---- */

typedef struct built {
	ferry_spec *spec;
	ferry_plan *plan;
} built;

/* Parses yaml (NULL = no spec) and builds; returns build's code. */
static int build(built *b, const ferry_schema *s, const char *yaml,
                 ferry_dialect dialect, ferry_error *err)
{
	b->spec = NULL;
	b->plan = NULL;
	if (yaml) {
		int rc = ferry_spec_parse(&b->spec, "s.yaml", yaml, strlen(yaml), err);
		if (rc != 0) {
			tap_diag("spec: %s", ferry_error_message(err));
			return rc;
		}
	}
	return ferry_plan_build(&b->plan, s, b->spec, dialect, err);
}

static void unbuild(built *b)
{
	ferry_plan_free(b->plan);
	ferry_spec_free(b->spec);
	b->plan = NULL;
	b->spec = NULL;
}

static int build_ok(built *b, const ferry_schema *s, const char *yaml,
                    ferry_dialect dialect, const char *what)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = build(b, s, yaml, dialect, &err);
	is_int(rc, 0, "%s: builds", what);
	if (rc != 0)
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc == 0;
}

static void build_fails_in(ferry_dialect dialect, const ferry_schema *s,
                           const char *yaml, const char *want,
                           const char *what)
{
	ferry_error err = FERRY_ERROR_INIT;
	built b;
	int rc = build(&b, s, yaml, dialect, &err);
	is_int(rc, FERRY_EINVAL, "%s: refused", what);
	ok(b.plan == NULL, "%s: no plan", what);
	is_str(ferry_error_message(&err), want, "%s: message", what);
	unbuild(&b);
	ferry_error_clear(&err);
}

static void build_fails(const ferry_schema *s, const char *yaml,
                        const char *want, const char *what)
{
	build_fails_in(FERRY_DIALECT_POSTGRESQL, s, yaml, want, what);
}

static const ferry_plan_table *ptable(const ferry_plan *p, const char *source)
{
	for (uint32_t i = 0; p && i < p->ntables; i++)
		if (!strcmp(p->tables[i].source->name, source))
			return &p->tables[i];
	return NULL;
}

static int tindex(const ferry_plan_table *pt, const char *name)
{
	return pt ? ferry_table_column_index(&pt->target, name) : -1;
}

static const ferry_column *tcol(const ferry_plan_table *pt, const char *name)
{
	int i = tindex(pt, name);
	return i >= 0 ? &pt->target.columns[i] : NULL;
}

/* The target column names joined with ",". */
static const char *colnames(const ferry_plan_table *pt)
{
	static char buf[512];
	buf[0] = '\0';
	for (uint32_t i = 0; pt && i < pt->target.ncolumns; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, pt->target.columns[i].name);
	}
	return buf;
}

static const char *typestr(const ferry_column *c)
{
	static char bufs[4][64];
	static int next;
	char *o = bufs[next++ % 4];
	if (!c)
		return "(no column)";
	ferry_buf b = FERRY_BUF_INIT;
	ferry_sqltype_format(&c->type, &b);
	snprintf(o, sizeof bufs[0], "%s", ferry_buf_cstr(&b));
	ferry_buf_free(&b);
	return o;
}

static char *describe(const ferry_plan *p)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_plan_describe(p, &b);
	return ferry_buf_detach(&b, NULL);
}

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* The rollback line of describe. */
static void rollback_is(const ferry_schema *s, const char *yaml,
                        const char *want, const char *what)
{
	built b;
	if (!build_ok(&b, s, yaml, FERRY_DIALECT_POSTGRESQL, what))
		return;
	char *text = describe(b.plan);
	const char *line = text ? strstr(text, "rollback: ") : NULL;
	char got[128] = "(none)";
	if (line) {
		size_t n = strcspn(line, "\n");
		snprintf(got, sizeof got, "%.*s", (int)n, line);
	}
	is_str(got, want, "%s: %s", what, want);
	ok(text && line && strchr(line, '\n') && strchr(line, '\n')[1] == '\0',
	   "%s: the rollback line ends the description", what);
	ferry_free(text);
	unbuild(&b);
}

static ferry_value txt(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

static int text_is(const ferry_value *v, const char *want)
{
	return (v->type == FERRY_TEXT || v->type == FERRY_NUMERIC ||
	        v->type == FERRY_JSON) &&
	       v->u.s.len == strlen(want) && !memcmp(v->u.s.ptr, want, v->u.s.len);
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

#define is_text(v, want, ...)                                               \
	do {                                                                    \
		if (!ok(text_is((v), (want)), __VA_ARGS__))                         \
			tap_diag("got %s, want '%s'", shown(v), (want));               \
	} while (0)

#define is_val_int(v, want, ...)                                            \
	do {                                                                    \
		const ferry_value *v_ = (v);                                        \
		if (!ok(v_->type == FERRY_INT && v_->u.i == (int64_t)(want),        \
		        __VA_ARGS__))                                               \
			tap_diag("got %s, want int %lld", shown(v_), (long long)(want)); \
	} while (0)

/* A users source row. */
static void users_row(ferry_row *r, int64_t id, const char *name,
                      const char *email, ferry_value balance,
                      const char *created, const char *deleted_at)
{
	ferry_row_resize(r, 7, NULL);
	r->values[0] = ferry_value_int(id);
	r->values[1] = name ? txt(name) : ferry_value_null();
	r->values[2] = email ? txt(email) : ferry_value_null();
	r->values[3] = balance;
	r->values[4] = created ? txt(created) : ferry_value_null();
	r->values[5] = txt("L");
	r->values[6] = deleted_at ? txt(deleted_at) : ferry_value_null();
}

/* ---- building ---- */

static void test_no_spec(const ferry_schema *s)
{
	built b;
	if (!build_ok(&b, s, NULL, FERRY_DIALECT_POSTGRESQL, "no spec"))
		return;
	is_int(b.plan->ntables, 6, "no spec: every table is carried");
	is_int(b.plan->nwarnings, 0, "no spec: no warnings");
	const ferry_plan_table *u = ptable(b.plan, "users");
	ok(u && u->source == &s->tables[0], "no spec: the source is borrowed");
	is_str(u ? u->target.name : NULL, "users", "no spec: same table name");
	is_str(colnames(u), "id,name,email,balance_cents,created,legacy,deleted_at",
	       "no spec: same columns");
	is_int(u ? u->target.row_count : 0, 3, "row count carried");
	ok(u && !u->irreversible && u->nnotes == 0 && u->where == NULL &&
	       u->nexprs == 0,
	   "no spec: nothing lossy, no expressions");
	ok(u && u->target.columns[0].autoincrement &&
	       u->target.columns[0].pk_position == 1 &&
	       u->target.columns[0].not_null,
	   "no spec: id keeps key, NOT NULL and autoincrement");
	ok(u && u->target.columns[1].not_null, "no spec: NOT NULL kept on name");
	is_str(typestr(tcol(u, "email")), "character varying(40)",
	       "no spec: email keeps varchar(40)");
	int copied = 1;
	for (uint32_t i = 0; u && i < u->target.ncolumns; i++)
		copied &= u->columns[i].source_index == (int)i &&
		          u->columns[i].expr_index == -1 &&
		          !u->columns[i].has_divide && !strcmp(u->columns[i].transform, "");
	ok(copied, "no spec: every column copied as is");
	is_int(u ? u->target.nindexes : 0, 2, "no spec: both indexes");
	const ferry_plan_table *o = ptable(b.plan, "orders");
	is_int(o ? o->target.nfkeys : 0, 2, "no spec: both foreign keys");
	if (o && o->target.nfkeys == 2) {
		is_str(o->target.fkeys[0].ref_table, "users", "fk to users");
		is_str(o->target.fkeys[0].ref_columns[0], "id", "fk to users(id)");
		is_str(o->target.fkeys[0].on_delete, "CASCADE", "ON DELETE kept");
		ok(o->target.fkeys[0].on_update == NULL, "no ON UPDATE");
		ok(o->target.fkeys[0].name == NULL, "unnamed fk stays unnamed");
		is_str(o->target.fkeys[1].name, "orders_owner", "named fk keeps its name");
		ok(o->target.fkeys[1].ref_columns[0] == NULL,
		   "a reference to the primary key stays NULL");
	}
	is_int(ptable(b.plan, "kinds") ? ptable(b.plan, "kinds")->target.rowid_key : 0,
	       1, "rowid_key carried");
	char *text = describe(b.plan);
	ok(contains(text, "rollback: possible\n") &&
	       !contains(text, "lossy") && !contains(text, "not possible"),
	   "no spec: rollback possible");
	ok(contains(text, "table \"users\" -> \"users\" (3 rows)\n"),
	   "describe: table line with rows");
	ok(contains(text, "  CREATE TABLE \"users\" (\"id\" bigint NOT NULL, "
	                  "\"name\" text NOT NULL, \"email\" character varying(40), "
	                  "\"balance_cents\" bigint, \"created\" text, \"legacy\" "
	                  "text, \"deleted_at\" text)\n"),
	   "describe: CREATE TABLE");
	ok(contains(text, "table \"kinds\" -> \"kinds\"\n"),
	   "describe: no row count when unknown");
	ok(contains(text, "  b (no type) -> b bytea\n"),
	   "describe: a column without a declared type");
	ferry_free(text);
	unbuild(&b);

	/* an empty spec is the same as none */
	if (build_ok(&b, s, "", FERRY_DIALECT_POSTGRESQL, "empty spec"))
		is_int(b.plan->ntables, 6, "empty spec: every table");
	unbuild(&b);
}

static const char shop_spec[] =
	"tables:\n"                                                          /* 1 */
	"  users:\n"                                                         /* 2 */
	"    rename: accounts\n"                                             /* 3 */
	"    columns:\n"                                                     /* 4 */
	"      name: { rename: full_name }\n"                                /* 5 */
	"      email: { type: text }\n"                                      /* 6 */
	"      balance_cents: { rename: balance, type: \"numeric(12,2)\", "
	"divide_by: 100 }\n"                                                 /* 7 */
	"      legacy: { drop: true }\n"                                     /* 8 */
	"    add:\n"                                                         /* 9 */
	"      plan: { type: text, default: \"'free'\" }\n"                  /* 10 */
	"      score: { type: integer }\n"                                   /* 11 */
	"  orders:\n"                                                        /* 12 */
	"    columns:\n"                                                     /* 13 */
	"      total_cents: { divide_by: 100 }\n"                            /* 14 */
	"      status: { type: \"varchar(10)\" }\n"                          /* 15 */
	"exclude: [ \"audit_*\", \"set?ings\" ]\n";                          /* 16 */

static void test_shop(const ferry_schema *s)
{
	built b;
	if (!build_ok(&b, s, shop_spec, FERRY_DIALECT_POSTGRESQL, "shop spec"))
		return;
	const ferry_plan *p = b.plan;
	is_int(p->ntables, 3, "exclude globs leave users, orders, kinds");
	ok(!ptable(p, "audit_log") && !ptable(p, "audit_2024") &&
	       !ptable(p, "settings"),
	   "audit_* and set?ings are excluded");
	const ferry_plan_table *u = ptable(p, "users");
	if (!u) {
		unbuild(&b);
		return;
	}
	is_str(u->target.name, "accounts", "table renamed");
	is_str(colnames(u), "id,full_name,email,balance,created,deleted_at,plan,score",
	       "target columns: renamed, legacy dropped, adds appended");
	is_int(tindex(u, "legacy"), -1, "the dropped column is absent");
	is_int(tindex(u, "name"), -1, "the old name is gone");
	is_str(typestr(tcol(u, "email")), "text", "type override: email is text");
	is_str(typestr(tcol(u, "balance")), "numeric(12,2)",
	       "balance is numeric(12,2)");
	is_str(typestr(tcol(u, "full_name")), "text", "a rename keeps the type");
	ok(tcol(u, "full_name") && tcol(u, "full_name")->not_null,
	   "a rename keeps NOT NULL");
	is_str(typestr(tcol(u, "plan")), "text", "added plan: text");
	is_str(typestr(tcol(u, "score")), "integer", "added score: integer");
	ok(tcol(u, "score") && !tcol(u, "score")->not_null &&
	       tcol(u, "score")->pk_position == 0 && !tcol(u, "score")->autoincrement,
	   "an added column is nullable, not a key");
	ok(tcol(u, "id") && tcol(u, "id")->autoincrement &&
	       tcol(u, "id")->pk_position == 1,
	   "id unchanged: autoincrement and key kept");
	/* plan columns */
	int bi = tindex(u, "balance");
	ok(bi >= 0 && u->columns[bi].has_divide && u->columns[bi].source_index == 3,
	   "balance: divided, from source column 3");
	is_str(bi >= 0 ? u->columns[bi].transform : NULL, "divide_by",
	       "balance: transform divide_by");
	is_str(u->columns[tindex(u, "full_name")].transform, "rename",
	       "full_name: transform rename");
	is_str(u->columns[tindex(u, "email")].transform, "type",
	       "email: transform type");
	is_str(u->columns[tindex(u, "created")].transform, "",
	       "created: copied as is");
	int pi = tindex(u, "plan"), si = tindex(u, "score");
	ok(pi >= 0 && u->columns[pi].source_index == -1 &&
	       u->columns[pi].expr_index >= 0 &&
	       !strcmp(u->exprs[u->columns[pi].expr_index], "'free'"),
	   "plan: added, its default is the expression rows get");
	is_str(pi >= 0 ? u->columns[pi].transform : NULL, "add", "plan: add");
	ok(si >= 0 && u->columns[si].source_index == -1 &&
	       u->columns[si].expr_index == -1,
	   "score: added with no expression (NULL)");
	is_int(u->nexprs, 1, "one expression in users");
	/* defaults for PostgreSQL */
	is_str(tcol(u, "plan") ? tcol(u, "plan")->default_sql : NULL, "'free'",
	       "an added column's default");
	ok(tcol(u, "score") && tcol(u, "score")->default_sql == NULL,
	   "no default on score");
	is_str(tcol(u, "created") ? tcol(u, "created")->default_sql : NULL,
	       "CURRENT_TIMESTAMP", "portable default kept (CURRENT_TIMESTAMP)");
	is_str(tcol(u, "deleted_at") ? tcol(u, "deleted_at")->default_sql : NULL,
	       "NULL", "portable default kept (NULL)");
	ok(tcol(u, "balance") && tcol(u, "balance")->default_sql == NULL,
	   "default 0 dropped: the column is transformed");
	ok(tcol(u, "email") && tcol(u, "email")->default_sql == NULL,
	   "email's default dropped (transformed)");
	/* indexes */
	is_int(u->target.nindexes, 1, "one index kept");
	if (u->target.nindexes == 1) {
		is_str(u->target.indexes[0].name, "users_email", "users_email kept");
		ok(u->target.indexes[0].unique, "still unique");
		is_int(u->target.indexes[0].ncolumns, 1, "one column");
		is_str(u->target.indexes[0].columns[0], "email", "on email");
	}
	/* warnings */
	is_int(p->nwarnings, 1, "one warning");
	is_str(p->nwarnings ? p->warnings[0] : NULL,
	       "index \"users_legacy\" on \"users\" is not created: column "
	       "\"legacy\" is dropped",
	       "the skipped index is a warning");
	/* notes */
	is_int(u->nnotes, 1, "one note (the drop)");
	ok(u->nnotes && contains(u->notes[0], "column \"legacy\" is dropped") &&
	       contains(u->notes[0], "(lossy)"),
	   "the drop is a lossy note");
	ok(!u->irreversible, "users is reversible");
	/* orders */
	const ferry_plan_table *o = ptable(p, "orders");
	is_str(o ? o->target.name : NULL, "orders", "orders keeps its name");
	const ferry_column *tc = tcol(o, "total_cents");
	ok(tc && tc->type.kind == FERRY_SQL_NUMERIC && tc->type.precision == -1 &&
	       tc->type.scale == -1,
	   "divide_by without type: unconstrained numeric");
	ok(tc && tc->default_sql == NULL, "its default -5 is dropped (transformed)");
	is_str(typestr(tcol(o, "status")), "character varying(10)",
	       "status is varchar(10)");
	ok(tcol(o, "status") && !tcol(o, "status")->default_sql,
	   "status' default dropped (typed)");
	ok(tcol(o, "id") && tcol(o, "id")->autoincrement, "orders.id autoincrement");
	is_int(o ? o->target.nfkeys : 0, 2, "both foreign keys kept");
	if (o && o->target.nfkeys == 2) {
		is_str(o->target.fkeys[0].ref_table, "accounts",
		       "fk follows the table rename");
		is_str(o->target.fkeys[0].columns[0], "user_id", "fk column");
		is_str(o->target.fkeys[0].ref_columns[0], "id", "fk ref column");
		is_str(o->target.fkeys[0].on_delete, "CASCADE", "ON DELETE kept");
		is_str(o->target.fkeys[1].ref_table, "accounts",
		       "the pk reference follows the rename");
	}
	is_int(o ? o->target.nindexes : 0, 1, "orders_user kept");
	char *text = describe(p);
	ok(contains(text, "table \"users\" -> \"accounts\" (3 rows)\n"),
	   "describe: renamed table");
	ok(contains(text, "  balance_cents INTEGER -> balance numeric(12,2), "
	                  "divided by 100\n"),
	   "describe: divide_by");
	ok(contains(text, "  name TEXT -> full_name text\n"), "describe: rename");
	ok(contains(text, "  + plan text = 'free'\n"), "describe: added column");
	ok(contains(text, "  + score integer\n"), "describe: added, no value");
	ok(contains(text, "warning: index \"users_legacy\" on \"users\" is not "
	                  "created: column \"legacy\" is dropped\n"),
	   "describe: the warning");
	ok(contains(text, "rollback: possible, lossy (see the notes above)\n"),
	   "describe: lossy rollback");
	ok(!contains(text, "legacy TEXT ->"), "describe: no line for the dropped");
	ferry_free(text);
	unbuild(&b);

	/* SQLite keeps every default of an unchanged column */
	if (build_ok(&b, s, NULL, FERRY_DIALECT_SQLITE, "sqlite dialect")) {
		u = ptable(b.plan, "users");
		is_str(tcol(u, "email") ? tcol(u, "email")->default_sql : NULL,
		       "(lower('X'))", "sqlite: an expression default is kept");
		is_str(tcol(u, "legacy") ? tcol(u, "legacy")->default_sql : NULL,
		       "'old'", "sqlite: a string default is kept");
	}
	unbuild(&b);
	if (build_ok(&b, s, NULL, FERRY_DIALECT_POSTGRESQL, "pg dialect")) {
		u = ptable(b.plan, "users");
		o = ptable(b.plan, "orders");
		ok(tcol(u, "email") && tcol(u, "email")->default_sql == NULL,
		   "postgresql: an SQLite expression default is dropped");
		is_str(tcol(u, "legacy") ? tcol(u, "legacy")->default_sql : NULL,
		       "'old'", "postgresql: a quoted string default is kept");
		is_str(tcol(u, "balance_cents") ? tcol(u, "balance_cents")->default_sql
		                                : NULL,
		       "0", "postgresql: a number default is kept");
		is_str(tcol(o, "total_cents") ? tcol(o, "total_cents")->default_sql
		                              : NULL,
		       "-5", "postgresql: a negative number default is kept");
		is_str(tcol(u, "created") ? tcol(u, "created")->default_sql : NULL,
		       "CURRENT_TIMESTAMP", "postgresql: CURRENT_TIMESTAMP kept");
	}
	unbuild(&b);
	if (build_ok(&b, s,
	             "tables:\n  users:\n    columns:\n"
	             "      legacy: { rename: old_stuff }\n"
	             "      created: { up: \"created\" }\n",
	             FERRY_DIALECT_SQLITE, "sqlite, renamed and computed")) {
		u = ptable(b.plan, "users");
		is_str(tcol(u, "old_stuff") ? tcol(u, "old_stuff")->default_sql : NULL,
		       "'old'", "a renamed column keeps its default");
		ok(tcol(u, "created") && tcol(u, "created")->default_sql == NULL,
		   "a computed column loses its default (sqlite too)");
	}
	unbuild(&b);
}

static void test_keys_and_renames(const ferry_schema *s)
{
	built b;
	/* renames flow into indexes and foreign keys */
	if (build_ok(&b, s,
	             "tables:\n"
	             "  users:\n"
	             "    rename: people\n"
	             "    columns:\n"
	             "      id: { rename: person_id }\n"
	             "      email: { rename: mail }\n"
	             "      legacy: { rename: old }\n"
	             "  orders:\n"
	             "    rename: purchases\n"
	             "    columns:\n"
	             "      user_id: { rename: buyer }\n",
	             FERRY_DIALECT_POSTGRESQL, "renames")) {
		const ferry_plan_table *u = ptable(b.plan, "users");
		const ferry_plan_table *o = ptable(b.plan, "orders");
		is_int(u ? u->target.nindexes : 0, 2, "both indexes kept");
		if (u && u->target.nindexes == 2) {
			is_str(u->target.indexes[0].columns[0], "mail",
			       "index column renamed");
			is_str(u->target.indexes[0].name, "users_email",
			       "index keeps its name");
			is_str(u->target.indexes[1].columns[0], "old",
			       "second index column renamed");
			is_str(u->target.indexes[1].where_sql, "legacy IS NOT NULL",
			       "the partial index predicate is carried as written");
		}
		ok(tcol(u, "person_id") && tcol(u, "person_id")->autoincrement,
		   "renamed id keeps autoincrement");
		is_int(o ? o->target.nfkeys : 0, 2, "foreign keys kept");
		if (o && o->target.nfkeys == 2) {
			is_str(o->target.fkeys[0].ref_table, "people", "fk: renamed table");
			is_str(o->target.fkeys[0].columns[0], "buyer",
			       "fk: renamed own column");
			is_str(o->target.fkeys[0].ref_columns[0], "person_id",
			       "fk: renamed referenced column");
		}
		is_str(o && o->target.nindexes ? o->target.indexes[0].columns[0] : NULL,
		       "buyer", "orders index follows the rename");
		is_int(b.plan->nwarnings, 0, "no warnings");
		rollback_is(s,
		            "tables:\n  users:\n    rename: people\n    columns:\n"
		            "      id: { rename: person_id }\n",
		            "rollback: possible", "renames only");
	}
	unbuild(&b);

	/* autoincrement only when the column is unchanged */
	if (build_ok(&b, s,
	             "tables:\n"
	             "  users:\n"
	             "    columns:\n"
	             "      id: { type: integer }\n"
	             "  orders:\n"
	             "    columns:\n"
	             "      id: { up: \"id + 1000\" }\n",
	             FERRY_DIALECT_POSTGRESQL, "changed ids")) {
		const ferry_plan_table *u = ptable(b.plan, "users");
		const ferry_plan_table *o = ptable(b.plan, "orders");
		ok(tcol(u, "id") && !tcol(u, "id")->autoincrement,
		   "a retyped id loses autoincrement");
		is_str(typestr(tcol(u, "id")), "integer", "and is integer");
		is_int(tcol(u, "id") ? tcol(u, "id")->pk_position : 0, 1,
		       "it stays the key");
		ok(tcol(o, "id") && !tcol(o, "id")->autoincrement,
		   "a computed id loses autoincrement");
		ok(o && o->irreversible, "up without down: irreversible");
		ok(o && o->nnotes == 1 &&
		       !strcmp(o->notes[0],
		               "column \"id\" is computed by `up` without a `down`: "
		               "rollback cannot rebuild it (add down: id: \"...\")"),
		   "the note says what to add");
	}
	unbuild(&b);

	/* a dropped column: index and foreign key skipped with warnings */
	if (build_ok(&b, s,
	             "tables:\n"
	             "  orders:\n"
	             "    columns:\n"
	             "      user_id: { drop: true }\n",
	             FERRY_DIALECT_POSTGRESQL, "fk column dropped")) {
		const ferry_plan_table *o = ptable(b.plan, "orders");
		is_int(o ? o->target.nfkeys : 9, 1, "the fk on user_id is skipped");
		is_str(o && o->target.nfkeys ? o->target.fkeys[0].name : NULL,
		       "orders_owner", "the other is kept");
		is_int(o ? o->target.nindexes : 9, 0, "the index on user_id is skipped");
		is_int(b.plan->nwarnings, 2, "two warnings");
		if (b.plan->nwarnings == 2) {
			is_str(b.plan->warnings[0],
			       "index \"orders_user\" on \"orders\" is not created: "
			       "column \"user_id\" is dropped",
			       "index warning");
			is_str(b.plan->warnings[1],
			       "foreign key of \"orders\" to \"users\" is not created: "
			       "one of its columns is dropped",
			       "fk warning");
		}
	}
	unbuild(&b);

	/* the referenced column dropped */
	if (build_ok(&b, s,
	             "tables:\n  users:\n    columns:\n      id: { drop: true }\n",
	             FERRY_DIALECT_POSTGRESQL, "referenced column dropped")) {
		const ferry_plan_table *o = ptable(b.plan, "orders");
		is_int(o ? o->target.nfkeys : 9, 1,
		       "the fk to users(id) is skipped, the pk reference kept");
		is_int(b.plan->nwarnings, 1, "one warning");
		is_str(b.plan->nwarnings ? b.plan->warnings[0] : NULL,
		       "foreign key of \"orders\" to \"users\" is not created: "
		       "one of its columns is dropped",
		       "referenced column warning");
	}
	unbuild(&b);

	/* the referenced table excluded */
	if (build_ok(&b, s, "exclude: users\n", FERRY_DIALECT_POSTGRESQL,
	             "referenced table excluded")) {
		ok(!ptable(b.plan, "users"), "users is not carried");
		const ferry_plan_table *o = ptable(b.plan, "orders");
		is_int(o ? o->target.nfkeys : 9, 0, "both fks skipped");
		is_int(o ? o->target.nindexes : 0, 1, "the index stays");
		is_int(b.plan->nwarnings, 2, "two warnings");
		for (uint32_t i = 0; i < b.plan->nwarnings && i < 2; i++)
			is_str(b.plan->warnings[i],
			       "foreign key of \"orders\" to \"users\" is not created: "
			       "that table is not carried",
			       "warning %u", i);
		char *text = describe(b.plan);
		ok(contains(text, "warning: foreign key of \"orders\" to \"users\" is "
		                  "not created: that table is not carried\n"),
		   "describe shows it");
		ok(contains(text, "rollback: possible\n"), "exclusion is not lossy");
		ferry_free(text);
	}
	unbuild(&b);
	if (build_ok(&b, s, "exclude: [\"*\"]\n", FERRY_DIALECT_POSTGRESQL,
	             "exclude everything"))
		is_int(b.plan->ntables, 0, "no table left");
	unbuild(&b);
	if (build_ok(&b, s, "exclude: [\"[ak]*\"]\n", FERRY_DIALECT_POSTGRESQL,
	             "bracket glob")) {
		is_int(b.plan->ntables, 3, "audit_* and kinds excluded");
		ok(ptable(b.plan, "users") && ptable(b.plan, "orders") &&
		       ptable(b.plan, "settings"),
		   "the others stay");
	}
	unbuild(&b);
	/* a spec may name an excluded table */
	if (build_ok(&b, s,
	             "tables:\n  audit_log:\n    rename: x\nexclude: [ \"audit_*\" ]\n",
	             FERRY_DIALECT_POSTGRESQL, "named and excluded"))
		ok(!ptable(b.plan, "audit_log"), "exclude wins");
	unbuild(&b);
}

static void test_errors(const ferry_schema *s)
{
	build_fails(s, "tables:\n  usres:\n    rename: x\n",
	            "s.yaml:2: table \"usres\" is not in the source (did you mean "
	            "\"users\"?)",
	            "unknown table");
	build_fails(s, "tables:\n  users: {}\n  zzzzzzzz: {}\n",
	            "s.yaml:3: table \"zzzzzzzz\" is not in the source",
	            "unknown table, no suggestion");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n      nmae: { rename: x }\n",
	            "s.yaml:4: column \"nmae\" is not in table \"users\" (did you "
	            "mean \"name\"?)",
	            "unknown column");
	build_fails(s,
	            "tables:\n  orders:\n    columns:\n"
	            "      status: { type: text }\n      qqqqqq: { drop: true }\n",
	            "s.yaml:5: column \"qqqqqq\" is not in table \"orders\"",
	            "unknown column, no suggestion");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"upper(name)\" }\n"
	            "    down:\n      emial: \"lower(name)\"\n",
	            "s.yaml:6: down column \"emial\" is not in table \"users\" "
	            "(did you mean \"email\"?)",
	            "down naming a missing column");
	build_fails(s, "tables:\n  users:\n    where: \"nmae IS NULL\"\n",
	            "s.yaml:3: table \"users\": where \"nmae IS NULL\" does not "
	            "compile: no such column: nmae",
	            "where does not compile");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"name ||\" }\n",
	            "s.yaml:4: table \"users\": up \"name ||\" does not compile: "
	            "near \")\": syntax error",
	            "up does not compile");
	build_fails(s,
	            "tables:\n  users:\n    add:\n"
	            "      x: { type: text, up: \"nosuch(name)\" }\n",
	            "s.yaml:4: table \"users\": up \"nosuch(name)\" does not "
	            "compile: no such function: nosuch",
	            "added up does not compile");
	build_fails(s,
	            "tables:\n  users:\n    add:\n"
	            "      x: { type: text, default: \"'a' 'b'\" }\n",
	            "s.yaml:4: table \"users\": default \"'a' 'b'\" does not "
	            "compile: near \"'b'\": syntax error",
	            "default does not compile");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { rename: full_name, up: \"upper(name)\" }\n"
	            "    down:\n      name: \"lower(name)\"\n",
	            "s.yaml:6: table \"users\": down \"lower(name)\" does not "
	            "compile: no such column: name",
	            "down runs on the target row (renamed column)");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      legacy: { drop: true }\n"
	            "      name: { up: \"name || legacy\" }\n"
	            "    down:\n      name: \"substr(name, 1, length(name) - "
	            "length(legacy))\"\n",
	            "s.yaml:7: table \"users\": down \"substr(name, 1, length(name) "
	            "- length(legacy))\" does not compile: no such column: legacy",
	            "down cannot see a dropped column");
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { rename: email }\n",
	            "s.yaml:2: table \"users\": two target columns are named "
	            "\"email\"",
	            "rename onto an unlisted column");
	build_fails(s,
	            "tables:\n  orders:\n    add:\n      status: { type: text }\n",
	            "s.yaml:2: table \"orders\": two target columns are named "
	            "\"status\"",
	            "added column named like a source column");
	build_fails(s, "tables:\n  users:\n    rename: orders\n",
	            "tables \"users\" and \"orders\" would both become \"orders\": "
	            "rename one in the spec",
	            "two tables, one target name");
	build_fails(s,
	            "tables:\n  audit_log:\n    rename: t\n"
	            "  settings:\n    rename: t\n",
	            "tables \"audit_log\" and \"settings\" would both become \"t\": "
	            "rename one in the spec",
	            "two renames onto one name");
	/* expressions may not smuggle extra result columns or statements */
	build_fails(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"name), (email\" }\n",
	            "s.yaml:4: table \"users\": up \"name), (email\" is not one "
	            "expression",
	            "up with two result columns");
	build_fails(s, "tables:\n  users:\n    where: \"1) --\"\n",
	            "s.yaml:3: table \"users\": where \"1) --\" does not compile: "
	            "near \")\": syntax error",
	            "where ending in a comment");
	/* SQLite folds case in names, PostgreSQL's quoted identifiers do not */
	build_fails_in(FERRY_DIALECT_SQLITE, s,
	               "tables:\n  users:\n    columns:\n"
	               "      name: { rename: EMAIL }\n",
	               "s.yaml:2: table \"users\": two target columns are named "
	               "\"EMAIL\" and \"email\" (SQLite names ignore case)",
	               "sqlite: a rename differing only in case");
	build_fails_in(FERRY_DIALECT_SQLITE, s,
	               "tables:\n  users:\n    add:\n"
	               "      Status: { type: text }\n"
	               "  orders:\n    add:\n      Status: { type: text }\n",
	               "s.yaml:5: table \"orders\": two target columns are named "
	               "\"status\" and \"Status\" (SQLite names ignore case)",
	               "sqlite: an added column differing only in case");
	build_fails_in(FERRY_DIALECT_SQLITE, s,
	               "tables:\n  users:\n    rename: Orders\n",
	               "tables \"users\" and \"orders\" would both become "
	               "\"Orders\" and \"orders\" (SQLite names ignore case): "
	               "rename one in the spec",
	               "sqlite: table names differing only in case");
	built b;
	if (build_ok(&b, s,
	             "tables:\n  users:\n    rename: Orders\n    columns:\n"
	             "      name: { rename: EMAIL }\n",
	             FERRY_DIALECT_POSTGRESQL, "postgresql: case matters")) {
		is_str(ptable(b.plan, "users")->target.name, "Orders",
		       "postgresql: Orders next to orders");
		is_str(colnames(ptable(b.plan, "users")),
		       "id,EMAIL,email,balance_cents,created,legacy,deleted_at",
		       "postgresql: EMAIL next to email");
	}
	unbuild(&b);
	/* a renamed table frees its name */
	if (build_ok(&b, s,
	             "tables:\n  users:\n    rename: orders\n"
	             "  orders:\n    rename: users\n",
	             FERRY_DIALECT_POSTGRESQL, "swapped names"))
		is_str(ptable(b.plan, "users")->target.name, "orders", "swap works");
	unbuild(&b);
	/* err may be NULL */
	ferry_spec *spec = NULL;
	ferry_spec_parse(&spec, "s.yaml", "tables:\n  nope: {}\n", 19, NULL);
	ferry_plan *plan = (ferry_plan *)&b;
	is_int(ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, NULL),
	       FERRY_EINVAL, "a refusal without an error object");
	ok(plan == NULL, "and no plan");
	ferry_spec_free(spec);
}

static void test_reversibility(const ferry_schema *s)
{
	rollback_is(s, NULL, "rollback: possible", "no spec");
	rollback_is(s,
	            "tables:\n  users:\n    rename: a\n    columns:\n"
	            "      name: { rename: n }\n",
	            "rollback: possible", "renames");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      created: { type: timestamptz }\n"
	            "      balance_cents: { type: \"numeric(12,2)\", divide_by: 100 }\n"
	            "    add:\n      plan: { type: text, default: \"'free'\" }\n",
	            "rollback: possible", "typed conversions, divide_by, add");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n      legacy: { drop: true }\n",
	            "rollback: possible, lossy (see the notes above)", "a drop");
	/* the same verdict as the inverse (transforms/inverse.c) */
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n      name: { drop: true }\n",
	            "rollback: not possible (see the notes above)",
	            "a dropped NOT NULL column without a default");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n      name: { drop: true }\n"
	            "    down:\n      name: \"'unknown'\"\n",
	            "rollback: possible", "a dropped NOT NULL column with a down");
	rollback_is(s,
	            "tables:\n  users:\n    where: \"deleted_at IS NULL\"\n",
	            "rollback: possible, lossy (see the notes above)", "a where");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"upper(name)\" }\n",
	            "rollback: not possible (see the notes above)", "up without down");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      legacy: { drop: true }\n"
	            "      name: { up: \"upper(name)\" }\n",
	            "rollback: not possible (see the notes above)",
	            "up without down wins over lossy");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"upper(name)\" }\n"
	            "    down:\n      name: \"lower(name)\"\n",
	            "rollback: possible", "up with its down");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { rename: full, up: \"upper(name)\" }\n"
	            "    down:\n      name: \"lower(full)\"\n",
	            "rollback: possible", "renamed up with a down over the target");
	rollback_is(s,
	            "tables:\n  users:\n    columns:\n"
	            "      name: { up: \"upper(name)\" }\n"
	            "  orders:\n    columns:\n      status: { up: \"'x'\" }\n"
	            "    down:\n      status: \"status\"\n",
	            "rollback: not possible (see the notes above)",
	            "one irreversible table makes the plan irreversible");
	rollback_is(s,
	            "tables:\n  users:\n    add:\n"
	            "      initials: { type: text, up: \"substr(name, 1, 1)\" }\n",
	            "rollback: possible", "an added computed column");
	/* the note names the column */
	built b;
	if (build_ok(&b, s,
	             "tables:\n  users:\n    where: \"deleted_at IS NULL\"\n",
	             FERRY_DIALECT_POSTGRESQL, "where note")) {
		char *text = describe(b.plan);
		ok(contains(text, "  where deleted_at IS NULL\n"), "describe: where");
		ok(contains(text, "  note: rows outside `where` are not carried: they "
		                  "stay only in the source\n"),
		   "describe: the where note");
		ferry_free(text);
	}
	unbuild(&b);
}

/* ---- mapping ---- */

static const char map_spec[] =
	"tables:\n"
	"  users:\n"
	"    rename: accounts\n"
	"    where: \"deleted_at IS NULL\"\n"
	"    columns:\n"
	"      name: { rename: full_name }\n"
	"      balance_cents: { rename: balance, type: \"numeric(12,2)\", "
	"divide_by: 100 }\n"
	"      created: { type: timestamptz }\n"
	"      legacy: { drop: true }\n"
	"    add:\n"
	"      plan: { type: text, default: \"'free'\" }\n"
	"      label: { type: text, up: \"name || ' <' || coalesce(email, '-') || "
	"'>'\" }\n"
	"      doubled: { type: bigint, up: \"balance_cents * 2 + id\" }\n"
	"      tier: { type: text, up: \"CASE WHEN balance_cents >= 100000 THEN "
	"'gold' WHEN balance_cents > 0 THEN 'silver' ELSE 'none' END\" }\n"
	"      nothing: { type: integer }\n"
	"      zero: { type: integer, default: \"0\" }\n";

static void test_map_users(const ferry_schema *s)
{
	built b;
	if (!build_ok(&b, s, map_spec, FERRY_DIALECT_POSTGRESQL, "map spec"))
		return;
	const ferry_plan_table *u = ptable(b.plan, "users");
	is_str(colnames(u),
	       "id,full_name,email,balance,created,deleted_at,plan,label,doubled,"
	       "tier,nothing,zero",
	       "map spec: columns");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_mapper *m = NULL;
	int rc = ferry_mapper_open(&m, b.plan, u, &err);
	is_int(rc, 0, "mapper opens");
	if (rc != 0) {
		tap_diag("%s", ferry_error_message(&err));
		unbuild(&b);
		return;
	}
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	memset(&rej, 0, sizeof rej);

	users_row(&src, 1, "Ann", "ann@x.org", ferry_value_int(1999),
	          "2024-01-02 03:04:05", NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "a row maps");
	if (rc != 1)
		tap_diag("%s / %s", ferry_error_message(&err), rej.reason);
	is_int(out.ncols, 12, "twelve target values");
	if (rc == 1 && out.ncols == 12) {
		is_val_int(&out.values[0], 1, "id copied");
		is_text(&out.values[1], "Ann", "name -> full_name");
		is_text(&out.values[2], "ann@x.org", "email copied");
		is_int(out.values[3].type, FERRY_NUMERIC, "balance is numeric");
		is_text(&out.values[3], "19.99", "1999 cents -> 19.99");
		is_int(out.values[4].type, FERRY_TIMESTAMPTZ, "created is timestamptz");
		ok(out.values[4].u.i == INT64_C(1704164645) * 1000000,
		   "2024-01-02 03:04:05 taken as UTC");
		is_int(out.values[5].type, FERRY_NULL, "deleted_at NULL");
		is_text(&out.values[6], "free", "added plan gets its default");
		is_text(&out.values[7], "Ann <ann@x.org>", "text concatenation");
		is_val_int(&out.values[8], 3999, "arithmetic over two columns");
		is_text(&out.values[9], "silver", "CASE");
		is_int(out.values[10].type, FERRY_NULL, "an add without value is NULL");
		is_val_int(&out.values[11], 0, "an add with default 0");
	}

	/* more rows through the same mapper */
	users_row(&src, 2, "Bob", NULL, ferry_value_int(100000), NULL, NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "second row maps");
	if (rc == 1) {
		is_text(&out.values[3], "1000.00", "100000 cents -> 1000.00 (scale 2)");
		is_text(&out.values[7], "Bob <->", "coalesce over NULL");
		is_text(&out.values[9], "gold", "CASE, first branch");
		is_int(out.values[4].type, FERRY_NULL, "NULL created stays NULL");
		is_int(out.values[2].type, FERRY_NULL, "NULL email stays NULL");
	}
	users_row(&src, 3, "Cy", "c@x", ferry_value_null(), "2024-02-29", NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "third row maps");
	if (rc == 1) {
		is_int(out.values[3].type, FERRY_NULL, "NULL cents -> NULL balance");
		is_int(out.values[8].type, FERRY_NULL, "NULL arithmetic is NULL");
		is_text(&out.values[9], "none", "CASE, ELSE branch on NULL");
		ok(out.values[4].type == FERRY_TIMESTAMPTZ &&
		       out.values[4].u.i == INT64_C(1709164800) * 1000000,
		   "a date-only text -> midnight UTC");
	}
	users_row(&src, 4, "Di", "d@x", ferry_value_int(-5), NULL, NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "negative cents map");
	if (rc == 1)
		is_text(&out.values[3], "-0.05", "-5 cents -> -0.05");

	/* where filters */
	users_row(&src, 5, "Ed", "e@x", ferry_value_int(1), NULL, "2024-05-01");
	out.ncols = 0;
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 0, "a deleted row is filtered by where");
	is_int(out.ncols, 0, "the output is not touched");

	/* a conversion reject */
	users_row(&src, 6, "Fay", "f@x", txt("abc"), NULL, NULL);
	memset(&rej, 0, sizeof rej);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, FERRY_EREJECT, "text 'abc' in cents is a reject");
	is_str(rej.column, "balance_cents", "rej.column is the source column");
	ok(rej.value.type == FERRY_TEXT && rej.value.u.s.len == 3 &&
	       !memcmp(rej.value.u.s.ptr, "abc", 3),
	   "rej.value is the original value");
	ok(rej.reason && contains(rej.reason, "'abc'"),
	   "the reason names the value: %s", rej.reason ? rej.reason : "(null)");
	ok(rej.reason && contains(rej.reason, "is not a number"),
	   "the reason says why");
	is_int(err.code, FERRY_OK, "a reject is not an error");

	/* a value that divides but does not fit */
	users_row(&src, 7, "Gus", "g@x", ferry_value_int(INT64_C(100000000000000)),
	          NULL, NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, FERRY_EREJECT, "too large for numeric(12,2): reject");
	is_str(rej.column, "balance_cents", "named by its source column");
	ok(rej.value.type == FERRY_INT && rej.value.u.i == INT64_C(100000000000000),
	   "the original int is the value");
	ok(contains(rej.reason, "int 100000000000000 / 100 = 1000000000000.00"),
	   "the reason shows the division: %s", rej.reason);

	/* a bad timestamp */
	users_row(&src, 8, "Hal", "h@x", ferry_value_int(1), "yesterday", NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, FERRY_EREJECT, "bad timestamp text is a reject");
	is_str(rej.column, "created", "in created");
	ok(contains(rej.reason, "'yesterday'"), "naming the value");

	/* NOT NULL */
	users_row(&src, 9, NULL, "i@x", ferry_value_int(1), NULL, NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, FERRY_EREJECT, "NULL name is a reject (NOT NULL)");
	is_str(rej.column, "name", "rej.column is the source name");
	is_int(rej.value.type, FERRY_NULL, "rej.value is NULL");
	is_str(rej.reason, "NULL in column \"full_name\", which is NOT NULL",
	       "the reason names the target column");

	/* the mapper works after rejects */
	users_row(&src, 10, "Jo", "j@x", ferry_value_int(250), NULL, NULL);
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "a good row after rejects");
	if (rc == 1) {
		is_text(&out.values[3], "2.50", "250 -> 2.50");
		is_text(&out.values[7], "Jo <j@x>", "expressions still right");
		is_val_int(&out.values[8], 510, "250 * 2 + 10");
	}

	/* many rows: same mapper, scratch memory reused */
	int all = 1;
	const void *first_ptr = NULL;
	int same_ptr = 1;
	for (int i = 0; i < 5000; i++) {
		char name[32], want[64], cents[48];
		snprintf(name, sizeof name, "user%d", i);
		users_row(&src, 100 + i, name, NULL, ferry_value_int(i * 7 + 1), NULL,
		          i % 10 == 3 ? "2020-01-01" : NULL);
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		if (i % 10 == 3) {
			all &= rc == 0;
			continue;
		}
		if (rc != 1) {
			all = 0;
			break;
		}
		snprintf(want, sizeof want, "%s <->", name);
		snprintf(cents, sizeof cents, "%d.%02d", (i * 7 + 1) / 100,
		         (i * 7 + 1) % 100);
		all &= text_is(&out.values[7], want) && text_is(&out.values[3], cents) &&
		       out.values[8].type == FERRY_INT &&
		       out.values[8].u.i == (int64_t)(i * 7 + 1) * 2 + 100 + i &&
		       out.values[0].u.i == 100 + i;
		if (!first_ptr)
			first_ptr = out.values[3].u.s.ptr;
		else if (out.values[3].u.s.ptr != first_ptr)
			same_ptr = 0;
	}
	ok(all, "5000 rows through one mapper, every value right");
	ok(same_ptr, "converted payloads reuse the same scratch memory each row");

	ferry_mapper_close(m);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
	unbuild(&b);
}

/* A mapper for one table of a spec; NULL on failure. */
static ferry_mapper *open_for(built *b, const ferry_schema *s, const char *yaml,
                              const char *table, const char *what)
{
	if (!build_ok(b, s, yaml, FERRY_DIALECT_POSTGRESQL, what))
		return NULL;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_mapper *m = NULL;
	int rc = ferry_mapper_open(&m, b->plan, ptable(b->plan, table), &err);
	is_int(rc, 0, "%s: mapper opens", what);
	if (rc)
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return m;
}

static void test_where_truth(const ferry_schema *s)
{
	built b;
	ferry_mapper *m = open_for(&b, s,
	                           "tables:\n  users:\n    where: \"balance_cents "
	                           "> 0\"\n",
	                           "users", "where over a nullable column");
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	ferry_error err = FERRY_ERROR_INIT;
	if (m) {
		users_row(&src, 1, "A", NULL, ferry_value_null(), NULL, NULL);
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 0,
		       "a NULL where result filters the row");
		users_row(&src, 1, "A", NULL, ferry_value_int(0), NULL, NULL);
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 0,
		       "a false where filters the row");
		users_row(&src, 1, "A", NULL, ferry_value_int(5), NULL, NULL);
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 1,
		       "a true where keeps the row");
		is_int(out.ncols, 7, "all seven columns");
		ferry_mapper_close(m);
	}
	unbuild(&b);
	/* truth as SQL sees it: text and floats */
	m = open_for(&b, s, "tables:\n  users:\n    where: \"legacy\"\n", "users",
	             "where on a text value");
	if (m) {
		users_row(&src, 1, "A", NULL, ferry_value_null(), NULL, NULL);
		src.values[5] = txt("abc");
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 0,
		       "where 'abc' is false");
		src.values[5] = txt("0");
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 0,
		       "where '0' is false");
		src.values[5] = txt("2x");
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 1,
		       "where '2x' is true");
		src.values[5] = ferry_value_float(0.5);
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 1,
		       "where 0.5 is true");
		src.values[5] = ferry_value_float(0.0);
		is_int(ferry_mapper_map(m, &src, &out, &rej, &err), 0,
		       "where 0.0 is false");
		ferry_mapper_close(m);
	}
	unbuild(&b);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
}

/* Every ferry type bound into an expression: its SQLite storage class and
 * its value. */
static void test_bound_types(const ferry_schema *s)
{
	static const char yaml[] =
		"tables:\n"
		"  kinds:\n"
		"    add:\n"
		"      tb: { type: text, up: \"typeof(b) || ':' || hex(b)\" }\n"
		"      tf: { type: text, up: \"typeof(f) || ':' || (f * 2)\" }\n"
		"      ti: { type: text, up: \"typeof(i) || ':' || (i + 1)\" }\n"
		"      tt: { type: text, up: \"typeof(t) || ':' || t || '!'\" }\n"
		"      tn: { type: text, up: \"typeof(n) || ':' || (n IS NULL)\" }\n"
		"      tbo: { type: text, up: \"typeof(bo) || ':' || bo\" }\n"
		"      tnu: { type: text, up: \"typeof(nu) || ':' || nu || ':' || "
		"(nu * 10)\" }\n"
		"      td: { type: text, up: \"typeof(d) || ':' || d\" }\n"
		"      tts: { type: text, up: \"typeof(ts) || ':' || ts\" }\n"
		"      tu: { type: text, up: \"typeof(u) || ':' || u\" }\n"
		"      tj: { type: text, up: \"typeof(j) || ':' || json_extract(j, "
		"'$.a')\" }\n"
		"      teb: { type: text, up: \"typeof(eb) || ':' || length(eb)\" }\n"
		"      tet: { type: text, up: \"typeof(et) || ':' || length(et)\" }\n"
		"      big: { type: bigint, up: \"i\" }\n"
		"      raw: { type: bytea, up: \"b\" }\n"
		"      fl: { type: double precision, up: \"f\" }\n";
	built b;
	ferry_mapper *m = open_for(&b, s, yaml, "kinds", "bound types");
	if (!m) {
		unbuild(&b);
		return;
	}
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_row_resize(&src, 13, NULL);
	static const unsigned char blob[] = {0x00, 0xff, 0x10};
	static const uint8_t uuid[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b,
	                                  0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66,
	                                  0x14, 0x17, 0x40, 0x00};
	src.values[0] = ferry_value_bytes(FERRY_BLOB, blob, 3);
	src.values[1] = ferry_value_float(1.25);
	src.values[2] = ferry_value_int(INT64_C(9007199254740993));
	src.values[3] = txt("héllo");
	src.values[4] = ferry_value_null();
	src.values[5] = ferry_value_bool(true);
	src.values[6] = ferry_value_bytes(FERRY_NUMERIC, "19.90", 5);
	src.values[7] = ferry_value_date(19782); /* 2024-02-29 */
	src.values[8] = ferry_value_timestamp(FERRY_TIMESTAMP,
	                                      INT64_C(1704164645500000));
	src.values[9] = ferry_value_uuid(uuid);
	src.values[10] = ferry_value_bytes(FERRY_JSON, "{\"a\":7}", 7);
	src.values[11] = ferry_value_bytes(FERRY_BLOB, NULL, 0);
	src.values[12] = ferry_value_bytes(FERRY_TEXT, NULL, 0);
	int rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "a row of every type maps");
	if (rc != 1)
		tap_diag("%s / %s", ferry_error_message(&err),
		         rc == FERRY_EREJECT ? rej.reason : "");
	if (rc == 1 && out.ncols == 29) {
		for (int i = 0; i < 13; i++)
			ok(ferry_value_identical(&out.values[i], &src.values[i]),
			   "column %d copied as is", i);
		is_text(&out.values[13], "blob:00FF10", "blob binds as a blob");
		is_text(&out.values[14], "real:2.5", "float binds as a real");
		is_text(&out.values[15], "integer:9007199254740994",
		        "int binds as a 64-bit integer");
		is_text(&out.values[16], "text:héllo!", "text binds as text");
		is_text(&out.values[17], "null:1", "NULL binds as NULL");
		is_text(&out.values[18], "integer:1", "bool binds as integer 1");
		is_text(&out.values[19], "text:19.90:199.0", "numeric binds as its text");
		is_text(&out.values[20], "text:2024-02-29", "date binds as its text");
		is_text(&out.values[21], "text:2024-01-02 03:04:05.5",
		        "timestamp binds as its text");
		is_text(&out.values[22], "text:123e4567-e89b-12d3-a456-426614174000",
		        "uuid binds as its text");
		is_text(&out.values[23], "text:7", "json binds as text");
		is_text(&out.values[24], "blob:0", "an empty blob is a blob");
		is_text(&out.values[25], "text:0", "an empty text is text");
		is_val_int(&out.values[26], INT64_C(9007199254740993),
		           "an int comes back exactly");
		ok(out.values[27].type == FERRY_BLOB && out.values[27].u.s.len == 3 &&
		       !memcmp(out.values[27].u.s.ptr, blob, 3),
		   "a blob comes back byte for byte");
		ok(out.values[28].type == FERRY_FLOAT && out.values[28].u.f == 1.25,
		   "a float comes back exactly");
	} else {
		ok(0, "29 output columns (got %u)", out.ncols);
	}
	src.values[5] = ferry_value_bool(false);
	src.values[0] = ferry_value_null();
	rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "second row");
	if (rc == 1 && out.ncols == 29) {
		is_text(&out.values[18], "integer:0", "false binds as 0");
		is_text(&out.values[13], "null:", "a NULL blob binds as NULL");
		is_int(out.values[27].type, FERRY_NULL, "NULL blob is NULL");
	}
	/* an expression whose result does not convert: a reject in the added column */
	ferry_mapper_close(m);
	unbuild(&b);
	m = open_for(&b, s,
	             "tables:\n  kinds:\n    add:\n"
	             "      num: { type: integer, up: \"t || 'x'\" }\n",
	             "kinds", "up result that does not convert");
	if (m) {
		src.values[3] = txt("12");
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, FERRY_EREJECT, "'12x' into integer: reject");
		is_str(rej.column, "num", "named by the added column");
		ok(rej.value.type == FERRY_TEXT && rej.value.u.s.len == 3 &&
		       !memcmp(rej.value.u.s.ptr, "12x", 3),
		   "the value is the expression's result");
		ok(contains(rej.reason, "'12x'"), "the reason names it");
		ferry_mapper_close(m);
	}
	unbuild(&b);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
}

/* up on a source column, with and without rename; a column with up is fed
 * by the expression, not by its own value. */
static void test_up_columns(const ferry_schema *s)
{
	built b;
	ferry_mapper *m = open_for(&b, s,
	                           "tables:\n"
	                           "  orders:\n"
	                           "    rename: purchases\n"
	                           "    columns:\n"
	                           "      status: { rename: state, up: \"upper(status) "
	                           "|| '/' || user_id\" }\n"
	                           "      total_cents: { up: \"total_cents * 3 - id\" }\n"
	                           "    down:\n"
	                           "      status: \"lower(substr(state, 1, instr(state, "
	                           "'/') - 1))\"\n",
	                           "orders", "up on source columns");
	if (!m) {
		unbuild(&b);
		return;
	}
	const ferry_plan_table *o = ptable(b.plan, "orders");
	is_str(colnames(o), "id,user_id,total_cents,state", "columns");
	ok(o->irreversible, "total_cents has no down: irreversible");
	is_int(o->nnotes, 1, "one note only (status has its down)");
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_row_resize(&src, 4, NULL);
	src.values[0] = ferry_value_int(7);
	src.values[1] = ferry_value_int(42);
	src.values[2] = ferry_value_int(100);
	src.values[3] = txt("new");
	int rc = ferry_mapper_map(m, &src, &out, &rej, &err);
	is_int(rc, 1, "maps");
	if (rc == 1) {
		is_val_int(&out.values[0], 7, "id");
		is_val_int(&out.values[1], 42, "user_id");
		is_val_int(&out.values[2], 293, "total_cents * 3 - id");
		is_text(&out.values[3], "NEW/42", "upper(status) || '/' || user_id");
	}
	ferry_mapper_close(m);
	unbuild(&b);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
}

/* Defaults for PostgreSQL: literals whose SQLite value converts exactly
 * to the column's type, spelled for PostgreSQL; SQLite keeps them all. */
static const struct {
	const char *name;
	ferry_sqltype type;
	const char *sql;  /* the SQLite default */
	const char *pg;   /* what PostgreSQL gets; NULL = none */
} defaults[] = {
	{"active", {FERRY_SQL_BOOLEAN, -1, -1, -1}, "1", "TRUE"},
	{"deleted", {FERRY_SQL_BOOLEAN, -1, -1, -1}, "0", "FALSE"},
	{"two", {FERRY_SQL_BOOLEAN, -1, -1, -1}, "2", NULL},
	{"yes", {FERRY_SQL_BOOLEAN, -1, -1, -1}, "'yes'", "TRUE"},
	{"btrue", {FERRY_SQL_BOOLEAN, -1, -1, -1}, "true", "TRUE"},
	{"flag", {FERRY_SQL_BIGINT, -1, -1, -1}, "TRUE", "1"},
	{"neg", {FERRY_SQL_BIGINT, -1, -1, -1}, "-5", "-5"},
	{"plus", {FERRY_SQL_INTEGER, -1, -1, -1}, "+5", "5"},
	{"half", {FERRY_SQL_BIGINT, -1, -1, -1}, "1.5", NULL},
	{"exp", {FERRY_SQL_BIGINT, -1, -1, -1}, "1e3", "1000"},
	{"huge", {FERRY_SQL_BIGINT, -1, -1, -1}, "99999999999999999999", NULL},
	{"small", {FERRY_SQL_SMALLINT, -1, -1, -1}, "40000", NULL},
	{"quoted_int", {FERRY_SQL_BIGINT, -1, -1, -1}, "'42'", "42"},
	{"word_int", {FERRY_SQL_BIGINT, -1, -1, -1}, "'abc'", NULL},
	{"price", {FERRY_SQL_NUMERIC, 12, 2, -1}, "5", "5.00"},
	{"price2", {FERRY_SQL_NUMERIC, 12, 2, -1}, "1.555", NULL},
	{"num", {FERRY_SQL_NUMERIC, -1, -1, -1}, "19.90", "19.90"},
	{"dbl", {FERRY_SQL_DOUBLE, -1, -1, -1}, "0.1", "0.1"},
	{"dbl1", {FERRY_SQL_DOUBLE, -1, -1, -1}, "1", "1"},
	{"short", {FERRY_SQL_VARCHAR, -1, -1, 2}, "12345", NULL},
	{"code", {FERRY_SQL_VARCHAR, -1, -1, 5}, "'abc'", "'abc'"},
	{"zero_text", {FERRY_SQL_TEXT, -1, -1, -1}, "0", "'0'"},
	{"quote", {FERRY_SQL_TEXT, -1, -1, -1}, "'it''s'", "'it''s'"},
	{"empty", {FERRY_SQL_TEXT, -1, -1, -1}, "''", "''"},
	{"concat", {FERRY_SQL_TEXT, -1, -1, -1}, "'a' || 'b'", NULL},
	{"expr", {FERRY_SQL_TEXT, -1, -1, -1}, "(lower('X'))", NULL},
	{"now_text", {FERRY_SQL_TEXT, -1, -1, -1}, "CURRENT_TIMESTAMP",
	 "CURRENT_TIMESTAMP"},
	{"ts0", {FERRY_SQL_TIMESTAMP, -1, -1, -1}, "0", NULL},
	{"ts_now", {FERRY_SQL_TIMESTAMP, -1, -1, -1}, "current_timestamp",
	 "current_timestamp"},
	{"ts_lit", {FERRY_SQL_TIMESTAMP, -1, -1, -1}, "'2024-01-02 03:04:05'",
	 "'2024-01-02 03:04:05'"},
	{"tstz_time", {FERRY_SQL_TIMESTAMPTZ, -1, -1, -1}, "CURRENT_TIME", NULL},
	{"int_now", {FERRY_SQL_BIGINT, -1, -1, -1}, "CURRENT_TIMESTAMP", NULL},
	{"day", {FERRY_SQL_DATE, -1, -1, -1}, "CURRENT_DATE", "CURRENT_DATE"},
	{"day_ts", {FERRY_SQL_DATE, -1, -1, -1}, "CURRENT_TIMESTAMP", NULL},
	{"day_lit", {FERRY_SQL_DATE, -1, -1, -1}, "'2024-02-29'", "'2024-02-29'"},
	{"day_bad", {FERRY_SQL_DATE, -1, -1, -1}, "'2023-02-29'", NULL},
	{"doc", {FERRY_SQL_JSONB, -1, -1, -1}, "'{}'", "'{}'"},
	{"doc0", {FERRY_SQL_JSONB, -1, -1, -1}, "0", "'0'"},
	{"id", {FERRY_SQL_UUID, -1, -1, -1}, "0", NULL},
	{"raw", {FERRY_SQL_BYTEA, -1, -1, -1}, "'ab'", "'\\x6162'"},
	{"nothing", {FERRY_SQL_BIGINT, -1, -1, -1}, "NULL", "NULL"},
	{"hex", {FERRY_SQL_BIGINT, -1, -1, -1}, "0x10", NULL},
	{"blob", {FERRY_SQL_BYTEA, -1, -1, -1}, "X'00'", NULL},
};

static void test_defaults(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_table *t = ferry_schema_add_table(&s);
	t->name = ferry_strdup("d");
	size_t n = sizeof defaults / sizeof *defaults;
	for (size_t i = 0; i < n; i++) {
		ferry_column *c = col(t, defaults[i].name, "", FERRY_SQL_TEXT, -1,
		                      false, defaults[i].sql, 0, false);
		c->type = defaults[i].type;
	}
	built b;
	if (build_ok(&b, &s, NULL, FERRY_DIALECT_POSTGRESQL, "defaults, pg")) {
		const ferry_plan_table *pt = ptable(b.plan, "d");
		for (size_t i = 0; pt && i < n; i++)
			is_str(pt->target.columns[i].default_sql, defaults[i].pg,
			       "postgresql: %s %s DEFAULT %s", defaults[i].name,
			       typestr(&pt->target.columns[i]), defaults[i].sql);
	}
	unbuild(&b);
	if (build_ok(&b, &s, NULL, FERRY_DIALECT_SQLITE, "defaults, sqlite")) {
		const ferry_plan_table *pt = ptable(b.plan, "d");
		int same = 1;
		for (size_t i = 0; pt && i < n; i++)
			same &= pt->target.columns[i].default_sql &&
			        !strcmp(pt->target.columns[i].default_sql,
			                defaults[i].sql);
		ok(same, "sqlite: every default kept as written");
	}
	unbuild(&b);
	ferry_schema_free(&s);
}

/* The engine's interface (engine/transform.h): a spec file on disk. */
static void test_transform_ops(const ferry_schema *s)
{
	const ferry_transform_ops *ops = &ferry_plan_transform_ops;
	char path[] = "/tmp/ferry_plan_spec_XXXXXX";
	int fd = mkstemp(path);
	static const char yaml[] =
		"tables:\n"
		"  users:\n"
		"    rename: accounts\n"
		"    columns:\n"
		"      legacy: { drop: true }\n"
		"      name: { up: \"upper(name) -- a comment ends at the line\" }\n"
		"    down:\n"
		"      name: \"lower(name)\"\n"
		"exclude: [\"audit_*\", settings]\n";
	ok(fd >= 0 && write(fd, yaml, sizeof yaml - 1) == (ssize_t)(sizeof yaml - 1),
	   "spec file written");
	if (fd >= 0)
		close(fd);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_transform *t = NULL;
	int rc = ops->build(&t, s, path, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(rc, 0, "ops: build from a file");
	if (rc != 0) {
		tap_diag("%s", ferry_error_message(&err));
		unlink(path);
		return;
	}
	is_int(ops->table_count(t), 3, "ops: three tables");
	is_str(ops->source_table(t, 0)->name, "users", "ops: source table 0");
	ok(ops->source_table(t, 0) == &s->tables[0], "ops: the source is borrowed");
	is_str(ops->target_table(t, 0)->name, "accounts", "ops: target table 0");
	is_str(ops->target_table(t, 1)->name, "orders", "ops: target table 1");
	is_int(ops->warning_count(t), 1, "ops: one warning");
	is_str(ops->warning_count(t) ? ops->warning(t, 0) : NULL,
	       "index \"users_legacy\" on \"users\" is not created: column "
	       "\"legacy\" is dropped",
	       "ops: the warning");
	ferry_buf d = FERRY_BUF_INIT;
	ops->describe(t, &d);
	ok(contains(ferry_buf_cstr(&d), "rollback: possible, lossy"),
	   "ops: describe");
	ferry_buf_free(&d);
	/* users: an up with a trailing comment */
	ferry_mapper *m = NULL;
	rc = ops->mapper_open(&m, t, 0, &err);
	is_int(rc, 0, "ops: mapper for users");
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	if (rc == 0) {
		users_row(&src, 1, "ann", NULL, ferry_value_int(1), NULL, NULL);
		rc = ops->map(m, &src, &out, &rej, &err);
		is_int(rc, 1, "ops: map");
		if (rc == 1)
			is_text(&out.values[1], "ANN", "a -- comment in up ends at its line");
		ops->mapper_close(m);
	}
	/* orders: no expressions, values pass through */
	m = NULL;
	rc = ops->mapper_open(&m, t, 1, &err);
	is_int(rc, 0, "ops: mapper for orders (no expressions)");
	if (rc == 0) {
		ferry_row_resize(&src, 4, NULL);
		src.values[0] = ferry_value_int(9);
		src.values[1] = ferry_value_null();
		src.values[2] = ferry_value_int(-3);
		src.values[3] = txt("paid");
		rc = ops->map(m, &src, &out, &rej, &err);
		is_int(rc, 1, "ops: plain row maps");
		int same = rc == 1 && out.ncols == 4;
		for (int i = 0; same && i < 4; i++)
			same &= ferry_value_identical(&out.values[i], &src.values[i]);
		ok(same, "ops: every value copied as is");
		src.values[0] = txt("x");
		rc = ops->map(m, &src, &out, &rej, &err);
		is_int(rc, FERRY_EREJECT, "ops: text in a bigint key is a reject");
		is_str(rej.column, "id", "ops: in id");
		ops->mapper_close(m);
	}
	ops->mapper_close(NULL);
	ops->free(t);
	ops->free(NULL);
	/* no spec at all */
	t = NULL;
	rc = ops->build(&t, s, NULL, FERRY_DIALECT_SQLITE, &err);
	is_int(rc, 0, "ops: build without a spec");
	is_int(t ? ops->table_count(t) : 0, 6, "ops: every table");
	ops->free(t);
	/* a missing file */
	unlink(path);
	t = NULL;
	rc = ops->build(&t, s, path, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(rc, FERRY_ERROR, "ops: a missing spec file fails");
	char want[128];
	snprintf(want, sizeof want,
	         "could not read spec \"%s\": No such file or directory", path);
	is_str(ferry_error_message(&err), want, "ops: naming the file");
	ok(t == NULL, "ops: no transform");
	/* a spec error names the file */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static const char bad[] = "tables:\n  users:\n    columns:\n"
	                          "      nmae: { drop: true }\n";
	ok(fd >= 0 && write(fd, bad, sizeof bad - 1) == (ssize_t)(sizeof bad - 1),
	   "bad spec written");
	if (fd >= 0)
		close(fd);
	rc = ops->build(&t, s, path, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(rc, FERRY_EINVAL, "ops: a bad spec is refused");
	snprintf(want, sizeof want,
	         "%s:4: column \"nmae\" is not in table \"users\" (did you mean "
	         "\"name\"?)", path);
	is_str(ferry_error_message(&err), want, "ops: the message names the file");
	unlink(path);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
}

/* ---- allocation failures ---- */

static int fault_run(const ferry_schema *s, const ferry_spec *spec,
                     int *mapped)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_plan *plan = NULL;
	ferry_mapper *m = NULL;
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	*mapped = 0;
	int rc = ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, &err);
	if (rc == 0) {
		ferry_buf d = FERRY_BUF_INIT;
		ferry_plan_describe(plan, &d);
		ferry_buf_free(&d);
		const ferry_plan_table *u = ptable(plan, "users");
		rc = ferry_mapper_open(&m, plan, u, &err);
	}
	for (int i = 0; rc == 0 && i < 3; i++) {
		ferry_value cents = ferry_value_int(1999 + i);
		if (ferry_row_resize(&src, 7, &err) < 0) {
			rc = FERRY_ENOMEM;
			break;
		}
		users_row(&src, i + 1, "Ann", "a@x", cents, "2024-01-02 03:04:05",
		          NULL);
		int r = ferry_mapper_map(m, &src, &out, &rej, &err);
		if (r == 1) {
			(*mapped)++;
			if (!text_is(&out.values[3], i == 0   ? "19.99"
			                             : i == 1 ? "20.00"
			                                      : "20.01") ||
			    !text_is(&out.values[7], "Ann <a@x>"))
				rc = FERRY_ERROR; /* wrong data is never fine */
		} else {
			rc = r;
		}
	}
	/* the plan built under failure must be the whole plan */
	if (rc == 0) {
		const ferry_plan_table *u = ptable(plan, "users");
		if (!u || u->target.ncolumns != 12 || u->target.nindexes != 1 ||
		    plan->nwarnings != 1 || !tcol(u, "created") ||
		    tcol(u, "created")->default_sql != NULL ||
		    !tcol(u, "plan")->default_sql ||
		    strcmp(tcol(u, "plan")->default_sql, "'free'") ||
		    !tcol(u, "deleted_at")->default_sql ||
		    strcmp(tcol(u, "deleted_at")->default_sql, "NULL") ||
		    !u->target.indexes[0].name || !u->target.indexes[0].columns[0] ||
		    strcmp(u->target.indexes[0].columns[0], "email"))
			rc = FERRY_ERROR;
		const ferry_plan_table *o = ptable(plan, "orders");
		if (!o || o->target.nfkeys != 2 || !o->target.fkeys[0].ref_table ||
		    strcmp(o->target.fkeys[0].ref_table, "accounts") ||
		    !o->target.fkeys[0].on_delete || !o->target.fkeys[0].columns[0] ||
		    !o->target.fkeys[0].ref_columns[0] || !o->target.fkeys[1].name ||
		    !o->target.indexes || !o->target.indexes[0].name ||
		    !tcol(o, "status")->default_sql ||
		    strcmp(tcol(o, "status")->default_sql, "'new'") ||
		    !tcol(o, "total_cents")->default_sql ||
		    strcmp(tcol(o, "total_cents")->default_sql, "-5"))
			rc = FERRY_ERROR;
	}
	if (rc != 0 && rc != FERRY_ENOMEM)
		tap_diag("fault run: %d %s", rc, ferry_error_message(&err));
	ferry_mapper_close(m);
	ferry_plan_free(plan);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
	return rc;
}

static void test_alloc_failures(const ferry_schema *s)
{
	ferry_spec *spec = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_spec_parse(&spec, "s.yaml", map_spec, strlen(map_spec), &err);
	is_int(rc, 0, "fault spec parses");
	int mapped;
	is_int(fault_run(s, spec, &mapped), 0, "the fault run passes without faults");
	is_int(mapped, 3, "and maps three rows");
	long n;
	int clean = 1, successes = 0;
	for (n = 1; n < 5000; n++) {
		ferry_alloc_fail_at(n, 0);
		rc = fault_run(s, spec, &mapped);
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM) {
			clean = 0;
			tap_diag("failing allocation %ld: rc %d", n, rc);
		}
		if (rc == FERRY_ENOMEM && fails == 0)
			clean = 0; /* ENOMEM without a failure */
		successes += rc == 0;
		if (fails == 0)
			break;
	}
	ok(clean, "build + map with allocation %ld failing in turn: 0 or "
	          "FERRY_ENOMEM, never wrong", n);
	ok(n > 10 && n < 5000, "the fault loop ended after %ld runs", n);
	ok(successes >= 1, "the last run succeeds");

	/* sticky: everything fails from some point on */
	for (n = 1; n < 400; n += 7) {
		ferry_alloc_fail_at(n, 1);
		rc = fault_run(s, spec, &mapped);
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM)
			clean = 0;
	}
	ok(clean, "sticky failures: 0 or FERRY_ENOMEM");

	/* no error object: out of memory is still FERRY_ENOMEM */
	int right = 1;
	for (n = 1; n < 40; n++) {
		ferry_plan *plan = NULL;
		ferry_alloc_fail_at(n, 0);
		rc = ferry_plan_build(&plan, s, spec, FERRY_DIALECT_POSTGRESQL, NULL);
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		ferry_plan_free(plan);
		if (fails ? rc != FERRY_ENOMEM : rc != 0)
			right = 0;
		if (fails == 0)
			break;
	}
	ok(right, "without an error object build returns FERRY_ENOMEM");
	ferry_spec_free(spec);
	ferry_error_clear(&err);
}

/* Images with absent values (columns the source did not send): passed
 * on where a target column depends on nothing else, refused where a
 * value cannot be computed. */
static const char absent_spec[] =
	"tables:\n"
	"  users:\n"
	"    columns:\n"
	"      name: { rename: full_name }\n"
	"      balance_cents: { rename: balance, type: \"numeric(12,2)\", "
	"divide_by: 100 }\n"
	"    add:\n"
	"      label: { type: text, up: \"name || ' <' || coalesce(email, '-') "
	"|| '>'\" }\n"
	"      email_user: { type: text, up: \"substr(email, 1, 3)\" }\n"
	"      seven: { type: integer, up: \"7\" }\n";

static void test_absent_images(const ferry_schema *s)
{
	built b;
	ferry_mapper *m = open_for(&b, s, absent_spec, "users", "absent spec");
	ferry_row src = FERRY_ROW_INIT, out = FERRY_ROW_INIT;
	ferry_reject rej;
	ferry_error err = FERRY_ERROR_INIT;
	memset(&rej, 0, sizeof rej);
	if (m) {
		const ferry_plan_table *u = ptable(b.plan, "users");
		is_str(colnames(u),
		       "id,full_name,email,balance,created,legacy,deleted_at,label,"
		       "email_user,seven",
		       "absent spec: columns");
		users_row(&src, 1, "Ann", "ann@x.org", ferry_value_int(250), NULL,
		          NULL);
		src.values[1] = ferry_value_absent(); /* name */
		src.values[2] = ferry_value_absent(); /* email */
		int rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, 1, "an image whose large columns were not sent maps");
		if (rc != 1)
			tap_diag("%s", ferry_error_message(&err));
		if (rc == 1 && out.ncols == 10) {
			is_val_int(&out.values[0], 1, "the key is there");
			is_int(out.values[1].type, FERRY_ABSENT,
			       "a renamed absent column stays absent");
			is_int(out.values[2].type, FERRY_ABSENT,
			       "a copied absent column stays absent");
			is_text(&out.values[3], "2.50", "a sent column converts");
			is_int(out.values[4].type, FERRY_NULL, "NULL stays NULL");
			is_int(out.values[7].type, FERRY_ABSENT,
			       "an expression over absent columns only is absent");
			is_int(out.values[8].type, FERRY_ABSENT,
			       "an expression over one absent column is absent");
			is_val_int(&out.values[9], 7,
			           "an expression that reads no column is computed");
		}
		/* the mapper forgets the previous image's absent results */
		users_row(&src, 2, "Bob", "bob@x.org", ferry_value_int(1), NULL, NULL);
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		ok(rc == 1 && text_is(&out.values[7], "Bob <bob@x.org>") &&
		       text_is(&out.values[8], "bob"),
		   "a whole image after it maps whole");

		users_row(&src, 3, "Cy", "c@x.org", ferry_value_int(1), NULL, NULL);
		src.values[2] = ferry_value_absent(); /* email, not name */
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, FERRY_EUNSUPPORTED,
		       "an expression mixing an absent and a sent column is refused");
		ok(strstr(ferry_error_message(&err), "reads column \"email\", which "
		                                     "the source did not send, and "
		                                     "column \"name\", which it did") &&
		       strstr(ferry_error_message(&err),
		              "ALTER TABLE \"users\" REPLICA IDENTITY FULL"),
		   "naming both columns and the fix: %s", ferry_error_message(&err));

		users_row(&src, 4, "Di", "d@x.org", ferry_value_int(1), NULL, NULL);
		src.values[0] = ferry_value_absent();
		src.values[1] = src.values[2] = ferry_value_absent();
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, FERRY_EUNSUPPORTED, "an absent key column is refused");
		ok(strstr(ferry_error_message(&err), "key column \"id\"") != NULL,
		   "naming it: %s", ferry_error_message(&err));
		ferry_mapper_close(m);
	}
	unbuild(&b);

	/* a where filter cannot decide over a column it was not sent */
	m = open_for(&b, s, map_spec, "users", "absent with where");
	if (m) {
		users_row(&src, 5, "Ed", "e@x.org", ferry_value_int(1), NULL, NULL);
		src.values[6] = ferry_value_absent(); /* deleted_at */
		int rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, FERRY_EUNSUPPORTED,
		       "a where over an absent column is refused, never guessed");
		ok(strstr(ferry_error_message(&err),
		          "where \"deleted_at IS NULL\" reads column \"deleted_at\"") !=
		       NULL,
		   "naming the filter: %s", ferry_error_message(&err));
		users_row(&src, 5, "Ed", "e@x.org", ferry_value_int(1), NULL, NULL);
		src.values[5] = ferry_value_absent(); /* legacy: dropped, unread */
		rc = ferry_mapper_map(m, &src, &out, &rej, &err);
		is_int(rc, 1, "an absent column nothing reads is no obstacle");
		ferry_mapper_close(m);
	}
	unbuild(&b);
	ferry_row_free(&src);
	ferry_row_free(&out);
	ferry_error_clear(&err);
}

/* The transform ops that say what needs whole old rows. */
static void test_whole_rows(ferry_schema *s)
{
	const ferry_transform_ops *ops = &ferry_plan_transform_ops;
	static const char yaml[] =
		"tables:\n"
		"  users:\n"
		"    where: \"deleted_at IS NULL\"\n"
		"    add:\n"
		"      tag: { type: text, up: \"name || legacy\" }\n"
		"      short: { type: text, up: \"substr(created, 1, 4)\" }\n"
		"  orders:\n"
		"    add:\n"
		"      line: { type: text, up: \"status || ' ' || total_cents\" }\n"
		"      up_status: { type: text, up: \"upper(status)\" }\n";
	char path[] = "/tmp/ferry_plan_spec_XXXXXX";
	int fd = mkstemp(path);
	ok(fd >= 0 && write(fd, yaml, sizeof yaml - 1) == (ssize_t)(sizeof yaml - 1),
	   "whole rows: spec file written");
	if (fd >= 0)
		close(fd);
	ferry_table *users = &s->tables[0], *orders = &s->tables[1];
	users->columns[1].unsent_if_kept = true; /* name */
	users->columns[4].unsent_if_kept = true; /* created */
	orders->columns[3].unsent_if_kept = true; /* status */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_transform *t = NULL;
	int rc = ops->build(&t, s, path, FERRY_DIALECT_POSTGRESQL, &err);
	is_int(rc, 0, "whole rows: builds");
	if (rc == 0) {
		ferry_buf why = FERRY_BUF_INIT;
		ok(ops->filters(t, 0) && !ops->filters(t, 1),
		   "filters: only users has a where");
		ok(ops->needs_whole_rows(t, 0, &why), "users needs whole rows");
		is_str(ferry_buf_cstr(&why),
		       "the `where` filter of table \"users\"; the expression "
		       "\"name || legacy\" of table \"users\", which reads column "
		       "\"name\" with others",
		       "for its filter and its mixed expression, not the one-column "
		       "one");
		ferry_buf_reset(&why);
		ok(ops->needs_whole_rows(t, 1, &why), "orders needs whole rows");
		ok(strstr(ferry_buf_cstr(&why), "status || ' ' || total_cents") &&
		       !strstr(ferry_buf_cstr(&why), "upper"),
		   "for the mixed expression only: %s", ferry_buf_cstr(&why));
		orders->columns[3].unsent_if_kept = false;
		ferry_buf_reset(&why);
		ok(!ops->needs_whole_rows(t, 1, &why) && why.len == 0,
		   "not when no column it reads can go unsent");
		ferry_buf_free(&why);
		ops->free(t);
	} else {
		tap_diag("%s", ferry_error_message(&err));
	}
	users->columns[1].unsent_if_kept = users->columns[4].unsent_if_kept = false;
	orders->columns[3].unsent_if_kept = false;
	unlink(path);
	ferry_error_clear(&err);
}

int main(void)
{
	ferry_schema s = FERRY_SCHEMA_INIT;
	make_schema(&s);
	test_no_spec(&s);
	test_shop(&s);
	test_keys_and_renames(&s);
	test_errors(&s);
	test_reversibility(&s);
	test_map_users(&s);
	test_where_truth(&s);
	test_bound_types(&s);
	test_up_columns(&s);
	test_defaults();
	test_transform_ops(&s);
	test_absent_images(&s);
	test_whole_rows(&s);
	test_alloc_failures(&s);
	ferry_schema_free(&s);
	return tap_done();
}
