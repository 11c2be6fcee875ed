/*
 * cdc/pg_source.c - reads a PostgreSQL database: the tables of the
 * connection's current schema as the schema model (engine/schema.h) and
 * their rows, each value in its exact type (engine/source.h).
 *
 * A connection reads in one REPEATABLE READ READ ONLY transaction, begun
 * at open (or imported from an exported snapshot, or at first use after
 * ferry_pg_source_release), so introspect and every scan on it see one
 * snapshot.  Each operation runs under a savepoint: a scan closed before
 * its end is cancelled and rolled back to it, and the transaction, with
 * its snapshot, goes on.  Introspection is one catalog query per kind of
 * object for the whole schema, not one per table, so a schema of
 * thousands of tables costs a handful of round trips.
 *
 * Rows come through COPY (SELECT ...) TO STDOUT in binary format and are
 * decoded here, straight from libpq's message into the row: no text is
 * parsed for the common types.  Types the decoder does not know are
 * selected as their text output, which the binary format then carries
 * as plain bytes.  COPY takes no parameters, so a chunk of a resumable
 * copy (scan_open_after) is a SELECT with the key bound as parameters,
 * read with binary results in single-row mode.
 *
 * Every length in the binary data is checked against the bytes that
 * hold it: bad data is FERRY_ECORRUPT, never a read out of bounds.
 * docs/postgresql-source.md has the type map and the rules below.
 */
#include "cdc/pg_source.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pg_util.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/datetime.h"

/* Identity columns, partitioned parents and attgenerated are all there
 * from 12; older servers are refused rather than half read. */
#define MIN_SERVER_VERSION 120000

/* ferry counts from 1970-01-01, PostgreSQL's binary format from 2000-01-01. */
#define PG_EPOCH_DAYS INT64_C(10957)
#define PG_EPOCH_USECS (PG_EPOCH_DAYS * FERRY_USECS_PER_DAY)

/* PostgreSQL's largest numeric precision in a type modifier. */
#define PG_NUMERIC_MAX 1000


/* How a column's binary field is decoded. */
typedef enum dec_kind {
	DEC_TEXT = 0, /* text, varchar, char, name, and any type read as text */
	DEC_INT2,
	DEC_INT4,
	DEC_INT8,
	DEC_FLOAT4,
	DEC_FLOAT8,
	DEC_NUMERIC,
	DEC_BLOB,
	DEC_BOOL,
	DEC_DATE,
	DEC_TIMESTAMP,
	DEC_TIMESTAMPTZ,
	DEC_JSON,
	DEC_JSONB,
	DEC_UUID
} dec_kind;

/* How a column is selected. */
typedef enum sel_kind {
	SEL_PLAIN = 0, /* as it is: the decoder reads its binary form */
	SEL_CAST,      /* ::text, which is the type's output function */
	SEL_FORMAT     /* format('%s', c): the output function, for the few
	                  types whose ::text is a function that prints
	                  something else (inet's adds "/32") */
} sel_kind;

typedef struct scan_col {
	char *name;     /* for messages */
	dec_kind kind;
	sel_kind sel;
	ferry_buf text; /* a numeric's decimal text, for the current row */
} scan_col;

typedef enum scan_mode {
	MODE_COPY,  /* COPY TO STDOUT, binary: one message per row */
	MODE_ROWS,  /* a parameterised SELECT in single-row mode */
	MODE_CHUNK  /* a finished SELECT's rows, held in memory */
} scan_mode;

struct ferry_scan {
	ferry_source *src; /* whose connection the scan reads; NULL when it
	                      reads none (a chunk, a decode) or the source
	                      closed first */
	char *table;       /* for messages */
	char *schema;      /* the table's: a bare name could find another */
	scan_col *cols;
	uint32_t ncols;
	scan_mode mode;
	bool active;       /* the statement's results are still coming */
	bool savepoint;    /* the savepoint ferry_op guards the scan */
	bool failed;       /* the statement failed: roll back to the savepoint */
	bool header;       /* COPY: the file header has been read */
	bool trailer;      /* COPY: the end-of-data marker has been read */
	char *msg;         /* COPY: the current row's message, libpq's */
	PGresult *res;     /* rows: the current row; chunk: every row */
	int next;          /* chunk: the next row of res */
	int64_t rows;
};

struct ferry_source {
	PGconn *conn;
	char *name;            /* the redacted URI, for messages */
	bool own_conn;         /* close finishes conn (not attach's) */
	bool in_txn;           /* a transaction, the snapshot, is held */
	bool own_txn;          /* ... and it is ours to end */
	bool release_pending;  /* the last operation's savepoint still stands */
	ferry_scan *scan;      /* the scan reading the connection */
};

static void scan_stop(ferry_scan *scan);
static void scan_close(ferry_scan *scan);

/* ---- messages ------------------------------------------------------ */

static int fail_pg(ferry_error *err, PGconn *conn, const PGresult *res,
                   const char *fmt, ...) FERRY_PRINTF(4, 5);

/* Sets err to "<what>: <PostgreSQL's error>"; returns FERRY_ERROR, or
 * FERRY_ECONNLOST when the connection broke. */
static int fail_pg(ferry_error *err, PGconn *conn, const PGresult *res,
                   const char *fmt, ...)
{
	ferry_buf b = FERRY_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ferry_buf_puts(&b, ": ");
	ferry_pg_put_error(&b, conn, res, false);
	const char *msg = ferry_buf_cstr(&b);
	int code = ferry_pg_conn_lost(conn, res) ? FERRY_ECONNLOST : FERRY_ERROR;
	int rc = msg ? ferry_error_set(err, code, "%s", msg)
	             : ferry_error_oom(err);
	ferry_buf_free(&b);
	return rc;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* never printed: ferry's output is its own */
}

/* ---- running statements -------------------------------------------- */

static int exec_cmd(ferry_source *src, const char *sql, ferry_error *err,
                    const char *fmt, ...) FERRY_PRINTF(4, 5);

/* Runs statements that return no rows; a failure reads "<what>: <cause>". */
static int exec_cmd(ferry_source *src, const char *sql, ferry_error *err,
                    const char *fmt, ...)
{
	PGresult *res = PQexec(src->conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ferry_buf what = FERRY_BUF_INIT;
		va_list ap;
		va_start(ap, fmt);
		ferry_buf_vprintf(&what, fmt, ap);
		va_end(ap);
		const char *w = ferry_buf_cstr(&what);
		rc = w ? fail_pg(err, src->conn, res, "%s", w)
		       : ferry_error_oom(err);
		ferry_buf_free(&what);
	}
	PQclear(res);
	return rc;
}

/* Runs a query with text parameters; *out is a PGRES_TUPLES_OK result
 * for the caller to PQclear.  A failure reads "could not <what> \"<the
 * source>\": <cause>". */
static int query(ferry_source *src, const char *what, const char *sql,
                 int nparams, const char *const *params, PGresult **out,
                 ferry_error *err)
{
	PGresult *res = nparams ? PQexecParams(src->conn, sql, nparams, NULL,
	                                       params, NULL, NULL, 0)
	                        : PQexec(src->conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*out = res;
		return 0;
	}
	*out = NULL;
	int rc = fail_pg(err, src->conn, res, "could not %s \"%s\"", what,
	                 src->name);
	PQclear(res);
	return rc;
}

/* Takes every pending result, reading and dropping the rest of a COPY
 * out, until the connection is idle or broken. */
static void drain(PGconn *conn)
{
	PGresult *res;
	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_COPY_OUT) {
			char *buf;
			int n;
			while ((n = PQgetCopyData(conn, &buf, 0)) > 0)
				PQfreemem(buf);
			if (n == -2 && PQstatus(conn) == CONNECTION_BAD)
				break;
		} else if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
			break; /* never ours; endless otherwise */
		}
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
	}
}

/* Asks the server to stop the statement running on conn.  The cancel
 * request is delivered before PQcancel returns, so it cannot land on
 * a later statement; failing to send it only means reading the rest. */
static void cancel(PGconn *conn)
{
	PGcancel *c = PQgetCancel(conn);
	char buf[256];
	if (c) {
		PQcancel(c, buf, (int)sizeof buf);
		PQfreeCancel(c);
	}
}

/* ---- connections --------------------------------------------------- */

static int connect_failed(ferry_source *src, const char *conninfo,
                          ferry_error *err)
{
	ferry_buf cause = FERRY_BUF_INIT;
	ferry_pg_put_one_line(&cause, PQerrorMessage(src->conn));
	ferry_pg_mask_secrets(&cause, conninfo, src->name);
	const char *c = ferry_buf_cstr(&cause);
	int rc = c ? ferry_error_set(err, FERRY_ERROR,
	                             "could not connect to \"%s\": %s",
	                             src->name, c)
	           : ferry_error_oom(err);
	ferry_buf_free(&cause);
	return rc;
}

/*
 * What the decoder and the scans rely on: UTF-8 text; the text output
 * of the types read as text fixed whatever the server's defaults (ISO
 * dates, postgres intervals, shortest exact floats, hex bytea, and
 * timestamptz inside arrays and ranges in UTC); row security off, so a
 * policy that would hide rows fails the scan instead of copying a part
 * of the table silently; no timeout that a long copy or an idle
 * snapshot would trip (pg_dump's choices).  default_transaction_read_only
 * keeps any statement from writing, ours included.
 */
static const char session_sql[] =
    "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; "
    "SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'; "
    "SET row_security = off; SET default_transaction_read_only = on; "
    "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0";

static int check_server(ferry_source *src, ferry_error *err)
{
	int v = PQserverVersion(src->conn);
	if (v >= MIN_SERVER_VERSION)
		return 0;
	return ferry_error_set(err, FERRY_EUNSUPPORTED,
	                       "could not read \"%s\": PostgreSQL %d.%d is not "
	                       "supported (ferry reads 12 or later)",
	                       src->name, v / 10000, v / 100 % 100);
}

/* Begins the transaction every read of the source shares, reading
 * under snapshot when one is given. */
