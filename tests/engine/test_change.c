/* Unit tests for engine/change: the record codec's exact round trip and
 * its refusal of truncated, garbage and contradictory input. */
#include <math.h>
#include <stdlib.h>

#include "engine/alloc.h"
#include "engine/change.h"
#include "tests/tap.h"

static const char blob_nul[] = {'a', '\0', 'b', '\0'};
static const uint8_t uuid_bytes[16] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3,
                                       4,    5,    6,    7,    8, 9, 10, 255};

/* One value of every type, with the edges the issue names. */
static int sample_values(ferry_value *v)
{
	int n = 0;
	v[n++] = ferry_value_null();
	v[n++] = ferry_value_int(0);
	v[n++] = ferry_value_int(INT64_MIN);
	v[n++] = ferry_value_int(INT64_MAX);
	v[n++] = ferry_value_float(NAN);
	v[n++] = ferry_value_float(-NAN);
	v[n++] = ferry_value_float(INFINITY);
	v[n++] = ferry_value_float(-INFINITY);
	v[n++] = ferry_value_float(-0.0);
	v[n++] = ferry_value_float(0.1);
	v[n++] = ferry_value_float(1e-300);
	v[n++] = ferry_value_float(4.9e-324); /* subnormal */
	v[n++] = ferry_value_bytes(FERRY_NUMERIC, "19.90", 5);
	v[n++] = ferry_value_bytes(FERRY_NUMERIC, "-99999999999999999999999999999999999999", 39);
	v[n++] = ferry_value_bytes(FERRY_NUMERIC, "NaN", 3);
	v[n++] = ferry_value_bytes(FERRY_TEXT, "", 0);
	v[n++] = ferry_value_bytes(FERRY_TEXT, "h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x9a\x80", 15);
	v[n++] = ferry_value_bytes(FERRY_BLOB, "", 0);
	v[n++] = ferry_value_bytes(FERRY_BLOB, blob_nul, sizeof blob_nul);
	v[n++] = ferry_value_bool(true);
	v[n++] = ferry_value_bool(false);
	v[n++] = ferry_value_date(-719162);
	v[n++] = ferry_value_date(FERRY_DATE_PINF);
	v[n++] = ferry_value_timestamp(FERRY_TIMESTAMP, -1);
	v[n++] = ferry_value_timestamp(FERRY_TIMESTAMPTZ, FERRY_TS_NINF);
	v[n++] = ferry_value_bytes(FERRY_JSON, "{\"a\": [1, 2]}", 13);
	v[n++] = ferry_value_uuid(uuid_bytes);
	return n;
}

static void make_update(ferry_change *c, ferry_value *vals, int n)
{
	c->op = FERRY_OP_UPDATE;
	c->has_before = c->has_after = true;
	c->table = "public.Order Items";
	c->schema_version = 7;
	c->txid = UINT64_MAX;
	c->commit_time = -123456789;
	c->position = (const uint8_t *)"\x00\x01pos";
	c->position_len = 5;
	ferry_row_resize(&c->before, (uint32_t)n, NULL);
	ferry_row_resize(&c->after, (uint32_t)n, NULL);
	for (int i = 0; i < n; i++) {
		c->before.values[i] = vals[i];
		c->after.values[n - 1 - i] = vals[i];
	}
}

static int rows_identical(const ferry_row *a, const ferry_row *b)
{
	if (a->ncols != b->ncols)
		return 0;
	for (uint32_t i = 0; i < a->ncols; i++)
		if (!ferry_value_identical(&a->values[i], &b->values[i]))
			return 0;
	return 1;
}

static int changes_identical(const ferry_change *a, const ferry_change *b)
{
	return a->op == b->op && a->has_before == b->has_before &&
	       a->has_after == b->has_after && strcmp(a->table, b->table) == 0 &&
	       a->schema_version == b->schema_version && a->txid == b->txid &&
	       a->commit_time == b->commit_time &&
	       a->position_len == b->position_len &&
	       memcmp(a->position, b->position, a->position_len) == 0 &&
	       (!a->has_before || rows_identical(&a->before, &b->before)) &&
	       (!a->has_after || rows_identical(&a->after, &b->after));
}

