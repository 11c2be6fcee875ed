/*
 * transforms/inverse.c - the forward plan run backwards (inverse.h), so a
 * rollback replays the new primary's changes into the old database.
 *
 * Building decides, for every old source column, how it is rebuilt from
 * a target row (a `down`, divide_by multiplied back, a conversion back,
 * or not at all) and what that costs: refused (irreversible) or lossy.
 * Mapping then rebuilds each value and reads it forward again, so a value
 * that would not come back exactly is a reject, never a rounded row.
 * docs/inverse.md is the contract.
 */
#include "transforms/inverse.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/arena.h"
#include "engine/datetime.h"
#include "engine/decimal.h"
#include "engine/sqlite_value.h"
#include "transforms/convert.h"

/* How an old source column is rebuilt from a target row. */
typedef enum rebuild {
	REBUILD_CONVERT, /* the target value converted back (renames too) */
	REBUILD_DIVIDE,  /* the target value times divide_by, converted back */
	REBUILD_DOWN     /* the spec's `down` expression over the target row */
} rebuild;

typedef struct inverse_column {
	rebuild how;
	int from;    /* the forward target column read (CONVERT, DIVIDE) */
	int down;    /* result index among the table's downs (DOWN) */
	bool check;  /* read the value forward again: the types differ */
} inverse_column;

typedef struct inverse_table {
	const ferry_plan_table *forward; /* borrowed from the plan */
	ferry_table target;       /* owned: the old columns that are rebuilt */
	inverse_column *columns;  /* one per target column */
	const char **downs;       /* borrowed from the plan, in result order */
	uint32_t ndowns;
} inverse_table;

struct ferry_transform {
	const ferry_plan *forward; /* borrowed; outlives the inverse */
	ferry_dialect dialect;     /* the old database's */
	inverse_table *tables;     /* one per forward table, same order */
	uint32_t ntables;
	char **notes;              /* lossy parts, "table \"t\": ..." */
	uint32_t nnotes;
};

/* ---- small helpers ------------------------------------------------ */

static int add_note(ferry_transform *t, const char *fmt, ...)
    FERRY_PRINTF(2, 3);

static int add_note(ferry_transform *t, const char *fmt, ...)
{
	ferry_buf b = FERRY_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	char *s = ferry_buf_detach(&b, NULL);
	char **grown = s ? ferry_realloc(t->notes, (t->nnotes + 1) * sizeof *grown)
	                 : NULL;
	if (!grown) {
		ferry_free(s);
		return FERRY_ENOMEM;
	}
	grown[t->nnotes++] = s;
	t->notes = grown;
	return 0;
}

static bool same_type(const ferry_sqltype *a, const ferry_sqltype *b)
{
	return a->kind == b->kind && a->precision == b->precision &&
	       a->scale == b->scale && a->length == b->length;
}

static bool text_kind(ferry_sqltype_kind k)
{
	return k == FERRY_SQL_TEXT || k == FERRY_SQL_VARCHAR ||
	       k == FERRY_SQL_CHAR || k == FERRY_SQL_UNKNOWN;
}

/* "<type> <value>", as reject reasons show values (cut at 60 bytes). */
static void show(ferry_buf *b, const ferry_value *v)
{
	ferry_buf_printf(b, "%s ", ferry_type_name(v->type));
	ferry_value_format(v, b, 60);
}

/* The forward target column fed by source column i, or -1 (dropped). */
static int forward_column(const ferry_plan_table *pt, uint32_t i)
{
	for (uint32_t j = 0; j < pt->target.ncolumns; j++)
		if (pt->columns[j].source_index == (int)i)
			return (int)j;
	return -1;
}

/* ---- the reversibility analysis ----------------------------------- */

/*
 * Why converting this column back cannot give the source's own spelling
 * (docs/inverse.md, "Lossy"), or NULL when it can.
 */
