/* Unit tests for transforms/spec: the example spec field by field, every
 * refusal with its exact message and line, did-you-mean, exclude globs,
 * loading from a file, and allocation failures at every step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/error.h"
#include "tests/tap.h"
#include "transforms/spec.h"

static const char example[] =
	"tables:\n"                                                        /* 1 */
	"  users:\n"                                                       /* 2 */
	"    rename: accounts                 # target table name\n"      /* 3 */
	"    where: \"deleted_at IS NULL\"      # rows to carry\n"        /* 4 */
	"    columns:\n"                                                   /* 5 */
	"      name:        { rename: full_name }\n"                       /* 6 */
	"      legacy_email: { drop: true }\n"                             /* 7 */
	"      balance:     { type: \"numeric(12,2)\", divide_by: 100 }\n" /* 8 */
	"      created:     { type: timestamptz }\n"                       /* 9 */
	"      user_name:   { type: text }\n"                              /* 10 */
	"      score:       { up: \"score * 2\" }\n"                       /* 11 */
	"    add:\n"                                                       /* 12 */
	"      first_name: { type: text, up: \"substr(user_name, 1, "
	"instr(user_name, ' ') - 1)\" }\n"                                 /* 13 */
	"      email_verified: { type: boolean, up: \"email IS NOT NULL "
	"AND email <> ''\", default: \"false\" }\n"                        /* 14 */
	"    down:                            # rebuild source columns\n" /* 15 */
	"      user_name: \"first_name || ' ' || last_name\"\n"           /* 16 */
	"exclude: [ \"audit_*\" ]\n";                                      /* 17 */

static ferry_spec *parse_ok(const char *yaml, const char *what)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_spec *spec = NULL;
	int rc = ferry_spec_parse(&spec, "s.yaml", yaml, strlen(yaml), &err);
	is_int(rc, 0, "%s: parses", what);
	if (rc != 0)
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return spec;
}

static void fails(const char *yaml, const char *want, const char *what)
{
	static ferry_spec stale;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_spec *spec = &stale; /* a refusal must reset it to NULL */
	int rc = ferry_spec_parse(&spec, "s.yaml", yaml, strlen(yaml), &err);
	is_int(rc, FERRY_EINVAL, "%s: refused", what);
	ok(spec == NULL, "%s: no spec comes back", what);
	is_str(ferry_error_message(&err), want, "%s: message", what);
	if (rc == 0)
		ferry_spec_free(spec);
	ferry_error_clear(&err);
}

static void check_example_table(const ferry_spec_table *t)
{
	is_str(t->name, "users", "table name");
	is_int(t->line, 2, "table line");
	is_str(t->rename, "accounts", "table rename");
	is_str(t->where, "deleted_at IS NULL", "table where");
	is_int(t->where_line, 4, "where line");
	is_int(t->ncolumns, 6, "six columns");
	is_int(t->nadds, 2, "two adds");
	is_int(t->ndowns, 1, "one down");
	is_str(t->downs[0].column, "user_name", "down column");
	is_int(t->downs[0].line, 16, "down line");
	is_str(t->downs[0].expr, "first_name || ' ' || last_name", "down expr");
}

static void check_example_columns(const ferry_spec_column *c)
{
	static const char *const names[] = { "name",      "legacy_email",
		                                 "balance",   "created",
		                                 "user_name", "score" };
	for (int i = 0; i < 6; i++) {
		is_str(c[i].name, names[i], "column %d is %s, in file order", i,
		       names[i]);
		is_int(c[i].line, 6 + i, "column %s line", names[i]);
	}
	is_str(c[0].rename, "full_name", "name: rename");
	ok(!c[0].drop && !c[0].has_type && !c[0].up && !c[0].divide_by,
	   "name: nothing else");
	ok(c[1].drop, "legacy_email: drop");
	ok(!c[1].rename && !c[1].has_type, "legacy_email: nothing else");
	ok(c[2].has_type, "balance: has a type");
	is_int(c[2].type.kind, FERRY_SQL_NUMERIC, "balance: numeric");
	is_int(c[2].type.precision, 12, "balance: precision 12");
	is_int(c[2].type.scale, 2, "balance: scale 2");
	is_str(c[2].type_text, "numeric(12,2)", "balance: type as written");
	is_str(c[2].divide_by, "100", "balance: divide_by");
	ok(!c[2].up && !c[2].drop, "balance: no up, no drop");
	ok(c[3].has_type, "created: has a type");
	is_int(c[3].type.kind, FERRY_SQL_TIMESTAMPTZ, "created: timestamptz");
	is_str(c[3].type_text, "timestamptz", "created: type text");
	is_int(c[4].type.kind, FERRY_SQL_TEXT, "user_name: text");
	is_str(c[5].up, "score * 2", "score: up");
	ok(!c[5].has_type && !c[5].type_text, "score: no type");
}

