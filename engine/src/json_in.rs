//! JSON payload bytes → [`Value`] for the row-at-a-time path.
//!
//! Numbers keep their JSON spelling's type: `10` is an Int, `10.0` and `1e3` are Decimals (the
//! SQL version decides later whether a whole Decimal prints as an Int). Integers beyond i64 become
//! Decimals. Object key order is kept. A payload that is not valid JSON is *binary* (AWS
//! semantics), see [`parse_payload`].

use crate::value::{Object, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What a payload decodes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Valid JSON.
    Json(Value),
    /// Not JSON. `looked_like_json` is true when the payload starts with `{` or `[` (after
    /// whitespace) and so was meant as JSON: it counts as a ParseError.
    Binary { looked_like_json: bool },
}

/// Parses a payload as JSON, or classifies it as binary.
pub fn parse_payload(bytes: &[u8]) -> Payload {
    match parse_json(bytes) {
        Ok(v) => Payload::Json(v),
        Err(_) => Payload::Binary {
            looked_like_json: looks_like_json(bytes),
        },
    }
}

/// True when the first non-whitespace byte opens an object or array.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Strict JSON parse into a [`Value`].
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = ValueSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct ValueSeed;

impl<'de> de::DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Decimal(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Decimal(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Object(Vec::with_capacity(map.size_hint().unwrap_or(8)));
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed)?;
            // JSON with duplicate keys: the last one wins, as in most JSON libraries.
            obj.insert(k, v);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_type() {
        let v = parse_json(br#"{"a":10,"b":10.0,"c":1e3,"d":18446744073709551615}"#).unwrap();
        assert_eq!(v.field("a"), Value::Int(10));
        assert_eq!(v.field("b"), Value::Decimal(10.0));
        assert_eq!(v.field("c"), Value::Decimal(1000.0));
        assert_eq!(v.field("d"), Value::Decimal(18446744073709551615.0));
    }

    #[test]
    fn invalid_json_is_binary() {
        assert_eq!(
            parse_payload(b"{\"a\":"),
            Payload::Binary {
                looked_like_json: true
            }
        );
        assert_eq!(
            parse_payload(b"\x00\x01"),
            Payload::Binary {
                looked_like_json: false
            }
        );
        assert_eq!(parse_payload(b"80"), Payload::Json(Value::Int(80)));
    }
}
