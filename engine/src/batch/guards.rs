//! An AWS rule the vectorised path needs that DataFusion's own expressions give only by
//! evaluating a subexpression more than once (a CASE around it): [`StrictLogic`], AND/OR giving
//! Undefined when either operand is Undefined, where SQL's three-valued logic would give false
//! or true.
//!
//! It is one pass over its inputs. The CASE forms evaluated their input two or three times, and
//! every level of a chain did so again, so a chain of n operators cost 3^n: the `sql` fuzz
//! target found eleven divisions taking over 2 s per batch, and a longer chain in a rule would
//! have stalled its worker for good.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::{Result, internal_err};
use datafusion_expr_common::columnar_value::ColumnarValue;
use datafusion_physical_expr::PhysicalExpr;

/// AND or OR of two Boolean inputs, NULL when either is NULL (arrow's non-Kleene kernels).
#[derive(Debug, Eq)]
pub struct StrictLogic {
    and: bool,
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
}

impl StrictLogic {
    pub fn and(left: Arc<dyn PhysicalExpr>, right: Arc<dyn PhysicalExpr>) -> StrictLogic {
        StrictLogic {
            and: true,
            left,
            right,
        }
    }

    pub fn or(left: Arc<dyn PhysicalExpr>, right: Arc<dyn PhysicalExpr>) -> StrictLogic {
        StrictLogic {
            and: false,
            left,
            right,
        }
    }

    fn name(&self) -> &'static str {
        if self.and { "strict_and" } else { "strict_or" }
    }
}

impl PartialEq for StrictLogic {
    fn eq(&self, other: &Self) -> bool {
        self.and == other.and && self.left.eq(&other.left) && self.right.eq(&other.right)
    }
}

impl Hash for StrictLogic {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.and.hash(state);
        self.left.hash(state);
        self.right.hash(state);
    }
}

impl fmt::Display for StrictLogic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}, {})", self.name(), self.left, self.right)
    }
}

impl PhysicalExpr for StrictLogic {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(true)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        let left = self.left.evaluate(batch)?.into_array(rows)?;
        let right = self.right.evaluate(batch)?.into_array(rows)?;
        let (Some(l), Some(r)) = (left.as_boolean_opt(), right.as_boolean_opt()) else {
            return internal_err!(
                "{} over {} and {}",
                self.name(),
                left.data_type(),
                right.data_type()
            );
        };
        let result = match self.and {
            true => arrow::compute::and(l, r)?,
            false => arrow::compute::or(l, r)?,
        };
        Ok(ColumnarValue::Array(Arc::new(result)))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(StrictLogic {
            and: self.and,
            left: Arc::clone(&children[0]),
            right: Arc::clone(&children[1]),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name())?;
        self.left.fmt_sql(f)?;
        write!(f, ", ")?;
        self.right.fmt_sql(f)?;
        write!(f, ")")
    }
}
