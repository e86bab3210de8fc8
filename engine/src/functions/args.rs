//! Argument conversions shared by the pure functions (the "standard conversions" of §3.3 as the
//! function pages apply them) and small result helpers.
//!
//! Choice (README compatibility): every function whose table row lists Null returns Undefined for
//! it, and the rows that only say "std conv" are treated the same way, so a Null argument to a
//! numeric or string function gives Undefined, never Null.

use crate::decimal::{Dec, RoundTo};
use crate::value::Value;

/// A numeric argument as a double (for the functions AWS documents as double precision): Int,
/// Decimal, or a String matching the AWS number regex.
pub fn num(v: &Value) -> Option<f64> {
    v.to_f64()
}

/// A numeric argument as an exact Decimal.
pub fn decimal(v: &Value) -> Option<Dec> {
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
    let d = v.to_decimal()?;
    let whole = d.to_integral(RoundTo::Floor).to_int();
    Some(match whole.map(i64::try_from) {
        Some(Ok(i)) => i,
        _ if d.signum() > 0 => i64::MAX,
        _ => i64::MIN,
    })
}

/// A String argument through the standard conversion (Null/Undefined → `None`).
pub fn text(v: &Value) -> Option<String> {
    v.to_string_std()
}

/// A whole Decimal as an Int result; beyond 34 digits it stays a Decimal.
pub fn int_result(d: Dec) -> Value {
    match d.to_int() {
        Some(i) => Value::Int(i),
        None => Value::Decimal(d),
    }
}
