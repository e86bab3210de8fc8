//! AWS's Kafka `clientProperties` (Java client names) -> a `[kafka.connections.<name>]` of
//! `rulewire.toml` (librdkafka names), which the rule then names with `connection`.
//!
//! Secrets stay out of files: a `${get_secret('id', 'SecretString', 'key', 'roleArn')}` value
//! becomes `${env:ID_KEY}` (resolved when the service starts) and a note says which secret
//! and key to put in that variable. Identical property sets share one connection (`kafka`,
//! `kafka_2`, ...). The table of properties below is the whole mapping.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::header::{quote, toml_key};
use super::problem::{Problem, child};

/// How one AWS client property carries over.
#[derive(Clone, Copy)]
enum Prop {
    /// The connection's `bootstrap_servers`.
    Bootstrap,
    /// A librdkafka property of this name.
    Rename(&'static str),
    /// Dropped, with this note.
    Drop(&'static str),
    /// Cannot carry over: the rule fails with this message.
    Reject(&'static str),
}

const KERBEROS: Prop = Prop::Reject(
    "Kerberos (GSSAPI) is not compiled into rulewire's librdkafka: use SASL/SCRAM or TLS client certificates",
);
const TRUSTSTORE: Prop = Prop::Drop(
    "librdkafka checks brokers against the system CA store (enough for MSK); for a private CA convert the JKS truststore to PEM and set ssl.ca.location",
);

/// AWS's supported client properties. Others pass through unchanged, with a note.
const PROPERTIES: &[(&str, Prop)] = &[
    ("bootstrap.servers", Prop::Bootstrap),
    ("acks", Prop::Rename("acks")),
    ("compression.type", Prop::Rename("compression.type")),
    ("security.protocol", Prop::Rename("security.protocol")),
    ("sasl.mechanism", Prop::Rename("sasl.mechanisms")),
    ("sasl.plain.username", Prop::Rename("sasl.username")),
    ("sasl.plain.password", Prop::Rename("sasl.password")),
    ("sasl.scram.username", Prop::Rename("sasl.username")),
    ("sasl.scram.password", Prop::Rename("sasl.password")),
    ("ssl.key.password", Prop::Rename("ssl.key.password")),
    (
        "key.serializer",
        Prop::Drop("rulewire sends the key's bytes as they are"),
    ),
    (
        "value.serializer",
        Prop::Drop("rulewire sends the output's bytes as they are"),
    ),
    ("ssl.truststore", TRUSTSTORE),
    ("ssl.truststore.password", TRUSTSTORE),
    (
        "ssl.keystore",
        Prop::Reject(
            "a JKS keystore: convert the client certificate and key to PEM and set ssl.certificate.location and ssl.key.location in the connection",
        ),
    ),
    (
        "ssl.keystore.password",
        Prop::Drop("belongs to the JKS keystore"),
    ),
    ("sasl.kerberos.keytab", KERBEROS),
    ("sasl.kerberos.service.name", KERBEROS),
    ("sasl.kerberos.krb5.kdc", KERBEROS),
    ("sasl.kerberos.krb5.realm", KERBEROS),
    ("sasl.kerberos.principal", KERBEROS),
];

/// One connection the imported rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Connection {
    bootstrap_servers: String,
    properties: BTreeMap<String, String>,
    /// (environment variable, what to put in it).
    secrets: BTreeMap<String, String>,
}

/// The Kafka connections of one import run, in the order first needed.
#[derive(Debug, Default)]
pub struct KafkaConnections {
    list: Vec<(String, Connection)>,
}

impl KafkaConnections {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The name of a connection equal to `c`, adding it if new.
    fn name_for(&mut self, c: Connection) -> String {
        if let Some((name, _)) = self.list.iter().find(|(_, have)| *have == c) {
            return name.clone();
        }
        let name = match self.list.len() {
            0 => "kafka".to_owned(),
            n => format!("kafka_{}", n + 1),
        };
        self.list.push((name.clone(), c));
        name
    }

    /// The `rulewire.toml` stanzas.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "# Kafka connections of the rules imported by `rulewire import`: add to rulewire.toml.\n",
        );
        for (name, c) in &self.list {
            let _ = writeln!(s, "\n[kafka.connections.{name}]");
            for (var, what) in &c.secrets {
                let _ = writeln!(s, "# set {var}: {what}");
            }
            let _ = writeln!(s, "bootstrap_servers = {}", quote(&c.bootstrap_servers));
            if !c.properties.is_empty() {
                let _ = writeln!(s, "[kafka.connections.{name}.properties]");
                for (k, v) in &c.properties {
                    let _ = writeln!(s, "{} = {}", toml_key(k), quote(v));
                }
            }
        }
        s
    }
}

