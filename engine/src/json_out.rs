//! [`Value`] → JSON bytes, printed as AWS IoT prints them.
//!
//! - Undefined object members and array items are dropped; Undefined alone prints as nothing.
//! - Int prints as an integer. A Decimal prints its exact value without trailing zeros
//!   (`2.50` → `2.5`); in 2016-03-23 a whole-number Decimal below 10^34 prints as an Int
//!   (`10.0` → `10`, `1E+25` → `10000000000000000000000000`), in 2015-10-08 it keeps `.0`.
//! - Other magnitudes below 1e-7 or from 1e21 up use exponent notation (`1.5E-8`, `1E+21`,
//!   `1.25E+40`).
//! - Binary values (only `*` of a non-JSON payload) print as a base64 JSON string when nested;
//!   a top-level binary result is passed through as raw bytes by the caller.

use crate::decimal::Dec;
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

pub fn write_int(out: &mut Vec<u8>, i: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Writes a Decimal per the module rules.
pub fn write_decimal(out: &mut Vec<u8>, d: Dec, version: SqlVersion) {
    let (coeff, exp) = d.normalized();
    write_normalized(out, coeff, exp, version);
}

/// Writes `v × 10^-scale` (an Arrow `Decimal128` cell) as a Decimal.
pub fn write_scaled_decimal(out: &mut Vec<u8>, v: i128, scale: i8, version: SqlVersion) {
    let (mut c, mut e) = (v, -(scale as i32));
    if let Ok(mut small) = i64::try_from(c) {
        // The common case: strip trailing zeros in 64-bit arithmetic.
        if small == 0 {
            e = 0;
        }
        while small != 0 && small % 10 == 0 {
            small /= 10;
            e += 1;
        }
        c = small as i128;
    } else {
        (c, e) = Dec::new(c, e).map_or((c, e), Dec::normalized);
    }
    write_normalized(out, c, e, version);
}

/// Writes `coeff × 10^exp`, `coeff` without trailing zeros (zero as `(0, 0)`).
fn write_normalized(out: &mut Vec<u8>, coeff: i128, exp: i32, version: SqlVersion) {
    let mut buf = itoa::Buffer::new();
    let digits = match u64::try_from(coeff.unsigned_abs()) {
        Ok(small) => buf.format(small),
        Err(_) => buf.format(coeff.unsigned_abs()),
    }
    .as_bytes();
    let n = digits.len() as i32;
    let adjusted = exp + n - 1;
    let whole = exp >= 0;
    if coeff < 0 {
        out.push(b'-');
    }
    if whole && version == SqlVersion::V2016_03_23 && adjusted < crate::decimal::PRECISION as i32 {
        // Whole-number Decimals are Ints in 2016-03-23.
        out.extend_from_slice(digits);
        out.resize(out.len() + exp as usize, b'0');
        return;
    }
    if (-7..21).contains(&adjusted) {
        if whole {
            out.extend_from_slice(digits);
            out.resize(out.len() + exp as usize, b'0');
            out.extend_from_slice(b".0");
        } else if n + exp > 0 {
            let point = (n + exp) as usize;
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-(n + exp)) as usize, b'0');
            out.extend_from_slice(digits);
        }
        return;
    }
    out.push(digits[0]);
    if n > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.extend_from_slice(if adjusted < 0 { b"E-" } else { b"E+" });
    write_int(out, adjusted.unsigned_abs());
}

/// The standard string form of a Decimal (String conversion): as printed in 2015-10-08, so a
/// whole number keeps its `.0`.
pub fn format_decimal(d: Dec) -> String {
    let mut out = Vec::with_capacity(24);
    write_decimal(&mut out, d, SqlVersion::V2015_10_08);
    String::from_utf8(out).expect("digits are ASCII")
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
        let print = |text: &str, v| to_json_string(&Value::decimal(text), v);
        assert_eq!(print("10.0", v2), "10");
        assert_eq!(print("10.0", v1), "10.0");
        assert_eq!(print("21.50", v2), "21.5");
        assert_eq!(print("-0.05", v2), "-0.05");
        assert_eq!(print("0.0", v2), "0");
        assert_eq!(print("0.0", v1), "0.0");
        assert_eq!(print("1.5e-8", v2), "1.5E-8");
        assert_eq!(print("1e-7", v2), "0.0000001");
        assert_eq!(print("1e-8", v2), "1E-8");
        assert_eq!(print("2.5e22", v1), "2.5E+22");
        assert_eq!(print("2.5e22", v2), "25000000000000000000000");
        assert_eq!(print("1e40", v2), "1E+40");
        assert_eq!(print("-1.25e40", v2), "-1.25E+40");
        assert_eq!(print("12345678901234567890", v1), "12345678901234567890.0");
        assert_eq!(print("1e21", v1), "1E+21");
        let mut out = Vec::new();
        write_scaled_decimal(&mut out, 12380, 3, v2);
        assert_eq!(out, b"12.38");
        out.clear();
        write_scaled_decimal(&mut out, -5000, 3, v1);
        assert_eq!(out, b"-5.0");
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