static void check_example_adds(const ferry_spec_add *a)
{
	is_str(a[0].name, "first_name", "add 0 name");
	is_int(a[0].line, 13, "add 0 line");
	is_int(a[0].type.kind, FERRY_SQL_TEXT, "add 0 type");
	is_str(a[0].type_text, "text", "add 0 type text");
	is_str(a[0].up, "substr(user_name, 1, instr(user_name, ' ') - 1)",
	       "add 0 up");
	ok(a[0].default_sql == NULL, "add 0 has no default");
	is_str(a[1].name, "email_verified", "add 1 name");
	is_int(a[1].line, 14, "add 1 line");
	is_int(a[1].type.kind, FERRY_SQL_BOOLEAN, "add 1 type");
	is_str(a[1].up, "email IS NOT NULL AND email <> ''", "add 1 up");
	is_str(a[1].default_sql, "false", "add 1 default");
}

static void test_example(void)
{
	ferry_spec *spec = parse_ok(example, "the example");
	if (!spec)
		return;
	is_str(spec->path, "s.yaml", "path is the name given");
	is_int(spec->ntables, 1, "one table");
	check_example_table(&spec->tables[0]);
	check_example_columns(spec->tables[0].columns);
	check_example_adds(spec->tables[0].adds);
	is_int(spec->nexclude, 1, "one exclude pattern");
	is_str(spec->exclude[0], "audit_*", "exclude pattern");
	is_int(spec->exclude_lines[0], 17, "exclude line");
	ok(ferry_spec_excludes(spec, "audit_log"), "audit_log is excluded");
	ok(!ferry_spec_excludes(spec, "users"), "users is not excluded");
	ok(ferry_spec_find_table(spec, "users") == &spec->tables[0],
	   "find_table finds users");
	ok(ferry_spec_find_table(spec, "accounts") == NULL,
	   "find_table looks up source names, not targets");
	ok(ferry_spec_find_table(NULL, "users") == NULL, "find_table on NULL");
	ferry_spec_free(spec);
	ferry_spec_free(NULL);
}

static void test_empty(void)
{
	static const char *const texts[] = { "", "# only\n# comments\n", "---\n",
		                                 "~\n", "tables:\nexclude:\n" };
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		ferry_spec *spec = parse_ok(texts[i], "empty spec");
		ok(spec && spec->ntables == 0 && spec->nexclude == 0,
		   "empty spec %zu has nothing in it", i);
		ferry_spec_free(spec);
	}
	ferry_spec *spec = NULL;
	is_int(ferry_spec_parse(&spec, "n", NULL, 0, NULL), 0,
	       "NULL text reads as empty");
	ferry_spec_free(spec);
}

static void test_copy_as_is(void)
{
	ferry_spec *spec = parse_ok("tables:\n  users:\n  orders: ~\n"
	                            "  items: {}\n  tags:\n    columns:\n",
	                            "null table entries");
	if (!spec)
		return;
	is_int(spec->ntables, 4, "four tables");
	for (size_t i = 0; i < spec->ntables; i++) {
		const ferry_spec_table *t = &spec->tables[i];
		ok(!t->rename && !t->where && !t->ncolumns && !t->nadds &&
		   !t->ndowns, "table %s is copied as is", t->name);
		is_int(t->line, 2 + (int)i, "table %s line", t->name);
	}
	ferry_spec_free(spec);
}

static void test_values(void)
{
	ferry_spec *spec = parse_ok(
		"tables:\n"
		"  t:\n"
		"    columns:\n"
		"      a: { drop: false, rename: b }\n"
		"      c: { drop: yes }\n"
		"      d: { divide_by: 0.5 }\n"
		"      e: { divide_by: 2.5, type: \"numeric(10, 3)\" }\n"
		"      f: { divide_by: 1000 }\n"
		"      g: { drop: off }\n"
		"      h:\n"
		"    add:\n"
		"      x: { type: integer, default: 0 }\n",
		"value forms");
	if (!spec)
		return;
	const ferry_spec_column *c = spec->tables[0].columns;
	ok(!c[0].drop, "drop: false means no drop");
	is_str(c[0].rename, "b", "drop: false combines with rename");
	ok(c[1].drop, "drop: yes is true");
	is_str(c[2].divide_by, "0.5", "divide_by 0.5");
	ok(!c[2].has_type, "divide_by without a type leaves the type open");
	is_str(c[3].divide_by, "2.5", "divide_by 2.5");
	is_int(c[3].type.precision, 10, "numeric(10, 3) precision");
	is_int(c[3].type.scale, 3, "numeric(10, 3) scale");
	is_str(c[4].divide_by, "1000", "divide_by 1000");
	ok(!c[5].drop, "drop: off is false");
	ok(!c[6].drop && !c[6].rename, "a null column entry changes nothing");
	is_str(spec->tables[0].adds[0].default_sql, "0",
	       "a plain number is a default expression");
	ferry_spec_free(spec);
}

