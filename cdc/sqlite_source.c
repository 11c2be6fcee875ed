/*
 * cdc/sqlite_source.c - reads a SQLite database file: its tables as the
 * schema model (engine/schema.h) and their rows, each value in its exact
 * storage class (engine/source.h).
 *
 * A connection begins one read transaction at open and holds it until
 * close, so every introspect and scan on it sees the same snapshot
 * whatever other processes write meanwhile.  Catalog questions go
 * through the pragma table-valued functions with names bound as
 * parameters, so they need no quoting; row queries quote every
 * identifier.  docs/type-map.md has the type map and the rules below.
 * Introspection and scans also run on cdc/sqlite_capture.c's connection
 * (sqlite_source.h), inside the transaction of its snapshot.
 */
#include "cdc/sqlite_source.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/alloc.h"
#include "engine/sqlite_value.h"
#include "engine/buf.h"

/* How long a statement waits for a writer's lock before failing. */
#define BUSY_TIMEOUT_MS 10000

/* PostgreSQL's longest identifier (NAMEDATALEN - 1), in bytes. */
#define PG_NAME_MAX 63

/* PostgreSQL's largest varchar(n) and numeric(p) modifiers. */
#define PG_VARCHAR_MAX 10485760
#define PG_NUMERIC_MAX 1000

struct ferry_source {
	sqlite3 *db;
	char *uri; /* redacted, for messages */
};

struct ferry_scan {
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char *table; /* for messages */
	uint32_t ncols;
	bool done;   /* sqlite3_step would start over after SQLITE_DONE */
};

/*
 * Sets err to "<what> \"<name>\": <SQLite's message>".  SQLite running
 * out of memory maps to FERRY_ENOMEM so a caller can tell it from a
 * broken file.  Must run before anything else touches db.
 */
static int db_fail(sqlite3 *db, ferry_error *err, const char *what,
                   const char *name)
{
	int code = sqlite3_errcode(db) == SQLITE_NOMEM ? FERRY_ENOMEM
	                                               : FERRY_ERROR;
	return ferry_error_set(err, code, "%s \"%s\": %s", what, name,
	                       sqlite3_errmsg(db));
}

/* ---- SQL text --------------------------------------------------- */

/*
 * Returns the next token of sql at or after p and its length, or NULL at
 * the end.  White space and comments are skipped; a quoted string or
 * identifier is one token, so a keyword inside quotes is never taken for
 * one outside.
 */
static const char *next_token(const char *p, size_t *len)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			p = end ? end + 2 : p + strlen(p);
		} else {
			break;
		}
	}
	if (*p == '\0')
		return NULL;
	const char *q = p + 1;
	char close = *p == '[' ? ']' : *p;
	if (close == '\'' || close == '"' || close == '`' || close == ']') {
		/* a doubled quote is one quote character; [names] have none */
		while (*q) {
			if (*q++ != close)
				continue;
			if (close == ']' || *q != close)
				break;
			q++;
		}
	} else if (isalnum((unsigned char)*p) || *p == '_' ||
	           (unsigned char)*p >= 0x80) {
		while (isalnum((unsigned char)*q) || *q == '_' || *q == '$' ||
		       (unsigned char)*q >= 0x80)
			q++;
	}
	*len = (size_t)(q - p);
	return p;
}

static bool is_word(const char *tok, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(tok, word, len) == 0;
}

/*
 * Finds the predicate of a partial index: the text after the WHERE that
 * stands outside every parenthesis of "CREATE INDEX ... ON t(...) WHERE
 * ...".  SQLite stores the statement without its semicolon.
 */
static const char *index_predicate(const char *sql, size_t *len)
{
	int depth = 0;
	size_t n;
	for (const char *p = next_token(sql, &n); p;
	     p = next_token(p + n, &n)) {
		if (n == 1 && *p == '(') {
			depth++;
		} else if (n == 1 && *p == ')') {
			depth--;
		} else if (depth == 0 && is_word(p, n, "WHERE")) {
			const char *pred = p + n + strspn(p + n, " \t\n\r\f\v");
			size_t end = strlen(pred);
			while (end > 0 && strchr(" \t\n\r\f\v;", pred[end - 1]))
				end--;
			*len = end;
			return end ? pred : NULL;
		}
	}
	return NULL;
}

/* Whether a CREATE TABLE statement ends in WITHOUT ROWID: the fallback
 * for SQLite before 3.37, which lacks PRAGMA table_list. */
static bool sql_without_rowid(const char *sql)
{
	int depth = 0;
	bool after_without = false;
	size_t n;
	for (const char *p = next_token(sql, &n); p;
	     p = next_token(p + n, &n)) {
		if (n == 1 && *p == '(')
			depth++;
		else if (n == 1 && *p == ')')
			depth--;
		else if (depth == 0 && after_without && is_word(p, n, "ROWID"))
			return true;
		after_without = depth == 0 && is_word(p, n, "WITHOUT");
	}
	return false;
}

/* ---- types ------------------------------------------------------ */

/* Whether decl contains part, ignoring case: SQLite's affinity test. */
static bool has(const char *decl, const char *part)
{
	size_t n = strlen(part);
	for (const char *p = decl; *p; p++)
		if (strncasecmp(p, part, n) == 0)
			return true;
	return false;
}

/* Parses "(a)" or "(a, b)" at p (just past the "("); sets *end past the
 * ")".  Returns the number of modifiers, or -1 if they are not that. */
