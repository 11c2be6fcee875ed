/*
 * transforms/spec.h - the spec file (DESIGN.md, "Transforms"), parsed.
 *
 * Parsing checks everything that can be checked without the source
 * schema: YAML syntax, known keys, value kinds, types that parse, a
 * divide_by that is a positive exact decimal, `drop` not combined with
 * other keys, no duplicate tables/columns.  Whether named tables and
 * columns exist is checked by the plan (transforms/plan.c) against the
 * source schema, using the line numbers kept here.
 *
 * Every error is one line: "<file>:<line>: <what> (did you mean ...?)".
 * A spec owns all its strings; ferry_spec_free releases it.
 */
#ifndef FERRY_SPEC_H
#define FERRY_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"
#include "engine/schema.h"

typedef struct ferry_spec_column {
	char *name;          /* the source column */
	int line;            /* line of the column's key in the file */
	char *rename;        /* NULL = keep the name */
	bool drop;
	bool has_type;
	ferry_sqltype type;  /* valid when has_type */
	char *type_text;     /* as written, for messages; NULL unless has_type */
	char *divide_by;     /* decimal text ("100"), NULL = none */
	char *up;            /* SQLite expression over the source row; NULL */
} ferry_spec_column;

typedef struct ferry_spec_add {
	char *name;          /* the new target column */
	int line;
	ferry_sqltype type;  /* required */
	char *type_text;
	char *up;            /* SQLite expression over the source row; NULL */
	char *default_sql;   /* `default:` text, used as the column default */
} ferry_spec_add;

typedef struct ferry_spec_down {
	char *column;        /* the source column it rebuilds */
	int line;
	char *expr;          /* SQLite expression over the target row */
} ferry_spec_down;

typedef struct ferry_spec_table {
	char *name;          /* the source table */
	int line;
	char *rename;        /* NULL = keep */
	char *where;         /* SQLite expression over the source row; NULL */
	int where_line;
	ferry_spec_column *columns;
	size_t ncolumns;
	ferry_spec_add *adds;
	size_t nadds;
	ferry_spec_down *downs;
	size_t ndowns;
} ferry_spec_table;

typedef struct ferry_spec {
	char *path;          /* as given, for messages */
	ferry_spec_table *tables;
	size_t ntables;
	char **exclude;      /* glob patterns (fnmatch) of source tables */
	int *exclude_lines;
	size_t nexclude;
} ferry_spec;

/* Reads and parses the file at path.  A missing or unreadable file is
 * "could not read spec \"path\": <strerror>". */
int ferry_spec_load(ferry_spec **out, const char *path, ferry_error *err);

/* Parses text; name is used in messages in place of a path. */
int ferry_spec_parse(ferry_spec **out, const char *name, const char *text,
                     size_t len, ferry_error *err);

void ferry_spec_free(ferry_spec *spec); /* accepts NULL */

/* The table entry for a source table name, or NULL. */
const ferry_spec_table *ferry_spec_find_table(const ferry_spec *spec,
                                              const char *name);

/* Whether a source table name matches one of the exclude globs. */
bool ferry_spec_excludes(const ferry_spec *spec, const char *table);

/*
 * The candidate closest to word by edit distance (case-insensitive), if
 * it is close enough to be a plausible typo (distance <= max(1, len/3)),
 * else NULL.  Used for "did you mean" in spec and plan errors.
 */
const char *ferry_suggest(const char *word, const char *const *candidates,
                          size_t ncandidates);

#endif
