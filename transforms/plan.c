/*
 * transforms/plan.c - builds the plan from the source schema and the spec,
 * and maps rows (plan.h).
 *
 * Expressions (`up`, `where`) are SQLite expressions evaluated by an
 * embedded in-memory SQLite against the source row: one statement per
 * table, SELECT <where>, <up>... FROM (SELECT ?1 AS "col1", ...), prepared
 * once and stepped once per row.
 */
#include "transforms/plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/alloc.h"
#include "engine/sqlite_value.h"
#include "transforms/inverse.h"

/* ---- small helpers ------------------------------------------------ */

static int add_string(char ***list, uint32_t *n, const char *fmt, ...)
    FERRY_PRINTF(3, 4);

static int add_string(char ***list, uint32_t *n, const char *fmt, ...)
{
	ferry_buf b = FERRY_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	char *s = ferry_buf_detach(&b, NULL);
	char **grown = s ? ferry_realloc(*list, (*n + 1) * sizeof **list) : NULL;
	if (!grown) {
		ferry_free(s);
		return FERRY_ENOMEM;
	}
	grown[(*n)++] = s;
	*list = grown;
	return 0;
}

static void free_strings(char **list, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		ferry_free(list[i]);
	ferry_free(list);
}

static char *dup_or_null(const char *s) { return s ? ferry_strdup(s) : NULL; }

/* Column names of a table, for "did you mean". */
static const char **column_names(const ferry_table *t)
{
	const char **names = ferry_calloc(t->ncolumns + 1, sizeof *names);
	for (uint32_t i = 0; names && i < t->ncolumns; i++)
		names[i] = t->columns[i].name;
	return names;
}

static int unknown_name(ferry_error *err, const ferry_spec *spec, int line,
                        const char *what, const char *name, const char *where,
                        const char **candidates, size_t n)
{
	const char *guess = ferry_suggest(name, candidates, n);
	return ferry_error_set(err, FERRY_EINVAL, "%s:%d: %s \"%s\" is not in %s%s%s%s",
	                       spec->path, line, what, name, where,
	                       guess ? " (did you mean \"" : "", guess ? guess : "",
	                       guess ? "\"?)" : "");
}

/* ---- expression checks -------------------------------------------- */

void ferry_plan_row_source(ferry_buf *b, const ferry_table *t)
{
	ferry_buf_puts(b, " FROM (SELECT ");
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		ferry_buf_printf(b, "%s?%u AS ", i ? ", " : "", i + 1);
		ferry_buf_put_ident(b, t->columns[i].name);
	}
	if (t->ncolumns == 0)
		ferry_buf_puts(b, "NULL");
	ferry_buf_puts(b, ")");
}

/* Compiles one expression against the table's columns: spec errors
 * point at the line that wrote it.  The expression stands on lines of its
 * own (EXPR_OPEN/EXPR_CLOSE, also used by the mapper) so a trailing --
 * comment cannot swallow what follows, and it must be exactly one value:
 * "a), (b" or "a); SELECT (b" would shift or drop the mapper's result
 * columns. */
#define EXPR_OPEN "(\n"
#define EXPR_CLOSE "\n)"

static int check_expr(sqlite3 *db, const ferry_spec *spec, int line,
                      const char *what, const ferry_table *t, const char *expr,
                      ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_printf(&sql, "SELECT " EXPR_OPEN "%s" EXPR_CLOSE, expr);
	ferry_plan_row_source(&sql, t);
	if (ferry_buf_failed(&sql)) {
		ferry_buf_free(&sql);
		return ferry_error_oom(err);
	}
	sqlite3_stmt *stmt = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(db, ferry_buf_cstr(&sql), -1, &stmt, &tail);
	bool one = rc == SQLITE_OK && sqlite3_column_count(stmt) == 1 &&
	           tail && !tail[strspn(tail, " \t\r\n")];
	sqlite3_finalize(stmt);
	int result = 0;
	if (rc != SQLITE_OK)
		result = rc == SQLITE_NOMEM
		             ? ferry_error_oom(err)
		             : ferry_error_set(err, FERRY_EINVAL,
		                               "%s:%d: table \"%s\": %s \"%s\" does not "
		                               "compile: %s",
		                               spec ? spec->path : "spec", line, t->name,
		                               what, expr, sqlite3_errmsg(db));
	else if (!one)
		result = ferry_error_set(err, FERRY_EINVAL,
		                         "%s:%d: table \"%s\": %s \"%s\" is not one "
		                         "expression",
		                         spec ? spec->path : "spec", line, t->name, what,
		                         expr);
	ferry_buf_free(&sql);
	return result;
}

/* ---- building a table's plan -------------------------------------- */

/* ---- defaults ------------------------------------------------------ */

/* Types whose PostgreSQL columns take any text a default gives. */
static bool text_kind(const ferry_sqltype *t)
{
	return t->kind == FERRY_SQL_TEXT || t->kind == FERRY_SQL_UNKNOWN ||
	       (t->kind == FERRY_SQL_VARCHAR && t->length < 0);
}

