//! AWS IoT SQL operators on [`Value`]s, following the operator tables of the reference (§3.5).
//!
//! Choices where AWS is silent (README, compatibility): Int arithmetic that overflows 64 bits
//! becomes Decimal; division or modulo by zero is Undefined; a Null operand of an arithmetic
//! operator gives Null (the conversion table maps Null to Null for numbers); Int / Int truncates
//! toward zero, as the operator table says.

use crate::ast::{BinaryOp, UnaryOp};
use crate::value::{Value, values_equal};

pub fn unary(op: UnaryOp, v: Value) -> Value {
    match op {
        UnaryOp::Not => v.to_bool().map(|b| Value::Bool(!b)).unwrap_or_default(),
        UnaryOp::Neg => match v {
            Value::Null => Value::Null,
            other => match other.to_number() {
                Some(Value::Int(i)) => i
                    .checked_neg()
                    .map(Value::Int)
                    .unwrap_or(Value::Decimal(-(i as f64))),
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
        (Value::Int(a), Value::Int(b)) => a.partial_cmp(b),
        _ => match (l.to_decimal(), r.to_decimal()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => return Value::Undefined,
        },
    };
    let Some(ord) = ord else {
        return Value::Undefined;
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
        (a, b) => {
            let (x, y) = (
                a.to_decimal().unwrap_or(f64::NAN),
                b.to_decimal().unwrap_or(f64::NAN),
            );
            decimal(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div if y == 0.0 => return Value::Undefined,
                BinaryOp::Div => x / y,
                BinaryOp::Mod if y == 0.0 => return Value::Undefined,
                _ => x % y,
            })
        }
    }
}

fn int_op(op: BinaryOp, x: i64, y: i64) -> Value {
    let exact = match op {
        BinaryOp::Add => x.checked_add(y),
        BinaryOp::Sub => x.checked_sub(y),
        BinaryOp::Mul => x.checked_mul(y),
        BinaryOp::Div if y == 0 => return Value::Undefined,
        BinaryOp::Div => x.checked_div(y),
        BinaryOp::Mod if y == 0 => return Value::Undefined,
        _ => x.checked_rem(y),
    };
    match exact {
        Some(v) => Value::Int(v),
        None => {
            let (a, b) = (x as f64, y as f64);
            decimal(match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => (a / b).trunc(),
                _ => 0.0,
            })
        }
    }
}

/// A Decimal result; NaN and infinities are Undefined.
pub fn decimal(d: f64) -> Value {
    if d.is_finite() {
        Value::Decimal(d)
    } else {
        Value::Undefined
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
            binary(Gt, Value::Int(3), Value::Decimal(2.5)),
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
            binary(Eq, Value::Int(2), Value::Decimal(2.0)),
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
            binary(Add, Value::Int(1), Value::Decimal(0.5)),
            Value::Decimal(1.5)
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
            binary(Mul, Value::Decimal(1.5), Value::Int(2)),
            Value::Decimal(3.0)
        );
        assert_eq!(binary(Div, Value::Int(7), Value::Int(2)), Value::Int(3));
        assert_eq!(binary(Div, Value::Int(-7), Value::Int(2)), Value::Int(-3));
        assert_eq!(
            binary(Div, Value::Int(7), Value::Decimal(2.0)),
            Value::Decimal(3.5)
        );
        assert_eq!(binary(Div, Value::Int(7), Value::Int(0)), Value::Undefined);
        assert_eq!(binary(Mod, Value::Int(8), Value::Int(3)), Value::Int(2));
        assert_eq!(binary(Mod, Value::Int(-8), Value::Int(3)), Value::Int(-2));
        assert_eq!(
            binary(Add, Value::Int(i64::MAX), Value::Int(1)),
            Value::Decimal(9.223372036854776e18)
        );
        assert_eq!(binary(Add, Value::Null, Value::Int(1)), Value::Null);
        assert_eq!(binary(Mul, Value::Null, s("q")), Value::Undefined);
    }

    #[test]
    fn in_operator() {
        assert_eq!(
            in_list(&Value::Int(2), vec![Value::Int(1), Value::Decimal(2.0)]),
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
