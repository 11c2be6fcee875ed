/*
 * tests/cdc/test_pg_fence.c - the write fence of cdc/pg_capture.c
 * (docs/cutover.md) and make_capturable, against a real PostgreSQL
 * (conninfo in FERRY_TEST_PG).  Each run works in a database of its own:
 * a database holds one migration's capture.  The application is played
 * by a role that is not a superuser; ferry's own writes by a session
 * with a replication origin, as engine/pg_target.c's mark_origin sets.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdc/pg_capture.h"
#include "engine/uri.h"
#include "tests/tap.h"
#include "tests/pg_test.h"

static const ferry_capture_ops *ops = &ferry_pg_capture_ops;
static char db[64], app[64], id[64], fence[80];
/* FERRY_TEST_PG naming db.  Sessions idle in a transaction end after
 * 10 s: a lock the fence should have stopped waiting for is released
 * then, and the test fails instead of hanging. */
static char dbinfo[2048];
static char appinfo[2048]; /* the same as role app */

/* A message with everything a literal must survive. */
#define MESSAGE "cutting over: it's \\ \"quoted\" $$ and $x$ too"

/* base with key=value added, in base's form (URI or key=value pairs). */
static void info_with(char *out, size_t n, const char *base, const char *key,
                      const char *value)
{
	if (strstr(base, "://"))
		snprintf(out, n, "%s%s%s=%s", base, strchr(base, '?') ? "&" : "?",
		         key, value);
	else
		snprintf(out, n, "%s %s=%s", base, key, value);
}

