/*
 * engine/pg_target.c - the PostgreSQL target writer (target.h).
 *
 * Tables are created with their columns only, filled with COPY ... FROM
 * STDIN in one transaction per table, and only then given their primary
 * key, indexes, identity positions and foreign keys, as pgloader does:
 * building an index once over loaded rows is far cheaper than keeping it
 * up to date row by row.
 *
 * COPY is the hot path of the whole product.  Rows are encoded straight
 * into one reusable buffer (no allocation per row or value, hand-written
 * integer and date formatting) and handed to libpq in chunks of about
 * FLUSH_BYTES.  Both COPY formats are implemented; binary is the default
 * because it measured faster (docs/postgresql-target.md has the numbers),
 * and FERRY_PG_COPY_FORMAT=text|binary overrides it.  A table whose
 * existing columns have types the binary encoder does not produce for the
 * incoming values (a reused table with other types) is copied as text,
 * which lets PostgreSQL convert.
 *
 * Identifiers are always double-quoted, so reserved words, mixed case,
 * spaces and quotes in names survive.  Tables are created unqualified:
 * the connection's search_path picks the schema, and lookups are made in
 * current_schema(), where CREATE TABLE puts them.
 */
#include "engine/pg_target.h"
#include "engine/pg_util.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/datetime.h"

/* Encoded rows are handed to libpq once this much is buffered. */
#define FLUSH_BYTES (256 * 1024)

/* PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
#define NAME_MAX_BYTES 63

/* ferry counts from 1970-01-01, PostgreSQL's binary format from 2000-01-01. */
#define PG_EPOCH_DAYS INT64_C(10957)
#define PG_EPOCH_USECS (PG_EPOCH_DAYS * FERRY_USECS_PER_DAY)

/* The format when FERRY_PG_COPY_FORMAT is unset: binary measured about
 * twice as fast (docs/postgresql-target.md, "Measurements"). */
#define DEFAULT_BINARY true


/* How a column's values travel in binary COPY. */
typedef enum bin_enc {
	ENC_NONE = 0, /* no binary form for this value/column pair */
	ENC_INT2,
	ENC_INT4,
	ENC_INT8,
	ENC_FLOAT4,
	ENC_FLOAT8,
	ENC_NUMERIC,
	ENC_BYTES, /* text, varchar, char, json, bytea: the bytes themselves */
	ENC_JSONB,
	ENC_BOOL,
	ENC_DATE,
	ENC_TIMESTAMP, /* timestamp and timestamptz alike */
	ENC_UUID
} bin_enc;

typedef struct copy_col {
	char *name;
	ferry_type vtype; /* the one value type the column accepts */
	bin_enc enc;
	bool real;        /* a float4 column: shortest float digits in text */
} copy_col;

typedef struct apply_table apply_table;
typedef struct pending pending;

struct ferry_target {
	PGconn *conn;
	char *redacted;  /* the URI as it may be shown */
	bool want_binary;
	/* the copy in progress */
	bool copying;    /* between copy_begin and copy_end or copy_abort */
	bool wire_copy;  /* libpq is in COPY IN state */
	bool binary;     /* this table's copy uses the binary format */
	char *table;
	copy_col *cols;
	uint32_t ncols;
	int64_t rows;
	ferry_buf out;   /* encoded rows not yet handed to libpq */
	/* online apply: the batch, between apply_begin and commit or abort */
	bool applying;
	bool apply_failed;  /* a change failed: only apply_abort is left */
	bool synced;        /* the batch's pipeline sync has been sent */
	bool ckpt_ready;    /* _ferry_checkpoint is known to exist */
	pending *queue;     /* statements whose results are still to read */
	size_t qhead, qlen, qcap;
	unsigned since_read; /* changes sent since results were last taken */
	ferry_buf keys;     /* the keys of the batch's changes, for messages */
	PGresult *catalog;  /* a column-type query's result, for its caller */
	const char *migration; /* apply_commit's, for its messages */
	uint64_t lsn;
	/* statements prepared on this connection, per table */
	apply_table **tabs;
	uint32_t ntabs, tabs_cap;
	apply_table *last;  /* the table of the previous change */
	unsigned next_stmt; /* numbers the statement names */
	/* one statement's parameters */
	ferry_buf params;
	size_t *poff;       /* offset in params; SIZE_MAX for NULL */
	const char **pval;
	int *plen, *pfmt;
	uint32_t nparams, pcap;
};

/* Where a table stands in the catalog of current_schema(). */
typedef struct relinfo {
	bool exists;
	char kind;    /* pg_class.relkind */
	char oid[16]; /* as text, to pass as a parameter */
	char nsp[16];
} relinfo;

static void pg_close(ferry_target *t);
static void pg_copy_abort(ferry_target *t);
static void pg_apply_abort(ferry_target *t);
static void free_apply_state(ferry_target *t);

/* ---- messages ------------------------------------------------------ */

static int fail_pgv(ferry_error *err, int code, PGconn *conn,
                    const PGresult *res, bool context, const char *fmt,
                    va_list ap) FERRY_PRINTF(6, 0);
static int fail_pg(ferry_error *err, int code, PGconn *conn,
                   const PGresult *res, bool context, const char *fmt, ...)
    FERRY_PRINTF(6, 7);

/* Sets err to "<what>: <PostgreSQL's error>"; returns code. */
static int fail_pgv(ferry_error *err, int code, PGconn *conn,
                    const PGresult *res, bool context, const char *fmt,
                    va_list ap)
{
	ferry_buf b = FERRY_BUF_INIT;
	if (code != FERRY_ENOMEM && ferry_pg_conn_lost(conn, res))
		code = FERRY_ECONNLOST;
	ferry_buf_vprintf(&b, fmt, ap);
	ferry_buf_puts(&b, ": ");
	ferry_pg_put_error(&b, conn, res, context);
	const char *msg = ferry_buf_cstr(&b);
	int rc = msg ? ferry_error_set(err, code, "%s", msg)
	             : ferry_error_oom(err);
	ferry_buf_free(&b);
	return rc;
}

static int fail_pg(ferry_error *err, int code, PGconn *conn,
                   const PGresult *res, bool context, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fail_pgv(err, code, conn, res, context, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- SQL text ------------------------------------------------------ */

/* Appends ("a", "b", ...): identifiers are always quoted (buf.h). */
static void quote_list(ferry_buf *b, char *const *names, uint32_t n)
{
	ferry_buf_putc(b, '(');
	ferry_buf_put_idents(b, names, n);
	ferry_buf_putc(b, ')');
}

/* Bytes of name PostgreSQL keeps: at most 63, cut on a character
 * boundary as its truncate_identifier() does for UTF-8. */
static size_t clip_len(const char *name, size_t max)
{
	size_t n = strlen(name);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Whether our name and a name from the catalog are the same identifier. */
static bool same_name(const char *ours, const char *catalog)
{
	size_t n = clip_len(ours, NAME_MAX_BYTES);
	return strlen(catalog) == n && memcmp(ours, catalog, n) == 0;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* never printed: DROP ... IF EXISTS notices */
}

/* ---- running statements -------------------------------------------- */

static int exec_cmd(ferry_target *t, const char *sql, ferry_error *err,
                    const char *fmt, ...) FERRY_PRINTF(4, 5);

/* Runs a statement that returns no rows; a failure reads
 * "<what>: <cause>", what formatted from fmt. */
static int exec_cmd(ferry_target *t, const char *sql, ferry_error *err,
                    const char *fmt, ...)
{
	PGresult *res = PQexec(t->conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		va_list ap;
		va_start(ap, fmt);
		rc = fail_pgv(err, FERRY_ERROR, t->conn, res, false, fmt, ap);
		va_end(ap);
	}
	PQclear(res);
	return rc;
}

/* Runs a built statement, or reports the buffer's allocation failure. */
static int exec_buf(ferry_target *t, ferry_buf *sql, ferry_error *err,
                    const char *what, const char *name)
{
	const char *text = ferry_buf_cstr(sql);
	if (!text)
		return ferry_error_oom(err);
	return exec_cmd(t, text, err, "could not %s \"%s\"", what, name);
}

/* Runs a catalog query with text parameters; *out is a PGRES_TUPLES_OK
 * result for the caller to PQclear. */
static int catalog_query(ferry_target *t, const char *sql, int nparams,
                         const char *const *params, const char *table,
                         PGresult **out, ferry_error *err)
{
	PGresult *res =
	    PQexecParams(t->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*out = res;
		return 0;
	}
	*out = NULL;
	int rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
	                 "could not inspect table \"%s\"", table);
	PQclear(res);
	return rc;
}

static int refuse_busy(const ferry_target *t, const char *table,
                       ferry_error *err)
{
	if (t->applying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not change table \"%s\": an "
		                       "apply batch is open", table);
	if (!t->copying)
		return 0;
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not change table \"%s\": the copy into "
	                       "\"%s\" is still open",
	                       table, t->table);
}

/* ---- connection ---------------------------------------------------- */

static int connect_failed(ferry_target *t, const char *conninfo,
                          ferry_error *err)
{
	ferry_buf cause = FERRY_BUF_INIT;
	ferry_pg_put_one_line(&cause, PQerrorMessage(t->conn));
	ferry_pg_mask_secrets(&cause, conninfo, t->redacted);
	const char *c = ferry_buf_cstr(&cause);
	/* a server that is down or restarting: worth trying again later */
	int rc = c ? ferry_error_set(err, FERRY_ECONNLOST,
	                             "could not connect to \"%s\": %s",
	                             t->redacted, c)
	           : ferry_error_oom(err);
	ferry_buf_free(&cause);
	return rc;
}

static int copy_format(bool *binary, ferry_error *err)
{
	const char *f = getenv("FERRY_PG_COPY_FORMAT");
	if (!f || !*f)
		*binary = DEFAULT_BINARY;
	else if (strcmp(f, "text") == 0)
		*binary = false;
	else if (strcmp(f, "binary") == 0)
		*binary = true;
	else
		return ferry_error_set(err, FERRY_EINVAL,
		                       "invalid FERRY_PG_COPY_FORMAT \"%s\": "
		                       "use text or binary", f);
	return 0;
}

/* Session settings the encoders rely on: UTF-8 bytes, timestamptz text
 * with "+00", ISO dates, floats read back exactly. */
static const char session_sql[] =
    "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; "
    "SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3";

static int pg_open(ferry_target **out, const ferry_uri *uri, ferry_error *err)
{
	*out = NULL;
	if (!uri || uri->kind != FERRY_URI_POSTGRESQL || !uri->conninfo)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not open target \"%s\": not a "
		                       "postgresql uri",
		                       uri && uri->redacted ? uri->redacted
		                                            : "");
	bool binary = DEFAULT_BINARY;
	int rc = copy_format(&binary, err);
	if (rc < 0)
		return rc;
	ferry_target *t = ferry_calloc(1, sizeof *t);
	if (!t)
		return ferry_error_oom(err);
	t->want_binary = binary;
	t->redacted = ferry_strdup(uri->redacted ? uri->redacted : "");
	t->conn = t->redacted ? PQconnectdb(uri->conninfo) : NULL;
	if (!t->conn) {
		pg_close(t);
		return ferry_error_oom(err);
	}
	if (PQstatus(t->conn) != CONNECTION_OK) {
		rc = connect_failed(t, uri->conninfo, err);
		pg_close(t);
		return rc;
	}
	PQsetNoticeProcessor(t->conn, ignore_notice, NULL);
	rc = exec_cmd(t, session_sql, err, "could not configure the session on "
	                                   "\"%s\"", t->redacted);
	if (rc < 0) {
		pg_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void pg_close(ferry_target *t)
{
	if (!t)
		return;
	if (t->copying)
		pg_copy_abort(t);
	if (t->applying)
		pg_apply_abort(t);
	free_apply_state(t);
	ferry_buf_free(&t->out);
	if (t->conn)
		PQfinish(t->conn);
	ferry_free(t->redacted);
	ferry_free(t);
}

/* ---- the catalog --------------------------------------------------- */

/* Looks name up in current_schema(), where an unqualified CREATE TABLE
 * puts it.  (to_regclass would also find a table further down the
 * search_path, which CREATE and DROP must not confuse with ours.) */
static int find_relation(ferry_target *t, const char *name, relinfo *ri,
                         ferry_error *err)
{
	static const char sql[] =
	    "SELECT c.relkind, c.oid, c.relnamespace "
	    "FROM pg_catalog.pg_class c "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE c.relname = $1 AND n.nspname = pg_catalog.current_schema()";
	char clipped[NAME_MAX_BYTES + 1];
	size_t n = clip_len(name, NAME_MAX_BYTES);
	memcpy(clipped, name, n);
	clipped[n] = '\0';
	const char *params[1] = {clipped};
	PGresult *res;
	memset(ri, 0, sizeof *ri);
	int rc = catalog_query(t, sql, 1, params, name, &res, err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 1) {
		ri->exists = true;
		ri->kind = PQgetvalue(res, 0, 0)[0];
		snprintf(ri->oid, sizeof ri->oid, "%s", PQgetvalue(res, 0, 1));
		snprintf(ri->nsp, sizeof ri->nsp, "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return 0;
}

/* find_relation, refusing a view, sequence or index of that name. */
static int find_table(ferry_target *t, const char *name, relinfo *ri,
                      ferry_error *err)
{
	int rc = find_relation(t, name, ri, err);
	if (rc == 0 && ri->exists && ri->kind != 'r' && ri->kind != 'p')
		return ferry_error_set(err, FERRY_EINVAL,
		                       "target relation \"%s\" exists and is "
		                       "not a table", name);
	return rc;
}

/* Column names and types (domains resolved to their base) in order. */
static int table_columns(ferry_target *t, const char *table, const relinfo *ri,
                         PGresult **out, ferry_error *err)
{
	static const char sql[] =
	    "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype "
	    "ELSE a.atttypid END FROM pg_catalog.pg_attribute a "
	    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
	    "WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 "
	    "AND NOT a.attisdropped ORDER BY a.attnum";
	const char *params[1] = {ri->oid};
	return catalog_query(t, sql, 1, params, table, out, err);
}

/* The existing columns (a table_columns result) against the planned ones:
 * the same names in the same order. */
static int compare_columns(const ferry_table *table, const PGresult *res,
                           ferry_error *err)
{
	uint32_t have = (uint32_t)PQntuples(res);
	for (uint32_t i = 0; i < table->ncolumns && i < have; i++) {
		const char *got = PQgetvalue(res, (int)i, 0);
		if (!same_name(table->columns[i].name, got))
			return ferry_error_set(
			    err, FERRY_EINVAL,
			    "target table \"%s\" exists with other columns "
			    "(column %u is \"%s\", not \"%s\"): use --drop to "
			    "recreate it",
			    table->name, i + 1, got, table->columns[i].name);
	}
	if (have != table->ncolumns)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "target table \"%s\" exists with other "
		                       "columns (%u, not %u): use --drop to "
		                       "recreate it",
		                       table->name, have, table->ncolumns);
	return 0;
}

/* An existing table is reused under FERRY_EXISTING_REFUSE only when it is
 * empty and has the same column names in the same order. */
static int check_reusable(ferry_target *t, const ferry_table *table,
                          const relinfo *ri, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "SELECT 1 FROM ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " LIMIT 1");
	const char *text = ferry_buf_cstr(&sql);
	PGresult *res;
	int rc = text ? catalog_query(t, text, 0, NULL, table->name, &res, err)
	              : ferry_error_oom(err);
	ferry_buf_free(&sql);
	if (rc < 0)
		return rc;
	int rows = PQntuples(res);
	PQclear(res);
	if (rows > 0)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "target table \"%s\" is not empty: use "
		                       "--truncate to empty it or --drop to "
		                       "recreate it",
		                       table->name);
	if ((rc = table_columns(t, table->name, ri, &res, err)) < 0)
		return rc;
	rc = compare_columns(table, res, err);
	PQclear(res);
	return rc;
}

/* ---- tables -------------------------------------------------------- */

static bool is_identity(const ferry_column *c)
{
	ferry_sqltype_kind k = c->type.kind;
	return c->autoincrement && (k == FERRY_SQL_SMALLINT ||
	                            k == FERRY_SQL_INTEGER ||
	                            k == FERRY_SQL_BIGINT);
}

static void create_sql(ferry_buf *sql, const ferry_table *table)
{
	ferry_buf_puts(sql, "CREATE TABLE ");
	ferry_buf_put_ident(sql, table->name);
	ferry_buf_puts(sql, " (");
	for (uint32_t i = 0; i < table->ncolumns; i++) {
		const ferry_column *c = &table->columns[i];
		if (i)
			ferry_buf_puts(sql, ", ");
		ferry_buf_put_ident(sql, c->name);
		ferry_buf_putc(sql, ' ');
		ferry_sqltype_format(&c->type, sql); /* UNKNOWN spells "text" */
		if (is_identity(c)) {
			ferry_buf_puts(sql,
			               " GENERATED BY DEFAULT AS IDENTITY");
		} else if (c->default_sql) {
			ferry_buf_puts(sql, " DEFAULT ");
			ferry_buf_puts(sql, c->default_sql);
		}
		if (c->not_null)
			ferry_buf_puts(sql, " NOT NULL");
	}
	ferry_buf_putc(sql, ')');
}

static int pg_check_table(ferry_target *t, const ferry_table *table,
                          ferry_existing existing, ferry_error *err)
{
	relinfo ri;
	int rc = find_table(t, table->name, &ri, err);
	if (rc < 0 || !ri.exists || existing != FERRY_EXISTING_REFUSE)
		return rc;
	return check_reusable(t, table, &ri, err);
}

static int pg_prepare_table(ferry_target *t, const ferry_table *table,
                            ferry_existing existing, ferry_error *err)
{
	relinfo ri;
	int rc = refuse_busy(t, table->name, err);
	if (rc == 0)
		rc = find_table(t, table->name, &ri, err);
	if (rc < 0)
		return rc;
	if (ri.exists && existing == FERRY_EXISTING_REFUSE)
		return check_reusable(t, table, &ri, err);
	ferry_buf sql = FERRY_BUF_INIT;
	const char *what = "create table";
	if (ri.exists && existing == FERRY_EXISTING_TRUNCATE) {
		/* no CASCADE: emptying other tables is not ours to decide */
		ferry_buf_puts(&sql, "TRUNCATE ");
		ferry_buf_put_ident(&sql, table->name);
		what = "truncate table";
	} else {
		if (ri.exists) {
			/* one simple query is one transaction: no half */
			ferry_buf_puts(&sql, "DROP TABLE ");
			ferry_buf_put_ident(&sql, table->name);
			ferry_buf_puts(&sql, " CASCADE; ");
			what = "recreate table";
		}
		create_sql(&sql, table);
	}
	rc = exec_buf(t, &sql, err, what, table->name);
	ferry_buf_free(&sql);
	return rc;
}

/* ---- text encoders ------------------------------------------------- */

static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
static const char hex_digits[] = "0123456789abcdef";

#define PUT_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

static inline uint8_t *put2(uint8_t *p, unsigned v)
{
	memcpy(p, digit_pairs + 2 * v, 2);
	return p + 2;
}

static uint8_t *put_uint(uint8_t *p, uint64_t u)
{
	char tmp[20];
	char *q = tmp + sizeof tmp;
	while (u >= 100) {
		q -= 2;
		memcpy(q, digit_pairs + 2 * (u % 100), 2);
		u /= 100;
	}
	if (u >= 10) {
		q -= 2;
		memcpy(q, digit_pairs + 2 * u, 2);
	} else {
		*--q = (char)('0' + u);
	}
	size_t n = (size_t)(tmp + sizeof tmp - q);
	memcpy(p, q, n);
	return p + n;
}

static uint8_t *put_int(uint8_t *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_uint(p, 0 - (uint64_t)v);
	}
	return put_uint(p, (uint64_t)v);
}

/* The fewest digits that read back as the same number: what PostgreSQL
 * prints with extra_float_digits >= 1. */
static uint8_t *put_float(uint8_t *p, double f, bool real)
{
	if (isnan(f))
		return PUT_LIT(p, "NaN");
	if (isinf(f))
		return f > 0 ? PUT_LIT(p, "Infinity") : PUT_LIT(p, "-Infinity");
	if (f == 0)
		return signbit(f) ? PUT_LIT(p, "-0") : PUT_LIT(p, "0");
	if (fabs(f) < 1e15 && f == (double)(int64_t)f)
		return put_int(p, (int64_t)f); /* exact, and no snprintf */
	char tmp[40];
	if (real && (double)(float)f == f) {
		for (int digits = 6; digits <= 9; digits++) {
			snprintf(tmp, sizeof tmp, "%.*g", digits, f);
			if (strtof(tmp, NULL) == (float)f)
				break;
		}
	} else {
		for (int digits = 15; digits <= 17; digits++) {
			snprintf(tmp, sizeof tmp, "%.*g", digits, f);
			if (strtod(tmp, NULL) == f)
				break;
		}
	}
	size_t n = strlen(tmp);
	memcpy(p, tmp, n);
	return p + n;
}

/* "YYYY-MM-DD" with the year as PostgreSQL counts it: 1 BC precedes 1 AD
 * (no year 0), *bc says whether " BC" must follow. */
static uint8_t *put_ymd(uint8_t *p, int32_t days, bool *bc)
{
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days(days, &y, &m, &d);
	*bc = y <= 0;
	if (*bc)
		y = 1 - y;
	if (y < 10000) {
		p = put2(p, (unsigned)(y / 100));
		p = put2(p, (unsigned)(y % 100));
	} else {
		p = put_uint(p, (uint64_t)y);
	}
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	return put2(p, d);
}

static uint8_t *put_date(uint8_t *p, int32_t days)
{
	if (days == FERRY_DATE_PINF)
		return PUT_LIT(p, "infinity");
	if (days == FERRY_DATE_NINF)
		return PUT_LIT(p, "-infinity");
	bool bc;
	p = put_ymd(p, days, &bc);
	return bc ? PUT_LIT(p, " BC") : p;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff][+00][ BC]" */
static uint8_t *put_timestamp(uint8_t *p, int64_t us, bool tz)
{
	if (us == FERRY_TS_PINF)
		return PUT_LIT(p, "infinity");
	if (us == FERRY_TS_NINF)
		return PUT_LIT(p, "-infinity");
	int64_t days = us / FERRY_USECS_PER_DAY;
	int64_t rest = us % FERRY_USECS_PER_DAY;
	if (rest < 0) {
		rest += FERRY_USECS_PER_DAY;
		days--;
	}
	bool bc;
	p = put_ymd(p, (int32_t)days, &bc);
	unsigned secs = (unsigned)(rest / 1000000);
	unsigned frac = (unsigned)(rest % 1000000);
	*p++ = ' ';
	p = put2(p, secs / 3600);
	*p++ = ':';
	p = put2(p, secs / 60 % 60);
	*p++ = ':';
	p = put2(p, secs % 60);
	if (frac) {
		*p++ = '.';
		p = put2(p, frac / 10000);
		p = put2(p, frac / 100 % 100);
		p = put2(p, frac % 100);
	}
	if (tz)
		p = PUT_LIT(p, "+00");
	return bc ? PUT_LIT(p, " BC") : p;
}

static uint8_t *put_uuid(uint8_t *p, const uint8_t *u)
{
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = (uint8_t)hex_digits[u[i] >> 4];
		*p++ = (uint8_t)hex_digits[u[i] & 15];
	}
	return p;
}

