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

/* Appends text on one line: line breaks, with the white space libpq
 * indents continuation lines with, become one space. */
void ferry_pg_put_one_line(ferry_buf *b, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t run = strcspn(p, "\r\n");
		ferry_buf_append(b, p, run);
		p += run;
		p += strspn(p, "\r\n\t ");
		if (*p && run)
			ferry_buf_putc(b, ' ');
	}
}

/* Appends PostgreSQL's error for res (libpq's for conn when res holds
 * none): the message, then its detail, hint and, if asked, context. */
void ferry_pg_put_error(ferry_buf *b, PGconn *conn, const PGresult *res,
                        bool context)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	const char *primary =
	    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!primary && st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR &&
	    st != PGRES_BAD_RESPONSE) {
		ferry_buf_printf(b, "unexpected result %s", PQresStatus(st));
		return;
	}
	if (!primary) { /* libpq's own: connection lost, out of memory */
		const char *m = res ? PQresultErrorMessage(res) : "";
		if (!*m)
			m = PQerrorMessage(conn);
		ferry_pg_put_one_line(b, *m ? m : "unknown error");
		return;
	}
	static const struct {
		int field;
		const char *label;
	} extra[] = {
		{PG_DIAG_MESSAGE_DETAIL, "; detail: "},
		{PG_DIAG_MESSAGE_HINT, "; hint: "},
		{PG_DIAG_CONTEXT, "; context: "},
	};
	ferry_pg_put_one_line(b, primary);
	for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
		const char *s = PQresultErrorField(res, extra[i].field);
		if (!s || (extra[i].field == PG_DIAG_CONTEXT && !context))
			continue;
		ferry_buf_puts(b, extra[i].label);
		ferry_pg_put_one_line(b, s);
	}
}
