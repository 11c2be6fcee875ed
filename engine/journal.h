/*
 * engine/journal.h - the durable, compressed change log
 * (docs/journal-format.md).
 *
 * One writer appends changes (group commit: many changes per frame, many
 * frames per LMDB transaction) together with the capture cursor; any
 * number of readers, in this or other processes, iterate from any LSN
 * with bounded memory.  Consumers keep named cursors; retention prunes
 * only what every consumer has passed and the rollback window allows.
 *
 * A handle is used by one thread at a time; its iterators may run in
 * other threads.  Only one handle (in any process) may write: a commit
 * finding that another handle committed since is refused.
 */
#ifndef FERRY_JOURNAL_H
#define FERRY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/change.h"
#include "engine/error.h"
#include "engine/schema.h"

typedef struct ferry_journal ferry_journal;
typedef struct ferry_journal_iter ferry_journal_iter;

typedef struct ferry_journal_options {
	bool no_sync;         /* unsafe: skip fsync on commit (MDB_NOSYNC) */
	int level;            /* zstd level; 0 = default (3) */
	bool dictionary;      /* train and use a dictionary */
	size_t frame_bytes;   /* uncompressed bytes per frame; 0 = 256 KiB */
	size_t map_bytes;     /* initial map size; 0 = 64 MiB; grows */
	bool read_only;       /* open an existing journal for reading only */
} ferry_journal_options;

/*
 * Opens the journal in dir (created 0700 with 0600 files unless
 * read_only).  opts may be NULL for the defaults.  A journal of a newer
 * format is refused (FERRY_EUNSUPPORTED), naming the path and the
 * versions.  Without opts->dictionary new frames use no dictionary; the
 * frames written with one stay readable either way.
 */
int ferry_journal_open(ferry_journal **out, const char *dir,
                       const ferry_journal_options *opts, ferry_error *err);

/* Closes; changes appended but not committed are discarded.  NULL ok. */
void ferry_journal_close(ferry_journal *j);

/*
 * Buffers one change and gives it the next LSN (*lsn may be NULL).
 * Nothing is durable until ferry_journal_commit.  The change is encoded
 * at once: the caller may reuse it after the call.
 */
int ferry_journal_append(ferry_journal *j, const ferry_change *c,
                         uint64_t *lsn, ferry_error *err);

/*
 * Writes every buffered change (as frames) and the capture cursor
 * (position: the source position of the last appended change; NULL
 * keeps the stored one) in one LMDB transaction, durable on return unless
 * no_sync.  On failure nothing of the batch is stored and the buffered
 * changes are dropped (their LSNs will be given again).  A commit with
 * no changes but a position stores just the position.
 */
int ferry_journal_commit(ferry_journal *j, const void *position,
                         size_t position_len, ferry_error *err);

/* The LSN of the last committed change (0 when empty). */
uint64_t ferry_journal_last_lsn(const ferry_journal *j);

/* The stored capture cursor; *len = 0 when none.  *pos is owned by the
 * caller (ferry_free). */
int ferry_journal_capture_cursor(ferry_journal *j, uint8_t **pos, size_t *len,
                                 ferry_error *err);

/*
 * Iterates committed changes from LSN from (1 = the start; 0 = the oldest
 * change still kept after pruning).  Each next returns 1 with *change
 * (owned by the iterator, valid until the next call) and *lsn, 0 at the
 * current end, or an error: FERRY_ECORRUPT for a corrupt frame, naming
 * the journal path and the frame's LSN range, after which every next
 * repeats it (a corrupt frame is never skipped); FERRY_ENOTFOUND when
 * the LSN wanted has been pruned.  Other errors (memory) may be retried.
 * Memory is bounded by one frame.  A later next sees changes committed
 * since (following a live journal).  Close iterators before the journal.
 */
int ferry_journal_iter_open(ferry_journal_iter **out, ferry_journal *j,
                            uint64_t from, ferry_error *err);
int ferry_journal_iter_next(ferry_journal_iter *it, const ferry_change **change,
                            uint64_t *lsn, ferry_error *err);
void ferry_journal_iter_close(ferry_journal_iter *it);

/* Named consumer cursors: the last LSN the consumer durably processed.
 * Names are 1 to 63 printable ASCII characters without spaces; an LSN
 * past the last committed change is refused (FERRY_EINVAL). */
int ferry_journal_cursor_set(ferry_journal *j, const char *name, uint64_t lsn,
                             ferry_error *err);
/* *lsn = 0 and FERRY_ENOTFOUND when the cursor does not exist. */
int ferry_journal_cursor_get(ferry_journal *j, const char *name, uint64_t *lsn,
                             ferry_error *err);

/*
 * Deletes frames whose last LSN is at or below every cursor and whose
 * newest commit time is older than now_us - window_us.  No cursor at all:
 * nothing is pruned.  *frames = frames deleted.  Only the oldest frames
 * go: pruning stops at the first frame that must stay, so the journal
 * stays contiguous.
 */
int ferry_journal_prune(ferry_journal *j, int64_t now_us, int64_t window_us,
                        uint64_t *frames, ferry_error *err);

/* Schema versions: stored once, read back by table name and version.
 * Storing the same version again is a no-op, with other columns
 * FERRY_EINVAL.  Stored: the columns' names, declared types, types,
 * not-null and key positions, and the table flags; get fills *out anew
 * (release with ferry_table_clear), FERRY_ENOTFOUND when absent. */
int ferry_journal_put_schema(ferry_journal *j, const ferry_table *t,
                             uint32_t version, ferry_error *err);
int ferry_journal_get_schema(ferry_journal *j, const char *table,
                             uint32_t version, ferry_table *out,
                             ferry_error *err);

typedef struct ferry_journal_cursor_stat {
	char name[64];
	uint64_t lsn;
	uint64_t behind;      /* changes between the cursor and the head */
} ferry_journal_cursor_stat;

typedef struct ferry_journal_stats {
	uint64_t frames;
	uint64_t changes;
	uint64_t first_lsn;   /* 0 when empty */
	uint64_t last_lsn;
	uint64_t raw_bytes;   /* uncompressed payload */
	uint64_t stored_bytes;/* frames as stored (headers included) */
	uint64_t disk_bytes;  /* data.mdb size */
	uint32_t dict_id;
	ferry_journal_cursor_stat cursors[16];
	unsigned ncursors;
} ferry_journal_stats;

int ferry_journal_stat(ferry_journal *j, ferry_journal_stats *out,
                       ferry_error *err);

#endif
