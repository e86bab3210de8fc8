//! Named connections: the `[<section>.connections.<name>]` tables of `rulewire.toml`
//! (`s3`, `kafka`, `aws`), one registry type for every section.
//!
//! Rule files only name a connection (`connection = "lake"`), so endpoints and secrets stay
//! out of them. A section's tables are a [`ConnectionSection`]; when the service starts,
//! [`Connections::open`] resolves `${env:NAME}` in every string of every table (generically,
//! through the table's TOML form), lets the section check each table and create what its
//! actions share (clients, producers, caches), and the actions look connections up by name
//! when they are bound. Checking a rule needs only the names ([`ConnectionSection::names`]).

use std::{collections::BTreeMap, fmt, sync::Arc};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::BuildError;

/// One section's connection table type.
pub trait ConnectionConfig: Serialize + DeserializeOwned + fmt::Debug + Clone {
    /// The section name: `[<SECTION>.connections.<name>]`.
    const SECTION: &'static str;
    /// What the actions naming the connection share.
    type Connection: Send + Sync + 'static;

    /// The table behind `default` when none is configured, if the section has one.
    fn implicit_default() -> Option<Self> {
        None
    }

    /// Checks a table (its `${env:}` references resolved) and creates its connection.
    fn open(self) -> Result<Self::Connection, String>;
}

/// The `[<section>]` table of `rulewire.toml`: `[<section>.connections.<name>]` tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(deserialize = "T: DeserializeOwned")
)]
pub struct ConnectionSection<T> {
    pub connections: BTreeMap<String, T>,
}

impl<T> Default for ConnectionSection<T> {
    fn default() -> Self {
        ConnectionSection {
            connections: BTreeMap::new(),
        }
    }
}

impl<T: ConnectionConfig> ConnectionSection<T> {
    /// The configured names, plus `default` when the section has an implicit one; sorted.
    pub fn names(&self) -> Vec<String> {
        self.tables().map(|(name, _)| name).collect()
    }

    /// Every table by name, the implicit `default` included.
    fn tables(&self) -> impl Iterator<Item = (String, T)> + '_ {
        let implicit = T::implicit_default()
            .filter(|_| !self.connections.contains_key(DEFAULT_CONNECTION))
            .map(|t| (DEFAULT_CONNECTION.to_owned(), t));
        let configured = self.connections.iter().map(|(n, t)| (n.clone(), t.clone()));
        let mut all: Vec<(String, T)> = configured.chain(implicit).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter()
    }
}

/// The connection a rule gets when it names none.
pub const DEFAULT_CONNECTION: &str = "default";

/// Serde's default for an action's `connection` field.
pub(crate) fn default_connection() -> String {
    DEFAULT_CONNECTION.to_owned()
}

/// A connection table that can't be used; the message names the table and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{section}.connections.{connection}] {message}")]
pub struct ConnectionError {
    pub section: &'static str,
    pub connection: String,
    pub message: String,
}

/// The open connections of one section, by name (`ActionContext::s3`, `kafka`, `aws`).
pub struct Connections<C> {
    section: &'static str,
    by_name: BTreeMap<String, Arc<C>>,
}

impl<C> fmt::Debug for Connections<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("section", &self.section)
            .field("names", &self.names())
            .finish()
    }
}

impl<C> Connections<C> {
    /// No connections of `section` (what `ActionContext::new` starts with).
    pub fn none(section: &'static str) -> Connections<C> {
        Connections {
            section,
            by_name: BTreeMap::new(),
        }
    }

    /// Opens every table of `settings` (the implicit `default` included), resolving
    /// `${env:NAME}` from the process environment.
    pub fn open<T: ConnectionConfig<Connection = C>>(
        settings: &ConnectionSection<T>,
    ) -> Result<Connections<C>, ConnectionError> {
        Self::open_with_env(settings, |name| std::env::var(name).ok())
    }

