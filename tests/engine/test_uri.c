/*
 * tests/engine/test_uri.c - unit tests for engine/uri.c: every accepted
 * and refused form of ferry_uri_parse(), password redaction against
 * adversarial input (the redacted text must never hold the secret, in
 * ferry_uri_redact() output or in any parse error), linear time on
 * hostile input, and clean failure at every allocation.
 */
#include <stdlib.h>

#include "engine/alloc.h"
#include "engine/uri.h"
#include "tests/tap.h"

#define SECRET "S3cr3t"

/* ---- helpers ---- */

static void check_redact(const char *in, const char *want)
{
	char *got = ferry_uri_redact(in);
	ok(got && !strstr(got, SECRET), "redact hides the secret: %s", in);
	is_str(got, want, "redact %s", in);
	ferry_free(got);
}

static void check_unchanged(const char *in)
{
	char *got = ferry_uri_redact(in);
	is_str(got, in, "redact leaves \"%s\" unchanged", in);
	ferry_free(got);
}

/* Parses text, which must succeed with kind; the caller checks fields
 * and frees u. */
static int parse_ok(ferry_uri *u, const char *text, ferry_uri_kind kind)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_uri_parse(u, text, &err);
	if (!ok(rc == 0, "parse accepts %s", text))
		tap_diag("error: %s", ferry_error_message(&err));
	ferry_error_clear(&err);
	if (rc != 0)
		return rc;
	is_str(ferry_uri_kind_name(u->kind), ferry_uri_kind_name(kind),
	       "kind of %s", text);
	ok(u->redacted != NULL, "redacted set for %s", text);
	return rc;
}

/* text must be refused with FERRY_EINVAL, a message holding want (when
 * given) and never the secret, and out must hold nothing. */
static void parse_bad(const char *text, const char *want)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_uri u;
	memset(&u, 0xff, sizeof u);
	int rc = ferry_uri_parse(&u, text, &err);
	const char *msg = ferry_error_message(&err);
	is_int(rc, FERRY_EINVAL, "parse refuses %s", text);
	is_int(err.code, FERRY_EINVAL, "error code for %s", text);
	if (!ok(!strstr(msg, SECRET) && (!want || strstr(msg, want)),
	        "message for %s", text))
		tap_diag("message: %s", msg);
	ok(!strchr(msg, '\n') && msg[0] && msg[strlen(msg) - 1] != '.',
	   "message is one line without a period: %s", text);
	ok(!u.redacted && !u.path && !u.conninfo && !u.user && !u.password &&
	       !u.host && !u.database && !u.socket,
	   "nothing to free after refusing %s", text);
	ferry_error_clear(&err);
}

/* ---- parsing ---- */

