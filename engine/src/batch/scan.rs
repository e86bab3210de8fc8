//! A projected, validating JSON scanner for the vectorised path.
//!
//! One pass over a payload: it validates the whole document (so a payload the row path would
//! call binary is never half-read), extracts only the fields the rule uses (a tree of needed
//! paths → slots), and, when the rule selects `*`, writes the canonical JSON of the top-level
//! members (numbers re-printed as AWS prints them, whitespace dropped, strings re-escaped) so
//! `SELECT *` output matches the row path byte for byte without building a value tree.
//!
//! Anything unusual (not an object at the root, invalid JSON, nesting deeper than 128, duplicate
//! keys in `*` output) returns [`ScanError`] and the message takes the row path.

use crate::json_out::{write_decimal, write_int, write_json_str};
use crate::value::SqlVersion;
use std::borrow::Cow;

/// A needed field's value in one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Absent,
    Int(i64),
    Dec(f64),
    /// Borrowed from the payload unless it had escapes.
    Str(Cow<'a, str>),
    Bool(bool),
    /// null, object or array: not handled by the vectorised path.
    Other,
}

/// The tree of attribute paths a rule reads; leaves own a slot index.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    pub slot: Option<usize>,
    pub children: Vec<(String, Needs)>,
}

impl Needs {
    /// Registers `path` and returns its slot (existing or new); `next` counts slots.
    pub fn add(&mut self, path: &[String], next: &mut usize) -> usize {
        match path.split_first() {
            None => *self.slot.get_or_insert_with(|| {
                *next += 1;
                *next - 1
            }),
            Some((first, rest)) => {
                let idx = match self.children.iter().position(|(k, _)| k == first) {
                    Some(i) => i,
                    None => {
                        self.children.push((first.clone(), Needs::default()));
                        self.children.len() - 1
                    }
                };
                self.children[idx].1.add(rest, next)
            }
        }
    }

    /// The child for `key` and its index among the children.
    fn child(&self, key: &[u8]) -> Option<(usize, &Needs)> {
        self.children
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.as_bytes() == key)
            .map(|(i, (_, n))| (i, n))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct ScanError;

type Result<T> = std::result::Result<T, ScanError>;

const MAX_DEPTH: usize = 128;

/// Scans `payload`. Fills `slots` (must be pre-set to `Absent`); when `star` is given, appends
/// the canonical top-level members (`"k":v,"k2":v2`, no braces) to it.
///
/// Returns the top-level keys of `star_conflicts` (output keys of other SELECT items, at most
/// 64) that the payload has, as a bit mask (bit i = `star_conflicts[i]`), checked only when
/// `star` is given: a rule whose own output keys show up there needs the row path, which
/// handles the override.
pub fn scan<'a>(
    payload: &'a [u8],
    needs: &Needs,
    slots: &mut [Scalar<'a>],
    star: Option<&mut Vec<u8>>,
    star_conflicts: &[String],
    version: SqlVersion,
) -> Result<u64> {
    debug_assert!(star_conflicts.len() <= 64, "the conflict mask has 64 bits");
    let mut s = Scanner {
        b: payload,
        i: 0,
        version,
        star_conflicts,
        conflicts: 0,
    };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(ScanError);
    }
    s.object(Some(needs), slots, star, 0, true)?;
    s.ws();
    if s.i != s.b.len() {
        return Err(ScanError);
    }
    Ok(s.conflicts)
}

struct Scanner<'a, 'k> {
    b: &'a [u8],
    i: usize,
    version: SqlVersion,
    star_conflicts: &'k [String],
    /// Bit i set: the top level has the key `star_conflicts[i]`.
    conflicts: u64,
}

