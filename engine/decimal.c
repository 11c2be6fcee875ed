/*
 * engine/decimal.c - exact decimal numbers, so that a numeric or decimal
 * column moves between databases digit for digit and a value that cannot
 * land exactly is rejected instead of rounded (see decimal.h).
 *
 * The coefficient is kept one decimal digit per byte, most significant
 * first.  That costs space next to base-10^4 limbs, but parsing,
 * formatting, rescaling and shifting become plain byte moves, and the
 * values ferry carries are short (numeric(38,s) is at most 38 bytes).
 * mul and div_exact serve unit conversions, not number crunching, so
 * they are schoolbook.
 */
#include "engine/decimal.h"

#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"

/* How many bytes of a value or of rejected text a message quotes. */
#define QUOTE_MAX 40

/*
 * Parsed exponents saturate here: far beyond any limit, yet far enough
 * from INT64_MAX that adding a digit count cannot overflow.
 */
#define EXP_CLAMP 1000000000000000LL

#define MAX_INT FERRY_DECIMAL_MAX_INT_DIGITS
#define MAX_SCALE FERRY_DECIMAL_MAX_SCALE

/* A value quoted in a message: at most QUOTE_MAX bytes, then "...". */
struct label {
	char s[QUOTE_MAX + 4];
};

/* Counts every byte but stores only the first `limit`, so one renderer
 * serves both measuring and truncated quoting. */
struct sink {
	char *p;
	size_t len;
	size_t limit;
};

static void put(struct sink *s, char c)
{
	if (s->len < s->limit)
		s->p[s->len] = c;
	s->len++;
}

static void put_str(struct sink *s, const char *str)
{
	while (*str)
		put(s, *str++);
}

/* Digits before the point; zero or negative for |d| < 1. */
static int64_t int_digits(const ferry_decimal *d)
{
	return (int64_t)d->ndigits - d->scale;
}

static int has_nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 1;
	return 0;
}

static const char *special_name(int kind)
{
	switch (kind) {
	case FERRY_DEC_NAN:
		return "NaN";
	case FERRY_DEC_PINF:
		return "Infinity";
	case FERRY_DEC_NINF:
		return "-Infinity";
	default:
		return NULL;
	}
}

static size_t render(const ferry_decimal *d, char *dst, size_t limit)
{
	struct sink s = { dst, 0, limit };
	const char *name = special_name(d->kind);
	if (name) {
		put_str(&s, name);
		return s.len;
	}
	if (d->neg && d->ndigits > 0)
		put(&s, '-');
	int64_t whole = int_digits(d);
	if (whole <= 0)
		put(&s, '0');
	for (int64_t i = 0; i < whole; i++)
		put(&s, (char)('0' + d->digits[i]));
	if (d->scale > 0) {
		put(&s, '.');
		/* a negative index is a zero between the point and the coef */
		for (int64_t i = whole; i < (int64_t)d->ndigits; i++)
			put(&s, i < 0 ? '0' : (char)('0' + d->digits[i]));
	}
	return s.len;
}

static struct label label_of(const ferry_decimal *d)
{
	struct label l;
	size_t n = render(d, l.s, QUOTE_MAX);
	if (n > QUOTE_MAX)
		memcpy(l.s + QUOTE_MAX, "...", 4);
	else
		l.s[n] = '\0';
	return l;
}

/* Makes room for n digits, keeping the current ones; on failure d is
 * untouched, which is what lets every caller leave its output valid. */
static int grow(ferry_decimal *d, size_t n, ferry_error *err)
{
	if (n <= d->cap)
		return 0;
	uint8_t *p = ferry_realloc(d->digits, n);
	if (!p)
		return ferry_error_oom(err);
	d->digits = p;
	d->cap = (uint32_t)n;
	return 0;
}

/* Keeps the digit buffer: a special or a zero needs none, and the next
 * assignment can reuse it. */
static void set_special(ferry_decimal *d, int kind)
{
	d->kind = (uint8_t)kind;
	d->neg = 0;
	d->scale = 0;
	d->ndigits = 0;
}

