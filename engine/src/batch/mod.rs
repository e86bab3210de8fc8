//! The vectorised path: a batch of messages → Arrow columns → DataFusion physical expressions
//! → one payload per fired message.
//!
//! At rule load, [`BatchPlan::new`] decides whether the rule's shape fits (SELECT items or
//! VALUE over attribute paths, literals, operators, `topic()`, `topic(n)`, `clientid()`,
//! `timestamp()`; `*`; single-level output keys) and lists the input columns. Per batch:
//! 1. every payload is scanned once ([`scan`]) for just those columns (+ canonical `*` text);
//!    rules that read the same messages share that scan ([`group::RuleGroup`]);
//! 2. messages are grouped by type signature (the Arrow type of each column in that message);
//! 3. each signature is compiled once ([`physical`]) and cached; the group's columns become a
//!    `RecordBatch`; WHERE is evaluated, the batch filtered, the SELECT expressions evaluated;
//! 4. rows are encoded to JSON ([`encode`]).
//!
//! Messages the path cannot take exactly (invalid or non-object JSON, null/object/array
//! values in used fields, a signature outside the supported operator tables, an arithmetic
//! overflow) go to the row-at-a-time reference evaluator, so results are always exact.

mod decimal_exprs;
mod encode;
pub mod group;
mod guards;
mod input;
pub mod physical;
pub mod scan;