/* "-5", "+12", "0": an integer literal that fits int64. */
static bool integer_literal(const char *sql, int64_t *out)
{
	const char *p = sql + (*sql == '-' || *sql == '+');
	if (!*p || p[strspn(p, "0123456789")])
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(sql, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* Appends the PostgreSQL literal of a converted value; false when there
 * is none to trust (NaN, infinities). */
static bool put_pg_literal(ferry_buf *b, const ferry_value *v)
{
	ferry_buf text = FERRY_BUF_INIT;
	switch (v->type) {
	case FERRY_BOOL:
		ferry_buf_puts(b, v->u.b ? "TRUE" : "FALSE");
		return true;
	case FERRY_INT:
		ferry_buf_printf(b, "%lld", (long long)v->u.i);
		return true;
	case FERRY_FLOAT:
		if (!isfinite(v->u.f))
			return false;
		ferry_value_format(v, b, 0);
		return true;
	case FERRY_NUMERIC:
		ferry_buf_append(b, v->u.s.ptr, v->u.s.len);
		return true;
	case FERRY_BLOB:
		ferry_buf_puts(b, "'\\x");
		for (size_t i = 0; i < v->u.s.len; i++)
			ferry_buf_printf(b, "%02x", (unsigned char)v->u.s.ptr[i]);
		ferry_buf_putc(b, '\'');
		return true;
	case FERRY_TEXT:
	case FERRY_JSON:
		ferry_buf_append(&text, v->u.s.ptr, v->u.s.len);
		break;
	default: /* dates, timestamps, uuids: their text form */
		ferry_value_format(v, &text, 0);
		if (v->type == FERRY_DATE || v->type == FERRY_TIMESTAMP ||
		    v->type == FERRY_TIMESTAMPTZ) {
			/* infinities and years outside 1..9999 stay out */
			const char *t = ferry_buf_cstr(&text);
			if (t && (!isdigit((unsigned char)t[0]) || strlen(t) < 10 ||
			          t[4] != '-')) {
				ferry_buf_free(&text);
				return false;
			}
		}
		break;
	}
	ferry_buf_putc(b, '\'');
	for (size_t i = 0; i < text.len; i++) {
		if (text.data[i] == '\'')
			ferry_buf_putc(b, '\'');
		ferry_buf_putc(b, text.data[i]);
	}
	ferry_buf_putc(b, '\'');
	if (ferry_buf_failed(&text))
		b->failed = 1;
	ferry_buf_free(&text);
	return true;
}

/*
 * A literal default (a number, a quoted string, TRUE/FALSE) for
 * PostgreSQL: its SQLite value (TRUE is the integer 1 there) converted to
 * the column's type the way copied rows are, spelled as a PostgreSQL
 * literal, so `BOOLEAN DEFAULT 0` becomes DEFAULT FALSE.  A value that
 * does not convert exactly (1.5 in a bigint, 12345 in varchar(2), 0 in a
 * timestamp) leaves the column without a default: PostgreSQL would round
 * it or refuse the table.
 */
static int literal_default(const char *sql, const ferry_sqltype *type,
                           char **out)
{
	size_t n = strlen(sql);
	ferry_buf lit = FERRY_BUF_INIT;
	ferry_value v;
	int64_t i;
	if (!strcasecmp(sql, "TRUE") || !strcasecmp(sql, "FALSE")) {
		v = ferry_value_int(sql[0] == 't' || sql[0] == 'T');
	} else if (n >= 2 && sql[0] == '\'' && sql[n - 1] == '\'') {
		for (size_t p = 1; p < n - 1; p++) {
			if (sql[p] == '\'' && (p + 1 >= n - 1 || sql[++p] != '\'')) {
				ferry_buf_free(&lit); /* not one literal: 'a' || 'b' */
				return 0;
			}
			ferry_buf_putc(&lit, (uint8_t)sql[p]);
		}
		if (ferry_buf_failed(&lit)) {
			ferry_buf_free(&lit);
			return FERRY_ENOMEM;
		}
		v = ferry_value_bytes(FERRY_TEXT, lit.len ? (char *)lit.data : "",
		                      lit.len);
	} else if (integer_literal(sql, &i)) {
		v = ferry_value_int(i);
	} else {
		ferry_decimal d = FERRY_DECIMAL_INIT;
		int rc = ferry_decimal_parse(&d, sql, n, NULL);
		bool finite = rc == 0 && d.kind == FERRY_DEC_FINITE;
		ferry_decimal_free(&d);
		if (rc == FERRY_ENOMEM)
			return rc;
		if (!finite)
			return 0; /* an expression: SQLite's, not PostgreSQL's */
		v = ferry_value_bytes(FERRY_NUMERIC, sql, n);
	}
	ferry_arena scratch = FERRY_ARENA_INIT;
	ferry_value converted;
	ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry_convert(&v, type, NULL, FERRY_DIALECT_POSTGRESQL,
	                       &converted, &scratch, NULL);
	if (rc == 0 && put_pg_literal(&b, &converted) &&
	    !(*out = ferry_buf_detach(&b, NULL)))
		rc = FERRY_ENOMEM;
	ferry_buf_free(&b);
	ferry_arena_free(&scratch);
	ferry_buf_free(&lit);
	return rc == FERRY_ENOMEM ? rc : 0;
}

/*
 * The default a target column gets (*out, NULL for none): SQL that means
 * the same on both sides.  SQLite to SQLite keeps it as it is.  For
 * PostgreSQL: NULL; literals (literal_default); CURRENT_TIMESTAMP,
 * CURRENT_DATE and CURRENT_TIME only in columns PostgreSQL accepts them
 * in.  Anything else is SQLite SQL and is left out.  0 or FERRY_ENOMEM.
 */
static int target_default(const char *sql, const ferry_sqltype *type,
                          ferry_dialect dialect, char **out)
{
	*out = NULL;
	if (!sql || !*sql)
		return 0;
	if (dialect == FERRY_DIALECT_SQLITE || !strcasecmp(sql, "NULL"))
		return (*out = ferry_strdup(sql)) ? 0 : FERRY_ENOMEM;
	ferry_sqltype_kind k = type->kind;
	bool keep;
	if (!strcasecmp(sql, "CURRENT_TIMESTAMP"))
		keep = text_kind(type) || k == FERRY_SQL_TIMESTAMP ||
		       k == FERRY_SQL_TIMESTAMPTZ;
	else if (!strcasecmp(sql, "CURRENT_DATE"))
		keep = text_kind(type) || k == FERRY_SQL_DATE ||
		       k == FERRY_SQL_TIMESTAMP || k == FERRY_SQL_TIMESTAMPTZ;
	else if (!strcasecmp(sql, "CURRENT_TIME"))
		keep = text_kind(type);
	else
		return literal_default(sql, type, out);
	if (keep && !(*out = ferry_strdup(sql)))
		return FERRY_ENOMEM;
	return 0;
}

static const ferry_spec_column *spec_column(const ferry_spec_table *st,
                                            const char *name)
{
	for (size_t i = 0; st && i < st->ncolumns; i++)
		if (strcmp(st->columns[i].name, name) == 0)
			return &st->columns[i];
	return NULL;
}

static const ferry_spec_down *spec_down(const ferry_spec_table *st,
                                        const char *name)
{
	for (size_t i = 0; st && i < st->ndowns; i++)
		if (strcmp(st->downs[i].column, name) == 0)
			return &st->downs[i];
	return NULL;
}

static bool is_integer_kind(ferry_sqltype_kind k)
{
	return k == FERRY_SQL_SMALLINT || k == FERRY_SQL_INTEGER ||
	       k == FERRY_SQL_BIGINT;
}

/* Appends a target column and its plan column together, so the two
 * arrays always have the same length (ferry_plan_free relies on it). */
static ferry_plan_column *new_column(ferry_plan_table *pt, ferry_column **tc)
{
	uint32_t n = pt->target.ncolumns + 1;
	ferry_plan_column *grown = ferry_realloc(pt->columns, n * sizeof *grown);
	if (!grown)
		return NULL;
	pt->columns = grown;
	ferry_plan_column *pc = &grown[n - 1];
	memset(pc, 0, sizeof *pc);
	pc->source_index = -1;
	pc->expr_index = -1;
	pc->transform = "";
	*tc = ferry_table_add_column(&pt->target);
	return *tc ? pc : NULL;
}

static int add_expr(ferry_plan_table *pt, const char *expr)
{
	if (add_string(&pt->exprs, &pt->nexprs, "%s", expr) < 0)
		return FERRY_ENOMEM;
	return (int)pt->nexprs - 1;
}

/* Plans one source column (not dropped) into a target column. */
static int plan_source_column(ferry_plan *plan, ferry_plan_table *pt,
                              const ferry_spec_table *st, uint32_t i,
                              ferry_error *err)
{
	const ferry_column *sc = &pt->source->columns[i];
	const ferry_spec_column *spc = spec_column(st, sc->name);
	ferry_column *tc;
	ferry_plan_column *pc = new_column(pt, &tc);
	if (!pc)
		return ferry_error_oom(err);
	bool changed = spc && (spc->has_type || spc->divide_by || spc->up);
	tc->name = ferry_strdup(spc && spc->rename ? spc->rename : sc->name);
	tc->decl_type = ferry_strdup(sc->decl_type ? sc->decl_type : "");
	tc->type = sc->type;
	if (spc && spc->has_type)
		tc->type = spc->type;
	else if (spc && spc->divide_by)
		tc->type = (ferry_sqltype){FERRY_SQL_NUMERIC, -1, -1, -1};
	tc->not_null = sc->not_null;
	tc->pk_position = sc->pk_position;
	tc->autoincrement = sc->autoincrement && !changed &&
	                    is_integer_kind(tc->type.kind);
	if (!changed && target_default(sc->default_sql, &tc->type, plan->dialect,
	                               &tc->default_sql) < 0)
		return ferry_error_oom(err);
	if (!tc->name || !tc->decl_type)
		return ferry_error_oom(err);
	pc->source_index = (int)i;
	if (spc && spc->divide_by) {
		pc->has_divide = true;
		int rc = ferry_decimal_parse(&pc->divide_by, spc->divide_by,
		                             strlen(spc->divide_by), err);
		if (rc < 0)
			return rc;
		pc->transform = "divide_by";
	} else if (spc && spc->up) {
		pc->expr_index = add_expr(pt, spc->up);
		if (pc->expr_index < 0)
			return ferry_error_oom(err);
		pc->transform = "up";
		if (!spec_down(st, sc->name)) {
			pt->irreversible = true;
			if (add_string(&pt->notes, &pt->nnotes,
			               "column \"%s\" is computed by `up` without a `down`: "
			               "rollback cannot rebuild it (add down: %s: \"...\")",
			               sc->name, sc->name) < 0)
				return ferry_error_oom(err);
		}
	} else if (spc && spc->has_type) {
		pc->transform = "type";
	} else if (spc && spc->rename) {
		pc->transform = "rename";
	}
	return 0;
}

static int plan_added_column(ferry_plan_table *pt, const ferry_spec_add *add,
                             ferry_error *err)
{
	ferry_column *tc;
	ferry_plan_column *pc = new_column(pt, &tc);
	if (!pc)
		return ferry_error_oom(err);
	tc->name = ferry_strdup(add->name);
	tc->decl_type = ferry_strdup(add->type_text ? add->type_text : "");
	tc->type = add->type;
	tc->default_sql = dup_or_null(add->default_sql);
	if (!tc->name || !tc->decl_type || (add->default_sql && !tc->default_sql))
		return ferry_error_oom(err);
	/* rows copied now get the value new rows would get: `up`, else the
	 * default evaluated once per row, else NULL */
	const char *expr = add->up ? add->up : add->default_sql;
	if (expr && (pc->expr_index = add_expr(pt, expr)) < 0)
		return ferry_error_oom(err);
	pc->transform = add->up ? "add (up)" : "add";
	return 0;
}

/* Every column and down the spec names must exist in the source table. */
static int check_spec_names(const ferry_spec *spec, const ferry_spec_table *st,
                            const ferry_table *t, ferry_error *err)
{
	const char **names = column_names(t);
	if (!names)
		return ferry_error_oom(err);
	char where[300];
	snprintf(where, sizeof where, "table \"%s\"", t->name);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < st->ncolumns; i++)
		if (ferry_table_column_index(t, st->columns[i].name) < 0)
			rc = unknown_name(err, spec, st->columns[i].line, "column",
			                  st->columns[i].name, where, names, t->ncolumns);
	for (size_t i = 0; rc == 0 && i < st->ndowns; i++)
		if (ferry_table_column_index(t, st->downs[i].column) < 0)
			rc = unknown_name(err, spec, st->downs[i].line, "down column",
			                  st->downs[i].column, where, names, t->ncolumns);
	ferry_free(names);
	return rc;
}

/* Whether two target names are one: SQLite folds ASCII case in names
 * ("Email" is "email"); PostgreSQL's quoted identifiers do not. */
static bool same_name(ferry_dialect dialect, const char *a, const char *b)
{
	return dialect == FERRY_DIALECT_SQLITE ? strcasecmp(a, b) == 0
	                                       : strcmp(a, b) == 0;
}

/* Two target columns with one name would make the target table invalid. */
static int check_collisions(const ferry_plan *plan, const ferry_spec *spec,
                            const ferry_spec_table *st,
                            const ferry_table *target, ferry_error *err)
{
	for (uint32_t i = 0; i < target->ncolumns; i++)
		for (uint32_t j = i + 1; j < target->ncolumns; j++)
			if (same_name(plan->dialect, target->columns[i].name,
			              target->columns[j].name)) {
				const char *a = target->columns[i].name;
				const char *b = target->columns[j].name;
				bool exact = strcmp(a, b) == 0;
				return ferry_error_set(
				    err, FERRY_EINVAL,
				    "%s:%d: table \"%s\": two target columns are named "
				    "\"%s\"%s%s%s",
				    spec ? spec->path : "spec", st ? st->line : 0,
				    target->name, a, exact ? "" : " and \"",
				    exact ? "" : b,
				    exact ? "" : "\" (SQLite names ignore case)");
			}
	return 0;
}

/* where, up and default expressions run on the source row; down
 * expressions on the target row. */
static int check_exprs(sqlite3 *db, const ferry_spec *spec,
                       const ferry_spec_table *st, const ferry_plan_table *pt,
                       ferry_error *err)
{
	const ferry_table *src = pt->source;
	int rc = 0;
	if (st->where)
		rc = check_expr(db, spec, st->where_line, "where", src, st->where, err);
	for (size_t i = 0; rc == 0 && i < st->ncolumns; i++)
		if (st->columns[i].up)
			rc = check_expr(db, spec, st->columns[i].line, "up", src,
			                st->columns[i].up, err);
	for (size_t i = 0; rc == 0 && i < st->nadds; i++) {
		const ferry_spec_add *a = &st->adds[i];
		if (a->up || a->default_sql)
			rc = check_expr(db, spec, a->line, a->up ? "up" : "default", src,
			                a->up ? a->up : a->default_sql, err);
	}
	for (size_t i = 0; rc == 0 && i < st->ndowns; i++)
		rc = check_expr(db, spec, st->downs[i].line, "down", &pt->target,
		                st->downs[i].expr, err);
	return rc;
}

/* Keeps the `down` expressions by source column, for the inverse. */
static int keep_downs(ferry_plan_table *pt, const ferry_spec_table *st,
                      ferry_error *err)
{
	if (st->ndowns == 0)
		return 0;
	pt->downs = ferry_calloc(pt->source->ncolumns, sizeof *pt->downs);
	if (!pt->downs)
		return ferry_error_oom(err);
	for (size_t i = 0; i < st->ndowns; i++) {
		int c = ferry_table_column_index(pt->source, st->downs[i].column);
		if (c >= 0 && !(pt->downs[c] = ferry_strdup(st->downs[i].expr)))
			return ferry_error_oom(err);
	}
	return 0;
}

static int plan_table(ferry_plan *plan, ferry_plan_table *pt,
                      const ferry_spec *spec, const ferry_spec_table *st,
                      sqlite3 *db, ferry_error *err)
{
	const ferry_table *src = pt->source;
	int rc = st ? check_spec_names(spec, st, src, err) : 0;
	if (rc < 0)
		return rc;
	pt->target.name = ferry_strdup(st && st->rename ? st->rename : src->name);
	if (!pt->target.name)
		return ferry_error_oom(err);
	pt->target.without_rowid = src->without_rowid;
	pt->target.rowid_key = src->rowid_key;
	pt->target.row_count = src->row_count;
	for (uint32_t i = 0; rc == 0 && i < src->ncolumns; i++) {
		const ferry_spec_column *spc = spec_column(st, src->columns[i].name);
		const ferry_column *sc = &src->columns[i];
		/* the same verdict as transforms/inverse.c: without a down, a
		 * dropped key column leaves reverse updates nothing to find
		 * their row by, and a dropped NOT NULL column without a default
		 * makes every reverse insert fail */
		bool unbuildable = spc && spc->drop && !spec_down(st, sc->name) &&
		                   (sc->pk_position > 0 ||
		                    (sc->not_null && !sc->default_sql));
		if (unbuildable) {
			pt->irreversible = true;
			if (add_string(&pt->notes, &pt->nnotes,
			               "column \"%s\" is dropped and is %s: rollback "
			               "cannot rebuild it (add down: %s: \"...\")",
			               sc->name, sc->pk_position > 0
			                   ? "part of the primary key"
			                   : "NOT NULL without a default",
			               sc->name) < 0)
				rc = ferry_error_oom(err);
			continue;
		}
		if (spc && spc->drop && spec_down(st, sc->name))
			continue; /* its down rebuilds it */
		if (spc && spc->drop) {
			if (add_string(&pt->notes, &pt->nnotes,
			               "column \"%s\" is dropped: after a rollback the old "
			               "database keeps its old values and rows created "
			               "after cutover get its default or NULL (lossy)",
			               sc->name) < 0)
				rc = ferry_error_oom(err);
			continue;
		}
		rc = plan_source_column(plan, pt, st, i, err);
	}
	for (size_t i = 0; rc == 0 && st && i < st->nadds; i++)
		rc = plan_added_column(pt, &st->adds[i], err);
	if (rc == 0)
		rc = check_collisions(plan, spec, st, &pt->target, err);
	if (rc == 0 && st && st->where) {
		pt->where = ferry_strdup(st->where);
		if (!pt->where ||
		    add_string(&pt->notes, &pt->nnotes,
		               "rows outside `where` are not carried: they stay only "
		               "in the source") < 0)
			rc = ferry_error_oom(err);
	}
	if (rc == 0 && st)
		rc = check_exprs(db, spec, st, pt, err);
	if (rc == 0 && st)
		rc = keep_downs(pt, st, err);
	return rc;
}

/* ---- keys between tables ------------------------------------------ */

/* The target name of a source column, or NULL when it was dropped. */
static const char *target_name_of(const ferry_plan_table *pt, const char *name)
{
	for (uint32_t j = 0; j < pt->target.ncolumns; j++) {
		int si = pt->columns[j].source_index;
		if (si >= 0 && strcmp(pt->source->columns[si].name, name) == 0)
			return pt->target.columns[j].name;
	}
	return NULL;
}

/* Copies names through target_name_of; false if one was dropped. */
static bool map_names(const ferry_plan_table *pt, char **names, uint32_t n,
                      char ***out, const char **dropped)
{
	*out = ferry_calloc(n ? n : 1, sizeof **out);
	if (!*out)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (!names[i])
			continue; /* the referenced table's primary key */
		const char *t = target_name_of(pt, names[i]);
		if (!t) {
			*dropped = names[i];
			return false;
		}
		if (!((*out)[i] = ferry_strdup(t)))
			return false; /* *dropped stays NULL: out of memory */
	}
	return true;
}

