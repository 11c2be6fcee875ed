/*
 * transforms/spec.c - reads the spec file (spec.h) and checks everything
 * that can be checked without the source schema.
 *
 * The YAML is read with libyaml's event API and the spec is built
 * straight from the event stream by recursive descent.  Events carry the
 * position of every key and value, so each message can point at the
 * exact line, and they still show an alias where it was written (the
 * document API would have resolved it already).
 *
 * A spec is plain data, so some YAML features are refused on purpose:
 * anchors and aliases (an alias would let one edit change two tables
 * without the reader seeing it) and explicit tags such as !!str or
 * !!bool (they change how a value is read in ways our messages could not
 * explain).  Only the first YAML document is read; a second one is an
 * error rather than silently ignored.
 *
 * Where a mapping is expected, a null value (`users:`, `columns: ~`)
 * reads as an empty mapping: `users:` means "copy as is".
 */
#include "transforms/spec.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/decimal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The keys a fixed-key mapping accepts, in the order messages list them. */
typedef struct keyset {
	const char *const *names;
	size_t n;
	const char *list; /* the names joined, for "expected one of" */
} keyset;

enum { TOP_TABLES, TOP_EXCLUDE, TOP_COUNT };
static const char *const top_names[] = { "tables", "exclude" };
static const keyset top_keys = { top_names, TOP_COUNT, "tables, exclude" };

enum { TK_RENAME, TK_WHERE, TK_COLUMNS, TK_ADD, TK_DOWN, TK_COUNT };
static const char *const table_names[] = { "rename", "where", "columns",
	                                       "add", "down" };
static const keyset table_keys = { table_names, TK_COUNT,
	                               "rename, where, columns, add, down" };

enum { CK_RENAME, CK_DROP, CK_TYPE, CK_DIVIDE_BY, CK_UP, CK_COUNT };
static const char *const column_names[] = { "rename", "drop", "type",
	                                        "divide_by", "up" };
static const keyset column_keys = { column_names, CK_COUNT,
	                                "rename, drop, type, divide_by, up" };

enum { AK_TYPE, AK_UP, AK_DEFAULT, AK_COUNT };
static const char *const add_names[] = { "type", "up", "default" };
static const keyset add_keys = { add_names, AK_COUNT, "type, up, default" };

/*
 * YAML 1.1 booleans as plain scalars.  y/n are left out, as PyYAML and
 * most YAML 1.1 readers do: a lone "y" reads too easily as a name.
 */
static const char *const true_words[] = { "true", "True", "TRUE", "yes",
	                                      "Yes", "YES", "on", "On", "ON" };
static const char *const false_words[] = { "false", "False", "FALSE", "no",
	                                       "No", "NO", "off", "Off", "OFF" };

typedef struct parser {
	yaml_parser_t yaml;
	yaml_event_t ev;   /* the current event; valid when has_ev */
	bool has_ev;
	const char *name;  /* the file name for messages */
	const char *text;  /* the input, to place reader errors */
	size_t len;
	ferry_error *err;
	const char *kind;  /* what is being read ("table", "column", ...) for
	                      messages; NULL at the top level */
	const char *ent;   /* the name of what is being read */
} parser;

/* ---- messages ---- */

static int cur_line(const parser *p)
{
	return (int)p->ev.start_mark.line + 1;
}

static void set_context(parser *p, const char *kind, const char *ent)
{
	p->kind = kind;
	p->ent = ent;
}

/* Puts "<file>:<line>: " and the context in front of the held message. */
static void locate(parser *p, int line)
{
	if (p->kind)
		ferry_error_prefix(p->err, "%s:%d: %s \"%s\"", p->name, line,
		                   p->kind, p->ent);
	else
		ferry_error_prefix(p->err, "%s:%d", p->name, line);
}

static int fail(parser *p, int line, const char *fmt, ...) FERRY_PRINTF(3, 4);

