/*
 * tests/cli/write_journal.c - writes a small journal with known contents
 * for the `ferry log` tests: write_journal DIR N makes N changes to table
 * "users" (schema version 1: id, name, balance), inserts then updates,
 * committed in batches of 100, and a cursor "replay" at N / 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/journal.h"

static int add_column(ferry_table *t, const char *name, const char *type,
                      int pk)
{
	ferry_column *c = ferry_table_add_column(t);
	if (!c)
		return -1;
	c->name = ferry_strdup(name);
	c->decl_type = ferry_strdup(type);
	c->pk_position = pk;
	return ferry_sqltype_parse(&c->type, type, NULL);
}

static int write_schema(ferry_journal *j, ferry_error *err)
{
	ferry_table t = {0};
	t.name = ferry_strdup("users");
	int rc = add_column(&t, "id", "bigint", 1) |
	         add_column(&t, "name", "text", 0) |
	         add_column(&t, "balance", "numeric(12,2)", 0);
	if (rc == 0)
		rc = ferry_journal_put_schema(j, &t, 1, err);
	ferry_table_clear(&t);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: write_journal DIR N\n");
		return 2;
	}
	long n = atol(argv[2]);
	ferry_journal *j = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_journal_open(&j, argv[1], NULL, &err);
	if (rc == 0)
		rc = write_schema(j, &err);
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_row_resize(&c.before, 3, NULL);
	ferry_row_resize(&c.after, 3, NULL);
	char name[32], balance[32];
	for (long i = 1; rc == 0 && i <= n; i++) {
		long id = (i - 1) % (n / 2 > 0 ? n / 2 : 1) + 1;
		bool update = i > n / 2;
		snprintf(name, sizeof name, "user %ld", id);
		snprintf(balance, sizeof balance, "%ld.%02ld", i, i % 100);
		c.op = update ? FERRY_OP_UPDATE : FERRY_OP_INSERT;
		c.has_before = update;
		c.has_after = true;
		c.table = "users";
		c.schema_version = 1;
		c.txid = (uint64_t)(i + 99) / 100;
		c.commit_time = INT64_C(1700000000000000) + i;
		c.after.values[0] = ferry_value_int(id);
		c.after.values[1] = ferry_value_bytes(FERRY_TEXT, name, strlen(name));
		c.after.values[2] = ferry_value_bytes(FERRY_NUMERIC, balance,
		                                      strlen(balance));
		c.before.values[0] = ferry_value_int(id);
		c.before.values[1] = c.after.values[1];
		c.before.values[2] = ferry_value_null();
		rc = ferry_journal_append(j, &c, NULL, &err);
		if (rc == 0 && (i % 100 == 0 || i == n))
			rc = ferry_journal_commit(j, &i, sizeof i, &err);
	}
	if (rc == 0)
		rc = ferry_journal_cursor_set(j, "replay", (uint64_t)n / 2, &err);
	if (rc < 0)
		fprintf(stderr, "write_journal: %s\n", ferry_error_message(&err));
	ferry_change_free(&c);
	ferry_error_clear(&err);
	ferry_journal_close(j);
	return rc < 0 ? 1 : 0;
}