static void test_roundtrip(void)
{
	ferry_value vals[40];
	int n = sample_values(vals);
	ferry_change c = FERRY_CHANGE_INIT, d = FERRY_CHANGE_INIT;
	make_update(&c, vals, n);
	ferry_buf b = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	is_int(ferry_change_encode(&c, &b, &err), 0, "encode an update of %d types", n);
	size_t used = 0;
	is_int(ferry_change_decode(&d, b.data, b.len, &used, &err), 0,
	       "decode it back: %s", ferry_error_message(&err));
	is_int(used, b.len, "decode consumes the whole record");
	ok(changes_identical(&c, &d), "every field and value round-trips exactly");
	for (int i = 0; i < n; i++) {
		const ferry_value *got = &d.before.values[i];
		ok(ferry_value_identical(&vals[i], got), "value %d (%s) round-trips", i,
		   ferry_type_name(vals[i].type));
	}
	ok(signbit(d.before.values[8].u.f) && d.before.values[8].u.f == 0.0,
	   "-0.0 keeps its sign");

	/* every strict prefix fails cleanly */
	int all_refused = 1;
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
		memcpy(copy, b.data, len);
		if (ferry_change_decode(&d, copy, len, &used, &err) != FERRY_ECORRUPT)
			all_refused = 0;
		free(copy);
	}
	ok(all_refused, "each of the %zu truncations is FERRY_ECORRUPT", b.len);
	ok(strstr(ferry_error_message(&err), "at byte") != NULL,
	   "the message says where: %s", ferry_error_message(&err));

	/* records are self-delimiting: two back to back decode in turn */
	size_t first_len = b.len;
	c.op = FERRY_OP_DELETE;
	c.has_after = false;
	c.table = "t";
	ferry_change_encode(&c, &b, &err);
	ok(ferry_change_decode(&d, b.data, b.len, &used, &err) == 0 &&
	       used == first_len && d.op == FERRY_OP_UPDATE,
	   "first of two records");
	ok(ferry_change_decode(&d, b.data + used, b.len - used, &used, &err) == 0 &&
	       d.op == FERRY_OP_DELETE && !d.has_after && strcmp(d.table, "t") == 0,
	   "second of two records");
	ferry_buf_free(&b);
	ferry_change_free(&c);
	ferry_change_free(&d);
	ferry_error_clear(&err);
}

static void test_ops(void)
{
	ferry_change c = FERRY_CHANGE_INIT, d = FERRY_CHANGE_INIT;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	size_t used;
	c.table = "t";
	c.op = FERRY_OP_TRUNCATE;
	ok(ferry_change_encode(&c, &b, &err) == 0 &&
	       ferry_change_decode(&d, b.data, b.len, &used, &err) == 0 &&
	       d.op == FERRY_OP_TRUNCATE && !d.has_before && !d.has_after,
	   "truncate round-trips with no images");
	ferry_buf_reset(&b);
	c.op = FERRY_OP_INSERT;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "an insert without an after-image is refused");
	c.op = FERRY_OP_DELETE;
	c.has_after = true;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "a delete without a before-image is refused");
	c.op = FERRY_OP_INSERT;
	c.table = NULL;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "a change without a table is refused");
	c.table = "t";
	c.op = (ferry_op)9;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "an unknown op is refused");
	c.op = FERRY_OP_INSERT;
	ferry_row_resize(&c.after, 1, NULL);
	c.after.values[0].type = (ferry_type)42;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "an unknown value type is refused at encode time");
	is_int(b.len, 0, "refused changes write nothing");

	/* hand-made garbage */
	uint8_t bad_op[] = {9, 0, 1, 't', 0, 0, 0, 0};
	is_int(ferry_change_decode(&d, bad_op, sizeof bad_op, &used, &err),
	       FERRY_ECORRUPT, "unknown op byte is corrupt");
	uint8_t bad_flags[] = {1, 0x82, 1, 't', 0, 0, 0, 0, 0};
	is_int(ferry_change_decode(&d, bad_flags, sizeof bad_flags, &used, &err),
	       FERRY_ECORRUPT, "unknown flag bits are corrupt");
	uint8_t bad_tag[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 77};
	is_int(ferry_change_decode(&d, bad_tag, sizeof bad_tag, &used, &err),
	       FERRY_ECORRUPT, "unknown value tag is corrupt");
	uint8_t bad_bool[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 6, 2};
	is_int(ferry_change_decode(&d, bad_bool, sizeof bad_bool, &used, &err),
	       FERRY_ECORRUPT, "boolean byte 2 is corrupt");
	uint8_t huge_len[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 4, 0xff, 0xff, 0xff, 0x7f};
	is_int(ferry_change_decode(&d, huge_len, sizeof huge_len, &used, &err),
	       FERRY_ECORRUPT, "a length past the end is corrupt");
	uint8_t bad_num[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 3, 2, '1', 'x'};
	is_int(ferry_change_decode(&d, bad_num, sizeof bad_num, &used, &err),
	       FERRY_ECORRUPT, "a numeric that is not a number is corrupt");
	uint8_t nul_name[] = {1, 2, 2, 't', 0, 0, 0, 0, 0, 1, 0};
	is_int(ferry_change_decode(&d, nul_name, sizeof nul_name, &used, &err),
	       FERRY_ECORRUPT, "a table name with a NUL is corrupt");
	uint8_t good[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 1, 0x54};
	ok(ferry_change_decode(&d, good, sizeof good, &used, &err) == 0 &&
	       d.after.values[0].u.i == 42 && used == sizeof good,
	   "a hand-written insert of int 42 decodes");

	ferry_buf_free(&b);
	ferry_change_free(&c);
	ferry_change_free(&d);
	ferry_error_clear(&err);
}

