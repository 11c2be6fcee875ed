/*
 * engine/pg_util.c - shared libpq helpers (pg_util.h).
 */
#include "engine/pg_util.h"

#include <string.h>

#include "engine/alloc.h"

/* Replaces every occurrence of secret in msg with "***". */
static void mask_one(ferry_buf *msg, const char *secret)
{
	const char *text = ferry_buf_cstr(msg);
	if (!text || !*secret || !strstr(text, secret))
		return;
	ferry_buf masked = FERRY_BUF_INIT;
	size_t n = strlen(secret);
	const char *p = text, *hit;
	while ((hit = strstr(p, secret)) != NULL) {
		ferry_buf_append(&masked, p, (size_t)(hit - p));
		ferry_buf_puts(&masked, "***");
		p = hit + n;
	}
	ferry_buf_puts(&masked, p);
	ferry_buf_free(msg);
	*msg = masked; /* a failed buffer makes the caller report no memory */
}

void ferry_pg_mask_secrets(ferry_buf *msg, const char *conninfo,
                           const char *redacted)
{
	static const char delims[] = " \t\r\n=\"'@:/?&,;\\";
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && (strcmp(o->keyword, "password") == 0 ||
		               strcmp(o->keyword, "sslpassword") == 0))
			mask_one(msg, o->val);
	PQconninfoFree(opts);
	for (const char *p = conninfo + strspn(conninfo, delims); *p;
	     p += strspn(p, delims)) {
		size_t n = strcspn(p, delims);
		char *word = ferry_strndup(p, n);
		if (!word) {
			msg->failed = 1;
			return;
		}
		if (!strstr(redacted, word))
			mask_one(msg, word);
		ferry_free(word);
		p += n;
	}
}

