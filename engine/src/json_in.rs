//! JSON payload bytes → [`Value`] for the row-at-a-time path.
//!
//! Numbers are read exactly and keep their JSON spelling's type: `10` is an Int, `10.0` and `1e3`
//! are Decimals (the SQL version decides later whether a whole Decimal prints as an Int).
//! Integers beyond 34 digits become Decimals rounded to 34 digits; numbers outside AWS's Decimal
//! range make the document invalid. Object key order is kept. A payload that is not valid JSON is *binary* (AWS
//! semantics), see [`parse_payload`].

use crate::json_lex::{LexError, Lexer};
use crate::value::{Object, Value, number_from_text};

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

/// Containers nest at most this deep (the outermost is depth 0), as in the vectorised scan.
pub const MAX_DEPTH: usize = 128;

/// Strict JSON parse into a [`Value`].
pub fn parse_json(bytes: &[u8]) -> Result<Value, LexError> {
    let mut lex = Lexer::new(bytes);
    let v = value(&mut lex, 0)?;
    lex.ws();
    if lex.i != bytes.len() {
        return Err(LexError);
    }
    Ok(v)
}

fn value(lex: &mut Lexer, depth: usize) -> Result<Value, LexError> {
    lex.ws();
    match lex.peek().ok_or(LexError)? {
        b'{' => object(lex, depth),
        b'[' => array(lex, depth),
        b'"' => string(lex).map(Value::String),
        b't' => lex.keyword(b"true").map(|_| Value::Bool(true)),
        b'f' => lex.keyword(b"false").map(|_| Value::Bool(false)),
        b'n' => lex.keyword(b"null").map(|_| Value::Null),
        _ => {
            let (start, _) = lex.number_span()?;
            number_from_text(&lex.b[start..lex.i]).ok_or(LexError)
        }
    }
}

fn string(lex: &mut Lexer) -> Result<String, LexError> {
    let (start, end, escaped) = lex.string_span()?;
    Ok(lex.decode_string(start, end, escaped)?.into_owned())
}

fn object(lex: &mut Lexer, depth: usize) -> Result<Value, LexError> {
    if depth > MAX_DEPTH {
        return Err(LexError);
    }
    lex.i += 1; // '{'
    let mut obj = Object::new();
    lex.ws();
    if lex.peek() == Some(b'}') {
        lex.i += 1;
        return Ok(Value::Object(obj));
    }
    loop {
        lex.ws();
        if lex.peek() != Some(b'"') {
            return Err(LexError);
        }
        let key = string(lex)?;
        lex.expect(b':')?;
        let v = value(lex, depth + 1)?;
        // Duplicate keys: the last one wins, as in most JSON libraries.
        obj.insert(key, v);
        if !lex.more(b'}')? {
            return Ok(Value::Object(obj));
        }
    }
}

fn array(lex: &mut Lexer, depth: usize) -> Result<Value, LexError> {
    if depth > MAX_DEPTH {
        return Err(LexError);
    }
    lex.i += 1; // '['
    let mut items = Vec::new();
    lex.ws();
    if lex.peek() == Some(b']') {
        lex.i += 1;
        return Ok(Value::Array(items));
    }
    loop {
        items.push(value(lex, depth + 1)?);
        if !lex.more(b']')? {
            return Ok(Value::Array(items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_type() {
        let v = parse_json(
            br#"{"a":10,"b":10.0,"c":1e3,"d":12345678901234567890,"e":1.00000000000000000000000000000000005,"f":-0}"#,
        )
        .unwrap();
        assert_eq!(v.field("a"), Value::Int(10));
        assert_eq!(v.field("b"), Value::decimal("10.0"));
        assert_eq!(v.field("c"), Value::decimal("1000"));
        assert_eq!(v.field("d"), Value::Int(12345678901234567890));
        assert_eq!(
            v.field("e"),
            Value::decimal("1.000000000000000000000000000000000")
        );
        assert_eq!(v.field("f"), Value::Int(0));
        assert!(parse_json(b"1e1000").is_err());
        assert_eq!(parse_json(b"1e400").unwrap(), Value::decimal("1e400"));
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
