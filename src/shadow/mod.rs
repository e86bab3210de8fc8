//! Device Shadows, as AWS IoT's Device Shadow service serves them over MQTT: classic and named
//! shadows on `$aws/things/{thing}/shadow[/name/{shadow}]/{get,update,delete}`, answered on
//! `/accepted` and `/rejected`, with `/update/delta` and `/update/documents`; stored on local
//! disk; read by rules with `get_thing_shadow()` and by operators at `GET /shadows/...`.
//!
//! - `document`: one shadow and the pure operations on it (merge, metadata, delta);
//! - `request`: topics, checks and AWS's answers for one request (pure);
//! - `store`: the entries in memory and in redb (`<data_dir>/shadows.redb`);
//! - `service`: the task that handles requests in order and commits them in groups;
//! - `throttle`: AWS's request limits (per thing per second, per connection in flight).
//!
//! Requests reach the service through admission (`ingest::admission`: from the embedded
//! broker's feed, or the subscriptions [`REQUEST_FILTERS`] on an external broker), each
//! holding its message's ticket.

mod document;
mod request;
mod service;
mod store;
mod throttle;

pub use request::{Limits, Operation, REQUEST_FILTERS, ShadowName, parse_topic};
pub use service::{ShadowRequest, ShadowService};
pub use store::ShadowStore;

/// Now, in epoch seconds (AWS's shadow timestamps).
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
