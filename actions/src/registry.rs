//! The action types rulewire knows, by the name a rule header gives after `type =`, and the
//! two steps that turn a header table into a running action:
//!
//! 1. **check** ([`check_action`]): parse the table into the type's config, compile its
//!    templates, check limits and that each connection it names exists in `rulewire.toml`.
//!    Pure: no clients, no network. `rulewire check` stops here.
//! 2. **bind** ([`CheckedAction::bind`]): create or look up clients in the service's
//!    [`ActionContext`] and bind the action's metric series.
//!
//! Any action may be disk-buffered (`buffer = { type = "disk" }`); [`check_action`] takes
//! that key off the table and wraps the bind step (see `buffer`).
//!
//! Adding an action type is its own folder implementing [`ActionType`] plus one line in
//! [`ACTION_TYPES`].

use std::sync::Arc;

use rulewire_engine::SqlVersion;
use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    Action, ActionContext, BufferConfig, BuildError, ConnectionNames, cloudwatch_logs, firehose,
    http, kafka, kinesis, lambda, opensearch, republish, s3, sns, sqs, step_functions,
};

/// Every action type, in the order error messages list them.
const ACTION_TYPES: &[Registration] = &[
    Registration::of::<republish::RepublishAction>(),
    Registration::of::<http::HttpAction>(),
    Registration::of::<s3::S3Action>(),
    Registration::of::<kafka::KafkaAction>(),
    Registration::of::<kinesis::KinesisAction>(),
    Registration::of::<sqs::SqsAction>(),
    Registration::of::<sns::SnsAction>(),
    Registration::of::<crate::dynamodb::DynamoDbAction>(),
    Registration::of::<crate::dynamodb_v2::DynamoDbV2Action>(),
    Registration::of::<crate::timestream::TimestreamAction>(),
    Registration::of::<firehose::FirehoseAction>(),
    Registration::of::<cloudwatch_logs::CloudwatchLogsAction>(),
    Registration::of::<crate::cloudwatch::MetricAction>(),
    Registration::of::<crate::cloudwatch::AlarmAction>(),
    Registration::of::<lambda::LambdaAction>(),
    Registration::of::<step_functions::StepFunctionsAction>(),
    Registration::of::<opensearch::OpenSearchAction>(),
    Registration::of::<crate::mqtt::MqttAction>(),
];

/// AWS rule actions rulewire does not have: AWS retired them, or they need a service that
/// only AWS runs. A rule using one fails to load with this advice.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "iot_analytics",
        "AWS retired IoT Analytics; use `s3` (Parquet) or `kinesis`",
    ),
    (
        "iot_events",
        "IoT Events runs only on AWS; use `republish` to an MQTT topic or `http`",
    ),
    (
        "iot_sitewise",
        "IoT SiteWise runs only on AWS; use `http` or `kafka`",
    ),
    ("location", "Amazon Location runs only on AWS; use `http`"),
    (
        "salesforce",
        "use `http` to post to the Salesforce IoT input stream",
    ),
    (
        "elasticsearch",
        "AWS retired this action; use `http` to the index's `_doc` API",
    ),
];

/// What checking an action needs besides its table.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The rule's SQL version (templates compile with it).
    pub version: SqlVersion,
    /// The connections `rulewire.toml` configures.
    pub connections: &'a ConnectionNames,
}

/// One action type: its rule-header config, and how a config is checked and bound.
pub(crate) trait ActionType: 'static {
    /// The name after `type =`, and the `action` metric label.
    const NAME: &'static str;
    /// The rule-header table without `type`; unknown keys must be refused.
    type Config: DeserializeOwned;
    /// A checked config: templates compiled, limits checked, no clients.
    type Checked: Send + 'static;

    fn check(cfg: Self::Config, ctx: &CheckContext) -> Result<Self::Checked, BuildError>;
    fn bind(checked: Self::Checked, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError>;
}

/// The bind step of one checked action.
type Bind = Box<dyn FnOnce(&ActionContext) -> Result<Arc<dyn Action>, BuildError> + Send>;

/// An action that passed `check` and can be bound to a service's clients.
pub struct CheckedAction {
    kind: &'static str,
    bind: Bind,
}

impl std::fmt::Debug for CheckedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedAction")
            .field("kind", &self.kind)
            .finish()
    }
}

