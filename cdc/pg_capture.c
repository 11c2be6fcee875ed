/*
 * cdc/pg_capture.c - change capture from PostgreSQL by logical
 * replication (engine/capture.h, docs/online-postgresql.md).
 *
 * Two connections: `conn` for catalog queries, snapshots and scans
 * (through cdc/pg_source.c), and `repl`, a replication=database
 * connection that stays in COPY BOTH mode once the stream has started.
 * The stream is read without blocking (PQgetCopyData async, select on
 * the socket with a deadline); every message is length-checked by
 * cdc/pgoutput.c before it is looked at.
 *
 * Positions are commit LSNs: every change of a source transaction has
 * its transaction's commit LSN, and txid is its xid.  A read hands over
 * whole transactions only; the slot moves (standby status update, or
 * pg_replication_slot_advance when no stream is open) only on release,
 * which the engine calls after the journal commit is durable.
 */
#define _POSIX_C_SOURCE 200809L
#include "cdc/pg_capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libpq-fe.h>

#include "cdc/pg_source.h"
#include "cdc/pgoutput.h"
#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/pg_util.h"

/* A read returns once the stream has been quiet this long between
 * transactions: the server has sent what it had. */
#define QUIET_MS 20
/* Inside a transaction the rest is on its way: wait up to this long. */
#define MID_TXN_WAIT_MS 30000
/* A read ends at the first transaction boundary after this long or
 * this many changes even while the source keeps writing: the journal
 * commit and the release that follow it must not wait for a quiet
 * moment that a busy source never has. */
#define READ_BUDGET_US INT64_C(200000)
#define READ_BUDGET_CHANGES 20000
/* Status updates at least this often, so the server does not time out
 * (wal_sender_timeout is 60 s by default). */
#define STATUS_EVERY_US INT64_C(10000000)

/* Session settings of the stream: the text output the value decoders
 * below expect, whatever the server's or role's defaults. */
#define STREAM_OPTIONS                                                       \
	"-c datestyle=ISO,YMD -c timezone=UTC -c extra_float_digits=3 "         \
	"-c bytea_output=hex -c intervalstyle=postgres"

struct ferry_capture {
	PGconn *conn;
	PGconn *repl;
	char *uri;       /* redacted, for messages */
	char *conninfo;  /* as given: libpq expands it */
	char *slot;      /* ferry_<migration>, once known */
	ferry_source *src;      /* pg_source on conn during a snapshot */
	bool in_snapshot;
	bool streaming;
	uint64_t released;      /* the slot's confirmed position, as sent */
	uint64_t delivered;     /* the last commit LSN handed to a read */
	uint64_t idle_end;      /* WAL end of a keepalive that came between
	                           transactions: nothing of ours below it is
	                           unread */
	uint64_t idle_delivered;/* `delivered` when idle_end was seen */
	uint64_t read_until;    /* reads go on until idle_end passes it
	                           (read_barrier); 0: none */
	int64_t last_status_us;
	ferry_pgoutput_relcache *rels;
	ferry_pgoutput_msg msg;
	ferry_schema carried;   /* the published tables, for images */
	bool have_carried;
	/* the transaction being read */
	bool in_txn, skip_txn;
	uint32_t xid;
	uint64_t commit_lsn;
	int64_t commit_time;
	uint8_t position[FERRY_CAPTURE_POSITION_LEN];
	ferry_change change;
	ferry_row before, after;
	ferry_buf scratch[2];   /* bytea payloads of before, after */
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* err = "<what> PostgreSQL database "<uri>": <PostgreSQL's error on one
 * line, secrets masked>". */
static int pg_fail(ferry_error *err, int code, PGconn *conn,
                   const PGresult *res, const char *what,
                   const ferry_capture *cap)
{
	if (ferry_pg_conn_lost(conn, res))
		code = FERRY_ECONNLOST;
	ferry_buf cause = FERRY_BUF_INIT;
	ferry_pg_put_error(&cause, conn, res, false);
	ferry_pg_mask_secrets(&cause, cap->conninfo, cap->uri);
	int rc = ferry_buf_cstr(&cause)
	             ? ferry_error_set(err, code, "%s PostgreSQL database "
	                               "\"%s\": %s", what, cap->uri,
	                               ferry_buf_cstr(&cause))
	             : ferry_error_oom(err);
	ferry_buf_free(&cause);
	return rc;
}

/* Runs sql (params as text); res kept for the caller when wanted. */
static int run(ferry_capture *cap, const char *sql, int nparams,
               const char *const *params, PGresult **out, const char *what,
               ferry_error *err)
{
	PGresult *res = PQexecParams(cap->conn, sql, nparams, NULL, params, NULL,
	                             NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_fail(err, FERRY_ERROR, cap->conn, res, what, cap);
		PQclear(res);
		res = NULL;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return rc;
}

/* ---- values ---------------------------------------------------------- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static int64_t num(const char *s, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* "YYYY-MM-DD" with 4+ year digits, then " BC" possibly later; *used =
 * bytes of the date part. */
static bool parse_ymd(const char *s, size_t len, int64_t *year,
                      unsigned *month, unsigned *day, size_t *used)
{
	size_t y = 0;
	while (y < len && s[y] >= '0' && s[y] <= '9')
		y++;
	if (y < 4 || y > 6 || y + 6 > len || s[y] != '-' || s[y + 3] != '-' ||
	    !digits(s + y + 1, 2) || !digits(s + y + 4, 2))
		return false;
	*year = num(s, y);
	*month = (unsigned)num(s + y + 1, 2);
	*day = (unsigned)num(s + y + 4, 2);
	*used = y + 6;
	return true;
}

static bool ends_bc(const char *s, size_t *len)
{
	if (*len >= 3 && memcmp(s + *len - 3, " BC", 3) == 0) {
		*len -= 3;
		return true;
	}
	return false;
}

static int bad_text(ferry_error *err, const ferry_sqltype *type,
                    const char *text, size_t len)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_sqltype_format(type, &b);
	int rc = ferry_error_set(err, FERRY_ECORRUPT, "the stream sent \"%.*s\" "
	                         "for a %s value, which is not what PostgreSQL "
	                         "prints for one", (int)(len > 80 ? 80 : len),
	                         text, ferry_buf_cstr(&b) ? ferry_buf_cstr(&b)
	                                                  : "?");
	ferry_buf_free(&b);
	return rc;
}

static bool parse_date(const char *s, size_t len, int32_t *out)
{
	int64_t y;
	unsigned m, d;
	size_t used;
	bool bc = ends_bc(s, &len);
	if (!parse_ymd(s, len, &y, &m, &d, &used) || used != len)
		return false;
	if (bc)
		y = 1 - y; /* 1 BC is year 0 */
	if (!ferry_date_valid(y, m, d))
		return false;
	*out = ferry_days_from_civil(y, m, d);
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]" */
static bool parse_timestamp(const char *s, size_t len, bool tz, int64_t *out)
{
	int64_t y;
	unsigned mo, d;
	size_t i;
	bool bc = ends_bc(s, &len);
	if (!parse_ymd(s, len, &y, &mo, &d, &i) || i + 9 > len || s[i] != ' ' ||
	    !digits(s + i + 1, 2) || s[i + 3] != ':' || !digits(s + i + 4, 2) ||
	    s[i + 6] != ':' || !digits(s + i + 7, 2))
		return false;
	int64_t hh = num(s + i + 1, 2), mi = num(s + i + 4, 2),
	        ss = num(s + i + 7, 2), us = 0;
	i += 9;
	if (i < len && s[i] == '.') {
		size_t f = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f || i - f > 6)
			return false;
		us = num(s + f, i - f);
		for (size_t k = i - f; k < 6; k++)
			us *= 10;
	}
	int64_t offset = 0;
	if (tz) {
		if (i + 3 > len || (s[i] != '+' && s[i] != '-') ||
		    !digits(s + i + 1, 2))
			return false;
		int sign = s[i] == '-' ? -1 : 1;
		offset = num(s + i + 1, 2) * 3600;
		i += 3;
		for (int part = 60; part >= 1 && i < len && s[i] == ':';
		     part /= 60) {
			if (i + 3 > len || !digits(s + i + 1, 2))
				return false;
			offset += num(s + i + 1, 2) * part;
			i += 3;
		}
		offset *= sign;
	}
	if (i != len || hh > 24 || mi > 59 || ss > 60)
		return false;
	if (bc)
		y = 1 - y;
	if (!ferry_date_valid(y, mo, d))
		return false;
	int64_t days = ferry_days_from_civil(y, mo, d), at;
	/* past year 294247 an int64 of microseconds overflows: refused, as
	 * the scan refuses it, never wrapped */
	if (__builtin_mul_overflow(days, FERRY_USECS_PER_DAY, &at) ||
	    __builtin_add_overflow(at, ((hh * 60 + mi) * 60 + ss - offset) *
	                                   1000000 + us, &at) ||
	    at == FERRY_TS_PINF || at == FERRY_TS_NINF)
		return false;
	*out = at;
	return true;
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

static bool parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
			continue;
		int hi = hexv(s[i]), lo = i + 1 < len ? hexv(s[i + 1]) : -1;
		if (hi < 0 || lo < 0 || k == 16)
			return false;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return k == 16 && len == 36;
}