static PGconn *connect_to(const char *info)
{
	PGconn *c = PQconnectdb(info);
	if (PQstatus(c) != CONNECTION_OK)
		tap_diag("connect: %s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static ferry_capture *open_capture(const char *info)
{
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture *cap = NULL;
	if (ferry_uri_parse(&uri, info, &err) == 0) {
		if (ops->open(&cap, &uri, &err) < 0)
			tap_diag("open: %s", ferry_error_message(&err));
		ferry_uri_free(&uri);
	}
	ferry_error_clear(&err);
	return cap;
}

/* Runs sql on c (a COPY FROM STDIN gets no rows): true when it
 * succeeded, else the error's primary message and SQLSTATE in msg and
 * state. */
static bool attempt(PGconn *c, const char *sql, char msg[512], char state[6])
{
	PGresult *res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_COPY_IN) {
		PQclear(res);
		PQputCopyEnd(c, NULL);
		res = PQgetResult(c);
		PQclear(PQgetResult(c));
	}
	ExecStatusType st = PQresultStatus(res);
	bool done = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(msg, 512, "%s", done ? "" : m ? m : PQerrorMessage(c));
	snprintf(state, 6, "%s", done || !s ? "" : s);
	PQclear(res);
	return done;
}

/* Whether sql on c is refused by the fence of `table`. */
static void refused(PGconn *c, const char *sql, const char *table)
{
	char msg[512], state[6], want[512];
	snprintf(want, sizeof want, "ferry: table \"%s\" is fenced: %s", table,
	         MESSAGE);
	if (!ok(!attempt(c, sql, msg, state), "fenced: %s fails", sql))
		return;
	is_str(msg, want, "  with the fence's message");
	is_str(state, "25006", "  as a read-only transaction's error");
}

static void succeeds(PGconn *c, const char *sql)
{
	char msg[512], state[6];
	bool done = attempt(c, sql, msg, state);
	if (!ok(done, "%s succeeds", sql))
		tap_diag("%s", msg);
}

static int count_fence_triggers(void)
{
	return atoi(val("SELECT count(*) FROM pg_trigger WHERE tgname LIKE "
	                "'ferry\\_fence\\_%%'"));
}

static int count_fence_functions(void)
{
	return atoi(val("SELECT count(*) FROM pg_proc WHERE proname LIKE "
	                "'ferry\\_fence\\_%%'"));
}

static bool is_fenced(ferry_capture *cap)
{
	ferry_error err = FERRY_ERROR_INIT;
	bool fenced = false;
	if (ops->fenced(cap, &fenced, &err) < 0)
		tap_diag("fenced: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return fenced;
}

/* ok() for an operation that must succeed, with its error if not. */
static void done(int rc, const ferry_error *err, const char *what)
{
	if (!ok(rc == 0, "%s", what))
		tap_diag("%d: %s", rc, ferry_error_message(err));
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- make_capturable --------------------------------------------------- */

static void check_make_capturable(ferry_capture *cap, const ferry_schema *s)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	done(ops->make_capturable(cap, s, &report, &err), &err,
	     "make_capturable");
	const char *r = ferry_buf_cstr(&report);
	is_str(val("SELECT string_agg(relname || '=' || relreplident::text, ' ' "
	           "ORDER BY relname) FROM pg_class WHERE relname IN ('a', "
	           "'b x', 'p', 'p1')"),
	       "a=f b x=f p=f p1=f",
	       "every table and the partition get REPLICA IDENTITY FULL");
	is_int(lines(r), 4, "one report line per table changed");
	ok(strstr(r, "set REPLICA IDENTITY FULL on table \"b x\" of ") &&
	   strstr(r, "set REPLICA IDENTITY FULL on table \"p1\" of "),
	   "naming each table");
	ferry_buf_reset(&report);
	done(ops->make_capturable(cap, s, &report, &err), &err, "again");
	is_int((int)report.len, 0, "  changes and reports nothing");
	char nope[] = "nope";
	ferry_table missing = {.name = nope};
	ferry_schema one = {&missing, 1};
	is_int(ops->make_capturable(cap, &one, &report, &err), FERRY_ENOTFOUND,
	       "a table that is not there is not found");
	ok(strstr(ferry_error_message(&err), "has no table \"nope\"") != NULL,
	   "  saying which (%s)", ferry_error_message(&err));
	ferry_buf_free(&report);
	ferry_error_clear(&err);
}

/* ---- fence, unfence, fenced ------------------------------------------ */

static void check_fence(ferry_capture *cap, PGconn *application)
{
	ferry_error err = FERRY_ERROR_INIT;
	ok(!is_fenced(cap), "not fenced before the fence");
	const char *before = val("SELECT string_agg(id || ':' || v, ',' ORDER BY "
	                         "id) FROM a");
	char rows[256];
	snprintf(rows, sizeof rows, "%s", before);
	done(ops->fence(cap, MESSAGE, &err), &err, "fence");
	ok(is_fenced(cap), "fenced");
	is_int(count_fence_triggers(), 4,
	       "a trigger on each table, the partitioned one and its partition");
	refused(application, "INSERT INTO a VALUES (3, 'three')", "a");
	refused(application, "UPDATE a SET v = 'changed'", "a");
	refused(application, "DELETE FROM a", "a");
	refused(application, "TRUNCATE a", "a");
	refused(application, "INSERT INTO \"b x\" VALUES (1)", "b x");
	refused(application, "INSERT INTO p VALUES (1)", "p");
	refused(application, "INSERT INTO p1 VALUES (2)", "p1");
	refused(application, "COPY a FROM STDIN", "a");
	is_str(val("SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM a"),
	       rows, "the refused writes changed nothing");
	is_str(val("SELECT count(*) FROM p"), "0", "  nor the partitions");
	/* a bulk load's way around triggers does not pass */
	sqlf("SET session_replication_role = replica");
	refused(admin, "INSERT INTO a VALUES (4, 'four')", "a");
	sqlf("RESET session_replication_role");

	/* ferry's writes: a session with a replication origin */
	PGconn *ferry = connect_to(dbinfo);
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT pg_replication_origin_create('ferry_%s') "
	         "WHERE pg_replication_origin_oid('ferry_%s') IS NULL", id, id);
	succeeds(ferry, sql);
	snprintf(sql, sizeof sql, "SELECT pg_replication_origin_session_setup("
	         "'ferry_%s')", id);
	succeeds(ferry, sql);
	succeeds(ferry, "INSERT INTO a VALUES (10, 'ten')");
	succeeds(ferry, "UPDATE a SET v = 'TEN' WHERE id = 10");
	succeeds(ferry, "DELETE FROM a WHERE id = 10");
	succeeds(ferry, "INSERT INTO p VALUES (5)");
	succeeds(ferry, "TRUNCATE p");

	/* again: nothing changes, so nothing waits for a writer either */
	const char *xmins = val("SELECT string_agg(xmin::text, ',' ORDER BY "
	                        "tgrelid) FROM pg_trigger WHERE tgname = '%s'",
	                        fence);
	char kept[256];
	snprintf(kept, sizeof kept, "%s", xmins);
	succeeds(ferry, "BEGIN");
	succeeds(ferry, "INSERT INTO \"b x\" VALUES (7)");
	setenv("FERRY_TEST_FENCE_LOCK_TIMEOUT", "100ms", 1);
	done(ops->fence(cap, MESSAGE, &err), &err,
	     "fence again, while a transaction holds a write");
	unsetenv("FERRY_TEST_FENCE_LOCK_TIMEOUT");
	succeeds(ferry, "ROLLBACK");
	ok(is_fenced(cap), "  still fenced");
	is_str(val("SELECT string_agg(xmin::text, ',' ORDER BY tgrelid) FROM "
	           "pg_trigger WHERE tgname = '%s'", fence),
	       kept, "  no trigger was made again");
	/* a trigger turned off by hand is turned on again */
	sqlf("ALTER TABLE a DISABLE TRIGGER %s", fence);
	succeeds(application, "INSERT INTO a VALUES (5, 'five')");
	sqlf("DELETE FROM a WHERE id = 5");
	done(ops->fence(cap, MESSAGE, &err), &err,
	     "fence a table whose trigger was disabled");
	refused(application, "INSERT INTO a VALUES (5, 'five')", "a");
	PQfinish(ferry);

	ferry_buf report = FERRY_BUF_INIT;
	done(ops->unfence(cap, &report, &err), &err, "unfence");
	const char *r = ferry_buf_cstr(&report);
	char want[256];
	snprintf(want, sizeof want, "dropped fence trigger %s on table \"b x\" "
	         "of ", fence);
	ok(strstr(r, want) != NULL, "  reports each trigger");
	snprintf(want, sizeof want, "dropped fence function %s() of ", fence);
	ok(strstr(r, want) != NULL, "  and the function");
	is_int(lines(r), 5, "  one line each");
	ok(!is_fenced(cap), "  not fenced");
	is_int(count_fence_triggers() + count_fence_functions(), 0,
	       "  no trigger and no function left");
	succeeds(application, "INSERT INTO a VALUES (3, 'three')");
	succeeds(application, "TRUNCATE p");
	sqlf("DELETE FROM a WHERE id = 3");
	ferry_buf_reset(&report);
	done(ops->unfence(cap, &report, &err), &err, "unfence when not fenced");
	is_int((int)report.len, 0, "  changes and reports nothing");
	ferry_buf_free(&report);
	ferry_error_clear(&err);
}

/* A transaction that holds a lock the fence needs makes it fail after
 * the lock timeout, naming the table and the session; nothing fenced. */
static void check_lock_timeout(ferry_capture *cap)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	char want[256];
	PGconn *writer = connect_to(appinfo);
	setenv("FERRY_TEST_FENCE_LOCK_TIMEOUT", "200ms", 1);
	succeeds(writer, "BEGIN");
	succeeds(writer, "INSERT INTO \"b x\" VALUES (1)");
	is_int(ops->fence(cap, MESSAGE, &err), FERRY_ERROR,
	       "fence fails while a transaction holds a write");
	const char *m = ferry_error_message(&err);
	snprintf(want, sizeof want, "could not fence table \"b x\" of PostgreSQL "
	         "database \"");
	ok(strstr(m, want) != NULL, "  naming the table (%s)", m);
	snprintf(want, sizeof want, "a transaction that writes to it did not end "
	         "within 200ms (pid %d, in a transaction for ",
	         PQbackendPID(writer));
	ok(strstr(m, want) != NULL, "  and the transaction");
	ok(strstr(m, "; nothing was fenced") != NULL, "  and what it left");
	ok(!is_fenced(cap), "  not fenced");
	is_int(count_fence_triggers() + count_fence_functions(), 0,
	       "  not even the tables before it");
	succeeds(writer, "ROLLBACK");

	/* a read holds off DROP TRIGGER: unfence fails too, still fenced */
	done(ops->fence(cap, MESSAGE, &err), &err, "fence");
	succeeds(writer, "BEGIN");
	succeeds(writer, "SELECT count(*) FROM a");
	is_int(ops->unfence(cap, &report, &err), FERRY_ERROR,
	       "unfence fails while a transaction reads a table");
	m = ferry_error_message(&err);
	snprintf(want, sizeof want, "could not unfence table \"a\" of "
	         "PostgreSQL database \"");
	ok(strstr(m, want) != NULL, "  naming the table (%s)", m);
	snprintf(want, sizeof want, "a transaction that uses it did not end "
	         "within 200ms (pid %d", PQbackendPID(writer));
	ok(strstr(m, want) != NULL, "  and the transaction");
	ok(strstr(m, "; the fence is still in place") != NULL,
	   "  and what it left");
	ok(is_fenced(cap), "  still fenced");
	is_int(count_fence_triggers(), 4, "  every trigger kept");
	is_int((int)report.len, 0, "  nothing reported");
	succeeds(writer, "ROLLBACK");
	unsetenv("FERRY_TEST_FENCE_LOCK_TIMEOUT");
	done(ops->unfence(cap, &report, &err), &err, "unfence once it ended");
	PQfinish(writer);
	ferry_buf_free(&report);
	ferry_error_clear(&err);
}

