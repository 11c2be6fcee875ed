/*
 * engine/uri.c - the database URIs users type, and password redaction.
 *
 * ferry_uri_parse() tells the forms of uri.h apart, decodes SQLite and
 * mongodump paths, splits MySQL URIs into parts and hands PostgreSQL text
 * to libpq exactly as given (after checking what libpq would refuse with
 * a less helpful message).
 *
 * ferry_uri_redact() must hide a password in any text, even text that
 * parses as nothing.  Detectors mark the byte ranges to hide, one detector
 * per place a secret can sit: the userinfo of scheme://user:pw@host, a
 * "port" that is no number (user:pw typed without @host), key=value pairs
 * of URI queries and of libpq conninfo strings.  Each marked run then
 * prints as "***".  The detectors overlap on purpose: where two readings
 * of the text disagree, the union hides more.  Each runs in linear time,
 * so no command line can stall ferry.
 */
#include "engine/uri.h"

#include <stdarg.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/buf.h"

#define EXPECTED_FORMS \
	"expected sqlite:///path.db, postgresql://..., mysql://... or " \
	"mongodump:///path"

/* Longest key (in bytes as typed) a redaction detector looks back over. */
#define MAX_KEY_LOOKBACK 256

typedef struct scheme_info {
	const char *name;
	ferry_uri_kind kind;
	int is_path; /* what follows the scheme is a file system path */
} scheme_info;

static const scheme_info schemes[] = {
	{ "sqlite", FERRY_URI_SQLITE, 1 },
	{ "postgresql", FERRY_URI_POSTGRESQL, 0 },
	{ "postgres", FERRY_URI_POSTGRESQL, 0 },
	{ "mysql", FERRY_URI_MYSQL, 0 },
	{ "mariadb", FERRY_URI_MYSQL, 0 },
	{ "mongodump", FERRY_URI_MONGODUMP, 1 },
};

/* Keys whose value is a secret: these suffixes, or these whole names. */
static const char *const secret_suffixes[] = { "password", "passwd",
	                                           "secret" };
static const char *const secret_names[] = { "pwd", "scram_client_key",
	                                        "scram_server_key" };

/*
 * Parameter names that end a masked value early: libpq's conninfo
 * keywords and the MySQL URI options.  A name missing here only makes
 * redaction mask more, never less.
 */
static const char *const known_keys[] = {
	"host", "hostaddr", "port", "dbname", "user", "password", "passfile",
	"require_auth", "channel_binding", "connect_timeout",
	"client_encoding", "options", "application_name",
	"fallback_application_name", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count", "tcp_user_timeout",
	"replication", "gssencmode", "sslmode", "sslnegotiation",
	"sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
	"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
	"ssl_min_protocol_version", "ssl_max_protocol_version",
	"min_protocol_version", "max_protocol_version", "krbsrvname",
	"gsslib", "gssdelegation", "service", "target_session_attrs",
	"load_balance_hosts", "requiressl",
	"socket", "ssl-mode", "ssl-ca", "ssl-capath", "ssl-cert", "ssl-key",
	"ssl-cipher", "ssl-crl", "ssl-crlpath", "tls-version", "tls-versions",
	"tls-ciphersuites", "connect-timeout", "compression", "auth",
	"get-server-public-key", "server-public-key-path",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- characters ---- */

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }

/* isspace() in the C locale, as libpq uses it */
static int is_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int is_quote(char c) { return c == '\'' || c == '"'; }

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t skip_ws(const char *t, size_t p, size_t n)
{
	while (p < n && is_ws(t[p]))
		p++;
	return p;
}

/* Index of the first c in t[from, to), or to. */
static size_t find_char(const char *t, size_t from, size_t to, char c)
{
	while (from < to && t[from] != c)
		from++;
	return from;
}

static int same_nocase(const char *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != word[i])
			return 0;
	return 1;
}

static int ends_nocase(const char *s, size_t n, const char *suffix)
{
	size_t len = strlen(suffix);
	return n >= len && same_nocase(s + n - len, len, suffix);
}

