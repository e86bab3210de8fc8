//! One shadow request in, its answers out: the topics (`$aws/things/{thing}/shadow[/name/
//! {shadow}]/{get,update,delete}`), the checks of an update with AWS's codes and messages, and
//! the accepted / rejected / delta / documents messages, built as AWS builds them (compact JSON,
//! AWS's key order, epoch seconds, `clientToken` echoed). Pure: the service applies the result.

use rulewire_engine::json_in::parse_json;
use rulewire_engine::{Object, Value};

use super::document::{Document, Section, depth, json, metadata_of};

/// A deleted shadow's version carries on for this long (AWS: 48 hours); after it a new
/// shadow of that name starts again at version 1.
pub const VERSION_KEPT_AFTER_DELETE_SECS: i64 = 48 * 3600;
/// AWS's limit on `desired` and `reported` nesting (the section itself is level 1).
pub const MAX_DEPTH: usize = 6;
/// AWS's limit on a `clientToken`, in bytes.
pub const MAX_CLIENT_TOKEN_BYTES: usize = 64;

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Get,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// A thing's classic shadow (`shadow: None`) or one of its named shadows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShadowName {
    pub thing: String,
    pub shadow: Option<String>,
}

impl ShadowName {
    /// The topic prefix: `$aws/things/{thing}/shadow` or `.../shadow/name/{shadow}`.
    pub fn prefix(&self) -> String {
        match &self.shadow {
            None => format!("$aws/things/{}/shadow", self.thing),
            Some(s) => format!("$aws/things/{}/shadow/name/{s}", self.thing),
        }
    }

    /// The storage key, and the name in AWS's 404 message: `thing`, or `thing~shadow` (`~`
    /// is in neither name's alphabet).
    pub fn key(&self) -> String {
        match &self.shadow {
            None => self.thing.clone(),
            Some(s) => format!("{}~{s}", self.thing),
        }
    }

    /// The inverse of [`ShadowName::key`].
    pub fn from_key(key: &str) -> ShadowName {
        match key.split_once('~') {
            Some((thing, shadow)) => ShadowName {
                thing: thing.to_owned(),
                shadow: Some(shadow.to_owned()),
            },
            None => ShadowName {
                thing: key.to_owned(),
                shadow: None,
            },
        }
    }

    /// AWS's name rules: things `[a-zA-Z0-9:_-]{1,128}`, shadows `[$a-zA-Z0-9:_-]{1,64}`.
    pub fn check(&self) -> Result<(), &'static str> {
        let allowed = |c: char, dollar: bool| {
            c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') || (dollar && c == '$')
        };
        if self.thing.len() > 128 {
            return Err("ThingName has a maximum length of 128");
        }
        if self.thing.is_empty() || !self.thing.chars().all(|c| allowed(c, false)) {
            return Err("ThingName must match pattern [a-zA-Z0-9:_-]+");
        }
        if let Some(s) = &self.shadow {
            if s.len() > 64 {
                return Err("ShadowName has a maximum length of 64");
            }
            if s.is_empty() || !s.chars().all(|c| allowed(c, true)) {
                return Err("ShadowName must match pattern [$a-zA-Z0-9:_-]+");
            }
        }
        Ok(())
    }
}

/// The request a topic is, if it is one: `$aws/things/{thing}/shadow/{op}` or
/// `$aws/things/{thing}/shadow/name/{shadow}/{op}`. Response topics are not requests.
pub fn parse_topic(topic: &str) -> Option<(ShadowName, Operation)> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/shadow/")?;
    let (shadow, op) = match rest.split('/').collect::<Vec<_>>()[..] {
        [op] => (None, op),
        ["name", shadow, op] => (Some(shadow.to_owned()), op),
        _ => return None,
    };
    let op = match op {
        "get" => Operation::Get,
        "update" => Operation::Update,
        "delete" => Operation::Delete,
        _ => return None,
    };
    Some((
        ShadowName {
            thing: thing.to_owned(),
            shadow,
        },
        op,
    ))
}

/// The filters that bring every request to the service.
pub const REQUEST_FILTERS: [&str; 6] = [
    "$aws/things/+/shadow/get",
    "$aws/things/+/shadow/update",
    "$aws/things/+/shadow/delete",
    "$aws/things/+/shadow/name/+/get",
    "$aws/things/+/shadow/name/+/update",
    "$aws/things/+/shadow/name/+/delete",
];

/// What is stored under a shadow's name.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Live(Document),
    /// Deleted at `at` (epoch seconds) at `version`; the next shadow of the name continues
    /// from it for [`VERSION_KEPT_AFTER_DELETE_SECS`].
    Deleted {
        version: u64,
        at: i64,
    },
}

/// One message the service publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// What handling one request gives: the messages to publish, the entry to store (nothing for
/// reads and refusals), and the result label for metrics (`accepted` or the error code).
#[derive(Debug)]
pub struct Outcome {
    pub responses: Vec<Response>,
    pub write: Option<Entry>,
    pub result: &'static str,
}