/* The fence's function runs as its owner; an owner that may not check
 * the session's origin is refused before anything is made. */
static void check_role_without_origins(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_capture *cap = open_capture(appinfo);
	if (!ok(cap != NULL, "open as a role that is not a superuser"))
		return;
	is_int(ops->fence(cap, MESSAGE, &err), FERRY_EUNSUPPORTED,
	       "fence refused");
	ok(strstr(ferry_error_message(&err), "may not call pg_replication_"
	          "origin_session_is_setup()") != NULL,
	   "  saying why (%s)", ferry_error_message(&err));
	is_int(count_fence_triggers() + count_fence_functions(), 0,
	       "  nothing made");
	ops->close(cap);
	ferry_error_clear(&err);
}

/* remove leaves a fence (a rolled-back target stays fenced); ferry
 * clean unfences, which works without the capture. */
static void check_remove(ferry_capture *cap)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_buf report = FERRY_BUF_INIT;
	done(ops->fence(cap, MESSAGE, &err), &err, "fence before clean");
	done(ops->remove(cap, &report, &err), &err, "remove");
	const char *r = ferry_buf_cstr(&report);
	ok(strstr(r, "dropped replication slot ") &&
	   strstr(r, "dropped publication "),
	   "  reports the slot and the publication");
	ok(is_fenced(cap) && count_fence_functions() == 1,
	   "  the fence stays without the capture");
	ferry_buf_reset(&report);
	done(ops->unfence(cap, &report, &err), &err, "unfence after remove");
	char want[256];
	snprintf(want, sizeof want, "dropped fence trigger %s on table \"a\" of ",
	         fence);
	ok(strstr(ferry_buf_cstr(&report), want) != NULL,
	   "  reports the fence trigger");
	is_int(count_fence_triggers() + count_fence_functions(), 0,
	       "  no trigger and no function left");
	ok(!is_fenced(cap), "  not fenced");
	ferry_buf_free(&report);
	ferry_error_clear(&err);
}

