//! DynamoDB values as both DynamoDB actions write them: the rule's output as an attribute
//! value, key values of a declared type, table-name checks, and which errors are worth
//! another attempt. Shared by `dynamodb` (one payload column) and `dynamodb_v2` (one column
//! per top-level key).
//!
//! JSON maps to DynamoDB as AWS's own JSON-to-item conversion does: numbers are `N` with the
//! number's exact text (never through a float), strings `S`, booleans `BOOL`, null `NULL`,
//! objects `M`, arrays `L`. Output that is not JSON is binary (`B`).

use std::collections::HashMap;

use aws_sdk_dynamodb::{primitives::Blob, types::AttributeValue};
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rulewire_engine::{
    Value,
    json_in::{Payload, parse_payload},
    json_out::format_decimal,
};

use crate::{
    aws::attempt_error,
    delivery::{AttemptError, Rejected},
};

/// A DynamoDB item or key: attribute name to value.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The output as one attribute value: its JSON value converted, or `B` when it is not JSON.
pub(crate) fn output_value(output: &[u8]) -> AttributeValue {
    match parse_payload(output) {
        Payload::Json(v) => attribute(&v),
        Payload::Binary { .. } => AttributeValue::B(Blob::new(output)),
    }
}

/// The output's top-level keys as the attributes of one item (`dynamodb_v2`); `Err` says
/// why the output is not a JSON object.
pub(crate) fn output_item(output: &[u8]) -> Result<Item, String> {
    match parse_payload(output) {
        Payload::Json(Value::Object(obj)) => Ok(obj
            .iter()
            .filter(|(_, v)| !v.is_undefined())
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect()),
        Payload::Json(other) => Err(format!(
            "the output is a JSON {}, not an object: DynamoDBv2 writes one column per \
             top-level key, so the rule's SELECT must produce a JSON object",
            json_kind(&other)
        )),
        Payload::Binary { .. } => Err(
            "the output is not JSON: DynamoDBv2 writes one column per top-level key of a JSON \
             object"
                .to_owned(),
        ),
    }
}

/// One JSON value as a DynamoDB attribute value.
pub(crate) fn attribute(v: &Value) -> AttributeValue {
    match v {
        Value::Undefined | Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Int(i) => AttributeValue::N(i.to_string()),
        Value::Decimal(d) => AttributeValue::N(format_decimal(*d)),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Binary(b) => AttributeValue::B(Blob::new(b.clone())),
        Value::Array(items) => AttributeValue::L(
            items
                .iter()
                .filter(|i| !i.is_undefined())
                .map(attribute)
                .collect(),
        ),
        Value::Object(obj) => AttributeValue::M(
            obj.iter()
                .filter(|(_, v)| !v.is_undefined())
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect(),
        ),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Int(_) | Value::Decimal(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Bool(_) => "boolean",
        _ => "null",
    }
}

/// AWS's `hashKeyType` / `rangeKeyType`: how a rendered key value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    /// `S` (AWS's default).
    String,
    /// `N`: the rendered text must be a number.
    Number,
}

impl KeyType {
    /// `STRING` or `NUMBER`, as AWS spells them.
    pub(crate) fn parse(text: &str) -> Result<KeyType, String> {
        match text {
            "STRING" => Ok(KeyType::String),
            "NUMBER" => Ok(KeyType::Number),
            other => Err(format!("expected STRING or NUMBER, got {other:?}")),
        }
    }

    /// The key attribute for a (rendered or literal) value; `Err` says what is wrong with it.
    pub(crate) fn key_value(self, text: String) -> Result<AttributeValue, String> {
        if text.is_empty() {
            return Err("must not be empty (DynamoDB keys cannot be)".to_owned());
        }
        match self {
            KeyType::String => Ok(AttributeValue::S(text)),
            KeyType::Number if is_number(&text) => Ok(AttributeValue::N(text)),
            KeyType::Number => Err(format!("{text:?} is not a number (the key type is NUMBER)")),
        }
    }
}

