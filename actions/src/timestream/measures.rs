//! The rule's output as Timestream measures, as AWS's Timestream action writes them: one
//! measure per top-level attribute of the output object, its type inferred from the JSON
//! value (AWS's "Amazon Timestream record content" table):
//!
//! - `true` / `false` → BOOLEAN;
//! - a number without fraction or exponent → BIGINT (one beyond 64 bits: DOUBLE, since
//!   BIGINT cannot hold it);
//! - a number with a fraction or exponent (`21.5`, `1e3`) → DOUBLE, its exact text;
//! - a string → VARCHAR, unchanged (`"true"` and `"12"` stay strings);
//! - an object or array → VARCHAR holding its JSON text;
//! - null → no record (Timestream measures cannot be null; AWS documents no case).
//!
//! With SQL 2016-03-23 a whole-number Decimal prints as an Int, so `10.0` is a BIGINT here as
//! on AWS (AWS's note on this action); `cast(... AS Decimal)` does not change that.

use aws_sdk_timestreamwrite::types::MeasureValueType;
use rulewire_engine::{
    SqlVersion, Value,
    json_in::{Payload, parse_payload},
    json_out::{format_decimal, to_json_string},
};

/// One measure: (name, value text, type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measure {
    pub name: String,
    pub value: String,
    pub value_type: MeasureValueType,
}

/// The measures of one output; `Err` says why the output has none.
pub(crate) fn measures(output: &[u8], version: SqlVersion) -> Result<Vec<Measure>, String> {
    let obj = match parse_payload(output) {
        Payload::Json(Value::Object(obj)) => obj,
        Payload::Json(_) | Payload::Binary { .. } => {
            return Err(
                "the output is not a JSON object: Timestream writes one record per \
                        top-level attribute of the rule's output"
                    .to_owned(),
            );
        }
    };
    let measures: Vec<Measure> = obj
        .iter()
        .filter_map(|(name, v)| {
            let (value, value_type) = typed(v, version)?;
            Some(Measure {
                name: name.clone(),
                value,
                value_type,
            })
        })
        .collect();
    if measures.is_empty() {
        return Err("the output has no attribute to write as a measure".to_owned());
    }
    Ok(measures)
}

/// A value's measure text and type; `None` for null (and Undefined).
fn typed(v: &Value, version: SqlVersion) -> Option<(String, MeasureValueType)> {
    Some(match v {
        Value::Undefined | Value::Null => return None,
        Value::Bool(b) => (b.to_string(), MeasureValueType::Boolean),
        Value::Int(i) if i64::try_from(*i).is_ok() => (i.to_string(), MeasureValueType::Bigint),
        Value::Int(i) => (i.to_string(), MeasureValueType::Double),
        Value::Decimal(d) => (format_decimal(*d), MeasureValueType::Double),
        Value::String(s) => (s.clone(), MeasureValueType::Varchar),
        Value::Array(_) | Value::Object(_) | Value::Binary(_) => {
            (to_json_string(v, version), MeasureValueType::Varchar)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's example payload from the Timestream action page, measure by measure.
    #[test]
    fn measures_are_typed_as_aws_documents() {
        let output = br#"{"boolean_value":true,"integer_value":123456789012,"double_value":123.456789012,"string_value":"String value","boolean_value_as_string":"true","integer_value_as_string":"123456789012","array_of_integers":[23,36,56,72],"complex_value":{"simple_element":42,"array of strings":["red","green"]},"huge":123456789012345678901234,"exp":1.5E-8,"nothing":null}"#;
        let got: Vec<(String, String, MeasureValueType)> = measures(output, SqlVersion::default())
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.value, m.value_type))
            .collect();
        use MeasureValueType::*;
        let expected = [
            ("boolean_value", "true", Boolean),
            ("integer_value", "123456789012", Bigint),
            ("double_value", "123.456789012", Double),
            ("string_value", "String value", Varchar),
            ("boolean_value_as_string", "true", Varchar),
            ("integer_value_as_string", "123456789012", Varchar),
            ("array_of_integers", "[23,36,56,72]", Varchar),
            (
                "complex_value",
                r#"{"simple_element":42,"array of strings":["red","green"]}"#,
                Varchar,
            ),
            ("huge", "123456789012345678901234", Double),
            ("exp", "1.5E-8", Double),
        ];
        let expected: Vec<(String, String, MeasureValueType)> = expected
            .into_iter()
            .map(|(n, v, t)| (n.to_owned(), v.to_owned(), t))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn outputs_without_measures_are_errors() {
        let v = SqlVersion::default();
        for output in [&b"[1]"[..], b"12", b"\xff", b"{}", br#"{"a":null}"#] {
            assert!(measures(output, v).is_err(), "{output:?}");
        }
        assert!(measures(b"7", v).unwrap_err().contains("not a JSON object"));
        assert!(measures(b"{}", v).unwrap_err().contains("no attribute"));
    }
}
