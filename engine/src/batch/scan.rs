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

use crate::decimal::Dec;
use crate::json_out::{write_decimal, write_int};
use crate::value::{SqlVersion, Value, number_from_text};
use std::borrow::Cow;

/// A needed field's value in one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Absent,
    Int(i64),
    Dec(Dec),
    /// Borrowed from the payload unless it had escapes.
    Str(Cow<'a, str>),
    Bool(bool),
    /// null, object, array or an Int beyond 64 bits: not handled by the vectorised path.
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

/// The payload is not a JSON object the scan can take (the row path decides it).
pub use crate::json_lex::LexError as ScanError;
use crate::json_lex::{Lexer, Result};

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
    let mut keys = Vec::new();
    scan_reusing(
        payload,
        needs,
        slots,
        star,
        star_conflicts,
        version,
        &mut keys,
    )
}

/// A key written to the `*` output: its span in the payload and a tag of its length, first
/// and last byte, compared before the bytes (most keys of an object differ in it).
#[derive(Debug, Clone, Copy)]
pub struct SeenKey {
    start: usize,
    end: usize,
    tag: u32,
}

impl SeenKey {
    fn new(start: usize, end: usize, key: &[u8]) -> SeenKey {
        let (first, last) = (key.first().copied(), key.last().copied());
        let tag = (key.len() as u32) << 16
            | u32::from(first.unwrap_or(0)) << 8
            | u32::from(last.unwrap_or(0));
        SeenKey { start, end, tag }
    }
}

/// [`scan`] with `keys` as its scratch space for the `*` output's duplicate-key check, so that
/// a batch's scans share one allocation.
pub fn scan_reusing<'a>(
    payload: &'a [u8],
    needs: &Needs,
    slots: &mut [Scalar<'a>],
    star: Option<&mut Vec<u8>>,
    star_conflicts: &[String],
    version: SqlVersion,
    keys: &mut Vec<SeenKey>,
) -> Result<u64> {
    debug_assert!(star_conflicts.len() <= 64, "the conflict mask has 64 bits");
    keys.clear();
    let mut s = Scanner {
        lex: Lexer::new(payload),
        version,
        star_conflicts,
        conflicts: 0,
        keys,
    };
    s.lex.ws();
    if s.lex.peek() != Some(b'{') {
        return Err(ScanError);
    }
    s.object(Some(needs), slots, star, 0, true)?;
    s.lex.ws();
    if s.lex.i != s.lex.b.len() {
        return Err(ScanError);
    }
    Ok(s.conflicts)
}

struct Scanner<'a, 'k> {
    lex: Lexer<'a>,
    version: SqlVersion,
    star_conflicts: &'k [String],
    /// Bit i set: the top level has the key `star_conflicts[i]`.
    conflicts: u64,
    /// The keys of the objects being written to the `*` output, outermost first (each
    /// object's own from where it started), to refuse a duplicate key.
    keys: &'k mut Vec<SeenKey>,
}

