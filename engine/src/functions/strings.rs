//! String functions: chr, concat, startswith/endswith, indexof, length, numbytes, lower/upper,
//! lpad/rpad, ltrim/rtrim/trim, replace, substring, the regexp_* family and the hashes
//! (md2, md5, sha1, sha224, sha256, sha384, sha512).
//!
//! String arguments go through the standard String conversion: numbers print in their standard
//! form, Booleans as "true"/"false", Arrays and Objects as JSON; Null and Undefined give
//! Undefined. Positions and lengths count UTF-16 code units, as Java's `String` does (AWS's
//! engine runs on the JVM): an emoji counts 2.
//! Regular expressions are Java's (`java.util.regex`, as AWS's engine runs them), translated to
//! `fancy-regex` by [`super::java_regex`]; a pattern Java refuses, or one of the few Java
//! constructs rulewire cannot run, gives Undefined (a pattern written as a literal in the rule
//! is refused when the rule compiles instead, see `crate::compile`).

use super::args::{int_floor, int_saturating, text};
use super::java_regex::JavaRegex;
use crate::value::{SqlVersion, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Two String arguments, or `None`.
fn two_texts(args: &[Value]) -> Option<(String, String)> {
    Some((text(args.first()?)?, text(args.get(1)?)?))
}

fn or_undefined(v: Option<Value>) -> Value {
    v.unwrap_or_default()
}

/// `chr(n)`: the character with ASCII code `n` (rounded down). Choice: only 0..=127 is valid.
pub fn chr(args: &[Value], _v: SqlVersion) -> Value {
    match args.first().and_then(int_floor) {
        Some(n @ 0..=127) => Value::String(char::from(n as u8).to_string()),
        _ => Value::Undefined,
    }
}

/// `concat(...)`: 0 args → Undefined. If any argument is an Array the result is one Array of all
/// arguments, Arrays flattened one level. Otherwise the String concatenation of the standard String
/// forms (so `concat(1)` = "1", and `concat(1, 2)` = "12", an undocumented choice).
///
/// Choices: an Undefined argument makes the result Undefined; in Array mode a Null argument is
/// kept as a `null` element, in String mode it makes the result Undefined (Null has no String form).
pub fn concat(args: &[Value], _v: SqlVersion) -> Value {
    if args.is_empty() || args.iter().any(Value::is_undefined) {
        return Value::Undefined;
    }
    if args.iter().any(|a| matches!(a, Value::Array(_))) {
        let mut out = Vec::new();
        for a in args {
            match a {
                Value::Array(items) => out.extend(items.iter().cloned()),
                other => out.push(other.clone()),
            }
        }
        return Value::Array(out);
    }
    let mut out = String::new();
    for a in args {
        match text(a) {
            Some(s) => out.push_str(&s),
            None => return Value::Undefined,
        }
    }
    Value::String(out)
}

pub fn endswith(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(two_texts(args).map(|(s, p)| Value::Bool(s.ends_with(&p))))
}

pub fn startswith(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(two_texts(args).map(|(s, p)| Value::Bool(s.starts_with(&p))))
}

/// `indexof(s, sub)`: 0-based index of the first occurrence in UTF-16 code units, as Java's
/// `String.indexOf` (an emoji counts 2); -1 when absent (the not-found value is undocumented;
/// -1 follows Java).
pub fn indexof(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(two_texts(args).map(|(s, sub)| match s.find(&sub) {
        Some(byte_pos) => Value::Int(utf16_len(&s[..byte_pos]) as i128),
        None => Value::Int(-1),
    }))
}

/// `length(s)`: number of UTF-16 code units, as Java's `String.length` (AWS's engine runs on the
/// JVM): a character outside the Basic Multilingual Plane (an emoji) counts 2.
pub fn length(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::Int(utf16_len(&s) as i128)),
    )
}

/// Length in UTF-16 code units.
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// The UTF-16 code units `start..end` of `s` (in range). Half of a surrogate pair, which Java
/// would return and which has no UTF-8 form, becomes U+FFFD.
pub(crate) fn utf16_slice(s: &str, start: usize, end: usize) -> String {
    if s.is_ascii() {
        return s[start..end].to_owned();
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    String::from_utf16_lossy(&units[start..end])
}

/// `numbytes(s)`: UTF-8 byte count.
pub fn numbytes(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::Int(s.len() as i128)),
    )
}

pub fn lower(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::String(s.to_lowercase())),
    )
}

