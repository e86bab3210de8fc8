//! The SQL parser and compiler on arbitrary text; rules that compile are evaluated on a few
//! payloads by both paths. Finds panics, stack overflows and hangs, and, for rules on the
//! vectorised path, any output that differs from the reference evaluator's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rulewire_engine::{Message, Rule, SqlVersion};

const PAYLOADS: &[&[u8]] = &[
    br#"{"a": 1, "b": 2.5, "s": "x", "n": {"x": [1, 2]}}"#,
    br#"{"a": "12", "b": null, "s": 9223372036854775807}"#,
    br#"{"a": -0.0, "b": 1e300, "s": true}"#,
    b"not json",
    b"{\"a\":",
];

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    for version in [SqlVersion::V2016_03_23, SqlVersion::V2015_10_08] {
        let Ok(rule) = Rule::compile(sql, version) else {
            continue;
        };
        let msgs: Vec<Message> = PAYLOADS
            .iter()
            .map(|p| Message::new("sensors/kitchen", p))
            .collect();
        let batch = rule.evaluate_batch(&msgs);
        // Rules off the vectorised path may call newuuid() or rand(): nothing to compare.
        if rule.is_vectorised() {
            for (m, got) in msgs.iter().zip(&batch) {
                assert_eq!(got, &rule.evaluate(m), "{sql}");
            }
        }
    }
});
