//! One Device Shadow and the pure operations on it: merging an update's `desired`/`reported`
//! sections (nulls delete, arrays replace whole, sections that become empty disappear),
//! per-leaf metadata timestamps, the delta, and the JSON documents the service answers with.
//!
//! Values are the rules engine's ordered JSON ([`Value`]), so that key order is kept as
//! devices sent it (AWS echoes it) and `get_thing_shadow()` hands rules the same values.
//! Timestamps are epoch seconds, as AWS writes them.

use rulewire_engine::value::values_equal;
use rulewire_engine::{Object, SqlVersion, Value};

/// How shadow JSON prints numbers: as received (`1.0` stays `1.0`, `2.50` becomes `2.5`).
pub const NUMBERS: SqlVersion = SqlVersion::V2015_10_08;

/// The stored state of one shadow: its sections, their metadata, and its version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub desired: Option<Object>,
    pub reported: Option<Object>,
    pub metadata_desired: Option<Object>,
    pub metadata_reported: Option<Object>,
    pub version: u64,
}

/// Which of the two sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Desired,
    Reported,
}

impl Section {
    pub fn key(self) -> &'static str {
        match self {
            Section::Desired => "desired",
            Section::Reported => "reported",
        }
    }
}

/// `{"timestamp": now}`: the metadata of one leaf.
fn stamp(now: i64) -> Value {
    Value::Object(Object(vec![(
        "timestamp".to_owned(),
        Value::Int(now.into()),
    )]))
}

/// The metadata of a value written at `now`: objects map key by key, arrays element by
/// element, anything else (null included) is a leaf.
pub fn metadata_of(value: &Value, now: i64) -> Value {
    match value {
        Value::Object(o) => Value::Object(Object(
            o.iter()
                .map(|(k, v)| (k.clone(), metadata_of(v, now)))
                .collect(),
        )),
        Value::Array(items) => Value::Array(items.iter().map(|v| metadata_of(v, now)).collect()),
        _ => stamp(now),
    }
}

fn remove(o: &mut Object, key: &str) {
    o.0.retain(|(k, _)| k != key);
}

/// Merges `patch` into `target` (and its metadata `meta`): a null removes its key, an object
/// merges into an object (a non-object is replaced by the merge into an empty one), anything
/// else replaces the value whole.
fn merge(target: &mut Object, meta: &mut Object, patch: &Object, now: i64) {
    for (key, value) in patch.iter() {
        match value {
            Value::Null => {
                remove(target, key);
                remove(meta, key);
            }
            Value::Object(inner) => {
                if !matches!(target.get(key), Some(Value::Object(_))) {
                    target.insert(key.clone(), Value::Object(Object::new()));
                    meta.insert(key.clone(), Value::Object(Object::new()));
                }
                if !matches!(meta.get(key), Some(Value::Object(_))) {
                    meta.insert(key.clone(), Value::Object(Object::new()));
                }
                let (Some(Value::Object(t)), Some(Value::Object(m))) =
                    (target.get_mut(key), meta.get_mut(key))
                else {
                    unreachable!("both were just made objects");
                };
                merge(t, m, inner, now);
            }
            other => {
                target.insert(key.clone(), other.clone());
                meta.insert(key.clone(), metadata_of(other, now));
            }
        }
    }
}

impl Document {
    fn section(&self, s: Section) -> (&Option<Object>, &Option<Object>) {
        match s {
            Section::Desired => (&self.desired, &self.metadata_desired),
            Section::Reported => (&self.reported, &self.metadata_reported),
        }
    }

    fn section_mut(&mut self, s: Section) -> (&mut Option<Object>, &mut Option<Object>) {
        match s {
            Section::Desired => (&mut self.desired, &mut self.metadata_desired),
            Section::Reported => (&mut self.reported, &mut self.metadata_reported),
        }
    }

    /// Applies one section of an update: `null` removes the section, an object merges into it.
    /// A section left empty is removed.
    pub fn apply(&mut self, s: Section, patch: &Value, now: i64) {
        let (state, meta) = self.section_mut(s);
        match patch {
            Value::Object(p) => {
                let target = state.get_or_insert_with(Object::new);
                let m = meta.get_or_insert_with(Object::new);
                merge(target, m, p, now);
                if target.is_empty() {
                    *state = None;
                    *meta = None;
                }
            }
            _ => {
                *state = None;
                *meta = None;
            }
        }
    }