/* bytea's hex form, its backslash doubled for COPY text: \\x0a00ff */
static uint8_t *put_bytea_text(uint8_t *p, const char *s, size_t n)
{
	const uint8_t *b = (const uint8_t *)s;
	p = PUT_LIT(p, "\\\\x");
	for (size_t i = 0; i < n; i++) {
		*p++ = (uint8_t)hex_digits[b[i] >> 4];
		*p++ = (uint8_t)hex_digits[b[i] & 15];
	}
	return p;
}

/* Whether any of 8 bytes may need escaping: a backslash, or a byte below
 * 14 (tab, newline and carriage return among them; the rare false hit
 * is settled byte by byte).  The classic has-zero/has-less bit tricks. */
static inline bool word_may_escape(const uint8_t *q)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t x, bs;
	memcpy(&x, q, 8);
	bs = x ^ (ones * '\\');
	return (((bs - ones) & ~bs) | ((x - ones * 14) & ~x)) & highs;
}

/* Copies s with COPY text's escapes for backslash, newline, carriage
 * return and tab (the only bytes it gives meaning to), in runs found
 * 8 bytes at a time: most text has nothing to escape. */
static uint8_t *put_escaped(uint8_t *p, const char *s, size_t n)
{
	static const uint8_t esc[256] = {
		['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
	const uint8_t *q = (const uint8_t *)s, *end = q + n;
	while (q < end) {
		const uint8_t *run = q, *stop;
		for (;;) {
			while (end - q >= 8 && !word_may_escape(q))
				q += 8;
			stop = end - q >= 8 ? q + 8 : end;
			while (q < stop && !esc[*q])
				q++;
			if (q < stop || q == end)
				break;
		}
		memcpy(p, run, (size_t)(q - run));
		p += q - run;
		if (q < end) {
			*p++ = '\\';
			*p++ = esc[*q++];
		}
	}
	return p;
}

/* v->type is the column's value type (checked by the caller). */
static uint8_t *put_text_value(uint8_t *p, const copy_col *c,
                               const ferry_value *v)
{
	switch (v->type) {
	case FERRY_INT:
		return put_int(p, v->u.i);
	case FERRY_FLOAT:
		return put_float(p, v->u.f, c->real);
	case FERRY_BLOB:
		return put_bytea_text(p, v->u.s.ptr, v->u.s.len);
	case FERRY_BOOL:
		*p = v->u.b ? 't' : 'f';
		return p + 1;
	case FERRY_DATE:
		return put_date(p, v->u.date);
	case FERRY_TIMESTAMP:
		return put_timestamp(p, v->u.i, false);
	case FERRY_TIMESTAMPTZ:
		return put_timestamp(p, v->u.i, true);
	case FERRY_UUID:
		return put_uuid(p, v->u.uuid);
	default: /* NUMERIC, TEXT, JSON: text as it is */
		return put_escaped(p, v->u.s.ptr, v->u.s.len);
	}
}

/* ---- binary encoders ----------------------------------------------- */

static inline uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static inline uint8_t *put_be64(uint8_t *p, uint64_t v)
{
	p = put_be32(p, (uint32_t)(v >> 32));
	return put_be32(p, (uint32_t)v);
}

/* Numeric text split up: mantissa digits (with at most one '.') at
 * [m, mend), worth 10^(point - 1) for the first digit. */
typedef struct numtext {
	uint16_t sign;
	const char *m, *mend;
	int64_t point;
	int64_t dscale;
} numtext;

static bool word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Reads the text numeric_in accepts: [+-]digits[.digits][e[+-]digits],
 * NaN, [+-]Infinity, [+-]inf. */
static bool parse_numtext(const char *s, size_t n, numtext *nt)
{
	size_t i = n && (s[0] == '+' || s[0] == '-') ? 1 : 0;
	bool neg = i && s[0] == '-';
	memset(nt, 0, sizeof *nt);
	if (word_is(s, n, "nan")) {
		nt->sign = NUMERIC_NAN;
		return true;
	}
	if (word_is(s + i, n - i, "infinity") || word_is(s + i, n - i, "inf")) {
		nt->sign = neg ? NUMERIC_NINF : NUMERIC_PINF;
		return true;
	}
	nt->sign = neg ? NUMERIC_NEG : NUMERIC_POS;
	int64_t nint = 0, nfrac = 0, exp = 0;
	bool dot = false, eneg = false;
	for (nt->m = s + i; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			*(dot ? &nfrac : &nint) += 1;
		else if (s[i] == '.' && !dot)
			dot = true;
		else
			break;
	}
	nt->mend = s + i;
	if (nint + nfrac == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		if (i == n)
			return false;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if ((exp = exp * 10 + (s[i] - '0')) > 1000000)
				return false;
	}
	if (i != n)
		return false;
	exp = eneg ? -exp : exp;
	nt->point = nint + exp;
	nt->dscale = nfrac - exp > 0 ? nfrac - exp : 0;
	return true;
}

static int64_t floor_div4(int64_t e)
{
	return e >= 0 ? e / 4 : -((-e + 3) / 4);
}

/* Writes the base-10000 digits of nt from its first to its last non-zero
 * decimal digit (k indexes mantissa digits; digit k is worth
 * 10^(point - 1 - k), and falls in group floor(that power / 4)). */
static uint8_t *put_numeric_digits(uint8_t *p, const numtext *nt,
                                   int64_t first, int64_t last,
                                   int64_t weight)
{
	static const unsigned pow10[4] = {1, 10, 100, 1000};
	int64_t group = weight, k = 0;
	unsigned acc = 0;
	for (const char *q = nt->m; q < nt->mend; q++) {
		if (*q == '.')
			continue;
		if (k >= first && k <= last) {
			int64_t e = nt->point - 1 - k, g = floor_div4(e);
			if (g != group) {
				p = put_be16(p, (uint16_t)acc);
				acc = 0;
				group = g;
			}
			acc += (unsigned)(*q - '0') * pow10[e - 4 * g];
		}
		k++;
	}
	return put_be16(p, (uint16_t)acc);
}

/*
 * Binary NUMERIC as numeric_recv reads it: int16 ndigits, int16 weight,
 * uint16 sign, uint16 dscale, then ndigits base-10000 digits, most
 * significant first, digit i worth 10000^(weight - i).  Zero has no
 * digits; NaN and the infinities are only a sign word.  Returns the end,
 * or NULL for text that is not a number or is out of range.
 */
static uint8_t *put_numeric(uint8_t *p, const char *s, size_t n)
{
	numtext nt;
	if (!parse_numtext(s, n, &nt) || nt.dscale > NUMERIC_DSCALE_MAX)
		return NULL;
	int64_t first = -1, last = -1, k = 0;
	for (const char *q = nt.m; q < nt.mend; q++) {
		if (*q == '.')
			continue;
		if (*q != '0') {
			first = first < 0 ? k : first;
			last = k;
		}
		k++;
	}
	bool special = nt.sign != NUMERIC_POS && nt.sign != NUMERIC_NEG;
	if (special || first < 0) { /* zero is never negative */
		p = put_be32(p, 8);
		p = put_be16(p, 0);
		p = put_be16(p, 0);
		p = put_be16(p, special ? nt.sign : NUMERIC_POS);
		return put_be16(p, special ? 0 : (uint16_t)nt.dscale);
	}
	int64_t weight = floor_div4(nt.point - 1 - first);
	int64_t lastg = floor_div4(nt.point - 1 - last);
	if (weight > INT16_MAX || lastg < INT16_MIN)
		return NULL;
	int64_t ndigits = weight - lastg + 1;
	p = put_be32(p, (uint32_t)(8 + 2 * ndigits));
	p = put_be16(p, (uint16_t)ndigits);
	p = put_be16(p, (uint16_t)(int16_t)weight);
	p = put_be16(p, nt.sign);
	p = put_be16(p, (uint16_t)nt.dscale);
	return put_numeric_digits(p, &nt, first, last, weight);
}

/* int32 days since 2000-01-01; the infinities keep their sentinels. */
static uint8_t *put_date_bin(uint8_t *p, int32_t days)
{
	int64_t d = days;
	if (days != FERRY_DATE_PINF && days != FERRY_DATE_NINF) {
		d -= PG_EPOCH_DAYS;
		if (d <= INT32_MIN)
			return NULL;
	}
	p = put_be32(p, 4);
	return put_be32(p, (uint32_t)(int32_t)d);
}

/* int64 microseconds since 2000-01-01; likewise for the infinities. */
static uint8_t *put_timestamp_bin(uint8_t *p, int64_t us)
{
	if (us != FERRY_TS_PINF && us != FERRY_TS_NINF) {
		if (us <= INT64_MIN + PG_EPOCH_USECS)
			return NULL;
		us -= PG_EPOCH_USECS;
	}
	p = put_be32(p, 8);
	return put_be64(p, (uint64_t)us);
}

/* float4 refuses what it cannot hold, as float4in does for text. */
static uint8_t *put_float4_bin(uint8_t *p, double f)
{
	float x = (float)f;
	uint32_t bits;
	if ((isfinite(f) && isinf(x)) || (f != 0 && x == 0))
		return NULL;
	memcpy(&bits, &x, 4);
	p = put_be32(p, 4);
	return put_be32(p, bits);
}

static uint8_t *put_int_bin(uint8_t *p, int64_t v, bin_enc enc)
{
	if (enc == ENC_INT8) {
		p = put_be32(p, 8);
		return put_be64(p, (uint64_t)v);
	}
	if (enc == ENC_INT4) {
		if (v < INT32_MIN || v > INT32_MAX)
			return NULL;
		p = put_be32(p, 4);
		return put_be32(p, (uint32_t)(int32_t)v);
	}
	if (v < INT16_MIN || v > INT16_MAX)
		return NULL;
	p = put_be32(p, 2);
	return put_be16(p, (uint16_t)(int16_t)v);
}

static uint8_t *put_bytes_bin(uint8_t *p, const char *s, size_t n,
                              bool jsonb)
{
	p = put_be32(p, (uint32_t)(n + jsonb));
	if (jsonb)
		*p++ = 1; /* jsonb_recv's format version */
	memcpy(p, s, n);
	return p + n;
}

/* One field (length word and bytes); NULL when the value cannot be
 * stored in the column's type. */
static uint8_t *put_binary_value(uint8_t *p, bin_enc enc, const ferry_value *v)
{
	uint64_t bits;
	switch (enc) {
	case ENC_INT2:
	case ENC_INT4:
	case ENC_INT8:
		return put_int_bin(p, v->u.i, enc);
	case ENC_FLOAT4:
		return put_float4_bin(p, v->u.f);
	case ENC_FLOAT8:
		memcpy(&bits, &v->u.f, 8);
		p = put_be32(p, 8);
		return put_be64(p, bits);
	case ENC_NUMERIC:
		return put_numeric(p, v->u.s.ptr, v->u.s.len);
	case ENC_BYTES:
	case ENC_JSONB:
		return put_bytes_bin(p, v->u.s.ptr, v->u.s.len,
		                     enc == ENC_JSONB);
	case ENC_BOOL:
		p = put_be32(p, 1);
		*p = v->u.b ? 1 : 0;
		return p + 1;
	case ENC_DATE:
		return put_date_bin(p, v->u.date);
	case ENC_TIMESTAMP:
		return put_timestamp_bin(p, v->u.i);
	case ENC_UUID:
		p = put_be32(p, 16);
		memcpy(p, v->u.uuid, 16);
		return p + 16;
	default:
		return NULL;
	}
}

static bool is_text_oid(unsigned oid)
{
	return oid == OID_TEXT || oid == OID_VARCHAR || oid == OID_BPCHAR;
}

/* The binary encoding of vt values for a column of type oid, or
 * ENC_NONE when the binary forms differ (the table then goes as text). */
static bin_enc binary_encoding(ferry_type vt, unsigned oid)
{
	switch (vt) {
	case FERRY_INT:
		return oid == OID_INT2 ? ENC_INT2 : oid == OID_INT4 ? ENC_INT4
		       : oid == OID_INT8 ? ENC_INT8 : ENC_NONE;
	case FERRY_FLOAT:
		return oid == OID_FLOAT4 ? ENC_FLOAT4
		       : oid == OID_FLOAT8 ? ENC_FLOAT8 : ENC_NONE;
	case FERRY_NUMERIC:
		return oid == OID_NUMERIC ? ENC_NUMERIC : ENC_NONE;
	case FERRY_TEXT:
		return is_text_oid(oid) || oid == OID_JSON ? ENC_BYTES
		                                           : ENC_NONE;
	case FERRY_JSON:
		return oid == OID_JSONB ? ENC_JSONB
		       : oid == OID_JSON || is_text_oid(oid) ? ENC_BYTES
		                                             : ENC_NONE;
	case FERRY_BLOB:
		return oid == OID_BYTEA ? ENC_BYTES : ENC_NONE;
	case FERRY_BOOL:
		return oid == OID_BOOL ? ENC_BOOL : ENC_NONE;
	case FERRY_DATE:
		return oid == OID_DATE ? ENC_DATE : ENC_NONE;
	case FERRY_TIMESTAMP:
		return oid == OID_TIMESTAMP ? ENC_TIMESTAMP : ENC_NONE;
	case FERRY_TIMESTAMPTZ:
		return oid == OID_TIMESTAMPTZ ? ENC_TIMESTAMP : ENC_NONE;
	case FERRY_UUID:
		return oid == OID_UUID ? ENC_UUID : ENC_NONE;
	default:
		return ENC_NONE;
	}
}

/* ---- COPY ---------------------------------------------------------- */

static const uint8_t copy_signature[11] = "PGCOPY\n\377\r\n";

/* Room for n more bytes at the end of b, or NULL. */
static inline uint8_t *room(ferry_buf *b, size_t n)
{
	if (b->cap - b->len <= n && ferry_buf_reserve(b, n) < 0)
		return NULL;
	return b->data + b->len;
}

static void free_copy_state(ferry_target *t)
{
	for (uint32_t i = 0; i < t->ncols; i++)
		ferry_free(t->cols[i].name);
	ferry_free(t->cols);
	ferry_free(t->table);
	t->cols = NULL;
	t->ncols = 0;
	t->table = NULL;
	t->copying = false;
	ferry_buf_reset(&t->out);
	if (t->out.cap > 4 * FLUSH_BYTES) /* one huge row: give it back */
		ferry_buf_free(&t->out);
}

static int copy_error(ferry_target *t, const PGresult *res, ferry_error *err)
{
	return fail_pg(err, FERRY_ERROR, t->conn, res, true,
	               "could not copy into table \"%s\"", t->table);
}

/* Reads the column types of the table as it is, to pick each column's
 * binary encoding; one column without one sends the table as text. */
static int read_column_types(ferry_target *t, ferry_error *err)
{
	relinfo ri;
	PGresult *res;
	int rc = find_table(t, t->table, &ri, err);
	if (rc == 0 && !ri.exists)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "could not copy into table \"%s\": it "
		                     "does not exist", t->table);
	if (rc < 0 || (rc = table_columns(t, t->table, &ri, &res, err)) < 0)
		return rc;
	t->binary = t->want_binary;
	for (uint32_t i = 0; i < t->ncols; i++) {
		copy_col *c = &t->cols[i];
		unsigned oid = 0;
		for (int r = 0; r < PQntuples(res); r++)
			if (same_name(c->name, PQgetvalue(res, r, 0)))
				oid = (unsigned)strtoul(PQgetvalue(res, r, 1),
				                        NULL, 10);
		c->enc = binary_encoding(c->vtype, oid);
		c->real = oid == OID_FLOAT4;
		t->binary = t->binary && c->enc != ENC_NONE;
	}
	PQclear(res);
	return 0;
}

static int setup_copy(ferry_target *t, const ferry_table *table,
                      ferry_error *err)
{
	t->table = ferry_strdup(table->name);
	t->cols = ferry_calloc(table->ncolumns + 1, sizeof *t->cols);
	if (!t->table || !t->cols)
		return ferry_error_oom(err);
	t->ncols = table->ncolumns;
	for (uint32_t i = 0; i < t->ncols; i++) {
		const ferry_column *col = &table->columns[i];
		t->cols[i].name = ferry_strdup(col->name);
		t->cols[i].vtype = ferry_sqltype_value_type(&col->type);
		if (!t->cols[i].name)
			return ferry_error_oom(err);
	}
	return read_column_types(t, err);
}

static int start_copy(ferry_target *t, const ferry_table *table,
                      ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "COPY ");
	ferry_buf_put_ident(&sql, table->name);
	if (t->ncols) { /* "()" is a syntax error; no list means no columns */
		ferry_buf_putc(&sql, ' ');
		for (uint32_t i = 0; i < t->ncols; i++) {
			ferry_buf_puts(&sql, i ? ", " : "(");
			ferry_buf_put_ident(&sql, t->cols[i].name);
		}
		ferry_buf_putc(&sql, ')');
	}
	ferry_buf_puts(&sql, t->binary ? " FROM STDIN WITH (FORMAT binary)"
	                               : " FROM STDIN");
	const char *text = ferry_buf_cstr(&sql);
	int rc = text ? exec_cmd(t, "BEGIN", err, "could not copy into table "
	                                          "\"%s\"", t->table)
	              : ferry_error_oom(err);
	if (rc == 0) {
		PGresult *res = PQexec(t->conn, text);
		if (PQresultStatus(res) == PGRES_COPY_IN)
			t->wire_copy = true;
		else
			rc = copy_error(t, res, err);
		PQclear(res);
	}
	ferry_buf_free(&sql);
	return rc;
}