int ferry_pg_capture_value(const ferry_sqltype *type, const char *text,
                           size_t len, ferry_value *out, ferry_buf *scratch,
                           ferry_error *err)
{
	char buf[64];
	char *end;
	switch (type->kind) {
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT: {
		if (len == 0 || len >= sizeof buf)
			return bad_text(err, type, text, len);
		memcpy(buf, text, len);
		buf[len] = '\0';
		errno = 0;
		long long v = strtoll(buf, &end, 10);
		if (*end || errno)
			return bad_text(err, type, text, len);
		*out = ferry_value_int(v);
		return 0;
	}
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE: {
		if (len == 0 || len >= sizeof buf)
			return bad_text(err, type, text, len);
		memcpy(buf, text, len);
		buf[len] = '\0';
		/* extra_float_digits 3: the text round-trips bit for bit; a
		 * real is widened exactly, as the scan widens float4 */
		double v = type->kind == FERRY_SQL_REAL ? (double)strtof(buf, &end)
		                                         : strtod(buf, &end);
		if (*end)
			return bad_text(err, type, text, len);
		*out = ferry_value_float(v);
		return 0;
	}
	case FERRY_SQL_NUMERIC:
		*out = ferry_value_bytes(FERRY_NUMERIC, text, len);
		return 0;
	case FERRY_SQL_BOOLEAN:
		if (len != 1 || (text[0] != 't' && text[0] != 'f'))
			return bad_text(err, type, text, len);
		*out = ferry_value_bool(text[0] == 't');
		return 0;
	case FERRY_SQL_DATE: {
		int32_t days;
		if (len == 8 && memcmp(text, "infinity", 8) == 0)
			days = FERRY_DATE_PINF;
		else if (len == 9 && memcmp(text, "-infinity", 9) == 0)
			days = FERRY_DATE_NINF;
		else if (!parse_date(text, len, &days))
			return bad_text(err, type, text, len);
		*out = ferry_value_date(days);
		return 0;
	}
	case FERRY_SQL_TIMESTAMP:
	case FERRY_SQL_TIMESTAMPTZ: {
		bool tz = type->kind == FERRY_SQL_TIMESTAMPTZ;
		int64_t us;
		if (len == 8 && memcmp(text, "infinity", 8) == 0)
			us = FERRY_TS_PINF;
		else if (len == 9 && memcmp(text, "-infinity", 9) == 0)
			us = FERRY_TS_NINF;
		else if (!parse_timestamp(text, len, tz, &us))
			return bad_text(err, type, text, len);
		*out = ferry_value_timestamp(tz ? FERRY_TIMESTAMPTZ
		                                : FERRY_TIMESTAMP, us);
		return 0;
	}
	case FERRY_SQL_UUID: {
		uint8_t u[16];
		if (!parse_uuid(text, len, u))
			return bad_text(err, type, text, len);
		*out = ferry_value_uuid(u);
		return 0;
	}
	case FERRY_SQL_BYTEA: {
		if (len < 2 || text[0] != '\\' || text[1] != 'x' || len % 2)
			return bad_text(err, type, text, len);
		if (ferry_buf_reserve(scratch, len / 2) < 0)
			return ferry_error_oom(err);
		size_t start = scratch->len;
		for (size_t i = 2; i < len; i += 2) {
			int hi = hexv(text[i]), lo = hexv(text[i + 1]);
			if (hi < 0 || lo < 0)
				return bad_text(err, type, text, len);
			ferry_buf_putc(scratch, (uint8_t)(hi << 4 | lo));
		}
		*out = ferry_value_bytes(FERRY_BLOB, scratch->data + start,
		                         scratch->len - start);
		return 0;
	}
	case FERRY_SQL_JSON:
	case FERRY_SQL_JSONB:
		*out = ferry_value_bytes(FERRY_JSON, text, len);
		return 0;
	default: /* text, varchar, char, and the types carried as text */
		*out = ferry_value_bytes(FERRY_TEXT, text, len);
		return 0;
	}
}

/* ---- snapshots as pg_current_snapshot() prints them ------------------- */

/* xid (32 bits, from the stream) against a 64-bit full xid near it: the
 * full xid it stands for, as PostgreSQL compares xids (within 2^31). */
static uint64_t widen(uint32_t xid, uint64_t near)
{
	int32_t d = (int32_t)(xid - (uint32_t)near);
	return (uint64_t)((int64_t)near + d);
}

bool ferry_pg_capture_xid_visible(const char *snapshot, uint32_t xid)
{
	char *end;
	errno = 0;
	uint64_t xmin = strtoull(snapshot, &end, 10);
	if (*end != ':' || errno)
		return false;
	uint64_t xmax = strtoull(end + 1, &end, 10);
	if (*end != ':' || errno || xmax < xmin)
		return false;
	uint64_t full = widen(xid, xmax);
	if (full < xmin)
		return true;
	if (full >= xmax)
		return false;
	for (const char *p = end + 1; *p;) {
		uint64_t running = strtoull(p, &end, 10);
		if (end == p || errno)
			return false;
		if (running == full)
			return false; /* in progress when the snapshot was taken */
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return false;
	}
	return true;
}

/* ---- open and close ---------------------------------------------------- */

static void pg_cap_close(ferry_capture *cap);

static int pg_cap_open(ferry_capture **out, const ferry_uri *uri,
                       ferry_error *err)
{
	*out = NULL;
	ferry_capture *cap = ferry_calloc(1, sizeof *cap);
	if (!cap || !(cap->uri = ferry_strdup(uri->redacted)) ||
	    !(cap->conninfo = ferry_strdup(uri->conninfo))) {
		pg_cap_close(cap);
		return ferry_error_oom(err);
	}
	int rc = ferry_pgoutput_relcache_open(&cap->rels, err);
	if (rc == 0) {
		const char *keys[] = {"dbname", "application_name", NULL};
		const char *vals[] = {cap->conninfo, "ferry", NULL};
		cap->conn = PQconnectdbParams(keys, vals, 1);
		if (!cap->conn)
			rc = ferry_error_oom(err);
		else if (PQstatus(cap->conn) != CONNECTION_OK)
			rc = pg_fail(err, FERRY_ERROR, cap->conn, NULL,
			             "could not connect to", cap);
	}
	if (rc < 0) {
		pg_cap_close(cap);
		return rc;
	}
	*out = cap;
	return 0;
}

static void stop_stream(ferry_capture *cap)
{
	if (cap->repl)
		PQfinish(cap->repl);
	cap->repl = NULL;
	cap->streaming = false;
	cap->in_txn = false;
}

static void pg_cap_close(ferry_capture *cap)
{
	if (!cap)
		return;
	if (cap->src)
		ferry_pg_source_ops.close(cap->src);
	stop_stream(cap);
	if (cap->conn)
		PQfinish(cap->conn);
	ferry_pgoutput_relcache_close(cap->rels);
	ferry_pgoutput_msg_free(&cap->msg);
	ferry_schema_free(&cap->carried);
	ferry_change_free(&cap->change);
	ferry_row_free(&cap->before);
	ferry_row_free(&cap->after);
	ferry_buf_free(&cap->scratch[0]);
	ferry_buf_free(&cap->scratch[1]);
	ferry_free(cap->uri);
	ferry_free(cap->conninfo);
	ferry_free(cap->slot);
	ferry_free(cap);
}

/* ---- which migration ---------------------------------------------------- */

#define SLOT_PREFIX "ferry_"

static int find_slot(ferry_capture *cap, char **slot, ferry_error *err)
{
	PGresult *res;
	*slot = NULL;
	int rc = run(cap, "SELECT slot_name FROM pg_catalog.pg_replication_slots "
	                  "WHERE database = pg_catalog.current_database() AND "
	                  "slot_name LIKE 'ferry\\_%' ORDER BY slot_name",
	             0, NULL, &res, "could not look for ferry's slot in", err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) > 0 && !(*slot = ferry_strdup(PQgetvalue(res, 0, 0))))
		rc = ferry_error_oom(err);
	PQclear(res);
	return rc;
}

static int pg_cap_installed(ferry_capture *cap, char **migration_id,
                            ferry_error *err)
{
	char *slot = NULL;
	*migration_id = NULL;
	int rc = find_slot(cap, &slot, err);
	if (rc == 0 && !slot)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "no capture is installed "
		                     "on PostgreSQL database \"%s\"", cap->uri);
	if (rc == 0 && !(*migration_id = ferry_strdup(slot + strlen(SLOT_PREFIX))))
		rc = ferry_error_oom(err);
	ferry_free(slot);
	return rc;
}

/* The slot (and publication) name of the installed migration. */
static int know_slot(ferry_capture *cap, ferry_error *err)
{
	if (cap->slot)
		return 0;
	int rc = find_slot(cap, &cap->slot, err);
	if (rc == 0 && !cap->slot)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "no capture is installed "
		                     "on PostgreSQL database \"%s\" (its replication "
		                     "slot is gone): changes may have been lost, "
		                     "start the migration again", cap->uri);
	return rc;
}

/* ---- install and remove ---------------------------------------------- */

/* cdc/pg_source.c makes the session read-only for its reads; ferry's
 * own objects need writes. */
static int writable(ferry_capture *cap, ferry_error *err)
{
	return run(cap, "SET default_transaction_read_only = off", 0, NULL,
	           NULL, "could not write to", err);
}

