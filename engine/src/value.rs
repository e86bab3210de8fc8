//! The dynamic value model of AWS IoT SQL and its conversions.
//!
//! AWS IoT SQL is dynamically typed: a payload field can be an Int in one message and a String in
//! the next, and a missing field (`Undefined`) is distinct from JSON `null`. [`Value`] models that
//! exactly. This module owns the value type, the "standard" implicit conversions and the `cast()`
//! conversions of the AWS reference (§3.3, §3.4 of `aws-iot-sql.md`), and AWS equality.
//! JSON parsing lives in [`crate::json_in`], JSON printing in [`crate::json_out`].

use crate::decimal::{Dec, RoundTo};
use std::fmt;

/// SQL dialect version; changes literal support, function availability and number printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SqlVersion {
    /// `2015-10-08`: whole-number decimals stay Decimal; no literals/nested queries/encode/decode.
    V2015_10_08,
    /// `2016-03-23` (default).
    #[default]
    V2016_03_23,
}

impl SqlVersion {
    /// Parses the version string used in rule headers and `--sql-version`.
    pub fn parse(s: &str) -> Option<SqlVersion> {
        match s {
            "2015-10-08" => Some(SqlVersion::V2015_10_08),
            "2016-03-23" => Some(SqlVersion::V2016_03_23),
            _ => None,
        }
    }

    /// The version string, as `sql_version()` returns it.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlVersion::V2015_10_08 => "2015-10-08",
            SqlVersion::V2016_03_23 => "2016-03-23",
        }
    }
}

/// An ordered JSON object. Key order is the payload's order (AWS keeps it in `SELECT *`).
/// Lookups are linear: IoT payload objects are small, and a Vec beats a hash map there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(pub Vec<(String, Value)>);

impl Object {
    pub fn new() -> Object {
        Object(Vec::new())
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Inserts or replaces `key`, keeping the position of an existing key.
    pub fn insert(&mut self, key: String, value: Value) {
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push((key, value)),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &(String, Value)> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One AWS IoT SQL value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// Not a value: a missing key, a failed function, an unmatched CASE. Dropped from output.
    #[default]
    Undefined,
    Null,
    Bool(bool),
    /// AWS Int: exact up to 34 digits (`|i| < 10^34`); a wider result becomes a Decimal.
    Int(i128),
    /// AWS Decimal: 34 significant digits, as [`crate::decimal`] describes.
    Decimal(Dec),
    String(String),
    Array(Vec<Value>),
    Object(Object),
    /// A payload that is not JSON; only `*` can produce it.
    Binary(Vec<u8>),
}

/// Type names used in error messages and tests.
impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "Undefined",
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Int(_) => "Int",
            Value::Decimal(_) => "Decimal",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
            Value::Binary(_) => "Binary",
        }
    }

    pub fn is_undefined(&self) -> bool {
        matches!(self, Value::Undefined)
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Decimal(_))
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The Decimal spelled `text` (for literals in tests); panics on invalid text.
    pub fn decimal(text: &str) -> Value {
        Value::Decimal(Dec::parse(text.as_bytes()).unwrap_or_else(|| panic!("decimal {text}")))
    }

    /// A double-precision result (AWS: a Decimal "(double)"); NaN, infinities and values
    /// outside the Decimal range are Undefined.
    pub fn double(d: f64) -> Value {
        Dec::from_f64(d).map(Value::Decimal).unwrap_or_default()
    }

    /// Member access `v.key`: Undefined unless `v` is an object holding `key`.
    pub fn field(&self, key: &str) -> Value {
        match self {
            Value::Object(o) => o.get(key).cloned().unwrap_or(Value::Undefined),
            _ => Value::Undefined,
        }
    }

    /// Borrowing member access, for paths.
    pub fn field_ref(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => o.get(key),
            _ => None,
        }
    }

    /// A Decimal normalised for output: in 2016-03-23 a whole-number Decimal is an Int.
    pub fn normalize_number(self, version: SqlVersion) -> Value {
        match self {
            Value::Decimal(d) if version == SqlVersion::V2016_03_23 => match d.to_int() {
                Some(i) => Value::Int(i),
                None => Value::Decimal(d),
            },
            v => v,
        }
    }

    // ----- standard (implicit) conversions, §3.3 -----

    /// Standard conversion to Decimal. `None` means Undefined; `Some(None)` is never produced:
    /// Null converts to Null, which callers handle before numeric work via [`Value::is_null`].
    pub fn to_decimal(&self) -> Option<Dec> {
        match self {
            Value::Int(i) => Dec::from_int(*i),
            Value::Decimal(d) => Some(*d),
            Value::String(s) => parse_decimal_string(s),
            _ => None,
        }
    }

    /// Standard conversion to Decimal, as a double: for the functions AWS documents as
    /// double precision (trigonometry, `ln`, `power`, ...).
    pub fn to_f64(&self) -> Option<f64> {
        self.to_decimal().map(Dec::to_f64)
    }

    /// A numeric view that keeps Int as Int: Int stays Int, Decimal stays Decimal, and a String
    /// parses to Int when it has no fraction or exponent, otherwise Decimal.
    pub fn to_number(&self) -> Option<Value> {
        match self {
            Value::Int(_) | Value::Decimal(_) => Some(self.clone()),
            Value::String(s) => parse_number_string(s),
            _ => None,
        }
    }

    /// Standard conversion to Int as used by function arguments ("rounded down").
    pub fn to_int_floor(&self) -> Option<i64> {
        let whole = match self {
            Value::Int(i) => *i,
            Value::Decimal(_) | Value::String(_) => {
                self.to_decimal()?.to_integral(RoundTo::Floor).to_int()?
            }
            _ => return None,
        };
        i64::try_from(whole).ok()
    }

    /// Standard conversion to Boolean: Booleans and "true"/"false" strings (case-insensitive).
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool_string(s),
            _ => None,
        }
    }

    /// Standard conversion to String. Null and Undefined give `None` (Undefined).
    pub fn to_string_std(&self) -> Option<String> {
        match self {
            Value::Undefined | Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Decimal(d) => Some(crate::json_out::format_decimal(*d)),
            Value::Array(_) | Value::Object(_) => Some(crate::json_out::to_json_string(
                self,
                SqlVersion::V2015_10_08,
            )),
            Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// AWS truthiness for WHERE: only Boolean `true` fires a rule.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// AWS `=`: Undefined on either side gives Undefined; mismatched types give false.
    pub fn aws_eq(&self, other: &Value) -> Value {
        if self.is_undefined() || other.is_undefined() {
            return Value::Undefined;
        }
        Value::Bool(values_equal(self, other))
    }
}

/// Structural AWS equality of two defined values (Int and Decimal compare numerically).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Decimal(_), Value::Int(_) | Value::Decimal(_)) => {
            a.to_decimal() == b.to_decimal()
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (Value::Binary(x), Value::Binary(y)) => x == y,
        _ => false,
    }
}

