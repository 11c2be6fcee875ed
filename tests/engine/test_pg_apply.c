/*
 * tests/engine/test_pg_apply.c - the online apply of engine/pg_target.c
 * against a real PostgreSQL (conninfo in FERRY_TEST_PG): batches mixing
 * inserts, updates (key changes and swaps included) and deletes; the
 * checkpoint committed with the batch and nothing of an aborted one;
 * strict divergence errors; idempotent replays converging; composite
 * keys; tables without a key; every value type read back exactly; the
 * text fallback for reused tables; TRUNCATE; awkward names; misuse;
 * values the source did not send (partial updates, key-only old rows,
 * refusals); every allocation failing in turn; and the throughput of the
 * pipeline (FERRY_APPLY_BENCH=N changes, default 100000, 0 to skip).
 * Each run works in its own schema, dropped at the end.
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/datetime.h"
#include "engine/pg_target.h"
#include "tests/tap.h"
#include "tests/pg_test.h"

static const ferry_target_ops *ops = &ferry_pg_target_ops;
static char schema[64];
static char conninfo[2048]; /* FERRY_TEST_PG with search_path = schema */

/* ---- helpers ---------------------------------------------------------- */

static ferry_target *open_target(void)
{
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *t = NULL;
	if (ferry_uri_parse(&uri, conninfo, &err) == 0) {
		if (ops->open(&t, &uri, &err) < 0)
			tap_diag("open: %s", ferry_error_message(&err));
		ferry_uri_free(&uri);
	} else {
		tap_diag("uri: %s", ferry_error_message(&err));
	}
	ferry_error_clear(&err);
	return t;
}

static ferry_table *new_table(const char *name)
{
	ferry_table *t = ferry_calloc(1, sizeof *t);
	t->name = ferry_strdup(name);
	t->row_count = -1;
	return t;
}

static void free_table(ferry_table *t)
{
	ferry_table_clear(t);
	ferry_free(t);
}

static ferry_column *add_col(ferry_table *t, const char *name, const char *type,
                             int pk)
{
	ferry_column *c = ferry_table_add_column(t);
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(type);
	c->pk_position = pk;
	if (ferry_sqltype_parse(&c->type, type, NULL) < 0)
		tap_diag("bad type %s", type);
	return c;
}

/* prepare_table (--drop) + finish_table: the table with its key. */
static int create(ferry_target *t, const ferry_table *tb)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ops->prepare_table(t, tb, FERRY_EXISTING_DROP, &err);
	if (rc == 0)
		rc = ops->finish_table(t, tb, &err);
	if (rc < 0)
		tap_diag("create %s: %s", tb->name, ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc;
}

static ferry_value txt(const char *s)
{
	return ferry_value_bytes(FERRY_TEXT, s, strlen(s));
}

static ferry_value I(int64_t i) { return ferry_value_int(i); }

static ferry_value N(void) { return ferry_value_null(); }

/* One change of a batch; images of up to 4 values. */
typedef struct chg {
	ferry_op op;
	int nb, na; /* values in before / after (0: no image) */
	ferry_value b[4], a[4];
} chg;

#define INS(...) {FERRY_OP_INSERT, 0, -1, {{0}}, {__VA_ARGS__}}
#define DEL(...) {FERRY_OP_DELETE, -1, 0, {__VA_ARGS__}, {{0}}}
#define TRUNC {FERRY_OP_TRUNCATE, 0, 0, {{0}}, {{0}}}

/* An update: before, then after, each of n values (before NULL-less). */
static chg upd(int n, const ferry_value *b, const ferry_value *a)
{
	chg c = {FERRY_OP_UPDATE, b ? n : 0, n, {{0}}, {{0}}};
	for (int i = 0; i < n; i++) {
		if (b)
			c.b[i] = b[i];
		c.a[i] = a[i];
	}
	return c;
}

/* Applies n changes of a table of w columns; the first error (from a
 * change or, with migration set, from the commit) is left in err.  The
 * batch is committed when migration is given and nothing failed, else
 * aborted. */
static int apply_batch(ferry_target *t, const ferry_table *tb, const chg *c,
                       int n, bool idem, const char *migration, uint64_t lsn,
                       ferry_error *err)
{
	uint32_t w = tb->ncolumns;
	int rc = ops->apply_begin(t, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		ferry_row b = {(ferry_value *)c[i].b, w, w};
		ferry_row a = {(ferry_value *)c[i].a, w, w};
		rc = ops->apply_change(t, tb, c[i].op, c[i].nb ? &b : NULL,
		                       c[i].na ? &a : NULL, idem, err);
	}
	if (rc == 0 && migration)
		return ops->apply_commit(t, migration, lsn, err);
	ops->apply_abort(t);
	return rc;
}

/* The rows of a table, "(1,a,),(2,b,7)", in row order. */
static const char *rows_of(const char *table)
{
	char *q = PQescapeIdentifier(admin, table, strlen(table));
	const char *out = val("SELECT coalesce(string_agg(x::text, ',' ORDER BY "
	                      "x), '') FROM %s x", q);
	PQfreemem(q);
	return out;
}

static uint64_t checkpoint(ferry_target *t, const char *migration)
{
	ferry_error err = FERRY_ERROR_INIT;
	uint64_t lsn = 12345;
	if (ops->checkpoint_get(t, migration, &lsn, &err) < 0) {
		tap_diag("checkpoint_get: %s", ferry_error_message(&err));
		lsn = 999999;
	}
	ferry_error_clear(&err);
	return lsn;
}

static ferry_table *items_table(const char *name)
{
	ferry_table *tb = new_table(name);
	add_col(tb, "id", "bigint", 1)->not_null = true;
	add_col(tb, "name", "text", 0);
	add_col(tb, "qty", "integer", 0);
	return tb;
}

/* ---- a mixed batch ---------------------------------------------------- */