static int begin_txn(ferry_source *src, const char *snapshot,
                     ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (snapshot) {
		char *lit = PQescapeLiteral(src->conn, snapshot, strlen(snapshot));
		if (!lit) {
			ferry_buf_free(&sql);
			return fail_pg(err, src->conn, NULL, "could not import "
			               "snapshot on \"%s\"", src->name);
		}
		ferry_buf_puts(&sql, "; SET TRANSACTION SNAPSHOT ");
		ferry_buf_puts(&sql, lit);
		PQfreemem(lit);
	}
	const char *text = ferry_buf_cstr(&sql);
	int rc = !text ? ferry_error_oom(err)
	         : snapshot ? exec_cmd(src, text, err, "could not import "
	                               "snapshot \"%s\" on \"%s\"", snapshot,
	                               src->name)
	                    : exec_cmd(src, text, err, "could not begin a "
	                               "snapshot on \"%s\"", src->name);
	ferry_buf_free(&sql);
	if (rc == 0) {
		src->in_txn = src->own_txn = true;
		src->release_pending = false;
	} else if (PQtransactionStatus(src->conn) != PQTRANS_IDLE) {
		PQclear(PQexec(src->conn, "ROLLBACK")); /* BEGIN took, SET did not */
	}
	return rc;
}

/* The transaction for a read: the held one, or a new one (first use). */
static int need_txn(ferry_source *src, const char *what, ferry_error *err)
{
	if (src->scan)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not %s on \"%s\": the scan of "
		                       "table \"%s\" is still open", what,
		                       src->name, src->scan->table);
	return src->in_txn ? 0 : begin_txn(src, NULL, err);
}

/*
 * Starts an operation under the savepoint ferry_op, in one round trip
 * with the release of the previous one's: a statement that fails
 * (a cancelled scan above all) aborts only back to it, and the
 * transaction, with its snapshot, goes on.
 */
static int guard(ferry_source *src, const char *what, const char *name,
                 ferry_error *err)
{
	const char *sql = src->release_pending
	                      ? "RELEASE SAVEPOINT ferry_op; SAVEPOINT ferry_op"
	                      : "SAVEPOINT ferry_op";
	src->release_pending = false;
	return exec_cmd(src, sql, err, "could not %s \"%s\"", what, name);
}

/* Ends a guarded operation: a failed one is undone back to its start;
 * a good one's savepoint is released with the next one's start. */
static void unguard(ferry_source *src, bool failed)
{
	if (failed)
		PQclear(PQexec(src->conn, "ROLLBACK TO SAVEPOINT ferry_op; "
		               "RELEASE SAVEPOINT ferry_op"));
	else
		src->release_pending = true;
}

static void src_close(ferry_source *src)
{
	if (!src)
		return;
	if (src->scan) /* left open: stopped; its owner still frees it */
		scan_stop(src->scan);
	bool live = src->conn && PQstatus(src->conn) == CONNECTION_OK;
	if (live && src->in_txn && src->own_txn)
		PQclear(PQexec(src->conn, "ROLLBACK")); /* read only: nothing to keep */
	else if (live && src->in_txn && src->release_pending)
		PQclear(PQexec(src->conn, "RELEASE SAVEPOINT ferry_op"));
	if (src->conn && src->own_conn)
		PQfinish(src->conn);
	ferry_free(src->name);
	ferry_free(src);
}

int ferry_pg_source_open_snapshot(ferry_source **out, const ferry_uri *uri,
                                  const char *snapshot, ferry_error *err)
{
	*out = NULL;
	if (!uri || uri->kind != FERRY_URI_POSTGRESQL || !uri->conninfo)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not open source \"%s\": not a "
		                       "postgresql uri",
		                       uri && uri->redacted ? uri->redacted : "");
	ferry_source *src = ferry_calloc(1, sizeof *src);
	if (!src)
		return ferry_error_oom(err);
	src->own_conn = true;
	src->name = ferry_strdup(uri->redacted ? uri->redacted : "");
	if (!src->name) {
		src_close(src);
		return ferry_error_oom(err);
	}
	/* the URI's own application_name, if it has one, wins */
	const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *const vals[] = {uri->conninfo, "ferry", NULL};
	src->conn = PQconnectdbParams(keys, vals, 1);
	int rc = 0;
	if (!src->conn)
		rc = ferry_error_oom(err);
	else if (PQstatus(src->conn) != CONNECTION_OK)
		rc = connect_failed(src, uri->conninfo, err);
	if (rc == 0) {
		PQsetNoticeProcessor(src->conn, ignore_notice, NULL);
		rc = check_server(src, err);
	}
	if (rc == 0)
		rc = exec_cmd(src, session_sql, err, "could not configure the "
		              "session on \"%s\"", src->name);
	if (rc == 0)
		rc = begin_txn(src, snapshot, err);
	if (rc < 0) {
		src_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

static int src_open(ferry_source **out, const ferry_uri *uri,
                    ferry_error *err)
{
	return ferry_pg_source_open_snapshot(out, uri, NULL, err);
}

int ferry_pg_source_attach(ferry_source **out, struct pg_conn *conn,
                           const char *name, const char *snapshot,
                           ferry_error *err)
{
	*out = NULL;
	name = name ? name : "";
	if (!conn || PQstatus(conn) != CONNECTION_OK)
		return ferry_error_set(err, FERRY_EINVAL, "could not read \"%s\": "
		                       "the connection is not open", name);
	PGTransactionStatusType ts = PQtransactionStatus(conn);
	if (ts != PQTRANS_IDLE && (ts != PQTRANS_INTRANS || snapshot))
		return ferry_error_set(err, FERRY_EINVAL, "could not read \"%s\": "
		                       "the connection is %s", name,
		                       ts == PQTRANS_INTRANS
		                           ? "in a transaction"
		                           : ts == PQTRANS_INERROR
		                                 ? "in a failed transaction"
		                                 : "busy");
	ferry_source *src = ferry_calloc(1, sizeof *src);
	if (!src)
		return ferry_error_oom(err);
	src->conn = conn;
	src->name = ferry_strdup(name);
	int rc = src->name ? check_server(src, err) : ferry_error_oom(err);
	if (rc == 0)
		rc = exec_cmd(src, session_sql, err, "could not configure the "
		              "session on \"%s\"", src->name);
	if (rc == 0 && ts == PQTRANS_INTRANS)
		src->in_txn = true; /* the caller's: never ended here */
	else if (rc == 0)
		rc = begin_txn(src, snapshot, err);
	if (rc < 0) {
		src_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

int ferry_pg_source_export_snapshot(ferry_source *src, char **out,
                                    ferry_error *err)
{
	*out = NULL;
	/* not guarded: a subtransaction cannot export a snapshot, so the
	 * last operation's savepoint goes first */
	int rc = need_txn(src, "export a snapshot", err);
	PGresult *res = NULL;
	if (rc == 0)
		rc = query(src, "export the snapshot of",
		           src->release_pending
		               ? "RELEASE SAVEPOINT ferry_op; "
		                 "SELECT pg_catalog.pg_export_snapshot()"
		               : "SELECT pg_catalog.pg_export_snapshot()",
		           0, NULL, &res, err);
	src->release_pending = false;
	if (rc == 0 && (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)))
		rc = ferry_error_set(err, FERRY_ERROR, "could not export the "
		                     "snapshot of \"%s\": no snapshot id",
		                     src->name);
	if (rc == 0 && !(*out = ferry_strdup(PQgetvalue(res, 0, 0))))
		rc = ferry_error_oom(err);
	PQclear(res);
	return rc;
}

int ferry_pg_source_release(ferry_source *src, ferry_error *err)
{
	if (src->scan)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not release the snapshot of \"%s\": "
		                       "the scan of table \"%s\" is still open",
		                       src->name, src->scan->table);
	if (!src->in_txn)
		return 0;
	if (!src->own_txn)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not release the snapshot of \"%s\": "
		                       "the transaction is the caller's",
		                       src->name);
	int rc = exec_cmd(src, "ROLLBACK", err, "could not release the "
	                  "snapshot of \"%s\"", src->name);
	src->in_txn = src->own_txn = src->release_pending = false;
	return rc;
}

/* ---- types --------------------------------------------------------- */

/*
 * numeric(p,s) from its type modifier.  Since PostgreSQL 15 the scale
 * may be negative (rounds to tens, hundreds, ...) or exceed the
 * precision (only leading fractional zeros); ferry's model has neither,
 * so such a column gets the narrowest numeric(p,s) that holds every
 * value the source column can: numeric(5,-2) -> numeric(7,0),
 * numeric(3,5) -> numeric(5,5).  Beyond 1000 digits: plain numeric.
 */
static void numeric_mods(ferry_sqltype *t, int32_t typmod)
{
	if (typmod < 4)
		return; /* unconstrained */
	int32_t p = ((typmod - 4) >> 16) & 0xFFFF;
	int32_t s = (((typmod - 4) & 0x7FF) ^ 1024) - 1024;
	if (s < 0) {
		p -= s;
		s = 0;
	} else if (s > p) {
		p = s;
	}
	if (p < 1 || p > PG_NUMERIC_MAX)
		return;
	t->precision = p;
	t->scale = s;
}

/*
 * The target type of a column whose base type (domains resolved) is
 * oid with modifier typmod (docs/postgresql-source.md, "Types").
 * Everything else is text, holding the type's text output.
 */
static ferry_sqltype map_type(uint32_t oid, int32_t typmod)
{
	ferry_sqltype t = {FERRY_SQL_TEXT, -1, -1, -1};
	switch (oid) {
	case OID_INT2: t.kind = FERRY_SQL_SMALLINT; break;
	case OID_INT4: t.kind = FERRY_SQL_INTEGER; break;
	case OID_INT8: t.kind = FERRY_SQL_BIGINT; break;
	case OID_FLOAT4: t.kind = FERRY_SQL_REAL; break;
	case OID_FLOAT8: t.kind = FERRY_SQL_DOUBLE; break;
	case OID_NUMERIC:
		t.kind = FERRY_SQL_NUMERIC;
		numeric_mods(&t, typmod);
		break;
	case OID_VARCHAR:
		t.kind = FERRY_SQL_VARCHAR;
		t.length = typmod > 4 ? typmod - 4 : -1;
		break;
	case OID_BPCHAR:
		/* a bpchar without length pads nothing: text keeps it so */
		if (typmod > 4) {
			t.kind = FERRY_SQL_CHAR;
			t.length = typmod - 4;
		}
		break;
	case OID_BYTEA: t.kind = FERRY_SQL_BYTEA; break;
	case OID_BOOL: t.kind = FERRY_SQL_BOOLEAN; break;
	case OID_DATE: t.kind = FERRY_SQL_DATE; break;
	case OID_TIMESTAMP: t.kind = FERRY_SQL_TIMESTAMP; break;
	case OID_TIMESTAMPTZ: t.kind = FERRY_SQL_TIMESTAMPTZ; break;
	case OID_JSON: t.kind = FERRY_SQL_JSON; break;
	case OID_JSONB: t.kind = FERRY_SQL_JSONB; break;
	case OID_UUID: t.kind = FERRY_SQL_UUID; break;
	default: break; /* text, name, and everything read as text */
	}
	return t;
}

