//! `StepFunctionsConfig`: the `type = "step_functions"` table of a rule header (AWS's
//! StepFunctionsAction: `stateMachineName`, `executionNamePrefix`; `roleArn` as `role_arn`).

use serde::Deserialize;

use crate::{DeliveryConfig, aws::AwsAccess};

/// Start an execution of a Step Functions state machine with the rule's output as its input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFunctionsConfig {
    /// `connection` (an `[aws.connections.<name>]`, default `"default"`) and `role_arn`.
    #[serde(flatten)]
    pub access: AwsAccess,
    /// The state machine's name (a template), not its ARN.
    pub state_machine_name: String,
    /// Executions are named this prefix (a template) followed by a UUID. Default: none.
    #[serde(default)]
    pub execution_name_prefix: String,
    /// `timeout_ms` (per StartExecution, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
