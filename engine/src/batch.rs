//! Vectorised evaluation (placeholder while being written: row path).
use crate::ast::Query;
use crate::eval::{Evaluation, Message, evaluate_query};
use crate::value::SqlVersion;

#[derive(Debug)]
pub struct BatchPlan;

impl BatchPlan {
    pub fn new(_q: &Query, _v: SqlVersion) -> BatchPlan {
        BatchPlan
    }
    pub fn is_vectorised(&self) -> bool {
        false
    }
    pub fn evaluate(&self, q: &Query, version: SqlVersion, msgs: &[Message]) -> Vec<Evaluation> {
        msgs.iter().map(|m| evaluate_query(q, m, version)).collect()
    }
}
