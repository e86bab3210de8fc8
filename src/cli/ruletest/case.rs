//! One rule's test file, `<rule>.test.toml` beside `<rule>.sql`: its cases (a message and what
//! the rule must do with it), and running one case with the engine, offline.
//!
//! ```toml
//! [[case]]
//! name = "a hot kitchen fires"
//! topic = "sensors/kitchen/data"
//! json = { temperature = 35, humidity = 40 }   # or: payload = '...' (bytes as written)
//! client_id = "dev-1"                           # clientid()
//! timestamp = 1700000000000                      # timestamp(), ms (default 0)
//! newuuid = "6f1c..."                            # newuuid() (default: all zeros)
//! user_properties = [["k", "v"]]                 # MQTT 5
//! mqtt_properties = { content_type = "application/json" }   # correlation_data in base64
//! shadows = { "lamp" = '{"state":{...}}', "lamp/config" = '...' }   # get_thing_shadow()
//! output = { temperature = 35, room = "kitchen" }  # or JSON text: output = '{"a":null}'
//! # output_text = '{"temperature":35,"room":"kitchen"}'   exact bytes
//! # fires = false                                          does not fire
//! # parse_error = true                                     AWS's ParseError (bad JSON)
//! targets = { "republish.topic" = "alerts/kitchen/temperature" }
//! ```

use std::collections::BTreeMap;

use rulewire_engine::json_in::parse_json;
use rulewire_engine::value::values_equal;
use rulewire_engine::{Lookups, Message, Template, Value};
use serde::Deserialize;

use crate::rulefile::RuleFile;

/// `<rule>.test.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// One message and what the rule must do with it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub topic: String,
    /// The payload bytes as written.
    pub payload: Option<String>,
    /// The payload as TOML, sent as its JSON.
    pub json: Option<toml::Value>,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub timestamp: i64,
    pub newuuid: Option<String>,
    #[serde(default)]
    pub user_properties: Vec<[String; 2]>,
    #[serde(default)]
    pub mqtt_properties: BTreeMap<String, String>,
    /// `thing` or `thing/shadow` → the document `get_thing_shadow()` returns (JSON text).
    #[serde(default)]
    pub shadows: BTreeMap<String, String>,
    pub output: Option<toml::Value>,
    pub output_text: Option<String>,
    pub fires: Option<bool>,
    pub parse_error: Option<bool>,
    /// `<action type>.<field>` (`<type>#2.<field>` for the second action of a type,
    /// `error_action.<field>`) → the rendered value.
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
}

/// The all-zero UUID `newuuid()` gives when a case does not fix one.
const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// What a case's functions read: its shadows and its fixed UUID.
struct CaseLookups {
    shadows: BTreeMap<String, Value>,
    uuid: String,
}

impl Lookups for CaseLookups {
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<Value> {
        let key = match shadow {
            None => thing.to_owned(),
            Some(s) => format!("{thing}/{s}"),
        };
        self.shadows.get(&key).cloned()
    }

    fn fixed_uuid(&self) -> Option<String> {
        Some(self.uuid.clone())
    }
}

fn toml_to_json(v: &toml::Value) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| format!("cannot be JSON: {e}"))
}

/// The expected output as JSON text: a TOML string is JSON text, anything else is converted.
fn expected_json(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => toml_to_json(other),
    }
}

