//! `rulewire bench`: a load generator and meter for a running rulewire (or, with
//! `--baseline`, for the broker alone).
//!
//! The meter subscribes to the output filters first ([`receiver`]), then N publisher
//! connections ([`publisher`]) send templated messages ([`template`]) at a paced or maximal
//! rate for a duration or a count. Each output must echo the input's `seq` and send
//! timestamp; from those the meter counts loss and duplicates and builds an end-to-end
//! latency histogram ([`histogram`]). A progress line goes to stderr every second and the
//! summary ([`report`]) to stdout at the end, after a drain period for late outputs.
//!
//! ```text
//! rulewire bench --broker mqtt://127.0.0.1:1883 --connections 4 --rate 20000 --duration 10s \
//!     --topic 'sensors/{conn}/data' --subscribe 'out/#'
//! rulewire bench --baseline --rate 20000 --duration 10s --json     # broker alone
//! ```

mod args;
mod histogram;
mod publisher;
mod receiver;
mod report;
mod template;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use args::{BenchArgs, Plan};
pub use histogram::Histogram;
pub use report::{Latency, Summary};
pub use template::{Rng, Template, Vars};

use publisher::{Load, Shared};
use receiver::Receiver;
use report::Progress;

/// Runs the bench described by the command line and prints its summary.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let plan = args.plan()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(bench(&plan))?;
    if plan.json {
        summary.print_json();
    } else {
        summary.print_table();
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one bench: meter up, publishers connected, load, drain, summary.
pub async fn bench(plan: &Plan) -> anyhow::Result<Summary> {
    let receiver = Receiver::start(plan).await?;
    let mut connections = Vec::with_capacity(plan.connections);
    for index in 0..plan.connections {
        connections.push(Arc::new(publisher::connect(plan, index).await?));
    }

    let shared = Arc::new(Shared::default());
    shared
        .warming
        .store(!plan.warmup.is_zero(), Ordering::SeqCst);
    let mut tasks = Vec::with_capacity(connections.len());
    for conn in &connections {
        let load = Load {
            topic: plan.topic.clone(),
            payload: plan.payload.clone(),
            qos: plan.qos,
            rate: plan.rate / plan.connections as f64,
            count: plan.count,
            shared: shared.clone(),
        };
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            publisher::publish(&conn, load).await
        }));
    }

    let mut progress = Progress::new(!plan.quiet);
    let started = Instant::now();
    let mut measure_start = if plan.warmup.is_zero() {
        Some(started)
    } else {
        None
    };
    let mut last_tick = (started, 0u64, 0u64);
    let mut failure = None;
    // Publishing phase: check every 50 ms, print once a second.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Instant::now();
        if measure_start.is_none() && now - started >= plan.warmup {
            shared.warming.store(false, Ordering::SeqCst);
            measure_start = Some(now);
        }
        if let Some(start) = measure_start
            && plan.duration.is_some_and(|d| now - start >= d)
        {
            break;
        }
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        if receiver.failed() || connections.iter().any(|c| c.eventloop.is_finished()) {
            failure = Some(());
            break;
        }
        if now - last_tick.0 >= Duration::from_secs(1) {
            last_tick = tick(
                &mut progress,
                started,
                measure_start.is_none(),
                &shared,
                &receiver,
                last_tick,
            );
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    // Join everything; a connection error (from an eventloop) explains the others.
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await? {
            errors.push(e);
        }
    }
    for conn in connections {
        let conn = Arc::into_inner(conn).expect("publishing tasks are done");
        if let Err(e) = conn.eventloop.await? {
            errors.insert(0, e);
        }
    }
    if failure.is_some() || !errors.is_empty() {
        if let Err(e) = receiver.stop().await {
            errors.insert(0, e);
        }
        return Err(errors
            .into_iter()
            .next()
            .unwrap_or_else(|| anyhow::anyhow!("a connection ended during the bench")));
    }
    let publish_end = Instant::now();
    let measure_start = measure_start.unwrap_or(publish_end);
    let sent = shared.sent.load(Ordering::SeqCst);
    let expected = (sent as f64 * plan.expect_ratio).round() as u64;

    // Drain: until the drain period ends, or everything expected has arrived and nothing
    // more came for 200 ms.
    let drain_end = publish_end + plan.drain;
    let mut last_count = (Instant::now(), 0u64);
    while Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Instant::now();
        let (unique, received) = {
            let meter = receiver.meter.lock().unwrap();
            (meter.unique, meter.received)
        };
        if received != last_count.1 {
            last_count = (now, received);
        } else if unique >= expected && now - last_count.0 >= Duration::from_millis(200) {
            break;
        }
        if now - last_tick.0 >= Duration::from_secs(1) {
            last_tick = tick(&mut progress, started, false, &shared, &receiver, last_tick);
        }
    }
    progress.finish();
    let meter = receiver.meter.clone();
    receiver.stop().await?;
    let meter = meter.lock().unwrap();

    let publish_secs = (publish_end - measure_start).as_secs_f64();
    let delivered_secs = meter.last_measured.map_or(0.0, |t| {
        t.saturating_duration_since(measure_start).as_secs_f64()
    });
    let lost = expected as i64 - meter.unique as i64;
    Ok(Summary {
        mode: if plan.baseline { "baseline" } else { "rules" },
        broker: plan.broker.clone(),
        subscribe: plan.filters.clone(),
        http_listen: plan.http_listen.map(|a| a.to_string()),
        connections: plan.connections,
        qos: plan.qos as u8,
        target_rate: plan.rate,
        payload_bytes: sample_payload_len(plan),
        publish_secs,
        sent,
        sent_per_sec: per_sec(sent, publish_secs),
        expect_ratio: plan.expect_ratio,
        expected,
        received: meter.unique,
        lost,
        loss_pct: if expected == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / expected as f64
        },
        duplicates: meter.duplicates,
        delivered_per_sec: per_sec(meter.unique, delivered_secs),
        foreign: meter.foreign,
        warmup_sent: shared.sent_warmup.load(Ordering::SeqCst),
        warmup_received: meter.warmup,
        latency_ms: Latency::from_histogram(&meter.latency),
    })
}

/// Prints one progress line; returns the new (time, sent, received) reference point.
fn tick(
    progress: &mut Progress,
    started: Instant,
    warming: bool,
    shared: &Shared,
    receiver: &Receiver,
    last: (Instant, u64, u64),
) -> (Instant, u64, u64) {
    let now = Instant::now();
    let sent = shared.sent.load(Ordering::Relaxed) + shared.sent_warmup.load(Ordering::Relaxed);
    let (received, unique, p99) = {
        let meter = receiver.meter.lock().unwrap();
        let p99 = (meter.latency.count() > 0).then(|| meter.latency.percentile(99.0) as f64 / 1e6);
        (meter.received, meter.unique, p99)
    };
    let secs = (now - last.0).as_secs_f64();
    let phase = if warming { "warmup" } else { "measure" };
    progress.line(
        (now - started).as_secs_f64(),
        phase,
        (sent - last.1) as f64 / secs,
        (received - last.2) as f64 / secs,
        p99,
        shared.sent.load(Ordering::Relaxed),
        unique,
    );
    (now, sent, received)
}

fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

fn sample_payload_len(plan: &Plan) -> usize {
    let mut rng = Rng::new(1);
    let mut out = String::new();
    plan.payload.render(
        &mut Vars {
            seq: 1_000_000,
            conn: 0,
            ts_ns: receiver::now_ns(),
            rng: &mut rng,
        },
        &mut out,
    );
    out.len()
}
