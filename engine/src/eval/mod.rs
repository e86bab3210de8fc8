//! The row-at-a-time reference evaluator: one message, exact AWS semantics over [`Value`].
//!
//! This is the oracle the vectorised path ([`crate::batch`]) is property-tested against, and
//! the path for expressions and payload shapes the vectorised path does not cover (objects,
//! arrays, nested queries, binary payloads, mixed types per field).

mod message;
pub mod ops;

pub use message::{Evaluation, Message, MqttProperties, NO_MQTT_PROPERTIES};

/// Data outside the message that a rule may read: Device Shadows for `get_thing_shadow()`,
/// and (for rule unit tests) a fixed `newuuid()`. Implementations answer from memory:
/// evaluation is synchronous and must not wait on I/O.
pub trait Lookups: Send + Sync {
    /// The document of `thing`'s classic shadow (`shadow: None`) or of a named one, as the
    /// shadow service's GET returns it; `None` when there is no such shadow.
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<Value>;

    /// What `newuuid()` returns; `None` (the default): a new random UUID each call.
    fn fixed_uuid(&self) -> Option<String> {
        None
    }
}

use crate::ast::{Expr, Projection, Query, SelectItem, Source};
use crate::functions::{self, Kind};
use crate::json_in::{Payload, parse_payload};
use crate::json_out::write_json;
use crate::value::{Object, SqlVersion, Value, cast};
use base64::Engine;

/// Everything an expression can see while evaluating one message.
pub struct Env<'a> {
    pub msg: &'a Message<'a>,
    /// The decoded payload (`Binary` when it is not JSON).
    pub payload: &'a Value,
    pub version: SqlVersion,
    /// `SET` variables bound so far.
    pub vars: Vec<(String, Value)>,
    /// Where `get_thing_shadow()` reads; without it the function gives Undefined.
    pub lookups: Option<&'a dyn Lookups>,
}

impl<'a> Env<'a> {
    /// Evaluates `expr` with `row` as the current row (the payload, or a nested-query element).
    pub fn eval(&self, expr: &Expr, row: &Value) -> Value {
        match expr {
            Expr::Literal(v) => v.clone(),
            Expr::Star => row.clone(),
            Expr::Field(name) => row.field(name),
            Expr::Member(e, name) => self.eval(e, row).field(name),
            Expr::Index(e, i) => {
                functions::call_pure("get", &[self.eval(e, row), self.eval(i, row)], self.version)
            }
            Expr::Var(name) => self
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            Expr::Unary(op, e) => ops::unary(*op, self.eval(e, row)),
            Expr::Binary(op, l, r) => ops::binary(*op, self.eval(l, row), self.eval(r, row)),
            Expr::In(x, list) => ops::in_list(
                &self.eval(x, row),
                list.iter().map(|e| self.eval(e, row)).collect(),
            ),
            Expr::Call { name, args, .. } => self.call(name, args, row),
            Expr::Cast(e, to) => cast(&self.eval(e, row), *to),
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => self.case(operand.as_deref(), whens, otherwise.as_deref(), row),
            Expr::Array(items) => Value::Array(items.iter().map(|e| self.eval(e, row)).collect()),
            Expr::Object(members) => Value::Object(Object(
                members
                    .iter()
                    .map(|(k, e)| (k.clone(), self.eval(e, row)))
                    .collect(),
            )),
            Expr::Subquery(q) => self.subquery(q, row),
        }
    }

    fn case(
        &self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        otherwise: Option<&Expr>,
        row: &Value,
    ) -> Value {
        match operand {
            Some(op) => {
                let v = self.eval(op, row);
                if v.is_undefined() {
                    return Value::Undefined;
                }
                for (when, then) in whens {
                    if v.aws_eq(&self.eval(when, row)).is_true() {
                        return self.eval(then, row);
                    }
                }
            }
            None => {
                for (when, then) in whens {
                    if self.eval(when, row).is_true() {
                        return self.eval(then, row);
                    }
                }
            }
        }
        otherwise.map(|e| self.eval(e, row)).unwrap_or_default()
    }