static int preflight(ferry_capture *cap, const ferry_schema *tables,
                     ferry_error *err)
{
	PGresult *res;
	int rc = run(cap, "SELECT pg_catalog.current_setting('wal_level'), "
	                  "(SELECT rolreplication OR rolsuper FROM "
	                  "pg_catalog.pg_roles WHERE rolname = current_user), "
	                  "pg_catalog.current_setting('max_replication_slots')"
	                  "::int - (SELECT count(*) FROM "
	                  "pg_catalog.pg_replication_slots)",
	             0, NULL, &res, "could not check", err);
	if (rc < 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "PostgreSQL database "
		                     "\"%s\" has wal_level = %s: logical replication "
		                     "needs wal_level = logical (ALTER SYSTEM SET "
		                     "wal_level = logical; then restart the server)",
		                     cap->uri, PQgetvalue(res, 0, 0));
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "the role ferry "
		                     "connects to \"%s\" as may not replicate (ALTER "
		                     "ROLE current_user REPLICATION, as a superuser)",
		                     cap->uri);
	else if (atoi(PQgetvalue(res, 0, 2)) < 1)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "PostgreSQL database "
		                     "\"%s\" has no free replication slot (raise "
		                     "max_replication_slots and restart, or drop an "
		                     "unused slot)", cap->uri);
	PQclear(res);
	/* Every table needs a primary key or REPLICA IDENTITY FULL: a table
	 * in a publication without an identity makes the source's own
	 * UPDATE and DELETE fail.  DEFAULT with a key is taken (old rows then
	 * carry the key; the engine warns what needs whole rows); USING
	 * INDEX is not, as its old rows carry an index's columns rather than
	 * the key ferry finds rows by.  All are named in one message,
	 * before anything is created. */
	ferry_buf missing = FERRY_BUF_INIT, fix = FERRY_BUF_INIT;
	for (uint32_t t = 0; rc == 0 && t < tables->ntables; t++) {
		const ferry_table *tb = &tables->tables[t];
		const char *params[1] = {tb->name};
		rc = run(cap, "SELECT c.relreplident FROM pg_catalog.pg_class c "
		              "WHERE c.relname = $1 AND c.relnamespace = "
		              "pg_catalog.current_schema()::regnamespace",
		         1, params, &res, "could not check", err);
		const char *ident = rc == 0 && PQntuples(res) == 1
		                        ? PQgetvalue(res, 0, 0) : "?";
		bool usable = strcmp(ident, "f") == 0 ||
		              (strcmp(ident, "d") == 0 &&
		               ferry_table_pk_count(tb) > 0);
		if (rc == 0 && !usable) {
			ferry_buf_printf(&missing, "%s\"%s\" (%s)",
			                 missing.len ? ", " : "", tb->name,
			                 strcmp(ident, "d") == 0   ? "no primary key"
			                 : strcmp(ident, "n") == 0 ? "REPLICA IDENTITY "
			                                             "NOTHING"
			                 : strcmp(ident, "i") == 0 ? "REPLICA IDENTITY "
			                                             "USING INDEX"
			                                           : "not found");
			ferry_buf_puts(&fix, "ALTER TABLE ");
			ferry_buf_put_ident(&fix, tb->name);
			ferry_buf_puts(&fix, " REPLICA IDENTITY FULL; ");
		}
		PQclear(res);
	}
	if (rc == 0 && missing.len)
		rc = ferry_buf_failed(&missing) || ferry_buf_failed(&fix)
		         ? ferry_error_oom(err)
		         : ferry_error_set(err, FERRY_EUNSUPPORTED,
		                           "capture from PostgreSQL needs a primary "
		                           "key or whole old rows on every table, "
		                           "and these have neither: %s (%sthen "
		                           "ferry init again)",
		                           ferry_buf_cstr(&missing),
		                           ferry_buf_cstr(&fix));
	ferry_buf_free(&missing);
	ferry_buf_free(&fix);
	return rc;
}

static int pg_cap_install(ferry_capture *cap, const ferry_schema *tables,
                          const char *migration_id, ferry_error *err)
{
	char *existing = NULL;
	ferry_buf name = FERRY_BUF_INIT, sql = FERRY_BUF_INIT;
	ferry_buf_printf(&name, SLOT_PREFIX "%s", migration_id);
	int rc = find_slot(cap, &existing, err);
	if (rc == 0 && existing && strcmp(existing, ferry_buf_cstr(&name)) != 0)
		rc = ferry_error_set(err, FERRY_EINVAL, "could not install capture "
		                     "for migration \"%s\" in PostgreSQL database "
		                     "\"%s\": it holds the capture of migration "
		                     "\"%s\" (remove that first with ferry clean)",
		                     migration_id, cap->uri,
		                     existing + strlen(SLOT_PREFIX));
	bool again = rc == 0 && existing;
	if (rc == 0 && !again)
		rc = preflight(cap, tables, err);
	if (rc == 0 && !again)
		rc = writable(cap, err);
	if (rc == 0 && !again) {
		ferry_buf_puts(&sql, "CREATE PUBLICATION ");
		ferry_buf_put_ident(&sql, ferry_buf_cstr(&name));
		ferry_buf_puts(&sql, " FOR TABLE ");
		for (uint32_t t = 0; t < tables->ntables; t++) {
			if (t)
				ferry_buf_puts(&sql, ", ");
			ferry_buf_put_ident(&sql, tables->tables[t].name);
		}
		/* a partitioned table's changes under its own name, not its
		 * partitions' (which the migration does not know: they would
		 * be lost) */
		if (PQserverVersion(cap->conn) >= 130000)
			ferry_buf_puts(&sql, " WITH (publish_via_partition_root = true)");
		if (tables->ntables == 0)
			rc = ferry_error_set(err, FERRY_EINVAL, "no table to capture "
			                     "in PostgreSQL database \"%s\"", cap->uri);
		else if (ferry_buf_failed(&sql))
			rc = ferry_error_oom(err);
		else
			rc = run(cap, ferry_buf_cstr(&sql), 0, NULL, NULL,
			         "could not create the publication in", err);
	}
	if (rc == 0 && !again) {
		const char *params[1] = {ferry_buf_cstr(&name)};
		rc = run(cap, "SELECT pg_catalog.pg_create_logical_replication_slot"
		              "($1, 'pgoutput')", 1, params, NULL,
		         "could not create the replication slot in", err);
		if (rc < 0) { /* leave nothing half made */
			ferry_buf_reset(&sql);
			ferry_buf_puts(&sql, "DROP PUBLICATION IF EXISTS ");
			ferry_buf_put_ident(&sql, ferry_buf_cstr(&name));
			if (!ferry_buf_failed(&sql))
				PQclear(PQexec(cap->conn, ferry_buf_cstr(&sql)));
		}
	}
	if (rc == 0 && !cap->slot &&
	    !(cap->slot = ferry_strdup(ferry_buf_cstr(&name))))
		rc = ferry_error_oom(err);
	ferry_free(existing);
	ferry_buf_free(&name);
	ferry_buf_free(&sql);
	return rc;
}

/* A fence is not removed with the capture (engine/capture.h: a
 * rolled-back target stays fenced); ferry clean unfences first. */
static int pg_cap_remove(ferry_capture *cap, ferry_buf *report,
                         ferry_error *err)
{
	char *slot = NULL;
	stop_stream(cap);
	int rc = find_slot(cap, &slot, err);
	if (rc == 0 && !slot) {
		ferry_buf_printf(report, "no capture was installed on %s\n",
		                 cap->uri);
		return 0;
	}
	PGresult *res = NULL;
	const char *params[1] = {slot};
	if (rc == 0)
		rc = writable(cap, err);
	if (rc == 0)
		rc = run(cap, "SELECT pg_catalog.pg_size_pretty(pg_catalog."
		              "pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), "
		              "restart_lsn)), pg_catalog.pg_drop_replication_slot("
		              "slot_name) FROM pg_catalog.pg_replication_slots "
		              "WHERE slot_name = $1",
		         1, params, &res, "could not drop the replication slot in",
		         err);
	if (rc == 0)
		ferry_buf_printf(report, "dropped replication slot %s on %s (it "
		                 "held %s of WAL)\n", slot, cap->uri,
		                 PQntuples(res) ? PQgetvalue(res, 0, 0) : "none");
	PQclear(res);
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "DROP PUBLICATION IF EXISTS ");
	ferry_buf_put_ident(&sql, slot ? slot : "");
	if (rc == 0)
		rc = ferry_buf_failed(&sql)
		         ? ferry_error_oom(err)
		         : run(cap, ferry_buf_cstr(&sql), 0, NULL, NULL,
		               "could not drop the publication in", err);
	if (rc == 0)
		ferry_buf_printf(report, "dropped publication %s on %s\n", slot,
		                 cap->uri);
	ferry_buf_free(&sql);
	ferry_free(slot);
	return rc;
}

/* Nothing to compare up front: pgoutput describes every table again
 * (Relation) before its first change after a schema change, and the read
 * checks each description against the table it captures. */
static int pg_cap_check(ferry_capture *cap, ferry_capture_drift *out,
                        ferry_error *err)
{
	ferry_capture_drift_free(out);
	return know_slot(cap, err);
}

/* ---- snapshots and scans ---------------------------------------------- */