static int pg_copy_begin(ferry_target *t, const ferry_table *table,
                         ferry_error *err)
{
	if (t->applying)
		return refuse_busy(t, table->name, err);
	if (t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not copy into table \"%s\": the "
		                       "copy into \"%s\" is still open",
		                       table->name, t->table);
	t->copying = true;
	t->rows = 0;
	int rc = setup_copy(t, table, err);
	if (rc == 0)
		rc = start_copy(t, table, err);
	uint8_t *p = rc == 0 ? room(&t->out, FLUSH_BYTES + 64 * 1024) : NULL;
	if (rc == 0 && !p)
		rc = ferry_error_oom(err);
	if (rc < 0) {
		pg_copy_abort(t);
		return rc;
	}
	if (t->binary) { /* signature, flags, header extension length */
		memcpy(p, copy_signature, sizeof copy_signature);
		p = put_be32(p + sizeof copy_signature, 0);
		p = put_be32(p, 0);
		t->out.len = (size_t)(p - t->out.data);
	}
	return 0;
}

static int bad_value(const ferry_target *t, const copy_col *c,
                     const ferry_value *v, ferry_error *err)
{
	if (v->type != c->vtype)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not copy into table \"%s\": "
		                       "column \"%s\" got a %s value, expected "
		                       "%s", t->table, c->name,
		                       ferry_type_name(v->type),
		                       ferry_type_name(c->vtype));
	static const char *const enc_types[] = {
		[ENC_INT2] = "smallint", [ENC_INT4] = "integer",
		[ENC_INT8] = "bigint", [ENC_FLOAT4] = "real",
		[ENC_FLOAT8] = "double precision", [ENC_NUMERIC] = "numeric",
		[ENC_JSONB] = "jsonb", [ENC_DATE] = "date",
		[ENC_TIMESTAMP] = "timestamp"};
	const char *type = c->enc < sizeof enc_types / sizeof *enc_types &&
	                           enc_types[c->enc]
	                       ? enc_types[c->enc]
	                       : ferry_type_name(c->vtype);
	ferry_buf shown = FERRY_BUF_INIT;
	ferry_value_format(v, &shown, 40);
	const char *s = ferry_buf_cstr(&shown);
	int rc = ferry_error_set(err, FERRY_ERROR,
	                         "could not copy into table \"%s\": value %s "
	                         "cannot be stored in column \"%s\" of type %s",
	                         t->table, s ? s : "?", c->name, type);
	ferry_buf_free(&shown);
	return rc;
}

/* Worst-case bytes for one value in either format (escaping doubles
 * text; 64 covers every fixed-size form and the field header). */
static inline size_t value_room(const ferry_value *v)
{
	return 64 + (ferry_type_has_bytes(v->type) ? 2 * v->u.s.len : 0);
}

