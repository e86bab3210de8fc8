//! Argument conversions shared by the pure functions (the "standard conversions" of §3.3 as the
//! function pages apply them) and small result helpers.
//!
//! Choice (README compatibility): every function whose table row lists Null returns Undefined for
//! it, and the rows that only say "std conv" are treated the same way, so a Null argument to a
//! numeric or string function gives Undefined, never Null.

use crate::value::Value;

/// A numeric argument as f64: Int, Decimal, or a String matching the AWS number regex.
pub fn num(v: &Value) -> Option<f64> {
    v.to_decimal()
}

/// An Int argument, "rounded down" from a Decimal or numeric String. `None` when not convertible
/// or out of the i64 range.
pub fn int_floor(v: &Value) -> Option<i64> {
    v.to_int_floor()
}

/// Like [`int_floor`] but saturating: huge magnitudes clamp to i64::MIN/MAX instead of failing.
/// Used for indices and widths, where only the clamped value matters (e.g. `-2.411E247`).
pub fn int_saturating(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => {
            let d = v.to_decimal()?.floor();
            if d.is_nan() {
                None
            } else if d >= 9.2e18 {
                Some(i64::MAX)
            } else if d <= -9.2e18 {
                Some(i64::MIN)
            } else {
                Some(d as i64)
            }
        }
    }
}

/// A String argument through the standard conversion (Null/Undefined → `None`).
pub fn text(v: &Value) -> Option<String> {
    v.to_string_std()
}

/// A Decimal result; NaN and infinities are Undefined.
pub fn dec(d: f64) -> Value {
    if d.is_finite() {
        Value::Decimal(d)
    } else {
        Value::Undefined
    }
}

/// An integral f64 as an Int result; a value outside i64 stays a Decimal, non-finite is Undefined.
pub fn int_result(d: f64) -> Value {
    match crate::value::f64_to_i64(d) {
        Some(i) => Value::Int(i),
        None => dec(d),
    }
}
