//! AWS IoT SQL operators on [`Value`]s, following the operator tables of the reference (§3.5).
//!
//! Numbers are exact ([`crate::decimal`]): Int arithmetic whose result has more than 34 digits
//! becomes a Decimal rounded to 34 digits, Decimal arithmetic rounds HALF_EVEN to 34 digits.
//! Choices where AWS is silent (README, compatibility): division or modulo by zero is Undefined; a Null operand of an arithmetic
//! operator gives Null (the conversion table maps Null to Null for numbers); Int / Int truncates
//! toward zero, as the operator table says.

use crate::ast::{BinaryOp, UnaryOp};
use crate::decimal::{COEFF_LIMIT, Dec};
use crate::value::{Value, values_equal};

pub fn unary(op: UnaryOp, v: Value) -> Value {
    match op {
        UnaryOp::Not => v.to_bool().map(|b| Value::Bool(!b)).unwrap_or_default(),
        UnaryOp::Neg => match v {
            Value::Null => Value::Null,
            other => match other.to_number() {
                Some(Value::Int(i)) => Value::Int(-i),
                Some(Value::Decimal(d)) => Value::Decimal(-d),
                _ => Value::Undefined,
            },
        },
    }
}

pub fn binary(op: BinaryOp, l: Value, r: Value) -> Value {
    match op {
        BinaryOp::And | BinaryOp::Or => match (l.to_bool(), r.to_bool()) {
            (Some(a), Some(b)) => Value::Bool(if op == BinaryOp::And { a && b } else { a || b }),
            _ => Value::Undefined,
        },
        BinaryOp::Eq => l.aws_eq(&r),
        BinaryOp::NotEq => match l.aws_eq(&r) {
            Value::Bool(_) if l.is_null() && r.is_null() => Value::Bool(false),
            Value::Bool(b) => Value::Bool(!b),
            other => other,
        },
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => compare(op, &l, &r),
        BinaryOp::Add => add(l, r),
        BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => arithmetic(op, &l, &r),
    }
}

fn compare(op: BinaryOp, l: &Value, r: &Value) -> Value {
    let ord = match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        _ => match (l.to_decimal(), r.to_decimal()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => return Value::Undefined,
        },
    };
    Value::Bool(match op {
        BinaryOp::Lt => ord.is_lt(),
        BinaryOp::LtEq => ord.is_le(),
        BinaryOp::Gt => ord.is_gt(),
        _ => ord.is_ge(),
    })
}

/// `+`: string concatenation when either side is a String, else numeric addition.
fn add(l: Value, r: Value) -> Value {
    if let Value::String(s) = &l {
        return match r.to_string_std() {
            Some(rs) => Value::String(format!("{s}{rs}")),
            None => Value::Undefined,
        };
    }
    if let Value::String(rs) = &r {
        return match l.to_string_std() {
            Some(ls) => Value::String(format!("{ls}{rs}")),
            None => Value::Undefined,
        };
    }
    arithmetic(BinaryOp::Add, &l, &r)
}

fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> Value {
    if (l.is_null() || r.is_null())
        && (l.is_null() || l.to_number().is_some())
        && (r.is_null() || r.to_number().is_some())
    {
        return Value::Null;
    }
    let (Some(a), Some(b)) = (l.to_number(), r.to_number()) else {
        return Value::Undefined;
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_op(op, x, y),
        (a, b) => match (a.to_decimal(), b.to_decimal()) {
            (Some(x), Some(y)) => decimal_op(op, x, y).map(Value::Decimal).unwrap_or_default(),
            _ => Value::Undefined,
        },
    }
}

/// `+ - * / %` on Decimals: exact, or rounded to 34 digits; `None` (Undefined) for a zero
/// divisor or a result outside AWS's range.
pub fn decimal_op(op: BinaryOp, x: Dec, y: Dec) -> Option<Dec> {
    match op {
        BinaryOp::Add => x.checked_add(y),
        BinaryOp::Sub => x.checked_sub(y),
        BinaryOp::Mul => x.checked_mul(y),
        BinaryOp::Div => x.checked_div(y),
        _ => x.checked_rem(y),
    }
}

fn int_op(op: BinaryOp, x: i128, y: i128) -> Value {
    // Ints are below 10^34: sums, differences, quotients and remainders fit in an i128.
    let exact = match op {
        BinaryOp::Add => Some(x + y),
        BinaryOp::Sub => Some(x - y),
        BinaryOp::Mul => x.checked_mul(y),
        BinaryOp::Div | BinaryOp::Mod if y == 0 => return Value::Undefined,
        BinaryOp::Div => Some(x / y),
        _ => Some(x % y),
    };
    match exact {
        Some(v) if v.unsigned_abs() < COEFF_LIMIT as u128 => Value::Int(v),
        // Beyond 34 digits: a Decimal, rounded to 34 digits.
        _ => Dec::from_int(x)
            .zip(Dec::from_int(y))
            .and_then(|(a, b)| decimal_op(op, a, b))
            .map(Value::Decimal)
            .unwrap_or_default(),
    }
}

