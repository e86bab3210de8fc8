//! The `timestream` action (AWS's `TimestreamAction`): write each top-level attribute of the
//! rule's output as one Timestream record (a measure), with the action's dimensions and the
//! message time, through WriteRecords on an AWS connection (`crate::aws`).
//!
//! As AWS: `database_name`, `table_name` and dimension values take substitution templates,
//! dimension names do not; the measure type is inferred from each attribute's JSON value
//! (`measures`); `timestamp` (a template giving a whole epoch number, and its unit) replaces
//! the default time, the message's arrival in milliseconds. Every record carries its own
//! dimensions and time (no CommonAttributes), at most 100 records per request; an output with
//! more attributes is written in several requests, and a retry repeats them all (Timestream
//! accepts an identical record again).
//!
//! Failures: output that is not a JSON object with at least one non-null attribute, a
//! timestamp that does not render to a whole number, and records Timestream rejects
//! (RejectedRecordsException, with each record's reason) fail at once to the error action;
//! throttling, 5xx, network errors and failed endpoint discovery (`client`) are retried.
//! `failedResource` is the table name.

mod client;
mod config;
mod measures;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_timestreamwrite::{
    error::SdkError,
    operation::write_records::WriteRecordsError,
    types::{Dimension, Record, TimeUnit},
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use rulewire_engine::{Message, SqlVersion, Template};

pub use config::{DimensionConfig, TimestampConfig, TimestampUnit, TimestreamConfig};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, attempt_error},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates::{checked_field, field},
};
use client::TimestreamClient;
use measures::measures;

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Timestream's bound on records per WriteRecords request.
pub const MAX_RECORDS_PER_REQUEST: usize = 100;
/// Timestream's bound on dimensions per record.
pub const MAX_DIMENSIONS: usize = 128;

/// The timestream action type.
pub struct TimestreamAction;

/// A checked timestream action: templates compiled, dimension names checked.
pub struct CheckedTimestream {
    access: AwsAccess,
    fields: Fields,
    delivery: DeliveryConfig,
}

struct Fields {
    database: Template,
    table: Template,
    /// (literal name, value template).
    dimensions: Vec<(String, Template)>,
    timestamp: Option<(Template, TimeUnit)>,
    /// The rule's SQL version: nested objects and arrays are printed as its output is.
    version: SqlVersion,
}

/// A Timestream name (database, table): not empty.
fn check_name(name: &str) -> Result<(), String> {
    match name.is_empty() {
        true => Err("must not be empty".to_owned()),
        false => Ok(()),
    }
}

/// A dimension name Timestream accepts (AWS's rules for this action).
fn check_dimension_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if matches!(name, "measure_name" | "measure_value" | "time") {
        return Err(format!("{name:?} is reserved by Timestream"));
    }
    if name.starts_with("ts_") || name.starts_with("measure_value") {
        return Err(format!(
            "{name:?}: dimension names cannot start with ts_ or measure_value"
        ));
    }
    if name.contains(':') {
        return Err(format!("{name:?}: dimension names cannot contain ':'"));
    }
    Ok(())
}

impl ActionType for TimestreamAction {
    const NAME: &'static str = Timestream::KIND;
    type Config = TimestreamConfig;
    type Checked = CheckedTimestream;

