/*
 * engine/decimal.h - exact decimal numbers: digits and a scale, never a double.
 *
 * A finite decimal is (-1)^neg * coef * 10^-scale, where coef is a string
 * of decimal digits without leading zeros (an empty coef is zero) and
 * scale >= 0.  The scale is kept as given ("19.90" has scale 2), because a
 * numeric(12,2) column prints two places; comparison and the canonical form
 * ignore trailing fractional zeros.  Zero is never negative.
 *
 * Limits are PostgreSQL's numeric: at most FERRY_DECIMAL_MAX_INT_DIGITS
 * digits before the point and FERRY_DECIMAL_MAX_SCALE after it, so any
 * PostgreSQL numeric round-trips.  NaN and +/-Infinity exist because
 * PostgreSQL's numeric has them.
 *
 * Every function that can refuse returns 0 or a negative ferry_code and
 * says why in err: FERRY_EINVAL for text that is not a number,
 * FERRY_EREJECT for a value that cannot be represented exactly (lost
 * digits, precision overflow, inexact division), FERRY_ENOMEM.
 */
#ifndef FERRY_DECIMAL_H
#define FERRY_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/error.h"

#define FERRY_DECIMAL_MAX_INT_DIGITS 131072
#define FERRY_DECIMAL_MAX_SCALE 16383

enum ferry_decimal_kind {
	FERRY_DEC_FINITE = 0,
	FERRY_DEC_NAN = 1,
	FERRY_DEC_PINF = 2,
	FERRY_DEC_NINF = 3
};

typedef struct ferry_decimal {
	uint8_t kind;     /* enum ferry_decimal_kind */
	uint8_t neg;      /* 1 for a negative finite non-zero value */
	int32_t scale;    /* digits after the point, 0..FERRY_DECIMAL_MAX_SCALE */
	uint32_t ndigits; /* length of coef; 0 means zero */
	uint32_t cap;     /* allocated bytes in digits */
	uint8_t *digits;  /* coef, values 0..9, most significant first; owned */
} ferry_decimal;

#define FERRY_DECIMAL_INIT { FERRY_DEC_FINITE, 0, 0, 0, 0, NULL }

/* Releases the digits; d becomes zero with scale 0.  Accepts NULL. */
void ferry_decimal_free(ferry_decimal *d);

/* Copies src into out (out's old contents are released). */
int ferry_decimal_copy(ferry_decimal *out, const ferry_decimal *src,
                       ferry_error *err);

/*
 * Parses text strictly: optional sign, digits with at most one '.',
 * at least one digit, optional exponent [eE][+-]digits; or NaN,
 * Infinity, +Infinity, -Infinity, inf, +inf, -inf (case-insensitive).
 * No surrounding white space.  The scale is the number of digits after
 * the point, adjusted by the exponent ("1.50" -> scale 2, "15e-1" ->
 * scale 1, "1.5e3" -> 1500 scale 0).  Leading zeros of the coefficient
 * are dropped; "-0" and "-0.00" parse as zero (scale kept) with neg = 0.
 * Text that is not a number: FERRY_EINVAL, naming the text (truncated to
 * 40 bytes).  Beyond the limits: FERRY_EREJECT.
 */
int ferry_decimal_parse(ferry_decimal *out, const char *text, size_t len,
                        ferry_error *err);

/* Sets out to an integer value, scale 0. */
int ferry_decimal_from_int64(ferry_decimal *out, int64_t v, ferry_error *err);

/*
 * The value as int64 if it is integral (any fractional digits are zero)
 * and in range; otherwise FERRY_EREJECT.
 */
int ferry_decimal_to_int64(const ferry_decimal *d, int64_t *out,
                           ferry_error *err);

/*
 * Appends the text form: "-19.90", "0.05", "1500", "0", "NaN",
 * "Infinity", "-Infinity".  Exactly scale digits after the point, no
 * exponent.  Returns 0, or FERRY_ENOMEM if the buffer failed.
 */
int ferry_decimal_format(const ferry_decimal *d, ferry_buf *out);

/*
 * Orders by value: -1, 0, 1.  Trailing fractional zeros do not matter
 * (1.50 == 1.5).  -Infinity < finite < Infinity < NaN; NaN == NaN
 * (PostgreSQL's numeric ordering).
 */
int ferry_decimal_cmp(const ferry_decimal *a, const ferry_decimal *b);

int ferry_decimal_is_zero(const ferry_decimal *d);

/* Drops trailing fractional zeros: 19.900 -> 19.9, 5.00 -> 5 (scale 0). */
void ferry_decimal_normalize(ferry_decimal *d);

/*
 * Changes the scale without changing the value: more places append zeros;
 * fewer places are allowed only when the dropped digits are all zero,
 * otherwise FERRY_EREJECT ("... would lose digits") and d is unchanged.
 * Never rounds.  NaN/Infinity are left as they are.
 */
int ferry_decimal_rescale(ferry_decimal *d, int32_t scale, ferry_error *err);

/*
 * Multiplies the value by 10^power (power may be negative: -2 divides by
 * 100).  Always exact; FERRY_EREJECT only past the limits.
 */
int ferry_decimal_shift(ferry_decimal *d, int32_t power, ferry_error *err);

/*
 * Refuses a value that does not fit numeric(precision, scale) without
 * rounding: more than (precision - scale) digits before the point, or a
 * non-zero digit beyond `scale` places after it -> FERRY_EREJECT with a
 * reason naming the value and the type.  NaN fits any numeric(p,s);
 * Infinity does not (PostgreSQL refuses it in a typmod'ed column).
 * Does not change d; call ferry_decimal_rescale(d, scale) to set the scale.
 */
int ferry_decimal_check_fits(const ferry_decimal *d, int precision, int scale,
                             ferry_error *err);

/* out = a * b, exactly (scale = a.scale + b.scale).  out may alias a or b. */
int ferry_decimal_mul(ferry_decimal *out, const ferry_decimal *a,
                      const ferry_decimal *b, ferry_error *err);

/*
 * out = a / b if the quotient has a finite decimal expansion with at most
 * max_scale places; otherwise FERRY_EREJECT ("1 / 3 is not exact ...").
 * Division by zero: FERRY_EREJECT.  The result's scale is the smallest
 * that holds the quotient exactly, but at least a.scale plus t when b is
 * m * 10^t: dividing by a power of ten moves the point like a shift
 * (1999 / 100 = 19.99, 1990 / 100 = 19.90, 0 / 100 = 0.00), which is what
 * `divide_by: 100` means for integer cents.  max_scale bounds the places
 * the quotient needs, not the kept ones.  out may alias a or b.
 */
int ferry_decimal_div_exact(ferry_decimal *out, const ferry_decimal *a,
                            const ferry_decimal *b, int32_t max_scale,
                            ferry_error *err);

#endif
