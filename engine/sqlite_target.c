/*
 * engine/sqlite_target.c - the SQLite target writer (target.h).
 *
 * Tables are created with declared types whose affinity stores every
 * value exactly as ferry hands it over, and with their primary and
 * foreign keys, since SQLite cannot add either to an existing table.
 * Rows go through one prepared INSERT per table, inside one IMMEDIATE
 * transaction per table, with every payload bound in place (no copy, no
 * allocation per row).  docs/sqlite-target.md has the type mapping and
 * the storage rules the tests check.
 */
#include "engine/sqlite_target.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/datetime.h"

/* A busy file (another job committing) is waited for, not failed on. */
#define BUSY_TIMEOUT_MS 60000

/* Longest declared type decl_type() writes, with its NUL. */
#define DECL_MAX 48

/* Room for the longest date, timestamptz or uuid text (35 bytes). */
#define SCRATCH_BYTES 64

typedef struct apply_table apply_table;

struct ferry_target {
	sqlite3 *db;
	/* The copy in progress, between copy_begin and copy_end/copy_abort. */
	const ferry_table *table; /* borrowed from the caller */
	uint32_t ncols;
	sqlite3_stmt *insert;
	ferry_type *want;   /* the value type of each column */
	ferry_buf *scratch; /* per column: the text of a date, timestamp or
	                       uuid, alive until the row's step */
	int64_t rows;       /* rows inserted so far */
	/* Online apply: the batch, between apply_begin and commit or abort. */
	bool applying;
	bool apply_failed;  /* a change failed: only apply_abort is left */
	apply_table **tabs; /* statements per table, for the connection's life */
	uint32_t ntabs, tabs_cap;
	apply_table *last;  /* the table of the previous change */
	ferry_buf text;     /* a date, timestamp or uuid being bound */
};

/* ---- errors ------------------------------------------------------- */

static int db_failv(ferry_error *err, sqlite3 *db, const char *fmt,
                    va_list ap) FERRY_PRINTF(3, 0);

/* Sets err to "<formatted>: <SQLite's message>"; returns FERRY_ERROR.
 * Call it before any other use of db, which would replace the message. */
static int db_failv(ferry_error *err, sqlite3 *db, const char *fmt,
                    va_list ap)
{
	ferry_buf what = FERRY_BUF_INIT;
	ferry_buf_vprintf(&what, fmt, ap);
	const char *text = ferry_buf_cstr(&what);
	int rc = text ? ferry_error_set(err, FERRY_ERROR, "%s: %s", text,
	                                sqlite3_errmsg(db))
	              : ferry_error_oom(err);
	ferry_buf_free(&what);
	return rc;
}

static int db_fail(ferry_error *err, sqlite3 *db, const char *fmt, ...)
    FERRY_PRINTF(3, 4);