    fn check(cfg: TimestreamConfig, ctx: &CheckContext) -> Result<CheckedTimestream, BuildError> {
        cfg.access.check(ctx)?;
        let v = ctx.version;
        let database = checked_field("database_name", &cfg.database_name, v, check_name)?;
        let table = checked_field("table_name", &cfg.table_name, v, check_name)?;
        if !(1..=MAX_DIMENSIONS).contains(&cfg.dimensions.len()) {
            return Err(BuildError::invalid(
                "dimensions",
                format!(
                    "{} given; Timestream records need 1 to {MAX_DIMENSIONS}",
                    cfg.dimensions.len()
                ),
            ));
        }
        let mut dimensions = Vec::with_capacity(cfg.dimensions.len());
        for (i, d) in cfg.dimensions.iter().enumerate() {
            let name_field = format!("dimensions[{i}].name");
            check_dimension_name(&d.name).map_err(|e| BuildError::invalid(&name_field, e))?;
            if dimensions.iter().any(|(n, _)| *n == d.name) {
                let e = format!("{:?} is given twice", d.name);
                return Err(BuildError::invalid(&name_field, e));
            }
            let value = field(&format!("dimensions[{i}].value"), &d.value, v)?;
            dimensions.push((d.name.clone(), value));
        }
        let timestamp = match &cfg.timestamp {
            Some(t) => Some((
                checked_field("timestamp.value", &t.value, v, |text| {
                    epoch(text).map(|_| ())
                })?,
                time_unit(t.unit),
            )),
            None => None,
        };
        cfg.delivery.check()?;
        Ok(CheckedTimestream {
            access: cfg.access,
            fields: Fields {
                database,
                table,
                dimensions,
                timestamp,
                version: v,
            },
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedTimestream, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Timestream::KIND, ctx)?;
        let sink = Timestream {
            client: TimestreamClient::new(c.access.open(ctx)?),
            fields: c.fields,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

fn time_unit(unit: TimestampUnit) -> TimeUnit {
    match unit {
        TimestampUnit::Seconds => TimeUnit::Seconds,
        TimestampUnit::Milliseconds => TimeUnit::Milliseconds,
        TimestampUnit::Microseconds => TimeUnit::Microseconds,
        TimestampUnit::Nanoseconds => TimeUnit::Nanoseconds,
    }
}

/// A timestamp's text: a whole epoch number (AWS: "an expression that returns a long").
fn epoch(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .map_err(|_| format!("{text:?} is not a whole epoch number"))
}

struct Timestream {
    client: TimestreamClient,
    fields: Fields,
}

/// One message rendered: where to write, and its records in requests of at most 100.
struct Request {
    database: String,
    table: String,
    batches: Vec<Vec<Record>>,
}

impl Fields {
    /// The time of every record of `msg`, and its unit.
    fn time(&self, msg: &FiredMessage, m: &Message) -> Result<(String, TimeUnit), String> {
        match &self.timestamp {
            Some((value, unit)) => {
                let text = value.render(m);
                let time = epoch(&text).map_err(|e| format!("timestamp.value: {e}"))?;
                Ok((time.to_string(), unit.clone()))
            }
            None => Ok((msg.timestamp_ms.to_string(), TimeUnit::Milliseconds)),
        }
    }

    fn dimensions(&self, m: &Message) -> Vec<Dimension> {
        self.dimensions
            .iter()
            .map(|(name, value)| {
                Dimension::builder()
                    .name(name)
                    .value(value.render(m))
                    .build()
                    .expect("name and value are set")
            })
            .collect()
    }
}

impl Sink for Timestream {
    type Request = Request;
    const KIND: &'static str = "timestream";
    const AWS_NAME: &'static str = "TimestreamAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let f = &self.fields;
        let m = msg.as_engine_message();
        let table = f.table.render(&m);
        let rejected = |message: String| Rejected {
            resource: table.clone(),
            message,
        };
        check_name(&table).map_err(|e| rejected(format!("table_name {e}")))?;
        let database = f.database.render(&m);
        check_name(&database).map_err(|e| rejected(format!("database_name {e}")))?;
        let (time, unit) = f.time(msg, &m).map_err(rejected)?;
        let dimensions = f.dimensions(&m);
        let records: Vec<Record> = measures(&msg.output, f.version)
            .map_err(rejected)?
            .into_iter()
            .map(|measure| {
                Record::builder()
                    .set_dimensions(Some(dimensions.clone()))
                    .measure_name(measure.name)
                    .measure_value(measure.value)
                    .measure_value_type(measure.value_type)
                    .time(&time)
                    .time_unit(unit.clone())
                    .build()
            })
            .collect();
        let batches = records
            .chunks(MAX_RECORDS_PER_REQUEST)
            .map(<[Record]>::to_vec)
            .collect();
        Ok(Request {
            database,
            table,
            batches,
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.table
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let client = self.client.get().await?;
        for (n, batch) in req.batches.iter().enumerate() {
            client
                .write_records()
                .database_name(&req.database)
                .table_name(&req.table)
                .set_records(Some(batch.clone()))
                .send()
                .await
                .map_err(|e| write_error(&e, batch, n * MAX_RECORDS_PER_REQUEST))?;
        }
        Ok(())
    }
}

/// A failed WriteRecords as an attempt: rejected records are permanent (Timestream: they
/// must be fixed before they can be written), with each record's measure and reason; the
/// rest follows the shared AWS rules.
fn write_error(
    e: &SdkError<WriteRecordsError, HttpResponse>,
    batch: &[Record],
    first_index: usize,
) -> AttemptError {
    let Some(WriteRecordsError::RejectedRecordsException(rejected)) = e.as_service_error() else {
        return attempt_error(e);
    };
    let reasons: Vec<String> = rejected
        .rejected_records()
        .iter()
        .map(|r| {
            let i = usize::try_from(r.record_index()).unwrap_or_default();
            let measure = batch.get(i).and_then(Record::measure_name).unwrap_or("?");
            let reason = r.reason().unwrap_or("no reason given");
            format!("record {} (measure {measure:?}): {reason}", first_index + i)
        })
        .collect();
    AttemptError::permanent(format!(
        "Timestream rejected records: {}",
        match reasons.is_empty() {
            true => rejected.message().unwrap_or("no details").to_owned(),
            false => reasons.join("; "),
        }
    ))
}