static int fail(parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_error_setv(p->err, FERRY_EINVAL, fmt, ap);
	va_end(ap);
	locate(p, line);
	return FERRY_EINVAL;
}

static const char *node_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	default:
		return "a string";
	}
}

/* Zero-based line of a byte offset: libyaml's reader errors give only
 * the offset. */
static size_t line_at(const char *text, size_t len, size_t offset)
{
	size_t line = 0;
	for (size_t i = 0; i < offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static int yaml_failure(parser *p)
{
	const yaml_parser_t *y = &p->yaml;
	if (y->error == YAML_MEMORY_ERROR)
		return ferry_error_oom(p->err);
	size_t line = y->problem_mark.line;
	if (y->error == YAML_READER_ERROR)
		line = line_at(p->text, p->len, y->problem_offset);
	return ferry_error_set(p->err, FERRY_EINVAL, "%s:%zu: %s", p->name,
	                       line + 1, y->problem ? y->problem : "invalid YAML");
}

/* ---- events ---- */

static int refuse_extras(parser *p)
{
	const yaml_event_t *ev = &p->ev;
	const yaml_char_t *anchor, *tag;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return fail(p, cur_line(p), "aliases (*%s) are not supported",
		            (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return 0;
	}
	if (anchor)
		return fail(p, cur_line(p), "anchors (&%s) are not supported",
		            (const char *)anchor);
	if (tag)
		return fail(p, cur_line(p), "tags (%s) are not supported",
		            (const char *)tag);
	return 0;
}

/* Replaces the current event with the next one. */
static int next(parser *p)
{
	if (p->has_ev) {
		yaml_event_delete(&p->ev);
		p->has_ev = false;
	}
	if (!yaml_parser_parse(&p->yaml, &p->ev))
		return yaml_failure(p);
	p->has_ev = true;
	return refuse_extras(p);
}

static const char *scalar(const parser *p)
{
	return (const char *)p->ev.data.scalar.value;
}

static bool plain(const parser *p)
{
	return p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A plain scalar YAML reads as null: empty, ~, null. */
static bool is_null(const parser *p)
{
	if (p->ev.type != YAML_SCALAR_EVENT || !plain(p))
		return false;
	const char *s = scalar(p);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* A NUL byte ("\0" in a double-quoted scalar) would cut our C strings. */
static bool has_nul(const parser *p)
{
	return strlen(scalar(p)) != p->ev.data.scalar.length;
}

/*
 * At a value that should be a mapping: 1 when one starts, 0 when the
 * value is null (read as empty), FERRY_EINVAL otherwise.
 */
static int begin_mapping(parser *p, const char *what)
{
	if (p->ev.type == YAML_MAPPING_START_EVENT)
		return 1;
	if (is_null(p))
		return 0;
	return fail(p, cur_line(p), "%s must be a mapping, not %s", what,
	            node_kind(&p->ev));
}

/* Advances to the next key of the mapping being read: 1 at a key, 0 at
 * the mapping's end, negative on error. */
static int next_key(parser *p)
{
	int rc = next(p);
	if (rc < 0)
		return rc;
	if (p->ev.type == YAML_MAPPING_END_EVENT)
		return 0;
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, cur_line(p), "keys must be names, not %s",
		            node_kind(&p->ev));
	if (has_nul(p))
		return fail(p, cur_line(p), "keys must not contain NUL bytes");
	return 1;
}

/*
 * At a key of a fixed-key mapping: returns the key's index in ks once it
 * is known to be allowed and not repeated.  seen[i] holds the line of key
 * i, 0 while it has not been seen.
 */
static int known_key(parser *p, const keyset *ks, int *seen)
{
	const char *key = scalar(p);
	int line = cur_line(p);
	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(key, ks->names[i]) != 0)
			continue;
		if (seen[i])
			return fail(p, line, "duplicate key \"%s\" (first at line %d)",
			            key, seen[i]);
		seen[i] = line;
		return (int)i;
	}
	const char *guess = ferry_suggest(key, ks->names, ks->n);
	if (guess)
		return fail(p, line, "unknown key \"%s\" (did you mean \"%s\"?)", key,
		            guess);
	return fail(p, line, "unknown key \"%s\" (expected one of: %s)", key,
	            ks->list);
}

/* ---- values ---- */

/* At a value that must be a non-empty string: copies it to *out. */
static int take_string(parser *p, const char *what, char **out)
{
	int line = cur_line(p);
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, line, "%s must be a string, not %s", what,
		            node_kind(&p->ev));
	const char *s = scalar(p);
	if (is_null(p) && *s)
		return fail(p, line, "%s must be a string, not null", what);
	if (has_nul(p))
		return fail(p, line, "%s must not contain NUL bytes", what);
	if (!s[strspn(s, " \t\r\n")])
		return fail(p, line, "%s must not be empty", what);
	*out = ferry_strdup(s);
	return *out ? 0 : ferry_error_oom(p->err);
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* Only plain scalars are booleans: "true" in quotes is a string. */
static int take_bool(parser *p, const char *what, bool *out)
{
	int line = cur_line(p);
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, line, "%s must be true or false, not %s", what,
		            node_kind(&p->ev));
	const char *s = scalar(p);
	if (plain(p) && in_list(s, true_words, COUNT(true_words))) {
		*out = true;
		return 0;
	}
	if (plain(p) && in_list(s, false_words, COUNT(false_words))) {
		*out = false;
		return 0;
	}
	return fail(p, line, "%s must be true or false, not %s\"%s\"", what,
	            plain(p) ? "" : "the quoted string ", s);
}

static int take_type(parser *p, ferry_sqltype *type, char **text)
{
	int line = cur_line(p);
	int rc = take_string(p, "\"type\"", text);
	if (rc < 0)
		return rc;
	rc = ferry_sqltype_parse(type, *text, p->err);
	if (rc < 0)
		locate(p, line);
	return rc;
}

/* Digits with at most one '.', at least one digit: no sign, exponent,
 * NaN or Infinity, which ferry_decimal_parse would also take. */
static bool decimal_shape(const char *s, size_t len)
{
	size_t digits = 0, points = 0;
	for (size_t i = 0; i < len; i++) {
		if (isdigit((unsigned char)s[i]))
			digits++;
		else if (s[i] == '.')
			points++;
		else
			return false;
	}
	return digits > 0 && points <= 1;
}

static int take_divisor(parser *p, char **out)
{
	static const char what[] = "\"divide_by\" must be a positive decimal "
	                           "number (like 100 or 0.5)";
	int line = cur_line(p);
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, line, "%s, not %s", what, node_kind(&p->ev));
	const char *s = scalar(p);
	size_t len = p->ev.data.scalar.length;
	if (!plain(p))
		return fail(p, line, "%s, not the quoted string \"%s\"", what, s);
	ferry_decimal d = FERRY_DECIMAL_INIT;
	int rc = decimal_shape(s, len) ? ferry_decimal_parse(&d, s, len, p->err)
	                               : FERRY_EINVAL;
	bool positive = rc == 0 && d.kind == FERRY_DEC_FINITE && !d.neg &&
	                !ferry_decimal_is_zero(&d);
	ferry_decimal_free(&d);
	if (rc == FERRY_ENOMEM)
		return rc;
	if (!positive)
		return fail(p, line, "%s, not \"%s\"", what, s);
	*out = ferry_strdup(s);
	return *out ? 0 : ferry_error_oom(p->err);
}