static void test_sqlite(void)
{
	static const struct {
		const char *text, *path;
	} cases[] = {
		{ "sqlite:///abs/path.db", "/abs/path.db" },
		{ "sqlite:relative.db", "relative.db" },
		{ "sqlite:dir/rel.sqlite", "dir/rel.sqlite" },
		{ "sqlite:/abs/one-slash.db", "/abs/one-slash.db" },
		{ "sqlite:///tmp/my%20file.db", "/tmp/my file.db" },
		{ "sqlite:///tmp/50%25.db", "/tmp/50%.db" },
		{ "SQLite:///upper/scheme.db", "/upper/scheme.db" },
		{ "sqlite:///tmp/no-suffix", "/tmp/no-suffix" },
		{ "sqlite:///tmp/a:b@c.db", "/tmp/a:b@c.db" },
		{ "/abs/plain.db", "/abs/plain.db" },
		{ "relative/plain.sqlite", "relative/plain.sqlite" },
		{ "plain.sqlite3", "plain.sqlite3" },
		{ "UPPER.DB", "UPPER.DB" },
		{ "./my:file.db", "./my:file.db" },
		{ "/tmp/a=b.db", "/tmp/a=b.db" },
		{ "/tmp/my%20file.db", "/tmp/my%20file.db" },
		{ "/tmp/with space.db", "/tmp/with space.db" },
		{ "/tmp/a:b@c.db", "/tmp/a:b@c.db" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ferry_uri u;
		if (parse_ok(&u, cases[i].text, FERRY_URI_SQLITE) == 0) {
			is_str(u.path, cases[i].path, "path of %s",
			       cases[i].text);
			is_str(u.redacted, cases[i].text, "redacted %s",
			       cases[i].text);
			ok(!u.conninfo && !u.host && !u.user && u.port == 0,
			   "only the path is set for %s", cases[i].text);
		}
		ferry_uri_free(&u);
	}
	parse_bad("sqlite://relative.db", "three slashes");
	parse_bad("sqlite://host/x.db", "sqlite:///absolute/path");
	parse_bad("sqlite://u:" SECRET "@host/x.db", "host name");
	parse_bad("sqlite:", "empty path");
	parse_bad("sqlite://", "empty path");
	parse_bad("sqlite:///", "missing file name");
	parse_bad("sqlite:///tmp/dir/", "missing file name");
	parse_bad("sqlite:///a%zz.db", "malformed percent-escape");
	parse_bad("sqlite:///a%2.db", "malformed percent-escape");
	parse_bad("sqlite:///a.db%", "malformed percent-escape");
	parse_bad("sqlite:///a%00.db", "%00");
	parse_bad("sqlite:///a.db?mode=ro", "%3F");
	parse_bad("sqlite:///a.db#x", "'#'");
}

static void test_plain_refused(void)
{
	parse_bad("", "empty database URI");
	parse_bad("   ", "empty database URI");
	parse_bad("foo://x",
	          "unrecognised database URI \"foo://x\": expected "
	          "sqlite:///path.db, postgresql://..., mysql://... or "
	          "mongodump:///path");
	parse_bad("notes.txt",
	          "use sqlite:///path if it is an SQLite database");
	parse_bad("/var/lib/data", "use sqlite:///path");
	parse_bad("my:file.db", "write ./my:file.db or sqlite:my:file.db");
	parse_bad("http://example.com/x.db", "unrecognised database URI");
	parse_bad("u:" SECRET "@host", "unrecognised database URI");
	parse_bad("foo://u:" SECRET "@x", "unrecognised database URI");
	parse_bad("password " SECRET " host=h", "unrecognised database URI");

	ferry_error err = FERRY_ERROR_INIT;
	ferry_uri u;
	ok(ferry_uri_parse(&u, NULL, &err) == FERRY_EINVAL,
	   "parse refuses NULL text");
	ferry_error_clear(&err);
	ok(ferry_uri_parse(&u, "notes.txt", NULL) == FERRY_EINVAL,
	   "parse works without an error object");
}

static void test_postgresql(void)
{
	static const char *const accepted[] = {
		"postgresql://u:pw@localhost:5432/db?sslmode=require",
		"postgres://u@host/db",
		"postgresql://",
		"postgresql:///db?host=/tmp",
		"postgresql://h1:5432,h2:5433/db?target_session_attrs=any",
		"postgresql://u:p@ss@host/db",
		"postgresql://[::1]:5432/db",
		"host=/tmp port=5432 dbname=x user=u password='a b'",
		"  host=/tmp dbname=x",
		"host = h dbname= x",
		"dbname=test.db",
		"password='it\\'s' host=h",
		"password=a\\ b host=h",
		"host=h password=",
		"host=h options='-c search_path=a,b'",
	};
	for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
		ferry_uri u;
		if (parse_ok(&u, accepted[i], FERRY_URI_POSTGRESQL) == 0) {
			is_str(u.conninfo, accepted[i],
			       "conninfo is the text as given");
			ok(!u.path && !u.host && !u.user && !u.password,
			   "only conninfo is set for %s", accepted[i]);
		}
		ferry_uri_free(&u);
	}
	ferry_uri u;
	if (parse_ok(&u, "postgresql://u:" SECRET "@h/db",
	             FERRY_URI_POSTGRESQL) == 0)
		is_str(u.redacted, "postgresql://u:***@h/db",
		       "redacted pg URI");
	ferry_uri_free(&u);

	parse_bad("postgresql:foo", "postgresql://");
	parse_bad("POSTGRESQL://u:" SECRET "@h/db", "lower case");
	parse_bad("postgresql://u:" SECRET "@h/%zz",
	          "malformed percent-escape");
	parse_bad("postgres://u:50%off@h/db", "malformed percent-escape");
	parse_bad("host=h password='" SECRET, "unterminated quoted string");
	parse_bad("password='" SECRET "\\' host=h",
	          "unterminated quoted string");
	parse_bad("host=h junk", "missing '=' after a keyword");
	parse_bad("password=my " SECRET " dbname=x", "missing '='");
	parse_bad("host=h =x", "missing keyword");
	parse_bad("host=h password " SECRET, "missing '='");
}

