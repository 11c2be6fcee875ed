/*
 * engine/value.h - the value every database's data is carried in.
 *
 * A tagged union (DESIGN.md, "Data model").  Variable-length payloads
 * (text, blob, json, numeric) are borrowed (pointer, length): whoever
 * builds a row says who owns the bytes and for how long.  A numeric is
 * carried as its decimal text ("-19.90", "NaN"), parsed by engine/decimal
 * only where arithmetic or comparison needs it, so copying rows never
 * allocates digit arrays.
 *
 * The enum values are the type tags of the change codec and the canonical
 * encoding: they are part of the journal format and never change meaning.
 */
#ifndef FERRY_VALUE_H
#define FERRY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

typedef enum ferry_type {
	FERRY_NULL = 0,
	FERRY_INT = 1,         /* int64 */
	FERRY_FLOAT = 2,       /* IEEE double, bit-exact (-0.0, NaN payloads) */
	FERRY_NUMERIC = 3,     /* exact decimal, as text */
	FERRY_TEXT = 4,        /* bytes as stored; not validated as UTF-8 */
	FERRY_BLOB = 5,
	FERRY_BOOL = 6,
	FERRY_DATE = 7,        /* days since 1970-01-01, proleptic Gregorian */
	FERRY_TIMESTAMP = 8,   /* microseconds since 1970-01-01 00:00, wall clock */
	FERRY_TIMESTAMPTZ = 9, /* microseconds since 1970-01-01 00:00 UTC */
	FERRY_JSON = 10,       /* JSON document text */
	FERRY_UUID = 11,       /* 16 bytes, network order */
	/* Not a value: the source did not send this column of an image, so
	 * its value is unknown (PostgreSQL REPLICA IDENTITY DEFAULT leaves
	 * out the non-key columns of old rows and large values an update
	 * did not change).  Never NULL, never a placeholder: only change
	 * images carry it, the plan passes it on where a target column
	 * depends on nothing else, and a writer leaves such a column as it
	 * is (docs/change-codec.md, docs/online-postgresql.md). */
	FERRY_ABSENT = 12
} ferry_type;

/* The largest tag of a real value; FERRY_ABSENT is above it. */
#define FERRY_TYPE_MAX FERRY_UUID

/* Dates and timestamps: PostgreSQL's 'infinity' and '-infinity'. */
#define FERRY_DATE_PINF INT32_MAX
#define FERRY_DATE_NINF INT32_MIN
#define FERRY_TS_PINF INT64_MAX
#define FERRY_TS_NINF INT64_MIN

typedef struct ferry_value {
	ferry_type type;
	union {
		int64_t i;      /* INT, TIMESTAMP, TIMESTAMPTZ */
		double f;       /* FLOAT */
		bool b;         /* BOOL */
		int32_t date;   /* DATE */
		uint8_t uuid[16];
		struct {
			const char *ptr;
			size_t len;
		} s;            /* NUMERIC, TEXT, BLOB, JSON (borrowed) */
	} u;
} ferry_value;

static inline ferry_value ferry_value_null(void)
{
	ferry_value v;
	v.type = FERRY_NULL;
	v.u.i = 0;
	return v;
}
static inline ferry_value ferry_value_absent(void)
{
	ferry_value v;
	v.type = FERRY_ABSENT;
	v.u.i = 0;
	return v;
}
static inline ferry_value ferry_value_int(int64_t i)
{
	ferry_value v;
	v.type = FERRY_INT;
	v.u.i = i;
	return v;
}
static inline ferry_value ferry_value_float(double f)
{
	ferry_value v;
	v.type = FERRY_FLOAT;
	v.u.f = f;
	return v;
}
static inline ferry_value ferry_value_bool(bool b)
{
	ferry_value v;
	v.type = FERRY_BOOL;
	v.u.i = 0;
	v.u.b = b;
	return v;
}
static inline ferry_value ferry_value_date(int32_t days)
{
	ferry_value v;
	v.type = FERRY_DATE;
	v.u.i = 0;
	v.u.date = days;
	return v;
}
static inline ferry_value ferry_value_timestamp(ferry_type t, int64_t micros)
{
	ferry_value v;
	v.type = t; /* FERRY_TIMESTAMP or FERRY_TIMESTAMPTZ */
	v.u.i = micros;
	return v;
}
/* t is FERRY_TEXT, FERRY_BLOB, FERRY_JSON or FERRY_NUMERIC; borrows ptr. */
static inline ferry_value ferry_value_bytes(ferry_type t, const void *ptr,
                                            size_t len)
{
	ferry_value v;
	v.type = t;
	v.u.s.ptr = (const char *)ptr;
	v.u.s.len = len;
	return v;
}
ferry_value ferry_value_uuid(const uint8_t bytes[16]);

/* "null", "int", "float", "numeric", "text", ..., "absent"; "?" for a bad
 * tag. */
const char *ferry_type_name(ferry_type t);

/* Whether t carries a borrowed (ptr, len) payload. */
static inline bool ferry_type_has_bytes(ferry_type t)
{
	return t == FERRY_NUMERIC || t == FERRY_TEXT || t == FERRY_BLOB ||
	       t == FERRY_JSON;
}

/*
 * Identity: same type and same payload, bit for bit (a float -0.0 is not
 * 0.0, "1.50" is not "1.5").  This is what a codec round trip preserves.
 */
bool ferry_value_identical(const ferry_value *a, const ferry_value *b);

/*
 * Appends the canonical encoding of v, the bytes verification hashes.
 * The same logical value encodes the same whatever database it came from
 * (docs/values.md has the rules): integers and numerics share one class,
 * compared by value (1999/100 == 19.99 == 19.990; int 5 == numeric 5.0);
 * -0.0 encodes as 0.0 and every NaN alike; text and blob by their bytes.
 * A numeric whose text is not a number: FERRY_ECORRUPT.
 */
int ferry_value_canonical(const ferry_value *v, ferry_buf *out,
                          ferry_error *err);

/*
 * Appends a readable form for logs, dumps and reject reports: text is
 * quoted with C-style escapes for control bytes, blobs as \x hex, floats
 * with the shortest round-tripping digits, dates as YYYY-MM-DD,
 * timestamps as ISO 8601 (with "Z" for timestamptz).  At most max_bytes
 * of a long payload are shown, followed by "...(N bytes)"; 0 = no limit.
 */
void ferry_value_format(const ferry_value *v, ferry_buf *out, size_t max_bytes);

/* A row image: values in the table's column order. */
typedef struct ferry_row {
	ferry_value *values; /* owned array */
	uint32_t ncols;
	uint32_t cap;
} ferry_row;

#define FERRY_ROW_INIT { NULL, 0, 0 }

/* Makes room for ncols values and sets ncols (new ones are NULL). */
int ferry_row_resize(ferry_row *row, uint32_t ncols, ferry_error *err);
/* Whether some value of row is FERRY_ABSENT (row may be NULL). */
bool ferry_row_has_absent(const ferry_row *row);
void ferry_row_free(ferry_row *row);

#endif
