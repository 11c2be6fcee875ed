/*
 * transforms/plan.h - the plan: the source schema reshaped by the spec.
 *
 * ferry_plan_build checks the spec against the source schema (every named
 * table and column exists, every expression compiles, names do not
 * collide) and derives each target table with its column types, keys,
 * indexes and foreign keys, plus what rolling back would need.  A mapper
 * then turns source rows into target rows, one per loading job.
 */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stdbool.h>

#include "engine/arena.h"
#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/transform.h"
#include "engine/value.h"
#include "transforms/convert.h"
#include "transforms/spec.h"

typedef struct ferry_plan_column {
	int source_index;     /* source column feeding it; -1 for an added one */
	int expr_index;       /* its `up` expression among the table's, or -1 */
	bool has_divide;
	ferry_decimal divide_by;
	const char *transform; /* readable description, "" when copied as is */
} ferry_plan_column;

typedef struct ferry_plan_table {
	const ferry_table *source;  /* borrowed from the schema */
	ferry_table target;         /* owned */
	ferry_plan_column *columns; /* one per target column */
	char **exprs;               /* `up` expressions, in expr_index order */
	uint32_t nexprs;
	char *where;                /* NULL when every row is carried */
	char **notes;               /* lossy or irreversible parts, readable */
	uint32_t nnotes;
	bool irreversible;          /* some target column cannot be undone */
	char **downs;               /* per source column (source->ncolumns):
	                               its `down` expression over the target
	                               row, or NULL; NULL when the spec gives
	                               none (transforms/inverse.c uses them) */
} ferry_plan_table;

typedef struct ferry_plan {
	ferry_dialect dialect;
	ferry_plan_table *tables;
	uint32_t ntables;
	char **warnings;            /* things carried partly (skipped indexes) */
	uint32_t nwarnings;
} ferry_plan;

/*
 * Builds the plan.  spec may be NULL (copy everything as it is).  Errors
 * name the spec file and line: "plan.yaml:12: column \"nmae\" is not in
 * table \"users\" (did you mean \"name\"?)".
 */
int ferry_plan_build(ferry_plan **out, const ferry_schema *source,
                     const ferry_spec *spec, ferry_dialect dialect,
                     ferry_error *err);
void ferry_plan_free(ferry_plan *plan);

/* Appends the human-readable plan (what --dry-run prints). */
void ferry_plan_describe(const ferry_plan *plan, ferry_buf *out);

/* Appends " FROM (SELECT ?1 AS "a", ?2 AS "b", ...)": the row t's columns
 * are bound into, which every `up`, `down`, `default` and `where` is
 * compiled against (the mapper here and transforms/inverse.c alike). */
void ferry_plan_row_source(ferry_buf *b, const ferry_table *t);

/* A row mapper for one table; owns an embedded SQLite when the table has
 * expressions.  Not shared between threads: one per job. */
int ferry_mapper_open(ferry_mapper **out, const ferry_plan *plan,
                      const ferry_plan_table *table, ferry_error *err);

/*
 * Maps a source row to a target row (out's payloads live until the next
 * call).  Returns 1 when out holds the row, 0 when the where filter drops
 * it, FERRY_EREJECT when a value does not convert (details in *rej), or
 * another negative code on failure.
 */
int ferry_mapper_map(ferry_mapper *m, const ferry_row *src, ferry_row *out,
                     ferry_reject *rej, ferry_error *err);

void ferry_mapper_close(ferry_mapper *m);

/* The transform engine/ drives (engine/transform.h): a spec file and
 * this plan.  Registered in engine/registry.c. */
extern const ferry_transform_ops ferry_plan_transform_ops;

#endif
