//! Disk buffers end to end, against Mosquitto and a real HTTP server that can be taken down:
//! a 60 s webhook outage stops neither another rule nor the acknowledgements, memory stays
//! flat, and the backlog drains afterwards with nothing lost; kill -9 three times loses nothing; a full buffer
//! blocks or drops (counted exactly); a permanent failure reaches the error action.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use common::kill::publish_seqs;
use common::webhook::Hook;
use common::*;

/// A rule posting `SELECT seq, pad FROM 'load/+'` to the hook through a disk buffer
/// (`buffer`: the inline table's extra keys), with a republish error action.
fn buffered_rule(port: u16, buffer: &str) -> String {
    format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"http://127.0.0.1:{port}/hook\"\n\
         -- retry = {{ base_delay_ms = 20, max_delay_ms = 200 }}\n\
         -- buffer = {{ type = \"disk\"{buffer} }}\n\
         -- [error_action]\n-- type = \"republish\"\n-- topic = \"errors/hook\"\n-- qos = 1\n\
         SELECT seq, pad FROM 'load/+'\n"
    )
}

const MIRROR_RULE: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/seq\"
-- qos = 1
SELECT seq FROM 'load/+'
";

fn config(broker: &Mosquitto, name: &str, data: &std::path::Path) -> String {
    format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-{name}\"\n[storage]\ndata_dir = {:?}\n",
        broker.url(),
        data.display().to_string()
    )
}

/// A webhook (down or up), a Mosquitto of the test's own and a data directory.
async fn setup(status_when_down: StatusCode, down: bool) -> (Hook, Mosquitto, tempfile::TempDir) {
    let hook = Hook::start(status_when_down).await;
    hook.set_down(down);
    (hook, Mosquitto::start(), tempfile::tempdir().unwrap())
}

fn series(name: &str, rule: &str) -> String {
    format!("{name}{{action=\"http\",rule=\"{rule}\"}}")
}