static void test_mysql(void)
{
	ferry_uri u;
	if (parse_ok(&u, "mysql://u:pw@db.example.com:3306/shop",
	             FERRY_URI_MYSQL) == 0) {
		is_str(u.user, "u", "mysql user");
		is_str(u.password, "pw", "mysql password");
		is_str(u.host, "db.example.com", "mysql host");
		is_int(u.port, 3306, "mysql port");
		is_str(u.database, "shop", "mysql database");
		ok(!u.socket && !u.path && !u.conninfo,
		   "mysql: nothing else set");
		is_str(u.redacted, "mysql://u:***@db.example.com:3306/shop",
		       "mysql redacted");
	}
	ferry_uri_free(&u);

	if (parse_ok(&u, "mariadb://us%65r:p%40ss%3Aw%2Fd@[::1]:65535/d%20b"
	                 "?socket=%2Ftmp%2Fmy.sock",
	             FERRY_URI_MYSQL) == 0) {
		is_str(u.user, "user", "mariadb user decoded");
		is_str(u.password, "p@ss:w/d", "mariadb password decoded");
		is_str(u.host, "::1", "IPv6 host without brackets");
		is_int(u.port, 65535, "mariadb port");
		is_str(u.database, "d b", "mariadb database decoded");
		is_str(u.socket, "/tmp/my.sock", "mariadb socket decoded");
	}
	ferry_uri_free(&u);

	if (parse_ok(&u, "mysql://u:p@ss@host/db", FERRY_URI_MYSQL) == 0) {
		is_str(u.password, "p@ss", "userinfo ends at the last '@'");
		is_str(u.host, "host", "host after the last '@'");
		is_str(u.redacted, "mysql://u:***@host/db", "redacted p@ss");
	}
	ferry_uri_free(&u);

	if (parse_ok(&u, "mysql://u@/db?socket=/var/run/mysqld.sock",
	             FERRY_URI_MYSQL) == 0) {
		ok(u.host == NULL, "missing host stays NULL (localhost)");
		ok(u.password == NULL && u.port == 0, "no password, no port");
		is_str(u.user, "u", "user without password");
		is_str(u.socket, "/var/run/mysqld.sock", "socket");
	}
	ferry_uri_free(&u);

	if (parse_ok(&u, "mysql://", FERRY_URI_MYSQL) == 0)
		ok(!u.user && !u.password && !u.host && !u.database &&
		       !u.socket && u.port == 0,
		   "bare mysql:// leaves every part absent");
	ferry_uri_free(&u);

	if (parse_ok(&u, "MySQL://:@h:1/?&socket=/s&", FERRY_URI_MYSQL) == 0) {
		ok(u.user == NULL, "empty user is absent");
		is_str(u.password, "", "empty password is present but empty");
		is_str(u.host, "h", "host h");
		is_int(u.port, 1, "port 1");
		ok(u.database == NULL, "empty database is absent");
		is_str(u.socket, "/s", "socket among empty parameters");
	}
	ferry_uri_free(&u);

	if (parse_ok(&u, "mysql://[fe80::1%25eth0]/db", FERRY_URI_MYSQL) == 0) {
		is_str(u.host, "fe80::1%eth0", "IPv6 zone decoded");
		is_int(u.port, 0, "no port");
	}
	ferry_uri_free(&u);
}

