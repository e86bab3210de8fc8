//! Disk buffers: an action with `buffer = { type = "disk" }` in its rule-header table takes a
//! message by writing it durably to its own on-disk queue, and delivers from that queue on its
//! own, with its own retries and pace.
//!
//! - `config`: the `buffer` table (`type`, `max_bytes`, `when_full`, `max_in_flight`).
//! - `segment_log`: the queue on disk (CRC-checked records, group commit, cursor, recovery);
//!   `segment_files`: its files (record format, torn-tail recovery, cursor, lock).
//! - `codec`: a `FiredMessage` as a record.
//! - `buffered`: the `Action` that appends (what the rule runs) and the drain task that reads
//!   the queue and runs the real action, then the rule's error action for what finally fails.
//! - [`BufferStore`]: where buffers live (`<data_dir>/buffers/<rule>/<slot>`), and which are
//!   open, so that a rule reloaded while its buffer drains keeps the same queue and drain.
//!
//! A message is acknowledged to the broker once every action of its rule has either delivered
//! it or durably buffered it: a slow or failing buffered action holds no in-flight slot.

mod buffered;
mod codec;
mod config;
mod segment_files;
mod segment_log;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, Weak},
};

pub(crate) use buffered::bind_buffered;
pub use config::{BufferConfig, WhenFull};

use buffered::BufferHandle;

/// What a disk buffer holds, as `GET /rules` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BufferStatus {
    /// Its directory.
    pub dir: String,
    /// Records not yet delivered, and their bytes on disk.
    pub records: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

/// The directory disk buffers live in, and the buffers open in it (one drain per directory).
pub struct BufferStore {
    root: PathBuf,
    open: Mutex<HashMap<PathBuf, Weak<BufferHandle>>>,
}

impl BufferStore {
    /// Buffers under `root` (created when the first buffer opens).
    pub fn new(root: impl Into<PathBuf>) -> BufferStore {
        BufferStore {
            root: root.into(),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `rule`'s action `slot`.
    fn dir(&self, rule: &str, slot: &str) -> PathBuf {
        self.root.join(sanitize(rule)).join(sanitize(slot))
    }

    /// The buffer in `dir`: the open one if a previous version of the rule still holds it,
    /// otherwise `open`.
    fn get_or_open(
        &self,
        dir: &Path,
        open: impl FnOnce() -> std::io::Result<Arc<BufferHandle>>,
    ) -> std::io::Result<Arc<BufferHandle>> {
        let mut buffers = self.open.lock().unwrap();
        buffers.retain(|_, b| b.strong_count() > 0);
        if let Some(handle) = buffers.get(dir).and_then(Weak::upgrade) {
            return Ok(handle);
        }
        let handle = open()?;
        buffers.insert(dir.to_owned(), Arc::downgrade(&handle));
        Ok(handle)
    }
}

/// A rule or slot name as one path component, injectively: bytes other than ASCII letters,
/// digits, `-` and `_` become `%XX` (so `a b` and `a_b` never share a buffer, and `..` or
/// `/` cannot leave the buffers directory).
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_map_to_distinct_safe_path_components() {
        assert_eq!(sanitize("0-http"), "0-http");
        assert_eq!(sanitize("a b"), "a%20b");
        assert_ne!(sanitize("a b"), sanitize("a_b"));
        assert_eq!(sanitize(".."), "%2E%2E");
        assert_eq!(sanitize("x/y"), "x%2Fy");
        assert_eq!(sanitize("é"), "%C3%A9");
    }
}
