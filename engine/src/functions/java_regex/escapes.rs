//! Literals and backslash escapes: case-insensitive literals, `\Q...\E` in a sequence,
//! back-references (`\12`, `\k<name>`), `\A \z \Z \G \b \B \R`, the predefined sets (`\d \w \s
//! \h \v` and negations) and octal, hex, Unicode (with surrogate pairs) and control escapes. The
//! escapes shared with character classes go through [`Translator::class_escape`].

use super::class::ClassItem;
use super::properties::{ASCII_SPACE, UNICODE_SPACE, UNICODE_WORD};
use super::translator::{Piece, R, Translator};

impl Translator {
    /// A literal character, with Java's case-insensitivity.
    pub(super) fn literal(&self, c: char) -> Piece {
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

    pub(super) fn escape(&mut self) -> R<Piece> {
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
                    return Err(self.unsupported("\\b{g} (grapheme boundary)"));
                }
                Piece::zero(self.word_boundary(true))
            }
            'B' => Piece::zero(self.word_boundary(false)),
            'R' => Piece::new(
                "(?>\\r\\n|[\\n\\x{b}\\x{c}\\r\\x{85}\\x{2028}\\x{2029}])",
                1,
                Some(2),
            ),
            'X' => return Err(self.unsupported("\\X (grapheme cluster)")),
            'N' => return Err(self.unsupported("\\N{name} (character names)")),
            _ => match self.class_escape(c)? {
                ClassItem::Char(ch) => self.literal(ch),
                ClassItem::Set(set) => Piece::one(format!("[{set}]")),
            },
        };
        Ok(piece)
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
    pub(super) fn class_escape(&mut self, c: char) -> R<ClassItem> {
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
            self.unsupported("a lone surrogate escape (strings hold whole characters)")
        })
    }
}

/// Java's `\h`.
const HORIZONTAL: &str =
    "\\x{9}\\x{20}\\x{A0}\\x{1680}\\x{180E}\\x{2000}-\\x{200A}\\x{202F}\\x{205F}\\x{3000}";

/// Java's `\v`.
const VERTICAL: &str = "\\x{A}-\\x{D}\\x{85}\\x{2028}\\x{2029}";

fn code_point(v: u32) -> Option<char> {
    char::from_u32(v)
}

fn has_case(c: char) -> bool {
    !c.to_lowercase().eq(std::iter::once(c)) || !c.to_uppercase().eq(std::iter::once(c))
}

/// A literal outside a class.
pub(super) fn escape_char(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}
