/*
 * engine/runtime.h - what the long-running commands (sync, cutover,
 * rollback, undo) share: the wall clock, their log lines, and the test
 * crash points.
 */
#ifndef FERRY_RUNTIME_H
#define FERRY_RUNTIME_H

#include <stdarg.h>
#include <stdint.h>

#include "engine/error.h"

/* Microseconds since the Unix epoch (UTC). */
int64_t ferry_now_us(void);

/* Formats one line (no newline) and hands it to log; nothing when log
 * is NULL. */
typedef void (*ferry_log_fn)(void *arg, const char *line);
void ferry_log_vprintf(ferry_log_fn log, void *arg, const char *fmt,
                       va_list ap);

/* A crash injection point for tests: FERRY_TEST_CRASH_AT=<step> makes
 * the process die by SIGKILL here, as a kill -9 at that moment would.
 * Call it once the step's work is done and recorded. */
void ferry_test_crash_point(const char *step);

#endif