static int parse_mods(const char *p, long mod[2], const char **end)
{
	for (int count = 0; count < 2;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		char *after;
		errno = 0;
		mod[count++] = strtol(p, &after, 10);
		if (errno || mod[count - 1] > INT32_MAX)
			return -1;
		for (p = after; isspace((unsigned char)*p); p++)
			;
		if (*p == ')') {
			*end = p + 1;
			return count;
		}
		if (*p++ != ',')
			return -1;
	}
	return -1;
}

/*
 * Splits a declared type into its words outside the parentheses,
 * upper-cased with white space folded to single spaces ("TIMESTAMP(3)
 * with  time zone" -> "TIMESTAMP WITH TIME ZONE"), and the modifiers in
 * the parentheses.  Returns their number (0..2), or -1 when they are not
 * one or two numbers.  name is "" when it does not fit.
 */
static int split_type(const char *decl, char *name, size_t cap, long mod[2])
{
	size_t n = 0;
	int nmods = 0;
	bool seen_mods = false;
	for (const char *p = decl; *p && nmods >= 0;) {
		if (*p == '(') {
			nmods = seen_mods ? -1 : parse_mods(p + 1, mod, &p);
			seen_mods = true;
			continue;
		}
		if (isspace((unsigned char)*p)) {
			p++;
			if (n > 0 && name[n - 1] != ' ')
				name[n++] = ' ';
		} else {
			name[n++] = (char)toupper((unsigned char)*p++);
		}
		if (n + 1 >= cap) {
			name[0] = '\0';
			return nmods;
		}
	}
	if (n > 0 && name[n - 1] == ' ')
		n--;
	name[n] = '\0';
	return nmods;
}

/* Declared type names that map to one PostgreSQL type whatever their
 * affinity says.  VARCHAR and NUMERIC entries need valid modifiers. */
static const struct {
	const char *name;
	ferry_sqltype_kind kind;
} named_types[] = {
	{"BOOL", FERRY_SQL_BOOLEAN},
	{"BOOLEAN", FERRY_SQL_BOOLEAN},
	{"DATE", FERRY_SQL_DATE},
	{"DATETIME", FERRY_SQL_TIMESTAMP},
	{"TIMESTAMP", FERRY_SQL_TIMESTAMP},
	{"TIMESTAMP WITHOUT TIME ZONE", FERRY_SQL_TIMESTAMP},
	{"TIMESTAMPTZ", FERRY_SQL_TIMESTAMPTZ},
	{"TIMESTAMP WITH TIME ZONE", FERRY_SQL_TIMESTAMPTZ},
	{"UUID", FERRY_SQL_UUID},
	{"JSON", FERRY_SQL_JSONB},
	{"JSONB", FERRY_SQL_JSONB},
	{"VARCHAR", FERRY_SQL_VARCHAR},
	{"CHARACTER VARYING", FERRY_SQL_VARCHAR},
	{"VARYING CHARACTER", FERRY_SQL_VARCHAR},
	{"NVARCHAR", FERRY_SQL_VARCHAR},
	{"CHAR", FERRY_SQL_VARCHAR},
	{"CHARACTER", FERRY_SQL_VARCHAR},
	{"NCHAR", FERRY_SQL_VARCHAR},
	{"NATIVE CHARACTER", FERRY_SQL_VARCHAR},
	{"NUMERIC", FERRY_SQL_NUMERIC},
	{"DECIMAL", FERRY_SQL_NUMERIC},
};

/*
 * The PostgreSQL type for a SQLite declared type (docs/type-map.md):
 * first the names above, then SQLite's own affinity rules in their
 * order.  CHAR(n) becomes varchar(n): SQLite never pads, and char(n)
 * would pad every shorter value on the target.
 */
static ferry_sqltype map_type(const char *decl)
{
	ferry_sqltype t = {FERRY_SQL_TEXT, -1, -1, -1};
	char name[40];
	long mod[2] = {0, 0};
	int nmods = split_type(decl, name, sizeof name, mod);
	if (decl[strspn(decl, " \t\n\r\f\v")] == '\0')
		return t; /* no type: any storage class; text holds them all */
	for (size_t i = 0; i < sizeof named_types / sizeof *named_types; i++) {
		if (strcmp(named_types[i].name, name) != 0)
			continue;
		ferry_sqltype_kind kind = named_types[i].kind;
		long len = mod[0], scale = nmods == 2 ? mod[1] : 0;
		if (kind == FERRY_SQL_VARCHAR) {
			if (nmods == 1 && len >= 1 && len <= PG_VARCHAR_MAX) {
				t.kind = kind;
				t.length = (int32_t)len;
				return t;
			}
		} else if (kind == FERRY_SQL_NUMERIC) {
			if (nmods >= 1 && len >= 1 && len <= PG_NUMERIC_MAX &&
			    scale <= len) {
				t.kind = kind;
				t.precision = (int32_t)len;
				t.scale = (int32_t)scale;
				return t;
			}
		} else {
			t.kind = kind;
			return t;
		}
		break; /* bad modifiers: the affinity rules decide */
	}
	if (has(decl, "INT"))
		t.kind = FERRY_SQL_BIGINT;
	else if (has(decl, "CHAR") || has(decl, "CLOB") || has(decl, "TEXT"))
		t.kind = FERRY_SQL_TEXT;
	else if (has(decl, "BLOB"))
		t.kind = FERRY_SQL_BYTEA;
	else if (has(decl, "REAL") || has(decl, "FLOA") || has(decl, "DOUB"))
		t.kind = FERRY_SQL_DOUBLE;
	else
		t.kind = FERRY_SQL_NUMERIC;
	return t;
}