/* ---- classifying text ---- */

/* Length of the scheme ([A-Za-z][A-Za-z0-9+.-]*) before a ':' opening s,
 * or 0 when s does not open with one. */
static size_t scheme_len(const char *s)
{
	size_t i = 0;
	if (!is_alpha(s[0]))
		return 0;
	while (is_alnum(s[i]) || s[i] == '+' || s[i] == '.' || s[i] == '-')
		i++;
	return s[i] == ':' ? i : 0;
}

static const scheme_info *find_scheme(const char *s, size_t len)
{
	for (size_t i = 0; i < COUNT(schemes); i++)
		if (same_nocase(s, len, schemes[i].name))
			return &schemes[i];
	return NULL;
}

/* A libpq conninfo string opens with "keyword =" (keyword an identifier). */
static int looks_like_conninfo(const char *t)
{
	size_t n = strlen(t), p = skip_ws(t, 0, n);
	if (!is_alpha(t[p]) && t[p] != '_')
		return 0;
	while (is_alnum(t[p]) || t[p] == '_')
		p++;
	p = skip_ws(t, p, n);
	return t[p] == '=';
}

static int has_sqlite_suffix(const char *t)
{
	size_t n = strlen(t);
	return ends_nocase(t, n, ".db") || ends_nocase(t, n, ".sqlite") ||
	       ends_nocase(t, n, ".sqlite3");
}

/* A plain SQLite path: no scheme, not conninfo, a known suffix. */
static int is_plain_sqlite_path(const char *t)
{
	return scheme_len(t) == 0 && !looks_like_conninfo(t) &&
	       has_sqlite_suffix(t);
}

/* ---- redaction: keys ---- */

/* Is key, as typed (maybe quoted, maybe percent-encoded), a setting
 * whose value is a secret?  Compares case-insensitively. */
