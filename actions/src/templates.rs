//! Compiling an action's template fields at rule load, with errors naming the field.
//!
//! `field` compiles one string field (`checked_field` also checks a literal value at load);
//! `Pairs` compiles a `[{key, value}]` list of templates (MQTT 5 user properties) and renders
//! it against the ORIGINAL message.

use rulewire_engine::{Message, SqlVersion, Template};
use serde::Deserialize;

use crate::BuildError;

/// A `{ key = "...", value = "..." }` entry in a rule header (headers, user properties).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Compiles `text`, the value of field `name`; a bad template is a `BuildError` naming it.
pub(crate) fn field(name: &str, text: &str, version: SqlVersion) -> Result<Template, BuildError> {
    Template::parse(text, version).map_err(|error| BuildError::Template {
        field: name.to_owned(),
        error,
    })
}

/// Whether `text` contains a `${...}` substitution (so it can only be checked after rendering).
pub(crate) fn is_templated(text: &str) -> bool {
    text.contains("${")
}

/// Compiles `text`, the value of field `name`, and when it has no substitution checks its
/// literal value with `check` now (rule load); a templated value is checked by the action
/// after rendering, usually with the same `check`.
pub(crate) fn checked_field(
    name: &str,
    text: &str,
    version: SqlVersion,
    check: impl FnOnce(&str) -> Result<(), String>,
) -> Result<Template, BuildError> {
    let template = field(name, text, version)?;
    if !is_templated(text) {
        check(text).map_err(|message| BuildError::invalid(name, message))?;
    }
    Ok(template)
}

/// A compiled `[{key, value}]` list whose keys and values are both templates
/// (MQTT 5 user properties; Kafka headers later).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pairs(Vec<(Template, Template)>);

impl Pairs {
    /// Compiles `list`, the value of field `name` (e.g. "user_properties").
    pub(crate) fn compile(
        name: &str,
        list: &[KeyValue],
        version: SqlVersion,
    ) -> Result<Pairs, BuildError> {
        let compiled = list.iter().enumerate().map(|(i, kv)| {
            let key = field(&format!("{name}[{i}].key"), &kv.key, version)?;
            Ok((
                key,
                field(&format!("{name}[{i}].value"), &kv.value, version)?,
            ))
        });
        Ok(Pairs(compiled.collect::<Result<_, BuildError>>()?))
    }

    /// Renders every pair against the original message.
    pub(crate) fn render(&self, msg: &Message) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| (k.render(msg), v.render(msg)))
            .collect()
    }
}
