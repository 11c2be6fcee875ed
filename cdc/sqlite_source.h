/*
 * cdc/sqlite_source.h - the SQLite file reader (engine/source.h).
 *
 * Reads one SQLite database file read-only, in one snapshot per
 * connection; docs/type-map.md has the type map and introspection rules.
 */
#ifndef FERRY_CDC_SQLITE_SOURCE_H
#define FERRY_CDC_SQLITE_SOURCE_H

#include "engine/source.h"

extern const ferry_source_ops ferry_sqlite_source_ops;

#endif
