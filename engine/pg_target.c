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

#include <libpq-fe.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Built-in type OIDs (pg_type.dat): fixed across PostgreSQL versions. */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
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

/* ---- messages ------------------------------------------------------ */

/* Appends text on one line: line breaks, with the white space libpq
 * indents continuation lines with, become one space. */
static void put_one_line(ferry_buf *b, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t run = strcspn(p, "\r\n");
		ferry_buf_append(b, p, run);
		p += run;
		p += strspn(p, "\r\n\t ");
		if (*p && run)
			ferry_buf_putc(b, ' ');
	}
}

/* Appends PostgreSQL's error for res (libpq's for conn when res holds
 * none): the message, then its detail, hint and, if asked, context. */
static void put_pg_error(ferry_buf *b, PGconn *conn, const PGresult *res,
                         bool context)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	const char *primary =
	    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!primary && st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR &&
	    st != PGRES_BAD_RESPONSE) {
		ferry_buf_printf(b, "unexpected result %s", PQresStatus(st));
		return;
	}
	if (!primary) { /* libpq's own: connection lost, out of memory */
		const char *m = res ? PQresultErrorMessage(res) : "";
		if (!*m)
			m = PQerrorMessage(conn);
		put_one_line(b, *m ? m : "unknown error");
		return;
	}
	static const struct {
		int field;
		const char *label;
	} extra[] = {
		{PG_DIAG_MESSAGE_DETAIL, "; detail: "},
		{PG_DIAG_MESSAGE_HINT, "; hint: "},
		{PG_DIAG_CONTEXT, "; context: "},
	};
	put_one_line(b, primary);
	for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
		const char *s = PQresultErrorField(res, extra[i].field);
		if (!s || (extra[i].field == PG_DIAG_CONTEXT && !context))
			continue;
		ferry_buf_puts(b, extra[i].label);
		put_one_line(b, s);
	}
}

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
	ferry_buf_vprintf(&b, fmt, ap);
	ferry_buf_puts(&b, ": ");
	put_pg_error(&b, conn, res, context);
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
	if (!t->copying)
		return 0;
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not change table \"%s\": the copy into "
	                       "\"%s\" is still open",
	                       table, t->table);
}

/* ---- connection ---------------------------------------------------- */

/* Replaces every occurrence of secret in msg with "***". */
static void mask_one(ferry_buf *msg, const char *secret)
{
	const char *text = ferry_buf_cstr(msg);
	if (!text || !*secret || !strstr(text, secret))
		return;
	ferry_buf masked = FERRY_BUF_INIT;
	size_t n = strlen(secret);
	const char *p = text, *hit;
	while ((hit = strstr(p, secret)) != NULL) {
		ferry_buf_append(&masked, p, (size_t)(hit - p));
		ferry_buf_puts(&masked, "***");
		p = hit + n;
	}
	ferry_buf_puts(&masked, p);
	ferry_buf_free(msg);
	*msg = masked; /* a failed buffer makes the caller report no memory */
}

/*
 * libpq does not quote passwords in its messages, but a malformed
 * connection string can make it quote any fragment.  Masks the password
 * values libpq parsed and every word of the connection string that the
 * redacted form lacks (what redaction removed is secret).
 */
static void mask_secrets(ferry_buf *msg, const char *conninfo,
                         const char *redacted)
{
	static const char delims[] = " \t\r\n=\"'@:/?&,;\\";
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && (strcmp(o->keyword, "password") == 0 ||
		               strcmp(o->keyword, "sslpassword") == 0))
			mask_one(msg, o->val);
	PQconninfoFree(opts);
	for (const char *p = conninfo + strspn(conninfo, delims); *p;
	     p += strspn(p, delims)) {
		size_t n = strcspn(p, delims);
		char *word = ferry_strndup(p, n);
		if (!word) {
			msg->failed = 1;
			return;
		}
		if (!strstr(redacted, word))
			mask_one(msg, word);
		ferry_free(word);
		p += n;
	}
}

static int connect_failed(ferry_target *t, const char *conninfo,
                          ferry_error *err)
{
	ferry_buf cause = FERRY_BUF_INIT;
	put_one_line(&cause, PQerrorMessage(t->conn));
	mask_secrets(&cause, conninfo, t->redacted);
	const char *c = ferry_buf_cstr(&cause);
	int rc = c ? ferry_error_set(err, FERRY_ERROR,
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
static uint8_t *put_binary_value(uint8_t *p, const copy_col *c,
                                 const ferry_value *v)
{
	uint64_t bits;
	switch (c->enc) {
	case ENC_INT2:
	case ENC_INT4:
	case ENC_INT8:
		return put_int_bin(p, v->u.i, c->enc);
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
		                     c->enc == ENC_JSONB);
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
		else if (!(p = put_binary_value(p, c, v)))
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

static int pg_copy_end(ferry_target *t, int64_t *rows, ferry_error *err)
{
	if (!t->copying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not end a copy: no copy is open");
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
		put_pg_error(violated, t->conn, res, false);
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

const ferry_target_ops ferry_pg_target_ops = {
	.name = "postgresql",
	.open = pg_open,
	.check_table = pg_check_table,
	.prepare_table = pg_prepare_table,
	.copy_begin = pg_copy_begin,
	.copy_row = pg_copy_row,
	.copy_end = pg_copy_end,
	.copy_abort = pg_copy_abort,
	.finish_table = pg_finish_table,
	.add_foreign_keys = pg_add_foreign_keys,
	.close = pg_close,
};
