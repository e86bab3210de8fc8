//! YAML templates as JSON values, with CloudFormation's short tags turned into their long
//! form (`!Ref x` -> `{"Ref": "x"}`, `!GetAtt a.b` -> `{"Fn::GetAtt": ["a", "b"]}`,
//! `!Sub s` -> `{"Fn::Sub": s}`, any other `!Name v` -> `{"Fn::Name": v}`), so the intrinsic
//! resolver sees one form whatever the template was written in.
//!
//! The crate is yaml-rust2 (0.8), read through its event parser, because the tags are the
//! point: its `Yaml` tree and every serde front-end built on it drop local tags, while the
//! parser events carry them. It is small (one crate with two dependencies), and it is maintained (by the team behind its successor, saphyr, which is
//! still pre-1.0). serde_yaml has `Value::Tagged` but its author archived it in 2024, and its
//! forks are either young or carry known quality problems.
//!
//! Scalars: plain `null`/`~`/empty is null, plain `true`/`false` (any case YAML 1.2 allows) is
//! a boolean; every other scalar stays a string with its exact text, so an unquoted
//! `2016-03-23` is the string "2016-03-23" (a YAML 1.1 reader would make it a date) and
//! `1.50` keeps its trailing zero. The converter coerces the few numeric AWS fields itself.
//! Anchors and aliases are expanded; `<<` merge keys are not supported (CloudFormation
//! refuses them too).

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Parses the first document of `text`.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| e.to_string())?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or_else(|| "empty YAML document".to_owned())
}

/// A container being built, with the tag it had.
enum Open {
    Seq(Vec<Value>, Option<Tag>, usize),
    Map(Map<String, Value>, Option<String>, Option<Tag>, usize),
}

/// Nesting beyond this is refused (no template needs it; a hostile file can't overflow the
/// stack when the tree is dropped).
const MAX_NESTING: usize = 256;

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Containers opened past `MAX_NESTING`, skipped with their contents.
    skipped: usize,
    anchors: std::collections::HashMap<usize, Value>,
    root: Option<Value>,
    error: Option<String>,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: &str) {
        if self.error.is_none() {
            self.error = Some(format!(
                "{message} at line {} column {}",
                mark.line(),
                mark.col() + 1
            ));
        }
    }

    /// Adds a finished node to its parent (or makes it the document).
    fn push(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let bad_key = match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
                false
            }
            Some(Open::Seq(items, _, _)) => {
                items.push(value);
                false
            }
            Some(Open::Map(map, key, _, _)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                    false
                }
                None => match value {
                    Value::String(k) => {
                        *key = Some(k);
                        false
                    }
                    Value::Bool(b) => {
                        *key = Some(b.to_string());
                        false
                    }
                    Value::Null => {
                        *key = Some(String::new());
                        false
                    }
                    _ => true,
                },
            },
        };
        if bad_key {
            self.fail(mark, "mapping keys must be scalars");
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let opens = matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..));
        let closes = matches!(ev, Event::SequenceEnd | Event::MappingEnd);
        if self.skipped > 0 {
            if opens {
                self.skipped += 1;
            } else if closes {
                self.skipped -= 1;
            }
            return;
        }
        if opens && self.stack.len() >= MAX_NESTING {
            self.fail(mark, "nested too deeply");
            self.skipped = 1;
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = match tag {
                    Some(tag) if is_local(&tag) => intrinsic(&tag.suffix, scalar_of(text, style)),
                    _ => scalar_of(text, style),
                };
                self.push(value, anchor, mark);
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open::Seq(Vec::new(), tag, anchor))
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open::Map(Map::new(), None, tag, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, tag, anchor) = match self.stack.pop() {
                    Some(Open::Seq(items, tag, anchor)) => (Value::Array(items), tag, anchor),
                    Some(Open::Map(map, _, tag, anchor)) => (Value::Object(map), tag, anchor),
                    None => return,
                };
                let value = match tag {
                    Some(tag) if is_local(&tag) => intrinsic(&tag.suffix, value),
                    _ => value,
                };
                self.push(value, anchor, mark);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(value) => self.push(value, 0, mark),
                None => self.fail(mark, "unknown alias"),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// A `!Name` tag (CloudFormation's short forms), as opposed to `!!str` and friends.
fn is_local(tag: &Tag) -> bool {
    tag.handle == "!" && !tag.suffix.is_empty()
}

/// The long form of `!name value`.
fn intrinsic(name: &str, value: Value) -> Value {
    let (key, value) = match name {
        "Ref" => ("Ref".to_owned(), value),
        "Condition" => ("Condition".to_owned(), value),
        "GetAtt" => {
            let value = match value {
                // `!GetAtt Resource.Attribute.Maybe.Dotted`
                Value::String(s) => match s.split_once('.') {
                    Some((res, attr)) => Value::Array(vec![res.into(), attr.into()]),
                    None => Value::String(s),
                },
                other => other,
            };
            ("Fn::GetAtt".to_owned(), value)
        }
        other => (format!("Fn::{other}"), value),
    };
    let mut map = Map::new();
    map.insert(key, value);
    Value::Object(map)
}

fn scalar_of(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn short_tags_become_long_forms() {
        let v = parse(
            "a: !Ref Queue\nb: !GetAtt Role.Arn\nc: !Sub 'x-${AWS::Region}'\nd: !Join [',', [!Ref A, b]]\ne: !Select [0, !Split ['/', !Ref P]]\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "a": {"Ref": "Queue"},
                "b": {"Fn::GetAtt": ["Role", "Arn"]},
                "c": {"Fn::Sub": "x-${AWS::Region}"},
                "d": {"Fn::Join": [",", [{"Ref": "A"}, "b"]]},
                "e": {"Fn::Select": ["0", {"Fn::Split": ["/", {"Ref": "P"}]}]},
            })
        );
    }

    #[test]
    fn scalars_keep_their_text() {
        let v = parse(
            "v: 2016-03-23\nq: 1\nf: 1.50\nt: true\ns: 'true'\nn: ~\nsql: >-\n  SELECT *\n  FROM 'a/b'\nlit: |\n  x\n  y\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"v": "2016-03-23", "q": "1", "f": "1.50", "t": true, "s": "true", "n": null,
                   "sql": "SELECT * FROM 'a/b'", "lit": "x\ny\n"})
        );
    }

    #[test]
    fn anchors_expand_and_errors_have_positions() {
        let v = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(v["b"], json!({"k": "v"}));
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
        let deep = format!("a: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse(&deep).unwrap_err();
        assert!(
            e.contains("nested too deeply") || e.contains("recursion"),
            "{e}"
        );
    }
}
