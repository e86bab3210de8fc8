//! Exact Decimal arithmetic and comparisons for the vectorised path.
//!
//! A Decimal input column is an Arrow `Decimal128(38, s)` whose scale `s` is chosen per batch
//! ([`decimal_column`]: the largest scale among its values, so every value is exact); Int columns
//! are Int64 and take part as scale 0. The expressions here work at whatever scale their inputs
//! have, so one compiled rule serves every batch. A [`DecimalExpr`] computes either:
//!
//! - arithmetic (`+ - * /`, unary minus): the common case, a result below 10^34 at the
//!   batch's result scale (`sl + sr` for `*`, the larger for `+ -`), is one checked `i128`
//!   operation per row. Any other row (a result that needs rounding to 34 digits, a division)
//!   is computed with [`Dec`], the row path's own arithmetic, and the batch's results are
//!   packed at one common scale. Undefined results (division by zero, out of range) are NULL.
//!   When results cannot share a scale (magnitudes more than 38 digits apart) evaluation
//!   fails and the group takes the row path.
//! - comparisons (`= <> < <= > >=`): both sides rescaled to the larger scale and compared by
//!   arrow's vectorised kernels; through [`Dec`] row by row when rescaling would overflow.
//!
//! Either way the result is the row path's, digit for digit; the property test
//! `vectorised_vs_reference` checks that on decimal-heavy payloads.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Datum, Decimal128Array, Scalar};
use arrow::compute::kernels::cmp;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr_common::columnar_value::ColumnarValue;
use datafusion_expr_common::operator::Operator;
use datafusion_physical_expr::PhysicalExpr;

use crate::decimal::{COEFF_LIMIT, Dec, POW10, scale_up};

/// The Arrow type of Decimal columns; the scale varies per batch, this one is nominal.
pub const DECIMAL_TYPE: DataType = DataType::Decimal128(38, 0);

/// Packs Decimals (None = Undefined) into one `Decimal128(38, s)` array; `None` when they cannot
/// share a scale.
pub fn decimal_column(values: impl Iterator<Item = Option<Dec>> + Clone) -> Option<ArrayRef> {
    let scale = values
        .clone()
        .flatten()
        .map(|d| -d.parts().1)
        .max()
        .unwrap_or(0)
        .max(0);
    if scale > 38 {
        return None;
    }
    let mut out = Vec::new();
    for v in values {
        out.push(match v {
            None => None,
            Some(d) => {
                let (coeff, exp) = d.parts();
                Some(scale_up(coeff, scale + exp)?)
            }
        });
    }
    let array = Decimal128Array::from(out)
        .with_precision_and_scale(38, scale as i8)
        .ok()?;
    Some(Arc::new(array))
}

/// One numeric input of a kernel: a Decimal128 or Int64 array, or a scalar of either.
enum Operand {
    Decimal(Decimal128Array, i8),
    Int(arrow::array::Int64Array),
    Scalar(Option<i128>, i8),
}

impl Operand {
    fn of(value: ColumnarValue) -> Result<Operand> {
        Ok(match value {
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Decimal128(_, s) => {
                    let s = *s;
                    Operand::Decimal(a.as_primitive::<Decimal128Type>().clone(), s)
                }
                DataType::Int64 => Operand::Int(a.as_primitive::<Int64Type>().clone()),
                other => return Err(unexpected(other)),
            },
            ColumnarValue::Scalar(ScalarValue::Decimal128(v, _, s)) => Operand::Scalar(v, s),
            ColumnarValue::Scalar(ScalarValue::Int64(v)) => Operand::Scalar(v.map(i128::from), 0),
            ColumnarValue::Scalar(other) => return Err(unexpected(&other.data_type())),
        })
    }

    fn scale(&self) -> i8 {
        match self {
            Operand::Decimal(_, s) | Operand::Scalar(_, s) => *s,
            Operand::Int(_) => 0,
        }
    }

    /// Row `i`'s scaled value, `None` when NULL.
    fn get(&self, i: usize) -> Option<i128> {
        match self {
            Operand::Decimal(a, _) => a.is_valid(i).then(|| a.value(i)),
            Operand::Int(a) => a.is_valid(i).then(|| a.value(i) as i128),
            Operand::Scalar(v, _) => *v,
        }
    }

    fn dec(&self, i: usize) -> Option<Dec> {
        self.get(i).and_then(|v| Dec::from_scaled(v, self.scale()))
    }
}

