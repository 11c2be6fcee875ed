/*
 * engine/datetime.h - calendar arithmetic for dates and timestamps.
 *
 * Dates are days since 1970-01-01 and timestamps microseconds since
 * 1970-01-01 00:00:00, both on the proleptic Gregorian calendar (as
 * PostgreSQL and SQLite's date functions use).  Parsing is strict: an
 * impossible date such as 2023-02-29 is refused, never rolled over.
 */
#ifndef FERRY_DATETIME_H
#define FERRY_DATETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

#define FERRY_USECS_PER_DAY INT64_C(86400000000)

/* Days since 1970-01-01 of a valid civil date (no range check). */
int32_t ferry_days_from_civil(int64_t year, unsigned month, unsigned day);
void ferry_civil_from_days(int32_t days, int64_t *year, unsigned *month,
                           unsigned *day);
bool ferry_date_valid(int64_t year, unsigned month, unsigned day);

/*
 * "YYYY-MM-DD" (years 0001..9999 with four digits).  FERRY_EREJECT for
 * text that is not such a date or names a day that does not exist.
 */
int ferry_date_parse(const char *text, size_t len, int32_t *out,
                     ferry_error *err);

/*
 * "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.f{1,6}]]" ('T' may replace the
 * space), optionally followed by "Z" or "+HH", "+HH:MM", "+HHMM" (or
 * '-').  *has_zone tells whether an offset was given; the result is then
 * UTC, otherwise the wall clock as written.  Leap seconds (":60") and
 * more than 6 fractional digits are refused rather than rounded.
 */
int ferry_timestamp_parse(const char *text, size_t len, int64_t *out,
                          bool *has_zone, ferry_error *err);

/* "YYYY-MM-DD" ("infinity"/"-infinity" for the sentinels). */
void ferry_date_format(int32_t days, ferry_buf *out);

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" and a trailing "Z" when utc is true. */
void ferry_timestamp_format(int64_t micros, bool utc, ferry_buf *out);

#endif
