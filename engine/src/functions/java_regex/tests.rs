//! Translation tests of Java patterns; the property test against Java itself is
//! `engine/tests/oracle_strings.rs`.

use super::*;

fn matches(pattern: &str, s: &str) -> bool {
    let re = JavaRegex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    re.regex_for(s)
        .is_match(s)
        .expect("within the backtrack limit")
}

fn first(pattern: &str, s: &str) -> Option<String> {
    let re = JavaRegex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    re.regex_for(s)
        .find(s)
        .expect("within the backtrack limit")
        .map(|m| m.as_str().to_owned())
}

#[test]
fn look_around_back_references_possessive_atomic() {
    assert!(matches("(?<=a)b", "abc"));
    assert!(!matches("(?<!a)b", "abc"));
    assert!(matches("a(?=c)", "ac"));
    assert!(matches("(\\w)\\1", "xaay"));
    assert!(!matches("(\\w)\\1", "xay"));
    assert!(matches("(?<n>[0-9])\\k<n>", "x33"));
    assert!(!matches("a++a", "aaa"));
    assert!(!matches("(?>a*)a", "aaa"));
    assert!(matches("a*+b", "aab"));
    // `\2` with one group never matches; `\11` with one group is `\1` then "1".
    assert!(!matches("(a)\\2", "aa"));
    assert_eq!(first("(a)\\11", "aa1").as_deref(), Some("aa1"));
}

#[test]
fn ascii_classes_by_default_unicode_with_u() {
    assert!(!matches("^\\w$", "é"));
    assert!(matches("(?U)^\\w$", "é"));
    assert!(!matches("\\d", "٣"));
    assert!(!matches("\\s", "\u{a0}"));
    assert!(matches("^\\p{Alpha}+$", "abc"));
    assert!(!matches("\\p{Alpha}", "é"));
    assert!(matches("\\p{IsAlphabetic}", "é"));
    assert!(matches("^\\p{Lu}$", "É"));
    assert!(matches("^\\p{IsLatin}+$", "Ébc"));
    assert!(matches("^\\p{javaLowerCase}$", "é"));
    assert!(matches("^\\p{L}$", "é"));
    assert!(matches("\\bfoo\\b", "a foo."));
    assert!(matches("^[a-z&&[^aeiou]]+$", "bcd"));
    assert!(!matches("^[a-z&&[^aeiou]]+$", "bad"));
}

#[test]
fn dot_anchors_and_line_terminators() {
    assert!(!matches("a.b", "a\u{2028}b"));
    assert!(matches("(?s)a.b", "a\u{2028}b"));
    assert!(matches("a$", "a\n"));
    assert!(matches("a$", "a\r\n"));
    assert!(!matches("a$", "a\n\n"));
    assert!(matches("a\\Z", "a\u{85}"));
    assert!(!matches("a\\z", "a\n"));
    assert!(matches("(?m)^b", "a\nb"));
    assert!(!matches("(?m)^", ""));
    assert!(matches("^$", ""));
}

#[test]
fn case_insensitivity_is_ascii_unless_u() {
    assert!(matches("(?i)abc", "ABC"));
    assert!(!matches("(?i)é", "É"));
    assert!(matches("(?iu)é", "É"));
    assert!(!matches("(?i)k", "\u{212a}"));
    assert!(matches("(?i)[a-c]+", "AbC"));
    assert!(matches("(?i:a)b", "Ab"));
    assert!(!matches("(?i:a)b", "AB"));
}

#[test]
fn quoting_escapes_and_comments() {
    assert!(matches("\\Q.*\\E", "a.*b"));
    assert!(!matches("\\Q.*\\E", "ab"));
    assert!(matches("\\x{1F600}", "😀"));
    assert!(matches("\\uD83D\\uDE00", "😀"));
    assert!(matches("\\u0041\\x42\\0103", "ABC"));
    assert!(matches("(?x) a b # comment", "ab"));
    assert!(matches("[]a]", "]"));
}

#[test]
fn refused_patterns() {
    for bad in [
        "(",
        "a{2,1}",
        "*a",
        "\\y",
        "(?<=(ab)+)b",
        "(?<=ax+?)b",
        "(?<=\\1)(a)",
        "[z-a]",
        "(?P<n>a)",
        "\\p{lu}",
        "\\p{Latin}",
        "a{,3}",
        "{",
        "\\k<x>",
    ] {
        let err = JavaRegex::new(bad).expect_err(bad);
        assert_eq!(err.kind, PatternErrorKind::Invalid, "{bad}: {err}");
    }
    for unsupported in [
        "\\X",
        "\\p{InGreek}",
        "(?c)a",
        "\\b{g}",
        "\\N{LATIN SMALL LETTER A}",
    ] {
        let err = JavaRegex::new(unsupported).expect_err(unsupported);
        assert_eq!(
            err.kind,
            PatternErrorKind::Unsupported,
            "{unsupported}: {err}"
        );
    }
}

#[test]
fn bounded_look_behind() {
    assert!(matches("(?<=ab|c)d", "abd"));
    assert!(matches("(?<=a{1,3})b", "aab"));
}

#[test]
fn hostile_pattern_stops_at_the_backtrack_limit() {
    let re = JavaRegex::new("(a+)+b").expect("valid");
    let subject = "a".repeat(40);
    let started = std::time::Instant::now();
    let result = re.regex_for(&subject).is_match(&subject);
    assert!(matches!(result, Err(_) | Ok(false)));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let re = JavaRegex::new("(x+x+)+\\1y").expect("valid");
    let subject = "x".repeat(5000);
    let started = std::time::Instant::now();
    let _ = re.regex_for(&subject).is_match(&subject);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn refusals_say_whether_java_rejects_the_pattern_or_rulewire_cannot_run_it() {
    let err = |p: &str| JavaRegex::new(p).expect_err(p);
    let e = err("(");
    assert_eq!(e.kind, PatternErrorKind::Invalid);
    assert_eq!(e.message, "unclosed group near index 1");
    assert_eq!(
        e.to_string(),
        "invalid Java regular expression: unclosed group near index 1"
    );
    let e = err("a{2,1}");
    assert_eq!(e.kind, PatternErrorKind::Invalid);
    assert!(e.message.starts_with("illegal repetition range"), "{e}");
    let e = err("\\p{InGreek}");
    assert_eq!(e.kind, PatternErrorKind::Unsupported);
    assert!(e.message.starts_with("Unicode blocks (\\p{In...})"), "{e}");
    assert!(
        e.to_string()
            .starts_with("Java construct not supported by rulewire: Unicode blocks"),
        "{e}"
    );
    let e = err("a\\X");
    assert_eq!(e.kind, PatternErrorKind::Unsupported);
    assert!(
        e.message.starts_with("\\X (grapheme cluster) near index"),
        "{e}"
    );
    let e = err("\\p{block=Greek}");
    assert_eq!(e.kind, PatternErrorKind::Unsupported);
    assert!(
        e.message.starts_with("Unicode blocks (\\p{block=...})"),
        "{e}"
    );
}
