//! Resource and condition patterns of AWS IoT policies: IAM wildcards (`*` any run of
//! characters, `/` included; `?` one character) and policy variables (`${iot:ClientId}`,
//! and the escapes `${*}`, `${?}`, `${$}`). A variable's value is matched literally, and a
//! variable that does not resolve makes the pattern match nothing, as AWS denies then.

use std::borrow::Cow;

use super::PolicyError;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// Any run of characters.
    Star,
    /// Exactly one character.
    One,
    /// `${name}`, resolved per request.
    Variable(String),
}

/// A parsed pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// Where a pattern's variables get their values.
pub trait Variables {
    fn get(&self, name: &str) -> Option<String>;
}

impl Pattern {
    /// `wildcards` false: `*` and `?` are literal (condition operators like StringEquals).
    pub fn parse(text: &str, wildcards: bool) -> Result<Pattern, PolicyError> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '$' if chars.peek() == Some(&'{') => {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(PolicyError::new(format!(
                                    "unclosed policy variable \"${{{name}\" in {text:?}"
                                )));
                            }
                        }
                    }
                    tokens.push(match name.as_str() {
                        "*" => Token::Literal('*'),
                        "?" => Token::Literal('?'),
                        "$" => Token::Literal('$'),
                        _ => Token::Variable(super::variables::canonical(&name)?),
                    });
                }
                '*' if wildcards => tokens.push(Token::Star),
                '?' if wildcards => tokens.push(Token::One),
                c => tokens.push(Token::Literal(c)),
            }
        }
        Ok(Pattern { tokens })
    }

    /// The pattern with its variables replaced by their values; None if one does not resolve.
    /// Without variables, the pattern itself (no copy).
    fn resolve(&self, vars: &dyn Variables) -> Option<Cow<'_, [Token]>> {
        if !self.tokens.iter().any(|t| matches!(t, Token::Variable(_))) {
            return Some(Cow::Borrowed(&self.tokens));
        }
        let mut out = Vec::with_capacity(self.tokens.len());
        for t in &self.tokens {
            match t {
                Token::Variable(name) => out.extend(vars.get(name)?.chars().map(Token::Literal)),
                t => out.push(t.clone()),
            }
        }
        Some(Cow::Owned(out))
    }

    pub fn matches(&self, text: &str, vars: &dyn Variables) -> bool {
        self.matches_with(text, vars, false)
    }

    /// As `matches`, comparing letters without case (StringEqualsIgnoreCase, action names).
    pub fn matches_ignoring_case(&self, text: &str, vars: &dyn Variables) -> bool {
        self.matches_with(text, vars, true)
    }

    /// `matches` or `matches_ignoring_case`, chosen by `ignore_case`.
    pub fn matches_with(&self, text: &str, vars: &dyn Variables, ignore_case: bool) -> bool {
        self.resolve(vars)
            .is_some_and(|tokens| glob(&tokens, &text.chars().collect::<Vec<_>>(), ignore_case))
    }
}

/// Wildcard match with backtracking over the last `*` (linear in practice).
fn glob(pattern: &[Token], text: &[char], ignore_case: bool) -> bool {
    let same = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(Token::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Token::Literal(c)) if same(*c, text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|t| *t == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Variables for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn m(pattern: &str, text: &str) -> bool {
        let vars = Vars(HashMap::from([("iot:ClientId", "dev*1")]));
        Pattern::parse(pattern, true).unwrap().matches(text, &vars)
    }

    #[test]
    fn wildcards_span_levels_and_characters() {
        assert!(m("topic/sensors/*", "topic/sensors/a/b/c"));
        assert!(m("topic/*/data", "topic/a/b/data"));
        assert!(m("topic/s?", "topic/s1"));
        assert!(!m("topic/s?", "topic/s12"));
        assert!(m("*", ""));
        assert!(!m("topic/a", "topic/ab"));
        // MQTT wildcards in a resource are plain characters.
        assert!(m(
            "topicfilter/sensors/+/data",
            "topicfilter/sensors/+/data"
        ));
        assert!(!m(
            "topicfilter/sensors/+/data",
            "topicfilter/sensors/x/data"
        ));
    }

    #[test]
    fn variables_are_literal_and_unresolved_ones_match_nothing() {
        assert!(m("client/${iot:ClientId}", "client/dev*1"));
        assert!(!m("client/${iot:ClientId}", "client/dev-anything-1"));
        assert!(!m("topic/${iot:Connection.Thing.ThingName}/*", "topic/x/y"));
        assert!(m("topic/a${*}b${?}${$}", "topic/a*b?$"));
    }

    #[test]
    fn unknown_variables_and_unclosed_ones_are_refused() {
        let e = Pattern::parse("topic/${aws:username}", true).unwrap_err();
        assert!(e.to_string().contains("aws:username"), "{e}");
        assert!(Pattern::parse("topic/${iot:ClientId", true).is_err());
    }
}
