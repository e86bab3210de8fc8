//! Batched mode's object bodies: rows (the rules' JSON outputs) to JSON Lines or Parquet.
//!
//! Rows are checked when they arrive (`row`), so a bad row fails its own message instead of
//! its whole batch. Parquet infers one Arrow schema from the rows of the object (arrow-json's
//! inference: a field seen with different scalar types becomes a string, objects become
//! structs, arrays lists), decodes them with arrow-json's `Decoder` and writes one row group
//! per object with the parquet crate's `ArrowWriter` (Snappy).
//!
//! Numbers stay exact (AWS's Decimals have 34 digits; a double would round them): a numeric
//! field is Int64 when every value is an integer that fits, otherwise `Decimal128(38, s)` with
//! the largest scale among the object's values, and the exact JSON text when even that cannot
//! hold them all (magnitudes more than 38 digits apart). Rows are decoded from their text, so
//! no number passes through a double.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::{ReaderBuilder, reader::infer_json_schema_from_iterator};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};
use rulewire_engine::Value as Exact;
use rulewire_engine::decimal::Dec;
use rulewire_engine::json_in;
use serde_json::Value;

use super::config::BatchFormat;

/// Validates one row for `format` and returns it as one line of compact JSON (no newline).
pub(crate) fn row(format: BatchFormat, output: &[u8]) -> Result<Bytes, String> {
    let value: Value = serde_json::from_slice(output).map_err(|e| {
        format!("a batched S3 object holds JSON rows, and the rule's output is not JSON: {e}")
    })?;
    if format == BatchFormat::Parquet && !value.is_object() {
        return Err("a Parquet row must be a JSON object; the rule's output is not one (use SELECT ... instead of SELECT VALUE)".into());
    }
    if output.contains(&b'\n') || output.contains(&b'\r') {
        return Ok(Bytes::from(compact(output)));
    }
    Ok(Bytes::copy_from_slice(output))
}

/// Valid JSON without the whitespace between tokens; numbers and strings byte for byte.
fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

/// The object body for `rows` (each from `row`).
pub(crate) fn body(format: BatchFormat, rows: &[Bytes]) -> Result<Bytes, String> {
    match format {
        BatchFormat::Jsonl => Ok(jsonl(rows)),
        BatchFormat::Parquet => {
            parquet(rows).map_err(|e| format!("cannot encode the batch as Parquet: {e}"))
        }
    }
}

fn jsonl(rows: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum());
    for row in rows {
        out.extend_from_slice(row);
        out.push(b'\n');
    }
    out.into()
}

/// Rows as one Arrow batch, with the schema inferred from them.
pub(crate) fn record_batch(
    rows: &[Bytes],
) -> Result<RecordBatch, Box<dyn std::error::Error + Send + Sync>> {
    let values = rows
        .iter()
        .map(|r| serde_json::from_slice::<Value>(r))
        .collect::<Result<Vec<_>, _>>()?;
    let inferred = infer_json_schema_from_iterator(values.iter().map(Ok))?;
    // The rows again, with exact numbers, to choose each numeric field's type.
    let exact = rows
        .iter()
        .map(|r| json_in::parse_json(r).map_err(|_| "a row is not JSON"))
        .collect::<Result<Vec<_>, _>>()?;
    let exact: Vec<&Exact> = exact.iter().collect();
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| exact_field(f, &members(&exact, f.name())))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    for row in rows {
        decoder.decode(row)?;
    }
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// The values of member `name` of every object among `values`.
fn members<'a>(values: &[&'a Exact], name: &str) -> Vec<&'a Exact> {
    values.iter().filter_map(|v| v.field_ref(name)).collect()
}

/// `field` with its numeric leaves typed so that `values` (the field's values) are exact.
fn exact_field(field: &Field, values: &[&Exact]) -> Field {
    let data_type = match field.data_type() {
        DataType::Int64 | DataType::Float64 => number_type(values),
        DataType::Struct(children) => DataType::Struct(
            children
                .iter()
                .map(|c| exact_field(c, &members(values, c.name())))
                .collect(),
        ),
        DataType::List(item) => {
            let items: Vec<&Exact> = values
                .iter()
                .filter_map(|v| match v {
                    Exact::Array(items) => Some(items.iter()),
                    _ => None,
                })
                .flatten()
                .collect();
            DataType::List(Arc::new(exact_field(item, &items)))
        }
        other => other.clone(),
    };
    Field::new(field.name(), data_type, field.is_nullable())
}