/* FERRY_ABSENT (tag 12): columns the source did not send, allowed in
 * before-images and in an update's after-image only. */
static void test_absent(void)
{
	ferry_change c = FERRY_CHANGE_INIT, d = FERRY_CHANGE_INIT;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	size_t used = 0;
	c.table = "t";
	c.position = (const uint8_t *)"p";
	c.position_len = 1;
	c.op = FERRY_OP_UPDATE;
	c.has_before = c.has_after = true;
	ferry_row_resize(&c.before, 3, NULL);
	ferry_row_resize(&c.after, 3, NULL);
	c.before.values[0] = ferry_value_int(7);
	c.before.values[1] = ferry_value_absent();
	c.before.values[2] = ferry_value_absent();
	c.after.values[0] = ferry_value_int(8);
	c.after.values[1] = ferry_value_null();
	c.after.values[2] = ferry_value_absent();
	is_int(ferry_change_encode(&c, &b, &err), 0,
	       "an update with absent values encodes");
	ok(ferry_change_decode(&d, b.data, b.len, &used, &err) == 0 &&
	       changes_identical(&c, &d),
	   "and round-trips exactly");
	ok(d.before.values[1].type == FERRY_ABSENT &&
	       d.after.values[1].type == FERRY_NULL &&
	       d.after.values[2].type == FERRY_ABSENT,
	   "absent stays absent and NULL stays NULL");
	ok(ferry_row_has_absent(&d.after) && !ferry_row_has_absent(NULL),
	   "ferry_row_has_absent");

	ferry_buf_reset(&b);
	c.op = FERRY_OP_DELETE;
	c.has_after = false;
	ok(ferry_change_encode(&c, &b, &err) == 0 &&
	       ferry_change_decode(&d, b.data, b.len, &used, &err) == 0 &&
	       d.op == FERRY_OP_DELETE && d.before.values[2].type == FERRY_ABSENT,
	   "a delete with a key-only before-image round-trips");

	ferry_buf_reset(&b);
	c.op = FERRY_OP_INSERT;
	c.has_before = false;
	c.has_after = true;
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "an insert with an absent value is refused");
	ok(strstr(ferry_error_message(&err), "absent") != NULL,
	   "saying so: %s", ferry_error_message(&err));
	c.op = FERRY_OP_DDL;
	ferry_row_resize(&c.after, 1, NULL);
	c.after.values[0] = ferry_value_absent();
	is_int(ferry_change_encode(&c, &b, &err), FERRY_EINVAL,
	       "a ddl change with an absent statement is refused");
	is_int(b.len, 0, "refused changes write nothing");

	uint8_t insert_absent[] = {1, 2, 1, 't', 0, 0, 0, 0, 1, 12};
	is_int(ferry_change_decode(&d, insert_absent, sizeof insert_absent, &used,
	                           &err),
	       FERRY_ECORRUPT, "an absent value in an insert is corrupt");
	uint8_t update_absent[] = {2, 2, 1, 't', 0, 0, 0, 0, 1, 12};
	ok(ferry_change_decode(&d, update_absent, sizeof update_absent, &used,
	                       &err) == 0 &&
	       d.after.values[0].type == FERRY_ABSENT && used == sizeof update_absent,
	   "a hand-written update with an absent value decodes");
	uint8_t tag13[] = {2, 2, 1, 't', 0, 0, 0, 0, 1, 13};
	is_int(ferry_change_decode(&d, tag13, sizeof tag13, &used, &err),
	       FERRY_ECORRUPT, "tag 13 is unknown");

	ferry_value v = ferry_value_absent();
	is_str(ferry_type_name(FERRY_ABSENT), "absent", "its type name");
	ferry_buf_reset(&b);
	ferry_value_format(&v, &b, 0);
	is_str(ferry_buf_cstr(&b), "(not sent)", "its readable form");
	ferry_buf_reset(&b);
	is_int(ferry_value_canonical(&v, &b, &err), FERRY_EINVAL,
	       "it has no canonical form (verify never hashes one)");
	ferry_buf_free(&b);
	ferry_change_free(&c);
	ferry_change_free(&d);
	ferry_error_clear(&err);
}