/// Converts a Kafka action's `clientProperties` at `path`; the connection's name, or `None`
/// (with errors recorded) when it cannot carry over.
pub fn connection(
    value: &Value,
    path: &str,
    connections: &mut KafkaConnections,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let Some(props) = value.as_object() else {
        problems.push(Problem::error(
            path,
            "expected an object of client properties",
        ));
        return None;
    };
    let mut c = Connection {
        bootstrap_servers: String::new(),
        properties: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    let mut ok = true;
    for (key, value) in props {
        let at = child(path, key);
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                problems.push(Problem::error(&at, "expected a string"));
                ok = false;
                continue;
            }
        };
        let rule = PROPERTIES
            .iter()
            .find(|(k, _)| *k == key.as_str())
            .map(|(_, p)| *p);
        let target = match rule {
            Some(Prop::Drop(note)) => {
                problems.push(Problem::note(&at, note));
                continue;
            }
            Some(Prop::Reject(message)) => {
                problems.push(Problem::error(&at, message));
                ok = false;
                continue;
            }
            Some(Prop::Bootstrap) => None,
            Some(Prop::Rename(to)) => Some(to.to_owned()),
            None => {
                problems.push(Problem::note(
                    &at,
                    "not a property AWS documents: passed to librdkafka unchanged",
                ));
                Some(key.clone())
            }
        };
        let text = match secret(&text, &at, &mut c.secrets, problems) {
            Some(t) => t,
            None => {
                ok = false;
                continue;
            }
        };
        match target {
            None => c.bootstrap_servers = text,
            Some(name) => {
                c.properties.insert(name, text);
            }
        }
    }
    if c.bootstrap_servers.is_empty() {
        problems.push(Problem::error(path, "no bootstrap.servers"));
        ok = false;
    }
    // rulewire's producers are idempotent, which librdkafka allows only with acks=all.
    if let Some(acks) = c.properties.get("acks").cloned()
        && acks != "all"
        && acks != "-1"
    {
        c.properties
            .insert("enable.idempotence".into(), "false".into());
        problems.push(Problem::note(
            &child(path, "acks"),
            format!("acks={acks}: rulewire's idempotent producer needs acks=all, so the connection sets enable.idempotence=false"),
        ));
    }
    ok.then(|| connections.name_for(c))
}

/// `text` with a `${get_secret(...)}` replaced by `${env:VAR}` (recorded in `secrets` with a
/// note); `None` with an error for any other substitution template.
fn secret(
    text: &str,
    path: &str,
    secrets: &mut BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if !text.contains("${") {
        return Some(text.to_owned());
    }
    let args = text
        .trim()
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .map(str::trim)
        .and_then(|s| s.strip_prefix("get_secret("))
        .and_then(|s| s.strip_suffix(')'))
        .and_then(string_args);
    let Some(args) = args.filter(|a| a.len() == 3 || a.len() == 4) else {
        problems.push(Problem::error(
            path,
            "only ${get_secret('secretId', 'SecretString', 'key', 'roleArn')} is supported in client properties",
        ));
        return None;
    };
    let id = args[0].rsplit(':').next().unwrap_or(&args[0]);
    let key = (args.len() == 4).then(|| args[2].as_str());
    let var = env_name(id, key);
    let what = match key {
        Some(key) => format!("key {key:?} of Secrets Manager secret {:?}", args[0]),
        None => format!("Secrets Manager secret {:?} ({})", args[0], args[1]),
    };
    problems.push(Problem::note(
        path,
        format!("get_secret: the connection reads ${{env:{var}}}; set {var} to {what}"),
    ));
    secrets.insert(var.clone(), what);
    Some(format!("${{env:{var}}}"))
}