/* ---- main -------------------------------------------------------------- */

static void run_tests(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_schema s = FERRY_SCHEMA_INIT;
	ferry_capture *cap = open_capture(dbinfo);
	PGconn *application = connect_to(appinfo);
	if (!ok(cap && PQstatus(application) == CONNECTION_OK, "open")) {
		ops->close(cap);
		PQfinish(application);
		return;
	}
	int rc = ops->introspect(cap, &s, &err);
	is_int((int)s.ntables, 3, "three tables: a, b x and p");
	if (rc == 0)
		check_make_capturable(cap, &s);
	if (rc == 0)
		rc = ops->install(cap, &s, id, &err);
	done(rc, &err, "install capture");
	if (rc == 0) {
		check_fence(cap, application);
		check_lock_timeout(cap);
		check_role_without_origins();
		check_remove(cap);
	}
	ferry_schema_free(&s);
	ferry_error_clear(&err);
	ops->close(cap);
	PQfinish(application);
}

/* The database and the application's role; admin connected to it. */
static int setup(PGconn *server)
{
	admin = server;
	/* one statement each: CREATE DATABASE runs outside a transaction */
	if (sqlf("DROP DATABASE IF EXISTS %s", db) < 0 ||
	    sqlf("CREATE DATABASE %s", db) < 0 ||
	    sqlf("DROP ROLE IF EXISTS %s", app) < 0 ||
	    sqlf("CREATE ROLE %s LOGIN", app) < 0)
		return -1;
	admin = connect_to(dbinfo);
	if (PQstatus(admin) != CONNECTION_OK)
		return -1;
	return sqlf("CREATE TABLE a (id int PRIMARY KEY, v text); "
	            "INSERT INTO a VALUES (1, 'one'), (2, 'two'); "
	            "CREATE TABLE \"b x\" (id int PRIMARY KEY); "
	            "CREATE TABLE p (id int PRIMARY KEY) PARTITION BY RANGE (id); "
	            "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000); "
	            "GRANT ALL ON ALL TABLES IN SCHEMA public TO %s", app);
}

