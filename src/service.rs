//! `rulewire run`: wires the pieces together — embedded broker (if no external one), the
//! publisher and ingest connections, the rules registry and its hot reload, the admin
//! server, the optional demo — and handles SIGTERM/SIGINT with a bounded graceful drain.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use rulewire_actions::{ActionContext, BufferStore, Connections, MqttPublisher, RetryPolicy};

use crate::cli::demo;
use crate::config::Config;
use crate::embedded;
use crate::ingest::Subscriptions;
use crate::ingest::{Admission, Ingest, Status};
use crate::mqtt::publisher::{Publisher, Session, uplink};
use crate::mqtt::{self, inbound};
use crate::ops::metrics::Metrics;
use crate::ops::stop::stop_flag;
use crate::ops::{admin, reload};
use crate::pipeline::{AckQueue, BatchBounds};
use crate::registry::Registry;
use crate::shadow::{Limits as ShadowLimits, ShadowService, ShadowStore};

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `rules.dir`.
    pub rules_dir: Option<PathBuf>,
    /// Publish sample telemetry and print what the example rules republish.
    pub demo: bool,
}

/// The client id of the publishing connection (republish action).
fn publisher_client_id(config: &Config) -> String {
    format!("{}-pub", config.broker.client_id)
}

/// Runs the service until SIGTERM/SIGINT.
pub async fn run(mut config: Config, opts: RunOptions) -> anyhow::Result<()> {
    mqtt::install_crypto_provider();
    if let Some(dir) = opts.rules_dir {
        config.rules.dir = dir;
    }
    if opts.demo {
        demo::move_taken_listeners(&mut config);
    }
    let metrics = Arc::new(Metrics::new());
    let (trigger, stop) = stop_flag();
    let embedded = config.uses_embedded_broker();
    // With the embedded broker the rules get its messages in-process (`local_events`), and no
    // ingest connection is made.
    let mut local_events = None;
    let mut embedded_publisher = None;
    // Set once the rules are loaded: the embedded broker's publish hook admits through it.
    let mut direct_admission = None;
    let url = if embedded {
        let limits = embedded::BrokerLimits {
            max_packet_bytes: config.limits.max_payload_bytes + 1024 * 1024,
            max_inflight: config.limits.max_in_flight,
        };
        let broker_metrics = embedded::BrokerMetrics {
            dropped: metrics.embedded_broker_dropped.clone(),
            denied: metrics.embedded_broker_denied.clone(),
        };
        let (events, rx) = tokio::sync::mpsc::channel(inbound::EVENT_QUEUE);
        local_events = Some(rx);
        let direct = Arc::new(std::sync::OnceLock::new());
        direct_admission = Some(direct.clone());
        let feed = embedded::RulesFeed {
            events,
            max_payload_bytes: config.limits.max_payload_bytes,
            admission: direct,
        };
        let broker = embedded::start(
            &config.embedded_broker,
            &config.storage.data_dir,
            limits,
            broker_metrics,
            feed,
            &publisher_client_id(&config),
            stop.clone(),
        )
        .await?;
        embedded_publisher = Some(broker.publisher);
        broker.url
    } else {
        config.broker.url.clone()
    };
    let status = Arc::new(Status::default());

    // Publishing connection (republish action). It has its own stop, set only after the
    // drain, so messages still in flight at SIGTERM can finish their republishes. It receives
    // only acks, so its packet bound is only a sanity check. A clean session: a publish
    // waiting for its PUBACK when the connection drops fails at once, and is retried.
    let max_packet = config.limits.max_payload_bytes.max(1024 * 1024) * 2;
    let (publisher_trigger, publisher_stop) = stop_flag();
    let publisher: Arc<dyn MqttPublisher> = match embedded_publisher {
        // The embedded broker routes republishes in-process.
        Some(publisher) => publisher,
        None => Publisher::start(
            &config.broker,
            &url,
            publisher_client_id(&config),
            Session::Clean,
            max_packet,
            publisher_stop.clone(),
        )?,
    };

    // Ingest connection (external broker): persistent session, manual acks.
    let in_flight = config.limits.max_in_flight;
    metrics.max_in_flight.set(in_flight as i64);
    let spec = inbound::InboundSpec {
        url: url.clone(),
        client_id: config.broker.client_id.clone(),
        clean_session: config.broker.clean_session,
        max_payload_bytes: config.limits.max_payload_bytes,
        receive_maximum: in_flight.min(u16::MAX as usize) as u16,
        reconnect_min: Duration::from_millis(config.broker.reconnect_min_ms.max(10)),
        reconnect_max: Duration::from_millis(
            config
                .broker
                .reconnect_max_ms
                .max(config.broker.reconnect_min_ms),
        ),
    };
    let (client, events) = match local_events {
        Some(events) => {
            status
                .connected
                .store(true, std::sync::atomic::Ordering::SeqCst);
            (None, events)
        }
        None => {
            let (client, events) = inbound::start(&config.broker, spec)?;
            (Some(client), events)
        }
    };
    let basic_ingest = config.broker.basic_ingest;
    let shadows_on = config.shadows_enabled();
    let subscriptions = Subscriptions::new(
        client.clone(),
        &config.broker.shared_group,
        basic_ingest,
        shadows_on,
    );
    let shadow_store = if shadows_on {
        let path = config.storage.data_dir.join("shadows.redb");
        Some(Arc::new(ShadowStore::open(&path)?))
    } else {
        tracing::info!("Device Shadows are off (shadows.enabled, or broker.shared_group is set)");
        None
    };

    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let retry = RetryPolicy {
        attempts: config.actions.attempts.max(1),
        base_delay: Duration::from_millis(config.actions.base_delay_ms),
        max_delay: Duration::from_millis(config.actions.max_delay_ms),
    };
    // Metrics are replaced per rule by the registry (`RuleActionHooks`).
    let mut ctx = ActionContext::new(publisher.clone(), http);
    ctx.retry = retry;
    ctx.max_in_flight = in_flight;
    ctx.s3 = Arc::new({
        rulewire_actions::s3::check_aws_references(&config.s3, &config.aws)?;
        Connections::open(&config.s3)?
    });
    ctx.kafka = Arc::new(Connections::open(&config.kafka)?);
    ctx.aws = Arc::new(Connections::open(&config.aws)?);
    ctx.opensearch = Arc::new({
        rulewire_actions::opensearch::check_aws_references(&config.opensearch, &config.aws)?;
        Connections::open(&config.opensearch)?
    });
    ctx.mqtt = Arc::new(uplink::start_uplinks(
        &config.mqtt,
        &config.broker.client_id,
        max_packet,
        &publisher_stop,
    )?);
    ctx.buffers = Some(Arc::new(BufferStore::new(
        config.storage.data_dir.join("buffers"),
    )));
    let bounds = BatchBounds {
        max_messages: config.batch.max_messages,
        max_delay: Duration::from_millis(config.batch.max_delay_ms),
    };
    let rules_dir = config.rules.dir.clone();
    std::fs::metadata(&rules_dir)
        .with_context(|| format!("rules directory {} (rules.dir)", rules_dir.display()))?;
    let mut registry = Registry::new(
        rules_dir.clone(),
        ctx,
        bounds,
        metrics.clone(),
        Some(subscriptions.clone()),
    );
    if let Some(store) = &shadow_store {
        registry = registry.with_lookups(store.clone());
    }
    let registry = Arc::new(registry);
    let report = registry.reload().await;
    tracing::info!(dir = %rules_dir.display(), rules = registry.routes().rules.len(), errors = report.errors.len(), "rules loaded");
    status.rules_loaded.store(true, Ordering::SeqCst);
    reload::spawn(registry.clone(), config.rules.watch, stop.clone())?;

    let admin = if config.http.listen.is_empty() {
        None
    } else {
        let state = admin::AppState {
            metrics: metrics.clone(),
            status: status.clone(),
            registry: registry.clone(),
            shadows: shadow_store.clone(),
        };
        Some(admin::serve(&config.http, state, stop.clone()).await?)
    };

    let acks = match &client {
        Some(client) => AckQueue::start(client.clone(), &metrics),
        None => AckQueue::local(&metrics),
    };
    let shadows = shadow_store.map(|store| {
        let limits = ShadowLimits {
            max_document_bytes: config.shadows.max_document_bytes,
            requests_per_second_per_thing: config.shadows.requests_per_second_per_thing,
            max_in_flight_per_connection: config.shadows.max_in_flight_per_connection,
        };
        ShadowService::start(store, publisher.clone(), limits, metrics.clone())
    });
    let admission = Arc::new(Admission::new(
        registry.clone(),
        acks,
        metrics.clone(),
        shadows,
        in_flight,
    ));
    // From here the embedded broker's clients' messages are admitted in their connections.
    if let Some(direct) = &direct_admission {
        let _ = direct.set((admission.clone(), stop.clone()));
    }
    let ingest = Ingest {
        client,
        events,
        admission,
        subscriptions,
        status: status.clone(),
    };
    let drain_timeout = Duration::from_millis(config.shutdown.timeout_ms);
    let ingest_task = tokio::spawn(ingest.run(stop.clone(), drain_timeout));
    tracing::info!(broker = %url, embedded, "rulewire running");

    if opts.demo {
        demo::spawn(&config.broker, &url, stop.clone())?;
    }

    wait_for_signal().await;
    tracing::info!(timeout = ?drain_timeout, "stopping: no new messages are read");
    trigger.set();
    if tokio::time::timeout(drain_timeout + Duration::from_secs(3), ingest_task)
        .await
        .is_err()
    {
        tracing::warn!("drain did not finish in time; exiting");
    }
    publisher_trigger.set();
    if let Some(admin) = admin {
        let _ = tokio::time::timeout(Duration::from_secs(1), admin).await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
