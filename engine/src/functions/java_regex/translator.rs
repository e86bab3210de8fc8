//! The translator's state and the pattern's structure: the inline flags in force, the cursor
//! over the pattern (with comments-mode skipping and `\Q...\E` removal), alternation,
//! sequences, quantifiers and the dispatch of one atom. Each construct is written out as a
//! [`Piece`]: fancy-regex text with its length bounds, for Java's bounded look-behind rule.
//!
//! Groups, anchors, escapes, character classes and `\p{...}` properties are translated by the
//! sibling modules, each adding methods to [`Translator`].

use super::{PatternError, PatternErrorKind, is_line_terminator};

/// Inline flags in force.
#[derive(Clone, Copy, Default)]
pub(super) struct Flags {
    /// `i`: CASE_INSENSITIVE (ASCII unless `u`).
    pub(super) i: bool,
    /// `d`: UNIX_LINES.
    pub(super) d: bool,
    /// `m`: MULTILINE.
    pub(super) m: bool,
    /// `s`: DOTALL.
    pub(super) s: bool,
    /// `u`: UNICODE_CASE.
    pub(super) u: bool,
    /// `x`: COMMENTS.
    pub(super) x: bool,
    /// `U`: UNICODE_CHARACTER_CLASS (implies `u`).
    pub(super) uc: bool,
}

/// A translated piece: fancy-regex text and its length bounds in UTF-16 units (for Java's
/// bounded look-behind rule; `None` = unbounded).
pub(super) struct Piece {
    pub(super) text: String,
    pub(super) min: usize,
    pub(super) max: Option<usize>,
    /// Java's own maximum-length estimate (`TreeInfo.maxLength`, an `int` that wraps; `None`
    /// when Java finds no maximum): Java accepts `(?<=a+)` (one character repeated up to
    /// `Integer.MAX_VALUE` times) but refuses `(?<=(ab)+)` or a back-reference.
    pub(super) jmax: Option<i32>,
    /// Java checks this piece's addition for overflow (its `Curly` node).
    jcheck: bool,
}

impl Piece {
    pub(super) fn new(text: impl Into<String>, min: usize, max: Option<usize>) -> Piece {
        Piece {
            text: text.into(),
            min,
            max,
            jmax: max.map(|m| m.min(i32::MAX as usize) as i32),
            jcheck: false,
        }
    }
    pub(super) fn zero(text: impl Into<String>) -> Piece {
        Piece::new(text, 0, Some(0))
    }
    /// One character of 1 or 2 UTF-16 units.
    pub(super) fn one(text: impl Into<String>) -> Piece {
        let mut piece = Piece::new(text, 1, Some(2));
        piece.jmax = Some(1); // Java counts one per character node
        piece
    }
}

/// A translated pattern: fancy-regex syntax with Java's semantics.
pub(super) struct Output {
    /// The pattern for fancy-regex.
    pub(super) text: String,
    /// How many capturing groups the pattern has (Java's numbering is kept).
    pub(super) groups: usize,
    /// Named groups and their numbers, for `${name}` in replacements.
    pub(super) names: Vec<(String, usize)>,
    /// The pattern has an ASCII `\b`/`\B` (no `(?U)`): the simple form (no look-around
    /// anchors) is then right only for ASCII subjects.
    pub(super) ascii_boundary: bool,
}

pub(super) struct Translator {
    pub(super) p: Vec<char>,
    pub(super) pos: usize,
    pub(super) flags: Flags,
    /// No line terminator in the subject: anchors need no look-around.
    pub(super) simple: bool,
    /// Capturing groups opened so far.
    pub(super) groups: usize,
    /// The pattern's total, once known.
    pub(super) total_groups: Option<usize>,
    pub(super) names: Vec<(String, usize)>,
    /// An ASCII `\b`/`\B` was written (the simple form then needs an ASCII subject).
    pub(super) ascii_boundary: bool,
}

pub(super) type R<T> = Result<T, PatternError>;

impl Translator {
    pub(super) fn run(pattern: &str, total_groups: Option<usize>, simple: bool) -> R<Output> {
        let mut t = Translator {
            p: remove_quoting(pattern),
            pos: 0,
            flags: Flags::default(),
            simple,
            groups: 0,
            total_groups,
            names: Vec::new(),
            ascii_boundary: false,
        };
        let piece = t.alternation()?;
        if t.pos < t.p.len() {
            return Err(t.error("unmatched closing ')'"));
        }
        Ok(Output {
            text: piece.text,
            groups: t.groups,
            names: t.names,
            ascii_boundary: t.ascii_boundary,
        })
    }