static void test_mysql_refused(void)
{
	parse_bad("mysql:h/db", "mysql://");
	parse_bad("mariadb:u:" SECRET "@h/db", "mariadb://");
	parse_bad("mysql://u:" SECRET "@h:0/db", "invalid port");
	parse_bad("mysql://u:" SECRET "@h:65536/db", "invalid port");
	parse_bad("mysql://u:" SECRET "@h:99999999999999999999/db",
	          "invalid port");
	parse_bad("mysql://u:" SECRET "@h:+1/db", "invalid port");
	parse_bad("mysql://u:" SECRET "@h:/db", "invalid port");
	parse_bad("mysql://u:" SECRET "@h:33o6/db", "invalid port");
	parse_bad("mysql://u:" SECRET, "invalid port");
	parse_bad("mysql://u:" SECRET "/x@h/db", "percent-encode");
	parse_bad("mysql://u:" SECRET "#x@h/db", "percent-encode");
	parse_bad("mysql://u:" SECRET "?x@h/db", "percent-encode");
	parse_bad("mysql://u:" SECRET "%zz@h/db", "malformed percent-escape");
	parse_bad("mysql://u:" SECRET "%00@h/db", "%00");
	parse_bad("mysql://u:" SECRET "@::1/db", "brackets");
	parse_bad("mysql://u:" SECRET "@[::1/db", "brackets");
	parse_bad("mysql://u:" SECRET "@[]/db", "brackets");
	parse_bad("mysql://u:" SECRET "@[::1]x/db", "after ']'");
	parse_bad("mysql://u:" SECRET "@h/db/x", "database name");
	parse_bad("mysql://u:" SECRET "@h/db#frag", "'#'");
	parse_bad("mysql://u:" SECRET "@h/db?ssl-mode=REQUIRED",
	          "only socket=/path");
	parse_bad("mysql://u:" SECRET "@h/db?password=" SECRET,
	          "only socket=/path");
	parse_bad("mysql://u:" SECRET "@h/db?socket", "only socket=/path");
	parse_bad("mysql://u:" SECRET "@h/db?socket=", "empty socket");
	parse_bad("mysql://u:" SECRET "@h/db?socket=/a&socket=/b",
	          "repeated socket");
	parse_bad("mysql://u:" SECRET "@h/db?socket=%zz", "percent-escape");
}

static void test_mongodump(void)
{
	ferry_uri u;
	if (parse_ok(&u, "mongodump:///path/to/dump",
	             FERRY_URI_MONGODUMP) == 0)
		is_str(u.path, "/path/to/dump", "mongodump path");
	ferry_uri_free(&u);
	if (parse_ok(&u, "mongodump:///path/to/dump/",
	             FERRY_URI_MONGODUMP) == 0)
		is_str(u.path, "/path/to/dump/",
		       "mongodump directory with '/'");
	ferry_uri_free(&u);
	if (parse_ok(&u, "mongodump:dumps/x%20y", FERRY_URI_MONGODUMP) == 0)
		is_str(u.path, "dumps/x y", "relative mongodump path");
	ferry_uri_free(&u);
	parse_bad("mongodump://host/dump", "mongodump:///absolute/path");
	parse_bad("mongodump:", "empty path");
	parse_bad("mongodump:///d%zz", "malformed percent-escape");
}

static void test_misc(void)
{
	is_str(ferry_uri_kind_name(FERRY_URI_SQLITE), "sqlite", "kind name");
	is_str(ferry_uri_kind_name(FERRY_URI_POSTGRESQL), "postgresql",
	       "kind name");
	is_str(ferry_uri_kind_name(FERRY_URI_MYSQL), "mysql", "kind name");
	is_str(ferry_uri_kind_name(FERRY_URI_MONGODUMP), "mongodump",
	       "kind name");
	ferry_uri_free(NULL);
	ok(1, "ferry_uri_free(NULL) is harmless");
}

/* ---- redaction ---- */