pub fn upper(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::String(s.to_uppercase())),
    )
}

/// The string and the pad width (rounded down, clamped to 0..1000) of lpad/rpad.
fn pad_args(args: &[Value]) -> Option<(String, usize)> {
    let s = text(args.first()?)?;
    let n = int_saturating(args.get(1)?)?;
    Some((s, n.clamp(0, 1000) as usize))
}

/// `lpad(s, n)`: `n` spaces added on the left.
pub fn lpad(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(pad_args(args).map(|(s, n)| Value::String(format!("{}{s}", " ".repeat(n)))))
}

/// `rpad(s, n)`: `n` spaces added on the right.
pub fn rpad(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(pad_args(args).map(|(s, n)| Value::String(format!("{s}{}", " ".repeat(n)))))
}

/// `ltrim`: removes leading whitespace (spaces, tabs, newlines: Unicode White_Space).
pub fn ltrim(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::str(s.trim_start())),
    )
}

/// `rtrim`: removes trailing whitespace.
pub fn rtrim(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(
        args.first()
            .and_then(text)
            .map(|s| Value::str(s.trim_end())),
    )
}

/// `trim`: removes leading and trailing whitespace.
pub fn trim(args: &[Value], _v: SqlVersion) -> Value {
    or_undefined(args.first().and_then(text).map(|s| Value::str(s.trim())))
}

/// `replace(s, from, to)`: literal replace-all.
pub fn replace(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(s), Some(from), Some(to)) = (
        args.first().and_then(text),
        args.get(1).and_then(text),
        args.get(2).and_then(text),
    ) else {
        return Value::Undefined;
    };
    Value::String(s.replace(&from, &to))
}

/// `substring(s, start[, end])`: 0-based, end exclusive, in UTF-16 code units as Java's
/// `String.substring`; indices are rounded down and clamped to 0..length (AWS's examples);
/// start ≥ end gives "". Cutting an emoji in half gives U+FFFD for the half.
pub fn substring(args: &[Value], _v: SqlVersion) -> Value {
    let Some(s) = args.first().and_then(text) else {
        return Value::Undefined;
    };
    let len = utf16_len(&s) as i64;
    let Some(start) = args.get(1).and_then(int_saturating) else {
        return Value::Undefined;
    };
    let end = match args.get(2) {
        None => len,
        Some(v) => match int_saturating(v) {
            Some(e) => e,
            None => return Value::Undefined,
        },
    };
    let start = start.clamp(0, len) as usize;
    let end = end.clamp(0, len) as usize;
    if start >= end {
        return Value::str("");
    }
    Value::String(utf16_slice(&s, start, end))
}

thread_local! {
    /// Compiled patterns, per thread. Rules reuse a handful of constant patterns.
    static REGEX_CACHE: RefCell<HashMap<String, Option<Rc<JavaRegex>>>> =
        RefCell::new(HashMap::new());
}

/// Compiles (or fetches) a Java pattern; `None` when Java refuses it or rulewire cannot run it
/// ([`JavaRegex::new`] says why).
fn compile(pattern: &str) -> Option<Rc<JavaRegex>> {
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(r) = cache.get(pattern) {
            return r.clone();
        }
        if cache.len() >= 256 {
            cache.clear();
        }
        let compiled = JavaRegex::new(pattern).ok().map(Rc::new);
        cache.insert(pattern.to_owned(), compiled.clone());
        compiled
    })
}

/// `regexp_matches(s, re)`: true when `s` contains a match (Java's `Matcher.find`).
pub fn regexp_matches(args: &[Value], _v: SqlVersion) -> Value {
    let Some((s, pattern)) = two_texts(args) else {
        return Value::Undefined;
    };
    let Some(re) = compile(&pattern) else {
        return Value::Undefined;
    };
    match re.regex_for(&s).is_match(&s) {
        Ok(found) => Value::Bool(found),
        Err(_) => Value::Undefined, // backtrack limit
    }
}

/// `regexp_substr(s, re)`: the first match. Choice: no match gives "" (undocumented).
pub fn regexp_substr(args: &[Value], _v: SqlVersion) -> Value {
    let Some((s, pattern)) = two_texts(args) else {
        return Value::Undefined;
    };
    let Some(re) = compile(&pattern) else {
        return Value::Undefined;
    };
    match re.regex_for(&s).find(&s) {
        Ok(m) => Value::str(m.map(|m| m.as_str()).unwrap_or("")),
        Err(_) => Value::Undefined,
    }
}

