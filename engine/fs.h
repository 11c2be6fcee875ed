/*
 * engine/fs.h - file system helpers shared by the state and the journal.
 */
#ifndef FERRY_FS_H
#define FERRY_FS_H

#include "engine/error.h"

/*
 * Creates dir with mode 0700 unless it exists; an existing non-directory
 * is FERRY_EINVAL.  what names it in messages ("journal directory").
 */
int ferry_make_private_dir(const char *dir, const char *what, ferry_error *err);

#endif
