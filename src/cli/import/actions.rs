//! AWS rule actions -> rulewire actions, as a table. rulewire's action fields are AWS's
//! action fields in snake_case (`queueUrl` -> `queue_url`, nested ones too:
//! `putItem.tableName` -> `put_item.table_name`), so a row lists only what differs: a field
//! renamed, typed (AWS's few Integer/Boolean fields; everything else is a string, and a
//! number or boolean a template gave is written as its text), flattened, dropped with a
//! note, refused, or converted by a function. A field rename in an action's config is one
//! line here.
//!
//! `roleArn` becomes the action's `role_arn` on actions that call an AWS API; on the others
//! (republish, http, kafka) it is dropped with a note. AWS-only actions are refused with
//! the advice `rulewire check` gives for them (`rulewire_actions::unsupported_advice`).

use serde_json::Value;

use super::header::{Fields, Out};
use super::kafka::{self, KafkaConnections};
use super::problem::{Problem, child};

/// What converting an action needs besides the action.
pub struct ActionCtx<'a> {
    pub problems: &'a mut Vec<Problem>,
    pub kafka: &'a mut KafkaConnections,
}

/// A field's own conversion: appends rulewire fields, or records problems.
type CustomFn = fn(&Value, &str, &mut ActionCtx, &mut Fields);

/// How one AWS field becomes rulewire's (fields not listed: snake_case, as strings).
#[derive(Clone, Copy)]
enum Field {
    /// Same value, another name.
    Rename(&'static str),
    /// AWS's Integer.
    Int,
    /// AWS's Boolean.
    Bool,
    /// An object whose fields become the action's own (republish `headers`).
    Flatten,
    /// Not carried over; the note says why that is fine or what to do.
    Drop(&'static str),
    /// Cannot carry over: the rule fails with this message.
    Reject(&'static str),
    Custom(CustomFn),
}

/// One AWS action kind.
struct Mapping {
    /// The key in AWS's `Action` (camelCase; CloudFormation's PascalCase matches too).
    aws: &'static str,
    /// rulewire's `type`.
    rulewire: &'static str,
    /// `roleArn` -> `role_arn` (the action calls an AWS API).
    role_arn: bool,
    fields: &'static [(&'static str, Field)],
    /// Fields rulewire requires that AWS may leave out: (field, value written, note).
    defaults: &'static [(&'static str, &'static str, &'static str)],
    /// A note for every action of this kind.
    note: Option<&'static str>,
}

const fn map(
    aws: &'static str,
    rulewire: &'static str,
    role_arn: bool,
    fields: &'static [(&'static str, Field)],
) -> Mapping {
    Mapping {
        aws,
        rulewire,
        role_arn,
        fields,
        defaults: &[],
        note: None,
    }
}

use Field::*;

const MAPPINGS: &[Mapping] = &[
    map(
        "republish",
        "republish",
        false,
        &[("qos", Int), ("headers", Flatten)],
    ),
    map(
        "http",
        "http",
        false,
        &[
            (
                "confirmationUrl",
                Drop("rulewire needs no destination confirmation; the URL is not used"),
            ),
            (
                "auth",
                Reject("SigV4-signed HTTP requests are not supported by rulewire's http action"),
            ),
            ("enableBatching", Custom(http_batching)),
            (
                "batchConfig",
                Drop("rulewire posts one request per message"),
            ),
        ],
    ),
    Mapping {
        note: Some(
            "s3 writes through the S3 connection `default`: without [s3.connections.default] url = \"s3://\" (and an [aws.connections.*]) in rulewire.toml it writes to ./data/s3",
        ),
        ..map(
            "s3",
            "s3",
            true,
            &[
                ("bucketName", Rename("bucket")),
                (
                    "cannedAcl",
                    Drop("rulewire sets no canned ACL: the bucket's defaults apply"),
                ),
            ],
        )
    },
    map(
        "kafka",
        "kafka",
        false,
        &[
            (
                "destinationArn",
                Drop(
                    "the VPC destination is AWS's way to the brokers; rulewire connects directly with the connection's bootstrap_servers",
                ),
            ),
            ("clientProperties", Custom(kafka_properties)),
            ("partition", Custom(kafka_partition)),
        ],
    ),
    Mapping {
        defaults: &[(
            "partition_key",
            "${newuuid()}",
            "no partitionKey: AWS then picks a random key; rulewire needs one, wrote ${newuuid()}",
        )],
        ..map("kinesis", "kinesis", true, &[])
    },
    map("sqs", "sqs", true, &[("useBase64", Bool)]),
    map("sns", "sns", true, &[]),
    map("dynamoDB", "dynamodb", true, &[]),
    map("dynamoDBv2", "dynamodb_v2", true, &[]),
    map("firehose", "firehose", true, &[("batchMode", Bool)]),
    map("lambda", "lambda", true, &[]),
    map("cloudwatchMetric", "cloudwatch_metric", true, &[]),
    map("cloudwatchAlarm", "cloudwatch_alarm", true, &[]),
    map(
        "cloudwatchLogs",
        "cloudwatch_logs",
        true,
        &[("batchMode", Bool)],
    ),
    map("stepFunctions", "step_functions", true, &[]),
    map("timestream", "timestream", true, &[]),
    map(
        "openSearch",
        "opensearch",
        false,
        &[("type", Rename("document_type"))],
    ),
];

/// AWS actions with no rulewire counterpart: (AWS key, name in rulewire's advice table).
const AWS_ONLY: &[(&str, &str)] = &[
    ("iotAnalytics", "iot_analytics"),
    ("iotEvents", "iot_events"),
    ("iotSiteWise", "iot_sitewise"),
    ("location", "location"),
    ("salesforce", "salesforce"),
    ("elasticsearch", "elasticsearch"),
];

