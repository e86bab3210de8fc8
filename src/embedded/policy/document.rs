//! Parsing an AWS IoT policy document (the JSON AWS shows and `aws iot get-policy` returns)
//! into statements. What rulewire does not evaluate (NotAction, NotResource, Principal, an
//! unknown condition operator or key) is refused with the policy's name, never ignored: an
//! ignored Deny would open a door.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::PolicyError;
use super::pattern::Pattern;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Bool,
    /// `"true"`: the key has no value; `"false"`: it has one.
    Null,
    /// The key (`aws:SourceIp`) is an address in one of the ranges.
    IpAddress,
    NotIpAddress,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        Some(match name {
            "StringEquals" => Operator::StringEquals,
            "StringNotEquals" => Operator::StringNotEquals,
            "StringEqualsIgnoreCase" => Operator::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Operator::StringNotEqualsIgnoreCase,
            "StringLike" => Operator::StringLike,
            "StringNotLike" => Operator::StringNotLike,
            "Bool" => Operator::Bool,
            "Null" => Operator::Null,
            "IpAddress" => Operator::IpAddress,
            "NotIpAddress" => Operator::NotIpAddress,
            _ => return None,
        })
    }

    /// Negated operators hold when the key is absent, as IAM defines them.
    pub fn negated(self) -> bool {
        matches!(
            self,
            Operator::StringNotEquals
                | Operator::StringNotEqualsIgnoreCase
                | Operator::StringNotLike
                | Operator::NotIpAddress
        )
    }
}

/// One `"Condition": {"<operator>": {"<key>": <values>}}` entry.
#[derive(Debug, Clone)]
pub struct Condition {
    pub operator: Operator,
    /// A policy variable name, e.g. `iot:Connection.Thing.IsAttached`.
    pub key: String,
    /// The values of the string, Bool and Null operators.
    pub values: Vec<Pattern>,
    /// The ranges of IpAddress and NotIpAddress.
    pub ranges: Vec<IpRange>,
}

/// An address range of `IpAddress` conditions: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u32,
}

impl IpRange {
    fn parse(text: &str) -> Result<IpRange, PolicyError> {
        let bad = || PolicyError::new(format!("{text:?} is not an IP address or CIDR range"));
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u32>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(bad());
        }
        Ok(IpRange { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let as_bits = |ip: IpAddr| match ip.to_canonical() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
            IpAddr::V6(v6) => (u128::from(v6), false),
        };
        let ((net, net_v4), (addr, addr_v4)) = (as_bits(self.network), as_bits(ip));
        if net_v4 != addr_v4 {
            return false;
        }
        // IPv4 sits in the top 32 bits, so one mask of the top `prefix` bits serves both.
        let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
        net & mask == addr & mask
    }
}

/// A resource: `*`, or an ARN whose part after `<account>:` is a pattern. The partition,
/// region and account are not compared: rulewire is one local account.
#[derive(Debug, Clone)]
pub struct Resource {
    pub pattern: Pattern,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub effect: Effect,
    /// Action patterns such as `iot:Publish`, `iot:*`, matched without case.
    pub actions: Vec<Pattern>,
    pub resources: Vec<Resource>,
    pub conditions: Vec<Condition>,
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(PolicyError::new(format!(
            "{what} must be a string or a list of strings, not {other}"
        ))),
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn resource(text: &str) -> Result<Resource, PolicyError> {
    if text == "*" {
        return Ok(Resource {
            pattern: Pattern::parse("*", true)?,
        });
    }
    // arn:<partition>:iot:<region>:<account>:<type>/<name>
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _partition, service, _region, _account, rest]
            if *service == "iot" || service.contains('*') =>
        {
            Ok(Resource {
                pattern: Pattern::parse(rest, true)?,
            })
        }
        _ => Err(PolicyError::new(format!(
            "resource {text:?} is not \"*\" or an AWS IoT ARN (arn:aws:iot:<region>:<account>:topic/...)"
        ))),
    }
}

