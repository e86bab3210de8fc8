//! `StepFunctionsConfig`: the `type = "step_functions"` table of a rule header (AWS's
//! StepFunctionsAction: `stateMachineName`, `executionNamePrefix`; the connection replaces
//! AWS's `roleArn`).

use serde::Deserialize;

use crate::DeliveryConfig;

/// Start an execution of a Step Functions state machine with the rule's output as its input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFunctionsConfig {
    /// An `[aws.connections.<name>]` of `rulewire.toml`; default `"default"`. Its region and
    /// the account of its credentials complete the state machine's ARN.
    #[serde(default = "crate::connections::default_connection")]
    pub connection: String,
    /// The state machine's name (a template), not its ARN.
    pub state_machine_name: String,
    /// Executions are named this prefix (a template) followed by a UUID. Default: none.
    #[serde(default)]
    pub execution_name_prefix: String,
    /// `timeout_ms` (per StartExecution, default 10000), `retry`, `max_in_flight`.
    #[serde(flatten)]
    pub delivery: DeliveryConfig,
}