static void free_names_n(char **names, uint32_t n)
{
	for (uint32_t i = 0; names && i < n; i++)
		ferry_free(names[i]);
	ferry_free(names);
}

static int map_indexes(ferry_plan *plan, ferry_plan_table *pt, ferry_error *err)
{
	for (uint32_t i = 0; i < pt->source->nindexes; i++) {
		const ferry_index *si = &pt->source->indexes[i];
		const char *dropped = NULL;
		char **cols = NULL;
		if (!map_names(pt, si->columns, si->ncolumns, &cols, &dropped)) {
			free_names_n(cols, si->ncolumns);
			if (!dropped)
				return ferry_error_oom(err);
			if (add_string(&plan->warnings, &plan->nwarnings,
			               "index \"%s\" on \"%s\" is not created: column "
			               "\"%s\" is dropped", si->name, pt->source->name,
			               dropped) < 0)
				return ferry_error_oom(err);
			continue;
		}
		ferry_index *ti = ferry_table_add_index(&pt->target);
		if (!ti) {
			free_names_n(cols, si->ncolumns);
			return ferry_error_oom(err);
		}
		ti->name = ferry_strdup(si->name);
		ti->unique = si->unique;
		ti->columns = cols;
		ti->ncolumns = si->ncolumns;
		ti->where_sql = dup_or_null(si->where_sql);
		if (!ti->name || (si->where_sql && !ti->where_sql))
			return ferry_error_oom(err);
	}
	return 0;
}