static int db_fail(ferry_error *err, sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = db_failv(err, db, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- SQL text ----------------------------------------------------- */

/*
 * The declared type for t.  Each name keeps the SQL type's meaning and
 * has an affinity under which the values ferry binds are stored as
 * given: JSON alone needs "TEXT" in its name, because a JSON document
 * may be a bare number that NUMERIC affinity would turn into one.
 * Dates, timestamps and uuids keep NUMERIC affinity harmlessly: their
 * text is never a well-formed number (docs/sqlite-target.md).
 */
static void decl_type(const ferry_sqltype *t, char out[DECL_MAX])
{
	const char *name = "TEXT";
	switch (t->kind) {
	case FERRY_SQL_SMALLINT:
	case FERRY_SQL_INTEGER:
	case FERRY_SQL_BIGINT:
		name = "INTEGER";
		break;
	case FERRY_SQL_REAL:
	case FERRY_SQL_DOUBLE:
		name = "REAL";
		break;
	case FERRY_SQL_NUMERIC:
		if (t->precision > 0) {
			snprintf(out, DECL_MAX, "NUMERIC(%d,%d)", (int)t->precision,
			         t->scale < 0 ? 0 : (int)t->scale);
			return;
		}
		name = "NUMERIC";
		break;
	case FERRY_SQL_VARCHAR:
		if (t->length > 0) {
			snprintf(out, DECL_MAX, "VARCHAR(%d)", (int)t->length);
			return;
		}
		name = "VARCHAR";
		break;
	case FERRY_SQL_CHAR:
		snprintf(out, DECL_MAX, "CHARACTER(%d)",
		         t->length > 0 ? (int)t->length : 1);
		return;
	case FERRY_SQL_BYTEA:
		name = "BLOB";
		break;
	case FERRY_SQL_BOOLEAN:
		name = "BOOLEAN";
		break;
	case FERRY_SQL_DATE:
		name = "DATE";
		break;
	case FERRY_SQL_TIMESTAMP:
		name = "TIMESTAMP";
		break;
	case FERRY_SQL_TIMESTAMPTZ:
		name = "TIMESTAMPTZ";
		break;
	case FERRY_SQL_JSON:
	case FERRY_SQL_JSONB:
		name = "JSON TEXT";
		break;
	case FERRY_SQL_UUID:
		name = "UUID";
		break;
	default:
		break;
	}
	snprintf(out, DECL_MAX, "%s", name);
}

static bool contains_nocase(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++)
		if (sqlite3_strnicmp(s, word, (int)n) == 0)
			return true;
	return false;
}

typedef enum affinity {
	AFF_BLOB,
	AFF_TEXT,
	AFF_NUMERIC,
	AFF_INTEGER,
	AFF_REAL
} affinity;

/* SQLite's rules for a declared type's affinity (datatype3.html, 3.1),
 * in their order: the first that matches wins. */
static affinity affinity_of(const char *decl)
{
	if (contains_nocase(decl, "INT"))
		return AFF_INTEGER;
	if (contains_nocase(decl, "CHAR") || contains_nocase(decl, "CLOB") ||
	    contains_nocase(decl, "TEXT"))
		return AFF_TEXT;
	if (*decl == '\0' || contains_nocase(decl, "BLOB"))
		return AFF_BLOB;
	if (contains_nocase(decl, "REAL") || contains_nocase(decl, "FLOA") ||
	    contains_nocase(decl, "DOUB"))
		return AFF_REAL;
	return AFF_NUMERIC;
}

/* Runs the SQL built in sql and frees it; on failure err holds
 * "<formatted>: <SQLite's message>". */
static int run_built(ferry_target *t, ferry_buf *sql, ferry_error *err,
                     const char *fmt, ...) FERRY_PRINTF(4, 5);

static int run_built(ferry_target *t, ferry_buf *sql, ferry_error *err,
                     const char *fmt, ...)
{
	const char *text = ferry_buf_cstr(sql);
	int rc = 0;
	if (!text) {
		rc = ferry_error_oom(err);
	} else if (sqlite3_exec(t->db, text, NULL, NULL, NULL) != SQLITE_OK) {
		va_list ap;
		va_start(ap, fmt);
		rc = db_failv(err, t->db, fmt, ap);
		va_end(ap);
	}
	ferry_buf_free(sql);
	return rc;
}

/* ---- connection --------------------------------------------------- */

static void copy_abort(ferry_target *t);
static void apply_abort(ferry_target *t);
static void free_apply_tables(ferry_target *t);

static void close_target(ferry_target *t)
{
	if (!t)
		return;
	if (t->table)
		copy_abort(t);
	apply_abort(t);
	free_apply_tables(t);
	ferry_buf_free(&t->text);
	sqlite3_close(t->db); /* every statement is finalized by now */
	ferry_free(t);
}

/*
 * WAL lets readers of the target carry on during the load; NORMAL makes a
 * commit durable at the next checkpoint rather than at once, which costs a
 * load nothing it cannot redo (docs/sqlite-target.md, "Durability").
 * A table's copy is one transaction, so the WAL grows to the table's size
 * before its checkpoint; the size limit gives that space back afterwards.
 * Foreign keys stay off: tables load in any order, and SQLite cannot defer
 * the checks to the end of a load.
 */
static const char setup_sql[] = "PRAGMA journal_mode = WAL;"
                                "PRAGMA synchronous = FULL;"
                                "PRAGMA journal_size_limit = 67108864;"
                                "PRAGMA foreign_keys = OFF;";

static int open_target(ferry_target **out, const ferry_uri *uri,
                       ferry_error *err)
{
	*out = NULL;
	if (uri->kind != FERRY_URI_SQLITE || !uri->path)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not open database \"%s\": not an "
		                       "sqlite uri",
		                       uri->redacted ? uri->redacted : "");
	ferry_target *t = ferry_calloc(1, sizeof *t);
	if (!t)
		return ferry_error_oom(err);
	int rc = sqlite3_open_v2(uri->path, &t->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                         NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(t->db, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(t->db, setup_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = db_fail(err, t->db, "could not open database \"%s\"",
		             uri->path);
		close_target(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- existing tables ---------------------------------------------- */

/* Runs sql with p1 and p2 bound to ?1 and ?2 (when not NULL): 1 if it
 * yields a row, 0 if not, or FERRY_ERROR with err saying
 * "could not <what> "<name>"". */
static int yields_row(ferry_target *t, const char *sql, const char *p1,
                      const char *p2, const char *what, const char *name,
                      ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(t->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && p1)
		rc = sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && p2)
		rc = sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int result;
	if (rc == SQLITE_ROW)
		result = 1;
	else if (rc == SQLITE_DONE)
		result = 0;
	else
		result = db_fail(err, t->db, "could not %s \"%s\"", what, name);
	sqlite3_finalize(st);
	return result;
}

/* SQLite matches table names without regard to ASCII case, and so does
 * this lookup. */
static int table_exists(ferry_target *t, const char *name, ferry_error *err)
{
	return yields_row(t,
	                  "SELECT 1 FROM sqlite_schema WHERE type = 'table' "
	                  "AND name = ?1 COLLATE NOCASE",
	                  name, NULL, "look up table", name, err);
}

static int table_has_rows(ferry_target *t, const char *name, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "SELECT 1 FROM ");
	ferry_buf_put_ident(&sql, name);
	ferry_buf_puts(&sql, " LIMIT 1");
	const char *text = ferry_buf_cstr(&sql);
	int rc = text ? yields_row(t, text, NULL, NULL, "read table", name, err)
	              : ferry_error_oom(err);
	ferry_buf_free(&sql);
	return rc;
}

static int mismatch(ferry_error *err, const ferry_table *table,
                    const char *fmt, ...) FERRY_PRINTF(3, 4);

static int mismatch(ferry_error *err, const ferry_table *table,
                    const char *fmt, ...)
{
	ferry_buf why = FERRY_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	ferry_buf_vprintf(&why, fmt, ap);
	va_end(ap);
	const char *text = ferry_buf_cstr(&why);
	int rc = text ? ferry_error_set(err, FERRY_EINVAL,
	                                "target table \"%s\" exists with other "
	                                "columns (%s): use --drop to recreate it",
	                                table->name, text)
	              : ferry_error_oom(err);
	ferry_buf_free(&why);
	return rc;
}

/* 0 if the existing column called name, declared type, matches c; else
 * FERRY_EINVAL naming both. */
static int column_matches(ferry_error *err, const ferry_table *table,
                          uint32_t i, const char *name, const char *type)
{
	const ferry_column *c = &table->columns[i];
	char want[DECL_MAX];
	decl_type(&c->type, want);
	if (sqlite3_stricmp(name, c->name) == 0 &&
	    affinity_of(type) == affinity_of(want))
		return 0;
	return mismatch(err, table, "column %u is \"%s\" %s, not \"%s\" %s",
	                i + 1, name, type, c->name, want);
}

/*
 * 0 if the existing table has table's columns in order, by name (as
 * SQLite compares names) and with the affinity ferry would declare, so
 * that reusing it stores every value as a new table would; FERRY_EINVAL
 * naming the first difference otherwise.
 */
static int columns_match(ferry_target *t, const ferry_table *table,
                         ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int result = 0;
	uint32_t n = 0;
	int rc = sqlite3_prepare_v2(t->db,
	                            "SELECT name, type FROM pragma_table_info(?1)",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, table->name, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		if (n == table->ncolumns)
			result = mismatch(err, table, "more than %u", table->ncolumns);
		else
			result = column_matches(err, table, n++, name ? name : "",
			                        type ? type : "");
		if (result < 0)
			break;
		rc = SQLITE_OK;
	}
	if (result == 0 && rc != SQLITE_DONE)
		result = db_fail(err, t->db, "could not read columns of table \"%s\"",
		                 table->name);
	else if (result == 0 && n < table->ncolumns)
		result = mismatch(err, table, "%u, not %u", n, table->ncolumns);
	sqlite3_finalize(st);
	return result;
}

/*
 * target.h: what prepare_table would do, changing nothing.  A table that
 * exists is refused when it holds rows (FERRY_EXISTING_REFUSE) and, when
 * it is to be reused (empty or truncated), when its columns differ.
 */
static int check_table(ferry_target *t, const ferry_table *table,
                       ferry_existing existing, ferry_error *err)
{
	if (existing == FERRY_EXISTING_DROP)
		return 0;
	int rc = table_exists(t, table->name, err);
	if (rc <= 0)
		return rc;
	if (existing == FERRY_EXISTING_REFUSE) {
		rc = table_has_rows(t, table->name, err);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "target table \"%s\" is not empty: use "
			                       "--truncate to empty it or --drop to "
			                       "recreate it",
			                       table->name);
	}
	return columns_match(t, table, err);
}

/* ---- creating tables ---------------------------------------------- */

static bool is_integer_kind(ferry_sqltype_kind k)
{
	return k == FERRY_SQL_SMALLINT || k == FERRY_SQL_INTEGER ||
	       k == FERRY_SQL_BIGINT;
}

/* The column that becomes the rowid ("INTEGER PRIMARY KEY"): the single
 * integer key column of a rowid table; -1 if there is none. */
static int rowid_alias(const ferry_table *table)
{
	if (table->without_rowid || ferry_table_pk_count(table) != 1)
		return -1;
	for (uint32_t i = 0; i < table->ncolumns; i++)
		if (table->columns[i].pk_position > 0)
			return is_integer_kind(table->columns[i].type.kind) ? (int)i
			                                                    : -1;
	return -1;
}

static void put_column(ferry_buf *b, const ferry_column *c, bool is_rowid)
{
	char type[DECL_MAX];
	decl_type(&c->type, type);
	ferry_buf_put_ident(b, c->name);
	ferry_buf_putc(b, ' ');
	ferry_buf_puts(b, type); /* exactly "INTEGER" when is_rowid */
	if (is_rowid) {
		ferry_buf_puts(b, " PRIMARY KEY");
		/* AUTOINCREMENT never reuses a deleted key, as a sequence
		 * never does; SQLite moves it past every key the load writes. */
		if (c->autoincrement)
			ferry_buf_puts(b, " AUTOINCREMENT");
	}
	if (c->not_null)
		ferry_buf_puts(b, " NOT NULL");
	if (c->default_sql && *c->default_sql) {
		ferry_buf_puts(b, " DEFAULT ");
		ferry_buf_puts(b, c->default_sql);
	}
}

/* ", PRIMARY KEY (...)" with the key columns in key order. */
static void put_primary_key(ferry_buf *b, const ferry_table *table)
{
	int last = 0;
	ferry_buf_puts(b, ", PRIMARY KEY (");
	for (uint32_t k = 0; k < table->ncolumns; k++) {
		const ferry_column *next = NULL;
		for (uint32_t i = 0; i < table->ncolumns; i++) {
			const ferry_column *c = &table->columns[i];
			if (c->pk_position > last &&
			    (!next || c->pk_position < next->pk_position))
				next = c;
		}
		if (!next)
			break;
		if (last)
			ferry_buf_puts(b, ", ");
		ferry_buf_put_ident(b, next->name);
		last = next->pk_position;
	}
	ferry_buf_putc(b, ')');
}

/* The referential action spelled as SQLite takes it; NULL for none
 * (NO ACTION), "" for an action SQLite does not know.  Actions are
 * matched against a list because they go into the SQL unquoted. */
static const char *fk_action(const char *given)
{
	static const char *const actions[] = {"NO ACTION", "RESTRICT", "SET NULL",
	                                      "SET DEFAULT", "CASCADE"};
	if (!given)
		return NULL;
	for (size_t i = 0; i < sizeof actions / sizeof *actions; i++)
		if (sqlite3_stricmp(given, actions[i]) == 0)
			return actions[i];
	return "";
}

static int put_foreign_key(ferry_buf *b, const ferry_table *table,
                           const ferry_fkey *fk, ferry_error *err)
{
	const char *on_delete = fk_action(fk->on_delete);
	const char *on_update = fk_action(fk->on_update);
	if ((on_delete && !*on_delete) || (on_update && !*on_update))
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not create table \"%s\": unknown "
		                       "foreign key action \"%s\"",
		                       table->name,
		                       on_delete && !*on_delete ? fk->on_delete
		                                                : fk->on_update);
	if (fk->name) {
		ferry_buf_puts(b, ", CONSTRAINT ");
		ferry_buf_put_ident(b, fk->name);
		ferry_buf_puts(b, " FOREIGN KEY (");
	} else {
		ferry_buf_puts(b, ", FOREIGN KEY (");
	}
	ferry_buf_put_idents(b, fk->columns, fk->ncolumns);
	ferry_buf_puts(b, ") REFERENCES ");
	ferry_buf_put_ident(b, fk->ref_table);
	/* Unnamed referenced columns mean the referenced table's primary
	 * key, which is what SQLite reads a missing column list as. */
	bool named = fk->ref_columns != NULL;
	for (uint32_t i = 0; named && i < fk->ncolumns; i++)
		named = fk->ref_columns[i] != NULL;
	if (named) {
		ferry_buf_puts(b, " (");
		ferry_buf_put_idents(b, fk->ref_columns, fk->ncolumns);
		ferry_buf_putc(b, ')');
	}
	if (on_delete)
		ferry_buf_printf(b, " ON DELETE %s", on_delete);
	if (on_update)
		ferry_buf_printf(b, " ON UPDATE %s", on_update);
	return 0;
}

static int create_table(ferry_target *t, const ferry_table *table,
                        ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	int alias = rowid_alias(table);
	ferry_buf_puts(&sql, "CREATE TABLE ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " (");
	for (uint32_t i = 0; i < table->ncolumns; i++) {
		if (i)
			ferry_buf_puts(&sql, ", ");
		put_column(&sql, &table->columns[i], (int)i == alias);
	}
	if (alias < 0 && ferry_table_pk_count(table) > 0)
		put_primary_key(&sql, table);
	for (uint32_t i = 0; i < table->nfkeys; i++) {
		int rc = put_foreign_key(&sql, table, &table->fkeys[i], err);
		if (rc < 0) {
			ferry_buf_free(&sql);
			return rc;
		}
	}
	ferry_buf_putc(&sql, ')');
	if (table->without_rowid)
		ferry_buf_puts(&sql, " WITHOUT ROWID");
	return run_built(t, &sql, err, "could not create table \"%s\"",
	                 table->name);
}

/* Runs "<verb> <table>" (DROP TABLE IF EXISTS, DELETE FROM). */
static int run_on_table(ferry_target *t, const char *verb, const char *what,
                        const char *name, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, verb);
	ferry_buf_put_ident(&sql, name);
	return run_built(t, &sql, err, "could not %s table \"%s\"", what, name);
}

/*
 * target.h, with SQLite's difference: the table is created with its
 * primary key and foreign keys (SQLite cannot add them later); only the
 * other indexes wait for finish_table.
 */
static int prepare_table(ferry_target *t, const ferry_table *table,
                         ferry_existing existing, ferry_error *err)
{
	int rc = check_table(t, table, existing, err);
	if (rc < 0)
		return rc;
	if (existing == FERRY_EXISTING_DROP) {
		rc = run_on_table(t, "DROP TABLE IF EXISTS ", "drop", table->name,
		                  err);
		return rc < 0 ? rc : create_table(t, table, err);
	}
	rc = table_exists(t, table->name, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return create_table(t, table, err);
	if (existing == FERRY_EXISTING_TRUNCATE)
		return run_on_table(t, "DELETE FROM ", "empty", table->name, err);
	return 0; /* empty, with matching columns: reused as it is */
}

/* ---- copying rows ------------------------------------------------- */

static void release_copy(ferry_target *t)
{
	sqlite3_finalize(t->insert);
	t->insert = NULL;
	if (t->scratch)
		for (uint32_t i = 0; i < t->ncols; i++)
			ferry_buf_free(&t->scratch[i]);
	ferry_free(t->scratch);
	ferry_free(t->want);
	t->scratch = NULL;
	t->want = NULL;
	t->table = NULL;
	t->ncols = 0;
	t->rows = 0;
}

static bool is_formatted(ferry_type type)
{
	return type == FERRY_DATE || type == FERRY_TIMESTAMP ||
	       type == FERRY_TIMESTAMPTZ || type == FERRY_UUID;
}

/* Records each column's value type and gives each date, timestamp and
 * uuid column its text buffer now, so that copy_row never allocates. */
static int setup_columns(ferry_target *t, const ferry_table *table,
                         ferry_error *err)
{
	t->table = table;
	t->ncols = table->ncolumns;
	t->want = ferry_calloc(table->ncolumns, sizeof *t->want);
	t->scratch = ferry_calloc(table->ncolumns, sizeof *t->scratch);
	if (!t->want || !t->scratch)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < table->ncolumns; i++) {
		t->want[i] = ferry_sqltype_value_type(&table->columns[i].type);
		if (is_formatted(t->want[i]) &&
		    ferry_buf_reserve(&t->scratch[i], SCRATCH_BYTES) < 0)
			return ferry_error_oom(err);
	}
	return 0;
}

static int prepare_insert(ferry_target *t, const ferry_table *table,
                          ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "INSERT INTO ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " (");
	for (uint32_t i = 0; i < table->ncolumns; i++) {
		if (i)
			ferry_buf_puts(&sql, ", ");
		ferry_buf_put_ident(&sql, table->columns[i].name);
	}
	ferry_buf_puts(&sql, ") VALUES (");
	for (uint32_t i = 0; i < table->ncolumns; i++)
		ferry_buf_puts(&sql, i ? ", ?" : "?");
	ferry_buf_putc(&sql, ')');
	const char *text = ferry_buf_cstr(&sql);
	int rc = 0;
	if (!text)
		rc = ferry_error_oom(err);
	else if (sqlite3_prepare_v3(t->db, text, (int)sql.len,
	                            SQLITE_PREPARE_PERSISTENT, &t->insert,
	                            NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not prepare insert into table \"%s\"",
		             table->name);
	ferry_buf_free(&sql);
	return rc;
}

static int copy_begin(ferry_target *t, const ferry_table *table,
                      ferry_error *err)
{
	assert(!t->table && "copy_begin during a copy");
	if (t->applying)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not begin copy into table \"%s\": an "
		                       "apply batch is open", table->name);
	int rc = setup_columns(t, table, err);
	if (rc == 0)
		rc = prepare_insert(t, table, err);
	/* IMMEDIATE takes the write lock now, waiting out another job's
	 * commit, rather than failing busy at the first insert. */
	if (rc == 0 &&
	    sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not begin copy into table \"%s\"",
		             table->name);
	if (rc < 0)
		release_copy(t);
	return rc;
}

static void put_uuid(ferry_buf *b, const uint8_t u[16])
{
	static const char hex[] = "0123456789abcdef";
	char text[36];
	size_t n = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			text[n++] = '-';
		text[n++] = hex[u[i] >> 4];
		text[n++] = hex[u[i] & 15];
	}
	ferry_buf_append(b, text, n);
}

/* Days since 1970-01-01 of 0001-01-01 and 9999-12-31: the years the
 * fast formatters below handle. */
#define FIRST_FAST_DAY (-719162)
#define LAST_FAST_DAY 2932896

static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

static char *put_ymd(char *p, int32_t days)
{
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days(days, &y, &m, &d);
	p = put_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	return put_digits(p, d, 2);
}

/*
 * The text ferry_date_format and ferry_timestamp_format write (the tests
 * compare them), without their printf calls, which cost more than the
 * insert itself.  Only years 1..9999: 0 for anything else (infinity, BC,
 * five-digit years), which then goes through datetime.c.
 */
static size_t fast_date(int32_t days, char *out)
{
	if (days < FIRST_FAST_DAY || days > LAST_FAST_DAY)
		return 0;
	return (size_t)(put_ymd(out, days) - out);
}

static size_t fast_timestamp(int64_t micros, char *out)
{
	int64_t days = micros / FERRY_USECS_PER_DAY;
	int64_t rest = micros % FERRY_USECS_PER_DAY;
	if (rest < 0) {
		rest += FERRY_USECS_PER_DAY;
		days--;
	}
	if (days < FIRST_FAST_DAY || days > LAST_FAST_DAY)
		return 0;
	char *p = put_ymd(out, (int32_t)days);
	unsigned secs = (unsigned)(rest / 1000000);
	unsigned frac = (unsigned)(rest % 1000000);
	*p++ = ' ';
	p = put_digits(p, secs / 3600, 2);
	*p++ = ':';
	p = put_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, secs % 60, 2);
	if (frac) { /* only the significant fractional digits */
		int places = 6;
		for (; frac % 10 == 0; places--)
			frac /= 10;
		*p++ = '.';
		p = put_digits(p, frac, places);
	}
	return (size_t)(p - out);
}

static void put_date(ferry_buf *b, int32_t days)
{
	char text[16];
	size_t n = fast_date(days, text);
	if (n)
		ferry_buf_append(b, text, n);
	else
		ferry_date_format(days, b);
}

static void put_timestamp(ferry_buf *b, int64_t micros)
{
	char text[32];
	size_t n = fast_timestamp(micros, text);
	if (n)
		ferry_buf_append(b, text, n);
	else
		ferry_timestamp_format(micros, false, b);
}

/* Writes the text a date, timestamp or uuid is stored as into b and
 * binds it to parameter p of st (d: SQLITE_STATIC when b outlives the
 * step, else SQLITE_TRANSIENT); an SQLite code. */
static int bind_formatted(sqlite3_stmt *st, int p, const ferry_value *v,
                          ferry_buf *b, sqlite3_destructor_type d)
{
	ferry_buf_reset(b);
	switch (v->type) {
	case FERRY_DATE:
		put_date(b, v->u.date);
		break;
	case FERRY_TIMESTAMP:
		put_timestamp(b, v->u.i);
		break;
	case FERRY_TIMESTAMPTZ:
		/* "+00:00" rather than "Z": SQLite's date functions read both,
		 * and more readers (Python before 3.11) know this one. */
		put_timestamp(b, v->u.i);
		if (v->u.i != FERRY_TS_PINF && v->u.i != FERRY_TS_NINF)
			ferry_buf_puts(b, "+00:00");
		break;
	default:
		put_uuid(b, v->u.uuid);
		break;
	}
	if (ferry_buf_failed(b)) /* the copy's buffers are reserved */
		return SQLITE_NOMEM;
	return sqlite3_bind_text64(st, p, (const char *)b->data, b->len, d,
	                           SQLITE_UTF8);
}

static int bad_value(ferry_target *t, uint32_t i, const ferry_value *v,
                     ferry_error *err)
{
	const char *name = t->table->columns[i].name;
	if (v->type == t->want[i]) /* a NaN float: SQLite would store NULL */
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not insert row %lld into table \"%s\": "
		                       "column \"%s\" cannot store NaN",
		                       (long long)t->rows + 1, t->table->name, name);
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not insert row %lld into table \"%s\": "
	                       "column \"%s\" takes %s values, not %s",
	                       (long long)t->rows + 1, t->table->name, name,
	                       ferry_type_name(t->want[i]),
	                       ferry_type_name(v->type));
}

