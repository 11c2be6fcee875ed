/*
 * engine/change.h - one source change and its compact binary codec.
 *
 * A change is what every reader produces and every writer consumes
 * (DESIGN.md, "Data model"): op, table, schema version, source
 * transaction id and commit time, source position, before- and
 * after-images.  The codec is the record encoding of the journal; its
 * byte layout is written down in docs/change-codec.md and versioned by
 * the journal's format version.
 */
#ifndef FERRY_CHANGE_H
#define FERRY_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/value.h"

typedef enum ferry_op {
	FERRY_OP_INSERT = 1,
	FERRY_OP_UPDATE = 2,
	FERRY_OP_DELETE = 3,
	FERRY_OP_TRUNCATE = 4,
	FERRY_OP_DDL = 5 /* after-image holds one text value: the statement */
} ferry_op;

#define FERRY_OP_MAX FERRY_OP_DDL

/* Limits the decoder enforces; generous next to every source's own. */
#define FERRY_CHANGE_MAX_NAME 65535
#define FERRY_CHANGE_MAX_POSITION 4096
#define FERRY_CHANGE_MAX_COLUMNS 65535

typedef struct ferry_change {
	ferry_op op;
	bool has_before;      /* before-image present (update, delete) */
	bool has_after;       /* after-image present (insert, update, ddl) */
	const char *table;    /* NUL-terminated; see ownership below */
	uint32_t schema_version;
	uint64_t txid;        /* source transaction id */
	int64_t commit_time;  /* microseconds since 1970-01-01 UTC */
	const uint8_t *position; /* opaque source position; borrowed */
	size_t position_len;
	ferry_row before;
	ferry_row after;
	/* decoder's own copy of the table name (private) */
	char *table_buf_;
	size_t table_cap_;
} ferry_change;

#define FERRY_CHANGE_INIT                                                    \
	{ FERRY_OP_INSERT, false, false, NULL, 0, 0, 0, NULL, 0,                 \
	  FERRY_ROW_INIT, FERRY_ROW_INIT, NULL, 0 }

/* "insert", "update", "delete", "truncate", "ddl"; "?" otherwise. */
const char *ferry_op_name(ferry_op op);

/*
 * Appends the encoding of c to out.  A change whose images contradict its
 * op (an insert without an after-image, a delete without a before-image,
 * an update without an after-image) or exceeds the limits is refused with
 * FERRY_EINVAL, so nothing undecodable is ever written.
 */
int ferry_change_encode(const ferry_change *c, ferry_buf *out,
                        ferry_error *err);

/*
 * Decodes one record from the front of data into c, reusing c's arrays;
 * *consumed says how many bytes it took (records are self-delimiting, so
 * a frame is simply records back to back).  After success, c->table
 * points at c's own copy, and position and every text, blob, json and
 * numeric payload point into data: they stay valid while data does and
 * c is not decoded into again.  Truncated or malformed input returns
 * FERRY_ECORRUPT with the byte offset and what was wrong; it never reads
 * outside [data, data + len).
 */
int ferry_change_decode(ferry_change *c, const uint8_t *data, size_t len,
                        size_t *consumed, ferry_error *err);

/* Releases what c owns (image arrays, table copy).  Accepts NULL. */
void ferry_change_free(ferry_change *c);

#endif
