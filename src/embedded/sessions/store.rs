//! The disk side of persistent sessions: `<data_dir>/sessions.redb`, one record per
//! persistent client and one row per QoS 1 message it has not acknowledged. One thread
//! writes, in the order the broker's hooks send their changes, as many changes per
//! transaction as are waiting (one fsync for a burst, not one per message).
//!
//! No put that a later change of the same batch deletes again is written: a message
//! delivered to a connected client and acknowledged while the previous batch was being
//! written costs the disk one lookup.
//!
//! The queue in front of it is bounded by the bytes of the messages it holds
//! ([`MAX_QUEUED_BYTES`]): when the disk falls behind, the hook that keeps a message waits
//! for room. rmqtt runs those hooks in the subscriber's session task, so the persistent
//! subscriber slows down as a slow reader would: connected, its rmqtt queue fills and drops
//! the oldest messages past its bound (`queue_full`); away, the messages routed to it wait
//! in rmqtt's (unbounded) channel to its session. Publishers are not slowed: that would
//! need the message kept at the publish check, before rmqtt routes it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rmqtt::types::{ConnectInfo, From, Id, Publish, SubscriptionOptions, TopicFilter};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// client id → [`Record`] as JSON.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// (client id, sequence number) → [`Pending`] as JSON.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("session_messages");

/// Changes written in one transaction, at most.
const MAX_BATCH: usize = 1024;

/// Bytes of queued messages the writer may be behind by before hooks wait for it.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// One persistent session as it is kept on disk.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    /// The broker's id of the session (client id, listener, addresses, creation time).
    pub id: Id,
    /// The client's CONNECT, without its password and its will.
    pub connect: ConnectInfo,
    /// When the session was created, epoch milliseconds.
    pub created_at: i64,
    /// Its subscriptions: topic filter (as the broker keys it) and options.
    pub subscriptions: Vec<(TopicFilter, SubscriptionOptions)>,
    /// How long the session outlives its connection, in milliseconds.
    pub expiry_ms: u64,
    /// When its client disconnected; None while connected.
    pub disconnected_at_ms: Option<i64>,
}

/// A QoS 1 message for a persistent session, not yet acknowledged by its client.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    pub from: From,
    pub publish: Publish,
    /// The packet id it was sent with; None while it waits in the session's queue.
    pub packet_id: Option<u16>,
}

/// How a kept message's row starts (stop 28 wrote plain JSON rows, which still read).
const MESSAGE_MAGIC: &[u8] = b"RWM1\n";

impl Pending {
    /// Its row: [`MESSAGE_MAGIC`], the JSON of the message without its payload, a newline,
    /// then the payload's bytes as they are (JSON would spell each byte as a number: three
    /// to four times the size, and the time to print them).
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut head = self.clone();
        head.publish.payload = bytes::Bytes::new();
        let mut row = MESSAGE_MAGIC.to_vec();
        serde_json::to_writer(&mut row, &head)?;
        // Compact JSON has no raw newline: it ends the head.
        row.push(b'\n');
        row.extend_from_slice(&self.publish.payload);
        Ok(row)
    }

    pub fn decode(row: &[u8]) -> Result<Pending, serde_json::Error> {
        let Some(rest) = row.strip_prefix(MESSAGE_MAGIC) else {
            return serde_json::from_slice(row);
        };
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            return Err(serde::de::Error::custom(
                "a kept message without its payload",
            ));
        };
        let mut pending: Pending = serde_json::from_slice(&rest[..end])?;
        pending.publish.payload = bytes::Bytes::copy_from_slice(&rest[end + 1..]);
        Ok(pending)
    }
}

/// One change to the file.
pub enum Change {
    PutSession(String, Vec<u8>),
    DeleteSession(String),
    PutMessage(String, u64, Vec<u8>),
    DeleteMessage(String, u64),
}

/// Changes to write, who waits for them (if anyone), and the queue room they hold until
/// they are written.
struct Job {
    changes: Vec<Change>,
    done: Option<oneshot::Sender<Result<(), String>>>,
    _room: Option<OwnedSemaphorePermit>,
}

/// What the file held at start: records, and rows by (client id, sequence number).
#[derive(Default)]
pub struct Loaded {
    pub sessions: Vec<(String, Record)>,
    pub messages: Vec<(String, u64, Pending)>,
    /// The deletion of what did not read.
    pub unreadable: Vec<Change>,
}

/// The writer's queue.
pub struct Store {
    jobs: mpsc::Sender<Job>,
    /// [`MAX_QUEUED_BYTES`] (or the bound given to [`Store::open_bounded`]) of room.
    room: Arc<Semaphore>,
    max_queued_bytes: usize,
    /// How many times a hook waited for room.
    waits: AtomicU64,
}

impl Store {
    /// Opens (or creates) the file, reads what it holds and starts the writer thread.
    pub fn open(path: &Path) -> anyhow::Result<(Store, Loaded)> {
        Store::open_bounded(path, MAX_QUEUED_BYTES)
    }

