/*
 * cdc/pgoutput.h - PostgreSQL's logical replication stream, decoded.
 *
 * What a walsender sends after START_REPLICATION SLOT s LOGICAL ...
 * (plugin pgoutput, proto_version '1'), layer by layer:
 *
 * - the CopyData payloads of the streaming replication protocol:
 *   XLogData ('w') carrying one pgoutput message, and primary keepalives
 *   ('k'); in the other direction the standby status update ('r') that
 *   reports how far ferry has written, flushed and applied;
 * - the pgoutput messages themselves: Begin, Commit, Origin, Relation,
 *   Type, Insert, Update, Delete, Truncate and Message, with their tuple
 *   data;
 * - a relation cache: pgoutput describes a table once (Relation) and then
 *   names it by OID only, so the description has to outlive the buffer
 *   it arrived in.
 *
 * The input is untrusted: every length and count is checked against the
 * bytes that are left before it is used, strings must end inside the
 * message, and a message must use up its buffer exactly.  Failures are
 * FERRY_ECORRUPT naming the byte offset and what was wrong; nothing reads
 * outside the given bytes and no allocation is sized by a count the bytes
 * cannot back.  Decoding is zero-copy: strings and values point into the
 * input ("borrowed"), and only the relation cache copies.
 *
 * Byte layouts, ownership and errors are written down in docs/pgoutput.md;
 * the source of truth is PostgreSQL's "Streaming Replication Protocol"
 * and "Logical Replication Message Formats" (protocol.sgml).
 * The module speaks no libpq: the connection (cdc/pg_capture.c) moves
 * the bytes, this file gives them meaning.
 */
#ifndef FERRY_CDC_PGOUTPUT_H
#define FERRY_CDC_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

/* ---- time ------------------------------------------------------------ */

/* PostgreSQL counts microseconds from 2000-01-01, Unix from 1970-01-01. */
#define FERRY_PG_EPOCH_UNIX_USECS INT64_C(946684800000000)

/*
 * Converts a PostgreSQL TimestampTz (µs since 2000-01-01 UTC) to µs since
 * 1970-01-01 UTC and back.  INT64_MIN and INT64_MAX (PostgreSQL's
 * -infinity and infinity, and ferry's FERRY_TS_NINF/PINF) map to
 * themselves; finite values that would overflow clamp to the nearest
 * finite value rather than wrap.
 */
int64_t ferry_pgoutput_time_to_unix(int64_t pg_usecs);
int64_t ferry_pgoutput_time_from_unix(int64_t unix_usecs);

/* ---- the streaming replication layer (CopyData payloads) -------------- */

typedef enum ferry_pgoutput_frame_kind {
	FERRY_PGOUTPUT_XLOGDATA = 'w',  /* WAL data: one pgoutput message */
	FERRY_PGOUTPUT_KEEPALIVE = 'k'  /* primary keepalive */
} ferry_pgoutput_frame_kind;

/* One CopyData payload from the server. */
typedef struct ferry_pgoutput_frame {
	ferry_pgoutput_frame_kind kind;
	uint64_t wal_start;   /* 'w': WAL position of the data (0 for 'k') */
	uint64_t wal_end;     /* the server's current end of WAL */
	int64_t send_time;    /* server clock, µs since 2000-01-01 */
	bool reply_requested; /* 'k': answer with a status update now */
	const uint8_t *data;  /* 'w': the pgoutput message, borrowed; else NULL */
	size_t len;           /* 'w': its length, at least 1; else 0 */
} ferry_pgoutput_frame;

/* Header sizes, kind byte included. */
#define FERRY_PGOUTPUT_XLOGDATA_HDR 25
#define FERRY_PGOUTPUT_KEEPALIVE_LEN 18
#define FERRY_PGOUTPUT_STATUS_LEN 34

