//! Kafka action tests against a real tansu broker (`testing::Tansu`, one per test on a free
//! loopback port), read back with rdkafka's own consumer. Without tansu these tests FAIL.

mod delivery;
mod records;

use std::sync::Arc;

use rulewire_engine::SqlVersion;

use super::KafkaSettings;
pub(crate) use crate::testing::{Tansu, consume, value};
use crate::{
    Action, ActionContext, BuildError,
    test_util::{CountingMetrics, NoPublisher, build_action, context, table},
};

/// The `[kafka]` settings of a connection named `tansu` to `tansu`, plus `extra` librdkafka
/// properties.
pub(crate) fn settings(tansu: &Tansu, extra: &[(&str, &str)]) -> KafkaSettings {
    #[derive(serde::Deserialize)]
    struct File {
        kafka: KafkaSettings,
    }
    let file: File = toml::from_str(&tansu.connection_toml("tansu", extra)).unwrap();
    file.kafka
}

/// A test context (counting metrics) with these Kafka connections.
pub(crate) fn kafka_context(settings: &KafkaSettings) -> (ActionContext, Arc<CountingMetrics>) {
    let (mut ctx, metrics) = context(Arc::new(NoPublisher));
    ctx.kafka = Arc::new(crate::Connections::open(settings).unwrap());
    (ctx, metrics)
}

/// Builds the action of a rule-header table (`type = "kafka"` and the `tansu` connection
/// are prepended).
pub(crate) fn action(ctx: &ActionContext, fields: &str) -> Result<Arc<dyn Action>, BuildError> {
    let text = format!("type = \"kafka\"\nconnection = \"tansu\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx)
}