static void test_renames_that_fit(void)
{
	ferry_spec *spec = parse_ok("tables:\n"
	                            "  t:\n"
	                            "    columns:\n"
	                            "      a: { rename: b }\n"
	                            "      b: { rename: a }\n"
	                            "      c: { drop: true }\n"
	                            "    add:\n"
	                            "      c: { type: text }\n",
	                            "swapped names, add over a dropped column");
	ferry_spec_free(spec);
}

static void test_top_level_errors(void)
{
	fails("tabels:\n  users:\n",
	      "s.yaml:1: unknown key \"tabels\" (did you mean \"tables\"?)",
	      "misspelt top-level key");
	fails("tables: {}\nfoo: 1\n",
	      "s.yaml:2: unknown key \"foo\" (expected one of: tables, exclude)",
	      "unknown top-level key without a suggestion");
	fails("- a\n- b\n",
	      "s.yaml:1: the spec must be a mapping with keys \"tables\" and "
	      "\"exclude\", not a sequence",
	      "top level is a sequence");
	fails("\n\njust text\n",
	      "s.yaml:3: the spec must be a mapping with keys \"tables\" and "
	      "\"exclude\", not a string",
	      "top level is a string");
	fails("tables: [a]\n",
	      "s.yaml:1: \"tables\" must be a mapping, not a sequence",
	      "tables is a sequence");
	fails("tables: users\n", "s.yaml:1: \"tables\" must be a mapping, not a string",
	      "tables is a string");
	fails("tables:\n  users: accounts\n",
	      "s.yaml:2: table \"users\": the table entry must be a mapping, not "
	      "a string",
	      "table entry is a string");
	fails("tables:\n  \"\": {}\n", "s.yaml:2: table names must not be empty",
	      "empty table name");
	fails("tables:\n  ? [a, b]\n  : {}\n",
	      "s.yaml:2: keys must be names, not a sequence", "sequence as a key");
	fails("tables: {}\n---\ntables: {}\n",
	      "s.yaml:2: a spec is one YAML document, but a second one starts "
	      "here",
	      "two documents");
	ferry_spec *spec = NULL;
	is_int(ferry_spec_parse(&spec, "s.yaml", "x: 1\n", 5, NULL), FERRY_EINVAL,
	       "a refusal without an error object still returns FERRY_EINVAL");
	ok(spec == NULL, "and no spec");
}

static void test_key_errors(void)
{
	fails("tables:\n  users:\n    renam: x\n",
	      "s.yaml:3: table \"users\": unknown key \"renam\" (did you mean "
	      "\"rename\"?)",
	      "renam in a table");
	fails("tables:\n  users:\n    colums:\n      a: {}\n",
	      "s.yaml:3: table \"users\": unknown key \"colums\" (did you mean "
	      "\"columns\"?)",
	      "colums in a table");
	fails("tables:\n  users:\n    Where: x\n",
	      "s.yaml:3: table \"users\": unknown key \"Where\" (did you mean "
	      "\"where\"?)",
	      "keys are case-sensitive, suggestions are not");
	fails("tables:\n  t:\n    filter: x\n",
	      "s.yaml:3: table \"t\": unknown key \"filter\" (expected one of: "
	      "rename, where, columns, add, down)",
	      "unknown table key without a suggestion");
	fails("tables:\n  t:\n    columns:\n      c: { renam: d }\n",
	      "s.yaml:4: column \"c\": unknown key \"renam\" (did you mean "
	      "\"rename\"?)",
	      "renam in a column");
	fails("tables:\n  t:\n    columns:\n      c: { frobnicate: 1 }\n",
	      "s.yaml:4: column \"c\": unknown key \"frobnicate\" (expected one "
	      "of: rename, drop, type, divide_by, up)",
	      "unknown column key without a suggestion");
	fails("tables:\n  t:\n    add:\n      x: { type: text, defualt: 1 }\n",
	      "s.yaml:4: added column \"x\": unknown key \"defualt\" (did you "
	      "mean \"default\"?)",
	      "defualt in an add");
	fails("tables:\n  t:\n    add:\n      x: { type: text, dflt: 1 }\n",
	      "s.yaml:4: added column \"x\": unknown key \"dflt\" (expected one "
	      "of: type, up, default)",
	      "unknown add key without a suggestion");
	fails("tables:\n  t:\n    columns: [a, b]\n",
	      "s.yaml:3: table \"t\": \"columns\" must be a mapping, not a "
	      "sequence",
	      "columns is a sequence");
	fails("tables:\n  t:\n    columns:\n      c: text\n",
	      "s.yaml:4: column \"c\": the column entry must be a mapping, not a "
	      "string",
	      "column entry is a string");
	fails("tables:\n  t:\n    columns:\n      \"\": {}\n",
	      "s.yaml:4: table \"t\": column names must not be empty",
	      "empty column name");
	fails("tables:\n  t:\n    add:\n      x: [text]\n",
	      "s.yaml:4: added column \"x\": the added column entry must be a "
	      "mapping, not a sequence",
	      "add entry is a sequence");
	fails("tables:\n  t:\n    down: [a]\n",
	      "s.yaml:3: table \"t\": \"down\" must be a mapping, not a sequence",
	      "down is a sequence");
	fails("tables:\n  t:\n    add:\n      x: { up: \"1\" }\n",
	      "s.yaml:4: added column \"x\": \"type\" is required",
	      "add without a type");
	fails("tables:\n  t:\n    add:\n      x:\n",
	      "s.yaml:4: added column \"x\": \"type\" is required",
	      "add with a null entry");
}