static void teardown(PGconn *server)
{
	if (admin != server)
		PQfinish(admin);
	admin = server;
	sqlf("SELECT pg_drop_replication_slot(slot_name) FROM "
	     "pg_replication_slots WHERE database = '%s'", db);
	sqlf("SELECT pg_replication_origin_drop(roname) FROM "
	     "pg_replication_origin WHERE roname = 'ferry_%s'", id);
	sqlf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	sqlf("DROP ROLE IF EXISTS %s", app);
	admin = NULL;
}

int main(void)
{
	const char *base = getenv("FERRY_TEST_PG");
	if (!base || !*base) {
		if (getenv("FERRY_TEST_REQUIRE_SERVERS")) {
			printf("Bail out! FERRY_TEST_PG not set\n");
			return 1;
		}
		printf("1..0 # SKIP FERRY_TEST_PG not set\n");
		return 0;
	}
	long pid = (long)getpid();
	snprintf(db, sizeof db, "ferry_fence_%ld", pid);
	snprintf(app, sizeof app, "ferry_fence_app_%ld", pid);
	snprintf(id, sizeof id, "fencetest%ld", pid);
	snprintf(fence, sizeof fence, "ferry_fence_%s", id);
	char named[2048];
	info_with(named, sizeof named, base, "dbname", db);
	info_with(dbinfo, sizeof dbinfo, named, "options",
	          strstr(base, "://")
	              ? "-cidle_in_transaction_session_timeout%3D10s"
	              : "'-cidle_in_transaction_session_timeout=10s'");
	info_with(appinfo, sizeof appinfo, dbinfo, "user", app);
	unsetenv("FERRY_TEST_FENCE_LOCK_TIMEOUT");
	PGconn *server = connect_to(base);
	if (PQstatus(server) != CONNECTION_OK) {
		printf("Bail out! cannot connect to FERRY_TEST_PG\n");
		PQfinish(server);
		return 1;
	}
	int rc = setup(server);
	if (rc == 0)
		run_tests();
	teardown(server);
	PQfinish(server);
	if (rc < 0) {
		printf("Bail out! could not set up database %s\n", db);
		return 1;
	}
	return tap_done();
}