/// A refusal with AWS's code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: u16,
    pub message: String,
}

pub fn refusal(code: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Limits the operator may raise (AWS lets accounts raise them too).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Compact `desired` + `reported` bytes after the merge (AWS: 8 KB).
    pub max_document_bytes: usize,
    /// Requests per second per thing, all its shadows together (AWS: 20); 0: no limit.
    pub requests_per_second_per_thing: usize,
    /// Requests one connection may have waiting at once (AWS: 10 in flight); 0: no limit.
    pub max_in_flight_per_connection: usize,
}

fn int(v: impl Into<i128>) -> Value {
    Value::Int(v.into())
}

fn with_token(mut o: Object, token: Option<&str>) -> Vec<u8> {
    if let Some(t) = token {
        o.insert("clientToken".to_owned(), Value::str(t));
    }
    json(&Value::Object(o))
}

/// The `clientToken` of a get or delete request (whose content is otherwise ignored), or of
/// any request being refused before it is read.
pub fn lenient_token(payload: &[u8]) -> Option<String> {
    match parse_json(payload) {
        Ok(Value::Object(o)) => match o.get("clientToken") {
            Some(Value::String(t)) if t.len() <= MAX_CLIENT_TOKEN_BYTES => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The version a new document of this name starts from.
fn base_version(current: Option<&Entry>, now: i64) -> u64 {
    match current {
        Some(Entry::Live(d)) => d.version,
        Some(Entry::Deleted { version, at }) if now - at < VERSION_KEPT_AFTER_DELETE_SECS => {
            *version
        }
        _ => 0,
    }
}

fn not_found(name: &ShadowName) -> Refusal {
    refusal(404, format!("No shadow exists with name: '{}'", name.key()))
}

/// Handles one request against the shadow's current entry, at `now` (epoch seconds).
pub fn handle(
    name: &ShadowName,
    op: Operation,
    payload: &[u8],
    current: Option<&Entry>,
    now: i64,
    limits: Limits,
) -> Outcome {
    let prefix = format!("{}/{}", name.prefix(), op.as_str());
    let rejected = |r: Refusal, token: Option<&str>| rejection(name, op, r, token);
    if let Err(message) = name.check() {
        return rejected(refusal(400, message), None);
    }
    let accepted = |body: Object, token: Option<&str>| Response {
        topic: format!("{prefix}/accepted"),
        payload: with_token(body, token),
    };
    match op {
        Operation::Get => {
            let token = lenient_token(payload);
            match current {
                Some(Entry::Live(doc)) => Outcome {
                    responses: vec![accepted(doc.get_document(now), token.as_deref())],
                    write: None,
                    result: "accepted",
                },
                _ => rejected(not_found(name), token.as_deref()),
            }
        }
        Operation::Delete => {
            let token = lenient_token(payload);
            match current {
                Some(Entry::Live(doc)) => {
                    let body = Object(vec![
                        ("version".to_owned(), int(doc.version)),
                        ("timestamp".to_owned(), int(now)),
                    ]);
                    Outcome {
                        responses: vec![accepted(body, token.as_deref())],
                        write: Some(Entry::Deleted {
                            version: doc.version,
                            at: now,
                        }),
                        result: "accepted",
                    }
                }
                _ => rejected(not_found(name), token.as_deref()),
            }
        }
        Operation::Update => {
            let request = match parse_update(payload) {
                Ok(r) => r,
                Err((r, token)) => return rejected(r, token.as_deref()),
            };
            let token = request.client_token.as_deref();
            match update(name, &request, current, now, limits) {
                Ok((responses, entry)) => Outcome {
                    responses,
                    write: Some(entry),
                    result: "accepted",
                },
                Err(r) => rejected(r, token),
            }
        }
    }
}

/// The `/rejected` answer to a request.
pub fn rejection(name: &ShadowName, op: Operation, r: Refusal, token: Option<&str>) -> Outcome {
    let body = Object(vec![
        ("code".to_owned(), int(r.code)),
        ("message".to_owned(), Value::String(r.message)),
    ]);
    Outcome {
        responses: vec![Response {
            topic: format!("{}/{}/rejected", name.prefix(), op.as_str()),
            payload: with_token(body, token),
        }],
        write: None,
        result: code_label(r.code),
    }
}

fn code_label(code: u16) -> &'static str {
    match code {
        400 => "400",
        404 => "404",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        _ => "500",
    }
}

/// A checked update request.
struct UpdateRequest {
    /// `state` as sent: an object of `desired`/`reported`, or null.
    state: Value,
    client_token: Option<String>,
    version: Option<u64>,
}

fn has_null_in_array(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| i.is_null() || has_null_in_array(i)),
        Value::Object(o) => o.iter().any(|(_, v)| has_null_in_array(v)),
        _ => false,
    }
}