/*
 * A numeric goes in as an exact integer when it is integral and fits
 * int64, else as the correctly rounded double: SQLite's own text-to-real
 * conversion is not always correctly rounded (0.92674967026242 came back
 * one ulp off), and the converter only lets through values a double holds.
 */
static int bind_numeric(sqlite3_stmt *st, int p, const char *s, size_t len)
{
	char buf[80], *end;
	if (len >= sizeof buf) /* the converter never lets one through */
		return sqlite3_bind_text64(st, p, s, len, SQLITE_STATIC, SQLITE_UTF8);
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *dot = strchr(buf, '.');
	bool integral = !strpbrk(buf, "eE") &&
	                (!dot || dot[1 + strspn(dot + 1, "0")] == '\0');
	if (integral) {
		if (dot)
			*dot = '\0';
		errno = 0;
		long long v = strtoll(buf, &end, 10);
		if (errno == 0 && *end == '\0')
			return sqlite3_bind_int64(st, p, v);
		if (dot)
			*dot = '.';
	}
	return sqlite3_bind_double(st, p, strtod(buf, NULL));
}

/*
 * Binds v (of its column's type, not NaN) to parameter p of st; an
 * SQLite code.  Payloads are bound SQLITE_STATIC: the row's bytes
 * outlive the step.  Lengths are explicit, so text keeps any NUL byte,
 * and an empty text or blob is bound from a non-NULL pointer (or as a
 * zero-length zeroblob), since a NULL pointer would store NULL.  Dates,
 * timestamps and uuids are written into scratch.
 */