static int secret_key(const char *s, size_t n)
{
	char tail[24]; /* the last decoded bytes, lower case */
	size_t len = 0, total = 0;
	while (n > 0 && is_quote(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_quote(s[n - 1]))
		n--;
	for (size_t i = 0; i < n; total++) {
		char c = s[i++];
		if (c == '%' && i + 1 < n && hex_value(s[i]) >= 0 &&
		    hex_value(s[i + 1]) >= 0) {
			c = (char)(hex_value(s[i]) * 16 + hex_value(s[i + 1]));
			i += 2;
		}
		if (len == sizeof tail) {
			memmove(tail, tail + 1, len - 1);
			len--;
		}
		tail[len++] = lower(c);
	}
	for (size_t i = 0; i < COUNT(secret_suffixes); i++)
		if (ends_nocase(tail, len, secret_suffixes[i]))
			return 1;
	for (size_t i = 0; i < COUNT(secret_names); i++)
		if (total == len && same_nocase(tail, len, secret_names[i]))
			return 1;
	return 0;
}

/* Does a known parameter name followed by '=' start at t[p]? */
static int at_known_key(const char *t, size_t p, size_t n)
{
	size_t q = p;
	while (q < n && (is_alnum(t[q]) || t[q] == '_' || t[q] == '-'))
		q++;
	if (q == p)
		return 0;
	size_t i = 0;
	while (i < COUNT(known_keys) && (strlen(known_keys[i]) != q - p ||
	                                 memcmp(known_keys[i], t + p, q - p)))
		i++;
	if (i == COUNT(known_keys))
		return 0;
	q = skip_ws(t, q, n);
	return q < n && t[q] == '=';
}

/* Length of "=" or its escape "%3D" at t[i], or 0. */
static size_t eq_len(const char *t, size_t i, size_t n)
{
	if (t[i] == '=')
		return 1;
	if (t[i] == '%' && i + 2 < n && t[i + 1] == '3' &&
	    lower(t[i + 2]) == 'd')
		return 3;
	return 0;
}

/* Start of the key that ends before the '=' at e (white space and quotes
 * between them skipped); *kend gets its end. */
static size_t key_start(const char *t, size_t e, size_t *kend)
{
	while (e > 0 && is_ws(t[e - 1]))
		e--;
	while (e > 0 && is_quote(t[e - 1]))
		e--;
	*kend = e;
	size_t limit = e > MAX_KEY_LOOKBACK ? e - MAX_KEY_LOOKBACK : 0;
	while (e > limit && (is_alnum(t[e - 1]) || t[e - 1] == '_' ||
	                     t[e - 1] == '-' || t[e - 1] == '.' ||
	                     t[e - 1] == '%'))
		e--;
	return e;
}

/* ---- redaction: values ---- */

/*
 * End of one conninfo value at p, read as libpq reads it: 'quoted' with
 * backslash escapes, else up to white space with backslash escapes.
 * *closed is cleared when a quote is left open.
 */
static size_t conn_token_end(const char *t, size_t p, size_t n, int *closed)
{
	*closed = 1;
	if (p < n && t[p] == '\'') {
		for (p++; p < n; p++) {
			if (t[p] == '\\' && p + 1 < n)
				p++;
			else if (t[p] == '\'')
				return p + 1;
		}
		*closed = 0;
		return n;
	}
	while (p < n && !is_ws(t[p])) {
		if (t[p] == '\\' && p + 1 < n)
			p++;
		p++;
	}
	return p;
}

/*
 * End of a secret conninfo value starting at or after *v (leading white
 * space skipped, *v moved past it).  Words after the value that are not
 * "known_key=" would be a syntax error to libpq; most likely they are the
 * rest of an unquoted password with spaces, so they are masked too.
 */
static size_t conn_value_end(const char *t, size_t *v, size_t n)
{
	int closed;
	size_t p = skip_ws(t, *v, n);
	*v = p;
	size_t end = conn_token_end(t, p, n, &closed);
	for (;;) {
		p = skip_ws(t, end, n);
		if (p == n || at_known_key(t, p, n))
			return end;
		end = conn_token_end(t, p, n, &closed);
	}
}

/* End of a secret URI query value at p: the next '&' that starts a known
 * parameter, so that a raw '&' inside a password stays masked. */
static size_t uri_value_end(const char *t, size_t p, size_t n)
{
	for (; p < n; p++)
		if (t[p] == '&' && at_known_key(t, p + 1, n))
			return p;
	return n;
}

/* ---- redaction: detectors ---- */

/* Marks t[a, b) to be masked.  reach[a] is the furthest end of a range
 * starting at a, so that marking costs O(1). */
static void mask_range(size_t *reach, size_t a, size_t b)
{
	if (b > a && b > reach[a])
		reach[a] = b;
}

static int port_text_ok(const char *t, size_t a, size_t b)
{
	if (b - a > 5)
		return 0;
	for (size_t i = a; i < b; i++)
		if (!is_digit(t[i]))
			return 0;
	return 1;
}

/*
 * Masks a port that is no number in the host list at t[hp...]: it is
 * likely "user:password" typed without "@host".  With no '@' at all the
 * rest of the text goes too, as the password may hold '/' or '?'.
 */
static void mask_bad_ports(const char *t, size_t hp, size_t n, int had_at,
                           size_t *reach)
{
	size_t end = hp;
	while (end < n && t[end] != '/' && t[end] != '?' && t[end] != '#')
		end++;
	for (size_t item = hp; item < end;) {
		size_t stop = find_char(t, item, end, ',');
		size_t p = item;
		if (t[p] == '[') {
			size_t rb = find_char(t, p, stop, ']');
			if (rb < stop)
				p = rb + 1;
		}
		size_t colon = find_char(t, p, stop, ':');
		if (colon < stop && !port_text_ok(t, colon + 1, stop))
			mask_range(reach, colon + 1, had_at ? stop : n);
		item = stop + 1;
	}
}

/*
 * The authority after "://" at t[a]: userinfo runs to the LAST '@' in
 * the text (a password may hold '@', '/', '?' or '#'; when the '@' is
 * really in a query, more is masked, never less) and the password is
 * everything after its first ':'.  at is that last '@', or n.
 */
static void mask_authority(const char *t, size_t a, size_t at, size_t n,
                           int *ports_done, size_t *reach)
{
	if (at < n && at >= a) {
		size_t colon = find_char(t, a, at, ':');
		if (colon < at)
			mask_range(reach, colon + 1, at);
		if (!*ports_done)
			mask_bad_ports(t, at + 1, n, 1, reach);
		*ports_done = 1;
	} else {
		mask_bad_ports(t, a, n, 0, reach);
	}
}

/* Every "scheme://" in the text, wherever it is (a conninfo dbname may
 * hold a URI).  The empty authority of sqlite:/// and mongodump:/// that
 * opens the text is a path, left alone. */
static void mask_authorities(const char *t, size_t n, size_t path_at,
                             size_t *reach)
{
	size_t at = n;
	int ports_done = 0;
	for (size_t i = 0; i < n; i++)
		if (t[i] == '@')
			at = i;
	for (size_t i = 0; i + 3 <= n; i++) {
		if (t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/')
			continue;
		if (i + 3 == path_at && t[i + 3] == '/')
			continue;
		mask_authority(t, i + 3, at, n, &ports_done, reach);
	}
}

/* scheme:user:pw@host without "//": the password runs from the first ':'
 * after a known scheme (or after the unknown "scheme", which is then the
 * user name) to the last '@'. */
static void mask_bare_userinfo(const char *t, size_t s, size_t sl, int known,
                               size_t n, size_t *reach)
{
	size_t start = known ? s + sl + 1 : s;
	size_t at = n;
	for (size_t i = start; i < n; i++)
		if (t[i] == '@')
			at = i;
	if (at < n) {
		size_t colon = find_char(t, start, at, ':');
		if (colon < at)
			mask_range(reach, colon + 1, at);
	} else if (known) {
		mask_bad_ports(t, start, n, 0, reach);
	}
}

/* Values of secret keys anywhere: "password=" in a query, a conninfo
 * pair, a URI nested in a conninfo value, "%3D" for '='. */
static void mask_params(const char *t, size_t n, int uri_mode, size_t *reach)
{
	size_t covered = 0;
	for (size_t i = 0; i < n; i++) {
		if (reach[i] > covered)
			covered = reach[i];
		if (i < covered)
			continue; /* inside a secret already */
		size_t el = eq_len(t, i, n);
		if (!el)
			continue;
		size_t kend, ks = key_start(t, i, &kend);
		if (!secret_key(t + ks, kend - ks))
			continue;
		size_t v = i + el;
		size_t end = uri_mode ? uri_value_end(t, v, n)
		                      : conn_value_end(t, &v, n);
		mask_range(reach, v, end);
	}
}

/* A conninfo string read pair by pair as libpq reads it; a secret key
 * that lacks its '=' ("password secret") still has its value masked. */
static void mask_conninfo(const char *t, size_t n, size_t *reach)
{
	int closed;
	size_t p = 0;
	for (;;) {
		p = skip_ws(t, p, n);
		if (p == n)
			return;
		size_t k = p;
		while (p < n && !is_ws(t[p]) && t[p] != '=')
			p++;
		int secret = secret_key(t + k, p - k);
		p = skip_ws(t, p, n);
		int has_eq = p < n && t[p] == '=';
		if (has_eq)
			p++;
		else if (secret && at_known_key(t, skip_ws(t, p, n), n))
			secret = 0; /* "password host=h": no value to hide */
		if (secret) {
			size_t v = p;
			p = conn_value_end(t, &v, n);
			mask_range(reach, v, p);
		} else if (has_eq) {
			p = conn_token_end(t, skip_ws(t, p, n), n, &closed);
		}
	}
}

/* Copies t with each masked run replaced by "***". */
static char *render(const char *t, size_t n, const size_t *reach)
{
	ferry_buf b = FERRY_BUF_INIT;
	size_t i = 0;
	while (i < n) {
		if (reach[i] > i) {
			size_t end = reach[i];
			for (size_t j = i; j < end; j++)
				if (reach[j] > end)
					end = reach[j];
			ferry_buf_puts(&b, "***");
			i = end;
			continue;
		}
		size_t run = i;
		while (run < n && reach[run] <= run)
			run++;
		ferry_buf_append(&b, t + i, run - i);
		i = run;
	}
	return ferry_buf_detach(&b, NULL);
}

char *ferry_uri_redact(const char *text)
{
	if (!text)
		text = "";
	if (is_plain_sqlite_path(text))
		return ferry_strdup(text);
	size_t n = strlen(text);
	size_t *reach = ferry_calloc(n + 1, sizeof *reach);
	if (!reach)
		return NULL;
	size_t s = skip_ws(text, 0, n), sl = scheme_len(text + s);
	const scheme_info *info = sl ? find_scheme(text + s, sl) : NULL;
	int is_path = info && info->is_path;
	int slashes = sl && strncmp(text + s + sl, "://", 3) == 0;
	if (sl && !slashes && !is_path)
		mask_bare_userinfo(text, s, sl, info != NULL, n, reach);
	mask_authorities(text, n, is_path ? s + sl + 3 : n + 1, reach);
	if (!sl)
		mask_conninfo(text, n, reach);
	mask_params(text, n, sl > 0, reach);
	char *out = render(text, n, reach);
	ferry_free(reach);
	return out;
}

/* ---- parsing ---- */

/* Records bad user input; every message quotes only redacted text. */
static int refuse(ferry_error *err, const char *fmt, ...) FERRY_PRINTF(2, 3);

static int refuse(ferry_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_error_setv(err, FERRY_EINVAL, fmt, ap);
	va_end(ap);
	return FERRY_EINVAL;
}

/* Are the %XX escapes of s[0, n) well formed, with no %00? */
static int escapes_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		if (i + 2 >= n || hex_value(s[i + 1]) < 0 ||
		    hex_value(s[i + 2]) < 0 ||
		    (s[i + 1] == '0' && s[i + 2] == '0'))
			return 0;
		i += 2;
	}
	return 1;
}

