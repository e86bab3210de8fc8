//! The in-flight bound: at most `limits.max_in_flight` messages between admission and the
//! end of their rules. Each admitted message holds an [`InFlightPermit`] (inside its ticket)
//! until its last rule is done.
//!
//! A counter and a [`Notify`] rather than tokio's `Semaphore`: every message takes and
//! returns one permit, and the semaphore takes a lock on every return, to hand permits to
//! waiters in FIFO order. Here taking and returning are one atomic operation each while
//! nobody waits (profiled with the embedded broker at 40 K msg/s: the semaphore was ~6 % of
//! rulewire's CPU). No FIFO order among waiters is needed: the ingest loop is one waiter,
//! and each embedded-broker connection waits for its own message.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The permits left, and a wake-up for those waiting for one.
pub struct InFlight {
    available: AtomicUsize,
    returned: Notify,
}

/// One message's place in flight; returned when dropped.
pub struct InFlightPermit {
    gate: Arc<InFlight>,
}

impl InFlight {
    pub fn new(max: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            available: AtomicUsize::new(max),
            returned: Notify::new(),
        })
    }

    /// A permit, waiting until one is returned if none is left.
    pub async fn acquire(self: &Arc<Self>) -> InFlightPermit {
        loop {
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            // Registered before the second look, so a return in between is not missed.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            returned.await;
        }
    }

    fn try_acquire(self: &Arc<Self>) -> Option<InFlightPermit> {
        self.available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| InFlightPermit { gate: self.clone() })
    }

    /// Permits not taken.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.available.load(Ordering::Acquire)
    }
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        self.gate.available.fetch_add(1, Ordering::AcqRel);
        // Without waiters this only stores a wake-up for the next one (no lock).
        self.gate.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn takes_up_to_the_bound_and_a_returned_permit_wakes_a_waiter() {
        let gate = InFlight::new(2);
        let a = gate.acquire().await;
        let _b = gate.acquire().await;
        assert_eq!(gate.available(), 0);
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "no permit left: it waits");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the returned permit")
            .unwrap();
        assert_eq!(gate.available(), 0);
        drop(c);
        assert_eq!(gate.available(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_on_one_permit_all_get_through_and_none_is_lost() {
        let gate = InFlight::new(1);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    for _ in 0..1000 {
                        let permit = gate.acquire().await;
                        tokio::task::yield_now().await;
                        drop(permit);
                    }
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("no waiter is left asleep with a permit free")
                .unwrap();
        }
        assert_eq!(gate.available(), 1);
    }
}
