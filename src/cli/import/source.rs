//! Reading input files: which of the accepted forms a file is, and the rule definitions in
//! it, each as a TopicRulePayload with CloudFormation's intrinsics already evaluated.
//!
//! - `aws iot get-topic-rule` output: `{"ruleArn": ..., "rule": {"ruleName": ..., "sql": ...}}`;
//! - `aws iot create-topic-rule --cli-input-json` input: `{"ruleName", "topicRulePayload"}`;
//! - a bare TopicRulePayload (`{"sql": ..., "actions": [...]}`): the rule is the file stem;
//! - a CloudFormation or SAM template (JSON or YAML): every `AWS::IoT::TopicRule` resource
//!   (named by `RuleName`, else its logical id) and every `IoTRule` event of an
//!   `AWS::Serverless::Function` (named `<Function><Event>` as SAM names the rule it
//!   generates, with a lambda action to the function).
//!
//! Field names may be camelCase (AWS's API) or PascalCase (CloudFormation); the converter
//! accepts both.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::intrinsics::{Deployment, Resolver, Template};
use super::problem::{Problem, child};
use super::yaml;

/// One rule definition found in an input file.
#[derive(Debug)]
pub struct RuleSource {
    pub file: PathBuf,
    /// The name the definition gives (not yet checked against rulewire's pattern).
    pub name: String,
    /// The TopicRulePayload, intrinsics evaluated.
    pub payload: Value,
    /// JSON path of the payload in the file.
    pub path: String,
    /// What reading it found (notes, and errors of intrinsics).
    pub problems: Vec<Problem>,
}

/// The rule definitions of one file; `Err` when the file can't be read or is no rule
/// definition at all.
pub fn read(file: &Path, deployment: &Deployment) -> Result<Vec<RuleSource>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let root = parse(file, &text)?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("rule")
        .to_owned();
    let source = |name: String, payload: &Value, path: &str| RuleSource {
        file: file.to_owned(),
        name,
        payload: payload.clone(),
        path: path.to_owned(),
        problems: Vec::new(),
    };
    let Some(obj) = root.as_object() else {
        return Err("not an AWS IoT rule definition: the file is not a JSON/YAML object".into());
    };
    if let Some(resources) = obj.get("Resources").and_then(Value::as_object) {
        return Ok(template_rules(file, obj, resources, deployment, &stem));
    }
    if let Some(rule) = obj.get("rule").filter(|r| r.is_object()) {
        let name = rule
            .get("ruleName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                obj.get("ruleArn")
                    .and_then(Value::as_str)
                    .and_then(|arn| arn.rsplit_once("rule/"))
                    .map(|(_, n)| n.to_owned())
            })
            .unwrap_or(stem);
        return Ok(vec![source(name, rule, "$.rule")]);
    }
    if let Some(payload) = obj.get("topicRulePayload").filter(|r| r.is_object()) {
        let name = obj
            .get("ruleName")
            .and_then(Value::as_str)
            .map_or(stem, str::to_owned);
        return Ok(vec![source(name, payload, "$.topicRulePayload")]);
    }
    if obj.contains_key("sql") || obj.contains_key("Sql") {
        return Ok(vec![source(stem, &root, "$")]);
    }
    Err("not an AWS IoT rule definition: expected the output of `aws iot get-topic-rule`, a TopicRulePayload, or a CloudFormation/SAM template with Resources".into())
}

/// JSON for `.json`, YAML for `.yaml`/`.yml`, else whichever parses (JSON first).
fn parse(file: &Path, text: &str) -> Result<Value, String> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = || serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"));
    let yaml = || yaml::parse(text).map_err(|e| format!("invalid YAML: {e}"));
    match ext.as_str() {
        "json" => json(),
        "yaml" | "yml" => yaml(),
        _ => json().or_else(|_| yaml()),
    }
}