impl<'a> Scanner<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(ScanError)
        }
    }

    /// `{...}`. With `top`, `out` receives members without braces.
    fn object(
        &mut self,
        need: Option<&Needs>,
        slots: &mut [Scalar<'a>],
        mut out: Option<&mut Vec<u8>>,
        depth: usize,
        top: bool,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ScanError);
        }
        self.i += 1; // '{'
        if let (Some(o), false) = (out.as_deref_mut(), top) {
            o.push(b'{');
        }
        let mut keys: Vec<(usize, usize)> = Vec::new();
        // Needed children seen so far (bit = child index); more than 64 children: no check.
        let mut seen_needed: u64 = 0;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            let mut first = true;
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return Err(ScanError);
                }
                let (start, end, escaped) = self.string_span()?;
                let key = &self.b[start..end];
                if escaped {
                    // An escaped key could spell a needed or repeated name; the row path decides.
                    return Err(ScanError);
                }
                let child = need.and_then(|n| n.child(key));
                if let Some((index, _)) = child {
                    // A repeated needed key: the last one wins in the row path; keep it simple.
                    if index < 64 {
                        if seen_needed & (1 << index) != 0 {
                            return Err(ScanError);
                        }
                        seen_needed |= 1 << index;
                    }
                }
                let child = child.map(|(_, n)| n);
                if let Some(o) = out.as_deref_mut() {
                    if keys.iter().any(|&(s, e)| self.b[s..e] == *key) {
                        return Err(ScanError);
                    }
                    if top
                        && let Some(k) =
                            self.star_conflicts.iter().position(|k| k.as_bytes() == key)
                    {
                        self.conflicts |= 1 << k;
                    }
                    keys.push((start, end));
                    if !first {
                        o.push(b',');
                    }
                    self.write_string(o, start, end, false)?;
                    o.push(b':');
                }
                first = false;
                self.expect(b':')?;
                self.value(child, slots, out.as_deref_mut(), depth + 1)?;
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(ScanError),
                }
            }
        }
        if let (Some(o), false) = (out, top) {
            o.push(b'}');
        }
        Ok(())
    }

    fn value(
        &mut self,
        need: Option<&Needs>,
        slots: &mut [Scalar<'a>],
        out: Option<&mut Vec<u8>>,
        depth: usize,
    ) -> Result<()> {
        self.ws();
        let slot = need.and_then(|n| n.slot);
        let set = |slots: &mut [Scalar<'a>], v: Scalar<'a>| {
            if let Some(s) = slot {
                slots[s] = v;
            }
        };
        match self.peek().ok_or(ScanError)? {
            b'{' => {
                set(slots, Scalar::Other);
                self.object(need, slots, out, depth, false)
            }
            b'[' => {
                set(slots, Scalar::Other);
                self.array(slots, out, depth)
            }
            b'"' => {
                let (start, end, escaped) = self.string_span()?;
                if slot.is_some() {
                    set(slots, Scalar::Str(self.decode_string(start, end, escaped)?));
                }
                if let Some(o) = out {
                    self.write_string(o, start, end, escaped)?;
                }
                Ok(())
            }
            b't' => self.literal(b"true", slot.map(|_| Scalar::Bool(true)), slots, slot, out),
            b'f' => self.literal(
                b"false",
                slot.map(|_| Scalar::Bool(false)),
                slots,
                slot,
                out,
            ),
            b'n' => self.literal(b"null", slot.map(|_| Scalar::Other), slots, slot, out),
            _ => {
                let (start, integral) = self.number_span()?;
                if slot.is_none() && out.is_none() {
                    return Ok(()); // validated; the value is not used
                }
                if slot.is_none() && prints_as_written(&self.b[start..self.i]) {
                    // Only copied to the `*` output: skip parsing and re-printing it.
                    if let Some(o) = out {
                        o.extend_from_slice(&self.b[start..self.i]);
                    }
                    return Ok(());
                }
                let n = self.number_value(start, integral)?;
                if let Some(o) = out {
                    match n {
                        Scalar::Int(i) => write_int(o, i),
                        Scalar::Dec(d) => write_decimal(o, d, self.version),
                        _ => unreachable!("number_value returns Int or Dec"),
                    }
                }
                set(slots, n);
                Ok(())
            }
        }
    }

    fn array(
        &mut self,
        slots: &mut [Scalar<'a>],
        mut out: Option<&mut Vec<u8>>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ScanError);
        }
        self.i += 1;
        if let Some(o) = out.as_deref_mut() {
            o.push(b'[');
        }
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            let mut first = true;
            loop {
                if let (Some(o), false) = (out.as_deref_mut(), first) {
                    o.push(b',');
                }
                first = false;
                self.value(None, slots, out.as_deref_mut(), depth + 1)?;
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(ScanError),
                }
            }
        }
        if let Some(o) = out {
            o.push(b']');
        }
        Ok(())
    }

    fn literal(
        &mut self,
        word: &[u8],
        v: Option<Scalar<'a>>,
        slots: &mut [Scalar<'a>],
        slot: Option<usize>,
        out: Option<&mut Vec<u8>>,
    ) -> Result<()> {
        if !self.b[self.i..].starts_with(word) {
            return Err(ScanError);
        }
        self.i += word.len();
        if let (Some(s), Some(v)) = (slot, v) {
            slots[s] = v;
        }
        if let Some(o) = out {
            o.extend_from_slice(word);
        }
        Ok(())
    }

    /// Validates a string starting at `"`; returns the raw content span and whether it has escapes.
    fn string_span(&mut self) -> Result<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            match self.peek().ok_or(ScanError)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek().ok_or(ScanError)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            // Surrogates must pair up, as serde_json (the row path) requires,
                            // also in strings no rule reads (found by the `eval` fuzz target).
                            match self.hex_escape(self.i + 1)? {
                                0xD800..=0xDBFF => {
                                    if self.b.get(self.i + 5..self.i + 7) != Some(&b"\\u"[..]) {
                                        return Err(ScanError);
                                    }
                                    if !(0xDC00..=0xDFFF).contains(&self.hex_escape(self.i + 7)?) {
                                        return Err(ScanError);
                                    }
                                    self.i += 11;
                                }
                                0xDC00..=0xDFFF => return Err(ScanError),
                                _ => self.i += 5,
                            }
                        }
                        _ => return Err(ScanError),
                    }
                }
                0..=0x1f => return Err(ScanError),
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
            return Err(ScanError);
        }
        Ok((start, end, escaped))
    }

    /// The value of the four hex digits at `at` (after `\u`).
    fn hex_escape(&self, at: usize) -> Result<u16> {
        let hex = self.b.get(at..at + 4).ok_or(ScanError)?;
        let text = std::str::from_utf8(hex).map_err(|_| ScanError)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(ScanError);
        }
        u16::from_str_radix(text, 16).map_err(|_| ScanError)
    }

    fn decode_string(&self, start: usize, end: usize, escaped: bool) -> Result<Cow<'a, str>> {
        if !escaped {
            // Validated as UTF-8 by string_span.
            return std::str::from_utf8(&self.b[start..end])
                .map(Cow::Borrowed)
                .map_err(|_| ScanError);
        }
        // Escapes (and surrogate pairs) are rare: let serde_json decode them exactly.
        serde_json::from_slice::<String>(&self.b[start - 1..end + 1])
            .map(Cow::Owned)
            .map_err(|_| ScanError)
    }

    fn write_string(&self, o: &mut Vec<u8>, start: usize, end: usize, escaped: bool) -> Result<()> {
        if escaped {
            write_json_str(o, &self.decode_string(start, end, true)?);
        } else {
            o.push(b'"');
            o.extend_from_slice(&self.b[start..end]);
            o.push(b'"');
        }
        Ok(())
    }

    /// Validates `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; returns its start and
    /// whether it is integral.
    fn number_span(&mut self) -> Result<(usize, bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(ScanError),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(ScanError);
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(ScanError);
            }
            self.digits();
        }
        // A number beyond the f64 range (1e400) makes the document invalid JSON on the row
        // path (serde_json refuses it), so it must here too, in fields no rule reads as well.
        // Only an exponent or a very long mantissa can overflow: the common case costs nothing.
        let exponent = !integral && self.b[start..self.i].iter().any(|&b| (b | 0x20) == b'e');
        if exponent || self.i - start > 300 {
            let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| ScanError)?;
            if !text.parse::<f64>().is_ok_and(f64::is_finite) {
                return Err(ScanError);
            }
        }
        Ok((start, integral))
    }

    /// The value of the number that ends at the cursor.
    fn number_value(&self, start: usize, integral: bool) -> Result<Scalar<'a>> {
        // ASCII by construction.
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| ScanError)?;
        // `-0` is a Decimal -0.0 on the row path (serde_json keeps the sign), so here too.
        if integral
            && text != "-0"
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(Scalar::Int(i));
        }
        let d = text.parse::<f64>().map_err(|_| ScanError)?;
        if !d.is_finite() {
            return Err(ScanError);
        }
        Ok(Scalar::Dec(d))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }
}