static const char *lossy_conversion(const ferry_column *sc,
                                    const ferry_column *tc,
                                    const ferry_plan_column *pc,
                                    ferry_dialect forward, ferry_dialect old)
{
	ferry_sqltype_kind s = sc->type.kind, k = tc->type.kind;
	if (k == FERRY_SQL_JSONB && forward == FERRY_DIALECT_POSTGRESQL &&
	    !(s == FERRY_SQL_JSONB && old == FERRY_DIALECT_POSTGRESQL))
		return "PostgreSQL normalises jsonb (spacing, key order, duplicate "
		       "keys) and that text is written back";
	if (k == FERRY_SQL_CHAR && forward == FERRY_DIALECT_POSTGRESQL &&
	    !(s == FERRY_SQL_CHAR && old == FERRY_DIALECT_POSTGRESQL))
		return "PostgreSQL pads char(n) with blanks and the blanks are "
		       "written back";
	if (s == FERRY_SQL_NUMERIC && sc->type.scale < 0 &&
	    old == FERRY_DIALECT_POSTGRESQL &&
	    (pc->has_divide || k != FERRY_SQL_NUMERIC || tc->type.scale >= 0))
		return "the written scale of numerics (19.90) is not kept (19.9)";
	if (!text_kind(s))
		return NULL;
	if (pc->has_divide)
		return "numbers in text come back in one spelling ('1999', not "
		       "'+1999', '1999.0' or '1.999e3')";
	switch (k) {
	case FERRY_SQL_TIMESTAMPTZ:
		return "text timestamps come back as 'YYYY-MM-DD HH:MM:SS[.ffffff]' "
		       "in UTC (offsets and a 'T' are not kept)";
	case FERRY_SQL_TIMESTAMP:
		return "text timestamps come back as 'YYYY-MM-DD HH:MM:SS[.ffffff]' "
		       "(a 'T', a date alone and trailing zeros of a fraction are "
		       "not kept)";
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT:
	case FERRY_SQL_NUMERIC:
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE:
		return "numbers in text come back in one spelling ('12', not '+12', "
		       "'12.0' or '1.2e1')";
	case FERRY_SQL_BOOLEAN:
		return "text booleans come back as 'true' or 'false'";
	case FERRY_SQL_UUID:
		return "text UUIDs come back in lower case, 8-4-4-4-12, without "
		       "braces";
	default:
		return NULL;
	}
}

/* Appends to refused / fixes why column sc of table pt cannot be rebuilt. */
static void refuse_column(ferry_buf *refused, ferry_buf *fixes,
                          const ferry_plan_table *pt, const ferry_column *sc,
                          const char *why, const char **fix_table)
{
	ferry_buf_printf(refused, "%stable \"%s\": column \"%s\" %s",
	                 refused->len ? "; " : "", pt->source->name, sc->name, why);
	if (*fix_table != pt->source->name) {
		ferry_buf_printf(fixes, "%s%s: down: { ", fixes->len ? " }, " : "",
		                 pt->source->name);
		*fix_table = pt->source->name;
	} else {
		ferry_buf_puts(fixes, ", ");
	}
	ferry_buf_printf(fixes, "%s: \"...\"", sc->name);
}

static int copy_column(ferry_column *out, const ferry_column *in)
{
	out->name = ferry_strdup(in->name);
	out->decl_type = ferry_strdup(in->decl_type ? in->decl_type : "");
	out->type = in->type;
	out->not_null = in->not_null;
	out->default_sql = in->default_sql ? ferry_strdup(in->default_sql) : NULL;
	out->pk_position = in->pk_position;
	out->autoincrement = in->autoincrement;
	return out->name && out->decl_type &&
	               (!in->default_sql || out->default_sql)
	           ? 0
	           : FERRY_ENOMEM;
}

static char **copy_names(char *const *names, uint32_t n)
{
	char **out = ferry_calloc(n ? n : 1, sizeof *out);
	for (uint32_t i = 0; out && i < n; i++)
		if (names[i] && !(out[i] = ferry_strdup(names[i]))) {
			for (uint32_t k = 0; k < i; k++)
				ferry_free(out[k]);
			ferry_free(out);
			return NULL;
		}
	return out;
}

static bool all_kept(const ferry_table *target, char *const *names,
                     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (names[i] && ferry_table_column_index(target, names[i]) < 0)
			return false;
	return true;
}

/* The old table's indexes and foreign keys over the columns rebuilt, so
 * the reverse target describes what the old database has. */
static int copy_keys(ferry_table *target, const ferry_table *source)
{
	for (uint32_t i = 0; i < source->nindexes; i++) {
		const ferry_index *si = &source->indexes[i];
		if (!all_kept(target, si->columns, si->ncolumns))
			continue;
		ferry_index *ti = ferry_table_add_index(target);
		if (!ti)
			return FERRY_ENOMEM;
		ti->name = ferry_strdup(si->name);
		ti->unique = si->unique;
		ti->columns = copy_names(si->columns, si->ncolumns);
		ti->ncolumns = si->ncolumns; /* the arrays may be NULL: clear copes */
		ti->where_sql = si->where_sql ? ferry_strdup(si->where_sql) : NULL;
		if (!ti->name || !ti->columns || (si->where_sql && !ti->where_sql))
			return FERRY_ENOMEM;
	}
	for (uint32_t i = 0; i < source->nfkeys; i++) {
		const ferry_fkey *sf = &source->fkeys[i];
		if (!all_kept(target, sf->columns, sf->ncolumns))
			continue;
		ferry_fkey *tf = ferry_table_add_fkey(target);
		if (!tf)
			return FERRY_ENOMEM;
		tf->name = sf->name ? ferry_strdup(sf->name) : NULL;
		tf->columns = copy_names(sf->columns, sf->ncolumns);
		tf->ref_columns = copy_names(sf->ref_columns, sf->ncolumns);
		tf->ncolumns = sf->ncolumns;
		tf->ref_table = ferry_strdup(sf->ref_table);
		tf->on_delete = sf->on_delete ? ferry_strdup(sf->on_delete) : NULL;
		tf->on_update = sf->on_update ? ferry_strdup(sf->on_update) : NULL;
		if ((sf->name && !tf->name) || !tf->columns || !tf->ref_columns ||
		    !tf->ref_table || (sf->on_delete && !tf->on_delete) ||
		    (sf->on_update && !tf->on_update))
			return FERRY_ENOMEM;
	}
	return 0;
}