static ferry_plan_table *plan_for_source(ferry_plan *plan, const char *name)
{
	for (uint32_t i = 0; i < plan->ntables; i++)
		if (strcmp(plan->tables[i].source->name, name) == 0)
			return &plan->tables[i];
	return NULL;
}

static int skip_fkey(ferry_plan *plan, const ferry_plan_table *pt,
                     const ferry_fkey *fk, const char *why, ferry_error *err)
{
	if (add_string(&plan->warnings, &plan->nwarnings,
	               "foreign key of \"%s\" to \"%s\" is not created: %s",
	               pt->source->name, fk->ref_table, why) < 0)
		return ferry_error_oom(err);
	return 0;
}

static int map_fkeys(ferry_plan *plan, ferry_plan_table *pt, ferry_error *err)
{
	for (uint32_t i = 0; i < pt->source->nfkeys; i++) {
		const ferry_fkey *sf = &pt->source->fkeys[i];
		ferry_plan_table *ref = plan_for_source(plan, sf->ref_table);
		if (!ref) {
			if (skip_fkey(plan, pt, sf, "that table is not carried", err) < 0)
				return FERRY_ENOMEM;
			continue;
		}
		const char *dropped = NULL;
		char **cols = NULL, **refcols = NULL;
		bool ok = map_names(pt, sf->columns, sf->ncolumns, &cols, &dropped) &&
		          map_names(ref, sf->ref_columns, sf->ncolumns, &refcols,
		                    &dropped);
		ferry_fkey *tf = ok ? ferry_table_add_fkey(&pt->target) : NULL;
		if (!tf) {
			free_names_n(cols, sf->ncolumns);
			free_names_n(refcols, sf->ncolumns);
			if (!dropped)
				return ferry_error_oom(err);
			if (skip_fkey(plan, pt, sf, "one of its columns is dropped", err) < 0)
				return FERRY_ENOMEM;
			continue;
		}
		tf->name = dup_or_null(sf->name);
		tf->columns = cols;
		tf->ref_columns = refcols;
		tf->ncolumns = sf->ncolumns;
		tf->ref_table = ferry_strdup(ref->target.name);
		tf->on_delete = dup_or_null(sf->on_delete);
		tf->on_update = dup_or_null(sf->on_update);
		if ((sf->name && !tf->name) || !tf->ref_table ||
		    (sf->on_delete && !tf->on_delete) ||
		    (sf->on_update && !tf->on_update))
			return ferry_error_oom(err);
	}
	return 0;
}