impl CheckedAction {
    /// The action type, as written after `type =`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Creates the action with the service's clients; its metric series come from
    /// `ctx.metrics`.
    pub fn bind(self, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        (self.bind)(ctx)
    }
}

/// The names of all action types, in registration order.
pub fn action_types() -> Vec<&'static str> {
    ACTION_TYPES.iter().map(|r| r.name).collect()
}

/// Checks one `[[action]]` / `[error_action]` table (its `type` picks the action type).
pub fn check_action(table: &toml::Table, ctx: &CheckContext) -> Result<CheckedAction, BuildError> {
    let kind = match table.get("type") {
        Some(toml::Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(BuildError::invalid("type", "must be a string")),
        None => {
            return Err(BuildError::invalid(
                "type",
                "missing: the action type is required",
            ));
        }
    };
    let Some(registration) = ACTION_TYPES.iter().find(|r| r.name == kind) else {
        return Err(unknown_type(kind));
    };
    let mut fields = table.clone();
    fields.remove("type");
    // `buffer` is every action type's: it wraps the action, whatever its type.
    let buffer = match fields.remove("buffer") {
        Some(value) => BufferConfig::parse(&value)?,
        None => BufferConfig::Memory,
    };
    let checked = (registration.check)(fields, ctx)?;
    if buffer == BufferConfig::Memory {
        return Ok(checked);
    }
    let CheckedAction { kind, bind } = checked;
    Ok(CheckedAction {
        kind,
        bind: Box::new(move |ctx| crate::buffer::bind_buffered(kind, buffer, ctx, bind)),
    })
}

/// The advice for an AWS rule action rulewire does not have (`iot_analytics`, ...), as a
/// rule naming it gets it; `None` for any other name. `rulewire import` reports the same.
pub fn unsupported_advice(kind: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, advice)| *advice)
}

fn unknown_type(kind: &str) -> BuildError {
    let message = match unsupported_advice(kind) {
        Some(advice) => format!("`{kind}` is not supported by rulewire: {advice}"),
        None => format!(
            "unknown action type `{kind}` (rulewire has: {})",
            action_types().join(", ")
        ),
    };
    BuildError::invalid("type", message)
}

/// One entry of `ACTION_TYPES`: the type's name and its `check`, with the config type erased.
struct Registration {
    name: &'static str,
    check: fn(toml::Table, &CheckContext) -> Result<CheckedAction, BuildError>,
}

impl Registration {
    const fn of<T: ActionType>() -> Registration {
        Registration {
            name: T::NAME,
            check: check_as::<T>,
        }
    }
}

fn check_as<T: ActionType>(
    fields: toml::Table,
    ctx: &CheckContext,
) -> Result<CheckedAction, BuildError> {
    let cfg = T::Config::deserialize(toml::Value::Table(fields.clone())).map_err(|e| {
        BuildError::Config {
            message: with_spelling_hint(e.message(), &fields),
        }
    })?;
    let checked = T::check(cfg, ctx)?;
    Ok(CheckedAction {
        kind: T::NAME,
        bind: Box::new(move |ctx| T::bind(checked, ctx)),
    })
}

/// `missing field `queue_url``, when the table has AWS's spelling of it (`queueUrl`, as
/// pasted from an AWS rule), says so: with flattened settings serde reports the missing field
/// before the unknown one.
fn with_spelling_hint(message: &str, fields: &toml::Table) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let aws_spelling = missing.and_then(|field| {
        fields
            .keys()
            .find(|key| key.as_str() != field && snake_case(key) == field)
    });
    match (missing, aws_spelling) {
        (Some(field), Some(key)) => format!(
            "missing field `{field}` (found `{key}`: rulewire spells AWS's fields in snake_case)"
        ),
        _ => message.to_owned(),
    }
}