/* Decodes the escapes of s[0, n) into *out; what names the URI kind in
 * the error. */
static int decode_part(const ferry_uri *u, const char *what, const char *s,
                       size_t n, char **out, ferry_error *err)
{
	if (!escapes_ok(s, n))
		return refuse(err, "malformed percent-escape in %s URI \"%s\": "
		                   "write %%25 for a literal '%%'; %%00 is not "
		                   "allowed",
		              what, u->redacted);
	char *d = ferry_malloc(n + 1);
	if (!d)
		return ferry_error_oom(err);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			d[len++] = (char)(hex_value(s[i + 1]) * 16 +
			                  hex_value(s[i + 2]));
			i += 2;
		} else {
			d[len++] = s[i];
		}
	}
	d[len] = '\0';
	*out = d;
	return 0;
}

/* sqlite:///abs, sqlite:rel, sqlite:/abs; mongodump the same. */
static int parse_path_uri(ferry_uri *u, const char *text,
                          const scheme_info *info, size_t sl,
                          ferry_error *err)
{
	int sqlite = info->kind == FERRY_URI_SQLITE;
	const char *what = sqlite ? "SQLite" : "mongodump";
	const char *name = info->name;
	const char *r = u->redacted, *rest = text + sl + 1;
	if (rest[0] == '/' && rest[1] == '/') {
		if (strcspn(rest + 2, "/?#") > 0)
			return refuse(err, "ambiguous %s URI \"%s\": the text "
			                   "after \"//\" reads as a host name; "
			                   "write %s:///absolute/path (three "
			                   "slashes) or %s:relative/path",
			              what, r, name, name);
		rest += 2;
	}
	if (rest[strcspn(rest, "?#")] != '\0')
		return refuse(err, "unexpected '?' or '#' in %s URI \"%s\": "
		                   "percent-encode them as %%3F and %%23 if "
		                   "they are part of the path",
		              what, r);
	if (*rest == '\0')
		return refuse(err, "empty path in %s URI \"%s\": write "
		                   "%s:///absolute/path or %s:relative/path",
		              what, r, name, name);
	int rc = decode_part(u, what, rest, strlen(rest), &u->path, err);
	if (rc < 0)
		return rc;
	if (sqlite && u->path[strlen(u->path) - 1] == '/')
		return refuse(err, "missing file name in SQLite URI \"%s\": "
		                   "the path ends with '/'",
		              r);
	u->kind = info->kind;
	return 0;
}

