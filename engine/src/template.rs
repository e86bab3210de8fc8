//! Substitution templates: `${expression}` inside action fields (topics, URLs, keys, headers).
//!
//! A template is evaluated against the ORIGINAL message, not the SELECT output (AWS: aliases are
//! not visible). Rendering (README): Undefined → empty string; a String → its text without
//! quotes; anything else → its JSON text (numbers as AWS prints them).

use crate::ast::{Expr, Pos};
use crate::error::CompileError;
use crate::eval::{Env, Lookups, Message};
use crate::json_in::{Payload, parse_payload};
use crate::parser::parse_expression;
use crate::value::{SqlVersion, Value};

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    /// `${topic(n)}` (n ≥ 1), the commonest substitution: read from the topic directly, as
    /// the expression would (a missing level renders as nothing).
    TopicLevel(usize),
    Expr(Expr),
}

impl Part {
    /// `expr` as a part: `topic(n)` with a literal n taken apart, anything else as it is.
    fn of(expr: Expr) -> Part {
        if let Expr::Call { name, args, .. } = &expr
            && let ("topic", [Expr::Literal(Value::Int(n))]) = (name.as_str(), args.as_slice())
            && let Ok(level @ 1..) = usize::try_from(*n)
        {
            return Part::TopicLevel(level);
        }
        Part::Expr(expr)
    }
}

/// A string with `${expr}` substitutions.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    version: SqlVersion,
    has_exprs: bool,
    /// Some expression reads payload attributes: the payload must be decoded to render.
    reads_payload: bool,
}

impl Template {
    /// Parses a template; errors give the column of the bad expression within `text`.
    pub fn parse(text: &str, version: SqlVersion) -> Result<Template, CompileError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0usize;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let body_start = start + 2;
            let end = find_close(&rest[body_start..]).ok_or_else(|| {
                CompileError::new(
                    Pos {
                        line: 1,
                        col: (offset + start + 1) as u32,
                    },
                    "unterminated `${` in template",
                )
            })?;
            let body = &rest[body_start..body_start + end];
            let expr = parse_expression(body, version).map_err(|e| CompileError {
                line: 1,
                col: (offset + body_start) as u32 + e.col,
                message: e.message,
            })?;
            crate::compile::check_template_expr(&expr, version).map_err(|e| CompileError {
                line: 1,
                col: (offset + body_start) as u32 + 1,
                message: e.message,
            })?;
            parts.push(Part::of(expr));
            offset += body_start + end + 1;
            rest = &rest[body_start + end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        let has_exprs = parts.iter().any(|p| !matches!(p, Part::Text(_)));
        let reads_payload = parts
            .iter()
            .any(|p| matches!(p, Part::Expr(e) if reads_payload(e)));
        Ok(Template {
            parts,
            version,
            has_exprs,
            reads_payload,
        })
    }

    /// True when the template has no `${...}`.
    pub fn is_static(&self) -> bool {
        !self.has_exprs
    }

    /// Renders against the original message.
    pub fn render(&self, msg: &Message) -> String {
        self.render_with(msg, None)
    }

    /// [`Template::render`] with `lookups` (a fixed `newuuid()` in rule unit tests).
    pub fn render_with(&self, msg: &Message, lookups: Option<&dyn Lookups>) -> String {
        if !self.has_exprs {
            return self
                .parts
                .iter()
                .map(|p| {
                    if let Part::Text(t) = p {
                        t.as_str()
                    } else {
                        ""
                    }
                })
                .collect();
        }
        let payload = if !self.reads_payload {
            Value::Undefined
        } else {
            match parse_payload(msg.payload) {
                Payload::Json(v) => v,
                Payload::Binary { .. } => Value::Binary(msg.payload.to_vec()),
            }
        };
        self.render_decoded_with(msg, &payload, lookups)
    }

    /// Renders with an already decoded payload.
    pub fn render_decoded(&self, msg: &Message, payload: &Value) -> String {
        self.render_decoded_with(msg, payload, None)
    }

    fn render_decoded_with(
        &self,
        msg: &Message,
        payload: &Value,
        lookups: Option<&dyn Lookups>,
    ) -> String {
        let env = Env {
            msg,
            payload,
            version: self.version,
            vars: Vec::new(),
            lookups,
        };
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::TopicLevel(n) => out.push_str(msg.topic.split('/').nth(n - 1).unwrap_or("")),
                Part::Expr(e) => match env.eval(e, payload) {
                    Value::Undefined => {}
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&crate::json_out::to_json_string(&other, self.version)),
                },
            }
        }
        out
    }
}

