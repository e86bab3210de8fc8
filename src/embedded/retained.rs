//! Retained messages, as AWS IoT Core keeps them: they outlive restarts. The broker routes
//! from rmqtt's in-memory store; every change is first written to
//! `<data_dir>/retained.redb` (committed and synced before the publish goes on, so a PUBACK
//! means the retained message is on disk; a write that fails fails the publish, which is
//! then not acknowledged), and the file is read back at start. An empty
//! retained payload clears the topic, in memory and on disk. A message with an MQTT 5
//! expiry keeps its deadline across restarts; an expired one is dropped at the next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use prometheus::IntCounterVec;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rmqtt::retain::{DefaultRetainStorage, RetainStorage};
use rmqtt::types::{Retain, TopicFilter, TopicName};
use serde::{Deserialize, Serialize};

/// topic → [`Stored`] as JSON.
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");

#[derive(Serialize, Deserialize)]
struct Stored {
    retain: Retain,
    /// Milliseconds since the epoch after which the message is gone; None: never.
    expires_at_ms: Option<u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub struct RetainedMessages {
    memory: DefaultRetainStorage,
    /// Topics kept at most (`embedded_broker.max_retained_messages`).
    max_topics: usize,
    /// `rulewire_embedded_broker_dropped_total`: `retained_limit` counts what was not kept.
    dropped: IntCounterVec,
    db: Arc<Database>,
    path: PathBuf,
    /// One change at a time, so the disk and memory agree on the last one.
    writing: tokio::sync::Mutex<()>,
}

impl RetainedMessages {
    /// Opens (or creates) the file and loads what it holds.
    pub async fn open(
        path: &Path,
        max_topics: usize,
        dropped: IntCounterVec,
    ) -> anyhow::Result<RetainedMessages> {
        let db = crate::storage::open_database(path, "retained message store")?;
        let store = RetainedMessages {
            memory: DefaultRetainStorage::new(),
            max_topics,
            dropped,
            db: Arc::new(db),
            path: path.to_owned(),
            writing: tokio::sync::Mutex::new(()),
        };
        let mut loaded = 0;
        for (topic, stored) in store.read_all()? {
            let expiry = match stored.expires_at_ms {
                Some(at) if at <= now_ms() => {
                    store.persist(&topic, None).await?;
                    continue;
                }
                Some(at) => Some(Duration::from_millis(at - now_ms())),
                None => None,
            };
            store
                .memory
                .set_with_timeout(&TopicName::from(topic.as_str()), stored.retain, expiry)
                .await
                .map_err(|e| anyhow::anyhow!("retained message on {topic:?}: {e}"))?;
            loaded += 1;
        }
        if loaded > 0 {
            tracing::info!(count = loaded, path = %path.display(), "retained messages loaded");
        }
        Ok(store)
    }

    /// Every readable record; an unreadable one is logged and skipped (one bad record must
    /// not keep the broker from starting).
    fn read_all(&self) -> anyhow::Result<Vec<(String, Stored)>> {
        let read = self.db.begin_read()?;
        let table = match read.open_table(RETAINED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in table.iter()? {
            let (topic, value) = row?;
            match serde_json::from_slice::<Stored>(value.value()) {
                Ok(stored) => out.push((topic.value().to_owned(), stored)),
                Err(e) => {
                    tracing::warn!(topic = topic.value(), path = %self.path.display(), error = %e,
                    "skipping an unreadable retained message")
                }
            }
        }
        Ok(out)
    }

    /// Whether keeping a message for `topic` would pass the bound: it is a new topic and the
    /// store is full.
    async fn full_for(&self, topic: &TopicName) -> bool {
        if (self.memory.count().await.max(0) as usize) < self.max_topics {
            return false;
        }
        let known = self
            .memory
            .get_message(&TopicFilter::from(topic.as_ref()))
            .await
            .is_ok_and(|found| !found.is_empty());
        !known
    }

    /// Writes (or, `None`, removes) the record of `topic`, synced, off the async threads.
    async fn persist(&self, topic: &str, record: Option<Vec<u8>>) -> anyhow::Result<()> {
        let (db, topic) = (self.db.clone(), topic.to_owned());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let write = db.begin_write()?;
            {
                let mut table = write.open_table(RETAINED)?;
                match &record {
                    Some(bytes) => {
                        table.insert(topic.as_str(), bytes.as_slice())?;
                    }
                    None => {
                        table.remove(topic.as_str())?;
                    }
                }
            }
            write.commit()?;
            Ok(())
        })
        .await
        .context("the retained message writer stopped")?
    }
}

#[async_trait]
impl RetainStorage for RetainedMessages {
    fn enable(&self) -> bool {
        true
    }