/* postgresql:// and postgres://: libpq gets the text as given. */
static int parse_postgres_uri(ferry_uri *u, const char *text, size_t sl,
                              ferry_error *err)
{
	int lower_case = 1;
	for (size_t i = 0; i < sl; i++)
		lower_case &= text[i] == lower(text[i]);
	if (!lower_case || strncmp(text + sl, "://", 3) != 0)
		return refuse(err, "malformed PostgreSQL URI \"%s\": it must "
		                   "start with postgresql:// or postgres:// in "
		                   "lower case",
		              u->redacted);
	if (!escapes_ok(text, strlen(text)))
		return refuse(err, "malformed percent-escape in PostgreSQL "
		                   "URI \"%s\": write %%25 for a literal '%%'; "
		                   "%%00 is not allowed",
		              u->redacted);
	u->kind = FERRY_URI_POSTGRESQL;
	u->conninfo = ferry_strdup(text);
	return u->conninfo ? 0 : ferry_error_oom(err);
}

/* key=value pairs as libpq's conninfo_parse() reads them. */
static int parse_conninfo(ferry_uri *u, const char *text, ferry_error *err)
{
	const char *r = u->redacted;
	size_t n = strlen(text), p = 0;
	int closed;
	for (;;) {
		p = skip_ws(text, p, n);
		if (p == n)
			break;
		size_t k = p;
		while (p < n && !is_ws(text[p]) && text[p] != '=')
			p++;
		if (p == k)
			return refuse(err, "missing keyword before '=' in "
			                   "PostgreSQL connection string "
			                   "\"%s\"",
			              r);
		p = skip_ws(text, p, n);
		if (p == n || text[p] != '=')
			return refuse(err, "missing '=' after a keyword in "
			                   "PostgreSQL connection string "
			                   "\"%s\": write keyword=value pairs "
			                   "separated by spaces and quote a "
			                   "value that holds spaces, as in "
			                   "password='a b'",
			              r);
		p = conn_token_end(text, skip_ws(text, p + 1, n), n, &closed);
		if (!closed)
			return refuse(err, "unterminated quoted string in "
			                   "PostgreSQL connection string "
			                   "\"%s\": end the value with ' and "
			                   "write \\' for a quote inside it",
			              r);
	}
	u->kind = FERRY_URI_POSTGRESQL;
	u->conninfo = ferry_strdup(text);
	return u->conninfo ? 0 : ferry_error_oom(err);
}