/* Mutations of a valid record (random bytes changed, random truncation)
 * decode or are refused, never read outside their bytes (ASan tells). */
static void test_mutations(void)
{
	ferry_value vals[40];
	int n = sample_values(vals);
	ferry_change c = FERRY_CHANGE_INIT, d = FERRY_CHANGE_INIT;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_error err = FERRY_ERROR_INIT;
	make_update(&c, vals, n);
	ferry_change_encode(&c, &b, &err);
	uint8_t *buf = malloc(b.len);
	unsigned seed = 12345;
	int decoded = 0, refused = 0, overran = 0;
	for (int i = 0; i < 100000; i++) {
		memcpy(buf, b.data, b.len);
		int flips = 1 + rand_r(&seed) % 3;
		for (int k = 0; k < flips; k++)
			buf[rand_r(&seed) % b.len] = (uint8_t)rand_r(&seed);
		size_t len = rand_r(&seed) % 4 ? b.len : (size_t)rand_r(&seed) % b.len;
		size_t used = 0;
		if (ferry_change_decode(&d, buf, len, &used, &err) == 0) {
			decoded++;
			if (used == 0 || used > len)
				overran++;
		} else {
			refused++;
		}
	}
	ok(overran == 0 && decoded > 0 && refused > 0,
	   "100000 mutated records: %d decoded, %d refused, none overran", decoded,
	   refused);
	free(buf);
	ferry_buf_free(&b);
	ferry_change_free(&c);
	ferry_change_free(&d);
	ferry_error_clear(&err);
}

/* Fail each allocation in turn: every path returns cleanly, nothing leaks. */
static void test_alloc_failures(void)
{
	ferry_value vals[40];
	int n = sample_values(vals);
	int clean = 1, runs = 0;
	for (long nth = 1; nth < 1000; nth++) {
		ferry_change c = FERRY_CHANGE_INIT, d = FERRY_CHANGE_INIT;
		ferry_buf b = FERRY_BUF_INIT;
		ferry_error err = FERRY_ERROR_INIT;
		size_t used;
		ferry_alloc_fail_at(nth, 0);
		int rc = ferry_row_resize(&c.before, (uint32_t)n, &err);
		if (rc == 0)
			rc = ferry_row_resize(&c.after, (uint32_t)n, &err);
		if (rc == 0) {
			make_update(&c, vals, n);
			rc = ferry_change_encode(&c, &b, &err);
		}
		if (rc == 0)
			rc = ferry_change_decode(&d, b.data, b.len, &used, &err);
		long failures = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 && rc != FERRY_ENOMEM)
			clean = 0;
		if (rc == 0 && !changes_identical(&c, &d))
			clean = 0;
		ferry_buf_free(&b);
		ferry_change_free(&c);
		ferry_change_free(&d);
		ferry_error_clear(&err);
		runs++;
		if (failures == 0)
			break;
	}
	ok(clean && runs > 3, "each of %d allocation failures is handled", runs - 1);
}

int main(void)
{
	test_roundtrip();
	test_ops();
	test_absent();
	test_mutations();
	test_alloc_failures();
	is_str(ferry_op_name(FERRY_OP_DDL), "ddl", "op names");
	return tap_done();
}
