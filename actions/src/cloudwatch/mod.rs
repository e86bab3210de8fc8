//! The two CloudWatch actions, one folder each, and what they share:
//!
//! - `metric/`: `cloudwatch_metric` (AWS's `CloudwatchMetricAction`), one PutMetricData per
//!   fired message.
//! - `alarm/`: `cloudwatch_alarm` (AWS's `CloudwatchAlarmAction`), one SetAlarmState per fired
//!   message.
//! - `field`: a field AWS lets be a substitution template, with the rule its value must follow:
//!   a literal that can never work refuses the rule at check time, a rendered value that does
//!   not fit fails that message to the error action.
//! - here: what both are around their fields: `Checked<F>` (connection name and delivery
//!   settings, checked), `CloudWatch<F>` (fields and a client; each action implements `Sink`
//!   for its own) and `bind`.
//!
//! Both call CloudWatch through an AWS connection (`crate::aws`) with aws-sdk-cloudwatch pinned
//! to 1.99.0, the last release that speaks the AWS Query protocol: 1.100 moved the client to
//! Smithy RPC v2 CBOR, which AWS serves but moto (the tests' server) cannot parse. The README's
//! "CloudWatch actions" section says what a later upgrade needs.

pub mod alarm;
mod field;
pub mod metric;
#[cfg(any(test, feature = "test-servers"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_cloudwatch::Client;

pub use alarm::{AlarmAction, CloudwatchAlarmConfig};
pub use metric::{CloudwatchMetricConfig, MetricAction};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig,
    aws::{AwsAccess, LazyClient},
    delivery::{Delivered, Delivery, Sink},
    registry::CheckContext,
};

/// Default per-attempt timeout of both actions: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// A checked CloudWatch action (no client yet): its connection and role, the action's checked
/// fields `F`, its delivery settings.
pub struct Checked<F> {
    access: AwsAccess,
    fields: F,
    delivery: DeliveryConfig,
}

impl<F> Checked<F> {
    /// Checks that the connection is configured, the role looks like one, and the delivery
    /// settings can work.
    fn new(
        access: AwsAccess,
        delivery: DeliveryConfig,
        fields: F,
        ctx: &CheckContext,
    ) -> Result<Checked<F>, BuildError> {
        access.check(ctx)?;
        delivery.check()?;
        Ok(Checked {
            access,
            fields,
            delivery,
        })
    }
}

/// A bound CloudWatch action: its fields `F` and a client. `metric` and `alarm` each
/// implement `Sink` for theirs.
struct CloudWatch<F> {
    client: LazyClient<Client>,
    fields: F,
}

/// Binds a checked action: a client of its connection, assuming its role if it has one (built
/// on first use), its delivery settings and metric series.
fn bind<F>(c: Checked<F>, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError>
where
    CloudWatch<F>: Sink,
{
    let kind = <CloudWatch<F> as Sink>::KIND;
    let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, kind, ctx)?;
    let sink = CloudWatch {
        client: LazyClient::new(c.access.open(ctx)?, Client::new),
        fields: c.fields,
    };
    Ok(Delivered::action(sink, delivery))
}