static void set_zero(ferry_decimal *d, int32_t scale)
{
	set_special(d, FERRY_DEC_FINITE);
	d->scale = scale;
}

/* Replaces out with a result built on the side, so aliasing inputs and
 * failures part way through never touch out. */
static void install(ferry_decimal *out, ferry_decimal *tmp)
{
	ferry_free(out->digits);
	*out = *tmp;
}

/* -1, 0 or 1; infinities count, NaN is 0. */
static int sign_of(const ferry_decimal *d)
{
	switch (d->kind) {
	case FERRY_DEC_FINITE:
		return d->ndigits == 0 ? 0 : d->neg ? -1 : 1;
	case FERRY_DEC_PINF:
		return 1;
	case FERRY_DEC_NINF:
		return -1;
	default:
		return 0;
	}
}

/* Whether the last n coefficient digits may go without changing the
 * value: a non-zero coefficient has a non-zero leading digit. */
static int ends_in_zeros(const ferry_decimal *d, size_t n)
{
	if (d->ndigits == 0)
		return 1;
	return n < d->ndigits && !has_nonzero(d->digits + d->ndigits - n, n);
}

/* The caller has grown d; n may be 0 while digits is still NULL. */
static void append_zeros(ferry_decimal *d, size_t n)
{
	if (n == 0)
		return;
	memset(d->digits + d->ndigits, 0, n);
	d->ndigits += (uint32_t)n;
}

static void strip_leading_zeros(ferry_decimal *d)
{
	size_t lead = 0;
	while (lead < d->ndigits && d->digits[lead] == 0)
		lead++;
	if (lead > 0)
		memmove(d->digits, d->digits + lead, d->ndigits - lead);
	d->ndigits -= (uint32_t)lead;
}

void ferry_decimal_free(ferry_decimal *d)
{
	if (!d)
		return;
	ferry_free(d->digits);
	d->digits = NULL;
	d->cap = 0;
	set_zero(d, 0);
}

int ferry_decimal_copy(ferry_decimal *out, const ferry_decimal *src,
                       ferry_error *err)
{
	if (out == src)
		return 0;
	if (grow(out, src->ndigits, err) < 0)
		return FERRY_ENOMEM;
	if (src->ndigits > 0)
		memcpy(out->digits, src->digits, src->ndigits);
	out->kind = src->kind;
	out->neg = src->neg;
	out->scale = src->scale;
	out->ndigits = src->ndigits;
	return 0;
}

/* ---- parsing ---- */

