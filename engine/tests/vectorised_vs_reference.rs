//! Property tests: the vectorised (DataFusion) path must give byte-identical results to the
//! row-at-a-time reference evaluator, for random payloads and random rules in the vectorised
//! subset, including batches that mix types per field.

use proptest::prelude::*;
use rulewire_engine::{Message, Rule, RuleGroup, SqlVersion};
use std::sync::Arc;

const FIELDS: &[&str] = &["a", "b", "c", "s", "n.x"];

fn json_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => (-1000i64..1000).prop_map(|i| Some(i.to_string())),
        1 => prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(0)].prop_map(|i| Some(i.to_string())),
        3 => (-1.0e6f64..1.0e6).prop_map(|d| Some(format!("{d:?}"))),
        1 => prop_oneof![Just("10.0"), Just("1e300"), Just("-2.50"), Just("1E-9"), Just("1e400"), Just("-1E-400"), Just("-0"), Just("1e1000"), Just("9.999E999"), Just("1E-999")].prop_map(|s| Some(s.to_owned())),
        // Decimal-heavy: one-decimal readings, long mantissas, exponents, wide integers.
        3 => (-500i32..500).prop_map(|t| Some(format!("{}.{}", t / 10, (t % 10).abs()))),
        2 => "-?[1-9][0-9]{0,39}(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,2})?".prop_map(Some),
        1 => prop_oneof![Just("12345678901234567890"), Just("9999999999999999999999999999999999"), Just("-99999999999999999999999999999999999"), Just("0.1"), Just("0.2")].prop_map(|s| Some(s.to_owned())),
        2 => "[a-c0-9]{0,3}".prop_map(|s| Some(format!("\"{s}\""))),
        1 => prop_oneof![Just("\"12\""), Just("\"true\""), Just("\"a\\\"b\""), Just("\"\\ud900\""), Just("\"\\ud83d\\ude00\"")].prop_map(|s| Some(s.to_owned())),
        2 => any::<bool>().prop_map(|b| Some(b.to_string())),
        1 => Just(Some("null".to_owned())),
        1 => Just(Some("{\"x\":1}".to_owned())),
        1 => Just(Some("[1,2]".to_owned())),
        3 => Just(None),
    ]
}

fn payload() -> impl Strategy<Value = String> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        0u8..8,
    )
        .prop_map(|(a, b, c, s, nx, shape)| {
            if shape == 0 {
                return "not json".to_owned();
            }
            if shape == 1 {
                return "{\"a\":".to_owned();
            }
            let mut members = Vec::new();
            for (k, v) in [("a", a), ("b", b), ("c", c), ("s", s)] {
                if let Some(v) = v {
                    members.push(format!("\"{k}\": {v}"));
                }
            }
            if let Some(v) = nx {
                members.push(format!("\"n\": {{\"x\": {v}}}"));
            }
            format!("{{{}}}", members.join(", "))
        })
}

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => proptest::sample::select(FIELDS).prop_map(|f| f.to_owned()),
        1 => (-50i64..50).prop_map(|i| i.to_string()),
        1 => (-50.0f64..50.0).prop_map(|d| format!("{d:.2}")),
        1 => prop_oneof![Just("1.8"), Just("0.1"), Just("32"), Just("1234567890.123456789012345678901234567"), Just("1E-30"), Just("12345678901234567890")].prop_map(|s| s.to_owned()),
        1 => Just("'x'".to_owned()),
        1 => Just("true".to_owned()),
        1 => Just("topic(2)".to_owned()),
        1 => Just("clientid()".to_owned()),
        1 => Just("9223372036854775807".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        let ops = proptest::sample::select(vec![
            "+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=", "AND", "OR",
        ]);
        prop_oneof![
            (inner.clone(), ops, inner.clone()).prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            inner.clone().prop_map(|e| format!("(NOT {e})")),
            inner.prop_map(|e| format!("(- {e})")),
        ]
    })
}

