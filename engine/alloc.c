/*
 * engine/alloc.c - allocation wrappers with a fault-injection hook.
 */
#include "engine/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Countdown to the injected failure; 0 = off.  See alloc.h. */
static atomic_long fail_countdown;
static atomic_int fail_sticky;
static atomic_long fail_count;

void ferry_alloc_fail_at(long nth, int sticky)
{
	atomic_store(&fail_sticky, sticky);
	atomic_store(&fail_count, 0);
	atomic_store(&fail_countdown, nth > 0 ? nth : 0);
}

long ferry_alloc_failures(void) { return atomic_load(&fail_count); }

static int should_fail(void)
{
	long n = atomic_load(&fail_countdown);
	if (n == 0)
		return 0;
	if (n == 1) {
		if (!atomic_load(&fail_sticky))
			atomic_store(&fail_countdown, 0);
		atomic_fetch_add(&fail_count, 1);
		return 1;
	}
	atomic_fetch_sub(&fail_countdown, 1);
	return 0;
}

void *ferry_malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *ferry_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *ferry_realloc(void *ptr, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(ptr, size ? size : 1);
}

void ferry_free(void *ptr) { free(ptr); }

char *ferry_strndup(const char *s, size_t len)
{
	char *copy = ferry_malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *ferry_strdup(const char *s) { return ferry_strndup(s, strlen(s)); }