impl PartialEq for Value {
    /// Test-friendly equality: like AWS `=` but Undefined equals Undefined and Int never equals
    /// Decimal (so tests see the exact type).
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Undefined, Value::Undefined) => true,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Decimal(x), Value::Decimal(y)) => x == y,
            (Value::Array(x), Value::Array(y)) => x == y,
            (Value::Object(x), Value::Object(y)) => x == y,
            (Value::Int(_), Value::Decimal(_)) | (Value::Decimal(_), Value::Int(_)) => false,
            _ => !self.is_undefined() && !other.is_undefined() && values_equal(self, other),
        }
    }
}

impl fmt::Display for Value {
    /// JSON text of the value (2016-03-23 number printing); Undefined prints as nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::json_out::to_json_string(
            self,
            SqlVersion::V2016_03_23,
        ))
    }
}

/// `^-?\d+(\.\d+)?((?i)E-?\d+)?$` → Decimal, the only strings AWS converts to numbers.
/// Leading/trailing whitespace is not allowed.
pub fn parse_decimal_string(s: &str) -> Option<Dec> {
    if !is_aws_number_string(s) {
        return None;
    }
    Dec::parse(s.as_bytes())
}

/// Parses a numeric string keeping integers as Int when they fit.
pub fn parse_number_string(s: &str) -> Option<Value> {
    if !is_aws_number_string(s) {
        return None;
    }
    number_from_text(s.as_bytes())
}

/// A number's text (JSON or AWS numeric string syntax, already checked) as a value: Int when
/// it is written without fraction or exponent and has at most 34 digits, otherwise Decimal
/// (README: compatibility). `None` outside AWS's Decimal range.
pub fn number_from_text(text: &[u8]) -> Option<Value> {
    let digits = text.iter().filter(|b| b.is_ascii_digit()).count();
    if digits <= crate::decimal::PRECISION as usize
        && !text.iter().any(|b| matches!(b, b'.' | b'e' | b'E'))
    {
        let mut v: i128 = 0;
        for &b in text.iter().filter(|b| b.is_ascii_digit()) {
            v = v * 10 + (b - b'0') as i128;
        }
        return Some(Value::Int(if text.first() == Some(&b'-') { -v } else { v }));
    }
    Dec::parse(text).map(Value::Decimal)
}

