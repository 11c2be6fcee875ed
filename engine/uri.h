/*
 * engine/uri.h - database URIs as users type them, and their redaction.
 *
 * Forms accepted (DESIGN.md, "Command line"):
 *   sqlite:///abs/path.db, sqlite:relative.db, or a plain path ending in
 *       .db, .sqlite, .sqlite3
 *   postgresql://..., postgres://... (any libpq URI) or a libpq conninfo
 *       string of key=value pairs ("host=/tmp port=5432 dbname=x")
 *   mysql://user:pass@host:port/db (also mariadb://)
 *   mongodump:///path/to/dump
 *
 * A password never leaves ferry: every URI that ferry prints, logs or
 * stores goes through ferry_uri_redact() first.
 */
#ifndef FERRY_URI_H
#define FERRY_URI_H

#include "engine/error.h"

typedef enum ferry_uri_kind {
	FERRY_URI_SQLITE = 1,
	FERRY_URI_POSTGRESQL = 2,
	FERRY_URI_MYSQL = 3,
	FERRY_URI_MONGODUMP = 4
} ferry_uri_kind;

typedef struct ferry_uri {
	ferry_uri_kind kind;
	char *redacted; /* the text as given, password -> "***"; always set */
	/* SQLite and mongodump: the file system path (percent-decoded). */
	char *path;
	/* PostgreSQL: the string to hand to libpq, exactly as given. */
	char *conninfo;
	/* MySQL: decoded parts; NULL when absent; port 0 when absent. */
	char *user;
	char *password;
	char *host;
	unsigned port;
	char *database;
	char *socket; /* ?socket=/path query parameter */
} ferry_uri;

/*
 * Parses text into out (all strings owned by out).  Unknown schemes,
 * a path without a recognised suffix, an empty path, a bad port or a
 * malformed percent-escape: FERRY_EINVAL with a message that shows only
 * the redacted text.  On error out holds nothing to free.
 */
int ferry_uri_parse(ferry_uri *out, const char *text, ferry_error *err);

/* Releases what out owns.  Accepts NULL. */
void ferry_uri_free(ferry_uri *uri);

/*
 * Returns a newly allocated copy of text with every password replaced by
 * "***": the userinfo password of URI forms (user:secret@ -> user:***@),
 * password= / sslpassword= query parameters, and password= /
 * sslpassword= conninfo pairs (quoted or not).  Works on any text, even
 * text ferry_uri_parse would refuse: when the text cannot be understood
 * it masks more rather than less.  NULL only if memory runs out.
 * Free with ferry_free.
 */
char *ferry_uri_redact(const char *text);

/* "sqlite", "postgresql", "mysql", "mongodump". */
const char *ferry_uri_kind_name(ferry_uri_kind kind);

#endif
