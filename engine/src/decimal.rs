//! Exact decimal numbers: AWS IoT SQL's Decimal.
//!
//! AWS's rules engine runs on the JVM. Its Decimal is Java's `BigDecimal` with 34 significant
//! digits and HALF_EVEN rounding (`MathContext.DECIMAL128`), and AWS documents magnitudes from
//! 1E-999 up to 9.999…E999. [`Dec`] is such a number: a coefficient of at most 34 digits times a
//! power of ten. Arithmetic is exact while the exact result fits in 34 digits and rounds
//! HALF_EVEN otherwise, as `BigDecimal` does in that context; a result outside the documented
//! range is `None` (AWS: Undefined). The scale (trailing zeros) of a result is not tracked:
//! `2.50` and `2.5` are the same value and print the same (README: compatibility).
//!
//! The common case (a few digits, equal exponents) is plain `i128` arithmetic; wider
//! intermediates (a 68-digit product, a quotient, far-apart exponents) use arrow's `i256`.
//! `engine/tests/oracle_numbers.rs` checks every operation against `java.math.BigDecimal`.

use arrow::datatypes::i256;
use std::cmp::Ordering;

/// Significant digits of a Decimal (Java `MathContext.DECIMAL128`).
pub const PRECISION: u32 = 34;
/// Coefficients are below 10^34 in magnitude; so are Ints.
pub const COEFF_LIMIT: i128 = POW10[PRECISION as usize];
/// The largest adjusted exponent (AWS: up to 9.999…E999).
pub const MAX_ADJUSTED_EXP: i32 = 999;
/// The smallest adjusted exponent of a non-zero value (AWS: 1E-999).
pub const MIN_ADJUSTED_EXP: i32 = -999;

/// Powers of ten that fit in an `i128` (10^0 ..= 10^38).
pub const POW10: [i128; 39] = {
    let mut table = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `v × 10^k` when it fits in an `i128` (`None` also for a negative `k`).
pub fn scale_up(v: i128, k: i32) -> Option<i128> {
    v.checked_mul(*POW10.get(usize::try_from(k).ok()?)?)
}

/// A decimal number `coeff × 10^exp` with `|coeff| < 10^34`, within AWS's range.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    coeff: i128,
    exp: i32,
}

/// How [`Dec::to_integral`] rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundTo {
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceil,
    /// Toward zero.
    Down,
    /// To nearest, halves away from zero (AWS's `round`: 1.5 → 2, -1.5 → -2).
    HalfUp,
}

/// Decimal digits of `v` (1 for 0).
fn digits(v: i128) -> i32 {
    v.unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l as i32 + 1)
}

fn digits_wide(v: i256) -> i32 {
    v.wrapping_abs()
        .checked_ilog10()
        .map_or(1, |l| l as i32 + 1)
}

fn pow10_wide(k: u32) -> i256 {
    match POW10.get(k as usize) {
        Some(p) => i256::from_i128(*p),
        None => i256::from_i128(10).wrapping_pow(k),
    }
}

impl Dec {
    pub const ZERO: Dec = Dec { coeff: 0, exp: 0 };
    pub const ONE: Dec = Dec { coeff: 1, exp: 0 };

    /// `coeff × 10^exp`, rounded to 34 digits; `None` outside AWS's range.
    pub fn new(coeff: i128, exp: i32) -> Option<Dec> {
        if coeff.unsigned_abs() < COEFF_LIMIT as u128 {
            Dec::in_range(coeff, exp)
        } else {
            Dec::round_wide(i256::from_i128(coeff), exp, false)
        }
    }

    /// An integer as a Decimal (rounded when it has more than 34 digits).
    pub fn from_int(i: i128) -> Option<Dec> {
        Dec::new(i, 0)
    }

    /// `v × 10^-scale` as stored in an Arrow `Decimal128` column.
    pub fn from_scaled(v: i128, scale: i8) -> Option<Dec> {
        Dec::new(v, -(scale as i32))
    }

    /// The coefficient and exponent, as stored (not normalised).
    pub fn parts(self) -> (i128, i32) {
        (self.coeff, self.exp)
    }

    /// The coefficient and exponent with trailing zeros removed (zero is `(0, 0)`).
    pub fn normalized(self) -> (i128, i32) {
        if self.coeff == 0 {
            return (0, 0);
        }
        let (mut c, mut e) = (self.coeff, self.exp);
        // Divide by 10^k in big steps first; i128 division is slow.
        while c % POW10[8] == 0 {
            c /= POW10[8];
            e += 8;
        }
        while c % 10 == 0 {
            c /= 10;
            e += 1;
        }
        (c, e)
    }