impl<'a> Scanner<'a, '_> {
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
        self.lex.i += 1; // '{'
        if let (Some(o), false) = (out.as_deref_mut(), top) {
            o.push(b'{');
        }
        let keys_from = self.keys.len();
        // Needed children seen so far (bit = child index); more than 64 children: no check.
        let mut seen_needed: u64 = 0;
        self.lex.ws();
        if self.lex.peek() == Some(b'}') {
            self.lex.i += 1;
        } else {
            let mut first = true;
            loop {
                self.lex.ws();
                if self.lex.peek() != Some(b'"') {
                    return Err(ScanError);
                }
                let (start, end, escaped) = self.lex.string_span()?;
                let key = &self.lex.b[start..end];
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
                    let seen = SeenKey::new(start, end, key);
                    if self.keys[keys_from..]
                        .iter()
                        .any(|k| k.tag == seen.tag && self.lex.b[k.start..k.end] == *key)
                    {
                        return Err(ScanError);
                    }
                    if top
                        && let Some(k) =
                            self.star_conflicts.iter().position(|k| k.as_bytes() == key)
                    {
                        self.conflicts |= 1 << k;
                    }
                    self.keys.push(seen);
                    if !first {
                        o.push(b',');
                    }
                    self.lex.write_string(o, start, end, false)?;
                    o.push(b':');
                }
                first = false;
                self.lex.expect(b':')?;
                self.value(child, slots, out.as_deref_mut(), depth + 1)?;
                if !self.lex.more(b'}')? {
                    break;
                }
            }
        }
        self.keys.truncate(keys_from);
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
        self.lex.ws();
        let slot = need.and_then(|n| n.slot);
        let set = |slots: &mut [Scalar<'a>], v: Scalar<'a>| {
            if let Some(s) = slot {
                slots[s] = v;
            }
        };
        match self.lex.peek().ok_or(ScanError)? {
            b'{' => {
                set(slots, Scalar::Other);
                self.object(need, slots, out, depth, false)
            }
            b'[' => {
                set(slots, Scalar::Other);
                self.array(slots, out, depth)
            }
            b'"' => {
                let (start, end, escaped) = self.lex.string_span()?;
                if slot.is_some() {
                    set(
                        slots,
                        Scalar::Str(self.lex.decode_string(start, end, escaped)?),
                    );
                }
                if let Some(o) = out {
                    self.lex.write_string(o, start, end, escaped)?;
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
                let (start, integral) = self.lex.number_span()?;
                if slot.is_none() && out.is_none() {
                    return Ok(()); // validated; the value is not used
                }
                if slot.is_none() && prints_as_written(&self.lex.b[start..self.lex.i], integral) {
                    // Only copied to the `*` output: skip parsing and re-printing it.
                    if let Some(o) = out {
                        o.extend_from_slice(&self.lex.b[start..self.lex.i]);
                    }
                    return Ok(());
                }
                let n = self.number_value(start, integral)?;
                if let Some(o) = out {
                    match n {
                        Scalar::Int(i) => write_int(o, i),
                        Scalar::Dec(d) => write_decimal(o, d, self.version),
                        // A wide Int: JSON integers have no leading zeros, so it is its text.
                        _ => o.extend_from_slice(&self.lex.b[start..self.lex.i]),
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
        self.lex.i += 1;
        if let Some(o) = out.as_deref_mut() {
            o.push(b'[');
        }
        self.lex.ws();
        if self.lex.peek() == Some(b']') {
            self.lex.i += 1;
        } else {
            let mut first = true;
            loop {
                if let (Some(o), false) = (out.as_deref_mut(), first) {
                    o.push(b',');
                }
                first = false;
                self.value(None, slots, out.as_deref_mut(), depth + 1)?;
                if !self.lex.more(b']')? {
                    break;
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
        self.lex.keyword(word)?;
        if let (Some(s), Some(v)) = (slot, v) {
            slots[s] = v;
        }
        if let Some(o) = out {
            o.extend_from_slice(word);
        }
        Ok(())
    }

    /// The value of the number that ends at the cursor: an Int that fits 64 bits, a Decimal,
    /// or (a wider Int) [`Scalar::Other`] with its exact text, for the row path.
    fn number_value(&self, start: usize, integral: bool) -> Result<Scalar<'a>> {
        let text = &self.lex.b[start..self.lex.i];
        if integral && text.len() <= 18 {
            // At most 18 digits: fits an i64. `-0` is the Int 0, as on the row path.
            let (negative, digits) = match text.split_first() {
                Some((b'-', rest)) => (true, rest),
                _ => (false, text),
            };
            let v = digits.iter().fold(0i64, |v, b| v * 10 + (b - b'0') as i64);
            return Ok(Scalar::Int(if negative { -v } else { v }));
        }
        match number_from_text(text) {
            Some(Value::Decimal(d)) => Ok(Scalar::Dec(d)),
            Some(Value::Int(i)) => Ok(i64::try_from(i).map_or(Scalar::Other, Scalar::Int)),
            _ => Err(ScanError),
        }
    }
}

/// Whether a validated JSON number prints back exactly as written (so the `*` output can
/// copy it rather than parse and re-print it):
/// - an integer of at most 34 digits, other than `-0` (an Int, printed the same);
/// - a plain decimal (no exponent) not ending in `0`, with at most 34 significant digits and a
///   value in [1e-7, 1e21): Decimals are exact and `write_decimal` prints that range in plain
///   notation without trailing zeros.
///
/// `integral`: the lexer found no fraction and no exponent (so `text` is digits after its sign).
fn prints_as_written(text: &[u8], integral: bool) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if integral {
        return digits.len() <= 34 && text != b"-0";
    }
    let Some(dot) = digits.iter().position(|&b| b == b'.') else {
        return false; // an exponent
    };
    let (int, frac) = (&digits[..dot], &digits[dot + 1..]);
    if !frac.iter().all(u8::is_ascii_digit) || frac.last() == Some(&b'0') || int.len() > 21 {
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
    significant <= 34
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
                Scalar::Dec(Dec::parse(b"21.5").unwrap()),
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
            let int_digits = next(40);
            if int_digits == 0 {
                text.push('0');
            } else {
                text.push(char::from(b'1' + next(9) as u8));
                (1..int_digits).for_each(|_| text.push(char::from(b'0' + next(10) as u8)));
            }
            if next(3) != 0 {
                text.push('.');
                (0..1 + next(40)).for_each(|_| text.push(char::from(b'0' + next(10) as u8)));
            }
            for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
                let mut reprinted = Vec::new();
                let scanner = Scanner {
                    lex: Lexer {
                        b: text.as_bytes(),
                        i: text.len(),
                    },
                    version,
                    star_conflicts: &[],
                    conflicts: 0,
                    keys: &mut Vec::new(),
                };
                match scanner.number_value(0, !text.contains('.')).unwrap() {
                    Scalar::Int(i) => write_int(&mut reprinted, i),
                    Scalar::Dec(d) => write_decimal(&mut reprinted, d, version),
                    Scalar::Other => reprinted.extend_from_slice(text.as_bytes()),
                    other => panic!("{other:?}"),
                }
                if prints_as_written(text.as_bytes(), !text.contains('.')) {
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

    /// A repeated key in the `*` output sends the message to the row path; the same key in
    /// different objects (siblings, parent and child) is no repeat.
    #[test]
    fn star_refuses_repeated_keys_within_one_object_only() {
        let (n, _) = needs(&[]);
        let star = |payload: &[u8]| {
            let mut out = Vec::new();
            let mut keys = vec![SeenKey::new(7, 9, b"ab")]; // from an earlier message: cleared
            scan_reusing(
                payload,
                &n,
                &mut [],
                Some(&mut out),
                &[],
                SqlVersion::V2016_03_23,
                &mut keys,
            )
            .map(|_| String::from_utf8(out).unwrap())
        };
        assert_eq!(star(br#"{"a":1,"a":2}"#), Err(ScanError));
        assert_eq!(star(br#"{"a":{"x":1,"y":{},"x":2}}"#), Err(ScanError));
        assert_eq!(
            star(br#"{"x":{"x":1},"y":{"x":{"x":2}}}"#).unwrap(),
            r#""x":{"x":1},"y":{"x":{"x":2}}"#
        );
        assert_eq!(
            star(br#"{"a":{"b":1},"b":2}"#).unwrap(),
            r#""a":{"b":1},"b":2"#
        );
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
            // Outside AWS's Decimal range, as the row path's parser says.
            b"{\"a\":1e1000}",
            b"{\"a\":-1E+99999999999999999999}",
            b"{\"a\":1.5E-1000}",
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
