//! `rulewire test`: rule unit tests in files. Each `<rule>.test.toml` beside `<rule>.sql`
//! lists cases (`case`: the file format); they run offline with the same engine and templates
//! as the service. Prints each case, a diff for each failure and a summary table; exits 1 if
//! anything failed (or a test file or its rule does not load). `--junit FILE` writes a JUnit
//! XML report for CI (`junit`).

mod case;
mod diff;
mod junit;

pub use case::rendered_targets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::rulefile;

/// Arguments of `rulewire test`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// Test files (`*.test.toml`), rule files (`*.sql`, tested by their `.test.toml`) or
    /// directories of them.
    #[arg(default_value = "rules")]
    pub paths: Vec<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// The result of one case (or of a file that did not load: one entry, named after it).
pub struct CaseResult {
    pub name: String,
    pub failures: Vec<String>,
}

/// One test file's results.
pub struct FileResult {
    pub path: PathBuf,
    pub rule: String,
    pub cases: Vec<CaseResult>,
}

impl FileResult {
    fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.failures.is_empty()).count()
    }
}

const SUFFIX: &str = ".test.toml";

/// The test files `paths` name, sorted, and the rules found without tests.
fn discover(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut tests = Vec::new();
    let mut untested = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for p in &entries {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if name.ends_with(SUFFIX) {
                    tests.push(p.clone());
                } else if name.ends_with(".sql") && !test_file_of(p).exists() {
                    untested.push(p.clone());
                }
            }
        } else if path.to_string_lossy().ends_with(SUFFIX) {
            tests.push(path.clone());
        } else if path.extension().is_some_and(|e| e == "sql") {
            tests.push(test_file_of(path));
        } else {
            anyhow::bail!(
                "{}: not a directory, a rule (.sql) or a test file ({SUFFIX})",
                path.display()
            );
        }
    }
    Ok((tests, untested))
}

fn test_file_of(rule: &Path) -> PathBuf {
    rule.with_extension("").with_extension(&SUFFIX[1..])
}

fn rule_file_of(test: &Path) -> PathBuf {
    let name = test
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    test.with_file_name(format!("{}.sql", name.trim_end_matches(SUFFIX)))
}

/// Loads and runs one test file.
fn run_file(path: &Path) -> FileResult {
    let rule_path = rule_file_of(path);
    let rule_name = rule_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let broken = |message: String| FileResult {
        path: path.to_owned(),
        rule: rule_name.clone(),
        cases: vec![CaseResult {
            name: "(the file)".to_owned(),
            failures: vec![message],
        }],
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return broken(format!("cannot read {}: {e}", path.display())),
    };
    let file: case::TestFile = match toml::from_str(&text) {
        Ok(f) => f,
        Err(e) => return broken(format!("{}: {e}", path.display())),
    };
    if file.cases.is_empty() {
        return broken(format!("{}: no [[case]]", path.display()));
    }
    let rule = match rulefile::load_file(&rule_path) {
        Ok(r) => r,
        Err(e) => return broken(format!("the rule does not load: {e}")),
    };
    FileResult {
        path: path.to_owned(),
        rule: rule_name,
        cases: file
            .cases
            .iter()
            .map(|c| CaseResult {
                name: c.name.clone(),
                failures: c.run(&rule),
            })
            .collect(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs every test file of `paths`: the results, in order.
pub fn run_paths(paths: &[PathBuf]) -> anyhow::Result<(Vec<FileResult>, Vec<PathBuf>)> {
    let (tests, untested) = discover(paths)?;
    Ok((tests.iter().map(|t| run_file(t)).collect(), untested))
}

/// `rulewire test`.
pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let (results, untested) = run_paths(&args.paths)?;
    if results.is_empty() {
        anyhow::bail!(
            "no rule tests ({SUFFIX}) under {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for file in &results {
        println!("{}", file.path.display());
        for c in &file.cases {
            if c.failures.is_empty() {
                println!("  ok      {}", c.name);
            } else {
                println!("  FAILED  {}", c.name);
                for f in &c.failures {
                    println!("{}", indent(f));
                }
            }
        }
    }
    print_summary(&results, &untested);
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::report(&results))
            .with_context(|| format!("writing the JUnit report {}", path.display()))?;
    }
    let failed: usize = results.iter().map(FileResult::failed).sum();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(results: &[FileResult], untested: &[PathBuf]) {
    let width = results
        .iter()
        .map(|r| r.path.display().to_string().len())
        .max()
        .unwrap_or(4)
        .max(5);
    println!();
    println!(
        "{:width$}  {:>5}  {:>6}  {:>6}",
        "file", "cases", "passed", "failed"
    );
    let (mut cases, mut failed) = (0, 0);
    for r in results {
        let f = r.failed();
        cases += r.cases.len();
        failed += f;
        println!(
            "{:width$}  {:>5}  {:>6}  {:>6}",
            r.path.display().to_string(),
            r.cases.len(),
            r.cases.len() - f,
            f
        );
    }
    println!(
        "{:width$}  {:>5}  {:>6}  {:>6}",
        "total",
        cases,
        cases - failed,
        failed
    );
    if !untested.is_empty() {
        println!(
            "rules without tests: {}",
            untested
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
