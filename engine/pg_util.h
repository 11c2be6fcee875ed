/*
 * engine/pg_util.h - what every libpq user of ferry (engine/pg_target.c,
 * cdc/pg_source.c, cdc/pg_capture.c) needs alike.
 */
#ifndef FERRY_PG_UTIL_H
#define FERRY_PG_UTIL_H

#include <stdbool.h>
#include <string.h>

#include <libpq-fe.h>

#include "engine/buf.h"

/* Built-in type OIDs (pg_type.dat): fixed across PostgreSQL versions. */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_NAME = 19,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_JSON = 114,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
	OID_DATE = 1082,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_NUMERIC = 1700,
	OID_UUID = 2950,
	OID_JSONB = 3802
};

/* Sign words of binary NUMERIC (numeric.c; the infinities since PG 14). */
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF

/*
 * Masks secrets in a libpq message about conninfo.  libpq does not quote
 * passwords in its messages, but a malformed connection string can make
 * it quote any fragment: masks the password values libpq parsed and
 * every word of the connection string that the redacted form lacks
 * (what redaction removed is secret).  On memory failure msg is marked
 * failed, so the caller reports no memory rather than the message.
 */
void ferry_pg_mask_secrets(ferry_buf *msg, const char *conninfo,
                           const char *redacted);

/* Appends text on one line: line breaks, with the white space libpq
 * indents continuation lines with, become one space. */
void ferry_pg_put_one_line(ferry_buf *b, const char *text);

/* Appends PostgreSQL's error for res (libpq's for conn when res holds
 * none): the message, then its detail, hint and, if asked, context. */
void ferry_pg_put_error(ferry_buf *b, PGconn *conn, const PGresult *res,
                        bool context);

/*
 * Whether a libpq failure was the connection breaking (the server
 * restarted, the network cut, the backend killed) rather than the
 * statement failing.  Such failures are reported as FERRY_ECONNLOST,
 * which the online commands answer by reconnecting and going on from
 * their checkpoints; every other failure stops them.
 */
static inline bool ferry_pg_conn_lost(PGconn *conn, const PGresult *res)
{
	if (conn && PQstatus(conn) == CONNECTION_BAD)
		return true;
	/* class 08: connection exception; 57P01..57P03: the server shuts
	 * down or cannot accept connections yet */
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
	                        : NULL;
	return state && (strncmp(state, "08", 2) == 0 ||
	                 strncmp(state, "57P0", 4) == 0);
}

#endif
