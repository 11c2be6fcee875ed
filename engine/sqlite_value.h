/*
 * engine/sqlite_value.h - values in and out of SQLite statements, shared
 * by the SQLite reader (cdc/) and the expression engine (transforms/).
 */
#ifndef FERRY_SQLITE_VALUE_H
#define FERRY_SQLITE_VALUE_H

#include <sqlite3.h>

#include "engine/value.h"

/*
 * Reads result column i with its exact storage class (never converting):
 * INTEGER, REAL, TEXT, BLOB or NULL.  Text and blob payloads are borrowed
 * from the statement (valid until it steps or resets); an empty one is
 * "" with length 0, never NULL.  Returns 0, or -1 when SQLite ran out of
 * memory.
 */
int ferry_sqlite_column_value(sqlite3_stmt *st, int i, ferry_value *v);

/*
 * Binds v as parameter i with its own storage class: NULL, INTEGER,
 * REAL, a bool as 0/1, BLOB (an empty one as a zero-length blob, not
 * NULL), numeric, text and json as TEXT; dates, timestamps and uuids as
 * their text form (copied).  Other payloads are borrowed
 * (SQLITE_STATIC): v must outlive the statement's next step.  Returns
 * SQLite's code.
 */
int ferry_sqlite_bind_value(sqlite3_stmt *st, int i, const ferry_value *v);

#endif