static int text_row(ferry_target *t, const ferry_row *row, ferry_error *err)
{
	for (uint32_t i = 0; i < t->ncols; i++) {
		const ferry_value *v = &row->values[i];
		const copy_col *c = &t->cols[i];
		if (v->type != FERRY_NULL && v->type != c->vtype)
			return bad_value(t, c, v, err);
		uint8_t *p = room(&t->out, value_room(v));
		if (!p)
			return ferry_error_oom(err);
		if (v->type == FERRY_NULL)
			p = PUT_LIT(p, "\\N");
		else
			p = put_text_value(p, c, v);
		*p++ = i + 1 < t->ncols ? '\t' : '\n';
		t->out.len = (size_t)(p - t->out.data);
	}
	if (t->ncols == 0) {
		uint8_t *p = room(&t->out, 1);
		if (!p)
			return ferry_error_oom(err);
		*p = '\n';
		t->out.len++;
	}
	return 0;
}

static int binary_row(ferry_target *t, const ferry_row *row, ferry_error *err)
{
	uint8_t *p = room(&t->out, 2);
	if (!p)
		return ferry_error_oom(err);
	put_be16(p, (uint16_t)t->ncols);
	t->out.len += 2;
	for (uint32_t i = 0; i < t->ncols; i++) {
		const ferry_value *v = &row->values[i];
		const copy_col *c = &t->cols[i];
		if (v->type != FERRY_NULL && v->type != c->vtype)
			return bad_value(t, c, v, err);
		if (ferry_type_has_bytes(v->type) && v->u.s.len > INT32_MAX - 1)
			return bad_value(t, c, v, err);
		if (!(p = room(&t->out, value_room(v))))
			return ferry_error_oom(err);
		if (v->type == FERRY_NULL)
			p = put_be32(p, UINT32_MAX); /* length -1 */
		else if (!(p = put_binary_value(p, c->enc, v)))
			return bad_value(t, c, v, err);
		t->out.len = (size_t)(p - t->out.data);
	}
	return 0;
}

/* Hands the buffered rows to libpq. */
static int flush(ferry_target *t, ferry_error *err)
{
	size_t off = 0;
	while (off < t->out.len) {
		size_t n = t->out.len - off;
		if (n > (size_t)1 << 30)
			n = (size_t)1 << 30;
		if (PQputCopyData(t->conn, (const char *)t->out.data + off,
		                  (int)n) != 1)
			return copy_error(t, NULL, err);
		off += n;
	}
	t->out.len = 0;
	return 0;
}

static int pg_copy_row(ferry_target *t, const ferry_row *row,
                       ferry_error *err)
{
	if (!t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not copy a row: no copy is open");
	if (row->ncols != t->ncols)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not copy into table \"%s\": the "
		                       "row has %u values for %u columns",
		                       t->table, row->ncols, t->ncols);
	size_t start = t->out.len;
	int rc = t->binary ? binary_row(t, row, err) : text_row(t, row, err);
	if (rc < 0) {
		t->out.len = start; /* never send half a row */
		return rc;
	}
	t->rows++;
	return t->out.len >= FLUSH_BYTES ? flush(t, err) : 0;
}

/* Takes every pending result; stops at a COPY state, which would
 * otherwise be returned forever. */
static void drain(PGconn *conn)
{
	PGresult *res;
	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT ||
		    st == PGRES_COPY_BOTH)
			break;
	}
}

/* Ends the COPY and checks the server stored every row sent. */
static int end_copy(ferry_target *t, ferry_error *err)
{
	if (PQputCopyEnd(t->conn, NULL) != 1)
		return copy_error(t, NULL, err);
	t->wire_copy = false;
	PGresult *res = PQgetResult(t->conn);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = copy_error(t, res, err);
	} else {
		const char *n = PQcmdTuples(res);
		char *end;
		long long stored = strtoll(n, &end, 10);
		if (!*n || *end || stored != t->rows)
			rc = ferry_error_set(err, FERRY_ERROR,
			                     "could not copy into table "
			                     "\"%s\": sent %lld rows but the "
			                     "server stored \"%s\"",
			                     t->table, (long long)t->rows, n);
	}
	PQclear(res);
	drain(t->conn);
	return rc;
}

/* Sends what is buffered and the binary trailer, and ends the COPY. */
static int send_rest(ferry_target *t, ferry_error *err)
{
	int rc = 0;
	if (t->binary) {
		uint8_t *p = room(&t->out, 2);
		if (!p)
			rc = ferry_error_oom(err);
		else /* the trailer: a field count of -1 */
			t->out.len = (size_t)(put_be16(p, 0xFFFF) -
			                      t->out.data);
	}
	if (rc == 0)
		rc = flush(t, err);
	if (rc == 0)
		rc = end_copy(t, err);
	return rc;
}

/* Commits the copy's transaction when rc is 0, else abandons it. */
static int commit_copy(ferry_target *t, int64_t *rows, int rc,
                       ferry_error *err)
{
	if (rc == 0)
		rc = exec_cmd(t, "COMMIT", err, "could not commit table \"%s\"",
		              t->table);
	if (rc < 0) {
		pg_copy_abort(t);
		return rc;
	}
	*rows = t->rows;
	free_copy_state(t);
	return 0;
}

static int pg_copy_end(ferry_target *t, int64_t *rows, ferry_error *err)
{
	if (!t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not end a copy: no copy is open");
	return commit_copy(t, rows, send_rest(t, err), err);
}

static void pg_copy_abort(ferry_target *t)
{
	if (!t)
		return;
	if (t->wire_copy &&
	    PQputCopyEnd(t->conn, "copy abandoned by ferry") == 1)
		drain(t->conn);
	t->wire_copy = false;
	PGTransactionStatusType ts = PQtransactionStatus(t->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	free_copy_state(t);
}

/* ---- keys, indexes, identity ---------------------------------------- */

static int add_primary_key(ferry_target *t, const ferry_table *table,
                           const relinfo *ri, ferry_error *err)
{
	const char *params[1] = {ri->oid};
	PGresult *res;
	int rc = catalog_query(t, "SELECT 1 FROM pg_catalog.pg_index "
	                          "WHERE indrelid = $1::pg_catalog.oid "
	                          "AND indisprimary",
	                       1, params, table->name, &res, err);
	if (rc < 0)
		return rc;
	int has = PQntuples(res);
	PQclear(res);
	if (has) /* a reused table keeps its key */
		return 0;
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "ALTER TABLE ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " ADD PRIMARY KEY (");
	/* key columns by pk_position, whatever their order in the table */
	for (int prev = 0, k = 0;; k++) {
		const ferry_column *next = NULL;
		for (uint32_t i = 0; i < table->ncolumns; i++) {
			const ferry_column *c = &table->columns[i];
			if (c->pk_position > prev &&
			    (!next || c->pk_position < next->pk_position))
				next = c;
		}
		if (!next)
			break;
		if (k)
			ferry_buf_puts(&sql, ", ");
		ferry_buf_put_ident(&sql, next->name);
		prev = next->pk_position;
	}
	ferry_buf_putc(&sql, ')');
	rc = exec_buf(t, &sql, err, "add the primary key of table",
	              table->name);
	ferry_buf_free(&sql);
	return rc;
}

/* Candidate n for a name: the base itself, then base_1, base_2, ...,
 * the base cut so that the whole stays within 63 bytes. */
static void candidate_name(ferry_buf *out, const char *base, unsigned n)
{
	char suffix[16] = "";
	if (n)
		snprintf(suffix, sizeof suffix, "_%u", n);
	ferry_buf_reset(out);
	size_t keep = clip_len(base, NAME_MAX_BYTES - strlen(suffix));
	ferry_buf_append(out, base, keep);
	ferry_buf_puts(out, suffix);
}

/* PostgreSQL's naming for an unnamed object: table_col1_col2_suffix. */
static void default_name(ferry_buf *out, const char *table, char *const *cols,
                         uint32_t ncols, const char *suffix)
{
	ferry_buf_puts(out, table);
	for (uint32_t i = 0; i < ncols; i++) {
		ferry_buf_putc(out, '_');
		ferry_buf_puts(out, cols[i]);
	}
	ferry_buf_putc(out, '_');
	ferry_buf_puts(out, suffix);
}

enum { NAME_FREE, NAME_TAKEN, NAME_OURS };

/* Whether an index may be called name: relation names are unique per
 * schema.  An index of that name on this very table is one a reused
 * table kept (NAME_OURS). */
static int index_name_state(ferry_target *t, const char *table,
                            const char *name, const relinfo *ri, int *state,
                            ferry_error *err)
{
	static const char sql[] =
	    "SELECT i.indrelid = $3::pg_catalog.oid FROM pg_catalog.pg_class c "
	    "LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
	    "WHERE c.relname = $1 AND c.relnamespace = $2::pg_catalog.oid";
	const char *params[3] = {name, ri->nsp, ri->oid};
	PGresult *res;
	int rc = catalog_query(t, sql, 3, params, table, &res, err);
	if (rc < 0)
		return rc;
	*state = PQntuples(res) == 0 ? NAME_FREE
	         : strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? NAME_OURS
	                                                   : NAME_TAKEN;
	PQclear(res);
	return 0;
}

static int create_index(ferry_target *t, const ferry_table *table,
                        const ferry_index *ix, const char *name,
                        ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, ix->unique ? "CREATE UNIQUE INDEX "
	                                : "CREATE INDEX ");
	ferry_buf_put_ident(&sql, name);
	ferry_buf_puts(&sql, " ON ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_putc(&sql, ' ');
	quote_list(&sql, ix->columns, ix->ncolumns);
	if (ix->where_sql) {
		ferry_buf_puts(&sql, " WHERE ");
		ferry_buf_puts(&sql, ix->where_sql);
	}
	int rc = exec_buf(t, &sql, err, "create index", name);
	ferry_buf_free(&sql);
	return rc;
}

static int add_index(ferry_target *t, const ferry_table *table,
                     const ferry_index *ix, const relinfo *ri,
                     ferry_error *err)
{
	ferry_buf base = FERRY_BUF_INIT, name = FERRY_BUF_INIT;
	if (ix->name)
		ferry_buf_puts(&base, ix->name);
	else
		default_name(&base, table->name, ix->columns, ix->ncolumns,
		             ix->unique ? "key" : "idx");
	int rc = 0, state = NAME_TAKEN;
	for (unsigned n = 0; rc == 0 && state == NAME_TAKEN; n++) {
		const char *b = ferry_buf_cstr(&base);
		if (b)
			candidate_name(&name, b, n);
		const char *s = ferry_buf_cstr(&name);
		if (!b || !s)
			rc = ferry_error_oom(err);
		else if (n > 10000)
			rc = ferry_error_set(err, FERRY_ERROR,
			                     "could not create index "
			                     "\"%s\": no free name", b);
		else
			rc = index_name_state(t, table->name, s, ri, &state,
			                      err);
	}
	if (rc == 0 && state == NAME_FREE)
		rc = create_index(t, table, ix, (const char *)name.data, err);
	ferry_buf_free(&base);
	ferry_buf_free(&name);
	return rc;
}

/* Moves the column's identity (or serial) sequence past the largest
 * value loaded: the next generated value is max + 1, or 1 when empty.
 * setval(max, true) rather than (max + 1, false) cannot overflow. */
static int set_identity(ferry_target *t, const ferry_table *table,
                        const ferry_column *c, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT, qtable = FERRY_BUF_INIT;
	ferry_buf_put_ident(&qtable, table->name);
	ferry_buf_puts(&sql, "SELECT pg_catalog.setval("
	                     "s.seq::pg_catalog.regclass, GREATEST(m.v, 1), "
	                     "m.v IS NOT NULL AND m.v >= 1) FROM (SELECT "
	                     "pg_catalog.pg_get_serial_sequence($1, $2) "
	                     "AS seq) s, (SELECT max(");
	ferry_buf_put_ident(&sql, c->name);
	ferry_buf_puts(&sql, ") AS v FROM ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, ") m WHERE s.seq IS NOT NULL");
	const char *text = ferry_buf_cstr(&sql);
	const char *params[2] = {ferry_buf_cstr(&qtable), c->name};
	int rc = 0;
	if (!text || !params[0]) {
		rc = ferry_error_oom(err);
	} else {
		PGresult *res = PQexecParams(t->conn, text, 2, NULL, params,
		                             NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
			             "could not set the identity of column "
			             "\"%s\" of table \"%s\"",
			             c->name, table->name);
		PQclear(res);
	}
	ferry_buf_free(&sql);
	ferry_buf_free(&qtable);
	return rc;
}

static int pg_finish_table(ferry_target *t, const ferry_table *table,
                           ferry_error *err)
{
	relinfo ri;
	int rc = refuse_busy(t, table->name, err);
	if (rc == 0)
		rc = find_table(t, table->name, &ri, err);
	if (rc == 0 && !ri.exists)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "could not finish table \"%s\": it does "
		                     "not exist", table->name);
	if (rc == 0 && ferry_table_pk_count(table) > 0)
		rc = add_primary_key(t, table, &ri, err);
	for (uint32_t i = 0; rc == 0 && i < table->nindexes; i++)
		rc = add_index(t, table, &table->indexes[i], &ri, err);
	for (uint32_t i = 0; rc == 0 && i < table->ncolumns; i++)
		if (is_identity(&table->columns[i]))
			rc = set_identity(t, table, &table->columns[i], err);
	return rc;
}

/* ---- foreign keys -------------------------------------------------- */

/* The referential actions, spelled as PostgreSQL takes them; NULL for
 * anything else (never pasted into SQL unchecked). */
static const char *fk_action(const char *a)
{
	static const char *const actions[] = {"CASCADE", "SET NULL",
	                                      "SET DEFAULT", "RESTRICT",
	                                      "NO ACTION"};
	for (size_t i = 0; i < sizeof actions / sizeof *actions; i++)
		if (strcasecmp(a, actions[i]) == 0)
			return actions[i];
	return NULL;
}

static int fkey_sql(ferry_buf *sql, const ferry_table *table,
                    const ferry_fkey *fk, const char *name, ferry_error *err)
{
	const char *del = fk->on_delete ? fk_action(fk->on_delete) : NULL;
	const char *upd = fk->on_update ? fk_action(fk->on_update) : NULL;
	if ((fk->on_delete && !del) || (fk->on_update && !upd))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not add foreign key \"%s\" to "
		                       "table \"%s\": unknown action \"%s\"",
		                       name, table->name,
		                       fk->on_delete && !del ? fk->on_delete
		                                             : fk->on_update);
	bool ref_pk = !fk->ref_columns;
	for (uint32_t i = 0; !ref_pk && i < fk->ncolumns; i++)
		ref_pk = !fk->ref_columns[i];
	ferry_buf_puts(sql, "ALTER TABLE ");
	ferry_buf_put_ident(sql, table->name);
	ferry_buf_puts(sql, " ADD CONSTRAINT ");
	ferry_buf_put_ident(sql, name);
	ferry_buf_puts(sql, " FOREIGN KEY ");
	quote_list(sql, fk->columns, fk->ncolumns);
	ferry_buf_puts(sql, " REFERENCES ");
	ferry_buf_put_ident(sql, fk->ref_table);
	if (!ref_pk) { /* none: the referenced table's primary key */
		ferry_buf_putc(sql, ' ');
		quote_list(sql, fk->ref_columns, fk->ncolumns);
	}
	if (del)
		ferry_buf_printf(sql, " ON DELETE %s", del);
	if (upd)
		ferry_buf_printf(sql, " ON UPDATE %s", upd);
	ferry_buf_puts(sql, " NOT VALID");
	return 0;
}

/* Whether the table already has a constraint called name: -1 no, 0 not
 * validated, 1 validated (a reused table keeps its foreign keys). */
static int fkey_state(ferry_target *t, const ferry_table *table,
                      const relinfo *ri, const char *name, int *state,
                      ferry_error *err)
{
	const char *params[2] = {ri->oid, name};
	PGresult *res;
	int rc = catalog_query(t, "SELECT convalidated FROM "
	                          "pg_catalog.pg_constraint WHERE conrelid = "
	                          "$1::pg_catalog.oid AND conname = $2",
	                       2, params, table->name, &res, err);
	if (rc < 0)
		return rc;
	*state = PQntuples(res) == 0 ? -1
	         : strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 1 : 0;
	PQclear(res);
	return 0;
}

/* VALIDATE CONSTRAINT; rows that violate it are appended to violated
 * (the constraint stays, NOT VALID), anything else is an error. */
static int validate_fkey(ferry_target *t, const ferry_table *table,
                         const char *name, ferry_buf *violated,
                         ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "ALTER TABLE ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " VALIDATE CONSTRAINT ");
	ferry_buf_put_ident(&sql, name);
	const char *text = ferry_buf_cstr(&sql);
	PGresult *res = text ? PQexec(t->conn, text) : NULL;
	int rc = 0;
	const char *state =
	    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!text) {
		rc = ferry_error_oom(err);
	} else if (state && strcmp(state, "23503") == 0) {
		if (violated->len)
			ferry_buf_puts(violated, "; ");
		ferry_buf_printf(violated, "foreign key \"%s\" on \"%s\" is "
		                 "violated by existing rows, left NOT VALID: ",
		                 name, table->name);
		ferry_pg_put_error(violated, t->conn, res, false);
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not validate foreign key \"%s\" on "
		             "table \"%s\"", name, table->name);
	}
	PQclear(res);
	ferry_buf_free(&sql);
	return rc;
}