struct scan {
	int neg;
	const char *int_part;
	size_t n_int;
	const char *frac_part;
	size_t n_frac;
	int64_t exp; /* clamped to +/-EXP_CLAMP */
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Locale-free on purpose: "NaN" must mean the same under any LC_CTYPE. */
static int special_kind(const char *t, size_t len)
{
	static const struct {
		const char *name;
		int kind;
	} names[] = {
		{ "nan", FERRY_DEC_NAN },       { "infinity", FERRY_DEC_PINF },
		{ "+infinity", FERRY_DEC_PINF }, { "-infinity", FERRY_DEC_NINF },
		{ "inf", FERRY_DEC_PINF },      { "+inf", FERRY_DEC_PINF },
		{ "-inf", FERRY_DEC_NINF },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *n = names[i].name;
		if (strlen(n) != len)
			continue;
		size_t j = 0;
		while (j < len && ascii_lower(t[j]) == n[j])
			j++;
		if (j == len)
			return names[i].kind;
	}
	return -1;
}

static size_t skip_digits(const char *t, size_t i, size_t len)
{
	while (i < len && is_digit(t[i]))
		i++;
	return i;
}

static int scan_exponent(const char *t, size_t i, size_t len,
                         struct scan *sc)
{
	int neg = 0;
	if (i < len && (t[i] == '+' || t[i] == '-'))
		neg = t[i++] == '-';
	size_t end = skip_digits(t, i, len);
	if (end == i)
		return -1;
	for (; i < end; i++)
		if (sc->exp < EXP_CLAMP)
			sc->exp = sc->exp * 10 + (t[i] - '0');
	if (neg)
		sc->exp = -sc->exp;
	return end == len ? 0 : -1;
}

/* Splits text into sign, digits and exponent; -1 if it is not a number. */
static int scan_number(const char *t, size_t len, struct scan *sc)
{
	size_t i = 0, end;
	memset(sc, 0, sizeof *sc);
	if (i < len && (t[i] == '+' || t[i] == '-'))
		sc->neg = t[i++] == '-';
	end = skip_digits(t, i, len);
	sc->int_part = t + i;
	sc->n_int = end - i;
	i = end;
	if (i < len && t[i] == '.') {
		end = skip_digits(t, ++i, len);
		sc->frac_part = t + i;
		sc->n_frac = end - i;
		i = end;
	}
	if (sc->n_int + sc->n_frac == 0)
		return -1;
	if (i < len && (t[i] == 'e' || t[i] == 'E'))
		return scan_exponent(t, i + 1, len, sc);
	return i == len ? 0 : -1;
}

static uint8_t mantissa_digit(const struct scan *sc, size_t k)
{
	char c = k < sc->n_int ? sc->int_part[k] : sc->frac_part[k - sc->n_int];
	return (uint8_t)(c - '0');
}

/* side is NULL for text that is not a number at all. */
static int parse_error(ferry_error *err, const char *text, size_t len,
                       const char *side, int limit)
{
	int n = len > QUOTE_MAX ? QUOTE_MAX : (int)len;
	const char *more = len > QUOTE_MAX ? "..." : "";
	if (!side)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "invalid numeric value \"%.*s%s\"",
		                       n, text, more);
	return ferry_error_set(err, FERRY_EREJECT,
	                       "numeric value \"%.*s%s\" is out of range: "
	                       "more than %d digits %s the point",
	                       n, text, more, limit, side);
}

int ferry_decimal_parse(ferry_decimal *out, const char *text, size_t len,
                        ferry_error *err)
{
	struct scan sc;
	if (!text)
		text = "";
	int kind = special_kind(text, len);
	if (kind >= 0) {
		set_special(out, kind);
		return 0;
	}
	if (scan_number(text, len, &sc) < 0)
		return parse_error(err, text, len, NULL, 0);
	size_t total = sc.n_int + sc.n_frac, lead = 0;
	while (lead < total && mantissa_digit(&sc, lead) == 0)
		lead++;
	/* int64 holds this: the exponent is clamped and len fits memory */
	int64_t scale = (int64_t)sc.n_frac - sc.exp, zeros = 0;
	if (scale < 0) {
		zeros = lead < total ? -scale : 0;
		scale = 0;
	}
	int64_t ndigits = (int64_t)(total - lead) + zeros;
	if (scale > MAX_SCALE)
		return parse_error(err, text, len, "after", MAX_SCALE);
	if (ndigits - scale > MAX_INT)
		return parse_error(err, text, len, "before", MAX_INT);
	if (grow(out, (size_t)ndigits, err) < 0)
		return FERRY_ENOMEM;
	for (size_t k = lead; k < total; k++)
		out->digits[k - lead] = mantissa_digit(&sc, k);
	out->kind = FERRY_DEC_FINITE;
	out->neg = ndigits > 0 && sc.neg;
	out->scale = (int32_t)scale;
	out->ndigits = (uint32_t)(total - lead);
	append_zeros(out, (size_t)zeros);
	return 0;
}

/* ---- integers ---- */

int ferry_decimal_from_int64(ferry_decimal *out, int64_t v, ferry_error *err)
{
	/* -(v + 1) + 1 because -INT64_MIN does not exist as an int64 */
	uint64_t mag = v < 0 ? (uint64_t)-(v + 1) + 1 : (uint64_t)v;
	uint8_t tmp[20];
	size_t n = 0;
	while (mag) {
		tmp[n++] = (uint8_t)(mag % 10);
		mag /= 10;
	}
	if (grow(out, n, err) < 0)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < n; i++)
		out->digits[i] = tmp[n - 1 - i];
	out->kind = FERRY_DEC_FINITE;
	out->neg = v < 0;
	out->scale = 0;
	out->ndigits = (uint32_t)n;
	return 0;
}

