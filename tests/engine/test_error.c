/* Unit tests for engine/error: set, prefix, clear, the out-of-memory path. */
#include "engine/alloc.h"
#include "engine/error.h"
#include "tests/tap.h"

int main(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	is_str(ferry_error_message(&err), "", "a fresh error has no message");
	is_str(ferry_error_message(NULL), "", "NULL error reads as empty");

	int rc = ferry_error_set(&err, FERRY_EINVAL, "could not open \"%s\": %s",
	                         "x.db", "no such file");
	is_int(rc, FERRY_EINVAL, "set returns its code");
	is_int(err.code, FERRY_EINVAL, "set stores the code");
	is_str(ferry_error_message(&err), "could not open \"x.db\": no such file",
	       "set formats the message");

	rc = ferry_error_prefix(&err, "table \"%s\", row %d", "users", 812);
	is_int(rc, FERRY_EINVAL, "prefix keeps the code");
	is_str(ferry_error_message(&err),
	       "table \"users\", row 812: could not open \"x.db\": no such file",
	       "prefix adds context in front");

	ferry_error_set(&err, FERRY_ECORRUPT, "second");
	is_str(ferry_error_message(&err), "second", "set replaces the old message");

	ferry_error_clear(&err);
	is_int(err.code, FERRY_OK, "clear resets the code");
	is_str(ferry_error_message(&err), "", "clear drops the message");

	is_int(ferry_error_set(NULL, FERRY_ENOTFOUND, "x"), FERRY_ENOTFOUND,
	       "set on NULL still returns the code");
	ferry_error_clear(NULL);

	is_int(ferry_error_oom(&err), FERRY_ENOMEM, "oom returns FERRY_ENOMEM");
	is_str(ferry_error_message(&err), "out of memory", "oom message");
	ferry_error_clear(&err);

	/* allocation failure inside set: the error still says something */
	ferry_alloc_fail_at(1, 0);
	rc = ferry_error_set(&err, FERRY_EINVAL, "will not fit %d", 1);
	ferry_alloc_fail_at(0, 0);
	is_int(rc, FERRY_EINVAL, "set returns its code even when out of memory");
	is_str(ferry_error_message(&err), "out of memory",
	       "a message that cannot be allocated reads 'out of memory'");

	ferry_error_set(&err, FERRY_EINVAL, "inner");
	ferry_alloc_fail_at(1, 1);
	ferry_error_prefix(&err, "outer");
	ferry_alloc_fail_at(0, 0);
	is_str(ferry_error_message(&err), "inner",
	       "a prefix that cannot be allocated keeps the original message");

	ferry_error_clear(&err);
	ferry_error_prefix(&err, "context only");
	is_int(err.code, FERRY_ERROR, "prefix without a held error becomes generic");
	ferry_error_clear(&err);
	return tap_done();
}