/* ---- entries ---- */

/* Grows an array by one zeroed element; NULL when memory runs out (the
 * array is then unchanged).  One element at a time keeps the spec's
 * structs free of capacity fields; a spec lists tens of entries. */
static void *grow(void *arr, size_t n, size_t size)
{
	char *grown = ferry_realloc(arr, (n + 1) * size);
	if (grown)
		memset(grown + n * size, 0, size);
	return grown;
}

/* The line of the entry called name among n entries of the given size
 * whose name and line sit at the given offsets; 0 when there is none. */
static int line_of_name(const void *base, size_t n, size_t size,
                        size_t name_off, size_t line_off, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const char *entry = (const char *)base + i * size;
		const char *entry_name;
		int line;
		memcpy(&entry_name, entry + name_off, sizeof entry_name);
		memcpy(&line, entry + line_off, sizeof line);
		if (!strcmp(entry_name, name))
			return line;
	}
	return 0;
}

#define FIRST_LINE(arr, n, type, field, name)                              \
	line_of_name((arr), (n), sizeof(type), offsetof(type, field),          \
	             offsetof(type, line), (name))

/* At the key naming an entry: refuses an empty or repeated name. */
static int check_name(parser *p, const char *what, int first)
{
	if (!*scalar(p))
		return fail(p, cur_line(p), "%s names must not be empty", what);
	if (first)
		return fail(p, cur_line(p), "duplicate %s \"%s\" (first at line %d)",
		            what, scalar(p), first);
	return 0;
}

