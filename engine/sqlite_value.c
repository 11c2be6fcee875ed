/*
 * engine/sqlite_value.c - values in and out of SQLite statements
 * (sqlite_value.h).
 */
#include "engine/sqlite_value.h"

#include "engine/buf.h"

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

int ferry_sqlite_bind_value(sqlite3_stmt *st, int i, const ferry_value *v)
{
	ferry_buf text = FERRY_BUF_INIT;
	int rc;
	switch (v->type) {
	case FERRY_NULL:
		return sqlite3_bind_null(st, i);
	case FERRY_INT:
		return sqlite3_bind_int64(st, i, v->u.i);
	case FERRY_FLOAT:
		return sqlite3_bind_double(st, i, v->u.f);
	case FERRY_BOOL:
		return sqlite3_bind_int(st, i, v->u.b);
	case FERRY_BLOB:
		if (v->u.s.len == 0)
			return sqlite3_bind_zeroblob(st, i, 0);
		return sqlite3_bind_blob64(st, i, v->u.s.ptr, v->u.s.len,
		                           SQLITE_STATIC);
	case FERRY_NUMERIC:
	case FERRY_TEXT:
	case FERRY_JSON:
		return sqlite3_bind_text64(st, i, v->u.s.len ? v->u.s.ptr : "",
		                           v->u.s.len, SQLITE_STATIC, SQLITE_UTF8);
	default: /* dates, timestamps, uuids: their text form */
		ferry_value_format(v, &text, 0);
		rc = ferry_buf_failed(&text)
		         ? SQLITE_NOMEM
		         : sqlite3_bind_text(st, i, (char *)text.data, (int)text.len,
		                             SQLITE_TRANSIENT);
		ferry_buf_free(&text);
		return rc;
	}
}
