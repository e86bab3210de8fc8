//! The plumbing every action shares: bounded in-flight work, per-attempt timeout, retries
//! with backoff paced by the action's circuit breaker (`pacing`), metrics, and the
//! `ActionFailure` handed back for the error action.
//!
//! An action type implements `Sink` (prepare a request from the message once, send it once);
//! `Delivered<S>` wraps it into the object-safe `Action` the rules hold. Adding S3, Kafka or
//! Kinesis means writing a `Sink`, nothing more.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use serde::Deserialize;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{
    Action, ActionContext, ActionFailure, ActionMetrics, BoxFuture, BuildError, FiredMessage,
    RetryOverride, RetryPolicy,
    pacing::{Admission, Pacer, WhenOpen},
    retry,
};

/// Delivery settings every action accepts in its rule-header table (each optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryConfig {
    /// Per-attempt timeout in milliseconds; the action type chooses the default.
    pub timeout_ms: Option<u64>,
    /// Overrides of the service's retry policy.
    pub retry: Option<RetryOverride>,
    /// Overrides of the service's in-flight bound for this action.
    pub max_in_flight: Option<usize>,
}

impl DeliveryConfig {
    /// Refuses values that can never work (zero attempts, in-flight bound or timeout), at
    /// check time; the service's defaults fill in what is not set when the action is bound.
    pub(crate) fn check(&self) -> Result<(), BuildError> {
        let attempts = self.retry.as_ref().and_then(|r| r.attempts);
        for (field, value) in [
            ("retry.attempts", attempts.map(u64::from)),
            ("max_in_flight", self.max_in_flight.map(|n| n as u64)),
            ("timeout_ms", self.timeout_ms),
        ] {
            if value == Some(0) {
                return Err(BuildError::invalid(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Resolved delivery settings of one action, and its metric series.
#[derive(Clone)]
pub(crate) struct Delivery {
    pub timeout: Duration,
    pub retry: RetryPolicy,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// One pace for all attempts: the breaker and the adaptive concurrency limit.
    pacer: Arc<Pacer>,
    /// The action's series, bound when it was built.
    pub metrics: Arc<dyn ActionMetrics>,
}

impl Delivery {
    /// Resolves `cfg` against the service defaults in `ctx` and the action's default timeout,
    /// and binds the metric series of an action of type `kind`.
    pub(crate) fn resolve(
        cfg: &DeliveryConfig,
        default_timeout_ms: u64,
        kind: &'static str,
        ctx: &ActionContext,
    ) -> Result<Delivery, BuildError> {
        let mut retry = ctx.retry.with_override(cfg.retry.as_ref());
        let explicit_attempts = cfg.retry.as_ref().is_some_and(|r| r.attempts.is_some());
        if ctx.buffered && !explicit_attempts {
            // Behind a disk buffer the message is safe: retry until the endpoint is back.
            retry.attempts = u32::MAX;
        }
        let max_in_flight = cfg.max_in_flight.unwrap_or(ctx.max_in_flight);
        let timeout_ms = cfg.timeout_ms.unwrap_or(default_timeout_ms);
        let invalid = |field: &str, message: &str| Err(BuildError::invalid(field, message));
        if retry.attempts == 0 {
            return invalid("retry.attempts", "must be at least 1");
        }
        if max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        if timeout_ms == 0 {
            return invalid("timeout_ms", "must be at least 1");
        }
        let max_in_flight = max_in_flight.min(Semaphore::MAX_PERMITS);
        let in_flight = Arc::new(Semaphore::new(max_in_flight));
        let metrics = ctx.metrics.action(kind);
        let when_open = if ctx.buffered {
            WhenOpen::Wait
        } else {
            WhenOpen::Fail
        };
        Ok(Delivery {
            timeout: Duration::from_millis(timeout_ms),
            retry,
            in_flight,
            max_in_flight,
            pacer: Arc::new(Pacer::new(max_in_flight, when_open, metrics.clone())),
            metrics,
        })
    }

    /// The bound on messages this action works on at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Waits for one of the action's in-flight slots; held until the message settles.
    pub(crate) async fn slot(&self) -> SemaphorePermit<'_> {
        // A free slot is taken without building `acquire`'s waiter (most messages): that
        // cost ~2 % of the rules path's CPU at max rate (BENCHMARKS.md, stop 40). The
        // semaphore gives released slots to queued waiters first, so this does not jump
        // the queue.
        if let Ok(permit) = self.in_flight.try_acquire() {
            return permit;
        }
        self.in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Waits until the action's pacer admits one more request; with the breaker open, an
    /// unbuffered action gets the permanent error to report instead.
    pub(crate) async fn admit(&self) -> Result<Admission<'_>, AttemptError> {
        self.pacer
            .admit()
            .await
            .map_err(|open| AttemptError::permanent(open.to_string()))
    }

    /// Runs `attempt` under the per-attempt timeout until it succeeds, fails permanently or
    /// the retry policy is spent; counts retries. A timed-out attempt calls `on_timeout` and
    /// is retried only when `retry_on_timeout`. Every attempt is first admitted by the
    /// action's pacer; with its breaker open an unbuffered action fails at once.
    pub(crate) async fn run<Fut>(
        &self,
        retry_on_timeout: bool,
        on_timeout: impl Fn(),
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<(), AttemptError>
    where
        Fut: Future<Output = Result<(), AttemptError>>,
    {
        let timeout = self.timeout;
        let on_timeout = &on_timeout;
        retry::run(
            &self.retry,
            |e: &AttemptError| e.retryable,
            |n| {
                if n > 1 {
                    self.metrics.retry();
                }
                let fut = attempt();
                async move {
                    let admission = self.admit().await?;
                    let mut fut = pin!(fut);
                    // An in-process sink (the embedded broker's QoS 0 republish) is done on
                    // the first poll: only an attempt that has to wait arms the timer, whose
                    // time counts from here.
                    let first = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                    let mut timed_out = false;
                    let result = match first {
                        Poll::Ready(result) => result,
                        // Boxed: its timer would make every message's action future
                        // larger (built and moved per message), most never needing it.
                        Poll::Pending => match Box::pin(tokio::time::timeout(timeout, fut)).await {
                            Ok(result) => result,
                            Err(_) => {
                                timed_out = true;
                                on_timeout();
                                let message = format!("timed out after {} ms", timeout.as_millis());
                                Err(AttemptError {
                                    message,
                                    retryable: retry_on_timeout,
                                })
                            }
                        },
                    };
                    match &result {
                        Ok(()) => admission.succeeded(),
                        // A timeout says the endpoint is unwell even where it is not retried.
                        Err(e) if e.retryable || timed_out => admission.failed(&e.message),
                        Err(_) => drop(admission),
                    }
                    result
                }
            },
        )
        .await
    }
}

/// Why one attempt failed, and whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttemptError {
    pub message: String,
    pub retryable: bool,
}

impl AttemptError {
    pub(crate) fn retryable(message: impl Into<String>) -> AttemptError {
        AttemptError {
            message: message.into(),
            retryable: true,
        }
    }
    pub(crate) fn permanent(message: impl Into<String>) -> AttemptError {
        AttemptError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// A request that could not even be built (bad rendered topic, URL, header...): permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub resource: String,
    pub message: String,
}

/// One action type: how to turn a fired message into a request, and send it once.
pub(crate) trait Sink: Send + Sync + 'static {
    /// The request rendered from one message (templates resolved); sent on every attempt.
    type Request: Send + Sync;
    /// `kind()` of the action, for metric labels: "republish", "http".
    const KIND: &'static str;
    /// AWS's name in the error payload: "RepublishAction", "HttpAction".
    const AWS_NAME: &'static str;
    /// Whether an attempt that timed out is retried (AWS's HTTP action does not).
    const RETRY_ON_TIMEOUT: bool;

    /// Renders templates against the original message and validates the result.
    fn prepare(&self, msg: &FiredMessage) -> Result<Self::Request, Rejected>;
    /// What the request writes to, for `failedResource`.
    fn resource<'a>(&'a self, req: &'a Self::Request) -> &'a str;
    /// One attempt.
    fn send<'a>(
        &'a self,
        msg: &'a FiredMessage,
        req: &'a Self::Request,
    ) -> impl Future<Output = Result<(), AttemptError>> + Send + 'a;
    /// Called when an attempt times out (e.g. for the HTTP timeout metric).
    fn on_timeout(&self) {}
}

/// A `Sink` with its delivery settings: the `Action` that rules hold.
pub(crate) struct Delivered<S> {
    sink: S,
    delivery: Delivery,
}

impl<S: Sink> Delivered<S> {
    pub(crate) fn action(sink: S, delivery: Delivery) -> Arc<dyn Action> {
        Arc::new(Delivered { sink, delivery })
    }

    async fn deliver(&self, msg: &FiredMessage) -> Result<(), ActionFailure> {
        let req = self
            .sink
            .prepare(msg)
            .map_err(|r| self.failure(r.resource, r.message))?;
        let on_timeout = || self.sink.on_timeout();
        let result = self
            .delivery
            .run(S::RETRY_ON_TIMEOUT, on_timeout, || {
                self.sink.send(msg, &req)
            })
            .await;
        result.map_err(|e| self.failure(self.sink.resource(&req).to_owned(), e.message))
    }

    fn failure(&self, failed_resource: String, error_message: String) -> ActionFailure {
        ActionFailure {
            failed_action: S::AWS_NAME.to_owned(),
            failed_resource,
            error_message,
        }
    }
}

impl<S: Sink> Action for Delivered<S> {
    fn kind(&self) -> &'static str {
        S::KIND
    }

    fn aws_name(&self) -> &'static str {
        S::AWS_NAME
    }

    fn execute<'a>(&'a self, msg: &'a FiredMessage) -> BoxFuture<'a, Result<(), ActionFailure>> {
        Box::pin(async move {
            let _permit = self.delivery.slot().await;
            let start = Instant::now();
            let result = self.deliver(msg).await;
            record_outcome(&self.delivery, msg, start, &result);
            result
        })
    }

    fn max_in_flight(&self) -> Option<usize> {
        Some(self.delivery.max_in_flight())
    }
}

/// Reports one message's outcome (latency, success or failure) and logs a failure.
pub(crate) fn record_outcome(
    delivery: &Delivery,
    msg: &FiredMessage,
    start: Instant,
    result: &Result<(), ActionFailure>,
) {
    let metrics = &delivery.metrics;
    metrics.latency(start.elapsed().as_secs_f64());
    match result {
        Ok(()) => metrics.success(),
        Err(failure) => {
            metrics.failure();
            tracing::warn!(rule = %msg.rule_name, trace_id = %msg.trace_id, %failure, "action failed");
        }
    }
}
