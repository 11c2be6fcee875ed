/*
 * engine/registry.h - the one place that maps a URI kind to the source
 * reader and target writer that handle it, and names the transform.
 * Everything else reaches readers, writers and transforms through these
 * function tables.
 */
#ifndef FERRY_REGISTRY_H
#define FERRY_REGISTRY_H

#include "engine/source.h"
#include "engine/target.h"
#include "engine/transform.h"
#include "engine/uri.h"

/* NULL when this version cannot read / write that kind of database. */
const ferry_source_ops *ferry_source_for(ferry_uri_kind kind);
const ferry_target_ops *ferry_target_for(ferry_uri_kind kind);
const ferry_transform_ops *ferry_default_transform(void);
/* NULL when this version cannot capture changes from that kind. */
const struct ferry_capture_ops *ferry_capture_for(ferry_uri_kind kind);

#endif
