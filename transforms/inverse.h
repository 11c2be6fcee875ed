/*
 * transforms/inverse.h - the forward plan run backwards, for rollback.
 *
 * After cutover ferry captures changes on the new primary (rows shaped
 * like the plan's target tables) and replays them into the old database
 * (rows shaped like its source tables).  The inverse is a transform like
 * the plan (engine/transform.h), so the replay drives it unchanged:
 * renames and typed conversions invert by themselves, divide_by
 * multiplies back exactly, `down` expressions rebuild computed columns,
 * added columns are ignored and dropped ones are left alone.  The rules,
 * what is lossy and what is refused are in docs/inverse.md.
 */
#ifndef FERRY_INVERSE_H
#define FERRY_INVERSE_H

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/transform.h"
#include "transforms/plan.h"

/*
 * Builds the inverse of forward for an old database of old_dialect.
 * forward is borrowed and must outlive *out (free it after
 * ferry_inverse_transform_ops.free).  A plan with a column that cannot be
 * rebuilt is refused with FERRY_EINVAL and one line naming every such
 * column and the `down` that would fix it ("rollback is not possible:
 * ..."), the text `ferry rollback` prints.  FERRY_ENOMEM otherwise.
 */
int ferry_inverse_build(ferry_transform **out, const ferry_plan *forward,
                        ferry_dialect old_dialect, ferry_error *err);

/*
 * The reversibility report at plan time: appends one line per lossy part
 * ("rollback lossy: table \"users\": column \"legacy\" is dropped: ...")
 * and a last line: "rollback: possible", "rollback: possible, lossy" or
 * the refusal ferry_inverse_build gives ("rollback is not possible: ...").
 * Returns 0 when the plan can be rolled back, FERRY_EINVAL (the refusal
 * also in err) when it cannot, FERRY_ENOMEM.
 */
int ferry_inverse_check(const ferry_plan *forward, ferry_dialect old_dialect,
                        ferry_buf *report, ferry_error *err);

/* The reverse transform (engine/transform.h).  Its source tables are the
 * forward plan's target tables, its target tables the old source tables
 * restricted to the columns it rebuilds.  `build` is not how an inverse
 * is made (it needs the forward plan): it returns FERRY_EUNSUPPORTED. */
extern const ferry_transform_ops ferry_inverse_transform_ops;

#endif
