//! Where shadows live: every entry in memory (what requests, rules and the admin API read)
//! and in a redb database at `<data_dir>/shadows.redb` (what survives kill -9 and power loss).
//!
//! A group of requests is committed in one write transaction (redb syncs it to disk before
//! `commit` returns); the memory copy changes only after the commit, so nothing is answered
//! "accepted" that a crash could take back. Entries are stored as compact JSON (the engine's
//! ordered values): `{"version":N,"state":{...},"metadata":{...}}`, or
//! `{"version":N,"deletedAt":T}` for a deleted shadow whose version carries on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rulewire_engine::json_in::parse_json;
use rulewire_engine::{Lookups, Object, Value};

use super::document::{Document, json};
use super::request::{Entry, ShadowName, VERSION_KEPT_AFTER_DELETE_SECS};

const SHADOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("shadows");

/// The shadows of this instance.
pub struct ShadowStore {
    db: Database,
    path: PathBuf,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// Live entries (not deleted), kept as commits change them.
    live: AtomicUsize,
}

impl ShadowStore {
    /// Opens (or creates) the database and reads every entry into memory.
    pub fn open(path: &Path) -> anyhow::Result<ShadowStore> {
        let db = crate::storage::open_database(path, "shadow database")?;
        let mut entries = HashMap::new();
        let read = db.begin_read()?;
        match read.open_table(SHADOWS) {
            Ok(table) => {
                for row in table.iter()? {
                    let (key, value) = row?;
                    let entry = decode(value.value()).with_context(|| {
                        format!(
                            "shadow {:?} in {} is unreadable",
                            key.value(),
                            path.display()
                        )
                    })?;
                    // A tombstone past its 48 hours is as good as nothing.
                    if let Entry::Deleted { at, .. } = entry
                        && super::now_secs() - at >= VERSION_KEPT_AFTER_DELETE_SECS
                    {
                        continue;
                    }
                    entries.insert(key.value().to_owned(), Arc::new(entry));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        drop(read);
        let live = entries.values().filter(|e| is_live(e)).count();
        Ok(ShadowStore {
            db,
            path: path.to_owned(),
            entries: RwLock::new(entries),
            live: AtomicUsize::new(live),
        })
    }

    /// The current entry under `key` (see [`ShadowName::key`]).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.entries.read().expect("not poisoned").get(key).cloned()
    }

    /// How many shadows exist (deleted ones not counted).
    pub fn live_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Writes `changes` durably in one transaction, then makes them visible. Blocking (a
    /// disk sync): call it off the async workers.
    pub fn commit(&self, changes: Vec<(String, Entry)>) -> anyhow::Result<()> {
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(SHADOWS)?;
            for (key, entry) in &changes {
                table.insert(key.as_str(), encode(entry).as_slice())?;
            }
        }
        write
            .commit()
            .with_context(|| format!("writing shadows to {}", self.path.display()))?;
        let mut entries = self.entries.write().expect("not poisoned");
        for (key, entry) in changes {
            let now_live = is_live(&entry);
            let was_live = entries
                .insert(key, Arc::new(entry))
                .is_some_and(|old| is_live(&old));
            if now_live && !was_live {
                self.live.fetch_add(1, Ordering::Relaxed);
            } else if was_live && !now_live {
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The GET document of a live shadow with a valid name (see [`ShadowName::check`]).
    fn document(&self, name: &ShadowName) -> Option<Object> {
        name.check().ok()?;
        match &*self.get(&name.key())? {
            Entry::Live(doc) => Some(doc.get_document(super::now_secs())),
            Entry::Deleted { .. } => None,
        }
    }
}

fn is_live(entry: &Entry) -> bool {
    matches!(entry, Entry::Live(_))
}

impl ShadowStore {
    /// The GET document of a live shadow as JSON text (the admin API's answer).
    pub fn document_json(&self, name: &ShadowName) -> Option<Vec<u8>> {
        self.document(name).map(|d| json(&Value::Object(d)))
    }
}

impl Lookups for ShadowStore {
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<Value> {
        let name = ShadowName {
            thing: thing.to_owned(),
            shadow: shadow.map(str::to_owned),
        };
        self.document(&name).map(Value::Object)
    }
}

fn encode(entry: &Entry) -> Vec<u8> {
    let int = |v: i128| Value::Int(v);
    let fields = match entry {
        Entry::Live(doc) => vec![
            ("version".to_owned(), int(doc.version.into())),
            ("state".to_owned(), Value::Object(doc.state_object())),
            ("metadata".to_owned(), Value::Object(doc.metadata_object())),
        ],
        Entry::Deleted { version, at } => vec![
            ("version".to_owned(), int((*version).into())),
            ("deletedAt".to_owned(), int((*at).into())),
        ],
    };
    json(&Value::Object(Object(fields)))
}

fn decode(bytes: &[u8]) -> anyhow::Result<Entry> {
    let Ok(Value::Object(o)) = parse_json(bytes) else {
        anyhow::bail!("not a JSON object");
    };
    let number = |key: &str| match o.get(key) {
        Some(Value::Int(v)) => Ok(*v),
        _ => Err(anyhow::anyhow!("no integer {key:?}")),
    };
    let version = u64::try_from(number("version")?)?;
    if o.get("deletedAt").is_some() {
        let at = i64::try_from(number("deletedAt")?)?;
        return Ok(Entry::Deleted { version, at });
    }
    let section = |outer: &str, inner: &str| match o.get(outer) {
        Some(Value::Object(s)) => match s.get(inner) {
            Some(Value::Object(v)) => Some(v.clone()),
            _ => None,
        },
        _ => None,
    };
    Ok(Entry::Live(Document {
        desired: section("state", "desired"),
        reported: section("state", "reported"),
        metadata_desired: section("metadata", "desired"),
        metadata_reported: section("metadata", "reported"),
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_a_second_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadows.redb");
        let live = Entry::Live(Document {
            reported: Some(Object(vec![("a".into(), Value::decimal("1.50"))])),
            metadata_reported: Some(Object(vec![(
                "a".into(),
                Value::Object(Object(vec![("timestamp".into(), Value::Int(7))])),
            )])),
            version: 3,
            ..Document::default()
        });
        let recent = Entry::Deleted {
            version: 9,
            at: crate::shadow::now_secs() - 60,
        };
        {
            let store = ShadowStore::open(&path).unwrap();
            store
                .commit(vec![
                    ("lamp".into(), live.clone()),
                    ("lamp~config".into(), recent.clone()),
                    // Deleted more than 48 hours ago: forgotten at the next open.
                    (
                        "old".into(),
                        Entry::Deleted {
                            version: 4,
                            at: 100,
                        },
                    ),
                ])
                .unwrap();
            assert_eq!(store.live_count(), 1);
            let second = ShadowStore::open(&path).err().unwrap().to_string();
            assert!(second.contains("two instances cannot share"), "{second}");
        }
        let store = ShadowStore::open(&path).unwrap();
        assert_eq!(*store.get("lamp").unwrap(), live);
        assert_eq!(*store.get("lamp~config").unwrap(), recent);
        assert!(store.get("old").is_none());
        assert_eq!(store.live_count(), 1);
        let doc = store.thing_shadow("lamp", None).unwrap();
        assert_eq!(
            doc.field("state").field("reported").field("a"),
            Value::decimal("1.5")
        );
        assert!(store.thing_shadow("lamp", Some("config")).is_none());
        assert!(store.thing_shadow("nobody", None).is_none());
        // `~` joins a thing and a shadow in keys; it is in neither name.
        assert!(store.thing_shadow("lamp~config", None).is_none());
    }
}
