//! One rule definition -> the text of its rule file. The payload's fields: `sql` (kept byte
//! for byte), `awsIotSqlVersion` (always written: when absent AWS uses 2015-10-08 while
//! rulewire defaults to 2016-03-23), `ruleDisabled` (-> `enabled`; a boolean or its text),
//! `description`, `actions` and `errorAction` (see `actions.rs`). The text is then parsed back
//! with `rulefile::parse`, which compiles the SQL: SQL rulewire can't run (an AWS-only
//! function) fails the rule here, and so would SQL that the file format could not keep
//! exactly.

use std::path::Path;

use rulewire_engine::SqlVersion;
use serde_json::{Map, Value};

use super::actions::{self, ActionCtx, boolean, camel};
use super::header::RuleText;
use super::kafka::KafkaConnections;
use super::problem::{Problem, child, index};
use super::source::RuleSource;

/// Payload fields that describe the rule rather than configure it (get-topic-rule output).
const IGNORED: &[&str] = &["ruleName", "createdAt", "ruleArn"];

/// The converted rule: its file text and its action count; `None` when it cannot carry over
/// (errors in `problems`).
pub fn convert(
    source: &RuleSource,
    name: &str,
    file: &Path,
    kafka: &mut KafkaConnections,
    problems: &mut Vec<Problem>,
) -> Option<(String, usize)> {
    let path = source.path.as_str();
    let Some(payload) = source.payload.as_object() else {
        problems.push(Problem::error(path, "expected a TopicRulePayload object"));
        return None;
    };
    let fields: Map<String, Value> = payload.iter().map(|(k, v)| (camel(k), v.clone())).collect();
    let key_of = |field: &str| {
        payload
            .keys()
            .find(|k| camel(k) == field)
            .map_or_else(|| child(path, field), |k| child(path, k))
    };
    let mut failed = false;

    let sql = match fields.get("sql") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            problems.push(Problem::error(&key_of("sql"), "expected a string"));
            return None;
        }
        None => {
            problems.push(Problem::error(path, "no sql"));
            return None;
        }
    };
    let sql_version = match fields.get("awsIotSqlVersion") {
        None | Some(Value::Null) => {
            problems.push(Problem::note(
                path,
                "no awsIotSqlVersion: AWS uses 2015-10-08, written explicitly (rulewire's default is 2016-03-23)",
            ));
            "2015-10-08".to_owned()
        }
        Some(Value::String(v)) if SqlVersion::parse(v).is_some() => v.clone(),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            problems.push(Problem::error(
                &key_of("awsIotSqlVersion"),
                format!(
                    "SQL version {shown:?} is not supported by rulewire (2016-03-23 or 2015-10-08)"
                ),
            ));
            failed = true;
            String::new()
        }
    };
    let enabled = match fields.get("ruleDisabled") {
        None | Some(Value::Null) => true,
        Some(v) => match boolean(v) {
            Some(disabled) => !disabled,
            None => {
                problems.push(Problem::error(
                    &key_of("ruleDisabled"),
                    "expected true or false",
                ));
                failed = true;
                true
            }
        },
    };
    let description = match fields.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for key in payload.keys() {
        let k = camel(key);
        let known = [
            "sql",
            "awsIotSqlVersion",
            "ruleDisabled",
            "description",
            "actions",
            "errorAction",
        ];
        if !known.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()) {
            problems.push(Problem::note(
                &child(path, key),
                "not a TopicRulePayload field: ignored",
            ));
        }
    }

    let mut ctx = ActionCtx {
        problems: &mut *problems,
        kafka,
    };
    let mut converted = Vec::new();
    match fields.get("actions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            let at = key_of("actions");
            for (i, action) in list.iter().enumerate() {
                match actions::convert(action, &index(&at, i), &mut ctx) {
                    Some(a) => converted.push(a),
                    None => failed = true,
                }
            }
        }
        Some(_) => {
            ctx.problems
                .push(Problem::error(&key_of("actions"), "expected a list"));
            failed = true;
        }
    }
    let error_action = match fields.get("errorAction") {
        None | Some(Value::Null) => None,
        Some(action) => {
            let converted = actions::convert(action, &key_of("errorAction"), &mut ctx);
            failed |= converted.is_none();
            converted
        }
    };
    if failed {
        return None;
    }

    let text = RuleText {
        description: &description,
        sql_version: &sql_version,
        enabled,
        actions: &converted,
        error_action: error_action.as_ref(),
        sql,
    }
    .render();
    match crate::rulefile::parse(name, file, &text) {
        Ok(parsed) if parsed.sql == sql => Some((text, converted.len())),
        Ok(_) => {
            problems.push(Problem::error(
                &key_of("sql"),
                "the SQL starts with `--`, which a rule file would read as its header",
            ));
            None
        }
        Err(e) => {
            problems.push(Problem::error(
                &key_of("sql"),
                format!("rulewire cannot load this rule: {}", e.message),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::cli::import::problem::Severity;

    fn run(payload: Value) -> (Option<String>, Vec<Problem>) {
        let source = RuleSource {
            file: "r.json".into(),
            name: "r".into(),
            payload,
            path: "$".into(),
            problems: Vec::new(),
        };
        let mut problems = Vec::new();
        let mut kafka = KafkaConnections::default();
        let out = convert(&source, "r", Path::new("r.sql"), &mut kafka, &mut problems);
        (out.map(|(text, _)| text), problems)
    }

    fn errors(problems: &[Problem]) -> Vec<String> {
        problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn state_and_version_in_either_casing() {
        let (text, _) = run(
            json!({"Sql": "SELECT 1 FROM 'a'", "RuleDisabled": "TRUE", "AwsIotSqlVersion": "2016-03-23"}),
        );
        assert_eq!(
            text.unwrap(),
            "-- sql_version = \"2016-03-23\"\n-- enabled = false\nSELECT 1 FROM 'a'"
        );
        let (text, problems) =
            run(json!({"sql": "SELECT 1 FROM 'a'", "description": "multi\nline \"quoted\""}));
        assert_eq!(
            text.unwrap(),
            "-- description = \"multi\\nline \\\"quoted\\\"\"\n-- sql_version = \"2015-10-08\"\n-- enabled = true\nSELECT 1 FROM 'a'"
        );
        assert!(
            problems[0].message.starts_with("no awsIotSqlVersion"),
            "{problems:?}"
        );
    }

    #[test]
    fn what_the_rule_file_cannot_hold_fails() {
        let (text, problems) = run(
            json!({"sql": "SELECT 1 FROM 'a'", "awsIotSqlVersion": "beta", "ruleDisabled": "maybe"}),
        );
        assert_eq!(text, None);
        assert_eq!(
            errors(&problems),
            [
                "error: $.awsIotSqlVersion: SQL version \"beta\" is not supported by rulewire (2016-03-23 or 2015-10-08)",
                "error: $.ruleDisabled: expected true or false",
            ]
        );
        let (text, problems) =
            run(json!({"sql": "--x\nSELECT 1 FROM 'a'", "awsIotSqlVersion": "2016-03-23"}));
        assert_eq!(text, None);
        assert!(
            errors(&problems)[0].starts_with("error: $.sql:"),
            "{problems:?}"
        );
        let (_, problems) = run(json!({"sql": "SELECT FROM", "awsIotSqlVersion": "2016-03-23"}));
        assert!(
            errors(&problems)[0].contains("rulewire cannot load this rule"),
            "{problems:?}"
        );
        let (_, problems) = run(json!({"description": "no sql"}));
        assert_eq!(errors(&problems), ["error: $: no sql"]);
    }

    #[test]
    fn every_failing_action_is_reported_and_others_still_checked() {
        let (text, problems) = run(json!({
            "sql": "SELECT 1 FROM 'a'", "awsIotSqlVersion": "2016-03-23",
            "actions": [{"iotEvents": {"inputName": "i"}}, {"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t"}}, {"location": {}}],
            "errorAction": {"http": {"url": "https://x", "auth": {}}},
            "tags": "x"
        }));
        assert_eq!(text, None);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.tags",
                "$.actions[0].iotEvents",
                "$.actions[2].location",
                "$.errorAction.http.auth"
            ]
        );
    }
}
