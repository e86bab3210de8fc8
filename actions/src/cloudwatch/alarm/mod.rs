//! The `cloudwatch_alarm` action (AWS's `CloudwatchAlarmAction`): set a CloudWatch alarm's
//! state and reason, one SetAlarmState per fired message, through an AWS connection.
//!
//! As AWS: every field is a template rendered against the original message. `state_value` is
//! `OK`, `ALARM` or `INSUFFICIENT_DATA` (exactly); `alarm_name` 1 to 255 characters;
//! `state_reason` at most 1023. A literal that breaks these rules refuses the rule at check
//! time; a rendered value that does fails that message at once to the error action,
//! `failedResource` the alarm name. An alarm that does not exist (`ResourceNotFound`) is
//! permanent too; throttling, 5xx and network errors are retried.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_cloudwatch::types::StateValue;
use rulewire_engine::Message;

pub use config::CloudwatchAlarmConfig;

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

/// The longest alarm name CloudWatch takes, in characters.
pub const MAX_ALARM_NAME_CHARS: usize = 255;
/// The longest state reason SetAlarmState takes, in characters.
pub const MAX_REASON_CHARS: usize = 1023;

/// The cloudwatch_alarm action type.
pub struct AlarmAction;

/// The action's fields, checked: templates compiled, literals valid.
pub(crate) struct Fields {
    name: Field<String>,
    reason: Field<String>,
    state: Field<StateValue>,
}

impl ActionType for AlarmAction {
    const NAME: &'static str = CloudWatch::<Fields>::KIND;
    type Config = CloudwatchAlarmConfig;
    type Checked = Checked<Fields>;

    fn check(
        cfg: CloudwatchAlarmConfig,
        ctx: &CheckContext,
    ) -> Result<Checked<Fields>, BuildError> {
        let v = ctx.version;
        let fields = Fields {
            name: Field::check("alarm_name", &cfg.alarm_name, v, |t| {
                field::name(t, MAX_ALARM_NAME_CHARS)
            })?,
            reason: Field::check("state_reason", &cfg.state_reason, v, parse_reason)?,
            state: Field::check("state_value", &cfg.state_value, v, parse_state)?,
        };
        Checked::new(cfg.access, cfg.delivery, fields, ctx)
    }

    fn bind(c: Checked<Fields>, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        super::bind(c, ctx)
    }
}

/// One message's SetAlarmState.
pub(crate) struct Request {
    name: String,
    reason: String,
    state: StateValue,
}

impl Fields {
    fn render(&self, m: &Message) -> Result<Request, String> {
        Ok(Request {
            name: self.name.render(m)?,
            reason: self.reason.render(m)?,
            state: self.state.render(m)?,
        })
    }
}

impl Sink for CloudWatch<Fields> {
    type Request = Request;
    const KIND: &'static str = "cloudwatch_alarm";
    const AWS_NAME: &'static str = "CloudwatchAlarmAction";
    /// Setting a state twice is harmless.
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let m = msg.as_engine_message();
        self.fields.render(&m).map_err(|message| Rejected {
            resource: self.fields.name.text(&m),
            message,
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.name
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        self.client
            .get()
            .await
            .set_alarm_state()
            .alarm_name(&req.name)
            .state_value(req.state.clone())
            .state_reason(&req.reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| attempt_error(&e))
    }
}

/// At most 1023 characters (SetAlarmState's limit); may be empty.
fn parse_reason(text: &str) -> Result<String, String> {
    let len = text.chars().count();
    if len > MAX_REASON_CHARS {
        return Err(format!(
            "is {len} characters long (SetAlarmState allows {MAX_REASON_CHARS})"
        ));
    }
    Ok(text.to_owned())
}

/// `OK`, `ALARM` or `INSUFFICIENT_DATA`, spelt exactly.
fn parse_state(text: &str) -> Result<StateValue, String> {
    if !StateValue::values().contains(&text) {
        return Err("is not a state (OK, ALARM or INSUFFICIENT_DATA)".to_owned());
    }
    Ok(StateValue::from(text))
}