static int pg_cap_stream_start(ferry_capture *cap, uint64_t *position,
                               ferry_error *err)
{
	PGresult *res;
	int rc = know_slot(cap, err);
	const char *params[1] = {cap->slot};
	if (rc == 0)
		rc = run(cap, "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM "
		              "pg_catalog.pg_replication_slots WHERE slot_name = $1",
		         1, params, &res, "could not read the slot of", err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "the replication slot %s "
		                     "of PostgreSQL database \"%s\" has no position",
		                     cap->slot, cap->uri);
	else
		*position = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

static int pg_cap_snapshot_begin(ferry_capture *cap, uint64_t *position,
                                 ferry_error *err)
{
	PGresult *res;
	if (cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "a snapshot of \"%s\" is "
		                       "already open", cap->uri);
	int rc = run(cap, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
	             NULL, NULL, "could not begin a snapshot of", err);
	/* the first statement takes the snapshot; the LSN it reads is
	 * after it, so every transaction the snapshot sees committed below */
	if (rc == 0)
		rc = run(cap, "SELECT pg_catalog.pg_current_wal_lsn() - "
		              "'0/0'::pg_lsn", 0, NULL, &res,
		         "could not begin a snapshot of", err);
	if (rc == 0) {
		*position = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		rc = ferry_pg_source_attach(&cap->src, cap->conn, cap->uri, NULL,
		                            err);
	}
	if (rc < 0) {
		PQclear(PQexec(cap->conn, "ROLLBACK"));
		return rc;
	}
	cap->in_snapshot = true;
	return 0;
}

static int pg_cap_snapshot_end(ferry_capture *cap, ferry_error *err)
{
	if (!cap->in_snapshot)
		return 0;
	ferry_pg_source_ops.close(cap->src);
	cap->src = NULL;
	cap->in_snapshot = false;
	return run(cap, "COMMIT", 0, NULL, NULL, "could not end the snapshot of",
	           err);
}

static int pg_cap_snapshot_token(ferry_capture *cap, ferry_buf *out,
                                 ferry_error *err)
{
	PGresult *res;
	if (!cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "could not describe the "
		                       "snapshot of \"%s\": none is open", cap->uri);
	int rc = run(cap, "SELECT pg_catalog.pg_current_snapshot()::text", 0,
	             NULL, &res, "could not read the snapshot of", err);
	if (rc == 0)
		ferry_buf_puts(out, PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

static bool pg_cap_in_snapshot(const char *token, const ferry_change *c)
{
	return ferry_pg_capture_xid_visible(token, (uint32_t)c->txid);
}

/* Marks the tables whose old rows carry only their key (REPLICA
 * IDENTITY DEFAULT): the engine says what needs whole rows. */
static int mark_key_only(ferry_capture *cap, ferry_schema *out,
                         ferry_error *err)
{
	PGresult *res = NULL;
	int rc = run(cap, "SELECT c.relname FROM pg_catalog.pg_class c "
	                  "WHERE c.relreplident = 'd' AND c.relnamespace = "
	                  "pg_catalog.current_schema()::regnamespace",
	             0, NULL, &res, "could not read replica identities", err);
	for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
		ferry_table *t = ferry_schema_find(out, PQgetvalue(res, r, 0));
		if (t)
			t->old_rows_key_only = true;
	}
	PQclear(res);
	/* variable-length columns whose storage allows out of line values */
	if (rc == 0)
		rc = run(cap, "SELECT c.relname, a.attname FROM pg_catalog.pg_class c "
		              "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
		              "WHERE c.relreplident = 'd' AND c.relnamespace = "
		              "pg_catalog.current_schema()::regnamespace AND "
		              "a.attnum > 0 AND NOT a.attisdropped AND "
		              "a.attlen = -1 AND a.attstorage <> 'p'",
		         0, NULL, &res, "could not read column storage", err);
	for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
		ferry_table *t = ferry_schema_find(out, PQgetvalue(res, r, 0));
		int i = t ? ferry_table_column_index(t, PQgetvalue(res, r, 1)) : -1;
		if (i >= 0)
			t->columns[i].unsent_if_kept = true;
	}
	if (rc == 0)
		PQclear(res);
	return rc;
}

static int pg_cap_introspect(ferry_capture *cap, ferry_schema *out,
                             ferry_error *err)
{
	if (cap->in_snapshot) {
		int rc = ferry_pg_source_ops.introspect(cap->src, out, err);
		return rc < 0 ? rc : mark_key_only(cap, out, err);
	}
	ferry_source *src = NULL;
	int rc = ferry_pg_source_attach(&src, cap->conn, cap->uri, NULL, err);
	if (rc == 0)
		rc = ferry_pg_source_ops.introspect(src, out, err);
	int end = src ? ferry_pg_source_release(src, rc == 0 ? err : NULL) : 0;
	ferry_pg_source_ops.close(src);
	rc = rc < 0 ? rc : end;
	return rc < 0 ? rc : mark_key_only(cap, out, err);
}

static int pg_cap_scan_open(ferry_capture *cap, const ferry_table *table,
                            const ferry_row *after_key, uint64_t limit,
                            ferry_scan **out, ferry_error *err)
{
	if (!cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "could not scan table "
		                       "\"%s\": no snapshot is open", table->name);
	if (ferry_table_pk_count(table) == 0 || (!after_key && limit == 0))
		return ferry_pg_source_ops.scan_open(cap->src, table, out, err);
	return ferry_pg_source_ops.scan_open_after(cap->src, table, after_key,
	                                           limit, out, err);
}

/* Scans are pg_source's. */
static int pg_cap_scan_next(ferry_scan *scan, ferry_row *row, ferry_error *err)
{
	return ferry_pg_source_ops.scan_next(scan, row, err);
}

static void pg_cap_scan_close(ferry_scan *scan)
{
	ferry_pg_source_ops.scan_close(scan);
}

/* ---- the stream ---------------------------------------------------------- */

static void put_lsn(char *out, size_t n, uint64_t lsn)
{
	snprintf(out, n, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

static int send_status_asking(ferry_capture *cap, bool force, bool ask,
                              ferry_error *err)
{
	int64_t now = now_us();
	if (!cap->streaming ||
	    (!force && now - cap->last_status_us < STATUS_EVERY_US))
		return 0;
	/* past the last commit when everything read is journalled and the
	 * server said (between transactions) where its WAL ends: WAL with
	 * none of our transactions need not be kept, and a server shutting
	 * down waits for the client to confirm its WAL end */
	uint64_t flush = cap->released;
	if (cap->released >= cap->idle_delivered && cap->idle_end > flush)
		flush = cap->idle_end;
	ferry_pgoutput_status st = {flush, flush, flush,
	                            ferry_pgoutput_time_from_unix(now), ask};
	uint8_t msg[FERRY_PGOUTPUT_STATUS_LEN];
	ferry_pgoutput_status_encode(msg, &st);
	if (PQputCopyData(cap->repl, (const char *)msg, sizeof msg) != 1 ||
	    PQflush(cap->repl) < 0)
		return pg_fail(err, FERRY_ERROR, cap->repl, NULL,
		               "could not report the position to", cap);
	cap->last_status_us = now;
	return 0;
}

static int send_status(ferry_capture *cap, bool force, ferry_error *err)
{
	return send_status_asking(cap, force, false, err);
}

/* The published tables as the plan saw them, for the images' types. */
static int know_tables(ferry_capture *cap, ferry_error *err)
{
	if (cap->have_carried)
		return 0;
	int rc = pg_cap_introspect(cap, &cap->carried, err);
	cap->have_carried = rc == 0;
	return rc;
}

static int start_stream(ferry_capture *cap, uint64_t from, ferry_error *err)
{
	char lsn[40];
	ferry_buf sql = FERRY_BUF_INIT;
	int rc = know_slot(cap, err);
	if (rc == 0)
		rc = know_tables(cap, err);
	if (rc < 0)
		return rc;
	const char *keys[] = {"dbname", "replication", "options",
	                      "application_name", NULL};
	const char *vals[] = {cap->conninfo, "database", STREAM_OPTIONS, "ferry",
	                      NULL};
	cap->repl = PQconnectdbParams(keys, vals, 1);
	if (!cap->repl)
		return ferry_error_oom(err);
	if (PQstatus(cap->repl) != CONNECTION_OK) {
		rc = pg_fail(err, FERRY_ERROR, cap->repl, NULL, "could not open "
		             "a replication connection to", cap);
		stop_stream(cap);
		return rc;
	}
	put_lsn(lsn, sizeof lsn, from);
	ferry_buf_puts(&sql, "START_REPLICATION SLOT ");
	ferry_buf_put_ident(&sql, cap->slot);
	ferry_buf_printf(&sql, " LOGICAL %s (proto_version '1', "
	                 "publication_names '", lsn);
	ferry_buf_put_ident(&sql, cap->slot); /* a quoted name in the list */
	ferry_buf_puts(&sql, "')");
	PGresult *res = ferry_buf_failed(&sql)
	                    ? NULL
	                    : PQexec(cap->repl, ferry_buf_cstr(&sql));
	ferry_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		rc = res ? pg_fail(err, FERRY_ERROR, cap->repl, res,
		                   "could not start replication from", cap)
		         : ferry_error_oom(err);
		PQclear(res);
		stop_stream(cap);
		return rc;
	}
	PQclear(res);
	cap->streaming = true;
	cap->released = from > cap->released ? from : cap->released;
	cap->last_status_us = 0;
	return send_status(cap, true, err);
}

/* Waits up to ms for the socket to be readable; 1 ready, 0 timeout. */
static int wait_readable(ferry_capture *cap, int ms, ferry_error *err)
{
	int fd = PQsocket(cap->repl);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	int n = select(fd + 1, &rd, NULL, NULL, &tv);
	if (n < 0 && errno != EINTR)
		return ferry_error_set(err, FERRY_ERROR, "could not wait for the "
		                       "stream of \"%s\": %s", cap->uri,
		                       strerror(errno));
	if (n > 0 && !PQconsumeInput(cap->repl))
		return pg_fail(err, FERRY_ERROR, cap->repl, NULL,
		               "lost the stream of", cap);
	return n > 0;
}

static const ferry_table *carried_table(ferry_capture *cap,
                                        const ferry_pgoutput_relation *rel)
{
	return ferry_schema_find(&cap->carried, rel->relname);
}

/* The publication holds only the carried tables, so a change of any
 * other relation (a partition published under its own name by a
 * publication made before publish_via_partition_root) would be a change
 * the migration cannot place: stop rather than drop it. */
static int unknown_relation(const ferry_pgoutput_relation *rel,
                            ferry_error *err)
{
	return ferry_error_set(err, FERRY_EUNSUPPORTED, "the stream sent a "
	                       "change of table \"%s\".\"%s\", which the "
	                       "migration does not carry (a partition of a "
	                       "carried table? its publication must have "
	                       "publish_via_partition_root = true)",
	                       rel->nspname, rel->relname);
}

/* A Relation that does not match the captured table is a schema change:
 * the capture stops, saying what changed. */
static int check_relation(ferry_capture *cap,
                          const ferry_pgoutput_relation *rel,
                          ferry_error *err)
{
	const ferry_table *t = carried_table(cap, rel);
	if (!t)
		return 0; /* not one of ours (another schema): ignored */
	bool same = t->ncolumns == rel->ncols;
	for (uint32_t i = 0; same && i < rel->ncols; i++)
		same = strcmp(t->columns[i].name, rel->cols[i].name) == 0;
	if (same)
		return 0;
	ferry_buf now = FERRY_BUF_INIT;
	for (uint32_t i = 0; i < rel->ncols; i++)
		ferry_buf_printf(&now, "%s%s", i ? ", " : "", rel->cols[i].name);
	int rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "the source schema "
	                         "changed: table \"%s\" now has the columns (%s), "
	                         "not the %u the migration was planned with",
	                         rel->relname,
	                         ferry_buf_cstr(&now) ? ferry_buf_cstr(&now) : "?",
	                         t->ncolumns);
	ferry_buf_free(&now);
	return rc;
}

/*
 * Fills row from a tuple; old (may be NULL) supplies unchanged TOASTed
 * values, and without it they are absent (docs/online-postgresql.md,
 * "Old rows and unsent values").  key_only: the tuple is a 'K' old row,
 * whose columns outside the replica identity (rel's key flags) the
 * server sends as n: absent, not NULL.  Bytea payloads are decoded into
 * scratch, reserved for the whole row first.
 */
static int tuple_row(ferry_capture *cap, const ferry_table *t,
                     const ferry_pgoutput_relation *rel, bool key_only,
                     const ferry_pgoutput_tuple *tup,
                     const ferry_pgoutput_tuple *old, const ferry_row *old_row,
                     ferry_row *row, ferry_buf *scratch, ferry_error *err)
{
	int rc = ferry_row_resize(row, t->ncolumns, err);
	/* room for every decoded bytea of the row at once: scratch must not
	 * move while earlier values point into it */
	size_t room = 0;
	for (uint32_t i = 0; i < tup->ncols; i++)
		room += tup->values[i].len / 2;
	ferry_buf_reset(scratch);
	if (rc == 0 && ferry_buf_reserve(scratch, room) < 0)
		rc = ferry_error_oom(err);
	for (uint32_t i = 0; rc == 0 && i < t->ncolumns; i++) {
		const ferry_pgoutput_value *v = &tup->values[i];
		ferry_value *out = &row->values[i];
		bool in_key = rel->cols[i].flags & FERRY_PGOUTPUT_COL_KEY;
		if (key_only && !in_key) {
			*out = ferry_value_absent();
		} else if (key_only && t->columns[i].pk_position == 0) {
			rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
			                     "table \"%s\" sends old rows keyed by "
			                     "column \"%s\", which is not in its primary "
			                     "key (REPLICA IDENTITY USING INDEX): ALTER "
			                     "TABLE \"%s\" REPLICA IDENTITY FULL, then "
			                     "run the sync again",
			                     t->name, t->columns[i].name, t->name);
		} else if (v->kind == FERRY_PGOUTPUT_NULL) {
			*out = ferry_value_null();
		} else if (v->kind == FERRY_PGOUTPUT_UNCHANGED) {
			/* never a placeholder: the old row's value, or absent */
			if (old && old_row &&
			    old->values[i].kind != FERRY_PGOUTPUT_UNCHANGED)
				*out = old_row->values[i];
			else
				*out = ferry_value_absent();
		} else if (v->kind == FERRY_PGOUTPUT_TEXT) {
			rc = ferry_pg_capture_value(&t->columns[i].type,
			                            (const char *)v->data, v->len, out,
			                            scratch, err);
			if (rc < 0)
				ferry_error_prefix(err, "table \"%s\", column \"%s\"",
				                   t->name, t->columns[i].name);
		} else {
			rc = ferry_error_set(err, FERRY_ECORRUPT, "table \"%s\", column "
			                     "\"%s\": a binary value in a text stream",
			                     t->name, t->columns[i].name);
		}
	}
	return rc;
}

