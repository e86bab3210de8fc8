//! Batched mode's object bodies: rows (the rules' JSON outputs) to JSON Lines or Parquet.
//!
//! Rows are checked when they arrive (`row`), so a bad row fails its own message instead of
//! its whole batch. Parquet infers one Arrow schema from the rows of the object (arrow-json's
//! inference: a field seen with different scalar types becomes a string, objects become
//! structs, arrays lists), decodes them with arrow-json's `Decoder` and writes one row group
//! per object with the parquet crate's `ArrowWriter` (Snappy).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::{ReaderBuilder, reader::infer_json_schema_from_iterator};
use bytes::Bytes;
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};
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
        return Ok(Bytes::from(
            serde_json::to_vec(&value).expect("a parsed value serializes"),
        ));
    }
    Ok(Bytes::copy_from_slice(output))
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
    let schema = Arc::new(infer_json_schema_from_iterator(values.iter().map(Ok))?);
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(values.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    decoder.serialize(&values)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
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
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(data)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
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
}
