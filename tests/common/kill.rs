//! At-least-once through kill -9: a stream of numbered QoS 1 messages during which rulewire
//! is killed (SIGKILL) and restarted three times, for the disk buffer tests of each sink.

use std::path::Path;
use std::time::Duration;

use super::{Rulewire, TestClient, wait_until};

/// Publishes `{"seq": <seq>, "pad": "<pad x's>"}` for each seq of `range` to `load/<seq % 4>`.
pub async fn publish_seqs(producer: &TestClient, range: std::ops::Range<u64>, pad: usize) {
    let pad = "x".repeat(pad);
    for seq in range {
        producer
            .publish(
                &format!("load/{}", seq % 4),
                format!("{{\"seq\": {seq}, \"pad\": \"{pad}\"}}"),
            )
            .await;
    }
}

/// Publishes seqs `0..n` in four parts; after each of the first three, waits until
/// `delivered(&rw)` has grown by 1,000 (some of the part reached the sink), then kills
/// rulewire with SIGKILL mid-stream and starts it again on the same config (and data
/// directory). Returns the last rulewire started.
pub async fn publish_killing_three_times(
    mut rw: Rulewire,
    config: &str,
    rules: &Path,
    producer: &TestClient,
    n: u64,
    mut delivered: impl AsyncFnMut(&Rulewire) -> u64,
) -> Rulewire {
    let quarter = n / 4;
    for round in 0..4 {
        publish_seqs(producer, round * quarter..(round + 1) * quarter, 0).await;
        if round < 3 {
            let before = delivered(&rw).await;
            wait_until(
                "progress before the kill",
                Duration::from_secs(60),
                async || delivered(&rw).await > before + 1000,
            )
            .await;
            rw.sigkill();
            rw = Rulewire::start(config, rules).await;
        }
    }
    rw
}
