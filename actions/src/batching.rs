//! The `Action` of sinks that group messages into shared requests (the s3 action's batched
//! mode, kinesis): a message takes one of the action's in-flight slots, joins a batch, and its
//! `execute` resolves only when that batch (or its own record in it) has settled, so the
//! service acknowledges the MQTT message only then. Latency, success and failure are recorded
//! per message, like `Delivered` does for per-message sinks.

use std::{sync::Arc, time::Instant};

use tokio::sync::oneshot;

use crate::{
    Action, ActionFailure, BoxFuture, FiredMessage,
    delivery::{Delivery, record_outcome},
};

/// What a batch tells each of its messages.
pub(crate) type Outcome = Result<(), ActionFailure>;
/// The sending half a batch keeps per message.
pub(crate) type Waiter = oneshot::Sender<Outcome>;

/// A sink that queues messages and answers each through its `Waiter`.
pub(crate) trait Enqueue: Send + Sync + 'static {
    /// `kind()` of the action, for metric labels.
    const KIND: &'static str;
    /// AWS's name in the error payload, e.g. "KinesisAction".
    const AWS_NAME: &'static str;
    fn delivery(&self) -> &Delivery;
    /// Adds `msg` to a batch; `Err` when it can't even be queued (permanent).
    fn enqueue(
        self: &Arc<Self>,
        msg: &FiredMessage,
    ) -> Result<oneshot::Receiver<Outcome>, ActionFailure>;

    /// The `ActionFailure` of this action type.
    fn failure(failed_resource: String, error_message: String) -> ActionFailure {
        ActionFailure {
            failed_action: Self::AWS_NAME.to_owned(),
            failed_resource,
            error_message,
        }
    }
}

/// An `Enqueue` sink as the object-safe `Action` rules hold.
pub(crate) struct Queued<T>(pub Arc<T>);

impl<T: Enqueue> Queued<T> {
    pub(crate) fn action(inner: T) -> Arc<dyn Action> {
        Arc::new(Queued(Arc::new(inner)))
    }
}

impl<T: Enqueue> Action for Queued<T> {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn aws_name(&self) -> &'static str {
        T::AWS_NAME
    }

    fn execute<'a>(&'a self, msg: &'a FiredMessage) -> BoxFuture<'a, Result<(), ActionFailure>> {
        Box::pin(async move {
            let _slot = self.0.delivery().slot().await;
            let start = Instant::now();
            let result = match self.0.enqueue(msg) {
                Ok(done) => done.await.unwrap_or_else(|_| {
                    Err(T::failure(String::new(), "the batch was dropped".into()))
                }),
                Err(e) => Err(e),
            };
            record_outcome(self.0.delivery(), msg, start, &result);
            result
        })
    }

    fn max_in_flight(&self) -> Option<usize> {
        Some(self.0.delivery().max_in_flight())
    }
}