    /// [`Store::open`] with `max_queued_bytes` of queue room.
    fn open_bounded(path: &Path, max_queued_bytes: usize) -> anyhow::Result<(Store, Loaded)> {
        // A semaphore counts in u32.
        let max_queued_bytes = max_queued_bytes.clamp(1, u32::MAX as usize);
        let db = crate::storage::open_database(path, "persistent session store")?;
        let loaded = read_all(&db, path)?;
        let (jobs, queue) = mpsc::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("rulewire-sessions".into())
            .spawn(move || write_loop(db, queue, path))?;
        let store = Store {
            jobs,
            room: Arc::new(Semaphore::new(max_queued_bytes)),
            max_queued_bytes,
            waits: AtomicU64::new(0),
        };
        Ok((store, loaded))
    }

    /// Waits until the queue has room for changes of about `bytes` (at most the whole
    /// bound); pass the room to [`Store::send_in`].
    pub async fn room_for(&self, bytes: usize) -> OwnedSemaphorePermit {
        let n = bytes.clamp(1, self.max_queued_bytes) as u32;
        if let Ok(room) = self.room.clone().try_acquire_many_owned(n) {
            return room;
        }
        let waits = self.waits.fetch_add(1, Ordering::Relaxed);
        if waits.is_multiple_of(10_000) {
            tracing::warn!(
                waits = waits + 1,
                max_queued_bytes = self.max_queued_bytes,
                "the persistent session store is behind: deliveries to persistent sessions wait for the disk"
            );
        }
        self.room
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the queue room is never closed")
    }

    /// Queues `changes`; they are written in order after every change queued before.
    pub fn send(&self, changes: Vec<Change>) {
        self.queue(changes, None);
    }

    /// [`Store::send`], holding `room` until the changes are written.
    pub fn send_in(&self, changes: Vec<Change>, room: OwnedSemaphorePermit) {
        self.queue(changes, Some(room));
    }

    fn queue(&self, changes: Vec<Change>, room: Option<OwnedSemaphorePermit>) {
        if !changes.is_empty() {
            // The writer only stops with the process.
            let _ = self.jobs.send(Job {
                changes,
                done: None,
                _room: room,
            });
        }
    }

    /// Queues `changes` and waits until they are on disk.
    pub async fn write(&self, changes: Vec<Change>) -> Result<(), String> {
        Store::written(self.send_waited(changes)).await
    }

    /// Queues `changes` now; the receiver tells when they are on disk (see
    /// [`Store::written`]). Dropping it does not wait.
    pub fn send_waited(&self, changes: Vec<Change>) -> oneshot::Receiver<Result<(), String>> {
        let (done, wait) = oneshot::channel();
        // If the writer stopped, `done` is dropped with the job and `written` says so.
        let _ = self.jobs.send(Job {
            changes,
            done: Some(done),
            _room: None,
        });
        wait
    }

    /// Waits for changes queued by [`Store::send_waited`].
    pub async fn written(wait: oneshot::Receiver<Result<(), String>>) -> Result<(), String> {
        wait.await
            .unwrap_or_else(|_| Err("the session writer stopped".to_owned()))
    }
}