/* ---- the whole plan ----------------------------------------------- */

static int check_spec_tables(const ferry_spec *spec, const ferry_schema *source,
                             ferry_error *err)
{
	const char **names = ferry_calloc(source->ntables + 1, sizeof *names);
	if (!names)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < source->ntables; i++)
		names[i] = source->tables[i].name;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < spec->ntables; i++)
		if (!ferry_schema_find(source, spec->tables[i].name))
			rc = unknown_name(err, spec, spec->tables[i].line, "table",
			                  spec->tables[i].name, "the source", names,
			                  source->ntables);
	ferry_free(names);
	return rc;
}

static int check_target_names(const ferry_plan *plan, ferry_error *err)
{
	for (uint32_t i = 0; i < plan->ntables; i++)
		for (uint32_t j = i + 1; j < plan->ntables; j++) {
			const char *a = plan->tables[i].target.name;
			const char *b = plan->tables[j].target.name;
			if (!same_name(plan->dialect, a, b))
				continue;
			bool exact = strcmp(a, b) == 0;
			return ferry_error_set(
			    err, FERRY_EINVAL,
			    "tables \"%s\" and \"%s\" would both become \"%s\"%s%s%s: "
			    "rename one in the spec",
			    plan->tables[i].source->name, plan->tables[j].source->name, a,
			    exact ? "" : " and \"", exact ? "" : b,
			    exact ? "" : "\" (SQLite names ignore case)");
		}
	return 0;
}

static int build_tables(ferry_plan *plan, const ferry_schema *source,
                        const ferry_spec *spec, sqlite3 *db, ferry_error *err)
{
	plan->tables = ferry_calloc(source->ntables ? source->ntables : 1,
	                            sizeof *plan->tables);
	if (!plan->tables)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < source->ntables; i++) {
		const ferry_table *t = &source->tables[i];
		if (spec && ferry_spec_excludes(spec, t->name))
			continue;
		ferry_plan_table *pt = &plan->tables[plan->ntables++];
		pt->source = t;
		const ferry_spec_table *st = spec ? ferry_spec_find_table(spec, t->name)
		                                  : NULL;
		int rc = plan_table(plan, pt, spec, st, db, err);
		if (rc < 0)
			return rc;
	}
	for (uint32_t i = 0; i < plan->ntables; i++) {
		int rc = map_indexes(plan, &plan->tables[i], err);
		if (rc == 0)
			rc = map_fkeys(plan, &plan->tables[i], err);
		if (rc < 0)
			return rc;
	}
	return check_target_names(plan, err);
}