    fn call(&self, name: &str, args: &[Expr], row: &Value) -> Value {
        let Some(spec) = functions::lookup(name) else {
            return Value::Undefined;
        };
        match spec.kind {
            Kind::Pure(f) => {
                let values: Vec<Value> = args
                    .iter()
                    .map(|a| match a {
                        // `encode(*, ...)` encodes the payload bytes as received, JSON or not.
                        Expr::Star if name == "encode" => Value::Binary(self.msg.payload.to_vec()),
                        other => self.eval(other, row),
                    })
                    .collect();
                f(&values, self.version)
            }
            Kind::Context => self.context_function(name, args, row),
            Kind::Lookup => self.lookup_function(name, args, row),
            Kind::Unsupported(_) => Value::Undefined,
        }
    }

    fn context_function(&self, name: &str, args: &[Expr], row: &Value) -> Value {
        let m = self.msg;
        let non_empty = |s: &str| {
            if s.is_empty() {
                Value::Undefined
            } else {
                Value::str(s)
            }
        };
        match name {
            "topic" => match args.first() {
                None => Value::str(m.topic),
                Some(n) => match self.eval(n, row).to_int_floor() {
                    Some(n) if n >= 1 => m
                        .topic
                        .split('/')
                        .nth(n as usize - 1)
                        .map(Value::str)
                        .unwrap_or_default(),
                    _ => Value::Undefined,
                },
            },
            "clientid" => Value::str(if m.client_id.is_empty() {
                "n/a"
            } else {
                m.client_id
            }),
            "principal" => non_empty(m.principal),
            "traceid" => non_empty(m.trace_id),
            "accountid" => non_empty(m.account_id),
            "sourceip" => non_empty(m.source_ip),
            "timestamp" => Value::Int(m.timestamp_ms.into()),
            "newuuid" => Value::String(
                self.lookups
                    .and_then(|l| l.fixed_uuid())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            ),
            "rand" => Value::double(rand::random::<f64>()),
            "sql_version" => Value::str(self.version.as_str()),
            "get_mqtt_property" => {
                let Some(Value::String(name)) = args.first().map(|a| self.eval(a, row)) else {
                    return Value::Undefined;
                };
                let p = m.mqtt_properties;
                let text = |s: &Option<String>| s.as_deref().map_or(Value::Undefined, Value::str);
                match name.as_str() {
                    "content_type" => text(&p.content_type),
                    "response_topic" => text(&p.response_topic),
                    "correlation_data" => {
                        p.correlation_data.as_ref().map_or(Value::Undefined, |d| {
                            use base64::Engine as _;
                            Value::String(base64::engine::general_purpose::STANDARD.encode(d))
                        })
                    }
                    "format_indicator" => match p.payload_format_indicator {
                        Some(1) => Value::str("UTF8_DATA"),
                        Some(_) => Value::str("UNSPECIFIED_BYTES"),
                        None => Value::Undefined,
                    },
                    _ => Value::Undefined,
                }
            }
            "get_user_properties" => {
                let key = args.first().map(|a| self.eval(a, row));
                let values: Vec<Value> = m
                    .user_properties
                    .iter()
                    .filter(|(k, _)| match &key {
                        Some(Value::String(want)) => k == want,
                        Some(_) => false,
                        None => true,
                    })
                    .map(|(_, v)| Value::str(v.clone()))
                    .collect();
                if values.is_empty() {
                    Value::Undefined
                } else {
                    Value::Array(values)
                }
            }
            _ => Value::Undefined,
        }
    }

    /// `get_thing_shadow(thingName, [shadowName,] roleArn)`: the role is accepted and not
    /// used (rulewire's shadows are local). Undefined when an argument is not a string or
    /// there is no such shadow.
    fn lookup_function(&self, name: &str, args: &[Expr], row: &Value) -> Value {
        let (Some(lookups), "get_thing_shadow") = (self.lookups, name) else {
            return Value::Undefined;
        };
        let text = |e: &Expr| match self.eval(e, row) {
            Value::String(s) => Some(s),
            _ => None,
        };
        let shadow = match args {
            [_, _] => None,
            [_, shadow, _] => match text(shadow) {
                Some(s) => Some(s),
                None => return Value::Undefined,
            },
            _ => return Value::Undefined,
        };
        let Some(thing) = text(&args[0]) else {
            return Value::Undefined;
        };
        lookups
            .thing_shadow(&thing, shadow.as_deref())
            .unwrap_or_default()
    }