fn conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(by_operator) = value else {
        return Err(PolicyError::new("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (op_name, keys) in by_operator {
        let operator = Operator::parse(op_name).ok_or_else(|| {
            PolicyError::new(format!(
                "condition operator {op_name} is not supported by rulewire (supported: StringEquals, \
                 StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, \
                 StringNotLike, Bool, Null, IpAddress, NotIpAddress)"
            ))
        })?;
        let Value::Object(keys) = keys else {
            return Err(PolicyError::new(format!(
                "Condition.{op_name} must be an object"
            )));
        };
        for (key, values) in keys {
            // The key is a variable name, checked as `${key}` would be.
            let key = super::variables::canonical(key)?;
            let wildcards = matches!(operator, Operator::StringLike | Operator::StringNotLike);
            let values = strings(values, &format!("Condition.{op_name}.{key}"))?;
            if operator == Operator::Null
                && let Some(v) = values
                    .iter()
                    .find(|v| !matches!(v.as_str(), "true" | "false"))
            {
                return Err(PolicyError::new(format!(
                    "Condition.Null.{key}: {v:?} is not \"true\" or \"false\""
                )));
            }
            let ip = matches!(operator, Operator::IpAddress | Operator::NotIpAddress);
            if ip && key != "aws:SourceIp" {
                return Err(PolicyError::new(format!(
                    "Condition.{op_name}.{key}: rulewire compares IP ranges with aws:SourceIp only"
                )));
            }
            let ranges = if ip {
                values
                    .iter()
                    .map(|v| IpRange::parse(v))
                    .collect::<Result<_, _>>()
                    .map_err(|e| PolicyError::new(format!("Condition.{op_name}.{key}: {e}")))?
            } else {
                Vec::new()
            };
            let values = if ip { &[][..] } else { &values[..] };
            let values = values
                .iter()
                .map(|v| Pattern::parse(v, wildcards))
                .collect::<Result<_, _>>()?;
            out.push(Condition {
                operator,
                key,
                values,
                ranges,
            });
        }
    }
    Ok(out)
}

fn statement(s: &Map<String, Value>) -> Result<Statement, PolicyError> {
    for key in s.keys() {
        if !matches!(
            key.as_str(),
            "Effect" | "Action" | "Resource" | "Condition" | "Sid"
        ) {
            return Err(PolicyError::new(format!(
                "statement key {key:?} is not supported by rulewire (supported: Sid, Effect, Action, \
                 Resource, Condition)"
            )));
        }
    }
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => {
            return Err(PolicyError::new(format!(
                "Effect must be \"Allow\" or \"Deny\", not {other:?}"
            )));
        }
    };
    let field = |name: &str| {
        s.get(name)
            .ok_or_else(|| PolicyError::new(format!("a statement needs {name}")))
    };
    let actions = strings(field("Action")?, "Action")?
        .iter()
        .map(|a| Pattern::parse(a, true))
        .collect::<Result<_, _>>()?;
    let resources = strings(field("Resource")?, "Resource")?
        .iter()
        .map(|r| resource(r))
        .collect::<Result<_, _>>()?;
    let conditions = match s.get("Condition") {
        Some(c) => conditions(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

/// The statements of a policy document.
pub fn parse(json: &str) -> Result<Vec<Statement>, PolicyError> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| PolicyError::new(format!("not JSON: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(PolicyError::new("a policy document is a JSON object"));
    };
    match doc.get("Version").and_then(Value::as_str) {
        None | Some("2012-10-17") => {}
        Some(v) => {
            return Err(PolicyError::new(format!(
                "Version {v:?}: AWS IoT policies use \"2012-10-17\""
            )));
        }
    }
    match doc.get("Statement") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| match s {
                Value::Object(s) => statement(s),
                _ => Err(PolicyError::new("a statement is a JSON object")),
            })
            .collect(),
        Some(Value::Object(s)) => Ok(vec![statement(s)?]),
        _ => Err(PolicyError::new("a policy document needs a Statement list")),
    }
}
