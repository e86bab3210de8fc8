//! Compiled rules (stub; being written).
use crate::{CompileError, Evaluation, Message, SqlVersion};

/// A compiled rule: parse once, evaluate many batches.
pub struct Rule {
    version: SqlVersion,
}

impl Rule {
    /// Compiles a statement. Errors point at line:col of `sql`.
    pub fn compile(_sql: &str, version: SqlVersion) -> Result<Rule, CompileError> {
        Ok(Rule { version })
    }
    /// The `FROM` topic filter, if any.
    pub fn topic_filter(&self) -> Option<&str> {
        None
    }
    pub fn sql_version(&self) -> SqlVersion {
        self.version
    }
    /// Evaluates one message (row path).
    pub fn evaluate(&self, _msg: &Message) -> Evaluation {
        Evaluation::default()
    }
    /// Evaluates a batch (vectorised path); one result per message, in order.
    pub fn evaluate_batch(&self, msgs: &[Message]) -> Vec<Evaluation> {
        msgs.iter().map(|m| self.evaluate(m)).collect()
    }
}