static void test_scalar_errors(void)
{
	fails("tables:\n  users:\n    rename: { a: b }\n",
	      "s.yaml:3: table \"users\": \"rename\" must be a string, not a "
	      "mapping",
	      "table rename is a mapping");
	fails("tables:\n  users:\n    where: [a]\n",
	      "s.yaml:3: table \"users\": \"where\" must be a string, not a "
	      "sequence",
	      "where is a sequence");
	fails("tables:\n  users:\n    rename: \"\"\n",
	      "s.yaml:3: table \"users\": \"rename\" must not be empty",
	      "quoted empty rename");
	fails("tables:\n  users:\n    rename:\n",
	      "s.yaml:3: table \"users\": \"rename\" must not be empty",
	      "rename without a value");
	fails("tables:\n  users:\n    rename: ~\n",
	      "s.yaml:3: table \"users\": \"rename\" must be a string, not null",
	      "null rename");
	fails("tables:\n  users:\n    where: '   '\n",
	      "s.yaml:3: table \"users\": \"where\" must not be empty",
	      "blank where");
	fails("tables:\n  t:\n    rename: \"a\\0b\"\n",
	      "s.yaml:3: table \"t\": \"rename\" must not contain NUL bytes",
	      "NUL inside a value");
	fails("tables:\n  t:\n    columns:\n      c: { rename: '' }\n",
	      "s.yaml:4: column \"c\": \"rename\" must not be empty",
	      "empty column rename");
	fails("tables:\n  t:\n    columns:\n      c: { up: { x: 1 } }\n",
	      "s.yaml:4: column \"c\": \"up\" must be a string, not a mapping",
	      "column up is a mapping");
	fails("tables:\n  t:\n    columns:\n      c: { type: [text] }\n",
	      "s.yaml:4: column \"c\": \"type\" must be a string, not a sequence",
	      "type is a sequence");
	fails("tables:\n  t:\n    columns:\n      c: { type: '' }\n",
	      "s.yaml:4: column \"c\": \"type\" must not be empty", "empty type");
	fails("tables:\n  t:\n    add:\n      x: { type: text, up: [1] }\n",
	      "s.yaml:4: added column \"x\": \"up\" must be a string, not a "
	      "sequence",
	      "add up is a sequence");
	fails("tables:\n  t:\n    add:\n      x: { type: text, default: \"\" }\n",
	      "s.yaml:4: added column \"x\": \"default\" must not be empty",
	      "empty default");
	fails("tables:\n  t:\n    down:\n      a: { x: 1 }\n",
	      "s.yaml:4: down \"a\": the expression must be a string, not a "
	      "mapping",
	      "down expression is a mapping");
	fails("tables:\n  t:\n    down:\n      a: \"\"\n",
	      "s.yaml:4: down \"a\": the expression must not be empty",
	      "empty down expression");
}

#define COL(body) "tables:\n  t:\n    columns:\n      c: " body "\n"
#define BAD_DIVISOR(v) \
	"s.yaml:4: column \"c\": \"divide_by\" must be a positive decimal " \
	"number (like 100 or 0.5), not " v