/// `queueUrl` -> `queue_url`.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::table;

    fn check(text: &str) -> Result<CheckedAction, String> {
        let names = ConnectionNames::default();
        let ctx = CheckContext {
            version: SqlVersion::default(),
            connections: &names,
        };
        check_action(&table(text), &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn the_type_picks_the_action_and_its_fields_are_checked() {
        let c = check("type = \"republish\"\ntopic = \"alerts/${topic(2)}\"\nqos = 1").unwrap();
        assert_eq!(c.kind(), "republish");
        let c = check("type = \"http\"\nurl = \"https://example.com/${topic()}\"").unwrap();
        assert_eq!(c.kind(), "http");
        let e = check("type = \"republish\"\ntopic = \"${topic(}\"").unwrap_err();
        assert!(e.starts_with("field `topic`: bad template"), "{e}");
    }

    #[test]
    fn unknown_keys_and_types_are_clear_errors() {
        let e = check("type = \"republish\"\ntopic = \"a\"\nqso = 1").unwrap_err();
        assert!(e.contains("unknown field `qso`"), "{e}");
        let e = check("type = \"http\"\nurl = \"http://x\"\nheader = []").unwrap_err();
        assert!(e.contains("unknown field `header`"), "{e}");
        let e = check("type = \"http\"\nurl = \"http://x\"\nretry = { attempt = 2 }").unwrap_err();
        assert!(e.contains("unknown field `attempt`"), "{e}");
        let e = check("type = \"republish\"").unwrap_err();
        assert!(e.contains("missing field `topic`"), "{e}");
        let e = check("topic = \"a\"").unwrap_err();
        assert_eq!(e, "field `type`: missing: the action type is required");
        let e = check("type = 5").unwrap_err();
        assert_eq!(e, "field `type`: must be a string");
        let e = check("type = \"lamda\"").unwrap_err();
        assert!(
            e.starts_with(
                "field `type`: unknown action type `lamda` (rulewire has: republish, http, s3, kafka, kinesis, sqs, sns,"
            ),
            "{e}"
        );
    }

    #[test]
    fn aws_spellings_of_a_missing_field_are_pointed_out() {
        let e = check("type = \"lambda\"\nfunctionArn = \"arn:aws:lambda:us-east-1:1:function:f\"")
            .unwrap_err();
        assert_eq!(
            e,
            "missing field `function_arn` (found `functionArn`: rulewire spells AWS's fields in snake_case)"
        );
        let e = check("type = \"lambda\"").unwrap_err();
        assert_eq!(e, "missing field `function_arn`");
    }

    #[test]
    fn actions_only_aws_runs_name_the_closest_rulewire_action() {
        let e = check("type = \"iot_analytics\"\nchannel_name = \"c\"").unwrap_err();
        assert_eq!(
            e,
            "field `type`: `iot_analytics` is not supported by rulewire: AWS retired IoT Analytics; use `s3` (Parquet) or `kinesis`"
        );
        for (name, _) in UNSUPPORTED {
            assert!(!action_types().contains(name), "{name} is both");
        }
    }

    #[test]
    fn an_aws_actions_role_arn_is_checked() {
        let arn = "arn:aws:sns:us-east-1:123456789012:alerts";
        let names = ConnectionNames::default().with("aws", ["default".to_owned()]);
        let ctx = CheckContext {
            version: SqlVersion::default(),
            connections: &names,
        };
        let check = |role: &str| {
            let text = format!("type = \"sns\"\ntarget_arn = \"{arn}\"\nrole_arn = \"{role}\"");
            check_action(&table(&text), &ctx).map_err(|e| e.to_string())
        };
        assert!(check("arn:aws:iam::123456789012:role/iot-to-sns").is_ok());
        let e = check("iot-to-sns").unwrap_err();
        assert_eq!(
            e,
            "field `role_arn`: expected arn:aws:iam::<account>:role/<name>, got \"iot-to-sns\""
        );
    }

    #[test]
    fn connections_are_checked_by_name_without_clients() {
        let names = ConnectionNames::default().with("aws", ["aws".to_owned()]);
        let ctx = CheckContext {
            version: SqlVersion::default(),
            connections: &names,
        };
        let t = |c: &str| {
            table(&format!(
                "type = \"kinesis\"\nconnection = \"{c}\"\nstream_name = \"s\"\npartition_key = \"k\""
            ))
        };
        assert!(check_action(&t("aws"), &ctx).is_ok());
        let e = check_action(&t("other"), &ctx).unwrap_err().to_string();
        assert_eq!(
            e,
            "field `connection`: no [aws.connections.other] in rulewire.toml (configured: aws)"
        );
    }
}
