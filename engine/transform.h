/*
 * engine/transform.h - the interface through which engine/ drives the
 * reshaping of rows (implemented by transforms/plan.c), without knowing
 * which rules are behind it.
 *
 * A transform is built once from the source schema and a spec file; it
 * says which source tables are carried, what each becomes on the target,
 * and gives each job a row mapper of its own.
 */
#ifndef FERRY_TRANSFORM_H
#define FERRY_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/value.h"

typedef struct ferry_transform ferry_transform;
typedef struct ferry_mapper ferry_mapper;

/* Why a row did not make it: filled when map rejects. */
typedef struct ferry_reject {
	const char *column;  /* source (or added) column name */
	ferry_value value;   /* the value that was refused (borrowed) */
	const char *reason;  /* valid until the next map call */
} ferry_reject;

typedef struct ferry_transform_ops {
	/* Builds the transform; spec_path may be NULL (copy as is).  Spec
	 * errors name the file and line. */
	int (*build)(ferry_transform **out, const ferry_schema *source,
	             const char *spec_path, ferry_dialect dialect,
	             ferry_error *err);
	void (*free)(ferry_transform *t);

	uint32_t (*table_count)(const ferry_transform *t);
	const ferry_table *(*source_table)(const ferry_transform *t, uint32_t i);
	const ferry_table *(*target_table)(const ferry_transform *t, uint32_t i);

	/* Things carried only partly (skipped indexes, foreign keys). */
	uint32_t (*warning_count)(const ferry_transform *t);
	const char *(*warning)(const ferry_transform *t, uint32_t i);

	/* The readable plan (what --dry-run prints). */
	void (*describe)(const ferry_transform *t, ferry_buf *out);

	/* One mapper per job and table; map returns 1 (row in out), 0 (the
	 * where filter drops it), FERRY_EREJECT (see rej) or an error. */
	int (*mapper_open)(ferry_mapper **out, const ferry_transform *t,
	                   uint32_t table, ferry_error *err);
	int (*map)(ferry_mapper *m, const ferry_row *src, ferry_row *out,
	           ferry_reject *rej, ferry_error *err);
	void (*mapper_close)(ferry_mapper *m);
	/* Whether the table has a `where` filter: whether a row is in the
	 * target depends on its values, so an update can move a row in or
	 * out, which only a whole before-image tells.  NULL: never. */
	bool (*filters)(const ferry_transform *t, uint32_t table);
	/*
	 * Whether the table's plan needs whole old rows from the source,
	 * when its old rows carry only the key and an update may leave out a
	 * large value it kept (ferry_table.old_rows_key_only,
	 * ferry_column.unsent_if_kept): a `where` filter does, and so does an
	 * expression that reads a column that may go unsent together with
	 * another column (it could not be computed).  Appends the reasons to
	 * why.  NULL: never.
	 */
	bool (*needs_whole_rows)(const ferry_transform *t, uint32_t table,
	                         ferry_buf *why);

	/*
	 * The transform run backwards, for the reverse stream after a
	 * cutover (docs/inverse.md): its source tables are t's target tables,
	 * its target tables t's source tables as far as it rebuilds them;
	 * *ops drives it.  It borrows t, which must outlive it.  A transform
	 * that cannot be inverted is refused with FERRY_EINVAL and one line
	 * naming every column that cannot be rebuilt and the `down` that
	 * would fix it.  NULL member: never invertible.
	 */
	int (*invert)(ferry_transform **out, const struct ferry_transform_ops **ops,
	              const ferry_transform *t, ferry_dialect old_dialect,
	              ferry_error *err);
} ferry_transform_ops;

#endif
