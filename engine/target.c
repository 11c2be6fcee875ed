/*
 * engine/target.c - what every target writer checks the same way.
 */
#include "engine/target.h"

int ferry_target_check_images(const ferry_table *table, ferry_op op,
                              const ferry_row *before, const ferry_row *after,
                              ferry_error *err)
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
	if (!why)
		return 0;
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not apply %s to table \"%s\": %s", name,
	                       table->name, why);
}