static int bind_plain(sqlite3_stmt *st, int p, const ferry_value *v,
                      ferry_buf *scratch, sqlite3_destructor_type d)
{
	int rc;
	switch (v->type) {
	case FERRY_NULL:
		rc = sqlite3_bind_null(st, p);
		break;
	case FERRY_INT:
		rc = sqlite3_bind_int64(st, p, v->u.i);
		break;
	case FERRY_FLOAT:
		rc = sqlite3_bind_double(st, p, v->u.f);
		break;
	case FERRY_NUMERIC:
		rc = bind_numeric(st, p, v->u.s.ptr, v->u.s.len);
		break;
	case FERRY_TEXT:
	case FERRY_JSON:
		rc = sqlite3_bind_text64(st, p, v->u.s.ptr ? v->u.s.ptr : "",
		                         v->u.s.len, SQLITE_STATIC, SQLITE_UTF8);
		break;
	case FERRY_BLOB:
		rc = v->u.s.len ? sqlite3_bind_blob64(st, p, v->u.s.ptr, v->u.s.len,
		                                      SQLITE_STATIC)
		                : sqlite3_bind_zeroblob(st, p, 0);
		break;
	case FERRY_BOOL:
		rc = sqlite3_bind_int(st, p, v->u.b ? 1 : 0);
		break;
	default:
		rc = bind_formatted(st, p, v, scratch, d);
		break;
	}
	return rc;
}

