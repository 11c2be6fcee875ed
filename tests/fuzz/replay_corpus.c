/*
 * tests/fuzz/replay_corpus.c - runs every fuzz corpus file through the
 * fuzz target in an ordinary build, so `make check` (and the sanitizer
 * build) re-checks each input the fuzzer ever kept, crashers included.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"

#ifndef CORPUS_NAME
#define CORPUS_NAME "change_decode" /* which tests/fuzz/corpus/ folder */
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;
	uint8_t chunk[4096];
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (len + n > cap) {
			cap = (len + n) * 2;
			uint8_t *grown = realloc(data, cap);
			if (!grown) {
				free(data);
				fclose(f);
				return -1;
			}
			data = grown;
		}
		memcpy(data + len, chunk, n);
		len += n;
	}
	fclose(f);
	/* an exact-size copy, so a sanitizer build catches any overread */
	uint8_t *exact = malloc(len ? len : 1);
	if (exact) {
		memcpy(exact, data, len);
		LLVMFuzzerTestOneInput(exact, len);
	}
	free(exact);
	free(data);
	return exact ? 0 : -1;
}

int main(void)
{
	const char *srcdir = getenv("FERRY_SRCDIR");
	char dirpath[4096];
	snprintf(dirpath, sizeof dirpath, "%s/tests/fuzz/corpus/%s",
	         srcdir ? srcdir : ".", CORPUS_NAME);
	DIR *dir = opendir(dirpath);
	if (!ok(dir != NULL, "corpus directory opens"))
		return tap_done();
	int files = 0, failed = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
		files++;
		if (replay_file(path) < 0) {
			failed++;
			tap_diag("could not read %s", path);
		}
	}
	closedir(dir);
	ok(files >= 10 && failed == 0, "%d corpus inputs replayed through %s",
	   files, CORPUS_NAME);
	return tap_done();
}
