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

#endif
