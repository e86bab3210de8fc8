//! One pace for all of an action's attempts: a circuit breaker with adaptive concurrency.
//!
//! Without it every message an action holds retries on its own timer, so a dead endpoint gets
//! (messages held × attempts) requests, and a recovering one gets them all at once. The
//! [`Pacer`] of an action admits each attempt:
//!
//! - **Concurrency limit** (AIMD, as TCP's congestion window): a retryable failure halves how
//!   many attempts may run at once (down to 1) and remembers half of where it failed; below
//!   that mark a success doubles the limit (slow start), above it the limit grows by one per
//!   limit's worth of successes, up to the action's `max_in_flight`. A new action and a
//!   recovering endpoint see a ramp 1, 2, 4, ... instead of a burst, and a struggling one is
//!   probed gently near the concurrency where it last failed.
//! - **Breaker**: after [`TRIP_AFTER`] retryable failures in a row the breaker opens for an
//!   open period (1 s, doubling per trip up to 30 s). While open no attempt is sent: an
//!   unbuffered action fails the message at once (it goes to the error action, as after its
//!   retries), a buffered action waits (its messages are safe on disk). Then one probe
//!   attempt is admitted (half-open); its success closes the breaker, its failure opens it again.
//!
//! Permanent failures (4xx, rejected requests) say nothing about the endpoint's health and do
//! not count.
//!
//! Admission is first come, first served: an attempt that has to wait gets a place in line,
//! and a later one never overtakes it, so actions that promise order (republish, mqtt) keep
//! it while the limit ramps up.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use crate::ActionMetrics;

/// Retryable failures in a row that open the breaker.
pub(crate) const TRIP_AFTER: u32 = 5;
const FIRST_OPEN: Duration = Duration::from_secs(1);
const LONGEST_OPEN: Duration = Duration::from_secs(30);

/// What an attempt does when the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenOpen {
    /// Fail the attempt now (memory-buffered actions: the message goes to the error action).
    Fail,
    /// Wait for the probe (disk-buffered actions).
    Wait,
}

struct State {
    limit: usize,
    /// Below it the limit doubles per success (slow start); at or above it, it grows by one
    /// per `limit` successes (congestion avoidance, as TCP): half the limit of the last failure.
    ssthresh: usize,
    /// Successes counted toward the next additive step.
    credit: usize,
    active: usize,
    failures_in_row: u32,
    trips: u32,
    open_until: Option<Instant>,
    /// A half-open probe is out.
    probing: bool,
    /// The last retryable failure, for the message of attempts refused while open.
    last_error: String,
    /// The places in line of the attempts waiting to be admitted, first first.
    line: VecDeque<u64>,
    next_place: u64,
}

impl State {
    /// Whether the attempt at `place` (`None`: not in line yet) is next to be admitted.
    fn is_next(&self, place: Option<u64>) -> bool {
        match place {
            None => self.line.is_empty(),
            Some(p) => self.line.front() == Some(&p),
        }
    }
}

/// An attempt's place in line; leaving it (admitted, refused or cancelled) lets the next go.
struct Place<'a> {
    pacer: &'a Pacer,
    place: u64,
    left: bool,
}

impl Place<'_> {
    fn leave(&mut self, st: &mut State) {
        if let Some(i) = st.line.iter().position(|&p| p == self.place) {
            st.line.remove(i);
        }
        self.left = true;
    }
}

impl Drop for Place<'_> {
    /// A waiting attempt was cancelled: out of the line, and the next one may go.
    fn drop(&mut self) {
        if !self.left {
            let mut st = self.pacer.state.lock().unwrap();
            self.leave(&mut st);
            drop(st);
            self.pacer.wake.notify_waiters();
        }
    }
}

/// The pacing of one action's attempts.
pub(crate) struct Pacer {
    max: usize,
    when_open: WhenOpen,
    /// The first open period (doubling per trip up to [`LONGEST_OPEN`]).
    first_open: Duration,
    state: Mutex<State>,
    wake: Notify,
    metrics: Arc<dyn ActionMetrics>,
}

/// The breaker refused an attempt; `retry_in` is how long it stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    pub retry_in: Duration,
    /// The failure that opened (or re-opened) it.
    pub last_error: String,
}

impl std::fmt::Display for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "circuit open: the endpoint failed {TRIP_AFTER} or more times in a row (last: {}); next try in {} ms",
            self.last_error,
            self.retry_in.as_millis()
        )
    }
}

impl Pacer {
    pub(crate) fn new(max: usize, when_open: WhenOpen, metrics: Arc<dyn ActionMetrics>) -> Pacer {
        Pacer {
            max: max.max(1),
            when_open,
            first_open: FIRST_OPEN,
            // Slow start: a new action ramps up from one attempt at a time.
            state: Mutex::new(State {
                limit: 1,
                ssthresh: max.max(1),
                credit: 0,
                active: 0,
                failures_in_row: 0,
                trips: 0,
                open_until: None,
                probing: false,
                last_error: String::new(),
                line: VecDeque::new(),
                next_place: 0,
            }),
            wake: Notify::new(),
            metrics,
        }
    }

