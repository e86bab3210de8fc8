//! Evaluating a signature group's compiled expressions on its RecordBatch and encoding the
//! fired rows to JSON, straight from the Arrow arrays.

use super::input::Scanned;
use super::physical::Compiled;
use super::{OutItem, Shape, Signature};
use crate::json_out::{write_int, write_json_str, write_scaled_decimal};
use crate::value::SqlVersion;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use arrow::record_batch::RecordBatch;

/// Runs WHERE and SELECT for a signature group (`rows`: message index, row in `scanned`);
/// returns one output per row (None = not fired), or None when DataFusion reports an error
/// (overflow, division by zero): the row path then decides.
pub(super) fn run(
    shape: &Shape,
    sig: &Signature,
    batch: &RecordBatch,
    rows: &[super::MessageRow],
    scanned: &Scanned,
    version: SqlVersion,
) -> Option<Vec<Option<Vec<u8>>>> {
    let n = batch.num_rows();
    // Which rows fire.
    let fired: Vec<usize> = match &sig.filter {
        None => (0..n).collect(),
        Some(Compiled::Undefined) => Vec::new(),
        Some(Compiled::Expr { expr, .. }) => {
            let mask = expr.evaluate(batch).ok()?.into_array(n).ok()?;
            if mask.data_type() != &DataType::Boolean {
                Vec::new()
            } else {
                let mask = mask.as_boolean();
                (0..n)
                    .filter(|&i| mask.is_valid(i) && mask.value(i))
                    .collect()
            }
        }
    };
    let mut out: Vec<Option<Vec<u8>>> = vec![None; n];
    if fired.is_empty() {
        return Some(out);
    }
    let filtered;
    let eval_batch = if fired.len() == n {
        batch
    } else {
        let mask: arrow::array::BooleanArray = (0..n)
            .map(|i| Some(fired.binary_search(&i).is_ok()))
            .collect();
        filtered = filter_record_batch(batch, &mask).ok()?;
        &filtered
    };
    let m = eval_batch.num_rows();
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(sig.outputs.len());
    for o in &sig.outputs {
        arrays.push(match o {
            Some(Compiled::Expr { expr, .. }) => {
                Some(expr.evaluate(eval_batch).ok()?.into_array(m).ok()?)
            }
            _ => None,
        });
    }
    let has_star = shape.items.iter().any(|i| matches!(i, OutItem::Star));
    for (j, &row) in fired.iter().enumerate() {
        // Room for the copied `*` members up front: the buffer is not grown twice per message.
        let star_len = if has_star {
            scanned.star(rows[row].0).len()
        } else {
            0
        };
        let mut buf = Vec::with_capacity(64 + star_len);
        if shape.value.is_some() {
            if let Some(a) = &arrays[0] {
                write_cell(&mut buf, a, j, version);
            }
        } else {
            buf.push(b'{');
            let mut first = true;
            let mut k = 0;
            for item in &shape.items {
                match item {
                    OutItem::Star => {
                        let star = scanned.star(rows[row].0);
                        if !star.is_empty() {
                            if !first {
                                buf.push(b',');
                            }
                            buf.extend_from_slice(star);
                            first = false;
                        }
                    }
                    OutItem::Expr { key, .. } => {
                        if let Some(a) = &arrays[k]
                            && a.is_valid(j)
                            && a.data_type() != &DataType::Null
                        {
                            if !first {
                                buf.push(b',');
                            }
                            write_json_str(&mut buf, key);
                            buf.push(b':');
                            write_cell(&mut buf, a, j, version);
                            first = false;
                        }
                        k += 1;
                    }
                }
            }
            buf.push(b'}');
        }
        out[row] = Some(buf);
    }
    Some(out)
}

/// Writes row `i` of `a` as JSON; nothing for NULL (Undefined).
fn write_cell(buf: &mut Vec<u8>, a: &ArrayRef, i: usize, version: SqlVersion) {
    if !a.is_valid(i) {
        return;
    }
    match a.data_type() {
        DataType::Int64 => write_int(buf, a.as_primitive::<Int64Type>().value(i)),
        DataType::Decimal128(_, scale) => write_scaled_decimal(
            buf,
            a.as_primitive::<Decimal128Type>().value(i),
            *scale,
            version,
        ),
        DataType::Utf8 => write_json_str(buf, a.as_string::<i32>().value(i)),
        DataType::Boolean => buf.extend_from_slice(if a.as_boolean().value(i) {
            b"true"
        } else {
            b"false"
        }),
        _ => {}
    }
}
