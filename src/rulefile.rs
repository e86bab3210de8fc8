//! Rule files: one `<rule_name>.sql` per rule. A leading comment header written in TOML (every
//! line starting with `--`) carries the settings; the rest is the SQL body, unchanged and
//! pasteable into AWS IoT:
//!
//! ```text
//! -- description = "Room over 30 C"
//! -- sql_version = "2016-03-23"
//! -- [[action]]
//! -- type = "republish"
//! -- topic = "alerts/${topic(2)}"
//! -- [error_action]
//! -- type = "republish"
//! -- topic = "rulewire/errors"
//! SELECT temperature FROM 'sensors/+/data' WHERE temperature > 30
//! ```
//!
//! This module parses and compiles files; every error is a [`RuleFileError`] printed as
//! `file:line:col: message` with the line counted in the file (header and SQL alike).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rulewire_engine::{Lookups, Rule, SqlVersion};
use serde::Deserialize;

/// An error in one rule file, positioned in that file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    pub path: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

impl std::error::Error for RuleFileError {}

/// One action table from the header, kept as TOML for the actions crate to deserialize,
/// with the file line of its `[[action]]` / `[error_action]` header for error reports.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    pub table: toml::Table,
    pub line: u32,
}

/// A parsed and compiled rule file.
#[derive(Clone)]
pub struct RuleFile {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub enabled: bool,
    pub sql_version: SqlVersion,
    pub sql: String,
    pub actions: Vec<ActionSpec>,
    pub error_action: Option<ActionSpec>,
    pub rule: Arc<Rule>,
    /// The file text, to tell a changed file from an unchanged one on reload.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(default)]
    description: String,
    #[serde(default = "default_enabled")]
    enabled: bool,
    #[serde(default)]
    sql_version: Option<String>,
    #[serde(default, rename = "action")]
    actions: Vec<toml::Table>,
    #[serde(default)]
    error_action: Option<toml::Table>,
}

fn default_enabled() -> bool {
    true
}

/// True for AWS's rule-name pattern `^[a-zA-Z0-9_]+$` (1–128 characters).
pub fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads and compiles one file (its `get_thing_shadow()` reads nothing: Undefined).
pub fn load_file(path: &Path) -> Result<RuleFile, RuleFileError> {
    load_file_with(path, None)
}

/// [`load_file`], the rule reading Device Shadows from `lookups`.
pub fn load_file_with(
    path: &Path,
    lookups: Option<&Arc<dyn Lookups>>,
) -> Result<RuleFile, RuleFileError> {
    let err = |line, col, message: String| RuleFileError {
        path: path.to_owned(),
        line,
        col,
        message,
    };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    if !valid_rule_name(&name) {
        return Err(err(
            1,
            1,
            format!(
                "rule name {name:?} (the file stem) must match ^[a-zA-Z0-9_]+$, 1-128 characters"
            ),
        ));
    }
    let source =
        std::fs::read_to_string(path).map_err(|e| err(1, 1, format!("cannot read: {e}")))?;
    parse_with(&name, path, &source, lookups)
}

/// Parses and compiles a rule from its text (`path` only labels errors).
pub fn parse(name: &str, path: &Path, source: &str) -> Result<RuleFile, RuleFileError> {
    parse_with(name, path, source, None)
}

