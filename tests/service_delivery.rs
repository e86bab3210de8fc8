//! Delivery guarantees against real servers: the HTTP action's retries (an axum server that
//! fails twice, then succeeds), the error action on a permanently failing action, no loss
//! when rulewire is SIGKILLed mid-stream, a shared subscription split across two instances,
//! graceful shutdown on SIGTERM (nothing lost across it), and backpressure at
//! `limits.max_in_flight`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use common::*;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(15);

/// An HTTP server answering 500 to the first `fail_first` requests (all of them when
/// `usize::MAX`) and 200 after; every request body is sent on the returned channel.
async fn webhook(
    fail_first: usize,
) -> (
    u16,
    Arc<AtomicUsize>,
    mpsc::UnboundedReceiver<(String, String)>,
) {
    #[derive(Clone)]
    struct S {
        calls: Arc<AtomicUsize>,
        fail_first: usize,
        tx: mpsc::UnboundedSender<(String, String)>,
    }
    async fn hook(State(s): State<S>, uri: axum::http::Uri, body: String) -> StatusCode {
        let n = s.calls.fetch_add(1, Ordering::SeqCst);
        let _ = s.tx.send((uri.path().to_owned(), body));
        if n < s.fail_first {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route("/{*path}", post(hook)).with_state(S {
        calls: calls.clone(),
        fail_first,
        tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, calls, rx)
}

fn http_rule(port: u16, error_action: bool) -> String {
    let mut r = format!(
        "-- [[action]]
-- type = \"http\"
-- url = \"http://127.0.0.1:{port}/hook/${{topic(2)}}\"
-- retry = {{ attempts = 3, base_delay_ms = 10, max_delay_ms = 50 }}
"
    );
    if error_action {
        r.push_str("-- [error_action]\n-- type = \"republish\"\n-- topic = \"errors/${topic(2)}\"\n-- qos = 1\n");
    }
    r.push_str("SELECT device, value FROM 'dev/+/v'\n");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn http_action_retries_then_succeeds() {
    let (port, calls, mut bodies) = webhook(2).await;
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("to_http", &http_rule(port, true))]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-http\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "http-client", &["errors/#"]).await;
    c.publish("dev/d1/v", r#"{"device": "d1", "value": 7, "extra": true}"#)
        .await;
    for _ in 0..3 {
        let (path, body) = tokio::time::timeout(T, bodies.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(path, "/hook/d1");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"device": "d1", "value": 7})
        );
    }
    wait_until("the success metric", T, async || {
        rw.metric("rulewire_action_success_total{action=\"http\",rule=\"to_http\"}")
            .await
            == 1.0
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        rw.metric("rulewire_action_retries_total{action=\"http\",rule=\"to_http\"}")
            .await,
        2.0
    );
    assert_eq!(
        rw.metric("rulewire_http_action_responses_total{code_class=\"5xx\",rule=\"to_http\"}")
            .await,
        2.0
    );
    assert!(
        c.next(Duration::from_millis(300)).await.is_none(),
        "no error action after a success"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn error_action_gets_the_aws_error_payload() {
    let (port, calls, _bodies) = webhook(usize::MAX).await;
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("always_fails", &http_rule(port, true))]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-err\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut c = TestClient::connect(broker.port, "err-client", &["errors/#"]).await;
    let original = r#"{"device": "d9", "value": 1}"#;
    c.publish("dev/d9/v", original).await;
    let (topic, json) = c.next_json(T).await;
    assert_eq!(
        topic, "errors/d9",
        "error action templates see the original message"
    );
    assert_eq!(json["ruleName"], "always_fails");
    assert_eq!(json["topic"], "dev/d9/v");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(json["base64OriginalPayload"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, original.as_bytes());
    assert_eq!(json["failures"].as_array().unwrap().len(), 1);
    assert_eq!(json["failures"][0]["failedAction"], "HttpAction");
    assert!(json["cloudwatchTraceId"].as_str().unwrap().len() == 36);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "3 attempts before giving up"
    );
    wait_until("failure metrics", T, async || {
        rw.metric("rulewire_action_failure_total{action=\"http\",rule=\"always_fails\"}").await == 1.0
            && rw.metric("rulewire_error_action_success_total{action=\"republish\",rule=\"always_fails\"}").await == 1.0
    })
    .await;
}

const SEQ_RULE: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/seq\"
-- qos = 1
SELECT seq FROM 'load/+'
";

fn seqs(msgs: &[(String, Vec<u8>)]) -> Vec<u64> {
    msgs.iter()
        .map(|(_, p)| {
            serde_json::from_slice::<serde_json::Value>(p).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_qos1_message_lost_when_killed_mid_stream() {
    const N: u64 = 2000;
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("seq", SEQ_RULE)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-kill\"\n[batch]\nmax_delay_ms = 2",
        broker.url()
    );
    let mut rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(broker.port, "kill-out", &["out/seq"]).await;
    let producer = TestClient::connect(broker.port, "kill-producer", &[]).await;
    let mut received = Vec::new();
    for seq in 0..N {
        producer
            .publish(&format!("load/{}", seq % 4), format!("{{\"seq\": {seq}}}"))
            .await;
        if seq == N / 3 {
            // Let some flow, then kill -9 with work in flight.
            while let Some(m) = out.next(Duration::from_millis(200)).await {
                received.push(m);
                if received.len() > 50 {
                    break;
                }
            }
            rw.sigkill();
        }
        if seq == N / 2 {
            rw = Rulewire::start(&config, rules.path()).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<u64> = seqs(&received).into_iter().collect();
        if got.len() as u64 == N || tokio::time::Instant::now() > deadline {
            break;
        }
        if let Some(m) = out.next(Duration::from_secs(2)).await {
            received.push(m);
        }
    }
    let all = seqs(&received);
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    let missing: Vec<u64> = (0..N).filter(|s| !unique.contains(s)).collect();
    let duplicates = all.len() - unique.len();
    eprintln!(
        "received {} messages, {} unique, {duplicates} duplicates",
        all.len(),
        unique.len()
    );
    assert!(
        missing.is_empty(),
        "{} sequence numbers lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    drop(rw);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_subscription_splits_the_stream_between_instances() {
    const N: u64 = 400;
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("seq", SEQ_RULE)]);
    let config = |id: &str| {
        format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"{id}\"\nshared_group = \"rw\"",
            broker.url()
        )
    };
    let a = Rulewire::start(&config("rw-a"), rules.path()).await;
    let b = Rulewire::start(&config("rw-b"), rules.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // both SUBACKs
    let mut out = TestClient::connect(broker.port, "shared-out", &["out/seq"]).await;
    let producer = TestClient::connect(broker.port, "shared-producer", &[]).await;
    for seq in 0..N {
        producer
            .publish("load/x", format!("{{\"seq\": {seq}}}"))
            .await;
    }
    let mut received = Vec::new();
    while (received.len() as u64) < N {
        match out.next(T).await {
            Some(m) => received.push(m),
            None => break,
        }
    }
    let unique: BTreeSet<u64> = seqs(&received).into_iter().collect();
    assert_eq!(
        unique.len() as u64,
        N,
        "together the instances process every message"
    );
    let ma = a.metric("rulewire_messages_received_total").await;
    let mb = b.metric("rulewire_messages_received_total").await;
    eprintln!("instance a: {ma}, instance b: {mb}");
    assert!(
        ma > 0.0 && mb > 0.0,
        "each instance gets part of the stream (a={ma}, b={mb})"
    );
    assert_eq!((ma + mb) as u64, N, "each message goes to one instance");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_and_exits() {
    let broker = Mosquitto::start();
    let rules = rules_dir(&[("seq", SEQ_RULE)]);
    let mut rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-term\"\n[shutdown]\ntimeout_ms = 3000",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let mut out = TestClient::connect(broker.port, "term-out", &["out/seq"]).await;
    let producer = TestClient::connect(broker.port, "term-producer", &[]).await;
    for seq in 0..50 {
        producer
            .publish("load/x", format!("{{\"seq\": {seq}}}"))
            .await;
    }
    let mut received = vec![out.next(T).await.expect("processing started")];
    let status = rw.sigterm(Duration::from_secs(8));
    assert!(status.success(), "clean exit: {status:?}");
    assert!(rw.logs().contains("stopped"), "{}", rw.logs());
    // Nothing acked during the drain was dropped: what the first instance did not finish,
    // the broker redelivers to the next one (same client id, persistent session).
    let _next = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-term\"",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seqs(&received).into_iter().collect::<BTreeSet<_>>().len() < 50
        && tokio::time::Instant::now() < deadline
    {
        if let Some(m) = out.next(Duration::from_secs(1)).await {
            received.push(m);
        }
    }
    let unique: BTreeSet<u64> = seqs(&received).into_iter().collect();
    let missing: Vec<u64> = (0..50).filter(|s| !unique.contains(s)).collect();
    assert!(missing.is_empty(), "lost across SIGTERM: {missing:?}");
}

/// Backpressure: with `limits.max_in_flight = 4` and a slow webhook, rulewire never works on
/// more than 4 messages at once (the webhook sees at most 4 concurrent requests and the
/// in-flight gauge never passes 4); the broker holds the rest and every message arrives.
#[tokio::test(flavor = "multi_thread")]
async fn max_in_flight_bounds_the_work_and_loses_nothing() {
    #[derive(Clone, Default)]
    struct Slow {
        now: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        seqs: Arc<std::sync::Mutex<Vec<u64>>>,
    }
    async fn hook(State(s): State<Slow>, body: String) -> StatusCode {
        let now = s.now.fetch_add(1, Ordering::SeqCst) + 1;
        s.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        s.seqs.lock().unwrap().push(v["seq"].as_u64().unwrap());
        s.now.fetch_sub(1, Ordering::SeqCst);
        StatusCode::OK
    }
    let slow = Slow::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(slow.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let broker = Mosquitto::start();
    let rule = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"http://127.0.0.1:{port}/hook\"\n\
         SELECT seq FROM 'load/+'\n"
    );
    let rules = rules_dir(&[("slow", &rule)]);
    let rw = Rulewire::start(
        &format!(
            "[broker]\nurl = \"{}\"\nclient_id = \"rw-bp\"\n[limits]\nmax_in_flight = 4",
            broker.url()
        ),
        rules.path(),
    )
    .await;
    let producer = TestClient::connect(broker.port, "bp-producer", &[]).await;
    const N: u64 = 40;
    for seq in 0..N {
        producer
            .publish("load/x", format!("{{\"seq\": {seq}}}"))
            .await;
    }
    let mut gauge_peak = 0.0f64;
    wait_until(
        "every message delivered",
        Duration::from_secs(30),
        async || {
            gauge_peak = gauge_peak.max(rw.metric("rulewire_in_flight_messages").await);
            slow.seqs.lock().unwrap().len() as u64 >= N
        },
    )
    .await;
    let unique: BTreeSet<u64> = slow.seqs.lock().unwrap().iter().copied().collect();
    assert_eq!(unique, (0..N).collect(), "every sequence number arrives");
    let peak = slow.peak.load(Ordering::SeqCst);
    assert!(
        peak <= 4,
        "the webhook saw {peak} concurrent requests; limit 4"
    );
    assert!(peak >= 2, "work should overlap up to the limit, saw {peak}");
    assert!(gauge_peak <= 4.0, "in-flight gauge reached {gauge_peak}");
}