static int add_fkey(ferry_target *t, const ferry_table *table,
                    const ferry_fkey *fk, const relinfo *ri,
                    ferry_buf *violated, ferry_error *err)
{
	ferry_buf base = FERRY_BUF_INIT, name = FERRY_BUF_INIT;
	ferry_buf sql = FERRY_BUF_INIT;
	if (fk->name)
		ferry_buf_puts(&base, fk->name);
	else
		default_name(&base, table->name, fk->columns, fk->ncolumns,
		             "fkey");
	const char *b = ferry_buf_cstr(&base);
	if (b)
		candidate_name(&name, b, 0);
	const char *n = b ? ferry_buf_cstr(&name) : NULL;
	int rc = n ? 0 : ferry_error_oom(err), state = -1;
	if (rc == 0)
		rc = fkey_state(t, table, ri, n, &state, err);
	if (rc == 0 && state < 0)
		rc = fkey_sql(&sql, table, fk, n, err);
	const char *text = rc == 0 && state < 0 ? ferry_buf_cstr(&sql) : NULL;
	if (rc == 0 && state < 0)
		rc = text ? exec_cmd(t, text, err, "could not add foreign "
		                     "key \"%s\" to table \"%s\"",
		                     n, table->name)
		          : ferry_error_oom(err);
	if (rc == 0 && state < 1)
		rc = validate_fkey(t, table, n, violated, err);
	ferry_buf_free(&base);
	ferry_buf_free(&name);
	ferry_buf_free(&sql);
	return rc;
}

static int pg_add_foreign_keys(ferry_target *t, const ferry_table *table,
                               ferry_error *err)
{
	relinfo ri;
	int rc = refuse_busy(t, table->name, err);
	if (rc == 0 && table->nfkeys)
		rc = find_table(t, table->name, &ri, err);
	if (rc == 0 && table->nfkeys && !ri.exists)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "could not add foreign keys to table "
		                     "\"%s\": it does not exist", table->name);
	ferry_buf violated = FERRY_BUF_INIT;
	for (uint32_t i = 0; rc == 0 && i < table->nfkeys; i++)
		rc = add_fkey(t, table, &table->fkeys[i], &ri, &violated, err);
	if (rc == 0 && violated.len) {
		const char *msg = ferry_buf_cstr(&violated);
		rc = msg ? ferry_error_set(err, FERRY_EREJECT, "%s", msg)
		         : ferry_error_oom(err);
	}
	ferry_buf_free(&violated);
	return rc;
}

/* ---- online apply: statements --------------------------------------- */

/*
 * Each change is one prepared statement run with its values as
 * parameters, in libpq's pipeline mode: a batch's statements go out
 * back to back, their results are read as they arrive and at the
 * commit, so a batch costs two round trips (the results, then COMMIT)
 * whatever its size.  COMMIT is sent only once every result, row counts
 * included, has been checked: a strict change that matched no row must
 * never be committed.
 */

/* Changes sent between two reads of the results that have arrived:
 * keeps the queue short and reports a failure early. */
#define READ_EVERY 256

/* Statements cached per table. */
enum {
	ST_INSERT, /* INSERT ... VALUES (after) */
	ST_UPSERT, /* the same, ON CONFLICT (key) DO UPDATE every column */
	ST_UPDATE, /* UPDATE ... SET every column WHERE key = old key */
	ST_DELETE, /* DELETE ... WHERE key = old key */
	ST_CLEAR,  /* DELETE the old key if a row has the new one */
	ST_COUNT
};

enum { STMT_NONE, STMT_SENT, STMT_READY };

typedef struct apply_col {
	char *name;
	ferry_sqltype_kind kind; /* as planned: another kind is another table */
	int pk_position;
	ferry_type vtype;
	unsigned oid;            /* the column's type (a domain's base type) */
	bin_enc enc;             /* binary form for vtype into oid, or text */
	bool real;               /* float4: shortest float digits in text */
	bool json;               /* compared as text: json has no equality */
} apply_col;

struct apply_table {
	char *name;
	apply_col *cols;
	uint32_t ncols;
	uint32_t *key;   /* the primary key's columns in key order, or every
	                    column of a table without one */
	uint32_t nkey;
	bool keyless;
	bool retired;    /* its definition changed; freed after the batch */
	char stmt[ST_COUNT][24];
	uint8_t state[ST_COUNT];
};

typedef enum pend_kind {
	PEND_BEGIN,
	PEND_PREPARE,
	PEND_CHANGE,
	PEND_CATALOG,
	PEND_CHECKPOINT,
	PEND_SYNC
} pend_kind;

/* A statement sent whose result is still to be read. */
struct pending {
	uint8_t kind;
	uint8_t op;      /* PEND_CHANGE: ferry_op; PEND_PREPARE: ST_* */
	bool one;        /* exactly one row must be affected */
	apply_table *at;
	size_t key_off;  /* the row's key as text, in t->keys */
	size_t key_len;
};

/* Parameters of a statement: a run of columns of one image. */
typedef struct group {
	const uint32_t *cols; /* NULL: every column */
	uint32_t n;
	bool cmp;             /* compared in WHERE (json as text) */
	int image;            /* 0: after (the new values), 1: old key row */
} group;

static void free_apply_table(apply_table *at)
{
	if (!at)
		return;
	for (uint32_t i = 0; at->cols && i < at->ncols; i++)
		ferry_free(at->cols[i].name);
	ferry_free(at->cols);
	ferry_free(at->key);
	ferry_free(at->name);
	ferry_free(at);
}

static void free_apply_state(ferry_target *t)
{
	for (uint32_t i = 0; i < t->ntabs; i++)
		free_apply_table(t->tabs[i]);
	ferry_free(t->tabs);
	t->tabs = NULL;
	t->ntabs = t->tabs_cap = 0;
	t->last = NULL;
	ferry_free(t->queue);
	t->queue = NULL;
	t->qcap = t->qhead = t->qlen = 0;
	ferry_free(t->poff);
	ferry_free(t->pval);
	ferry_free(t->plen);
	ferry_free(t->pfmt);
	t->poff = NULL;
	t->pval = NULL;
	t->plen = t->pfmt = NULL;
	t->pcap = 0;
	ferry_buf_free(&t->params);
	ferry_buf_free(&t->keys);
	PQclear(t->catalog);
	t->catalog = NULL;
}

/* The parameter groups of statement kind, in $n order. */
static int stmt_groups(const apply_table *at, int kind, group g[2])
{
	group all = {NULL, at->ncols, false, 0};
	group old = {at->key, at->nkey, true, 1};
	group new_key = {at->key, at->nkey, true, 0};
	switch (kind) {
	case ST_INSERT:
	case ST_UPSERT:
		g[0] = all;
		return 1;
	case ST_UPDATE:
		g[0] = all;
		g[1] = old;
		return 2;
	case ST_DELETE:
		g[0] = old;
		return 1;
	default: /* ST_CLEAR */
		g[0] = old;
		g[1] = new_key;
		return 2;
	}
}

/* How column c's value travels: binary in the column's own type when
 * the encoders have its form, else text of unspecified type, which the
 * server reads as the column's type (a reused table with other types).
 * json has no equality operator: compared, it travels as text. */
static void param_type(const apply_col *c, bool cmp, unsigned *oid,
                       bin_enc *enc)
{
	if (cmp && c->json) {
		*enc = binary_encoding(c->vtype, OID_TEXT);
		*oid = *enc != ENC_NONE ? OID_TEXT : 0;
		return;
	}
	*enc = c->enc;
	*oid = c->enc != ENC_NONE ? c->oid : 0;
}

/* "a" = $1 AND "b" = $2, or for a table without a key the row's ctid:
 * one of the rows equal in every column (NULLs too), as rows that are
 * equal cannot be told apart. */
static void put_key_match(ferry_buf *sql, const apply_table *at, uint32_t first)
{
	if (at->keyless) {
		ferry_buf_puts(sql, "ctid = (SELECT ctid FROM ");
		ferry_buf_put_ident(sql, at->name);
		ferry_buf_puts(sql, " WHERE ");
	}
	for (uint32_t k = 0; k < at->nkey; k++) {
		const apply_col *c = &at->cols[at->key[k]];
		if (k)
			ferry_buf_puts(sql, " AND ");
		ferry_buf_put_ident(sql, c->name);
		if (at->keyless)
			ferry_buf_printf(sql, "%s IS NOT DISTINCT FROM $%u",
			                 c->json ? "::pg_catalog.text" : "",
			                 first + k);
		else
			ferry_buf_printf(sql, " = $%u", first + k);
	}
	if (at->keyless)
		ferry_buf_puts(sql, " LIMIT 1)");
}

/* INSERT INTO "t" ("a", ...) VALUES ($1, ...), and for an upsert
 * ON CONFLICT (key) DO UPDATE SET the other columns (DO NOTHING when
 * every column is in the key). */
static void put_insert(ferry_buf *sql, const apply_table *at, bool upsert)
{
	ferry_buf_puts(sql, "INSERT INTO ");
	ferry_buf_put_ident(sql, at->name);
	for (uint32_t i = 0; i < at->ncols; i++) {
		ferry_buf_puts(sql, i ? ", " : " (");
		ferry_buf_put_ident(sql, at->cols[i].name);
	}
	for (uint32_t i = 0; i < at->ncols; i++)
		ferry_buf_printf(sql, "%s$%u", i ? ", " : ") VALUES (", i + 1);
	ferry_buf_putc(sql, ')');
	if (!upsert)
		return;
	ferry_buf_puts(sql, " ON CONFLICT (");
	for (uint32_t k = 0; k < at->nkey; k++) {
		if (k)
			ferry_buf_puts(sql, ", ");
		ferry_buf_put_ident(sql, at->cols[at->key[k]].name);
	}
	ferry_buf_putc(sql, ')');
	const char *sep = " DO UPDATE SET ";
	for (uint32_t i = 0; i < at->ncols; i++) {
		if (at->cols[i].pk_position > 0)
			continue;
		ferry_buf_puts(sql, sep);
		ferry_buf_put_ident(sql, at->cols[i].name);
		ferry_buf_puts(sql, " = EXCLUDED.");
		ferry_buf_put_ident(sql, at->cols[i].name);
		sep = ", ";
	}
	if (*sep != ',')
		ferry_buf_puts(sql, " DO NOTHING");
}

/* UPDATE "t" SET "a" = $1, ... WHERE <key>: the n columns of cols, or
 * (cols NULL) every column. */
static void put_update(ferry_buf *sql, const apply_table *at,
                       const uint32_t *cols, uint32_t n)
{
	ferry_buf_puts(sql, "UPDATE ");
	ferry_buf_put_ident(sql, at->name);
	for (uint32_t k = 0; k < n; k++) {
		ferry_buf_puts(sql, k ? ", " : " SET ");
		ferry_buf_put_ident(sql, at->cols[cols ? cols[k] : k].name);
		ferry_buf_printf(sql, " = $%u", k + 1);
	}
	ferry_buf_puts(sql, " WHERE ");
	put_key_match(sql, at, n + 1);
}

static void stmt_sql(ferry_buf *sql, const apply_table *at, int kind)
{
	switch (kind) {
	case ST_INSERT:
	case ST_UPSERT:
		put_insert(sql, at, kind == ST_UPSERT);
		return;
	case ST_UPDATE:
		put_update(sql, at, NULL, at->ncols);
		return;
	default: /* ST_DELETE, ST_CLEAR */
		ferry_buf_puts(sql, "DELETE FROM ");
		ferry_buf_put_ident(sql, at->name);
		ferry_buf_puts(sql, " WHERE ");
		put_key_match(sql, at, 1);
		if (kind == ST_DELETE)
			return;
		ferry_buf_puts(sql, " AND EXISTS (SELECT 1 FROM ");
		ferry_buf_put_ident(sql, at->name);
		ferry_buf_puts(sql, " WHERE ");
		put_key_match(sql, at, at->nkey + 1);
		ferry_buf_putc(sql, ')');
	}
}

/* ---- online apply: the pipeline ------------------------------------- */

/* Room for n more statements and, always, the sync that ends the
 * pipeline: giving up a batch must never need memory. */
static int queue_reserve(ferry_target *t, size_t n, ferry_error *err)
{
	if (t->qlen + n + 1 <= t->qcap)
		return 0;
	size_t cap = t->qcap ? t->qcap * 2 : 1024;
	while (cap < t->qlen + n + 1)
		cap *= 2;
	pending *q = ferry_realloc(t->queue, cap * sizeof *q);
	if (!q)
		return ferry_error_oom(err);
	t->queue = q;
	t->qcap = cap;
	return 0;
}

