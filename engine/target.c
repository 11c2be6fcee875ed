/*
 * engine/target.c - what every target writer checks the same way.
 */
#include "engine/target.h"

/* The first column of row that is absent where it may not be: any
 * column of a table without a key, else a key column; -1 if none. */
static int misplaced_absent(const ferry_table *table, const ferry_row *row,
                            bool whole)
{
	bool keyless = ferry_table_pk_count(table) == 0;
	for (uint32_t i = 0; row && i < row->ncols && i < table->ncolumns; i++)
		if (row->values[i].type == FERRY_ABSENT &&
		    (whole || keyless || table->columns[i].pk_position > 0))
			return (int)i;
	return -1;
}

int ferry_target_check_images(const ferry_table *table, ferry_op op,
                              const ferry_row *before, const ferry_row *after,
                              bool idempotent, ferry_error *err)
{
	const char *name = ferry_op_name(op);
	const char *why = NULL;
	if (op < FERRY_OP_INSERT || op > FERRY_OP_TRUNCATE)
		why = "not a row change";
	else if (table->ncolumns == 0)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not apply %s to table \"%s\": it "
		                       "has no columns", name, table->name);
	else if ((op == FERRY_OP_INSERT || op == FERRY_OP_UPDATE) && !after)
		why = "the after-image is missing";
	else if (op == FERRY_OP_DELETE && !before)
		why = "the before-image is missing";
	else if (op == FERRY_OP_UPDATE && !before &&
	         ferry_table_pk_count(table) == 0)
		why = "a table without primary key needs the before-image";
	else if ((after && op != FERRY_OP_DELETE &&
	          after->ncols != table->ncolumns) ||
	         (before && before->ncols != table->ncolumns))
		why = "an image does not have a value per column";
	if (!why) {
		/* an upsert may have to insert the row: it needs every value */
		bool whole = op == FERRY_OP_INSERT ||
		             (op == FERRY_OP_UPDATE && idempotent);
		int col = misplaced_absent(table, op == FERRY_OP_DELETE ? NULL
		                                                         : after,
		                           whole);
		int col_b = misplaced_absent(table, before, false);
		if (col < 0 && col_b < 0)
			return 0;
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not apply %s to table \"%s\": the "
		                       "source did not send column \"%s\"%s, so the "
		                       "row cannot be %s (give the source table "
		                       "whole old rows: PostgreSQL REPLICA IDENTITY "
		                       "FULL)", name, table->name,
		                       table->columns[col >= 0 ? col : col_b].name,
		                       col >= 0 && whole && op == FERRY_OP_UPDATE
		                           ? " while the snapshot overlaps the stream"
		                           : "",
		                       col >= 0 && whole ? "written whole"
		                                         : "found by its key");
	}
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not apply %s to table \"%s\": %s", name,
	                       table->name, why);
}