static int not_bigint(ferry_error *err, const ferry_decimal *d,
                      const char *why)
{
	struct label l = label_of(d);
	return ferry_error_set(err, FERRY_EREJECT,
	                       "cannot convert %s to bigint%s", l.s, why);
}

int ferry_decimal_to_int64(const ferry_decimal *d, int64_t *out,
                           ferry_error *err)
{
	if (d->kind != FERRY_DEC_FINITE)
		return not_bigint(err, d, "");
	if (d->ndigits == 0) {
		*out = 0;
		return 0;
	}
	int64_t whole = int_digits(d);
	size_t nfrac = whole > 0 ? (size_t)d->scale : d->ndigits;
	if (has_nonzero(d->digits + (d->ndigits - nfrac), nfrac))
		return not_bigint(err, d, ": not an integer");
	/* the magnitude may reach one more on the negative side */
	uint64_t limit = (uint64_t)INT64_MAX + (d->neg ? 1 : 0), mag = 0;
	for (int64_t i = 0; i < whole; i++) {
		if (mag > (limit - d->digits[i]) / 10)
			return not_bigint(err, d, ": out of range");
		mag = mag * 10 + d->digits[i];
	}
	if (!d->neg)
		*out = (int64_t)mag;
	else
		*out = mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
	return 0;
}

/* ---- text and ordering ---- */

int ferry_decimal_format(const ferry_decimal *d, ferry_buf *out)
{
	size_t n = render(d, NULL, 0);
	if (ferry_buf_reserve(out, n) < 0)
		return FERRY_ENOMEM;
	render(d, (char *)out->data + out->len, n);
	out->len += n;
	return 0;
}

/* PostgreSQL's order of the kinds: -Infinity, finite, Infinity, NaN. */
static int kind_rank(const ferry_decimal *d)
{
	switch (d->kind) {
	case FERRY_DEC_NINF:
		return 0;
	case FERRY_DEC_FINITE:
		return 1;
	case FERRY_DEC_PINF:
		return 2;
	default:
		return 3;
	}
}

/* |a| against |b|, both non-zero; coefficients have no leading zeros, so
 * the count of digits before the point decides first. */
static int cmp_magnitude(const ferry_decimal *a, const ferry_decimal *b)
{
	int64_t wa = int_digits(a), wb = int_digits(b);
	if (wa != wb)
		return wa < wb ? -1 : 1;
	uint32_t n = a->ndigits < b->ndigits ? a->ndigits : b->ndigits;
	int c = memcmp(a->digits, b->digits, n);
	if (c != 0)
		return c < 0 ? -1 : 1;
	if (has_nonzero(a->digits + n, a->ndigits - n))
		return 1;
	if (has_nonzero(b->digits + n, b->ndigits - n))
		return -1;
	return 0;
}

int ferry_decimal_cmp(const ferry_decimal *a, const ferry_decimal *b)
{
	int ra = kind_rank(a), rb = kind_rank(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->kind != FERRY_DEC_FINITE)
		return 0;
	int sa = sign_of(a), sb = sign_of(b);
	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (sa == 0)
		return 0;
	return sa * cmp_magnitude(a, b);
}

int ferry_decimal_is_zero(const ferry_decimal *d)
{
	return d->kind == FERRY_DEC_FINITE && d->ndigits == 0;
}

/* ---- scale ---- */

void ferry_decimal_normalize(ferry_decimal *d)
{
	if (d->kind != FERRY_DEC_FINITE)
		return;
	while (d->scale > 0 && d->ndigits > 0 && d->digits[d->ndigits - 1] == 0) {
		d->ndigits--;
		d->scale--;
	}
	if (d->ndigits == 0)
		d->scale = 0;
}

