//! `rulewire eval` and `rulewire check`: the offline tools over the engine.
//!
//! `eval` runs one message through one rule as the AWS console's rule test does: the outgoing
//! payload and a newline on stdout when the rule fires, nothing when it does not (exit 0 both
//! ways); a rule that does not compile exits 2 with `line:col: message` and a caret on stderr.
//! `check` compiles rule files (header, SQL, action templates, the connections actions name,
//! against `--config`) and prints every error as `file:line:col: message`, exiting 1 if any
//! file failed. It connects nowhere.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rulewire_actions::ConnectionNames;
use rulewire_engine::{Message, Rule, SqlVersion};

use crate::config::Config;
use crate::registry::check_action_spec;
use crate::rulefile::{self, RuleFile, RuleFileError};

/// Arguments of `rulewire eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The rule's SQL statement.
    #[arg(long)]
    pub sql: String,
    /// Topic the message arrived on.
    #[arg(long)]
    pub topic: String,
    /// The payload, taken verbatim as bytes (JSON or not).
    #[arg(
        long,
        conflicts_with = "payload_file",
        required_unless_present = "payload_file"
    )]
    pub payload: Option<String>,
    /// Read the payload bytes from a file instead.
    #[arg(long)]
    pub payload_file: Option<PathBuf>,
    /// MQTT client id of the publisher (`clientid()`).
    #[arg(long, default_value = "")]
    pub client_id: String,
    /// SQL version: 2016-03-23 (default) or 2015-10-08.
    #[arg(long, default_value = "2016-03-23", value_parser = parse_version)]
    pub sql_version: SqlVersion,
    /// An MQTT 5 user property of the message, `KEY=VALUE` (repeatable, in order), for
    /// `get_user_properties()`.
    #[arg(long = "user-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub user_properties: Vec<(String, String)>,
    /// An MQTT 5 publish property, `NAME=VALUE` (repeatable), for `get_mqtt_property()`:
    /// `content_type`, `response_topic`, `correlation_data` (as base64) or `format_indicator`
    /// (`UTF8_DATA` or `UNSPECIFIED_BYTES`).
    #[arg(long = "mqtt-property", value_name = "NAME=VALUE", value_parser = parse_property)]
    pub mqtt_properties: Vec<(String, String)>,
    /// The rule's name, for Basic Ingest: a topic `$aws/rules/<NAME>/<rest>` reaches this
    /// rule alone, which sees `<rest>` as its topic (its FROM filter is not checked).
    #[arg(long)]
    pub rule_name: Option<String>,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn parse_version(s: &str) -> Result<SqlVersion, String> {
    SqlVersion::parse(s)
        .ok_or_else(|| format!("unknown SQL version {s:?}: use 2016-03-23 or 2015-10-08"))
}

/// Arguments of `rulewire check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rule files (.sql) or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The service configuration: actions may only name connections it configures. When
    /// absent, no connections are configured (s3 has its implicit local `default`).
    #[arg(long, short, default_value = "rulewire.toml", env = "RULEWIRE_CONFIG")]
    pub config: PathBuf,
}

pub fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let rule = match Rule::compile(&args.sql, args.sql_version) {
        Ok(rule) => rule,
        Err(e) => {
            eprintln!("error: rule does not compile: {e}");
            if let Some(line) = args.sql.lines().nth(e.line.saturating_sub(1) as usize) {
                eprintln!("  {line}");
                eprintln!("  {}^", " ".repeat(e.col.saturating_sub(1) as usize));
            }
            return Ok(ExitCode::from(2));
        }
    };
    let payload = match (&args.payload, &args.payload_file) {
        (Some(p), _) => p.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?,
        (None, None) => unreachable!("clap requires --payload or --payload-file"),
    };
    let now = crate::pipeline::epoch_millis();
    let trace_id = uuid_like();
    // Basic Ingest, as the service routes it: `$aws/rules/<rule>/<rest>` goes to that rule
    // alone, with topic `<rest>`, whatever its FROM filter says.
    let basic_ingest = args.topic.strip_prefix("$aws/rules/").map(|rest| {
        let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
        (name.to_owned(), rest.to_owned())
    });
    let topic = match (&basic_ingest, &args.rule_name) {
        (Some((name, rest)), Some(rule_name)) if name == rule_name => rest.clone(),
        (Some((name, _)), _) => {
            eprintln!(
                "note: {:?} is a Basic Ingest topic for the rule {name:?}: only that rule sees it (pass --rule-name {name} to evaluate it as that rule)",
                args.topic
            );
            return Ok(ExitCode::SUCCESS);
        }
        (None, _) => args.topic.clone(),
    };
    let mqtt = crate::mqtt::engine_properties(&args.mqtt_properties)
        .map_err(|e| anyhow::anyhow!("--mqtt-property {e}"))?;
    let msg = Message {
        client_id: &args.client_id,
        timestamp_ms: now,
        trace_id: &trace_id,
        user_properties: &args.user_properties,
        mqtt_properties: &mqtt,
        ..Message::new(&topic, &payload)
    };
    let topic_ok = basic_ingest.is_some()
        || rule
            .topic_filter()
            .is_none_or(|f| rulewire_engine::topic::matches(f, &args.topic));
    if !topic_ok {
        eprintln!(
            "note: topic {:?} does not match the rule's FROM filter; the rule would not see this message",
            args.topic
        );
        return Ok(ExitCode::SUCCESS);
    }
    let result = rule.evaluate(&msg);
    if result.parse_error {
        eprintln!("note: the payload is not valid JSON; it is treated as binary (AWS ParseError)");
    }
    if let Some(out) = result.output {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&out)?;
        stdout.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `rulewire check`; `config` is the service configuration whose connections rules may name.
pub fn check(args: CheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    rulewire_actions::s3::check_aws_references(&config.s3, &config.aws)
        .context("in the --config file")?;
    rulewire_actions::opensearch::check_aws_references(&config.opensearch, &config.aws)
        .context("in the --config file")?;
    let connections =
        ConnectionNames::from_settings(&config.s3, &config.kafka, &config.aws, &config.opensearch)
            .with("mqtt", config.mqtt.names());
    let mut files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            files.extend(
                rulefile::rule_paths(path)
                    .with_context(|| format!("cannot list {}", path.display()))?,
            );
        } else {
            files.push(path.clone());
        }
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut progress = Progress::new(files.len());
    for file in &files {
        match rulefile::load_file(file).and_then(|rf| check_actions(&rf, &connections)) {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                println!("{e}");
            }
        }
        progress.tick(ok + failed);
    }
    progress.done();
    eprintln!();
    eprintln!("{:>8}  {:>8}  {:>11}", "rules", "ok", "with errors");
    eprintln!("{:>8}  {:>8}  {:>11}", ok + failed, ok, failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A progress line on stderr for runs longer than two seconds (when stderr is a terminal).
struct Progress {
    total: usize,
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            total,
            started: now,
            last: now,
            shown: false,
        }
    }

    fn tick(&mut self, done: usize) {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        if now.duration_since(self.started).as_secs() < 2
            || now.duration_since(self.last).as_millis() < 250
            || !std::io::stderr().is_terminal()
        {
            return;
        }
        self.last = now;
        self.shown = true;
        eprint!("\rchecked {done}/{} rule files", self.total);
    }

    fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Checks every action of a rule file (templates, limits, connection names) without
/// creating any client.
fn check_actions(rf: &RuleFile, connections: &ConnectionNames) -> Result<(), RuleFileError> {
    for spec in rf.actions.iter().chain(rf.error_action.iter()) {
        check_action_spec(rf, spec, connections)?;
    }
    Ok(())
}