int ferry_plan_build(ferry_plan **out, const ferry_schema *source,
                     const ferry_spec *spec, ferry_dialect dialect,
                     ferry_error *err)
{
	*out = NULL;
	int checked = spec ? check_spec_tables(spec, source, err) : 0;
	if (checked < 0)
		return checked;
	ferry_plan *plan = ferry_calloc(1, sizeof *plan);
	if (!plan)
		return ferry_error_oom(err);
	plan->dialect = dialect;
	sqlite3 *db = NULL;
	int rc = sqlite3_open(":memory:", &db) == SQLITE_OK
	             ? build_tables(plan, source, spec, db, err)
	             : ferry_error_set(err, FERRY_ERROR,
	                               "could not open the expression engine: %s",
	                               db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_close(db);
	if (rc < 0) {
		ferry_plan_free(plan);
		return rc;
	}
	*out = plan;
	return 0;
}

void ferry_plan_free(ferry_plan *plan)
{
	if (!plan)
		return;
	for (uint32_t i = 0; i < plan->ntables; i++) {
		ferry_plan_table *pt = &plan->tables[i];
		for (uint32_t j = 0; j < pt->target.ncolumns; j++)
			ferry_decimal_free(&pt->columns[j].divide_by);
		ferry_table_clear(&pt->target);
		ferry_free(pt->columns);
		free_strings(pt->exprs, pt->nexprs);
		free_strings(pt->notes, pt->nnotes);
		ferry_free(pt->where);
		if (pt->downs)
			free_strings(pt->downs, pt->source->ncolumns);
	}
	ferry_free(plan->tables);
	free_strings(plan->warnings, plan->nwarnings);
	ferry_free(plan);
}

/* ---- describing the plan (--dry-run) ------------------------------ */

/* Keys and indexes, built after the data. */
static void describe_keys(const ferry_table *t, ferry_buf *out)
{
	uint32_t npk = ferry_table_pk_count(t);
	if (npk) {
		ferry_buf_puts(out, "  primary key (");
		for (uint32_t k = 1; k <= npk; k++)
			for (uint32_t i = 0; i < t->ncolumns; i++)
				if (t->columns[i].pk_position == (int)k) {
					ferry_buf_puts(out, k > 1 ? ", " : "");
					ferry_buf_put_ident(out, t->columns[i].name);
				}
		ferry_buf_puts(out, ")\n");
	}
	for (uint32_t i = 0; i < t->nindexes; i++) {
		ferry_buf_printf(out, "  %sindex ", t->indexes[i].unique ? "unique " : "");
		ferry_buf_put_ident(out, t->indexes[i].name);
		ferry_buf_puts(out, " (");
		ferry_buf_put_idents(out, t->indexes[i].columns, t->indexes[i].ncolumns);
		ferry_buf_puts(out, ")\n");
	}
	for (uint32_t i = 0; i < t->nfkeys; i++) {
		ferry_buf_puts(out, "  foreign key (");
		ferry_buf_put_idents(out, t->fkeys[i].columns, t->fkeys[i].ncolumns);
		ferry_buf_puts(out, ") references ");
		ferry_buf_put_ident(out, t->fkeys[i].ref_table);
		ferry_buf_putc(out, '\n');
	}
}

static void describe_table(const ferry_plan_table *pt, ferry_buf *out)
{
	const ferry_table *src = pt->source, *t = &pt->target;
	ferry_buf_printf(out, "table \"%s\" -> \"%s\"", src->name, t->name);
	if (src->row_count >= 0)
		ferry_buf_printf(out, " (%lld rows)", (long long)src->row_count);
	ferry_buf_puts(out, "\n  CREATE TABLE ");
	ferry_buf_put_ident(out, t->name);
	ferry_buf_puts(out, " (");
	for (uint32_t j = 0; j < t->ncolumns; j++) {
		ferry_buf_puts(out, j ? ", " : "");
		ferry_buf_put_ident(out, t->columns[j].name);
		ferry_buf_putc(out, ' ');
		ferry_sqltype_format(&t->columns[j].type, out);
		if (t->columns[j].not_null)
			ferry_buf_puts(out, " NOT NULL");
	}
	ferry_buf_puts(out, ")\n");
	describe_keys(t, out);
	for (uint32_t j = 0; j < t->ncolumns; j++) {
		const ferry_plan_column *pc = &pt->columns[j];
		const ferry_column *tc = &t->columns[j];
		if (pc->source_index >= 0) {
			const ferry_column *sc = &src->columns[pc->source_index];
			ferry_buf_printf(out, "  %s %s -> %s ", sc->name,
			                 sc->decl_type && *sc->decl_type ? sc->decl_type
			                                                 : "(no type)",
			                 tc->name);
		} else {
			ferry_buf_printf(out, "  + %s ", tc->name);
		}
		ferry_sqltype_format(&tc->type, out);
		if (pc->has_divide) {
			ferry_buf_puts(out, ", divided by ");
			ferry_decimal_format(&pc->divide_by, out);
		}
		if (pc->expr_index >= 0)
			ferry_buf_printf(out, " = %s", pt->exprs[pc->expr_index]);
		ferry_buf_putc(out, '\n');
	}
	if (pt->where)
		ferry_buf_printf(out, "  where %s\n", pt->where);
	for (uint32_t k = 0; k < pt->nnotes; k++)
		ferry_buf_printf(out, "  note: %s\n", pt->notes[k]);
}

void ferry_plan_describe(const ferry_plan *plan, ferry_buf *out)
{
	bool irreversible = false, lossy = false;
	for (uint32_t i = 0; i < plan->ntables; i++) {
		describe_table(&plan->tables[i], out);
		irreversible |= plan->tables[i].irreversible;
		lossy |= plan->tables[i].nnotes > 0;
	}
	for (uint32_t i = 0; i < plan->nwarnings; i++)
		ferry_buf_printf(out, "warning: %s\n", plan->warnings[i]);
	if (irreversible)
		ferry_buf_puts(out, "rollback: not possible (see the notes above)\n");
	else if (lossy)
		ferry_buf_puts(out, "rollback: possible, lossy (see the notes above)\n");
	else
		ferry_buf_puts(out, "rollback: possible\n");
}

/* ---- mapping rows ------------------------------------------------- */

struct ferry_mapper {
	const ferry_plan *plan;
	const ferry_plan_table *table;
	sqlite3 *db;          /* NULL when the table has no expressions */
	sqlite3_stmt *stmt;   /* SELECT [where,] exprs... FROM (row) */
	int first_expr;       /* result column of expression 0 */
	ferry_value *results; /* expression results of the current row */
	ferry_arena scratch;  /* converted payloads of the current row */
	ferry_error why;      /* the reason of the last reject */
	/* which source columns each expression reads (nexprs rows, then the
	 * where filter's), source->ncolumns flags each; NULL until an image
	 * with absent values needs it (reads_of) */
	uint8_t *reads;
	uint8_t *absent_exprs; /* per expression: the current row's result is
	                          absent (it reads only absent columns) */
};

/* Collects the source columns a statement reads (SQLITE_READ of
 * _ferry_row), as flags in the row the authorizer is given. */
typedef struct read_probe {
	const ferry_table *source;
	uint8_t *flags;
} read_probe;

static int note_read(void *arg, int action, const char *table,
                     const char *column, const char *db, const char *view)
{
	(void)db;
	(void)view;
	read_probe *probe = arg;
	if (action == SQLITE_READ && probe->flags && table && column &&
	    strcmp(table, "_ferry_row") == 0) {
		int i = ferry_table_column_index(probe->source, column);
		if (i >= 0)
			probe->flags[i] = 1;
	}
	return SQLITE_OK;
}

/*
 * Which source columns each expression and the where filter read, asked
 * of SQLite (an authorizer on the expression compiled over a table with
 * the source's columns) rather than guessed from the text.  Where that
 * cannot be asked (two source columns whose names SQLite takes for one),
 * every expression counts as reading every column, which can only turn
 * an absent result into an error, never the reverse.
 */
static int reads_of(ferry_mapper *m, ferry_error *err)
{
	const ferry_plan_table *pt = m->table;
	uint32_t ncols = pt->source->ncolumns, nx = pt->nexprs + 1;
	m->reads = ferry_calloc((size_t)nx * ncols + 1, 1);
	m->absent_exprs = ferry_calloc(pt->nexprs + 1, 1);
	if (!m->reads || !m->absent_exprs)
		return ferry_error_oom(err);
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "CREATE TABLE _ferry_row (");
	for (uint32_t i = 0; i < ncols; i++) {
		if (i)
			ferry_buf_puts(&sql, ", ");
		ferry_buf_put_ident(&sql, pt->source->columns[i].name);
	}
	ferry_buf_puts(&sql, ")");
	if (ferry_buf_failed(&sql)) {
		ferry_buf_free(&sql);
		return ferry_error_oom(err);
	}
	bool asked = ncols > 0 && sqlite3_exec(m->db, ferry_buf_cstr(&sql), NULL,
	                                       NULL, NULL) == SQLITE_OK;
	read_probe probe = {pt->source, NULL};
	if (asked)
		sqlite3_set_authorizer(m->db, note_read, &probe);
	for (uint32_t x = 0; x < nx; x++) {
		const char *expr = x < pt->nexprs ? pt->exprs[x] : pt->where;
		uint8_t *flags = m->reads + (size_t)x * ncols;
		sqlite3_stmt *st = NULL;
		if (!expr)
			continue;
		ferry_buf_reset(&sql);
		ferry_buf_printf(&sql, "SELECT " EXPR_OPEN "%s" EXPR_CLOSE
		                 " FROM _ferry_row", expr);
		probe.flags = flags;
		if (!asked || ferry_buf_failed(&sql) ||
		    sqlite3_prepare_v2(m->db, ferry_buf_cstr(&sql), -1, &st, NULL) !=
		        SQLITE_OK)
			memset(flags, 1, ncols);
		sqlite3_finalize(st);
	}
	if (asked) {
		sqlite3_set_authorizer(m->db, NULL, NULL);
		sqlite3_exec(m->db, "DROP TABLE _ferry_row", NULL, NULL, NULL);
	}
	int rc = ferry_buf_failed(&sql) ? ferry_error_oom(err) : 0;
	ferry_buf_free(&sql);
	return rc;
}