/* 1..65535, digits only. */
static int parse_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = v;
	return 0;
}

/* Splits [v6] or [v6]:port in hp[0, n) into host and port. */
static int split_bracketed(const ferry_uri *u, const char *hp, size_t n,
                           size_t *hostlen, const char **port,
                           ferry_error *err)
{
	const char *rb = memchr(hp, ']', n);
	if (!rb || rb == hp + 1)
		return refuse(err, "malformed IPv6 address in MySQL URI "
		                   "\"%s\": write it in brackets, as in "
		                   "[::1]:3306",
		              u->redacted);
	*hostlen = (size_t)(rb - hp) - 1;
	if (rb + 1 == hp + n)
		return 0;
	if (rb[1] != ':')
		return refuse(err, "unexpected text after ']' in MySQL URI "
		                   "\"%s\": expected :port or the end of the "
		                   "host",
		              u->redacted);
	*port = rb + 2;
	return 0;
}

/* host, host:port, [v6], [v6]:port or nothing, in hp[0, n). */
static int mysql_hostport(ferry_uri *u, const char *hp, size_t n,
                          ferry_error *err)
{
	const char *host = hp, *port = NULL;
	size_t hostlen = n;
	if (n > 0 && hp[0] == '[') {
		int rc = split_bracketed(u, hp, n, &hostlen, &port, err);
		if (rc < 0)
			return rc;
		host = hp + 1;
	} else if ((port = memchr(hp, ':', n)) != NULL) {
		hostlen = (size_t)(port - hp);
		if (memchr(++port, ':', n - hostlen - 1))
			return refuse(err, "too many ':' in the host of MySQL "
			                   "URI \"%s\": write an IPv6 address "
			                   "in brackets, as in [::1]:3306, and "
			                   "percent-encode any '/', '?' or '#' "
			                   "in the password",
			              u->redacted);
	}
	if (port && parse_port(port, n - (size_t)(port - hp), &u->port) < 0)
		return refuse(err, "invalid port in MySQL URI \"%s\": "
		                   "expected a number from 1 to 65535 "
		                   "(percent-encode any '/', '?' or '#' in the "
		                   "password)",
		              u->redacted);
	if (hostlen == 0)
		return 0;
	return decode_part(u, "MySQL", host, hostlen, &u->host, err);
}