static void test_redact_tricky(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		/* userinfo of URIs */
		{ "postgresql://u:" SECRET "@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgres://u:" SECRET "@host:5432/db?sslmode=require",
		  "postgres://u:***@host:5432/db?sslmode=require" },
		{ "postgresql://u:p@" SECRET "@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET "@@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET ":x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET "/x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET "?x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET "#x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET "=x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:" SECRET " x@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:'" SECRET "\\'@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://u:\"" SECRET "\"@host/db",
		  "postgresql://u:***@host/db" },
		{ "postgresql://:" SECRET "@host/db",
		  "postgresql://:***@host/db" },
		{ "postgresql://u:" SECRET "@h1:5432,h2:5433/db",
		  "postgresql://u:***@h1:5432,h2:5433/db" },
		{ "mysql://u:" SECRET "%40x@host/db", "mysql://u:***@host/db" },
		{ "mariadb://u:" SECRET "@[::1]:3306/db?socket=/tmp/s",
		  "mariadb://u:***@[::1]:3306/db?socket=/tmp/s" },
		{ "foo://u:" SECRET "@x", "foo://u:***@x" },
		{ "  postgresql://u:" SECRET "@h", "  postgresql://u:***@h" },
		{ "sqlite://u:" SECRET "@host/x.db",
		  "sqlite://u:***@host/x.db" },
		/* no "@host": the password reads as a port */
		{ "mysql://u:" SECRET, "mysql://u:***" },
		{ "postgresql://u:" SECRET "/x", "postgresql://u:***" },
		{ "postgresql://h1:5432,u:" SECRET,
		  "postgresql://h1:5432,u:***" },
		/* no "//" */
		{ "mysql:u:" SECRET "@host/db", "mysql:u:***@host/db" },
		{ "u:" SECRET "@host", "u:***@host" },
		{ "u:" SECRET ":" SECRET "@host", "u:***@host" },
		/* query parameters */
		{ "postgresql://host/db?password=" SECRET,
		  "postgresql://host/db?password=***" },
		{ "postgresql://host/db?sslmode=require&password=" SECRET
		  "&application_name=x",
		  "postgresql://host/db?sslmode=require&password=***"
		  "&application_name=x" },
		{ "postgresql://host/db?PassWord=" SECRET,
		  "postgresql://host/db?PassWord=***" },
		{ "postgresql://host/db?SSLPASSWORD=" SECRET
		  "&sslmode=verify-full",
		  "postgresql://host/db?SSLPASSWORD=***&sslmode=verify-full" },
		{ "postgresql://host/db?password=a&" SECRET "&sslmode=require",
		  "postgresql://host/db?password=***&sslmode=require" },
		{ "postgresql://host/db?password=a&x=" SECRET "&user=u",
		  "postgresql://host/db?password=***&user=u" },
		{ "postgresql://host/db?pass%77ord=" SECRET,
		  "postgresql://host/db?pass%77ord=***" },
		{ "postgresql://host/db?password%3D" SECRET,
		  "postgresql://host/db?password%3D***" },
		{ "postgresql://host/db?password=" SECRET "#frag",
		  "postgresql://host/db?password=***" },
		{ "postgresql://u:" SECRET "@h/db?password=" SECRET,
		  "postgresql://u:***@h/db?password=***" },
		{ "postgresql://u@h/db?password=" SECRET "&user=a@b",
		  "postgresql://u@h/db?password=***&user=a@b" },
		{ "mysql://u@h/db?pwd=" SECRET "&socket=/s",
		  "mysql://u@h/db?pwd=***&socket=/s" },
		/* conninfo */
		{ "host=/tmp port=5432 dbname=x user=u password=" SECRET,
		  "host=/tmp port=5432 dbname=x user=u password=***" },
		{ "host=h password = " SECRET " dbname=x",
		  "host=h password = *** dbname=x" },
		{ "password=\t" SECRET "\tdbname=x",
		  "password=\t***\tdbname=x" },
		{ "password='it\\'s " SECRET "' host=h",
		  "password=*** host=h" },
		{ "password='" SECRET "\\\\' host=h", "password=*** host=h" },
		{ "host=h password='" SECRET, "host=h password=***" },
		{ "host=h password='" SECRET " dbname=x",
		  "host=h password=***" },
		{ "password=" SECRET "\\ more host=h", "password=*** host=h" },
		{ "password=my " SECRET " dbname=x", "password=*** dbname=x" },
		{ "password=a " SECRET "=x host=h", "password=*** host=h" },
		{ "password=\"my " SECRET "\" host=h", "password=*** host=h" },
		{ "password=a=" SECRET " host=h", "password=*** host=h" },
		{ "sslpassword=" SECRET " sslmode=verify-full",
		  "sslpassword=*** sslmode=verify-full" },
		{ "PASSWORD=" SECRET, "PASSWORD=***" },
		{ "password= " SECRET, "password= ***" },
		{ "password " SECRET " host=h", "password *** host=h" },
		{ "host=h options='-c password=" SECRET "'",
		  "host=h options='-c password=***" },
		{ "dbname=postgresql://u:" SECRET "@h/db",
		  "dbname=postgresql://u:***@h/db" },
		{ "dbname='postgresql://h/db?password=" SECRET "' host=h",
		  "dbname='postgresql://h/db?password=*** host=h" },
		{ "scram_client_key=" SECRET " host=h",
		  "scram_client_key=*** host=h" },
		{ "/tmp/x password=" SECRET, "/tmp/x password=***" },
	};
	size_t count = sizeof cases / sizeof cases[0];
	ok(count >= 25, "at least 25 tricky redaction inputs (%zu)", count);
	for (size_t i = 0; i < count; i++)
		check_redact(cases[i].in, cases[i].want);
}