typedef struct delivery {
	ferry_capture_fn fn;
	void *arg;
	uint64_t after;
	uint64_t delivered;
} delivery;

static int deliver(ferry_capture *cap, delivery *d, ferry_op op,
                   const ferry_table *t, bool has_before, bool has_after,
                   ferry_error *err)
{
	ferry_change *c = &cap->change;
	c->op = op;
	c->table = t->name;
	c->schema_version = 1;
	c->txid = cap->xid;
	c->commit_time = cap->commit_time;
	c->position = cap->position;
	c->position_len = sizeof cap->position;
	c->has_before = has_before;
	c->has_after = has_after;
	c->before = cap->before;
	c->after = cap->after;
	if (!has_before)
		c->before.ncols = 0;
	if (!has_after)
		c->after.ncols = 0;
	d->delivered++;
	int rc = d->fn(d->arg, c, err);
	c->before = (ferry_row)FERRY_ROW_INIT;
	c->after = (ferry_row)FERRY_ROW_INIT;
	return rc;
}

/* One Insert, Update or Delete of the open transaction. */
static int on_change(ferry_capture *cap, delivery *d, ferry_error *err)
{
	const ferry_pgoutput_relation *rel = NULL;
	const ferry_pgoutput_change *ch = &cap->msg.u.change;
	int rc = ferry_pgoutput_relcache_check(cap->rels, &cap->msg, &rel, err);
	if (rc < 0)
		return rc;
	const ferry_table *t = carried_table(cap, rel);
	if (!t)
		return unknown_relation(rel, err);
	if (cap->skip_txn || cap->commit_lsn <= d->after)
		return 0;
	rc = check_relation(cap, rel, err);
	bool full_old = ch->old_kind == 'O';
	if (rc == 0 && cap->msg.type == FERRY_PGOUTPUT_DELETE && !ch->old_tuple)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "table \"%s\" sent a "
		                     "delete without its key (REPLICA IDENTITY "
		                     "NOTHING): ALTER TABLE \"%s\" REPLICA IDENTITY "
		                     "FULL, then run the sync again", t->name,
		                     t->name);
	if (rc == 0 && ch->old_tuple)
		rc = tuple_row(cap, t, rel, ch->old_kind == 'K', ch->old_tuple, NULL,
		               NULL, &cap->before, &cap->scratch[0], err);
	if (rc == 0 && ch->new_tuple)
		rc = tuple_row(cap, t, rel, false, ch->new_tuple,
		               full_old ? ch->old_tuple : NULL,
		               full_old ? &cap->before : NULL, &cap->after,
		               &cap->scratch[1], err);
	if (rc < 0)
		return rc;
	switch (cap->msg.type) {
	case FERRY_PGOUTPUT_INSERT:
		return deliver(cap, d, FERRY_OP_INSERT, t, false, true, err);
	case FERRY_PGOUTPUT_DELETE:
		return deliver(cap, d, FERRY_OP_DELETE, t, true, false, err);
	default:
		break;
	}
	return deliver(cap, d, FERRY_OP_UPDATE, t, ch->old_kind != 0, true, err);
}

static int on_truncate(ferry_capture *cap, delivery *d, ferry_error *err)
{
	const ferry_pgoutput_truncate *tr = &cap->msg.u.truncate;
	int rc = ferry_pgoutput_relcache_check(cap->rels, &cap->msg, NULL, err);
	for (uint32_t i = 0; rc == 0 && i < tr->nrelids; i++) {
		const ferry_pgoutput_relation *rel =
		    ferry_pgoutput_relcache_get(cap->rels, tr->relids[i]);
		const ferry_table *t = rel ? carried_table(cap, rel) : NULL;
		if (rel && !t)
			rc = unknown_relation(rel, err);
		else if (t && !cap->skip_txn && cap->commit_lsn > d->after)
			rc = deliver(cap, d, FERRY_OP_TRUNCATE, t, false, false, err);
	}
	return rc;
}

/* One message of the stream; *committed set at a Commit. */
static int on_message(ferry_capture *cap, const ferry_pgoutput_frame *f,
                      delivery *d, bool *committed, uint64_t *last,
                      ferry_error *err)
{
	int rc = ferry_pgoutput_decode(&cap->msg, f->data, f->len, err);
	if (rc < 0)
		return rc;
	switch (cap->msg.type) {
	case FERRY_PGOUTPUT_BEGIN:
		cap->in_txn = true;
		cap->skip_txn = false;
		cap->xid = cap->msg.u.begin.xid;
		cap->commit_lsn = cap->msg.u.begin.final_lsn;
		cap->commit_time =
		    ferry_pgoutput_time_to_unix(cap->msg.u.begin.commit_time);
		ferry_capture_position_put(cap->position, cap->commit_lsn);
		return 0;
	case FERRY_PGOUTPUT_ORIGIN:
		/* what ferry itself applied here comes back with ferry's
		 * origin: not captured again (two-way replication) */
		cap->skip_txn = strncmp(cap->msg.u.origin.name, SLOT_PREFIX,
		                        strlen(SLOT_PREFIX)) == 0;
		return 0;
	case FERRY_PGOUTPUT_RELATION:
		rc = ferry_pgoutput_relcache_put(cap->rels, &cap->msg.u.relation,
		                                 err);
		return rc < 0 ? rc : check_relation(cap, &cap->msg.u.relation, err);
	case FERRY_PGOUTPUT_INSERT:
	case FERRY_PGOUTPUT_UPDATE:
	case FERRY_PGOUTPUT_DELETE:
		return on_change(cap, d, err);
	case FERRY_PGOUTPUT_TRUNCATE:
		return on_truncate(cap, d, err);
	case FERRY_PGOUTPUT_COMMIT:
		cap->in_txn = false;
		if (cap->commit_lsn > d->after && cap->commit_lsn > *last)
			*last = cap->commit_lsn;
		if (cap->commit_lsn > cap->delivered)
			cap->delivered = cap->commit_lsn;
		*committed = true;
		return 0;
	default: /* Type, Message: nothing to capture */
		return 0;
	}
}

/*
 * Reads whole transactions with commit LSN above `after` until the
 * stream is quiet between transactions (or the hint is reached at a
 * transaction's end).
 */
/* How long a read waits for the stream to pass a barrier. */
#define BARRIER_WAIT_US INT64_C(60000000)

/*
 * Quiet, but the stream has not shown that it passed the barrier: ask
 * the server where it is (a keepalive answers with the position decoding
 * has passed, which is past every transaction committed before it).
 */
static int await_barrier(ferry_capture *cap, int64_t *since,
                         ferry_error *err)
{
	int64_t now = now_us();
	if (!*since)
		*since = now;
	if (now - *since > BARRIER_WAIT_US)
		return ferry_error_set(err, FERRY_ERROR, "the stream of \"%s\" did "
		                       "not reach WAL position %X/%X within %d s",
		                       cap->uri, (unsigned)(cap->read_until >> 32),
		                       (unsigned)cap->read_until,
		                       (int)(BARRIER_WAIT_US / 1000000));
	int rc = send_status_asking(cap, true, true, err);
	return rc < 0 ? rc : wait_readable(cap, 200, err);
}