/* How the binary form of base type oid is decoded; *plain is false for
 * a type that is selected as its text output. */
static dec_kind oid_kind(uint32_t oid, bool *plain)
{
	*plain = true;
	switch (oid) {
	case OID_INT2: return DEC_INT2;
	case OID_INT4: return DEC_INT4;
	case OID_INT8: return DEC_INT8;
	case OID_FLOAT4: return DEC_FLOAT4;
	case OID_FLOAT8: return DEC_FLOAT8;
	case OID_NUMERIC: return DEC_NUMERIC;
	case OID_BYTEA: return DEC_BLOB;
	case OID_BOOL: return DEC_BOOL;
	case OID_DATE: return DEC_DATE;
	case OID_TIMESTAMP: return DEC_TIMESTAMP;
	case OID_TIMESTAMPTZ: return DEC_TIMESTAMPTZ;
	case OID_JSON: return DEC_JSON;
	case OID_JSONB: return DEC_JSONB;
	case OID_UUID: return DEC_UUID;
	case OID_TEXT:
	case OID_VARCHAR:
	case OID_BPCHAR:
	case OID_NAME:
		return DEC_TEXT;
	default:
		*plain = false;
		return DEC_TEXT;
	}
}

/* The decoding of a column as its declared type travels in binary: what
 * ferry_pg_source_decode_copy assumes without a catalog to ask. */
static dec_kind sqltype_kind(const ferry_sqltype *t)
{
	switch (t->kind) {
	case FERRY_SQL_SMALLINT: return DEC_INT2;
	case FERRY_SQL_INTEGER: return DEC_INT4;
	case FERRY_SQL_BIGINT: return DEC_INT8;
	case FERRY_SQL_REAL: return DEC_FLOAT4;
	case FERRY_SQL_DOUBLE: return DEC_FLOAT8;
	case FERRY_SQL_NUMERIC: return DEC_NUMERIC;
	case FERRY_SQL_BYTEA: return DEC_BLOB;
	case FERRY_SQL_BOOLEAN: return DEC_BOOL;
	case FERRY_SQL_DATE: return DEC_DATE;
	case FERRY_SQL_TIMESTAMP: return DEC_TIMESTAMP;
	case FERRY_SQL_TIMESTAMPTZ: return DEC_TIMESTAMPTZ;
	case FERRY_SQL_JSON: return DEC_JSON;
	case FERRY_SQL_JSONB: return DEC_JSONB;
	case FERRY_SQL_UUID: return DEC_UUID;
	default: return DEC_TEXT;
	}
}

/* ---- catalog ------------------------------------------------------- */

/* The tables introspect describes: ordinary tables and partitioned
 * parents of current_schema() (a partition's rows are read through its
 * parent), not ferry's own. */
#define TABLES_CTE                                                         \
	"tabs AS (SELECT c.oid, c.relname, c.relkind, c.reltuples "            \
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "           \
	"ON n.oid = c.relnamespace "                                           \
	"WHERE n.nspname = pg_catalog.current_schema() "                       \
	"AND c.relkind IN ('r', 'p') AND NOT c.relispartition "                \
	"AND pg_catalog.left(c.relname::pg_catalog.text, 6) <> '_ferry')"

/* Every domain with its base type and the modifier it applies, however
 * deep domains over domains go (getBaseTypeAndTypmod in SQL). */
#define BASE_CTE                                                           \
	"dom(oid, base, mod) AS (SELECT t.oid, t.typbasetype, t.typtypmod "    \
	"FROM pg_catalog.pg_type t WHERE t.typtype = 'd' UNION ALL "           \
	"SELECT dom.oid, t.typbasetype, t.typtypmod FROM dom "                 \
	"JOIN pg_catalog.pg_type t ON t.oid = dom.base "                       \
	"WHERE t.typtype = 'd'), "                                             \
	"base(oid, typ, mod) AS (SELECT dom.oid, dom.base, dom.mod FROM dom "  \
	"JOIN pg_catalog.pg_type t ON t.oid = dom.base WHERE t.typtype <> 'd')"

#define TABLE_ORDER " ORDER BY tabs.relname COLLATE \"C\""

#define CATALOG "read the catalog of"

static const char schema_sql[] = "SELECT pg_catalog.current_schema()";

static const char tables_sql[] =
    "WITH " TABLES_CTE " SELECT tabs.oid, tabs.relname, "
    "CASE WHEN tabs.relkind = 'p' THEN (SELECT CASE "
    "WHEN pg_catalog.count(*) = 0 THEN 0 "
    "WHEN pg_catalog.bool_and(l.reltuples >= 0) "
    "THEN pg_catalog.sum(l.reltuples) ELSE -1 END "
    "FROM pg_catalog.pg_partition_tree(tabs.oid) p "
    "JOIN pg_catalog.pg_class l ON l.oid = p.relid WHERE p.isleaf) "
    "ELSE tabs.reltuples END FROM tabs" TABLE_ORDER;

/* A serial column is one whose default calls nextval() and that owns a
 * sequence (OWNED BY, deptype 'a'); an identity column owns one too. */
static const char columns_sql[] =
    "WITH RECURSIVE " TABLES_CTE ", " BASE_CTE " "
    "SELECT a.attrelid, a.attname, "
    "pg_catalog.format_type(a.atttypid, a.atttypmod), "
    "COALESCE(b.typ, a.atttypid), "
    "CASE WHEN b.oid IS NULL THEN a.atttypmod ELSE b.mod END, "
    "a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), "
    "a.attidentity <> '' OR (pg_catalog.pg_get_expr(d.adbin, d.adrelid) "
    "LIKE 'nextval(%' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend p "
    "JOIN pg_catalog.pg_class s ON s.oid = p.objid AND s.relkind = 'S' "
    "WHERE p.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "AND p.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "AND p.refobjid = a.attrelid AND p.refobjsubid = a.attnum "
    "AND p.deptype = 'a')), "
    "a.attgenerated <> '', "
    "COALESCE((SELECT k.n FROM pg_catalog.pg_index i, "
    "pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY "
    "AS k(attnum, n) WHERE i.indrelid = a.attrelid AND i.indisprimary "
    "AND k.attnum = a.attnum AND k.n <= i.indnkeyatts), 0) "
    "FROM tabs JOIN pg_catalog.pg_attribute a ON a.attrelid = tabs.oid "
    "LEFT JOIN pg_catalog.pg_attrdef d "
    "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "LEFT JOIN base b ON b.oid = a.atttypid "
    "WHERE a.attnum > 0 AND NOT a.attisdropped" TABLE_ORDER ", a.attnum";

/* One row per key column of each index but the primary key's; attname
 * is NULL for an expression (attnum 0) or a generated column. */
static const char indexes_sql[] =
    "WITH " TABLES_CTE " "
    "SELECT i.indrelid, x.relname, i.indisunique, "
    "pg_catalog.pg_get_expr(i.indpred, i.indrelid), "
    "am.amname = 'btree' AND i.indisvalid AND i.indexprs IS NULL, "
    "a.attname "
    "FROM tabs JOIN pg_catalog.pg_index i ON i.indrelid = tabs.oid "
    "JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid "
    "JOIN pg_catalog.pg_am am ON am.oid = x.relam "
    "CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) "
    "WITH ORDINALITY AS k(attnum, n) "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid "
    "AND a.attnum = k.attnum AND k.attnum > 0 AND a.attgenerated = '' "
    "WHERE NOT i.indisprimary AND k.n <= i.indnkeyatts"
    TABLE_ORDER ", x.relname COLLATE \"C\", k.n";

/* One row per column pair of each foreign key; a key a partitioned
 * table's key was cloned from (conparentid) is the parent's. */
static const char fkeys_sql[] =
    "WITH " TABLES_CTE " "
    "SELECT con.conrelid, con.conname, con.confdeltype, con.confupdtype, "
    "r.relname, a.attname, ra.attname "
    "FROM tabs JOIN pg_catalog.pg_constraint con "
    "ON con.conrelid = tabs.oid AND con.contype = 'f' "
    "AND con.conparentid = 0 "
    "JOIN pg_catalog.pg_class r ON r.oid = con.confrelid "
    "CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(con.conkey), "
    "pg_catalog.unnest(con.confkey)) WITH ORDINALITY AS k(attnum, refnum, n) "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid "
    "AND a.attnum = k.attnum AND a.attgenerated = '' "
    "LEFT JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid "
    "AND ra.attnum = k.refnum"
    TABLE_ORDER ", con.conname COLLATE \"C\", k.n";

/* The schema being built, with each table's OID to match catalog rows. */
typedef struct catalog {
	ferry_source *src;
	ferry_schema s;
	uint32_t *oids;   /* parallel to s.tables */
	bool *key_lost;   /* a primary key column is not carried */
	uint32_t at;      /* the table of the last row looked up */
} catalog;

static uint32_t parse_u32(const char *s)
{
	return (uint32_t)strtoul(s, NULL, 10);
}

static bool is_true(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

/* The table whose OID a catalog row names.  Rows come grouped by table
 * in the table list's order, so the search starts where it left off. */
static ferry_table *table_of(catalog *cat, const char *oid_text)
{
	uint32_t oid = parse_u32(oid_text), n = cat->s.ntables;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (cat->at + k) % n;
		if (cat->oids[i] == oid) {
			cat->at = i;
			return &cat->s.tables[i];
		}
	}
	return NULL;
}

/* Appends a copy of name (NULL stays NULL) to a names array of n. */
static int push_name(char ***names, uint32_t n, const char *name)
{
	char **grown = ferry_realloc(*names, (n + 1) * sizeof *grown);
	if (!grown)
		return -1;
	*names = grown;
	grown[n] = NULL;
	if (name && !(grown[n] = ferry_strdup(name)))
		return -1;
	return 0;
}

static void free_names(char **names, uint32_t n)
{
	for (uint32_t i = 0; names && i < n; i++)
		ferry_free(names[i]);
	ferry_free(names);
}

/* Copies a nullable column of a row; -1 when memory runs out. */
static int dup_field(const PGresult *res, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(res, row, col))
		return 0;
	*out = ferry_strdup(PQgetvalue(res, row, col));
	return *out ? 0 : -1;
}

