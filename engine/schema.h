/*
 * engine/schema.h - what a database's tables look like: the model every
 * reader fills, the plan reshapes and every writer creates.
 *
 * A ferry_schema owns everything below it: every string and array is
 * allocated with ferry_malloc and released by ferry_schema_free (or
 * ferry_table_clear for one table).  The same structures describe source
 * tables (as introspected) and target tables (as the plan makes them).
 */
#ifndef FERRY_SCHEMA_H
#define FERRY_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"
#include "engine/value.h"

/* SQL column types ferry understands on a target (and maps sources to). */
typedef enum ferry_sqltype_kind {
	FERRY_SQL_UNKNOWN = 0,
	FERRY_SQL_SMALLINT,
	FERRY_SQL_INTEGER,
	FERRY_SQL_BIGINT,
	FERRY_SQL_REAL,      /* float4 */
	FERRY_SQL_DOUBLE,    /* float8 */
	FERRY_SQL_NUMERIC,   /* precision/scale; -1 = unconstrained */
	FERRY_SQL_TEXT,
	FERRY_SQL_VARCHAR,   /* length; -1 = unbounded */
	FERRY_SQL_CHAR,      /* length */
	FERRY_SQL_BYTEA,
	FERRY_SQL_BOOLEAN,
	FERRY_SQL_DATE,
	FERRY_SQL_TIMESTAMP,
	FERRY_SQL_TIMESTAMPTZ,
	FERRY_SQL_JSON,
	FERRY_SQL_JSONB,
	FERRY_SQL_UUID
} ferry_sqltype_kind;

/* Which database a target is: what it can store differs (SQLite turns
 * NaN into NULL, keeps 15 significant digits in NUMERIC columns, accepts
 * NUL bytes in text; PostgreSQL needs valid UTF-8 without NUL). */
typedef enum ferry_dialect {
	FERRY_DIALECT_POSTGRESQL = 0,
	FERRY_DIALECT_SQLITE = 1
} ferry_dialect;

typedef struct ferry_sqltype {
	ferry_sqltype_kind kind;
	int32_t precision; /* NUMERIC: total digits, -1 when not given */
	int32_t scale;     /* NUMERIC: digits after the point, -1 when not given */
	int32_t length;    /* VARCHAR/CHAR: characters, -1 when not given */
} ferry_sqltype;

/*
 * Parses a type as users write it in a spec or PostgreSQL prints it,
 * case-insensitively: smallint/int2, integer/int/int4, bigint/int8,
 * real/float4, double precision/float8/double, numeric[(p[,s])]/
 * decimal[(p[,s])], text, varchar[(n)]/character varying[(n)],
 * char[(n)]/character[(n)], bytea, boolean/bool, date,
 * timestamp[ without time zone], timestamptz/timestamp with time zone,
 * json, jsonb, uuid.  Anything else: FERRY_EINVAL naming the text.
 */
int ferry_sqltype_parse(ferry_sqltype *out, const char *text, ferry_error *err);

/* Appends PostgreSQL's spelling: "numeric(12,2)", "character varying(20)",
 * "timestamp with time zone", "double precision", ... */
void ferry_sqltype_format(const ferry_sqltype *t, ferry_buf *out);

/* The ferry_type values of this column type travel as (INT for the
 * integers, FLOAT for real/double, NUMERIC, TEXT for text/varchar/char,
 * BLOB for bytea, BOOL, DATE, TIMESTAMP, TIMESTAMPTZ, JSON, UUID). */
ferry_type ferry_sqltype_value_type(const ferry_sqltype *t);

typedef struct ferry_column {
	char *name;
	char *decl_type;     /* the type as declared in the source, "" if none */
	ferry_sqltype type;  /* the type to create on a target */
	bool not_null;
	char *default_sql;   /* the default as source SQL text; NULL if none */
	int pk_position;     /* 1-based position in the primary key; 0 = not */
	bool autoincrement;  /* values are generated (SQLite rowid alias or
	                        AUTOINCREMENT, identity): the target gets an
	                        identity set past the largest value */
	bool unsent_if_kept; /* of a table with old_rows_key_only: a large
	                        value may be stored out of line (PostgreSQL
	                        TOAST), and an update that keeps it does not
	                        send it */
} ferry_column;

typedef struct ferry_index {
	char *name;
	bool unique;
	char **columns;      /* column names in index order */
	uint32_t ncolumns;
	char *where_sql;     /* partial index predicate; NULL if none */
} ferry_index;

typedef struct ferry_fkey {
	char *name;          /* may be NULL (SQLite's are unnamed) */
	char **columns;
	uint32_t ncolumns;
	char *ref_table;
	char **ref_columns;  /* ncolumns entries; NULL entries = the referenced
	                        table's primary key in order */
	char *on_delete;     /* "CASCADE", "SET NULL", ...; NULL = NO ACTION */
	char *on_update;
} ferry_fkey;

typedef struct ferry_table {
	char *name;
	ferry_column *columns;
	uint32_t ncolumns;
	ferry_index *indexes;  /* unique and secondary; not the primary key */
	uint32_t nindexes;
	ferry_fkey *fkeys;
	uint32_t nfkeys;
	bool without_rowid;    /* SQLite WITHOUT ROWID table */
	bool rowid_key;        /* no declared key: SQLite's rowid identifies rows */
	bool old_rows_key_only; /* its change stream's old rows carry only the
	                           key, and an update may leave out a large
	                           value it kept (PostgreSQL REPLICA IDENTITY
	                           DEFAULT): see docs/online-postgresql.md */
	int64_t row_count;     /* rows, when known (-1 otherwise) */
} ferry_table;

typedef struct ferry_schema {
	ferry_table *tables;
	uint32_t ntables;
} ferry_schema;

#define FERRY_SCHEMA_INIT { NULL, 0 }

void ferry_table_clear(ferry_table *t);
void ferry_schema_free(ferry_schema *s);

/* The table called name (exact match), or NULL. */
ferry_table *ferry_schema_find(const ferry_schema *s, const char *name);

/* The index of the column called name (exact match), or -1. */
int ferry_table_column_index(const ferry_table *t, const char *name);

/* Number of primary key columns (0 when the table has none). */
uint32_t ferry_table_pk_count(const ferry_table *t);

/* Appends a readable key of row for messages and rejects: "id=5",
 * "a=1, b='x'"; "row N" (n) for a table without a primary key. */
void ferry_row_key_format(const ferry_table *t, const ferry_row *row,
                          int64_t n, ferry_buf *out);

/* Appends a new zeroed table / column / index / foreign key to its parent,
 * returning a pointer to it, or NULL when memory runs out.  The pointer
 * is valid until the next append to the same array. */
ferry_table *ferry_schema_add_table(ferry_schema *s);
ferry_column *ferry_table_add_column(ferry_table *t);
ferry_index *ferry_table_add_index(ferry_table *t);
ferry_fkey *ferry_table_add_fkey(ferry_table *t);

#endif
