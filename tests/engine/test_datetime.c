/* Unit tests for engine/datetime: calendar math and strict parsing. */
#include "engine/datetime.h"
#include "engine/value.h"
#include "tests/tap.h"

static void date_case(const char *text, int want_ok, int32_t want_days)
{
	int32_t days = 0;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_date_parse(text, strlen(text), &days, &err);
	if (want_ok)
		ok(rc == 0 && days == want_days, "date \"%s\" -> %d (got %d)", text,
		   want_days, days);
	else
		ok(rc == FERRY_EREJECT && strstr(ferry_error_message(&err), text),
		   "date \"%s\" is refused: %s", text, ferry_error_message(&err));
	ferry_error_clear(&err);
}

static void ts_case(const char *text, int want_ok, int64_t want, int zone)
{
	int64_t us = 0;
	bool has_zone = false;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_timestamp_parse(text, strlen(text), &us, &has_zone, &err);
	if (want_ok)
		ok(rc == 0 && us == want && has_zone == (zone != 0),
		   "timestamp \"%s\" -> %lld (got %lld)", text, (long long)want,
		   (long long)us);
	else
		ok(rc == FERRY_EREJECT, "timestamp \"%s\" is refused", text);
	ferry_error_clear(&err);
}

static void format_case(int64_t us, bool utc, const char *want)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_timestamp_format(us, utc, &b);
	is_str(ferry_buf_cstr(&b), want, "format %lld", (long long)us);
	ferry_buf_free(&b);
}

int main(void)
{
	is_int(ferry_days_from_civil(1970, 1, 1), 0, "epoch is day 0");
	is_int(ferry_days_from_civil(2000, 3, 1), 11017, "2000-03-01");
	is_int(ferry_days_from_civil(1969, 12, 31), -1, "day before the epoch");
	int bad = 0;
	for (int32_t d = -800000; d <= 3000000; d += 7) {
		int64_t y;
		unsigned m, dd;
		ferry_civil_from_days(d, &y, &m, &dd);
		if (ferry_days_from_civil(y, m, dd) != d || !ferry_date_valid(y, m, dd))
			bad++;
	}
	is_int(bad, 0, "civil <-> days round-trips over 10000 years");

	date_case("2024-02-29", 1, ferry_days_from_civil(2024, 2, 29));
	date_case("2000-02-29", 1, ferry_days_from_civil(2000, 2, 29));
	date_case("9999-12-31", 1, ferry_days_from_civil(9999, 12, 31));
	date_case("2023-02-29", 0, 0);
	date_case("1900-02-29", 0, 0);
	date_case("2024-04-31", 0, 0);
	date_case("2024-13-01", 0, 0);
	date_case("2024-00-10", 0, 0);
	date_case("0000-01-01", 0, 0);
	date_case("2024-1-01", 0, 0);
	date_case("2024-01-01 ", 0, 0);
	date_case("20240101", 0, 0);
	date_case("", 0, 0);

	int64_t day = FERRY_USECS_PER_DAY;
	ts_case("1970-01-02", 1, day, 0);
	ts_case("1970-01-01 00:00:01", 1, 1000000, 0);
	ts_case("1970-01-01T00:00:00.5", 1, 500000, 0);
	ts_case("1970-01-01 00:00:00.000001", 1, 1, 0);
	ts_case("1970-01-01 01:00", 1, INT64_C(3600000000), 0);
	ts_case("1970-01-01 01:00:00Z", 1, INT64_C(3600000000), 1);
	ts_case("1970-01-01 01:00:00+01", 1, 0, 1);
	ts_case("1970-01-01 01:00:00+01:00", 1, 0, 1);
	ts_case("1970-01-01 00:00:00-0130", 1, INT64_C(5400000000), 1);
	ts_case("1969-12-31 23:59:59.999999", 1, -1, 0);
	ts_case("1970-01-01 24:00:00", 0, 0, 0);
	ts_case("1970-01-01 23:60:00", 0, 0, 0);
	ts_case("1970-01-01 23:59:60", 0, 0, 0);
	ts_case("1970-01-01 00:00:00.1234567", 0, 0, 0);
	ts_case("1970-01-01 00:00:00.", 0, 0, 0);
	ts_case("1970-01-01 00:00:00 UTC", 0, 0, 0);
	ts_case("2023-02-29 00:00:00", 0, 0, 0);
	ts_case("1970-01-01 00:00:00+1", 0, 0, 0);

	format_case(0, false, "1970-01-01 00:00:00");
	format_case(-1, false, "1969-12-31 23:59:59.999999");
	format_case(500000, true, "1970-01-01 00:00:00.5Z");
	format_case(FERRY_TS_PINF, false, "infinity");
	ferry_buf b = FERRY_BUF_INIT;
	ferry_date_format(ferry_days_from_civil(2024, 2, 29), &b);
	is_str(ferry_buf_cstr(&b), "2024-02-29", "date format");
	ferry_buf_reset(&b);
	ferry_date_format(FERRY_DATE_NINF, &b);
	is_str(ferry_buf_cstr(&b), "-infinity", "date -infinity");
	ferry_buf_free(&b);
	return tap_done();
}