/// True when evaluating `e` can read the payload (attributes, `*`, nested queries).
fn reads_payload(e: &Expr) -> bool {
    match e {
        Expr::Field(_) | Expr::Star | Expr::Subquery(_) => true,
        Expr::Literal(_) | Expr::Var(_) => false,
        Expr::Member(x, _) | Expr::Unary(_, x) | Expr::Cast(x, _) => reads_payload(x),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => reads_payload(a) || reads_payload(b),
        Expr::In(x, list) => reads_payload(x) || list.iter().any(reads_payload),
        Expr::Call { args, .. } | Expr::Array(args) => args.iter().any(reads_payload),
        Expr::Object(members) => members.iter().any(|(_, v)| reads_payload(v)),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(reads_payload)
                || whens
                    .iter()
                    .any(|(w, t)| reads_payload(w) || reads_payload(t))
                || otherwise.as_deref().is_some_and(reads_payload)
        }
    }
}

/// Index of the `}` closing a `${`, skipping braces inside quotes and nested `{...}`.
fn find_close(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, topic: &str, payload: &str) -> String {
        let msg = Message {
            client_id: "dev-1",
            timestamp_ms: 1460685389,
            ..Message::new(topic, payload.as_bytes())
        };
        Template::parse(t, SqlVersion::V2016_03_23)
            .unwrap()
            .render(&msg)
    }

    #[test]
    fn documented_templates() {
        assert_eq!(
            render("${topic()}/republish", "my/iot/topic", "{}"),
            "my/iot/topic/republish"
        );
        assert_eq!(
            render("${topic()}/${timestamp()}", "some/topic", "{}"),
            "some/topic/1460685389"
        );
        assert_eq!(
            render("device/${device_id}", "t", r#"{"device_id":"iot123"}"#),
            "device/iot123"
        );
        assert_eq!(
            render("alerts/${topic(2)}", "sensors/kitchen/data", "{}"),
            "alerts/kitchen"
        );
        assert_eq!(render("${cast(topic(2) AS DECIMAL)}", "a/3.5", "{}"), "3.5");
        assert_eq!(
            render(
                "${replace(topic(), '/', '-') + '-' + clientid()}",
                "a/b",
                "{}"
            ),
            "a-b-dev-1"
        );
        assert_eq!(render("x${missing}y", "t", "{}"), "xy");
        assert_eq!(render("${o}", "t", r#"{"o":{"a":1}}"#), r#"{"a":1}"#);
        assert_eq!(render("${get({'a': 'b}'}, 'a')}", "t", "{}"), "b}");
    }

    /// `${topic(n)}` is read from the topic directly; it renders what the expression does.
    #[test]
    fn topic_levels_render_as_the_expression_does() {
        let v = SqlVersion::V2016_03_23;
        for topic in ["a", "a/b/c", "a//c", "/lead", "trail/", "$aws/rules/r/x"] {
            for n in 1..=5 {
                let shortcut = Template::parse(&format!("x/${{topic({n})}}/y"), v).unwrap();
                assert!(matches!(shortcut.parts[1], Part::TopicLevel(_)));
                let mut evaluated = shortcut.clone();
                evaluated.parts[1] =
                    Part::Expr(parse_expression(&format!("topic({n})"), v).unwrap());
                let msg = Message::new(topic, b"{}");
                assert_eq!(
                    shortcut.render(&msg),
                    evaluated.render(&msg),
                    "topic({n}) of {topic}"
                );
            }
        }
        // Anything but a positive literal level stays an expression.
        for other in ["topic(0)", "topic()", "topic(1 + 1)", "topic(2.0)"] {
            let t = Template::parse(&format!("${{{other}}}"), v).unwrap();
            assert!(matches!(t.parts[0], Part::Expr(_)), "{other}");
        }
    }

    #[test]
    fn bad_templates_point_at_the_column() {
        let e = Template::parse("a/${topic(}", SqlVersion::V2016_03_23).unwrap_err();
        assert_eq!(e.col, 11);
        let e = Template::parse("a/${nosuch()}", SqlVersion::V2016_03_23).unwrap_err();
        assert!(e.message.contains("unknown function"), "{e}");
        assert!(Template::parse("a/${x", SqlVersion::V2016_03_23).is_err());
    }
}
