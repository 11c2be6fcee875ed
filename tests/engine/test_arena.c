/* Unit tests for engine/arena: alignment, allocations larger than a
 * chunk, strndup, reset and free, memory that never moves (patterns
 * written early survive everything allocated later), impossible sizes,
 * and allocation failures at every step. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/arena.h"
#include "tests/tap.h"

enum { CHUNK = 64 * 1024, NBLOCKS = 3000 };

typedef struct block {
	unsigned char *p;
	size_t size;
	unsigned char seed;
} block;

static void fill(block *b)
{
	for (size_t i = 0; i < b->size; i++)
		b->p[i] = (unsigned char)(b->seed + i * 31);
}

static int intact(const block *b)
{
	for (size_t i = 0; i < b->size; i++)
		if (b->p[i] != (unsigned char)(b->seed + i * 31))
			return 0;
	return 1;
}

/* A deterministic size mix: mostly small, some medium, a few bigger than
 * a chunk. */
static size_t size_for(unsigned i)
{
	if (i % 397 == 0)
		return CHUNK + 1 + i;
	if (i % 53 == 0)
		return 5000 + i % 3000;
	return 1 + (i * 7919u) % 200;
}

static void test_alignment(void)
{
	ferry_arena a = FERRY_ARENA_INIT;
	int aligned = 1;
	for (size_t size = 0; size < 200; size++) {
		void *p = ferry_arena_alloc(&a, size);
		if (!p || (uintptr_t)p % 8 != 0)
			aligned = 0;
	}
	ok(aligned, "sizes 0..199: every pointer 8-byte aligned");
	/* odd sizes one after another do not overlap */
	unsigned char *x = ferry_arena_alloc(&a, 1);
	unsigned char *y = ferry_arena_alloc(&a, 3);
	unsigned char *z = ferry_arena_alloc(&a, 9);
	ok(x && y && z && y >= x + 1 && z >= y + 3, "consecutive small "
	                                            "allocations do not overlap");
	ok((uintptr_t)y % 8 == 0 && (uintptr_t)z % 8 == 0,
	   "after odd sizes the next pointers are still aligned");
	/* doubles and int64 can live there */
	double *d = ferry_arena_alloc(&a, 5 * sizeof *d);
	int64_t *q = ferry_arena_alloc(&a, 3 * sizeof *q);
	for (int i = 0; i < 5; i++)
		d[i] = i * 0.5;
	for (int i = 0; i < 3; i++)
		q[i] = INT64_MIN + i;
	ok(d[4] == 2.0 && q[2] == INT64_MIN + 2, "typed values stored (UBSan "
	                                         "checks alignment)");
	/* a large one is aligned too, and so is the next small one */
	void *big = ferry_arena_alloc(&a, 3 * CHUNK + 3);
	void *after = ferry_arena_alloc(&a, 5);
	ok(big && (uintptr_t)big % 8 == 0, "a large allocation is aligned");
	ok(after && (uintptr_t)after % 8 == 0, "the allocation after it too");
	ferry_arena_free(&a);
	ok(a.head == NULL, "free leaves the arena empty");
}

static void test_large(void)
{
	ferry_arena a = FERRY_ARENA_INIT;
	unsigned char *small = ferry_arena_alloc(&a, 16);
	memset(small, 0xab, 16);
	size_t sizes[] = {CHUNK - 8, CHUNK, CHUNK + 1, 2 * CHUNK, 1 << 20,
	                  5 * CHUNK + 7};
	block blocks[6];
	int all = 1;
	for (int i = 0; i < 6; i++) {
		blocks[i].size = sizes[i];
		blocks[i].seed = (unsigned char)(i * 17);
		blocks[i].p = ferry_arena_alloc(&a, sizes[i]);
		if (!blocks[i].p) {
			all = 0;
			break;
		}
		fill(&blocks[i]); /* the whole range is writable (ASan) */
	}
	ok(all, "allocations of a chunk and beyond (up to 1 MiB) succeed");
	unsigned char *tail = ferry_arena_alloc(&a, 100);
	memset(tail, 0x5a, 100);
	int good = all;
	for (int i = 0; all && i < 6; i++)
		good &= intact(&blocks[i]);
	ok(good, "every large block keeps its bytes");
	int s = 1;
	for (int i = 0; i < 16; i++)
		s &= small[i] == 0xab;
	ok(s, "the small block before them keeps its bytes");
	/* distinct ranges */
	int disjoint = 1;
	for (int i = 0; all && i < 6; i++)
		for (int j = 0; j < 6; j++)
			if (i != j && blocks[i].p < blocks[j].p + blocks[j].size &&
			    blocks[j].p < blocks[i].p + blocks[i].size)
				disjoint = 0;
	ok(disjoint, "large blocks do not overlap");
	ferry_arena_free(&a);
}

