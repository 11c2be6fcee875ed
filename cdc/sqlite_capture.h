/*
 * cdc/sqlite_capture.h - change capture from a SQLite database with
 * triggers (engine/capture.h; docs/online-sqlite.md is the design).
 *
 * What the interface leaves to the reader, SQLite's way:
 * - position: the _ferry_changes seq (never reused: see "released" and
 *   the _ferry_seq trigger in docs/online-sqlite.md);
 * - txid: the last seq of the read, the same for all of its changes
 *   (SQLite has no transaction id; a read holds whole transactions);
 * - commit_time: the time the read began (SQLite records none), so
 *   never earlier than the real commit;
 * - max_changes_hint: ignored, since a stop inside the log could split
 *   a source transaction (SQLite records no boundaries);
 * - snapshot: the read transaction lives on the capture connection
 *   itself, and introspect and the scans run on it.  In WAL mode the
 *   application writes on meanwhile; in rollback-journal mode a snapshot
 *   or a read blocks the application's commits while it lasts.
 */
#ifndef FERRY_CDC_SQLITE_CAPTURE_H
#define FERRY_CDC_SQLITE_CAPTURE_H

#include "engine/capture.h"

extern const ferry_capture_ops ferry_sqlite_capture_ops;

#endif
