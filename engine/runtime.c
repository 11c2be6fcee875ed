/*
 * engine/runtime.c - clock, log lines and test crash points of the
 * long-running commands (runtime.h).
 */
#include "engine/runtime.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/buf.h"

int64_t ferry_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ferry_log_vprintf(ferry_log_fn log, void *arg, const char *fmt,
                       va_list ap)
{
	if (!log)
		return;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_vprintf(&b, fmt, ap);
	if (ferry_buf_cstr(&b))
		log(arg, ferry_buf_cstr(&b));
	ferry_buf_free(&b);
}

void ferry_test_crash_point(const char *step)
{
	const char *at = getenv("FERRY_TEST_CRASH_AT");
	if (at && strcmp(at, step) == 0)
		raise(SIGKILL);
}
