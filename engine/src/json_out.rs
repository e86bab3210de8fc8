//! [`Value`] → JSON bytes, printed as AWS IoT prints them.
//!
//! - Undefined object members and array items are dropped; Undefined alone prints as nothing.
//! - Int prints as an integer. A Decimal prints in its shortest round-trip form; in 2016-03-23 a
//!   whole-number Decimal prints as an Int (`10.0` → `10`), in 2015-10-08 it keeps `.0`.
//! - Magnitudes below 1e-7 or from 1e21 up use exponent notation (`1.5E-8`, `1E+21`).
//! - Non-finite Decimals cannot occur in results (they become Undefined); if one does it prints
//!   as `null` so the output stays valid JSON.
//! - Binary values (only `*` of a non-JSON payload) print as a base64 JSON string when nested;
//!   a top-level binary result is passed through as raw bytes by the caller.

use crate::value::{SqlVersion, Value};
use base64::Engine;
use std::fmt::Write as _;

/// The JSON text of a value.
pub fn to_json_string(v: &Value, version: SqlVersion) -> String {
    let mut out = Vec::with_capacity(64);
    write_json(&mut out, v, version);
    String::from_utf8(out).expect("JSON output is UTF-8")
}

/// Appends the JSON of `v` to `out`.
pub fn write_json(out: &mut Vec<u8>, v: &Value, version: SqlVersion) {
    match v {
        Value::Undefined => {}
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_int(out, *i),
        Value::Decimal(d) => write_decimal(out, *d, version),
        Value::String(s) => write_json_str(out, s),
        Value::Binary(b) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(b);
            write_json_str(out, &encoded)
        }
        Value::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for item in items.iter().filter(|i| !i.is_undefined()) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_json(out, item, version);
            }
            out.push(b']');
        }
        Value::Object(obj) => {
            out.push(b'{');
            let mut first = true;
            for (k, item) in obj.iter().filter(|(_, i)| !i.is_undefined()) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_json_str(out, k);
                out.push(b':');
                write_json(out, item, version);
            }
            out.push(b'}');
        }
    }
}

pub fn write_int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Writes a Decimal per the module rules.
pub fn write_decimal(out: &mut Vec<u8>, d: f64, version: SqlVersion) {
    if !d.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if version == SqlVersion::V2016_03_23 && d.fract() == 0.0 && d.abs() < 1e21 {
        // Whole-number Decimals are Ints in 2016-03-23.
        out.extend_from_slice(itoa::Buffer::new().format(d as i128).as_bytes());
        return;
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-7..1e21).contains(&abs) {
        out.extend_from_slice(format_decimal(d).as_bytes());
        return;
    }
    // Plain notation, written in place (this is the hot path of output encoding).
    let start = out.len();
    let _ = write!(VecWriter(out), "{d}");
    if !out[start..].contains(&b'.') {
        out.extend_from_slice(b".0");
    }
}

/// The standard string form of a Decimal (also used by String conversion).
pub fn format_decimal(d: f64) -> String {
    if !d.is_finite() {
        return "null".to_owned();
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-7..1e21).contains(&abs) {
        let s = format!("{d:e}");
        // Rust prints `1e21` / `1.5e-8`; AWS/Java prints an upper-case E with a signed exponent.
        let (mantissa, exp) = s.split_once('e').expect("exponent form");
        return if exp.starts_with('-') {
            format!("{mantissa}E{exp}")
        } else {
            format!("{mantissa}E+{exp}")
        };
    }
    let mut s = format!("{d}");
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// Writes a JSON string literal with minimal escaping.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(VecWriter(out), "\\u{:04x}", b);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `fmt::Write` over a byte vector.
pub struct VecWriter<'a>(pub &'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;

    #[test]
    fn decimals_print_like_aws() {
        let v2 = SqlVersion::V2016_03_23;
        let v1 = SqlVersion::V2015_10_08;
        assert_eq!(to_json_string(&Value::Decimal(10.0), v2), "10");
        assert_eq!(to_json_string(&Value::Decimal(10.0), v1), "10.0");
        assert_eq!(to_json_string(&Value::Decimal(21.5), v2), "21.5");
        assert_eq!(to_json_string(&Value::Decimal(1.5e-8), v2), "1.5E-8");
        assert_eq!(to_json_string(&Value::Decimal(2.5e22), v1), "2.5E+22");
        assert_eq!(
            to_json_string(&Value::Decimal(0.1 + 0.2), v2),
            "0.30000000000000004"
        );
    }

    #[test]
    fn undefined_members_are_dropped() {
        let obj = Value::Object(Object(vec![
            ("foo".into(), Value::Null),
            ("bar".into(), Value::Undefined),
            ("s".into(), Value::str("a\"b\n")),
        ]));
        assert_eq!(
            to_json_string(&obj, SqlVersion::V2016_03_23),
            r#"{"foo":null,"s":"a\"b\n"}"#
        );
        assert_eq!(
            to_json_string(&Value::Undefined, SqlVersion::V2016_03_23),
            ""
        );
    }
}
