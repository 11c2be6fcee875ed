/*
 * engine/alloc.h - the one path all of ferry's heap use goes through.
 *
 * Routing every allocation here lets tests fail the Nth allocation and
 * check that each error path cleans up (the SQLite *fault.test habit).
 */
#ifndef FERRY_ALLOC_H
#define FERRY_ALLOC_H

#include <stddef.h>

void *ferry_malloc(size_t size);
void *ferry_calloc(size_t count, size_t size);
void *ferry_realloc(void *ptr, size_t size);
void ferry_free(void *ptr);
char *ferry_strdup(const char *s);
char *ferry_strndup(const char *s, size_t len);

/*
 * Test hook: make the nth allocation from now fail (1 = the next one),
 * and every one after it while `sticky` is non-zero; 0 turns failures off.
 * The counter is process-wide and atomic: it is the library's single
 * piece of mutable global state, and only tests touch it.
 */
void ferry_alloc_fail_at(long nth, int sticky);

/* How many allocations have failed on purpose since the hook was set. */
long ferry_alloc_failures(void);

#endif