/// Every readable record and row; an unreadable one is logged and skipped (one bad record
/// must not keep the broker from starting).
fn read_all(db: &Database, path: &Path) -> anyhow::Result<Loaded> {
    let read = db.begin_read()?;
    let mut loaded = Loaded::default();
    match read.open_table(SESSIONS) {
        Ok(table) => {
            for row in table.iter()? {
                let (client, value) = row?;
                match serde_json::from_slice::<Record>(value.value()) {
                    Ok(record) => loaded.sessions.push((client.value().to_owned(), record)),
                    Err(e) => {
                        tracing::warn!(client_id = client.value(), path = %path.display(),
                            error = %e, "skipping (and deleting) an unreadable persistent session");
                        loaded
                            .unreadable
                            .push(Change::DeleteSession(client.value().to_owned()));
                    }
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match read.open_table(MESSAGES) {
        Ok(table) => {
            for row in table.iter()? {
                let (key, value) = row?;
                let (client, seq) = key.value();
                match Pending::decode(value.value()) {
                    Ok(pending) => loaded.messages.push((client.to_owned(), seq, pending)),
                    Err(e) => {
                        tracing::warn!(client_id = client, path = %path.display(), error = %e,
                            "skipping (and deleting) an unreadable queued message of a persistent session");
                        loaded
                            .unreadable
                            .push(Change::DeleteMessage(client.to_owned(), seq));
                    }
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(loaded)
}

/// Writes jobs until every sender is gone: what is queued goes in one transaction.
fn write_loop(db: Database, queue: mpsc::Receiver<Job>, path: PathBuf) {
    let mut failures = 0u64;
    while let Ok(first) = queue.recv() {
        let mut changes = first.changes.len();
        let mut batch = vec![first];
        while changes < MAX_BATCH {
            let Ok(job) = queue.try_recv() else { break };
            changes += job.changes.len();
            batch.push(job);
        }
        let result = apply(&db, &batch).map_err(|e| e.to_string());
        if let Err(e) = &result {
            failures += 1;
            if failures % 1000 == 1 {
                tracing::error!(path = %path.display(), error = %e, failures,
                    "cannot write persistent sessions to disk; they may not survive a restart");
            }
        }
        for job in batch {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

/// Which of `changes` (in order) are puts that a later change of the same list deletes
/// again: writing them would change nothing once the delete is applied.
fn overwritten(changes: &[&Change]) -> Vec<bool> {
    let mut sessions_deleted: HashSet<&str> = HashSet::new();
    let mut messages_deleted: HashSet<(&str, u64)> = HashSet::new();
    let mut skip = vec![false; changes.len()];
    for (i, change) in changes.iter().enumerate().rev() {
        match change {
            Change::DeleteSession(client) => {
                sessions_deleted.insert(client);
            }
            Change::DeleteMessage(client, seq) => {
                messages_deleted.insert((client, *seq));
            }
            Change::PutSession(client, _) => skip[i] = sessions_deleted.contains(client.as_str()),
            Change::PutMessage(client, seq, _) => {
                skip[i] = messages_deleted.contains(&(client.as_str(), *seq))
            }
        }
    }
    skip
}

fn apply(db: &Database, batch: &[Job]) -> anyhow::Result<()> {
    let changes: Vec<&Change> = batch.iter().flat_map(|job| &job.changes).collect();
    let skip = overwritten(&changes);
    let write = db.begin_write()?;
    {
        let mut sessions = write.open_table(SESSIONS)?;
        let mut messages = write.open_table(MESSAGES)?;
        for (change, _) in changes.iter().zip(skip).filter(|(_, skip)| !skip) {
            match change {
                Change::PutSession(client, bytes) => {
                    sessions.insert(client.as_str(), bytes.as_slice())?;
                }
                Change::DeleteSession(client) => {
                    sessions.remove(client.as_str())?;
                }
                Change::PutMessage(client, seq, bytes) => {
                    messages.insert((client.as_str(), *seq), bytes.as_slice())?;
                }
                Change::DeleteMessage(client, seq) => {
                    messages.remove((client.as_str(), *seq))?;
                }
            }
        }
    }
    write.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Queue room is held until the writer has written the changes, and a hook that finds
    /// no room waits for it.
    #[tokio::test]
    async fn a_full_queue_makes_the_next_message_wait_until_the_writer_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open_bounded(&dir.path().join("s.redb"), 1000).unwrap();
        let first = store.room_for(800).await;
        let second = tokio::time::timeout(Duration::from_millis(200), store.room_for(800)).await;
        assert!(second.is_err(), "no room while the first one holds it");

        store.send_in(vec![Change::PutMessage("c".into(), 1, vec![0; 800])], first);
        let second = tokio::time::timeout(Duration::from_secs(10), store.room_for(800)).await;
        assert!(second.is_ok(), "room again once the writer wrote the first");
    }

    /// A kept message reads back as it was, payload bytes included (newlines, bytes that
    /// are not UTF-8); a row in stop 28's plain JSON still reads.
    #[test]
    fn kept_messages_read_back_in_both_forms() {
        use rmqtt::types::{CodecPublish, QoS};
        let codec = CodecPublish {
            dup: false,
            retain: false,
            qos: QoS::AtLeastOnce,
            topic: "a/b".into(),
            packet_id: None,
            // Every byte value, newlines and invalid UTF-8 included.
            payload: (0..1000)
                .map(|i| (i % 256) as u8)
                .collect::<Vec<u8>>()
                .into(),
            properties: None,
        };
        let pending = Pending {
            from: From::from_system(Id::new(1, 0, None, None, "dev".into(), None)),
            publish: Publish::new(Box::new(codec), None, None, Some(42)),
            packet_id: Some(7),
        };
        let json = serde_json::to_vec(&pending).unwrap();
        let row = pending.encode().unwrap();
        assert!(
            row.len() < json.len() / 2,
            "{} vs {} bytes",
            row.len(),
            json.len()
        );
        for bytes in [row, json] {
            let back = Pending::decode(&bytes).unwrap();
            assert_eq!(back.publish.payload, pending.publish.payload);
            assert_eq!(back.publish.topic, "a/b");
            assert_eq!(back.publish.create_time, Some(42));
            assert_eq!(back.packet_id, Some(7));
            assert_eq!(back.from.id.client_id, "dev");
        }
        assert!(Pending::decode(b"RWM1\n{}").is_err());
    }

    /// A put that a later delete of the same batch undoes is not written; one after the
    /// delete is.
    #[test]
    fn puts_deleted_later_in_the_batch_are_skipped() {
        let put = |seq| Change::PutMessage("c".into(), seq, vec![1]);
        let del = |seq| Change::DeleteMessage("c".into(), seq);
        let changes = [
            put(1),
            Change::PutSession("c".into(), vec![]),
            put(2),
            del(1),
            Change::DeleteSession("c".into()),
            Change::PutSession("c".into(), vec![]),
            del(3),
            put(3),
            Change::PutMessage("other".into(), 1, vec![1]),
        ];
        let refs: Vec<&Change> = changes.iter().collect();
        assert_eq!(
            overwritten(&refs),
            [true, true, false, false, false, false, false, false, false]
        );
    }
}