/// Int64 when every number is an integer that fits, else the narrowest exact Decimal128, else
/// the numbers' text.
fn number_type(values: &[&Exact]) -> DataType {
    let (mut all_int64, mut scale, mut int_digits) = (true, 0i32, 0i32);
    for v in values {
        let d = match v {
            Exact::Int(i) => {
                all_int64 &= i64::try_from(*i).is_ok();
                Dec::from_int(*i)
            }
            Exact::Decimal(d) => {
                all_int64 = false;
                Some(*d)
            }
            _ => None,
        };
        let Some(d) = d.filter(|d| !d.is_zero()) else {
            continue;
        };
        scale = scale.max(-d.normalized().1);
        int_digits = int_digits.max(d.adjusted_exp() + 1);
    }
    if all_int64 {
        DataType::Int64
    } else if int_digits.max(1) + scale <= 38 {
        DataType::Decimal128(38, scale as i8)
    } else {
        DataType::Utf8
    }
}

fn parquet(rows: &[Bytes]) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    let batch = record_batch(rows)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn read_back(parquet: Bytes) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(parquet)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn rows_are_checked_and_compacted() {
        assert_eq!(
            row(BatchFormat::Jsonl, b"{\n \"a\": 1\n}").unwrap(),
            Bytes::from_static(b"{\"a\":1}")
        );
        assert_eq!(
            row(BatchFormat::Jsonl, b"31").unwrap(),
            Bytes::from_static(b"31")
        );
        assert!(
            row(BatchFormat::Jsonl, b"\xff\x00")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            row(BatchFormat::Parquet, b"31")
                .unwrap_err()
                .contains("must be a JSON object")
        );
        let rows = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"2")];
        assert_eq!(
            body(BatchFormat::Jsonl, &rows).unwrap(),
            Bytes::from_static(b"{\"a\":1}\n2\n")
        );
    }

    #[test]
    fn parquet_reads_back_with_mixed_types_nulls_and_nesting() {
        let rows: Vec<Bytes> = [
            r#"{"id":1,"v":"x","n":null,"pos":{"lat":1.5},"tags":["a"]}"#,
            r#"{"id":2,"v":7}"#,
            r#"{"id":3,"extra":true}"#,
        ]
        .into_iter()
        .map(|r| Bytes::from(r.to_owned()))
        .collect();
        let data = body(BatchFormat::Parquet, &rows).unwrap();
        let batches = read_back(data);
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.num_rows(), 3);
        let id = b
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(id.values(), &[1, 2, 3]);
        let v = b
            .column_by_name("v")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!((v.value(0), v.value(1), v.is_null(2)), ("x", "7", true));
        assert!(b.column_by_name("extra").unwrap().is_null(0));
    }

    #[test]
    fn parquet_numbers_stay_exact() {
        let rows: Vec<Bytes> = [
            r#"{"f":12.38,"serial":12345678901234567890,"n":1,"pos":{"lat":47.60621},"far":1E-30}"#,
            r#"{"f":0.3333333333333333333333333333333333,"serial":2,"n":2,"pos":{"lat":-122.5},"far":1E+20}"#,
            "{\n\"f\": 5 ,\"serial\":3,\"n\":3}",
        ]
        .into_iter()
        .map(|r| row(BatchFormat::Parquet, r.as_bytes()).unwrap())
        .collect();
        assert_eq!(&rows[2][..], br#"{"f":5,"serial":3,"n":3}"#);
        let data = body(BatchFormat::Parquet, &rows).unwrap();
        let batches = read_back(data);
        let b = &batches[0];
        let text = |name: &str| {
            let c = b.column_by_name(name).unwrap();
            (0..c.len())
                .map(|i| match c.data_type() {
                    DataType::Decimal128(..) => c
                        .as_any()
                        .downcast_ref::<arrow_array::Decimal128Array>()
                        .unwrap()
                        .value_as_string(i),
                    DataType::Utf8 => c
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap()
                        .value(i)
                        .to_owned(),
                    other => panic!("{name} is {other}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            b.column_by_name("f").unwrap().data_type(),
            &DataType::Decimal128(38, 34)
        );
        assert_eq!(
            text("f"),
            [
                "12.3800000000000000000000000000000000",
                "0.3333333333333333333333333333333333",
                "5.0000000000000000000000000000000000"
            ]
        );
        assert_eq!(text("serial"), ["12345678901234567890", "2", "3"]);
        assert_eq!(b.column_by_name("n").unwrap().data_type(), &DataType::Int64);
        // 1E-30 and 1E+20 need 51 digits at one scale: the exact text.
        assert_eq!(
            b.column_by_name("far").unwrap().data_type(),
            &DataType::Utf8
        );
        assert_eq!(text("far")[..2], ["1E-30", "1E+20"]);
    }
}
