/*
 * engine/capture.h - the interface every change-capture reader (cdc/)
 * implements for online migrations: engine/ drives it without knowing
 * which database is behind it, as it drives engine/source.h for a load.
 * docs/online-sqlite.md is the design the SQLite capture follows.
 *
 * Lifecycle of `ferry init` + `sync`:
 *
 *   open -> introspect -> install(tables, migration id)
 *   snapshot_begin(&P) -> introspect -> scan_open/next/close per table
 *       -> snapshot_end                  (the copy holds exactly <= P)
 *   journal cursor := P; release(P)
 *   loop: check -> read(cursor, fn) -> journal commit with cursor = *last
 *         -> release(*last)
 *   remove (ferry clean) -> close
 *
 * Positions are the reader's change sequence as an unsigned integer; in
 * a change they travel as 8 bytes big-endian (ferry_capture_position_*
 * below), so byte order is sequence order.  A capture handle is one
 * connection: use it from one thread at a time.
 */
#ifndef FERRY_CAPTURE_H
#define FERRY_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/change.h"
#include "engine/error.h"
#include "engine/schema.h"
#include "engine/source.h"
#include "engine/uri.h"

typedef struct ferry_capture ferry_capture; /* a connection, reader-defined */

/* Bytes of a change's position. */
#define FERRY_CAPTURE_POSITION_LEN 8

static inline void ferry_capture_position_put(uint8_t out[8], uint64_t seq)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		out[i] = (uint8_t)seq;
}

/* -1 when pos is not a capture position (wrong length). */
static inline int ferry_capture_position_get(const uint8_t *pos, size_t len,
                                             uint64_t *seq)
{
	if (len != FERRY_CAPTURE_POSITION_LEN)
		return -1;
	*seq = 0;
	for (size_t i = 0; i < len; i++)
		*seq = *seq << 8 | pos[i];
	return 0;
}

/* ---- schema drift ------------------------------------------------- */

typedef enum ferry_drift_kind {
	FERRY_DRIFT_COLUMN_ADDED = 1, /* captured from now on: not fatal */
	FERRY_DRIFT_COLUMN_DROPPED,   /* fatal */
	FERRY_DRIFT_COLUMN_RENAMED,   /* fatal */
	FERRY_DRIFT_COLUMN_MOVED,     /* columns reordered (a rebuild): fatal */
	FERRY_DRIFT_TABLE_ADDED,      /* a table nobody chose about: fatal */
	FERRY_DRIFT_TABLE_DROPPED,    /* dropped or renamed: fatal */
	FERRY_DRIFT_TRIGGER_DROPPED   /* changes went uncaptured: fatal */
} ferry_drift_kind;

typedef struct ferry_drift_item {
	ferry_drift_kind kind;
	bool fatal;
	char *table;
	char *column;     /* COLUMN_*: the column (its old name if renamed) */
	char *new_name;   /* COLUMN_RENAMED: the new name; TRIGGER_DROPPED:
	                     the trigger; else NULL */
	uint32_t version; /* COLUMN_ADDED: the table's new capture version
	                     (changes made from now on carry it) */
	uint32_t ncolumns;/* COLUMN_ADDED: columns in that version */
	char *text;       /* one readable line: "column \"z\" was added to
	                     table \"t\" (capture version 2)" */
} ferry_drift_item;

typedef struct ferry_capture_drift {
	ferry_drift_item *items;
	uint32_t nitems;
	bool fatal;       /* some item stops the capture */
} ferry_capture_drift;

#define FERRY_CAPTURE_DRIFT_INIT { NULL, 0, false }

static inline void ferry_capture_drift_free(ferry_capture_drift *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->nitems; i++) {
		ferry_free(d->items[i].table);
		ferry_free(d->items[i].column);
		ferry_free(d->items[i].new_name);
		ferry_free(d->items[i].text);
	}
	ferry_free(d->items);
	d->items = NULL;
	d->nitems = 0;
	d->fatal = false;
}

/* ---- the reader's function table ---------------------------------- */

/*
 * Receives one change of a read.  The change and everything it points
 * to are borrowed until fn returns.  A non-zero return stops the read,
 * which returns that value (fn sets err).
 */