static int column_value(parser *p, ferry_spec_column *c, int key)
{
	switch (key) {
	case CK_RENAME:
		return take_string(p, "\"rename\"", &c->rename);
	case CK_DROP:
		return take_bool(p, "\"drop\"", &c->drop);
	case CK_TYPE: {
		int rc = take_type(p, &c->type, &c->type_text);
		c->has_type = rc == 0;
		return rc;
	}
	case CK_DIVIDE_BY:
		return take_divisor(p, &c->divide_by);
	default:
		return take_string(p, "\"up\"", &c->up);
	}
}

/* Key combinations that cannot mean one thing. */
static int column_conflicts(parser *p, const ferry_spec_column *c,
                            const int *seen)
{
	if (c->drop)
		for (int k = 0; k < CK_COUNT; k++)
			if (k != CK_DROP && seen[k])
				return fail(p, seen[k],
				            "\"drop: true\" cannot be combined with \"%s\"",
				            column_names[k]);
	if (seen[CK_UP] && seen[CK_DIVIDE_BY]) {
		int line = seen[CK_UP] > seen[CK_DIVIDE_BY] ? seen[CK_UP]
		                                            : seen[CK_DIVIDE_BY];
		return fail(p, line, "\"up\" and \"divide_by\" cannot be combined "
		                     "(ambiguous: divide inside the \"up\" "
		                     "expression instead)");
	}
	return 0;
}

/* At the value of a column entry. */
static int column_body(parser *p, ferry_spec_column *c)
{
	int seen[CK_COUNT] = { 0 };
	int rc = begin_mapping(p, "the column entry");
	if (rc <= 0)
		return rc;
	while ((rc = next_key(p)) > 0) {
		int key = known_key(p, &column_keys, seen);
		if (key < 0)
			return key;
		if ((rc = next(p)) < 0 || (rc = column_value(p, c, key)) < 0)
			return rc;
	}
	return rc < 0 ? rc : column_conflicts(p, c, seen);
}

static int parse_column(parser *p, ferry_spec_table *t)
{
	int rc = check_name(p, "column",
	                    FIRST_LINE(t->columns, t->ncolumns, ferry_spec_column,
	                               name, scalar(p)));
	if (rc < 0)
		return rc;
	ferry_spec_column *cols = grow(t->columns, t->ncolumns, sizeof *cols);
	if (!cols)
		return ferry_error_oom(p->err);
	t->columns = cols;
	ferry_spec_column *c = &cols[t->ncolumns++];
	c->line = cur_line(p);
	if (!(c->name = ferry_strdup(scalar(p))))
		return ferry_error_oom(p->err);
	set_context(p, "column", c->name);
	if ((rc = next(p)) < 0 || (rc = column_body(p, c)) < 0)
		return rc;
	set_context(p, "table", t->name);
	return 0;
}