static void test_drop_and_divide_errors(void)
{
	fails(COL("{ drop: maybe }"),
	      "s.yaml:4: column \"c\": \"drop\" must be true or false, not "
	      "\"maybe\"",
	      "drop: maybe");
	fails(COL("{ drop: \"true\" }"),
	      "s.yaml:4: column \"c\": \"drop\" must be true or false, not the "
	      "quoted string \"true\"",
	      "quoted drop");
	fails(COL("{ drop: [true] }"),
	      "s.yaml:4: column \"c\": \"drop\" must be true or false, not a "
	      "sequence",
	      "drop is a sequence");
	fails(COL("{ drop: y }"),
	      "s.yaml:4: column \"c\": \"drop\" must be true or false, not \"y\"",
	      "y is not a boolean here");
	fails(COL("{ drop: true, rename: d }"),
	      "s.yaml:4: column \"c\": \"drop: true\" cannot be combined with "
	      "\"rename\"",
	      "drop with rename");
	fails(COL("\n        type: text\n        drop: true"),
	      "s.yaml:5: column \"c\": \"drop: true\" cannot be combined with "
	      "\"type\"",
	      "drop with type, pointing at the type");
	fails(COL("{ divide_by: 100, drop: yes }"),
	      "s.yaml:4: column \"c\": \"drop: true\" cannot be combined with "
	      "\"divide_by\"",
	      "drop with divide_by");
	fails(COL("\n        drop: true\n\n        up: x"),
	      "s.yaml:7: column \"c\": \"drop: true\" cannot be combined with "
	      "\"up\"",
	      "drop with up");
	fails(COL("\n        divide_by: 100\n        up: \"c + 1\""),
	      "s.yaml:6: column \"c\": \"up\" and \"divide_by\" cannot be "
	      "combined (ambiguous: divide inside the \"up\" expression instead)",
	      "up with divide_by");
	fails(COL("\n        up: \"c + 1\"\n        divide_by: 100"),
	      "s.yaml:6: column \"c\": \"up\" and \"divide_by\" cannot be "
	      "combined (ambiguous: divide inside the \"up\" expression instead)",
	      "divide_by with up");
	fails(COL("{ divide_by: 0 }"), BAD_DIVISOR("\"0\""), "divide_by 0");
	fails(COL("{ divide_by: 0.000 }"), BAD_DIVISOR("\"0.000\""),
	      "divide_by 0.000");
	fails(COL("{ divide_by: -5 }"), BAD_DIVISOR("\"-5\""), "divide_by -5");
	fails(COL("{ divide_by: +5 }"), BAD_DIVISOR("\"+5\""), "divide_by +5");
	fails(COL("{ divide_by: 1e3 }"), BAD_DIVISOR("\"1e3\""), "divide_by 1e3");
	fails(COL("{ divide_by: 1.2.3 }"), BAD_DIVISOR("\"1.2.3\""),
	      "divide_by 1.2.3");
	fails(COL("{ divide_by: NaN }"), BAD_DIVISOR("\"NaN\""), "divide_by NaN");
	fails(COL("{ divide_by: abc }"), BAD_DIVISOR("\"abc\""), "divide_by abc");
	fails(COL("{ divide_by: . }"), BAD_DIVISOR("\".\""), "divide_by .");
	fails(COL("{ divide_by: \"100\" }"),
	      BAD_DIVISOR("the quoted string \"100\""), "quoted divide_by");
	fails(COL("{ divide_by: [100] }"), BAD_DIVISOR("a sequence"),
	      "divide_by is a sequence");
	fails(COL("{ divide_by: }"), BAD_DIVISOR("\"\""), "divide_by is empty");
}

#define KNOWN_TYPES \
	" (known: bigint, integer, smallint, numeric(p,s), double precision, " \
	"real, text, varchar(n), char(n), bytea, boolean, date, timestamp, " \
	"timestamptz, json, jsonb, uuid)"

static void test_type_errors(void)
{
	fails("tables:\n  t:\n    columns:\n      balance: { type: "
	      "\"nmeric(12,2)\", divide_by: 100 }\n",
	      "s.yaml:4: column \"balance\": unknown column type \"nmeric(12,2)\""
	      KNOWN_TYPES,
	      "misspelt column type");
	fails("tables:\n  t:\n    columns:\n      balance:\n        divide_by: 100\n"
	      "        type: numeric(0,2)\n",
	      "s.yaml:6: column \"balance\": unknown column type \"numeric(0,2)\": "
	      "precision must be 1..1000",
	      "bad precision, pointing at the type line");
	fails("tables:\n  t:\n    add:\n      x: { type: strng }\n",
	      "s.yaml:4: added column \"x\": unknown column type \"strng\""
	      KNOWN_TYPES,
	      "misspelt add type");
}

