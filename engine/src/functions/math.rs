//! Math functions: abs, trigonometry, exp/ln/log, bit operations, ceil/floor/round/sign/trunc,
//! mod/remainder, nanvl, power and sqrt.
//!
//! Arguments go through the standard numeric conversion (Int, Decimal, or a String that matches
//! the AWS number regex); anything else, including Null, gives Undefined. Decimal results that are
//! not finite (`acos(2)`, `ln(-1)`, `sqrt(-1)`) are Undefined.

use super::args::{decimal, int_floor, int_result, num};
use crate::decimal::RoundTo;
use crate::value::{SqlVersion, Value};

/// Applies a double → double function to a numeric argument.
fn unary(args: &[Value], f: fn(f64) -> f64) -> Value {
    match args.first().and_then(num) {
        Some(x) => Value::double(f(x)),
        None => Value::Undefined,
    }
}

/// Applies an i64 × i64 → i64 function to two arguments converted to Int (rounded down).
fn bitwise(args: &[Value], f: fn(i64, i64) -> i64) -> Value {
    match (
        args.first().and_then(int_floor),
        args.get(1).and_then(int_floor),
    ) {
        (Some(a), Some(b)) => Value::Int(f(a, b).into()),
        _ => Value::Undefined,
    }
}

/// `abs`: Int → Int, Decimal → Decimal, numeric String → Decimal.
pub fn abs(args: &[Value], _v: SqlVersion) -> Value {
    match args.first() {
        Some(Value::Int(i)) => Value::Int(i.abs()),
        Some(other) => match decimal(other) {
            Some(d) => Value::Decimal(d.abs()),
            None => Value::Undefined,
        },
        None => Value::Undefined,
    }
}

pub fn acos(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::acos)
}

pub fn asin(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::asin)
}

pub fn atan(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::atan)
}

/// `atan2(y, x)`, as Java's `Math.atan2(y, x)`.
pub fn atan2(args: &[Value], _v: SqlVersion) -> Value {
    match (args.first().and_then(num), args.get(1).and_then(num)) {
        (Some(y), Some(x)) => Value::double(y.atan2(x)),
        _ => Value::Undefined,
    }
}

pub fn bitand(args: &[Value], _v: SqlVersion) -> Value {
    bitwise(args, |a, b| a & b)
}

pub fn bitor(args: &[Value], _v: SqlVersion) -> Value {
    bitwise(args, |a, b| a | b)
}

pub fn bitxor(args: &[Value], _v: SqlVersion) -> Value {
    bitwise(args, |a, b| a ^ b)
}

/// `bitnot`: 64-bit two's complement NOT, so `bitnot(13)` = -14. The AWS doc example says 2
/// (a 4-bit NOT); that is a documented inconsistency (§3.16 item 2) and we do not reproduce it.
pub fn bitnot(args: &[Value], _v: SqlVersion) -> Value {
    match args.first().and_then(int_floor) {
        Some(a) => Value::Int((!a).into()),
        None => Value::Undefined,
    }
}

/// Rounds a numeric argument to an Int result; an Int argument is returned unchanged.
fn to_int_with(args: &[Value], mode: RoundTo) -> Value {
    match args.first() {
        Some(Value::Int(i)) => Value::Int(*i),
        Some(other) => match decimal(other) {
            Some(d) => int_result(d.to_integral(mode)),
            None => Value::Undefined,
        },
        None => Value::Undefined,
    }
}

/// `ceil`: Int result.
pub fn ceil(args: &[Value], _v: SqlVersion) -> Value {
    to_int_with(args, RoundTo::Ceil)
}

/// `floor`: Int result.
pub fn floor(args: &[Value], _v: SqlVersion) -> Value {
    to_int_with(args, RoundTo::Floor)
}

/// `round`: Int result, halves rounded away from zero (`Round(-1.5)` = -2, as documented).
pub fn round(args: &[Value], _v: SqlVersion) -> Value {
    to_int_with(args, RoundTo::HalfUp)
}

/// `sign`: Int -1, 0 or 1.
pub fn sign(args: &[Value], _v: SqlVersion) -> Value {
    match args.first().and_then(decimal) {
        Some(d) => Value::Int(d.signum().into()),
        None => Value::Undefined,
    }
}

pub fn cos(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::cos)
}

pub fn cosh(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::cosh)
}

