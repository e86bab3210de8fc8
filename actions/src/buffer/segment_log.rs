//! The on-disk queue of one buffered action: an append-only log of CRC-checked records in
//! segment files, with group commit and a consumer cursor.
//!
//! Layout of a buffer directory:
//! - `<first-seq>.seg` (20 digits): segments. A record is `[len u32 LE][crc32 u32 LE][bytes]`;
//!   a record's sequence number is its segment's first seq plus its index in the segment.
//! - `lock`: locked (flock) while a process has the buffer open.
//! - `cursor`: where the consumer is: `[seq u64][segment u64][offset u64][crc32 u32]`, replaced
//!   with write-then-rename. Records before it are done; a lost or stale cursor only means
//!   records are delivered again (at-least-once), never lost.
//!
//! Appends go to one writer thread that writes every record queued meanwhile, calls
//! `fdatasync` once for all of them (group commit) and only then answers their callers, so an
//! append that returned is on disk. A reader thread hands records to the consumer in order as
//! they become durable; the consumer calls [`SegmentLog::commit`] with the first record not yet
//! done, which moves the cursor and deletes segments that are wholly done.
//!
//! Recovery ([`SegmentLog::open`]) reads the cursor and scans only the last segment: a torn or
//! corrupt tail (a crash in the middle of a write) is truncated at the last whole record, which
//! loses nothing that was acknowledged, since an append is acknowledged after its fsync. A bad
//! record found later in an older segment (the disk went bad) is counted, logged and skipped
//! with the rest of that segment.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use super::segment_files::{
    list_segments, lock_dir, read_cursor, read_record, recover_tail, segment_path, sync_dir,
    write_cursor,
};

/// Bytes before each record: its length and its CRC-32.
pub(crate) const RECORD_HEADER: u64 = 8;
/// The largest record accepted (a length above it in a segment means corruption).
pub(crate) const MAX_RECORD: usize = 256 << 20;
/// When records keep arriving while the writer syncs (many independent senders), how long it
/// waits for more before the next fsync, unless [`LINGER_RECORDS`] are already waiting.
const LINGER: Duration = Duration::from_millis(1);
const LINGER_RECORDS: usize = 256;

/// Where the consumer stands: the first record not yet done, and where it starts on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub seq: u64,
    /// The first seq of the segment that holds `seq`.
    pub segment: u64,
    /// `seq`'s byte offset in that segment.
    pub offset: u64,
}

/// One record read back: its sequence number, position and bytes.
#[derive(Debug)]
pub(crate) struct Record {
    pub seq: u64,
    /// Where the record after this one starts.
    pub next: Position,
    /// Bytes on disk, header included (for the buffer's byte count).
    pub disk_bytes: u64,
    pub bytes: Vec<u8>,
}

/// What the log holds, for metrics and the full check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Records appended and not yet committed as done.
    pub records: u64,
    /// Their bytes on disk, headers included, plus the bytes reserved for appends under way.
    pub bytes: u64,
}

struct State {
    /// One past the last durable record.
    durable_end: u64,
    /// The first seq of every segment on disk, oldest first (the last is being written).
    segments: Vec<u64>,
    /// The consumer's cursor.
    committed: Position,
    usage: Usage,
    /// Records found corrupt by the reader (lost); counted for the metrics.
    corrupt: u64,
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// Signalled when records become durable or the log closes (the reader thread waits).
    changed: Condvar,
    /// Notified when commits free space or the log closes (appenders wait when it is full).
    room: tokio::sync::Notify,
}

type AppendReply = oneshot::Sender<io::Result<u64>>;

/// An open buffer directory. Dropping it stops the writer thread (after what is queued).
pub(crate) struct SegmentLog {
    shared: Arc<Shared>,
    appends: mpsc::UnboundedSender<(Vec<u8>, AppendReply)>,
    /// The directory's `lock` file, locked exclusively until the log is closed.
    lock: Mutex<Option<File>>,
}

