/*
 * engine/arena.c - bump allocator (see arena.h).
 */
#include "engine/arena.h"

#include <stdint.h>
#include <string.h>

#include "engine/alloc.h"

struct ferry_arena_chunk {
	ferry_arena_chunk *next;
	size_t used;
	size_t cap;
	_Alignas(8) unsigned char data[];
};

enum { CHUNK_SIZE = 64 * 1024 };

void *ferry_arena_alloc(ferry_arena *a, size_t size)
{
	/* rounding up, or adding the chunk header, must not wrap around */
	if (size > SIZE_MAX - sizeof(ferry_arena_chunk) - 7)
		return NULL;
	size = (size + 7) & ~(size_t)7;
	ferry_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
		ferry_arena_chunk *fresh = ferry_malloc(sizeof *fresh + cap);
		if (!fresh)
			return NULL;
		fresh->used = 0;
		fresh->cap = cap;
		fresh->next = c;
		a->head = c = fresh;
	}
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

char *ferry_arena_strndup(ferry_arena *a, const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL; /* len + 1 would wrap */
	char *copy = ferry_arena_alloc(a, len + 1);
	if (!copy)
		return NULL;
	if (len)
		memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

void ferry_arena_reset(ferry_arena *a)
{
	ferry_arena_chunk *c = a->head;
	if (!c)
		return;
	/* keep the oldest (first) chunk: typical rows fit in it */
	while (c->next) {
		ferry_arena_chunk *next = c->next;
		ferry_free(c);
		c = next;
	}
	c->used = 0;
	a->head = c;
}

void ferry_arena_free(ferry_arena *a)
{
	ferry_arena_chunk *c = a->head;
	while (c) {
		ferry_arena_chunk *next = c->next;
		ferry_free(c);
		c = next;
	}
	a->head = NULL;
}
