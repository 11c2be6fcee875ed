/*
 * engine/registry.c - URI kind -> reader / writer (registry.h).
 *
 * The implementations live in cdc/, transforms/ and engine/; they are
 * named here by their exported tables only, so engine/ depends on their
 * interface, not on their headers.
 */
#include "engine/registry.h"

#include "engine/capture.h"

extern const ferry_source_ops ferry_sqlite_source_ops;
extern const ferry_source_ops ferry_pg_source_ops;
extern const ferry_target_ops ferry_pg_target_ops;
extern const ferry_target_ops ferry_sqlite_target_ops;
extern const ferry_transform_ops ferry_plan_transform_ops;
extern const ferry_capture_ops ferry_sqlite_capture_ops;
extern const ferry_capture_ops ferry_pg_capture_ops;

const ferry_source_ops *ferry_source_for(ferry_uri_kind kind)
{
	switch (kind) {
	case FERRY_URI_SQLITE:
		return &ferry_sqlite_source_ops;
	case FERRY_URI_POSTGRESQL:
		return &ferry_pg_source_ops;
	default:
		return NULL;
	}
}

const ferry_target_ops *ferry_target_for(ferry_uri_kind kind)
{
	switch (kind) {
	case FERRY_URI_SQLITE:
		return &ferry_sqlite_target_ops;
	case FERRY_URI_POSTGRESQL:
		return &ferry_pg_target_ops;
	default:
		return NULL;
	}
}

const ferry_transform_ops *ferry_default_transform(void)
{
	return &ferry_plan_transform_ops;
}

const ferry_capture_ops *ferry_capture_for(ferry_uri_kind kind)
{
	switch (kind) {
	case FERRY_URI_SQLITE:
		return &ferry_sqlite_capture_ops;
	case FERRY_URI_POSTGRESQL:
		return &ferry_pg_capture_ops;
	default:
		return NULL;
	}
}
