//! `AwsAccess`: the credentials one AWS action calls with. A rule header names an
//! `[aws.connections.<name>]` of `rulewire.toml` (`connection`, default `"default"`) and,
//! as AWS rule actions carry one, may add `role_arn`: a role assumed through STS with the
//! connection's credentials (after the connection's own `role_arn`, if it has one), the way
//! AWS IoT assumes an action's `roleArn`. `rulewire import` keeps AWS's `roleArn` here.

use std::sync::Arc;

use serde::Deserialize;

use super::AwsConnection;
use crate::{ActionContext, BuildError, registry::CheckContext};

/// The `connection` and `role_arn` keys every AWS action accepts (flattened into its config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AwsAccess {
    /// An `[aws.connections.<name>]` of `rulewire.toml`; default `"default"` (without that
    /// table: the standard AWS SDK environment).
    #[serde(default = "crate::connections::default_connection")]
    pub connection: String,
    /// AWS's `roleArn`: a role to assume with the connection's credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
}

impl AwsAccess {
    /// The connection exists in `rulewire.toml` and the role, if any, looks like a role ARN.
    pub(crate) fn check(&self, ctx: &CheckContext) -> Result<(), BuildError> {
        ctx.connections.require("aws", &self.connection)?;
        check_role_arn(self.role_arn.as_deref())
    }

    /// The connection to build the action's clients on: the named one, or one that assumes
    /// `role_arn` on top of it (its own SDK configuration, loaded on first use).
    pub(crate) fn open(&self, ctx: &ActionContext) -> Result<Arc<AwsConnection>, BuildError> {
        let connection = ctx.aws.get(&self.connection)?;
        Ok(match &self.role_arn {
            Some(role) => Arc::new(connection.assuming(role)),
            None => connection,
        })
    }
}

/// An action's `role_arn`, if set, looks like an IAM role ARN.
pub(crate) fn check_role_arn(role_arn: Option<&str>) -> Result<(), BuildError> {
    match role_arn {
        Some(arn) if !is_role_arn(arn) => Err(BuildError::invalid(
            "role_arn",
            format!("expected arn:aws:iam::<account>:role/<name>, got {arn:?}"),
        )),
        _ => Ok(()),
    }
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", _, resource] if resource.starts_with("role/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_recognised() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/iot-to-sqs"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/path/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!is_role_arn("arn:aws:sqs:us-east-1:123456789012:q"));
        assert!(!is_role_arn("role/x"));
    }
}