/* Appends an old column to the reverse target with how it is rebuilt. */
static int keep_column(inverse_table *it, const ferry_column *sc,
                       inverse_column how)
{
	uint32_t n = it->target.ncolumns + 1;
	inverse_column *grown = ferry_realloc(it->columns, n * sizeof *grown);
	if (!grown)
		return FERRY_ENOMEM;
	it->columns = grown;
	grown[n - 1] = how;
	ferry_column *tc = ferry_table_add_column(&it->target);
	return tc ? copy_column(tc, sc) : FERRY_ENOMEM;
}

/* What stops a rollback, gathered table by table for one message. */
typedef struct refusal {
	ferry_buf *refused;    /* "table \"t\": column \"c\" <why>; ..." */
	ferry_buf *fixes;      /* "t: down: { c: \"...\" }, ..." */
	const char *fix_table; /* the table the open "down: {" belongs to */
} unbuildable;

/*
 * Decides how old column i of it's table is rebuilt: appends it to the
 * reverse target, or to the refusal when nothing can rebuild it; notes
 * what is lossy.  0 or FERRY_ENOMEM.
 */
static int analyse_column(ferry_transform *t, inverse_table *it, uint32_t i,
                          unbuildable *no)
{
	const ferry_plan_table *pt = it->forward;
	const ferry_column *sc = &pt->source->columns[i];
	const char *down = pt->downs ? pt->downs[i] : NULL;
	int j = forward_column(pt, i);
	inverse_column how = {REBUILD_CONVERT, j, -1, false};
	if (down) {
		/* a down wins: it can rebuild a dropped or split column too */
		how.how = REBUILD_DOWN;
		how.down = (int)it->ndowns;
		it->downs[it->ndowns++] = down;
		return keep_column(it, sc, how);
	}
	if (j < 0 && (sc->pk_position > 0 || (sc->not_null && !sc->default_sql))) {
		/* reverse updates and deletes find rows by the key; reverse
		 * inserts would all fail on a NOT NULL column left out */
		refuse_column(no->refused, no->fixes, pt, sc,
		              sc->pk_position > 0
		                  ? "is dropped and is part of the primary key"
		                  : "is dropped and is NOT NULL without a default",
		              &no->fix_table);
		return 0;
	}
	if (j < 0)
		return add_note(t, "table \"%s\": column \"%s\" is dropped: the old "
		                   "database keeps its old values; rows created after "
		                   "cutover get its default or NULL",
		                pt->source->name, sc->name);
	const ferry_plan_column *pc = &pt->columns[j];
	const ferry_column *tc = &pt->target.columns[j];
	if (pc->expr_index >= 0) {
		refuse_column(no->refused, no->fixes, pt, sc,
		              "is computed by `up` without a `down`", &no->fix_table);
		return 0;
	}
	how.how = pc->has_divide ? REBUILD_DIVIDE : REBUILD_CONVERT;
	how.check = pc->has_divide || !same_type(&sc->type, &tc->type);
	const char *why = how.check ? lossy_conversion(sc, tc, pc,
	                                               t->forward->dialect,
	                                               t->dialect)
	                            : NULL;
	if (why && add_note(t, "table \"%s\": column \"%s\" (%s): %s",
	                    pt->source->name, sc->name, tc->name, why) < 0)
		return FERRY_ENOMEM;
	return keep_column(it, sc, how);
}

/* Fills one reverse table from its forward table (analyse_column). */
static int analyse_table(ferry_transform *t, inverse_table *it,
                         unbuildable *no)
{
	const ferry_plan_table *pt = it->forward;
	const ferry_table *src = pt->source;
	it->target.name = ferry_strdup(src->name);
	it->downs = ferry_calloc(src->ncolumns + 1, sizeof *it->downs);
	if (!it->target.name || !it->downs)
		return FERRY_ENOMEM;
	it->target.without_rowid = src->without_rowid;
	it->target.rowid_key = src->rowid_key;
	it->target.row_count = -1;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < src->ncolumns; i++)
		rc = analyse_column(t, it, i, no);
	if (rc == 0 && pt->where)
		rc = add_note(t, "table \"%s\": rows outside `where` stayed only in "
		                 "the old database; a row created after cutover with "
		                 "the same key replaces one of them",
		              src->name);
	return rc == 0 ? copy_keys(&it->target, src) : rc;
}