fn unexpected(t: &DataType) -> DataFusionError {
    DataFusionError::Internal(format!("decimal expression over {t}"))
}

/// `v × 10^k` in an i128, when it fits.
fn rescale(v: i128, k: i8) -> Option<i128> {
    scale_up(v, k.into())
}

/// What a [`DecimalExpr`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecimalOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Unary minus (the right operand is unused).
    Neg,
    /// A comparison, one of `Eq NotEq Lt LtEq Gt GtEq`: a Boolean column.
    Cmp(Operator),
}

/// `left op right` on Decimal/Int inputs: a Decimal column, or a Boolean one for comparisons.
#[derive(Debug, Eq)]
pub struct DecimalExpr {
    op: DecimalOp,
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
}

impl DecimalExpr {
    pub fn new(
        op: DecimalOp,
        left: Arc<dyn PhysicalExpr>,
        right: Arc<dyn PhysicalExpr>,
    ) -> DecimalExpr {
        DecimalExpr { op, left, right }
    }

    /// Arithmetic, fast path: every row exact below 10^34 at one scale; `None` when a row is not.
    fn fast(&self, l: &Operand, r: &Operand, n: usize) -> Option<(Vec<Option<i128>>, i8)> {
        let (sl, sr) = (l.scale(), r.scale());
        let scale = match self.op {
            DecimalOp::Mul => sl.checked_add(sr).filter(|s| *s <= 38)?,
            DecimalOp::Neg => sl,
            DecimalOp::Add | DecimalOp::Sub => sl.max(sr),
            DecimalOp::Div | DecimalOp::Cmp(_) => return None,
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (Some(a), Some(b)) = (l.get(i), r.get(i)) else {
                out.push(None);
                continue;
            };
            let v = match self.op {
                DecimalOp::Mul => a.checked_mul(b)?,
                DecimalOp::Neg => -a,
                DecimalOp::Add => rescale(a, scale - sl)?.checked_add(rescale(b, scale - sr)?)?,
                _ => rescale(a, scale - sl)?.checked_sub(rescale(b, scale - sr)?)?,
            };
            if v.unsigned_abs() >= COEFF_LIMIT as u128 {
                return None;
            }
            out.push(Some(v));
        }
        Some((out, scale))
    }

    /// Arithmetic on any row, through [`Dec`].
    fn exact(&self, l: &Operand, r: &Operand, i: usize) -> Option<Dec> {
        let (a, b) = (l.dec(i)?, r.dec(i)?);
        match self.op {
            DecimalOp::Add => a.checked_add(b),
            DecimalOp::Sub => a.checked_sub(b),
            DecimalOp::Mul => a.checked_mul(b),
            DecimalOp::Div => a.checked_div(b),
            DecimalOp::Neg => Some(-a),
            DecimalOp::Cmp(_) => None,
        }
    }

    fn arithmetic(&self, l: &Operand, r: &Operand, n: usize) -> Result<ArrayRef> {
        if let Some((values, scale)) = self.fast(l, r, n) {
            let array = Decimal128Array::from(values).with_precision_and_scale(38, scale)?;
            return Ok(Arc::new(array));
        }
        let results: Vec<Option<Dec>> = (0..n).map(|i| self.exact(l, r, i)).collect();
        decimal_column(results.iter().copied()).ok_or_else(|| {
            DataFusionError::Execution("decimal results need more than 38 digits".into())
        })
    }

