//! The `lambda` action (AWS's `LambdaAction`): invoke a Lambda function asynchronously
//! (`InvocationType=Event`) with the rule's output as the event, one Invoke per fired message,
//! through an AWS connection (`crate::aws`).
//!
//! As AWS: `function_arn` is a template (AWS accepts templates there through its API), with an
//! optional `:alias` or `:version`; the call does not wait for the function to run, so the
//! action succeeds once Lambda has queued the event (202). Lambda events are JSON: output that
//! is not JSON (binary payloads) fails permanently to the error action, as on AWS, where the
//! advice is `SELECT encode(*, 'base64') AS data`. A missing function, an access error or a
//! payload Lambda refuses fail at once; throttling (`TooManyRequestsException`, 429), 5xx and
//! network errors are retried with the action's policy. `failedResource` is the function ARN.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_lambda::{Client, types::InvocationType};
use aws_smithy_types::Blob;
use rulewire_engine::Template;

pub use config::LambdaConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient, attempt_error},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The lambda action type.
pub struct LambdaAction;

/// A checked lambda action: the function template compiled (and, when static, checked).
pub struct CheckedLambda {
    access: AwsAccess,
    function_arn: Template,
    delivery: DeliveryConfig,
}

impl ActionType for LambdaAction {
    const NAME: &'static str = Lambda::KIND;
    type Config = LambdaConfig;
    type Checked = CheckedLambda;

    fn check(cfg: LambdaConfig, ctx: &CheckContext) -> Result<CheckedLambda, BuildError> {
        cfg.access.check(ctx)?;
        let function_arn = templates::field("function_arn", &cfg.function_arn, ctx.version)?;
        if function_arn.is_static() {
            check_function(&cfg.function_arn)
                .map_err(|m| BuildError::invalid("function_arn", m))?;
        }
        cfg.delivery.check()?;
        Ok(CheckedLambda {
            access: cfg.access,
            function_arn,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedLambda, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, Lambda::KIND, ctx)?;
        let sink = Lambda {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            function_arn: c.function_arn,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

/// Checks a function reference: `arn:<partition>:lambda:<region>:<account>:function:<name>`
/// with an optional `:<qualifier>`, or a bare function name (the connection's region and
/// account).
fn check_function(text: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "expected arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>], got {text:?}"
        )
    };
    if text.starts_with("arn:") {
        let parts: Vec<&str> = text.split(':').collect();
        let shaped = matches!(parts.len(), 7 | 8)
            && parts[2] == "lambda"
            && parts[5] == "function"
            && parts[6..].iter().all(|p| !p.is_empty());
        return if shaped { Ok(()) } else { Err(expected()) };
    }
    let name_ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name_ok { Ok(()) } else { Err(expected()) }
}

struct Lambda {
    client: LazyClient<Client>,
    function_arn: Template,
}

/// One rendered Invoke.
struct Request {
    function: String,
    payload: Blob,
}

impl Sink for Lambda {
    type Request = Request;
    const KIND: &'static str = "lambda";
    const AWS_NAME: &'static str = "LambdaAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let function = self.function_arn.render(&msg.as_engine_message());
        let rejected = |message: String| Rejected {
            resource: function.clone(),
            message,
        };
        if !self.function_arn.is_static() {
            check_function(&function).map_err(rejected)?;
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&msg.output).is_err() {
            return Err(rejected(
                "the output is not JSON, which Lambda events must be; base64-encode binary \
                 payloads: SELECT encode(*, 'base64') AS data"
                    .to_owned(),
            ));
        }
        Ok(Request {
            payload: Blob::new(msg.output.clone()),
            function,
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.function
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        self.client
            .get()
            .await
            .invoke()
            .function_name(&req.function)
            .invocation_type(InvocationType::Event)
            .payload(req.payload.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| attempt_error(&e))
    }
}