static int add_value(parser *p, ferry_spec_add *a, int key)
{
	switch (key) {
	case AK_TYPE:
		return take_type(p, &a->type, &a->type_text);
	case AK_UP:
		return take_string(p, "\"up\"", &a->up);
	default:
		return take_string(p, "\"default\"", &a->default_sql);
	}
}

/* At the value of an add entry; a null value still lacks its type. */
static int add_body(parser *p, ferry_spec_add *a)
{
	int seen[AK_COUNT] = { 0 };
	int rc = begin_mapping(p, "the added column entry");
	if (rc > 0) {
		while ((rc = next_key(p)) > 0) {
			int key = known_key(p, &add_keys, seen);
			if (key < 0)
				return key;
			if ((rc = next(p)) < 0 || (rc = add_value(p, a, key)) < 0)
				return rc;
		}
	}
	if (rc < 0)
		return rc;
	if (!seen[AK_TYPE])
		return fail(p, a->line, "\"type\" is required");
	return 0;
}

static int parse_add(parser *p, ferry_spec_table *t)
{
	int rc = check_name(p, "added column",
	                    FIRST_LINE(t->adds, t->nadds, ferry_spec_add, name,
	                               scalar(p)));
	if (rc < 0)
		return rc;
	ferry_spec_add *adds = grow(t->adds, t->nadds, sizeof *adds);
	if (!adds)
		return ferry_error_oom(p->err);
	t->adds = adds;
	ferry_spec_add *a = &adds[t->nadds++];
	a->line = cur_line(p);
	if (!(a->name = ferry_strdup(scalar(p))))
		return ferry_error_oom(p->err);
	set_context(p, "added column", a->name);
	if ((rc = next(p)) < 0 || (rc = add_body(p, a)) < 0)
		return rc;
	set_context(p, "table", t->name);
	return 0;
}

static int parse_down(parser *p, ferry_spec_table *t)
{
	int rc = check_name(p, "down column",
	                    FIRST_LINE(t->downs, t->ndowns, ferry_spec_down,
	                               column, scalar(p)));
	if (rc < 0)
		return rc;
	ferry_spec_down *downs = grow(t->downs, t->ndowns, sizeof *downs);
	if (!downs)
		return ferry_error_oom(p->err);
	t->downs = downs;
	ferry_spec_down *d = &downs[t->ndowns++];
	d->line = cur_line(p);
	if (!(d->column = ferry_strdup(scalar(p))))
		return ferry_error_oom(p->err);
	set_context(p, "down", d->column);
	if ((rc = next(p)) < 0 ||
	    (rc = take_string(p, "the expression", &d->expr)) < 0)
		return rc;
	set_context(p, "table", t->name);
	return 0;
}

/* At the value of columns/add/down: reads each entry with `entry`. */
static int parse_entries(parser *p, ferry_spec_table *t, const char *what,
                         int (*entry)(parser *, ferry_spec_table *))
{
	int rc = begin_mapping(p, what);
	if (rc <= 0)
		return rc;
	while ((rc = next_key(p)) > 0)
		if ((rc = entry(p, t)) < 0)
			return rc;
	return rc;
}

/* ---- tables ---- */

static const char *target_name(const ferry_spec_column *c)
{
	return c->rename ? c->rename : c->name;
}

static int later(int a, int b)
{
	return a > b ? a : b;
}

/*
 * Two target columns the spec itself gives one name: two listed columns
 * ending up with one name, or an added column named like a listed one
 * that is kept.  Clashes with columns the spec does not list need the
 * source schema: the plan checks those.
 */