    fn compare(&self, op: Operator, l: &Operand, r: &Operand, n: usize) -> Result<ArrayRef> {
        let scale = l.scale().max(r.scale());
        let both_scalars = matches!((l, r), (Operand::Scalar(..), Operand::Scalar(..)));
        if let (false, Some(a), Some(b)) = (both_scalars, l.aligned(scale), r.aligned(scale)) {
            // Both at one scale: arrow's vectorised comparison kernels.
            let (a, b) = (a.datum(), b.datum());
            let result = match op {
                Operator::Eq => cmp::eq(a.as_ref(), b.as_ref()),
                Operator::NotEq => cmp::neq(a.as_ref(), b.as_ref()),
                Operator::Lt => cmp::lt(a.as_ref(), b.as_ref()),
                Operator::LtEq => cmp::lt_eq(a.as_ref(), b.as_ref()),
                Operator::Gt => cmp::gt(a.as_ref(), b.as_ref()),
                _ => cmp::gt_eq(a.as_ref(), b.as_ref()),
            }?;
            return Ok(Arc::new(result));
        }
        // A value too wide to rescale (or two constants): row by row through Dec.
        let result: BooleanArray = (0..n)
            .map(|i| {
                let ord = l.dec(i)?.cmp(&r.dec(i)?);
                Some(match op {
                    Operator::Eq => ord.is_eq(),
                    Operator::NotEq => ord.is_ne(),
                    Operator::Lt => ord.is_lt(),
                    Operator::LtEq => ord.is_le(),
                    Operator::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            })
            .collect();
        Ok(Arc::new(result))
    }
}

/// An operand rescaled for arrow's comparison kernels.
enum Aligned {
    Array(Decimal128Array),
    Scalar(Decimal128Array),
}

impl Aligned {
    fn datum(self) -> Box<dyn Datum> {
        match self {
            Aligned::Array(a) => Box::new(a),
            Aligned::Scalar(a) => Box::new(Scalar::new(a)),
        }
    }
}

impl Operand {
    /// This operand as `Decimal128(38, scale)` (`scale` ≥ its own), unless a value overflows.
    fn aligned(&self, scale: i8) -> Option<Aligned> {
        let k = scale - self.scale();
        let p = *POW10.get(k as usize)?;
        let typed = |a: Decimal128Array| a.with_precision_and_scale(38, scale).ok();
        Some(match self {
            Operand::Decimal(a, _) if k == 0 => Aligned::Array(typed(a.clone())?),
            Operand::Decimal(a, _) => Aligned::Array(typed(
                a.try_unary::<_, Decimal128Type, ()>(|v| v.checked_mul(p).ok_or(()))
                    .ok()?,
            )?),
            Operand::Int(a) => Aligned::Array(typed(
                a.try_unary::<_, Decimal128Type, ()>(|v| (v as i128).checked_mul(p).ok_or(()))
                    .ok()?,
            )?),
            Operand::Scalar(v, _) => {
                let v = match v {
                    Some(v) => Some(v.checked_mul(p)?),
                    None => None,
                };
                Aligned::Scalar(typed(Decimal128Array::from(vec![v]))?)
            }
        })
    }
}

impl PhysicalExpr for DecimalExpr {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(match self.op {
            DecimalOp::Cmp(_) => DataType::Boolean,
            _ => DECIMAL_TYPE,
        })
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(true)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let n = batch.num_rows();
        let l = Operand::of(self.left.evaluate(batch)?)?;
        let r = match self.op {
            DecimalOp::Neg => Operand::Scalar(Some(0), 0),
            _ => Operand::of(self.right.evaluate(batch)?)?,
        };
        Ok(ColumnarValue::Array(match self.op {
            DecimalOp::Cmp(op) => self.compare(op, &l, &r, n)?,
            _ => self.arithmetic(&l, &r, n)?,
        }))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(DecimalExpr::new(
            self.op,
            Arc::clone(&children[0]),
            Arc::clone(&children[1]),
        )))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

// By hand: deriving PartialEq and Hash does not work through `Arc<dyn PhysicalExpr>`.
impl PartialEq for DecimalExpr {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.left.eq(&other.left) && self.right.eq(&other.right)
    }
}

impl Hash for DecimalExpr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.left.hash(state);
        self.right.hash(state);
    }
}

impl fmt::Display for DecimalExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decimal_{:?}({}, {})", self.op, self.left, self.right)
    }
}