/*
 * Decodes one CopyData payload (data, len: the bytes after CopyData's own
 * 'd' and length).  For XLogData, out->data points into data: it is valid
 * as long as data is.  A payload that is too short, too long (a keepalive
 * with trailing bytes), an XLogData without a message, or of an unknown
 * kind is FERRY_ECORRUPT; out is left unspecified then.
 */
int ferry_pgoutput_frame_decode(ferry_pgoutput_frame *out, const uint8_t *data,
                                size_t len, ferry_error *err);

/*
 * Appends the payload of f ('w' with its data, or 'k') to out, as the
 * server would send it.  For tests and fake servers; the real client
 * never sends these.  Check ferry_buf_failed(out) afterwards.
 */
void ferry_pgoutput_frame_encode(const ferry_pgoutput_frame *f, ferry_buf *out);

/* What ferry reports to the server ('r', standby status update). */
typedef struct ferry_pgoutput_status {
	uint64_t write_lsn;   /* received up to here (+1: the next byte wanted) */
	uint64_t flush_lsn;   /* durable in ferry's journal up to here: the
	                       * server may recycle WAL and move the slot */
	uint64_t apply_lsn;   /* applied to the target up to here */
	int64_t client_time;  /* ferry's clock, µs since 2000-01-01 */
	bool reply_requested; /* ask the server to answer at once */
} ferry_pgoutput_status;

/* Writes the 34-byte 'r' payload for st into out.  Cannot fail. */
void ferry_pgoutput_status_encode(uint8_t out[FERRY_PGOUTPUT_STATUS_LEN],
                                  const ferry_pgoutput_status *st);

/* ---- pgoutput messages (proto_version 1) ----------------------------- */

typedef enum ferry_pgoutput_type {
	FERRY_PGOUTPUT_BEGIN = 'B',
	FERRY_PGOUTPUT_COMMIT = 'C',
	FERRY_PGOUTPUT_ORIGIN = 'O',
	FERRY_PGOUTPUT_RELATION = 'R',
	FERRY_PGOUTPUT_TYPE = 'Y',
	FERRY_PGOUTPUT_INSERT = 'I',
	FERRY_PGOUTPUT_UPDATE = 'U',
	FERRY_PGOUTPUT_DELETE = 'D',
	FERRY_PGOUTPUT_TRUNCATE = 'T',
	FERRY_PGOUTPUT_MESSAGE = 'M'
} ferry_pgoutput_type;

/* "begin", "commit", ... for the types above; "unknown" otherwise. */
const char *ferry_pgoutput_type_name(int type);

/* Relation column flag: the column is part of the replica identity. */
#define FERRY_PGOUTPUT_COL_KEY 0x01
/* Truncate options. */
#define FERRY_PGOUTPUT_TRUNCATE_CASCADE 0x01
#define FERRY_PGOUTPUT_TRUNCATE_RESTART_IDENTITY 0x02
/* Message flag: the logical decoding message is transactional. */
#define FERRY_PGOUTPUT_MESSAGE_TRANSACTIONAL 0x01

/* Replica identity (pg_class.relreplident). */
#define FERRY_PGOUTPUT_IDENT_DEFAULT 'd' /* primary key, if any */
#define FERRY_PGOUTPUT_IDENT_NOTHING 'n'
#define FERRY_PGOUTPUT_IDENT_FULL 'f'    /* the whole old row */
#define FERRY_PGOUTPUT_IDENT_INDEX 'i'   /* a chosen unique index */

typedef struct ferry_pgoutput_column {
	uint8_t flags;        /* FERRY_PGOUTPUT_COL_KEY or 0 */
	const char *name;
	uint32_t type_oid;
	int32_t typmod;       /* atttypmod: -1 when the type has none */
} ferry_pgoutput_column;

/* A Relation message, and also what the relation cache keeps. */
typedef struct ferry_pgoutput_relation {
	uint32_t oid;
	const char *nspname;  /* "" for pg_catalog */
	const char *relname;
	char replident;       /* FERRY_PGOUTPUT_IDENT_* */
	uint32_t ncols;       /* live, published columns only */
	const ferry_pgoutput_column *cols;
} ferry_pgoutput_relation;

