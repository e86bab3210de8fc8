//! Substitution templates (stub; being written).
use crate::{CompileError, Message, SqlVersion};

/// A string with `${expr}` substitutions, rendered against the original message.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
}

impl Template {
    pub fn parse(text: &str, _version: SqlVersion) -> Result<Template, CompileError> {
        Ok(Template { text: text.to_owned() })
    }
    /// Renders against the ORIGINAL message (not the SELECT output), as AWS does.
    pub fn render(&self, _msg: &Message) -> String {
        self.text.clone()
    }
}