use crate::ast::{Expr, Projection, Query, SelectItem, Source};
use crate::eval::{Evaluation, Message, evaluate_query};
use crate::value::{SqlVersion, Value};
use arrow::array::{ArrayRef, BooleanArray, Int64Array, NullArray, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use input::{Column, Member, ScanPlan, Scanned};
use physical::{Compiled, Inputs, Kind};
use scan::Scalar;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A message of a batch and its row in the batch's [`Scanned`] values.
type MessageRow = (usize, usize);

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
    /// The input columns the rule's expressions read (compiled against their positions).
    columns: Vec<Column>,
    /// The rule's own scan plan, for batches it evaluates alone, and how it reads it.
    scan: ScanPlan,
    member: Member,
    /// Output keys (for `*` conflict detection).
    keys: Vec<String>,
    items: Vec<OutItem>,
    value: Option<Expr>,
    filter: Option<Expr>,
    star: bool,
    cache: Mutex<HashMap<Vec<Kind>, Option<Arc<Signature>>>>,
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
fn column_source(e: &Expr) -> Option<Column> {
    match e {
        Expr::Field(_) | Expr::Member(..) => path_of(e).map(Column::Path),
        Expr::Call { name, args, .. } => match (name.as_str(), args.as_slice()) {
            ("topic", []) => Some(Column::Topic),
            ("topic", [Expr::Literal(Value::Int(n))]) if *n >= 1 => {
                Some(Column::TopicLevel(*n as usize))
            }
            ("clientid", []) => Some(Column::ClientId),
            ("timestamp", []) => Some(Column::Timestamp),
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
fn collect(e: &Expr, cols: &mut Vec<Column>) -> bool {
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
        if let Some(w) = &q.filter
            && !collect(w, &mut columns)
        {
            return None;
        }
        let mut scan = ScanPlan::default();
        let member = scan.join(&columns, star, &keys)?;
        Some(Shape {
            columns,
            scan,
            member,
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
        if let Some(signature) = cache.get(kinds) {
            return signature.clone();
        }
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

    /// Evaluates a batch on its own: one scan for this rule's columns.
    fn evaluate(
        &self,
        q: &Query,
        version: SqlVersion,
        msgs: &[Message],
    ) -> (Vec<Evaluation>, usize) {
        let scanned = self.scan.scan_batch(msgs, version);
        self.evaluate_scanned(q, version, msgs, &scanned, &self.member)
    }

    /// Evaluates a batch already scanned by a plan this rule joined as `member`.
    fn evaluate_scanned(
        &self,
        q: &Query,
        version: SqlVersion,
        msgs: &[Message],
        scanned: &Scanned,
        member: &Member,
    ) -> (Vec<Evaluation>, usize) {
        let mut vectorised = 0;
        let mut results: Vec<Option<Evaluation>> = vec![None; msgs.len()];
        // Each type signature with its messages: (message index, row in `scanned`).
        let mut groups: Vec<(Vec<Kind>, Vec<MessageRow>)> = Vec::new();
        let mut kinds = vec![Kind::Absent; self.columns.len()];
        for (i, msg) in msgs.iter().enumerate() {
            let row = scanned.row_for(i, member).filter(|&row| {
                member
                    .columns
                    .iter()
                    .zip(&mut kinds)
                    .all(|(&column, kind)| {
                        *kind = match scanned.cell(row, column) {
                            Scalar::Absent => Kind::Absent,
                            Scalar::Int(_) => Kind::Int,
                            Scalar::Dec(_) => Kind::Dec,
                            Scalar::Str(_) => Kind::Str,
                            Scalar::Bool(_) => Kind::Bool,
                            Scalar::Other => return false,
                        };
                        true
                    })
            });
            let Some(row) = row else {
                results[i] = Some(evaluate_query(q, msg, version));
                continue;
            };
            match groups.iter_mut().find(|(k, _)| *k == kinds) {
                Some((_, rows)) => rows.push((i, row)),
                None => {
                    // Mostly one signature per batch: the first gets room for the rest of
                    // the batch, later ones grow (a batch of many signatures must not
                    // reserve the batch once per signature).
                    let room = if groups.is_empty() { msgs.len() - i } else { 1 };
                    let mut rows = Vec::with_capacity(room);
                    rows.push((i, row));
                    groups.push((kinds.clone(), rows));
                }
            }
        }
        for (kinds, rows) in &groups {
            let done = self
                .signature(kinds)
                .and_then(|sig| self.run_group(&sig, kinds, rows, scanned, member, version));
            match done {
                Some(outputs) => {
                    vectorised += rows.len();
                    for ((message, _), output) in rows.iter().zip(outputs) {
                        results[*message] = Some(Evaluation {
                            output,
                            parse_error: false,
                        });
                    }
                }
                None => {
                    for (message, _) in rows {
                        results[*message] = Some(evaluate_query(q, &msgs[*message], version));
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

    /// Evaluates one signature group (`rows`: message index, row in `scanned`); `None` means
    /// "use the row path" (an arithmetic error).
    fn run_group(
        &self,
        sig: &Signature,
        kinds: &[Kind],
        rows: &[MessageRow],
        scanned: &Scanned,
        member: &Member,
        version: SqlVersion,
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let columns: Vec<ArrayRef> = kinds
            .iter()
            .zip(&member.columns)
            .map(|(kind, &column)| -> Option<ArrayRef> {
                let cells = rows.iter().map(|&(_, row)| scanned.cell(row, column));
                let array: ArrayRef = match kind {
                    Kind::Absent => Arc::new(NullArray::new(rows.len())),
                    Kind::Int => Arc::new(
                        cells
                            .map(|v| if let Scalar::Int(v) = v { *v } else { 0 })
                            .collect::<Int64Array>(),
                    ),
                    Kind::Dec => decimal_exprs::decimal_column(cells.map(|v| match v {
                        Scalar::Dec(d) => Some(*d),
                        _ => None,
                    }))?,
                    Kind::Bool => Arc::new(
                        cells
                            .map(|v| Some(matches!(v, Scalar::Bool(true))))
                            .collect::<BooleanArray>(),
                    ),
                    Kind::Str => Arc::new(
                        cells
                            .map(|v| {
                                if let Scalar::Str(s) = v {
                                    Some(s.as_ref())
                                } else {
                                    None
                                }
                            })
                            .collect::<StringArray>(),
                    ),
                };
                Some(array)
            })
            .collect::<Option<_>>()?;
        // Decimal columns have this batch's scale: the schema says so.
        let schema = if kinds.contains(&Kind::Dec) {
            let fields: Vec<Field> = sig
                .schema
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            Arc::new(Schema::new(fields))
        } else {
            sig.schema.clone()
        };
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        let batch = RecordBatch::try_new_with_options(schema, columns, &options).ok()?;
        encode::run(self, sig, &batch, rows, scanned, version)
    }
}