/* Skips "::type" casts (with spaces, schema dots, quoted names,
 * "character varying" and array brackets) after position p. */
static const char *skip_casts(const char *p)
{
	while (p[0] == ':' && p[1] == ':') {
		p += 2;
		while (*p && !(p[0] == ':' && p[1] == ':') && *p != ')')
			p++;
	}
	return p;
}

/*
 * The default as SQL both ends understand, or NULL to leave it out:
 * PostgreSQL prints defaults with casts ('new'::text, '-1'::integer,
 * NULL::text) that a SQLite target cannot read, and the plan keeps a
 * default as it is for SQLite targets.  Kept: string and number
 * literals (casts removed), NULL, true/false (as 1/0, which the plan
 * converts to a boolean column's type), and the current date and time
 * functions; anything else (expressions, function calls) is left out,
 * as docs/postgresql-source.md says.
 */
static int portable_default(const char *sql, char **out)
{
	*out = NULL;
	const char *p = sql, *end = sql + strlen(sql);
	while (end > p && end[-1] == ' ')
		end--;
	const char *keep = NULL;
	size_t keep_len = 0;
	if (*p == '\'') { /* 'text' with '' inside, then casts */
		const char *q = p + 1;
		while (*q && !(q[0] == '\'' && q[1] != '\''))
			q += q[0] == '\'' ? 2 : 1;
		if (*q == '\'' && skip_casts(q + 1) == end) {
			keep = p;
			keep_len = (size_t)(q + 1 - p);
		}
	} else if (strncmp(p, "NULL::", 6) == 0 || strcmp(p, "NULL") == 0) {
		keep = "NULL";
		keep_len = 4;
	} else if (strcmp(p, "true") == 0 || strcmp(p, "false") == 0) {
		keep = *p == 't' ? "1" : "0";
		keep_len = 1;
	} else if (strcmp(p, "now()") == 0 ||
	           strcmp(p, "CURRENT_TIMESTAMP") == 0 ||
	           strcmp(p, "transaction_timestamp()") == 0) {
		keep = "CURRENT_TIMESTAMP";
		keep_len = strlen(keep);
	} else if (strcmp(p, "CURRENT_DATE") == 0) {
		keep = "CURRENT_DATE";
		keep_len = strlen(keep);
	} else { /* a number, maybe (-1) or -1.5 with casts */
		const char *q = p + (*p == '(');
		const char *digits = q + (*q == '-');
		const char *d = digits;
		while ((*d >= '0' && *d <= '9') || *d == '.')
			d++;
		const char *after = d + (*p == '(' && *d == ')');
		if (d > digits && skip_casts(after) == end) {
			keep = q;
			keep_len = (size_t)(d - q);
		}
	}
	if (!keep)
		return 0;
	*out = ferry_malloc(keep_len + 1);
	if (!*out)
		return -1;
	memcpy(*out, keep, keep_len);
	(*out)[keep_len] = '\0';
	return 0;
}

static int read_tables(catalog *cat, ferry_error *err)
{
	PGresult *res;
	int rc = query(cat->src, CATALOG, tables_sql, 0, NULL, &res, err);
	if (rc < 0)
		return rc;
	int n = PQntuples(res);
	cat->oids = ferry_calloc((size_t)n + 1, sizeof *cat->oids);
	cat->key_lost = ferry_calloc((size_t)n + 1, sizeof *cat->key_lost);
	if (!cat->oids || !cat->key_lost)
		rc = ferry_error_oom(err);
	for (int r = 0; rc == 0 && r < n; r++) {
		ferry_table *t = ferry_schema_add_table(&cat->s);
		if (!t || !(t->name = ferry_strdup(PQgetvalue(res, r, 1)))) {
			rc = ferry_error_oom(err);
			break;
		}
		cat->oids[r] = parse_u32(PQgetvalue(res, r, 0));
		/* reltuples is an estimate, -1 until the first VACUUM or
		 * ANALYZE (PostgreSQL 14 on; 0 before) */
		double tuples = strtod(PQgetvalue(res, r, 2), NULL);
		t->row_count = tuples >= 0 ? (int64_t)(tuples + 0.5) : -1;
	}
	PQclear(res);
	return rc;
}

static int add_column(catalog *cat, const PGresult *res, int r,
                      ferry_error *err)
{
	ferry_table *t = table_of(cat, PQgetvalue(res, r, 0));
	if (!t)
		return 0; /* cannot happen: the same tables, one snapshot */
	int pk = atoi(PQgetvalue(res, r, 9));
	if (is_true(res, r, 8)) {
		/* generated: no INSERT can set it on a target */
		if (pk > 0)
			cat->key_lost[t - cat->s.tables] = true;
		return 0;
	}
	ferry_column *c = ferry_table_add_column(t);
	if (!c || !(c->name = ferry_strdup(PQgetvalue(res, r, 1))) ||
	    !(c->decl_type = ferry_strdup(PQgetvalue(res, r, 2))))
		return ferry_error_oom(err);
	c->type = map_type(parse_u32(PQgetvalue(res, r, 3)),
	                   (int32_t)atoi(PQgetvalue(res, r, 4)));
	c->not_null = is_true(res, r, 5);
	c->autoincrement = is_true(res, r, 7);
	c->pk_position = pk;
	/* a serial's nextval() names a sequence of the source, which the
	 * target replaces with an identity of its own */
	if (!c->autoincrement && !PQgetisnull(res, r, 6) &&
	    portable_default(PQgetvalue(res, r, 6), &c->default_sql) < 0)
		return ferry_error_oom(err);
	return 0;
}

static int read_columns(catalog *cat, ferry_error *err)
{
	PGresult *res;
	int rc = query(cat->src, CATALOG, columns_sql, 0, NULL, &res, err);
	if (rc < 0)
		return rc;
	int n = PQntuples(res);
	for (int r = 0; rc == 0 && r < n; r++)
		rc = add_column(cat, res, r, err);
	PQclear(res);
	/* a key with a column left out would not identify rows: none */
	for (uint32_t i = 0; rc == 0 && i < cat->s.ntables; i++)
		for (uint32_t c = 0; cat->key_lost[i] &&
		                     c < cat->s.tables[i].ncolumns; c++)
			cat->s.tables[i].columns[c].pk_position = 0;
	return rc;
}

static void free_index(ferry_index *ix)
{
	ferry_free(ix->name);
	free_names(ix->columns, ix->ncolumns);
	ferry_free(ix->where_sql);
	memset(ix, 0, sizeof *ix);
}

/* Moves ix into t when it is carried; frees it either way. */
static int keep_index(ferry_table *t, ferry_index *ix, bool keep,
                      ferry_error *err)
{
	if (keep && t && ix->ncolumns > 0) {
		ferry_index *slot = ferry_table_add_index(t);
		if (!slot) {
			free_index(ix);
			return ferry_error_oom(err);
		}
		*slot = *ix;
		memset(ix, 0, sizeof *ix);
	}
	free_index(ix);
	return 0;
}

/*
 * Reads the indexes other than the primary key's, one group of rows per
 * index.  Carried only when btree, valid, and on plain carried columns:
 * the model has no index method or expression.
 */
static int read_indexes(catalog *cat, ferry_error *err)
{
	PGresult *res;
	int rc = query(cat->src, CATALOG, indexes_sql, 0, NULL, &res, err);
	if (rc < 0)
		return rc;
	ferry_index ix = {0};
	ferry_table *owner = NULL;
	bool keep = true;
	int n = PQntuples(res);
	for (int r = 0; rc == 0 && r < n; r++) {
		ferry_table *t = table_of(cat, PQgetvalue(res, r, 0));
		const char *name = PQgetvalue(res, r, 1);
		if (ix.name && (t != owner || strcmp(ix.name, name) != 0)) {
			rc = keep_index(owner, &ix, keep, err);
			keep = true;
			if (rc < 0)
				break;
		}
		if (!ix.name) {
			owner = t;
			ix.unique = is_true(res, r, 2);
			if (!(ix.name = ferry_strdup(name)) ||
			    dup_field(res, r, 3, &ix.where_sql) < 0) {
				rc = ferry_error_oom(err);
				break;
			}
		}
		keep = keep && is_true(res, r, 4) && !PQgetisnull(res, r, 5);
		if (!keep)
			continue;
		if (push_name(&ix.columns, ix.ncolumns, PQgetvalue(res, r, 5)))
			rc = ferry_error_oom(err);
		else
			ix.ncolumns++;
	}
	if (rc == 0 && ix.name)
		rc = keep_index(owner, &ix, keep, err);
	free_index(&ix);
	PQclear(res);
	return rc;
}

static void free_fkey(ferry_fkey *fk)
{
	ferry_free(fk->name);
	free_names(fk->columns, fk->ncolumns);
	free_names(fk->ref_columns, fk->ncolumns);
	ferry_free(fk->ref_table);
	ferry_free(fk->on_delete);
	ferry_free(fk->on_update);
	memset(fk, 0, sizeof *fk);
}

/* pg_constraint's action letter, spelled as the model has it; NULL for
 * NO ACTION, the default everywhere. */
static const char *fk_action(char letter)
{
	switch (letter) {
	case 'r': return "RESTRICT";
	case 'c': return "CASCADE";
	case 'n': return "SET NULL";
	case 'd': return "SET DEFAULT";
	default: return NULL;
	}
}

static int keep_fkey(ferry_table *t, ferry_fkey *fk, bool keep,
                     ferry_error *err)
{
	if (keep && t && fk->ncolumns > 0) {
		ferry_fkey *slot = ferry_table_add_fkey(t);
		if (!slot) {
			free_fkey(fk);
			return ferry_error_oom(err);
		}
		*slot = *fk;
		memset(fk, 0, sizeof *fk);
	}
	free_fkey(fk);
	return 0;
}

/* Starts fk from the first row of its group. */
static int start_fkey(ferry_fkey *fk, const PGresult *res, int r)
{
	const char *del = fk_action(PQgetvalue(res, r, 2)[0]);
	const char *upd = fk_action(PQgetvalue(res, r, 3)[0]);
	if (!(fk->name = ferry_strdup(PQgetvalue(res, r, 1))) ||
	    !(fk->ref_table = ferry_strdup(PQgetvalue(res, r, 4))) ||
	    (del && !(fk->on_delete = ferry_strdup(del))) ||
	    (upd && !(fk->on_update = ferry_strdup(upd))))
		return -1;
	return 0;
}

