//! Writing a rule file: the TOML comment header (`src/rulefile.rs` format) in a fixed,
//! readable order, then the SQL exactly as given. Values are written as inline TOML (strings
//! escaped, so a multi-line description stays on one `--` line); tables keep the order the
//! converter built them in (`type` first).

use std::fmt::Write as _;

/// A header value.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Out>),
    Table(Fields),
}

/// An ordered table.
pub type Fields = Vec<(String, Out)>;

/// One rule file's content.
pub struct RuleText<'a> {
    pub description: &'a str,
    pub sql_version: &'a str,
    pub enabled: bool,
    pub actions: &'a [Fields],
    pub error_action: Option<&'a Fields>,
    pub sql: &'a str,
}

impl RuleText<'_> {
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.description.is_empty() {
            line(
                &mut s,
                "description",
                &Out::Str(self.description.to_owned()),
            );
        }
        line(
            &mut s,
            "sql_version",
            &Out::Str(self.sql_version.to_owned()),
        );
        line(&mut s, "enabled", &Out::Bool(self.enabled));
        for action in self.actions {
            s.push_str("--\n-- [[action]]\n");
            for (k, v) in action {
                line(&mut s, k, v);
            }
        }
        if let Some(action) = self.error_action {
            s.push_str("--\n-- [error_action]\n");
            for (k, v) in action {
                line(&mut s, k, v);
            }
        }
        s.push_str(self.sql);
        s
    }
}

fn line(s: &mut String, key: &str, value: &Out) {
    let _ = writeln!(s, "-- {} = {}", toml_key(key), inline(value));
}

/// A bare key when TOML allows one, else a quoted key.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { key.to_owned() } else { quote(key) }
}

/// `value` as inline TOML.
pub fn inline(value: &Out) -> String {
    match value {
        Out::Str(s) => quote(s),
        Out::Int(i) => i.to_string(),
        Out::Bool(b) => b.to_string(),
        Out::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Out::Table(fields) if fields.is_empty() => "{}".to_owned(),
        Out::Table(fields) => {
            let items: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), inline(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_values_round_trip_through_toml() {
        let v = Out::Table(vec![
            ("type".into(), Out::Str("a\"b\\c\nd\u{1}".into())),
            ("qos".into(), Out::Int(1)),
            ("dotted.key".into(), Out::Bool(true)),
            (
                "headers".into(),
                Out::Array(vec![Out::Table(vec![("key".into(), Out::Str("k".into()))])]),
            ),
        ]);
        let text = format!("x = {}", inline(&v));
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let x = parsed["x"].as_table().unwrap();
        assert_eq!(x["type"].as_str(), Some("a\"b\\c\nd\u{1}"));
        assert_eq!(x["qos"].as_integer(), Some(1));
        assert_eq!(x["dotted.key"].as_bool(), Some(true));
        assert_eq!(x["headers"][0]["key"].as_str(), Some("k"));
    }
}
