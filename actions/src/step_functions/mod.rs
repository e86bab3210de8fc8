//! The `step_functions` action (AWS's `StepFunctionsAction`): start an execution of a Step
//! Functions state machine with the rule's output as its input, one StartExecution per fired
//! message, through an AWS connection (`crate::aws`).
//!
//! As AWS: rules name the state machine, not its ARN; the ARN is
//! `arn:<partition>:states:<region>:<account>:stateMachine:<name>`, with the connection's region
//! and the account (and partition) of its credentials, which STS GetCallerIdentity gives once
//! per connection (`AwsConnection::caller_identity`). Each execution is named
//! `<execution_name_prefix><UUID>` (both fields are templates): Step Functions allows 80
//! characters, so the rendered prefix may have 44, and neither name may contain whitespace,
//! control characters, a backtick or any of `<>{}[]?*"#%\^|~$&,;:/`.
//!
//! The name is chosen once per message, so a retried StartExecution is idempotent: when an
//! earlier attempt did reach Step Functions, the retry gets the same execution back (running)
//! or `ExecutionAlreadyExists` (finished), which counts as delivered. The input must be JSON
//! of at most 256 KiB (Step Functions' rules); other output fails permanently to the error
//! action, as do a missing state machine or an access error. Throttling, 5xx and network
//! errors are retried. `failedResource` is the state machine name.

mod config;
#[cfg(test)]
mod tests;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use aws_sdk_sfn::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rulewire_engine::Template;

pub use config::StepFunctionsConfig;

use crate::{
    Action, ActionContext, AwsConnection, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, FALLBACK_REGION, LazyClient, attempt_error},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Step Functions' longest state machine or execution name.
pub const MAX_NAME_CHARS: usize = 80;
/// The UUID after the prefix: 36 characters.
const UUID_CHARS: usize = 36;
/// The longest prefix that leaves room for the UUID.
pub const MAX_PREFIX_CHARS: usize = MAX_NAME_CHARS - UUID_CHARS;
/// Step Functions' largest execution input: 256 KiB.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The step_functions action type.
pub struct StepFunctionsAction;

/// A checked step_functions action: name templates compiled, static names checked.
pub struct CheckedStepFunctions {
    access: AwsAccess,
    state_machine: Template,
    prefix: Template,
    delivery: DeliveryConfig,
}

impl ActionType for StepFunctionsAction {
    const NAME: &'static str = StepFunctions::KIND;
    type Config = StepFunctionsConfig;
    type Checked = CheckedStepFunctions;

    fn check(
        cfg: StepFunctionsConfig,
        ctx: &CheckContext,
    ) -> Result<CheckedStepFunctions, BuildError> {
        cfg.access.check(ctx)?;
        let field = "state_machine_name";
        let state_machine = templates::field(field, &cfg.state_machine_name, ctx.version)?;
        if state_machine.is_static() {
            check_state_machine(&cfg.state_machine_name)
                .map_err(|m| BuildError::invalid(field, m))?;
        }
        let field = "execution_name_prefix";
        let prefix = templates::field(field, &cfg.execution_name_prefix, ctx.version)?;
        if prefix.is_static() {
            check_prefix(&cfg.execution_name_prefix).map_err(|m| BuildError::invalid(field, m))?;
        }
        cfg.delivery.check()?;
        Ok(CheckedStepFunctions {
            access: cfg.access,
            state_machine,
            prefix,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedStepFunctions, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let kind = StepFunctions::KIND;
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, kind, ctx)?;
        let connection = c.access.open(ctx)?;
        let sink = StepFunctions {
            client: LazyClient::new(connection.clone(), Client::new),
            connection,
            state_machine: c.state_machine,
            prefix: c.prefix,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

/// Whether Step Functions accepts `c` in a name.
fn name_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

/// Checks a rendered state machine name: 1 to 80 allowed characters.
fn check_state_machine(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!(
            "the state machine name {name:?} has {chars} characters; Step Functions needs 1 to {MAX_NAME_CHARS} (the name, not the ARN)"
        ));
    }
    match name.chars().find(|c| !name_char(*c)) {
        Some(c) => Err(format!(
            "the state machine name {name:?} contains {c:?}, which Step Functions does not allow (give the name, not the ARN)"
        )),
        None => Ok(()),
    }
}

/// Checks a rendered execution name prefix: at most 44 allowed characters (a UUID follows).
fn check_prefix(prefix: &str) -> Result<(), String> {
    let chars = prefix.chars().count();
    if chars > MAX_PREFIX_CHARS {
        return Err(format!(
            "the execution name prefix {prefix:?} has {chars} characters; at most {MAX_PREFIX_CHARS} leave room for the UUID in Step Functions' {MAX_NAME_CHARS}"
        ));
    }
    match prefix.chars().find(|c| !name_char(*c)) {
        Some(c) => Err(format!(
            "the execution name prefix {prefix:?} contains {c:?}, which Step Functions does not allow in names"
        )),
        None => Ok(()),
    }
}

struct StepFunctions {
    client: LazyClient<Client>,
    /// The client's connection, for the account id of the ARN.
    connection: Arc<AwsConnection>,
    state_machine: Template,
    prefix: Template,
}

/// One rendered StartExecution.
struct Request {
    state_machine: String,
    execution: String,
    input: String,
    /// Whether a StartExecution was already sent for this message (a retry may find the
    /// execution that attempt started).
    sent: AtomicBool,
}

impl Sink for StepFunctions {
    type Request = Request;
    const KIND: &'static str = "step_functions";
    const AWS_NAME: &'static str = "StepFunctionsAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let original = msg.as_engine_message();
        let state_machine = self.state_machine.render(&original);
        let rejected = |message: String| Rejected {
            resource: state_machine.clone(),
            message,
        };
        if !self.state_machine.is_static() {
            check_state_machine(&state_machine).map_err(rejected)?;
        }
        let prefix = self.prefix.render(&original);
        if !self.prefix.is_static() {
            check_prefix(&prefix).map_err(rejected)?;
        }
        let input = String::from_utf8(msg.output.clone())
            .ok()
            .filter(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
            .ok_or_else(|| {
                rejected(
                    "the output is not JSON, which a Step Functions execution input must be"
                        .to_owned(),
                )
            })?;
        if input.len() > MAX_INPUT_BYTES {
            return Err(rejected(format!(
                "the execution input is {} bytes; Step Functions allows {MAX_INPUT_BYTES} (256 KiB)",
                input.len()
            )));
        }
        Ok(Request {
            execution: format!("{prefix}{}", uuid::Uuid::new_v4()),
            state_machine,
            input,
            sent: AtomicBool::new(false),
        })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.state_machine
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let identity = self.connection.caller_identity().await?;
        let client = self.client.get().await;
        let region = client.config().region().map(|r| r.as_ref().to_owned());
        let arn = format!(
            "arn:{}:states:{}:{}:stateMachine:{}",
            identity.partition,
            region.as_deref().unwrap_or(FALLBACK_REGION),
            identity.account,
            req.state_machine
        );
        let retry = req.sent.swap(true, Ordering::SeqCst);
        let started = client
            .start_execution()
            .state_machine_arn(arn)
            .name(&req.execution)
            .input(&req.input)
            .send()
            .await;
        match started {
            Ok(_) => Ok(()),
            // Our own execution, started by an attempt whose answer was lost.
            Err(e) if retry && e.code() == Some("ExecutionAlreadyExists") => Ok(()),
            Err(e) => Err(attempt_error(&e)),
        }
    }
}