impl SegmentLog {
    /// Opens (creating it if needed) the buffer in `dir` and recovers its state; a new segment
    /// starts when the current one passes `segment_bytes`.
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> io::Result<SegmentLog> {
        fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let mut segments = list_segments(dir)?;
        if segments.is_empty() {
            File::create(segment_path(dir, 0))?;
            sync_dir(dir)?;
            segments.push(0);
        }
        let last = *segments.last().expect("at least one segment");
        let (last_records, last_len) = recover_tail(&segment_path(dir, last))?;
        let durable_end = last + last_records;
        let committed = read_cursor(dir)
            .filter(|c| segments.contains(&c.segment) && c.seq <= durable_end)
            .unwrap_or(Position {
                seq: segments[0],
                segment: segments[0],
                offset: 0,
            });
        // Everything after the cursor is still to do: the rest of its segment and every later one.
        let mut bytes = 0;
        for &s in segments.iter().filter(|&&s| s >= committed.segment) {
            let len = if s == last {
                last_len
            } else {
                fs::metadata(segment_path(dir, s))?.len()
            };
            bytes += len
                - if s == committed.segment {
                    committed.offset
                } else {
                    0
                };
        }
        let usage = Usage {
            records: durable_end - committed.seq,
            bytes,
        };
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                durable_end,
                segments,
                committed,
                usage,
                corrupt: 0,
                closed: false,
            }),
            changed: Condvar::new(),
            room: tokio::sync::Notify::new(),
        });
        let (appends, rx) = mpsc::unbounded_channel();
        let file = OpenOptions::new()
            .append(true)
            .open(segment_path(dir, last))?;
        let writer = Writer {
            shared: shared.clone(),
            file,
            segment_len: last_len,
            next_seq: durable_end,
            segment_bytes,
        };
        std::thread::Builder::new()
            .name("rulewire-buffer-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(SegmentLog {
            shared,
            appends,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Appends one record whose bytes (`RECORD_HEADER` + its length) were reserved with
    /// [`SegmentLog::try_reserve`] or [`SegmentLog::reserve`]; resolves with its seq once it is
    /// on disk (fsync'd). On failure the reservation is given back.
    pub(crate) async fn append(&self, bytes: Vec<u8>) -> io::Result<u64> {
        if bytes.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("record of {} bytes exceeds {MAX_RECORD}", bytes.len()),
            ));
        }
        let (tx, rx) = oneshot::channel();
        self.appends
            .send((bytes, tx))
            .map_err(|_| io::Error::other("the buffer's writer stopped"))?;
        rx.await
            .map_err(|_| io::Error::other("the buffer's writer stopped"))?
    }

    /// A reader from the consumer's cursor. One at a time: it is the log's only consumer.
    pub(crate) fn reader(&self) -> Reader {
        let at = self.shared.state.lock().unwrap().committed;
        Reader {
            shared: self.shared.clone(),
            at,
            file: None,
        }
    }

    /// Marks every record before `next.seq` done (`freed` is what they took on disk): writes
    /// the cursor and deletes the segments that hold only done records.
    pub(crate) fn commit(&self, next: Position, freed: Usage) -> io::Result<()> {
        let doomed: Vec<u64> = {
            let mut st = self.shared.state.lock().unwrap();
            if next.seq <= st.committed.seq {
                return Ok(());
            }
            st.committed = next;
            st.usage.records = st.usage.records.saturating_sub(freed.records);
            st.usage.bytes = st.usage.bytes.saturating_sub(freed.bytes);
            let keep_from = st
                .segments
                .iter()
                .position(|&s| s >= next.segment)
                .unwrap_or(st.segments.len() - 1);
            st.segments.drain(..keep_from).collect()
        };
        self.shared.room.notify_waiters();
        write_cursor(&self.shared.dir, next)?;
        for s in doomed {
            fs::remove_file(segment_path(&self.shared.dir, s))?;
        }
        Ok(())
    }

    pub(crate) fn usage(&self) -> Usage {
        self.shared.state.lock().unwrap().usage
    }

    /// Records the reader found corrupt and skipped, since the log was opened.
    pub(crate) fn corrupt_records(&self) -> u64 {
        self.shared.state.lock().unwrap().corrupt
    }

    /// Waits until `size` more bytes fit under `max_bytes`, and reserves them.
    pub(crate) async fn reserve(&self, max_bytes: u64, size: u64) {
        loop {
            let freed = self.shared.room.notified();
            if self.try_reserve(max_bytes, size) {
                return;
            }
            freed.await;
        }
    }

    /// Reserves `size` bytes if they fit under `max_bytes` now (an empty log always takes
    /// one record): checked and counted at once, so concurrent appends never overshoot.
    pub(crate) fn try_reserve(&self, max_bytes: u64, size: u64) -> bool {
        let mut st = self.shared.state.lock().unwrap();
        let fits = st.usage.bytes == 0 || st.usage.bytes + size <= max_bytes;
        if fits {
            st.usage.bytes += size;
        }
        fits
    }

    /// The directory this log lives in.
    pub(crate) fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl SegmentLog {
    /// Stops the reader and releases the directory's lock now, so that the buffer can be
    /// opened again at once (a drain may still hold the log for a moment).
    pub(crate) fn close(&self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.changed.notify_all();
        self.shared.room.notify_waiters();
        self.lock.lock().unwrap().take();
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: appends, group commit, segment roll.
struct Writer {
    shared: Arc<Shared>,
    file: File,
    segment_len: u64,
    next_seq: u64,
    segment_bytes: u64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<(Vec<u8>, AppendReply)>) {
        let mut buf = Vec::new();
        // Records arrived while the last group was being synced.
        let mut arriving = false;
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while let Ok(next) = rx.try_recv() {
                group.push(next);
            }
            // Under a steady stream, wait a little for more: fewer, larger groups. Not when the
            // senders wait for these acks before sending more (a bounded window: the wait would
            // only add latency), nor when the log is idle.
            if arriving && group.len() < LINGER_RECORDS {
                std::thread::sleep(LINGER);
                while let Ok(next) = rx.try_recv() {
                    group.push(next);
                }
            }
            let first_seq = self.next_seq;
            let mut flushed = 0;
            let result = self.write_group(&group, &mut buf, &mut flushed);
            arriving = !rx.is_empty();
            if result.is_err() {
                // The records not written give back the bytes their callers reserved.
                let reserved: u64 = group
                    .iter()
                    .map(|(b, _)| RECORD_HEADER + b.len() as u64)
                    .sum();
                let mut st = self.shared.state.lock().unwrap();
                st.usage.bytes = st.usage.bytes.saturating_sub(reserved - flushed);
                drop(st);
                self.shared.room.notify_waiters();
            }
            for (i, (_, reply)) in group.into_iter().enumerate() {
                let answer = match &result {
                    Ok(()) => Ok(first_seq + i as u64),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// Writes a group of records (rolling segments as needed), fsyncs, then publishes them.
    /// `flushed` counts the bytes that reached the disk, also when a later part fails.
    fn write_group(
        &mut self,
        group: &[(Vec<u8>, AppendReply)],
        buf: &mut Vec<u8>,
        flushed: &mut u64,
    ) -> io::Result<()> {
        let mut added = Usage::default();
        buf.clear();
        for (bytes, _) in group {
            let pending = self.segment_len + buf.len() as u64;
            if pending > 0 && pending >= self.segment_bytes {
                *flushed += added.bytes;
                self.flush(buf, &mut added)?;
                self.roll()?;
            }
            buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
            buf.extend_from_slice(bytes);
            added.records += 1;
            added.bytes += RECORD_HEADER + bytes.len() as u64;
        }
        let last = added.bytes;
        self.flush(buf, &mut added)?;
        *flushed += last;
        Ok(())
    }

    /// Writes `buf`, fsyncs, and makes its `added` records visible to the reader.
    fn flush(&mut self, buf: &mut Vec<u8>, added: &mut Usage) -> io::Result<()> {
        if added.records == 0 {
            return Ok(());
        }
        let written = (|| {
            self.file.write_all(buf)?;
            self.file.sync_data()
        })();
        if let Err(e) = written {
            // Whatever part reached the file is cut off again, so that records stay whole.
            let _ = self.file.set_len(self.segment_len);
            return Err(e);
        }
        self.segment_len += buf.len() as u64;
        self.next_seq += added.records;
        {
            let mut st = self.shared.state.lock().unwrap();
            st.durable_end = self.next_seq;
            // The bytes were counted when they were reserved (`try_reserve`).
            st.usage.records += added.records;
        }
        self.shared.changed.notify_all();
        buf.clear();
        *added = Usage::default();
        Ok(())
    }

    /// Starts a new segment at `next_seq`.
    fn roll(&mut self) -> io::Result<()> {
        let path = segment_path(&self.shared.dir, self.next_seq);
        self.file = OpenOptions::new().create(true).append(true).open(path)?;
        sync_dir(&self.shared.dir)?;
        self.segment_len = 0;
        self.shared
            .state
            .lock()
            .unwrap()
            .segments
            .push(self.next_seq);
        Ok(())
    }
}

/// Reads durable records in order, from the cursor on.
pub(crate) struct Reader {
    shared: Arc<Shared>,
    at: Position,
    file: Option<BufReader<File>>,
}

impl Reader {
    /// The next record, waiting (blocking) until one is durable; `None` once the log closes.
    pub(crate) fn next_blocking(&mut self) -> Option<Record> {
        loop {
            let next_segment = {
                let mut st = self.shared.state.lock().unwrap();
                while !st.closed && self.at.seq >= st.durable_end {
                    st = self.shared.changed.wait(st).unwrap();
                }
                if st.closed {
                    return None;
                }
                st.segments.iter().copied().find(|&s| s > self.at.segment)
            };
            match self.read_one() {
                Ok(Some(record)) => return Some(record),
                Ok(None) => match next_segment {
                    // The end of a segment that was rolled: go on with the next one.
                    Some(s) => self.move_to(s),
                    None => {
                        // Durable but not readable: the writer's view and the file disagree.
                        tracing::error!(dir = %self.shared.dir.display(), seq = self.at.seq,
                            "buffer segment ends before its durable records; skipping ahead");
                        return None;
                    }
                },
                Err(e) => {
                    let lost = next_segment.map(|s| s.saturating_sub(self.at.seq));
                    tracing::error!(dir = %self.shared.dir.display(), seq = self.at.seq,
                        segment = self.at.segment, error = %e, lost_records = ?lost,
                        "corrupt record in a buffer segment; skipping the rest of the segment");
                    let s = next_segment?;
                    let rest = fs::metadata(segment_path(&self.shared.dir, self.at.segment))
                        .map_or(0, |m| m.len().saturating_sub(self.at.offset));
                    {
                        let mut st = self.shared.state.lock().unwrap();
                        st.corrupt += s - self.at.seq;
                        st.usage.records = st.usage.records.saturating_sub(s - self.at.seq);
                        st.usage.bytes = st.usage.bytes.saturating_sub(rest);
                    }
                    self.move_to(s);
                }
            }
        }
    }

    /// Up to `max` records: waits (blocking) for the first, then takes the ones already
    /// durable behind it; `None` once the log closes.
    pub(crate) fn next_batch(&mut self, max: usize) -> Option<Vec<Record>> {
        let mut batch = vec![self.next_blocking()?];
        while batch.len() < max && self.durable_ahead() {
            match self.next_blocking() {
                Some(record) => batch.push(record),
                None => break,
            }
        }
        Some(batch)
    }

    /// Whether the next record is durable already (reading it will not wait).
    fn durable_ahead(&self) -> bool {
        let st = self.shared.state.lock().unwrap();
        !st.closed && self.at.seq < st.durable_end
    }

    fn move_to(&mut self, segment: u64) {
        self.at = Position {
            seq: segment,
            segment,
            offset: 0,
        };
        self.file = None;
    }

    /// The record at `self.at`, `None` at the end of the segment.
    fn read_one(&mut self) -> io::Result<Option<Record>> {
        if self.file.is_none() {
            let mut file = File::open(segment_path(&self.shared.dir, self.at.segment))?;
            file.seek(SeekFrom::Start(self.at.offset))?;
            self.file = Some(BufReader::with_capacity(256 << 10, file));
        }
        let file = self.file.as_mut().expect("opened above");
        let Some(bytes) = read_record(file)? else {
            return Ok(None);
        };
        let disk_bytes = RECORD_HEADER + bytes.len() as u64;
        let seq = self.at.seq;
        self.at.seq += 1;
        self.at.offset += disk_bytes;
        Ok(Some(Record {
            seq,
            next: self.at,
            disk_bytes,
            bytes,
        }))
    }
}

#[cfg(test)]
#[path = "segment_log_tests.rs"]
mod tests;