/// Whether a validated JSON number prints back exactly as written (so the `*` output can
/// copy it rather than parse and re-print it):
/// - an integer of at most 18 digits, other than `-0` (it fits an i64, printed the same);
/// - a plain decimal (no exponent) not ending in `0`, with at most 15 significant digits and
///   a value in [1e-7, 1e15). Any decimal of at most 15 significant digits survives the round
///   trip through f64 (DBL_DIG), so its shortest representation is the literal itself, and
///   `write_decimal` prints values in that range in plain notation.
fn prints_as_written(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let Some(dot) = digits.iter().position(|&b| b == b'.') else {
        return digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) && text != b"-0";
    };
    let (int, frac) = (&digits[..dot], &digits[dot + 1..]);
    if !frac.iter().all(u8::is_ascii_digit) || frac.last() == Some(&b'0') || int.len() > 15 {
        return false;
    }
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        if zeros > 6 {
            return false; // below 1e-7: printed with an exponent
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    significant <= 15
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(paths: &[&[&str]]) -> (Needs, usize) {
        let mut n = Needs::default();
        let mut next = 0;
        for p in paths {
            let owned: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            n.add(&owned, &mut next);
        }
        (n, next)
    }

    #[test]
    fn extracts_needed_fields_only() {
        let (n, count) = needs(&[&["t"], &["s", "r", "h"], &["x"], &["name"]]);
        let mut slots = vec![Scalar::Absent; count];
        let payload = br#"{"t": 21.5, "skip": {"deep": [1, {"a": "b"}]}, "s": {"r": {"h": 40}}, "name": "k\u00e9"}"#;
        let conflicts = scan(payload, &n, &mut slots, None, &[], SqlVersion::V2016_03_23);
        assert_eq!(conflicts, Ok(0));
        assert_eq!(
            slots,
            vec![
                Scalar::Dec(21.5),
                Scalar::Int(40),
                Scalar::Absent,
                Scalar::Str("k\u{e9}".into())
            ]
        );
    }

    /// Every literal the copy shortcut takes prints the same through parse + re-print.
    #[test]
    fn numbers_copied_as_written_match_reprinting() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut copied = 0;
        for _ in 0..200_000 {
            let mut text = String::new();
            if next(2) == 0 {
                text.push('-');
            }
            let int_digits = next(19);
            if int_digits == 0 {
                text.push('0');
            } else {
                text.push(char::from(b'1' + next(9) as u8));
                (1..int_digits).for_each(|_| text.push(char::from(b'0' + next(10) as u8)));
            }
            if next(3) != 0 {
                text.push('.');
                (0..1 + next(18)).for_each(|_| text.push(char::from(b'0' + next(10) as u8)));
            }
            for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
                let mut reprinted = Vec::new();
                let scanner = Scanner {
                    b: text.as_bytes(),
                    i: text.len(),
                    version,
                    star_conflicts: &[],
                    conflicts: 0,
                };
                match scanner.number_value(0, !text.contains('.')).unwrap() {
                    Scalar::Int(i) => write_int(&mut reprinted, i),
                    Scalar::Dec(d) => write_decimal(&mut reprinted, d, version),
                    other => panic!("{other:?}"),
                }
                if prints_as_written(text.as_bytes()) {
                    copied += 1;
                    assert_eq!(String::from_utf8(reprinted).unwrap(), text, "{version:?}");
                }
            }
        }
        assert!(
            copied > 100_000,
            "the shortcut should cover most literals: {copied}"
        );
    }

    #[test]
    fn star_output_is_canonical() {
        let (n, count) = needs(&[]);
        let mut slots = vec![Scalar::Absent; count];
        let mut out = Vec::new();
        let payload =
            b"{ \"a\" : 10.0 , \"b\":[1, 2.50,{\"c\":null}], \"d\":\"x\\/y\", \"e\": -0.0000001}";
        scan(
            payload,
            &n,
            &mut slots,
            Some(&mut out),
            &[],
            SqlVersion::V2016_03_23,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a":10,"b":[1,2.5,{"c":null}],"d":"x/y","e":-0.0000001"#
        );
    }

    #[test]
    fn star_conflicts_are_reported_as_a_mask() {
        let (n, _) = needs(&[]);
        let conflicts = ["x".to_owned(), "b".to_owned(), "d".to_owned()];
        let mut out = Vec::new();
        let payload = br#"{"a":1,"b":{"d":2},"d":3}"#;
        let mask = scan(
            payload,
            &n,
            &mut [],
            Some(&mut out),
            &conflicts,
            SqlVersion::V2016_03_23,
        );
        // Only top-level keys count: "b" and "d", not the nested "d".
        assert_eq!(mask, Ok(0b110));
        // Without `*` output, conflicts are not looked for.
        let mask = scan(
            payload,
            &n,
            &mut [],
            None,
            &conflicts,
            SqlVersion::V2016_03_23,
        );
        assert_eq!(mask, Ok(0));
    }

    #[test]
    fn rejects_invalid_json_and_non_objects() {
        let (n, _) = needs(&[]);
        for bad in [
            &b"{\"a\":1"[..],
            b"{\"a\":01}",
            b"{\"a\":1,}",
            b"[1]",
            b"{\"a\":tru}",
            b"{\"a\":\"\x01\"}",
            b"{} x",
            b"{\"a\":\"\xff\"}",
            // Beyond f64, as the row path's parser says (found by the `eval` fuzz target).
            b"{\"a\":1e400}",
            b"{\"a\":-1E+999}",
            // Unpaired surrogate escapes, as serde_json refuses them.
            b"{\"a\":\"\\ud900\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"\\ud900\\u0041\"}",
        ] {
            assert_eq!(
                scan(bad, &n, &mut [], None, &[], SqlVersion::V2016_03_23),
                Err(ScanError),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut deep = vec![b'{'];
        deep.extend(std::iter::repeat_n(&b"\"a\":["[..], 200).flatten());
        assert_eq!(
            scan(&deep, &n, &mut [], None, &[], SqlVersion::V2016_03_23),
            Err(ScanError)
        );
    }
}