/* ---- catalog ---------------------------------------------------- */

/* The catalog queries, prepared once per introspect. */
typedef struct catalog {
	sqlite3 *db;
	sqlite3_stmt *columns;    /* table -> its columns */
	sqlite3_stmt *indexes;    /* table -> its indexes */
	sqlite3_stmt *index_cols; /* index -> its key columns */
	sqlite3_stmt *index_sql;  /* index -> its CREATE statement */
	sqlite3_stmt *fkeys;      /* table -> its foreign key columns */
	sqlite3_stmt *ref_table;  /* table name as written -> as created */
	sqlite3_stmt *ref_column; /* (table, column as written) -> as created */
	sqlite3_stmt *name_used;  /* name -> whether any object has it */
} catalog;

/*
 * sqlite_master is the spelling every SQLite version knows (sqlite_schema
 * needs 3.33).  Names are compared the way SQLite compares them, ASCII
 * case-insensitively, so "REFERENCES USERS" finds table "users".
 */
#define TABLE_FILTER                                                       \
	" WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'" \
	" AND substr(s.name, 1, 6) <> '_ferry' ORDER BY s.name"

static const char tables_sql[] =
    "SELECT s.name, s.sql, l.type, l.wr FROM sqlite_master AS s"
    " LEFT JOIN pragma_table_list(s.name) AS l ON l.schema = 'main'"
    TABLE_FILTER;
static const char tables_sql_old[] =
    "SELECT s.name, s.sql, NULL, NULL FROM sqlite_master AS s" TABLE_FILTER;

static int catalog_open(catalog *cat, sqlite3 *db, const char *uri,
                        ferry_error *err)
{
	const struct {
		sqlite3_stmt **stmt;
		const char *sql;
	} queries[] = {
		{&cat->columns,
		 "SELECT name, type, \"notnull\", dflt_value, pk, hidden"
		 " FROM pragma_table_xinfo(?1, 'main') ORDER BY cid"},
		{&cat->indexes,
		 "SELECT name, \"unique\", origin, partial"
		 " FROM pragma_index_list(?1, 'main') ORDER BY seq DESC"},
		{&cat->index_cols,
		 "SELECT cid, name FROM pragma_index_xinfo(?1, 'main')"
		 " WHERE key ORDER BY seqno"},
		{&cat->index_sql,
		 "SELECT sql FROM sqlite_master"
		 " WHERE type = 'index' AND name = ?1"},
		{&cat->fkeys,
		 "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete"
		 " FROM pragma_foreign_key_list(?1, 'main')"
		 " ORDER BY id DESC, seq"},
		{&cat->ref_table,
		 "SELECT name FROM sqlite_master"
		 " WHERE type = 'table' AND name = ?1 COLLATE NOCASE"},
		{&cat->ref_column,
		 "SELECT name FROM pragma_table_xinfo(?1, 'main')"
		 " WHERE name = ?2 COLLATE NOCASE"},
		{&cat->name_used,
		 "SELECT 1 FROM sqlite_master WHERE name = ?1 COLLATE NOCASE"},
	};
	memset(cat, 0, sizeof *cat);
	cat->db = db;
	for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
		if (sqlite3_prepare_v2(db, queries[i].sql, -1, queries[i].stmt,
		                       NULL) != SQLITE_OK)
			return db_fail(db, err, "could not read catalog of "
			               "SQLite database", uri);
	return 0;
}

static void catalog_close(catalog *cat)
{
	sqlite3_finalize(cat->columns);
	sqlite3_finalize(cat->indexes);
	sqlite3_finalize(cat->index_cols);
	sqlite3_finalize(cat->index_sql);
	sqlite3_finalize(cat->fkeys);
	sqlite3_finalize(cat->ref_table);
	sqlite3_finalize(cat->ref_column);
	sqlite3_finalize(cat->name_used);
}

/* Starts st over with its parameters bound to a1 and (if given) a2,
 * which must stay valid until st is bound again. */
static int bind_args(sqlite3_stmt *st, const char *a1, const char *a2)
{
	sqlite3_reset(st);
	int rc = sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && a2)
		rc = sqlite3_bind_text(st, 2, a2, -1, SQLITE_STATIC);
	return rc;
}

/* Copies column i into *out, NULL for an SQL NULL.  -1 when memory runs
 * out, here or inside SQLite. */
