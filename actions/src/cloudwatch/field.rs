//! `Field<T>`: one action field that AWS lets be a substitution template, and the rule its
//! value must follow (a parse function from text to `T`).
//!
//! The same rule is applied at two times. A literal (no `${...}`) is parsed once when the rule
//! is checked: a value that can never work (a unit CloudWatch does not have, a value that is
//! not a number) refuses the rule with a message naming the field. A template is rendered
//! against the ORIGINAL message and parsed per message: a value that does not fit fails that
//! message, permanently, to the error action.

use rulewire_engine::{Message, SqlVersion, Template};

use crate::{BuildError, templates};

/// Turns a field's text into its value, or says what is wrong with it as a predicate of the
/// text ("is not a number"), without the field's name.
pub(super) type Parse<T> = fn(&str) -> Result<T, String>;

/// A checked field: its template, and its value when it is a literal.
pub(super) struct Field<T> {
    name: &'static str,
    template: Template,
    literal: Option<T>,
    parse: Parse<T>,
}

impl<T: Clone> Field<T> {
    /// Compiles `text`, the value of field `name`, and parses it now when it is a literal.
    pub(super) fn check(
        name: &'static str,
        text: &str,
        version: SqlVersion,
        parse: Parse<T>,
    ) -> Result<Field<T>, BuildError> {
        let template = templates::field(name, text, version)?;
        let literal = if template.is_static() {
            let value =
                parse(text).map_err(|e| BuildError::invalid(name, format!("{text:?} {e}")))?;
            Some(value)
        } else {
            None
        };
        Ok(Field {
            name,
            template,
            literal,
            parse,
        })
    }

    /// The field's value for `msg`; `Err` names the field and what it rendered to.
    pub(super) fn render(&self, msg: &Message) -> Result<T, String> {
        if let Some(value) = &self.literal {
            return Ok(value.clone());
        }
        let text = self.template.render(msg);
        (self.parse)(&text).map_err(|e| format!("{} rendered to {text:?}, which {e}", self.name))
    }

    /// The rendered text as it is, valid or not (for `failedResource`).
    pub(super) fn text(&self, msg: &Message) -> String {
        self.template.render(msg)
    }
}

/// A name CloudWatch limits to 1..=`max` characters, not only whitespace.
pub(super) fn name(text: &str, max: usize) -> Result<String, String> {
    let len = text.chars().count();
    if text.trim().is_empty() {
        return Err("is empty or only spaces (CloudWatch needs a name)".to_owned());
    }
    if len > max {
        return Err(format!(
            "is {len} characters long (CloudWatch allows {max})"
        ));
    }
    Ok(text.to_owned())
}
