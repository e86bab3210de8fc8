//! The vectorised path: a batch of messages → Arrow columns → DataFusion physical expressions
//! → one payload per fired message.
//!
//! At rule load, [`BatchPlan::new`] decides whether the rule's shape fits (SELECT items or
//! VALUE over attribute paths, literals, operators, `topic()`, `topic(n)`, `clientid()`,
//! `timestamp()`; `*`; single-level output keys) and lists the input columns. Per batch:
//! 1. every payload is scanned once ([`scan`]) for just those columns (+ canonical `*` text);
//! 2. messages are grouped by type signature (the Arrow type of each column in that message);
//! 3. each signature is compiled once ([`physical`]) and cached; the group's columns become a
//!    `RecordBatch`; WHERE is evaluated, the batch filtered, the SELECT expressions evaluated;
//! 4. rows are encoded to JSON ([`encode`]).
//!
//! Messages the path cannot take exactly (invalid or non-object JSON, null/object/array
//! values in used fields, a signature outside the supported operator tables, an arithmetic
//! overflow) go to the row-at-a-time reference evaluator, so results are always exact.

mod encode;
pub mod physical;
pub mod scan;

use crate::ast::{Expr, Projection, Query, SelectItem, Source};
use crate::eval::{Evaluation, Message, evaluate_query};
use crate::value::{SqlVersion, Value};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use physical::{Compiled, Inputs, Kind};
use scan::{Needs, Scalar, scan};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where an input column's values come from.
#[derive(Debug, Clone, PartialEq)]
enum Source_ {
    /// A payload attribute path (slot in the scan).
    Path(Vec<String>),
    Topic,
    TopicLevel(usize),
    ClientId,
    Timestamp,
}

/// One output item of the vectorised projection.
#[derive(Debug)]
enum OutItem {
    Star,
    Expr { key: String, expr: Expr },
}

/// The per-rule vectorised plan, or `None` when the rule's shape needs the row path.
#[derive(Debug)]
pub struct BatchPlan {
    shape: Option<Shape>,
}

#[derive(Debug)]
struct Shape {
    columns: Vec<Source_>,
    needs: Needs,
    /// Output keys (for `*` conflict detection).
    keys: Vec<String>,
    items: Vec<OutItem>,
    value: Option<Expr>,
    filter: Option<Expr>,
    star: bool,
    cache: Mutex<HashMap<Vec<Kind>, Option<Arc<Signature>>>>,
}

/// The canonical `*` members of a batch's messages.
pub(crate) struct Stars<'a> {
    text: &'a [u8],
    at: &'a [(usize, usize)],
}

impl Stars<'_> {
    fn of(&self, message: usize) -> &[u8] {
        let (start, end) = self.at[message];
        &self.text[start..end]
    }
}

/// A rule compiled for one type signature.
#[derive(Debug)]
struct Signature {
    schema: Arc<Schema>,
    filter: Option<Compiled>,
    outputs: Vec<Option<Compiled>>,
}

impl Inputs for Shape {
    fn column_of(&self, e: &Expr) -> Option<usize> {
        let src = column_source(e)?;
        self.columns.iter().position(|c| *c == src)
    }
}

/// The input column an expression is, if it is one.
fn column_source(e: &Expr) -> Option<Source_> {
    match e {
        Expr::Field(_) | Expr::Member(..) => path_of(e).map(Source_::Path),
        Expr::Call { name, args, .. } => match (name.as_str(), args.as_slice()) {
            ("topic", []) => Some(Source_::Topic),
            ("topic", [Expr::Literal(Value::Int(n))]) if *n >= 1 => {
                Some(Source_::TopicLevel(*n as usize))
            }
            ("clientid", []) => Some(Source_::ClientId),
            ("timestamp", []) => Some(Source_::Timestamp),
            _ => None,
        },
        _ => None,
    }
}

fn path_of(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Field(name) => Some(vec![name.clone()]),
        Expr::Member(inner, name) => {
            let mut p = path_of(inner)?;
            p.push(name.clone());
            Some(p)
        }
        _ => None,
    }
}

/// Collects the columns of a supported expression; false when the expression is outside the
/// vectorisable syntax (types are checked later, per signature).
fn collect(e: &Expr, cols: &mut Vec<Source_>) -> bool {
    if let Some(src) = column_source(e) {
        if !cols.contains(&src) {
            cols.push(src);
        }
        return true;
    }
    match e {
        Expr::Literal(Value::Int(_) | Value::Decimal(_) | Value::String(_) | Value::Bool(_)) => {
            true
        }
        Expr::Unary(_, x) => collect(x, cols),
        Expr::Binary(_, l, r) => collect(l, cols) && collect(r, cols),
        _ => false,
    }
}