    /// Java refuses the pattern (a `PatternSyntaxException`): `what` is Java's description.
    pub(super) fn error(&self, what: &str) -> PatternError {
        PatternError::invalid(format!("{what} near index {}", self.pos))
    }

    /// Java accepts the construct but rulewire cannot run it: `construct` names it.
    pub(super) fn unsupported(&self, construct: &str) -> PatternError {
        PatternError {
            kind: PatternErrorKind::Unsupported,
            message: format!("{construct} near index {}", self.pos),
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.p.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<char> {
        self.p.get(self.pos + k).copied()
    }

    pub(super) fn next(&mut self) -> R<char> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unexpected end of pattern"))?;
        self.pos += 1;
        Ok(c)
    }

    pub(super) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// In comments mode, skips whitespace and `#` comments.
    pub(super) fn skip_comments(&mut self) {
        if !self.flags.x {
            return;
        }
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r') {
                self.pos += 1;
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    let end = if self.flags.d {
                        c == '\n'
                    } else {
                        is_line_terminator(c)
                    };
                    self.pos += 1;
                    if end {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    pub(super) fn alternation(&mut self) -> R<Piece> {
        let mut alts = vec![self.sequence()?];
        while self.eat('|') {
            alts.push(self.sequence()?);
        }
        if alts.len() == 1 {
            return Ok(alts.pop().expect("one alternative"));
        }
        let min = alts.iter().map(|a| a.min).min().unwrap_or(0);
        let max = alts.iter().try_fold(0usize, |m, a| a.max.map(|x| m.max(x)));
        let jmax = alts.iter().try_fold(0i32, |m, a| a.jmax.map(|x| m.max(x)));
        let text = alts
            .iter()
            .map(|a| a.text.as_str())
            .collect::<Vec<_>>()
            .join("|");
        let mut piece = Piece::new(format!("(?:{text})"), min, max);
        piece.jmax = jmax;
        Ok(piece)
    }

    fn sequence(&mut self) -> R<Piece> {
        let mut text = String::new();
        let (mut min, mut max) = (0usize, Some(0usize));
        let mut jmax = Some(0i32);
        loop {
            self.skip_comments();
            match self.peek() {
                None | Some('|') | Some(')') => break,
                _ => {}
            }
            let Some(atom) = self.atom()? else {
                // A flag group such as `(?i)`. Java then accepts (and ignores) a `{n}`
                // quantifier, but not `*`, `+` or `?`.
                self.skip_comments();
                if self.peek() == Some('{') {
                    self.quantified(Piece::zero(""))?;
                }
                continue;
            };
            let piece = self.quantified(atom)?;
            text.push_str(&piece.text);
            min = min.saturating_add(piece.min);
            max = match (max, piece.max) {
                (Some(a), Some(b)) => a.checked_add(b),
                _ => None,
            };
            jmax = match (jmax, piece.jmax) {
                (Some(a), Some(b)) => {
                    let sum = a.wrapping_add(b);
                    (!piece.jcheck || sum >= a).then_some(sum)
                }
                _ => None,
            };
        }
        let mut piece = Piece::new(text, min, max);
        piece.jmax = jmax;
        Ok(piece)
    }

    fn quantified(&mut self, atom: Piece) -> R<Piece> {
        self.skip_comments();
        let (lo, hi) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                self.pos += 1;
                let lo = self
                    .number()
                    .ok_or_else(|| self.error("illegal repetition"))?;
                let hi = if self.eat(',') {
                    if self.peek() == Some('}') {
                        None
                    } else {
                        Some(
                            self.number()
                                .ok_or_else(|| self.error("illegal repetition"))?,
                        )
                    }
                } else {
                    Some(lo)
                };
                if !self.eat('}') {
                    return Err(self.error("unclosed counted closure"));
                }
                if hi.is_some_and(|h| h < lo) {
                    return Err(self.error("illegal repetition range"));
                }
                self.pos -= 1; // the common `+1` below consumes the `}`
                (lo, hi)
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        let mode = match self.peek() {
            Some('?') => {
                self.pos += 1;
                "?"
            }
            Some('+') => {
                self.pos += 1;
                "+"
            }
            _ => "",
        };
        if atom.max == Some(0) {
            // A repeated assertion: Java tries it once (a zero-width match ends the loop), and
            // with a minimum of 0 it may also be skipped. fancy-regex refuses quantified
            // assertions, so spell that out.
            let text = match (lo, mode) {
                (0, "?") => format!("(?:|{})", atom.text),
                (0, "+") => format!("(?>{}|)", atom.text),
                (0, _) => format!("(?:{}|)", atom.text),
                _ => format!("(?:{})", atom.text),
            };
            return Ok(Piece::zero(text));
        }
        let q = match (lo, hi) {
            (0, None) => "*".to_owned(),
            (1, None) => "+".to_owned(),
            (0, Some(1)) => "?".to_owned(),
            (l, None) => format!("{{{l},}}"),
            (l, Some(h)) if l == h => format!("{{{l}}}"),
            (l, Some(h)) => format!("{{{l},{h}}}"),
        };
        let body = format!("(?:{}){q}", atom.text);
        let text = match mode {
            "+" => format!("(?>{body})"),
            "?" => format!("{body}?"),
            _ => body,
        };
        let min = atom.min.saturating_mul(lo);
        let max = match (atom.max, hi) {
            (Some(a), Some(h)) => a.checked_mul(h),
            _ => None,
        };
        // Java: a greedy `*`, `+`, `{n,}` on one character adds Integer.MAX_VALUE unchecked;
        // other repetitions multiply and check the sum for overflow (`?` is never checked).
        const MAX_REPS: i32 = i32::MAX;
        let cmax = hi.map_or(MAX_REPS, |h| h.min(MAX_REPS as usize) as i32);
        let single = atom.max.is_some_and(|m| m <= 2) && atom.min >= 1 && atom.jmax == Some(1);
        let mut piece = Piece::new(text, min, max);
        (piece.jmax, piece.jcheck) = match atom.jmax {
            None => (None, false),
            Some(_) if hi.is_none() && mode.is_empty() && single => (Some(MAX_REPS), false),
            Some(a) if hi == Some(1) && lo == 0 && mode.is_empty() => (Some(a), false),
            Some(a) => (Some(a.wrapping_mul(cmax)), true),
        };
        Ok(piece)
    }

    /// A decimal number (Java reads at most an `int`).
    fn number(&mut self) -> Option<usize> {
        let start = self.pos;
        let mut n: usize = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.checked_mul(10)?.checked_add(d as usize)?;
            if n > i32::MAX as usize {
                return None;
            }
            self.pos += 1;
        }
        (self.pos > start).then_some(n)
    }

    /// One atom; `None` for a flag-only group.
    fn atom(&mut self) -> R<Option<Piece>> {
        let c = self.next()?;
        let piece = match c {
            '(' => return self.group(),
            '[' => {
                let class = self.class()?;
                Piece::one(class)
            }
            '.' => Piece::one(if self.flags.s || self.simple {
                "(?s:.)"
            } else if self.flags.d {
                "[^\\n]"
            } else {
                "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]"
            }),
            '^' => Piece::zero(self.caret()),
            '$' => Piece::zero(self.dollar(self.flags.m)),
            '*' | '+' | '?' | '{' => {
                return Err(self.error(&format!("dangling meta character '{c}'")));
            }
            '\\' => self.escape()?,
            c => self.literal(c),
        };
        Ok(Some(piece))
    }

    pub(super) fn case_insensitive(&self) -> bool {
        self.flags.i
    }

    pub(super) fn unicode_case(&self) -> bool {
        self.flags.u || self.flags.uc
    }
}

/// Java's `RemoveQEQuoting`: `\Q...\E` becomes escaped characters before parsing, so a
/// quantifier after `\E` applies to the last quoted character only, as in Java.
fn remove_quoting(pattern: &str) -> Vec<char> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && chars.get(i + 1) == Some(&'Q') {
            i += 2;
            while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                if !chars[i].is_ascii_alphanumeric() {
                    out.push('\\');
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 2; // the `\E`, if any
        } else if chars[i] == '\\' {
            out.extend(chars.get(i..i + 2).unwrap_or(&chars[i..]));
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