/// `x IN (a, b, ...)`; with a single Array operand, membership in that array.
pub fn in_list(x: &Value, list: Vec<Value>) -> Value {
    if x.is_undefined() {
        return Value::Undefined;
    }
    let items = match list.as_slice() {
        [Value::Array(items)] => items.as_slice(),
        _ => list.as_slice(),
    };
    Value::Bool(
        items
            .iter()
            .any(|v| !v.is_undefined() && values_equal(x, v)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use BinaryOp::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn logical_table() {
        assert_eq!(binary(And, Value::Bool(true), s("TRUE")), Value::Bool(true));
        assert_eq!(
            binary(Or, Value::Bool(false), s("false")),
            Value::Bool(false)
        );
        assert_eq!(
            binary(And, Value::Bool(true), Value::Int(1)),
            Value::Undefined
        );
        assert_eq!(
            binary(Or, Value::Bool(true), Value::Undefined),
            Value::Undefined
        );
        assert_eq!(unary(UnaryOp::Not, s("True")), Value::Bool(false));
        assert_eq!(unary(UnaryOp::Not, Value::Int(0)), Value::Undefined);
    }

    #[test]
    fn comparison_table() {
        assert_eq!(
            binary(Gt, Value::Int(3), Value::decimal("2.5")),
            Value::Bool(true)
        );
        assert_eq!(binary(Lt, s("1.5"), Value::Int(2)), Value::Bool(true));
        assert_eq!(binary(Lt, s("abc"), Value::Int(2)), Value::Undefined);
        assert_eq!(binary(Lt, s("a"), s("b")), Value::Undefined);
        assert_eq!(binary(GtEq, Value::Null, Value::Int(2)), Value::Undefined);
        assert_eq!(
            binary(Gt, Value::Bool(true), Value::Int(0)),
            Value::Undefined
        );
    }

    #[test]
    fn equality_table() {
        assert_eq!(
            binary(Eq, Value::Int(2), Value::decimal("2.0")),
            Value::Bool(true)
        );
        assert_eq!(binary(Eq, s("a"), s("a")), Value::Bool(true));
        assert_eq!(binary(Eq, s("1"), Value::Int(1)), Value::Bool(false));
        assert_eq!(binary(NotEq, s("1"), Value::Int(1)), Value::Bool(true));
        assert_eq!(binary(NotEq, Value::Null, Value::Null), Value::Bool(false));
        assert_eq!(
            binary(Eq, Value::Undefined, Value::Int(1)),
            Value::Undefined
        );
        assert_eq!(
            binary(NotEq, Value::Int(1), Value::Undefined),
            Value::Undefined
        );
        let a = Value::Array(vec![Value::Int(1), s("x")]);
        let b = Value::Array(vec![s("x"), Value::Int(1)]);
        assert_eq!(binary(Eq, a.clone(), a.clone()), Value::Bool(true));
        assert_eq!(binary(Eq, a, b), Value::Bool(false));
    }

    #[test]
    fn arithmetic_table() {
        assert_eq!(binary(Add, Value::Int(1), Value::Int(2)), Value::Int(3));
        assert_eq!(
            binary(Add, Value::Int(1), Value::decimal("0.5")),
            Value::decimal("1.5")
        );
        assert_eq!(binary(Add, s("a"), Value::Int(1)), s("a1"));
        assert_eq!(binary(Add, Value::Int(1), s("a")), s("1a"));
        assert_eq!(
            binary(Add, Value::Bool(true), Value::Int(1)),
            Value::Undefined
        );
        assert_eq!(binary(Sub, s("5"), Value::Int(2)), Value::Int(3));
        assert_eq!(binary(Sub, s("x"), Value::Int(2)), Value::Undefined);
        assert_eq!(
            binary(Mul, Value::decimal("1.5"), Value::Int(2)),
            Value::decimal("3.0")
        );
        assert_eq!(binary(Div, Value::Int(7), Value::Int(2)), Value::Int(3));
        assert_eq!(binary(Div, Value::Int(-7), Value::Int(2)), Value::Int(-3));
        assert_eq!(
            binary(Div, Value::Int(7), Value::decimal("2.0")),
            Value::decimal("3.5")
        );
        assert_eq!(binary(Div, Value::Int(7), Value::Int(0)), Value::Undefined);
        assert_eq!(binary(Mod, Value::Int(8), Value::Int(3)), Value::Int(2));
        assert_eq!(binary(Mod, Value::Int(-8), Value::Int(3)), Value::Int(-2));
        assert_eq!(
            binary(Add, Value::Int(i64::MAX as i128), Value::Int(1)),
            Value::Int(9223372036854775808)
        );
        let max = Value::Int(9999999999999999999999999999999999);
        assert_eq!(
            binary(Add, max.clone(), Value::Int(1)),
            Value::decimal("1E34")
        );
        assert_eq!(
            binary(Mul, max.clone(), max),
            Value::decimal("9.999999999999999999999999999999998E67")
        );
        assert_eq!(
            binary(Add, Value::decimal("0.1"), Value::decimal("0.2")),
            Value::decimal("0.3")
        );
        assert_eq!(binary(Add, Value::Null, Value::Int(1)), Value::Null);
        assert_eq!(binary(Mul, Value::Null, s("q")), Value::Undefined);
    }

    #[test]
    fn in_operator() {
        assert_eq!(
            in_list(&Value::Int(2), vec![Value::Int(1), Value::decimal("2.0")]),
            Value::Bool(true)
        );
        assert_eq!(
            in_list(&s("a"), vec![Value::Array(vec![s("b"), s("a")])]),
            Value::Bool(true)
        );
        assert_eq!(
            in_list(&Value::Undefined, vec![Value::Int(1)]),
            Value::Undefined
        );
    }
}
