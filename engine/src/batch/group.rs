//! Rules that read the same messages (in the service: the rules with one FROM topic filter),
//! evaluated with one decode per message.
//!
//! The vectorised rules of a group that share a SQL version share one [`ScanPlan`]: the union
//! of their columns, with `*` text when any of them selects `*`. Each payload is scanned once
//! per batch and every such rule evaluates on that scan. The other rules (row path, or alone
//! in their version) evaluate the batch on their own. The results are exactly those of
//! [`Rule::evaluate_batch`] for each rule.

use super::input::{Member, ScanPlan};
use crate::compile::Rule;
use crate::eval::{Evaluation, Message};
use crate::value::SqlVersion;
use std::sync::Arc;

/// A set of rules evaluated together on the same batches.
#[derive(Debug)]
pub struct RuleGroup {
    rules: Vec<Arc<Rule>>,
    /// Scans shared by two or more rules (by index into `rules`).
    shared: Vec<SharedScan>,
    /// Rules evaluated on their own.
    alone: Vec<usize>,
}

#[derive(Debug)]
struct SharedScan {
    version: SqlVersion,
    plan: ScanPlan,
    members: Vec<(usize, Member)>,
}

impl RuleGroup {
    pub fn new(rules: Vec<Arc<Rule>>) -> RuleGroup {
        let mut shared: Vec<SharedScan> = Vec::new();
        let mut alone = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let Some(shape) = &rule.plan().shape else {
                alone.push(index);
                continue;
            };
            let version = rule.sql_version();
            let scan = match shared.iter().position(|s| s.version == version) {
                Some(i) => &mut shared[i],
                None => {
                    shared.push(SharedScan {
                        version,
                        plan: ScanPlan::default(),
                        members: Vec::new(),
                    });
                    shared.last_mut().expect("just pushed")
                }
            };
            match scan.plan.join(&shape.columns, shape.star, &shape.keys) {
                Some(member) => scan.members.push((index, member)),
                None => alone.push(index),
            }
        }
        // A scan with one member is that rule's own scan.
        shared.retain(|s| {
            if let [(index, _)] = s.members[..] {
                alone.push(index);
            }
            s.members.len() > 1
        });
        alone.sort_unstable();
        RuleGroup {
            rules,
            shared,
            alone,
        }
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// How many rules evaluate on a scan shared with another rule.
    pub fn sharing(&self) -> usize {
        self.shared.iter().map(|s| s.members.len()).sum()
    }

    /// Evaluates every rule on `msgs`: `result[r][m]` is rule `r` on message `m`.
    pub fn evaluate_batch(&self, msgs: &[Message]) -> Vec<Vec<Evaluation>> {
        let mut results: Vec<Vec<Evaluation>> = vec![Vec::new(); self.rules.len()];
        for s in &self.shared {
            let scanned = s.plan.scan_batch(msgs, s.version);
            for (index, member) in &s.members {
                let rule = &self.rules[*index];
                let shape = rule
                    .plan()
                    .shape
                    .as_ref()
                    .expect("shared rules are vectorised");
                results[*index] = shape
                    .evaluate_scanned(rule.query(), s.version, msgs, &scanned, member)
                    .0;
            }
        }
        for &index in &self.alone {
            results[index] = self.rules[index].evaluate_batch(msgs);
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sql: &str, version: SqlVersion) -> Arc<Rule> {
        Arc::new(Rule::compile(sql, version).unwrap())
    }

    #[test]
    fn vectorised_rules_of_one_version_share_a_scan() {
        let v16 = SqlVersion::V2016_03_23;
        let group = RuleGroup::new(vec![
            rule("SELECT a FROM 't' WHERE b > 1", v16),
            rule("SELECT *, topic() AS t FROM 't'", v16),
            // Row path: a function call outside the vectorised subset.
            rule("SELECT upper(s) AS u FROM 't'", v16),
            // Alone in its version.
            rule("SELECT a FROM 't'", SqlVersion::V2015_10_08),
            rule("SELECT VALUE c FROM 't' WHERE a = 2", v16),
        ]);
        assert_eq!(group.sharing(), 3);
        assert_eq!(group.alone, [2, 3]);
    }

    #[test]
    fn results_equal_each_rule_on_its_own() {
        let v16 = SqlVersion::V2016_03_23;
        let sqls = [
            "SELECT a, b FROM 't/+' WHERE b > 1",
            "SELECT *, topic(2) AS t FROM 't/+'",
            "SELECT *, a AS b FROM 't/+' WHERE a <> 0",
            "SELECT VALUE c FROM 't/+' WHERE a = 2",
            "SELECT a + n.x AS s, clientid() AS id FROM 't/+'",
        ];
        let group = RuleGroup::new(sqls.iter().map(|s| rule(s, v16)).collect());
        assert_eq!(group.sharing(), sqls.len());
        let payloads = [
            r#"{"a": 2, "b": 3, "c": "x", "n": {"x": 1.5}}"#,
            // `b` clashes with rule 2's output key: that rule alone takes the row path.
            r#"{"a": 1, "b": {"deep": true}, "t": "payload's t"}"#,
            r#"{"a": null, "c": [1, 2]}"#,
            r#"{"a": 2, "a": 3}"#,
            "not json",
            r#"{"a": "#,
            r#"{"a": "2", "b": 1.0e3, "c": false, "n": {"x": "y"}}"#,
        ];
        let msgs: Vec<Message> = payloads
            .iter()
            .map(|p| Message {
                client_id: "dev",
                ..Message::new("t/kitchen", p.as_bytes())
            })
            .collect();
        let results = group.evaluate_batch(&msgs);
        for (rule, got) in group.rules().iter().zip(&results) {
            assert_eq!(got, &rule.evaluate_batch(&msgs));
            for (m, e) in msgs.iter().zip(got) {
                assert_eq!(e, &rule.evaluate(m), "{:?}", rule.query());
            }
        }
        // Something fired on both paths, so the comparison covers real output.
        assert!(
            results
                .iter()
                .flatten()
                .filter(|e| e.output.is_some())
                .count()
                > 10
        );
        assert!(results.iter().flatten().any(|e| e.parse_error));
    }
}