static int bind_value(ferry_target *t, uint32_t i, const ferry_value *v,
                      ferry_error *err)
{
	if ((v->type != FERRY_NULL && v->type != t->want[i]) ||
	    (v->type == FERRY_FLOAT && isnan(v->u.f)))
		return bad_value(t, i, v, err);
	int rc = bind_plain(t->insert, (int)i + 1, v, &t->scratch[i],
	                    SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return db_fail(err, t->db,
		               "could not insert row %lld into table \"%s\": column "
		               "\"%s\"",
		               (long long)t->rows + 1, t->table->name,
		               t->table->columns[i].name);
	return 0;
}

static int copy_row(ferry_target *t, const ferry_row *row, ferry_error *err)
{
	assert(t->insert && "copy_row outside a copy");
	if (row->ncols != t->ncols)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not insert row %lld into table \"%s\": "
		                       "%u values for %u columns",
		                       (long long)t->rows + 1, t->table->name,
		                       row->ncols, t->ncols);
	for (uint32_t i = 0; i < t->ncols; i++) {
		int rc = bind_value(t, i, &row->values[i], err);
		if (rc < 0)
			return rc;
	}
	int rc = sqlite3_step(t->insert);
	if (rc != SQLITE_DONE) {
		/* A constraint names a row; other failures are the table's. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			rc = db_fail(err, t->db, "could not insert row %lld into table "
			             "\"%s\"", (long long)t->rows + 1, t->table->name);
		else
			rc = db_fail(err, t->db, "could not insert into table \"%s\"",
			             t->table->name);
		sqlite3_reset(t->insert);
		return rc;
	}
	sqlite3_reset(t->insert); /* every column is bound again next row */
	t->rows++;
	return 0;
}

static void rollback(ferry_target *t)
{
	if (!sqlite3_get_autocommit(t->db))
		sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
}

static int copy_end(ferry_target *t, int64_t *rows, ferry_error *err)
{
	assert(t->table && "copy_end outside a copy");
	sqlite3_finalize(t->insert);
	t->insert = NULL;
	int rc = 0;
	if (sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(err, t->db, "could not commit copy into table \"%s\"",
		             t->table->name);
		rollback(t);
	} else {
		*rows = t->rows;
	}
	release_copy(t);
	return rc;
}

static void copy_abort(ferry_target *t)
{
	sqlite3_finalize(t->insert); /* first: an active statement would
	                                keep ROLLBACK from finishing */
	t->insert = NULL;
	rollback(t);
	release_copy(t);
}

/* ---- after the data ----------------------------------------------- */

/* The name to create ix under.  SQLite's own "sqlite_autoindex_..." names
 * (UNIQUE constraints of a SQLite source) are reserved, and a missing name
 * needs one: both become PostgreSQL's style, <table>_<columns>_key/idx. */
static void index_name(ferry_buf *b, const ferry_table *table,
                       const ferry_index *ix)
{
	if (ix->name && *ix->name && sqlite3_strnicmp(ix->name, "sqlite_", 7)) {
		ferry_buf_puts(b, ix->name);
		return;
	}
	ferry_buf_puts(b, table->name);
	for (uint32_t i = 0; i < ix->ncolumns; i++)
		ferry_buf_printf(b, "_%s", ix->columns[i]);
	ferry_buf_puts(b, ix->unique ? "_key" : "_idx");
}

/* 1 if the index called name exists on table (as truncate keeps it), 0 if
 * not, so that CREATE INDEX reports a name another table uses. */
static int index_exists(ferry_target *t, const char *name,
                        const ferry_table *table, ferry_error *err)
{
	return yields_row(t,
	                  "SELECT 1 FROM sqlite_schema WHERE type = 'index' "
	                  "AND name = ?1 COLLATE NOCASE "
	                  "AND tbl_name = ?2 COLLATE NOCASE",
	                  name, table->name, "look up index", name, err);
}

static int create_index(ferry_target *t, const ferry_table *table,
                        const ferry_index *ix, ferry_error *err)
{
	ferry_buf name = FERRY_BUF_INIT, sql = FERRY_BUF_INIT;
	index_name(&name, table, ix);
	const char *iname = ferry_buf_cstr(&name);
	int rc = iname ? index_exists(t, iname, table, err) : ferry_error_oom(err);
	if (rc != 0) {
		ferry_buf_free(&name);
		return rc < 0 ? rc : 0;
	}
	ferry_buf_puts(&sql, ix->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
	ferry_buf_put_ident(&sql, iname);
	ferry_buf_puts(&sql, " ON ");
	ferry_buf_put_ident(&sql, table->name);
	ferry_buf_puts(&sql, " (");
	ferry_buf_put_idents(&sql, ix->columns, ix->ncolumns);
	ferry_buf_putc(&sql, ')');
	if (ix->where_sql) {
		ferry_buf_puts(&sql, " WHERE ");
		ferry_buf_puts(&sql, ix->where_sql);
	}
	rc = run_built(t, &sql, err, "could not create index \"%s\" on table "
	               "\"%s\"", iname, table->name);
	ferry_buf_free(&name);
	return rc;
}

/*
 * target.h: the unique and secondary indexes (a unique index over
 * duplicate rows fails here, naming them).  The primary key came with
 * the table; an AUTOINCREMENT counter already stands past the largest
 * key, since SQLite advances it on every insert, explicit keys included.
 */
static int finish_table(ferry_target *t, const ferry_table *table,
                        ferry_error *err)
{
	for (uint32_t i = 0; i < table->nindexes; i++) {
		int rc = create_index(t, table, &table->indexes[i], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The foreign keys were created with the table: nothing is left to do. */
static int add_foreign_keys(ferry_target *t, const ferry_table *table,
                            ferry_error *err)
{
	return 0;
}

/* ---- online apply ------------------------------------------------- */

/*
 * A batch is one IMMEDIATE transaction.  Each change runs one prepared
 * statement (cached per table for the connection's life) with its
 * values bound as for the copy, and sqlite3_changes() checks what a
 * strict change affected.  The checkpoint is written in the same
 * transaction just before COMMIT.
 */

/* Statements cached per table. */
enum {
	ST_INSERT,   /* INSERT ... VALUES (after) */
	ST_UPSERT,   /* the same, ON CONFLICT (key) DO UPDATE every column */
	ST_UPDATE,   /* UPDATE ... SET every column WHERE key = old key */
	ST_DELETE,   /* DELETE ... WHERE key = old key */
	ST_CLEAR,    /* DELETE the old key if a row has the new one */
	ST_TRUNCATE, /* DELETE FROM t */
	ST_COUNT
};

typedef struct apply_col {
	char *name;
	ferry_sqltype_kind kind; /* as planned: another kind is another table */
	int pk_position;
	ferry_type want;         /* the value type the column takes */
} apply_col;

struct apply_table {
	char *name;
	apply_col *cols;
	uint32_t ncols;
	uint32_t *key;   /* the primary key's columns in key order, or every
	                    column of a table without one */
	uint32_t nkey;
	bool keyless;
	const char *rowid; /* keyless: a name of the rowid no column hides */
	sqlite3_stmt *st[ST_COUNT];
	/* the last partial update (an after-image with absent values): its
	 * statement and the columns it sets */
	sqlite3_stmt *partial;
	uint32_t *partial_cols;
	uint32_t npartial;
};

/* Parameters of a statement: a run of columns of one image. */
typedef struct group {
	const uint32_t *cols; /* NULL: every column */
	uint32_t n;
	int image;            /* 0: after (the new values), 1: old key row */
} group;

static void free_apply_table(apply_table *at)
{
	if (!at)
		return;
	for (int k = 0; k < ST_COUNT; k++)
		sqlite3_finalize(at->st[k]);
	sqlite3_finalize(at->partial);
	ferry_free(at->partial_cols);
	for (uint32_t i = 0; at->cols && i < at->ncols; i++)
		ferry_free(at->cols[i].name);
	ferry_free(at->cols);
	ferry_free(at->key);
	ferry_free(at->name);
	ferry_free(at);
}

static void free_apply_tables(ferry_target *t)
{
	for (uint32_t i = 0; i < t->ntabs; i++)
		free_apply_table(t->tabs[i]);
	ferry_free(t->tabs);
	t->tabs = NULL;
	t->ntabs = t->tabs_cap = 0;
	t->last = NULL;
}

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

/* SQLite lets a column called rowid, _rowid_ or oid hide the rowid
 * under that name: the first free one, or NULL. */
static const char *free_rowid_name(const ferry_table *table)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};
	for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
		uint32_t i = 0;
		while (i < table->ncolumns &&
		       sqlite3_stricmp(table->columns[i].name, names[n]) != 0)
			i++;
		if (i == table->ncolumns)
			return names[n];
	}
	return NULL;
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
	at->rowid = at->keyless ? free_rowid_name(table) : NULL;
	for (uint32_t k = 0; k < at->nkey; k++)
		at->key[k] = at->keyless ? k : UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const ferry_column *c = &table->columns[i];
		apply_col *ac = &at->cols[i];
		if (!(ac->name = ferry_strdup(c->name)))
			return ferry_error_oom(err);
		ac->kind = c->type.kind;
		ac->pk_position = c->pk_position;
		ac->want = ferry_sqltype_value_type(&c->type);
		if (c->pk_position > 0 && (uint32_t)c->pk_position <= npk)
			at->key[c->pk_position - 1] = i;
	}
	for (uint32_t k = 0; k < at->nkey; k++)
		if (at->key[k] == UINT32_MAX)
			return ferry_error_set(err, FERRY_EINVAL,
			                       "could not apply changes to table "
			                       "\"%s\": its primary key positions "
			                       "are not 1..%u", table->name, npk);
	if (at->keyless && !at->rowid)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not apply changes to table \"%s\": "
		                       "it has no primary key and its columns hide "
		                       "the rowid", table->name);
	return 0;
}

/* The statements of table: cached on the connection, made anew when the
 * definition changed (a schema change). */