/* Names one absent and one sent column that expression x (nexprs: the
 * where filter) reads; *absent only when it reads nothing sent. */
static void absent_inputs(const ferry_mapper *m, uint32_t x,
                          const ferry_row *src, int *absent, int *sent)
{
	const ferry_table *t = m->table->source;
	const uint8_t *flags = m->reads + (size_t)x * t->ncolumns;
	*absent = *sent = -1;
	for (uint32_t i = 0; i < t->ncolumns && i < src->ncols; i++) {
		if (!flags[i])
			continue;
		if (src->values[i].type == FERRY_ABSENT)
			*absent = (int)i;
		else
			*sent = (int)i;
	}
}

/*
 * Decides, for an image with absent values, which expressions give an
 * absent result (they read only absent columns), and refuses what cannot
 * be computed: a where filter or an expression that reads an absent
 * column - the expression mixing it with sent ones.  Keeping the target's
 * old value there would be silent divergence.
 */
static int check_absent(ferry_mapper *m, const ferry_row *src,
                        ferry_error *err)
{
	const ferry_plan_table *pt = m->table;
	const ferry_table *t = pt->source;
	int rc = m->reads ? 0 : reads_of(m, err);
	for (uint32_t x = 0; rc == 0 && x <= pt->nexprs; x++) {
		const char *expr = x < pt->nexprs ? pt->exprs[x] : pt->where;
		int absent, sent;
		if (!expr)
			continue;
		absent_inputs(m, x, src, &absent, &sent);
		if (absent < 0)
			continue;
		if (x < pt->nexprs && sent < 0) {
			m->absent_exprs[x] = 1;
			continue;
		}
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
		                     "table \"%s\": %s \"%s\" reads column \"%s\", "
		                     "which the source did not send%s%s%s, so it "
		                     "cannot be computed (the table's replica "
		                     "identity was lowered from FULL after ferry "
		                     "init?  The migration cannot carry this change: "
		                     "ALTER TABLE \"%s\" REPLICA IDENTITY FULL, then "
		                     "ferry clean and start it again)",
		                     t->name, x < pt->nexprs ? "expression" : "where",
		                     expr, t->columns[absent].name,
		                     sent >= 0 ? ", and column \"" : "",
		                     sent >= 0 ? t->columns[sent].name : "",
		                     sent >= 0 ? "\", which it did" : "", t->name);
	}
	return rc;
}

static int prepare_exprs(ferry_mapper *m, ferry_error *err)
{
	const ferry_plan_table *pt = m->table;
	ferry_buf sql = FERRY_BUF_INIT;
	/* CASE gives `where` SQL's own truth rules ('abc' and 0.0 are false) */
	ferry_buf_printf(&sql, "SELECT CASE WHEN " EXPR_OPEN "%s" EXPR_CLOSE
	                 " THEN 1 ELSE 0 END", pt->where ? pt->where : "1");
	for (uint32_t i = 0; i < pt->nexprs; i++)
		ferry_buf_printf(&sql, ", " EXPR_OPEN "%s" EXPR_CLOSE, pt->exprs[i]);
	ferry_plan_row_source(&sql, pt->source);
	m->first_expr = 1;
	int rc = 0;
	if (ferry_buf_failed(&sql))
		rc = ferry_error_oom(err);
	else if (sqlite3_open(":memory:", &m->db) != SQLITE_OK ||
	         sqlite3_prepare_v2(m->db, ferry_buf_cstr(&sql), -1, &m->stmt,
	                            NULL) != SQLITE_OK)
		rc = ferry_error_set(err, FERRY_ERROR,
		                     "table \"%s\": could not prepare expressions: %s",
		                     pt->source->name,
		                     m->db ? sqlite3_errmsg(m->db) : "out of memory");
	ferry_buf_free(&sql);
	return rc;
}

int ferry_mapper_open(ferry_mapper **out, const ferry_plan *plan,
                      const ferry_plan_table *table, ferry_error *err)
{
	ferry_mapper *m = ferry_calloc(1, sizeof *m);
	if (!m)
		return ferry_error_oom(err);
	m->plan = plan;
	m->table = table;
	int rc = 0;
	if (table->nexprs || table->where) {
		m->results = ferry_calloc(table->nexprs + 1, sizeof *m->results);
		rc = m->results ? prepare_exprs(m, err) : ferry_error_oom(err);
	}
	if (rc < 0) {
		ferry_mapper_close(m);
		return rc;
	}
	*out = m;
	return 0;
}

void ferry_mapper_close(ferry_mapper *m)
{
	if (!m)
		return;
	sqlite3_finalize(m->stmt);
	sqlite3_close(m->db);
	ferry_free(m->results);
	ferry_free(m->reads);
	ferry_free(m->absent_exprs);
	ferry_arena_free(&m->scratch);
	ferry_error_clear(&m->why);
	ferry_free(m);
}

/* Runs the table's statement for src: 1 keep, 0 filtered out, <0 error.
 * An absent value is bound as NULL: only expressions whose result
 * check_absent made absent read it. */
static int eval_exprs(ferry_mapper *m, const ferry_row *src, ferry_error *err)
{
	sqlite3_reset(m->stmt);
	ferry_value null = ferry_value_null();
	for (uint32_t i = 0; i < src->ncols; i++)
		if (ferry_sqlite_bind_value(m->stmt, (int)i + 1,
		                            src->values[i].type == FERRY_ABSENT
		                                ? &null
		                                : &src->values[i]) != SQLITE_OK)
			return ferry_error_set(err, FERRY_ERROR,
			                       "table \"%s\": could not bind a value: %s",
			                       m->table->source->name,
			                       sqlite3_errmsg(m->db));
	if (sqlite3_step(m->stmt) != SQLITE_ROW) {
		if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
			return ferry_error_oom(err);
		/* an expression that fails on this row's data (an overflow,
		 * malformed JSON) refuses the row, not the whole load */
		return ferry_error_set(&m->why, FERRY_EREJECT,
		                       "an expression (where/up/default) failed on "
		                       "this row: %s", sqlite3_errmsg(m->db));
	}
	ferry_value keep;
	if (ferry_sqlite_column_value(m->stmt, 0, &keep) < 0)
		return ferry_error_oom(err);
	if (keep.type != FERRY_INT || keep.u.i == 0)
		return 0;
	for (uint32_t i = 0; i < m->table->nexprs; i++)
		if (m->absent_exprs && m->absent_exprs[i])
			m->results[i] = ferry_value_absent();
		else if (ferry_sqlite_column_value(m->stmt, m->first_expr + (int)i,
		                                   &m->results[i]) < 0)
			return ferry_error_oom(err);
	return 1;
}

static int reject(ferry_mapper *m, ferry_reject *rej, uint32_t j,
                  const ferry_value *value)
{
	const ferry_plan_column *pc = &m->table->columns[j];
	rej->column = pc->source_index >= 0
	                  ? m->table->source->columns[pc->source_index].name
	                  : m->table->target.columns[j].name;
	rej->value = *value;
	rej->reason = ferry_error_message(&m->why);
	return FERRY_EREJECT;
}