/// `regexp_replace(s, re, replacement)`: replaces every match, as Java's `Matcher.replaceAll`.
/// The replacement uses Java's syntax: `$n` is group n (Java reads further digits only while they
/// still name an existing group), `${name}` a named group, `\x` a literal `x`. A reference to a
/// missing group or a dangling `$`/`\` → Undefined, but only when there is a match (Java reads
/// the replacement at the first match).
pub fn regexp_replace(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(s), Some(pattern), Some(replacement)) = (
        args.first().and_then(text),
        args.get(1).and_then(text),
        args.get(2).and_then(text),
    ) else {
        return Value::Undefined;
    };
    let Some(re) = compile(&pattern) else {
        return Value::Undefined;
    };
    let regex = re.regex_for(&s);
    let mut parts = None;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    // Java's `find` loop: the next search starts where the last match ended, one character
    // further after an empty match; an empty match right after a non-empty one counts (the
    // regex crates skip it, Java does not).
    let mut pos = 0;
    while pos <= s.len() {
        let caps = match regex.captures_from_pos(&s, pos) {
            Ok(Some(caps)) => caps,
            Ok(None) => break,
            Err(_) => return Value::Undefined, // backtrack limit
        };
        if parts.is_none() {
            match parse_replacement(&replacement, &re) {
                Some(p) => parts = Some(p),
                None => return Value::Undefined,
            }
        }
        let m = caps.get(0).expect("group 0 always matches");
        out.push_str(&s[last..m.start()]);
        for part in parts.iter().flatten() {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Group(i) => out.push_str(caps.get(*i).map_or("", |g| g.as_str())),
            }
        }
        last = m.end();
        pos = if m.start() == m.end() {
            match s[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&s[last..]);
    Value::String(out)
}

/// A piece of a parsed replacement string.
enum Part {
    Literal(String),
    Group(usize),
}

/// Parses a Java `Matcher.appendReplacement` replacement string against `re`'s groups.
fn parse_replacement(replacement: &str, re: &JavaRegex) -> Option<Vec<Part>> {
    let groups = re.group_count();
    let chars: Vec<char> = replacement.chars().collect();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                literal.push(*chars.get(i + 1)?);
                i += 2;
            }
            '$' => {
                i += 1;
                let group = if chars.get(i) == Some(&'{') {
                    // Java: a name is ASCII letters and digits, not starting with a digit.
                    i += 1;
                    let start = i;
                    while chars.get(i).is_some_and(char::is_ascii_alphanumeric) {
                        i += 1;
                    }
                    if chars.get(i) != Some(&'}') || i == start || chars[start].is_ascii_digit() {
                        return None;
                    }
                    let name: String = chars[start..i].iter().collect();
                    i += 1;
                    re.group_index(&name)?
                } else {
                    let mut n = chars.get(i)?.to_digit(10)? as usize;
                    i += 1;
                    while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                        let next = n * 10 + d as usize;
                        if next > groups {
                            break;
                        }
                        n = next;
                        i += 1;
                    }
                    n
                };
                if group > groups {
                    return None;
                }
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Group(group));
            }
            c => {
                literal.push(c);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Some(parts)
}

/// The bytes a hash function digests: the UTF-8 of the standard String form. Choice: a Binary
/// value (only `*` of a non-JSON payload) is hashed as its raw bytes.
fn hash_input(args: &[Value]) -> Option<Vec<u8>> {
    match args.first()? {
        Value::Binary(b) => Some(b.clone()),
        other => text(other).map(String::into_bytes),
    }
}

fn digest_hex<D: md5::Digest>(args: &[Value]) -> Value {
    or_undefined(hash_input(args).map(|bytes| Value::String(hex::encode(D::digest(&bytes)))))
}

pub fn md2(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<md2::Md2>(args)
}

pub fn md5(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<md5::Md5>(args)
}

pub fn sha1(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<sha1::Sha1>(args)
}

pub fn sha224(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<sha2::Sha224>(args)
}

pub fn sha256(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<sha2::Sha256>(args)
}

pub fn sha384(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<sha2::Sha384>(args)
}

pub fn sha512(args: &[Value], _v: SqlVersion) -> Value {
    digest_hex::<sha2::Sha512>(args)
}

#[cfg(test)]
#[path = "strings_tests.rs"]
mod tests;