static void test_redact_unchanged(void)
{
	static const char *const cases[] = {
		"",
		"/tmp/data.db",
		"relative/x.sqlite3",
		"/tmp/a:b@c.db",
		"/tmp/password=x.db",
		"/tmp/x password=y.db",
		"sqlite:///tmp/a:b@c.db",
		"sqlite:relative.db",
		"mongodump:///path/to/dump",
		"postgresql://u@host:5432/db?sslmode=require",
		"postgresql://[::1]:5432,h2/db",
		"postgres://host/db?passfile=/home/u/.pgpass",
		"host=/tmp port=5432 dbname=x user=u",
		"host=h password=",
		"password host=h",
		"mysql://u@h:3306/db?socket=/tmp/s",
		"mysql://u:@h/db",
		"my:file.db",
		"foo://x",
		"notes.txt",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_unchanged(cases[i]);
	char *r = ferry_uri_redact(NULL);
	is_str(r, "", "redact(NULL) reads as \"\"");
	ferry_free(r);
}

/* Overlapping readings must mask more: the union of spans. */
static void test_redact_over_mask(void)
{
	check_redact("postgresql://host:5432/db?application_name=a@b",
	             "postgresql://host:***@b");
	check_redact("postgresql://u:" SECRET "@h/db?password=" SECRET "@x",
	             "postgresql://u:***@x");
	check_redact("mysql://u:" SECRET "@h/db mysql://v:" SECRET "@h/db",
	             "mysql://u:***@h/db");
}

/* A tiny LCG so the random inputs are the same on every run. */
static unsigned long rng_state = 12345;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rng_state >> 33) % n);
}

/* A password with the secret somewhere among hostile characters. */
static void random_password(char *pw, size_t cap)
{
	static const char alphabet[] = "@:/?#= '\"\\&%;,[]abc12\t";
	size_t len = 0, before = rnd(6), after = rnd(6);
	for (size_t i = 0; i < before && len + 1 < cap; i++)
		pw[len++] = alphabet[rnd(sizeof alphabet - 1)];
	for (const char *s = SECRET; *s && len + 1 < cap; s++)
		pw[len++] = *s;
	for (size_t i = 0; i < after && len + 1 < cap; i++)
		pw[len++] = alphabet[rnd(sizeof alphabet - 1)];
	pw[len] = '\0';
}

/* pw as a libpq quoted conninfo value: ' and \ escaped. */
static void conninfo_quote(const char *pw, char *out)
{
	*out++ = '\'';
	for (; *pw; pw++) {
		if (*pw == '\'' || *pw == '\\')
			*out++ = '\\';
		*out++ = *pw;
	}
	*out++ = '\'';
	*out = '\0';
}

