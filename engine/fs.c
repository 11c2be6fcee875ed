/*
 * engine/fs.c - file system helpers (fs.h).
 */
#include "engine/fs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int ferry_make_private_dir(const char *dir, const char *what, ferry_error *err)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
		struct stat sb;
		if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
			return 0;
		return ferry_error_set(err, FERRY_EINVAL,
		                       "could not use \"%s\" as the %s: not a directory",
		                       dir, what);
	}
	return ferry_error_set(err, FERRY_ERROR, "could not create the %s \"%s\": %s",
	                       what, dir, strerror(errno));
}