    /// Waits until an attempt may be sent; `Err` when the breaker is open and this action
    /// fails instead of waiting.
    pub(crate) async fn admit(&self) -> Result<Admission<'_>, Open> {
        let mut place: Option<Place<'_>> = None;
        loop {
            let (woken, wait_until) = {
                let mut st = self.state.lock().unwrap();
                let next = st.is_next(place.as_ref().map(|p| p.place));
                let admitted = match st.open_until {
                    Some(until) if Instant::now() < until || st.probing => {
                        if self.when_open == WhenOpen::Fail {
                            let refused = Open {
                                retry_in: until.saturating_duration_since(Instant::now()),
                                last_error: st.last_error.clone(),
                            };
                            if let Some(place) = &mut place {
                                place.leave(&mut st);
                            }
                            drop(st);
                            self.wake.notify_waiters();
                            return Err(refused);
                        }
                        None
                    }
                    // Half-open: the next attempt in line is the probe.
                    Some(_) if next => {
                        st.probing = true;
                        Some(true)
                    }
                    None if next && st.active < st.limit => Some(false),
                    _ => None,
                };
                if let Some(probe) = admitted {
                    st.active += 1;
                    if let Some(place) = &mut place {
                        place.leave(&mut st);
                    }
                    let room = st.active < st.limit && !st.line.is_empty();
                    drop(st);
                    if room {
                        // The attempt behind this one may go too.
                        self.wake.notify_waiters();
                    }
                    return Ok(Admission { pacer: self, probe });
                }
                if place.is_none() {
                    let p = st.next_place;
                    st.next_place += 1;
                    st.line.push_back(p);
                    place = Some(Place {
                        pacer: self,
                        place: p,
                        left: false,
                    });
                }
                // The wake-up is built only by an attempt that waits (most are admitted at
                // once, and building it cost ~2 % of the rules path's CPU at max rate,
                // BENCHMARKS.md stop 40), and under the lock: every change that wakes
                // waiters is made under it and notifies after, so none is missed. Boxed,
                // as the timer below: they would make every attempt's future larger (built
                // and moved per message).
                (Box::pin(self.wake.notified()), st.open_until)
            };
            match wait_until {
                Some(until) if Instant::now() < until => {
                    tokio::select! {
                        _ = Box::pin(tokio::time::sleep_until(until)) => {}
                        _ = woken => {}
                    }
                }
                _ => woken.await,
            }
        }
    }

    /// The same pacer with another first open period (tests).
    #[cfg(test)]
    pub(crate) fn with_first_open(mut self, first_open: Duration) -> Pacer {
        self.first_open = first_open;
        self
    }

    /// The current concurrency limit (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.state.lock().unwrap().limit
    }

    fn settle(&self, probe: bool, outcome: Outcome<'_>) {
        let someone_waits = {
            let mut st = self.state.lock().unwrap();
            st.active -= 1;
            if probe {
                st.probing = false;
            }
            match outcome {
                // While open, only the probe's outcome counts: attempts admitted before the
                // breaker opened still settle, and one of them must not close it again.
                Outcome::Success if st.open_until.is_some() && !probe => {}
                Outcome::RetryableFailure(_) if st.open_until.is_some() && !probe => {}
                Outcome::Success => {
                    if st.open_until.take().is_some() {
                        self.metrics.circuit_open(false);
                        st.limit = 1;
                    }
                    st.failures_in_row = 0;
                    st.trips = 0;
                    if st.limit < st.ssthresh {
                        st.limit = (st.limit * 2).min(st.ssthresh).min(self.max);
                    } else {
                        st.credit += 1;
                        if st.credit >= st.limit {
                            st.credit = 0;
                            st.limit = (st.limit + 1).min(self.max);
                        }
                    }
                }
                Outcome::RetryableFailure(message) => {
                    message.clone_into(&mut st.last_error);
                    st.failures_in_row += 1;
                    st.limit = (st.limit / 2).max(1);
                    st.ssthresh = st.limit.max(2);
                    st.credit = 0;
                    let reopen = probe && st.open_until.is_some();
                    if reopen || (st.open_until.is_none() && st.failures_in_row >= TRIP_AFTER) {
                        let open_for = self
                            .first_open
                            .saturating_mul(1 << st.trips.min(5))
                            .min(LONGEST_OPEN);
                        if st.open_until.is_none() {
                            self.metrics.circuit_open(true);
                        }
                        st.open_until = Some(Instant::now() + open_for);
                        st.trips += 1;
                        self.metrics.circuit_tripped();
                    }
                }
                Outcome::Neutral => {}
            }
            // Every waiting attempt has a place in line; with none, nobody needs waking.
            !st.line.is_empty()
        };
        if someone_waits {
            self.wake.notify_waiters();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome<'m> {
    Success,
    /// With the failure's message.
    RetryableFailure(&'m str),
    Neutral,
}

/// One admitted attempt; report how it went, or drop it (counts as neither).
pub(crate) struct Admission<'a> {
    pacer: &'a Pacer,
    probe: bool,
}

impl Admission<'_> {
    pub(crate) fn succeeded(self) {
        self.finish(Outcome::Success);
    }
    /// A retryable failure (5xx, throttling, timeout, connection error).
    pub(crate) fn failed(self, message: &str) {
        self.finish(Outcome::RetryableFailure(message));
    }
    fn finish(self, outcome: Outcome<'_>) {
        let this = std::mem::ManuallyDrop::new(self);
        this.pacer.settle(this.probe, outcome);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.pacer.settle(self.probe, Outcome::Neutral);
    }
}

#[cfg(test)]
#[path = "pacing_tests.rs"]
mod tests;
