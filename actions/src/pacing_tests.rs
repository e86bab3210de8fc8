//! Tests of the pacer: the breaker opens, fails or holds attempts, probes, and ramps back.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::NoopMetrics;

fn pacer(max: usize, when_open: WhenOpen) -> Pacer {
    Pacer::new(max, when_open, Arc::new(NoopMetrics)).with_first_open(Duration::from_millis(200))
}

async fn fail_times(p: &Pacer, n: u32) {
    for _ in 0..n {
        p.admit().await.unwrap().failed("503 Service Unavailable");
    }
}

/// Successes until the limit is `max` (slow start).
async fn warm_up(p: &Pacer) {
    for _ in 0..8 {
        p.admit().await.unwrap().succeeded();
    }
}

#[tokio::test]
async fn failures_in_a_row_open_the_breaker_and_an_unbuffered_action_fails_fast() {
    let p = pacer(8, WhenOpen::Fail);
    assert_eq!(p.limit(), 1, "slow start");
    warm_up(&p).await;
    assert_eq!(p.limit(), 8);
    fail_times(&p, TRIP_AFTER - 1).await;
    assert_eq!(p.limit(), 1, "each failure halved the limit");
    p.admit().await.unwrap().failed("503 Service Unavailable");
    let open = p.admit().await.err().expect("the breaker is open");
    assert!(open.retry_in <= Duration::from_millis(200));
    assert!(open.to_string().starts_with("circuit open"), "{open}");
    assert!(
        open.to_string().contains("(last: 503 Service Unavailable)"),
        "{open}"
    );

    // After the open period one probe goes through; its success closes the breaker and the
    // limit ramps up from 1 by doubling.
    tokio::time::sleep(Duration::from_millis(210)).await;
    let probe = p.admit().await.unwrap();
    assert!(p.admit().await.is_err(), "only the probe while half-open");
    probe.succeeded();
    assert_eq!(p.limit(), 2, "slow start up to half the last failing limit");
    p.admit().await.unwrap().succeeded();
    assert_eq!(p.limit(), 2, "then one more per limit's worth of successes");
    p.admit().await.unwrap().succeeded();
    assert_eq!(p.limit(), 3);
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_for_longer() {
    let p = pacer(4, WhenOpen::Fail);
    fail_times(&p, TRIP_AFTER).await;
    tokio::time::sleep(Duration::from_millis(210)).await;
    p.admit().await.unwrap().failed("503 Service Unavailable");
    let open = p.admit().await.err().expect("open again");
    assert!(open.retry_in > Duration::from_millis(200), "{open:?}");
}

#[tokio::test]
async fn a_buffered_action_waits_for_the_probe_instead_of_failing() {
    let p = Arc::new(pacer(4, WhenOpen::Wait));
    fail_times(&p, TRIP_AFTER).await;
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let (p, sent) = (p.clone(), sent.clone());
            tokio::spawn(async move {
                let admission = p.admit().await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
                admission.succeeded();
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 0, "nothing is sent while open");
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(sent.load(Ordering::SeqCst), 10);
    assert!(start.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn permanent_failures_do_not_trip_the_breaker_and_concurrency_is_bounded() {
    let p = Arc::new(pacer(2, WhenOpen::Fail));
    warm_up(&p).await;
    for _ in 0..3 * TRIP_AFTER {
        drop(p.admit().await.unwrap());
    }
    let a = p.admit().await.unwrap();
    let _b = p.admit().await.unwrap();
    let third = tokio::spawn({
        let p = p.clone();
        async move { p.admit().await.map(|a| a.succeeded()).is_ok() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!third.is_finished(), "a third attempt waits for a slot");
    a.succeeded();
    assert!(third.await.unwrap());
}

#[tokio::test]
async fn attempts_admitted_before_the_breaker_opened_do_not_close_it() {
    let p = pacer(8, WhenOpen::Fail);
    warm_up(&p).await;
    let stale = p.admit().await.unwrap();
    let mut failing = Vec::new();
    for _ in 0..TRIP_AFTER {
        failing.push(p.admit().await.unwrap());
    }
    for admission in failing {
        admission.failed("503");
    }
    assert!(p.admit().await.is_err(), "open");
    stale.succeeded();
    assert!(p.admit().await.is_err(), "a stale success leaves it open");
}

/// Attempts waiting for a slot are admitted in the order they asked, on a multi-threaded
/// runtime where woken waiters race (one slot, so the admission order is observable); a
/// waiter that gives up (its future dropped) leaves the line and holds nobody back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_admitted_first_come_first_served() {
    const N: u64 = 400;
    let p = Arc::new(pacer(1, WhenOpen::Fail));
    let order = Arc::new(Mutex::new(Vec::new()));
    let first = p.admit().await.unwrap();
    // Wait in line behind the first; this one is cancelled before its turn.
    let cancelled = tokio::spawn({
        let p = p.clone();
        async move { p.admit().await.map(drop).is_ok() }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut tasks = Vec::new();
    for i in 0..N {
        let (pacer, order) = (p.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let admission = pacer.admit().await.unwrap();
            order.lock().unwrap().push(i);
            tokio::task::yield_now().await;
            admission.succeeded();
        }));
        // Each in line before the next asks (spawned tasks start in any order).
        while p.state.lock().unwrap().line.len() < i as usize + 2 {
            tokio::task::yield_now().await;
        }
    }
    cancelled.abort();
    first.succeeded();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..N).collect::<Vec<_>>());
    assert!(p.state.lock().unwrap().line.is_empty());
}
