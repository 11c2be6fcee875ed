/*
 * tests/pg_test.h - the admin connection the PostgreSQL unit tests read
 * back through, and its two query helpers.  Include after tests/tap.h;
 * the test opens `pg_admin` itself.
 */
#ifndef FERRY_PG_TEST_H
#define FERRY_PG_TEST_H

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>

#include "engine/error.h"

static PGconn *admin; /* reads back what the target wrote */

/* Runs SQL on the admin connection; 0, or -1 with a diagnostic. */
static int sqlf(const char *fmt, ...) FERRY_PRINTF(1, 2);
static int sqlf(const char *fmt, ...)
{
	char q[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	PGresult *res = PQexec(admin, q);
	ExecStatusType st = PQresultStatus(res);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0)
		tap_diag("sql failed: %s: %s", q, PQerrorMessage(admin));
	PQclear(res);
	return rc;
}

/* The first value of a query's first row: a static copy, "<null>" for
 * SQL NULL, "<none>" without rows, "<error>" on failure. */
static const char *val(const char *fmt, ...) FERRY_PRINTF(1, 2);
static const char *val(const char *fmt, ...)
{
	static char bufs[4][8192];
	static int next;
	char *out = bufs[next++ % 4], q[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	PGresult *res = PQexec(admin, q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		tap_diag("query failed: %s: %s", q, PQerrorMessage(admin));
		snprintf(out, 8192, "<error>");
	} else if (PQntuples(res) == 0) {
		snprintf(out, 8192, "<none>");
	} else if (PQgetisnull(res, 0, 0)) {
		snprintf(out, 8192, "<null>");
	} else {
		snprintf(out, 8192, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return out;
}

#endif
