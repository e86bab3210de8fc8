//! Routing + evaluation with many rules: N rules over distinct topic filters
//! (`sensors/<i>/+`), each message matching exactly one of them. Per message: a topic-filter
//! trie lookup, then the matched rule's vectorised evaluation in per-rule batches, as the
//! service does. Compare the throughput with 1 rule to see what the rule count costs.
//!
//! Run: `cargo bench -p rulewire-benches --bench routing`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rulewire_engine::topic::TopicTrie;
use rulewire_engine::{Message, Rule, SqlVersion};
use std::hint::black_box;

const MESSAGES: usize = 4096;

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.sample_size(20);
    for rules in [1usize, 100, 1_000, 10_000] {
        let compiled: Vec<Rule> = (0..rules)
            .map(|i| {
                Rule::compile(
                    &format!(
                        "SELECT temperature, humidity FROM 'sensors/{i}/+' WHERE temperature > 30"
                    ),
                    SqlVersion::V2016_03_23,
                )
                .unwrap()
            })
            .collect();
        let mut trie = TopicTrie::new();
        for (i, r) in compiled.iter().enumerate() {
            trie.insert(r.topic_filter().unwrap(), i);
        }
        // Messages spread over 64 of the rules (or all, when fewer), in batches per rule.
        let topics: Vec<String> = (0..MESSAGES)
            .map(|m| {
                format!(
                    "sensors/{}/data",
                    (m * 7919) % rules.clamp(1, 64) * (rules / 64).max(1)
                )
            })
            .collect();
        let payloads: Vec<String> = (0..MESSAGES)
            .map(|m| format!(r#"{{"device_id":"sensor-{m:05}","temperature":{}.5,"humidity":{}.25,"pressure":1013.2,"battery":77,"status":"ok","seq":{m}}}"#, 15 + m % 32, 30 + m % 40))
            .collect();
        group.bench_function(format!("{rules} rules"), |b| {
            b.iter(|| {
                let mut per_rule: Vec<Vec<Message>> = Vec::new();
                let mut index: Vec<usize> = vec![usize::MAX; compiled.len()];
                for (t, p) in topics.iter().zip(&payloads) {
                    trie.for_each_match(t, |&r| {
                        if index[r] == usize::MAX {
                            index[r] = per_rule.len();
                            per_rule.push(Vec::new());
                        }
                        per_rule[index[r]].push(Message::new(t, p.as_bytes()));
                    });
                }
                let mut fired = 0usize;
                for (r, slot) in index.iter().enumerate() {
                    if *slot != usize::MAX {
                        fired += compiled[r]
                            .evaluate_batch(&per_rule[*slot])
                            .iter()
                            .filter(|e| e.output.is_some())
                            .count();
                    }
                }
                black_box(fired)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