    /// A nested `(SELECT ... FROM attr WHERE ...)`: over an array, one projection per element
    /// that passes WHERE; over an object, the projection of that object (if WHERE passes).
    fn subquery(&self, q: &Query, row: &Value) -> Value {
        let source = match &q.source {
            Source::Attribute(e) => self.eval(e, row),
            _ => return Value::Undefined,
        };
        match source {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter(|item| self.passes(q, item))
                    .map(|item| self.project(q, item))
                    .collect(),
            ),
            Value::Object(_) if self.passes(q, &source) => self.project(q, &source),
            _ => Value::Undefined,
        }
    }

    fn passes(&self, q: &Query, row: &Value) -> bool {
        q.filter
            .as_ref()
            .is_none_or(|w| self.eval(w, row).is_true())
    }

    /// The SELECT list applied to `row`.
    pub fn project(&self, q: &Query, row: &Value) -> Value {
        match &q.projection {
            Projection::Value(e) => self.eval(e, row),
            Projection::Items(items) => {
                let mut out = Object::new();
                for item in items {
                    match item {
                        SelectItem::Star => {
                            if let Value::Object(o) = row {
                                for (k, v) in o.iter() {
                                    out.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        SelectItem::Expr { expr, key } => {
                            insert_path(&mut out, key, self.eval(expr, row))
                        }
                    }
                }
                Value::Object(out)
            }
        }
    }
}

/// Inserts `value` at a dotted alias path, creating (or replacing non-object) parents. An
/// Undefined value at a nested path adds nothing: AWS leaves Undefined keys out, so `SELECT
/// missing AS a.b` gives `{}`, not `{"a":{}}`.
pub fn insert_path(obj: &mut Object, path: &[String], value: Value) {
    let (first, rest) = path.split_first().expect("alias paths are never empty");
    if !rest.is_empty() && value.is_undefined() {
        return;
    }
    if rest.is_empty() {
        obj.insert(first.clone(), value);
        return;
    }
    if !matches!(obj.get(first), Some(Value::Object(_))) {
        obj.insert(first.clone(), Value::Object(Object::new()));
    }
    if let Some(Value::Object(child)) = obj.get_mut(first) {
        insert_path(child, rest, value);
    }
}

/// Runs a whole statement on one message: decode, SET, WHERE, SELECT, encode.
pub fn evaluate_query(q: &Query, msg: &Message, version: SqlVersion) -> Evaluation {
    evaluate_query_with(q, msg, version, None)
}

/// [`evaluate_query`] with `lookups` for the functions that read outside the message.
pub fn evaluate_query_with(
    q: &Query,
    msg: &Message,
    version: SqlVersion,
    lookups: Option<&dyn Lookups>,
) -> Evaluation {
    let (payload, parse_error) = match parse_payload(msg.payload) {
        Payload::Json(v) => (v, false),
        Payload::Binary { looked_like_json } => {
            (Value::Binary(msg.payload.to_vec()), looked_like_json)
        }
    };
    let output = evaluate_decoded(q, msg, &payload, version, lookups);
    Evaluation {
        output,
        parse_error,
    }
}

/// [`evaluate_query`] for an already decoded payload.
pub fn evaluate_decoded(
    q: &Query,
    msg: &Message,
    payload: &Value,
    version: SqlVersion,
    lookups: Option<&dyn Lookups>,
) -> Option<Vec<u8>> {
    let mut env = Env {
        msg,
        payload,
        version,
        vars: Vec::with_capacity(q.set.len()),
        lookups,
    };
    for (name, e) in &q.set {
        let v = env.eval(e, payload);
        env.vars.push((name.clone(), v));
    }
    if let Some(w) = &q.filter
        && !env.eval(w, payload).is_true()
    {
        return None;
    }
    Some(encode_output(&env, q, payload))
}

fn encode_output(env: &Env, q: &Query, payload: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg_len_hint(env.msg));
    let value = match (&q.projection, payload) {
        // `SELECT *` alone passes a non-object payload (binary, number, array) through as is.
        (Projection::Items(items), _)
            if matches!(items.as_slice(), [SelectItem::Star])
                && !matches!(payload, Value::Object(_)) =>
        {
            payload.clone()
        }
        _ => env.project(q, payload),
    };
    match value {
        Value::Binary(bytes) => bytes,
        v => {
            write_json(&mut out, &v, env.version);
            out
        }
    }
}

fn msg_len_hint(msg: &Message) -> usize {
    msg.payload.len() + 16
}

/// Base64 of raw bytes (shared by error payloads and `encode`).
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