pub fn exp(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::exp)
}

/// `ln`: natural logarithm; `ln(0)` and negative arguments are Undefined.
pub fn ln(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::ln)
}

/// `log`: base-10 logarithm.
pub fn log(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::log10)
}

pub fn sin(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::sin)
}

pub fn sinh(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::sinh)
}

pub fn sqrt(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::sqrt)
}

pub fn tan(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::tan)
}

pub fn tanh(args: &[Value], _v: SqlVersion) -> Value {
    unary(args, f64::tanh)
}

/// `mod` / `remainder`: Int,Int → Int with the sign of the dividend (Java's truncated `%`);
/// any Decimal or String operand → Decimal (`BigDecimal.remainder`). Divisor 0 → Undefined.
pub fn modulo(args: &[Value], _v: SqlVersion) -> Value {
    match (args.first(), args.get(1)) {
        (Some(Value::Int(a)), Some(Value::Int(b))) => {
            if *b == 0 {
                Value::Undefined
            } else {
                Value::Int(a % b)
            }
        }
        (Some(a), Some(b)) => match (decimal(a), decimal(b)) {
            (Some(x), Some(y)) => x.checked_rem(y).map(Value::Decimal).unwrap_or_default(),
            _ => Value::Undefined,
        },
        _ => Value::Undefined,
    }
}

/// `nanvl(x, d)`: `d` when `x` is Undefined or Null (a NaN result, such as `sqrt(-1)`, is
/// already Undefined: Decimals have no NaN); otherwise `x` unchanged.
pub fn nanvl(args: &[Value], _v: SqlVersion) -> Value {
    let first = args.first().cloned().unwrap_or_default();
    match first {
        Value::Undefined | Value::Null => args.get(1).cloned().unwrap_or_default(),
        other => other,
    }
}

/// `power(x, y)`: always a Decimal.
pub fn power(args: &[Value], _v: SqlVersion) -> Value {
    match (args.first().and_then(num), args.get(1).and_then(num)) {
        (Some(x), Some(y)) => Value::double(x.powf(y)),
        _ => Value::Undefined,
    }
}

/// `trunc(x, n)`: `x` truncated toward zero to `n` decimal places, `n` rounded down and clamped to
/// 0..34, trailing zeros stripped. An Int `x` is returned unchanged.
///
/// Choice: a whole result is returned as an Int (`trunc(2.00, 5)` = 2 in both SQL versions),
/// matching Java's `stripTrailingZeros()`.
pub fn trunc(args: &[Value], _v: SqlVersion) -> Value {
    let Some(places) = args.get(1).and_then(super::args::int_saturating) else {
        return Value::Undefined;
    };
    let places = places.clamp(0, 34) as u32;
    match args.first() {
        Some(Value::Int(i)) => Value::Int(*i),
        Some(other) => match decimal(other) {
            // A whole result is an Int; `int_result` keeps any other as a Decimal.
            Some(d) => int_result(d.trunc_places(places)),
            None => Value::Undefined,
        },
        None => Value::Undefined,
    }
}

#[cfg(test)]
#[allow(clippy::approx_constant)] // the documented examples are spelled out literally
mod tests {
    use super::*;
    use crate::value::SqlVersion::V2016_03_23 as V2;
    use Value::{Bool, Int, Null, Undefined};

