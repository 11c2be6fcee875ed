/*
 * tests/fuzz/make_seeds.c - writes the seed corpus for fuzz_change_decode:
 * one valid record per op and value type, a record pair, and edge cases.
 * Run from the source tree after a build (docs/fuzzing.md):
 *   cc -std=c11 -I. engine/{alloc,buf,change,datetime,decimal,error,value}.c \
 *      tests/fuzz/make_seeds.c -lm -o /tmp/make_seeds && /tmp/make_seeds DIR
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/change.h"

static const char *outdir;
static int seq;

static void write_seed(const ferry_buf *b, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/seed-%02d-%s", outdir, seq++, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b->data, 1, b->len, f) != b->len) {
		perror(path);
		return;
	}
	fclose(f);
}

static void emit(ferry_op op, ferry_value *vals, uint32_t n, const char *name)
{
	ferry_change c = FERRY_CHANGE_INIT;
	ferry_buf b = FERRY_BUF_INIT;
	c.op = op;
	c.table = "users";
	c.schema_version = 1;
	c.txid = 1000 + (uint64_t)seq;
	c.commit_time = INT64_C(1700000000000000);
	c.position = (const uint8_t *)"\x00\x00\x00\x01\x00\x00\x10\x00";
	c.position_len = 8;
	c.has_before = op == FERRY_OP_UPDATE || op == FERRY_OP_DELETE;
	c.has_after = op == FERRY_OP_INSERT || op == FERRY_OP_UPDATE ||
	              op == FERRY_OP_DDL;
	ferry_row_resize(&c.before, n, NULL);
	ferry_row_resize(&c.after, n, NULL);
	for (uint32_t i = 0; i < n; i++)
		c.before.values[i] = c.after.values[i] = vals[i];
	if (ferry_change_encode(&c, &b, NULL) == 0)
		write_seed(&b, name);
	ferry_buf_free(&b);
	ferry_change_free(&c);
}

int main(int argc, char **argv)
{
	outdir = argc > 1 ? argv[1] : "tests/fuzz/corpus/change_decode";
	static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8,
	                                 9, 10, 11, 12, 13, 14, 15, 16};
	ferry_value v[] = {
		ferry_value_null(),
		ferry_value_int(INT64_MIN),
		ferry_value_float(-0.0),
		ferry_value_bytes(FERRY_NUMERIC, "-123.4500", 9),
		ferry_value_bytes(FERRY_TEXT, "caf\xc3\xa9", 5),
		ferry_value_bytes(FERRY_BLOB, "\0\1\0", 3),
		ferry_value_bool(true),
		ferry_value_date(19000),
		ferry_value_timestamp(FERRY_TIMESTAMP, 1),
		ferry_value_timestamp(FERRY_TIMESTAMPTZ, -1),
		ferry_value_bytes(FERRY_JSON, "{}", 2),
		ferry_value_uuid(uuid),
	};
	uint32_t n = sizeof v / sizeof *v;
	for (uint32_t i = 0; i < n; i++)
		emit(FERRY_OP_INSERT, &v[i], 1, ferry_type_name(v[i].type));
	emit(FERRY_OP_INSERT, v, n, "insert-all");
	emit(FERRY_OP_UPDATE, v, n, "update-all");
	emit(FERRY_OP_DELETE, v, 2, "delete");
	emit(FERRY_OP_TRUNCATE, NULL, 0, "truncate");
	ferry_value ddl = ferry_value_bytes(FERRY_TEXT, "ALTER TABLE t ADD c int", 23);
	emit(FERRY_OP_DDL, &ddl, 1, "ddl");
	ferry_value nan_v = ferry_value_float(NAN);
	emit(FERRY_OP_INSERT, &nan_v, 1, "nan");
	ferry_value big = ferry_value_bytes(FERRY_NUMERIC, "1e300", 5);
	emit(FERRY_OP_INSERT, &big, 1, "numeric-exp");
	return 0;
}
