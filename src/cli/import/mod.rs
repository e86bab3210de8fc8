//! `rulewire import FILE... --out DIR`: AWS IoT rule definitions -> rulewire rule files.
//!
//! Reads the output of `aws iot get-topic-rule`, TopicRulePayload JSON, and CloudFormation or
//! SAM templates (JSON or YAML, intrinsics evaluated offline) (`source`, `intrinsics`,
//! `resources`, `yaml`); converts each rule's SQL, version, state, description, actions and
//! error action (`convert`, `actions`, `kafka`); writes `DIR/<ruleName>.sql` in the rule-file
//! format (`header`). Kafka `clientProperties` become `[kafka.connections.*]` stanzas for
//! `rulewire.toml`, printed on stdout or written to `--connections FILE`.
//!
//! Everything else goes to stderr: per rule, each note (carried over with a change worth
//! knowing) and error (cannot carry over) with its JSON path in the input, then a summary
//! table. A rule with an error is not written; the exit status is 1 if any rule or file
//! failed. Nothing here connects anywhere.

mod actions;
mod convert;
mod header;
mod intrinsics;
mod kafka;
mod problem;
mod resources;
mod source;
mod yaml;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::rulefile::valid_rule_name;
pub use intrinsics::Deployment;
use kafka::KafkaConnections;
use problem::{Problem, Severity};

/// Arguments of `rulewire import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// AWS rule definitions: `aws iot get-topic-rule` output, TopicRulePayload JSON (the
    /// rule is named after the file), or CloudFormation/SAM templates (JSON or YAML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory for the rule files, `<ruleName>.sql` (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the Kafka connection stanzas to this file instead of stdout.
    #[arg(long)]
    pub connections: Option<PathBuf>,
    /// Replace rule files that already exist in --out.
    #[arg(long)]
    pub force: bool,
    /// Templates: the value of AWS::Region (default us-east-1, noted when used).
    #[arg(long)]
    pub region: Option<String>,
    /// Templates: the value of AWS::AccountId (default 123456789012, noted when used).
    #[arg(long)]
    pub account_id: Option<String>,
    /// Templates: the value of AWS::StackName (default: the file stem, noted when used).
    #[arg(long)]
    pub stack_name: Option<String>,
    /// Templates: a parameter's value, overriding its Default (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
}

fn parse_parameter(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

/// What became of one rule (or of a file that held none).
struct Outcome {
    rule: String,
    file: PathBuf,
    actions: Option<usize>,
    written: Option<PathBuf>,
    problems: Vec<Problem>,
}

impl Outcome {
    fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
}

/// Runs `rulewire import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let deployment = Deployment {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        stack_name: args.stack_name.clone(),
        parameters: args.parameters.iter().cloned().collect(),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut kafka = KafkaConnections::default();
    let mut names = BTreeSet::new();
    let mut outcomes = Vec::new();
    for file in &args.files {
        match source::read(file, &deployment) {
            Ok(rules) if rules.is_empty() => outcomes.push(Outcome {
                rule: "-".into(),
                file: file.clone(),
                actions: None,
                written: None,
                problems: vec![Problem::error(
                    "$",
                    "no AWS::IoT::TopicRule (or SAM IoTRule event) in this template",
                )],
            }),
            Ok(rules) => {
                for rule in rules {
                    outcomes.push(import_rule(rule, &args, &mut names, &mut kafka));
                }
            }
            Err(message) => outcomes.push(Outcome {
                rule: "-".into(),
                file: file.clone(),
                actions: None,
                written: None,
                problems: vec![Problem::error("$", message)],
            }),
        }
    }
    report(&outcomes);
    if !kafka.is_empty() {
        let text = kafka.render();
        match &args.connections {
            Some(path) => {
                std::fs::write(path, &text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!(
                    "Kafka connections written to {} (add them to rulewire.toml)",
                    path.display()
                );
            }
            None => std::io::stdout().lock().write_all(text.as_bytes())?,
        }
    }
    summary(&outcomes);
    let failed = outcomes.iter().any(|o| o.errors() > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Converts and writes one rule.
fn import_rule(
    rule: source::RuleSource,
    args: &ImportArgs,
    names: &mut BTreeSet<String>,
    kafka: &mut KafkaConnections,
) -> Outcome {
    let mut problems = rule.problems.clone();
    let name = file_name(&rule.name, names, &rule.path, &mut problems);
    let out = args.out.join(format!("{name}.sql"));
    let mut outcome = Outcome {
        rule: name.clone(),
        file: rule.file.clone(),
        actions: None,
        written: None,
        problems: Vec::new(),
    };
    let resolved_ok = !problems.iter().any(|p| p.severity == Severity::Error);
    let converted = convert::convert(&rule, &name, &out, kafka, &mut problems);
    if let (true, Some((text, actions))) = (resolved_ok, converted) {
        outcome.actions = Some(actions);
        if out.exists() && !args.force {
            problems.push(Problem::error(
                &rule.path,
                format!("{} exists (pass --force to replace it)", out.display()),
            ));
        } else if let Err(e) = std::fs::write(&out, text) {
            problems.push(Problem::error(
                &rule.path,
                format!("cannot write {}: {e}", out.display()),
            ));
        } else {
            outcome.written = Some(out);
        }
    }
    outcome.problems = problems;
    outcome
}

/// A valid, unused rule name for `wanted` (noted when it had to change).
fn file_name(
    wanted: &str,
    used: &mut BTreeSet<String>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> String {
    let mut name = wanted.to_owned();
    if !valid_rule_name(&name) {
        name = wanted
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(128)
            .collect();
        if name.is_empty() {
            name = "rule".into();
        }
        problems.push(Problem::note(
            path,
            format!("rule name {wanted:?} does not match ^[a-zA-Z0-9_]+$: named {name:?}"),
        ));
    }
    if used.contains(&name) {
        let base = name.clone();
        let mut n = 2;
        while used.contains(&name) {
            let suffix = format!("_{n}");
            name = format!("{}{suffix}", &base[..base.len().min(128 - suffix.len())]);
            n += 1;
        }
        problems.push(Problem::note(
            path,
            format!("another imported rule is named {base:?}: named this one {name:?}"),
        ));
    }
    used.insert(name.clone());
    name
}

/// Each rule's notes and errors, on stderr.
fn report(outcomes: &[Outcome]) {
    for o in outcomes.iter().filter(|o| !o.problems.is_empty()) {
        eprintln!("{} ({}):", o.rule, o.file.display());
        for p in &o.problems {
            eprintln!("  {p}");
        }
    }
}

/// The summary table, on stderr.
fn summary(outcomes: &[Outcome]) {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            let notes = o.problems.len() - o.errors();
            let status = match (&o.written, o.errors()) {
                (Some(path), _) => format!("written {}", path.display()),
                (None, n) => format!("FAILED ({n} error{})", if n == 1 { "" } else { "s" }),
            };
            [
                o.rule.clone(),
                display_name(&o.file),
                o.actions.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                if notes > 0 {
                    format!("{status}, {notes} note(s)")
                } else {
                    status
                },
            ]
        })
        .collect();
    let header = ["RULE", "SOURCE", "ACTIONS", "RESULT"].map(str::to_owned);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    eprintln!();
    for row in [&header].into_iter().chain(rows.iter()) {
        eprintln!(
            "{:w0$}  {:w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let written = outcomes.iter().filter(|o| o.written.is_some()).count();
    eprintln!(
        "\n{written} rule(s) written, {} failed",
        outcomes.len() - written
    );
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
