//! Tests of the mqtt action: the connection must be configured, publishes go to the named
//! connection's publisher, and one at a time, so retries never reorder a rule's messages.
//! (End to end against a second, TLS Mosquitto: `tests/service_mqtt_uplink.rs`.)

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;

use crate::{
    BoxFuture, MqttPublisher, PublishProperties,
    test_util::{NoPublisher, build_action, context, fired, table, try_build},
};

/// A publisher that fails every third publish, takes a little time for each, and records
/// what it accepted and how many publishes overlapped.
#[derive(Default)]
struct Flaky {
    calls: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
    accepted: Mutex<Vec<(String, Vec<u8>)>>,
}

impl MqttPublisher for Flaky {
    fn publish(
        &self,
        topic: String,
        _qos: u8,
        _retain: bool,
        payload: Vec<u8>,
        _properties: PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.calls.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
                return Err("connection lost".into());
            }
            self.accepted.lock().unwrap().push((topic, payload));
            Ok(())
        })
    }
}

#[test]
fn the_connection_must_be_configured() {
    let (ctx, _) = context(Arc::new(NoPublisher));
    let e = try_build(
        &ctx,
        "type = \"mqtt\"\nconnection = \"cloud\"\ntopic = \"t\"",
    )
    .unwrap_err();
    assert_eq!(
        e,
        "field `connection`: no [mqtt.connections.cloud] in rulewire.toml (configured: none)"
    );
    let e = try_build(&ctx, "type = \"mqtt\"\ntopic = \"t\"").unwrap_err();
    assert!(e.contains("missing field `connection`"), "{e}");
    let e = try_build(&ctx, "type = \"mqtt\"\nconnection = \"c\"\ntopik = \"t\"").unwrap_err();
    assert!(e.contains("topic"), "{e}");
}

#[tokio::test]
async fn publishes_go_to_the_named_connection_in_order_despite_retries() {
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    let cloud = Arc::new(Flaky::default());
    ctx.mqtt = Arc::new([("cloud".to_owned(), cloud.clone() as Arc<dyn MqttPublisher>)].into());
    let action = build_action(
        &table("type = \"mqtt\"\nconnection = \"cloud\"\ntopic = \"up/${topic(2)}\"\nqos = 1"),
        rulewire_engine::SqlVersion::default(),
        &ctx,
    )
    .unwrap();
    assert_eq!(action.kind(), "mqtt");
    let msgs: Vec<_> = (0..30)
        .map(|i| fired("r", "dev/d1", format!("{{\"seq\":{i}}}").as_bytes()))
        .collect();
    // All at once, as the service runs them: one in flight at a time keeps the order.
    let results = futures_util::future::join_all(msgs.iter().map(|m| action.execute(m))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let accepted = cloud.accepted.lock().unwrap().clone();
    let expected: Vec<_> = msgs
        .iter()
        .map(|m| ("up/d1".to_owned(), m.output.clone()))
        .collect();
    assert_eq!(accepted, expected);
    assert_eq!(cloud.peak.load(Ordering::SeqCst), 1);
    assert!(metrics.get("retry:mqtt") > 0, "some publishes were retried");
}