/// The rules of a CloudFormation/SAM template, in logical-id order.
fn template_rules(
    file: &Path,
    root: &Map<String, Value>,
    resources: &Map<String, Value>,
    deployment: &Deployment,
    stem: &str,
) -> Vec<RuleSource> {
    let template = Template::new(root, resources, deployment, stem);
    let mut rules = Vec::new();
    for (id, resource) in resources {
        let at = child("$.Resources", id);
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        let props = child(&at, "Properties");
        let empty = Value::Object(Map::new());
        let properties = resource.get("Properties").unwrap_or(&empty);
        match ty {
            "AWS::IoT::TopicRule" => {
                let mut resolver = Resolver::new(&template);
                let name = match properties.get("RuleName") {
                    Some(v) => resolver
                        .string(v, &child(&props, "RuleName"))
                        .unwrap_or_else(|p| {
                            resolver.problems.push(Problem::note(
                                &p.path,
                                format!(
                                    "{}; used the logical id {id:?} as the rule name",
                                    p.message
                                ),
                            ));
                            id.clone()
                        }),
                    None => id.clone(),
                };
                let path = child(&props, "TopicRulePayload");
                let raw = properties.get("TopicRulePayload").unwrap_or(&Value::Null);
                rules.push(resolved(file, name, raw, &path, resolver, resource, &at));
            }
            "AWS::Serverless::Function" => {
                let events = properties.get("Events").and_then(Value::as_object);
                for (event, def) in events.into_iter().flatten() {
                    if def.get("Type").and_then(Value::as_str) != Some("IoTRule") {
                        continue;
                    }
                    let path = child(&child(&child(&props, "Events"), event), "Properties");
                    let p = def.get("Properties").cloned().unwrap_or(Value::Null);
                    let mut raw = json!({
                        "Sql": p.get("Sql").cloned().unwrap_or(Value::Null),
                        "Actions": [{"Lambda": {"FunctionArn": {"Fn::GetAtt": [id, "Arn"]}}}],
                    });
                    if let Some(v) = p.get("AwsIotSqlVersion") {
                        raw["AwsIotSqlVersion"] = v.clone();
                    }
                    let resolver = Resolver::new(&template);
                    let name = format!("{id}{event}");
                    rules.push(resolved(file, name, &raw, &path, resolver, resource, &at));
                }
            }
            _ => {}
        }
    }
    rules
}

/// A template rule with its payload resolved.
fn resolved(
    file: &Path,
    name: String,
    raw: &Value,
    path: &str,
    mut resolver: Resolver,
    resource: &Value,
    at: &str,
) -> RuleSource {
    if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
        resolver.problems.push(Problem::note(
            &child(at, "Condition"),
            format!(
                "the resource is created only under Condition {condition}; imported unconditionally"
            ),
        ));
    }
    let payload = match resolver.resolve(raw, path) {
        Ok(Some(v)) => v,
        Ok(None) => Value::Null,
        Err(p) => {
            resolver.problems.push(p);
            Value::Null
        }
    };
    RuleSource {
        file: file.to_owned(),
        name,
        payload,
        path: path.to_owned(),
        problems: resolver.problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(file: &str, text: &str) -> Result<Vec<RuleSource>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        read(&path, &Deployment::default())
    }

    #[test]
    fn each_form_gives_its_rule_name_and_payload_path() {
        let rules = read_text(
            "x.json",
            r#"{"ruleArn": "arn:aws:iot:us-east-1:1:rule/from_arn", "rule": {"sql": "SELECT 1 FROM 'a'"}}"#,
        )
        .unwrap();
        assert_eq!(
            (rules[0].name.as_str(), rules[0].path.as_str()),
            ("from_arn", "$.rule")
        );
        let rules = read_text(
            "x.json",
            r#"{"ruleName": "cli_input", "topicRulePayload": {"sql": "SELECT 1 FROM 'a'"}}"#,
        )
        .unwrap();
        assert_eq!(
            (rules[0].name.as_str(), rules[0].path.as_str()),
            ("cli_input", "$.topicRulePayload")
        );
        let rules = read_text("bare_payload.txt", "sql: SELECT 1 FROM 'a'\n").unwrap();
        assert_eq!(
            (rules[0].name.as_str(), rules[0].path.as_str()),
            ("bare_payload", "$")
        );
    }

    #[test]
    fn templates_name_rules_by_rule_name_or_logical_id() {
        let rules = read_text(
            "t.yaml",
            "Resources:\n  B:\n    Type: AWS::IoT::TopicRule\n    Properties:\n      RuleName: !Ref Missing\n      TopicRulePayload: {Sql: x}\n  A:\n    Type: AWS::IoT::TopicRule\n    Condition: IsProd\n    Properties:\n      TopicRulePayload: {Sql: y}\n",
        )
        .unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert!(
            rules[0].problems[0].message.contains("Condition IsProd"),
            "{:?}",
            rules[0].problems
        );
        // An unresolvable RuleName falls back to the logical id, and says so.
        assert!(
            rules[1].problems[0]
                .message
                .ends_with("used the logical id \"B\" as the rule name")
        );
        assert_eq!(rules[1].payload, serde_json::json!({"Sql": "x"}));
    }

    #[test]
    fn other_files_are_refused() {
        assert!(
            read_text("x.json", "[1]")
                .unwrap_err()
                .contains("not an AWS IoT rule definition")
        );
        assert!(
            read_text("x.json", "{")
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        assert!(
            read_text("x.yaml", "a: [")
                .unwrap_err()
                .starts_with("invalid YAML")
        );
    }
}