int ferry_decimal_rescale(ferry_decimal *d, int32_t scale, ferry_error *err)
{
	if (d->kind != FERRY_DEC_FINITE)
		return 0;
	if (scale < 0 || scale > MAX_SCALE)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "invalid numeric scale %d (must be 0..%d)",
		                       (int)scale, MAX_SCALE);
	if (scale <= d->scale) {
		size_t drop = (size_t)(d->scale - scale);
		if (!ends_in_zeros(d, drop)) {
			struct label l = label_of(d);
			return ferry_error_set(err, FERRY_EREJECT,
			                       "rescaling %s to scale %d would lose digits",
			                       l.s, (int)scale);
		}
		if (d->ndigits > 0)
			d->ndigits -= (uint32_t)drop;
		d->scale = scale;
		return 0;
	}
	size_t add = d->ndigits > 0 ? (size_t)(scale - d->scale) : 0;
	if (grow(d, d->ndigits + add, err) < 0)
		return FERRY_ENOMEM;
	append_zeros(d, add);
	d->scale = scale;
	return 0;
}

/*
 * The scale moves with the point, as if the value had been written with
 * an exponent: 1.5 shifted by 3 is 1500 (scale 0), 1999 by -2 is 19.99,
 * so the result keeps exactly the digits it had.  Only when that scale
 * would pass the limit do trailing zeros go, since the contract limits
 * the value, not the digits written: 1e131071 shifted by -131071 is 1.
 */
int ferry_decimal_shift(ferry_decimal *d, int32_t power, ferry_error *err)
{
	if (d->kind != FERRY_DEC_FINITE)
		return 0;
	int64_t scale = (int64_t)d->scale - power, zeros = 0;
	size_t drop = 0;
	if (scale < 0) {
		zeros = d->ndigits > 0 ? -scale : 0;
		scale = 0;
	}
	if (scale > MAX_SCALE && ends_in_zeros(d, (size_t)(scale - MAX_SCALE))) {
		drop = d->ndigits > 0 ? (size_t)(scale - MAX_SCALE) : 0;
		scale = MAX_SCALE;
	}
	int64_t whole = (int64_t)d->ndigits + zeros - (int64_t)drop - scale;
	if (scale > MAX_SCALE || whole > MAX_INT) {
		struct label l = label_of(d);
		return ferry_error_set(err, FERRY_EREJECT,
		                       "shifting %s by %d places is out of range: "
		                       "more than %d digits %s the point",
		                       l.s, (int)power,
		                       scale > MAX_SCALE ? MAX_SCALE : MAX_INT,
		                       scale > MAX_SCALE ? "after" : "before");
	}
	if (grow(d, d->ndigits + (size_t)zeros, err) < 0)
		return FERRY_ENOMEM;
	d->ndigits -= (uint32_t)drop;
	append_zeros(d, (size_t)zeros);
	d->scale = (int32_t)scale;
	return 0;
}

static int misfit(ferry_error *err, const ferry_decimal *d, int precision,
                  int scale, const char *why)
{
	struct label l = label_of(d);
	return ferry_error_set(err, FERRY_EREJECT,
	                       "value %s does not fit numeric(%d,%d): %s",
	                       l.s, precision, scale, why);
}

static const char *plural(long long n) { return n == 1 ? "" : "s"; }

/* Power of ten of the least significant non-zero digit of a non-zero d. */
static int64_t lowest_power(const ferry_decimal *d)
{
	size_t last = d->ndigits - 1;
	while (d->digits[last] == 0)
		last--;
	return (int64_t)(d->ndigits - 1 - last) - d->scale;
}

/*
 * The rule behind every case, including scale > precision and a negative
 * scale (both allowed by PostgreSQL 15): the value must be a multiple of
 * 10^-scale and below 10^(precision - scale) in absolute value.
 */
