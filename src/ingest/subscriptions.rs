//! The broker subscriptions rulewire wants (the rules' FROM filters, Basic Ingest, the
//! Device Shadow request topics), and those it has made: they follow the rules on reload and
//! are made again after a reconnect without a stored session.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::mqtt::inbound::InboundClient;

/// The broker subscriptions rulewire wants, and those it has made.
pub struct Subscriptions {
    /// `None` with the embedded broker's in-process feed, which needs no subscriptions.
    client: Option<InboundClient>,
    shared_group: String,
    basic_ingest: bool,
    /// Subscribe to the Device Shadow request topics (never shared: shadows are local).
    shadows: bool,
    state: tokio::sync::Mutex<(BTreeSet<String>, BTreeSet<String>)>,
}

impl Subscriptions {
    pub fn new(
        client: Option<InboundClient>,
        shared_group: &str,
        basic_ingest: bool,
        shadows: bool,
    ) -> Arc<Subscriptions> {
        Arc::new(Subscriptions {
            client,
            shared_group: shared_group.to_owned(),
            basic_ingest,
            shadows,
            state: tokio::sync::Mutex::new((BTreeSet::new(), BTreeSet::new())),
        })
    }

    fn wire(&self, filter: &str) -> String {
        if self.shared_group.is_empty() {
            filter.to_owned()
        } else {
            format!("$share/{}/{}", self.shared_group, filter)
        }
    }

    /// Sets the wanted rule filters and (un)subscribes the difference.
    pub async fn set_filters(&self, filters: BTreeSet<String>) {
        let mut wanted: BTreeSet<String> = filters.iter().map(|f| self.wire(f)).collect();
        if self.basic_ingest {
            // `#` never matches `$` topics, so Basic Ingest needs its own subscription.
            wanted.insert(self.wire("$aws/rules/#"));
        }
        if self.shadows {
            wanted.extend(crate::shadow::REQUEST_FILTERS.iter().map(|f| f.to_string()));
        }
        let mut state = self.state.lock().await;
        state.0 = wanted;
        self.apply(&mut state).await;
    }

    /// After CONNACK: without a stored session the broker forgot every subscription.
    pub async fn on_connect(&self, session_present: bool) {
        let mut state = self.state.lock().await;
        if !session_present {
            state.1.clear();
        }
        self.apply(&mut state).await;
    }

    async fn apply(&self, state: &mut (BTreeSet<String>, BTreeSet<String>)) {
        let Some(client) = &self.client else {
            return;
        };
        let (wanted, active) = state;
        for f in wanted.difference(active).cloned().collect::<Vec<_>>() {
            match client.subscribe(&f, 1) {
                Ok(()) => {
                    tracing::info!(filter = %f, "subscribing");
                    active.insert(f);
                }
                Err(e) => tracing::warn!(filter = %f, error = %e, "subscribe failed"),
            }
        }
        for f in active.difference(wanted).cloned().collect::<Vec<_>>() {
            if let Err(e) = client.unsubscribe(&f) {
                tracing::warn!(filter = %f, error = %e, "unsubscribe failed");
            }
            tracing::info!(filter = %f, "unsubscribed");
            active.remove(&f);
        }
    }
}
