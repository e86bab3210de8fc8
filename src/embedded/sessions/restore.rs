//! Start-up: the persistent sessions on disk become offline sessions in the broker again,
//! before its listeners accept clients. Each gets its subscriptions back in the router and
//! its unacknowledged messages: those sent before (awaiting a PUBACK) in its in-flight
//! window, to be sent again with DUP and their packet id when the client returns, the
//! others in its queue. A session whose expiry passed while rulewire was down is deleted.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rmqtt::context::ServerContext;
use rmqtt::inflight::{MomentStatus, OutInflightMessage};
use rmqtt::session::{Session, SessionState};
use rmqtt::types::{DisconnectInfo, Reason, SessionSubMap, SessionSubs};

use super::store::{Change, Pending, Record};
use super::{PersistentSessions, Row, Rows, Tracked, deletion, fingerprint, now_ms, on_this_node};

impl PersistentSessions {
    /// Rebuilds every unexpired session in `scx` (whose listeners are built but not yet
    /// running); returns how many. A session that cannot be rebuilt is logged and deleted.
    pub async fn restore(&self, scx: &ServerContext) -> anyhow::Result<usize> {
        let loaded = self
            .loaded
            .lock()
            .expect("never poisoned")
            .take()
            .unwrap_or_default();
        let mut messages: HashMap<String, Vec<(u64, Pending)>> = HashMap::new();
        for (client, seq, pending) in loaded.messages {
            messages.entry(client).or_default().push((seq, pending));
        }
        let mut restored = 0;
        let mut changes = Vec::new();
        for (client, mut record) in loaded.sessions {
            let mut rows = messages.remove(&client).unwrap_or_default();
            rows.sort_by_key(|(seq, _)| *seq);
            let left_at = record.disconnected_at_ms.unwrap_or_else(now_ms);
            let remaining = record.expiry_ms as i64 - (now_ms() - left_at).max(0);
            if remaining <= 0 {
                changes.extend(deletion(&client, rows.iter().map(|(seq, _)| *seq)));
                continue;
            }
            // A client connected when rulewire stopped left then.
            record.disconnected_at_ms = Some(left_at);
            record.id = on_this_node(&record.id, scx.node.id());
            match rebuild(scx, &record, &rows, Duration::from_millis(remaining as u64)).await {
                Ok(dropped) => {
                    changes.push(Change::PutSession(client.clone(), super::encode(&record)));
                    rows.retain(|(seq, _)| {
                        let keep = !dropped.contains(seq);
                        if !keep {
                            changes.push(Change::DeleteMessage(client.clone(), *seq));
                        }
                        keep
                    });
                    let rows = Rows::from_ordered(rows.into_iter().map(|(seq, pending)| Row {
                        seq,
                        fingerprint: fingerprint(&pending.from, &pending.publish),
                        pending,
                    }));
                    self.clients().insert(client, Tracked { record, rows });
                    restored += 1;
                }
                Err(e) => {
                    tracing::warn!(client_id = %client, error = %format!("{e:#}"),
                        "cannot restore a persistent session; it is deleted");
                    changes.extend(deletion(&client, rows.iter().map(|(seq, _)| *seq)));
                }
            }
        }
        // Messages of sessions that are gone (or were unreadable), and what did not read: it
        // cannot be used, and would be warned about at every start.
        for (client, rows) in messages {
            changes.extend(
                rows.into_iter()
                    .map(|(seq, _)| Change::DeleteMessage(client.clone(), seq)),
            );
        }
        changes.extend(loaded.unreadable);
        self.store
            .write(changes)
            .await
            .map_err(|e| anyhow::anyhow!("updating the persistent session store: {e}"))?;
        Ok(restored)
    }
}

/// Puts one session back into the broker as an offline session expiring in `remaining`;
/// returns the rows its queue had no room for (dropped, and counted as `queue_full`).
async fn rebuild(
    scx: &ServerContext,
    record: &Record,
    rows: &[(u64, Pending)],
    remaining: Duration,
) -> anyhow::Result<Vec<u64>> {
    let id = record.id.clone();
    // Its listener, or (gone from the configuration) the first one.
    let listen_cfg = match scx.listen_cfgs.get(&id.lid) {
        Some(cfg) => cfg.value().clone(),
        None => scx
            .listen_cfgs
            .iter()
            .next()
            .map(|cfg| cfg.value().clone())
            .context("the broker has no listener")?,
    };
    let connect = Arc::new(record.connect.clone());
    let fitter =
        scx.extends
            .fitter_mgr()
            .await
            .create(connect.clone(), id.clone(), listen_cfg.clone());
    let subscriptions: SessionSubMap = record.subscriptions.iter().cloned().collect();
    let session = Session::new(
        id.clone(),
        scx.clone(),
        fitter.max_mqueue_len(),
        listen_cfg,
        fitter.clone(),
        None,
        fitter.max_inflight(),
        record.created_at,
        connect,
        false,
        false,
        false,
        record.created_at,
        SessionSubs::from(subscriptions),
        Some(DisconnectInfo::new(
            record.disconnected_at_ms.unwrap_or_else(now_ms),
        )),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut dropped = Vec::new();
    let mut sent = Vec::new();
    for (seq, pending) in rows {
        let mut publish = pending.publish.clone();
        match pending.packet_id.and_then(NonZeroU16::new) {
            Some(packet_id) => {
                publish.packet_id = Some(packet_id);
                publish.dup = true;
                sent.push(OutInflightMessage::new(
                    MomentStatus::UnAck,
                    pending.from.clone(),
                    publish,
                ));
            }
            None => {
                if let Err((from, publish)) = session
                    .deliver_queue()
                    .push((pending.from.clone(), publish))
                {
                    dropped.push(*seq);
                    scx.extends
                        .hook_mgr()
                        .message_dropped(Some(id.clone()), from, publish, Reason::MessageQueueFull)
                        .await;
                }
            }
        }
    }
    // rmqtt 0.24 hands a returning client its in-flight messages last one first (its
    // session transfer pops them off the back); put in newest first, they go out in the
    // order they were first sent, as MQTT asks ([MQTT-4.6.0-1]).
    let mut window = session.out_inflight().write().await;
    for message in sent.into_iter().rev() {
        window.push_back(message);
    }
    drop(window);
    let tx = SessionState::offline_restart(session.clone(), remaining)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    scx.extends
        .shared()
        .await
        .entry(id.clone())
        .set(session, tx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (filter, opts) in &record.subscriptions {
        scx.extends
            .router()
            .await
            .add(filter, id.clone(), opts.clone())
            .await
            .map_err(|e| anyhow::anyhow!("subscription {filter}: {e}"))?;
    }
    Ok(dropped)
}