static int add_fkey_pair(ferry_fkey *fk, const PGresult *res, int r)
{
	uint32_t n = fk->ncolumns;
	if (push_name(&fk->columns, n, PQgetvalue(res, r, 5)) < 0)
		return -1;
	if (push_name(&fk->ref_columns, n, PQgetvalue(res, r, 6)) < 0) {
		ferry_free(fk->columns[n]);
		return -1;
	}
	fk->ncolumns++;
	return 0;
}

/* Reads the foreign keys, one group of rows per constraint; a key on a
 * column that is not carried (generated) cannot be made on a target. */
static int read_fkeys(catalog *cat, ferry_error *err)
{
	PGresult *res;
	int rc = query(cat->src, CATALOG, fkeys_sql, 0, NULL, &res, err);
	if (rc < 0)
		return rc;
	ferry_fkey fk = {0};
	ferry_table *owner = NULL;
	bool keep = true;
	int n = PQntuples(res);
	for (int r = 0; rc == 0 && r < n; r++) {
		ferry_table *t = table_of(cat, PQgetvalue(res, r, 0));
		const char *name = PQgetvalue(res, r, 1);
		if (fk.name && (t != owner || strcmp(fk.name, name) != 0)) {
			rc = keep_fkey(owner, &fk, keep, err);
			keep = true;
			if (rc < 0)
				break;
		}
		if (!fk.name) {
			owner = t;
			if (start_fkey(&fk, res, r) < 0) {
				rc = ferry_error_oom(err);
				break;
			}
		}
		keep = keep && !PQgetisnull(res, r, 5) && !PQgetisnull(res, r, 6);
		if (keep && add_fkey_pair(&fk, res, r) < 0)
			rc = ferry_error_oom(err);
	}
	if (rc == 0 && fk.name)
		rc = keep_fkey(owner, &fk, keep, err);
	free_fkey(&fk);
	PQclear(res);
	return rc;
}

/* Whether the connection has a current schema to read. */
static int check_schema(ferry_source *src, ferry_error *err)
{
	PGresult *res;
	int rc = query(src, CATALOG, schema_sql, 0, NULL, &res, err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		rc = ferry_error_set(err, FERRY_EINVAL,
		                     "could not list the tables of \"%s\": no "
		                     "schema of its search_path exists",
		                     src->name);
	PQclear(res);
	return rc;
}

/* Builds the schema aside and replaces out's contents only on success,
 * so a failure leaves out as it was. */
static int src_introspect(ferry_source *src, ferry_schema *out,
                          ferry_error *err)
{
	catalog cat;
	memset(&cat, 0, sizeof cat);
	cat.src = src;
	int rc = need_txn(src, "read the catalog", err);
	if (rc == 0)
		rc = guard(src, "read the catalog of", src->name, err);
	if (rc < 0)
		return rc;
	rc = check_schema(src, err);
	if (rc == 0)
		rc = read_tables(&cat, err);
	if (rc == 0)
		rc = read_columns(&cat, err);
	if (rc == 0)
		rc = read_indexes(&cat, err);
	if (rc == 0)
		rc = read_fkeys(&cat, err);
	unguard(src, rc < 0);
	ferry_free(cat.oids);
	ferry_free(cat.key_lost);
	if (rc < 0) {
		ferry_schema_free(&cat.s);
		return rc;
	}
	ferry_schema_free(out);
	*out = cat.s;
	return 0;
}

/* ---- binary decoding ----------------------------------------------- */

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static int bad_data(const ferry_scan *s, ferry_error *err, const char *what)
{
	return ferry_error_set(err, FERRY_ECORRUPT,
	                       "could not read table \"%s\": malformed binary "
	                       "data: %s", s->table, what);
}

static int bad_field(const ferry_scan *s, const scan_col *c, int32_t len,
                     ferry_error *err)
{
	static const char *const names[] = {
		[DEC_TEXT] = "text", [DEC_INT2] = "smallint",
		[DEC_INT4] = "integer", [DEC_INT8] = "bigint",
		[DEC_FLOAT4] = "real", [DEC_FLOAT8] = "double precision",
		[DEC_NUMERIC] = "numeric", [DEC_BLOB] = "bytea",
		[DEC_BOOL] = "boolean", [DEC_DATE] = "date",
		[DEC_TIMESTAMP] = "timestamp", [DEC_TIMESTAMPTZ] = "timestamptz",
		[DEC_JSON] = "json", [DEC_JSONB] = "jsonb", [DEC_UUID] = "uuid",
	};
	return ferry_error_set(err, FERRY_ECORRUPT,
	                       "could not read table \"%s\", column \"%s\": "
	                       "malformed %s value (%ld bytes)", s->table,
	                       c->name, names[c->kind], (long)len);
}

/* Writes 4 decimal digits of a base-10000 digit. */
static inline char *put4(char *p, unsigned dig)
{
	p[0] = (char)('0' + dig / 1000);
	p[1] = (char)('0' + dig / 100 % 10);
	p[2] = (char)('0' + dig / 10 % 10);
	p[3] = (char)('0' + dig % 10);
	return p + 4;
}

/*
 * Binary NUMERIC (int16 ndigits, int16 weight, uint16 sign, uint16
 * dscale, then ndigits base-10000 digits, digit i worth
 * 10000^(weight - i)) to the text numeric_out prints: exactly dscale
 * digits after the point, so "1.50" stays "1.50".  The port of
 * get_str_from_var() keeps its quirks, sign of a zero included.
 * Returns 0, -1 for malformed data, FERRY_ENOMEM.
 */
static int numeric_text(ferry_buf *out, const uint8_t *p, int32_t len)
{
	if (len < 8)
		return -1;
	int ndigits = (int16_t)be16(p), weight = (int16_t)be16(p + 2);
	unsigned sign = be16(p + 4), dscale = be16(p + 6);
	if (ndigits < 0 || len != 8 + 2 * ndigits || dscale > NUMERIC_DSCALE_MAX)
		return -1;
	const uint8_t *digits = p + 8;
	ferry_buf_reset(out);
	if (sign == NUMERIC_NAN || sign == NUMERIC_PINF || sign == NUMERIC_NINF) {
		ferry_buf_puts(out, sign == NUMERIC_NAN ? "NaN"
		                    : sign == NUMERIC_PINF ? "Infinity"
		                                           : "-Infinity");
		return ferry_buf_failed(out) ? FERRY_ENOMEM : 0;
	}
	if (sign != NUMERIC_POS && sign != NUMERIC_NEG)
		return -1;
	for (int i = 0; i < ndigits; i++)
		if (be16(digits + 2 * i) >= 10000)
			return -1;
	size_t need = (weight >= 0 ? (size_t)(weight + 1) * 4 : 1) + dscale + 8;
	if (ferry_buf_reserve(out, need) < 0)
		return FERRY_ENOMEM;
	char *start = (char *)out->data, *cp = start;
	if (sign == NUMERIC_NEG)
		*cp++ = '-';
	int d;
	if (weight < 0) {
		d = weight + 1;
		*cp++ = '0';
	} else {
		for (d = 0; d <= weight; d++) {
			unsigned dig = d < ndigits ? be16(digits + 2 * d) : 0;
			if (d > 0) {
				cp = put4(cp, dig);
				continue;
			}
			/* the first group without its leading zeros */
			char tmp[4];
			put4(tmp, dig);
			int skip = 0;
			while (skip < 3 && tmp[skip] == '0')
				skip++;
			memcpy(cp, tmp + skip, (size_t)(4 - skip));
			cp += 4 - skip;
		}
	}
	if (dscale > 0) {
		*cp++ = '.';
		char *end = cp + dscale;
		for (unsigned i = 0; i < dscale; d++, i += 4) {
			unsigned dig = d >= 0 && d < ndigits ? be16(digits + 2 * d)
			                                     : 0;
			cp = put4(cp, dig); /* may run 3 past end: room reserved */
		}
		cp = end;
	}
	out->len = (size_t)(cp - start);
	return 0;
}

/* ferry's days and microseconds from PostgreSQL's, which count from
 * 2000-01-01; infinity keeps its sentinel. */
static int date_value(int32_t d, ferry_value *v)
{
	if (d == INT32_MAX || d == INT32_MIN) {
		*v = ferry_value_date(d);
		return 0;
	}
	if (d >= INT32_MAX - PG_EPOCH_DAYS)
		return -1; /* PostgreSQL's dates end in 5874897 */
	*v = ferry_value_date((int32_t)(d + PG_EPOCH_DAYS));
	return 0;
}

static int timestamp_value(const ferry_scan *s, const scan_col *c,
                           int64_t t, ferry_value *v, ferry_error *err)
{
	ferry_type type = c->kind == DEC_TIMESTAMPTZ ? FERRY_TIMESTAMPTZ
	                                             : FERRY_TIMESTAMP;
	if (t == INT64_MAX || t == INT64_MIN) {
		*v = ferry_value_timestamp(type, t);
		return 0;
	}
	/* PostgreSQL's timestamps run to 294276 AD; microseconds since 1970
	 * in an int64 (below the sentinel) end in 294247 */
	if (t >= INT64_MAX - PG_EPOCH_USECS)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not read table \"%s\", column "
		                       "\"%s\": %s past 294247-01-10 04:00:54.775806 "
		                       "cannot be held by ferry", s->table,
		                       c->name, ferry_type_name(type));
	*v = ferry_value_timestamp(type, t + PG_EPOCH_USECS);
	return 0;
}

/* Decodes one non-NULL field of len bytes at p into v; a payload is
 * borrowed from p, or for a numeric from the column's text buffer. */
