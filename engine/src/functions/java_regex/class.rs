//! Character classes: `[...]` with negation, ranges, nested classes, `&&` intersections and
//! `\Q...\E` members, and Java's case-insensitive ranges (ASCII folding, or simple Unicode
//! case mapping with `u`).

use super::escapes::escape_char;
use super::translator::{R, Translator};

/// A class body that matches nothing (an empty intersection), for Java's empty classes.
const NEVER: &str = "\\x{10FFFF}&&\\x{0}";

impl Translator {
    /// A character class, after its `[`: fancy-regex class text.
    pub(super) fn class(&mut self) -> R<String> {
        let negated = self.eat('^');
        let mut operands: Vec<String> = Vec::new(); // intersected
        let mut union = String::new();
        let mut first = true;
        loop {
            self.skip_comments();
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed character class"));
            };
            match c {
                ']' if !first || !union.is_empty() || !operands.is_empty() => {
                    self.pos += 1;
                    break;
                }
                '[' => {
                    self.pos += 1;
                    let nested = self.class()?;
                    union.push_str(&nested);
                }
                '&' if self.peek_at(1) == Some('&') => {
                    self.pos += 2;
                    operands.push(std::mem::take(&mut union));
                }
                _ => {
                    let lo = self.class_atom()?;
                    match lo {
                        ClassItem::Set(set) => union.push_str(&format!("[{set}]")),
                        ClassItem::Char(lo) => {
                            self.skip_comments();
                            let range = self.peek() == Some('-')
                                && !matches!(self.peek_at(1), Some(']') | Some('[') | None);
                            if range {
                                self.pos += 1;
                                self.skip_comments();
                                let hi = match self.class_atom_in_range()? {
                                    ClassItem::Char(hi) => hi,
                                    ClassItem::Set(_) => {
                                        return Err(self.error("illegal character range"));
                                    }
                                };
                                if hi < lo {
                                    return Err(self.error("illegal character range"));
                                }
                                union.push_str(&self.class_range(lo, hi));
                            } else {
                                union.push_str(&self.class_range(lo, lo));
                            }
                        }
                    }
                }
            }
            first = false;
        }
        operands.push(union);
        let never = NEVER;
        let parts: Vec<String> = operands
            .into_iter()
            .map(|u| {
                if u.is_empty() {
                    format!("[{never}]")
                } else {
                    format!("[{u}]")
                }
            })
            .collect();
        let body = parts.join("&&");
        Ok(if negated {
            format!("[^{body}]")
        } else {
            format!("[{body}]")
        })
    }

    /// One class member: a character, or a set for `\w`, `\p{..}`, ...
    fn class_atom(&mut self) -> R<ClassItem> {
        let c = self.next()?;
        if c != '\\' {
            return Ok(ClassItem::Char(c));
        }
        let e = self.next()?;
        if e == 'Q' {
            // Quoted text inside a class: each character a member.
            let mut set = String::new();
            while self.pos < self.p.len() {
                if self.peek() == Some('\\') && self.peek_at(1) == Some('E') {
                    self.pos += 2;
                    break;
                }
                let c = self.next()?;
                set.push_str(&self.class_range(c, c));
            }
            if set.is_empty() {
                set.push_str(NEVER);
                return Ok(ClassItem::Set(format!("[{set}]")));
            }
            return Ok(ClassItem::Set(set));
        }
        self.class_escape(e)
    }

    /// The upper end of a range (`\v` is VT there, as in Java).
    fn class_atom_in_range(&mut self) -> R<ClassItem> {
        if self.peek() == Some('\\') && self.peek_at(1) == Some('v') {
            self.pos += 2;
            return Ok(ClassItem::Char('\u{b}'));
        }
        self.class_atom()
    }

    /// A range as class members, with Java's case-insensitivity.
    fn class_range(&self, lo: char, hi: char) -> String {
        let mut out = format!("{}-{}", escape_class_char(lo), escape_class_char(hi));
        if self.case_insensitive() {
            if self.unicode_case() {
                for x in unicode_case_partners(lo, hi) {
                    out.push_str(&escape_class_char(x));
                }
                return out;
            }
            for b in b'A'..=b'Z' {
                let (u, l) = (char::from(b), char::from(b + 32));
                let has_u = (lo..=hi).contains(&u);
                let has_l = (lo..=hi).contains(&l);
                if has_u && !has_l {
                    out.push(l);
                } else if has_l && !has_u {
                    out.push(u);
                }
            }
        }
        out
    }
}

/// A class member: one character, or a set (fancy-regex class body, may start with `^`).
pub(super) enum ClassItem {
    Char(char),
    Set(String),
}

/// A literal inside a class.
fn escape_class_char(c: char) -> String {
    escape_char(c)
}

/// Single-character case mapping, as `Character.toUpperCase(int)`/`toLowerCase(int)`.
fn simple_case(c: char, upper: bool) -> char {
    let mut it: Box<dyn Iterator<Item = char>> = if upper {
        Box::new(c.to_uppercase())
    } else {
        Box::new(c.to_lowercase())
    };
    match (it.next(), it.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Characters outside `lo..=hi` whose upper or lower case is inside (Java's Unicode
/// case-insensitive range test).
fn unicode_case_partners(lo: char, hi: char) -> Vec<char> {
    let range = lo..=hi;
    (0..=0x1FFFFu32)
        .filter_map(char::from_u32)
        .filter(|x| {
            !range.contains(x)
                && (range.contains(&simple_case(*x, true))
                    || range.contains(&simple_case(*x, false)))
        })
        .collect()
}