static void test_duplicates(void)
{
	fails("tables:\n  users: {}\n  orders: {}\n  users: {}\n",
	      "s.yaml:4: duplicate table \"users\" (first at line 2)",
	      "same table twice");
	fails("tables: {}\nexclude: []\ntables: {}\n",
	      "s.yaml:3: duplicate key \"tables\" (first at line 1)",
	      "same top-level key twice");
	fails("tables:\n  t:\n    rename: a\n    where: x\n    rename: b\n",
	      "s.yaml:5: table \"t\": duplicate key \"rename\" (first at line 3)",
	      "same table key twice");
	fails("tables:\n  t:\n    columns: {}\n    columns: {}\n",
	      "s.yaml:4: table \"t\": duplicate key \"columns\" (first at line 3)",
	      "columns twice");
	fails("tables:\n  t:\n    columns:\n      c: {}\n      d: {}\n"
	      "      c: { drop: true }\n",
	      "s.yaml:6: table \"t\": duplicate column \"c\" (first at line 4)",
	      "same column twice");
	fails("tables:\n  t:\n    columns:\n      c:\n        type: text\n"
	      "        type: integer\n",
	      "s.yaml:6: column \"c\": duplicate key \"type\" (first at line 5)",
	      "same column key twice");
	fails("tables:\n  t:\n    add:\n      x: { type: text }\n"
	      "      x: { type: integer }\n",
	      "s.yaml:5: table \"t\": duplicate added column \"x\" (first at line "
	      "4)",
	      "same add twice");
	fails("tables:\n  t:\n    add:\n      x: { type: text, up: a, up: b }\n",
	      "s.yaml:4: added column \"x\": duplicate key \"up\" (first at line "
	      "4)",
	      "same add key twice");
	fails("tables:\n  t:\n    down:\n      a: x\n      a: y\n",
	      "s.yaml:5: table \"t\": duplicate down column \"a\" (first at line "
	      "4)",
	      "same down twice");
}

static void test_collisions(void)
{
	fails("tables:\n  t:\n    columns:\n      a: { rename: x }\n"
	      "      b: { rename: x }\n",
	      "s.yaml:5: table \"t\": columns \"a\" and \"b\" would both be "
	      "called \"x\"",
	      "two columns renamed to one name");
	fails("tables:\n  t:\n    columns:\n      a: { rename: b }\n"
	      "      b: { type: text }\n",
	      "s.yaml:5: table \"t\": columns \"a\" and \"b\" would both be "
	      "called \"b\"",
	      "a rename onto a kept column");
	fails("tables:\n  t:\n    columns:\n      name: { rename: full_name }\n"
	      "    add:\n      full_name: { type: text }\n",
	      "s.yaml:6: table \"t\": added column \"full_name\" has the name "
	      "column \"name\" is renamed to",
	      "an add named like a rename");
	fails("tables:\n  t:\n    add:\n      full_name: { type: text }\n"
	      "    columns:\n      name: { rename: full_name }\n",
	      "s.yaml:6: table \"t\": added column \"full_name\" has the name "
	      "column \"name\" is renamed to",
	      "a rename named like an earlier add");
	fails("tables:\n  t:\n    columns:\n      email: { type: text }\n"
	      "    add:\n      email: { type: text }\n",
	      "s.yaml:6: table \"t\": added column \"email\" has the name of "
	      "column \"email\" listed in \"columns\"",
	      "an add named like a kept column");
	fails("tables:\n  a:\n    columns:\n      x: { rename: y }\n"
	      "  b:\n    columns:\n      x: { rename: y }\n      z: { rename: y }\n",
	      "s.yaml:8: table \"b\": columns \"x\" and \"z\" would both be "
	      "called \"y\"",
	      "collisions are per table");
}

static void test_exclude(void)
{
	ferry_spec *spec = parse_ok("exclude:\n  - \"audit_*\"\n  - tmp_?\n"
	                            "  - '[xy]_log'\n",
	                            "exclude as a sequence");
	if (spec) {
		is_int(spec->nexclude, 3, "three patterns");
		is_str(spec->exclude[1], "tmp_?", "second pattern");
		is_int(spec->exclude_lines[0], 2, "first pattern line");
		is_int(spec->exclude_lines[2], 4, "third pattern line");
		ok(ferry_spec_excludes(spec, "audit_2024"), "audit_* matches");
		ok(ferry_spec_excludes(spec, "tmp_a"), "tmp_? matches tmp_a");
		ok(!ferry_spec_excludes(spec, "tmp_ab"), "tmp_? is one character");
		ok(ferry_spec_excludes(spec, "x_log"), "[xy]_log matches x_log");
		ok(!ferry_spec_excludes(spec, "z_log"), "[xy]_log skips z_log");
		ok(!ferry_spec_excludes(spec, "users"), "users is kept");
		ferry_spec_free(spec);
	}
	spec = parse_ok("tables: {}\nexclude: \"audit_*\"\n",
	                "exclude as one string");
	if (spec) {
		is_int(spec->nexclude, 1, "one pattern");
		is_str(spec->exclude[0], "audit_*", "the pattern");
		is_int(spec->exclude_lines[0], 2, "its line");
		ok(ferry_spec_excludes(spec, "audit_x"), "it matches");
		ferry_spec_free(spec);
	}
	spec = parse_ok("exclude: []\n", "empty exclude");
	ok(spec && spec->nexclude == 0 && !ferry_spec_excludes(spec, "a"),
	   "an empty exclude excludes nothing");
	ferry_spec_free(spec);
	ok(!ferry_spec_excludes(NULL, "a"), "excludes on NULL");
	fails("exclude: [\"\"]\n",
	      "s.yaml:1: an \"exclude\" pattern must not be empty",
	      "empty exclude pattern");
	fails("exclude: { a: b }\n",
	      "s.yaml:1: \"exclude\" must be a glob pattern or a sequence of them, "
	      "not a mapping",
	      "exclude is a mapping");
	fails("exclude:\n  - a\n  - [b]\n",
	      "s.yaml:3: an \"exclude\" pattern must be a string, not a sequence",
	      "nested exclude sequence");
}

