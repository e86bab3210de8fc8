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
//! `Err`): `\X` and `\b{g}` (grapheme clusters), `\N{name}`, Unicode blocks (`\p{InGreek}`), the
//! `c` (CANON_EQ) flag. Invalid Java patterns are refused too, so the SQL functions give
//! Undefined where Java would throw.
//!
//! Each pattern is compiled twice when useful: the general form, and a simpler one for subjects
//! that contain no line terminator, where `$` and `^` are plain anchors (no look-around, so the
//! whole pattern usually runs on the regex crate's automata instead of the backtracking VM).

use fancy_regex::{Regex, RegexBuilder};

/// Backtracking steps allowed per search before the search gives up (then the SQL function
/// gives Undefined): a hostile pattern cannot hang a worker.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

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
    /// Translates and compiles a Java pattern; `Err` explains why it is invalid or unsupported.
    pub fn new(pattern: &str) -> Result<JavaRegex, String> {
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
                .map_err(|e| format!("pattern not supported: {e}"))
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

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Inline flags in force.
#[derive(Clone, Copy, Default)]
struct Flags {
    /// `i`: CASE_INSENSITIVE (ASCII unless `u`).
    i: bool,
    /// `d`: UNIX_LINES.
    d: bool,
    /// `m`: MULTILINE.
    m: bool,
    /// `s`: DOTALL.
    s: bool,
    /// `u`: UNICODE_CASE.
    u: bool,
    /// `x`: COMMENTS.
    x: bool,
    /// `U`: UNICODE_CHARACTER_CLASS (implies `u`).
    uc: bool,
}

/// A translated piece: fancy-regex text and its length bounds in UTF-16 units (for Java's
/// bounded look-behind rule; `None` = unbounded).
struct Piece {
    text: String,
    min: usize,
    max: Option<usize>,
    /// Java's own maximum-length estimate (`TreeInfo.maxLength`, an `int` that wraps; `None`
    /// when Java finds no maximum): Java accepts `(?<=a+)` (one character repeated up to
    /// `Integer.MAX_VALUE` times) but refuses `(?<=(ab)+)` or a back-reference.
    jmax: Option<i32>,
    /// Java checks this piece's addition for overflow (its `Curly` node).
    jcheck: bool,
}

impl Piece {
    fn new(text: impl Into<String>, min: usize, max: Option<usize>) -> Piece {
        Piece {
            text: text.into(),
            min,
            max,
            jmax: max.map(|m| m.min(i32::MAX as usize) as i32),
            jcheck: false,
        }
    }
    fn zero(text: impl Into<String>) -> Piece {
        Piece::new(text, 0, Some(0))
    }
    /// One character of 1 or 2 UTF-16 units.
    fn one(text: impl Into<String>) -> Piece {
        let mut piece = Piece::new(text, 1, Some(2));
        piece.jmax = Some(1); // Java counts one per character node
        piece
    }
}

struct Output {
    text: String,
    groups: usize,
    names: Vec<(String, usize)>,
    ascii_boundary: bool,
}

struct Translator {
    p: Vec<char>,
    pos: usize,
    flags: Flags,
    /// No line terminator in the subject: anchors need no look-around.
    simple: bool,
    /// Capturing groups opened so far.
    groups: usize,
    /// The pattern's total, once known.
    total_groups: Option<usize>,
    names: Vec<(String, usize)>,
    /// An ASCII `\b`/`\B` was written (the simple form then needs an ASCII subject).
    ascii_boundary: bool,
}

type R<T> = Result<T, String>;

impl Translator {
    fn run(pattern: &str, total_groups: Option<usize>, simple: bool) -> R<Output> {
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

    fn error(&self, what: &str) -> String {
        format!("{what} near index {}", self.pos)
    }

    fn peek(&self) -> Option<char> {
        self.p.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.p.get(self.pos + k).copied()
    }

    fn next(&mut self) -> R<char> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unexpected end of pattern"))?;
        self.pos += 1;
        Ok(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// In comments mode, skips whitespace and `#` comments.
    fn skip_comments(&mut self) {
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

    fn alternation(&mut self) -> R<Piece> {
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

    fn caret(&self) -> String {
        if !self.flags.m {
            return "\\A".to_owned();
        }
        // MULTILINE: after a line terminator (not inside \r\n), never at the end of input.
        if self.simple {
            "\\A(?!\\z)".to_owned()
        } else if self.flags.d {
            "(?:(?!\\z)(?:\\A|(?<=\\n)))".to_owned()
        } else {
            "(?:(?!\\z)(?:\\A|(?<=[\\n\\x{85}\\x{2028}\\x{2029}])|(?<=\\r)(?!\\n)))".to_owned()
        }
    }

    fn dollar(&self, multiline: bool) -> String {
        let s = match (self.simple, self.flags.d, multiline) {
            (true, _, _) => "\\z",
            (false, true, false) => "(?:\\z|(?=\\n\\z))",
            (false, true, true) => "(?:\\z|(?=\\n))",
            (false, false, false) => {
                "(?:\\z|(?=\\r\\n\\z)|(?=[\\r\\x{85}\\x{2028}\\x{2029}]\\z)|(?<!\\r)(?=\\n\\z))"
            }
            (false, false, true) => "(?:\\z|(?=[\\r\\x{85}\\x{2028}\\x{2029}])|(?<!\\r)(?=\\n))",
        };
        s.to_owned()
    }

    fn group(&mut self) -> R<Option<Piece>> {
        let saved = self.flags;
        let piece = if self.eat('?') {
            let kind = self.next()?;
            match kind {
                ':' => self.group_body("(?:")?,
                '>' => self.group_body("(?>")?,
                '=' => self.group_body("(?=")?,
                '!' => self.group_body("(?!")?,
                '<' if matches!(self.peek(), Some('=' | '!')) => {
                    let neg = self.next()? == '!';
                    let body = self.alternation()?;
                    self.close_group()?;
                    if body.jmax.is_none_or(|m| m < 0) {
                        return Err(
                            self.error("look-behind group does not have an obvious maximum length")
                        );
                    }
                    let open = if neg { "(?<!" } else { "(?<=" };
                    Piece::zero(format!("{open}{})", body.text))
                }
                '<' => {
                    let name = self.group_name()?;
                    if self.names.iter().any(|(n, _)| *n == name) {
                        return Err(self.error(&format!(
                            "named capturing group <{name}> is already defined"
                        )));
                    }
                    self.groups += 1;
                    self.names.push((name, self.groups));
                    self.group_body("(")?
                }
                _ => {
                    self.pos -= 1;
                    let scoped = self.flag_letters()?;
                    if !scoped {
                        // `(?flags)`: the flags stay for the rest of the enclosing group.
                        return Ok(None);
                    }
                    self.group_body("(?:")?
                }
            }
        } else {
            self.groups += 1;
            self.group_body("(")?
        };
        self.flags = saved;
        Ok(Some(piece))
    }

    fn group_body(&mut self, open: &str) -> R<Piece> {
        let body = self.alternation()?;
        self.close_group()?;
        let zero_width = matches!(open, "(?=" | "(?!");
        let (min, max) = if zero_width {
            (0, Some(0))
        } else {
            (body.min, body.max)
        };
        let mut piece = Piece::new(format!("{open}{})", body.text), min, max);
        piece.jmax = if zero_width { Some(0) } else { body.jmax };
        Ok(piece)
    }

    fn close_group(&mut self) -> R<()> {
        if self.eat(')') {
            Ok(())
        } else {
            Err(self.error("unclosed group"))
        }
    }

    /// Java group names: an ASCII letter, then ASCII letters and digits, then `>`.
    fn group_name(&mut self) -> R<String> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphabetic() || (!name.is_empty() && c.is_ascii_digit()) {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(self.error("capturing group name does not start with a Latin letter"));
        }
        if !self.eat('>') {
            return Err(self.error("named capturing group is missing trailing '>'"));
        }
        Ok(name)
    }

    /// Reads `flags)` or `flags:`; true for the scoped `:` form.
    fn flag_letters(&mut self) -> R<bool> {
        let mut on = true;
        loop {
            let c = self.next()?;
            match c {
                'i' => self.flags.i = on,
                'd' => self.flags.d = on,
                'm' => self.flags.m = on,
                's' => self.flags.s = on,
                'u' => self.flags.u = on,
                'x' => self.flags.x = on,
                'U' => {
                    self.flags.uc = on;
                    if on {
                        self.flags.u = true;
                    }
                }
                'c' => {
                    return Err(self.error("the CANON_EQ flag (?c) is not supported by rulewire"));
                }
                '-' if on => on = false,
                ')' => return Ok(false),
                ':' => return Ok(true),
                _ => return Err(self.error("unknown inline modifier")),
            }
        }
    }

    fn case_insensitive(&self) -> bool {
        self.flags.i
    }

    fn unicode_case(&self) -> bool {
        self.flags.u || self.flags.uc
    }

    /// A literal character, with Java's case-insensitivity.
    fn literal(&self, c: char) -> Piece {
        let units = c.len_utf16();
        let text = if self.case_insensitive() && self.unicode_case() && has_case(c) {
            format!("(?i:{})", escape_char(c))
        } else if self.case_insensitive() && c.is_ascii_alphabetic() {
            format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
        } else {
            escape_char(c)
        };
        let mut piece = Piece::new(text, units, Some(units));
        piece.jmax = Some(1);
        piece
    }

    fn escape(&mut self) -> R<Piece> {
        let c = self.next()?;
        let piece = match c {
            '1'..='9' => self.backref(c.to_digit(10).expect("digit") as usize),
            'k' => {
                if !self.eat('<') {
                    return Err(self.error("\\k is not followed by '<'"));
                }
                let name = self.group_name()?;
                let n = self
                    .names
                    .iter()
                    .find(|(g, _)| *g == name)
                    .map(|(_, n)| *n)
                    .ok_or_else(|| {
                        self.error(&format!("named capturing group <{name}> does not exist"))
                    })?;
                self.backref_piece(n)
            }
            'Q' => {
                let mut text = String::new();
                let mut units = 0;
                while self.pos < self.p.len() {
                    if self.peek() == Some('\\') && self.peek_at(1) == Some('E') {
                        self.pos += 2;
                        break;
                    }
                    let c = self.next()?;
                    let lit = self.literal(c);
                    units += lit.min;
                    text.push_str(&lit.text);
                }
                Piece::new(format!("(?:{text})"), units, Some(units))
            }
            'A' => Piece::zero("\\A"),
            'z' => Piece::zero("\\z"),
            'Z' => Piece::zero(self.dollar(false)),
            'G' => Piece::zero("\\G"),
            'b' => {
                if self.peek() == Some('{') && self.peek_at(1) == Some('g') {
                    return Err(
                        self.error("\\b{g} (grapheme boundary) is not supported by rulewire")
                    );
                }
                Piece::zero(self.word_boundary(true))
            }
            'B' => Piece::zero(self.word_boundary(false)),
            'R' => Piece::new(
                "(?>\\r\\n|[\\n\\x{b}\\x{c}\\r\\x{85}\\x{2028}\\x{2029}])",
                1,
                Some(2),
            ),
            'X' => return Err(self.error("\\X (grapheme cluster) is not supported by rulewire")),
            'N' => return Err(self.error("\\N{name} is not supported by rulewire")),
            _ => match self.class_escape(c, false)? {
                ClassItem::Char(ch) => self.literal(ch),
                ClassItem::Set(set) => Piece::one(format!("[{set}]")),
            },
        };
        Ok(piece)
    }

    /// `\b` (or `\B`): ASCII word characters unless `U`.
    fn word_boundary(&mut self, on: bool) -> String {
        self.ascii_boundary |= !self.flags.uc;
        if self.flags.uc {
            let w = format!("[{}]", UNICODE_WORD);
            if on {
                format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
            } else {
                format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
            }
        } else if self.simple {
            // Only used for ASCII subjects, where Unicode and ASCII word characters agree.
            (if on { "\\b" } else { "\\B" }).to_owned()
        } else {
            let w = "[0-9A-Za-z_]";
            if on {
                format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
            } else {
                format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
            }
        }
    }

    /// `\n...`: Java reads more digits only while the group they name exists already.
    fn backref(&mut self, first: usize) -> Piece {
        let mut n = first;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            let next = n * 10 + d as usize;
            if next > self.groups {
                break;
            }
            n = next;
            self.pos += 1;
        }
        self.backref_piece(n)
    }

    fn backref_piece(&self, n: usize) -> Piece {
        let exists = self.total_groups.is_none_or(|total| n <= total);
        let text = if !exists {
            "[a&&b]".to_owned() // Java: the group never matched, so neither does the reference
        } else if self.case_insensitive() {
            format!("(?i:\\{n})")
        } else {
            format!("(?:\\{n})")
        };
        Piece::new(text, 0, None)
    }

    /// After `\` (the `\` and `c` consumed): a character or a set, shared by classes and atoms.
    fn class_escape(&mut self, c: char, in_class: bool) -> R<ClassItem> {
        let uc = self.flags.uc;
        let item = match c {
            '0' => ClassItem::Char(self.octal()?),
            'a' => ClassItem::Char('\u{7}'),
            'e' => ClassItem::Char('\u{1b}'),
            'f' => ClassItem::Char('\u{c}'),
            'n' => ClassItem::Char('\n'),
            'r' => ClassItem::Char('\r'),
            't' => ClassItem::Char('\t'),
            'c' => {
                let x = self.next()?;
                ClassItem::Char(
                    char::from_u32(x as u32 ^ 64)
                        .ok_or_else(|| self.error("illegal control escape"))?,
                )
            }
            'x' => ClassItem::Char(self.hex()?),
            'u' => ClassItem::Char(self.unicode_escape()?),
            'd' => ClassItem::Set(if uc { "\\p{Nd}".into() } else { "0-9".into() }),
            'D' => ClassItem::Set(if uc { "\\P{Nd}".into() } else { "^0-9".into() }),
            'w' => ClassItem::Set(if uc {
                UNICODE_WORD.into()
            } else {
                "0-9A-Za-z_".into()
            }),
            'W' => ClassItem::Set(if uc {
                format!("^{UNICODE_WORD}")
            } else {
                "^0-9A-Za-z_".into()
            }),
            's' => ClassItem::Set(if uc {
                UNICODE_SPACE.into()
            } else {
                ASCII_SPACE.into()
            }),
            'S' => ClassItem::Set(if uc {
                format!("^{UNICODE_SPACE}")
            } else {
                format!("^{ASCII_SPACE}")
            }),
            'h' => ClassItem::Set(HORIZONTAL.into()),
            'H' => ClassItem::Set(format!("^{HORIZONTAL}")),
            'v' => ClassItem::Set(VERTICAL.into()),
            'V' => ClassItem::Set(format!("^{VERTICAL}")),
            'p' | 'P' => {
                let set = self.property()?;
                ClassItem::Set(if c == 'P' { format!("^[{set}]") } else { set })
            }
            c if c.is_ascii_alphanumeric() => {
                let _ = in_class;
                return Err(self.error("illegal/unsupported escape sequence"));
            }
            c => ClassItem::Char(c),
        };
        Ok(item)
    }

    fn octal(&mut self) -> R<char> {
        let digit = |c: Option<char>| c.and_then(|c| c.to_digit(8));
        let Some(n) = digit(self.peek()) else {
            return Err(self.error("illegal octal escape sequence"));
        };
        self.pos += 1;
        let Some(m) = digit(self.peek()) else {
            return Ok(char::from(n as u8));
        };
        self.pos += 1;
        if let Some(o) = digit(self.peek()).filter(|_| n <= 3) {
            self.pos += 1;
            return Ok(char::from((n * 64 + m * 8 + o) as u8));
        }
        Ok(char::from((n * 8 + m) as u8))
    }

    fn hex(&mut self) -> R<char> {
        if self.eat('{') {
            let mut v: u32 = 0;
            let mut any = false;
            while let Some(d) = self.peek().and_then(|c| c.to_digit(16)) {
                v = v.saturating_mul(16).saturating_add(d);
                any = true;
                self.pos += 1;
            }
            if !any || !self.eat('}') || v > 0x10FFFF {
                return Err(self.error("illegal hexadecimal escape sequence"));
            }
            return code_point(v).ok_or_else(|| self.error("a lone surrogate cannot be matched"));
        }
        let mut v = 0;
        for _ in 0..2 {
            let d = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.error("illegal hexadecimal escape sequence"))?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(char::from(v as u8))
    }

    fn four_hex(&mut self) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = v * 16 + self.peek_at(k)?.to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }

    fn unicode_escape(&mut self) -> R<char> {
        let v = self
            .four_hex()
            .ok_or_else(|| self.error("illegal Unicode escape sequence"))?;
        if (0xD800..0xDC00).contains(&v)
            && self.peek() == Some('\\')
            && self.peek_at(1) == Some('u')
        {
            let save = self.pos;
            self.pos += 2;
            match self.four_hex() {
                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                    let cp = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    return code_point(cp).ok_or_else(|| self.error("bad surrogate pair"));
                }
                _ => self.pos = save,
            }
        }
        code_point(v).ok_or_else(|| {
            self.error("a lone surrogate escape is not supported by rulewire (strings hold whole characters)")
        })
    }

    /// `\p{...}` / `\pL` (after the `p`): a class body in fancy-regex syntax.
    fn property(&mut self) -> R<String> {
        let name: String = if self.eat('{') {
            let mut name = String::new();
            loop {
                match self.next() {
                    Ok('}') => break,
                    Ok(c) => name.push(c),
                    Err(_) => return Err(self.error("unclosed character family")),
                }
            }
            if name.is_empty() {
                return Err(self.error("empty character family"));
            }
            name
        } else {
            self.next()?.to_string()
        };
        let ci = self.flags.i;
        let found = if let Some((key, value)) = name.split_once('=') {
            match key.to_ascii_lowercase().as_str() {
                "sc" | "script" => script(value),
                "gc" | "general_category" => category_or_java(value, ci),
                "blk" | "block" => {
                    return Err(
                        self.error("Unicode blocks (\\p{block=...}) are not supported by rulewire")
                    );
                }
                _ => None,
            }
        } else if name.starts_with("In") {
            return Err(self.error("Unicode blocks (\\p{In...}) are not supported by rulewire"));
        } else if let Some(short) = name.strip_prefix("Is") {
            unicode_property(short, ci)
                .or_else(|| category_or_java(short, ci))
                .or_else(|| script(short))
        } else {
            let posix = if self.flags.uc {
                posix_unicode(&name.to_ascii_uppercase(), ci)
            } else {
                None
            };
            posix.or_else(|| category_or_java(&name, ci))
        };
        found.ok_or_else(|| self.error(&format!("unknown character property name {{{name}}}")))
    }

    /// A character class, after its `[`: fancy-regex class text.
    fn class(&mut self) -> R<String> {
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
        let never = "\\x{10FFFF}&&\\x{0}";
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
                set.push_str("\\x{10FFFF}&&\\x{0}");
                return Ok(ClassItem::Set(format!("[{set}]")));
            }
            return Ok(ClassItem::Set(set));
        }
        self.class_escape(e, true)
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

/// A class member: one character, or a set (fancy-regex class body, may start with `^`).
enum ClassItem {
    Char(char),
    Set(String),
}

/// Java's `\w` with UNICODE_CHARACTER_CLASS.
const UNICODE_WORD: &str = "\\p{Alphabetic}\\p{Mn}\\p{Me}\\p{Mc}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";
/// Java's `\s` with UNICODE_CHARACTER_CLASS (White_Space).
const UNICODE_SPACE: &str = "\\p{Zs}\\p{Zl}\\p{Zp}\\x{9}-\\x{D}\\x{85}";
/// Java's default `\s`.
const ASCII_SPACE: &str = "\\x{9}-\\x{D}\\x{20}";
/// Java's `\h`.
const HORIZONTAL: &str =
    "\\x{9}\\x{20}\\x{A0}\\x{1680}\\x{180E}\\x{2000}-\\x{200A}\\x{202F}\\x{205F}\\x{3000}";
/// Java's `\v`.
const VERTICAL: &str = "\\x{A}-\\x{D}\\x{85}\\x{2028}\\x{2029}";
/// Characters `Character.isIdentifierIgnorable` accepts, besides `\p{Cf}`.
const IGNORABLE: &str = "\\x{0}-\\x{8}\\x{E}-\\x{1B}\\x{7F}-\\x{9F}\\p{Cf}";
const GRAPH: &str = "^\\p{Z}\\p{Cc}\\p{Cs}\\p{Cn}";

fn code_point(v: u32) -> Option<char> {
    char::from_u32(v)
}

fn has_case(c: char) -> bool {
    !c.to_lowercase().eq(std::iter::once(c)) || !c.to_uppercase().eq(std::iter::once(c))
}

/// A literal outside a class.
fn escape_char(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
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

/// Lu/Ll/Lt under CASE_INSENSITIVE.
const ANY_CASE: &str = "\\p{Lu}\\p{Ll}\\p{Lt}";

/// `plain`, or any cased letter under CASE_INSENSITIVE (Java's rule for the case classes).
fn any_case(ci: bool, plain: &str) -> String {
    if ci {
        ANY_CASE.to_owned()
    } else {
        plain.to_owned()
    }
}

/// `forProperty`: general categories, POSIX (ASCII) names and `java*` methods (case-sensitive).
fn category_or_java(name: &str, ci: bool) -> Option<String> {
    let s = match name {
        "Lu" | "Ll" | "Lt" => any_case(ci, &format!("\\p{{{name}}}")),
        "Cn" | "Lm" | "Lo" | "Mn" | "Me" | "Mc" | "Nd" | "Nl" | "No" | "Zs" | "Zl" | "Zp"
        | "Cc" | "Cf" | "Co" | "Cs" | "Pd" | "Ps" | "Pe" | "Pc" | "Po" | "Sm" | "Sc" | "Sk"
        | "So" | "Pi" | "Pf" | "L" | "M" | "N" | "Z" | "C" | "P" | "S" => format!("\\p{{{name}}}"),
        "LC" => ANY_CASE.to_owned(),
        "LD" => "\\p{L}\\p{Nd}".to_owned(),
        "L1" => "\\x{0}-\\x{FF}".to_owned(),
        "all" => "\\x{0}-\\x{10FFFF}".to_owned(),
        "ASCII" => "\\x{0}-\\x{7F}".to_owned(),
        "Alnum" => "0-9A-Za-z".to_owned(),
        "Alpha" => "A-Za-z".to_owned(),
        "Blank" => "\\x{9}\\x{20}".to_owned(),
        "Cntrl" => "\\x{0}-\\x{1F}\\x{7F}".to_owned(),
        "Digit" => "0-9".to_owned(),
        "Graph" => "\\x{21}-\\x{7E}".to_owned(),
        "Lower" => (if ci { "A-Za-z" } else { "a-z" }).to_owned(),
        "Print" => "\\x{20}-\\x{7E}".to_owned(),
        "Punct" => "\\x{21}-\\x{2F}\\x{3A}-\\x{40}\\x{5B}-\\x{60}\\x{7B}-\\x{7E}".to_owned(),
        "Space" => ASCII_SPACE.to_owned(),
        "Upper" => (if ci { "A-Za-z" } else { "A-Z" }).to_owned(),
        "XDigit" => "0-9A-Fa-f".to_owned(),
        "javaLowerCase" => any_case(ci, "\\p{Lowercase}"),
        "javaUpperCase" => any_case(ci, "\\p{Uppercase}"),
        "javaTitleCase" => any_case(ci, "\\p{Lt}"),
        "javaAlphabetic" => "\\p{Alphabetic}".to_owned(),
        "javaIdeographic" => "\\p{Ideographic}".to_owned(),
        "javaDigit" => "\\p{Nd}".to_owned(),
        "javaDefined" => "\\P{Cn}".to_owned(),
        "javaLetter" => "\\p{L}".to_owned(),
        "javaLetterOrDigit" => "\\p{L}\\p{Nd}".to_owned(),
        "javaJavaIdentifierStart" => "\\p{L}\\p{Nl}\\p{Sc}\\p{Pc}".to_owned(),
        "javaJavaIdentifierPart" => {
            format!("\\p{{L}}\\p{{Sc}}\\p{{Pc}}\\p{{Nd}}\\p{{Nl}}\\p{{Mc}}\\p{{Mn}}{IGNORABLE}")
        }
        "javaUnicodeIdentifierStart" => "\\p{ID_Start}".to_owned(),
        "javaUnicodeIdentifierPart" => format!("\\p{{ID_Continue}}{IGNORABLE}"),
        "javaIdentifierIgnorable" => IGNORABLE.to_owned(),
        "javaSpaceChar" => "\\p{Z}".to_owned(),
        "javaWhitespace" => {
            "[\\p{Z}\\x{9}-\\x{D}\\x{1C}-\\x{1F}]&&[^\\x{A0}\\x{2007}\\x{202F}]".to_owned()
        }
        "javaISOControl" => "\\x{0}-\\x{1F}\\x{7F}-\\x{9F}".to_owned(),
        "javaMirrored" => "\\p{Bidi_Mirrored}".to_owned(),
        _ => return None,
    };
    Some(s)
}

/// `forUnicodeProperty` (`\p{IsAlphabetic}` ...): case-insensitive binary properties, then the
/// Unicode forms of the POSIX names.
fn unicode_property(name: &str, ci: bool) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let s = match upper.as_str() {
        "ALPHABETIC" => "\\p{Alphabetic}".to_owned(),
        "ASSIGNED" => "\\P{Cn}".to_owned(),
        "CONTROL" => "\\p{Cc}".to_owned(),
        "EMOJI" => "\\p{Emoji}".to_owned(),
        "EMOJI_PRESENTATION" => "\\p{Emoji_Presentation}".to_owned(),
        "EMOJI_MODIFIER" => "\\p{Emoji_Modifier}".to_owned(),
        "EMOJI_MODIFIER_BASE" => "\\p{Emoji_Modifier_Base}".to_owned(),
        "EMOJI_COMPONENT" => "\\p{Emoji_Component}".to_owned(),
        "EXTENDED_PICTOGRAPHIC" => "\\p{Extended_Pictographic}".to_owned(),
        "HEXDIGIT" | "HEX_DIGIT" => HEX_DIGIT.to_owned(),
        "IDEOGRAPHIC" => "\\p{Ideographic}".to_owned(),
        "JOINCONTROL" | "JOIN_CONTROL" => "\\x{200C}\\x{200D}".to_owned(),
        "LETTER" => "\\p{L}".to_owned(),
        "LOWERCASE" => any_case(ci, "\\p{Lowercase}"),
        "NONCHARACTERCODEPOINT" | "NONCHARACTER_CODE_POINT" => {
            "\\p{Noncharacter_Code_Point}".to_owned()
        }
        "TITLECASE" => any_case(ci, "\\p{Lt}"),
        "PUNCTUATION" => "\\p{P}".to_owned(),
        "UPPERCASE" => any_case(ci, "\\p{Uppercase}"),
        "WHITESPACE" | "WHITE_SPACE" => UNICODE_SPACE.to_owned(),
        "WORD" => UNICODE_WORD.to_owned(),
        _ => return posix_unicode(&upper, ci),
    };
    Some(s)
}

const HEX_DIGIT: &str = "\\p{Nd}0-9A-Fa-f\\x{FF10}-\\x{FF19}\\x{FF21}-\\x{FF26}\\x{FF41}-\\x{FF46}";

/// `getPosixPredicate`: the POSIX names with UNICODE_CHARACTER_CLASS (upper-case name).
fn posix_unicode(upper: &str, ci: bool) -> Option<String> {
    let s = match upper {
        "ALPHA" => "\\p{Alphabetic}".to_owned(),
        "LOWER" => any_case(ci, "\\p{Lowercase}"),
        "UPPER" => any_case(ci, "\\p{Uppercase}"),
        "SPACE" => UNICODE_SPACE.to_owned(),
        "PUNCT" => "\\p{P}".to_owned(),
        "XDIGIT" => HEX_DIGIT.to_owned(),
        "ALNUM" => "\\p{Alphabetic}\\p{Nd}".to_owned(),
        "CNTRL" => "\\p{Cc}".to_owned(),
        "DIGIT" => "\\p{Nd}".to_owned(),
        "BLANK" => "\\p{Zs}\\x{9}".to_owned(),
        "GRAPH" => GRAPH.to_owned(),
        "PRINT" => format!("[[{GRAPH}]\\p{{Zs}}\\x{{9}}]&&[^\\p{{Cc}}]"),
        _ => return None,
    };
    Some(s)
}

/// `Character.UnicodeScript.forName`: a full name (`Latin`, `Old_Italic`) or an alias (`Latn`).
fn script(name: &str) -> Option<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let probe = format!("\\p{{Script={name}}}");
    regex_syntax_accepts(&probe).then_some(probe)
}

/// Whether the regex crate knows a class (used to check script names).
fn regex_syntax_accepts(class: &str) -> bool {
    regex::Regex::new(class).is_ok()
}

#[cfg(test)]
#[path = "java_regex_tests.rs"]
mod tests;