/// `'a', 'b', "c"` -> ["a", "b", "c"]; `None` unless every argument is a quoted string.
fn string_args(s: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = rest[1..].find(quote)? + 1;
        args.push(rest[1..end].to_owned());
        rest = rest[end + 1..].trim_start();
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some(args)
}

/// `prod/msk-creds` + `password` -> `PROD_MSK_CREDS_PASSWORD`.
fn env_name(id: &str, key: Option<&str>) -> String {
    let raw = match key {
        Some(k) => format!("{id}_{k}"),
        None => id.to_owned(),
    };
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scram_properties_become_a_librdkafka_connection_with_env_secrets() {
        let mut conns = KafkaConnections::default();
        let mut problems = Vec::new();
        let props = json!({
            "bootstrap.servers": "b-1.demo.kafka.us-east-1.amazonaws.com:9096,b-2.demo.kafka.us-east-1.amazonaws.com:9096",
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.scram.username": "${get_secret('msk/iot-writer', 'SecretString', 'username', 'arn:aws:iam::123456789012:role/iot-kafka')}",
            "sasl.scram.password": "${get_secret('msk/iot-writer', 'SecretString', 'password', 'arn:aws:iam::123456789012:role/iot-kafka')}",
            "acks": "1",
            "key.serializer": "org.apache.kafka.common.serialization.StringSerializer",
        });
        let name = connection(&props, "$.k", &mut conns, &mut problems).unwrap();
        assert_eq!(name, "kafka");
        let text = conns.render();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let c = &parsed["kafka"]["connections"]["kafka"];
        assert_eq!(
            c["bootstrap_servers"].as_str().unwrap(),
            "b-1.demo.kafka.us-east-1.amazonaws.com:9096,b-2.demo.kafka.us-east-1.amazonaws.com:9096"
        );
        let p = c["properties"].as_table().unwrap();
        assert_eq!(p["sasl.mechanisms"].as_str(), Some("SCRAM-SHA-512"));
        assert_eq!(
            p["sasl.username"].as_str(),
            Some("${env:MSK_IOT_WRITER_USERNAME}")
        );
        assert_eq!(
            p["sasl.password"].as_str(),
            Some("${env:MSK_IOT_WRITER_PASSWORD}")
        );
        assert_eq!(p["enable.idempotence"].as_str(), Some("false"));
        assert!(!p.contains_key("key.serializer"));
        assert!(
            text.contains("# set MSK_IOT_WRITER_PASSWORD: key \"password\""),
            "{text}"
        );
        assert!(
            problems
                .iter()
                .all(|p| p.severity == super::super::problem::Severity::Note)
        );
        // The same properties share the connection; others get a new one.
        let again = connection(&props, "$.k2", &mut conns, &mut problems).unwrap();
        assert_eq!(again, "kafka");
        let other = json!({"bootstrap.servers": "localhost:9092"});
        assert_eq!(
            connection(&other, "$.k3", &mut conns, &mut problems).unwrap(),
            "kafka_2"
        );
    }

    #[test]
    fn kerberos_other_templates_and_missing_servers_fail() {
        let mut conns = KafkaConnections::default();
        let mut problems = Vec::new();
        let props = json!({
            "bootstrap.servers": "k:9092",
            "sasl.kerberos.principal": "iot@EXAMPLE.COM",
            "acks": "${topic()}",
        });
        assert_eq!(connection(&props, "$.k", &mut conns, &mut problems), None);
        let mut errors: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        errors.sort();
        assert_eq!(errors, ["$.k.acks", "$.k[\"sasl.kerberos.principal\"]"]);
        problems.clear();
        assert_eq!(
            connection(&json!({"acks": "all"}), "$.k", &mut conns, &mut problems),
            None
        );
        assert_eq!(problems[0].message, "no bootstrap.servers");
        assert!(conns.is_empty());
    }
}
