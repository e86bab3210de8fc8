//! IoT SQL expressions → DataFusion physical expressions, for one input type signature.
//!
//! A signature fixes the Arrow type of every input column for a group of messages (Int64,
//! Decimal128 at a per-batch scale, Utf8, Boolean, or absent). Knowing the types, each AWS operator maps to DataFusion
//! operators whose result is exactly AWS's, or the expression is declared not vectorisable for
//! that signature ([`NotVectorisable`]) and the group takes the row path. The mapping:
//!
//! - an absent input is Undefined, and in this subset Undefined propagates through every
//!   operator, so it is folded away at compile time ([`Compiled::Undefined`]);
//! - comparisons and `+ - * /` between numbers: Int64 with Int64 stays integer (overflow and
//!   division by zero raise an error, and the group falls back to the exact row path); any
//!   Decimal operand goes through the exact kernels of [`super::decimal_exprs`] (an Undefined
//!   result, such as a division by zero, is NULL);
//! - `=`/`<>` between different types are constant false/true (AWS's "mismatched types");
//! - AND/OR/NOT on Booleans, through [`StrictLogic`] where an operand may be NULL, because AWS
//!   gives Undefined where SQL's three-valued logic would give false or true;
//! - strings in arithmetic or ordering comparisons convert by value in AWS: not vectorised.

use crate::ast::{BinaryOp, Expr, UnaryOp};
use crate::value::Value;
use arrow::datatypes::DataType;
use datafusion_common::ScalarValue;
use datafusion_expr_common::operator::Operator;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal, NotExpr};

use crate::decimal::scale_up;

use super::decimal_exprs::{DECIMAL_TYPE, DecimalExpr, DecimalOp};
use super::guards::StrictLogic;
use std::sync::Arc;

/// The type of one input column in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Absent,
    Int,
    Dec,
    Str,
    Bool,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Absent => DataType::Null,
            Kind::Int => DataType::Int64,
            Kind::Dec => DECIMAL_TYPE,
            Kind::Str => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
        }
    }
}

#[derive(Debug)]
pub struct NotVectorisable;

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// Statically Undefined for this signature.
    Undefined,
    Expr {
        expr: Arc<dyn PhysicalExpr>,
        kind: Kind,
        nullable: bool,
    },
}

/// Resolves the input columns an expression reads: `Some(index)` for a column.
pub trait Inputs {
    fn column_of(&self, e: &Expr) -> Option<usize>;
}

type Result<T> = std::result::Result<T, NotVectorisable>;

pub fn compile(e: &Expr, inputs: &dyn Inputs, kinds: &[Kind]) -> Result<Compiled> {
    if let Some(idx) = inputs.column_of(e) {
        let kind = kinds[idx];
        if kind == Kind::Absent {
            return Ok(Compiled::Undefined);
        }
        return Ok(expr(
            Arc::new(Column::new(&format!("c{idx}"), idx)),
            kind,
            false,
        ));
    }
    match e {
        Expr::Literal(v) => literal(v),
        Expr::Unary(op, x) => unary(*op, compile(x, inputs, kinds)?),
        Expr::Binary(op, l, r) => {
            binary(*op, compile(l, inputs, kinds)?, compile(r, inputs, kinds)?)
        }
        _ => Err(NotVectorisable),
    }
}

fn expr(e: Arc<dyn PhysicalExpr>, kind: Kind, nullable: bool) -> Compiled {
    Compiled::Expr {
        expr: e,
        kind,
        nullable,
    }
}

fn lit(v: ScalarValue) -> Arc<dyn PhysicalExpr> {
    Arc::new(Literal::new(v))
}

fn literal(v: &Value) -> Result<Compiled> {
    Ok(match v {
        Value::Int(i) => {
            let i = i64::try_from(*i).map_err(|_| NotVectorisable)?;
            expr(lit(ScalarValue::Int64(Some(i))), Kind::Int, false)
        }
        Value::Decimal(d) => {
            let (coeff, exp) = d.normalized();
            let (v, scale) = match exp {
                ..=0 if exp >= -38 => (coeff, -exp as i8),
                1.. => (scale_up(coeff, exp).ok_or(NotVectorisable)?, 0),
                _ => return Err(NotVectorisable),
            };
            expr(
                lit(ScalarValue::Decimal128(Some(v), 38, scale)),
                Kind::Dec,
                false,
            )
        }
        Value::String(s) => expr(lit(ScalarValue::Utf8(Some(s.clone()))), Kind::Str, false),
        Value::Bool(b) => expr(lit(ScalarValue::Boolean(Some(*b))), Kind::Bool, false),
        _ => return Err(NotVectorisable),
    })
}

fn bool_lit(b: bool) -> Compiled {
    expr(lit(ScalarValue::Boolean(Some(b))), Kind::Bool, false)
}