/// DynamoDB's number syntax: optional sign, digits with an optional fraction, optional
/// exponent (`-12`, `3.5`, `.5`, `1E+3`).
pub(crate) fn is_number(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Checks a table name (literal or rendered): 3 to 255 of `a-z A-Z 0-9 _ - .`, or a table ARN.
pub(crate) fn check_table_name(name: &str) -> Result<(), String> {
    if name.starts_with("arn:") {
        return Ok(());
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(3..=255).contains(&name.len()) || !name.chars().all(valid) {
        return Err(format!(
            "{name:?} is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _, -, .)"
        ));
    }
    Ok(())
}

/// A permanent failure of one message on `table`.
pub(crate) fn rejected(table: &str, message: impl Into<String>) -> Rejected {
    Rejected {
        resource: table.to_owned(),
        message: message.into(),
    }
}

/// A failed DynamoDB call as an attempt: the shared AWS rules (throttling, 5xx, network),
/// plus DynamoDB's write conflicts, which succeed when tried again.
pub(crate) fn dynamodb_attempt_error<E>(e: &SdkError<E, HttpResponse>) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut attempt = attempt_error(e);
    let conflict = e
        .as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| {
            matches!(
                c,
                "TransactionConflictException" | "ReplicatedWriteConflictException"
            )
        });
    attempt.retryable |= conflict;
    attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn json_maps_to_dynamodb_types_with_exact_numbers() {
        let out = br#"{"i":12345678901234567890123,"d":0.1,"e":1.5E-8,"s":"x","b":true,"n":null,"a":[1,"two",{"z":false}],"o":{"p":2.50}}"#;
        let expected = m(&[
            ("i", AttributeValue::N("12345678901234567890123".into())),
            ("d", AttributeValue::N("0.1".into())),
            ("e", AttributeValue::N("1.5E-8".into())),
            ("s", AttributeValue::S("x".into())),
            ("b", AttributeValue::Bool(true)),
            ("n", AttributeValue::Null(true)),
            (
                "a",
                AttributeValue::L(vec![
                    AttributeValue::N("1".into()),
                    AttributeValue::S("two".into()),
                    m(&[("z", AttributeValue::Bool(false))]),
                ]),
            ),
            ("o", m(&[("p", AttributeValue::N("2.5".into()))])),
        ]);
        assert_eq!(output_value(out), expected);
        let AttributeValue::M(item) = expected else {
            unreachable!()
        };
        assert_eq!(output_item(out).unwrap(), item);
        assert_eq!(
            output_value(b"\xff\x00raw"),
            AttributeValue::B(Blob::new(&b"\xff\x00raw"[..]))
        );
        assert_eq!(output_value(b"42"), AttributeValue::N("42".into()));
    }

    #[test]
    fn only_objects_are_items() {
        let e = output_item(b"[1,2]").unwrap_err();
        assert!(
            e.starts_with("the output is a JSON array, not an object"),
            "{e}"
        );
        let e = output_item(b"\"text\"").unwrap_err();
        assert!(e.contains("JSON string"), "{e}");
        let e = output_item(b"not json").unwrap_err();
        assert!(e.starts_with("the output is not JSON"), "{e}");
    }

    #[test]
    fn keys_numbers_and_table_names() {
        assert_eq!(KeyType::parse("NUMBER"), Ok(KeyType::Number));
        assert!(KeyType::parse("number").is_err());
        let n = KeyType::Number;
        assert_eq!(n.key_value("12".into()), Ok(AttributeValue::N("12".into())));
        assert!(
            n.key_value("12a".into())
                .unwrap_err()
                .contains("not a number")
        );
        assert!(KeyType::String.key_value(String::new()).is_err());
        for ok in ["0", "-1", "+2.5", ".5", "5.", "1e10", "1E+3", "-2.5e-7"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "NaN", "inf", "1.2.3", " 1", "0x10",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
        assert!(check_table_name("my-table_1.v2").is_ok());
        assert!(check_table_name("arn:aws:dynamodb:us-east-1:123456789012:table/t").is_ok());
        assert!(check_table_name("ab").is_err());
        assert!(check_table_name("has space").is_err());
    }
}