/* Records a statement just sent; room was reserved before sending. */
static void queue_push(ferry_target *t, pend_kind kind, int op, bool one,
                       apply_table *at, size_t key_off, size_t key_len)
{
	pending *p = &t->queue[t->qlen++];
	p->kind = (uint8_t)kind;
	p->op = (uint8_t)op;
	p->one = one;
	p->at = at;
	p->key_off = key_off;
	p->key_len = key_len;
}

static const char *stmt_what(int kind)
{
	static const char *const what[ST_COUNT] = {
		"insert into", "upsert into", "update of", "delete from",
		"key move in"};
	return what[kind];
}

/* Appends " key (id=5)" (" row (...)" without a key) for a message. */
static void put_key_text(ferry_buf *b, const ferry_target *t,
                         const pending *p)
{
	if (!p->key_len)
		return;
	const char *key = (const char *)t->keys.data + p->key_off;
	ferry_buf_printf(b, " %s (%.*s)", p->at->keyless ? "row" : "key",
	                 (int)p->key_len, key);
}

/* A change's result: the server's error, or a row count other than the
 * one a strict change must affect. */
static int check_change(ferry_target *t, const pending *p, PGresult *res,
                        ferry_error *err)
{
	const char *op = ferry_op_name((ferry_op)p->op);
	const char *rows = PQcmdTuples(res);
	ferry_buf b = FERRY_BUF_INIT;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ferry_buf_printf(&b, "could not apply %s to table \"%s\"", op,
		                 p->at->name);
		put_key_text(&b, t, p);
		ferry_buf_puts(&b, ": ");
		ferry_pg_put_error(&b, t->conn, res, false);
	} else if (p->one && strcmp(rows, "1") != 0) {
		ferry_buf_printf(&b, "%s of \"%s\"", op, p->at->name);
		put_key_text(&b, t, p);
		ferry_buf_printf(&b, " matched %s rows: the target has "
		                 "diverged", *rows ? rows : "0");
	} else {
		return 0;
	}
	const char *msg = ferry_buf_cstr(&b);
	int rc = msg ? ferry_error_set(err, FERRY_ERROR, "%s", msg)
	             : ferry_error_oom(err);
	ferry_buf_free(&b);
	return rc;
}

/* Checks the result of pending statement p. */
static int check_result(ferry_target *t, const pending *p, PGresult *res,
                        ferry_error *err)
{
	ExecStatusType st = PQresultStatus(res);
	switch (p->kind) {
	case PEND_CHANGE:
		return check_change(t, p, res, err);
	case PEND_PREPARE:
		p->at->state[p->op] =
		    st == PGRES_COMMAND_OK ? STMT_READY : STMT_NONE;
		if (st == PGRES_COMMAND_OK)
			return 0;
		return fail_pg(err, FERRY_ERROR, t->conn, res, false,
		               "could not prepare the %s table \"%s\"",
		               stmt_what(p->op), p->at->name);
	case PEND_CATALOG:
		if (st == PGRES_TUPLES_OK)
			return 0;
		return fail_pg(err, FERRY_ERROR, t->conn, res, false,
		               "could not inspect table \"%s\"", p->at->name);
	case PEND_CHECKPOINT:
		if (st == PGRES_COMMAND_OK && !strcmp(PQcmdTuples(res), "1"))
			return 0;
		if (st == PGRES_COMMAND_OK)
			return ferry_error_set(err, FERRY_ERROR,
			                       "checkpoint of migration \"%s\" "
			                       "would go back to %llu: another "
			                       "replayer has passed it",
			                       t->migration,
			                       (unsigned long long)t->lsn);
		return fail_pg(err, FERRY_ERROR, t->conn, res, false,
		               "could not write the checkpoint of migration "
		               "\"%s\"", t->migration);
	default: /* PEND_BEGIN */
		if (st == PGRES_COMMAND_OK)
			return 0;
		return fail_pg(err, FERRY_ERROR, t->conn, res, false,
		               "could not begin a batch");
	}
}

/* Reads and checks the result of the oldest statement sent (waiting
 * for it); a catalog result is kept in t->catalog for the caller. */
static int take_result(ferry_target *t, ferry_error *err)
{
	const pending *p = &t->queue[t->qhead++];
	PGresult *res = PQgetResult(t->conn);
	int rc = 0;
	if (p->kind == PEND_SYNC) {
		if (PQresultStatus(res) != PGRES_PIPELINE_SYNC)
			rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
			             "could not end the batch's pipeline");
		PQclear(res);
		return rc;
	}
	if (!res) {
		/* the connection is gone: an unprepared statement stays so */
		if (p->kind == PEND_PREPARE)
			p->at->state[p->op] = STMT_NONE;
		return fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		               "could not apply changes");
	}
	rc = check_result(t, p, res, err);
	if (p->kind == PEND_CATALOG && rc == 0)
		t->catalog = res;
	else
		PQclear(res);
	while ((res = PQgetResult(t->conn)) != NULL) /* its end: NULL */
		PQclear(res);
	return rc;
}

/* Takes the results that have arrived, without waiting. */
static int take_ready(ferry_target *t, ferry_error *err)
{
	t->since_read = 0;
	if (!PQconsumeInput(t->conn))
		return fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		               "could not apply changes");
	while (t->qhead < t->qlen && !PQisBusy(t->conn)) {
		int rc = take_result(t, err);
		if (rc < 0)
			return rc;
	}
	if (t->qhead == t->qlen)
		t->qhead = t->qlen = 0;
	return 0;
}

/* Sends the sync if it is not out yet, reads every result left
 * (errors ignored: the batch is being given up) and leaves pipeline
 * mode. */
static void drain_pipeline(ferry_target *t)
{
	if (PQpipelineStatus(t->conn) == PQ_PIPELINE_OFF)
		return;
	if (!t->synced && t->qlen < t->qcap && PQpipelineSync(t->conn) == 1) {
		queue_push(t, PEND_SYNC, 0, false, NULL, 0, 0);
		t->synced = true;
	}
	while (t->qhead < t->qlen) {
		/* without a sync sent, reading would wait forever */
		if (!t->synced || PQstatus(t->conn) != CONNECTION_OK) {
			const pending *p = &t->queue[t->qhead++];
			if (p->kind == PEND_PREPARE)
				p->at->state[p->op] = STMT_NONE;
			continue;
		}
		take_result(t, NULL);
	}
	t->qhead = t->qlen = 0;
	PQexitPipelineMode(t->conn);
}

/* Forgets the batch: tables whose definition changed during it go, with
 * their statements. */
static void end_batch(ferry_target *t)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < t->ntabs; i++) {
		apply_table *at = t->tabs[i];
		if (!at->retired) {
			t->tabs[kept++] = at;
			continue;
		}
		for (int k = 0; k < ST_COUNT; k++) {
			char sql[64];
			if (at->state[k] != STMT_READY)
				continue;
			snprintf(sql, sizeof sql, "DEALLOCATE %s", at->stmt[k]);
			PQclear(PQexec(t->conn, sql)); /* best effort */
		}
		free_apply_table(at);
	}
	t->ntabs = kept;
	t->last = NULL;
	t->applying = false;
	t->apply_failed = false;
	t->synced = false;
	t->qhead = t->qlen = 0;
	PQclear(t->catalog);
	t->catalog = NULL;
	ferry_buf_reset(&t->keys);
	if (t->keys.cap > 4 * FLUSH_BYTES) /* a huge batch: give it back */
		ferry_buf_free(&t->keys);
}

static void pg_apply_abort(ferry_target *t)
{
	if (!t || !t->applying)
		return;
	drain_pipeline(t);
	PGTransactionStatusType ts = PQtransactionStatus(t->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	end_batch(t);
}

/* ---- online apply: tables ------------------------------------------- */

/* Whether at was made from this very definition of the table. */
static bool same_definition(const apply_table *at, const ferry_table *table)
{
	if (at->ncols != table->ncolumns || strcmp(at->name, table->name) != 0)
		return false;
	for (uint32_t i = 0; i < at->ncols; i++) {
		const ferry_column *c = &table->columns[i];
		if (at->cols[i].kind != c->type.kind ||
		    at->cols[i].pk_position != c->pk_position ||
		    strcmp(at->cols[i].name, c->name) != 0)
			return false;
	}
	return true;
}

/* Copies what the statements need of table; the key is the primary key
 * in pk_position order, or every column. */
static int copy_definition(apply_table *at, const ferry_table *table,
                           ferry_error *err)
{
	uint32_t n = table->ncolumns, npk = ferry_table_pk_count(table);
	at->name = ferry_strdup(table->name);
	at->cols = ferry_calloc(n, sizeof *at->cols);
	at->key = ferry_calloc(n, sizeof *at->key);
	if (!at->name || !at->cols || !at->key)
		return ferry_error_oom(err);
	at->ncols = n;
	at->keyless = npk == 0;
	at->nkey = at->keyless ? n : npk;
	for (uint32_t k = 0; k < at->nkey; k++)
		at->key[k] = at->keyless ? k : UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const ferry_column *c = &table->columns[i];
		apply_col *ac = &at->cols[i];
		if (!(ac->name = ferry_strdup(c->name)))
			return ferry_error_oom(err);
		ac->kind = c->type.kind;
		ac->pk_position = c->pk_position;
		ac->vtype = ferry_sqltype_value_type(&c->type);
		if (c->pk_position > 0 && (uint32_t)c->pk_position <= npk)
			at->key[c->pk_position - 1] = i;
	}
	for (uint32_t k = 0; k < at->nkey; k++)
		if (at->key[k] == UINT32_MAX)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "could not apply changes to "
			                       "table \"%s\": its primary key "
			                       "positions are not 1..%u",
			                       table->name, npk);
	return 0;
}

/* Asks the server for the column types of the table the statements
 * will reach (by the search_path, as they do) without leaving the
 * pipeline: the query goes out with a flush request and the results
 * before it are read (and checked) on the way. */
static int ask_types(ferry_target *t, apply_table *at, ferry_error *err)
{
	static const char sql[] =
	    "SELECT a.attname, CASE WHEN ty.typtype = 'd' THEN ty.typbasetype "
	    "ELSE a.atttypid END FROM pg_catalog.pg_attribute a "
	    "JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
	    "WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 "
	    "AND NOT a.attisdropped ORDER BY a.attnum";
	ferry_buf quoted = FERRY_BUF_INIT;
	ferry_buf_put_ident(&quoted, at->name);
	const char *params[1] = {ferry_buf_cstr(&quoted)};
	int rc = params[0] ? queue_reserve(t, 1, err) : ferry_error_oom(err);
	bool sent = rc == 0 && PQsendQueryParams(t->conn, sql, 1, NULL, params,
	                                         NULL, NULL, 0);
	if (sent)
		queue_push(t, PEND_CATALOG, 0, false, at, 0, 0);
	if (rc == 0 && (!sent || !PQsendFlushRequest(t->conn)))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not inspect table \"%s\"", at->name);
	ferry_buf_free(&quoted);
	while (rc == 0 && !t->catalog && t->qhead < t->qlen)
		rc = take_result(t, err);
	return rc;
}

/* Each column's type from the catalog, and with it how its values
 * travel (param_type). */
static int load_types(ferry_target *t, apply_table *at, ferry_error *err)
{
	int rc = ask_types(t, at, err);
	if (rc < 0)
		return rc;
	const PGresult *res = t->catalog;
	int rows = PQntuples(res);
	if (rows == 0)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
		                     "could not apply changes to table \"%s\": "
		                     "it does not exist", at->name);
	for (uint32_t i = 0; rc == 0 && i < at->ncols; i++) {
		apply_col *c = &at->cols[i];
		int r = 0;
		while (r < rows && !same_name(c->name, PQgetvalue(res, r, 0)))
			r++;
		if (r == rows) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND,
			                     "could not apply changes to "
			                     "table \"%s\": it has no column "
			                     "\"%s\"", at->name, c->name);
			break;
		}
		c->oid = (unsigned)strtoul(PQgetvalue(res, r, 1), NULL, 10);
		c->enc = binary_encoding(c->vtype, c->oid);
		c->real = c->oid == OID_FLOAT4;
		c->json = c->oid == OID_JSON;
	}
	PQclear(t->catalog);
	t->catalog = NULL;
	return rc;
}

/* Makes the parameter arrays hold a statement of at (2 * ncols at most). */
static int params_room(ferry_target *t, uint32_t n, ferry_error *err)
{
	if (n <= t->pcap)
		return 0;
	size_t *off = ferry_realloc(t->poff, n * sizeof *off);
	if (off)
		t->poff = off;
	const char **val = off ? ferry_realloc(t->pval, n * sizeof *val) : NULL;
	if (val)
		t->pval = val;
	int *len = val ? ferry_realloc(t->plen, n * sizeof *len) : NULL;
	if (len)
		t->plen = len;
	int *fmt = len ? ferry_realloc(t->pfmt, n * sizeof *fmt) : NULL;
	if (!fmt)
		return ferry_error_oom(err);
	t->pfmt = fmt;
	t->pcap = n;
	return 0;
}

/* A new cache entry for table.  Once the catalog query is out, a
 * failure keeps the entry (retired) until the batch ends, as the query's
 * pending result refers to it. */
static int new_apply_table(ferry_target *t, const ferry_table *table,
                           apply_table **out, ferry_error *err)
{
	apply_table *at = ferry_calloc(1, sizeof *at);
	int rc = at ? copy_definition(at, table, err) : ferry_error_oom(err);
	if (rc == 0)
		rc = params_room(t, 2 * table->ncolumns, err);
	if (rc == 0 && t->ntabs == t->tabs_cap) {
		uint32_t cap = t->tabs_cap ? 2 * t->tabs_cap : 8;
		apply_table **tabs = ferry_realloc(t->tabs, cap * sizeof *tabs);
		if (!tabs)
			rc = ferry_error_oom(err);
		else
			t->tabs = tabs, t->tabs_cap = cap;
	}
	if (rc < 0) {
		free_apply_table(at);
		return rc;
	}
	t->tabs[t->ntabs++] = at;
	rc = load_types(t, at, err);
	at->retired = rc < 0;
	*out = at;
	return rc;
}

/* The statements of table: cached on the connection, made anew (the old
 * ones retired) when the definition changed (a schema change). */
static int find_apply_table(ferry_target *t, const ferry_table *table,
                            apply_table **out, ferry_error *err)
{
	apply_table *at = t->last;
	if (at && same_definition(at, table)) {
		*out = at;
		return 0;
	}
	for (uint32_t i = 0; i < t->ntabs; i++) {
		at = t->tabs[i];
		if (at->retired || strcmp(at->name, table->name) != 0)
			continue;
		if (same_definition(at, table)) {
			*out = t->last = at;
			return 0;
		}
		at->retired = true;
	}
	int rc = new_apply_table(t, table, out, err);
	if (rc == 0)
		t->last = *out;
	return rc;
}