int ferry_decimal_check_fits(const ferry_decimal *d, int precision, int scale,
                             ferry_error *err)
{
	char why[96];
	if (precision < 1)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "invalid numeric precision %d", precision);
	if (d->kind == FERRY_DEC_NAN)
		return 0;
	if (d->kind != FERRY_DEC_FINITE)
		return misfit(err, d, precision, scale,
		              "cannot hold an infinite value");
	if (d->ndigits == 0)
		return 0;
	long long room = (long long)precision - scale;
	long long excess = (long long)int_digits(d) - room;
	if (excess > 0) {
		if (room >= 0)
			snprintf(why, sizeof why, "%lld digit%s too many before the point",
			         excess, plural(excess));
		else
			snprintf(why, sizeof why,
			         "absolute value must be less than 10^%lld", room);
		return misfit(err, d, precision, scale, why);
	}
	excess = -(long long)lowest_power(d) - scale;
	if (excess <= 0)
		return 0;
	if (scale < 0)
		snprintf(why, sizeof why, "must be a multiple of 10^%lld",
		         -(long long)scale);
	else
		snprintf(why, sizeof why, "%lld digit%s too many after the point",
		         excess, plural(excess));
	return misfit(err, d, precision, scale, why);
}

/* ---- arithmetic ---- */

/* PostgreSQL's rules: NaN wins, infinity times zero is NaN, otherwise
 * an infinity carries the sign of the product. */
static int mul_special(const ferry_decimal *a, const ferry_decimal *b)
{
	if (a->kind == FERRY_DEC_NAN || b->kind == FERRY_DEC_NAN)
		return FERRY_DEC_NAN;
	int s = sign_of(a) * sign_of(b);
	if (s == 0)
		return FERRY_DEC_NAN;
	return s > 0 ? FERRY_DEC_PINF : FERRY_DEC_NINF;
}

/* Schoolbook product of two non-zero coefficients into tmp. */
static int product(ferry_decimal *tmp, const ferry_decimal *a,
                   const ferry_decimal *b, ferry_error *err)
{
	size_t na = a->ndigits, nb = b->ndigits, n = na + nb;
	if (grow(tmp, n, err) < 0)
		return FERRY_ENOMEM;
	/* col[k] sums the products worth 10^k; at most 81 * min(na, nb),
	 * well inside 32 bits at the digit limits, so carrying waits */
	uint32_t *col = ferry_calloc(n, sizeof *col);
	if (!col)
		return ferry_error_oom(err);
	for (size_t i = 0; i < na; i++) {
		uint32_t x = a->digits[na - 1 - i];
		if (x == 0)
			continue;
		for (size_t j = 0; j < nb; j++)
			col[i + j] += x * b->digits[nb - 1 - j];
	}
	uint64_t carry = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t v = col[k] + carry;
		tmp->digits[n - 1 - k] = (uint8_t)(v % 10);
		carry = v / 10;
	}
	ferry_free(col);
	tmp->ndigits = (uint32_t)n;
	strip_leading_zeros(tmp);
	return 0;
}

static int mul_range(ferry_error *err, const ferry_decimal *a,
                     const ferry_decimal *b, const char *side, int limit)
{
	struct label la = label_of(a), lb = label_of(b);
	return ferry_error_set(err, FERRY_EREJECT,
	                       "%s * %s is out of range: more than %d digits %s "
	                       "the point", la.s, lb.s, limit, side);
}