static int decode_field(ferry_scan *s, scan_col *c, const uint8_t *p,
                        int32_t len, ferry_value *v, ferry_error *err)
{
	uint64_t bits;
	double f;
	float f4;
	uint32_t b4;
	int rc;
	switch (c->kind) {
	case DEC_TEXT:
	case DEC_JSON:
	case DEC_BLOB:
		*v = ferry_value_bytes(c->kind == DEC_TEXT   ? FERRY_TEXT
		                       : c->kind == DEC_JSON ? FERRY_JSON
		                                             : FERRY_BLOB,
		                       p, (size_t)len);
		return 0;
	case DEC_JSONB:
		if (len < 1 || p[0] != 1) /* jsonb_send's format version */
			break;
		*v = ferry_value_bytes(FERRY_JSON, p + 1, (size_t)len - 1);
		return 0;
	case DEC_INT2:
		if (len != 2)
			break;
		*v = ferry_value_int((int16_t)be16(p));
		return 0;
	case DEC_INT4:
		if (len != 4)
			break;
		*v = ferry_value_int((int32_t)be32(p));
		return 0;
	case DEC_INT8:
		if (len != 8)
			break;
		*v = ferry_value_int((int64_t)be64(p));
		return 0;
	case DEC_FLOAT4:
		if (len != 4)
			break;
		b4 = be32(p);
		memcpy(&f4, &b4, 4);
		*v = ferry_value_float((double)f4); /* exact, NaN stays NaN */
		return 0;
	case DEC_FLOAT8:
		if (len != 8)
			break;
		bits = be64(p);
		memcpy(&f, &bits, 8);
		*v = ferry_value_float(f);
		return 0;
	case DEC_NUMERIC:
		rc = numeric_text(&c->text, p, len);
		if (rc == FERRY_ENOMEM)
			return ferry_error_oom(err);
		if (rc < 0)
			break;
		*v = ferry_value_bytes(FERRY_NUMERIC, c->text.data, c->text.len);
		return 0;
	case DEC_BOOL:
		if (len != 1)
			break;
		*v = ferry_value_bool(p[0] != 0); /* as boolrecv reads it */
		return 0;
	case DEC_DATE:
		if (len != 4 || date_value((int32_t)be32(p), v) < 0)
			break;
		return 0;
	case DEC_TIMESTAMP:
	case DEC_TIMESTAMPTZ:
		if (len != 8)
			break;
		return timestamp_value(s, c, (int64_t)be64(p), v, err);
	case DEC_UUID:
		if (len != 16)
			break;
		*v = ferry_value_uuid(p);
		return 0;
	}
	return bad_field(s, c, len, err);
}

static const uint8_t copy_signature[11] = "PGCOPY\n\377\r\n";

/* Reads the binary COPY file header at *p: signature, flags, and the
 * header extension, skipped. */
static int read_header(const ferry_scan *s, const uint8_t **p,
                       const uint8_t *end, ferry_error *err)
{
	if (end - *p < 19 || memcmp(*p, copy_signature, 11) != 0)
		return bad_data(s, err, "no COPY file header");
	uint32_t flags = be32(*p + 11), ext = be32(*p + 15);
	/* bits 16..31 are critical: OIDs (16) were not asked for, and the
	 * rest mean a format this decoder does not know */
	if (flags & 0xFFFF0000u)
		return bad_data(s, err, "unknown COPY format flags");
	*p += 19;
	if (ext > (size_t)(end - *p))
		return bad_data(s, err, "COPY header extension past the end");
	*p += ext;
	return 0;
}

/* Decodes the tuple at *p: 1 for a row, 0 for the end-of-data marker. */
static int read_tuple(ferry_scan *s, const uint8_t **p, const uint8_t *end,
                      ferry_row *row, ferry_error *err)
{
	if (end - *p < 2)
		return bad_data(s, err, "tuple cut short");
	uint16_t count = be16(*p);
	*p += 2;
	if (count == 0xFFFF)
		return 0;
	if (count != s->ncols)
		return ferry_error_set(err, FERRY_ECORRUPT, "could not read "
		                       "table \"%s\": malformed binary data: %u "
		                       "fields, expected %u", s->table,
		                       (unsigned)count, (unsigned)s->ncols);
	for (uint32_t i = 0; i < s->ncols; i++) {
		if (end - *p < 4)
			return bad_data(s, err, "field length cut short");
		int32_t len = (int32_t)be32(*p);
		*p += 4;
		if (len == -1) {
			row->values[i] = ferry_value_null();
			continue;
		}
		if (len < 0 || len > end - *p)
			return bad_data(s, err, "field length past the end");
		int rc = decode_field(s, &s->cols[i], *p, len, &row->values[i],
		                      err);
		if (rc < 0)
			return rc;
		*p += len;
	}
	return 1;
}

/* ---- scans --------------------------------------------------------- */

static void free_cols(scan_col *cols, uint32_t n)
{
	for (uint32_t i = 0; cols && i < n; i++) {
		ferry_free(cols[i].name);
		ferry_buf_free(&cols[i].text);
	}
	ferry_free(cols);
}

/* A scan of table with its columns named, not yet planned. */
static ferry_scan *new_scan(const ferry_table *table)
{
	ferry_scan *s = ferry_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->table = ferry_strdup(table->name);
	s->cols = ferry_calloc((size_t)table->ncolumns + 1, sizeof *s->cols);
	if (!s->table || !s->cols) {
		scan_close(s);
		return NULL;
	}
	s->ncols = table->ncolumns;
	for (uint32_t i = 0; i < s->ncols; i++) {
		if (!(s->cols[i].name = ferry_strdup(table->columns[i].name))) {
			scan_close(s);
			return NULL;
		}
	}
	return s;
}

/*
 * How each column of table is selected and decoded, from the catalog as
 * the snapshot sees it rather than from the model: a domain's base type,
 * and whether ::text is the output function, are not in it.  Sets *only
 * for an ordinary table: a partitioned parent reads its partitions, an
 * ordinary one not its inheritance children, which are tables too.
 */
static const char plan_sql[] =
    "WITH RECURSIVE " BASE_CTE " "
    "SELECT c.relkind, a.attname, a.typ, a.typtype, a.fmt, n.nspname "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
    "ON n.oid = c.relnamespace "
    "LEFT JOIN LATERAL (SELECT a.attname, COALESCE(b.typ, a.atttypid) typ, "
    "t.typtype, EXISTS (SELECT 1 FROM pg_catalog.pg_cast k "
    "WHERE k.castsource = COALESCE(b.typ, a.atttypid) "
    "AND k.casttarget = 'pg_catalog.text'::pg_catalog.regtype "
    "AND k.castmethod = 'f') fmt "
    "FROM pg_catalog.pg_attribute a LEFT JOIN base b ON b.oid = a.atttypid "
    "JOIN pg_catalog.pg_type t ON t.oid = COALESCE(b.typ, a.atttypid) "
    "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a "
    "ON true "
    "WHERE c.relname = $1 AND n.nspname = pg_catalog.current_schema() "
    "AND c.relkind IN ('r', 'p')";

static int plan_scan(ferry_source *src, ferry_scan *s, bool *only,
                     ferry_error *err)
{
	PGresult *res;
	const char *params[1] = {s->table};
	int rc = query(src, CATALOG, plan_sql, 1, params, &res, err);
	if (rc < 0)
		return ferry_error_prefix(err, "could not scan table \"%s\"",
		                          s->table);
	int n = PQntuples(res);
	if (n == 0)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "could not scan table "
		                     "\"%s\": no such table in the current "
		                     "schema of \"%s\"", s->table, src->name);
	else if (!(s->schema = ferry_strdup(PQgetvalue(res, 0, 5))))
		rc = ferry_error_oom(err);
	else
		*only = PQgetvalue(res, 0, 0)[0] == 'r';
	for (uint32_t i = 0; rc == 0 && i < s->ncols; i++) {
		scan_col *c = &s->cols[i];
		int r = 0;
		while (r < n && (PQgetisnull(res, r, 1) ||
		                 strcmp(PQgetvalue(res, r, 1), c->name) != 0))
			r++;
		if (r == n) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND, "could not "
			                     "scan table \"%s\": no column \"%s\"",
			                     s->table, c->name);
			break;
		}
		bool plain;
		c->kind = oid_kind(parse_u32(PQgetvalue(res, r, 2)), &plain);
		/* a composite's ::text is record_out: no cast function */
		c->sel = plain ? SEL_PLAIN
		         : is_true(res, r, 4) && PQgetvalue(res, r, 3)[0] != 'c'
		             ? SEL_FORMAT
		             : SEL_CAST;
	}
	PQclear(res);
	return rc;
}

/* Fills key[] with the indexes of the primary key columns in key order;
 * returns their number, or -1 when positions are not 1..n. */
static int key_columns(const ferry_table *t, uint32_t *key)
{
	uint32_t npk = ferry_table_pk_count(t);
	for (uint32_t pos = 1; pos <= npk; pos++) {
		uint32_t found = 0;
		for (uint32_t i = 0; i < t->ncolumns; i++)
			if (t->columns[i].pk_position == (int)pos) {
				key[pos - 1] = i;
				found++;
			}
		if (found != 1)
			return -1;
	}
	return (int)npk;
}

static void put_column(ferry_buf *b, const char *name)
{
	ferry_buf_puts(b, "r.");
	ferry_buf_put_ident(b, name);
}

/*
 * SELECT <columns> FROM [ONLY] "schema"."t" AS r [WHERE (key) > ($1,
 * ...)] [ORDER BY key] [LIMIT n].  The table is qualified because
 * pg_catalog and pg_temp come before current_schema() in a search.
 * Columns are qualified everywhere: a bare name in ORDER BY would mean
 * the output column, the ::text of a column read as text, and sort by
 * its text.
 */
static void build_select(ferry_buf *b, const ferry_table *t,
                         const ferry_scan *s, bool only, const uint32_t *key,
                         int nkey, bool after, uint64_t limit)
{
	ferry_buf_puts(b, "SELECT ");
	for (uint32_t i = 0; i < s->ncols; i++) {
		const char *name = s->cols[i].name;
		if (i)
			ferry_buf_puts(b, ", ");
		if (s->cols[i].sel == SEL_FORMAT) {
			ferry_buf_puts(b, "CASE WHEN ");
			put_column(b, name);
			ferry_buf_puts(b, " IS NULL THEN NULL ELSE "
			                  "pg_catalog.format('%s', ");
			put_column(b, name);
			ferry_buf_puts(b, ") END");
		} else {
			put_column(b, name);
			if (s->cols[i].sel == SEL_CAST)
				ferry_buf_puts(b, "::pg_catalog.text");
		}
	}
	ferry_buf_puts(b, only ? " FROM ONLY " : " FROM ");
	ferry_buf_put_ident(b, s->schema);
	ferry_buf_putc(b, '.');
	ferry_buf_put_ident(b, t->name);
	ferry_buf_puts(b, " AS r");
	if (after) {
		ferry_buf_puts(b, " WHERE (");
		for (int k = 0; k < nkey; k++) {
			if (k)
				ferry_buf_puts(b, ", ");
			put_column(b, t->columns[key[k]].name);
		}
		ferry_buf_puts(b, ") > (");
		for (int k = 0; k < nkey; k++)
			ferry_buf_printf(b, "%s$%d", k ? ", " : "", k + 1);
		ferry_buf_putc(b, ')');
	}
	for (int k = 0; k < nkey; k++) {
		ferry_buf_puts(b, k ? ", " : " ORDER BY ");
		put_column(b, t->columns[key[k]].name);
	}
	if (limit > 0 && limit <= INT64_MAX)
		ferry_buf_printf(b, " LIMIT %llu", (unsigned long long)limit);
}