    async fn set(
        &self,
        topic: &TopicName,
        retain: Retain,
        expiry: Option<Duration>,
    ) -> rmqtt::Result<()> {
        // rmqtt passes a zero expiry for "never expires".
        let expiry = expiry.filter(|d| !d.is_zero());
        let _one_at_a_time = self.writing.lock().await;
        if !retain.publish.payload.is_empty() && self.full_for(topic).await {
            // Delivered as usual (rmqtt forwards it after this), just not kept.
            let dropped = self.dropped.with_label_values(&["retained_limit"]);
            dropped.inc();
            if dropped.get() % 10_000 == 1 {
                tracing::warn!(%topic, max = self.max_topics,
                    "a retained message was delivered but not kept: embedded_broker.max_retained_messages topics already have one (counted in rulewire_embedded_broker_dropped_total{{reason=\"retained_limit\"}})");
            }
            return Ok(());
        }
        let record = if retain.publish.payload.is_empty() {
            None
        } else {
            let stored = Stored {
                retain: retain.clone(),
                expires_at_ms: expiry.map(|d| now_ms().saturating_add(d.as_millis() as u64)),
            };
            Some(serde_json::to_vec(&stored).map_err(|e| anyhow::anyhow!("{e}"))?)
        };
        if let Err(e) = self.persist(topic, record).await {
            // The publish fails: the device gets no PUBACK and sends the message again.
            tracing::error!(%topic, path = %self.path.display(), error = %e,
                "cannot store a retained message on disk; the publish is not acknowledged");
            return Err(anyhow::anyhow!("storing the retained message: {e}"));
        }
        self.memory.set_with_timeout(topic, retain, expiry).await
    }

    async fn get(&self, filter: &TopicFilter) -> rmqtt::Result<Vec<(TopicName, Retain)>> {
        self.memory.get_message(filter).await
    }

    async fn count(&self) -> isize {
        self.memory.count().await
    }

    async fn max(&self) -> isize {
        self.memory.max().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmqtt::types::{CodecPublish, From, Id, Publish, QoS};

    fn retain(topic: &str, payload: &'static [u8]) -> Retain {
        let codec = CodecPublish {
            dup: false,
            retain: true,
            qos: QoS::AtLeastOnce,
            topic: topic.into(),
            packet_id: None,
            payload: bytes::Bytes::from_static(payload),
            properties: None,
        };
        let id = Id::new(1, 0, None, None, "dev".into(), None);
        Retain {
            msg_id: None,
            from: From::from_system(id),
            publish: Publish::new(Box::new(codec), None, None, None),
        }
    }

    fn write(path: &Path, rows: &[(&str, Vec<u8>)]) {
        let db = Database::create(path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(RETAINED).unwrap();
            for (topic, bytes) in rows {
                t.insert(*topic, bytes.as_slice()).unwrap();
            }
        }
        w.commit().unwrap();
    }

    async fn set(store: &RetainedMessages, topic: &str, payload: &'static [u8]) {
        store
            .set(&TopicName::from(topic), retain(topic, payload), None)
            .await
            .unwrap();
    }

    /// The topics on disk, sorted.
    fn on_disk(store: &RetainedMessages) -> Vec<String> {
        let mut topics: Vec<String> = store.read_all().unwrap().into_iter().map(|r| r.0).collect();
        topics.sort();
        topics
    }

    #[tokio::test]
    async fn expired_and_unreadable_records_are_not_loaded_and_the_rest_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retained.redb");
        let stored = |topic: &str, expires_at_ms| {
            serde_json::to_vec(&Stored {
                retain: retain(topic, b"on"),
                expires_at_ms,
            })
            .unwrap()
        };
        write(
            &path,
            &[
                ("a/kept", stored("a/kept", None)),
                ("a/later", stored("a/later", Some(now_ms() + 3_600_000))),
                ("a/expired", stored("a/expired", Some(now_ms() - 1))),
                ("a/broken", b"{not json".to_vec()),
            ],
        );
        let dropped = IntCounterVec::new(prometheus::Opts::new("d", "d"), &["reason"]).unwrap();
        let store = RetainedMessages::open(&path, 3, dropped.clone())
            .await
            .unwrap();
        let mut topics: Vec<String> = store
            .get(&TopicFilter::from("a/#"))
            .await
            .unwrap()
            .into_iter()
            .map(|(t, _)| t.to_string())
            .collect();
        topics.sort();
        assert_eq!(topics, ["a/kept", "a/later"]);

        // A change is on disk before `set` returns; an empty payload removes it.
        set(&store, "a/new", b"x").await;
        set(&store, "a/kept", b"").await;
        assert_eq!(on_disk(&store), ["a/later", "a/new"]);

        // At the bound (3 topics): a new topic is not kept and is counted; replacing is fine.
        set(&store, "a/third", b"x").await;
        set(&store, "a/fourth", b"x").await;
        set(&store, "a/new", b"y").await;
        assert_eq!(on_disk(&store), ["a/later", "a/new", "a/third"]);
        assert_eq!(dropped.with_label_values(&["retained_limit"]).get(), 1);
    }
}