fn unary(op: UnaryOp, x: Compiled) -> Result<Compiled> {
    let Compiled::Expr {
        expr: e,
        kind,
        nullable,
    } = x
    else {
        return Ok(Compiled::Undefined);
    };
    Ok(match (op, kind) {
        (_, Kind::Str) => return Err(NotVectorisable),
        (UnaryOp::Not, Kind::Bool) => expr(Arc::new(NotExpr::new(e)), Kind::Bool, nullable),
        (UnaryOp::Neg, Kind::Int) => {
            let zero = lit(ScalarValue::Int64(Some(0)));
            expr(
                Arc::new(BinaryExpr::new(zero, Operator::Minus, e).with_fail_on_overflow(true)),
                Kind::Int,
                nullable,
            )
        }
        (UnaryOp::Neg, Kind::Dec) => expr(
            Arc::new(DecimalExpr::new(DecimalOp::Neg, Arc::clone(&e), e)),
            Kind::Dec,
            nullable,
        ),
        _ => Compiled::Undefined,
    })
}

fn is_numeric(k: Kind) -> bool {
    matches!(k, Kind::Int | Kind::Dec)
}

fn binary(op: BinaryOp, l: Compiled, r: Compiled) -> Result<Compiled> {
    let (
        Compiled::Expr {
            expr: le,
            kind: lk,
            nullable: ln,
        },
        Compiled::Expr {
            expr: re,
            kind: rk,
            nullable: rn,
        },
    ) = (l, r)
    else {
        return Ok(Compiled::Undefined);
    };
    let nullable = ln || rn;
    match op {
        BinaryOp::And | BinaryOp::Or => {
            if lk == Kind::Str || rk == Kind::Str {
                return Err(NotVectorisable);
            }
            if lk != Kind::Bool || rk != Kind::Bool {
                return Ok(Compiled::Undefined);
            }
            let and = op == BinaryOp::And;
            if !nullable {
                let dfop = if and { Operator::And } else { Operator::Or };
                return Ok(expr(
                    Arc::new(BinaryExpr::new(le, dfop, re)),
                    Kind::Bool,
                    false,
                ));
            }
            // NULL when either side is NULL, each side evaluated once.
            let strict = match and {
                true => StrictLogic::and(le, re),
                false => StrictLogic::or(le, re),
            };
            Ok(expr(Arc::new(strict), Kind::Bool, true))
        }
        BinaryOp::Eq | BinaryOp::NotEq => {
            let dfop = if op == BinaryOp::Eq {
                Operator::Eq
            } else {
                Operator::NotEq
            };
            if is_numeric(lk) && is_numeric(rk) {
                Ok(expr(compare(le, lk, dfop, re, rk), Kind::Bool, nullable))
            } else if lk == rk {
                Ok(expr(
                    Arc::new(BinaryExpr::new(le, dfop, re)),
                    Kind::Bool,
                    nullable,
                ))
            } else if nullable {
                Err(NotVectorisable)
            } else {
                Ok(bool_lit(op == BinaryOp::NotEq))
            }
        }
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
            if lk == Kind::Str || rk == Kind::Str {
                return Err(NotVectorisable);
            }
            if !is_numeric(lk) || !is_numeric(rk) {
                return Ok(Compiled::Undefined);
            }
            let dfop = match op {
                BinaryOp::Lt => Operator::Lt,
                BinaryOp::LtEq => Operator::LtEq,
                BinaryOp::Gt => Operator::Gt,
                _ => Operator::GtEq,
            };
            Ok(expr(compare(le, lk, dfop, re, rk), Kind::Bool, nullable))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
            if lk == Kind::Str || rk == Kind::Str {
                return Err(NotVectorisable);
            }
            if !is_numeric(lk) || !is_numeric(rk) {
                return Ok(Compiled::Undefined);
            }
            if lk == Kind::Int && rk == Kind::Int {
                let dfop = match op {
                    BinaryOp::Add => Operator::Plus,
                    BinaryOp::Sub => Operator::Minus,
                    BinaryOp::Mul => Operator::Multiply,
                    _ => Operator::Divide,
                };
                let int_op = BinaryExpr::new(le, dfop, re).with_fail_on_overflow(true);
                return Ok(expr(Arc::new(int_op), Kind::Int, nullable));
            }
            let arith = match op {
                BinaryOp::Add => DecimalOp::Add,
                BinaryOp::Sub => DecimalOp::Sub,
                BinaryOp::Mul => DecimalOp::Mul,
                _ => DecimalOp::Div,
            };
            Ok(expr(
                Arc::new(DecimalExpr::new(arith, le, re)),
                Kind::Dec,
                true,
            ))
        }
        BinaryOp::Mod => Err(NotVectorisable),
    }
}

/// A comparison of two numbers: Int64 kernels when both are Ints, exact Decimal otherwise.
fn compare(
    le: Arc<dyn PhysicalExpr>,
    lk: Kind,
    op: Operator,
    re: Arc<dyn PhysicalExpr>,
    rk: Kind,
) -> Arc<dyn PhysicalExpr> {
    if lk == Kind::Int && rk == Kind::Int {
        Arc::new(BinaryExpr::new(le, op, re))
    } else {
        Arc::new(DecimalExpr::new(DecimalOp::Cmp(op), le, re))
    }
}