/* ---- key parameters ------------------------------------------------ */

static const char hex_digits[] = "0123456789abcdef";

/* "YYYY-MM-DD" as PostgreSQL reads it: no year 0, " BC" said after the
 * time (*bc), years past 9999 in full. */
static void put_ymd(ferry_buf *b, int32_t days, bool *bc)
{
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days(days, &y, &m, &d);
	*bc = y <= 0;
	ferry_buf_printf(b, "%04lld-%02u-%02u", (long long)(*bc ? 1 - y : y),
	                 m, d);
}

static void put_timestamp_param(ferry_buf *b, int64_t us, bool tz)
{
	if (us == FERRY_TS_PINF || us == FERRY_TS_NINF) {
		ferry_buf_puts(b, us > 0 ? "infinity" : "-infinity");
		return;
	}
	int64_t days = us / FERRY_USECS_PER_DAY, rest = us % FERRY_USECS_PER_DAY;
	if (rest < 0) {
		rest += FERRY_USECS_PER_DAY;
		days--;
	}
	bool bc;
	put_ymd(b, (int32_t)days, &bc);
	unsigned secs = (unsigned)(rest / 1000000);
	ferry_buf_printf(b, " %02u:%02u:%02u.%06u%s%s", secs / 3600,
	                 secs / 60 % 60, secs % 60, (unsigned)(rest % 1000000),
	                 tz ? "+00" : "", bc ? " BC" : "");
}

/* The text of a key value as the column's input function reads it back
 * to the same value; -1 for one text cannot carry (NULL, a NUL byte). */
static int put_param(ferry_buf *b, const ferry_value *v)
{
	bool bc;
	switch (v->type) {
	case FERRY_INT:
		ferry_buf_printf(b, "%lld", (long long)v->u.i);
		break;
	case FERRY_FLOAT:
		if (isnan(v->u.f))
			ferry_buf_puts(b, "NaN");
		else if (isinf(v->u.f))
			ferry_buf_puts(b, v->u.f > 0 ? "Infinity" : "-Infinity");
		else /* 17 digits read back as the same double, float4 too */
			ferry_buf_printf(b, "%.17g", v->u.f);
		break;
	case FERRY_BLOB:
		ferry_buf_puts(b, "\\x");
		for (size_t i = 0; i < v->u.s.len; i++) {
			uint8_t c = (uint8_t)v->u.s.ptr[i];
			ferry_buf_putc(b, (uint8_t)hex_digits[c >> 4]);
			ferry_buf_putc(b, (uint8_t)hex_digits[c & 15]);
		}
		break;
	case FERRY_BOOL:
		ferry_buf_putc(b, v->u.b ? 't' : 'f');
		break;
	case FERRY_DATE:
		if (v->u.date == FERRY_DATE_PINF || v->u.date == FERRY_DATE_NINF) {
			ferry_buf_puts(b, v->u.date > 0 ? "infinity" : "-infinity");
			break;
		}
		put_ymd(b, v->u.date, &bc);
		if (bc)
			ferry_buf_puts(b, " BC");
		break;
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		put_timestamp_param(b, v->u.i, v->type == FERRY_TIMESTAMPTZ);
		break;
	case FERRY_UUID:
		for (int i = 0; i < 16; i++) {
			if (i == 4 || i == 6 || i == 8 || i == 10)
				ferry_buf_putc(b, '-');
			ferry_buf_putc(b, (uint8_t)hex_digits[v->u.uuid[i] >> 4]);
			ferry_buf_putc(b, (uint8_t)hex_digits[v->u.uuid[i] & 15]);
		}
		break;
	case FERRY_NUMERIC:
	case FERRY_TEXT:
	case FERRY_JSON:
		if (v->u.s.len && memchr(v->u.s.ptr, 0, v->u.s.len))
			return -1;
		ferry_buf_append(b, v->u.s.ptr, v->u.s.len);
		break;
	default:
		return -1;
	}
	ferry_buf_putc(b, '\0');
	return 0;
}

/* The key parameters: text of each value in params, pointers in *values
 * (ferry_malloc'd, into params). */
static int key_params(const ferry_table *t, const uint32_t *key, int nkey,
                      const ferry_row *after, ferry_buf *params,
                      const char ***values, ferry_error *err)
{
	if (after->ncols != (uint32_t)nkey)
		return ferry_error_set(err, FERRY_EINVAL, "could not scan table "
		                       "\"%s\" after a key: %u key values for "
		                       "%d key columns", t->name, after->ncols,
		                       nkey);
	size_t *offs = ferry_calloc((size_t)nkey, sizeof *offs);
	*values = ferry_calloc((size_t)nkey, sizeof **values);
	int rc = offs && *values ? 0 : ferry_error_oom(err);
	for (int k = 0; rc == 0 && k < nkey; k++) {
		offs[k] = params->len;
		if (put_param(params, &after->values[k]) < 0)
			rc = ferry_error_set(err, FERRY_EINVAL, "could not scan "
			                     "table \"%s\" after a key: column "
			                     "\"%s\" has a %s key value", t->name,
			                     t->columns[key[k]].name,
			                     after->values[k].type == FERRY_NULL
			                         ? "NULL"
			                         : "NUL-holding");
	}
	if (rc == 0 && ferry_buf_failed(params))
		rc = ferry_error_oom(err);
	for (int k = 0; rc == 0 && k < nkey; k++)
		(*values)[k] = (const char *)params->data + offs[k];
	ferry_free(offs);
	return rc;
}

/* ---- starting a scan ----------------------------------------------- */

/* Starts COPY (select) TO STDOUT. */
static int start_copy(ferry_source *src, ferry_scan *s, ferry_buf *select,
                      ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "COPY (");
	ferry_buf_append(&sql, select->data, select->len);
	ferry_buf_puts(&sql, ") TO STDOUT (FORMAT binary)");
	const char *text = ferry_buf_cstr(&sql);
	if (!text) {
		ferry_buf_free(&sql);
		return ferry_error_oom(err);
	}
	int sent = PQsendQuery(src->conn, text);
	ferry_buf_free(&sql);
	if (!sent)
		return fail_pg(err, src->conn, NULL, "could not scan table \"%s\"",
		               s->table);
	s->active = true;
	PGresult *res = PQgetResult(src->conn);
	if (PQresultStatus(res) == PGRES_COPY_OUT) {
		PQclear(res);
		return 0; /* the rows follow */
	}
	int rc = fail_pg(err, src->conn, res, "could not scan table \"%s\"",
	                 s->table);
	PQclear(res);
	drain(src->conn);
	s->active = false;
	return rc;
}

/* Starts the parameterised SELECT, read one row at a time. */
static int start_rows(ferry_source *src, ferry_scan *s, ferry_buf *select,
                      int nparams, const char *const *values,
                      ferry_error *err)
{
	const char *text = ferry_buf_cstr(select);
	if (!text)
		return ferry_error_oom(err);
	if (!PQsendQueryParams(src->conn, text, nparams, NULL, values, NULL,
	                       NULL, 1))
		return fail_pg(err, src->conn, NULL, "could not scan table \"%s\"",
		               s->table);
	s->active = true;
	PQsetSingleRowMode(src->conn); /* else every row is held at once */
	return 0;
}

/* Opens a scan of table on src's held snapshot: COPY for a whole table,
 * a SELECT when after is given (rows after a key, limit). */