static int dup_column(sqlite3_stmt *st, int i, char **out)
{
	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	const char *s = (const char *)sqlite3_column_text(st, i);
	if (!s && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
		return -1;
	*out = ferry_strdup(s ? s : "");
	return *out ? 0 : -1;
}

/* Appends a copy of name (NULL stays NULL) as names[n]; the caller
 * counts it.  -1 when memory runs out. */
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

/* ---- columns ---------------------------------------------------- */

static int add_column(sqlite3_stmt *st, ferry_table *t)
{
	ferry_column *c = ferry_table_add_column(t);
	if (!c || dup_column(st, 0, &c->name) ||
	    dup_column(st, 1, &c->decl_type) ||
	    dup_column(st, 3, &c->default_sql))
		return -1;
	if (!c->name && !(c->name = ferry_strdup("")))
		return -1;
	if (!c->decl_type && !(c->decl_type = ferry_strdup("")))
		return -1;
	c->type = map_type(c->decl_type);
	c->not_null = sqlite3_column_int(st, 2) != 0;
	c->pk_position = sqlite3_column_int(st, 4);
	return 0;
}

static int read_columns(catalog *cat, ferry_table *t, ferry_error *err)
{
	sqlite3_stmt *st = cat->columns;
	int rc = bind_args(st, t->name, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		/* hidden 1 is a virtual table's hidden column; 2 and 3 are
		 * generated columns, which no INSERT can set on a target */
		if (sqlite3_column_int(st, 5) != 0)
			continue;
		if (add_column(st, t) != 0)
			return ferry_error_oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(cat->db, err, "could not read columns of table",
		               t->name);
	return 0;
}

/*
 * Marks the generated key: on a rowid table a one-column primary key
 * declared exactly INTEGER, and with no index of its own, is the rowid
 * itself.  SQLite gives any other key an index, even "INTEGER PRIMARY
 * KEY DESC", so the index decides.  AUTOINCREMENT is allowed only on
 * such a column, so this covers it too.
 */
static void mark_keys(ferry_table *t, bool pk_index)
{
	uint32_t npk = ferry_table_pk_count(t);
	t->rowid_key = npk == 0 && !t->without_rowid;
	if (t->without_rowid || npk != 1 || pk_index)
		return;
	for (uint32_t i = 0; i < t->ncolumns; i++)
		if (t->columns[i].pk_position == 1 &&
		    strcasecmp(t->columns[i].decl_type, "INTEGER") == 0)
			t->columns[i].autoincrement = true;
}

/* ---- indexes ---------------------------------------------------- */

static void free_index(ferry_index *ix)
{
	ferry_free(ix->name);
	free_names(ix->columns, ix->ncolumns);
	ferry_free(ix->where_sql);
	memset(ix, 0, sizeof *ix);
}

/* Reads the key columns of index name into ix.  Returns 1 when the index
 * cannot be carried: a key on an expression (cid -2), on the rowid (-1)
 * or on a column the table does not carry (a generated one). */
static int read_index_columns(catalog *cat, const ferry_table *t,
                              const char *name, ferry_index *ix,
                              ferry_error *err)
{
	sqlite3_stmt *st = cat->index_cols;
	int rc = bind_args(st, name, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		const char *col = (const char *)sqlite3_column_text(st, 1);
		if (sqlite3_column_int(st, 0) < 0 || !col ||
		    ferry_table_column_index(t, col) < 0)
			return 1;
		if (push_name(&ix->columns, ix->ncolumns, col) != 0)
			return ferry_error_oom(err);
		ix->ncolumns++;
	}
	if (rc != SQLITE_DONE)
		return db_fail(cat->db, err, "could not read columns of index",
		               name);
	return ix->ncolumns > 0 ? 0 : 1;
}

/* Reads a partial index's predicate.  Returns 1 when it cannot be found:
 * dropping it would make a unique index stricter than the source's. */
static int read_predicate(catalog *cat, const char *name, ferry_index *ix,
                          ferry_error *err)
{
	sqlite3_stmt *st = cat->index_sql;
	int rc = bind_args(st, name, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return db_fail(cat->db, err,
		               "could not read definition of index", name);
	const char *sql = (const char *)sqlite3_column_text(st, 0);
	size_t len = 0;
	const char *where = sql ? index_predicate(sql, &len) : NULL;
	if (!where)
		return 1;
	ix->where_sql = ferry_strndup(where, len);
	return ix->where_sql ? 0 : ferry_error_oom(err);
}

/* Whether an index or any SQLite object already has name, ignoring case:
 * 1 if so, 0 if not, or a negative code. */
static int name_taken(catalog *cat, const ferry_schema *s, const char *name,
                      ferry_error *err)
{
	for (uint32_t i = 0; i < s->ntables; i++)
		for (uint32_t j = 0; j < s->tables[i].nindexes; j++)
			if (strcasecmp(s->tables[i].indexes[j].name, name) == 0)
				return 1;
	int rc = bind_args(cat->name_used, name, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(cat->name_used);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return db_fail(cat->db, err, "could not look up name", name);
}

/* Bytes of s to keep so that it is at most max bytes long and does not
 * end inside a UTF-8 sequence. */
static size_t clip_utf8(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/*
 * Names an index SQLite named itself (sqlite_autoindex_t_1, reserved and
 * meaningless elsewhere) the way PostgreSQL names a unique constraint:
 * "<table>_<columns>_key", clipped to 63 bytes, numbered "_key1", ...
 * when the name is taken.
 */
static int constraint_name(catalog *cat, const ferry_schema *s,
                           const ferry_table *t, ferry_index *ix,
                           ferry_error *err)
{
	ferry_buf stem = FERRY_BUF_INIT;
	ferry_buf_puts(&stem, t->name);
	for (uint32_t i = 0; i < ix->ncolumns; i++) {
		ferry_buf_putc(&stem, '_');
		ferry_buf_puts(&stem, ix->columns[i]);
	}
	const char *base = ferry_buf_cstr(&stem);
	int rc = base ? 1 : ferry_error_oom(err);
	for (unsigned n = 0; rc == 1; n++) {
		char label[16] = "_key";
		if (n > 0)
			snprintf(label, sizeof label, "_key%u", n);
		size_t llen = strlen(label);
		size_t keep = clip_utf8(base, stem.len, PG_NAME_MAX - llen);
		char *name = ferry_malloc(keep + llen + 1);
		if (!name) {
			rc = ferry_error_oom(err);
			break;
		}
		memcpy(name, base, keep);
		memcpy(name + keep, label, llen + 1);
		rc = name_taken(cat, s, name, err);
		if (rc == 0)
			ix->name = name;
		else
			ferry_free(name);
	}
	ferry_buf_free(&stem);
	return rc;
}

/* Adds the index described by the current row of cat->indexes, unless
 * it cannot be carried. */
static int add_index(catalog *cat, ferry_schema *s, ferry_table *t,
                     ferry_error *err)
{
	sqlite3_stmt *list = cat->indexes;
	const char *name = (const char *)sqlite3_column_text(list, 0);
	if (!name)
		return ferry_error_oom(err);
	ferry_index ix = {0};
	ix.unique = sqlite3_column_int(list, 1) != 0;
	bool partial = sqlite3_column_int(list, 3) != 0;
	int rc = read_index_columns(cat, t, name, &ix, err);
	if (rc == 0 && partial)
		rc = read_predicate(cat, name, &ix, err);
	if (rc == 0 && strncasecmp(name, "sqlite_", 7) == 0)
		rc = constraint_name(cat, s, t, &ix, err);
	else if (rc == 0 && !(ix.name = ferry_strdup(name)))
		rc = ferry_error_oom(err);
	if (rc == 0) {
		ferry_index *slot = ferry_table_add_index(t);
		if (slot) {
			*slot = ix;
			return 0;
		}
		rc = ferry_error_oom(err);
	}
	free_index(&ix);
	return rc > 0 ? 0 : rc;
}

/* Reads t's unique and secondary indexes; sets *pk_index when SQLite
 * keeps a separate index for the primary key. */
static int read_indexes(catalog *cat, ferry_schema *s, ferry_table *t,
                        bool *pk_index, ferry_error *err)
{
	sqlite3_stmt *st = cat->indexes;
	*pk_index = false;
	int rc = bind_args(st, t->name, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		const char *origin = (const char *)sqlite3_column_text(st, 2);
		if (origin && strcmp(origin, "pk") == 0) {
			*pk_index = true;
			continue;
		}
		int fail = add_index(cat, s, t, err);
		if (fail)
			return fail;
	}
	if (rc != SQLITE_DONE)
		return db_fail(cat->db, err, "could not read indexes of table",
		               t->name);
	return 0;
}

/* ---- foreign keys ----------------------------------------------- */

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

/* Sets *out to a copy of the name as created, found by st bound to a1
 * and a2; the name as written when nothing matches (SQLite allows a
 * foreign key to a table that does not exist). */
static int created_name(catalog *cat, sqlite3_stmt *st, const char *a1,
                        const char *a2, char **out, ferry_error *err)
{
	const char *written = a2 ? a2 : a1;
	int rc = bind_args(st, a1, a2);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (dup_column(st, 0, out) != 0)
			return ferry_error_oom(err);
	} else if (rc == SQLITE_DONE) {
		if (!(*out = ferry_strdup(written)))
			return ferry_error_oom(err);
	} else {
		return db_fail(cat->db, err,
		               "could not look up referenced name", written);
	}
	return *out ? 0 : ferry_error_oom(err);
}

/* A referential action, NULL for NO ACTION (the default everywhere). */
static int fkey_action(sqlite3_stmt *st, int i, char **out)
{
	const char *action = (const char *)sqlite3_column_text(st, i);
	*out = NULL;
	if (!action || strcmp(action, "NO ACTION") == 0)
		return 0;
	*out = ferry_strdup(action);
	return *out ? 0 : -1;
}

/* Adds the current row of cat->fkeys (one column pair) to fk. */
static int add_fkey_column(catalog *cat, ferry_fkey *fk, ferry_error *err)
{
	sqlite3_stmt *st = cat->fkeys;
	if (fk->ncolumns == 0) {
		const char *ref = (const char *)sqlite3_column_text(st, 1);
		if (fkey_action(st, 4, &fk->on_update) ||
		    fkey_action(st, 5, &fk->on_delete))
			return ferry_error_oom(err);
		int rc = created_name(cat, cat->ref_table, ref ? ref : "", NULL,
		                      &fk->ref_table, err);
		if (rc)
			return rc;
	}
	const char *from = (const char *)sqlite3_column_text(st, 2);
	const char *to = (const char *)sqlite3_column_text(st, 3);
	char *to_name = NULL;
	if (to) {
		int rc = created_name(cat, cat->ref_column, fk->ref_table, to,
		                      &to_name, err);
		if (rc)
			return rc;
	}
	uint32_t n = fk->ncolumns;
	int rc = push_name(&fk->columns, n, from ? from : "");
	if (rc == 0 && push_name(&fk->ref_columns, n, to_name) != 0) {
		ferry_free(fk->columns[n]);
		rc = -1;
	}
	ferry_free(to_name);
	if (rc != 0)
		return ferry_error_oom(err);
	fk->ncolumns++;
	return 0;
}

/* Moves fk into t, unless a column of it is not carried (a generated
 * one): a key on a column the target lacks cannot be made. */
static int keep_fkey(ferry_table *t, ferry_fkey *fk, ferry_error *err)
{
	for (uint32_t i = 0; i < fk->ncolumns; i++) {
		if (ferry_table_column_index(t, fk->columns[i]) < 0) {
			free_fkey(fk);
			return 0;
		}
	}
	ferry_fkey *slot = ferry_table_add_fkey(t);
	if (!slot)
		return ferry_error_oom(err);
	*slot = *fk;
	memset(fk, 0, sizeof *fk);
	return 0;
}

/* Reads t's foreign keys in the order they were declared (SQLite numbers
 * them backwards), one per id. */
static int read_fkeys(catalog *cat, ferry_table *t, ferry_error *err)
{
	sqlite3_stmt *st = cat->fkeys;
	ferry_fkey fk = {0};
	int id = -1, fail = 0;
	int rc = bind_args(st, t->name, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		if (fk.ncolumns > 0 && sqlite3_column_int(st, 0) != id &&
		    (fail = keep_fkey(t, &fk, err)) != 0)
			break;
		id = sqlite3_column_int(st, 0);
		if ((fail = add_fkey_column(cat, &fk, err)) != 0)
			break;
	}
	if (!fail && rc != SQLITE_DONE)
		fail = db_fail(cat->db, err,
		               "could not read foreign keys of table", t->name);
	if (!fail && fk.ncolumns > 0)
		fail = keep_fkey(t, &fk, err);
	free_fkey(&fk);
	return fail;
}

/* ---- tables ----------------------------------------------------- */

static int count_rows(sqlite3 *db, ferry_table *t, ferry_error *err)
{
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "SELECT count(*) FROM ");
	ferry_buf_put_ident(&sql, t->name);
	const char *text = ferry_buf_cstr(&sql);
	if (!text) {
		ferry_buf_free(&sql);
		return ferry_error_oom(err);
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, text, -1, &st, NULL);
	ferry_buf_free(&sql);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->row_count = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = db_fail(db, err, "could not count rows of table", t->name);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Whether a row of the table list is an ordinary table.  Virtual tables
 * are skipped (their rows live wherever their module keeps them, and a
 * target cannot be given the module), and so are the shadow tables that
 * hold a virtual table's data.
 */
static bool is_ordinary(sqlite3_stmt *list)
{
	const char *kind = (const char *)sqlite3_column_text(list, 2);
	if (kind)
		return strcmp(kind, "table") == 0;
	const char *sql = (const char *)sqlite3_column_text(list, 1);
	return !sql || strncasecmp(sql, "CREATE VIRTUAL TABLE", 20) != 0;
}

/* Adds the table on the current row of the table list. */
static int add_table(catalog *cat, ferry_schema *s, sqlite3_stmt *list,
                     ferry_error *err)
{
	if (!is_ordinary(list))
		return 0;
	const char *name = (const char *)sqlite3_column_text(list, 0);
	ferry_table *t = ferry_schema_add_table(s);
	if (!name || !t || !(t->name = ferry_strdup(name)))
		return ferry_error_oom(err);
	if (sqlite3_column_type(list, 3) != SQLITE_NULL) {
		t->without_rowid = sqlite3_column_int(list, 3) != 0;
	} else {
		const char *sql = (const char *)sqlite3_column_text(list, 1);
		t->without_rowid = sql && sql_without_rowid(sql);
	}
	bool pk_index = false;
	int rc = read_columns(cat, t, err);
	if (rc == 0)
		rc = read_indexes(cat, s, t, &pk_index, err);
	if (rc == 0)
		rc = read_fkeys(cat, t, err);
	if (rc == 0)
		rc = count_rows(cat->db, t, err);
	if (rc == 0)
		mark_keys(t, pk_index);
	return rc;
}

/* Fills s from the prepared table list. */
static int read_tables(sqlite3 *db, const char *uri, catalog *cat,
                       sqlite3_stmt *list, ferry_schema *s, ferry_error *err)
{
	int rc;
	while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
		int fail = add_table(cat, s, list, err);
		if (fail)
			return fail;
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "could not list tables of "
		               "SQLite database", uri);
	return 0;
}

/* Prepares the table list: with PRAGMA table_list where SQLite has it. */
static int prepare_tables(sqlite3 *db, const char *uri, sqlite3_stmt **list,
                          ferry_error *err)
{
	if (sqlite3_prepare_v2(db, tables_sql, -1, list, NULL) &&
	    sqlite3_prepare_v2(db, tables_sql_old, -1, list, NULL))
		return db_fail(db, err, "could not list tables of "
		               "SQLite database", uri);
	return 0;
}

/* Builds the schema aside and replaces out's contents only on success,
 * so a failure leaves out as it was. */
int ferry_sqlite_introspect(sqlite3 *db, const char *uri, ferry_schema *out,
                            ferry_error *err)
{
	sqlite3_stmt *list = NULL;
	int rc = prepare_tables(db, uri, &list, err);
	if (rc != 0)
		return rc;
	catalog cat;
	ferry_schema s = FERRY_SCHEMA_INIT;
	rc = catalog_open(&cat, db, uri, err);
	if (rc == 0)
		rc = read_tables(db, uri, &cat, list, &s, err);
	catalog_close(&cat);
	sqlite3_finalize(list);
	if (rc != 0) {
		ferry_schema_free(&s);
		return rc;
	}
	ferry_schema_free(out);
	*out = s;
	return 0;
}

int ferry_sqlite_table_names(sqlite3 *db, const char *uri, char ***names,
                             uint32_t *n, ferry_error *err)
{
	sqlite3_stmt *list = NULL;
	char **got = NULL;
	uint32_t count = 0;
	int rc = prepare_tables(db, uri, &list, err);
	while (rc == 0 && (rc = sqlite3_step(list)) == SQLITE_ROW) {
		rc = 0;
		if (!is_ordinary(list))
			continue;
		const char *name = (const char *)sqlite3_column_text(list, 0);
		if (!name || push_name(&got, count, name) != 0) {
			rc = ferry_error_oom(err);
			break;
		}
		count++;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = db_fail(db, err, "could not list tables of "
		             "SQLite database", uri);
	sqlite3_finalize(list);
	if (rc != 0) {
		free_names(got, count);
		return rc;
	}
	*names = got;
	*n = count;
	return 0;
}

static int src_introspect(ferry_source *src, ferry_schema *out,
                          ferry_error *err)
{
	return ferry_sqlite_introspect(src->db, src->uri, out, err);
}

/* ---- connections ------------------------------------------------ */

static void src_close(ferry_source *src)
{
	if (!src)
		return;
	/* _v2: a scan still open keeps the handle alive until it closes;
	 * closing ends the read transaction */
	sqlite3_close_v2(src->db);
	ferry_free(src->uri);
	ferry_free(src);
}

static int src_open(ferry_source **out, const ferry_uri *uri,
                    ferry_error *err)
{
	*out = NULL;
	if (uri->kind != FERRY_URI_SQLITE || !uri->path)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not open SQLite database \"%s\": "
		                       "not a SQLite URI", uri->redacted);
	/* SQLite would only say "unable to open database file" */
	if (access(uri->path, F_OK) != 0) {
		int e = errno;
		int code = e == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR;
		return ferry_error_set(err, code, "could not open SQLite "
		                       "database \"%s\": %s", uri->redacted,
		                       strerror(e));
	}
	ferry_source *src = ferry_calloc(1, sizeof *src);
	if (!src || !(src->uri = ferry_strdup(uri->redacted))) {
		ferry_free(src);
		return ferry_error_oom(err);
	}
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(uri->path, &src->db, flags, NULL);
	if (!src->db) {
		src_close(src);
		return ferry_error_oom(err);
	}
	if (rc != SQLITE_OK) {
		rc = db_fail(src->db, err, "could not open SQLite database",
		             src->uri);
		src_close(src);
		return rc;
	}
	sqlite3_busy_timeout(src->db, BUSY_TIMEOUT_MS);
	/* a read pins the snapshot: BEGIN alone takes no lock */
	if (sqlite3_exec(src->db, "BEGIN; SELECT count(*) FROM sqlite_master",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(src->db, err, "could not read SQLite database",
		             src->uri);
		src_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

/* ---- scans ------------------------------------------------------ */

/* A name for the rowid that no column shadows, or NULL. */
static const char *rowid_name(const ferry_table *t)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		bool shadowed = false;
		for (uint32_t c = 0; c < t->ncolumns; c++)
			if (strcasecmp(t->columns[c].name, names[i]) == 0)
				shadowed = true;
		if (!shadowed)
			return names[i];
	}
	return NULL; /* a plain scan of a rowid table goes in rowid order */
}

/* Appends the key columns in pk_position order, with sep before each
 * but the first. */
static void put_key_columns(ferry_buf *b, const ferry_table *t,
                            const char *sep)
{
	uint32_t npk = ferry_table_pk_count(t);
	for (int pos = 1; pos <= (int)npk; pos++)
		for (uint32_t i = 0; i < t->ncolumns; i++)
			if (t->columns[i].pk_position == pos) {
				if (pos > 1)
					ferry_buf_puts(b, sep);
				ferry_buf_put_ident(b, t->columns[i].name);
			}
}

/*
 * SELECT "c1", ... FROM "t" [WHERE (k1, k2) > (?1, ?2)] ORDER BY the
 * key, or the rowid.  The row-value comparison orders as ORDER BY does
 * (same collations; values are stored with their column's affinity, so
 * the parameter's conversion cannot reorder them) once the bound key
 * holds no NULL, which the caller guarantees.
 */
static void build_select(ferry_buf *b, const ferry_table *t, bool after)
{
	ferry_buf_puts(b, "SELECT ");
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		if (i > 0)
			ferry_buf_puts(b, ", ");
		ferry_buf_put_ident(b, t->columns[i].name);
	}
	ferry_buf_puts(b, " FROM ");
	ferry_buf_put_ident(b, t->name);
	uint32_t npk = ferry_table_pk_count(t);
	if (after) {
		ferry_buf_puts(b, " WHERE (");
		put_key_columns(b, t, ", ");
		ferry_buf_puts(b, ") > (");
		for (uint32_t k = 1; k <= npk; k++)
			ferry_buf_printf(b, "%s?%u", k > 1 ? ", " : "", k);
		ferry_buf_putc(b, ')');
	}
	if (npk > 0) {
		ferry_buf_puts(b, " ORDER BY ");
		put_key_columns(b, t, ", ");
	}
	const char *rowid = rowid_name(t);
	if (npk == 0 && !t->without_rowid && rowid) {
		ferry_buf_puts(b, " ORDER BY ");
		ferry_buf_puts(b, rowid);
	}
}

/* Binds the key a chunk starts after, each value in its storage class. */
static int bind_key(sqlite3 *db, sqlite3_stmt *st, const ferry_table *table,
                    const ferry_row *key, ferry_error *err)
{
	if (key->ncols != ferry_table_pk_count(table))
		return ferry_error_set(err, FERRY_EINVAL, "could not scan table "
		                       "\"%s\": the key to start after has %u "
		                       "values, the primary key %u columns",
		                       table->name, key->ncols,
		                       ferry_table_pk_count(table));
	for (uint32_t k = 0; k < key->ncols; k++) {
		const ferry_value *v = &key->values[k];
		int i = (int)k + 1, rc;
		switch (v->type) {
		case FERRY_INT:
			rc = sqlite3_bind_int64(st, i, v->u.i);
			break;
		case FERRY_FLOAT:
			rc = sqlite3_bind_double(st, i, v->u.f);
			break;
		case FERRY_TEXT:
			rc = sqlite3_bind_text64(st, i, v->u.s.ptr, v->u.s.len,
			                         SQLITE_STATIC, SQLITE_UTF8);
			break;
		case FERRY_BLOB:
			rc = sqlite3_bind_blob64(st, i, v->u.s.ptr, v->u.s.len,
			                         SQLITE_STATIC);
			break;
		default: /* NULL never is a chunk's boundary */
			return ferry_error_set(err, FERRY_EINVAL, "could not scan "
			                       "table \"%s\": a key to start after "
			                       "cannot hold a %s value", table->name,
			                       ferry_type_name(v->type));
		}
		if (rc != SQLITE_OK)
			return db_fail(db, err, "could not scan table", table->name);
	}
	return 0;
}

void ferry_sqlite_scan_close(ferry_scan *scan)
{
	if (!scan)
		return;
	sqlite3_finalize(scan->stmt);
	ferry_free(scan->table);
	ferry_free(scan);
}

int ferry_sqlite_scan_open(sqlite3 *db, const ferry_table *table,
                           ferry_scan **out, ferry_error *err)
{
	return ferry_sqlite_scan_open_after(db, table, NULL, out, err);
}

int ferry_sqlite_scan_open_after(sqlite3 *db, const ferry_table *table,
                                 const ferry_row *after_key, ferry_scan **out,
                                 ferry_error *err)
{
	*out = NULL;
	if (table->ncolumns == 0)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not scan table \"%s\": "
		                       "no columns", table->name);
	if (after_key && ferry_table_pk_count(table) == 0)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not scan table \"%s\" in chunks: "
		                       "it has no primary key", table->name);
	ferry_scan *scan = ferry_calloc(1, sizeof *scan);
	if (!scan || !(scan->table = ferry_strdup(table->name))) {
		ferry_free(scan);
		return ferry_error_oom(err);
	}
	scan->db = db;
	scan->ncols = table->ncolumns;
	ferry_buf sql = FERRY_BUF_INIT;
	build_select(&sql, table, after_key != NULL);
	const char *text = ferry_buf_cstr(&sql);
	int rc = text ? 0 : ferry_error_oom(err);
	if (rc == 0 &&
	    sqlite3_prepare_v2(db, text, -1, &scan->stmt, NULL))
		rc = db_fail(db, err, "could not scan table", table->name);
	if (rc == 0 && after_key)
		rc = bind_key(db, scan->stmt, table, after_key, err);
	ferry_buf_free(&sql);
	if (rc != 0) {
		ferry_sqlite_scan_close(scan);
		return rc;
	}
	*out = scan;
	return 0;
}

static int src_scan_open(ferry_source *src, const ferry_table *table,
                         ferry_scan **out, ferry_error *err)
{
	return ferry_sqlite_scan_open(src->db, table, out, err);
}

/* SQLite keys can hold NULL (a legacy of rowid tables), so limit is not
 * applied: the caller stops reading. */
static int src_scan_open_after(ferry_source *src, const ferry_table *table,
                               const ferry_row *after_key, uint64_t limit,
                               ferry_scan **out, ferry_error *err)
{
	(void)limit;
	if (ferry_table_pk_count(table) == 0)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not scan table \"%s\" in chunks: "
		                       "it has no primary key", table->name);
	return ferry_sqlite_scan_open_after(src->db, table, after_key, out, err);
}

int ferry_sqlite_scan_next(ferry_scan *scan, ferry_row *row, ferry_error *err)
{
	if (scan->done)
		return 0;
	int rc = sqlite3_step(scan->stmt);
	if (rc == SQLITE_DONE) {
		scan->done = true;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return db_fail(scan->db, err, "could not read table",
		               scan->table);
	rc = ferry_row_resize(row, scan->ncols, err);
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < scan->ncols; i++)
		if (ferry_sqlite_column_value(scan->stmt, (int)i, &row->values[i]) != 0)
			return db_fail(scan->db, err, "could not read table",
			               scan->table);
	return 1;
}

const ferry_source_ops ferry_sqlite_source_ops = {
	.name = "sqlite",
	.open = src_open,
	.introspect = src_introspect,
	.scan_open = src_scan_open,
	.scan_next = ferry_sqlite_scan_next,
	.scan_close = ferry_sqlite_scan_close,
	.scan_open_after = src_scan_open_after,
	.close = src_close,
};