static void test_strndup(void)
{
	ferry_arena a = FERRY_ARENA_INIT;
	char *s = ferry_arena_strndup(&a, "hello world", 5);
	is_str(s, "hello", "strndup copies len bytes and terminates");
	char *e = ferry_arena_strndup(&a, "", 0);
	ok(e && e[0] == '\0', "strndup of nothing is \"\"");
	char *n = ferry_arena_strndup(&a, NULL, 0);
	ok(n && n[0] == '\0', "strndup(NULL, 0) is \"\"");
	static const char with_nul[] = {'a', '\0', 'b', 'c'};
	char *w = ferry_arena_strndup(&a, with_nul, 4);
	ok(w && memcmp(w, with_nul, 4) == 0 && w[4] == '\0',
	   "embedded NUL bytes are copied, a NUL follows");
	/* reads no more than len bytes: the source has no terminator */
	char unterminated[3] = {'x', 'y', 'z'};
	char *u = ferry_arena_strndup(&a, unterminated, 3);
	is_str(u, "xyz", "an unterminated source of exactly len bytes");
	ok((uintptr_t)u % 8 == 0, "strndup results are aligned too");
	unterminated[0] = 'Q';
	is_str(u, "xyz", "the copy is independent of the source");
	/* a long one, crossing into a new chunk */
	static char longtext[CHUNK + 500];
	memset(longtext, 'L', sizeof longtext);
	char *l = ferry_arena_strndup(&a, longtext, sizeof longtext);
	ok(l && l[0] == 'L' && l[sizeof longtext - 1] == 'L' &&
	       l[sizeof longtext] == '\0',
	   "strndup of more than a chunk");
	is_str(s, "hello", "earlier strings survive");
	is_str(u, "xyz", "earlier strings survive (2)");
	ferry_arena_free(&a);
}

/* Thousands of allocations of mixed sizes: all patterns intact at the end
 * (memory never moves), through several chunks and after reset. */
static void test_patterns(void)
{
	static block blocks[NBLOCKS];
	ferry_arena a = FERRY_ARENA_INIT;
	for (int round = 0; round < 3; round++) {
		int got = 1;
		for (unsigned i = 0; i < NBLOCKS; i++) {
			blocks[i].size = size_for(i + (unsigned)round);
			blocks[i].seed = (unsigned char)(i + round);
			blocks[i].p = ferry_arena_alloc(&a, blocks[i].size);
			if (!blocks[i].p) {
				got = 0;
				break;
			}
			fill(&blocks[i]);
		}
		ok(got, "round %d: %d allocations of mixed sizes", round, NBLOCKS);
		int good = got, disjoint = got;
		for (unsigned i = 0; got && i < NBLOCKS; i++) {
			good &= intact(&blocks[i]);
			if (i > 0 && blocks[i].p < blocks[i - 1].p + blocks[i - 1].size &&
			    blocks[i - 1].p < blocks[i].p + blocks[i].size)
				disjoint = 0;
		}
		ok(good, "round %d: every block keeps its pattern", round);
		ok(disjoint, "round %d: neighbours do not overlap", round);
		ferry_arena_reset(&a);
	}
	ferry_arena_free(&a);
}

static void test_reset(void)
{
	ferry_arena a = FERRY_ARENA_INIT;
	ferry_arena_reset(&a); /* an empty arena */
	ok(a.head == NULL, "reset of an empty arena keeps it empty");
	void *first = ferry_arena_alloc(&a, 24);
	for (int i = 0; i < 100; i++) /* several chunks */
		ferry_arena_alloc(&a, 3000);
	ferry_arena_alloc(&a, 4 * CHUNK);
	ferry_arena_reset(&a);
	ok(a.head != NULL, "reset keeps a chunk");
	void *again = ferry_arena_alloc(&a, 24);
	ok(again == first, "after reset the first chunk is reused from its start");
	memset(again, 1, 24);
	/* reset many times: memory stays bounded (ASan would see leaks) */
	for (int r = 0; r < 200; r++) {
		for (int i = 0; i < 30; i++) {
			char *p = ferry_arena_alloc(&a, 5000);
			p[0] = p[4999] = (char)r;
		}
		ferry_arena_reset(&a);
	}
	void *third = ferry_arena_alloc(&a, 8);
	ok(third == first, "200 resets later the first chunk is still reused");
	ferry_arena_free(&a);
	ok(a.head == NULL, "free empties it");
	ferry_arena_free(&a); /* twice is fine */
	void *p = ferry_arena_alloc(&a, 10);
	ok(p != NULL, "a freed arena can be used again");
	ferry_arena_free(&a);
}

