//! Persistent sessions that outlive restarts, as AWS IoT Core keeps them: a client that
//! connects with `clean_session = false` (MQTT 5: a session expiry above 0) finds its
//! subscriptions, and the QoS 1 messages it has not acknowledged, after rulewire restarts
//! (kill -9 included), until the session expires.
//!
//! rmqtt keeps sessions in memory. This module follows them through its hooks and keeps a
//! copy in `<data_dir>/sessions.redb` ([`store`]): the session (CONNECT without password
//! and will, subscriptions, expiry, when its client left) and every QoS 1 message for it
//! until the client acknowledges it (queued while it is away, or sent and awaiting its
//! PUBACK). At start, before the listeners accept anyone, [`restore`] rebuilds each
//! unexpired session as an offline one in the broker, with its subscriptions routed and its
//! messages queued (sent ones again with DUP and their packet id), so a reconnecting client
//! gets `session present` and its messages as if nothing had happened.
//!
//! Limits (the README's "Persistent sessions"): changes are written in order but not waited
//! for, so a crash within milliseconds of a change can lose it; messages waiting behind a
//! connected client's full in-flight window are not visible to hooks and are not kept (QoS 2
//! never gets in: `access` refuses it, as AWS IoT does); wills are not kept. As on
//! AWS, QoS 0 messages do not wait for a client that is away ([`NoQos0WhileAway`]).
//!
//! What this leans on in rmqtt 0.24 (re-read on an upgrade; `rmqtt = "=0.24"` is pinned):
//! `ClientConnected` runs after the new session is registered and before the old one's state
//! is transferred to it, and `Session::session_present` tells whether it was; the transfer
//! resends in-flight messages from the back of its list (see `restore`); a session restored
//! with `Session::new` + `SessionState::offline_restart` + `Entry::set` + `Router::add` is
//! what a reconnecting client's CONNECT finds and takes over; `MessageDelivered` runs with
//! the packet id already set; a session's expiry ends in `SessionTerminated`.

mod restore;
mod rows;
mod store;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::session::Session;
use rmqtt::types::{ConnectInfo, From, Id, Publish, QoS, Subscribe, TopicFilter};
use tokio::sync::oneshot;

use rows::{Row, Rows};
use store::{Change, Pending, Record, Store};

/// The hook types this module follows.
pub const HOOKS: [Type; 9] = [
    Type::ClientConnected,
    Type::SessionSubscribed,
    Type::SessionUnsubscribed,
    Type::ClientDisconnected,
    Type::OfflineMessage,
    Type::MessageDelivered,
    Type::MessageAcked,
    Type::MessageDropped,
    Type::SessionTerminated,
];

/// The persistent sessions the broker has, and their copy on disk.
pub struct PersistentSessions {
    store: Store,
    /// By client id.
    clients: Mutex<HashMap<String, Tracked>>,
    next_seq: AtomicU64,
    /// What the file held at start, until [`PersistentSessions::restore`] takes it.
    loaded: Mutex<Option<store::Loaded>>,
}

/// One persistent session: its record, and its unacknowledged QoS 1 messages in order.
struct Tracked {
    record: Record,
    rows: Rows,
}

fn now_ms() -> i64 {
    rmqtt::utils::timestamp_millis()
}

/// Whether a CONNECT asks for a persistent session (one that outlives the connection).
fn is_persistent(connect: &ConnectInfo) -> bool {
    match connect {
        ConnectInfo::V3(_, c) => !c.clean_session,
        ConnectInfo::V5(_, c) => c.session_expiry_interval_secs > 0,
    }
}

/// The CONNECT as it is kept: no password on disk, and no will (the broker would publish
/// it again at every start).
fn stripped(connect: &ConnectInfo) -> ConnectInfo {
    let mut connect = connect.clone();
    match &mut connect {
        ConnectInfo::V3(_, c) => {
            c.password = None;
            c.last_will = None;
        }
        ConnectInfo::V5(_, c) => {
            c.password = None;
            c.last_will = None;
        }
    }
    connect
}

