//! The input side of the vectorised path: which columns a rule, or a group of rules, reads
//! ([`ScanPlan`]), and a batch of messages scanned once into those columns ([`Scanned`]).
//!
//! A rule on its own has a plan of its own columns. Rules that read the same messages (a
//! [`super::group::RuleGroup`]) share one plan with the union of their columns, so each
//! payload is decoded once for all of them; each rule then reads its columns through a
//! [`Member`] (its column → the plan's column).

use super::scan::{Needs, Scalar, scan_reusing};
use crate::eval::Message;
use crate::value::SqlVersion;
use std::borrow::Cow;

/// Where an input column's values come from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Column {
    /// A payload attribute path.
    Path(Vec<String>),
    Topic,
    TopicLevel(usize),
    ClientId,
    Timestamp,
}

/// The columns to extract from every message of a batch, and whether to write `*` output.
#[derive(Debug, Default)]
pub(super) struct ScanPlan {
    columns: Vec<Column>,
    /// The scan slot of each column (`None`: not from the payload).
    slots: Vec<Option<usize>>,
    needs: Needs,
    slot_count: usize,
    star: bool,
    /// Output keys of `*` rules; the scan reports which ones a payload has at its top level.
    conflict_keys: Vec<String>,
}

/// How one rule reads a [`ScanPlan`]'s columns.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// The plan's column for each of the rule's columns.
    pub columns: Vec<usize>,
    /// The plan's conflict bits for the rule's own output keys (when it selects `*`).
    pub conflicts: u64,
}

impl ScanPlan {
    /// Adds a rule reading `columns`, with `*` output when `star`, whose other output keys
    /// are `keys`. `None` when the plan cannot track more conflict keys (64 at most).
    pub fn join(&mut self, columns: &[Column], star: bool, keys: &[String]) -> Option<Member> {
        let mut conflicts = 0u64;
        if star {
            for key in keys {
                let bit = match self.conflict_keys.iter().position(|k| k == key) {
                    Some(bit) => bit,
                    None if self.conflict_keys.len() < 64 => {
                        self.conflict_keys.push(key.clone());
                        self.conflict_keys.len() - 1
                    }
                    None => return None,
                };
                conflicts |= 1 << bit;
            }
            self.star = true;
        }
        let columns = columns.iter().map(|c| self.column(c)).collect();
        Some(Member { columns, conflicts })
    }

    /// The index of `column`, added if new.
    fn column(&mut self, column: &Column) -> usize {
        if let Some(i) = self.columns.iter().position(|c| c == column) {
            return i;
        }
        let slot = match column {
            Column::Path(path) => Some(self.needs.add(path, &mut self.slot_count)),
            _ => None,
        };
        self.columns.push(column.clone());
        self.slots.push(slot);
        self.columns.len() - 1
    }

    /// Scans every message once for the plan's columns (and `*` text).
    pub fn scan_batch<'a>(&self, msgs: &[Message<'a>], version: SqlVersion) -> Scanned<'a> {
        let width = self.columns.len();
        let mut out = Scanned {
            width,
            values: Vec::with_capacity(msgs.len() * width),
            row: Vec::with_capacity(msgs.len()),
            conflicts: Vec::with_capacity(msgs.len()),
            star_text: Vec::with_capacity(if self.star { star_room(msgs) } else { 0 }),
            star_at: Vec::with_capacity(if self.star { msgs.len() } else { 0 }),
        };
        let mut slots = vec![Scalar::Absent; self.slot_count];
        let mut keys = Vec::new();
        let mut rows = 0;
        for msg in msgs {
            slots.iter_mut().for_each(|s| *s = Scalar::Absent);
            let star_start = out.star_text.len();
            let scanned = scan_reusing(
                msg.payload,
                &self.needs,
                &mut slots,
                self.star.then_some(&mut out.star_text),
                &self.conflict_keys,
                version,
                &mut keys,
            );
            let Ok(conflicts) = scanned else {
                out.star_text.truncate(star_start);
                out.row.push(None);
                out.conflicts.push(0);
                if self.star {
                    out.star_at.push((star_start, star_start));
                }
                continue;
            };
            for (column, slot) in self.columns.iter().zip(&self.slots) {
                out.values.push(match (column, slot) {
                    (_, Some(s)) => std::mem::replace(&mut slots[*s], Scalar::Absent),
                    (Column::Path(_), None) => unreachable!("every path column has a slot"),
                    (Column::Topic, _) => Scalar::Str(Cow::Borrowed(msg.topic)),
                    (Column::TopicLevel(n), _) => msg
                        .topic
                        .split('/')
                        .nth(n - 1)
                        .map(|s| Scalar::Str(Cow::Borrowed(s)))
                        .unwrap_or(Scalar::Absent),
                    (Column::ClientId, _) => {
                        Scalar::Str(Cow::Borrowed(if msg.client_id.is_empty() {
                            "n/a"
                        } else {
                            msg.client_id
                        }))
                    }
                    (Column::Timestamp, _) => Scalar::Int(msg.timestamp_ms),
                });
            }
            out.row.push(Some(rows));
            rows += 1;
            out.conflicts.push(conflicts);
            if self.star {
                out.star_at.push((star_start, out.star_text.len()));
            }
        }
        out
    }
}

/// Room for a batch's canonical `*` text up front, so that it is not moved as it grows
/// (about ten times per batch): the size of the payloads that can be JSON objects (the text
/// drops whitespace and braces and copies most numbers as written; other payloads add
/// nothing), at most 1 MiB (past that, growth is amortised anyway).
fn star_room(msgs: &[Message]) -> usize {
    msgs.iter()
        .filter(|m| m.payload.trim_ascii_start().first() == Some(&b'{'))
        .map(|m| m.payload.len())
        .sum::<usize>()
        .min(1 << 20)
}

/// One batch scanned by a [`ScanPlan`].
pub(super) struct Scanned<'a> {
    width: usize,
    /// Row-major: one row of `width` values per message that scanned.
    values: Vec<Scalar<'a>>,
    /// Each message's row in `values`; `None` when it did not scan (not a JSON object, invalid,
    /// a repeated key, ...): the row path decides those.
    row: Vec<Option<usize>>,
    /// Each message's conflict bits (see [`ScanPlan::join`]).
    conflicts: Vec<u64>,
    /// Canonical `*` members of every message, back to back; `star_at[i]` is message i's range.
    star_text: Vec<u8>,
    star_at: Vec<(usize, usize)>,
}

impl<'a> Scanned<'a> {
    /// Message `message`'s row, unless it needs the row path for a rule reading through `member`.
    pub fn row_for(&self, message: usize, member: &Member) -> Option<usize> {
        let row = self.row[message]?;
        (self.conflicts[message] & member.conflicts == 0).then_some(row)
    }

    /// The value of plan column `column` in `row`.
    pub fn cell(&self, row: usize, column: usize) -> &Scalar<'a> {
        &self.values[row * self.width + column]
    }

    /// Message `message`'s canonical `*` members (`"k":v,...`).
    pub fn star(&self, message: usize) -> &[u8] {
        let (start, end) = self.star_at[message];
        &self.star_text[start..end]
    }
}