static int find_apply_table(ferry_target *t, const ferry_table *table,
                            apply_table **out, ferry_error *err)
{
	if (t->last && same_definition(t->last, table)) {
		*out = t->last;
		return 0;
	}
	uint32_t i = 0;
	while (i < t->ntabs && strcmp(t->tabs[i]->name, table->name) != 0)
		i++;
	if (i < t->ntabs && same_definition(t->tabs[i], table)) {
		*out = t->last = t->tabs[i];
		return 0;
	}
	if (i == t->ntabs && t->ntabs == t->tabs_cap) {
		uint32_t cap = t->tabs_cap ? 2 * t->tabs_cap : 8;
		apply_table **tabs = ferry_realloc(t->tabs, cap * sizeof *tabs);
		if (!tabs)
			return ferry_error_oom(err);
		t->tabs = tabs;
		t->tabs_cap = cap;
	}
	apply_table *at = ferry_calloc(1, sizeof *at);
	int rc = at ? copy_definition(at, table, err) : ferry_error_oom(err);
	if (rc < 0) {
		free_apply_table(at);
		return rc;
	}
	if (i < t->ntabs)
		free_apply_table(t->tabs[i]); /* the old definition's */
	else
		t->ntabs++;
	t->tabs[i] = *out = t->last = at;
	return 0;
}

/* "a" IS ?1 AND "b" IS ?2, or for a table without a key its rowid: one
 * of the rows equal in every column, as rows that are equal cannot be
 * told apart.  IS, not =: a SQLite primary key that is not an INTEGER
 * PRIMARY KEY can hold NULL (a legacy SQLite keeps), and such a row must
 * be found too; IS uses the key's index as = does. */
static void put_key_match(ferry_buf *sql, const apply_table *at, uint32_t first)
{
	if (at->keyless) {
		ferry_buf_printf(sql, "%s = (SELECT %s FROM ", at->rowid, at->rowid);
		ferry_buf_put_ident(sql, at->name);
		ferry_buf_puts(sql, " WHERE ");
	}
	for (uint32_t k = 0; k < at->nkey; k++) {
		if (k)
			ferry_buf_puts(sql, " AND ");
		ferry_buf_put_ident(sql, at->cols[at->key[k]].name);
		ferry_buf_printf(sql, " IS ?%u", first + k);
	}
	if (at->keyless)
		ferry_buf_puts(sql, " LIMIT 1)");
}

/* INSERT INTO "t" ("a", ...) VALUES (?1, ...), and for an upsert
 * ON CONFLICT (key) DO UPDATE SET the other columns (DO NOTHING when
 * every column is in the key).  Not INSERT OR REPLACE: that deletes the
 * old row, which fires ON DELETE actions. */
static void put_insert(ferry_buf *sql, const apply_table *at, bool upsert)
{
	ferry_buf_puts(sql, "INSERT INTO ");
	ferry_buf_put_ident(sql, at->name);
	ferry_buf_puts(sql, " (");
	for (uint32_t i = 0; i < at->ncols; i++) {
		if (i)
			ferry_buf_puts(sql, ", ");
		ferry_buf_put_ident(sql, at->cols[i].name);
	}
	for (uint32_t i = 0; i < at->ncols; i++)
		ferry_buf_printf(sql, "%s?%u", i ? ", " : ") VALUES (", i + 1);
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
		ferry_buf_puts(sql, " = excluded.");
		ferry_buf_put_ident(sql, at->cols[i].name);
		sep = ", ";
	}
	if (*sep != ',')
		ferry_buf_puts(sql, " DO NOTHING");
}

/* UPDATE "t" SET "a" = ?1, ... WHERE <key>: the n columns of cols, or
 * (cols NULL) every column. */
