/*
 * engine/pg_conn_lost.h - whether a libpq failure was the connection
 * breaking (the server restarted, the network cut, the backend killed)
 * rather than the statement failing.  Such failures are reported as
 * FERRY_ECONNLOST, which the online commands answer by reconnecting and
 * going on from their checkpoints; every other failure stops them.
 */
#ifndef FERRY_PG_CONN_LOST_H
#define FERRY_PG_CONN_LOST_H

#include <stdbool.h>
#include <string.h>

#include <libpq-fe.h>

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