    /// `"state": null`: both sections removed (the shadow itself stays).
    pub fn clear(&mut self) {
        *self = Document {
            version: self.version,
            ..Document::default()
        };
    }

    /// The desired fields that are absent from reported or differ from it (objects compared
    /// field by field, arrays and other values whole; numbers by value). `None` when empty.
    pub fn delta(&self) -> Option<Object> {
        let desired = self.desired.as_ref()?;
        let d = delta(desired, self.reported.as_ref());
        (!d.is_empty()).then_some(d)
    }

    /// The desired metadata of the delta's fields (what AWS's delta message carries).
    pub fn delta_metadata(&self, delta: &Object) -> Object {
        match &self.metadata_desired {
            Some(meta) => metadata_along(delta, meta),
            None => Object::new(),
        }
    }

    /// Length of the compact JSON of `desired` plus `reported`: what AWS's size limit counts.
    pub fn state_bytes(&self) -> usize {
        [&self.desired, &self.reported]
            .into_iter()
            .flatten()
            .map(|o| json(&Value::Object(o.clone())).len())
            .sum()
    }

    /// `{"desired":..,"reported":..}` with the sections present.
    fn sections(&self, which: fn(&Document, Section) -> &Option<Object>) -> Object {
        let mut out = Object::new();
        for s in [Section::Desired, Section::Reported] {
            if let Some(o) = which(self, s) {
                out.insert(s.key().to_owned(), Value::Object(o.clone()));
            }
        }
        out
    }

    pub fn state_object(&self) -> Object {
        self.sections(|d, s| d.section(s).0)
    }

    pub fn metadata_object(&self) -> Object {
        self.sections(|d, s| d.section(s).1)
    }

    /// What GET returns (and `get_thing_shadow()`): state with its delta, metadata, version
    /// and `timestamp` (the time of the request).
    pub fn get_document(&self, now: i64) -> Object {
        let mut state = self.state_object();
        if let Some(delta) = self.delta() {
            state.insert("delta".to_owned(), Value::Object(delta));
        }
        Object(vec![
            ("state".to_owned(), Value::Object(state)),
            ("metadata".to_owned(), Value::Object(self.metadata_object())),
            ("version".to_owned(), Value::Int(self.version.into())),
            ("timestamp".to_owned(), Value::Int(now.into())),
        ])
    }

    /// `previous`/`current` of an `/update/documents` message: state, metadata and version.
    pub fn snapshot(&self) -> Value {
        Value::Object(Object(vec![
            ("state".to_owned(), Value::Object(self.state_object())),
            ("metadata".to_owned(), Value::Object(self.metadata_object())),
            ("version".to_owned(), Value::Int(self.version.into())),
        ]))
    }
}

fn delta(desired: &Object, reported: Option<&Object>) -> Object {
    let mut out = Object::new();
    for (key, want) in desired.iter() {
        match (want, reported.and_then(|r| r.get(key))) {
            (_, None) => out.insert(key.clone(), want.clone()),
            (Value::Object(w), Some(Value::Object(have))) => {
                let inner = delta(w, Some(have));
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            (_, Some(have)) => {
                if !values_equal(want, have) {
                    out.insert(key.clone(), want.clone());
                }
            }
        }
    }
    out
}

fn metadata_along(delta: &Object, meta: &Object) -> Object {
    let mut out = Object::new();
    for (key, value) in delta.iter() {
        let Some(m) = meta.get(key) else { continue };
        match (value, m) {
            (Value::Object(d), Value::Object(inner)) => {
                out.insert(key.clone(), Value::Object(metadata_along(d, inner)))
            }
            _ => out.insert(key.clone(), m.clone()),
        }
    }
    out
}

/// Compact JSON text of a shadow value.
pub fn json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    rulewire_engine::json_out::write_json(&mut out, v, NUMBERS);
    out
}

/// Nesting depth of containers (an empty one counts for nothing, as AWS's shadow manager
/// counts).
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Object(o) if !o.is_empty() => 1 + o.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        Value::Array(a) if !a.is_empty() => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
