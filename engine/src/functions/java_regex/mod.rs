//! Java regular expressions (`java.util.regex.Pattern`, as AWS IoT's rules engine runs them) on
//! top of the `fancy-regex` crate.
//!
//! A Java pattern is parsed here and written out again in fancy-regex's syntax, spelling out every
//! construct whose meaning differs between the two:
//!
//! - `\w \d \s \b` and the POSIX classes (`\p{Alpha}`, `\p{Punct}`, ...) are ASCII-only unless
//!   the `U` flag (UNICODE_CHARACTER_CLASS) is set; `\h \v \R` are Java's sets; `\b` follows
//!   JDK 19+ (ASCII word characters, consistent with `\w`; JDK 17 and earlier used
//!   `Character.isLetterOrDigit`).
//! - `.` excludes Java's line terminators (`\n \r \u0085 \u2028 \u2029`, or only `\n` with `d`);
//!   `^`, `$`, `\Z` follow Java (`$` also matches before a final terminator; `(?m)^` never matches
//!   at the end of the input).
//! - `(?i)` folds ASCII letters only; `(?iu)` folds Unicode. Inline flags `i d m s u x U` are
//!   scoped to their group; `x` (comments) is handled here.
//! - `\p{...}` resolves as Java does: `IsLatin`/`script=`, `IsAlphabetic`, `Lu`/`IsLu`/`gc=`,
//!   `javaLowerCase` and the other `java*` methods, POSIX names.
//! - `[a-z&&[^aeiou]]` intersections, nested classes, `\Q...\E`, octal/hex/unicode/control
//!   escapes (a `\uD83D\uDE00` surrogate pair is one character), backreferences (Java's digit
//!   rule: `\12` is group 12 only if that group exists; a reference to a missing group never
//!   matches), `\k<name>`, possessive quantifiers (written as atomic groups) and atomic groups.
//! - Look-behind must have a bounded length, as Java requires.
//!
//! Constructs that cannot be expressed are refused with a message ([`JavaRegex::new`] returns
//! a [`PatternError`] of kind [`PatternErrorKind::Unsupported`]): `\X` and `\b{g}` (grapheme
//! clusters), `\N{name}`, Unicode blocks (`\p{InGreek}`), the `c` (CANON_EQ) flag, and the
//! few translations fancy-regex cannot run. Invalid Java patterns are refused too
//! ([`PatternErrorKind::Invalid`], with Java's description). A pattern written as a string
//! literal in a rule is checked when the rule compiles (`crate::compile`), so either kind is a
//! compile error there; a pattern that comes from the payload makes the SQL function give
//! Undefined, where Java would throw.
//!
//! Each pattern is compiled twice when useful: the general form, and a simpler one for subjects
//! that contain no line terminator, where `$` and `^` are plain anchors (no look-around, so the
//! whole pattern usually runs on the regex crate's automata instead of the backtracking VM).
//!
//! This module keeps the public API ([`JavaRegex`]); the translation is split by construct:
//! `translator` (state, sequences, quantifiers), `groups`, `anchors`, `escapes`, `class`
//! (character classes) and `properties` (`\p{...}` names and Java's named sets).

mod anchors;
mod class;
mod escapes;
mod groups;
mod properties;
mod translator;

use fancy_regex::{Regex, RegexBuilder};
use translator::Translator;

/// Backtracking steps allowed per search before the search gives up (then the SQL function
/// gives Undefined): a hostile pattern cannot hang a worker.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// Why a pattern cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub kind: PatternErrorKind,
    /// For [`PatternErrorKind::Invalid`], Java's description (`unclosed group near index 1`);
    /// for [`PatternErrorKind::Unsupported`], the construct (`\X (grapheme cluster) near
    /// index 2`).
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternErrorKind {
    /// `java.util.regex` itself refuses the pattern (a `PatternSyntaxException`).
    Invalid,
    /// A Java construct rulewire does not support.
    Unsupported,
}

impl PatternError {
    fn invalid(message: String) -> PatternError {
        PatternError {
            kind: PatternErrorKind::Invalid,
            message,
        }
    }
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            PatternErrorKind::Invalid => {
                write!(f, "invalid Java regular expression: {}", self.message)
            }
            PatternErrorKind::Unsupported => write!(
                f,
                "Java construct not supported by rulewire: {}",
                self.message
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// A compiled Java pattern.
#[derive(Debug)]
pub struct JavaRegex {
    general: Regex,
    /// For subjects without line terminators (and ASCII subjects when the pattern has an ASCII
    /// `\b`); `None` when it would be the same as `general`.
    simple: Option<Regex>,
    simple_needs_ascii: bool,
    groups: usize,
    names: Vec<(String, usize)>,
}

impl JavaRegex {
    /// Translates and compiles a Java pattern; `Err` says whether Java refuses it or rulewire
    /// cannot run it, and why.
    pub fn new(pattern: &str) -> Result<JavaRegex, PatternError> {
        // A first pass counts the groups: a reference to a group that does not exist never
        // matches in Java, while fancy-regex refuses it.
        let counted = Translator::run(pattern, None, false)?;
        let general = Translator::run(pattern, Some(counted.groups), false)?;
        let simple = Translator::run(pattern, Some(counted.groups), true)?;
        let build = |text: &str| {
            RegexBuilder::new(text)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(1 << 22)
                .build()
                .map_err(|e| PatternError {
                    kind: PatternErrorKind::Unsupported,
                    message: format!("a construct fancy-regex cannot run ({e})"),
                })
        };
        let general_re = build(&general.text)?;
        let simple_re = if simple.text == general.text {
            None
        } else {
            Some(build(&simple.text)?)
        };
        Ok(JavaRegex {
            general: general_re,
            simple: simple_re,
            simple_needs_ascii: simple.ascii_boundary,
            groups: general.groups,
            names: general.names,
        })
    }

    /// The compiled form to search `subject` with.
    pub fn regex_for(&self, subject: &str) -> &Regex {
        match &self.simple {
            Some(simple)
                if !subject.contains(is_line_terminator)
                    && (!self.simple_needs_ascii || subject.is_ascii()) =>
            {
                simple
            }
            _ => &self.general,
        }
    }

    /// Number of capturing groups (group 0 not counted).
    pub fn group_count(&self) -> usize {
        self.groups
    }

    /// The number of the named group `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }
}

/// Java's line terminators (without UNIX_LINES).
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests;
