//! The disk side of persistent sessions: `<data_dir>/sessions.redb`, one record per
//! persistent client and one row per QoS 1 message it has not acknowledged. One thread
//! writes, in the order the broker's hooks send their changes, as many changes per
//! transaction as are waiting (one fsync for a burst, not one per message).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rmqtt::types::{ConnectInfo, From, Id, Publish, SubscriptionOptions, TopicFilter};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// client id → [`Record`] as JSON.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// (client id, sequence number) → [`Pending`] as JSON.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("session_messages");

/// Changes written in one transaction, at most.
const MAX_BATCH: usize = 1024;

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

/// One change to the file.
pub enum Change {
    PutSession(String, Vec<u8>),
    DeleteSession(String),
    PutMessage(String, u64, Vec<u8>),
    DeleteMessage(String, u64),
}

/// Changes to write, and who waits for them (if anyone).
struct Job {
    changes: Vec<Change>,
    done: Option<oneshot::Sender<Result<(), String>>>,
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
}

impl Store {
    /// Opens (or creates) the file, reads what it holds and starts the writer thread.
    pub fn open(path: &Path) -> anyhow::Result<(Store, Loaded)> {
        let db = crate::storage::open_database(path, "persistent session store")?;
        let loaded = read_all(&db, path)?;
        let (jobs, queue) = mpsc::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("rulewire-sessions".into())
            .spawn(move || write_loop(db, queue, path))?;
        Ok((Store { jobs }, loaded))
    }

    /// Queues `changes`; they are written in order after every change queued before.
    pub fn send(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            // The writer only stops with the process.
            let _ = self.jobs.send(Job {
                changes,
                done: None,
            });
        }
    }

    /// Queues `changes` and waits until they are on disk.
    pub async fn write(&self, changes: Vec<Change>) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job {
                changes,
                done: Some(done),
            })
            .map_err(|_| "the session writer stopped".to_owned())?;
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
                match serde_json::from_slice::<Pending>(value.value()) {
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
        let mut batch = vec![first];
        let mut changes = batch[0].changes.len();
        while changes < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    changes += job.changes.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
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

fn apply(db: &Database, batch: &[Job]) -> anyhow::Result<()> {
    let write = db.begin_write()?;
    {
        let mut sessions = write.open_table(SESSIONS)?;
        let mut messages = write.open_table(MESSAGES)?;
        for change in batch.iter().flat_map(|job| &job.changes) {
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
