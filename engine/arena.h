/*
 * engine/arena.h - a bump allocator for per-row scratch memory.
 *
 * Values built while converting one row (formatted numbers, decimal text)
 * live here and are all dropped at once with ferry_arena_reset.  Unlike a
 * ferry_buf, memory handed out never moves, so values may point into it.
 */
#ifndef FERRY_ARENA_H
#define FERRY_ARENA_H

#include <stddef.h>

typedef struct ferry_arena_chunk ferry_arena_chunk;

typedef struct ferry_arena {
	ferry_arena_chunk *head; /* chunk being filled; older ones follow */
} ferry_arena;

#define FERRY_ARENA_INIT { NULL }

/* size bytes, 8-byte aligned, valid until reset/free; NULL if out of memory */
void *ferry_arena_alloc(ferry_arena *a, size_t size);
/* Copies len bytes (plus a NUL) into the arena. */
char *ferry_arena_strndup(ferry_arena *a, const char *s, size_t len);
/* Drops everything allocated, keeping the first chunk for reuse. */
void ferry_arena_reset(ferry_arena *a);
void ferry_arena_free(ferry_arena *a);

#endif