static void test_yaml_errors(void)
{
	fails("tables:\n  users:\n    rename: a: b\n",
	      "s.yaml:3: mapping values are not allowed in this context",
	      "libyaml syntax error");
	fails("tables:\n\tusers: {}\n",
	      "s.yaml:2: found character that cannot start any token",
	      "a tab for indentation");
	fails("tables:\n  \xff: {}\n", "s.yaml:2: invalid leading UTF-8 octet",
	      "bad UTF-8 is placed on its line");
	fails("tables:\n  users: &u { rename: x }\n  orders: *u\n",
	      "s.yaml:2: table \"users\": anchors (&u) are not supported",
	      "anchor");
	fails("tables:\n  orders: *u\n",
	      "s.yaml:2: table \"orders\": aliases (*u) are not supported",
	      "alias");
	fails("tables:\n  users: !!map {}\n",
	      "s.yaml:2: table \"users\": tags (tag:yaml.org,2002:map) are not "
	      "supported",
	      "tag on a mapping");
	fails(COL("{ rename: !!str x }"),
	      "s.yaml:4: column \"c\": tags (tag:yaml.org,2002:str) are not "
	      "supported",
	      "tag on a scalar");
}

static void test_suggest(void)
{
	static const char *const top[] = { "tables", "exclude" };
	static const char *const cols[] = { "rename", "drop", "type",
		                                "divide_by", "up" };
	is_str(ferry_suggest("tabels", top, 2), "tables", "tabels -> tables");
	is_str(ferry_suggest("exlude", top, 2), "exclude", "exlude -> exclude");
	ok(ferry_suggest("zzz", top, 2) == NULL, "zzz is too far");
	ok(ferry_suggest("columns", top, 2) == NULL, "columns is too far");
	is_str(ferry_suggest("TABLES", top, 2), "tables", "case-insensitive");
	is_str(ferry_suggest("Divide_By", cols, 5), "divide_by",
	       "case-insensitive, mixed");
	is_str(ferry_suggest("renam", cols, 5), "rename", "renam -> rename");
	is_str(ferry_suggest("dividby", cols, 5), "divide_by",
	       "two edits within len/3");
	ok(ferry_suggest("x", NULL, 0) == NULL, "no candidates");
	ok(ferry_suggest("", top, 2) == NULL, "empty word, far candidates");

	static const char *const tie[] = { "bat", "hat" };
	is_str(ferry_suggest("cat", tie, 2), "bat", "ties go to the first");
	static const char *const closer[] = { "renamed", "rename" };
	is_str(ferry_suggest("renam", closer, 2), "rename",
	       "the closest wins over an earlier one");
	static const char *const abc[] = { "abc" }, *const xy[] = { "xy" };
	is_str(ferry_suggest("ab", abc, 1), "abc", "short words allow one edit");
	ok(ferry_suggest("ab", xy, 1) == NULL, "but not two");
	static const char *const nine3[] = { "abcdefxyz" },
	                        *const nine4[] = { "abcdewxyz" };
	is_str(ferry_suggest("abcdefghi", nine3, 1), "abcdefxyz",
	       "nine letters allow three edits");
	ok(ferry_suggest("abcdefghi", nine4, 1) == NULL, "but not four");

	char word[80], cand[80];
	memset(word, 'a', 70);
	strcpy(word + 70, "b");
	memset(cand, 'a', 71);
	cand[71] = '\0';
	const char *const longs[] = { cand };
	is_str(ferry_suggest(word, longs, 1), cand, "long candidates work");
	ferry_alloc_fail_at(1, 0);
	const char *got = ferry_suggest(word, longs, 1);
	ferry_alloc_fail_at(0, 0);
	ok(got == NULL, "out of memory for a long candidate: no suggestion");
}