/// [`parse`], the rule reading Device Shadows from `lookups`.
pub fn parse_with(
    name: &str,
    path: &Path,
    source: &str,
    lookups: Option<&Arc<dyn Lookups>>,
) -> Result<RuleFile, RuleFileError> {
    let err = |line: usize, col: usize, message: String| RuleFileError {
        path: path.to_owned(),
        line: line as u32,
        col: col as u32,
        message,
    };
    let lines: Vec<&str> = source.split('\n').collect();
    let header_len = lines.iter().take_while(|l| l.starts_with("--")).count();
    // Header text with the `--` / `-- ` prefix removed; `prefix[i]` is how much was removed.
    let mut header = String::new();
    let mut prefix = Vec::with_capacity(header_len);
    for line in &lines[..header_len] {
        let stripped = line
            .strip_prefix("-- ")
            .or_else(|| line.strip_prefix("--"))
            .unwrap_or(line);
        prefix.push(line.len() - stripped.len());
        header.push_str(stripped.trim_end_matches('\r'));
        header.push('\n');
    }
    let parsed: Header = toml::from_str(&header).map_err(|e| {
        let (line, col) = match e.span() {
            Some(span) => {
                let before = &header[..span.start.min(header.len())];
                let idx = before.matches('\n').count();
                let col = before.len() - before.rfind('\n').map(|p| p + 1).unwrap_or(0);
                (idx + 1, col + 1 + prefix.get(idx).copied().unwrap_or(0))
            }
            None => (1, 1),
        };
        err(line, col, format!("rule header: {}", e.message()))
    })?;

    let sql_version = match &parsed.sql_version {
        None => SqlVersion::default(),
        Some(v) => SqlVersion::parse(v).ok_or_else(|| {
            let line = find_line(&lines[..header_len], "sql_version").unwrap_or(1);
            err(
                line,
                1,
                format!("unknown sql_version {v:?} (use \"2016-03-23\" or \"2015-10-08\")"),
            )
        })?,
    };

    let sql = lines[header_len..].join("\n");
    if sql.trim().is_empty() {
        return Err(err(
            header_len + 1,
            1,
            "no SQL statement after the header".into(),
        ));
    }
    let rule = Rule::compile(&sql, sql_version).map_err(|e| {
        err(
            e.line as usize + header_len,
            e.col as usize,
            e.message.clone(),
        )
    })?;
    let rule = match lookups {
        Some(l) => rule.with_lookups(l.clone()),
        None => rule,
    };

    let action_lines = find_lines(&lines[..header_len], "[[action]]");
    let actions = parsed
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, table)| ActionSpec {
            table,
            line: action_lines.get(i).copied().unwrap_or(1) as u32,
        })
        .collect();
    let error_action = parsed.error_action.map(|table| ActionSpec {
        table,
        line: find_line(&lines[..header_len], "[error_action]").unwrap_or(1) as u32,
    });
    Ok(RuleFile {
        name: name.to_owned(),
        path: path.to_owned(),
        description: parsed.description,
        enabled: parsed.enabled,
        sql_version,
        sql,
        actions,
        error_action,
        rule: Arc::new(rule),
        source: source.to_owned(),
    })
}

/// 1-based file lines of header lines whose content starts with `needle`.
fn find_lines(header: &[&str], needle: &str) -> Vec<usize> {
    header
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start_matches('-').trim_start().starts_with(needle))
        .map(|(i, _)| i + 1)
        .collect()
}

fn find_line(header: &[&str], needle: &str) -> Option<usize> {
    find_lines(header, needle).first().copied()
}

/// The `.sql` files of `dir`, sorted by name.
pub fn rule_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Loads every rule of `dir`, reporting every error (not just the first); the rules read
/// Device Shadows from `lookups`. `Err`: the directory itself cannot be listed (gone,
/// unmounted, unreadable), which says nothing about the rules in it.
pub fn load_dir(
    dir: &Path,
    lookups: Option<&Arc<dyn Lookups>>,
) -> Result<(Vec<RuleFile>, Vec<RuleFileError>), RuleFileError> {
    let paths = rule_paths(dir).map_err(|e| RuleFileError {
        path: dir.to_owned(),
        line: 1,
        col: 1,
        message: format!("cannot list rules directory: {e}"),
    })?;
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_file_with(&path, lookups) {
            Ok(r) => rules.push(r),
            Err(e) => errors.push(e),
        }
    }
    Ok((rules, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_body() {
        let text = "-- description = \"hot\"\n-- [[action]]\n-- type = \"republish\"\n-- topic = \"a/b\"\n--\n-- [error_action]\n-- type = \"republish\"\n-- topic = \"errors\"\nSELECT * FROM 'a/#'\n";
        let r = parse("hot", Path::new("hot.sql"), text).unwrap();
        assert_eq!(r.description, "hot");
        assert!(r.enabled);
        assert_eq!(r.actions.len(), 1);
        assert_eq!(r.actions[0].line, 2);
        assert_eq!(r.error_action.as_ref().unwrap().line, 6);
        assert_eq!(r.sql.trim(), "SELECT * FROM 'a/#'");
    }

    #[test]
    fn header_error_points_into_the_file() {
        let text = "-- description = \"x\"\n-- enabled = maybe\nSELECT * FROM 'a'\n";
        let e = parse("x", Path::new("r/x.sql"), text).err().unwrap();
        assert_eq!((e.line, e.col), (2, 14), "{e}");
        assert!(
            e.to_string().starts_with("r/x.sql:2:14: rule header"),
            "{e}"
        );
    }

    #[test]
    fn unknown_header_key_and_version() {
        let e = parse(
            "x",
            Path::new("x.sql"),
            "-- descripton = \"x\"\nSELECT 1 FROM 'a'",
        )
        .err()
        .unwrap();
        assert_eq!(e.line, 1);
        let e = parse(
            "x",
            Path::new("x.sql"),
            "-- enabled = true\n-- sql_version = \"2020\"\nSELECT 1 FROM 'a'",
        )
        .err()
        .unwrap();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn names() {
        assert!(valid_rule_name("high_temp_2"));
        assert!(!valid_rule_name("high-temp"));
        assert!(!valid_rule_name(""));
    }
}