static int pg_cap_read(ferry_capture *cap, uint64_t after,
                       uint64_t max_changes_hint, ferry_capture_fn fn,
                       void *arg, uint64_t *last, ferry_error *err)
{
	if (cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "could not read changes "
		                       "from \"%s\": a snapshot is open", cap->uri);
	int rc = cap->streaming ? 0 : start_stream(cap, after, err);
	delivery d = {fn, arg, after, 0};
	uint64_t got = *last;
	int64_t began = now_us(), barrier_since = 0;
	uint64_t budget = max_changes_hint && max_changes_hint <
	                                          READ_BUDGET_CHANGES
	                      ? max_changes_hint
	                      : READ_BUDGET_CHANGES;
	while (rc == 0) {
		char *buf = NULL;
		int n = PQgetCopyData(cap->repl, &buf, 1);
		if (n == 0) {
			int ms = cap->in_txn ? MID_TXN_WAIT_MS : QUIET_MS;
			rc = wait_readable(cap, ms, err);
			if (rc == 0 && cap->in_txn)
				rc = ferry_error_set(err, FERRY_ERROR, "the stream of "
				                     "\"%s\" stopped inside a transaction "
				                     "for %d s", cap->uri, ms / 1000);
			if (rc == 0 && cap->read_until > cap->idle_end)
				rc = await_barrier(cap, &barrier_since, err);
			else if (rc == 0)
				break; /* quiet between transactions: caught up */
			rc = rc == 1 ? 0 : rc;
			continue;
		}
		if (n < 0) {
			/* the server's reason, if it sent one (a shutdown says
			 * 57P01), tells a lost connection from a refusal */
			PGresult *why = n == -1 ? PQgetResult(cap->repl) : NULL;
			/* a walsender ends the stream on its own only when the
			 * server shuts down: worth reconnecting */
			rc = pg_fail(err, n == -1 ? FERRY_ECONNLOST : FERRY_ERROR,
			             cap->repl, why, n == -1
			             ? "the server ended the stream of"
			             : "lost the stream of", cap);
			PQclear(why);
			break;
		}
		ferry_pgoutput_frame f;
		bool committed = false;
		rc = ferry_pgoutput_frame_decode(&f, (const uint8_t *)buf,
		                                 (size_t)n, err);
		if (rc == 0 && f.kind == FERRY_PGOUTPUT_XLOGDATA)
			rc = on_message(cap, &f, &d, &committed, &got, err);
		else if (rc == 0 && !cap->in_txn && f.wal_end > cap->idle_end) {
			cap->idle_end = f.wal_end;
			cap->idle_delivered = cap->delivered;
		}
		if (rc == 0 && f.kind == FERRY_PGOUTPUT_KEEPALIVE &&
		    f.reply_requested)
			rc = send_status(cap, true, err);
		PQfreemem(buf);
		if (rc == 0)
			rc = send_status(cap, false, err);
		/* a read with a barrier goes on to it: whoever set it counts
		 * on every change before it being delivered by this read */
		if (rc == 0 && committed && cap->read_until <= cap->idle_end &&
		    (d.delivered >= budget || now_us() - began >= READ_BUDGET_US))
			break;
	}
	if (rc < 0) {
		/* a stream that failed restarts from the slot next time: what
		 * was not released is read again, whole */
		stop_stream(cap);
		return rc;
	}
	if (cap->read_until && cap->idle_end >= cap->read_until)
		cap->read_until = 0;
	*last = got;
	return 0;
}

/* Reads from now on go on until the stream has passed the WAL written
 * so far: every transaction committed before this call. */
static int pg_cap_read_barrier(ferry_capture *cap, ferry_error *err)
{
	PGresult *res;
	int rc = run(cap, "SELECT pg_catalog.pg_current_wal_insert_lsn() - "
	                  "'0/0'::pg_lsn", 0, NULL, &res,
	             "could not read the WAL position of", err);
	if (rc < 0)
		return rc;
	cap->read_until = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static int pg_cap_release(ferry_capture *cap, uint64_t upto, ferry_error *err)
{
	if (cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "could not release "
		                       "changes of \"%s\": a snapshot is open",
		                       cap->uri);
	if (upto <= cap->released && cap->streaming)
		return 0;
	cap->released = upto > cap->released ? upto : cap->released;
	if (cap->streaming)
		return send_status(cap, true, err);
	/* no stream open: the slot moves by SQL (it is not active) */
	char lsn[40];
	put_lsn(lsn, sizeof lsn, upto);
	int rc = know_slot(cap, err);
	const char *params[2] = {cap->slot, lsn};
	if (rc == 0)
		rc = writable(cap, err);
	if (rc == 0)
		rc = run(cap, "SELECT pg_catalog.pg_replication_slot_advance($1, "
		              "$2::pg_lsn) FROM pg_catalog.pg_replication_slots "
		              "WHERE slot_name = $1 AND confirmed_flush_lsn < "
		              "$2::pg_lsn",
		         2, params, NULL, "could not move the replication slot of",
		         err);
	return rc;
}

static int pg_cap_describe(ferry_capture *cap, ferry_buf *out,
                           ferry_error *err)
{
	PGresult *res;
	int rc = know_slot(cap, err);
	const char *params[1] = {cap->slot};
	if (rc == 0)
		rc = run(cap, "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog."
		              "pg_current_wal_lsn(), restart_lsn)::bigint, "
		              "pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff("
		              "pg_catalog.pg_current_wal_lsn(), restart_lsn)), active "
		              "FROM pg_catalog.pg_replication_slots "
		              "WHERE slot_name = $1",
		         1, params, &res, "could not read the slot of", err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 1)
		ferry_buf_printf(out, "replication slot %s retains %s bytes (%s) of "
		                 "WAL%s", cap->slot, PQgetvalue(res, 0, 0),
		                 PQgetvalue(res, 0, 1),
		                 strcmp(PQgetvalue(res, 0, 2), "t") == 0
		                     ? ", being read"
		                     : "");
	PQclear(res);
	return 0;
}

/* ---- the write fence (docs/cutover.md) -------------------------------- */

/* ferry_fence_<migration id>: the fence's function and every one of its
 * triggers.  "ferry_" is ferry's prefix in a database (slots,
 * publications, origins), and one database holds one migration's
 * capture, so the fence is found by the prefix alone: unfence and clean
 * need no slot. */
#define FENCE_PREFIX "ferry_fence_"
/* How long the fence waits for one table's lock.  A transaction that
 * writes to the table holds a lock the fence's must wait for; while it
 * waits, every later writer queues behind the fence.  Failing beats
 * stalling the application behind a transaction that may never end. */
#define FENCE_LOCK_TIMEOUT "5s"
#define NAME_MAX_BYTES 63 /* PostgreSQL truncates longer identifiers */

/* The fence's triggers, with their tables: named like their function. */
#define FENCE_TRIGGERS                                                       \
	"FROM pg_catalog.pg_trigger g "                                         \
	"JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid "                        \
	"JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid "                      \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "             \
	"WHERE g.tgname LIKE 'ferry\\_fence\\_%' AND p.proname = g.tgname "     \
	"AND NOT g.tgisinternal"

/* The tables of the publication and, for a partitioned one, every
 * partition: a statement trigger fires only for the table a statement
 * names, so a partition's trigger does not see writes through its parent
 * nor the parent's writes naming the partition.  With the state of the
 * fence trigger on each (NULL: none; 'A': fires in every session). */
static const char FENCE_TABLES[] =
    "WITH named AS (SELECT r.prrelid AS oid "
    "FROM pg_catalog.pg_publication_rel r "
    "JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid "
    "WHERE p.pubname = $1), "
    "fenced AS (SELECT oid FROM named UNION "
    "SELECT t.relid FROM named, pg_catalog.pg_partition_tree(named.oid) t) "
    "SELECT c.oid, n.nspname, c.relname, (SELECT g.tgenabled "
    "FROM pg_catalog.pg_trigger g "
    "JOIN pg_catalog.pg_proc fn ON fn.oid = g.tgfoid "
    "WHERE g.tgrelid = c.oid AND g.tgname = $2 AND fn.proname = $2) "
    "FROM fenced f JOIN pg_catalog.pg_class c ON c.oid = f.oid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "ORDER BY n.nspname, c.relname";

static const char *fence_lock_timeout(void)
{
	/* a test hook, so that the tests of a lock timeout need not wait */
	const char *t = getenv("FERRY_TEST_FENCE_LOCK_TIMEOUT");
	return t && *t ? t : FENCE_LOCK_TIMEOUT;
}

/* name = the fence's name for the installed migration. */
static int fence_name(ferry_capture *cap, ferry_buf *name, ferry_error *err)
{
	int rc = know_slot(cap, err);
	if (rc < 0)
		return rc;
	ferry_buf_printf(name, FENCE_PREFIX "%s",
	                 cap->slot + strlen(SLOT_PREFIX));
	if (!ferry_buf_cstr(name))
		return ferry_error_oom(err);
	if (name->len > NAME_MAX_BYTES)
		return ferry_error_set(err, FERRY_EINVAL, "could not fence "
		                       "PostgreSQL database \"%s\": the name %s is "
		                       "longer than PostgreSQL's %d bytes",
		                       cap->uri, ferry_buf_cstr(name),
		                       NAME_MAX_BYTES);
	return 0;
}

/*
 * Begins a transaction for ferry's own DDL; with lock_timeout, waiting
 * for a table's lock fails after fence_lock_timeout().  On failure no
 * transaction is open; on success end_ddl ends it.
 */
static int begin_ddl(ferry_capture *cap, bool lock_timeout, const char *what,
                     ferry_error *err)
{
	if (cap->in_snapshot)
		return ferry_error_set(err, FERRY_EINVAL, "%s PostgreSQL database "
		                       "\"%s\": a snapshot is open", what, cap->uri);
	const char *params[1] = {fence_lock_timeout()};
	int rc = writable(cap, err);
	if (rc == 0)
		rc = run(cap, "BEGIN", 0, NULL, NULL, what, err);
	if (rc == 0 && lock_timeout) {
		rc = run(cap, "SELECT pg_catalog.set_config('lock_timeout', $1, "
		              "true)", 1, params, NULL, what, err);
		if (rc < 0)
			PQclear(PQexec(cap->conn, "ROLLBACK"));
	}
	return rc;
}

/* Commits when rc is 0, else rolls back; returns the outcome. */
static int end_ddl(ferry_capture *cap, int rc, const char *what,
                   ferry_error *err)
{
	if (rc == 0)
		return run(cap, "COMMIT", 0, NULL, NULL, what, err);
	PQclear(PQexec(cap->conn, "ROLLBACK"));
	return rc;
}

/* As run, of sql without parameters; *timed_out (unless NULL) =
 * whether it failed waiting for a lock. */
static int run_ddl(ferry_capture *cap, ferry_buf *sql, const char *what,
                   bool *timed_out, ferry_error *err)
{
	if (timed_out)
		*timed_out = false;
	if (!ferry_buf_cstr(sql))
		return ferry_error_oom(err);
	PGresult *res = PQexec(cap->conn, ferry_buf_cstr(sql));
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (timed_out)
			*timed_out = state && strcmp(state, "55P03") == 0;
		rc = pg_fail(err, FERRY_ERROR, cap->conn, res, what, cap);
	}
	PQclear(res);
	return rc;
}

