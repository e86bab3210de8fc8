//! The payload scan and the vectorised evaluation against the reference evaluator: arbitrary
//! payload bytes (a batch, split at 0x00 bytes) through rules of the vectorised shapes, alone
//! and as one group sharing the scan. Each result must equal the reference path's.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rulewire_engine::{Message, Rule, RuleGroup, SqlVersion};

const RULES: &[&str] = &[
    "SELECT * FROM 't/#'",
    "SELECT a, b + 1 AS c, s FROM 't/#' WHERE a > 1 OR b < 2",
    "SELECT VALUE a * 1.8 + 32 FROM 't/#'",
    "SELECT *, topic(2) AS t, n.x AS nx FROM 't/#' WHERE NOT (a = b)",
    "SELECT a / b AS q, a % b AS r, -a AS m, clientid() AS c FROM 't/#' WHERE s <> 'x' AND a >= 0",
    "SELECT a.b.c AS abc, s = 'on' AS on FROM 't/#' WHERE a.b.c <> 0 OR s = 'on'",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = match selector & 1 {
        0 => SqlVersion::V2016_03_23,
        _ => SqlVersion::V2015_10_08,
    };
    let msgs: Vec<Message> = rest
        .split(|&b| b == 0)
        .map(|payload| Message::new("t/kitchen", payload))
        .collect();
    let rules: Vec<Arc<Rule>> = RULES
        .iter()
        .map(|sql| Arc::new(Rule::compile(sql, version).expect("the rules compile")))
        .collect();
    for rule in &rules {
        let batch = rule.evaluate_batch(&msgs);
        for (m, got) in msgs.iter().zip(&batch) {
            assert_eq!(got, &rule.evaluate(m), "{:?}", rule.query());
        }
    }
    let group = RuleGroup::new(rules.clone());
    for (rule, got) in rules.iter().zip(group.evaluate_batch(&msgs)) {
        for (m, e) in msgs.iter().zip(&got) {
            assert_eq!(e, &rule.evaluate(m), "group: {:?}", rule.query());
        }
    }
});