static void put_update(ferry_buf *sql, const apply_table *at,
                       const uint32_t *cols, uint32_t n)
{
	ferry_buf_puts(sql, "UPDATE ");
	ferry_buf_put_ident(sql, at->name);
	for (uint32_t k = 0; k < n; k++) {
		ferry_buf_puts(sql, k ? ", " : " SET ");
		ferry_buf_put_ident(sql, at->cols[cols ? cols[k] : k].name);
		ferry_buf_printf(sql, " = ?%u", k + 1);
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
	default: /* ST_DELETE, ST_CLEAR, ST_TRUNCATE */
		ferry_buf_puts(sql, "DELETE FROM ");
		ferry_buf_put_ident(sql, at->name);
		if (kind == ST_TRUNCATE)
			return;
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

static const char *stmt_what(int kind)
{
	static const char *const what[ST_COUNT] = {
		"insert into", "upsert into", "update of", "delete from",
		"key move in", "truncate of"};
	return what[kind];
}

/* Statement kind of at, prepared on first use. */
static int get_stmt(ferry_target *t, apply_table *at, int kind,
                    sqlite3_stmt **out, ferry_error *err)
{
	if (at->st[kind]) {
		*out = at->st[kind];
		return 0;
	}
	ferry_buf sql = FERRY_BUF_INIT;
	stmt_sql(&sql, at, kind);
	const char *text = ferry_buf_cstr(&sql);
	int rc = 0;
	if (!text)
		rc = ferry_error_oom(err);
	else if (sqlite3_prepare_v3(t->db, text, (int)sql.len,
	                            SQLITE_PREPARE_PERSISTENT, &at->st[kind],
	                            NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not prepare the %s table \"%s\"",
		             stmt_what(kind), at->name);
	ferry_buf_free(&sql);
	*out = at->st[kind];
	return rc;
}

/* The parameter groups of statement kind, in ?n order. */
static int stmt_groups(const apply_table *at, int kind, group g[2])
{
	group all = {NULL, at->ncols, 0};
	group old = {at->key, at->nkey, 1};
	group new_key = {at->key, at->nkey, 0};
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
	case ST_CLEAR:
		g[0] = old;
		g[1] = new_key;
		return 2;
	default:
		return 0;
	}
}

/* "id=5, b='x'": the key of row, for a message. */
static void put_key_text(ferry_buf *b, const apply_table *at,
                         const ferry_row *row)
{
	ferry_buf_printf(b, " %s (", at->keyless ? "row" : "key");
	for (uint32_t k = 0; k < at->nkey; k++) {
		if (k)
			ferry_buf_puts(b, ", ");
		ferry_buf_puts(b, at->cols[at->key[k]].name);
		ferry_buf_putc(b, '=');
		ferry_value_format(&row->values[at->key[k]], b, 40);
	}
	ferry_buf_putc(b, ')');
}

/* A value not of its column's type (or a NaN, which SQLite would store
 * as NULL) is the caller's bug, as in copy_row. */
static int bad_param(const apply_table *at, ferry_op op, const apply_col *c,
                     const ferry_value *v, ferry_error *err)
{
	if (v->type == c->want)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not apply %s to table \"%s\": column "
		                       "\"%s\" cannot store NaN", ferry_op_name(op),
		                       at->name, c->name);
	return ferry_error_set(err, FERRY_EINVAL,
	                       "could not apply %s to table \"%s\": column \"%s\" "
	                       "takes %s values, not %s", ferry_op_name(op),
	                       at->name, c->name, ferry_type_name(c->want),
	                       ferry_type_name(v->type));
}

/* Binds the parameters of groups g from after (new values) and old (the
 * row whose key finds the row to change). */
static int bind_groups(ferry_target *t, const apply_table *at,
                       sqlite3_stmt *st, const group *g, int ng, ferry_op op,
                       const ferry_row *after, const ferry_row *old,
                       ferry_error *err)
{
	int p = 1;
	for (int i = 0; i < ng; i++) {
		const ferry_row *row = g[i].image ? old : after;
		for (uint32_t k = 0; k < g[i].n; k++, p++) {
			uint32_t col = g[i].cols ? g[i].cols[k] : k;
			const apply_col *c = &at->cols[col];
			const ferry_value *v = &row->values[col];
			if ((v->type != FERRY_NULL && v->type != c->want) ||
			    (v->type == FERRY_FLOAT && isnan(v->u.f)))
				return bad_param(at, op, c, v, err);
			if (bind_plain(st, p, v, &t->text, SQLITE_TRANSIENT) !=
			    SQLITE_OK)
				return db_fail(err, t->db, "could not apply %s to table "
				               "\"%s\": column \"%s\"", ferry_op_name(op),
				               at->name, c->name);
		}
	}
	return 0;
}

/* Binds every parameter of statement kind. */
static int bind_params(ferry_target *t, const apply_table *at,
                       sqlite3_stmt *st, int kind, ferry_op op,
                       const ferry_row *after, const ferry_row *old,
                       ferry_error *err)
{
	group g[2];
	int ng = stmt_groups(at, kind, g);
	return bind_groups(t, at, st, g, ng, op, after, old, err);
}

/* "could not apply update to table "t" key (id=5): <cause>", or for a
 * strict change that did not affect exactly one row, "update of "t" key
 * (id=5) matched 0 rows: the target has diverged". */
static int change_failed(ferry_target *t, const apply_table *at,
                         ferry_op op, const ferry_row *old, int64_t rows,
                         ferry_error *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	if (rows < 0)
		ferry_buf_printf(&b, "could not apply %s to table \"%s\"",
		                 ferry_op_name(op), at->name);
	else
		ferry_buf_printf(&b, "%s of \"%s\"", ferry_op_name(op), at->name);
	if (old)
		put_key_text(&b, at, old);
	if (rows < 0)
		ferry_buf_printf(&b, ": %s", sqlite3_errmsg(t->db));
	else
		ferry_buf_printf(&b, " matched %lld rows: the target has diverged",
		                 (long long)rows);
	const char *msg = ferry_buf_cstr(&b);
	int rc = msg ? ferry_error_set(err, FERRY_ERROR, "%s", msg)
	             : ferry_error_oom(err);
	ferry_buf_free(&b);
	return rc;
}

/* Steps st, bound for one change; one: exactly one row must be
 * affected. */
static int step_change(ferry_target *t, const apply_table *at,
                       sqlite3_stmt *st, ferry_op op, const ferry_row *old,
                       bool one, ferry_error *err)
{
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = change_failed(t, at, op, old, -1, err);
	else if (one && sqlite3_changes(t->db) != 1)
		rc = change_failed(t, at, op, old, sqlite3_changes(t->db), err);
	return rc;
}

/* Runs statement kind for one change; one: exactly one row must be
 * affected. */
static int run_change(ferry_target *t, apply_table *at, int kind,
                      ferry_op op, const ferry_row *after,
                      const ferry_row *old, bool one, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = get_stmt(t, at, kind, &st, err);
	if (rc == 0)
		rc = bind_params(t, at, st, kind, op, after, old, err);
	if (rc == 0)
		rc = step_change(t, at, st, op, old, one, err);
	if (st)
		sqlite3_reset(st);
	return rc;
}

/* The partial update's statement for the columns after has (the source
 * sent): the last one is kept, as successive updates tend to leave the
 * same large value unchanged. */
static int partial_stmt(ferry_target *t, apply_table *at,
                        const ferry_row *after, ferry_error *err)
{
	uint32_t n = 0;
	bool same = at->partial != NULL;
	for (uint32_t i = 0; i < at->ncols; i++)
		if (after->values[i].type != FERRY_ABSENT) {
			same = same && n < at->npartial && at->partial_cols[n] == i;
			n++;
		}
	if (same && n == at->npartial)
		return 0;
	sqlite3_finalize(at->partial);
	at->partial = NULL;
	if (!at->partial_cols &&
	    !(at->partial_cols = ferry_calloc(at->ncols, sizeof *at->partial_cols)))
		return ferry_error_oom(err);
	at->npartial = 0;
	for (uint32_t i = 0; i < at->ncols; i++)
		if (after->values[i].type != FERRY_ABSENT)
			at->partial_cols[at->npartial++] = i;
	ferry_buf sql = FERRY_BUF_INIT;
	put_update(&sql, at, at->partial_cols, at->npartial);
	const char *text = ferry_buf_cstr(&sql);
	int rc = 0;
	if (!text)
		rc = ferry_error_oom(err);
	else if (sqlite3_prepare_v2(t->db, text, (int)sql.len, &at->partial,
	                            NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not prepare the update of table "
		             "\"%s\"", at->name);
	ferry_buf_free(&sql);
	return rc;
}

/* A strict update whose after-image lacks values the source did not
 * send: only the columns it has are set, the others keep theirs. */
static int partial_update(ferry_target *t, apply_table *at,
                          const ferry_row *before, const ferry_row *after,
                          ferry_error *err)
{
	const ferry_row *old = before ? before : after;
	int rc = partial_stmt(t, at, after, err);
	group g[2] = {{at->partial_cols, at->npartial, 0},
	              {at->key, at->nkey, 1}};
	if (rc == 0)
		rc = bind_groups(t, at, at->partial, g, 2, FERRY_OP_UPDATE, after,
		                 old, err);
	if (rc == 0)
		rc = step_change(t, at, at->partial, FERRY_OP_UPDATE, old, true,
		                 err);
	if (at->partial)
		sqlite3_reset(at->partial);
	return rc;
}

/* Whether row's key holds a NULL: ON CONFLICT never sees such a row
 * (NULLs are distinct in a unique index). */
static bool key_has_null(const apply_table *at, const ferry_row *row)
{
	for (uint32_t k = 0; k < at->nkey; k++)
		if (row->values[at->key[k]].type == FERRY_NULL)
			return true;
	return false;
}

/* Insert or overwrite the row with after's key.  A key with a NULL in
 * it is matched with IS by an update, and inserted when none matched. */
static int upsert(ferry_target *t, apply_table *at, ferry_op op,
                  const ferry_row *after, ferry_error *err)
{
	if (!key_has_null(at, after))
		return run_change(t, at, ST_UPSERT, op, after, NULL, false, err);
	int rc = run_change(t, at, ST_UPDATE, op, after, after, false, err);
	if (rc == 0 && sqlite3_changes(t->db) == 0)
		rc = run_change(t, at, ST_INSERT, op, after, NULL, true, err);
	return rc;
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

/* An idempotent update: the after-image is upserted; a changed key
 * first moves the row still at the old key, after deleting it if the
 * new key already has a row (the snapshot had both). */
static int apply_update(ferry_target *t, apply_table *at,
                        const ferry_row *before, const ferry_row *after,
                        bool idempotent, ferry_error *err)
{
	if (!idempotent && ferry_row_has_absent(after))
		return partial_update(t, at, before, after, err);
	if (!idempotent)
		return run_change(t, at, ST_UPDATE, FERRY_OP_UPDATE, after,
		                  before ? before : after, true, err);
	int rc = 0;
	if (before && !same_key(at, before, after)) {
		rc = run_change(t, at, ST_CLEAR, FERRY_OP_UPDATE, after, before,
		                false, err);
		if (rc == 0)
			rc = run_change(t, at, ST_UPDATE, FERRY_OP_UPDATE, after,
			                before, false, err);
	}
	if (rc == 0)
		rc = upsert(t, at, FERRY_OP_UPDATE, after, err);
	return rc;
}

static int run_op(ferry_target *t, apply_table *at, ferry_op op,
                  const ferry_row *before, const ferry_row *after,
                  bool idempotent, ferry_error *err)
{
	if (idempotent && at->keyless && op != FERRY_OP_TRUNCATE)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
		                       "could not apply %s to table \"%s\" "
		                       "idempotently: it has no primary key to "
		                       "match rows by", ferry_op_name(op), at->name);
	switch (op) {
	case FERRY_OP_INSERT:
		if (idempotent)
			return upsert(t, at, op, after, err);
		return run_change(t, at, ST_INSERT, op, after, NULL, true, err);
	case FERRY_OP_UPDATE:
		return apply_update(t, at, before, after, idempotent, err);
	case FERRY_OP_DELETE:
		return run_change(t, at, ST_DELETE, op, NULL, before, !idempotent,
		                  err);
	default:
		return run_change(t, at, ST_TRUNCATE, op, NULL, NULL, false, err);
	}
}

static const char checkpoint_table_sql[] =
    "CREATE TABLE IF NOT EXISTS _ferry_checkpoint (migration TEXT PRIMARY "
    "KEY, lsn INTEGER NOT NULL, updated TEXT NOT NULL)";

/* target.h.  IMMEDIATE takes the write lock now (waiting out another
 * writer) rather than failing busy at the first change. */
static int apply_begin(ferry_target *t, ferry_error *err)
{
	if (t->applying || t->table)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not begin a batch: %s is open",
		                       t->applying ? "another batch" : "a copy");
	if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(err, t->db, "could not begin a batch");
	if (sqlite3_exec(t->db, checkpoint_table_sql, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		int rc = db_fail(err, t->db, "could not create table "
		                 "\"_ferry_checkpoint\"");
		rollback(t);
		return rc;
	}
	t->applying = true;
	t->apply_failed = false;
	return 0;
}

static int apply_change(ferry_target *t, const ferry_table *table,
                        ferry_op op, const ferry_row *before,
                        const ferry_row *after, bool idempotent,
                        ferry_error *err)
{
	if (!t->applying || t->apply_failed)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not apply a change to table \"%s\": "
		                       "%s", table->name,
		                       t->applying ? "the batch has failed"
		                                   : "no batch is open");
	apply_table *at = NULL;
	int rc = ferry_target_check_images(table, op, before, after,
	                                   idempotent, err);
	if (rc == 0)
		rc = find_apply_table(t, table, &at, err);
	if (rc == 0)
		rc = run_op(t, at, op, before, after, idempotent, err);
	t->apply_failed = rc < 0;
	return rc;
}

static void apply_abort(ferry_target *t)
{
	if (!t || !t->applying)
		return;
	for (uint32_t i = 0; i < t->ntabs; i++) /* none may stay active */
		for (int k = 0; k < ST_COUNT; k++)
			if (t->tabs[i]->st[k])
				sqlite3_reset(t->tabs[i]->st[k]);
	rollback(t);
	t->applying = false;
	t->apply_failed = false;
}

static int check_migration(const char *migration, uint64_t lsn,
                           ferry_error *err)
{
	if (!migration || !*migration)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use a checkpoint: the migration "
		                       "has no name");
	if (lsn > INT64_MAX)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not write the checkpoint of migration "
		                       "\"%s\": lsn %llu is above the largest integer",
		                       migration, (unsigned long long)lsn);
	return 0;
}