static int check_collisions(parser *p, const ferry_spec_table *t)
{
	for (size_t i = 0; i < t->ncolumns; i++) {
		const ferry_spec_column *a = &t->columns[i];
		if (a->drop)
			continue;
		for (size_t j = i + 1; j < t->ncolumns; j++) {
			const ferry_spec_column *b = &t->columns[j];
			if (!b->drop && !strcmp(target_name(a), target_name(b)))
				return fail(p, b->line, "columns \"%s\" and \"%s\" would "
				            "both be called \"%s\"", a->name, b->name,
				            target_name(b));
		}
		for (size_t j = 0; j < t->nadds; j++) {
			const ferry_spec_add *add = &t->adds[j];
			if (strcmp(target_name(a), add->name) != 0)
				continue;
			if (a->rename)
				return fail(p, later(a->line, add->line), "added column "
				            "\"%s\" has the name column \"%s\" is renamed to",
				            add->name, a->name);
			return fail(p, later(a->line, add->line), "added column \"%s\" "
			            "has the name of column \"%s\" listed in \"columns\"",
			            add->name, a->name);
		}
	}
	return 0;
}

static int table_value(parser *p, ferry_spec_table *t, int key)
{
	switch (key) {
	case TK_RENAME:
		return take_string(p, "\"rename\"", &t->rename);
	case TK_WHERE:
		t->where_line = cur_line(p);
		return take_string(p, "\"where\"", &t->where);
	case TK_COLUMNS:
		return parse_entries(p, t, "\"columns\"", parse_column);
	case TK_ADD:
		return parse_entries(p, t, "\"add\"", parse_add);
	default:
		return parse_entries(p, t, "\"down\"", parse_down);
	}
}

/* At the value of a table entry. */
static int table_body(parser *p, ferry_spec_table *t)
{
	int seen[TK_COUNT] = { 0 };
	int rc = begin_mapping(p, "the table entry");
	if (rc <= 0)
		return rc;
	while ((rc = next_key(p)) > 0) {
		int key = known_key(p, &table_keys, seen);
		if (key < 0)
			return key;
		if ((rc = next(p)) < 0 || (rc = table_value(p, t, key)) < 0)
			return rc;
	}
	return rc < 0 ? rc : check_collisions(p, t);
}

static int parse_table(parser *p, ferry_spec *spec)
{
	int rc = check_name(p, "table",
	                    FIRST_LINE(spec->tables, spec->ntables,
	                               ferry_spec_table, name, scalar(p)));
	if (rc < 0)
		return rc;
	ferry_spec_table *tables = grow(spec->tables, spec->ntables,
	                                sizeof *tables);
	if (!tables)
		return ferry_error_oom(p->err);
	spec->tables = tables;
	ferry_spec_table *t = &tables[spec->ntables++];
	t->line = cur_line(p);
	if (!(t->name = ferry_strdup(scalar(p))))
		return ferry_error_oom(p->err);
	set_context(p, "table", t->name);
	if ((rc = next(p)) < 0 || (rc = table_body(p, t)) < 0)
		return rc;
	set_context(p, NULL, NULL);
	return 0;
}

/* ---- top level ---- */

/* At the value of `tables`. */
static int parse_tables(parser *p, ferry_spec *spec)
{
	int rc = begin_mapping(p, "\"tables\"");
	if (rc <= 0)
		return rc;
	while ((rc = next_key(p)) > 0)
		if ((rc = parse_table(p, spec)) < 0)
			return rc;
	return rc;
}

/* At one exclude pattern. */
static int add_pattern(parser *p, ferry_spec *spec)
{
	int line = cur_line(p);
	char *pattern = NULL;
	int rc = take_string(p, "an \"exclude\" pattern", &pattern);
	if (rc < 0)
		return rc;
	char **patterns = grow(spec->exclude, spec->nexclude, sizeof *patterns);
	if (patterns)
		spec->exclude = patterns;
	int *lines = patterns ? grow(spec->exclude_lines, spec->nexclude,
	                             sizeof *lines)
	                      : NULL;
	if (!lines) {
		ferry_free(pattern);
		return ferry_error_oom(p->err);
	}
	spec->exclude_lines = lines;
	spec->exclude[spec->nexclude] = pattern;
	spec->exclude_lines[spec->nexclude++] = line;
	return 0;
}

