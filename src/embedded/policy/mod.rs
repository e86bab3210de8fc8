//! AWS IoT Core policies, evaluated as AWS evaluates them: the policies attached to a
//! device's certificate (or login) are combined, an explicit Deny in any of them wins, then
//! any Allow, and anything not allowed is denied. Resources are matched with IAM wildcards
//! and policy variables (`${iot:ClientId}`, `${aws:SourceIp}`,
//! `${iot:Connection.Thing.ThingName}`, certificate fields; `variables` lists them);
//! conditions with the string, Bool, Null and IpAddress operators. See `document` for what a
//! policy may contain and `pattern` for matching.

mod document;
mod pattern;
pub mod variables;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;

use document::{Effect, Operator, Statement};
pub use pattern::Variables;

/// A policy that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError(String);

impl PolicyError {
    pub fn new(message: impl Into<String>) -> PolicyError {
        PolicyError(message.into())
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// What a device asks to do, with the resource it names (AWS's resource ARN suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `client/<client id>`.
    Connect,
    /// `topic/<topic>`.
    Publish,
    /// `topic/<topic>`, for a publish with the retain flag (checked besides Publish).
    RetainPublish,
    /// `topicfilter/<filter>`.
    Subscribe,
    /// `topic/<topic>`, checked when a message is delivered to the device.
    Receive,
    /// `thing/<thing name>` (Device Shadow requests).
    GetThingShadow,
    UpdateThingShadow,
    DeleteThingShadow,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Connect => "iot:Connect",
            Action::Publish => "iot:Publish",
            Action::RetainPublish => "iot:RetainPublish",
            Action::Subscribe => "iot:Subscribe",
            Action::Receive => "iot:Receive",
            Action::GetThingShadow => "iot:GetThingShadow",
            Action::UpdateThingShadow => "iot:UpdateThingShadow",
            Action::DeleteThingShadow => "iot:DeleteThingShadow",
        }
    }

    /// The resource this action names for `subject` (a client id, topic, filter or thing).
    pub fn resource(self, subject: &str) -> String {
        let kind = match self {
            Action::Connect => "client",
            Action::Publish | Action::RetainPublish | Action::Receive => "topic",
            Action::Subscribe => "topicfilter",
            Action::GetThingShadow | Action::UpdateThingShadow | Action::DeleteThingShadow => {
                "thing"
            }
        };
        format!("{kind}/{subject}")
    }
}

/// A named policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    statements: Vec<Statement>,
}

impl Policy {
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        let statements =
            document::parse(json).map_err(|e| PolicyError::new(format!("policy {name}: {e}")))?;
        Ok(Policy {
            name: name.to_owned(),
            statements,
        })
    }
}

/// Who is asking: what the policy variables resolve to for one connection.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    pub client_id: String,
    /// The device's IP address (`aws:SourceIp`): of its own TCP connection, not the TLS
    /// front's relay.
    pub source_ip: Option<std::net::IpAddr>,
    /// The thing the certificate or login is attached to.
    pub thing: Option<Thing>,
    /// Certificate fields by their variable suffix: `Subject.CommonName`, `Issuer.Organization`,
    /// `SerialNumber`, ...
    pub certificate: HashMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Thing {
    pub name: String,
    pub type_name: Option<String>,
    pub attributes: HashMap<String, String>,
}

impl Variables for Principal {
    fn get(&self, name: &str) -> Option<String> {
        if name == "iot:ClientId" {
            return Some(self.client_id.clone());
        }
        if name == "aws:SourceIp" {
            return self.source_ip.map(|ip| ip.to_string());
        }
        if name == "iot:Connection.Thing.IsAttached" {
            return Some(self.thing.is_some().to_string());
        }
        if let Some(field) = name.strip_prefix("iot:Certificate.") {
            return self.certificate.get(field).cloned();
        }
        let thing = self.thing.as_ref()?;
        match name.strip_prefix("iot:Connection.Thing.")? {
            "ThingName" => Some(thing.name.clone()),
            "ThingTypeName" => thing.type_name.clone(),
            other => {
                let attr = other.strip_prefix("Attributes[")?.strip_suffix(']')?;
                thing.attributes.get(attr).cloned()
            }
        }
    }
}

/// The outcome of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

fn conditions_hold(s: &Statement, who: &Principal) -> bool {
    s.conditions.iter().all(|c| {
        let is_null = |null: &str| c.values.iter().any(|v| v.matches(null, who));
        let Some(actual) = who.get(&c.key) else {
            return match c.operator {
                Operator::Null => is_null("true"),
                operator => operator.negated(),
            };
        };
        let any = |ignore_case: bool| {
            c.values
                .iter()
                .any(|v| v.matches_with(&actual, who, ignore_case))
        };
        match c.operator {
            Operator::StringEquals | Operator::StringLike => any(false),
            Operator::StringNotEquals | Operator::StringNotLike => !any(false),
            Operator::StringEqualsIgnoreCase | Operator::Bool => any(true),
            Operator::StringNotEqualsIgnoreCase => !any(true),
            Operator::Null => is_null("false"),
            Operator::IpAddress | Operator::NotIpAddress => {
                let inside = actual
                    .parse()
                    .is_ok_and(|ip| c.ranges.iter().any(|r| r.contains(ip)));
                inside == (c.operator == Operator::IpAddress)
            }
        }
    })
}

fn applies(s: &Statement, action: Action, resource: &str, who: &Principal) -> bool {
    s.actions
        .iter()
        .any(|a| a.matches_ignoring_case(action.name(), who))
        && s.resources.iter().any(|r| r.pattern.matches(resource, who))
        && conditions_hold(s, who)
}

/// Whether `policies` (`&Policy` or `Arc<Policy>`) let `who` do `action` on `subject` (a
/// client id, topic, filter or thing).
pub fn decide<P: Borrow<Policy>>(
    policies: &[P],
    action: Action,
    subject: &str,
    who: &Principal,
) -> Decision {
    let resource = action.resource(subject);
    let mut allowed = false;
    for s in policies.iter().flat_map(|p| &p.borrow().statements) {
        if applies(s, action, &resource, who) {
            match s.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests;
