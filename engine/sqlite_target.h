/*
 * engine/sqlite_target.h - the SQLite target writer: the ferry_target_ops
 * behind sqlite: target URIs.  docs/sqlite-target.md describes the
 * declared types it creates and how each value is stored.
 */
#ifndef FERRY_SQLITE_TARGET_H
#define FERRY_SQLITE_TARGET_H

#include "engine/target.h"

/*
 * Differences from target.h's generic contract, forced by SQLite:
 * prepare_table creates the primary key and the foreign keys with the
 * table (SQLite cannot add them later), add_foreign_keys does nothing,
 * and copy_end's commit is durable at the next WAL checkpoint
 * (synchronous=NORMAL), not at once.  The table handed to copy_begin
 * must stay valid until copy_end or copy_abort.
 */
extern const ferry_target_ops ferry_sqlite_target_ops;

#endif