/* At the value of `exclude`: one pattern or a sequence of them. */
static int parse_exclude(parser *p, ferry_spec *spec)
{
	if (is_null(p))
		return 0;
	if (p->ev.type == YAML_SCALAR_EVENT)
		return add_pattern(p, spec);
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, cur_line(p), "\"exclude\" must be a glob pattern or "
		            "a sequence of them, not %s", node_kind(&p->ev));
	int rc;
	while ((rc = next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT)
		if ((rc = add_pattern(p, spec)) < 0)
			return rc;
	return rc;
}

/* At the document's root node. */
static int parse_top(parser *p, ferry_spec *spec)
{
	if (is_null(p))
		return 0; /* "---" alone, or "~": an empty spec */
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "the spec must be a mapping with keys "
		            "\"tables\" and \"exclude\", not %s", node_kind(&p->ev));
	int seen[TOP_COUNT] = { 0 };
	int rc;
	while ((rc = next_key(p)) > 0) {
		int key = known_key(p, &top_keys, seen);
		if (key < 0)
			return key;
		if ((rc = next(p)) < 0)
			return rc;
		if (key == TOP_TABLES)
			rc = parse_tables(p, spec);
		else
			rc = parse_exclude(p, spec);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int parse_stream(parser *p, ferry_spec *spec)
{
	int rc = next(p); /* stream start */
	if (rc == 0)
		rc = next(p); /* a document, or the end of an empty stream */
	if (rc < 0 || p->ev.type == YAML_STREAM_END_EVENT)
		return rc;
	if ((rc = next(p)) < 0 || (rc = parse_top(p, spec)) < 0)
		return rc;
	/* the document's end, then the stream's end or a second document */
	if ((rc = next(p)) < 0 || (rc = next(p)) < 0)
		return rc;
	if (p->ev.type == YAML_DOCUMENT_START_EVENT)
		return fail(p, cur_line(p), "a spec is one YAML document, but a "
		            "second one starts here");
	return 0;
}

/* ---- the interface ---- */

int ferry_spec_parse(ferry_spec **out, const char *name, const char *text,
                     size_t len, ferry_error *err)
{
	*out = NULL;
	ferry_spec *spec = ferry_calloc(1, sizeof *spec);
	if (!spec || !(spec->path = ferry_strdup(name ? name : "<spec>"))) {
		ferry_free(spec);
		return ferry_error_oom(err);
	}
	parser p = { .name = spec->path, .text = text ? text : "", .len = len,
		         .err = err };
	if (!yaml_parser_initialize(&p.yaml)) {
		ferry_spec_free(spec);
		return ferry_error_oom(err);
	}
	yaml_parser_set_input_string(&p.yaml, (const unsigned char *)p.text,
	                             text ? len : 0);
	int rc = parse_stream(&p, spec);
	if (p.has_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yaml);
	if (rc < 0) {
		ferry_spec_free(spec);
		return rc;
	}
	*out = spec;
	return 0;
}

static int cannot_read(ferry_error *err, const char *path, int errnum)
{
	return ferry_error_set(err, FERRY_ERROR, "could not read spec \"%s\": %s",
	                       path, strerror(errnum));
}

static int read_file(const char *path, ferry_buf *b, ferry_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return cannot_read(err, path, errno);
	char chunk[8192];
	size_t n;
	do {
		errno = 0;
		n = fread(chunk, 1, sizeof chunk, f);
		int errnum = errno;
		if (ferror(f)) {
			fclose(f);
			return cannot_read(err, path, errnum ? errnum : EIO);
		}
		ferry_buf_append(b, chunk, n);
	} while (n == sizeof chunk);
	fclose(f);
	return ferry_buf_failed(b) ? ferry_error_oom(err) : 0;
}

int ferry_spec_load(ferry_spec **out, const char *path, ferry_error *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	*out = NULL;
	int rc = read_file(path, &b, err);
	if (rc == 0)
		rc = ferry_spec_parse(out, path, (const char *)b.data, b.len, err);
	ferry_buf_free(&b);
	return rc;
}

static void free_table(ferry_spec_table *t)
{
	ferry_free(t->name);
	ferry_free(t->rename);
	ferry_free(t->where);
	for (size_t i = 0; i < t->ncolumns; i++) {
		ferry_free(t->columns[i].name);
		ferry_free(t->columns[i].rename);
		ferry_free(t->columns[i].type_text);
		ferry_free(t->columns[i].divide_by);
		ferry_free(t->columns[i].up);
	}
	ferry_free(t->columns);
	for (size_t i = 0; i < t->nadds; i++) {
		ferry_free(t->adds[i].name);
		ferry_free(t->adds[i].type_text);
		ferry_free(t->adds[i].up);
		ferry_free(t->adds[i].default_sql);
	}
	ferry_free(t->adds);
	for (size_t i = 0; i < t->ndowns; i++) {
		ferry_free(t->downs[i].column);
		ferry_free(t->downs[i].expr);
	}
	ferry_free(t->downs);
}

void ferry_spec_free(ferry_spec *spec)
{
	if (!spec)
		return;
	for (size_t i = 0; i < spec->ntables; i++)
		free_table(&spec->tables[i]);
	ferry_free(spec->tables);
	for (size_t i = 0; i < spec->nexclude; i++)
		ferry_free(spec->exclude[i]);
	ferry_free(spec->exclude);
	ferry_free(spec->exclude_lines);
	ferry_free(spec->path);
	ferry_free(spec);
}

const ferry_spec_table *ferry_spec_find_table(const ferry_spec *spec,
                                              const char *name)
{
	for (size_t i = 0; spec && i < spec->ntables; i++)
		if (!strcmp(spec->tables[i].name, name))
			return &spec->tables[i];
	return NULL;
}

bool ferry_spec_excludes(const ferry_spec *spec, const char *table)
{
	for (size_t i = 0; spec && i < spec->nexclude; i++)
		if (fnmatch(spec->exclude[i], table, 0) == 0)
			return true;
	return false;
}

/* ---- did you mean ---- */

/*
 * Case-insensitive optimal-string-alignment distance (Levenshtein plus
 * adjacent transpositions, the commonest typo: "nmae" is one step from
 * "name"), or `bound` as soon as the distance is known to reach it.
 * Three rows of the table; on the stack for the usual short names.
 */
static size_t distance(const char *a, size_t alen, const char *b,
                       size_t bound)
{
	size_t blen = strlen(b);
	if ((alen > blen ? alen - blen : blen - alen) >= bound)
		return bound;
	size_t stack_rows[3 * 64];
	size_t *rows = blen < 64 ? stack_rows
	                         : ferry_malloc(3 * (blen + 1) * sizeof *rows);
	if (!rows)
		return bound; /* no suggestion is better than failing the error */
	size_t *older = rows, *prev = rows + (blen + 1), *cur = rows + 2 * (blen + 1);
	for (size_t j = 0; j <= blen; j++)
		prev[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		cur[0] = i;
		int ca = tolower((unsigned char)a[i - 1]);
		for (size_t j = 1; j <= blen; j++) {
			int cb = tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + (ca != cb);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && older[j - 2] + 1 < best)
				best = older[j - 2] + 1;
			cur[j] = best;
		}
		size_t *spare = older;
		older = prev;
		prev = cur;
		cur = spare;
	}
	size_t d = prev[blen];
	if (rows != stack_rows)
		ferry_free(rows);
	return d < bound ? d : bound;
}

const char *ferry_suggest(const char *word, const char *const *candidates,
                          size_t ncandidates)
{
	size_t len = strlen(word);
	size_t limit = len / 3 > 1 ? len / 3 : 1;
	const char *best = NULL;
	size_t best_distance = limit + 1; /* only closer ones qualify */
	for (size_t i = 0; i < ncandidates; i++) {
		size_t d = distance(word, len, candidates[i], best_distance);
		if (d < best_distance) {
			best = candidates[i];
			best_distance = d;
		}
	}
	return best;
}