/* Sends the Parse of statement kind unless it is prepared (or on its
 * way: the server takes the Parse before the statement's first use). */
static int ensure_stmt(ferry_target *t, apply_table *at, int kind,
                       ferry_error *err)
{
	if (at->state[kind] != STMT_NONE)
		return 0;
	group g[2];
	int ng = stmt_groups(at, kind, g), n = 0;
	Oid *types = ferry_calloc(2 * at->ncols + 1, sizeof *types);
	ferry_buf sql = FERRY_BUF_INIT;
	stmt_sql(&sql, at, kind);
	const char *text = ferry_buf_cstr(&sql);
	int rc = types && text ? 0 : ferry_error_oom(err);
	for (int i = 0; rc == 0 && i < ng; i++)
		for (uint32_t k = 0; k < g[i].n; k++) {
			bin_enc enc;
			unsigned oid;
			uint32_t col = g[i].cols ? g[i].cols[k] : k;
			param_type(&at->cols[col], g[i].cmp, &oid, &enc);
			types[n++] = oid;
		}
	snprintf(at->stmt[kind], sizeof at->stmt[kind], "ferry_apply_%u",
	         t->next_stmt++);
	if (rc == 0 && !PQsendPrepare(t->conn, at->stmt[kind], text, n, types))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not prepare the %s table \"%s\"",
		             stmt_what(kind), at->name);
	if (rc == 0) {
		queue_push(t, PEND_PREPARE, kind, false, at, 0, 0);
		at->state[kind] = STMT_SENT;
	}
	ferry_free(types);
	ferry_buf_free(&sql);
	return rc;
}

/* ---- online apply: values ------------------------------------------- */

/* A parameter in text: the value's plain text form (no COPY escapes),
 * NUL-terminated as libpq takes text parameters; NULL for a payload
 * holding a NUL, which text cannot carry. */
static uint8_t *put_param_text(uint8_t *p, bool real, const ferry_value *v)
{
	switch (v->type) {
	case FERRY_INT:
		p = put_int(p, v->u.i);
		break;
	case FERRY_FLOAT:
		p = put_float(p, v->u.f, real);
		break;
	case FERRY_BLOB:
		p = PUT_LIT(p, "\\x");
		for (size_t i = 0; i < v->u.s.len; i++) {
			uint8_t b = (uint8_t)v->u.s.ptr[i];
			*p++ = (uint8_t)hex_digits[b >> 4];
			*p++ = (uint8_t)hex_digits[b & 15];
		}
		break;
	case FERRY_BOOL:
		*p++ = v->u.b ? 't' : 'f';
		break;
	case FERRY_DATE:
		p = put_date(p, v->u.date);
		break;
	case FERRY_TIMESTAMP:
	case FERRY_TIMESTAMPTZ:
		p = put_timestamp(p, v->u.i, v->type == FERRY_TIMESTAMPTZ);
		break;
	case FERRY_UUID:
		p = put_uuid(p, v->u.uuid);
		break;
	default: /* NUMERIC, TEXT, JSON */
		if (v->u.s.len && memchr(v->u.s.ptr, 0, v->u.s.len))
			return NULL;
		if (v->u.s.len)
			memcpy(p, v->u.s.ptr, v->u.s.len);
		p += v->u.s.len;
	}
	*p++ = '\0';
	return p;
}

static int bad_param(const apply_table *at, ferry_op op, const apply_col *c,
                     const ferry_value *v, ferry_error *err)
{
	if (v->type != c->vtype)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not apply %s to table \"%s\": "
		                       "column \"%s\" got a %s value, expected "
		                       "%s",
		                       ferry_op_name(op), at->name, c->name,
		                       ferry_type_name(v->type),
		                       ferry_type_name(c->vtype));
	ferry_buf shown = FERRY_BUF_INIT;
	ferry_value_format(v, &shown, 40);
	const char *s = ferry_buf_cstr(&shown);
	int rc = ferry_error_set(err, FERRY_ERROR,
	                         "could not apply %s to table \"%s\": value %s "
	                         "cannot be stored in column \"%s\"",
	                         ferry_op_name(op), at->name, s ? s : "?",
	                         c->name);
	ferry_buf_free(&shown);
	return rc;
}

/* Encodes one value as the next parameter. */
static int put_param(ferry_target *t, const apply_table *at, ferry_op op,
                     const apply_col *c, bool cmp, const ferry_value *v,
                     ferry_error *err)
{
	uint32_t i = t->nparams++;
	t->poff[i] = SIZE_MAX;
	t->plen[i] = 0;
	t->pfmt[i] = 0;
	if (v->type == FERRY_NULL)
		return 0;
	bin_enc enc;
	unsigned oid;
	param_type(c, cmp, &oid, &enc);
	if (v->type != c->vtype ||
	    (ferry_type_has_bytes(v->type) && v->u.s.len > INT32_MAX - 1))
		return bad_param(at, op, c, v, err);
	uint8_t *p = room(&t->params, value_room(v) + 1), *end;
	if (!p)
		return ferry_error_oom(err);
	end = enc != ENC_NONE ? put_binary_value(p, enc, v)
	                      : put_param_text(p, c->real, v);
	if (!end)
		return bad_param(at, op, c, v, err);
	size_t off = (size_t)(p - t->params.data);
	t->poff[i] = enc != ENC_NONE ? off + 4 : off; /* after the length */
	t->plen[i] = enc != ENC_NONE ? (int)(end - p - 4) : 0;
	t->pfmt[i] = enc != ENC_NONE;
	t->params.len = (size_t)(end - t->params.data);
	return 0;
}

/* The parameters of groups g from the new values (after) and the row
 * whose key identifies the row to change (old). */
static int encode_groups(ferry_target *t, const apply_table *at,
                         const group *g, int ng, ferry_op op,
                         const ferry_row *after, const ferry_row *old,
                         ferry_error *err)
{
	int rc = 0;
	t->nparams = 0;
	ferry_buf_reset(&t->params);
	for (int i = 0; rc == 0 && i < ng; i++) {
		const ferry_row *row = g[i].image ? old : after;
		for (uint32_t k = 0; rc == 0 && k < g[i].n; k++) {
			uint32_t col = g[i].cols ? g[i].cols[k] : k;
			rc = put_param(t, at, op, &at->cols[col], g[i].cmp,
			               &row->values[col], err);
		}
	}
	for (uint32_t i = 0; rc == 0 && i < t->nparams; i++)
		t->pval[i] = t->poff[i] == SIZE_MAX
		                 ? NULL
		                 : (const char *)t->params.data + t->poff[i];
	return rc;
}

/* The parameters of statement kind. */
static int encode_params(ferry_target *t, const apply_table *at, int kind,
                         ferry_op op, const ferry_row *after,
                         const ferry_row *old, ferry_error *err)
{
	group g[2];
	int ng = stmt_groups(at, kind, g);
	return encode_groups(t, at, g, ng, op, after, old, err);
}

/* Appends "id=5, b='x'" (the key of row) to t->keys for messages. */
static int put_key(ferry_target *t, const apply_table *at,
                   const ferry_row *row, size_t *off, size_t *len,
                   ferry_error *err)
{
	*off = t->keys.len;
	for (uint32_t k = 0; k < at->nkey; k++) {
		const apply_col *c = &at->cols[at->key[k]];
		if (k)
			ferry_buf_puts(&t->keys, ", ");
		ferry_buf_puts(&t->keys, c->name);
		ferry_buf_putc(&t->keys, '=');
		ferry_value_format(&row->values[at->key[k]], &t->keys, 40);
	}
	*len = t->keys.len - *off;
	return ferry_buf_failed(&t->keys) ? ferry_error_oom(err) : 0;
}

/* Sends one change's statement: after holds the new values, old the row
 * whose key finds the row to change; one: exactly one row must be
 * affected (checked when its result is read). */
static int send_change(ferry_target *t, apply_table *at, int kind,
                       ferry_op op, const ferry_row *after,
                       const ferry_row *old, bool one, ferry_error *err)
{
	size_t key_off = 0, key_len = 0;
	int rc = queue_reserve(t, 2, err);
	if (rc == 0)
		rc = ensure_stmt(t, at, kind, err);
	if (rc == 0)
		rc = encode_params(t, at, kind, op, after, old, err);
	if (rc == 0 && old)
		rc = put_key(t, at, old, &key_off, &key_len, err);
	if (rc < 0)
		return rc;
	if (!PQsendQueryPrepared(t->conn, at->stmt[kind], (int)t->nparams,
	                         t->pval, t->plen, t->pfmt, 0))
		return fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		               "could not apply %s to table \"%s\"",
		               ferry_op_name(op), at->name);
	queue_push(t, PEND_CHANGE, op, one, at, key_off, key_len);
	return 0;
}

/* ---- online apply: the operations ----------------------------------- */

static const char checkpoint_table_sql[] =
    "CREATE TABLE IF NOT EXISTS _ferry_checkpoint (migration text PRIMARY "
    "KEY, lsn bigint NOT NULL, updated timestamptz NOT NULL DEFAULT now())";

/* Creates _ferry_checkpoint once per connection, in its own transaction
 * before the batch's.  Two connections creating it at once: the loser's
 * unique violation means it exists. */
static int ensure_checkpoint_table(ferry_target *t, ferry_error *err)
{
	if (t->ckpt_ready)
		return 0;
	PGresult *res = PQexec(t->conn, checkpoint_table_sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    !(state && (strcmp(state, "23505") == 0 ||
	                strcmp(state, "42P07") == 0)))
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not create table \"_ferry_checkpoint\"");
	PQclear(res);
	t->ckpt_ready = rc == 0;
	return rc;
}

static int pg_apply_begin(ferry_target *t, ferry_error *err)
{
	if (t->applying || t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not begin a batch: %s is open",
		                       t->applying ? "another batch"
		                                   : "a copy");
	int rc = ensure_checkpoint_table(t, err);
	if (rc == 0)
		rc = queue_reserve(t, 1, err);
	if (rc < 0)
		return rc;
	if (!PQenterPipelineMode(t->conn))
		return fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		               "could not begin a batch");
	t->applying = true;
	if (!PQsendQueryParams(t->conn, "BEGIN", 0, NULL, NULL, NULL, NULL,
	                       0)) {
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not begin a batch");
		pg_apply_abort(t);
		return rc;
	}
	queue_push(t, PEND_BEGIN, 0, false, NULL, 0, 0);
	return 0;
}

/* Whether the key columns of a and b hold the same values. */
static bool same_key(const apply_table *at, const ferry_row *a,
                     const ferry_row *b)
{
	for (uint32_t k = 0; k < at->nkey; k++)
		if (!ferry_value_identical(&a->values[at->key[k]],
		                           &b->values[at->key[k]]))
			return false;
	return true;
}

/* A strict update whose after-image lacks values the source did not
 * send: only the columns it has are set, the others keep theirs.  Its
 * column set varies, so it goes unprepared (Parse, Bind, Execute in the
 * pipeline, as the prepared ones). */
static int partial_update(ferry_target *t, apply_table *at,
                          const ferry_row *old, const ferry_row *after,
                          ferry_error *err)
{
	uint32_t *cols = ferry_calloc(at->ncols, sizeof *cols), n = 0;
	Oid *types = ferry_calloc(at->ncols + at->nkey, sizeof *types);
	ferry_buf sql = FERRY_BUF_INIT;
	size_t key_off = 0, key_len = 0;
	int rc = cols && types ? queue_reserve(t, 1, err) : ferry_error_oom(err);
	for (uint32_t i = 0; rc == 0 && i < at->ncols; i++)
		if (after->values[i].type != FERRY_ABSENT)
			cols[n++] = i;
	group g[2] = {{cols, n, false, 0}, {at->key, at->nkey, true, 1}};
	for (int i = 0, p = 0; rc == 0 && i < 2; i++)
		for (uint32_t k = 0; k < g[i].n; k++) {
			bin_enc enc;
			unsigned oid;
			param_type(&at->cols[g[i].cols[k]], g[i].cmp, &oid, &enc);
			types[p++] = oid;
		}
	if (rc == 0) {
		put_update(&sql, at, cols, n);
		rc = ferry_buf_cstr(&sql) ? 0 : ferry_error_oom(err);
	}
	if (rc == 0)
		rc = encode_groups(t, at, g, 2, FERRY_OP_UPDATE, after, old, err);
	if (rc == 0)
		rc = put_key(t, at, old, &key_off, &key_len, err);
	if (rc == 0 && !PQsendQueryParams(t->conn, ferry_buf_cstr(&sql),
	                                  (int)t->nparams, types, t->pval,
	                                  t->plen, t->pfmt, 0))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not apply update to table \"%s\"", at->name);
	if (rc == 0)
		queue_push(t, PEND_CHANGE, FERRY_OP_UPDATE, true, at, key_off,
		           key_len);
	ferry_free(cols);
	ferry_free(types);
	ferry_buf_free(&sql);
	return rc;
}

/* An idempotent update: the after-image is upserted; a changed key
 * first moves the row still at the old key (an UPDATE, so that the
 * target's ON UPDATE actions apply, not ON DELETE ones), after deleting
 * it if the new key already has a row (the snapshot had both). */
static int apply_update(ferry_target *t, apply_table *at,
                        const ferry_row *before, const ferry_row *after,
                        bool idempotent, ferry_error *err)
{
	if (!idempotent && ferry_row_has_absent(after))
		return partial_update(t, at, before ? before : after, after, err);
	if (!idempotent)
		return send_change(t, at, ST_UPDATE, FERRY_OP_UPDATE, after,
		                   before ? before : after, true, err);
	int rc = 0;
	if (before && !same_key(at, before, after)) {
		rc = send_change(t, at, ST_CLEAR, FERRY_OP_UPDATE, after,
		                 before, false, err);
		if (rc == 0)
			rc = send_change(t, at, ST_UPDATE, FERRY_OP_UPDATE,
			                 after, before, false, err);
	}
	if (rc == 0)
		rc = send_change(t, at, ST_UPSERT, FERRY_OP_UPDATE, after, NULL,
		                 false, err);
	return rc;
}

/* TRUNCATE without CASCADE, as prepare_table: emptying other tables is
 * not ours to decide (a referenced table fails the batch instead). */