/* Tuple data: one value per column of the relation, in its order. */
typedef enum ferry_pgoutput_value_kind {
	FERRY_PGOUTPUT_NULL = 'n',
	FERRY_PGOUTPUT_UNCHANGED = 'u', /* TOASTed and unchanged: not sent */
	FERRY_PGOUTPUT_TEXT = 't',      /* the type's text output */
	FERRY_PGOUTPUT_BINARY = 'b'     /* the type's send format */
} ferry_pgoutput_value_kind;

typedef struct ferry_pgoutput_value {
	ferry_pgoutput_value_kind kind;
	uint32_t len;         /* 't', 'b': bytes at data; else 0 */
	const uint8_t *data;  /* 't', 'b': borrowed, not NUL-terminated;
	                       * a text value never contains NUL */
} ferry_pgoutput_value;

typedef struct ferry_pgoutput_tuple {
	uint32_t ncols;
	const ferry_pgoutput_value *values;
} ferry_pgoutput_tuple;

typedef struct ferry_pgoutput_begin {
	uint64_t final_lsn;   /* LSN of the commit record */
	int64_t commit_time;  /* µs since 2000-01-01 */
	uint32_t xid;
} ferry_pgoutput_begin;

typedef struct ferry_pgoutput_commit {
	uint8_t flags;        /* always 0 */
	uint64_t commit_lsn;  /* LSN of the commit record */
	uint64_t end_lsn;     /* end of the transaction: resume from here */
	int64_t commit_time;  /* µs since 2000-01-01 */
} ferry_pgoutput_commit;

typedef struct ferry_pgoutput_origin {
	uint64_t commit_lsn;  /* LSN of the commit on the origin server */
	const char *name;
} ferry_pgoutput_origin;

typedef struct ferry_pgoutput_datatype {
	uint32_t oid;
	const char *nspname;  /* "" for pg_catalog */
	const char *name;
} ferry_pgoutput_datatype;

/* Insert, Update and Delete. */
typedef struct ferry_pgoutput_change {
	uint32_t relid;
	char old_kind;        /* 'K' (replica identity columns, the others
	                       * null), 'O' (whole old row), 0 when absent */
	const ferry_pgoutput_tuple *old_tuple; /* NULL when old_kind is 0 */
	const ferry_pgoutput_tuple *new_tuple; /* NULL for a delete */
} ferry_pgoutput_change;

typedef struct ferry_pgoutput_truncate {
	uint8_t options;      /* FERRY_PGOUTPUT_TRUNCATE_* bits */
	uint32_t nrelids;
	const uint32_t *relids;
} ferry_pgoutput_truncate;

typedef struct ferry_pgoutput_logical_message {
	uint8_t flags;        /* FERRY_PGOUTPUT_MESSAGE_TRANSACTIONAL or 0 */
	uint64_t lsn;
	const char *prefix;
	uint32_t len;
	const uint8_t *content; /* borrowed, len bytes */
} ferry_pgoutput_logical_message;

/*
 * One decoded pgoutput message.  `type` says which member of u is set.
 * The arrays behind relation.cols, the tuples and truncate.relids belong
 * to the ferry_pgoutput_msg and are reused by the next decode into it;
 * every string and value points into the decoded bytes.  Zero it with
 * FERRY_PGOUTPUT_MSG_INIT; release it with ferry_pgoutput_msg_free().
 */
typedef struct ferry_pgoutput_msg {
	ferry_pgoutput_type type;
	union {
		ferry_pgoutput_begin begin;
		ferry_pgoutput_commit commit;
		ferry_pgoutput_origin origin;
		ferry_pgoutput_relation relation;
		ferry_pgoutput_datatype datatype;
		ferry_pgoutput_change change;     /* insert, update, delete */
		ferry_pgoutput_truncate truncate;
		ferry_pgoutput_logical_message message;
	} u;
	/* reusable storage (private) */
	ferry_pgoutput_tuple old_, new_;
	ferry_pgoutput_value *old_vals_, *new_vals_;
	size_t old_cap_, new_cap_;
	ferry_pgoutput_column *cols_;
	size_t cols_cap_;
	uint32_t *relids_;
	size_t relids_cap_;
} ferry_pgoutput_msg;