/* Writes text to a fresh temporary file; fills path. */
static int write_temp(char *path, const char *text)
{
	strcpy(path, "/tmp/ferry-test-spec-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static void test_load(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_spec *spec = NULL;
	int rc = ferry_spec_load(&spec, "/nonexistent-ferry/spec.yaml", &err);
	is_int(rc, FERRY_ERROR, "a missing file fails");
	ok(spec == NULL, "and returns no spec");
	is_str(ferry_error_message(&err),
	       "could not read spec \"/nonexistent-ferry/spec.yaml\": No such "
	       "file or directory",
	       "missing file message");
	rc = ferry_spec_load(&spec, "/", &err);
	is_str(ferry_error_message(&err),
	       "could not read spec \"/\": Is a directory", "a directory fails");

	char path[64];
	ok(write_temp(path, example) == 0, "temporary spec written");
	rc = ferry_spec_load(&spec, path, &err);
	is_int(rc, 0, "the example loads from a file");
	ok(spec && spec->ntables == 1 && spec->nexclude == 1,
	   "loaded spec has its table and exclude");
	is_str(spec ? spec->path : NULL, path, "path is kept for messages");
	ferry_spec_free(spec);
	unlink(path);

	char want[128];
	ok(write_temp(path, "tables: {}\ntabels: {}\n") == 0, "bad spec written");
	rc = ferry_spec_load(&spec, path, &err);
	snprintf(want, sizeof want,
	         "%s:2: unknown key \"tabels\" (did you mean \"tables\"?)", path);
	is_str(ferry_error_message(&err), want, "messages name the file");
	unlink(path);
	ferry_error_clear(&err);
}

/* Parses yaml (or loads path) with the nth allocation failing. */
static int fault_run(const char *yaml, const char *path, long n,
                     long *failures, int *oom_message)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_spec *spec = NULL;
	ferry_alloc_fail_at(n, 0);
	int rc = path ? ferry_spec_load(&spec, path, &err)
	              : ferry_spec_parse(&spec, "s.yaml", yaml, strlen(yaml), &err);
	*failures = ferry_alloc_failures();
	ferry_alloc_fail_at(0, 0);
	*oom_message = !strcmp(ferry_error_message(&err), "out of memory");
	if ((rc == 0) != (spec != NULL))
		rc = 1; /* a spec must come back exactly on success */
	ferry_spec_free(spec);
	ferry_error_clear(&err);
	return rc;
}

/* Fails each allocation in turn until a run needs no failure: every run
 * must end in `want` or a clean FERRY_ENOMEM (ASan reports any leak). */
static void fault_loop(const char *yaml, const char *path, int want,
                       const char *what)
{
	int bad = 0;
	long n;
	for (n = 1; n < 100000; n++) {
		long failures;
		int oom;
		int rc = fault_run(yaml, path, n, &failures, &oom);
		if (failures == 0) {
			bad += rc != want;
			break;
		}
		if (rc == FERRY_ENOMEM)
			bad += !oom;
		else
			bad += want == 0 || rc != want; /* a failure was swallowed */
	}
	is_int(bad, 0, "%s: every failed allocation is reported cleanly", what);
	ok(n > 5 && n < 100000, "%s: %ld allocations were each failed", what,
	   n - 1);
}

static void test_faults(void)
{
	fault_loop(example, NULL, 0, "the example");
	fault_loop("tables:\n  a: { rename: b }\n  t:\n    columns:\n"
	           "      c: { type: text, divide_by: 100 }\n"
	           "      d: { rename: c }\n",
	           NULL, FERRY_EINVAL, "a collision");
	fault_loop("exclude: [a, b]\ntables:\n  a: { rename: b }\n  t:\n"
	           "    add:\n      x: { type: nmeric }\n",
	           NULL, FERRY_EINVAL, "a bad type");
	fault_loop("tables:\n  a:\n    colums: {}\n", NULL, FERRY_EINVAL,
	           "a misspelt key");
	char path[64];
	if (write_temp(path, example) == 0) {
		fault_loop(NULL, path, 0, "loading the example");
		unlink(path);
	}
}

int main(void)
{
	test_example();
	test_empty();
	test_copy_as_is();
	test_values();
	test_renames_that_fit();
	test_top_level_errors();
	test_key_errors();
	test_scalar_errors();
	test_drop_and_divide_errors();
	test_type_errors();
	test_duplicates();
	test_collisions();
	test_exclude();
	test_yaml_errors();
	test_suggest();
	test_load();
	test_faults();
	return tap_done();
}
