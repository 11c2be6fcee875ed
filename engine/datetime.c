/*
 * engine/datetime.c - civil calendar conversions, strict parsing, and
 * formatting of dates and timestamps (see datetime.h).
 */
#include "engine/datetime.h"

#include "engine/value.h"

/* Howard Hinnant's days_from_civil: exact for the whole int32 day range. */
int32_t ferry_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + (int64_t)doe - 719468);
}

void ferry_civil_from_days(int32_t days, int64_t *year, unsigned *month,
                           unsigned *day)
{
	int64_t z = (int64_t)days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool ferry_date_valid(int64_t year, unsigned month, unsigned day)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30,
	                                 31, 31, 30, 31, 30, 31};
	if (month < 1 || month > 12 || day < 1)
		return false;
	unsigned limit = mdays[month - 1] + (month == 2 && is_leap(year));
	return day <= limit;
}

/* Reads exactly n ASCII digits. */
static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int refuse(ferry_error *err, const char *what, const char *text,
                  size_t len)
{
	int shown = len > 40 ? 40 : (int)len;
	return ferry_error_set(err, FERRY_EREJECT, "invalid %s \"%.*s%s\"", what,
	                       shown, text, len > 40 ? "..." : "");
}

static bool parse_ymd(const char *s, size_t len, int32_t *out)
{
	unsigned y, m, d;
	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &m) || s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	if (y == 0 || !ferry_date_valid(y, m, d))
		return false;
	*out = ferry_days_from_civil(y, m, d);
	return true;
}

int ferry_date_parse(const char *text, size_t len, int32_t *out,
                     ferry_error *err)
{
	if (len != 10 || !parse_ymd(text, len, out))
		return refuse(err, "date", text, len);
	return 0;
}

/* Parses "Z" or a numeric offset into seconds east of UTC. */
static bool parse_zone(const char *s, size_t len, int64_t *offset_secs)
{
	if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*offset_secs = 0;
		return true;
	}
	if (len < 3 || (s[0] != '+' && s[0] != '-'))
		return false;
	unsigned hh, mm = 0;
	if (!digits(s + 1, 2, &hh))
		return false;
	if (len == 6 && s[3] == ':') {
		if (!digits(s + 4, 2, &mm))
			return false;
	} else if (len == 5) {
		if (!digits(s + 3, 2, &mm))
			return false;
	} else if (len != 3) {
		return false;
	}
	if (hh > 15 || mm > 59)
		return false;
	int64_t secs = (int64_t)hh * 3600 + mm * 60;
	*offset_secs = s[0] == '-' ? -secs : secs;
	return true;
}

/* "HH:MM[:SS[.ffffff]]" at s; returns the bytes used, 0 if malformed. */
static size_t parse_clock(const char *s, size_t len, int64_t *micros)
{
	unsigned hh, mi, ss = 0, frac = 0;
	size_t i = 5;
	if (len < 5 || !digits(s, 2, &hh) || s[2] != ':' || !digits(s + 3, 2, &mi))
		return 0;
	if (i < len && s[i] == ':') {
		if (len < 8 || !digits(s + 6, 2, &ss))
			return 0;
		i = 8;
		if (i < len && s[i] == '.') {
			size_t n = 0;
			i++;
			while (i + n < len && s[i + n] >= '0' && s[i + n] <= '9')
				n++;
			if (n == 0 || n > 6 || !digits(s + i, n, &frac))
				return 0;
			for (size_t k = n; k < 6; k++)
				frac *= 10;
			i += n;
		}
	}
	if (hh > 23 || mi > 59 || ss > 59)
		return 0;
	*micros = ((int64_t)hh * 3600 + mi * 60 + ss) * 1000000 + frac;
	return i;
}

int ferry_timestamp_parse(const char *text, size_t len, int64_t *out,
                          bool *has_zone, ferry_error *err)
{
	int32_t days;
	int64_t clock = 0, offset = 0;
	size_t i = 10;
	*has_zone = false;
	if (!parse_ymd(text, len, &days))
		return refuse(err, "timestamp", text, len);
	if (i < len && (text[i] == ' ' || text[i] == 'T' || text[i] == 't')) {
		size_t used = parse_clock(text + i + 1, len - i - 1, &clock);
		if (used == 0)
			return refuse(err, "timestamp", text, len);
		i += 1 + used;
	}
	if (i < len) {
		if (!parse_zone(text + i, len - i, &offset))
			return refuse(err, "timestamp", text, len);
		*has_zone = true;
	}
	*out = (int64_t)days * FERRY_USECS_PER_DAY + clock - offset * 1000000;
	return 0;
}

void ferry_date_format(int32_t days, ferry_buf *out)
{
	if (days == FERRY_DATE_PINF || days == FERRY_DATE_NINF) {
		ferry_buf_puts(out, days > 0 ? "infinity" : "-infinity");
		return;
	}
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days(days, &y, &m, &d);
	if (y <= 0) /* PostgreSQL writes 1 BC, not year 0 */
		ferry_buf_printf(out, "%04lld-%02u-%02u BC", (long long)(1 - y), m, d);
	else
		ferry_buf_printf(out, "%04lld-%02u-%02u", (long long)y, m, d);
}

void ferry_timestamp_format(int64_t micros, bool utc, ferry_buf *out)
{
	if (micros == FERRY_TS_PINF || micros == FERRY_TS_NINF) {
		ferry_buf_puts(out, micros > 0 ? "infinity" : "-infinity");
		return;
	}
	int64_t days = micros / FERRY_USECS_PER_DAY;
	int64_t rest = micros % FERRY_USECS_PER_DAY;
	if (rest < 0) {
		rest += FERRY_USECS_PER_DAY;
		days--;
	}
	int64_t y;
	unsigned m, d;
	ferry_civil_from_days((int32_t)days, &y, &m, &d);
	int64_t secs = rest / 1000000, frac = rest % 1000000;
	ferry_buf_printf(out, "%04lld-%02u-%02u %02u:%02u:%02u", (long long)y, m,
	                 d, (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60),
	                 (unsigned)(secs % 60));
	if (frac) {
		/* PostgreSQL's style: only the significant fractional digits */
		int places = 6;
		while (frac % 10 == 0) {
			frac /= 10;
			places--;
		}
		ferry_buf_printf(out, ".%0*lld", places, (long long)frac);
	}
	if (utc)
		ferry_buf_putc(out, 'Z');
}
