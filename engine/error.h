/*
 * engine/error.h - the error object every fallible ferry call fills.
 *
 * A fallible function returns 0 or a negative ferry_code and, when it is
 * given a ferry_error, leaves a one-line message there.  Messages follow
 * PostgreSQL's style: lower case, no trailing period,
 * "could not <verb> <object> \"name\": <cause>", where the cause is the
 * foreign library's own message (errno, sqlite3, LMDB, zstd, libpq).
 * Callers add context by prefixing ("table \"users\", row 812: ..."),
 * never by overwriting.  The library never exits and never prints.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define FERRY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FERRY_PRINTF(fmt, args)
#endif

/* Few codes a caller branches on; everything else is FERRY_ERROR. */
typedef enum ferry_code {
	FERRY_OK = 0,
	FERRY_ERROR = -1,     /* a runtime failure with no special handling */
	FERRY_ENOMEM = -2,    /* an allocation failed */
	FERRY_EINVAL = -3,    /* bad input from the user: URI, spec, argument */
	FERRY_ECORRUPT = -4,  /* stored or received bytes fail validation */
	FERRY_ENOTFOUND = -5, /* a named thing does not exist */
	FERRY_EREJECT = -6,   /* a value does not convert exactly: a reject */
	FERRY_EUNSUPPORTED = -7,/* valid, but this build cannot do it */
	FERRY_ECONNLOST = -8  /* a server connection broke: the same work on a
	                         new connection may succeed */
} ferry_code;

typedef struct ferry_error {
	int code;         /* FERRY_OK when no error is held */
	char *msg;        /* NUL-terminated message, owned; NULL when none */
	int msg_is_static;/* msg points at a constant (out-of-memory path) */
} ferry_error;

#define FERRY_ERROR_INIT { FERRY_OK, NULL, 0 }

/*
 * Replaces any held error with a formatted message and returns code, so a
 * caller can write `return ferry_error_set(err, FERRY_EINVAL, ...)`.
 * err may be NULL: the code is still returned.
 */
int ferry_error_set(ferry_error *err, int code, const char *fmt, ...)
    FERRY_PRINTF(3, 4);
int ferry_error_setv(ferry_error *err, int code, const char *fmt, va_list ap)
    FERRY_PRINTF(3, 0);

/*
 * Adds context in front of the held message: "<prefix>: <message>".
 * Returns the held code (FERRY_ERROR if none was held).
 */
int ferry_error_prefix(ferry_error *err, const char *fmt, ...)
    FERRY_PRINTF(2, 3);

/* Records an allocation failure; returns FERRY_ENOMEM.  Never allocates. */
int ferry_error_oom(ferry_error *err);

/* Forgets the held error.  Accepts NULL. */
void ferry_error_clear(ferry_error *err);

/* The held message, or "" when none; owned by err, valid until changed. */
const char *ferry_error_message(const ferry_error *err);

#endif