static void check_mixed_batch(ferry_target *t)
{
	ferry_table *tb = items_table("items");
	ferry_error err = FERRY_ERROR_INIT;
	ok(create(t, tb) == 0, "items created with its primary key");
	ferry_value b2[3] = {I(2), txt("two"), I(20)};
	ferry_value a2[3] = {I(2), txt("TWO"), I(21)};
	ferry_value b3[3] = {I(3), txt("three"), I(30)};
	ferry_value a3[3] = {I(33), txt("three"), I(31)};
	/* a swap of keys 4 and 5, as the source can only make it: through a
	 * third key, each step one update (the key is checked per row) */
	ferry_value r4[3] = {I(4), txt("four"), I(40)};
	ferry_value r5[3] = {I(5), txt("five"), N()};
	ferry_value r4t[3] = {I(-1), txt("four"), I(40)};
	ferry_value r5at4[3] = {I(4), txt("five"), N()};
	ferry_value r4at5[3] = {I(5), txt("four"), I(40)};
	chg c[] = {
		INS(I(1), txt("one"), I(10)), INS(I(2), txt("two"), I(20)),
		INS(I(3), txt("three"), I(30)), INS(I(4), txt("four"), I(40)),
		INS(I(5), txt("five"), N()), upd(3, b2, a2), upd(3, b3, a3),
		upd(3, r4, r4t), upd(3, r5, r5at4), upd(3, r4t, r4at5),
		DEL(I(1), txt("one"), I(10)), INS(I(6), txt("six"), I(60)),
		DEL(I(6), txt("six"), I(60)), upd(3, NULL, a2),
	};
	int rc = apply_batch(t, tb, c, (int)(sizeof c / sizeof *c), false,
	                     "m1", 100, &err);
	if (!ok(rc == 0, "a batch of inserts, updates, key changes, a key swap "
	        "and deletes commits"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("items"),
	       "(2,TWO,21),(4,five,),(5,four,40),(33,three,31)",
	       "the rows are what the source has: key moved, keys swapped, a "
	       "row inserted and deleted in the batch gone");
	is_int(checkpoint(t, "m1"), 100, "the checkpoint is committed with it");
	is_str(val("SELECT lsn || ' ' || (updated <= now()) FROM "
	           "_ferry_checkpoint WHERE migration = 'm1'"), "100 true",
	       "_ferry_checkpoint holds (migration, lsn, updated)");
	/* the same table again: the statements are cached */
	chg more[] = {INS(I(7), txt("seven"), I(70)), DEL(I(7), txt("x"), N())};
	rc = apply_batch(t, tb, more, 2, false, "m1", 101, &err);
	if (!ok(rc == 0, "a second batch on the cached statements"))
		tap_diag("%s", ferry_error_message(&err));
	is_int(checkpoint(t, "m1"), 101, "the checkpoint moves on");
	is_int(checkpoint(t, "other"), 0, "a migration without a checkpoint: 0");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- atomicity: abort, and what others see before the commit ---------- */

static void check_abort(ferry_target *t)
{
	ferry_table *tb = items_table("items");
	ferry_error err = FERRY_ERROR_INIT;
	const char *before = rows_of("items");
	char saved[256];
	snprintf(saved, sizeof saved, "%s", before);
	ferry_value b2[3] = {I(2), txt("TWO"), I(21)};
	ferry_value a2[3] = {I(2), txt("gone"), I(0)};
	chg c[] = {INS(I(8), txt("eight"), I(80)), upd(3, b2, a2),
	           DEL(I(33), txt("three"), I(31))};
	int rc = ops->apply_begin(t, &err);
	for (int i = 0; rc == 0 && i < 3; i++) {
		ferry_row b = {c[i].b, 3, 3}, a = {c[i].a, 3, 3};
		rc = ops->apply_change(t, tb, c[i].op, c[i].nb ? &b : NULL,
		                       c[i].na ? &a : NULL, false, &err);
	}
	ok(rc == 0, "three changes sent");
	is_str(rows_of("items"), saved,
	       "another session sees nothing of an open batch");
	ops->apply_abort(t);
	is_str(rows_of("items"), saved,
	       "after apply_abort none of the changes is there");
	is_int(checkpoint(t, "m1"), 101, "nor the checkpoint");
	ops->apply_abort(t); /* twice, and without a batch: harmless */
	chg again[] = {INS(I(9), txt("nine"), I(90))};
	rc = apply_batch(t, tb, again, 1, false, "m1", 102, &err);
	ok(rc == 0, "the connection is usable after the abort");
	ok(strstr(rows_of("items"), "(9,nine,90)") != NULL,
	   "and the next batch commits");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- strict mode: divergence ------------------------------------------ */

/* Every row of a table as text, in text order (any column types). */
static const char *all_rows(const char *table)
{
	char *q = PQescapeIdentifier(admin, table, strlen(table));
	const char *out = val("SELECT coalesce(string_agg(x::text, ',' ORDER BY "
	                      "x::text), '') FROM %s x", q);
	PQfreemem(q);
	return out;
}

/* A batch that must fail: the error (from its change or the commit),
 * then nothing of it and the checkpoint unchanged. */
static void expect_divergence(ferry_target *t, const ferry_table *tb,
                              const chg *c, int n, const char *want,
                              const char *label)
{
	ferry_error err = FERRY_ERROR_INIT;
	char saved[512];
	snprintf(saved, sizeof saved, "%s", all_rows(tb->name));
	uint64_t lsn = checkpoint(t, "m1");
	int rc = apply_batch(t, tb, c, n, false, "m1", lsn + 50, &err);
	ok(rc == FERRY_ERROR, "%s: the batch fails", label);
	is_str(ferry_error_message(&err), want, "%s: the message", label);
	is_str(all_rows(tb->name), saved, "%s: nothing of it is applied",
	       label);
	is_int(checkpoint(t, "m1"), lsn, "%s: the checkpoint stays", label);
	ferry_error_clear(&err);
}

static void check_strict(ferry_target *t)
{
	ferry_table *tb = items_table("items");
	ferry_value b[3] = {I(999), txt("x"), N()}, a[3] = {I(999), txt("y"), N()};
	chg upd_missing[] = {INS(I(10), txt("ten"), I(1)), upd(3, b, a),
	                     INS(I(11), txt("eleven"), I(1))};
	expect_divergence(t, tb, upd_missing, 3,
	                  "update of \"items\" key (id=999) matched 0 rows: the "
	                  "target has diverged", "update of a missing key");
	chg del_missing[] = {DEL(I(998), txt("x"), N()),
	                     INS(I(12), txt("x"), N())};
	expect_divergence(t, tb, del_missing, 2,
	                  "delete of \"items\" key (id=998) matched 0 rows: the "
	                  "target has diverged", "delete of a missing key");
	chg dup[] = {INS(I(13), txt("x"), N()), INS(I(2), txt("again"), N())};
	expect_divergence(t, tb, dup, 2,
	                  "could not apply insert to table \"items\": duplicate "
	                  "key value violates unique constraint \"items_pkey\"; "
	                  "detail: Key (id)=(2) already exists.",
	                  "an insert of a present key");
	ferry_value mv[3] = {I(2), txt("TWO"), I(21)};
	ferry_value to[3] = {I(4), txt("x"), N()};
	chg move_onto[] = {upd(3, mv, to)};
	expect_divergence(t, tb, move_onto, 1,
	                  "could not apply update to table \"items\" key (id=2): "
	                  "duplicate key value violates unique constraint "
	                  "\"items_pkey\"; detail: Key (id)=(4) already exists.",
	                  "a key moved onto another row");
	/* an error reported by a later call leaves the batch failed */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_row row = {b, 3, 3};
	int rc = ops->apply_begin(t, &err);
	for (int i = 0; rc == 0 && i < 50000; i++)
		rc = ops->apply_change(t, tb, FERRY_OP_DELETE, &row, NULL, false,
		                       &err);
	ok(rc == FERRY_ERROR && strstr(ferry_error_message(&err), "matched 0"),
	   "the pipeline reports a divergence before the commit");
	is_int(ops->apply_change(t, tb, FERRY_OP_DELETE, &row, NULL, false, &err),
	       FERRY_EINVAL, "a failed batch takes no more changes");
	is_str(ferry_error_message(&err), "could not apply a change to table "
	       "\"items\": the batch has failed", "saying so");
	is_int(ops->apply_commit(t, "m1", 1000, &err), FERRY_EINVAL,
	       "nor a commit");
	ok(checkpoint(t, "m1") < 1000, "so the checkpoint is not written");
	ops->apply_abort(t);
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- idempotent mode -------------------------------------------------- */

/* Starting from S0, the list is valid strictly; applied idempotently
 * from any prefix of it (the snapshot saw that much), and again, it must
 * end in the same rows. */
static void reset_idem(void)
{
	sqlf("TRUNCATE idem; INSERT INTO idem VALUES (1, 'a', 1), (2, 'b', 2), "
	     "(3, 'c', 3)");
}

static void check_idempotent(ferry_target *t)
{
	ferry_table *tb = items_table("idem");
	ferry_error err = FERRY_ERROR_INIT;
	create(t, tb);
	ferry_value o2[3] = {I(2), txt("b"), I(2)}, n2[3] = {I(2), txt("B"), I(20)};
	ferry_value o3[3] = {I(3), txt("c"), I(3)}, n3[3] = {I(30), txt("c"), I(3)};
	ferry_value o5[3] = {I(5), txt("e"), I(5)}, n5[3] = {I(50), txt("e"), I(5)};
	ferry_value back[3] = {I(3), txt("C"), I(33)};
	ferry_value n4[3] = {I(4), txt("d"), I(40)};
	chg list[] = {
		INS(I(4), txt("d"), I(4)), upd(3, o2, n2), upd(3, o3, n3),
		DEL(I(1), txt("a"), I(1)), INS(I(5), txt("e"), I(5)),
		upd(3, o5, n5), upd(3, n3, back), INS(I(1), txt("new"), I(100)),
		upd(3, NULL, n4), DEL(I(50), txt("e"), I(5)),
	};
	int n = (int)(sizeof list / sizeof *list), bad = 0;
	const char *want = "(1,new,100),(2,B,20),(3,C,33),(4,d,40)";
	reset_idem();
	int rc = apply_batch(t, tb, list, n, false, "idem", 1, &err);
	if (!ok(rc == 0, "the list applies strictly"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("idem"), want, "to the expected rows");
	for (int k = 0; k <= n; k++) {
		reset_idem();
		rc = apply_batch(t, tb, list, k, false, "idem", 1, &err);
		for (int pass = 0; rc == 0 && pass < 2; pass++)
			rc = apply_batch(t, tb, list, n, true, "idem", 1, &err);
		if (rc < 0 || strcmp(rows_of("idem"), want) != 0) {
			bad++;
			tap_diag("prefix %d: rc %d %s: %s", k, rc,
			         ferry_error_message(&err), rows_of("idem"));
		}
	}
	ok(bad == 0, "from every prefix the snapshot may have seen, applied "
	   "idempotently twice, the rows converge");
	/* each rule on its own */
	sqlf("TRUNCATE idem; INSERT INTO idem VALUES (1, 'a', 1), (7, 'new', 7)");
	ferry_value ab[3] = {I(5), txt("x"), N()}, aa[3] = {I(5), txt("y"), N()};
	ferry_value kb[3] = {I(6), txt("p"), N()}, ka[3] = {I(7), txt("q"), N()};
	chg rules[] = {INS(I(1), txt("A"), I(10)), INS(I(1), txt("A2"), I(11)),
	               upd(3, ab, aa), DEL(I(9), txt("z"), N()),
	               upd(3, kb, ka)};
	rc = apply_batch(t, tb, rules, 5, true, "idem", 2, &err);
	if (!ok(rc == 0, "idempotent rules apply"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("idem"), "(1,A2,11),(5,y,),(7,q,)",
	       "insert twice keeps the last, an update of an absent row "
	       "creates it, a delete of an absent row is fine, a key move onto "
	       "a present key takes the new values");
	sqlf("INSERT INTO idem VALUES (8, 'old', 8), (9, 'both', 9)");
	ferry_value mb[3] = {I(8), txt("old"), I(8)};
	ferry_value ma[3] = {I(80), txt("m"), N()};
	ferry_value bb[3] = {I(7), txt("q"), N()}, ba[3] = {I(9), txt("w"), N()};
	chg moves[] = {upd(3, mb, ma), upd(3, bb, ba)};
	rc = apply_batch(t, tb, moves, 2, true, "idem", 3, &err);
	ok(rc == 0, "idempotent key moves apply");
	is_str(rows_of("idem"), "(1,A2,11),(5,y,),(9,w,),(80,m,)",
	       "a row at the old key moves; with both keys present the old "
	       "one goes");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- composite keys ----------------------------------------------------- */

static void check_composite(ferry_target *t)
{
	ferry_table *tb = new_table("pairs");
	ferry_error err = FERRY_ERROR_INIT;
	add_col(tb, "a", "integer", 2)->not_null = true;
	add_col(tb, "b", "text", 1)->not_null = true;
	add_col(tb, "c", "text", 0);
	ok(create(t, tb) == 0, "a table keyed by (b, a)");
	ferry_value o[3] = {I(1), txt("x"), txt("c1")};
	ferry_value n[3] = {I(1), txt("z"), txt("c1'")};
	chg c[] = {INS(I(1), txt("x"), txt("c1")), INS(I(2), txt("x"), txt("c2")),
	           INS(I(1), txt("y"), txt("c3")), upd(3, o, n),
	           DEL(I(2), txt("x"), N())};
	int rc = apply_batch(t, tb, c, 5, false, "pairs", 1, &err);
	if (!ok(rc == 0, "composite keys: inserts, a key change in one part, a "
	        "delete"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("pairs"), "(1,y,c3),(1,z,c1')", "the rows");
	chg up[] = {INS(I(1), txt("y"), txt("up")), INS(I(3), txt("y"), N())};
	rc = apply_batch(t, tb, up, 2, true, "pairs", 2, &err);
	ok(rc == 0, "idempotent inserts upsert on the composite key");
	is_str(rows_of("pairs"), "(1,y,up),(1,z,c1'),(3,y,)", "the rows");
	ferry_value mb[3] = {I(9), txt("q"), N()}, ma[3] = {I(9), txt("r"), N()};
	chg miss[] = {upd(3, mb, ma)};
	expect_divergence(t, tb, miss, 1,
	                  "update of \"pairs\" key (b='q', a=9) matched 0 rows: "
	                  "the target has diverged",
	                  "the key is named in key order");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- tables without a key --------------------------------------------- */

static ferry_value js(const char *s)
{
	return ferry_value_bytes(FERRY_JSON, s, strlen(s));
}

static const char *loose_rows(void)
{
	return val("SELECT coalesce(string_agg(concat_ws('|', a, b, j), ',' "
	           "ORDER BY a, b, j::text), '') FROM loose");
}

static void check_keyless(ferry_target *t)
{
	ferry_table *tb = new_table("loose");
	ferry_error err = FERRY_ERROR_INIT;
	add_col(tb, "a", "integer", 0);
	add_col(tb, "b", "text", 0);
	add_col(tb, "j", "json", 0);
	ok(create(t, tb) == 0, "a table without a primary key");
	ferry_value o2[3] = {I(2), N(), N()}, n2[3] = {I(2), txt("y"), js("{}")};
	chg c[] = {INS(I(1), txt("x"), js("{\"k\": 1}")),
	           INS(I(1), txt("x"), js("{\"k\": 1}")), INS(I(2), N(), N()),
	           INS(I(3), txt("z"), js("[1, 2]")),
	           DEL(I(1), txt("x"), js("{\"k\": 1}")), upd(3, o2, n2),
	           DEL(I(3), txt("z"), js("[1, 2]"))};
	int rc = apply_batch(t, tb, c, 7, false, "loose", 1, &err);
	if (!ok(rc == 0, "keyless: the row matching every column is changed"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(loose_rows(), "1|x|{\"k\": 1},2|y|{}",
	       "of two identical rows one is deleted; NULLs match; json "
	       "compares as its text");
	chg miss[] = {DEL(I(4), txt("w"), N())};
	expect_divergence(t, tb, miss, 1,
	                  "delete of \"loose\" row (a=4, b='w', j=NULL) matched "
	                  "0 rows: the target has diverged",
	                  "keyless: a missing row");
	chg near[] = {DEL(I(1), txt("x"), js("{\"k\":1}"))};
	expect_divergence(t, tb, near, 1,
	                  "delete of \"loose\" row (a=1, b='x', j='{\"k\":1}') "
	                  "matched 0 rows: the target has diverged",
	                  "keyless: json with other spacing is another row");
	chg ins[] = {INS(I(5), N(), N())};
	rc = apply_batch(t, tb, ins, 1, true, "loose", 2, &err);
	is_int(rc, FERRY_EUNSUPPORTED, "keyless tables refuse idempotent mode");
	is_str(ferry_error_message(&err), "could not apply insert to table "
	       "\"loose\" idempotently: it has no primary key to match rows by",
	       "saying why");
	chg noimg[] = {upd(3, NULL, n2)};
	rc = apply_batch(t, tb, noimg, 1, false, "loose", 2, &err);
	is_int(rc, FERRY_EINVAL, "a keyless update needs its before-image");
	is_str(ferry_error_message(&err), "could not apply update to table "
	       "\"loose\": a table without primary key needs the before-image",
	       "saying so");
	is_str(loose_rows(), "1|x|{\"k\": 1},2|y|{}", "nothing changed");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- every value type ------------------------------------------------- */

typedef struct vcase {
	ferry_value v;
	const char *want; /* PostgreSQL's text output; NULL for SQL NULL */
} vcase;

static ferry_value date(int64_t y, unsigned m, unsigned d)
{
	return ferry_value_date(ferry_days_from_civil(y, m, d));
}

static ferry_value ts(ferry_type type, int64_t y, unsigned mo, unsigned d,
                      int64_t us_of_day)
{
	return ferry_value_timestamp(type, ferry_days_from_civil(y, mo, d) *
	                                           FERRY_USECS_PER_DAY +
	                                       us_of_day);
}

static ferry_value num(const char *s)
{
	return ferry_value_bytes(FERRY_NUMERIC, s, strlen(s));
}

/* Reads column v of table back in n order and compares with the cases
 * rotated by shift (row i holds case (i + shift) % n). */
static int read_back(const char *table, const vcase *c, int n, int shift)
{
	char q[256];
	char *qt = PQescapeIdentifier(admin, table, strlen(table));
	snprintf(q, sizeof q, "SELECT v FROM %s ORDER BY n", qt);
	PQfreemem(qt);
	PGresult *res = PQexec(admin, q);
	int bad = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == n
	              ? 0 : n;
	for (int i = 0; !bad && i < n; i++) {
		const vcase *w = &c[(i + shift) % n];
		bool same = w->want ? !PQgetisnull(res, i, 0) &&
		                          (size_t)PQgetlength(res, i, 0) ==
		                              strlen(w->want) &&
		                          memcmp(PQgetvalue(res, i, 0), w->want,
		                                 strlen(w->want)) == 0
		                    : PQgetisnull(res, i, 0);
		if (!same) {
			bad++;
			tap_diag("%s row %d: got \"%.100s\", want \"%.100s\"", table, i,
			         PQgetisnull(res, i, 0) ? "<null>"
			                                : PQgetvalue(res, i, 0),
			         w->want ? w->want : "<null>");
		}
	}
	PQclear(res);
	return bad;
}

/* Per type: inserts of every case, updates rotating the values, upserts
 * back, read back exactly after each; then, without a key, deletes
 * matching each row by every value. */
static void check_type(ferry_target *t, const char *type, const vcase *c,
                       int n)
{
	char name[64];
	snprintf(name, sizeof name, "v %s", type);
	ferry_table *tb = new_table(name);
	add_col(tb, "n", "integer", 1);
	add_col(tb, "v", type, 0);
	ferry_error err = FERRY_ERROR_INIT;
	chg *ch = calloc((size_t)n, sizeof *ch);
	for (int i = 0; i < n; i++)
		ch[i] = (chg)INS(I(i), c[i].v);
	int rc = create(t, tb);
	if (rc == 0)
		rc = apply_batch(t, tb, ch, n, false, "values", 1, &err);
	int bad = rc < 0 ? n : read_back(name, c, n, 0);
	for (int i = 0; i < n; i++) {
		ferry_value b[2] = {I(i), c[i].v}, a[2] = {I(i), c[(i + 1) % n].v};
		ch[i] = upd(2, b, a);
	}
	if (rc == 0 && (rc = apply_batch(t, tb, ch, n, false, "values", 1,
	                                 &err)) == 0)
		bad += read_back(name, c, n, 1);
	for (int i = 0; i < n; i++)
		ch[i] = (chg)INS(I(i), c[i].v);
	if (rc == 0 && (rc = apply_batch(t, tb, ch, n, true, "values", 1,
	                                 &err)) == 0)
		bad += read_back(name, c, n, 0);
	if (rc < 0)
		tap_diag("%s: %s", type, ferry_error_message(&err));
	ok(rc == 0 && bad == 0, "%s: %d values (NULL among them) read back "
	   "exactly after insert, update and upsert", type, n);
	tb->columns[0].pk_position = 0; /* the same values, without a key */
	tb->name[0] = 'k';
	for (int i = 0; i < n; i++)
		ch[i] = (chg)INS(I(i), c[i].v);
	rc = create(t, tb);
	if (rc == 0)
		rc = apply_batch(t, tb, ch, n, false, "values", 1, &err);
	for (int i = 0; i < n; i++)
		ch[i] = (chg)DEL(I(i), c[i].v);
	if (rc == 0)
		rc = apply_batch(t, tb, ch, n, false, "values", 1, &err);
	if (!ok(rc == 0, "%s: each row without a key is found by its values",
	        type))
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	free(ch);
	free_table(tb);
}

static void check_values(ferry_target *t)
{
	static const uint8_t u1[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b,
	                               0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9,
	                               0xbd, 0x38, 0x0a, 0x11};
	static const char nuls[] = {0, 1, 2, 0, (char)0xff, '\\', '\n', 0};
	static const char doc[] = "{\"b\":1, \"a\": [1, 2.50, \"x\\ty\"]}";
	vcase ints[] = {{I(-32768), "-32768"}, {I(32767), "32767"}, {N(), NULL}};
	check_type(t, "smallint", ints, 3);
	vcase i4[] = {{I(INT32_MIN), "-2147483648"}, {I(INT32_MAX), "2147483647"},
	              {N(), NULL}};
	check_type(t, "integer", i4, 3);
	vcase i8[] = {{I(INT64_MIN), "-9223372036854775808"},
	              {I(INT64_MAX), "9223372036854775807"}, {I(0), "0"},
	              {N(), NULL}};
	check_type(t, "bigint", i8, 4);
	vcase f8[] = {{ferry_value_float(0.1), "0.1"},
	              {ferry_value_float(-0.0), "-0"},
	              {ferry_value_float(1e-300), "1e-300"},
	              {ferry_value_float(NAN), "NaN"},
	              {ferry_value_float(-INFINITY), "-Infinity"},
	              {ferry_value_float(1.0 / 3), "0.3333333333333333"},
	              {ferry_value_float(5e-324), "5e-324"}, {N(), NULL}};
	check_type(t, "double precision", f8, 8);
	vcase f4[] = {{ferry_value_float((double)0.1f), "0.1"},
	              {ferry_value_float((double)(1.0f / 3)), "0.33333334"},
	              {ferry_value_float(INFINITY), "Infinity"}, {N(), NULL}};
	check_type(t, "real", f4, 4);
	vcase nu[] = {{num("19.99"), "19.99"}, {num("-0.000000012345"),
	              "-0.000000012345"}, {num("NaN"), "NaN"},
	              {num("12345678901234567890.123456789012345678"),
	               "12345678901234567890.123456789012345678"},
	              {num("1.5e3"), "1500"}, {num("Infinity"), "Infinity"},
	              {N(), NULL}};
	check_type(t, "numeric", nu, 7);
	vcase n2[] = {{num("5"), "5.00"}, {num("-9999999999.99"), "-9999999999.99"},
	              {N(), NULL}};
	check_type(t, "numeric(12,2)", n2, 3);
	vcase tx[] = {{txt(""), ""}, {txt("tab\there\\ \"q\" 'q'"),
	              "tab\there\\ \"q\" 'q'"}, {txt("漢字 🎉"), "漢字 🎉"},
	              {txt("\\N"), "\\N"}, {N(), NULL}};
	check_type(t, "text", tx, 5);
	vcase vc[] = {{txt("ü€𝄞"), "ü€𝄞"}, {txt("12345678901234567890"),
	              "12345678901234567890"}, {N(), NULL}};
	check_type(t, "varchar(20)", vc, 3);
	vcase ch[] = {{txt("ab"), "ab   "}, {txt("abcde"), "abcde"}, {N(), NULL}};
	check_type(t, "char(5)", ch, 3);
	vcase by[] = {{ferry_value_bytes(FERRY_BLOB, nuls, sizeof nuls),
	               "\\x00010200ff5c0a00"},
	              {ferry_value_bytes(FERRY_BLOB, "", 0), "\\x"}, {N(), NULL}};
	check_type(t, "bytea", by, 3);
	vcase bo[] = {{ferry_value_bool(true), "t"}, {ferry_value_bool(false), "f"},
	              {N(), NULL}};
	check_type(t, "boolean", bo, 3);
	vcase da[] = {{date(2024, 2, 29), "2024-02-29"},
	              {date(-43, 3, 15), "0044-03-15 BC"},
	              {ferry_value_date(FERRY_DATE_PINF), "infinity"},
	              {ferry_value_date(FERRY_DATE_NINF), "-infinity"},
	              {N(), NULL}};
	check_type(t, "date", da, 5);
	vcase tsv[] = {{ts(FERRY_TIMESTAMP, 2024, 2, 29, INT64_C(45296123456)),
	                "2024-02-29 12:34:56.123456"},
	               {ts(FERRY_TIMESTAMP, -43, 3, 15, 0),
	                "0044-03-15 00:00:00 BC"},
	               {ferry_value_timestamp(FERRY_TIMESTAMP, FERRY_TS_PINF),
	                "infinity"}, {N(), NULL}};
	check_type(t, "timestamp", tsv, 4);
	vcase tz[] = {{ts(FERRY_TIMESTAMPTZ, 1969, 12, 31, INT64_C(86399999999)),
	               "1969-12-31 23:59:59.999999+00"},
	              {ferry_value_timestamp(FERRY_TIMESTAMPTZ, FERRY_TS_NINF),
	               "-infinity"}, {N(), NULL}};
	check_type(t, "timestamptz", tz, 3);
	vcase jn[] = {{js(doc), doc}, {js("null"), "null"}, {N(), NULL}};
	check_type(t, "json", jn, 3);
	vcase jb[] = {{js(doc), "{\"a\": [1, 2.50, \"x\\ty\"], \"b\": 1}"},
	              {js("[]"), "[]"}, {N(), NULL}};
	check_type(t, "jsonb", jb, 3);
	vcase uu[] = {{ferry_value_uuid(u1),
	               "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, {N(), NULL}};
	check_type(t, "uuid", uu, 2);
}

static ferry_value blob(const char *s)
{
	return ferry_value_bytes(FERRY_BLOB, s, strlen(s));
}

/* A reused table whose types are not the planned ones: those values go
 * as text and the server converts them, as COPY's text fallback. */
static void check_reused_types(ferry_target *t)
{
	ferry_table *tb = new_table("typed");
	ferry_error err = FERRY_ERROR_INIT;
	add_col(tb, "a", "bigint", 1);
	add_col(tb, "b", "text", 0);
	add_col(tb, "c", "bytea", 0);
	sqlf("DROP TABLE IF EXISTS typed; CREATE TABLE typed (a numeric(20,0) "
	     "PRIMARY KEY, b varchar(10), c text)");
	ferry_value o[3] = {I(2), txt("two"), blob("\x01")};
	ferry_value n[3] = {I(20), txt("twenty"), N()};
	chg c[] = {INS(I(1), txt("one"), blob("ab")),
	           INS(I(2), txt("two"), blob("\x01")), upd(3, o, n),
	           DEL(I(1), txt("one"), N())};
	int rc = apply_batch(t, tb, c, 4, false, "typed", 1, &err);
	if (!ok(rc == 0, "a reused table with other types takes changes"))
		tap_diag("%s", ferry_error_message(&err));
	chg up[] = {INS(I(3), txt("three"), blob("\xff")),
	            INS(I(3), txt("drei"), blob("\xfe"))};
	rc = apply_batch(t, tb, up, 2, true, "typed", 2, &err);
	ok(rc == 0, "and upserts");
	is_str(rows_of("typed"), "(3,drei,\"\\\\xfe\"),(20,twenty,)",
	       "its values converted by the server");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- TRUNCATE ----------------------------------------------------------- */

static void check_truncate(ferry_target *t)
{
	ferry_table *tb = items_table("trunc");
	ferry_error err = FERRY_ERROR_INIT;
	create(t, tb);
	chg fill[] = {INS(I(1), txt("a"), N()), INS(I(2), txt("b"), N())};
	int rc = apply_batch(t, tb, fill, 2, false, "trunc", 1, &err);
	chg c[] = {TRUNC, INS(I(3), txt("c"), N())};
	if (rc == 0)
		rc = apply_batch(t, tb, c, 2, false, "trunc", 2, &err);
	if (!ok(rc == 0, "TRUNCATE in a batch"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("trunc"), "(3,c,)", "empties the table before the "
	       "batch's next insert");
	chg gone[] = {TRUNC};
	rc = apply_batch(t, tb, gone, 1, false, NULL, 0, &err);
	ok(rc == 0 && strcmp(rows_of("trunc"), "(3,c,)") == 0,
	   "an aborted TRUNCATE leaves the rows");
	rc = apply_batch(t, tb, gone, 1, true, "trunc", 3, &err);
	ok(rc == 0 && strcmp(rows_of("trunc"), "") == 0,
	   "TRUNCATE in idempotent mode");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- names ------------------------------------------------------------- */

static void check_names(ferry_target *t)
{
	const char *tname = "Mixed \"Q\" Table select";
	ferry_table *tb = new_table(tname);
	ferry_error err = FERRY_ERROR_INIT;
	add_col(tb, "from", "integer", 1);
	add_col(tb, "Mixed Case", "text", 0);
	add_col(tb, "quo\"te", "integer", 0);
	add_col(tb, "user", "boolean", 0);
	ok(create(t, tb) == 0, "a table with reserved, spaced and quoted names");
	ferry_value o[4] = {I(1), txt("one"), I(1), ferry_value_bool(true)};
	ferry_value n[4] = {I(10), txt("ten"), I(2), ferry_value_bool(false)};
	chg c[] = {INS(I(1), txt("one"), I(1), ferry_value_bool(true)),
	           INS(I(2), txt("two"), N(), N()), upd(4, o, n),
	           DEL(I(2), txt("two"), N(), N())};
	const char *mig = "mig \"quoted\" 'name'";
	int rc = apply_batch(t, tb, c, 4, false, mig, 7, &err);
	chg up[] = {INS(I(10), txt("TEN"), I(3), N())};
	if (rc == 0)
		rc = apply_batch(t, tb, up, 1, true, mig, 8, &err);
	if (!ok(rc == 0, "inserts, a key change, a delete and an upsert"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of(tname), "(10,TEN,3,)", "the rows under odd names");
	is_int(checkpoint(t, mig), 8, "a migration name with quotes");
	ferry_value b[4] = {I(5), N(), N(), N()};
	chg miss[] = {upd(4, b, b)};
	expect_divergence(t, tb, miss, 1,
	                  "update of \"Mixed \"Q\" Table select\" key (from=5) "
	                  "matched 0 rows: the target has diverged",
	                  "odd names in the message");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- the checkpoint ----------------------------------------------------- */

/* A snapshot chunk and its checkpoint commit together; the checkpoint
 * never goes back; the migration's clean removes "<id>/..." ones too. */
static void check_chunk_checkpoints(ferry_target *t)
{
	ferry_table *tb = items_table("chunks");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value r1[3] = {I(1), txt("a"), N()}, r2[3] = {I(2), txt("b"), N()};
	ferry_row row1 = {r1, 3, 3}, row2 = {r2, 3, 3};
	int64_t rows = -1;
	ok(ops->prepare_table(t, tb, FERRY_EXISTING_DROP, &err) == 0,
	   "a table for chunks");
	int rc = ops->copy_begin(t, tb, &err);
	if (rc == 0)
		rc = ops->copy_row(t, &row1, &err);
	if (rc == 0)
		rc = ops->copy_end_checkpoint(t, &rows, "ck2/snapshot/chunks", 1,
		                              &err);
	if (!ok(rc == 0 && rows == 1, "copy_end_checkpoint commits a chunk"))
		tap_diag("%s", ferry_error_message(&err));
	is_int(checkpoint(t, "ck2/snapshot/chunks"), 1, "with its checkpoint");
	rc = ops->copy_begin(t, tb, &err);
	if (rc == 0)
		rc = ops->copy_row(t, &row2, &err);
	if (rc == 0)
		rc = ops->copy_end_checkpoint(t, &rows, "ck2/snapshot/chunks", 0,
		                              &err);
	is_int(rc, FERRY_ERROR, "a chunk checkpoint going back fails");
	is_str(rows_of("chunks"), "(1,a,)", "and the chunk's rows are rolled back");
	rc = ops->copy_begin(t, tb, &err);
	if (rc == 0)
		rc = ops->copy_row(t, &row2, &err);
	if (rc == 0)
		rc = ops->copy_end_checkpoint(t, &rows, "ck2/snapshot/chunks", 2,
		                              &err);
	ok(rc == 0 && checkpoint(t, "ck2/snapshot/chunks") == 2,
	   "the next chunk moves it on");
	is_str(rows_of("chunks"), "(1,a,),(2,b,)", "both chunks' rows are there");
	chg one[] = {INS(I(3), txt("c"), N())};
	rc = apply_batch(t, tb, one, 1, false, "ck2", 7, &err);
	ok(rc == 0 && checkpoint(t, "ck2") == 7, "the replay checkpoint beside it");
	rc = apply_batch(t, tb, NULL, 0, false, "ck2x", 5, &err);
	ok(rc == 0 && checkpoint(t, "ck2x") == 5, "and another migration's");
	rc = ops->checkpoint_drop(t, "ck2", &err);
	ok(rc == 0 && checkpoint(t, "ck2") == 0 &&
	   checkpoint(t, "ck2/snapshot/chunks") == 0,
	   "checkpoint_drop removes the migration's chunk checkpoints too");
	is_int(checkpoint(t, "ck2x"), 5,
	       "but not those of a migration whose name only starts the same");
	rc = ops->checkpoint_drop(t, "ck2x", &err);
	ok(rc == 0, "dropped");
	ferry_error_clear(&err);
	free_table(tb);
}

static void check_checkpoints(ferry_target *t)
{
	ferry_table *tb = items_table("ck");
	ferry_error err = FERRY_ERROR_INIT;
	create(t, tb);
	chg one[] = {INS(I(1), txt("a"), N())};
	int rc = apply_batch(t, tb, one, 1, false, "ck", 500, &err);
	ok(rc == 0 && checkpoint(t, "ck") == 500, "checkpoint 500");
	chg two[] = {INS(I(2), txt("b"), N())};
	rc = apply_batch(t, tb, two, 1, false, "ck", 400, &err);
	is_int(rc, FERRY_ERROR, "a checkpoint going back fails the batch");
	is_str(ferry_error_message(&err), "checkpoint of migration \"ck\" would "
	       "go back to 400: another replayer has passed it", "saying so");
	is_str(rows_of("ck"), "(1,a,)", "and its changes are rolled back");
	rc = apply_batch(t, tb, two, 1, false, "ck", 500, &err);
	ok(rc == 0 && checkpoint(t, "ck") == 500, "the same lsn again is fine");
	rc = apply_batch(t, tb, NULL, 0, false, "ck", UINT64_MAX, &err);
	is_int(rc, FERRY_EINVAL, "an lsn beyond bigint is refused");
	is_str(ferry_error_message(&err), "could not write the checkpoint of "
	       "migration \"ck\": lsn 18446744073709551615 is above the largest "
	       "bigint", "saying so");
	rc = apply_batch(t, tb, NULL, 0, false, "", 1, &err);
	is_int(rc, FERRY_EINVAL, "a migration without a name is refused");
	rc = apply_batch(t, tb, NULL, 0, false, "ck", INT64_MAX, &err);
	ok(rc == 0 && checkpoint(t, "ck") == (uint64_t)INT64_MAX,
	   "the largest lsn round-trips");
	uint64_t lsn = 0;
	ops->apply_begin(t, &err);
	is_int(ops->checkpoint_get(t, "ck", &lsn, &err), FERRY_EINVAL,
	       "checkpoint_get during a batch is refused");
	is_int(ops->checkpoint_drop(t, "ck", &err), FERRY_EINVAL,
	       "so is checkpoint_drop");
	ops->apply_abort(t);
	rc = ops->checkpoint_drop(t, "ck", &err);
	ok(rc == 0 && checkpoint(t, "ck") == 0, "checkpoint_drop removes one");
	is_str(val("SELECT to_regclass('_ferry_checkpoint') IS NOT NULL"), "t",
	       "the table stays while other migrations have checkpoints");
	PGresult *res = PQexec(admin, "SELECT migration FROM _ferry_checkpoint");
	for (int i = 0; i < PQntuples(res); i++)
		rc |= ops->checkpoint_drop(t, PQgetvalue(res, i, 0), &err);
	PQclear(res);
	ok(rc == 0, "dropping the others");
	is_str(val("SELECT to_regclass('_ferry_checkpoint') IS NULL"), "t",
	       "the last one drops _ferry_checkpoint");
	ok(checkpoint(t, "m1") == 0, "checkpoint_get without the table: 0");
	is_int(ops->checkpoint_drop(t, "m1", &err), 0,
	       "checkpoint_drop without the table: nothing to do");
	rc = apply_batch(t, tb, NULL, 0, false, "ck", 9, &err);
	ok(rc == 0 && checkpoint(t, "ck") == 9,
	   "the next batch creates the table again");
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- schema changes and misuse ------------------------------------------ */

static void check_schema_change(ferry_target *t)
{
	ferry_table *v1 = new_table("evolve");
	ferry_error err = FERRY_ERROR_INIT;
	add_col(v1, "id", "integer", 1);
	add_col(v1, "a", "text", 0);
	create(t, v1);
	ferry_table *v2 = new_table("evolve");
	add_col(v2, "id", "integer", 1);
	add_col(v2, "a", "text", 0);
	add_col(v2, "b", "bigint", 0);
	ferry_value r1[2] = {I(1), txt("x")}, r2[3] = {I(2), txt("y"), I(7)};
	ferry_value o[3] = {I(1), txt("x"), N()}, n[3] = {I(1), txt("X"), I(8)};
	ferry_row a1 = {r1, 2, 2}, a2 = {r2, 3, 3}, b3 = {o, 3, 3}, n3 = {n, 3, 3};
	int rc = ops->apply_begin(t, &err);
	if (rc == 0)
		rc = ops->apply_change(t, v1, FERRY_OP_INSERT, NULL, &a1, false, &err);
	if (rc == 0)
		rc = sqlf("ALTER TABLE evolve ADD COLUMN b bigint");
	if (rc == 0)
		rc = ops->apply_change(t, v2, FERRY_OP_INSERT, NULL, &a2, false, &err);
	if (rc == 0)
		rc = ops->apply_change(t, v2, FERRY_OP_UPDATE, &b3, &n3, false, &err);
	if (rc == 0)
		rc = ops->apply_commit(t, "evolve", 1, &err);
	else
		ops->apply_abort(t);
	if (!ok(rc == 0, "a table's definition changing within a batch"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("evolve"), "(1,X,8),(2,y,7)", "gets the new statements");
	ferry_error_clear(&err);
	free_table(v1);
	free_table(v2);
}

static void expect_refusal(int rc, int want, ferry_error *err,
                           const char *msg, const char *label)
{
	is_int(rc, want, "%s: refused", label);
	is_str(ferry_error_message(err), msg, "%s: the message", label);
	ferry_error_clear(err);
}

static void check_misuse(ferry_target *t)
{
	ferry_table *tb = items_table("items");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value v[3] = {I(50), txt("x"), txt("not an int")};
	ferry_row r = {v, 3, 3}, narrow = {v, 2, 2};
	expect_refusal(ops->apply_change(t, tb, FERRY_OP_INSERT, NULL, &r, false,
	                                 &err), FERRY_EINVAL, &err,
	               "could not apply a change to table \"items\": no batch is "
	               "open", "a change outside a batch");
	expect_refusal(ops->apply_commit(t, "m", 1, &err), FERRY_EINVAL, &err,
	               "could not commit the batch: no batch is open",
	               "a commit outside a batch");
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_begin(t, &err), FERRY_EINVAL, &err,
	               "could not begin a batch: another batch is open",
	               "a batch in a batch");
	expect_refusal(ops->copy_begin(t, tb, &err), FERRY_EINVAL, &err,
	               "could not change table \"items\": an apply batch is open",
	               "a copy during a batch");
	expect_refusal(ops->prepare_table(t, tb, FERRY_EXISTING_DROP, &err),
	               FERRY_EINVAL, &err, "could not change table \"items\": an "
	               "apply batch is open", "a drop during a batch");
	expect_refusal(ops->apply_change(t, tb, FERRY_OP_INSERT, NULL, &r, false,
	                                 &err), FERRY_EINVAL, &err,
	               "could not apply insert to table \"items\": column \"qty\" "
	               "got a text value, expected int", "a value of another type");
	ops->apply_abort(t);
	struct {
		ferry_op op;
		const ferry_row *b, *a;
		const char *msg;
	} bad[] = {
		{FERRY_OP_INSERT, NULL, &narrow, "could not apply insert to table "
		 "\"items\": an image does not have a value per column"},
		{FERRY_OP_DELETE, NULL, NULL, "could not apply delete to table "
		 "\"items\": the before-image is missing"},
		{FERRY_OP_UPDATE, &r, NULL, "could not apply update to table "
		 "\"items\": the after-image is missing"},
		{FERRY_OP_DDL, NULL, &r, "could not apply ddl to table \"items\": "
		 "not a row change"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ops->apply_begin(t, &err);
		expect_refusal(ops->apply_change(t, tb, bad[i].op, bad[i].b,
		                                 bad[i].a, false, &err),
		               FERRY_EINVAL, &err, bad[i].msg, "a malformed change");
		ops->apply_abort(t);
	}
	ferry_table *nope = items_table("no such table");
	v[2] = I(1);
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_change(t, nope, FERRY_OP_INSERT, NULL, &r, false,
	                                 &err), FERRY_ENOTFOUND, &err,
	               "could not apply changes to table \"no such table\": it "
	               "does not exist", "a missing table");
	ops->apply_abort(t);
	ferry_free(tb->columns[2].name);
	tb->columns[2].name = ferry_strdup("zz");
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_change(t, tb, FERRY_OP_INSERT, NULL, &r, false,
	                                 &err), FERRY_ENOTFOUND, &err,
	               "could not apply changes to table \"items\": it has no "
	               "column \"zz\"", "a missing column");
	ops->apply_abort(t);
	ferry_table *small = new_table("small");
	add_col(small, "a", "smallint", 1);
	create(t, small);
	ferry_value sv[1] = {I(40000)};
	ferry_row sr = {sv, 1, 1};
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_change(t, small, FERRY_OP_INSERT, NULL, &sr,
	                                 false, &err), FERRY_ERROR, &err,
	               "could not apply insert to table \"small\": value 40000 "
	               "cannot be stored in column \"a\"", "a smallint too large");
	ops->apply_abort(t);
	ferry_table *holes = new_table("small");
	add_col(holes, "a", "smallint", 1);
	add_col(holes, "b", "smallint", 3);
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_change(t, holes, FERRY_OP_TRUNCATE, NULL, NULL,
	                                 false, &err), FERRY_EINVAL, &err,
	               "could not apply changes to table \"small\": its primary "
	               "key positions are not 1..2", "key positions with a hole");
	ops->apply_abort(t);
	free_table(holes);
	ferry_table *empty = new_table("small");
	ops->apply_begin(t, &err);
	expect_refusal(ops->apply_change(t, empty, FERRY_OP_TRUNCATE, NULL, NULL,
	                                 false, &err), FERRY_EUNSUPPORTED, &err,
	               "could not apply truncate to table \"small\": it has no "
	               "columns", "a table without columns");
	ops->apply_abort(t);
	chg fine[] = {INS(I(60), txt("ok"), N())};
	ferry_free(tb->columns[2].name);
	tb->columns[2].name = ferry_strdup("qty");
	int rc = apply_batch(t, tb, fine, 1, false, "misuse", 10, &err);
	if (!ok(rc == 0, "after every refusal the connection still applies"))
		tap_diag("%s", ferry_error_message(&err));
	ferry_error_clear(&err);
	free_table(tb);
	free_table(nope);
	free_table(small);
	free_table(empty);
}

/* ---- values the source did not send ------------------------------------- */

/* absent: a column the source did not send (REPLICA IDENTITY DEFAULT) */
static ferry_value A(void) { return ferry_value_absent(); }

static const char unsent_fix[] = " (give the source table whole old rows: "
                                 "PostgreSQL REPLICA IDENTITY FULL)";

/* A batch of a TRUNCATE, then c, which must be refused before it is
 * sent: FERRY_EUNSUPPORTED with "<msg><unsent_fix>", and the truncate
 * rolled back with the rest. */
static void expect_unsent(ferry_target *t, const ferry_table *tb, chg c,
                          bool idem, const char *msg, const char *label)
{
	ferry_error err = FERRY_ERROR_INIT;
	char saved[512], want[512];
	snprintf(saved, sizeof saved, "%s", all_rows(tb->name));
	snprintf(want, sizeof want, "%s%s", msg, unsent_fix);
	uint64_t lsn = checkpoint(t, "sent");
	chg list[2] = {TRUNC, c};
	int rc = apply_batch(t, tb, list, 2, idem, "sent", lsn + 1, &err);
	is_int(rc, FERRY_EUNSUPPORTED, "%s: refused", label);
	is_str(ferry_error_message(&err), want, "%s: the message", label);
	is_str(all_rows(tb->name), saved, "%s: nothing of the batch is applied",
	       label);
	is_int(checkpoint(t, "sent"), lsn, "%s: the checkpoint stays", label);
	ferry_error_clear(&err);
}

static void check_unsent(ferry_target *t)
{
	ferry_table *tb = items_table("sent");
	ferry_error err = FERRY_ERROR_INIT;
	add_col(tb, "note", "text", 0);
	ok(create(t, tb) == 0, "a table for values the source did not send");
	chg fill[] = {INS(I(1), txt("a"), I(10), txt("n1")),
	              INS(I(2), txt("b"), I(20), txt("n2")),
	              INS(I(3), txt("c"), I(30), txt("n3")),
	              INS(I(4), txt("d"), I(40), txt("n4")),
	              INS(I(5), txt("e"), I(50), txt("n5"))};
	int rc = apply_batch(t, tb, fill, 5, false, "sent", 1, &err);
	ok(rc == 0, "its rows");
	/* successive partial updates, each with its own set of sent columns */
	ferry_value p1[4] = {I(1), txt("a1"), A(), A()};
	ferry_value p2[4] = {I(2), A(), I(21), A()};
	ferry_value p3[4] = {I(3), A(), I(31), A()};
	ferry_value p4[4] = {I(4), A(), A(), txt("N4")};
	ferry_value p5[4] = {I(5), txt("e1"), A(), txt("N5")};
	ferry_value p1n[4] = {I(1), A(), A(), N()};
	chg parts[] = {upd(4, NULL, p1), upd(4, NULL, p2), upd(4, NULL, p3),
	               upd(4, NULL, p4), upd(4, NULL, p5), upd(4, NULL, p1n)};
	rc = apply_batch(t, tb, parts, 6, false, "sent", 2, &err);
	if (!ok(rc == 0, "strict updates with absent values apply (partial "
	        "updates)"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("sent"), "(1,a1,10,),(2,b,21,n2),(3,c,31,n3),"
	       "(4,d,40,N4),(5,e1,50,N5)",
	       "each sets exactly the columns it has (name; qty; qty again; "
	       "note; name and note; a sent NULL)");
	is_str(val("SELECT format('%%L %%L', name, qty) FROM sent WHERE id = 4"),
	       "'d' '40'",
	       "the absent columns keep their values: not written as NULL");
	/* partial updates around an ordinary one; a key-only before-image */
	ferry_value f2b[4] = {I(2), txt("b"), I(21), txt("n2")};
	ferry_value f2a[4] = {I(2), txt("B"), I(22), txt("m2")};
	ferry_value q3[4] = {I(3), A(), A(), txt("m3")};
	ferry_value q4[4] = {I(4), txt("D"), I(44), A()};
	ferry_value k5[4] = {I(5), A(), A(), A()};
	ferry_value q5[4] = {I(5), A(), I(55), A()};
	chg more[] = {upd(4, NULL, q3), upd(4, f2b, f2a), upd(4, NULL, q4),
	              upd(4, k5, q5)};
	rc = apply_batch(t, tb, more, 4, false, "sent", 3, &err);
	if (!ok(rc == 0, "partial updates around an ordinary one, in a second "
	        "batch"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("sent"), "(1,a1,10,),(2,B,22,m2),(3,c,31,m3),"
	       "(4,D,44,N4),(5,e1,55,N5)",
	       "the ordinary update sets every column, the partial ones theirs; "
	       "a key-only before-image finds its row by the key");
	/* key changes with key-only old rows, and deletes by the key alone */
	ferry_value k3[4] = {I(3), A(), A(), A()};
	ferry_value m3[4] = {I(30), A(), I(32), A()};
	ferry_value k4[4] = {I(4), A(), A(), A()};
	ferry_value m4[4] = {I(40), txt("d4"), I(41), txt("x4")};
	chg moves[] = {upd(4, k3, m3), upd(4, k4, m4), DEL(I(2), A(), A(), A())};
	rc = apply_batch(t, tb, moves, 3, false, "sent", 4, &err);
	if (!ok(rc == 0, "key changes with key-only old rows and a key-only "
	        "delete"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("sent"), "(1,a1,10,),(5,e1,55,N5),(30,c,32,m3),"
	       "(40,d4,41,x4)",
	       "a partial update moves its row to the new key keeping the "
	       "absent columns; a whole one moves it with every value; the "
	       "delete finds its row by the key");
	ferry_value k5b[4] = {I(5), A(), A(), A()};
	ferry_value m5[4] = {I(50), txt("e5"), I(51), txt("n50")};
	chg idem[] = {DEL(I(1), A(), A(), A()), DEL(I(77), A(), A(), A()),
	              upd(4, k5b, m5)};
	rc = apply_batch(t, tb, idem, 3, true, "sent", 5, &err);
	if (!ok(rc == 0, "idempotent: key-only deletes and a key change with a "
	        "key-only old row"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("sent"), "(30,c,32,m3),(40,d4,41,x4),(50,e5,51,n50)",
	       "the present row deleted, the missing one ignored, the row moved");
	/* strict changes that match no row: reported by the change or, the
	 * pipeline reading late, by the commit */
	ferry_value ok30[4] = {I(30), A(), I(0), A()};
	ferry_value miss[4] = {I(99), txt("x"), A(), A()};
	chg upd_missing[] = {upd(4, NULL, ok30), upd(4, NULL, miss)};
	expect_divergence(t, tb, upd_missing, 2,
	                  "update of \"sent\" key (id=99) matched 0 rows: the "
	                  "target has diverged", "a partial update of a missing "
	                  "row");
	ferry_value kb[4] = {I(98), A(), A(), A()};
	ferry_value ka[4] = {I(97), A(), I(1), A()};
	chg move_missing[] = {upd(4, NULL, ok30), upd(4, kb, ka)};
	expect_divergence(t, tb, move_missing, 2,
	                  "update of \"sent\" key (id=98) matched 0 rows: the "
	                  "target has diverged", "a partial key change of a "
	                  "missing row");
	chg del_missing[] = {upd(4, NULL, ok30), DEL(I(96), A(), A(), A())};
	expect_divergence(t, tb, del_missing, 2,
	                  "delete of \"sent\" key (id=96) matched 0 rows: the "
	                  "target has diverged", "a key-only delete of a missing "
	                  "row");
	/* refused: what would need a value the source did not send */
	ferry_value w30[4] = {I(30), txt("c"), I(32), txt("m3")};
	ferry_value nokey[4] = {A(), txt("c"), I(33), txt("m3")};
	ferry_value allabs[4] = {A(), A(), A(), A()};
	ferry_value half[4] = {I(30), A(), I(33), A()};
	expect_unsent(t, tb, (chg)INS(I(60), txt("x"), A(), N()), false,
	              "could not apply insert to table \"sent\": the source did "
	              "not send column \"qty\", so the row cannot be written "
	              "whole", "an insert with an absent value");
	expect_unsent(t, tb, (chg)INS(I(60), txt("x"), I(1), A()), true,
	              "could not apply insert to table \"sent\": the source did "
	              "not send column \"note\", so the row cannot be written "
	              "whole", "an idempotent insert with an absent value");
	expect_unsent(t, tb, upd(4, NULL, half), true,
	              "could not apply update to table \"sent\": the source did "
	              "not send column \"name\" while the snapshot overlaps the "
	              "stream, so the row cannot be written whole",
	              "an idempotent partial update");
	expect_unsent(t, tb, upd(4, w30, half), true,
	              "could not apply update to table \"sent\": the source did "
	              "not send column \"name\" while the snapshot overlaps the "
	              "stream, so the row cannot be written whole",
	              "an idempotent partial update with a whole old row");
	expect_unsent(t, tb, upd(4, w30, nokey), false,
	              "could not apply update to table \"sent\": the source did "
	              "not send column \"id\", so the row cannot be found by its "
	              "key", "an absent key in the after-image");
	expect_unsent(t, tb, upd(4, allabs, w30), false,
	              "could not apply update to table \"sent\": the source did "
	              "not send column \"id\", so the row cannot be found by its "
	              "key", "an absent key in the before-image");
	expect_unsent(t, tb, upd(4, allabs, half), false,
	              "could not apply update to table \"sent\": the source did "
	              "not send column \"id\", so the row cannot be found by its "
	              "key", "an absent key in the before-image of a partial "
	              "update");
	expect_unsent(t, tb, (chg)DEL(A(), txt("c"), I(32), txt("m3")), false,
	              "could not apply delete to table \"sent\": the source did "
	              "not send column \"id\", so the row cannot be found by its "
	              "key", "a delete with an absent key");
	expect_unsent(t, tb, (chg)DEL(A(), A(), A(), A()), true,
	              "could not apply delete to table \"sent\": the source did "
	              "not send column \"id\", so the row cannot be found by its "
	              "key", "an idempotent delete with an absent key");
	/* without a primary key a row is found by all its values */
	ferry_table *loose = new_table("sent loose");
	add_col(loose, "a", "integer", 0);
	add_col(loose, "b", "text", 0);
	add_col(loose, "c", "text", 0);
	create(t, loose);
	chg lfill[] = {INS(I(1), txt("x"), txt("y"))};
	rc = apply_batch(t, loose, lfill, 1, false, "sent", 6, &err);
	ok(rc == 0 && strcmp(rows_of("sent loose"), "(1,x,y)") == 0,
	   "a keyless table with a row");
	ferry_value lw[3] = {I(1), txt("x"), txt("y")};
	ferry_value lp[3] = {I(1), A(), txt("z")};
	ferry_value lk[3] = {A(), txt("x"), txt("y")};
	expect_unsent(t, loose, (chg)DEL(I(1), A(), txt("y")), false,
	              "could not apply delete to table \"sent loose\": the "
	              "source did not send column \"b\", so the row cannot be "
	              "found by its key", "keyless: a delete with an absent value");
	expect_unsent(t, loose, upd(3, lw, lp), false,
	              "could not apply update to table \"sent loose\": the "
	              "source did not send column \"b\", so the row cannot be "
	              "found by its key", "keyless: a partial update");
	expect_unsent(t, loose, upd(3, lk, lw), false,
	              "could not apply update to table \"sent loose\": the "
	              "source did not send column \"a\", so the row cannot be "
	              "found by its key", "keyless: an old row with an absent "
	              "value");
	expect_unsent(t, loose, (chg)INS(I(2), txt("x"), A()), false,
	              "could not apply insert to table \"sent loose\": the "
	              "source did not send column \"c\", so the row cannot be "
	              "written whole", "keyless: an insert with an absent value");
	chg after[] = {upd(4, NULL, ok30)};
	rc = apply_batch(t, tb, after, 1, false, "sent", 7, &err);
	if (!ok(rc == 0, "after the refusals a partial update still applies"))
		tap_diag("%s", ferry_error_message(&err));
	is_str(rows_of("sent"), "(30,c,0,m3),(40,d4,41,x4),(50,e5,51,n50)",
	       "setting only its column");
	ferry_error_clear(&err);
	free_table(tb);
	free_table(loose);
}

/* The server ends the connection in the middle of a batch: the batch
 * fails, nothing of it is committed, and nothing hangs. */
static void check_connection_lost(void)
{
	if (strstr(conninfo, "://"))
		return; /* a URI: no simple way to add application_name */
	char info[2200];
	snprintf(info, sizeof info, "%s application_name=ferry_apply_lost",
	         conninfo);
	ferry_uri uri;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_target *t = NULL;
	ferry_table *tb = items_table("lost");
	int rc = ferry_uri_parse(&uri, info, &err);
	if (rc == 0)
		rc = ops->open(&t, &uri, &err);
	if (rc == 0)
		rc = create(t, tb);
	if (rc == 0)
		rc = ops->apply_begin(t, &err);
	ferry_value v[3] = {I(1), txt("x"), N()};
	ferry_row row = {v, 3, 3};
	if (rc == 0)
		rc = ops->apply_change(t, tb, FERRY_OP_INSERT, NULL, &row, false,
		                       &err);
	ok(rc == 0, "a batch is open");
	sqlf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	     "application_name = 'ferry_apply_lost'");
	for (int i = 2; rc == 0 && i < 3000; i++) {
		v[0] = I(i);
		rc = ops->apply_change(t, tb, FERRY_OP_INSERT, NULL, &row, false,
		                       &err);
	}
	if (rc == 0)
		rc = ops->apply_commit(t, "lost", 1, &err);
	else
		ops->apply_abort(t);
	is_int(rc, FERRY_ECONNLOST, "a connection lost during a batch fails it, as a lost "
	       "connection (the online commands reconnect)");
	tap_diag("%s", ferry_error_message(&err));
	ok(!strchr(ferry_error_message(&err), '\n'), "on one line");
	is_str(val("SELECT count(*) FROM lost"), "0", "nothing was committed");
	ops->apply_abort(t);
	ops->close(t);
	ferry_uri_free(&uri);
	ferry_error_clear(&err);
	free_table(tb);
}

/* ---- allocation failures ------------------------------------------------ */

/* A fresh connection (so the statements and column types are looked up
 * anew) applies a batch of both modes to a keyed and a keyless table,
 * reads and drops checkpoints; *committed says whether the batch did. */
static int fault_run(const ferry_uri *uri, const ferry_table *items,
                     const ferry_table *loose, bool *committed,
                     ferry_error *err)
{
	ferry_target *t = NULL;
	uint64_t lsn = 0;
	*committed = false;
	ferry_value o2[3] = {I(2), txt("b"), I(2)}, n2[3] = {I(20), txt("b"), I(2)};
	chg ci[] = {INS(I(3), txt("c"), I(3)), upd(3, o2, n2),
	            DEL(I(1), txt("a"), I(1)), INS(I(4), txt("d"), I(4))};
	chg cl[] = {INS(I(2), txt("y")), DEL(I(1), txt("x"))};
	int rc = ops->open(&t, uri, err);
	if (rc == 0)
		rc = ops->checkpoint_get(t, "fault", &lsn, err);
	if (rc == 0)
		rc = ops->apply_begin(t, err);
	for (int i = 0; rc == 0 && i < 4; i++) {
		ferry_row b = {ci[i].b, 3, 3}, a = {ci[i].a, 3, 3};
		rc = ops->apply_change(t, items, ci[i].op, ci[i].nb ? &b : NULL,
		                       ci[i].na ? &a : NULL, i % 2 == 1, err);
		ferry_row lb = {cl[i % 2].b, 2, 2}, la = {cl[i % 2].a, 2, 2};
		if (rc == 0 && i < 2)
			rc = ops->apply_change(t, loose, cl[i].op,
			                       cl[i].nb ? &lb : NULL,
			                       cl[i].na ? &la : NULL, false, err);
	}
	if (rc == 0) {
		rc = ops->apply_commit(t, "fault", 7, err);
		*committed = rc == 0;
	} else if (t) {
		ops->apply_abort(t);
	}
	if (rc == 0)
		rc = ops->checkpoint_get(t, "fault", &lsn, err);
	if (rc == 0)
		rc = ops->checkpoint_drop(t, "no such migration", err);
	ops->close(t);
	return rc;
}

static void check_alloc_failures(void)
{
	ferry_table *items = items_table("f items");
	ferry_table *loose = new_table("f loose");
	add_col(loose, "a", "integer", 0);
	add_col(loose, "b", "text", 0);
	ferry_target *t = open_target();
	create(t, items);
	create(t, loose);
	ops->close(t);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_uri uri;
	int bad = 0, injected = 0, rc = ferry_uri_parse(&uri, conninfo, &err);
	for (long nth = 1; rc == 0 && nth < 100000; nth++) {
		sqlf("TRUNCATE \"f items\", \"f loose\"; INSERT INTO \"f items\" "
		     "VALUES (1, 'a', 1), (2, 'b', 2); INSERT INTO \"f loose\" "
		     "VALUES (1, 'x'); DELETE FROM _ferry_checkpoint WHERE "
		     "migration = 'fault'");
		bool committed;
		ferry_alloc_fail_at(nth, 0);
		int run = fault_run(&uri, items, loose, &committed, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		const char *want = committed
		                       ? "(3,c,3),(4,d,4),(20,b,2) (2,y) 7"
		                       : "(1,a,1),(2,b,2) (1,x) <none>";
		char got[256];
		snprintf(got, sizeof got, "%s ", rows_of("f items"));
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s ",
		         rows_of("f loose"));
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s",
		         val("SELECT lsn FROM _ferry_checkpoint WHERE migration = "
		             "'fault'"));
		if ((run != 0 && run != FERRY_ENOMEM) || strcmp(got, want) != 0 ||
		    (failures == 0 && run != 0)) {
			bad++;
			tap_diag("allocation %ld: rc %d (%s), rows %s", nth, run,
			         ferry_error_message(&err), got);
		}
		ferry_error_clear(&err);
		if (failures == 0)
			break;
		injected++;
	}
	ferry_uri_free(&uri);
	ok(injected > 30 && bad == 0, "each of %d allocation failures over the "
	   "apply paths is FERRY_ENOMEM, and the batch is all there or not at "
	   "all", injected);
	free_table(items);
	free_table(loose);
}

/* ---- throughput ---------------------------------------------------------- */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef enum { B_INSERT, B_UPDATE, B_MIXED, B_UPSERT } bench_kind;

/* Change i of a run: the id and op it has, and its images. */
static ferry_op bench_change(bench_kind kind, long i, long n, ferry_value *b,
                             ferry_value *a, char *name, size_t cap)
{
	long id = i + 1;
	ferry_op op = FERRY_OP_INSERT;
	if (kind == B_UPDATE) {
		op = FERRY_OP_UPDATE;
	} else if (kind == B_MIXED) { /* rows 1..n exist: update, delete, insert */
		op = i % 3 == 0 ? FERRY_OP_UPDATE
		     : i % 3 == 1 ? FERRY_OP_DELETE : FERRY_OP_INSERT;
		id = op == FERRY_OP_INSERT ? n + i + 1 : i + 1;
	}
	int len = snprintf(name, cap, "%s %ld", kind == B_INSERT ? "new"
	                   : "changed", id);
	a[0] = b[0] = I(id);
	b[1] = txt("old");
	b[2] = a[2] = I(id % 1000);
	b[3] = a[3] = num("19.99");
	b[4] = a[4] = ferry_value_timestamp(FERRY_TIMESTAMPTZ,
	                                    INT64_C(1700000000000000) + id);
	a[1] = ferry_value_bytes(FERRY_TEXT, name, (size_t)len);
	return op;
}

/* n changes of kind in batches of batch; changes per second. */
static double bench_run(ferry_target *t, const ferry_table *tb,
                        bench_kind kind, long n, long batch)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_value b[5], a[5];
	ferry_row rb = {b, 5, 5}, ra = {a, 5, 5};
	char name[64];
	double start = now_seconds();
	int rc = 0;
	for (long i = 0; rc == 0 && i < n; i += batch) {
		rc = ops->apply_begin(t, &err);
		for (long j = i; rc == 0 && j < i + batch && j < n; j++) {
			ferry_op op = bench_change(kind, j, n, b, a, name, sizeof name);
			rc = ops->apply_change(t, tb, op, &rb, &ra, kind == B_UPSERT,
			                       &err);
		}
		static uint64_t lsn; /* every run's batches follow the last */
		if (rc == 0)
			rc = ops->apply_commit(t, "bench", ++lsn, &err);
		else
			ops->apply_abort(t);
	}
	double secs = now_seconds() - start;
	if (rc < 0)
		tap_diag("bench: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	return rc == 0 ? (double)n / secs : -1;
}

static void bench(long n)
{
	ferry_table *tb = new_table("bench");
	add_col(tb, "id", "bigint", 1);
	add_col(tb, "name", "text", 0);
	add_col(tb, "qty", "integer", 0);
	add_col(tb, "price", "numeric(12,2)", 0);
	add_col(tb, "updated", "timestamptz", 0);
	ferry_target *t = open_target();
	create(t, tb);
	double ins = bench_run(t, tb, B_INSERT, n, 1000);
	double up = bench_run(t, tb, B_UPDATE, n, 1000);
	double upsert = bench_run(t, tb, B_UPSERT, n, 1000);
	double mixed = bench_run(t, tb, B_MIXED, n, 1000);
	long rows = n - (n + 1) / 3 + n / 3; /* mixed: deletes, inserts */
	is_str(val("SELECT count(*) || ' ' || count(*) FILTER (WHERE name LIKE "
	           "'changed %%') FROM bench"),
	       val("SELECT '%ld %ld'", rows, rows),
	       "bench: the rows are what %ld changes of each kind leave", n);
	sqlf("TRUNCATE bench");
	long small = n / 10 < 2000 ? n / 10 : 2000;
	double one = bench_run(t, tb, B_INSERT, small, 1);
	ok(ins > 0 && up > 0 && upsert > 0 && mixed > 0 && one > 0,
	   "bench: every run committed");
	tap_diag("apply throughput, batches of 1000 (one pipeline each): "
	         "%ld inserts %.0f/s, %ld updates %.0f/s, %ld idempotent upserts "
	         "%.0f/s, %ld mixed (update/delete/insert) %.0f/s; %ld inserts "
	         "one per batch %.0f/s", n, ins, n, up, n, upsert, n, mixed, small,
	         one);
	ops->close(t);
	free_table(tb);
}

/* ---- main ---------------------------------------------------------------- */

static int setup(const char *base)
{
	snprintf(schema, sizeof schema, "ferry_apply_%ld", (long)getpid());
	if (strstr(base, "://"))
		snprintf(conninfo, sizeof conninfo, "%s%soptions=-csearch_path%%3D%s",
		         base, strchr(base, '?') ? "&" : "?", schema);
	else
		snprintf(conninfo, sizeof conninfo,
		         "%s options='-csearch_path=%s'", base, schema);
	admin = PQconnectdb(base);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! cannot connect to FERRY_TEST_PG: %s\n",
		       PQerrorMessage(admin));
		return -1;
	}
	return sqlf("SET client_min_messages = warning; "
	            "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
	            "SET search_path = %s; SET TimeZone = 'UTC'; "
	            "SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1",
	            schema, schema, schema);
}

int main(void)
{
	const char *base = getenv("FERRY_TEST_PG");
	if (!base || !*base) {
		if (getenv("FERRY_TEST_REQUIRE_SERVERS")) {
			printf("Bail out! FERRY_TEST_PG not set\n");
			return 1;
		}
		printf("1..0 # SKIP FERRY_TEST_PG not set\n");
		return 0;
	}
	if (setup(base) < 0) {
		PQfinish(admin);
		return 1;
	}
	ferry_target *t = open_target();
	if (ok(t != NULL, "open")) {
		ok(checkpoint(t, "m1") == 0,
		   "checkpoint_get before _ferry_checkpoint exists: 0");
		check_mixed_batch(t);
		check_abort(t);
		check_strict(t);
		check_idempotent(t);
		check_composite(t);
		check_keyless(t);
		check_values(t);
		check_reused_types(t);
		check_truncate(t);
		check_names(t);
		check_schema_change(t);
		check_misuse(t);
		check_unsent(t);
		check_checkpoints(t);
		check_chunk_checkpoints(t);
		ops->close(t);
	}
	check_connection_lost();
	check_alloc_failures();
	const char *n = getenv("FERRY_APPLY_BENCH");
	long changes = n && *n ? atol(n) : 100000;
	if (changes > 0)
		bench(changes);
	sqlf("DROP SCHEMA %s CASCADE", schema);
	PQfinish(admin);
	return tap_done();
}
