//! The JSON lexer shared by the row path's parser ([`crate::json_in`]) and the vectorised
//! path's projected scanner ([`crate::batch::scan`]), so both agree on what is valid JSON:
//! RFC 8259 strings (escapes, paired `\u` surrogates, UTF-8) and numbers, with numbers outside
//! AWS's Decimal range (beyond 9.999…E999, or non-zero below 1E-999) refused.

use crate::decimal::Dec;
use crate::json_out::write_json_str;
use std::borrow::Cow;

/// Not valid JSON (where exactly does not matter: the payload is then binary).
#[derive(Debug, PartialEq, Eq)]
pub struct LexError;

pub type Result<T> = std::result::Result<T, LexError>;

/// A cursor over a JSON document.
pub struct Lexer<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(b: &'a [u8]) -> Lexer<'a> {
        Lexer { b, i: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    pub fn expect(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(LexError)
        }
    }

    /// Validates a string starting at `"`; returns the raw content span and whether it has escapes.
    pub fn string_span(&mut self) -> Result<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            self.i = plain_run(self.b, self.i);
            match self.peek().ok_or(LexError)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek().ok_or(LexError)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            // Surrogates must pair up, as serde_json (the row path) requires,
                            // also in strings no rule reads (found by the `eval` fuzz target).
                            match self.hex_escape(self.i + 1)? {
                                0xD800..=0xDBFF => {
                                    if self.b.get(self.i + 5..self.i + 7) != Some(&b"\\u"[..]) {
                                        return Err(LexError);
                                    }
                                    if !(0xDC00..=0xDFFF).contains(&self.hex_escape(self.i + 7)?) {
                                        return Err(LexError);
                                    }
                                    self.i += 11;
                                }
                                0xDC00..=0xDFFF => return Err(LexError),
                                _ => self.i += 5,
                            }
                        }
                        _ => return Err(LexError),
                    }
                }
                0..=0x1f => return Err(LexError),
                b => {
                    ascii &= b < 0x80;
                    self.i += 1
                }
            }
        }
        let end = self.i;
        self.i += 1;
        // Only non-ASCII bytes can make invalid UTF-8.
        if !ascii && std::str::from_utf8(&self.b[start..end]).is_err() {
            return Err(LexError);
        }
        Ok((start, end, escaped))
    }

    /// The value of the four hex digits at `at` (after `\u`).
    pub fn hex_escape(&self, at: usize) -> Result<u16> {
        let hex = self.b.get(at..at + 4).ok_or(LexError)?;
        let text = std::str::from_utf8(hex).map_err(|_| LexError)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(LexError);
        }
        u16::from_str_radix(text, 16).map_err(|_| LexError)
    }

    pub fn decode_string(&self, start: usize, end: usize, escaped: bool) -> Result<Cow<'a, str>> {
        if !escaped {
            // Validated as UTF-8 by string_span.
            return std::str::from_utf8(&self.b[start..end])
                .map(Cow::Borrowed)
                .map_err(|_| LexError);
        }
        // Escapes (and surrogate pairs) are rare: let serde_json decode them exactly.
        serde_json::from_slice::<String>(&self.b[start - 1..end + 1])
            .map(Cow::Owned)
            .map_err(|_| LexError)
    }

    /// Writes the string whose content [`Lexer::string_span`] found at `start..end` as
    /// canonical JSON.
    pub fn write_string(
        &self,
        o: &mut Vec<u8>,
        start: usize,
        end: usize,
        escaped: bool,
    ) -> Result<()> {
        if escaped {
            write_json_str(o, &self.decode_string(start, end, true)?);
        } else {
            // Unescaped, it is written as it stands, between the quotes it came with.
            o.extend_from_slice(&self.b[start - 1..end + 1]);
        }
        Ok(())
    }

    /// Validates `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; returns its start and
    /// whether it is integral.
    pub fn number_span(&mut self) -> Result<(usize, bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(LexError),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(LexError);
            }
            self.digits();
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(LexError);
            }
            self.digits();
        }
        // A number outside AWS's Decimal range (1E1000) makes the document invalid, in fields
        // no rule reads as well. Only an exponent or a very long mantissa can be out of range:
        // the common case costs nothing.
        if (exponent || self.i - start > 900) && Dec::parse(&self.b[start..self.i]).is_none() {
            return Err(LexError);
        }
        Ok((start, integral))
    }

    pub fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// After a member or an item: `true` past a `,` (another follows), `false` past the
    /// container's closing `close`.
    pub fn more(&mut self, close: u8) -> Result<bool> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(LexError),
        }
    }

    /// Checks that `word` (`true`, `false`, `null`) is at the cursor and moves past it.
    pub fn keyword(&mut self, word: &[u8]) -> Result<()> {
        if !self.b[self.i..].starts_with(word) {
            return Err(LexError);
        }
        self.i += word.len();
        Ok(())
    }
}

/// The end of the run of string bytes from `i` that need no attention: printable ASCII
/// other than `"` and `\`. Eight bytes at a time while they last (a string's bytes are
/// mostly plain; the byte loop after it handles what stops the run).
fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit set in each byte of `x` that is zero (exact as a whole: no false "none").
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        let quote = zero_bytes(x ^ (ONES * u64::from(b'"')));
        let backslash = zero_bytes(x ^ (ONES * u64::from(b'\\')));
        // Bytes below 0x20 (control characters); bytes from 0x80 up set their own high bit.
        let low = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if (quote | backslash | low | (x & HIGHS)) != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-at-a-time run ends where a byte-at-a-time one does, wherever the special
    /// byte sits in its chunk and whatever follows it.
    #[test]
    fn plain_runs_end_at_the_first_byte_that_needs_attention() {
        let naive = |b: &[u8], i: usize| {
            i + b[i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))
                .unwrap_or(b.len() - i)
        };
        for special in [b'"', b'\\', 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff, b' ', b'~'] {
            for at in 0..20 {
                for len in at..24 {
                    let mut text = vec![b'a'; len];
                    if at < len {
                        text[at] = special;
                    }
                    for from in 0..=at.min(len) {
                        assert_eq!(
                            plain_run(&text, from),
                            naive(&text, from),
                            "{special:#x} at {at} of {len}, from {from}"
                        );
                    }
                }
            }
        }
    }
}
