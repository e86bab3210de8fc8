//! Compile errors with positions.

use std::fmt;

/// A rule or template that does not compile. `line`/`col` are 1-based positions in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl CompileError {
    pub fn new(pos: crate::ast::Pos, message: impl Into<String>) -> CompileError {
        CompileError {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }
}

impl fmt::Display for CompileError {
    /// `line:col: message`; callers prefix the file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for CompileError {}