impl BatchPlan {
    pub fn new(q: &Query) -> BatchPlan {
        BatchPlan {
            shape: Shape::new(q),
        }
    }

    pub fn is_vectorised(&self) -> bool {
        self.shape.is_some()
    }

    /// Evaluates a batch; also returns how many messages took the vectorised path.
    pub fn evaluate(
        &self,
        q: &Query,
        version: SqlVersion,
        msgs: &[Message],
    ) -> (Vec<Evaluation>, usize) {
        match &self.shape {
            Some(shape) => shape.evaluate(q, version, msgs),
            None => (
                msgs.iter().map(|m| evaluate_query(q, m, version)).collect(),
                0,
            ),
        }
    }
}

impl Shape {
    fn new(q: &Query) -> Option<Shape> {
        if !q.set.is_empty() || matches!(q.source, Source::Attribute(_)) {
            return None;
        }
        let mut columns = Vec::new();
        let mut items = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut value = None;
        let mut star = false;
        match &q.projection {
            Projection::Value(e) => {
                if !collect(e, &mut columns) {
                    return None;
                }
                value = Some(e.clone());
            }
            Projection::Items(list) => {
                for item in list {
                    match item {
                        SelectItem::Star if !star => {
                            star = true;
                            items.push(OutItem::Star);
                        }
                        SelectItem::Expr { expr, key }
                            if key.len() == 1 && !keys.contains(&key[0]) =>
                        {
                            if !collect(expr, &mut columns) {
                                return None;
                            }
                            keys.push(key[0].clone());
                            items.push(OutItem::Expr {
                                key: key[0].clone(),
                                expr: expr.clone(),
                            });
                        }
                        _ => return None,
                    }
                }
                // `SELECT *` alone passes non-object payloads through; only objects are scanned.
            }
        }
        if let Some(w) = &q.filter {
            if !collect(w, &mut columns) {
                return None;
            }
        }
        let mut needs = Needs::default();
        let mut next = 0;
        for c in &columns {
            if let Source_::Path(p) = c {
                needs.add(p, &mut next);
            }
        }
        Some(Shape {
            columns,
            needs,
            keys,
            items,
            value,
            filter: q.filter.clone(),
            star,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn signature(&self, kinds: &[Kind]) -> Option<Arc<Signature>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(kinds.to_vec())
            .or_insert_with(|| self.compile(kinds).map(Arc::new))
            .clone()
    }

    fn compile(&self, kinds: &[Kind]) -> Option<Signature> {
        let fields: Vec<Field> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| Field::new(format!("c{i}"), k.data_type(), true))
            .collect();
        let filter = match &self.filter {
            Some(w) => Some(physical::compile(w, self, kinds).ok()?),
            None => None,
        };
        let exprs: Vec<&Expr> = match &self.value {
            Some(v) => vec![v],
            None => self
                .items
                .iter()
                .filter_map(|i| {
                    if let OutItem::Expr { expr, .. } = i {
                        Some(expr)
                    } else {
                        None
                    }
                })
                .collect(),
        };
        let mut outputs = Vec::with_capacity(exprs.len());
        for e in exprs {
            outputs.push(Some(physical::compile(e, self, kinds).ok()?));
        }
        Some(Signature {
            schema: Arc::new(Schema::new(fields)),
            filter,
            outputs,
        })
    }

    fn evaluate(
        &self,
        q: &Query,
        version: SqlVersion,
        msgs: &[Message],
    ) -> (Vec<Evaluation>, usize) {
        let mut vectorised = 0;
        let mut results: Vec<Option<Evaluation>> = vec![None; msgs.len()];
        let ncols = self.columns.len();
        let mut values: Vec<Scalar> = Vec::with_capacity(msgs.len() * ncols);
        // Canonical `*` members of every message, back to back; `star_at[i]` is message i's range.
        let mut star_text: Vec<u8> = Vec::new();
        let mut star_at: Vec<(usize, usize)> = if self.star {
            vec![(0, 0); msgs.len()]
        } else {
            Vec::new()
        };
        let mut groups: Vec<(Vec<Kind>, Vec<usize>)> = Vec::new();
        let mut slots = vec![Scalar::Absent; self.needs_len()];
        let mut kinds = vec![Kind::Absent; ncols];
        for (i, msg) in msgs.iter().enumerate() {
            slots.iter_mut().for_each(|s| *s = Scalar::Absent);
            let star_start = star_text.len();
            let scanned = scan(
                msg.payload,
                &self.needs,
                &mut slots,
                self.star.then_some(&mut star_text),
                &self.keys,
                version,
            );
            let row_start = values.len();
            let mut ok = scanned.is_ok();
            let mut slot_iter = 0usize;
            for (c, src) in self.columns.iter().enumerate() {
                let v = match src {
                    Source_::Path(_) => {
                        slot_iter += 1;
                        std::mem::replace(&mut slots[slot_iter - 1], Scalar::Absent)
                    }
                    Source_::Topic => Scalar::Str(Cow::Borrowed(msg.topic)),
                    Source_::TopicLevel(n) => msg
                        .topic
                        .split('/')
                        .nth(n - 1)
                        .map(|s| Scalar::Str(Cow::Borrowed(s)))
                        .unwrap_or(Scalar::Absent),
                    Source_::ClientId => Scalar::Str(Cow::Borrowed(if msg.client_id.is_empty() {
                        "n/a"
                    } else {
                        msg.client_id
                    })),
                    Source_::Timestamp => Scalar::Int(msg.timestamp_ms),
                };
                kinds[c] = match &v {
                    Scalar::Absent => Kind::Absent,
                    Scalar::Int(_) => Kind::Int,
                    Scalar::Dec(_) => Kind::Dec,
                    Scalar::Str(_) => Kind::Str,
                    Scalar::Bool(_) => Kind::Bool,
                    Scalar::Other => {
                        ok = false;
                        Kind::Absent
                    }
                };
                values.push(v);
            }
            if !ok {
                values.truncate(row_start);
                star_text.truncate(star_start);
                results[i] = Some(evaluate_query(q, msg, version));
                continue;
            }
            if self.star {
                star_at[i] = (star_start, star_text.len());
            }
            match groups.iter_mut().find(|(k, _)| *k == kinds) {
                Some((_, rows)) => rows.push(i),
                None => groups.push((kinds.clone(), vec![i])),
            }
            // Remember where this message's values start.
            debug_assert_eq!(values.len(), row_start + ncols);
        }
        // Index of each vectorised message's values.
        let mut value_row = vec![usize::MAX; msgs.len()];
        let mut next_row = 0;
        for (i, r) in results.iter().enumerate() {
            if r.is_none() {
                value_row[i] = next_row;
                next_row += 1;
            }
        }
        for (kinds, rows) in &groups {
            let stars = Stars {
                text: &star_text,
                at: &star_at,
            };
            let done = self.signature(kinds).and_then(|sig| {
                self.run_group(&sig, kinds, rows, &values, &value_row, &stars, version)
            });
            match done {
                Some(outputs) => {
                    vectorised += rows.len();
                    for (row, output) in rows.iter().zip(outputs) {
                        results[*row] = Some(Evaluation {
                            output,
                            parse_error: false,
                        });
                    }
                }
                None => {
                    for row in rows {
                        results[*row] = Some(evaluate_query(q, &msgs[*row], version));
                    }
                }
            }
        }
        (
            results
                .into_iter()
                .map(|r| r.expect("every message evaluated"))
                .collect(),
            vectorised,
        )
    }

    fn needs_len(&self) -> usize {
        self.columns
            .iter()
            .filter(|c| matches!(c, Source_::Path(_)))
            .count()
    }

    /// Evaluates one signature group; `None` means "use the row path" (an arithmetic error).
    #[allow(clippy::too_many_arguments)]
    fn run_group(
        &self,
        sig: &Signature,
        kinds: &[Kind],
        rows: &[usize],
        values: &[Scalar],
        value_row: &[usize],
        stars: &Stars,
        version: SqlVersion,
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let ncols = kinds.len();
        let columns: Vec<ArrayRef> = kinds
            .iter()
            .enumerate()
            .map(|(c, kind)| {
                let cell = |r: &usize| &values[value_row[*r] * ncols + c];
                let array: ArrayRef = match kind {
                    Kind::Absent => Arc::new(NullArray::new(rows.len())),
                    Kind::Int => Arc::new(
                        rows.iter()
                            .map(|r| if let Scalar::Int(v) = cell(r) { *v } else { 0 })
                            .collect::<Int64Array>(),
                    ),
                    Kind::Dec => Arc::new(
                        rows.iter()
                            .map(|r| {
                                if let Scalar::Dec(v) = cell(r) {
                                    *v
                                } else {
                                    0.0
                                }
                            })
                            .collect::<Float64Array>(),
                    ),
                    Kind::Bool => Arc::new(
                        rows.iter()
                            .map(|r| Some(matches!(cell(r), Scalar::Bool(true))))
                            .collect::<BooleanArray>(),
                    ),
                    Kind::Str => Arc::new(
                        rows.iter()
                            .map(|r| {
                                if let Scalar::Str(s) = cell(r) {
                                    Some(s.as_ref())
                                } else {
                                    None
                                }
                            })
                            .collect::<StringArray>(),
                    ),
                };
                array
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        let batch =
            RecordBatch::try_new_with_options(sig.schema.clone(), columns, &options).ok()?;
        encode::run(self, sig, &batch, rows, stars, version)
    }
}
