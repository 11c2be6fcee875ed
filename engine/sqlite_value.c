/*
 * engine/sqlite_value.c - reading SQLite result values (sqlite_value.h).
 */
#include "engine/sqlite_value.h"

int ferry_sqlite_column_value(sqlite3_stmt *st, int i, ferry_value *v)
{
	const void *p;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		*v = ferry_value_int(sqlite3_column_int64(st, i));
		return 0;
	case SQLITE_FLOAT:
		*v = ferry_value_float(sqlite3_column_double(st, i));
		return 0;
	case SQLITE_TEXT:
		p = sqlite3_column_text(st, i);
		*v = ferry_value_bytes(FERRY_TEXT, p,
		                       (size_t)sqlite3_column_bytes(st, i));
		break;
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, i);
		*v = ferry_value_bytes(FERRY_BLOB, p,
		                       (size_t)sqlite3_column_bytes(st, i));
		break;
	default:
		*v = ferry_value_null();
		return 0;
	}
	if (p)
		return 0;
	if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
		return -1;
	v->u.s.ptr = ""; /* an empty value: SQLite may hand back NULL */
	v->u.s.len = 0;
	return 0;
}