/* Appends text as a string literal: libpq's quoting, right for the
 * connection's encoding and standard_conforming_strings. */
static int put_literal(ferry_capture *cap, ferry_buf *b, const char *text,
                       const char *what, ferry_error *err)
{
	char *lit = PQescapeLiteral(cap->conn, text, strlen(text));
	if (!lit)
		return pg_fail(err, FERRY_ERROR, cap->conn, NULL, what, cap);
	ferry_buf_puts(b, lit);
	PQfreemem(lit);
	return 0;
}

static void put_qualified(ferry_buf *b, const char *schema, const char *name)
{
	ferry_buf_put_ident(b, schema);
	ferry_buf_putc(b, '.');
	ferry_buf_put_ident(b, name);
}

/* A table whose lock did not come within the lock timeout. */
typedef struct lock_wait {
	bool timed_out;
	char relid[16];
	char table[NAME_MAX_BYTES + 1];
} lock_wait;

static void note_lock_wait(lock_wait *w, const PGresult *res, int row,
                           int relid_col, int table_col)
{
	w->timed_out = true;
	snprintf(w->relid, sizeof w->relid, "%s",
	         PQgetvalue(res, row, relid_col));
	snprintf(w->table, sizeof w->table, "%s",
	         PQgetvalue(res, row, table_col));
}

/*
 * Appends " (pid N, \"application\", in a transaction for S s)" about
 * the oldest other session holding a lock on table relid that ours
 * waited for: any lock (all conflict with DROP TRIGGER's), or with
 * writers_only those that conflict with CREATE TRIGGER's SHARE ROW
 * EXCLUSIVE.  Nothing when none is found; what the role may not see of
 * another role's session is left out.
 */
static void put_blocker(ferry_capture *cap, const char *relid,
                        bool writers_only, ferry_buf *out)
{
	const char *params[2] = {relid, writers_only ? "t" : "f"};
	PGresult *res = PQexecParams(
	    cap->conn,
	    "SELECT l.pid, a.application_name, pg_catalog.floor(EXTRACT(epoch "
	    "FROM pg_catalog.now() - a.xact_start))::bigint "
	    "FROM pg_catalog.pg_locks l "
	    "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
	    "WHERE l.locktype = 'relation' AND l.relation = $1::oid "
	    "AND l.database = (SELECT oid FROM pg_catalog.pg_database "
	    "WHERE datname = pg_catalog.current_database()) AND l.granted "
	    "AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid() "
	    "AND NOT ($2::bool AND l.mode IN ('AccessShareLock', "
	    "'RowShareLock')) ORDER BY a.xact_start NULLS FIRST LIMIT 1",
	    2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return;
	}
	if (PQgetisnull(res, 0, 0)) {
		ferry_buf_puts(out, " (a prepared transaction)");
	} else {
		ferry_buf_printf(out, " (pid %s", PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1) && *PQgetvalue(res, 0, 1))
			ferry_buf_printf(out, ", \"%s\"", PQgetvalue(res, 0, 1));
		if (!PQgetisnull(res, 0, 2))
			ferry_buf_printf(out, ", in a transaction for %s s",
			                 PQgetvalue(res, 0, 2));
		ferry_buf_putc(out, ')');
	}
	PQclear(res);
}

/* After the transaction that waited has been rolled back: err = which
 * table's lock did not come and who held it, then tail. */
static int lock_timed_out(ferry_capture *cap, const char *verb,
                          const lock_wait *w, bool writers_only,
                          const char *tail, ferry_error *err)
{
	ferry_buf who = FERRY_BUF_INIT;
	put_blocker(cap, w->relid, writers_only, &who);
	int rc = ferry_error_set(err, FERRY_ERROR, "could not %s table \"%s\" "
	                         "of PostgreSQL database \"%s\": a transaction "
	                         "that %s it did not end within %s%s; %s",
	                         verb, w->table, cap->uri,
	                         writers_only ? "writes to" : "uses",
	                         fence_lock_timeout(),
	                         ferry_buf_cstr(&who) ? ferry_buf_cstr(&who) : "",
	                         tail);
	ferry_buf_free(&who);
	return rc;
}

/*
 * The schema to create the function in (current_schema(), owned by the
 * caller), once the role is known to be able to run it.  The function
 * runs as its owner (SECURITY DEFINER): PostgreSQL lets only a superuser
 * and those granted it call pg_replication_origin_session_is_setup(),
 * and the application's role, calling the trigger, is neither.
 */
static int fence_schema(ferry_capture *cap, char **schema, ferry_error *err)
{
	PGresult *res;
	*schema = NULL;
	int rc = run(cap, "SELECT pg_catalog.has_function_privilege("
	                  "'pg_catalog.pg_replication_origin_session_is_setup()'"
	                  ", 'EXECUTE'), current_user, "
	                  "pg_catalog.current_schema(), "
	                  "pg_catalog.quote_ident(current_user)",
	             0, NULL, &res, "could not fence", err);
	if (rc < 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "could not fence "
		                     "PostgreSQL database \"%s\": the role %s may "
		                     "not call pg_replication_origin_session_is_"
		                     "setup(), which lets ferry's own writes pass the "
		                     "fence (a superuser may, or GRANT EXECUTE ON "
		                     "FUNCTION pg_catalog.pg_replication_origin_"
		                     "session_is_setup() TO %s)", cap->uri,
		                     PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3));
	else if (PQgetisnull(res, 0, 2))
		rc = ferry_error_set(err, FERRY_EINVAL, "could not fence PostgreSQL "
		                     "database \"%s\": its search_path names no "
		                     "schema to create the fence's function in",
		                     cap->uri);
	else if (!(*schema = ferry_strdup(PQgetvalue(res, 0, 2))))
		rc = ferry_error_oom(err);
	PQclear(res);
	return rc;
}

/* Creates (or replaces, with the same text) the function every fence
 * trigger calls.  Statement triggers: its NULL is not a row. */
static int create_fence_function(ferry_capture *cap, const char *schema,
                                 const char *name, const char *message,
                                 ferry_error *err)
{
	static const char what[] = "could not fence";
	ferry_buf body = FERRY_BUF_INIT, sql = FERRY_BUF_INIT;
	ferry_buf_puts(&body, "BEGIN IF NOT pg_catalog."
	                      "pg_replication_origin_session_is_setup() THEN "
	                      "RAISE EXCEPTION USING ERRCODE = "
	                      "'read_only_sql_transaction', MESSAGE = "
	                      "'ferry: table \"' || TG_TABLE_NAME || "
	                      "'\" is fenced: ' || ");
	int rc = put_literal(cap, &body, message, what, err);
	ferry_buf_puts(&body, "; END IF; RETURN NULL; END");
	ferry_buf_puts(&sql, "CREATE OR REPLACE FUNCTION ");
	put_qualified(&sql, schema, name);
	ferry_buf_puts(&sql, "() RETURNS trigger LANGUAGE plpgsql SECURITY "
	                     "DEFINER SET search_path = pg_catalog, pg_temp AS ");
	if (rc == 0)
		rc = ferry_buf_cstr(&body)
		         ? put_literal(cap, &sql, ferry_buf_cstr(&body), what, err)
		         : ferry_error_oom(err);
	if (rc == 0)
		rc = run_ddl(cap, &sql, what, NULL, err);
	ferry_buf_free(&body);
	ferry_buf_free(&sql);
	return rc;
}

/* Puts the trigger on one table (unless it is there) and makes it fire
 * in every session, even one with session_replication_role = replica
 * (a bulk load's trick to skip triggers): only an origin passes. */
static int fence_table(ferry_capture *cap, const PGresult *tables, int row,
                       const char *schema, const char *name, lock_wait *w,
                       ferry_error *err)
{
	static const char what[] = "could not fence";
	ferry_buf sql = FERRY_BUF_INIT;
	bool timed_out = false;
	int rc = 0;
	if (PQgetisnull(tables, row, 3)) {
		ferry_buf_puts(&sql, "CREATE TRIGGER ");
		ferry_buf_put_ident(&sql, name);
		ferry_buf_puts(&sql, " BEFORE INSERT OR UPDATE OR DELETE OR "
		                     "TRUNCATE ON ");
		put_qualified(&sql, PQgetvalue(tables, row, 1),
		              PQgetvalue(tables, row, 2));
		ferry_buf_puts(&sql, " FOR EACH STATEMENT EXECUTE FUNCTION ");
		put_qualified(&sql, schema, name);
		ferry_buf_puts(&sql, "()");
		rc = run_ddl(cap, &sql, what, &timed_out, err);
		ferry_buf_reset(&sql);
	}
	ferry_buf_puts(&sql, "ALTER TABLE ");
	put_qualified(&sql, PQgetvalue(tables, row, 1),
	              PQgetvalue(tables, row, 2));
	ferry_buf_puts(&sql, " ENABLE ALWAYS TRIGGER ");
	ferry_buf_put_ident(&sql, name);
	if (rc == 0)
		rc = run_ddl(cap, &sql, what, &timed_out, err);
	if (timed_out)
		note_lock_wait(w, tables, row, 0, 2);
	ferry_buf_free(&sql);
	return rc;
}

