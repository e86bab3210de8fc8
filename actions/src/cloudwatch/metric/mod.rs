//! The `cloudwatch_metric` action (AWS's `CloudwatchMetricAction`): one data point per fired
//! message into a CloudWatch metric, one PutMetricData each, through an AWS connection.
//!
//! As AWS: every field is a template rendered against the original message.
//! - `metric_value` is a number as text (`31`, `-2.5`, `1e3`; surrounding whitespace is
//!   ignored), finite and within CloudWatch's -2^360..2^360.
//! - `metric_unit` is one of CloudWatch's units, spelt exactly (`Count`, `Bytes/Second`, `None`).
//! - `metric_timestamp` is seconds since the epoch (a fraction is kept); without it, the
//!   message's arrival time (what `timestamp()` gives). A value from 10^11 up is refused as
//!   milliseconds.
//! - `metric_namespace` is 1 to 255 ASCII characters, not starting with `:` or `AWS/`;
//!   `metric_name` 1 to 255 characters.
//!
//! A literal that breaks these rules refuses the rule at check time; a rendered value that
//! does fails that message at once to the error action, `failedResource`
//! `<namespace>/<metric name>`. Throttling, 5xx and network errors are retried; CloudWatch's
//! refusals are not.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_cloudwatch::{
    primitives::DateTime,
    types::{MetricDatum, StandardUnit},
};
use rulewire_engine::Message;

pub use config::CloudwatchMetricConfig;

use super::{
    Checked, CloudWatch,
    field::{self, Field},
};
use crate::{
    Action, ActionContext, BuildError, FiredMessage,
    aws::attempt_error,
    delivery::{AttemptError, Rejected, Sink},
    registry::{ActionType, CheckContext},
};

/// The longest namespace and metric name CloudWatch takes, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Timestamps from here (year 5138) up are milliseconds by mistake.
const MIN_MILLIS_LOOKING: f64 = 1e11;

/// The cloudwatch_metric action type.
pub struct MetricAction;

/// The action's fields, checked: templates compiled, literals valid.
pub(crate) struct Fields {
    namespace: Field<String>,
    name: Field<String>,
    value: Field<f64>,
    unit: Field<StandardUnit>,
    /// `None`: the message's arrival time.
    timestamp: Option<Field<DateTime>>,
}

impl ActionType for MetricAction {
    const NAME: &'static str = CloudWatch::<Fields>::KIND;
    type Config = CloudwatchMetricConfig;
    type Checked = Checked<Fields>;

    fn check(
        cfg: CloudwatchMetricConfig,
        ctx: &CheckContext,
    ) -> Result<Checked<Fields>, BuildError> {
        let v = ctx.version;
        let timestamp = match &cfg.metric_timestamp {
            Some(t) => Some(Field::check("metric_timestamp", t, v, parse_timestamp)?),
            None => None,
        };
        let fields = Fields {
            namespace: Field::check(
                "metric_namespace",
                &cfg.metric_namespace,
                v,
                parse_namespace,
            )?,
            name: Field::check("metric_name", &cfg.metric_name, v, |t| {
                field::name(t, MAX_NAME_CHARS)
            })?,
            value: Field::check("metric_value", &cfg.metric_value, v, parse_value)?,
            unit: Field::check("metric_unit", &cfg.metric_unit, v, parse_unit)?,
            timestamp,
        };
        Checked::new(cfg.access, cfg.delivery, fields, ctx)
    }

    fn bind(c: Checked<Fields>, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        super::bind(c, ctx)
    }
}

/// One message's data point.
pub(crate) struct Request {
    /// `<namespace>/<metric name>`, the `failedResource`.
    resource: String,
    namespace: String,
    datum: MetricDatum,
}

impl Fields {
    /// The data point for the message `m` that arrived at `arrival_ms`.
    fn render(&self, m: &Message, arrival_ms: i64) -> Result<Request, String> {
        let namespace = self.namespace.render(m)?;
        let name = self.name.render(m)?;
        let timestamp = match &self.timestamp {
            Some(t) => t.render(m)?,
            None => DateTime::from_millis(arrival_ms),
        };
        let datum = MetricDatum::builder()
            .metric_name(&name)
            .value(self.value.render(m)?)
            .unit(self.unit.render(m)?)
            .timestamp(timestamp)
            .build();
        Ok(Request {
            resource: format!("{namespace}/{name}"),
            namespace,
            datum,
        })
    }
}

impl Sink for CloudWatch<Fields> {
    type Request = Request;
    const KIND: &'static str = "cloudwatch_metric";
    const AWS_NAME: &'static str = "CloudwatchMetricAction";
    /// A data point sent twice is counted twice (at least once, as every action).
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let m = msg.as_engine_message();
        let f = &self.fields;
        f.render(&m, msg.timestamp_ms).map_err(|message| Rejected {
            resource: format!("{}/{}", f.namespace.text(&m), f.name.text(&m)),
            message,
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.resource
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        self.client
            .get()
            .await
            .put_metric_data()
            .namespace(&req.namespace)
            .metric_data(req.datum.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| attempt_error(&e))
    }
}

/// CloudWatch's namespace rules: 1 to 255 ASCII characters without control characters, not
/// starting with `:`, and not `AWS/...` (reserved for AWS's own services).
fn parse_namespace(text: &str) -> Result<String, String> {
    let namespace = field::name(text, MAX_NAME_CHARS)?;
    if namespace.starts_with(':') {
        return Err("starts with ':' (CloudWatch does not allow it)".to_owned());
    }
    if namespace.starts_with("AWS/") {
        return Err("starts with AWS/ (CloudWatch reserves it for AWS services)".to_owned());
    }
    if let Some(c) = namespace
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control())
    {
        return Err(format!(
            "contains {c:?} (CloudWatch namespaces are ASCII without control characters)"
        ));
    }
    Ok(namespace)
}

/// A number as text, finite and within CloudWatch's -2^360..2^360.
fn parse_value(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| "is not a number".to_owned())?;
    if !value.is_finite() {
        return Err("is not a finite number (CloudWatch refuses NaN and infinity)".to_owned());
    }
    if value.abs() > 2f64.powi(360) {
        return Err("is outside CloudWatch's range (-2^360 to 2^360)".to_owned());
    }
    Ok(value)
}

/// One of CloudWatch's units, spelt exactly as CloudWatch does.
fn parse_unit(text: &str) -> Result<StandardUnit, String> {
    if !StandardUnit::values().contains(&text) {
        let units = StandardUnit::values().join(", ");
        return Err(format!("is not a CloudWatch unit (one of: {units})"));
    }
    Ok(StandardUnit::from(text))
}

/// Seconds since the epoch, 0 up to 10^11 (larger values are milliseconds by mistake).
fn parse_timestamp(text: &str) -> Result<DateTime, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| "is not a number of seconds since the epoch".to_owned())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err("is not a number of seconds since the epoch".to_owned());
    }
    if secs >= MIN_MILLIS_LOOKING {
        return Err(
            "is too large for seconds since the epoch (milliseconds? divide by 1000)".to_owned(),
        );
    }
    Ok(DateTime::from_secs_f64(secs))
}
