//! The delivery plumbing every action shares (in-flight slot, pacer, per-attempt timeout,
//! retries, metrics), measured on its own: a republish action whose publisher completes at
//! once (as the embedded broker's in-process publisher does at QoS 0), so what is left is
//! rulewire's own cost per message: the topic template, the request, and the plumbing.
//! Messages are driven as a rules worker drives them: a batch of `execute` futures polled
//! together in one task.
//!
//! Run: `cargo bench -p rulewire-benches --bench delivery`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream::{FuturesUnordered, StreamExt};
use rulewire_actions::{Action, FiredMessage};
use rulewire_benches::{Publisher, action_context, bind_action, fired_message};

/// Messages per iteration (the engine's largest batch).
const BATCH: usize = 4096;

/// Executes `BATCH` messages as one worker batch; every one must succeed. Outside tokio's
/// cooperative budget, as the worker runs them (`pipeline/workers.rs`).
async fn batch(action: &dyn Action, msg: &FiredMessage) {
    let mut running: FuturesUnordered<_> = (0..BATCH)
        .map(|_| tokio::task::unconstrained(action.execute(msg)))
        .collect();
    while let Some(result) = running.next().await {
        result.unwrap();
    }
}

fn delivery(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let msg = fired_message();
    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, table) in [
        (
            "republish_literal_topic",
            "type = \"republish\"\ntopic = \"out/room\"",
        ),
        (
            "republish_templated_topic",
            "type = \"republish\"\ntopic = \"out/${topic(2)}\"",
        ),
    ] {
        let action =
            rt.block_on(async { bind_action(action_context(Publisher { hang: false }), table) });
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(batch(action.as_ref(), &msg)))
        });
    }
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
