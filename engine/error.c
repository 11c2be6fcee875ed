/*
 * engine/error.c - the error object: one owned message per handle.
 */
#include "engine/error.h"

#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"

static const char oom_message[] = "out of memory";

static void release(ferry_error *err)
{
	if (err->msg && !err->msg_is_static)
		ferry_free(err->msg);
	err->msg = NULL;
	err->msg_is_static = 0;
}

/* Formats into a fresh heap string, or NULL when memory runs out. */
static char *format_message(const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return NULL;
	char *s = ferry_malloc((size_t)n + 1);
	if (!s)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

int ferry_error_setv(ferry_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	char *msg = format_message(fmt, ap);
	release(err);
	err->code = code;
	if (msg) {
		err->msg = msg;
	} else {
		err->msg = (char *)oom_message;
		err->msg_is_static = 1;
	}
	return code;
}

int ferry_error_set(ferry_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int ferry_error_prefix(ferry_error *err, const char *fmt, ...)
{
	if (!err)
		return FERRY_ERROR;
	if (err->code == FERRY_OK)
		err->code = FERRY_ERROR;
	va_list ap;
	va_start(ap, fmt);
	char *prefix = format_message(fmt, ap);
	va_end(ap);
	if (!prefix)
		return err->code; /* keep the original message: better than none */
	const char *old = err->msg ? err->msg : "";
	size_t plen = strlen(prefix), olen = strlen(old);
	char *joined = ferry_malloc(plen + 2 + olen + 1);
	if (joined) {
		memcpy(joined, prefix, plen);
		memcpy(joined + plen, ": ", 2);
		memcpy(joined + plen + 2, old, olen + 1);
		release(err);
		err->msg = joined;
	}
	ferry_free(prefix);
	return err->code;
}

int ferry_error_oom(ferry_error *err)
{
	if (err) {
		release(err);
		err->code = FERRY_ENOMEM;
		err->msg = (char *)oom_message;
		err->msg_is_static = 1;
	}
	return FERRY_ENOMEM;
}

void ferry_error_clear(ferry_error *err)
{
	if (!err)
		return;
	release(err);
	err->code = FERRY_OK;
}

const char *ferry_error_message(const ferry_error *err)
{
	return err && err->msg ? err->msg : "";
}