static int scan_start(ferry_source *src, const ferry_table *table,
                      const ferry_row *after, bool keyed, uint64_t limit,
                      ferry_scan **out, ferry_error *err)
{
	*out = NULL;
	uint32_t *key = ferry_calloc((size_t)table->ncolumns + 1, sizeof *key);
	if (!key)
		return ferry_error_oom(err);
	int nkey = key_columns(table, key);
	int rc = 0;
	if (nkey < 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not scan table "
		                     "\"%s\": its primary key positions are not "
		                     "1..n", table->name);
	else if (keyed && nkey == 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not scan table "
		                     "\"%s\" in key order: it has no primary key",
		                     table->name);
	if (rc == 0)
		rc = need_txn(src, "scan a table", err);
	ferry_scan *s = NULL;
	if (rc == 0 && !(s = new_scan(table)))
		rc = ferry_error_oom(err);
	if (rc == 0 && (rc = guard(src, "scan table", table->name, err)) == 0) {
		s->src = src;
		s->savepoint = true;
		src->scan = s;
	}
	bool only = true;
	if (rc == 0)
		rc = plan_scan(src, s, &only, err);
	ferry_buf select = FERRY_BUF_INIT, params = FERRY_BUF_INIT;
	const char **values = NULL;
	if (rc == 0)
		build_select(&select, table, s, only, key, nkey, after != NULL,
		             limit);
	if (rc == 0 && after)
		rc = key_params(table, key, nkey, after, &params, &values, err);
	if (rc == 0 && ferry_buf_failed(&select))
		rc = ferry_error_oom(err);
	if (rc == 0) {
		s->mode = keyed ? MODE_ROWS : MODE_COPY;
		rc = keyed ? start_rows(src, s, &select, after ? nkey : 0,
		                        values, err)
		           : start_copy(src, s, &select, err);
	}
	ferry_free(values);
	ferry_buf_free(&params);
	ferry_buf_free(&select);
	ferry_free(key);
	if (rc < 0) {
		if (s)
			s->failed = true;
		scan_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int src_scan_open(ferry_source *src, const ferry_table *table,
                         ferry_scan **out, ferry_error *err)
{
	return scan_start(src, table, NULL, false, 0, out, err);
}

static int src_scan_open_after(ferry_source *src, const ferry_table *table,
                               const ferry_row *after_key, uint64_t limit,
                               ferry_scan **out, ferry_error *err)
{
	return scan_start(src, table, after_key, true, limit, out, err);
}

/* ---- reading ------------------------------------------------------- */

/* Takes the statement's final result once its rows are read. */
static int finish(ferry_scan *s, ExecStatusType want, ferry_error *err)
{
	PGconn *conn = s->src->conn;
	PGresult *res = PQgetResult(conn);
	int rc = 0;
	if (PQresultStatus(res) != want) {
		rc = fail_pg(err, conn, res, "could not read table \"%s\"",
		             s->table);
	} else if (want == PGRES_COMMAND_OK) {
		/* COPY says how many rows it sent: a lost one is caught */
		const char *n = PQcmdTuples(res);
		if (strtoll(n, NULL, 10) != s->rows)
			rc = ferry_error_set(err, FERRY_ECORRUPT, "could not read "
			                     "table \"%s\": the server sent %s rows, "
			                     "ferry decoded %lld", s->table, n,
			                     (long long)s->rows);
	}
	PQclear(res);
	drain(conn);
	s->active = false;
	s->failed = rc < 0;
	return rc;
}

static int copy_next(ferry_scan *s, ferry_row *row, ferry_error *err)
{
	for (;;) {
		if (s->msg) {
			PQfreemem(s->msg);
			s->msg = NULL;
		}
		char *buf;
		int n = PQgetCopyData(s->src->conn, &buf, 0);
		if (n == -1) {
			int rc = finish(s, PGRES_COMMAND_OK, err);
			if (rc == 0 && !s->trailer)
				rc = bad_data(s, err, "no end-of-data marker");
			return rc;
		}
		if (n < 0)
			return fail_pg(err, s->src->conn, NULL, "could not read "
			               "table \"%s\"", s->table);
		s->msg = buf;
		const uint8_t *p = (const uint8_t *)buf, *end = p + n;
		int rc = 0;
		/* the header comes with the first row, in its message */
		if (!s->header) {
			rc = read_header(s, &p, end, err);
			s->header = rc == 0;
		}
		if (rc == 0 && p == end)
			continue;
		if (rc == 0 && s->trailer)
			rc = bad_data(s, err, "data after the end-of-data marker");
		if (rc == 0)
			rc = read_tuple(s, &p, end, row, err);
		if (rc >= 0 && p != end)
			rc = bad_data(s, err, "bytes after a tuple");
		if (rc < 0)
			return rc;
		if (rc == 0) {
			s->trailer = true;
			continue;
		}
		s->rows++;
		return 1;
	}
}

/* Decodes row r of a binary result. */
static int result_row(ferry_scan *s, const PGresult *res, int r,
                      ferry_row *row, ferry_error *err)
{
	if (PQnfields(res) != (int)s->ncols)
		return bad_data(s, err, "wrong number of columns");
	for (uint32_t i = 0; i < s->ncols; i++) {
		if (PQgetisnull(res, r, (int)i)) {
			row->values[i] = ferry_value_null();
			continue;
		}
		int rc = decode_field(s, &s->cols[i],
		                      (const uint8_t *)PQgetvalue(res, r, (int)i),
		                      PQgetlength(res, r, (int)i),
		                      &row->values[i], err);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static int rows_next(ferry_scan *s, ferry_row *row, ferry_error *err)
{
	PQclear(s->res);
	s->res = PQgetResult(s->src->conn);
	ExecStatusType st = PQresultStatus(s->res);
	if (st == PGRES_SINGLE_TUPLE)
		return result_row(s, s->res, 0, row, err);
	if (st == PGRES_TUPLES_OK) { /* the end: no row in it */
		PQclear(s->res);
		s->res = NULL;
		drain(s->src->conn);
		s->active = false;
		return 0;
	}
	int rc = fail_pg(err, s->src->conn, s->res, "could not read table "
	                 "\"%s\"", s->table);
	PQclear(s->res);
	s->res = NULL;
	drain(s->src->conn);
	s->active = false;
	return rc;
}

static int scan_next(ferry_scan *s, ferry_row *row, ferry_error *err)
{
	if (s->mode != MODE_CHUNK && !s->src)
		return ferry_error_set(err, FERRY_EINVAL, "could not read table "
		                       "\"%s\": its source is closed", s->table);
	if (s->failed)
		return ferry_error_set(err, FERRY_EINVAL, "could not read table "
		                       "\"%s\": the scan has failed", s->table);
	if (s->mode != MODE_CHUNK && !s->active)
		return 0;
	int rc = ferry_row_resize(row, s->ncols, err);
	if (rc < 0)
		return rc;
	if (s->mode == MODE_COPY) {
		rc = copy_next(s, row, err);
	} else if (s->mode == MODE_ROWS) {
		rc = rows_next(s, row, err);
	} else if (s->next < PQntuples(s->res)) {
		rc = result_row(s, s->res, s->next, row, err);
		s->next += rc > 0;
	} else {
		rc = 0;
	}
	if (rc < 0)
		s->failed = true;
	return rc;
}

/*
 * Gives the connection back.  A scan still reading is cancelled and its
 * rest drained; one that did not finish cleanly is rolled back to its
 * savepoint, which leaves the transaction, and the snapshot, as they
 * were before it.  A finished one's savepoint is released with the next
 * scan's start.  The scan reads nothing more.
 */
static void scan_stop(ferry_scan *s)
{
	ferry_source *src = s->src;
	if (!src || src->scan != s)
		return;
	if (s->active) {
		cancel(src->conn);
		PQclear(s->res);
		s->res = NULL;
		drain(src->conn);
		s->active = false;
		s->failed = true;
	}
	if (s->savepoint)
		unguard(src, s->failed);
	src->scan = NULL;
	s->src = NULL;
}

static void scan_close(ferry_scan *s)
{
	if (!s)
		return;
	scan_stop(s);
	if (s->msg)
		PQfreemem(s->msg);
	PQclear(s->res);
	free_cols(s->cols, s->ncols);
	ferry_free(s->table);
	ferry_free(s->schema);
	ferry_free(s);
}

/* ---- chunks in their own transaction ------------------------------- */

static const char chunk_begin_sql[] =
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
    "SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text";
static const char chunk_begin_sql_12[] = /* before pg_current_snapshot */
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
    "SELECT pg_catalog.txid_current_snapshot()::pg_catalog.text";

/* Reads the chunk's rows into s->res inside the open chunk transaction. */
static int chunk_rows(ferry_source *src, ferry_scan *s,
                      const ferry_table *table, const ferry_row *after,
                      uint64_t limit, ferry_error *err)
{
	uint32_t *key = ferry_calloc((size_t)table->ncolumns + 1, sizeof *key);
	if (!key)
		return ferry_error_oom(err);
	int nkey = key_columns(table, key);
	bool only = true;
	int rc = plan_scan(src, s, &only, err);
	ferry_buf select = FERRY_BUF_INIT, params = FERRY_BUF_INIT;
	const char **values = NULL;
	if (rc == 0)
		build_select(&select, table, s, only, key, nkey, after != NULL,
		             limit);
	if (rc == 0 && after)
		rc = key_params(table, key, nkey, after, &params, &values, err);
	const char *text = rc == 0 ? ferry_buf_cstr(&select) : NULL;
	if (rc == 0 && !text)
		rc = ferry_error_oom(err);
	if (rc == 0) {
		s->res = PQexecParams(src->conn, text, after ? nkey : 0, NULL,
		                      values, NULL, NULL, 1);
		if (PQresultStatus(s->res) != PGRES_TUPLES_OK)
			rc = fail_pg(err, src->conn, s->res, "could not read table "
			             "\"%s\"", s->table);
	}
	ferry_free(values);
	ferry_buf_free(&params);
	ferry_buf_free(&select);
	ferry_free(key);
	return rc;
}

int ferry_pg_source_read_chunk(ferry_source *src, const ferry_table *table,
                               const ferry_row *after_key, uint64_t limit,
                               ferry_scan **out, char **snapshot,
                               ferry_error *err)
{
	*out = NULL;
	if (snapshot)
		*snapshot = NULL;
	if (src->in_txn || src->scan)
		return ferry_error_set(err, FERRY_EINVAL, "could not read a chunk "
		                       "of table \"%s\": \"%s\" holds a snapshot "
		                       "(release it first)", table->name,
		                       src->name);
	if (limit == 0 || ferry_table_pk_count(table) == 0)
		return ferry_error_set(err, FERRY_EINVAL, "could not read a chunk "
		                       "of table \"%s\": %s", table->name,
		                       limit ? "it has no primary key"
		                             : "no row limit");
	ferry_scan *s = new_scan(table);
	if (!s)
		return ferry_error_oom(err);
	s->mode = MODE_CHUNK;
	PGresult *res = PQexec(src->conn, PQserverVersion(src->conn) >= 130000
	                                      ? chunk_begin_sql
	                                      : chunk_begin_sql_12);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = fail_pg(err, src->conn, res, "could not begin a chunk of "
		             "table \"%s\"", table->name);
	else if (snapshot && !(*snapshot = ferry_strdup(PQgetvalue(res, 0, 0))))
		rc = ferry_error_oom(err);
	PQclear(res);
	if (rc == 0)
		rc = chunk_rows(src, s, table, after_key, limit, err);
	if (PQtransactionStatus(src->conn) != PQTRANS_IDLE) {
		/* read only: ending it either way only drops the snapshot */
		int end = exec_cmd(src, "ROLLBACK", rc ? NULL : err, "could not "
		                   "end a chunk of table \"%s\"", table->name);
		rc = rc ? rc : end;
	}
	if (rc < 0) {
		scan_close(s);
		if (snapshot) {
			ferry_free(*snapshot);
			*snapshot = NULL;
		}
		return rc;
	}
	*out = s;
	return 0;
}

/* ---- decoding without a server ------------------------------------- */

int ferry_pg_source_decode_copy(const ferry_table *table, const void *data,
                                size_t len, int64_t *rows, ferry_error *err)
{
	*rows = 0;
	ferry_scan *s = new_scan(table);
	if (!s)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < s->ncols; i++)
		s->cols[i].kind = sqltype_kind(&table->columns[i].type);
	ferry_row row = FERRY_ROW_INIT;
	const uint8_t *p = data, *end = p + len;
	int rc = ferry_row_resize(&row, s->ncols, err);
	if (rc == 0)
		rc = read_header(s, &p, end, err);
	while (rc == 0 && (rc = read_tuple(s, &p, end, &row, err)) == 1) {
		(*rows)++;
		rc = 0;
	}
	if (rc == 0 && p != end)
		rc = bad_data(s, err, "bytes after the end-of-data marker");
	ferry_row_free(&row);
	scan_close(s);
	return rc;
}

const ferry_source_ops ferry_pg_source_ops = {
	.name = "postgresql",
	.open = src_open,
	.introspect = src_introspect,
	.scan_open = src_scan_open,
	.scan_next = scan_next,
	.scan_close = scan_close,
	.scan_open_after = src_scan_open_after,
	.close = src_close,
};
