//! Miscellaneous pure functions: encode/decode (base64), get, get_or_default, isNull,
//! isUndefined and transform("enrichArray", ...).

use super::args::{int_floor, text};
use crate::value::{SqlVersion, Value};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; decoding accepts input with or without `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// True when the scheme argument is the String `base64` (case-insensitive, a choice).
fn is_base64_scheme(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if s.eq_ignore_ascii_case("base64"))
}

/// `encode(value, 'base64')`: a Binary value encodes its bytes; any other value encodes the UTF-8
/// of its standard String form (Objects and Arrays as JSON). Null/Undefined and any other scheme
/// give Undefined.
pub fn encode(args: &[Value], _v: SqlVersion) -> Value {
    if !is_base64_scheme(args.get(1)) {
        return Value::Undefined;
    }
    let bytes = match args.first() {
        Some(Value::Binary(b)) => b.clone(),
        Some(other) => match text(other) {
            Some(s) => s.into_bytes(),
            None => return Value::Undefined,
        },
        None => return Value::Undefined,
    };
    Value::String(BASE64.encode(bytes))
}

/// `decode(value, 'base64')`: decodes a base64 String. Bytes that are a JSON document give that
/// value (so `.field` works on it); other valid UTF-8 gives a String; other bytes give a Binary
/// value (a choice). Text that is not base64 gives Null, as documented. A non-String value, or an
/// unknown scheme, gives Undefined ('proto' needs S3 and is not supported).
pub fn decode(args: &[Value], _v: SqlVersion) -> Value {
    if !is_base64_scheme(args.get(1)) {
        return Value::Undefined;
    }
    let Some(Value::String(encoded)) = args.first() else {
        return Value::Undefined;
    };
    let Ok(bytes) = BASE64.decode(encoded.as_bytes()) else {
        return Value::Null;
    };
    if let Ok(v) = crate::json_in::parse_json(&bytes) {
        return v;
    }
    match String::from_utf8(bytes) {
        Ok(s) => Value::String(s),
        Err(e) => Value::Binary(e.into_bytes()),
    }
}

/// `get(collection, key)`:
/// - Array + key converted to Int (rounded down) → the 0-based element;
/// - String + key converted to Int → the 0-based character as a String. The current doc example
///   says `get("abc", 1)` = "a", which contradicts its own 0-based table; we follow the table and
///   the 2019 doc ("b") — §3.16 item 1;
/// - Object + String key (not converted) → the member;
/// - negative or out-of-range indices, and everything else → Undefined.
pub fn get(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(collection), Some(key)) = (args.first(), args.get(1)) else {
        return Value::Undefined;
    };
    match collection {
        Value::Array(items) => match index(key) {
            Some(i) => items.get(i).cloned().unwrap_or_default(),
            None => Value::Undefined,
        },
        // Java's `charAt`: the index counts UTF-16 code units; half an emoji is U+FFFD.
        Value::String(s) => match index(key).filter(|&i| i < s.encode_utf16().count()) {
            Some(i) => Value::String(super::strings::utf16_slice(s, i, i + 1)),
            None => Value::Undefined,
        },
        Value::Object(o) => match key {
            Value::String(k) => o.get(k).cloned().unwrap_or_default(),
            _ => Value::Undefined,
        },
        _ => Value::Undefined,
    }
}

/// A non-negative index argument.
fn index(key: &Value) -> Option<usize> {
    usize::try_from(int_floor(key)?).ok()
}

/// `get_or_default(v, d)`: `d` when `v` is Undefined, else `v`. Choice: a Null `v` is a value and
/// is returned as is (the function is documented only as "default when Undefined").
pub fn get_or_default(args: &[Value], _v: SqlVersion) -> Value {
    match args.first() {
        Some(Value::Undefined) | None => args.get(1).cloned().unwrap_or_default(),
        Some(v) => v.clone(),
    }
}

/// `isNull(v)`: true only for Null (Undefined → false).
pub fn is_null(args: &[Value], _v: SqlVersion) -> Value {
    Value::Bool(matches!(args.first(), Some(Value::Null)))
}

/// `isUndefined(v)`: true only for Undefined.
pub fn is_undefined(args: &[Value], _v: SqlVersion) -> Value {
    Value::Bool(matches!(args.first(), Some(Value::Undefined) | None))
}

/// `transform("enrichArray", object, array)`: every Object element of `array` gets the members of
/// `object` merged in: the element's own members first, then `object`'s members appended, an
/// existing key being overwritten in place by `object`'s value.
///
/// Choices: the mode is matched exactly (case-sensitive); non-Object elements of the array are
/// passed through unchanged; a non-Object second or non-Array third argument gives Undefined.
pub fn transform(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(Value::String(mode)), Some(Value::Object(extra)), Some(Value::Array(items))) =
        (args.first(), args.get(1), args.get(2))
    else {
        return Value::Undefined;
    };
    if mode != "enrichArray" {
        return Value::Undefined;
    }
    let enriched = items
        .iter()
        .map(|item| match item {
            Value::Object(o) => {
                let mut merged = o.clone();
                for (k, v) in extra.iter() {
                    merged.insert(k.clone(), v.clone());
                }
                Value::Object(merged)
            }
            other => other.clone(),
        })
        .collect();
    Value::Array(enriched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_in::parse_json;
    use crate::value::SqlVersion::V2016_03_23 as V2;
    use Value::{Binary, Bool, Int, Null, Undefined};

    /// The Decimal of a double's shortest spelling (tests spell Decimals as literals).
    #[allow(non_snake_case)]
    fn Decimal(x: f64) -> Value {
        Value::double(x)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn json(text: &str) -> Value {
        parse_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn encode_cases() {
        assert_eq!(encode(&[s("hello"), s("base64")], V2), s("aGVsbG8="));
        assert_eq!(
            encode(&[json(r#"{"a":1}"#), s("base64")], V2),
            s("eyJhIjoxfQ==")
        );
        assert_eq!(encode(&[Int(80), s("base64")], V2), s("ODA="));
        assert_eq!(
            encode(&[Binary(vec![0, 255, 1]), s("base64")], V2),
            s("AP8B")
        );
        assert_eq!(encode(&[s("hello"), s("BASE64")], V2), s("aGVsbG8="));
        assert_eq!(encode(&[s("hello"), s("hex")], V2), Undefined);
        assert_eq!(encode(&[Null, s("base64")], V2), Undefined);
        assert_eq!(encode(&[Undefined, s("base64")], V2), Undefined);
    }

    #[test]
    fn decode_doc_example_and_cases() {
        let decoded = decode(&[s("eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="), s("base64")], V2);
        assert_eq!(decoded.field("temperature"), Int(33));
        assert_eq!(decode(&[s("ODA="), s("base64")], V2), Int(80));
        assert_eq!(decode(&[s("aGVsbG8="), s("base64")], V2), s("hello"));
        assert_eq!(decode(&[s("aGVsbG8"), s("base64")], V2), s("hello"));
        assert_eq!(
            decode(&[s("AP8B"), s("base64")], V2),
            Binary(vec![0, 255, 1])
        );
        assert_eq!(decode(&[s("not base64!"), s("base64")], V2), Null);
        assert_eq!(decode(&[Int(5), s("base64")], V2), Undefined);
        assert_eq!(decode(&[Null, s("base64")], V2), Undefined);
        assert_eq!(decode(&[s("aGVsbG8="), s("proto")], V2), Undefined);
        // Round trip of the binary-payload doc recipe: decode(encode(*, 'base64'), 'base64').
        let payload = Binary(b"80".to_vec());
        let enc = encode(&[payload, s("base64")], V2);
        assert_eq!(decode(&[enc, s("base64")], V2), Int(80));
    }

    #[test]
    fn get_doc_examples() {
        assert_eq!(get(&[json(r#"["a","b","c"]"#), Int(1)], V2), s("b"));
        assert_eq!(get(&[json(r#"{"a":"b"}"#), s("a")], V2), s("b"));
        assert_eq!(get(&[s("abc"), Int(1)], V2), s("b"));
    }

    #[test]
    fn get_edges() {
        let arr = json(r#"["a","b","c"]"#);
        assert_eq!(get(&[arr.clone(), Int(3)], V2), Undefined);
        assert_eq!(get(&[arr.clone(), Int(-1)], V2), Undefined);
        assert_eq!(get(&[arr.clone(), s("0")], V2), s("a"));
        assert_eq!(get(&[arr.clone(), Decimal(1.9)], V2), s("b"));
        assert_eq!(get(&[arr.clone(), Bool(true)], V2), Undefined);
        assert_eq!(get(&[arr, Null], V2), Undefined);
        assert_eq!(get(&[s("€bc"), Int(0)], V2), s("€"));
        assert_eq!(get(&[s("abc"), Int(5)], V2), Undefined);
        assert_eq!(get(&[json(r#"{"1":"x"}"#), Int(1)], V2), Undefined);
        assert_eq!(get(&[json(r#"{"a":null}"#), s("a")], V2), Null);
        assert_eq!(get(&[json(r#"{"a":1}"#), s("b")], V2), Undefined);
        assert_eq!(get(&[Int(5), Int(0)], V2), Undefined);
        assert_eq!(get(&[Null, Int(0)], V2), Undefined);
        // The doc's nested example: get(get(get(mydata,"item2"),"0"),"my-key").
        let data = json(r#"{"item2":[{"my-key":"v"}]}"#);
        let inner = get(&[get(&[data, s("item2")], V2), s("0")], V2);
        assert_eq!(get(&[inner, s("my-key")], V2), s("v"));
    }

    #[test]
    fn defaults_and_predicates() {
        assert_eq!(get_or_default(&[Undefined, Int(1)], V2), Int(1));
        assert_eq!(get_or_default(&[Null, Int(1)], V2), Null);
        assert_eq!(get_or_default(&[s("x"), Int(1)], V2), s("x"));
        assert_eq!(is_null(&[Int(5)], V2), Bool(false));
        assert_eq!(is_null(&[Null], V2), Bool(true));
        assert_eq!(is_null(&[Undefined], V2), Bool(false));
        assert_eq!(is_undefined(&[Int(5)], V2), Bool(false));
        assert_eq!(is_undefined(&[Undefined], V2), Bool(true));
        assert_eq!(is_undefined(&[Null], V2), Bool(false));
        let floored = crate::functions::math::floor(&[json("[1,2,3]")], V2);
        assert_eq!(is_undefined(&[floored], V2), Bool(true));
    }

    #[test]
    fn transform_enrich_array() {
        // Doc example 1: attributes merged into every element, element keys first.
        let attributes = json(r#"{"data1":1,"data2":2}"#);
        let values = json(r#"[{"a":3},{"b":4},{"c":5}]"#);
        let out = transform(&[s("enrichArray"), attributes, values], V2);
        let expected = json(
            r#"[{"a":3,"data1":1,"data2":2},{"b":4,"data1":1,"data2":2},{"c":5,"data1":1,"data2":2}]"#,
        );
        assert_eq!(out, expected);
        assert_eq!(out.to_string(), expected.to_string());
        // Key collision: the object's value wins, the element's key position is kept.
        let out = transform(
            &[
                s("enrichArray"),
                json(r#"{"a":9,"z":0}"#),
                json(r#"[{"a":1,"b":2}]"#),
            ],
            V2,
        );
        assert_eq!(out.to_string(), r#"[{"a":9,"b":2,"z":0}]"#);
        // Non-object elements pass through; an empty array stays empty.
        let out = transform(
            &[s("enrichArray"), json(r#"{"x":1}"#), json(r#"[1,{"y":2}]"#)],
            V2,
        );
        assert_eq!(out.to_string(), r#"[1,{"y":2,"x":1}]"#);
        assert_eq!(
            transform(&[s("enrichArray"), json("{}"), json("[]")], V2),
            json("[]")
        );
    }

    #[test]
    fn transform_invalid() {
        let (obj, arr) = (json(r#"{"x":1}"#), json(r#"[{"a":1}]"#));
        assert_eq!(
            transform(&[s("other"), obj.clone(), arr.clone()], V2),
            Undefined
        );
        assert_eq!(
            transform(&[s("enricharray"), obj.clone(), arr.clone()], V2),
            Undefined
        );
        assert_eq!(
            transform(&[s("enrichArray"), arr.clone(), arr.clone()], V2),
            Undefined
        );
        assert_eq!(
            transform(&[s("enrichArray"), obj.clone(), obj], V2),
            Undefined
        );
        assert_eq!(transform(&[Undefined, Null, arr], V2), Undefined);
    }
}