int ferry_mapper_map(ferry_mapper *m, const ferry_row *src, ferry_row *out,
                     ferry_reject *rej, ferry_error *err)
{
	const ferry_plan_table *pt = m->table;
	ferry_arena_reset(&m->scratch);
	bool has_absent = ferry_row_has_absent(src);
	if (m->absent_exprs)
		memset(m->absent_exprs, 0, pt->nexprs + 1);
	if (has_absent && m->stmt) {
		int rc = check_absent(m, src, err);
		if (rc < 0)
			return rc;
	}
	if (m->stmt) {
		int rc = eval_exprs(m, src, err);
		if (rc == FERRY_EREJECT) {
			rej->column = "(expression)";
			rej->value = ferry_value_null();
			rej->reason = ferry_error_message(&m->why);
		}
		if (rc <= 0)
			return rc;
	}
	if (ferry_row_resize(out, pt->target.ncolumns, err) < 0)
		return FERRY_ENOMEM;
	for (uint32_t j = 0; j < pt->target.ncolumns; j++) {
		const ferry_plan_column *pc = &pt->columns[j];
		const ferry_column *tc = &pt->target.columns[j];
		ferry_value none = ferry_value_null();
		const ferry_value *in = pc->expr_index >= 0 ? &m->results[pc->expr_index]
		                        : pc->source_index >= 0
		                            ? &src->values[pc->source_index]
		                            : &none;
		if (in->type == FERRY_ABSENT) {
			/* not sent, so not known: the target keeps its value */
			if (tc->pk_position > 0)
				return ferry_error_set(err, FERRY_EUNSUPPORTED,
				                       "table \"%s\": key column \"%s\" "
				                       "was not sent by the source",
				                       pt->source->name, tc->name);
			out->values[j] = *in;
			continue;
		}
		int rc = ferry_convert(in, &tc->type,
		                       pc->has_divide ? &pc->divide_by : NULL,
		                       m->plan->dialect, &out->values[j], &m->scratch,
		                       &m->why);
		if (rc == FERRY_ENOMEM)
			return ferry_error_oom(err);
		if (rc < 0)
			return reject(m, rej, j, in);
		if (tc->not_null && out->values[j].type == FERRY_NULL) {
			ferry_error_set(&m->why, FERRY_EREJECT,
			                "NULL in column \"%s\", which is NOT NULL", tc->name);
			return reject(m, rej, j, in);
		}
	}
	return 1;
}

/* ---- the engine's transform interface ------------------------------ */

struct ferry_transform {
	ferry_spec *spec;
	ferry_plan *plan;
};

static int transform_build(ferry_transform **out, const ferry_schema *source,
                           const char *spec_path, ferry_dialect dialect,
                           ferry_error *err)
{
	ferry_transform *t = ferry_calloc(1, sizeof *t);
	if (!t)
		return ferry_error_oom(err);
	int rc = spec_path ? ferry_spec_load(&t->spec, spec_path, err) : 0;
	if (rc == 0)
		rc = ferry_plan_build(&t->plan, source, t->spec, dialect, err);
	if (rc < 0) {
		ferry_spec_free(t->spec);
		ferry_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void transform_free(ferry_transform *t)
{
	if (!t)
		return;
	ferry_plan_free(t->plan);
	ferry_spec_free(t->spec);
	ferry_free(t);
}

static uint32_t transform_table_count(const ferry_transform *t)
{
	return t->plan->ntables;
}

static const ferry_table *transform_source(const ferry_transform *t, uint32_t i)
{
	return t->plan->tables[i].source;
}

static const ferry_table *transform_target(const ferry_transform *t, uint32_t i)
{
	return &t->plan->tables[i].target;
}

static uint32_t transform_warning_count(const ferry_transform *t)
{
	return t->plan->nwarnings;
}

static const char *transform_warning(const ferry_transform *t, uint32_t i)
{
	return t->plan->warnings[i];
}

static void transform_describe(const ferry_transform *t, ferry_buf *out)
{
	ferry_plan_describe(t->plan, out);
}

static int transform_mapper_open(ferry_mapper **out, const ferry_transform *t,
                                 uint32_t table, ferry_error *err)
{
	return ferry_mapper_open(out, t->plan, &t->plan->tables[table], err);
}

static bool transform_filters(const ferry_transform *t, uint32_t i)
{
	return t->plan->tables[i].where != NULL;
}

static bool transform_needs_whole_rows(const ferry_transform *t, uint32_t i,
                                       ferry_buf *why)
{
	const ferry_plan_table *pt = &t->plan->tables[i];
	const ferry_table *src = pt->source;
	size_t start = why->len;
	if (pt->where)
		ferry_buf_printf(why, "%sthe `where` filter of table \"%s\"",
		                 why->len ? "; " : "", src->name);
	if (!pt->nexprs)
		return why->len > start;
	ferry_mapper *m = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_mapper_open(&m, t->plan, pt, &err) < 0 || reads_of(m, &err) < 0) {
		ferry_buf_printf(why, "%stable \"%s\" (its expressions could not be "
		                 "checked: %s)", why->len ? "; " : "", src->name,
		                 ferry_error_message(&err));
		ferry_mapper_close(m);
		ferry_error_clear(&err);
		return true;
	}
	for (uint32_t x = 0; x < pt->nexprs; x++) {
		const uint8_t *flags = m->reads + (size_t)x * src->ncolumns;
		int unsent = -1;
		uint32_t nread = 0;
		for (uint32_t c = 0; c < src->ncolumns; c++) {
			nread += flags[c];
			if (flags[c] && src->columns[c].unsent_if_kept)
				unsent = (int)c;
		}
		if (unsent >= 0 && nread > 1)
			ferry_buf_printf(why, "%sthe expression \"%s\" of table \"%s\", "
			                 "which reads column \"%s\" with others",
			                 why->len ? "; " : "", pt->exprs[x], src->name,
			                 src->columns[unsent].name);
	}
	ferry_mapper_close(m);
	return why->len > start;
}

static int transform_invert(ferry_transform **out,
                            const ferry_transform_ops **ops,
                            const ferry_transform *t, ferry_dialect old_dialect,
                            ferry_error *err)
{
	*ops = &ferry_inverse_transform_ops;
	return ferry_inverse_build(out, t->plan, old_dialect, err);
}

const ferry_transform_ops ferry_plan_transform_ops = {
	.build = transform_build,
	.free = transform_free,
	.table_count = transform_table_count,
	.source_table = transform_source,
	.target_table = transform_target,
	.warning_count = transform_warning_count,
	.warning = transform_warning,
	.describe = transform_describe,
	.mapper_open = transform_mapper_open,
	.map = ferry_mapper_map,
	.mapper_close = ferry_mapper_close,
	.filters = transform_filters,
	.needs_whole_rows = transform_needs_whole_rows,
	.invert = transform_invert,
};