/// Checks an update's payload in AWS's order; a refusal carries the token when one was read.
fn parse_update(payload: &[u8]) -> Result<UpdateRequest, (Refusal, Option<String>)> {
    if std::str::from_utf8(payload).is_err() {
        return Err((
            refusal(
                415,
                "Unsupported documented encoding; supported encoding is UTF-8",
            ),
            None,
        ));
    }
    let Ok(Value::Object(body)) = parse_json(payload) else {
        return Err((refusal(400, "Invalid JSON"), None));
    };
    let client_token = match body.get("clientToken") {
        None => None,
        Some(Value::String(t)) if t.len() <= MAX_CLIENT_TOKEN_BYTES => Some(t.clone()),
        Some(_) => return Err((refusal(400, "Invalid clientToken"), None)),
    };
    let fail = |message: String| Err((refusal(400, message), client_token.clone()));
    let version = match body.get("version") {
        None => None,
        Some(Value::Int(v)) if *v >= 0 && *v <= u64::MAX as i128 => Some(*v as u64),
        Some(_) => return fail("Invalid version".into()),
    };
    let state = match body.get("state") {
        None => return fail("Missing required node: state".into()),
        Some(s @ (Value::Null | Value::Object(_))) => s.clone(),
        Some(_) => return fail("State node must be an object".into()),
    };
    if let Value::Object(sections) = &state {
        for (key, value) in sections.iter() {
            let section = match key.as_str() {
                "desired" => Section::Desired,
                "reported" => Section::Reported,
                other => return fail(format!("State contains an invalid node: '{other}'")),
            };
            if !matches!(value, Value::Null | Value::Object(_)) {
                return fail(match section {
                    Section::Desired => "Desired node must be an object".into(),
                    Section::Reported => "Reported node must be an object".into(),
                });
            }
            if depth(value) > MAX_DEPTH {
                return fail(format!(
                    "JSON contains too many levels of nesting; maximum is {MAX_DEPTH}"
                ));
            }
            // AWS documents that arrays cannot hold nulls and refuses them, without saying
            // with which message.
            if has_null_in_array(value) {
                return fail("Invalid JSON".into());
            }
        }
    }
    Ok(UpdateRequest {
        state,
        client_token,
        version,
    })
}

/// Applies a checked update: the accepted, delta and documents messages, and the new entry.
fn update(
    name: &ShadowName,
    request: &UpdateRequest,
    current: Option<&Entry>,
    now: i64,
    limits: Limits,
) -> Result<(Vec<Response>, Entry), Refusal> {
    let base = base_version(current, now);
    if let Some(v) = request.version
        && v != base
    {
        return Err(refusal(409, "Version conflict"));
    }
    let previous = match current {
        Some(Entry::Live(d)) => Some(d),
        _ => None,
    };
    let mut doc = previous.cloned().unwrap_or_default();
    match &request.state {
        Value::Object(sections) => {
            for (key, patch) in sections.iter() {
                let section = if key == "desired" {
                    Section::Desired
                } else {
                    Section::Reported
                };
                doc.apply(section, patch, now);
            }
        }
        _ => doc.clear(),
    }
    doc.version = base + 1;
    if doc.state_bytes() > limits.max_document_bytes {
        return Err(refusal(413, "The payload exceeds the maximum size allowed"));
    }
    let token = request.client_token.as_deref();
    let prefix = name.prefix();
    let mut responses = Vec::with_capacity(3);
    // The order AWS's own shadow manager (Greengrass) publishes in: delta, documents, accepted.
    if let Some(delta) = doc.delta() {
        let metadata = doc.delta_metadata(&delta);
        let body = Object(vec![
            ("version".to_owned(), int(doc.version)),
            ("timestamp".to_owned(), int(now)),
            ("state".to_owned(), Value::Object(delta)),
            ("metadata".to_owned(), Value::Object(metadata)),
        ]);
        responses.push(Response {
            topic: format!("{prefix}/update/delta"),
            payload: with_token(body, token),
        });
    }
    let documents = Object(vec![
        (
            "previous".to_owned(),
            previous.map_or(Value::Null, Document::snapshot),
        ),
        ("current".to_owned(), doc.snapshot()),
        ("timestamp".to_owned(), int(now)),
    ]);
    responses.push(Response {
        topic: format!("{prefix}/update/documents"),
        payload: with_token(documents, token),
    });
    let metadata = match &request.state {
        Value::Object(sections) => Value::Object(Object(
            sections
                .iter()
                .map(|(k, v)| (k.clone(), metadata_of(v, now)))
                .collect(),
        )),
        _ => metadata_of(&Value::Null, now),
    };
    let accepted = Object(vec![
        ("state".to_owned(), request.state.clone()),
        ("metadata".to_owned(), metadata),
        ("version".to_owned(), int(doc.version)),
        ("timestamp".to_owned(), int(now)),
    ]);
    responses.push(Response {
        topic: format!("{prefix}/update/accepted"),
        payload: with_token(accepted, token),
    });
    Ok((responses, Entry::Live(doc)))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