static void test_impossible_sizes(void)
{
	ferry_arena a = FERRY_ARENA_INIT;
	void *keep = ferry_arena_alloc(&a, 8);
	memset(keep, 7, 8);
	ok(ferry_arena_alloc(&a, SIZE_MAX) == NULL,
	   "alloc(SIZE_MAX) fails instead of wrapping to 0 bytes");
	ok(ferry_arena_alloc(&a, SIZE_MAX - 6) == NULL,
	   "alloc(SIZE_MAX - 6) fails instead of wrapping");
	ok(ferry_arena_alloc(&a, SIZE_MAX - 7) == NULL,
	   "alloc(SIZE_MAX - 7) fails (the chunk header would wrap)");
	ok(ferry_arena_alloc(&a, SIZE_MAX - 24) == NULL,
	   "alloc(SIZE_MAX - 24) fails (the chunk header would wrap)");
	ok(ferry_arena_strndup(&a, "x", SIZE_MAX) == NULL,
	   "strndup(SIZE_MAX) fails (len + 1 would wrap)");
	unsigned char *k = keep;
	int same = 1;
	for (int i = 0; i < 8; i++)
		same &= k[i] == 7;
	ok(same, "the arena is untouched by the refusals");
	char *s = ferry_arena_strndup(&a, "still", 5);
	is_str(s, "still", "and keeps working");
	ferry_arena_free(&a);
}

/* Every allocation failing in turn: NULL comes back, nothing leaks, and
 * what was allocated before stays intact and usable. */
static void test_alloc_failures(void)
{
	long n;
	int clean = 1;
	for (n = 1; n < 100; n++) {
		ferry_arena a = FERRY_ARENA_INIT;
		block blocks[40];
		int nblocks = 0;
		ferry_alloc_fail_at(n, 0);
		int saw_null = 0;
		for (int i = 0; i < 40; i++) {
			size_t size = i % 10 == 9 ? CHUNK + 100 : 9000;
			unsigned char *p = i % 3 == 0
			                       ? (unsigned char *)ferry_arena_strndup(
			                             &a, "abcdefgh", 8)
			                       : ferry_arena_alloc(&a, size);
			if (!p) {
				saw_null = 1;
				continue;
			}
			if (i % 3 == 0) {
				if (memcmp(p, "abcdefgh", 9) != 0)
					clean = 0;
				continue;
			}
			blocks[nblocks].p = p;
			blocks[nblocks].size = size;
			blocks[nblocks].seed = (unsigned char)i;
			fill(&blocks[nblocks++]);
		}
		long fails = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (fails > 0 && !saw_null)
			clean = 0; /* a failure must show as NULL */
		for (int i = 0; i < nblocks; i++)
			if (!intact(&blocks[i]))
				clean = 0;
		ferry_arena_reset(&a);
		if (!ferry_arena_alloc(&a, 100))
			clean = 0;
		ferry_arena_free(&a);
		if (fails == 0)
			break;
	}
	ok(clean, "allocation failure at every step: NULL, data intact, "
	          "arena usable");
	ok(n > 1 && n < 100, "the fault loop ran %ld times and ended", n);

	/* sticky failure: everything fails, the arena stays empty */
	ferry_arena a = FERRY_ARENA_INIT;
	ferry_alloc_fail_at(1, 1);
	ok(ferry_arena_alloc(&a, 1) == NULL, "sticky failure: alloc is NULL");
	ok(ferry_arena_strndup(&a, "x", 1) == NULL, "sticky failure: strndup too");
	ok(a.head == NULL, "no chunk was kept");
	ferry_alloc_fail_at(0, 0);
	ok(ferry_arena_alloc(&a, 1) != NULL, "works once failures stop");
	ferry_arena_free(&a);
}

int main(void)
{
	test_alignment();
	test_large();
	test_strndup();
	test_patterns();
	test_reset();
	test_impossible_sizes();
	test_alloc_failures();
	return tap_done();
}
