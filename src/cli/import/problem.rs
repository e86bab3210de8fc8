//! What the importer reports: a [`Problem`] is a note (carried over with a change the user
//! should know about) or an error (cannot carry over: the rule is not written), always at a
//! JSON path of the input (`$.rule.actions[1].iotAnalytics`,
//! `$.Resources.Alerts.Properties.TopicRulePayload.Sql`), so it can be found in the file.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Note,
    Error,
}

/// One finding at one place of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// JSON path in the input file.
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn error(path: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            path: path.to_owned(),
            message: message.into(),
        }
    }

    pub fn note(path: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Note,
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Note => "note",
            Severity::Error => "error",
        };
        write!(f, "{label}: {}: {}", self.path, self.message)
    }
}

/// `path.key`, or `path["key"]` when the key is not a plain identifier.
pub fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}

/// `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths() {
        assert_eq!(super::child("$", "Resources"), "$.Resources");
        assert_eq!(super::child("$.a", "Fn::Sub"), "$.a[\"Fn::Sub\"]");
        assert_eq!(super::index("$.actions", 2), "$.actions[2]");
    }
}
