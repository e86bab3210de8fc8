//! Disk buffers (issue 13): how many messages per second a disk-buffered action takes, each
//! fsync'd before its `execute` returns (group commit), with 1,024 offered at once as the
//! service's in-flight messages are; and how long a buffer of 1 GiB takes to open after a
//! restart (recovery). The action behind the buffer is a republish to a publisher that
//! accepts everything at once (append) or never answers (recovery, so that the backlog stays).
//! The buffers live under `CARGO_TARGET_TMPDIR`, on the disk of the target directory.
//!
//! Run: `cargo bench -p rulewire-benches --bench buffer`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream::{self, StreamExt};
use rulewire_actions::{Action, BufferStore, FiredMessage};
use rulewire_benches::{Publisher, action_context, bind_action, fired_message};

/// Messages offered per iteration.
const BATCH: usize = 16_384;
/// Offered at once (the service's default `limits.max_in_flight`).
const CONCURRENCY: usize = 1024;

/// A disk-buffered republish action with its buffer under `root`.
fn buffered(root: &std::path::Path, hang: bool) -> Arc<dyn Action> {
    let mut ctx = action_context(Publisher { hang });
    ctx.buffers = Some(Arc::new(BufferStore::new(root)));
    bind_action(
        ctx,
        "type = \"republish\"\ntopic = \"out/x\"\nbuffer = { type = \"disk\", max_bytes = 4294967296 }",
    )
}

async fn offer(action: &dyn Action, msg: &FiredMessage, count: usize) {
    stream::iter(0..count)
        .for_each_concurrent(CONCURRENCY, |_| async {
            action.execute(msg).await.unwrap();
        })
        .await;
}

fn buffer(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let msg = fired_message();

    let mut group = c.benchmark_group("buffer");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    let action = rt.block_on(async { buffered(&tmp.path().join("append"), false) });
    group.bench_function("append_fsync", |b| {
        b.iter(|| rt.block_on(offer(action.as_ref(), &msg, BATCH)))
    });
    drop(action);

    // About 1 GiB of records that nothing drains, then the time to open the buffer again.
    let root = tmp.path().join("recover");
    let filled = Instant::now();
    rt.block_on(async {
        let action = buffered(&root, true);
        offer(action.as_ref(), &msg, 1 << 30 >> 8).await;
    });
    eprintln!("filled ~1 GiB in {:?}", filled.elapsed());
    group.throughput(Throughput::Bytes(1 << 30));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("recover_1GiB", |b| {
        b.iter(|| rt.block_on(async { drop(buffered(&root, true)) }))
    });
    group.finish();
}

criterion_group!(benches, buffer);
criterion_main!(benches);