    /// Checks the range of a coefficient already below 10^34.
    fn in_range(coeff: i128, exp: i32) -> Option<Dec> {
        if coeff == 0 {
            return Some(Dec::ZERO);
        }
        // The adjusted exponent is between exp and exp + 33: skip counting digits when both
        // ends are in range (always, outside of extreme values).
        if (MIN_ADJUSTED_EXP..=MAX_ADJUSTED_EXP - 33).contains(&exp) {
            return Some(Dec { coeff, exp });
        }
        let adjusted = exp.checked_add(digits(coeff) - 1)?;
        (MIN_ADJUSTED_EXP..=MAX_ADJUSTED_EXP)
            .contains(&adjusted)
            .then_some(Dec { coeff, exp })
    }

    /// Rounds `c × 10^exp` to 34 digits, HALF_EVEN. `sticky` says the exact value is a little
    /// larger in magnitude than `c` (a non-zero remainder below `c`'s last digit); callers only
    /// set it when `c` has more than 34 digits, so a digit is always dropped.
    fn round_wide(c: i256, exp: i32, sticky: bool) -> Option<Dec> {
        let negative = c.is_negative();
        let mut magnitude = c.wrapping_abs();
        let mut exp = exp;
        let n = digits_wide(magnitude);
        debug_assert!(
            !sticky || n > PRECISION as i32,
            "sticky needs dropped digits"
        );
        if n > PRECISION as i32 {
            let k = (n - PRECISION as i32) as u32;
            let p = pow10_wide(k);
            let mut q = magnitude.wrapping_div(p);
            let r = magnitude.wrapping_rem(p);
            let half = p.wrapping_div(i256::from_i128(2));
            let up = match r.cmp(&half) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => sticky || q.wrapping_rem(i256::from_i128(2)) != i256::ZERO,
            };
            if up {
                q = q.wrapping_add(i256::ONE);
            }
            exp = exp.checked_add(k as i32)?;
            if q == i256::from_i128(COEFF_LIMIT) {
                q = i256::from_i128(COEFF_LIMIT / 10);
                exp = exp.checked_add(1)?;
            }
            magnitude = q;
        }
        let coeff = magnitude.as_i128();
        Dec::in_range(if negative { -coeff } else { coeff }, exp)
    }

    /// `floor(log10(|self|))`; 0 for zero.
    pub fn adjusted_exp(self) -> i32 {
        self.exp + digits(self.coeff) - 1
    }

    pub fn is_zero(self) -> bool {
        self.coeff == 0
    }

    pub fn signum(self) -> i32 {
        self.coeff.signum() as i32
    }

    pub fn abs(self) -> Dec {
        Dec {
            coeff: self.coeff.abs(),
            exp: self.exp,
        }
    }

    pub fn checked_add(self, other: Dec) -> Option<Dec> {
        if self.exp == other.exp {
            // Both below 10^34: the sum cannot overflow an i128.
            return Dec::new(self.coeff + other.coeff, self.exp);
        }
        if self.coeff == 0 {
            return Some(other);
        }
        if other.coeff == 0 {
            return Some(self);
        }
        // Common case: align on the smaller exponent within an i128.
        let (high, low) = if self.exp > other.exp {
            (self, other)
        } else {
            (other, self)
        };
        if let Some(sum) =
            scale_up(high.coeff, high.exp - low.exp).and_then(|h| h.checked_add(low.coeff))
        {
            return Dec::new(sum, low.exp);
        }
        Dec::add_wide(self, other)
    }

    /// Addition with far-apart exponents, in `i256`.
    fn add_wide(a: Dec, b: Dec) -> Option<Dec> {
        // `big` has the larger magnitude order.
        let (big, small) = if a.adjusted_exp() >= b.adjusted_exp() {
            (a, b)
        } else {
            (b, a)
        };
        let (big_adj, small_adj) = (big.adjusted_exp(), small.adjusted_exp());
        let wide =
            |d: Dec, shift: i32| i256::from_i128(d.coeff).wrapping_mul(pow10_wide(shift as u32));
        if big_adj - small_adj <= 1 {
            // Close magnitudes (cancellation possible): exponents are at most 34 apart, exact.
            let e = big.exp.min(small.exp);
            let sum = wide(big, big.exp - e).wrapping_add(wide(small, small.exp - e));
            return Dec::round_wide(sum, e, false);
        }
        // The result's 34th digit is at or above 10^(big_adj - 34); keep four guard digits and
        // fold whatever `small` has below them into a sticky flag.
        let t = big_adj - 38;
        let big_wide = wide(big, big.exp - t);
        let (small_wide, sticky) = if small.exp >= t {
            (wide(small, small.exp - t), false)
        } else {
            let k = (t - small.exp) as u32;
            if k > 38 {
                (i256::ZERO, true)
            } else {
                let p = POW10[k as usize];
                (i256::from_i128(small.coeff / p), small.coeff % p != 0)
            }
        };
        let mut sum = big_wide.wrapping_add(small_wide);
        if sticky && sum.is_negative() != (small.coeff < 0) {
            // The dropped part points toward zero: step one unit toward zero, and the exact
            // value is then a little above the new magnitude.
            sum = sum.wrapping_sub(sum.signum());
        }
        Dec::round_wide(sum, t, sticky)
    }

    pub fn checked_sub(self, other: Dec) -> Option<Dec> {
        self.checked_add(-other)
    }

    pub fn checked_mul(self, other: Dec) -> Option<Dec> {
        let exp = self.exp.checked_add(other.exp)?;
        match self.coeff.checked_mul(other.coeff) {
            Some(c) => Dec::new(c, exp),
            None => Dec::round_wide(
                i256::from_i128(self.coeff).wrapping_mul(i256::from_i128(other.coeff)),
                exp,
                false,
            ),
        }
    }

    /// `self / other` rounded to 34 digits (`BigDecimal.divide(d, DECIMAL128)`); `None` for a
    /// zero divisor.
    pub fn checked_div(self, other: Dec) -> Option<Dec> {
        if other.coeff == 0 {
            return None;
        }
        if self.coeff == 0 {
            return Some(Dec::ZERO);
        }
        let exp = self.exp.checked_sub(other.exp)?;
        if self.coeff % other.coeff == 0 {
            return Dec::new(self.coeff / other.coeff, exp);
        }
        // Scale the dividend so the quotient has at least 35 digits, then round with the
        // remainder as sticky.
        let k = (PRECISION as i32 + 1 + digits(other.coeff) - digits(self.coeff)) as u32;
        let n = i256::from_i128(self.coeff).wrapping_mul(pow10_wide(k));
        let d = i256::from_i128(other.coeff);
        let q = n.wrapping_div(d);
        let r = n.wrapping_rem(d);
        Dec::round_wide(q, exp.checked_sub(k as i32)?, r != i256::ZERO)
    }

    /// Java's `BigDecimal.remainder(d, DECIMAL128)`: `self - trunc(self / d) × d`, with the
    /// dividend's sign; `None` for a zero divisor or when the integral quotient needs more than
    /// 34 significant digits (Java throws "Division impossible").
    pub fn checked_rem(self, other: Dec) -> Option<Dec> {
        if other.coeff == 0 {
            return None;
        }
        if self.coeff == 0 || self.adjusted_exp() < other.adjusted_exp() {
            return Some(self);
        }
        let e = self.exp.min(other.exp);
        let scale = |d: Dec| {
            i256::from_i128(10)
                .checked_pow((d.exp - e) as u32)
                .and_then(|p| i256::from_i128(d.coeff).checked_mul(p))
        };
        let (Some(a), Some(b)) = (scale(self), scale(other)) else {
            // Exponents too far apart to align: only an exact multiple has a quotient of at
            // most 34 significant digits (then the remainder is zero).
            return self.is_exact_multiple_of(other).then_some(Dec::ZERO);
        };
        let q = a.wrapping_div(b);
        if digits_wide(strip_zeros_wide(q)) > PRECISION as i32 {
            return None;
        }
        Dec::round_wide(a.wrapping_sub(q.wrapping_mul(b)), e, false)
    }

    /// True when `self / other` is a whole number of at most 34 significant digits.
    fn is_exact_multiple_of(self, other: Dec) -> bool {
        let Some(q) = self.checked_div(other).filter(|q| q.is_integral()) else {
            return false;
        };
        // Check q × other = self exactly (a rounded product could hide a remainder).
        let product = i256::from_i128(q.coeff).wrapping_mul(i256::from_i128(other.coeff));
        let mut exp = q.exp + other.exp;
        let stripped = strip_zeros_wide(product);
        exp += digits_wide(product) - digits_wide(stripped);
        let (c, e) = self.normalized();
        stripped == i256::from_i128(c) && exp == e
    }

    /// Rounds to a whole number.
    pub fn to_integral(self, mode: RoundTo) -> Dec {
        if self.exp >= 0 {
            return self;
        }
        let k = (-self.exp) as usize;
        let (q, r) = match POW10.get(k) {
            Some(p) => (self.coeff / p, self.coeff % p),
            // |self| < 1.
            None => (0, self.coeff),
        };
        let step = match mode {
            RoundTo::Down => 0,
            RoundTo::Floor => i128::from(r < 0).wrapping_neg(),
            RoundTo::Ceil => i128::from(r > 0),
            RoundTo::HalfUp => {
                let twice = r.unsigned_abs().saturating_mul(2);
                let at_least_half = POW10.get(k).is_some_and(|p| twice >= *p as u128);
                if at_least_half { r.signum() } else { 0 }
            }
        };
        Dec {
            coeff: q + step,
            exp: 0,
        }
    }

    /// Truncates to `places` decimal places (AWS `trunc`).
    pub fn trunc_places(self, places: u32) -> Dec {
        let target = -(places as i32);
        if self.exp >= target {
            return self;
        }
        let k = (target - self.exp) as usize;
        match POW10.get(k) {
            Some(p) => Dec {
                coeff: self.coeff / p,
                exp: target,
            },
            None => Dec::ZERO,
        }
    }

    /// True when the value is a whole number.
    pub fn is_integral(self) -> bool {
        if self.exp >= 0 || self.coeff == 0 {
            return true;
        }
        POW10
            .get((-self.exp) as usize)
            .is_some_and(|p| self.coeff % p == 0)
    }

    /// The value as an AWS Int (`|v| < 10^34`) when it is a whole number in range.
    pub fn to_int(self) -> Option<i128> {
        if self.exp >= 0 {
            let v = scale_up(self.coeff, self.exp)?;
            return (v.unsigned_abs() < COEFF_LIMIT as u128).then_some(v);
        }
        let p = POW10.get((-self.exp) as usize);
        match p {
            Some(p) if self.coeff % p == 0 => Some(self.coeff / p),
            None if self.coeff == 0 => Some(0),
            _ => None,
        }
    }

    /// The nearest double (for functions AWS documents as double precision).
    pub fn to_f64(self) -> f64 {
        const EXACT: i128 = 1 << 53;
        if self.coeff.abs() < EXACT && (-22..=22).contains(&self.exp) {
            // Both operands exact in f64: one correctly rounded operation.
            let c = self.coeff as f64;
            let p = 10f64.powi(self.exp.abs());
            return if self.exp >= 0 { c * p } else { c / p };
        }
        format!("{}e{}", self.coeff, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// A double as the Decimal of its shortest round-trip spelling (Java's
    /// `BigDecimal.valueOf(double)`); `None` for NaN, infinities and out-of-range values.
    pub fn from_f64(d: f64) -> Option<Dec> {
        if !d.is_finite() {
            return None;
        }
        if d == 0.0 {
            return Some(Dec::ZERO);
        }
        Dec::parse(format!("{d:e}").as_bytes())
    }
}

/// `v` without trailing decimal zeros (zero stays zero).
fn strip_zeros_wide(mut v: i256) -> i256 {
    let ten = i256::from_i128(10);
    while v != i256::ZERO && v.wrapping_rem(ten) == i256::ZERO {
        v = v.wrapping_div(ten);
    }
    v
}

impl std::ops::Neg for Dec {
    type Output = Dec;
    fn neg(self) -> Dec {
        Dec {
            coeff: -self.coeff,
            exp: self.exp,
        }
    }
}

impl PartialEq for Dec {
    fn eq(&self, other: &Dec) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dec {}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Dec) -> Ordering {
        if self.exp == other.exp {
            return self.coeff.cmp(&other.coeff);
        }
        let (sa, sb) = (self.coeff.signum(), other.coeff.signum());
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let by_magnitude = match self.adjusted_exp().cmp(&other.adjusted_exp()) {
            Ordering::Equal => {
                // Same order of magnitude: the coefficient with the higher exponent has fewer
                // digits, so scaling it up stays below 10^34.
                let (a, b) = (self.coeff.abs(), other.coeff.abs());
                if self.exp > other.exp {
                    (a * POW10[(self.exp - other.exp) as usize]).cmp(&b)
                } else {
                    a.cmp(&(b * POW10[(other.exp - self.exp) as usize]))
                }
            }
            ord => ord,
        };
        if sa > 0 {
            by_magnitude
        } else {
            by_magnitude.reverse()
        }
    }
}

mod parse;
#[cfg(test)]
mod tests;