/// Converts one element of `actions` (or the `errorAction`) at `path`; `None` when it
/// cannot carry over (the errors are in `ctx.problems`).
pub fn convert(action: &Value, path: &str, ctx: &mut ActionCtx) -> Option<Fields> {
    let Some((key, body)) = action
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        ctx.problems.push(Problem::error(
            path,
            "an action is an object with exactly one key, the action kind (e.g. {\"sqs\": {...}})",
        ));
        return None;
    };
    let at = child(path, key);
    let kind = camel(key);
    let Some(mapping) = MAPPINGS.iter().find(|m| m.aws == kind) else {
        let message = match AWS_ONLY.iter().find(|(aws, _)| *aws == kind) {
            Some((_, name)) => match rulewire_actions::unsupported_advice(name) {
                Some(advice) => format!("{kind} has no rulewire counterpart: {advice}"),
                None => format!("{kind} has no rulewire counterpart"),
            },
            None => format!("unknown AWS action kind {key:?}"),
        };
        ctx.problems.push(Problem::error(&at, message));
        return None;
    };
    let Some(body) = body.as_object() else {
        ctx.problems.push(Problem::error(
            &at,
            "expected the action's fields (an object)",
        ));
        return None;
    };
    let errors_before = error_count(ctx.problems);
    let mut fields: Fields = vec![("type".into(), Out::Str(mapping.rulewire.into()))];
    if let Some(note) = mapping.note {
        ctx.problems.push(Problem::note(&at, note));
    }
    for (name, value) in body {
        let field_path = child(&at, name);
        let name = camel(name);
        if name == "roleArn" {
            if mapping.role_arn {
                push_plain(&mut fields, "role_arn", value);
            } else {
                ctx.problems.push(Problem::note(
                    &field_path,
                    format!(
                        "the role is not used: rulewire's {} action calls no AWS API",
                        mapping.rulewire
                    ),
                ));
            }
            continue;
        }
        let rule = mapping
            .fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, r)| *r);
        match rule {
            None => push_plain(&mut fields, &snake_case(&name), value),
            Some(Rename(to)) => push_plain(&mut fields, to, value),
            Some(Int) => match integer(value) {
                Some(i) => fields.push((snake_case(&name), Out::Int(i))),
                None => ctx
                    .problems
                    .push(Problem::error(&field_path, "expected an integer")),
            },
            Some(Bool) => match boolean(value) {
                Some(b) => fields.push((snake_case(&name), Out::Bool(b))),
                None => ctx
                    .problems
                    .push(Problem::error(&field_path, "expected true or false")),
            },
            Some(Flatten) => match value.as_object() {
                Some(inner) => {
                    for (k, v) in inner {
                        push_plain(&mut fields, &snake_case(&camel(k)), v);
                    }
                }
                None => ctx
                    .problems
                    .push(Problem::error(&field_path, "expected an object")),
            },
            Some(Drop(note)) => ctx.problems.push(Problem::note(&field_path, note)),
            Some(Reject(message)) => ctx.problems.push(Problem::error(&field_path, message)),
            Some(Custom(f)) => f(value, &field_path, ctx, &mut fields),
        }
    }
    for (field, value, note) in mapping.defaults {
        if !fields.iter().any(|(k, _)| k == field) {
            fields.push(((*field).into(), Out::Str((*value).into())));
            ctx.problems.push(Problem::note(&at, *note));
        }
    }
    (error_count(ctx.problems) == errors_before).then_some(fields)
}

fn error_count(problems: &[Problem]) -> usize {
    problems
        .iter()
        .filter(|p| p.severity == super::problem::Severity::Error)
        .count()
}

/// `Sqs` -> `sqs`, `DynamoDBv2` -> `dynamoDBv2`: CloudFormation's names in AWS's API casing.
pub fn camel(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `queueUrl` -> `queue_url`, `useBase64` -> `use_base64`.
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value in rulewire's form: scalars as strings, objects with snake_case keys.
fn plain(value: &Value) -> Option<Out> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Out::Str(s.clone())),
        Value::Number(n) => Some(Out::Str(n.to_string())),
        Value::Bool(b) => Some(Out::Str(b.to_string())),
        Value::Array(items) => Some(Out::Array(items.iter().filter_map(plain).collect())),
        Value::Object(map) => Some(Out::Table(
            map.iter()
                .filter_map(|(k, v)| Some((snake_case(&camel(k)), plain(v)?)))
                .collect(),
        )),
    }
}

fn push_plain(fields: &mut Fields, name: &str, value: &Value) {
    if let Some(v) = plain(value) {
        fields.push((name.to_owned(), v));
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean, or its text (CloudFormation templates often quote them).
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn http_batching(value: &Value, path: &str, ctx: &mut ActionCtx, _: &mut Fields) {
    if boolean(value) == Some(true) {
        ctx.problems.push(Problem::error(
            path,
            "rulewire's http action posts one message per request, AWS's batching posts a JSON array: adapt the receiver and drop enableBatching",
        ));
    }
}

fn kafka_partition(value: &Value, _: &str, _: &mut ActionCtx, fields: &mut Fields) {
    match integer(value) {
        Some(p) => fields.push(("partition".into(), Out::Int(p))),
        None => push_plain(fields, "partition", value),
    }
}

fn kafka_properties(value: &Value, path: &str, ctx: &mut ActionCtx, fields: &mut Fields) {
    if let Some(name) = kafka::connection(value, path, ctx.kafka, ctx.problems) {
        fields.insert(1, ("connection".into(), Out::Str(name)));
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