/// One message as the hooks see it at every stage (queued, sent, resent, acknowledged):
/// its publisher, topic, payload and creation time. Its packet id, DUP flag and QoS change
/// on the way, so they are left out; two messages alike in all of these are
/// interchangeable.
fn fingerprint(from: &From, publish: &Publish) -> u64 {
    let mut h = DefaultHasher::new();
    from.id.client_id.hash(&mut h);
    publish.topic.hash(&mut h);
    publish.payload.hash(&mut h);
    publish.create_time.hash(&mut h);
    h.finish()
}

/// The followed session of `s` (its client's current one, not an older one of the same
/// client id).
fn session_of<'a>(
    clients: &'a mut HashMap<String, Tracked>,
    s: &Session,
) -> Option<&'a mut Tracked> {
    clients
        .get_mut(&*s.id.client_id)
        .filter(|t| t.record.id == s.id)
}

/// About the bytes a message takes in the writer's queue ([`Pending::encode`]): its payload,
/// its topic (twice: the row's key holds the client id), its MQTT 5 properties, and a
/// kilobyte for the rest of the head.
fn encoded_size_bound(from: &From, publish: &Publish) -> usize {
    let properties = publish.properties.as_ref().map_or(0, |p| {
        let text = |t: Option<&str>| t.map_or(0, str::len);
        p.user_properties
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>()
            + text(p.response_topic.as_deref())
            + text(p.content_type.as_deref())
            + p.correlation_data.as_ref().map_or(0, |d| d.len() * 4)
    });
    publish.payload.len() + 2 * publish.topic.len() + from.id.client_id.len() + properties + 1024
}

/// The changes that delete the session of `client` and its messages `seqs`.
fn deletion(client: &str, seqs: impl Iterator<Item = u64>) -> Vec<Change> {
    let mut changes = vec![Change::DeleteSession(client.to_owned())];
    changes.extend(seqs.map(|seq| Change::DeleteMessage(client.to_owned(), seq)));
    changes
}

/// A record as kept on disk (JSON).
fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    kept(serde_json::to_vec(value))
}

/// A message as kept on disk ([`Pending::encode`]).
fn encode_message(pending: &Pending) -> Vec<u8> {
    kept(pending.encode())
}

/// These types always serialize; were one not to, the empty row written instead does not
/// read at the next start and is deleted then.
fn kept(row: Result<Vec<u8>, serde_json::Error>) -> Vec<u8> {
    row.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a persistent session record does not serialize; it will not outlive a restart");
        Vec::new()
    })
}

impl PersistentSessions {
    /// Opens `path`; call [`PersistentSessions::restore`] before the broker runs.
    pub fn open(path: &Path) -> anyhow::Result<Arc<PersistentSessions>> {
        let (store, loaded) = Store::open(path)?;
        let next = loaded.messages.iter().map(|m| m.1 + 1).max().unwrap_or(0);
        Ok(Arc::new(PersistentSessions {
            store,
            clients: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(next),
            loaded: Mutex::new(Some(loaded)),
        }))
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.clients
            .lock()
            .expect("the session index is never poisoned")
    }

    /// Waits for changes queued with [`Store::send_waited`]; a failure is logged (by the
    /// writer) and otherwise ignored: the session goes on in memory.
    async fn written(&self, wait: Option<oneshot::Receiver<Result<(), String>>>) {
        if let Some(wait) = wait {
            let _ = Store::written(wait).await;
        }
    }

    /// The changes that delete a session and its messages.
    fn forget(client: &str, tracked: &Tracked) -> Vec<Change> {
        deletion(client, tracked.rows.seqs())
    }