    /// The Decimal of a double's shortest spelling (tests spell Decimals as literals).
    #[allow(non_snake_case)]
    fn Decimal(x: f64) -> Value {
        Value::double(x)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn arr(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    #[test]
    fn abs_doc_examples_and_types() {
        assert_eq!(abs(&[Int(-5)], V2), Int(5));
        assert_eq!(abs(&[s("-5.123")], V2), Decimal(5.123));
        assert_eq!(abs(&[Decimal(-5.123)], V2), Decimal(5.123));
        assert_eq!(abs(&[s("-5")], V2), Decimal(5.0));
        assert_eq!(abs(&[s("abc")], V2), Undefined);
        assert_eq!(abs(&[Bool(true)], V2), Undefined);
        assert_eq!(abs(&[arr(vec![Int(1)])], V2), Undefined);
        assert_eq!(abs(&[Null], V2), Undefined);
        assert_eq!(abs(&[Undefined], V2), Undefined);
        assert_eq!(abs(&[Int(i64::MIN.into())], V2), Int(9223372036854775808));
    }

    #[test]
    fn trig_doc_examples() {
        assert_eq!(acos(&[Int(0)], V2), Decimal(1.5707963267948966));
        assert_eq!(asin(&[Int(0)], V2), Decimal(0.0));
        assert_eq!(atan(&[Int(0)], V2), Decimal(0.0));
        assert_eq!(atan2(&[Int(1), Int(0)], V2), Decimal(1.5707963267948966));
        assert_eq!(cos(&[Int(0)], V2), Decimal(1.0));
        assert_eq!(cosh(&[Decimal(2.3)], V2), Decimal(5.037220649268761));
        assert_eq!(sin(&[Int(0)], V2), Decimal(0.0));
        assert_eq!(sinh(&[Decimal(2.3)], V2), Decimal(4.936961805545957));
        assert_eq!(tan(&[Int(3)], V2), Decimal(-0.1425465430742778));
        assert_eq!(tanh(&[Decimal(2.3)], V2), Decimal(0.9800963962661914));
    }

    #[test]
    fn trig_edge_cases() {
        assert_eq!(acos(&[Int(2)], V2), Undefined);
        assert_eq!(asin(&[Decimal(-1.5)], V2), Undefined);
        assert_eq!(acos(&[s("0")], V2), Decimal(1.5707963267948966));
        assert_eq!(acos(&[s("zero")], V2), Undefined);
        assert_eq!(cos(&[Null], V2), Undefined);
        assert_eq!(atan2(&[Int(1), Bool(false)], V2), Undefined);
        assert_eq!(atan2(&[s("1"), s("0")], V2), Decimal(1.5707963267948966));
        assert_eq!(cosh(&[Int(1000)], V2), Undefined);
    }

    #[test]
    fn exp_ln_log_sqrt_power() {
        assert_eq!(exp(&[Int(1)], V2), Decimal(std::f64::consts::E));
        assert_eq!(ln(&[Decimal(std::f64::consts::E)], V2), Decimal(1.0));
        assert_eq!(log(&[Int(100)], V2), Decimal(2.0));
        assert_eq!(sqrt(&[Int(9)], V2), Decimal(3.0));
        assert_eq!(power(&[Int(2), Int(5)], V2), Decimal(32.0));
        assert_eq!(
            power(&[s("2"), s("0.5")], V2),
            Decimal(std::f64::consts::SQRT_2)
        );
        assert_eq!(ln(&[Int(-1)], V2), Undefined);
        assert_eq!(ln(&[Int(0)], V2), Undefined);
        assert_eq!(log(&[Int(0)], V2), Undefined);
        assert_eq!(sqrt(&[Int(-1)], V2), Undefined);
        assert_eq!(power(&[Int(-8), Decimal(0.5)], V2), Undefined);
        assert_eq!(power(&[Int(10), Int(400)], V2), Undefined);
        assert_eq!(exp(&[Bool(true)], V2), Undefined);
        assert_eq!(power(&[Int(2), Null], V2), Undefined);
    }

    #[test]
    fn bit_functions() {
        assert_eq!(bitand(&[Int(13), Int(5)], V2), Int(5));
        assert_eq!(bitor(&[Int(8), Int(5)], V2), Int(13));
        assert_eq!(bitxor(&[Int(13), Int(5)], V2), Int(8));
        assert_eq!(bitnot(&[Int(13)], V2), Int(-14));
        assert_eq!(bitand(&[Decimal(13.9), s("5.7")], V2), Int(5));
        assert_eq!(bitor(&[Decimal(-1.5), Int(0)], V2), Int(-2));
        assert_eq!(bitnot(&[s("13")], V2), Int(-14));
        assert_eq!(bitand(&[Bool(true), Int(1)], V2), Undefined);
        assert_eq!(bitxor(&[Int(1), s("x")], V2), Undefined);
        assert_eq!(bitnot(&[Null], V2), Undefined);
        assert_eq!(bitnot(&[Decimal(1e300)], V2), Undefined);
    }

    #[test]
    fn ceil_floor_round_sign() {
        assert_eq!(ceil(&[Decimal(1.2)], V2), Int(2));
        assert_eq!(ceil(&[Decimal(-1.2)], V2), Int(-1));
        assert_eq!(floor(&[Decimal(1.2)], V2), Int(1));
        assert_eq!(floor(&[Decimal(-1.2)], V2), Int(-2));
        assert_eq!(round(&[Decimal(1.2)], V2), Int(1));
        assert_eq!(round(&[Decimal(1.5)], V2), Int(2));
        assert_eq!(round(&[Decimal(1.7)], V2), Int(2));
        assert_eq!(round(&[Decimal(-1.1)], V2), Int(-1));
        assert_eq!(round(&[Decimal(-1.5)], V2), Int(-2));
        assert_eq!(sign(&[Int(-7)], V2), Int(-1));
        assert_eq!(sign(&[Int(0)], V2), Int(0));
        assert_eq!(sign(&[Int(13)], V2), Int(1));
        assert_eq!(sign(&[s("-0.5")], V2), Int(-1));
        assert_eq!(ceil(&[Int(7)], V2), Int(7));
        assert_eq!(floor(&[s("2.5")], V2), Int(2));
        assert_eq!(ceil(&[Decimal(1e300)], V2), Decimal(1e300));
        assert_eq!(floor(&[arr(vec![Int(1), Int(2), Int(3)])], V2), Undefined);
        assert_eq!(round(&[Null], V2), Undefined);
        assert_eq!(sign(&[Bool(false)], V2), Undefined);
    }

    #[test]
    fn mod_and_remainder() {
        assert_eq!(modulo(&[Int(8), Int(3)], V2), Int(2));
        assert_eq!(modulo(&[Int(-8), Int(3)], V2), Int(-2));
        assert_eq!(modulo(&[Int(8), Int(-3)], V2), Int(2));
        assert_eq!(modulo(&[Decimal(8.5), Int(3)], V2), Decimal(2.5));
        assert_eq!(modulo(&[s("8"), Int(3)], V2), Decimal(2.0));
        assert_eq!(modulo(&[Int(8), Int(0)], V2), Undefined);
        assert_eq!(modulo(&[Decimal(8.0), Decimal(0.0)], V2), Undefined);
        assert_eq!(modulo(&[Int(i64::MIN.into()), Int(-1)], V2), Int(0));
        assert_eq!(modulo(&[Int(8), Bool(true)], V2), Undefined);
        assert_eq!(modulo(&[Null, Int(3)], V2), Undefined);
    }

    #[test]
    fn nanvl_cases() {
        assert_eq!(nanvl(&[Int(8), Int(3)], V2), Int(8));
        assert_eq!(nanvl(&[Undefined, Int(3)], V2), Int(3));
        assert_eq!(nanvl(&[Null, Int(3)], V2), Int(3));
        assert_eq!(nanvl(&[Decimal(f64::NAN), s("x")], V2), s("x"));
        assert_eq!(nanvl(&[s("NaN"), Int(3)], V2), s("NaN"));
    }

    #[test]
    fn trunc_doc_examples_and_edges() {
        assert_eq!(trunc(&[Decimal(2.3), Int(0)], V2), Int(2));
        assert_eq!(trunc(&[Decimal(2.3123), Int(2)], V2), Decimal(2.31));
        assert_eq!(trunc(&[Decimal(2.888), Int(2)], V2), Decimal(2.88));
        assert_eq!(trunc(&[Decimal(2.00), Int(5)], V2), Int(2));
        assert_eq!(trunc(&[Int(7), Int(3)], V2), Int(7));
        assert_eq!(trunc(&[Decimal(0.29), Int(2)], V2), Decimal(0.29));
        assert_eq!(trunc(&[Decimal(-2.888), Int(1)], V2), Decimal(-2.8));
        assert_eq!(trunc(&[Decimal(2.888), Int(-5)], V2), Int(2));
        assert_eq!(trunc(&[Decimal(2.888), Decimal(1.9)], V2), Decimal(2.8));
        assert_eq!(trunc(&[s("2.888"), s("2")], V2), Decimal(2.88));
        assert_eq!(trunc(&[Decimal(1.5e-10), Int(100)], V2), Decimal(1.5e-10));
        assert_eq!(trunc(&[Decimal(1e300), Int(2)], V2), Decimal(1e300));
        assert_eq!(trunc(&[Decimal(2.5), Null], V2), Undefined);
        assert_eq!(trunc(&[Bool(true), Int(1)], V2), Undefined);
    }
}
