/*
 * tests/tap.h - a minimal Test Anything Protocol producer for unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name" plus diagnostics
 * on "# " lines; tap_done() prints the plan and returns the exit status.
 * The automake TAP driver reads this output.
 */
#ifndef FERRY_TAP_H
#define FERRY_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count_;
static int tap_failed_;

static inline int tap_ok_(int cond, const char *file, int line,
                          const char *fmt, ...)
{
	va_list ap;
	tap_count_++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed_++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                              \
	do {                                                                    \
		long long g_ = (long long)(got), w_ = (long long)(want);           \
		if (!ok(g_ == w_, __VA_ARGS__))                                     \
			printf("#   got %lld, want %lld\n", g_, w_);                   \
	} while (0)

#define is_str(got, want, ...)                                              \
	do {                                                                    \
		const char *g_ = (got), *w_ = (want);                               \
		int same_ = g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_;             \
		if (!ok(same_, __VA_ARGS__))                                        \
			printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",    \
			       w_ ? w_ : "(null)");                                     \
	} while (0)

static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count_);
	return tap_failed_ ? 1 : 0;
}

#endif