/// rulewire's resident memory (VmRSS) in MiB.
fn rss_mib(rw: &Rulewire) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", rw.child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_s_webhook_outage_stops_neither_another_rule_nor_the_acks_and_the_backlog_drains() {
    // 500 msg/s of ~2 KB for 60 s (~120 MB of records on disk), the webhook down all along.
    const RATE: u64 = 500;
    const SECONDS: u64 = 60;
    const N: u64 = RATE * SECONDS;
    let (hook, broker, data) = setup(StatusCode::SERVICE_UNAVAILABLE, true).await;
    let rules = rules_dir(&[
        ("mirror", MIRROR_RULE),
        ("webhook", &buffered_rule(hook.port, "")),
    ]);
    let rw = Rulewire::start(&config(&broker, "outage", data.path()), rules.path()).await;
    let mut out = TestClient::connect(broker.port, "outage-out", &["out/seq"]).await;
    let producer = TestClient::connect(broker.port, "outage-producer", &[]).await;
    let rss_before = rss_mib(&rw);
    let (mut rss, mut in_flight_max) = (Vec::new(), 0f64);
    let started = tokio::time::Instant::now();
    for chunk in 0..N / 100 {
        publish_seqs(&producer, chunk * 100..(chunk + 1) * 100, 2000).await;
        tokio::time::sleep_until(started + Duration::from_millis(1000 * 100 / RATE * (chunk + 1)))
            .await;
        if chunk % 5 == 4 {
            // Once a second: what rulewire holds unacknowledged (the broker's queue for it)
            // and its memory.
            rss.push(rss_mib(&rw));
            in_flight_max = in_flight_max.max(rw.metric("rulewire_in_flight_messages").await);
        }
    }
    let published = tokio::time::Instant::now();

    // While the webhook is down, the other rule's output all arrives and nothing waits for
    // an ack: the webhook's messages are on disk.
    let mut mirrored = BTreeSet::new();
    while (mirrored.len() as u64) < N {
        let (_, json) = out.next_json(Duration::from_secs(20)).await;
        mirrored.insert(json["seq"].as_u64().unwrap());
    }
    let lag = published.elapsed();
    assert!(
        lag < Duration::from_secs(2),
        "the other rule fell behind during the outage: its last output came {lag:?} after the last publish"
    );
    assert!(
        in_flight_max <= 200.0,
        "rulewire kept acknowledging: at most {in_flight_max} messages unacked at once"
    );
    // Held in memory, the backlog would be 60 MB of payloads (and as much output). The
    // drain holds a bounded number of records (its in-flight bound and read-ahead); after
    // the first 10 s memory stays flat. Medians of 10 s windows: a growing backlog would
    // add ~40 MiB between them, while one sample's allocator spike (seen: +11 MiB for a
    // second, and +14 MiB for two, in a full parallel suite) is not growth. The cap is half
    // what a backlog in memory would add (payloads and output: ~120 MB); the steady state
    // sits ~28 MiB above the idle process.
    let rss_max = rss.iter().copied().fold(0f64, f64::max);
    let median = |window: &[f64]| {
        let mut w = window.to_vec();
        w.sort_by(f64::total_cmp);
        w[w.len() / 2]
    };
    let (early, late) = (median(&rss[10..20]), median(&rss[rss.len() - 10..]));
    assert!(
        rss_max - rss_before < 60.0 && late - early < 10.0,
        "memory grew during the outage: {rss_before:.0} MiB, then (MiB, once a second) {rss:.0?}"
    );
    wait_until(
        "every message buffered and acked",
        Duration::from_secs(20),
        async || {
            rw.metric(&series("rulewire_buffer_records", "webhook"))
                .await
                == N as f64
                && rw.metric("rulewire_in_flight_messages").await == 0.0
        },
    )
    .await;
    assert_eq!(hook.received(), 0);
    let (_, rules_json) = rw.get("/rules").await.unwrap();
    let statuses: serde_json::Value = serde_json::from_str(&rules_json).unwrap();
    let webhook = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "webhook")
        .unwrap();
    assert_eq!(webhook["buffers"]["0-http"]["records"], N, "{rules_json}");
    let requests_while_down = hook.requests.load(Ordering::SeqCst);
    assert!(
        requests_while_down < 200,
        "the breaker should hold the retries of {N} messages; the dead webhook got {requests_while_down} requests"
    );
    assert!(
        rw.metric(&series("rulewire_action_circuit_trips_total", "webhook"))
            .await
            >= 1.0
    );
    assert_eq!(
        rw.metric(&series("rulewire_action_circuit_open", "webhook"))
            .await,
        1.0
    );

    hook.set_down(false);
    wait_until(
        "the backlog delivered",
        Duration::from_secs(120),
        async || hook.unique().len() as u64 == N,
    )
    .await;
    wait_until("the buffer empty", Duration::from_secs(10), async || {
        rw.metric(&series("rulewire_buffer_records", "webhook"))
            .await
            == 0.0
            && rw
                .metric(&series("rulewire_action_circuit_open", "webhook"))
                .await
                == 0.0
    })
    .await;
    assert_eq!(
        rw.metric(&series("rulewire_buffer_drained_total", "webhook"))
            .await,
        N as f64
    );
    eprintln!(
        "{requests_while_down} requests while down for {:?}; mirror lag {lag:?}; {} deliveries for {N} messages; \
         at most {in_flight_max} unacked; RSS {rss_before:.0} MiB, median 10-20 s {early:.0}, last 10 s {late:.0}, max {rss_max:.0}",
        published - started,
        hook.received()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_three_times_loses_no_buffered_message() {
    const N: u64 = 100_000;
    let (hook, broker, data) = setup(StatusCode::SERVICE_UNAVAILABLE, false).await;
    let rules = rules_dir(&[("webhook", &buffered_rule(hook.port, ""))]);
    let config = config(&broker, "kill", data.path());
    let rw = Rulewire::start(&config, rules.path()).await;
    let producer = TestClient::connect(broker.port, "kill-producer", &[]).await;
    let rw =
        kill::publish_killing_three_times(rw, &config, rules.path(), &producer, N, async |_| {
            hook.received() as u64
        })
        .await;
    wait_until(
        "every sequence number delivered",
        Duration::from_secs(180),
        async || hook.unique().len() as u64 == N,
    )
    .await;
    let received = hook.received() as u64;
    eprintln!(
        "{N} messages, 3 kills: {received} deliveries, {} duplicates",
        received - N
    );
    assert!(!rw.logs().contains("panicked"), "{}", rw.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_drops_newest_and_counts_exactly_what_it_dropped() {
    const N: u64 = 400;
    let (hook, broker, data) = setup(StatusCode::SERVICE_UNAVAILABLE, true).await;
    let rule = buffered_rule(
        hook.port,
        ", max_bytes = 1048576, when_full = \"drop_newest\"",
    );
    let rules = rules_dir(&[("webhook", &rule)]);
    let rw = Rulewire::start(&config(&broker, "drop", data.path()), rules.path()).await;
    let producer = TestClient::connect(broker.port, "drop-producer", &[]).await;
    // ~8 KiB each: a 1 MiB buffer holds about 120 of them.
    publish_seqs(&producer, 0..N, 8000).await;
    let (records, dropped) = (
        series("rulewire_buffer_records", "webhook"),
        series("rulewire_buffer_dropped_total", "webhook"),
    );
    wait_until(
        "every message buffered or dropped",
        Duration::from_secs(20),
        async || rw.metric(&records).await + rw.metric(&dropped).await == N as f64,
    )
    .await;
    let dropped = rw.metric(&dropped).await as u64;
    assert!(dropped > 0 && dropped < N, "dropped {dropped}");
    assert!(rw.metric(&series("rulewire_buffer_bytes", "webhook")).await <= 1048576.0);
    hook.set_down(false);
    wait_until(
        "the buffer delivered",
        Duration::from_secs(60),
        async || hook.unique().len() as u64 == N - dropped,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hook.unique().len() as u64,
        N - dropped,
        "exactly the kept ones arrive"
    );
    assert!(
        rw.logs()
            .contains("disk buffer full: dropping new messages")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_that_blocks_holds_the_acks_and_loses_nothing() {
    const N: u64 = 400;
    let (hook, broker, data) = setup(StatusCode::SERVICE_UNAVAILABLE, true).await;
    let rule = buffered_rule(hook.port, ", max_bytes = 1048576");
    let rules = rules_dir(&[("webhook", &rule)]);
    let rw = Rulewire::start(&config(&broker, "block", data.path()), rules.path()).await;
    let producer = TestClient::connect(broker.port, "block-producer", &[]).await;
    publish_seqs(&producer, 0..N, 8000).await;
    let records = series("rulewire_buffer_records", "webhook");
    wait_until(
        "the buffer full and reading stopped",
        Duration::from_secs(20),
        async || {
            let buffered = rw.metric(&records).await;
            buffered > 50.0 && rw.metric("rulewire_in_flight_messages").await + buffered >= N as f64
        },
    )
    .await;
    assert!(
        rw.metric(&records).await < N as f64,
        "the buffer is bounded"
    );
    assert!(rw.metric(&series("rulewire_buffer_bytes", "webhook")).await <= 1048576.0);
    hook.set_down(false);
    wait_until(
        "everything delivered",
        Duration::from_secs(60),
        async || hook.unique().len() as u64 == N,
    )
    .await;
    assert_eq!(
        rw.metric(&series("rulewire_buffer_dropped_total", "webhook"))
            .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_of_a_buffered_action_goes_to_the_error_action() {
    let (hook, broker, data) = setup(StatusCode::BAD_REQUEST, true).await;
    let rules = rules_dir(&[("webhook", &buffered_rule(hook.port, ""))]);
    let _rw = Rulewire::start(&config(&broker, "perm", data.path()), rules.path()).await;
    let mut errors = TestClient::connect(broker.port, "perm-errors", &["errors/hook"]).await;
    let producer = TestClient::connect(broker.port, "perm-producer", &[]).await;
    publish_seqs(&producer, 0..3, 0).await;
    for _ in 0..3 {
        let (_, json) = errors.next_json(Duration::from_secs(20)).await;
        assert_eq!(json["ruleName"], "webhook");
        assert_eq!(json["failures"][0]["failedAction"], "HttpAction");
        let message = json["failures"][0]["errorMessage"].as_str().unwrap();
        assert!(message.contains("400"), "{message}");
    }
    assert_eq!(
        hook.requests.load(Ordering::SeqCst),
        3,
        "a 400 is not retried"
    );
}