int ferry_decimal_mul(ferry_decimal *out, const ferry_decimal *a,
                      const ferry_decimal *b, ferry_error *err)
{
	if (a->kind != FERRY_DEC_FINITE || b->kind != FERRY_DEC_FINITE) {
		set_special(out, mul_special(a, b));
		return 0;
	}
	int64_t scale = (int64_t)a->scale + b->scale;
	if (scale > MAX_SCALE)
		return mul_range(err, a, b, "after", MAX_SCALE);
	/* refuse before the work: the product of non-zero coefficients has
	 * at least one digit less than their lengths added */
	if (a->ndigits > 0 && b->ndigits > 0 &&
	    int_digits(a) + int_digits(b) - 1 > MAX_INT)
		return mul_range(err, a, b, "before", MAX_INT);
	ferry_decimal tmp = FERRY_DECIMAL_INIT;
	if (a->ndigits > 0 && b->ndigits > 0) {
		if (product(&tmp, a, b, err) < 0) {
			ferry_decimal_free(&tmp);
			return FERRY_ENOMEM;
		}
		tmp.neg = a->neg != b->neg;
	}
	tmp.scale = (int32_t)scale;
	if (int_digits(&tmp) > MAX_INT) {
		ferry_decimal_free(&tmp);
		return mul_range(err, a, b, "before", MAX_INT);
	}
	install(out, &tmp);
	return 0;
}

/*
 * Long division by a multi-digit divisor, one quotient digit per step.
 * rem has nb + 1 digits: after bringing a digit down it is below
 * 10 * divisor, so at most nine subtractions find the quotient digit.
 */
struct division {
	const uint8_t *divisor;
	size_t nb;
	uint8_t *rem;
};

static int rem_at_least_divisor(const struct division *dv)
{
	if (dv->rem[0] != 0)
		return 1;
	return memcmp(dv->rem + 1, dv->divisor, dv->nb) >= 0;
}

static void rem_subtract_divisor(struct division *dv)
{
	int borrow = 0;
	for (size_t i = dv->nb; i > 0; i--) {
		int x = dv->rem[i] - borrow - dv->divisor[i - 1];
		borrow = x < 0;
		dv->rem[i] = (uint8_t)(x < 0 ? x + 10 : x);
	}
	dv->rem[0] = (uint8_t)(dv->rem[0] - borrow);
}

static uint8_t next_quotient_digit(struct division *dv, uint8_t down)
{
	memmove(dv->rem, dv->rem + 1, dv->nb);
	dv->rem[dv->nb] = down;
	uint8_t q = 0;
	while (rem_at_least_divisor(dv)) {
		rem_subtract_divisor(dv);
		q++;
	}
	return q;
}

static int inexact(ferry_error *err, const ferry_decimal *a,
                   const ferry_decimal *b, int32_t max_scale)
{
	struct label la = label_of(a), lb = label_of(b);
	return ferry_error_set(err, FERRY_EREJECT,
	                       "%s / %s has no exact decimal value within %d "
	                       "place%s", la.s, lb.s, (int)max_scale,
	                       plural(max_scale));
}

/*
 * Places the quotient keeps beyond a's scale even when fewer would hold
 * it.  Dividing by a power of ten must act like a shift, so that
 * 1990 / 100 is 19.90 as decimal.h promises (the smallest exact scale
 * alone would give 19.9): b = m * 10^t adds t places when t > 0.  Only
 * b's value counts (100 and 100.00 alike), and padding stops at
 * max_scale.
 */
static int64_t shift_places(const ferry_decimal *a, const ferry_decimal *b,
                            int32_t max_scale)
{
	size_t tz = 0;
	while (tz < b->ndigits && b->digits[b->ndigits - 1 - tz] == 0)
		tz++;
	int64_t pad = (int64_t)tz - b->scale;
	if (pad > (int64_t)max_scale - a->scale)
		pad = (int64_t)max_scale - a->scale;
	return pad > 0 ? pad : 0;
}

/*
 * a / b for non-zero finite a and b, into tmp.  Digits of A * 10^sb / B
 * give the quotient at a's scale; each further digit adds a place.
 * B = 2^x 5^y m with x, y < 4 nb (B < 10^nb < 16^nb), and A * 10^k is a
 * multiple of B for some k only if it is one for k = max(x, y): a
 * remainder left after 4 nb powers of ten means the expansion never
 * ends, so the work stays linear in the digits, whatever max_scale is.
 * pad (at most nb - sb, so below that bound) forces places past the
 * point even after the remainder is gone.
 */
