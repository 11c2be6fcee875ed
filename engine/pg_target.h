/*
 * engine/pg_target.h - the PostgreSQL target writer (engine/pg_target.c):
 * creates tables, streams rows with COPY (text or binary format), then adds
 * keys, indexes, identity positions and foreign keys.  Behaviour is
 * described in docs/postgresql-target.md.
 */
#ifndef FERRY_PG_TARGET_H
#define FERRY_PG_TARGET_H

#include "engine/target.h"

extern const ferry_target_ops ferry_pg_target_ops;

#endif
