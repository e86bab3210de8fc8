//! Criterion benchmarks of the rulewire engine, the actions' delivery and the disk buffers
//! live next to this file (engine.rs, routing.rs, encoding.rs, delivery.rs, buffer.rs). This
//! library holds what the action benchmarks share: a publisher that answers at once (or never),
//! binding an action from its rule-header table, and the fired message they deliver.

use std::sync::Arc;

use rulewire_actions::{
    Action, ActionBinding, ActionContext, BoxFuture, CheckContext, FiredMessage, MqttPublisher,
    PublishProperties, check_action,
};

/// Accepts every publish at once, or (`hang`) never answers.
pub struct Publisher {
    pub hang: bool,
}

impl MqttPublisher for Publisher {
    fn publish(
        &self,
        _: String,
        _: u8,
        _: bool,
        _: Vec<u8>,
        _: PublishProperties,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

/// The service's defaults for actions, publishing through `publisher`.
pub fn action_context(publisher: Publisher) -> ActionContext {
    // reqwest (rustls without a provider) needs one installed: ring, as the service uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ActionContext::new(Arc::new(publisher), reqwest::Client::new())
}

/// Binds the action of the rule-header `table` (TOML) with `ctx`, as rule `bench` would.
/// Needs a tokio runtime (some actions start tasks when bound).
pub fn bind_action(ctx: ActionContext, table: &str) -> Arc<dyn Action> {
    let ctx = ctx.for_action(ActionBinding {
        rule: "bench".into(),
        slot: "0-republish".into(),
        error_action: None,
    });
    let table: toml::Table = toml::from_str(table).expect("the bench's table is TOML");
    let names = ctx.connection_names();
    let check = CheckContext {
        version: Default::default(),
        connections: &names,
    };
    check_action(&table, &check)
        .and_then(|checked| checked.bind(&ctx))
        .expect("the bench's action is valid")
}

/// A fired message of about 300 bytes (on disk, in a buffer).
pub fn fired_message() -> FiredMessage {
    FiredMessage {
        rule_name: "bench".into(),
        topic: "sensors/room-17/data".into(),
        client_id: "device-0017".into(),
        original_payload:
            br#"{"temperature":31.5,"humidity":48,"battery":3.71,"ts":1700000000000}"#
                .to_vec()
                .into(),
        output: br#"{"temperature":31.5,"humidity":48,"room":"room-17"}"#.to_vec(),
        timestamp_ms: 1_700_000_000_000,
        trace_id: rulewire_actions::TraceId::try_from("3f0c5a1e-7a4b-4c2d-9e8f-0123456789ab")
            .unwrap(),
        ..Default::default()
    }
}