    /// `open` with the environment given as a function (for tests).
    pub fn open_with_env<T: ConnectionConfig<Connection = C>>(
        settings: &ConnectionSection<T>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Connections<C>, ConnectionError> {
        let mut by_name = BTreeMap::new();
        for (name, table) in settings.tables() {
            let err = |message: String| ConnectionError {
                section: T::SECTION,
                connection: name.clone(),
                message,
            };
            let table = resolve_env(&table, &env).map_err(err)?;
            let connection = table.open().map_err(err)?;
            by_name.insert(name, Arc::new(connection));
        }
        Ok(Connections {
            section: T::SECTION,
            by_name,
        })
    }

    /// The names of the open connections, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Connection `name`; an error for the action's `connection` field when it is not open.
    pub fn get(&self, name: &str) -> Result<Arc<C>, BuildError> {
        self.by_name.get(name).cloned().ok_or_else(|| {
            let message = format!("no [{}.connections.{name}] is configured", self.section);
            BuildError::invalid("connection", message)
        })
    }
}

/// `table` with every `${env:NAME}` in its strings (at any depth) replaced.
fn resolve_env<T: ConnectionConfig>(
    table: &T,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<T, String> {
    let value = toml::Value::try_from(table).map_err(|e| e.to_string())?;
    let value = substitute_strings(value, "", env)?;
    T::deserialize(value).map_err(|e| e.to_string())
}

fn substitute_strings(
    value: toml::Value,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<toml::Value, String> {
    let join = |key: &str| {
        let key = if key.contains(['.', ' ']) {
            format!("{key:?}")
        } else {
            key.to_owned()
        };
        if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        }
    };
    Ok(match value {
        toml::Value::String(s) => toml::Value::String(crate::env::substitute(path, &s, env)?),
        toml::Value::Table(t) => {
            let mut out = toml::Table::new();
            for (k, v) in t {
                let v = substitute_strings(v, &join(&k), env)?;
                out.insert(k, v);
            }
            toml::Value::Table(out)
        }
        toml::Value::Array(a) => {
            let items = a.into_iter().enumerate();
            let items = items.map(|(i, v)| substitute_strings(v, &format!("{path}[{i}]"), env));
            toml::Value::Array(items.collect::<Result<_, _>>()?)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Probe {
        host: String,
        port: u16,
        properties: BTreeMap<String, String>,
    }

    impl ConnectionConfig for Probe {
        const SECTION: &'static str = "probe";
        type Connection = Probe;
        fn implicit_default() -> Option<Self> {
            Some(Probe {
                host: "localhost".into(),
                ..Default::default()
            })
        }
        fn open(self) -> Result<Probe, String> {
            if self.host.is_empty() {
                return Err("host: must not be empty".into());
            }
            Ok(self)
        }
    }

    fn section(text: &str) -> ConnectionSection<Probe> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn opens_every_table_with_env_resolved_at_any_depth() {
        let s = section(
            "[connections.a]\nhost = \"${env:HOST}\"\nport = 7\nproperties = { \"sasl.password\" = \"${env:PW}\" }",
        );
        assert_eq!(s.names(), ["a", "default"]);
        let env = |n: &str| match n {
            "HOST" => Some("h1".to_owned()),
            "PW" => Some("hunter2".to_owned()),
            _ => None,
        };
        let conns = Connections::open_with_env(&s, env).unwrap();
        assert_eq!(conns.names(), ["a", "default"]);
        let a = conns.get("a").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("h1", 7));
        assert_eq!(a.properties["sasl.password"], "hunter2");
        assert_eq!(conns.get("default").unwrap().host, "localhost");
        let e = conns.get("b").unwrap_err().to_string();
        assert_eq!(
            e,
            "field `connection`: no [probe.connections.b] is configured"
        );

        let e = Connections::open_with_env(&s, |n| (n == "HOST").then(|| "h".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "[probe.connections.a] properties.\"sasl.password\": environment variable PW is not set"
        );
        let e = Connections::open(&section("[connections.x]\nhost = \"\""))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "[probe.connections.x] host: must not be empty");
    }

    #[test]
    fn a_configured_default_replaces_the_implicit_one() {
        let s = section("[connections.default]\nhost = \"mine\"");
        let conns = Connections::open(&s).unwrap();
        assert_eq!(conns.names(), ["default"]);
        assert_eq!(conns.get("default").unwrap().host, "mine");
        let none: Connections<Probe> = Connections::none("probe");
        assert!(none.names().is_empty());
    }
}