    /// A client connected: start (or, its session resumed, continue) following its session,
    /// or forget the one it had if the broker did not resume it (a clean start, an expired
    /// session) or the new one is not persistent.
    async fn connected(&self, s: &Session) {
        let Ok(connect) = s.connect_info().await else {
            return;
        };
        let created_at = s.created_at().await.unwrap_or_else(|_| now_ms());
        let resumed = s.session_present().await.unwrap_or(false);
        let persistent = is_persistent(&connect);
        let client = s.id.client_id.to_string();
        let mut changes = Vec::new();
        let wait = {
            let mut clients = self.clients();
            let old = clients.remove(&client);
            if let Some(old) = &old
                && !(resumed && persistent)
            {
                changes = Self::forget(&client, old);
            }
            if persistent {
                let (subscriptions, rows) = match old {
                    Some(old) if resumed => (old.record.subscriptions, old.rows),
                    _ => (Vec::new(), Rows::default()),
                };
                let record = Record {
                    id: s.id.clone(),
                    connect: stripped(&connect),
                    created_at,
                    subscriptions,
                    expiry_ms: s.fitter.session_expiry_interval(None).as_millis() as u64,
                    disconnected_at_ms: None,
                };
                changes.push(Change::PutSession(client.clone(), encode(&record)));
                clients.insert(client, Tracked { record, rows });
            }
            // Under the lock, like every change: the file sees them in the order decided.
            (!changes.is_empty()).then(|| self.store.send_waited(changes))
        };
        self.written(wait).await;
    }

    /// Applies `edit` to the record of `s`'s session, if it is followed, and queues it; the
    /// receiver tells when it is on disk.
    fn edit_record(
        &self,
        s: &Session,
        edit: impl FnOnce(&mut Record),
    ) -> Option<oneshot::Receiver<Result<(), String>>> {
        let client: &str = &s.id.client_id;
        let mut clients = self.clients();
        let tracked = session_of(&mut clients, s)?;
        edit(&mut tracked.record);
        let change = Change::PutSession(client.to_owned(), encode(&tracked.record));
        Some(self.store.send_waited(vec![change]))
    }

    async fn subscribed(&self, s: &Session, sub: &Subscribe) {
        let wait = self.edit_record(s, |record| {
            record.subscriptions.retain(|(f, _)| *f != sub.topic_filter);
            record
                .subscriptions
                .push((sub.topic_filter.clone(), sub.opts.clone()));
        });
        self.written(wait).await;
    }

    async fn unsubscribed(&self, s: &Session, filter: &TopicFilter) {
        let wait = self.edit_record(s, |record| {
            record.subscriptions.retain(|(f, _)| f != filter);
        });
        self.written(wait).await;
    }

    /// The client left: the session's expiry runs from now (queued, not waited for).
    async fn disconnected(&self, s: &Session) {
        let disconnect = s.disconnect().await.ok().flatten();
        let expiry = s.fitter.session_expiry_interval(disconnect.as_ref());
        self.edit_record(s, |record| {
            record.disconnected_at_ms = Some(now_ms());
            record.expiry_ms = expiry.as_millis() as u64;
        });
    }

    /// A message for a followed session was queued (its client away) or sent: keep it until
    /// it is acknowledged. A resend (same packet id) changes nothing. Waits for room in the
    /// writer's queue first (see [`store`]).
    async fn queued_or_sent(&self, s: &Session, from: &From, publish: &Publish, sent: bool) {
        if publish.qos == QoS::AtMostOnce || !self.follows(s) {
            return;
        }
        let room = self.store.room_for(encoded_size_bound(from, publish)).await;
        let packet_id = if sent {
            publish.packet_id.map(|p| p.get())
        } else {
            None
        };
        let client: &str = &s.id.client_id;
        let mut changes = Vec::new();
        // Changes are queued under the lock, so they reach the file in the order they were
        // decided in.
        let mut clients = self.clients();
        let Some(tracked) = session_of(&mut clients, s) else {
            return;
        };
        let fp = fingerprint(from, publish);
        if let Some(pid) = packet_id {
            match tracked.rows.sent_with(pid) {
                // A resend.
                Some(row) if row.fingerprint == fp => return,
                // The client acknowledged whatever had this packet id before: the broker
                // reuses an id only once it is free.
                Some(row) => {
                    let stale = row.seq;
                    tracked.rows.remove(stale);
                    changes.push(Change::DeleteMessage(client.to_owned(), stale));
                }
                None => {}
            }
            if let Some(seq) = tracked.rows.oldest_unsent(fp)
                && let Some(row) = tracked.rows.mark_sent(seq, pid)
            {
                changes.push(Change::PutMessage(
                    client.to_owned(),
                    seq,
                    encode_message(&row.pending),
                ));
                self.store.send_in(changes, room);
                return;
            }
        }
        let row = Row {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            fingerprint: fp,
            pending: Pending {
                from: from.clone(),
                publish: publish.clone(),
                packet_id,
            },
        };
        changes.push(Change::PutMessage(
            client.to_owned(),
            row.seq,
            encode_message(&row.pending),
        ));
        tracked.rows.push(row);
        self.store.send_in(changes, room);
    }