static int long_divide(ferry_decimal *tmp, const ferry_decimal *a,
                       const ferry_decimal *b, int32_t max_scale,
                       int64_t pad, ferry_error *err)
{
	size_t na = a->ndigits, nb = b->ndigits, fixed = na + (size_t)b->scale;
	int64_t more = 4 * (int64_t)nb - b->scale;
	if ((int64_t)max_scale - a->scale < more)
		more = (int64_t)max_scale - a->scale;
	if (more < pad)
		more = pad;
	if (grow(tmp, fixed + (size_t)more, err) < 0)
		return FERRY_ENOMEM;
	struct division dv = { b->digits, nb, ferry_calloc(nb + 1, 1) };
	if (!dv.rem)
		return ferry_error_oom(err);
	size_t n = 0;
	for (; n < fixed; n++)
		tmp->digits[n] = next_quotient_digit(&dv, n < na ? a->digits[n] : 0);
	int64_t places = 0;
	while (places < pad || has_nonzero(dv.rem, nb + 1)) {
		if (places == more) {
			ferry_free(dv.rem);
			return inexact(err, a, b, max_scale);
		}
		tmp->digits[n++] = next_quotient_digit(&dv, 0);
		places++;
	}
	ferry_free(dv.rem);
	tmp->ndigits = (uint32_t)n;
	tmp->scale = (int32_t)(a->scale + places);
	strip_leading_zeros(tmp);
	return 0;
}

/* PostgreSQL's rules for a NaN or an infinity (division by zero is
 * caught before): finite / infinity is zero. */
static int div_special(const ferry_decimal *a, const ferry_decimal *b)
{
	if (a->kind == FERRY_DEC_NAN || b->kind == FERRY_DEC_NAN)
		return FERRY_DEC_NAN;
	if (a->kind != FERRY_DEC_FINITE && b->kind != FERRY_DEC_FINITE)
		return FERRY_DEC_NAN;
	if (a->kind == FERRY_DEC_FINITE)
		return FERRY_DEC_FINITE;
	return sign_of(a) * sign_of(b) > 0 ? FERRY_DEC_PINF : FERRY_DEC_NINF;
}

int ferry_decimal_div_exact(ferry_decimal *out, const ferry_decimal *a,
                            const ferry_decimal *b, int32_t max_scale,
                            ferry_error *err)
{
	if (max_scale < 0)
		return ferry_error_set(err, FERRY_EINVAL,
		                       "invalid maximum scale %d", (int)max_scale);
	if (max_scale > MAX_SCALE)
		max_scale = MAX_SCALE;
	if (ferry_decimal_is_zero(b) && a->kind != FERRY_DEC_NAN) {
		struct label la = label_of(a);
		return ferry_error_set(err, FERRY_EREJECT,
		                       "cannot divide %s by zero", la.s);
	}
	int kind = div_special(a, b);
	int64_t pad = 0;
	if (b->kind == FERRY_DEC_FINITE && kind == FERRY_DEC_FINITE)
		pad = shift_places(a, b, max_scale);
	if (kind != FERRY_DEC_FINITE || b->kind != FERRY_DEC_FINITE ||
	    a->ndigits == 0) {
		/* a zero quotient (0 / b, finite / infinity) keeps a's scale */
		int32_t scale = (int32_t)(a->scale + pad);
		set_special(out, kind);
		if (kind == FERRY_DEC_FINITE)
			out->scale = scale;
		return 0;
	}
	ferry_decimal tmp = FERRY_DECIMAL_INIT;
	int rc = long_divide(&tmp, a, b, max_scale, pad, err);
	if (rc < 0) {
		ferry_decimal_free(&tmp);
		return rc;
	}
	if (int_digits(&tmp) > MAX_INT) {
		struct label la = label_of(a), lb = label_of(b);
		ferry_decimal_free(&tmp);
		return ferry_error_set(err, FERRY_EREJECT,
		                       "%s / %s is out of range: more than %d "
		                       "digits before the point", la.s, lb.s, MAX_INT);
	}
	tmp.neg = a->neg != b->neg;
	install(out, &tmp);
	return 0;
}
