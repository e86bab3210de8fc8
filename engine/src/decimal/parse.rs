//! Decimal text → [`Dec`]: JSON numbers and AWS's numeric strings, rounded HALF_EVEN to 34
//! significant digits, `None` outside AWS's range.

use arrow::datatypes::i256;

use super::{Dec, PRECISION, digits_wide};

impl Dec {
    /// Parses a JSON number or an AWS numeric string (`-?\d+(\.\d+)?([eE][+-]?\d+)?`; the
    /// caller checks which grammar applies). More than 34 significant digits round HALF_EVEN.
    /// `None` on a syntax error or outside AWS's range.
    pub fn parse(text: &[u8]) -> Option<Dec> {
        Dec::parse_short(text).or_else(|| Dec::parse_any(text))
    }

    /// The common case in 64-bit arithmetic: `-?\d+(\.\d+)?` with at most 18 digits.
    fn parse_short(text: &[u8]) -> Option<Dec> {
        let (negative, digits) = match text.split_first()? {
            (b'-', rest) => (true, rest),
            _ => (false, text),
        };
        if digits.len() > 19 || digits.is_empty() {
            return None;
        }
        let (mut v, mut frac, mut seen_point) = (0u64, 0i32, false);
        for (i, &b) in digits.iter().enumerate() {
            match b {
                b'0'..=b'9' => {
                    v = v * 10 + (b - b'0') as u64;
                    frac += i32::from(seen_point);
                }
                b'.' if !seen_point && i > 0 && i + 1 < digits.len() => seen_point = true,
                _ => return None,
            }
        }
        let v = v as i128;
        Dec::in_range(if negative { -v } else { v }, -frac)
    }

    fn parse_any(text: &[u8]) -> Option<Dec> {
        let mut i = 0;
        let negative = text.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let mut coeff: i128 = 0;
        let mut kept = 0u32; // significant digits in `coeff`
        let mut dropped_exp = 0i32; // integer digits not kept (each multiplies by 10)
        let mut first_dropped: Option<u8> = None;
        let mut sticky = false;
        let mut frac_digits = 0i32;
        let mut any_digit = false;
        let mut in_fraction = false;
        while i < text.len() {
            let b = text[i];
            match b {
                b'0'..=b'9' => {
                    any_digit = true;
                    let d = b - b'0';
                    if kept < PRECISION + 1 && (coeff != 0 || d != 0) {
                        // Keep one digit beyond 34 so rounding sees it, like a guard digit.
                        coeff = coeff * 10 + d as i128;
                        kept += 1;
                        if in_fraction {
                            frac_digits += 1;
                        }
                    } else if coeff == 0 && d == 0 {
                        if in_fraction {
                            frac_digits += 1;
                        }
                    } else {
                        if first_dropped.is_none() {
                            first_dropped = Some(d);
                        } else {
                            sticky |= d != 0;
                        }
                        if !in_fraction {
                            dropped_exp += 1;
                        }
                    }
                }
                b'.' if !in_fraction => in_fraction = true,
                b'e' | b'E' => break,
                _ => return None,
            }
            i += 1;
        }
        if !any_digit {
            return None;
        }
        let mut exp: i64 = 0;
        if i < text.len() {
            i += 1; // 'e'
            let exp_negative = match text.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            if i >= text.len() {
                return None;
            }
            for &b in &text[i..] {
                if !b.is_ascii_digit() {
                    return None;
                }
                // Saturate: anything this large is out of range anyway.
                exp = (exp * 10 + (b - b'0') as i64).min(1 << 40);
            }
            if exp_negative {
                exp = -exp;
            }
        }
        let exp = exp + dropped_exp as i64 - frac_digits as i64;
        let exp = i32::try_from(exp.clamp(i32::MIN as i64 / 2, i32::MAX as i64 / 2)).ok()?;
        if first_dropped.is_none() && kept <= PRECISION {
            return Dec::in_range(if negative { -coeff } else { coeff }, exp);
        }
        let mut wide = i256::from_i128(coeff);
        let mut wide_exp = exp;
        let mut sticky_all = false;
        if let Some(d) = first_dropped {
            // Append the first dropped digit as a guard and keep the rest as sticky.
            wide = wide
                .wrapping_mul(i256::from_i128(10))
                .wrapping_add(i256::from_i128(d as i128));
            wide_exp -= 1;
            sticky_all = sticky;
        }
        if negative {
            wide = wide.wrapping_neg();
        }
        if digits_wide(wide) <= PRECISION as i32 {
            debug_assert!(!sticky_all);
            return Dec::in_range(wide.as_i128(), wide_exp);
        }
        Dec::round_wide(wide, wide_exp, sticky_all)
    }
}