/* Analyses every table into t; refused is empty when all can be undone. */
static int analyse(ferry_transform *t, ferry_buf *refused, ferry_buf *fixes)
{
	const ferry_plan *plan = t->forward;
	t->tables = ferry_calloc(plan->ntables ? plan->ntables : 1,
	                         sizeof *t->tables);
	if (!t->tables)
		return FERRY_ENOMEM;
	unbuildable no = {refused, fixes, NULL};
	for (uint32_t i = 0; i < plan->ntables; i++) {
		inverse_table *it = &t->tables[t->ntables++];
		it->forward = &plan->tables[i];
		int rc = analyse_table(t, it, &no);
		if (rc < 0)
			return rc;
	}
	if (fixes->len)
		ferry_buf_puts(fixes, " }");
	return ferry_buf_failed(refused) || ferry_buf_failed(fixes) ? FERRY_ENOMEM
	                                                            : 0;
}

static void inverse_free(ferry_transform *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->ntables; i++) {
		ferry_table_clear(&t->tables[i].target);
		ferry_free(t->tables[i].columns);
		ferry_free(t->tables[i].downs);
	}
	ferry_free(t->tables);
	for (uint32_t i = 0; i < t->nnotes; i++)
		ferry_free(t->notes[i]);
	ferry_free(t->notes);
	ferry_free(t);
}

/* Builds the analysis; *refusal is set (owned) when the plan cannot be
 * rolled back. */
static int analysed(ferry_transform **out, const ferry_plan *forward,
                    ferry_dialect old_dialect, char **refusal,
                    ferry_error *err)
{
	*out = NULL;
	*refusal = NULL;
	ferry_transform *t = ferry_calloc(1, sizeof *t);
	if (!t)
		return ferry_error_oom(err);
	t->forward = forward;
	t->dialect = old_dialect;
	ferry_buf refused = FERRY_BUF_INIT, fixes = FERRY_BUF_INIT;
	ferry_buf message = FERRY_BUF_INIT;
	int rc = analyse(t, &refused, &fixes);
	if (rc == 0 && refused.len) {
		ferry_buf_printf(&message,
		                 "rollback is not possible: %s; add to the spec: %s "
		                 "(SQLite expressions over the new table's columns "
		                 "that rebuild them)",
		                 ferry_buf_cstr(&refused), ferry_buf_cstr(&fixes));
		if (!(*refusal = ferry_buf_detach(&message, NULL)))
			rc = FERRY_ENOMEM;
	}
	ferry_buf_free(&refused);
	ferry_buf_free(&fixes);
	ferry_buf_free(&message);
	if (rc < 0) {
		inverse_free(t);
		return ferry_error_oom(err);
	}
	*out = t;
	return 0;
}