/* Fences every table of the publication that is not fenced yet. */
static int fence_tables(ferry_capture *cap, const char *schema,
                        const char *name, lock_wait *w, ferry_error *err)
{
	PGresult *res;
	const char *params[2] = {cap->slot, name};
	int rc = run(cap, FENCE_TABLES, 2, params, &res, "could not fence", err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "could not fence "
		                     "PostgreSQL database \"%s\": publication %s "
		                     "holds no table", cap->uri, cap->slot);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++)
		if (PQgetisnull(res, i, 3) ||
		    strcmp(PQgetvalue(res, i, 3), "A") != 0)
			rc = fence_table(cap, res, i, schema, name, w, err);
	PQclear(res);
	return rc;
}

/*
 * One transaction.  Why no write of the application can commit once it
 * has: CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on each table,
 * which conflicts with the ROW EXCLUSIVE lock every writer holds until
 * its transaction ends.  So the fence commits only after every
 * transaction that wrote to a captured table has ended, and a writer
 * that comes later takes its lock after the commit and sees the trigger.
 * Again when fenced: every trigger is there, nothing is locked or
 * changed but the function, replaced by the same text.
 */
static int pg_cap_fence(ferry_capture *cap, const char *message,
                        ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT;
	char *schema = NULL;
	lock_wait w = {0};
	int rc = fence_name(cap, &name, err);
	if (rc == 0)
		rc = begin_ddl(cap, true, "could not fence", err);
	if (rc < 0) {
		ferry_buf_free(&name);
		return rc;
	}
	rc = fence_schema(cap, &schema, err);
	if (rc == 0)
		rc = create_fence_function(cap, schema, ferry_buf_cstr(&name),
		                           message, err);
	if (rc == 0)
		rc = fence_tables(cap, schema, ferry_buf_cstr(&name), &w, err);
	rc = end_ddl(cap, rc, "could not fence", err);
	if (w.timed_out)
		rc = lock_timed_out(cap, "fence", &w, true, "nothing was fenced",
		                    err);
	ferry_free(schema);
	ferry_buf_free(&name);
	return rc;
}

/* Drops every fence trigger, a line for each to lines. */
static int drop_fence_triggers(ferry_capture *cap, ferry_buf *lines,
                               lock_wait *w, ferry_error *err)
{
	static const char what[] = "could not unfence";
	PGresult *res;
	int rc = run(cap, "SELECT g.tgname, n.nspname, c.relname, c.oid "
	                  FENCE_TRIGGERS " ORDER BY n.nspname, c.relname",
	             0, NULL, &res, what, err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		ferry_buf sql = FERRY_BUF_INIT;
		bool timed_out;
		ferry_buf_puts(&sql, "DROP TRIGGER IF EXISTS ");
		ferry_buf_put_ident(&sql, PQgetvalue(res, i, 0));
		ferry_buf_puts(&sql, " ON ");
		put_qualified(&sql, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		rc = run_ddl(cap, &sql, what, &timed_out, err);
		if (timed_out)
			note_lock_wait(w, res, i, 3, 2);
		if (rc == 0)
			ferry_buf_printf(lines, "dropped fence trigger %s on table "
			                 "\"%s\" of %s\n", PQgetvalue(res, i, 0),
			                 PQgetvalue(res, i, 2), cap->uri);
		ferry_buf_free(&sql);
	}
	PQclear(res);
	return rc;
}

/* Drops the fence's function(s), a line for each to lines. */
static int drop_fence_functions(ferry_capture *cap, ferry_buf *lines,
                                ferry_error *err)
{
	static const char what[] = "could not unfence";
	PGresult *res;
	int rc = run(cap, "SELECT n.nspname, p.proname FROM pg_catalog.pg_proc p "
	                  "JOIN pg_catalog.pg_namespace n "
	                  "ON n.oid = p.pronamespace "
	                  "WHERE p.proname LIKE 'ferry\\_fence\\_%' "
	                  "AND p.pronargs = 0 AND p.prorettype = "
	                  "'pg_catalog.trigger'::pg_catalog.regtype "
	                  "ORDER BY 1, 2",
	             0, NULL, &res, what, err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		ferry_buf sql = FERRY_BUF_INIT;
		ferry_buf_puts(&sql, "DROP FUNCTION IF EXISTS ");
		put_qualified(&sql, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		ferry_buf_puts(&sql, "()");
		rc = run_ddl(cap, &sql, what, NULL, err);
		if (rc == 0)
			ferry_buf_printf(lines, "dropped fence function %s() of %s\n",
			                 PQgetvalue(res, i, 1), cap->uri);
		ferry_buf_free(&sql);
	}
	PQclear(res);
	return rc;
}

/*
 * One transaction, with the fence's lock timeout: DROP TRIGGER takes an
 * ACCESS EXCLUSIVE lock, which waits for every transaction that uses the
 * table, even a read, and queues every later one behind it.  A table
 * whose lock does not come stays fenced, and the error says which
 * session held it.
 */
static int pg_cap_unfence(ferry_capture *cap, ferry_buf *report,
                          ferry_error *err)
{
	ferry_buf lines = FERRY_BUF_INIT;
	lock_wait w = {0};
	int rc = begin_ddl(cap, true, "could not unfence", err);
	if (rc < 0)
		return rc;
	rc = drop_fence_triggers(cap, &lines, &w, err);
	if (rc == 0)
		rc = drop_fence_functions(cap, &lines, err);
	rc = end_ddl(cap, rc, "could not unfence", err);
	if (w.timed_out)
		rc = lock_timed_out(cap, "unfence", &w, false,
		                    "the fence is still in place", err);
	if (rc == 0 && ferry_buf_failed(&lines))
		rc = ferry_error_oom(err); /* unfenced, but the report is lost */
	if (rc == 0 && report)
		ferry_buf_append(report, lines.data, lines.len);
	ferry_buf_free(&lines);
	return rc;
}

static int pg_cap_fenced(ferry_capture *cap, bool *fenced, ferry_error *err)
{
	PGresult *res;
	*fenced = false;
	int rc = run(cap, "SELECT EXISTS (SELECT 1 " FENCE_TRIGGERS ")", 0, NULL,
	             &res, "could not look for a fence in", err);
	if (rc == 0)
		*fenced = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/* ---- tables ferry created --------------------------------------------- */

/* The table `name` of the current schema and, when partitioned, every
 * partition (changes are decoded with the partition's identity), with
 * their replica identity. */
static const char TABLE_TREE[] =
    "WITH t AS (SELECT c.oid FROM pg_catalog.pg_class c "
    "WHERE c.relname = $1 AND c.relkind IN ('r', 'p') AND c.relnamespace = "
    "pg_catalog.current_schema()::pg_catalog.regnamespace) "
    "SELECT n.nspname, c.relname, c.relreplident "
    "FROM (SELECT oid FROM t UNION "
    "SELECT p.relid FROM t, pg_catalog.pg_partition_tree(t.oid) p) m "
    "JOIN pg_catalog.pg_class c ON c.oid = m.oid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "ORDER BY c.relname";

static int full_identity(ferry_capture *cap, const char *table,
                         ferry_buf *lines, ferry_error *err)
{
	static const char what[] = "could not make tables capturable in";
	PGresult *res;
	const char *params[1] = {table};
	int rc = run(cap, TABLE_TREE, 1, params, &res, what, err);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "%s PostgreSQL database "
		                     "\"%s\": its current schema has no table \"%s\"",
		                     what, cap->uri, table);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 2), "f") == 0)
			continue;
		ferry_buf sql = FERRY_BUF_INIT;
		ferry_buf_puts(&sql, "ALTER TABLE ");
		put_qualified(&sql, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		ferry_buf_puts(&sql, " REPLICA IDENTITY FULL");
		rc = run_ddl(cap, &sql, what, NULL, err);
		if (rc == 0)
			ferry_buf_printf(lines, "set REPLICA IDENTITY FULL on table "
			                 "\"%s\" of %s\n", PQgetvalue(res, i, 1),
			                 cap->uri);
		ferry_buf_free(&sql);
	}
	PQclear(res);
	return rc;
}

/* In one transaction: only tables ferry created, which nobody uses yet,
 * so no lock timeout. */
static int pg_cap_make_capturable(ferry_capture *cap,
                                  const ferry_schema *tables,
                                  ferry_buf *report, ferry_error *err)
{
	static const char what[] = "could not make tables capturable in";
	ferry_buf lines = FERRY_BUF_INIT;
	int rc = begin_ddl(cap, false, what, err);
	if (rc < 0)
		return rc;
	for (uint32_t t = 0; rc == 0 && t < tables->ntables; t++)
		rc = full_identity(cap, tables->tables[t].name, &lines, err);
	rc = end_ddl(cap, rc, what, err);
	if (rc == 0 && ferry_buf_failed(&lines))
		rc = ferry_error_oom(err);
	if (rc == 0 && report)
		ferry_buf_append(report, lines.data, lines.len);
	ferry_buf_free(&lines);
	return rc;
}

const ferry_capture_ops ferry_pg_capture_ops = {
	.read_barrier = pg_cap_read_barrier,
	.name = "postgresql",
	.open = pg_cap_open,
	.introspect = pg_cap_introspect,
	.install = pg_cap_install,
	.installed = pg_cap_installed,
	.remove = pg_cap_remove,
	.check = pg_cap_check,
	.stream_start = pg_cap_stream_start,
	.snapshot_begin = pg_cap_snapshot_begin,
	.snapshot_end = pg_cap_snapshot_end,
	.snapshot_token = pg_cap_snapshot_token,
	.in_snapshot = pg_cap_in_snapshot,
	.scan_open = pg_cap_scan_open,
	.scan_next = pg_cap_scan_next,
	.scan_close = pg_cap_scan_close,
	.read = pg_cap_read,
	.release = pg_cap_release,
	.describe = pg_cap_describe,
	.fence = pg_cap_fence,
	.unfence = pg_cap_unfence,
	.fenced = pg_cap_fenced,
	.make_capturable = pg_cap_make_capturable,
	.close = pg_cap_close,
};