#define FERRY_PGOUTPUT_MSG_INIT {0}

/*
 * Decodes one pgoutput message (the data of one XLogData, or one row of
 * pg_logical_slot_get_binary_changes) into m.  The message must fill
 * [data, data + len) exactly.  On success the fields of m->u for m->type
 * are set; strings and values borrow from data (valid while data is and
 * until m is decoded into again).
 * Errors: FERRY_ECORRUPT for malformed bytes, with the byte offset from
 * the start of the message and what was wrong; FERRY_EUNSUPPORTED for
 * messages proto_version 1 never carries (streamed transactions 'S' 'E'
 * 'c' 'A', two-phase 'b' 'P' 'K' 'r' 'p'), naming the byte;
 * FERRY_ENOMEM.  After an error m->type is unspecified.
 */
int ferry_pgoutput_decode(ferry_pgoutput_msg *m, const uint8_t *data,
                          size_t len, ferry_error *err);

/*
 * Appends the bytes of m (a message set up as decode would leave it) to
 * out.  decode(encode(m)) == m, and for decoded input encode reproduces
 * the bytes exactly.  For tests, seeds and fake servers.  Check
 * ferry_buf_failed(out) afterwards.
 */
void ferry_pgoutput_encode(const ferry_pgoutput_msg *m, ferry_buf *out);

/* Releases m's reusable storage.  Accepts NULL; m may be decoded into
 * again afterwards. */
void ferry_pgoutput_msg_free(ferry_pgoutput_msg *m);

/* ---- relation cache --------------------------------------------------- */

/* OID -> deep copy of the last Relation message for it.  Opaque. */
typedef struct ferry_pgoutput_relcache ferry_pgoutput_relcache;

int ferry_pgoutput_relcache_open(ferry_pgoutput_relcache **out,
                                 ferry_error *err);
/* Frees the cache and every relation in it.  Accepts NULL. */
void ferry_pgoutput_relcache_close(ferry_pgoutput_relcache *c);

/*
 * Stores a deep copy of rel (typically &msg.u.relation), replacing any
 * earlier relation with the same OID: pgoutput sends a new Relation
 * message whenever the table's shape changes.  On failure (FERRY_ENOMEM)
 * the cache is as it was.  Replacing invalidates pointers that get()
 * returned for that OID.
 */
int ferry_pgoutput_relcache_put(ferry_pgoutput_relcache *c,
                                const ferry_pgoutput_relation *rel,
                                ferry_error *err);

/* The cached relation for oid, or NULL.  Owned by the cache: valid until
 * the next put for the same OID or close. */
const ferry_pgoutput_relation *
ferry_pgoutput_relcache_get(const ferry_pgoutput_relcache *c, uint32_t oid);

/* How many relations the cache holds. */
size_t ferry_pgoutput_relcache_count(const ferry_pgoutput_relcache *c);

/*
 * Checks a decoded Insert, Update, Delete or Truncate against the cache:
 * every relation it names must be cached (pgoutput always describes a
 * relation before its first change), each tuple must have exactly the
 * relation's column count, and an unchanged-TOAST value ('u') may only
 * appear in the new tuple of an update (PostgreSQL flattens TOAST in
 * old tuples and sends inserted values whole).  For I/U/D, *rel_out (if
 * not NULL) is set to the relation.  Other message types pass.
 * Errors: FERRY_ECORRUPT naming the relation and column counts.
 */
int ferry_pgoutput_relcache_check(const ferry_pgoutput_relcache *c,
                                  const ferry_pgoutput_msg *m,
                                  const ferry_pgoutput_relation **rel_out,
                                  ferry_error *err);

#endif