/* Upserts the checkpoint; it never moves back (two replayers of one
 * migration would otherwise both commit). */
static int write_checkpoint(ferry_target *t, const char *migration,
                            uint64_t lsn, ferry_error *err)
{
	static const char sql[] =
	    "INSERT INTO _ferry_checkpoint AS c (migration, lsn, updated) "
	    "VALUES (?1, ?2, strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00') "
	    "ON CONFLICT (migration) DO UPDATE SET lsn = excluded.lsn, "
	    "updated = excluded.updated WHERE c.lsn <= excluded.lsn";
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(t->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, migration, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (int64_t)lsn);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		rc = db_fail(err, t->db, "could not write the checkpoint of "
		             "migration \"%s\"", migration);
	else if (sqlite3_changes(t->db) != 1)
		rc = ferry_error_set(err, FERRY_ERROR,
		                     "checkpoint of migration \"%s\" would go back "
		                     "to %llu: another replayer has passed it",
		                     migration, (unsigned long long)lsn);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

static int apply_commit(ferry_target *t, const char *migration, uint64_t lsn,
                        ferry_error *err)
{
	if (!t->applying || t->apply_failed) {
		bool failed = t->applying;
		apply_abort(t);
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not commit the batch: %s",
		                       failed ? "a change failed"
		                              : "no batch is open");
	}
	int rc = check_migration(migration, lsn, err);
	if (rc == 0)
		rc = write_checkpoint(t, migration, lsn, err);
	if (rc == 0 && sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not commit the batch");
	if (rc < 0)
		apply_abort(t);
	t->applying = false;
	return rc;
}

/* target.h: the chunk's rows and its checkpoint in one commit. */
static int copy_end_checkpoint(ferry_target *t, int64_t *rows,
                               const char *migration, uint64_t lsn,
                               ferry_error *err)
{
	assert(t->table && "copy_end_checkpoint outside a copy");
	int rc = check_migration(migration, lsn, err);
	if (rc == 0 && sqlite3_exec(t->db, checkpoint_table_sql, NULL, NULL,
	                            NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not create table "
		             "\"_ferry_checkpoint\"");
	if (rc == 0)
		rc = write_checkpoint(t, migration, lsn, err);
	if (rc < 0) {
		copy_abort(t);
		return rc;
	}
	return copy_end(t, rows, err);
}

static int refuse_in_batch(const ferry_target *t, const char *migration,
                           ferry_error *err)
{
	if (t->applying || t->table)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use the checkpoint of migration "
		                       "\"%s\": %s is open", migration ? migration : "",
		                       t->applying ? "a batch" : "a copy");
	return check_migration(migration, 0, err);
}

static int checkpoint_get(ferry_target *t, const char *migration,
                          uint64_t *lsn, ferry_error *err)
{
	*lsn = 0;
	int rc = refuse_in_batch(t, migration, err);
	if (rc == 0)
		rc = table_exists(t, "_ferry_checkpoint", err);
	if (rc <= 0)
		return rc;
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(t->db, "SELECT lsn FROM _ferry_checkpoint "
	                        "WHERE migration = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, migration, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*lsn = (uint64_t)sqlite3_column_int64(st, 0);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_fail(err, t->db, "could not read the checkpoint of "
		             "migration \"%s\"", migration);
	sqlite3_finalize(st);
	return rc;
}

/* Deletes the row, and the table once it is empty, in one write
 * transaction: no other migration's checkpoint arrives in between. */
/* SQLite has no replication origins: ferry's connection runs no
 * triggers instead, so capture triggers do not record ferry's writes
 * and a cutover's fence triggers do not refuse them. */
static int mark_origin(ferry_target *t, const char *origin, ferry_error *err)
{
	int enabled = 1;
	if (t->applying || t->table)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not mark ferry's writes as \"%s\": "
		                       "a batch or copy is open", origin);
	if (sqlite3_db_config(t->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0,
	                      &enabled) != SQLITE_OK || enabled != 0)
		return db_fail(err, t->db, "could not turn triggers off for "
		               "ferry's writes (\"%s\")", origin);
	return 0;
}

static int checkpoint_drop(ferry_target *t, const char *migration,
                           ferry_error *err)
{
	int rc = refuse_in_batch(t, migration, err);
	if (rc < 0)
		return rc;
	if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(err, t->db, "could not drop the checkpoint of "
		               "migration \"%s\"", migration);
	rc = table_exists(t, "_ferry_checkpoint", err);
	bool exists = rc > 0;
	if (exists)
		rc = yields_row(t, "DELETE FROM _ferry_checkpoint WHERE "
		                "migration = ?1 OR substr(migration, 1, "
		                "length(?1) + 1) = ?1 || '/'", migration, NULL,
		                "drop the "
		                "checkpoint of migration", migration, err);
	if (exists && rc == 0) /* 1: another migration's row is left */
		rc = yields_row(t, "SELECT 1 FROM _ferry_checkpoint LIMIT 1", NULL,
		                NULL, "drop the checkpoint of migration", migration,
		                err);
	if (exists && rc == 0 &&
	    sqlite3_exec(t->db, "DROP TABLE _ferry_checkpoint", NULL, NULL,
	                 NULL) != SQLITE_OK)
		rc = db_fail(err, t->db, "could not drop the checkpoint of "
		             "migration \"%s\"", migration);
	if (rc >= 0 && sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) !=
	                   SQLITE_OK)
		rc = db_fail(err, t->db, "could not drop the checkpoint of "
		             "migration \"%s\"", migration);
	if (rc < 0)
		rollback(t);
	return rc < 0 ? rc : 0;
}

const ferry_target_ops ferry_sqlite_target_ops = {
	.name = "sqlite",
	.open = open_target,
	.check_table = check_table,
	.prepare_table = prepare_table,
	.copy_begin = copy_begin,
	.copy_row = copy_row,
	.copy_end = copy_end,
	.copy_end_checkpoint = copy_end_checkpoint,
	.copy_abort = copy_abort,
	.finish_table = finish_table,
	.add_foreign_keys = add_foreign_keys,
	.apply_begin = apply_begin,
	.apply_change = apply_change,
	.apply_commit = apply_commit,
	.apply_abort = apply_abort,
	.checkpoint_get = checkpoint_get,
	.checkpoint_drop = checkpoint_drop,
	.mark_origin = mark_origin,
	.close = close_target,
};
