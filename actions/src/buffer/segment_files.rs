//! The files of a buffer directory, as `segment_log` uses them: reading and checking one
//! record, recovering a segment's torn tail, segment names, the cursor file, the lock file.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read},
    path::{Path, PathBuf},
    time::Instant,
};

use super::segment_log::{MAX_RECORD, Position, RECORD_HEADER};

pub(super) const CURSOR_FILE: &str = "cursor";
const LOCK_FILE: &str = "lock";
const SEGMENT_SUFFIX: &str = ".seg";

/// One record from `r`: `Ok(None)` at a clean end, `Err` for a torn or corrupt record.
pub(super) fn read_record(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; RECORD_HEADER as usize];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(corrupt("a record header is cut short")),
            n => got += n,
        }
    }
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_RECORD {
        return Err(corrupt("a record length is out of range"));
    }
    let mut bytes = vec![0; len];
    r.read_exact(&mut bytes)
        .map_err(|_| corrupt("a record is cut short"))?;
    if crc32fast::hash(&bytes) != crc {
        return Err(corrupt("a record fails its CRC check"));
    }
    Ok(Some(bytes))
}

pub(super) fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Counts the whole records of the segment at `path` and truncates anything after them (a
/// write cut short by a crash). Returns (records, valid length).
pub(super) fn recover_tail(path: &Path) -> io::Result<(u64, u64)> {
    let started = Instant::now();
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let total = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let (mut records, mut valid) = (0u64, 0u64);
    loop {
        match read_record(&mut reader) {
            Ok(Some(bytes)) => {
                records += 1;
                valid += RECORD_HEADER + bytes.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(segment = %path.display(), valid_bytes = valid, file_bytes = total,
                    error = %e, "buffer segment has a torn tail (a crash mid-write); truncating it");
                break;
            }
        }
    }
    drop(reader);
    if valid < total {
        file.set_len(valid)?;
        file.sync_all()?;
    }
    tracing::debug!(segment = %path.display(), records, elapsed = ?started.elapsed(), "buffer tail scanned");
    Ok((records, valid))
}

pub(super) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

/// The first seqs of the segments in `dir`, ascending.
pub(super) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_suffix(SEGMENT_SUFFIX)
            .and_then(|s| s.parse::<u64>().ok())
        {
            segments.push(seq);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

pub(super) fn read_cursor(dir: &Path) -> Option<Position> {
    let bytes = fs::read(dir.join(CURSOR_FILE)).ok()?;
    if bytes.len() != 28 {
        return None;
    }
    let (body, crc) = bytes.split_at(24);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Some(Position {
        seq: word(0),
        segment: word(1),
        offset: word(2),
    })
}

/// Replaces the cursor file (write a temporary file, rename it over). Not fsync'd: a cursor
/// lost in a power cut only makes records be delivered again.
pub(super) fn write_cursor(dir: &Path, at: Position) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(28);
    for word in [at.seq, at.segment, at.offset] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, &bytes)?;
    fs::rename(tmp, dir.join(CURSOR_FILE))
}

/// Locks `dir` for this process: two rulewire processes sharing a data directory would
/// otherwise interleave their writes in the same segments.
pub(super) fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "another process (or another open of this buffer) holds it: \
             two rulewire instances cannot share a data directory",
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Makes a new or removed directory entry durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