static void test_redact_random(void)
{
	static const char *const forms[] = {
		"postgresql://user:%s@db.example.com:5432/app?sslmode=require",
		"mysql://root:%s@[::1]:3306/shop",
		"postgres://app@h/db?sslmode=require&password=%s",
		"host=h user=u password=%s dbname=x",
		"host=h sslpassword = %s",
		"u:%s@h",
	};
	int leaks = 0, failures = 0;
	for (int round = 0; round < 3000; round++) {
		char pw[64], quoted[140], text[320];
		size_t f = (size_t)round % (sizeof forms / sizeof forms[0]);
		random_password(pw, sizeof pw);
		conninfo_quote(pw, quoted);
		const char *value = f == 3 || f == 4 ? quoted : pw;
		snprintf(text, sizeof text, forms[f], value);
		char *r = ferry_uri_redact(text);
		failures += r == NULL;
		if (r && strstr(r, SECRET)) {
			if (leaks++ < 5)
				tap_diag("leak: %s -> %s", text, r);
		}
		ferry_error err = FERRY_ERROR_INIT;
		ferry_uri u;
		if (ferry_uri_parse(&u, text, &err) < 0 &&
		    strstr(ferry_error_message(&err), SECRET)) {
			if (leaks++ < 5)
				tap_diag("leak in error: %s",
				         ferry_error_message(&err));
		}
		ferry_uri_free(&u);
		ferry_error_clear(&err);
		ferry_free(r);
	}
	is_int(failures, 0, "random passwords: redact never fails");
	is_int(leaks, 0, "random passwords: secret never shown");
}

/* Hostile repetitions must not take quadratic time (seconds under ASan
 * if they did). */
static void test_redact_linear(void)
{
	static const char *const units[] = { "password=", "://", "u:x://",
		                                 "x%3D", "=", "password=a&x",
		                                 "' password=", "@:" };
	size_t reps = 200000;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		size_t len = strlen(units[i]);
		char *text = malloc(len * reps + 1);
		if (!text)
			abort();
		for (size_t j = 0; j < reps; j++)
			memcpy(text + j * len, units[i], len);
		text[len * reps] = '\0';
		char *r = ferry_uri_redact(text);
		ok(r != NULL, "redact %zu x \"%s\" in linear time", reps,
		   units[i]);
		ferry_free(r);
		free(text);
	}
}

/* ---- allocation failures ---- */

static void test_alloc_failures(void)
{
	const char *text = "mariadb://us%65r:p%40ss@[::1]:3306/d%20b"
	                   "?socket=/s";
	const char *want = "mariadb://us%65r:***@[::1]:3306/d%20b?socket=/s";
	int bad = 0, done = 0;
	long n;
	for (n = 1; n <= 200 && !done; n++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_uri u;
		ferry_alloc_fail_at(n, 0);
		int rc = ferry_uri_parse(&u, text, &err);
		char *r = ferry_uri_redact(text);
		long failed = ferry_alloc_failures();
		ferry_alloc_fail_at(0, 0);
		if (rc != 0 &&
		    (rc != FERRY_ENOMEM || err.code != FERRY_ENOMEM ||
		     u.redacted || u.user || u.host || u.database))
			bad++;
		if (rc == 0 && (!u.redacted || !u.user || !u.password ||
		                !u.host || !u.database || !u.socket))
			bad++;
		if (!r && failed == 0)
			bad++;
		if (r && strcmp(r, want))
			bad++;
		if (failed == 0) {
			done = 1;
			bad += rc != 0 || !r;
		}
		ferry_uri_free(&u);
		ferry_error_clear(&err);
		ferry_free(r);
	}
	ok(done, "fault injection reached a run without failures (n=%ld)",
	   n - 1);
	ok(n > 3, "fault injection covered several allocations");
	is_int(bad, 0, "every injected failure handled cleanly");
}

int main(void)
{
	test_sqlite();
	test_plain_refused();
	test_postgresql();
	test_mysql();
	test_mysql_refused();
	test_mongodump();
	test_misc();
	test_redact_tricky();
	test_redact_unchanged();
	test_redact_over_mask();
	test_redact_random();
	test_redact_linear();
	test_alloc_failures();
	return tap_done();
}