int ferry_inverse_build(ferry_transform **out, const ferry_plan *forward,
                        ferry_dialect old_dialect, ferry_error *err)
{
	ferry_transform *t;
	char *refusal;
	*out = NULL;
	int rc = analysed(&t, forward, old_dialect, &refusal, err);
	if (rc < 0)
		return rc;
	if (refusal) {
		rc = ferry_error_set(err, FERRY_EINVAL, "%s", refusal);
		ferry_free(refusal);
		inverse_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int ferry_inverse_check(const ferry_plan *forward, ferry_dialect old_dialect,
                        ferry_buf *report, ferry_error *err)
{
	ferry_transform *t;
	char *refusal;
	int rc = analysed(&t, forward, old_dialect, &refusal, err);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < t->nnotes; i++)
		ferry_buf_printf(report, "rollback lossy: %s\n", t->notes[i]);
	if (refusal) {
		ferry_buf_printf(report, "%s\n", refusal);
		rc = ferry_error_set(err, FERRY_EINVAL, "%s", refusal);
	} else {
		ferry_buf_puts(report, t->nnotes ? "rollback: possible, lossy\n"
		                                 : "rollback: possible\n");
	}
	ferry_free(refusal);
	inverse_free(t);
	if (ferry_buf_failed(report))
		return ferry_error_oom(err);
	return rc;
}

/* ---- mapping rows back -------------------------------------------- */

struct ferry_mapper {
	const ferry_transform *t;
	const inverse_table *table;
	sqlite3 *db;          /* NULL when the table has no downs */
	sqlite3_stmt *stmt;   /* SELECT down... FROM (the target row) */
	ferry_value *results; /* down results of the current row */
	ferry_arena scratch;  /* converted payloads of the current row */
	ferry_error why;      /* the reason of the last reject */
	ferry_error inner;    /* a conversion's own reason, to quote in why */
	ferry_buf a, b;       /* canonical encodings being compared */
};

static int prepare_downs(ferry_mapper *m, ferry_error *err)
{
	const inverse_table *it = m->table;
	ferry_buf sql = FERRY_BUF_INIT;
	/* each expression on lines of its own, as plan.c checked it: a
	 * trailing -- comment cannot swallow what follows */
	ferry_buf_puts(&sql, "SELECT ");
	for (uint32_t i = 0; i < it->ndowns; i++)
		ferry_buf_printf(&sql, "%s(\n%s\n)", i ? ", " : "", it->downs[i]);
	ferry_plan_row_source(&sql, &it->forward->target);
	int rc = 0;
	if (ferry_buf_failed(&sql))
		rc = ferry_error_oom(err);
	else if (sqlite3_open(":memory:", &m->db) != SQLITE_OK ||
	         sqlite3_prepare_v2(m->db, ferry_buf_cstr(&sql), -1, &m->stmt,
	                            NULL) != SQLITE_OK)
		rc = ferry_error_set(err, FERRY_ERROR,
		                     "table \"%s\": could not prepare the down "
		                     "expressions: %s",
		                     it->target.name,
		                     m->db ? sqlite3_errmsg(m->db) : "out of memory");
	ferry_buf_free(&sql);
	return rc;
}

static void inverse_mapper_close(ferry_mapper *m)
{
	if (!m)
		return;
	sqlite3_finalize(m->stmt);
	sqlite3_close(m->db);
	ferry_free(m->results);
	ferry_arena_free(&m->scratch);
	ferry_error_clear(&m->why);
	ferry_error_clear(&m->inner);
	ferry_buf_free(&m->a);
	ferry_buf_free(&m->b);
	ferry_free(m);
}

static int inverse_mapper_open(ferry_mapper **out, const ferry_transform *t,
                               uint32_t table, ferry_error *err)
{
	*out = NULL;
	ferry_mapper *m = ferry_calloc(1, sizeof *m);
	if (!m)
		return ferry_error_oom(err);
	m->t = t;
	m->table = &t->tables[table];
	int rc = 0;
	if (m->table->ndowns) {
		m->results = ferry_calloc(m->table->ndowns, sizeof *m->results);
		rc = m->results ? prepare_downs(m, err) : ferry_error_oom(err);
	}
	if (rc < 0) {
		inverse_mapper_close(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* Runs the downs over the target row: 0, FERRY_EREJECT (why) or <0. */
static int eval_downs(ferry_mapper *m, const ferry_row *src, ferry_error *err)
{
	sqlite3_reset(m->stmt);
	for (uint32_t i = 0; i < src->ncols; i++) {
		int rc = ferry_sqlite_bind_value(m->stmt, (int)i + 1,
		                                 &src->values[i]);
		if (rc == SQLITE_NOMEM)
			return ferry_error_oom(err);
		if (rc != SQLITE_OK)
			return ferry_error_set(err, FERRY_ERROR,
			                       "table \"%s\": could not bind a value: %s",
			                       m->table->target.name,
			                       sqlite3_errmsg(m->db));
	}
	if (sqlite3_step(m->stmt) != SQLITE_ROW) {
		if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
			return ferry_error_oom(err);
		return ferry_error_set(&m->why, FERRY_EREJECT,
		                       "a down expression failed on this row: %s",
		                       sqlite3_errmsg(m->db));
	}
	for (uint32_t i = 0; i < m->table->ndowns; i++)
		if (ferry_sqlite_column_value(m->stmt, (int)i, &m->results[i]) < 0)
			return ferry_error_oom(err);
	return 0;
}

/* Sets why to "<value> <fmt...>". */
static int refuse(ferry_mapper *m, const ferry_value *v, const char *fmt, ...)
    FERRY_PRINTF(3, 4);

static int refuse(ferry_mapper *m, const ferry_value *v, const char *fmt, ...)
{
	ferry_buf b = FERRY_BUF_INIT;
	show(&b, v);
	ferry_buf_putc(&b, ' ');
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	int rc = ferry_buf_failed(&b)
	             ? ferry_error_oom(&m->why)
	             : ferry_error_set(&m->why, FERRY_EREJECT, "%s",
	                               ferry_buf_cstr(&b));
	ferry_buf_free(&b);
	return rc;
}

/* in * divide_by as a NUMERIC value in the scratch arena, trailing
 * fractional zeros dropped (the division moved the point; 1999.00 is the
 * 1999 it came from). */
static int multiply_back(ferry_mapper *m, const ferry_value *in,
                         const ferry_decimal *divide_by, ferry_value *out)
{
	static const ferry_sqltype any_numeric = {FERRY_SQL_NUMERIC, -1, -1, -1};
	ferry_value number;
	int rc = ferry_convert(in, &any_numeric, NULL, FERRY_DIALECT_POSTGRESQL,
	                       &number, &m->scratch, &m->why);
	if (rc < 0)
		return rc;
	ferry_decimal d = FERRY_DECIMAL_INIT;
	ferry_buf text = FERRY_BUF_INIT;
	rc = ferry_decimal_parse(&d, number.u.s.ptr, number.u.s.len, NULL);
	if (rc == 0)
		rc = ferry_decimal_mul(&d, &d, divide_by, &m->why);
	if (rc == 0) {
		ferry_decimal_normalize(&d);
		ferry_decimal_format(&d, &text);
		char *s = ferry_buf_failed(&text)
		              ? NULL
		              : ferry_arena_strndup(&m->scratch, (char *)text.data,
		                                    text.len);
		if (s)
			*out = ferry_value_bytes(FERRY_NUMERIC, s, text.len);
		else
			rc = FERRY_ENOMEM;
	} else if (rc != FERRY_ENOMEM) {
		rc = refuse(m, in, "cannot be multiplied back by divide_by");
	}
	ferry_decimal_free(&d);
	ferry_buf_free(&text);
	return rc;
}

/*
 * The pairs the forward conversion defines one way only, turned into a
 * value ferry_convert takes back to `to` (docs/inverse.md, "Converting
 * back"); anything else is left as it is.  0 or FERRY_EREJECT.
 */
static int prepare_back(ferry_mapper *m, const ferry_value *in,
                        const ferry_column *sc, ferry_value *out)
{
	ferry_type want = ferry_sqltype_value_type(&sc->type);
	*out = *in;
	switch (in->type) {
	case FERRY_TIMESTAMPTZ:
	case FERRY_TIMESTAMP:
		if (want == FERRY_DATE) {
			int64_t us = in->u.i;
			if (us == FERRY_TS_PINF || us == FERRY_TS_NINF) {
				*out = ferry_value_date(us > 0 ? FERRY_DATE_PINF
				                               : FERRY_DATE_NINF);
				return 0;
			}
			if (us % FERRY_USECS_PER_DAY != 0)
				return refuse(m, in, "has a time of day, which date column "
				                     "\"%s\" cannot hold", sc->name);
			*out = ferry_value_date((int32_t)(us / FERRY_USECS_PER_DAY));
		} else if (want == FERRY_TEXT || want == FERRY_TIMESTAMP) {
			/* the forward read a wall clock (text without an offset, or
			 * a timestamp) as UTC: the UTC wall clock is its inverse */
			*out = ferry_value_timestamp(FERRY_TIMESTAMP, in->u.i);
		}
		return 0;
	case FERRY_BOOL:
		if (want == FERRY_FLOAT)
			*out = ferry_value_float(in->u.b ? 1.0 : 0.0);
		return 0;
	case FERRY_UUID:
		if (want == FERRY_BLOB) {
			char *bytes = ferry_arena_strndup(&m->scratch,
			                                  (const char *)in->u.uuid, 16);
			if (!bytes)
				return FERRY_ENOMEM;
			*out = ferry_value_bytes(FERRY_BLOB, bytes, 16);
		}
		return 0;
	case FERRY_BLOB:
		if (want == FERRY_TEXT)
			out->type = FERRY_TEXT; /* the forward took text's bytes */
		return 0;
	case FERRY_JSON:
		if (want != FERRY_TEXT && want != FERRY_JSON)
			out->type = FERRY_TEXT; /* a number or boolean as written */
		return 0;
	default:
		return 0;
	}
}

/* Whether a and b are one value (docs/values.md, canonical encoding). */
static int same_value(ferry_mapper *m, const ferry_value *a,
                      const ferry_value *b)
{
	ferry_buf_reset(&m->a);
	ferry_buf_reset(&m->b);
	int rc_a = ferry_value_canonical(a, &m->a, NULL);
	int rc_b = ferry_value_canonical(b, &m->b, NULL);
	if (rc_a == FERRY_ENOMEM || rc_b == FERRY_ENOMEM ||
	    ferry_buf_failed(&m->a) || ferry_buf_failed(&m->b))
		return FERRY_ENOMEM;
	/* a numeric that is not a number (ECORRUPT) equals nothing */
	return rc_a == 0 && rc_b == 0 && m->a.len == m->b.len &&
	       memcmp(m->a.data, m->b.data, m->a.len) == 0;
}

/*
 * Reads back forward as the plan would and compares with what was
 * captured: the inverse is exact only if the forward gives in again.
 * 0, FERRY_EREJECT (why) or FERRY_ENOMEM.
 */
static int check_forward(ferry_mapper *m, const ferry_value *in,
                         const ferry_value *back, const ferry_column *tc,
                         const ferry_plan_column *pc)
{
	ferry_value again;
	ferry_buf shown = FERRY_BUF_INIT;
	int rc = ferry_convert(back, &tc->type,
	                       pc->has_divide ? &pc->divide_by : NULL,
	                       m->t->forward->dialect, &again, &m->scratch,
	                       &m->inner);
	if (rc == FERRY_ENOMEM)
		return rc;
	show(&shown, back);
	/* what was captured, read as its column's type: an SQLite column
	 * holds whatever storage class the application wrote (REAL 3.5 in a
	 * NUMERIC(12,2) column means numeric 3.5) */
	ferry_value captured = *in;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (rc == 0 && ferry_convert(in, &tc->type, NULL, m->t->forward->dialect,
	                             &captured, &m->scratch, &ignored) < 0)
		captured = *in;
	ferry_error_clear(&ignored);
	if (rc < 0) {
		rc = refuse(m, in, "would come back as %s, which the forward "
		                   "conversion refuses: %s",
		            ferry_buf_cstr(&shown) ? ferry_buf_cstr(&shown) : "?",
		            ferry_error_message(&m->inner));
	} else if ((rc = same_value(m, &captured, &again)) == 0) {
		ferry_buf again_shown = FERRY_BUF_INIT;
		show(&again_shown, &again);
		rc = refuse(m, in, "would come back as %s, which reads forward as %s",
		            ferry_buf_cstr(&shown) ? ferry_buf_cstr(&shown) : "?",
		            ferry_buf_cstr(&again_shown) ? ferry_buf_cstr(&again_shown)
		                                         : "?");
		ferry_buf_free(&again_shown);
	} else if (rc == 1) {
		rc = 0;
	}
	ferry_buf_free(&shown);
	return rc;
}

/* Rebuilds one old column from a converted target value. */
static int convert_back(ferry_mapper *m, const inverse_column *ic,
                        const ferry_column *sc, const ferry_value *in,
                        ferry_value *out)
{
	const ferry_plan_table *pt = m->table->forward;
	const ferry_plan_column *pc = &pt->columns[ic->from];
	const ferry_column *tc = &pt->target.columns[ic->from];
	if (in->type == FERRY_NULL) {
		*out = *in;
		return 0;
	}
	ferry_value back;
	int rc = ic->how == REBUILD_DIVIDE
	             ? multiply_back(m, in, &pc->divide_by, &back)
	             : prepare_back(m, in, sc, &back);
	if (rc < 0)
		return rc;
	rc = ferry_convert(&back, &sc->type, NULL, m->t->dialect, out,
	                   &m->scratch, ic->how == REBUILD_DIVIDE ? &m->inner
	                                                          : &m->why);
	if (rc == FERRY_EREJECT && ic->how == REBUILD_DIVIDE) {
		ferry_buf div = FERRY_BUF_INIT;
		ferry_decimal_format(&pc->divide_by, &div);
		rc = refuse(m, in, "* %s = %s",
		            ferry_buf_cstr(&div) ? ferry_buf_cstr(&div) : "?",
		            ferry_error_message(&m->inner));
		ferry_buf_free(&div);
	}
	if (rc == 0 && ic->check)
		rc = check_forward(m, in, out, tc, pc);
	return rc;
}

static int reject(ferry_mapper *m, ferry_reject *rej, const char *column,
                  const ferry_value *value)
{
	rej->column = column;
	rej->value = *value;
	rej->reason = ferry_error_message(&m->why);
	return FERRY_EREJECT;
}

/*
 * Maps a target-shaped row (the forward plan's target table) to the old
 * table's rebuilt columns.  1 with the row in out (payloads live until
 * the next call or until src is released), FERRY_EREJECT (rej), or
 * another negative code.  Never 0: the reverse does not filter.
 */
static int inverse_map(ferry_mapper *m, const ferry_row *src, ferry_row *out,
                       ferry_reject *rej, ferry_error *err)
{
	const inverse_table *it = m->table;
	const ferry_table *captured = &it->forward->target;
	ferry_arena_reset(&m->scratch);
	if (src->ncols != captured->ncolumns)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "table \"%s\": a row of %u values, the table "
		                       "has %u columns",
		                       captured->name, src->ncols,
		                       captured->ncolumns);
	if (m->stmt) {
		int rc = eval_downs(m, src, err);
		if (rc == FERRY_EREJECT) {
			ferry_value none = ferry_value_null();
			return reject(m, rej, "(down expression)", &none);
		}
		if (rc < 0)
			return rc;
	}
	if (ferry_row_resize(out, it->target.ncolumns, err) < 0)
		return FERRY_ENOMEM;
	for (uint32_t j = 0; j < it->target.ncolumns; j++) {
		const inverse_column *ic = &it->columns[j];
		const ferry_column *sc = &it->target.columns[j];
		const ferry_value *in;
		const char *named;
		int rc;
		if (ic->how == REBUILD_DOWN) {
			in = &m->results[ic->down];
			named = sc->name;
			rc = ferry_convert(in, &sc->type, NULL, m->t->dialect,
			                   &out->values[j], &m->scratch, &m->why);
		} else {
			in = &src->values[ic->from];
			named = captured->columns[ic->from].name;
			rc = convert_back(m, ic, sc, in, &out->values[j]);
		}
		if (rc == FERRY_ENOMEM)
			return ferry_error_oom(err);
		if (rc < 0)
			return reject(m, rej, named, in);
		if (sc->not_null && out->values[j].type == FERRY_NULL) {
			ferry_error_set(&m->why, FERRY_EREJECT,
			                "NULL in column \"%s\", which is NOT NULL in the "
			                "old table",
			                sc->name);
			return reject(m, rej, named, in);
		}
	}
	return 1;
}

/* ---- the engine's transform interface ------------------------------ */

static int inverse_ops_build(ferry_transform **out, const ferry_schema *source,
                             const char *spec_path, ferry_dialect dialect,
                             ferry_error *err)
{
	(void)source;
	(void)spec_path;
	(void)dialect;
	*out = NULL;
	return ferry_error_set(err, FERRY_EUNSUPPORTED,
	                       "the inverse transform is built from a forward "
	                       "plan: use ferry_inverse_build");
}

static uint32_t inverse_table_count(const ferry_transform *t)
{
	return t->ntables;
}

static const ferry_table *inverse_source(const ferry_transform *t, uint32_t i)
{
	return &t->tables[i].forward->target;
}

static const ferry_table *inverse_target(const ferry_transform *t, uint32_t i)
{
	return &t->tables[i].target;
}

static uint32_t inverse_warning_count(const ferry_transform *t)
{
	return t->nnotes;
}

static const char *inverse_warning(const ferry_transform *t, uint32_t i)
{
	return t->notes[i];
}

static void describe_table(const inverse_table *it, ferry_buf *out)
{
	const ferry_plan_table *pt = it->forward;
	ferry_buf_printf(out, "reverse table \"%s\" -> \"%s\"\n", pt->target.name,
	                 it->target.name);
	for (uint32_t j = 0; j < it->target.ncolumns; j++) {
		const inverse_column *ic = &it->columns[j];
		const ferry_column *sc = &it->target.columns[j];
		if (ic->how == REBUILD_DOWN) {
			ferry_buf_printf(out, "  %s = %s\n", sc->name,
			                 it->downs[ic->down]);
			continue;
		}
		const ferry_column *tc = &pt->target.columns[ic->from];
		ferry_buf_printf(out, "  %s ", tc->name);
		ferry_sqltype_format(&tc->type, out);
		ferry_buf_printf(out, " -> %s ", sc->name);
		ferry_sqltype_format(&sc->type, out);
		if (ic->how == REBUILD_DIVIDE) {
			ferry_buf_puts(out, ", times ");
			ferry_decimal_format(&pt->columns[ic->from].divide_by, out);
		}
		ferry_buf_putc(out, '\n');
	}
	for (uint32_t i = 0; i < pt->source->ncolumns; i++)
		if (ferry_table_column_index(&it->target, pt->source->columns[i].name) <
		    0)
			ferry_buf_printf(out, "  %s: not written back (dropped)\n",
			                 pt->source->columns[i].name);
	for (uint32_t j = 0; j < pt->target.ncolumns; j++)
		if (pt->columns[j].source_index < 0)
			ferry_buf_printf(out, "  %s: ignored (added)\n",
			                 pt->target.columns[j].name);
}

static void inverse_describe(const ferry_transform *t, ferry_buf *out)
{
	for (uint32_t i = 0; i < t->ntables; i++)
		describe_table(&t->tables[i], out);
	for (uint32_t i = 0; i < t->nnotes; i++)
		ferry_buf_printf(out, "rollback lossy: %s\n", t->notes[i]);
	ferry_buf_puts(out, t->nnotes ? "rollback: possible, lossy\n"
	                              : "rollback: possible\n");
}

const ferry_transform_ops ferry_inverse_transform_ops = {
	.build = inverse_ops_build,
	.free = inverse_free,
	.table_count = inverse_table_count,
	.source_table = inverse_source,
	.target_table = inverse_target,
	.warning_count = inverse_warning_count,
	.warning = inverse_warning,
	.describe = inverse_describe,
	.mapper_open = inverse_mapper_open,
	.map = inverse_map,
	.mapper_close = inverse_mapper_close,
};