typedef int (*ferry_capture_fn)(void *arg, const ferry_change *c,
                                ferry_error *err);

typedef struct ferry_capture_ops {
	const char *name; /* "sqlite" */

	/* Whether check reports a table created on the source after
	 * install.  Without it the engine compares the plan's tables with
	 * those the migration was initialized with, at every start (a new
	 * table's rows would otherwise never reach the target). */
	bool check_finds_new_tables;

	/* Connects read-write (capture must create objects and delete what
	 * was journalled); the database's journal mode is left alone. */
	int (*open)(ferry_capture **out, const ferry_uri *uri,
	            ferry_error *err);

	/* As ferry_source_ops.introspect, on this connection (inside a
	 * snapshot: in the snapshot's transaction). */
	int (*introspect)(ferry_capture *cap, ferry_schema *out,
	                  ferry_error *err);

	/*
	 * In one write transaction, installs capture of tables (as
	 * introspect describes them, possibly a subset) for migration_id.
	 * Refuses with FERRY_EINVAL when the database holds capture objects
	 * of another migration, or when a table's columns no longer match
	 * tables.  Again for the same id: nothing is changed except missing
	 * triggers, which are created again, and tables not yet captured,
	 * which are added (for an init that is run again; a capture pass
	 * calls check instead, which reports a missing trigger as fatal
	 * because changes may have gone uncaptured).  Tables present but
	 * not passed are recorded as left out on purpose: check does not
	 * report them as new.
	 */
	int (*install)(ferry_capture *cap, const ferry_schema *tables,
	               const char *migration_id, ferry_error *err);

	/* The migration whose capture is installed (*migration_id owned by
	 * the caller, ferry_free); FERRY_ENOTFOUND when none is. */
	int (*installed)(ferry_capture *cap, char **migration_id,
	                 ferry_error *err);

	/* Drops every object install made, one line per object appended to
	 * report; with nothing installed it succeeds and says so.  A fence
	 * stays (unfence removes it): after a rollback the old target keeps
	 * refusing the application's writes without a capture. */
	int (*remove)(ferry_capture *cap, ferry_buf *report, ferry_error *err);

	/*
	 * Compares the captured tables with the source's schema now.  out is
	 * replaced by every difference found.  Added columns are captured
	 * from here on (new capture version, triggers made again, in one
	 * write transaction) and the call returns 0; anything else is fatal:
	 * the database is left unchanged (even columns added alongside are
	 * not followed) and the call returns FERRY_EUNSUPPORTED with a
	 * message listing what changed.  Cheap when nothing changed: one
	 * PRAGMA, no write lock.  out must start as FERRY_CAPTURE_DRIFT_INIT.
	 */
	int (*check)(ferry_capture *cap, ferry_capture_drift *out,
	             ferry_error *err);

	/*
	 * The position the stream starts after, for a migration's first
	 * snapshot: every change after it will be read, every one up to it
	 * is in any snapshot begun from now on.  SQLite: the last change
	 * given a seq; PostgreSQL: the slot's consistent point.
	 */
	int (*stream_start)(ferry_capture *cap, uint64_t *position,
	                    ferry_error *err);

	/*
	 * Begins the snapshot: a read transaction on this connection that
	 * lasts until snapshot_end, and *position = P, the last change it
	 * sees.  Reads in it (introspect, scans) see exactly the changes
	 * <= P.  read, release, install, check and remove are refused
	 * until snapshot_end.
	 */
	int (*snapshot_begin)(ferry_capture *cap, uint64_t *position,
	                      ferry_error *err);
	int (*snapshot_end)(ferry_capture *cap, ferry_error *err);

	/*
	 * Inside a snapshot: appends to out a token (text) that describes
	 * exactly which source changes the snapshot sees, for in_snapshot.
	 * A table that cannot be replayed idempotently (no key) is copied
	 * in one snapshot, and the replay skips precisely the changes that
	 * snapshot saw: a position is not always precise enough for that
	 * (docs/online-postgresql.md).
	 */
	int (*snapshot_token)(ferry_capture *cap, ferry_buf *out,
	                      ferry_error *err);

	/* Whether the snapshot token describes saw change c (its effect is
	 * in rows copied in that snapshot).  Needs no connection. */
	bool (*in_snapshot)(const char *token, const ferry_change *c);

	/* As ferry_source_ops' scans (row order, exact stored types), on
	 * this connection: inside a snapshot, in its transaction.  With
	 * after_key, as ferry_source_ops.scan_open_after: a chunk of a
	 * resumable snapshot (limit: the rows the caller means to read, a
	 * hint as there). */
	int (*scan_open)(ferry_capture *cap, const ferry_table *table,
	                 const ferry_row *after_key, uint64_t limit,
	                 ferry_scan **out, ferry_error *err);
	int (*scan_next)(ferry_scan *scan, ferry_row *row, ferry_error *err);
	void (*scan_close)(ferry_scan *scan); /* accepts NULL */

	/*
	 * Calls fn for every change after position `after`, in order, in
	 * one read transaction: all of those committed when it began, so
	 * whole source transactions only.  Each change has its table, op,
	 * the table's capture version as schema_version, images positional
	 * in that version's column order with exact stored types, its
	 * position, txid = the group id (reader-defined; the same for every
	 * change of one read) and commit_time (microseconds UTC; a reader
	 * whose source records none gives the time of the read).
	 * max_changes_hint asks for smaller reads; a reader that cannot end
	 * a read on a transaction boundary ignores it.  *last = the position
	 * of the last change delivered, unchanged when there was none or on
	 * error.
	 */
	int (*read)(ferry_capture *cap, uint64_t after,
	            uint64_t max_changes_hint, ferry_capture_fn fn, void *arg,
	            uint64_t *last, ferry_error *err);

	/*
	 * Makes the next read go on until it has delivered every change
	 * committed before this call, through quiet moments and past its
	 * usual size budget (PostgreSQL: until the stream passes the WAL
	 * position of now; a cutover's drain after the fence, each pass of
	 * its catch-up).  NULL: a read always does (an SQLite read
	 * transaction sees every commit before it).
	 */
	int (*read_barrier)(ferry_capture *cap, ferry_error *err);

	/* Forgets the changes up to upto; call only once the journal holds
	 * them durably. */
	int (*release)(ferry_capture *cap, uint64_t upto, ferry_error *err);

	/*
	 * Appends one line about what the capture holds on the source, for
	 * ferry status: SQLite "N changes wait in _ferry_changes"; PostgreSQL
	 * "replication slot S retains N bytes of WAL" (a slot nobody reads
	 * fills the source's disk).
	 */
	int (*describe)(ferry_capture *cap, ferry_buf *out, ferry_error *err);

	/*
	 * The write fence of a cutover (docs/cutover.md): once it returns,
	 * no write of the application to a captured table can commit; each
	 * fails with "ferry: table \"T\" is fenced: " + message.  Writes
	 * through a target connection marked with mark_origin pass (the
	 * reverse stream replays into a fenced database).  One transaction;
	 * again when fenced: nothing changes.  NULL: this reader cannot
	 * fence.
	 */
	int (*fence)(ferry_capture *cap, const char *message, ferry_error *err);

	/* Removes the fence, one report line per object (report may be
	 * NULL); without a fence it succeeds and changes nothing.  Works
	 * with or without the capture installed. */
	int (*unfence)(ferry_capture *cap, ferry_buf *report, ferry_error *err);

	/* *fenced = whether a fence is in place (on any captured table). */
	int (*fenced)(ferry_capture *cap, bool *fenced, ferry_error *err);

	/*
	 * For capture on a database whose tables ferry created (the target,
	 * captured for the reverse stream after a cutover): makes tables
	 * capturable where install would otherwise refuse and ask the user
	 * (PostgreSQL: REPLICA IDENTITY FULL on each), one report line per
	 * table changed (report may be NULL).  Never used on a user's own
	 * source.  NULL: nothing is needed.
	 */
	int (*make_capturable)(ferry_capture *cap, const ferry_schema *tables,
	                       ferry_buf *report, ferry_error *err);

	void (*close)(ferry_capture *cap); /* accepts NULL; ends a snapshot */
} ferry_capture_ops;

#endif