fn pretty(bytes: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Every string field of the rule's actions rendered for `msg` (templates filled in), by its
/// target name: `<type>.<field>`, `<type>#2.<field>` for the second action of a type,
/// `error_action.<field>`.
pub fn rendered_targets(
    rule: &RuleFile,
    msg: &Message,
    lookups: Option<&dyn Lookups>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let actions = rule.actions.iter().map(|a| (false, a));
    for (is_error, spec) in actions.chain(rule.error_action.iter().map(|a| (true, a))) {
        let kind = spec
            .table
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("?")
            .to_owned();
        let prefix = if is_error {
            "error_action".to_owned()
        } else {
            let n = seen.entry(kind.clone()).or_default();
            *n += 1;
            if *n == 1 { kind } else { format!("{kind}#{n}") }
        };
        for (field, value) in &spec.table {
            let Some(text) = value.as_str() else { continue };
            if field == "type" {
                continue;
            }
            let template = Template::parse(text, rule.sql_version)
                .map_err(|e| format!("{prefix}.{field}: {e}"))?;
            out.insert(
                format!("{prefix}.{field}"),
                template.render_with(msg, lookups),
            );
        }
    }
    Ok(out)
}

impl Case {
    /// Runs the case against `rule`; the failures, empty when it passed.
    pub fn run(&self, rule: &RuleFile) -> Vec<String> {
        match self.try_run(rule) {
            Ok(failures) => failures,
            Err(e) => vec![format!("the case is invalid: {e}")],
        }
    }

    fn try_run(&self, rule: &RuleFile) -> Result<Vec<String>, String> {
        let payload = match (&self.payload, &self.json) {
            (Some(p), None) => p.clone().into_bytes(),
            (None, Some(j)) => toml_to_json(j)?.into_bytes(),
            _ => return Err("give exactly one of `payload` and `json`".into()),
        };
        let expectations = [
            self.output.is_some(),
            self.output_text.is_some(),
            self.fires == Some(false),
        ];
        if expectations.iter().filter(|e| **e).count() > 1 {
            return Err("give at most one of `output`, `output_text` and `fires = false`".into());
        }
        let mut shadows = BTreeMap::new();
        for (name, text) in &self.shadows {
            let doc = parse_json(text.as_bytes())
                .map_err(|_| format!("shadows.{name:?} is not valid JSON"))?;
            shadows.insert(name.clone(), doc);
        }
        let lookups = CaseLookups {
            shadows,
            uuid: self.newuuid.clone().unwrap_or_else(|| ZERO_UUID.to_owned()),
        };
        let user_properties: Vec<(String, String)> = self
            .user_properties
            .iter()
            .map(|[k, v]| (k.clone(), v.clone()))
            .collect();
        let pairs: Vec<(String, String)> = self
            .mqtt_properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mqtt =
            crate::mqtt::engine_properties(&pairs).map_err(|e| format!("mqtt_properties: {e}"))?;
        // Basic Ingest reaches this rule alone, with the rest of the topic.
        let (topic, reaches) = match self.topic.strip_prefix("$aws/rules/") {
            Some(rest) => {
                let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
                (rest.to_owned(), name == rule.name)
            }
            None => {
                let reaches = rule
                    .rule
                    .topic_filter()
                    .is_some_and(|f| rulewire_engine::topic::matches(f, &self.topic));
                (self.topic.clone(), reaches)
            }
        };
        let msg = Message {
            client_id: &self.client_id,
            timestamp_ms: self.timestamp,
            user_properties: &user_properties,
            mqtt_properties: &mqtt,
            ..Message::new(&topic, &payload)
        };
        let result = if reaches {
            rule.rule.evaluate_with(&msg, &lookups)
        } else {
            Default::default()
        };
        let mut failures = Vec::new();
        if let Some(want) = self.parse_error
            && want != result.parse_error
        {
            failures.push(format!(
                "parse_error: expected {want}, got {}",
                result.parse_error
            ));
        }
        let not_reached = || {
            if reaches {
                "the rule did not fire".to_owned()
            } else {
                format!(
                    "the rule did not fire: topic {:?} does not reach it (FROM {:?})",
                    self.topic,
                    rule.rule.topic_filter().unwrap_or("")
                )
            }
        };
        match (&result.output, self.fires) {
            (Some(out), Some(false)) => failures.push(format!(
                "expected the rule not to fire; it gave:\n{}",
                pretty(out)
            )),
            (None, Some(true)) => failures.push(not_reached()),
            _ => {}
        }
        if let Some(want) = &self.output {
            let want = expected_json(want)?;
            let want_value = parse_json(want.as_bytes())
                .map_err(|_| format!("output is not valid JSON: {want}"))?;
            match &result.output {
                None => failures.push(not_reached()),
                Some(out) => {
                    let same = parse_json(out).is_ok_and(|got| values_equal(&got, &want_value));
                    if !same {
                        failures.push(format!(
                            "output differs (- expected, + actual):\n{}",
                            super::diff::lines(&pretty(want.as_bytes()), &pretty(out))
                        ));
                    }
                }
            }
        }
        if let Some(want) = &self.output_text {
            match &result.output {
                None => failures.push(not_reached()),
                Some(out) if out != want.as_bytes() => failures.push(format!(
                    "output_text differs:\n- {want}\n+ {}",
                    String::from_utf8_lossy(out)
                )),
                Some(_) => {}
            }
        }
        if !self.targets.is_empty() {
            if result.output.is_none() {
                failures.push(format!("targets: {}", not_reached()));
            } else {
                let rendered = rendered_targets(rule, &msg, Some(&lookups))?;
                for (name, want) in &self.targets {
                    match rendered.get(name) {
                        None => failures.push(format!(
                            "targets.{name:?}: no such action field (the rule has: {})",
                            rendered.keys().cloned().collect::<Vec<_>>().join(", ")
                        )),
                        Some(got) if got != want => {
                            failures.push(format!("targets.{name:?} differs:\n- {want}\n+ {got}"))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(failures)
    }
}