    /// Whether the session of `s` is followed (most deliveries are to clients without a
    /// persistent session: nothing to hash or queue).
    fn follows(&self, s: &Session) -> bool {
        session_of(&mut self.clients(), s).is_some()
    }

    /// The message left the session (acknowledged, dropped or expired): forget it. A QoS 0
    /// copy was never kept (and must not take the row of a QoS 1 copy of the same message).
    fn settled(&self, client: &str, from: &From, publish: &Publish) {
        if publish.qos == QoS::AtMostOnce {
            return;
        }
        let mut clients = self.clients();
        let Some(tracked) = clients.get_mut(client) else {
            return;
        };
        let fp = fingerprint(from, publish);
        let packet_id = publish.packet_id.map(|p| p.get());
        if let Some(seq) = tracked.rows.settled_by(fp, packet_id) {
            tracked.rows.remove(seq);
            // Under the lock: after the change that put the row.
            self.store
                .send(vec![Change::DeleteMessage(client.to_owned(), seq)]);
        }
    }

    /// The session ended (expired, or its clean client left): forget it.
    fn terminated(&self, s: &Session) {
        let client: &str = &s.id.client_id;
        let mut clients = self.clients();
        if let Some(tracked) = clients.remove(client) {
            if tracked.record.id == s.id {
                self.store.send(Self::forget(client, &tracked));
            } else {
                // The client's newer session: keep following it.
                clients.insert(client.to_owned(), tracked);
            }
        }
    }
}

/// The broker's hooks, feeding [`PersistentSessions`].
pub struct SessionHooks(pub Arc<PersistentSessions>);

#[async_trait]
impl Handler for SessionHooks {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let sessions = &self.0;
        match param {
            Parameter::ClientConnected(s) => sessions.connected(s).await,
            Parameter::SessionSubscribed(s, sub) => sessions.subscribed(s, sub).await,
            Parameter::SessionUnsubscribed(s, unsub) => {
                sessions.unsubscribed(s, &unsub.topic_filter).await
            }
            Parameter::ClientDisconnected(s, _) => sessions.disconnected(s).await,
            Parameter::OfflineMessage(s, from, publish) => {
                sessions.queued_or_sent(s, from, publish, false).await
            }
            Parameter::MessageDelivered(s, from, publish) => {
                sessions.queued_or_sent(s, from, publish, true).await
            }
            Parameter::MessageAcked(s, from, publish) => {
                sessions.settled(&s.id.client_id, from, publish)
            }
            Parameter::MessageDropped(Some(to), from, publish, _) => {
                sessions.settled(&to.client_id, from, publish)
            }
            Parameter::SessionTerminated(s, _) => sessions.terminated(s),
            _ => {}
        }
        (true, acc)
    }
}

/// AWS IoT keeps only QoS 1 messages for a client that is away; rmqtt queues its QoS 0 ones
/// too (MQTT allows either). Such a message is dropped when it would reach the returning
/// client: a QoS 0 message made before the client's connection. (A retained message is sent
/// as new, with the time it is sent.) Runs after `access` on each delivery.
pub struct NoQos0WhileAway;

#[async_trait]
impl Handler for NoQos0WhileAway {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        if let Parameter::MessageExpiryCheck(s, _, publish) = param
            && publish.qos == QoS::AtMostOnce
            && !publish.retain
            && let Some(created) = publish.create_time
            && created < s.connected_at().await.unwrap_or(0)
        {
            return (false, Some(HookResult::MessageExpiry));
        }
        (true, acc)
    }
}

/// The id a restored session has in this broker: the stored one, on this node.
fn on_this_node(id: &Id, node_id: rmqtt::types::NodeId) -> Id {
    if id.node_id == node_id {
        return id.clone();
    }
    Id::new(
        node_id,
        id.lid,
        id.local_addr,
        id.remote_addr,
        id.client_id.clone(),
        id.username.clone(),
    )
}