static int apply_truncate(ferry_target *t, apply_table *at, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "TRUNCATE ");
	ferry_buf_put_ident(&sql, at->name);
	const char *text = ferry_buf_cstr(&sql);
	int rc = text ? queue_reserve(t, 1, err) : ferry_error_oom(err);
	if (rc == 0 &&
	    !PQsendQueryParams(t->conn, text, 0, NULL, NULL, NULL, NULL, 0))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not apply truncate to table \"%s\"",
		             at->name);
	if (rc == 0)
		queue_push(t, PEND_CHANGE, FERRY_OP_TRUNCATE, false, at, 0, 0);
	ferry_buf_free(&sql);
	return rc;
}

static int send_op(ferry_target *t, apply_table *at, ferry_op op,
                   const ferry_row *before, const ferry_row *after,
                   bool idempotent, ferry_error *err)
{
	if (idempotent && at->keyless && op != FERRY_OP_TRUNCATE)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not apply %s to table \"%s\" "
		                       "idempotently: it has no primary key to "
		                       "match rows by", ferry_op_name(op),
		                       at->name);
	switch (op) {
	case FERRY_OP_INSERT:
		return send_change(t, at, idempotent ? ST_UPSERT : ST_INSERT,
		                   op, after, NULL, !idempotent, err);
	case FERRY_OP_UPDATE:
		return apply_update(t, at, before, after, idempotent, err);
	case FERRY_OP_DELETE:
		return send_change(t, at, ST_DELETE, op, NULL, before,
		                   !idempotent, err);
	default:
		return apply_truncate(t, at, err);
	}
}

static int pg_apply_change(ferry_target *t, const ferry_table *table,
                           ferry_op op, const ferry_row *before,
                           const ferry_row *after, bool idempotent,
                           ferry_error *err)
{
	if (!t->applying || t->apply_failed)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not apply a change to table "
		                       "\"%s\": %s", table->name,
		                       t->applying ? "the batch has failed"
		                                   : "no batch is open");
	apply_table *at = NULL;
	int rc = ferry_target_check_images(table, op, before, after,
	                                   idempotent, err);
	if (rc == 0)
		rc = find_apply_table(t, table, &at, err);
	if (rc == 0)
		rc = send_op(t, at, op, before, after, idempotent, err);
	if (rc == 0 && ++t->since_read >= READ_EVERY)
		rc = take_ready(t, err);
	t->apply_failed = rc < 0;
	return rc;
}

/* Sends the checkpoint's upsert; it never moves back (two replayers of
 * one migration would otherwise both commit). */
static int send_checkpoint(ferry_target *t, const char *migration,
                           uint64_t lsn, ferry_error *err)
{
	static const char sql[] =
	    "INSERT INTO _ferry_checkpoint AS c (migration, lsn, updated) "
	    "VALUES ($1, $2, now()) ON CONFLICT (migration) DO UPDATE SET "
	    "lsn = EXCLUDED.lsn, updated = EXCLUDED.updated "
	    "WHERE c.lsn <= EXCLUDED.lsn";
	static const Oid types[2] = {OID_TEXT, OID_INT8};
	char lsn_text[24];
	snprintf(lsn_text, sizeof lsn_text, "%llu", (unsigned long long)lsn);
	const char *params[2] = {migration, lsn_text};
	int rc = queue_reserve(t, 1, err);
	if (rc == 0 &&
	    !PQsendQueryParams(t->conn, sql, 2, types, params, NULL, NULL, 0))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not write the checkpoint of migration "
		             "\"%s\"", migration);
	if (rc == 0)
		queue_push(t, PEND_CHECKPOINT, 0, false, NULL, 0, 0);
	return rc;
}

static int check_migration(const char *migration, uint64_t lsn,
                           ferry_error *err)
{
	if (!migration || !*migration)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use a checkpoint: the "
		                       "migration has no name");
	if (lsn > INT64_MAX)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not write the checkpoint of "
		                       "migration \"%s\": lsn %llu is above "
		                       "the largest bigint",
		                       migration, (unsigned long long)lsn);
	return 0;
}

/* Checkpoint, sync, every result checked, and only then COMMIT. */
static int pg_apply_commit(ferry_target *t, const char *migration,
                           uint64_t lsn, ferry_error *err)
{
	if (!t->applying || t->apply_failed) {
		bool failed = t->applying;
		pg_apply_abort(t);
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not commit the batch: %s",
		                       failed ? "a change failed"
		                              : "no batch is open");
	}
	t->migration = migration;
	t->lsn = lsn;
	int rc = check_migration(migration, lsn, err);
	if (rc == 0)
		rc = send_checkpoint(t, migration, lsn, err);
	if (rc == 0 && !PQpipelineSync(t->conn))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not commit the batch");
	if (rc == 0) {
		queue_push(t, PEND_SYNC, 0, false, NULL, 0, 0);
		t->synced = true;
	}
	while (rc == 0 && t->qhead < t->qlen)
		rc = take_result(t, err);
	if (rc == 0 && !PQexitPipelineMode(t->conn))
		rc = fail_pg(err, FERRY_ERROR, t->conn, NULL, false,
		             "could not commit the batch");
	if (rc == 0)
		rc = exec_cmd(t, "COMMIT", err, "could not commit the batch");
	if (rc < 0)
		pg_apply_abort(t); /* reads what is left, rolls back */
	else
		end_batch(t);
	t->migration = NULL;
	return rc;
}

/*
 * target.h: ends the COPY, then in the same transaction makes sure
 * _ferry_checkpoint exists (under a savepoint: a concurrent creator's
 * unique violation only means it exists) and upserts the checkpoint,
 * which must take (one row: it never goes back), and commits.
 */
static int pg_copy_end_checkpoint(ferry_target *t, int64_t *rows,
                                  const char *migration, uint64_t lsn,
                                  ferry_error *err)
{
	static const char upsert[] =
	    "INSERT INTO _ferry_checkpoint AS c (migration, lsn, updated) "
	    "VALUES ($1, $2, now()) ON CONFLICT (migration) DO UPDATE SET "
	    "lsn = EXCLUDED.lsn, updated = EXCLUDED.updated "
	    "WHERE c.lsn <= EXCLUDED.lsn";
	if (!t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not end a copy: no copy is open");
	int rc = check_migration(migration, lsn, err);
	if (rc == 0)
		rc = send_rest(t, err);
	if (rc == 0)
		rc = exec_cmd(t, "SAVEPOINT ferry_checkpoint", err,
		              "could not commit table \"%s\"", t->table);
	if (rc == 0) {
		PGresult *res = PQexec(t->conn, checkpoint_table_sql);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok && !(state && (strcmp(state, "23505") == 0 ||
		                       strcmp(state, "42P07") == 0)))
			rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
			             "could not create table "
			             "\"_ferry_checkpoint\"");
		PQclear(res);
		if (rc == 0)
			rc = exec_cmd(t, ok ? "RELEASE ferry_checkpoint"
			                    : "ROLLBACK TO ferry_checkpoint",
			              err, "could not commit table \"%s\"",
			              t->table);
	}
	if (rc == 0) {
		char lsn_text[24];
		snprintf(lsn_text, sizeof lsn_text, "%llu",
		         (unsigned long long)lsn);
		static const Oid types[2] = {OID_TEXT, OID_INT8};
		const char *params[2] = {migration, lsn_text};
		PGresult *res = PQexecParams(t->conn, upsert, 2, types, params,
		                             NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
			             "could not write the checkpoint of "
			             "migration \"%s\"", migration);
		else if (strcmp(PQcmdTuples(res), "1") != 0)
			rc = ferry_error_set(err, FERRY_ERROR,
			                     "checkpoint of migration \"%s\" would "
			                     "go back to %llu: another process has "
			                     "passed it", migration,
			                     (unsigned long long)lsn);
		PQclear(res);
	}
	return commit_copy(t, rows, rc, err);
}

static int refuse_in_batch(const ferry_target *t, const char *migration,
                           ferry_error *err)
{
	if (t->applying || t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use the checkpoint of "
		                       "migration \"%s\": %s is open",
		                       migration ? migration : "",
		                       t->applying ? "a batch" : "a copy");
	return check_migration(migration, 0, err);
}

static bool missing_table(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state && strcmp(state, "42P01") == 0;
}

static int pg_checkpoint_get(ferry_target *t, const char *migration,
                             uint64_t *lsn, ferry_error *err)
{
	*lsn = 0;
	int rc = refuse_in_batch(t, migration, err);
	if (rc < 0)
		return rc;
	const char *params[1] = {migration};
	PGresult *res = PQexecParams(t->conn, "SELECT lsn FROM "
	                             "_ferry_checkpoint WHERE migration = $1",
	                             1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		*lsn = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	else if (PQresultStatus(res) != PGRES_TUPLES_OK && !missing_table(res))
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not read the checkpoint of migration "
		             "\"%s\"", migration);
	PQclear(res);
	return rc;
}

/* Deletes the row, and the table once it is empty, in one transaction
 * that locks the table first: no other migration's checkpoint can
 * arrive between the check and the drop. */
static int drop_checkpoint(ferry_target *t, const char *migration,
                           ferry_error *err)
{
	const char *params[1] = {migration};
	PGresult *res = PQexec(t->conn, "LOCK TABLE _ferry_checkpoint IN "
	                                "ACCESS EXCLUSIVE MODE");
	int rc = 0;
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		res = PQexecParams(t->conn, "DELETE FROM _ferry_checkpoint "
		                   "WHERE migration = $1 OR pg_catalog.left("
		                   "migration, pg_catalog.length($1) + 1) = "
		                   "$1 || '/'", 1, NULL, params,
		                   NULL, NULL, 0);
	}
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		res = PQexec(t->conn, "SELECT NOT EXISTS (SELECT 1 FROM "
		                      "_ferry_checkpoint)");
	}
	bool empty = PQresultStatus(res) == PGRES_TUPLES_OK &&
	             strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && empty) {
		PQclear(res);
		res = PQexec(t->conn, "DROP TABLE _ferry_checkpoint");
	}
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    !missing_table(res))
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not drop the checkpoint of migration "
		             "\"%s\"", migration);
	PQclear(res);
	return rc;
}

static int drop_origin(ferry_target *t, const char *migration,
                       ferry_error *err);

static int pg_checkpoint_drop(ferry_target *t, const char *migration,
                              ferry_error *err)
{
	int rc = refuse_in_batch(t, migration, err);
	if (rc == 0)
		rc = exec_cmd(t, "BEGIN", err, "could not drop the checkpoint "
		              "of migration \"%s\"", migration);
	if (rc < 0)
		return rc;
	rc = drop_checkpoint(t, migration, err);
	if (rc == 0)
		rc = exec_cmd(t, "COMMIT", err, "could not drop the checkpoint "
		              "of migration \"%s\"", migration);
	else
		PQclear(PQexec(t->conn, "ROLLBACK"));
	t->ckpt_ready = false; /* perhaps dropped: created again on demand */
	if (rc == 0)
		rc = drop_origin(t, migration, err);
	return rc;
}

/* ---- replication origin ------------------------------------------ */

static bool sqlstate_is(const PGresult *res, const char *code)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state && strcmp(state, code) == 0;
}

/* How long mark_origin waits for the origin to come free: a ferry that
 * was just killed leaves its server backend holding the origin until
 * the server sees the closed socket, which takes milliseconds. */
#define ORIGIN_BUSY_WAIT_MS 10000

static int pg_mark_origin(ferry_target *t, const char *origin,
                          ferry_error *err)
{
	if (t->applying || t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not set replication origin \"%s\": "
		                       "%s is open", origin,
		                       t->applying ? "a batch" : "a copy");
	const char *params[1] = {origin};
	/* a concurrent create of the same name loses with 23505: fine */
	PGresult *res = PQexecParams(
	    t->conn, "SELECT pg_catalog.pg_replication_origin_create($1) "
	             "WHERE pg_catalog.pg_replication_origin_oid($1) IS NULL",
	    1, NULL, params, NULL, NULL, 0);
	for (int waited = 0;; waited += 50) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK ||
		    sqlstate_is(res, "23505")) {
			PQclear(res);
			res = PQexecParams(t->conn, "SELECT pg_catalog."
			                   "pg_replication_origin_session_setup($1)",
			                   1, NULL, params, NULL, NULL, 0);
		}
		/* 55000: still active in the backend of a ferry that died */
		if (!sqlstate_is(res, "55000") || waited >= ORIGIN_BUSY_WAIT_MS)
			break;
		PQclear(res);
		struct timespec pause = {0, 50 * 1000000L};
		nanosleep(&pause, NULL);
		res = PQmakeEmptyPGresult(t->conn, PGRES_TUPLES_OK);
		if (!res)
			return ferry_error_oom(err);
	}
	int rc = 0;
	if (sqlstate_is(res, "42501"))
		rc = ferry_error_set(
		    err, FERRY_EUNSUPPORTED,
		    "could not mark ferry's writes with replication origin "
		    "\"%s\": the role may not use replication origins (a "
		    "superuser may, or GRANT EXECUTE ON FUNCTION "
		    "pg_replication_origin_create(text), "
		    "pg_replication_origin_session_setup(text), "
		    "pg_replication_origin_drop(text) TO the role)", origin);
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not set replication origin \"%s\"", origin);
	PQclear(res);
	return rc;
}

/* Drops "ferry_<migration>" if it is there and not in use; a role that
 * may not use origins never created one. */
static int drop_origin(ferry_target *t, const char *migration,
                       ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	ferry_buf_printf(&name, "ferry_%s", migration);
	const char *params[1] = {ferry_buf_cstr(&name)};
	if (!params[0])
		return ferry_error_oom(err);
	PGresult *res = PQexecParams(
	    t->conn, "SELECT pg_catalog.pg_replication_origin_drop($1) "
	             "WHERE pg_catalog.pg_replication_origin_oid($1) IS NOT NULL",
	    1, NULL, params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK && !sqlstate_is(res, "42501"))
		rc = fail_pg(err, FERRY_ERROR, t->conn, res, false,
		             "could not drop replication origin \"%s\"",
		             params[0]);
	PQclear(res);
	ferry_buf_free(&name);
	return rc;
}

const ferry_target_ops ferry_pg_target_ops = {
	.name = "postgresql",
	.open = pg_open,
	.check_table = pg_check_table,
	.prepare_table = pg_prepare_table,
	.copy_begin = pg_copy_begin,
	.copy_row = pg_copy_row,
	.copy_end = pg_copy_end,
	.copy_end_checkpoint = pg_copy_end_checkpoint,
	.copy_abort = pg_copy_abort,
	.finish_table = pg_finish_table,
	.add_foreign_keys = pg_add_foreign_keys,
	.apply_begin = pg_apply_begin,
	.apply_change = pg_apply_change,
	.apply_commit = pg_apply_commit,
	.apply_abort = pg_apply_abort,
	.checkpoint_get = pg_checkpoint_get,
	.checkpoint_drop = pg_checkpoint_drop,
	.mark_origin = pg_mark_origin,
	.close = pg_close,
};