fn rule_sql() -> impl Strategy<Value = String> {
    (
        expr(),
        expr(),
        proptest::option::of(expr()),
        any::<bool>(),
        any::<bool>(),
        // `*` with an output key that payloads sometimes have too (the item overrides it).
        proptest::sample::select(vec!["k1", "a", "s"]),
    )
        .prop_map(|(e1, e2, filter, star, value, star_key)| {
            let select = if value {
                format!("VALUE {e1}")
            } else if star {
                format!("*, {e1} AS {star_key}")
            } else {
                format!("{e1} AS k1, {e2} AS k2")
            };
            match filter {
                Some(w) => format!("SELECT {select} FROM 'sensors/+' WHERE {w}"),
                None => format!("SELECT {select} FROM 'sensors/+'"),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn vectorised_matches_reference(sql in rule_sql(), payloads in proptest::collection::vec(payload(), 1..24), version in any::<bool>()) {
        let version = if version { SqlVersion::V2016_03_23 } else { SqlVersion::V2015_10_08 };
        let rule = Rule::compile(&sql, version).unwrap();
        let msgs: Vec<Message> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Message { client_id: if i % 2 == 0 { "dev" } else { "" }, ..Message::new(if i % 3 == 0 { "sensors/kitchen" } else { "sensors" }, p.as_bytes()) })
            .collect();
        let batch = rule.evaluate_batch(&msgs);
        for (m, got) in msgs.iter().zip(&batch) {
            let want = rule.evaluate(m);
            prop_assert_eq!(got, &want, "sql: {} payload: {}", sql, String::from_utf8_lossy(m.payload));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Rules evaluated as a group (one shared decode per message) give exactly what each
    /// rule gives on its own, on both paths.
    #[test]
    fn group_matches_each_rule_alone(sqls in proptest::collection::vec((rule_sql(), any::<bool>()), 1..6), payloads in proptest::collection::vec(payload(), 1..24)) {
        let rules: Vec<Arc<Rule>> = sqls
            .iter()
            .map(|(sql, v)| {
                let version = if *v { SqlVersion::V2016_03_23 } else { SqlVersion::V2015_10_08 };
                Arc::new(Rule::compile(sql, version).unwrap())
            })
            .collect();
        let group = RuleGroup::new(rules.clone());
        let msgs: Vec<Message> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Message { client_id: if i % 2 == 0 { "dev" } else { "" }, ..Message::new("sensors/kitchen", p.as_bytes()) })
            .collect();
        let results = group.evaluate_batch(&msgs);
        prop_assert_eq!(results.len(), rules.len());
        for (rule, got) in rules.iter().zip(&results) {
            for (m, e) in msgs.iter().zip(got) {
                prop_assert_eq!(e, &rule.evaluate(m), "sql: {:?} payload: {}", rule.query(), String::from_utf8_lossy(m.payload));
            }
        }
    }
}

/// The common rule shapes really take the vectorised path (a property test that always fell
/// back to the reference path would prove nothing).
#[test]
fn common_rules_are_vectorised() {
    let payloads: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"temperature": {}.{}, "humidity": {}.5, "id": "d{i}", "serial": 1234567890123456789{i:02}}}"#,
                i - 50,
                i % 10,
                i % 50
            )
        })
        .collect();
    let msgs: Vec<Message> = payloads
        .iter()
        .map(|p| Message::new("sensors/kitchen", p.as_bytes()))
        .collect();
    for sql in [
        "SELECT temperature, humidity FROM 'sensors/+' WHERE temperature > 30",
        "SELECT *, topic(2) AS room, clientid() AS id2 FROM 'sensors/+'",
        "SELECT VALUE temperature * 1.8 + 32 FROM 'sensors/+' WHERE humidity < 20 AND id <> 'x'",
        "SELECT temperature * 1.8 + 32 AS f, humidity FROM 'sensors/+' WHERE temperature > 30",
        "SELECT temperature / 3 AS third, temperature - 0.1 AS t FROM 'sensors/+'",
    ] {
        let rule = Rule::compile(sql, SqlVersion::V2016_03_23).unwrap();
        assert!(rule.is_vectorised(), "{sql}");
        let (out, vectorised) = rule.evaluate_batch_counted(&msgs);
        assert_eq!(vectorised, msgs.len(), "{sql}");
        for (m, got) in msgs.iter().zip(&out) {
            assert_eq!(got, &rule.evaluate(m), "{sql}");
        }
    }
    // Exact decimals on the vectorised path: -10.9 °C is 12.38 °F, not 12.379999999999999.
    let rule = Rule::compile(
        "SELECT temperature * 1.8 + 32 AS f, serial FROM 'sensors/+'",
        SqlVersion::V2016_03_23,
    )
    .unwrap();
    let payload = br#"{"temperature": -10.9, "serial": 12345678901234567890}"#;
    let out = rule.evaluate_batch(&[Message::new("sensors/a", payload)]);
    assert_eq!(
        out[0].output.as_deref(),
        Some(&br#"{"f":12.38,"serial":12345678901234567890}"#[..])
    );
}