fn is_aws_number_string(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

pub fn parse_bool_string(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The targets of `cast(x AS type)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    String,
    Int,
    /// `Double`: a Decimal in both versions.
    Double,
    /// `Decimal` (2016-03-23 only).
    Decimal,
    /// `Bool`/`Boolean` (2016-03-23 only).
    Bool,
}

impl CastType {
    /// Parses a cast type keyword (case-insensitive), or `None`.
    pub fn parse(name: &str, version: SqlVersion) -> Option<CastType> {
        let lower = name.to_ascii_lowercase();
        let t = match lower.as_str() {
            "string" | "nvarchar" | "text" | "ntext" | "varchar" => CastType::String,
            "int" | "integer" => CastType::Int,
            "double" => CastType::Double,
            "decimal" => CastType::Decimal,
            "bool" | "boolean" => CastType::Bool,
            _ => return None,
        };
        if version == SqlVersion::V2015_10_08 && matches!(t, CastType::Decimal | CastType::Bool) {
            return None;
        }
        Some(t)
    }
}

/// `cast()` per §3.4. Null and Undefined cast to Undefined.
pub fn cast(v: &Value, to: CastType) -> Value {
    match to {
        CastType::String => match v {
            Value::Null | Value::Undefined => Value::Undefined,
            other => other.to_string_std().map(Value::String).unwrap_or_default(),
        },
        CastType::Int => match v {
            Value::Int(i) => Value::Int(*i),
            Value::Bool(b) => Value::Int(*b as i128),
            Value::Decimal(_) | Value::String(_) => v
                .to_decimal()
                .and_then(|d| d.to_integral(RoundTo::Floor).to_int())
                .map(Value::Int)
                .unwrap_or_default(),
            _ => Value::Undefined,
        },
        CastType::Decimal => match v {
            Value::Bool(b) => Value::Decimal(if *b { Dec::ONE } else { Dec::ZERO }),
            Value::Int(_) | Value::Decimal(_) | Value::String(_) => {
                v.to_decimal().map(Value::Decimal).unwrap_or_default()
            }
            _ => Value::Undefined,
        },
        // A double: the value rounded to the nearest IEEE double (README: compatibility).
        CastType::Double => match cast(v, CastType::Decimal) {
            Value::Decimal(d) => Dec::from_f64(d.to_f64())
                .map(Value::Decimal)
                .unwrap_or_default(),
            other => other,
        },
        CastType::Bool => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Bool(*i != 0),
            Value::Decimal(d) => Value::Bool(!d.is_zero()),
            Value::String(s) => parse_bool_string(s).map(Value::Bool).unwrap_or_default(),
            _ => Value::Undefined,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_strings_follow_the_aws_regex() {
        let dec = |s: &str| Dec::parse(s.as_bytes());
        assert_eq!(parse_decimal_string("-1.2"), dec("-1.2"));
        assert_eq!(parse_decimal_string("5E-12"), dec("5E-12"));
        assert_eq!(parse_decimal_string("5e3"), dec("5000"));
        assert_eq!(parse_decimal_string("1."), None);
        assert_eq!(parse_decimal_string(".5"), None);
        assert_eq!(parse_decimal_string(" 1"), None);
        assert_eq!(parse_decimal_string("+1"), None);
        assert_eq!(parse_number_string("42"), Some(Value::Int(42)));
        assert_eq!(
            parse_number_string("1234567890123456789012345678901234"),
            Some(Value::Int(1234567890123456789012345678901234))
        );
        assert_eq!(
            parse_number_string("12345678901234567890123456789012345"),
            Some(Value::decimal("1.234567890123456789012345678901234E+34"))
        );
    }

    #[test]
    fn cast_table() {
        assert_eq!(cast(&Value::Bool(true), CastType::Int), Value::Int(1));
        assert_eq!(cast(&Value::decimal("-1.5"), CastType::Int), Value::Int(-2));
        assert_eq!(cast(&Value::str("2.7"), CastType::Int), Value::Int(2));
        assert_eq!(cast(&Value::Int(0), CastType::Bool), Value::Bool(false));
        assert_eq!(cast(&Value::str("TRUE"), CastType::Bool), Value::Bool(true));
        assert_eq!(cast(&Value::Null, CastType::String), Value::Undefined);
        assert_eq!(cast(&Value::Int(3), CastType::Decimal), Value::decimal("3"));
        assert_eq!(
            cast(
                &Value::decimal("0.1000000000000000000000000001"),
                CastType::Double
            ),
            Value::decimal("0.1")
        );
        assert!(CastType::parse("Decimal", SqlVersion::V2015_10_08).is_none());
        assert_eq!(
            CastType::parse("NVARCHAR", SqlVersion::V2015_10_08),
            Some(CastType::String)
        );
    }

    #[test]
    fn equality_rules() {
        assert_eq!(
            Value::Int(1).aws_eq(&Value::decimal("1.0")),
            Value::Bool(true)
        );
        assert_eq!(Value::Int(1).aws_eq(&Value::str("1")), Value::Bool(false));
        assert_eq!(Value::Null.aws_eq(&Value::Undefined), Value::Undefined);
        assert_eq!(Value::Null.aws_eq(&Value::Null), Value::Bool(true));
    }
}