/* [user[:password]@]hostport in a[0, n); the userinfo ends at the last
 * '@', so a raw '@' in the password works. */
static int mysql_authority(ferry_uri *u, const char *a, size_t n,
                           ferry_error *err)
{
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	if (at) {
		size_t ulen = (size_t)(at - a);
		const char *colon = memchr(a, ':', ulen);
		size_t namelen = colon ? (size_t)(colon - a) : ulen;
		int rc = 0;
		if (namelen > 0)
			rc = decode_part(u, "MySQL", a, namelen, &u->user, err);
		if (rc == 0 && colon)
			rc = decode_part(u, "MySQL", colon + 1,
			                 ulen - namelen - 1, &u->password, err);
		if (rc < 0)
			return rc;
		n -= ulen + 1;
		a = at + 1;
	}
	return mysql_hostport(u, a, n, err);
}

/* ?socket=/path; nothing else is understood, and ignoring an option such
 * as ssl-mode would be worse than refusing it. */
static int mysql_query(ferry_uri *u, const char *q, ferry_error *err)
{
	const char *r = u->redacted;
	for (size_t len; *q; q += len + (q[len] == '&')) {
		len = strcspn(q, "&");
		if (len == 0)
			continue;
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;
		if (!eq || !same_nocase(q, klen, "socket"))
			return refuse(err, "unsupported query parameter in MySQL "
			                   "URI \"%s\": only socket=/path is "
			                   "supported",
			              r);
		if (u->socket || klen + 1 == len)
			return refuse(err, "%s socket parameter in MySQL URI "
			                   "\"%s\": give socket=/path once",
			              u->socket ? "repeated" : "empty", r);
		int rc = decode_part(u, "MySQL", eq + 1, len - klen - 1,
		                     &u->socket, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* /database and ?query after the authority. */
static int mysql_path_query(ferry_uri *u, const char *rest, ferry_error *err)
{
	const char *r = u->redacted;
	if (*rest == '/') {
		size_t dblen = strcspn(++rest, "?#");
		if (memchr(rest, '/', dblen))
			return refuse(err, "unexpected '/' in the database "
			                   "name of MySQL URI \"%s\"",
			              r);
		int rc = 0;
		if (dblen > 0)
			rc = decode_part(u, "MySQL", rest, dblen, &u->database,
			                 err);
		if (rc < 0)
			return rc;
		rest += dblen;
	}
	if (strchr(rest, '#'))
		return refuse(err, "unexpected '#' in MySQL URI \"%s\": "
		                   "percent-encode it as %%23",
		              r);
	return *rest == '?' ? mysql_query(u, rest + 1, err) : 0;
}

static int parse_mysql(ferry_uri *u, const char *text,
                       const scheme_info *info, size_t sl, ferry_error *err)
{
	if (strncmp(text + sl, "://", 3) != 0)
		return refuse(err, "malformed MySQL URI \"%s\": expected "
		                   "%s://[user[:password]@][host][:port]"
		                   "[/database][?socket=/path]",
		              u->redacted, info->name);
	const char *auth = text + sl + 3;
	size_t alen = strcspn(auth, "/?#");
	u->kind = FERRY_URI_MYSQL;
	int rc = mysql_authority(u, auth, alen, err);
	if (rc < 0)
		return rc;
	return mysql_path_query(u, auth + alen, err);
}

/* Text without a scheme: conninfo, a plain SQLite path, or nothing. */
static int parse_plain(ferry_uri *u, const char *text, ferry_error *err)
{
	if (text[skip_ws(text, 0, strlen(text))] == '\0')
		return refuse(err, "empty database URI: " EXPECTED_FORMS);
	if (looks_like_conninfo(text))
		return parse_conninfo(u, text, err);
	if (!has_sqlite_suffix(text))
		return refuse(err, "unrecognised database URI \"%s\": "
		                   EXPECTED_FORMS "; use sqlite:///path if it "
		                   "is an SQLite database without a .db, "
		                   ".sqlite or .sqlite3 suffix",
		              u->redacted);
	u->kind = FERRY_URI_SQLITE;
	u->path = ferry_strdup(text);
	return u->path ? 0 : ferry_error_oom(err);
}

static int parse_text(ferry_uri *u, const char *text, ferry_error *err)
{
	const char *r = u->redacted;
	size_t sl = scheme_len(text);
	if (sl == 0)
		return parse_plain(u, text, err);
	const scheme_info *info = find_scheme(text, sl);
	if (!info && has_sqlite_suffix(text))
		return refuse(err, "unrecognised database URI \"%s\": the text "
		                   "before ':' is no known scheme; if it is an "
		                   "SQLite file, write ./%s or sqlite:%s",
		              r, r, r);
	if (!info)
		return refuse(err, "unrecognised database URI \"%s\": "
		                   EXPECTED_FORMS,
		              r);
	if (info->is_path)
		return parse_path_uri(u, text, info, sl, err);
	if (info->kind == FERRY_URI_POSTGRESQL)
		return parse_postgres_uri(u, text, sl, err);
	return parse_mysql(u, text, info, sl, err);
}

int ferry_uri_parse(ferry_uri *out, const char *text, ferry_error *err)
{
	ferry_uri u;
	memset(&u, 0, sizeof u);
	memset(out, 0, sizeof *out);
	if (!text)
		text = "";
	u.redacted = ferry_uri_redact(text);
	if (!u.redacted)
		return ferry_error_oom(err);
	int rc = parse_text(&u, text, err);
	if (rc < 0) {
		ferry_uri_free(&u);
		return rc;
	}
	*out = u;
	return 0;
}

void ferry_uri_free(ferry_uri *uri)
{
	if (!uri)
		return;
	ferry_free(uri->redacted);
	ferry_free(uri->path);
	ferry_free(uri->conninfo);
	ferry_free(uri->user);
	ferry_free(uri->password);
	ferry_free(uri->host);
	ferry_free(uri->database);
	ferry_free(uri->socket);
	memset(uri, 0, sizeof *uri);
}

const char *ferry_uri_kind_name(ferry_uri_kind kind)
{
	switch (kind) {
	case FERRY_URI_SQLITE:
		return "sqlite";
	case FERRY_URI_POSTGRESQL:
		return "postgresql";
	case FERRY_URI_MYSQL:
		return "mysql";
	case FERRY_URI_MONGODUMP:
		return "mongodump";
	}
	return "unknown";
}
