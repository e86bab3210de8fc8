//! Tests of the segment log: order, commit and segment deletion, and recovery from torn
//! tails, corrupt records and lost cursors.

use super::*;
use crate::buffer::segment_files::CURSOR_FILE;

fn record(i: u64) -> Vec<u8> {
    format!("record-{i:06}").into_bytes()
}

async fn append_all(log: &SegmentLog, range: std::ops::Range<u64>) {
    for i in range {
        let record = record(i);
        assert!(log.try_reserve(u64::MAX, RECORD_HEADER + record.len() as u64));
        log.append(record).await.unwrap();
    }
}

/// Reads `n` records (they must be durable already, or this blocks).
fn read_n(reader: &mut Reader, n: usize) -> Vec<Record> {
    (0..n).map(|_| reader.next_blocking().unwrap()).collect()
}

fn freed(records: &[Record]) -> Usage {
    Usage {
        records: records.len() as u64,
        bytes: records.iter().map(|r| r.disk_bytes).sum(),
    }
}

#[tokio::test]
async fn records_come_back_in_order_and_commits_delete_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: about four records each.
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    append_all(&log, 0..20).await;
    assert_eq!(log.usage().records, 20);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() >= 4, "{segments:?}");

    let mut reader = log.reader();
    let got = read_n(&mut reader, 20);
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, r)| r.bytes == record(i as u64))
    );

    // Commit the first 10: the segments holding only those go.
    log.commit(got[9].next, freed(&got[..10])).unwrap();
    assert_eq!(log.usage().records, 10);
    let left = list_segments(dir.path()).unwrap();
    assert!(left.len() < segments.len(), "{left:?}");
    assert!(left[0] <= 10, "the segment holding seq 10 stays: {left:?}");

    // Reopened, the log resumes at the cursor.
    drop(reader);
    drop(log);
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    assert_eq!(log.usage().records, 10);
    let mut reader = log.reader();
    let again = read_n(&mut reader, 10);
    assert_eq!(again[0].seq, 10);
    assert_eq!(again[0].bytes, record(10));
    append_all(&log, 20..21).await;
    assert_eq!(reader.next_blocking().unwrap().bytes, record(20));
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), 1 << 20).unwrap();
    append_all(&log, 0..5).await;
    drop(log);
    let path = segment_path(dir.path(), 0);
    let whole = fs::metadata(&path).unwrap().len();
    // A crash in the middle of the sixth record's write: its header and half its bytes.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    let sixth = record(5);
    f.write_all(&(sixth.len() as u32).to_le_bytes()).unwrap();
    f.write_all(&crc32fast::hash(&sixth).to_le_bytes()).unwrap();
    f.write_all(&sixth[..4]).unwrap();
    drop(f);

    let log = SegmentLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        whole,
        "the torn record is truncated"
    );
    assert_eq!(log.usage().records, 5);
    append_all(&log, 5..6).await;
    let got = read_n(&mut log.reader(), 6);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, r)| r.bytes == record(i as u64))
    );
}

#[tokio::test]
async fn a_flipped_bit_in_the_tail_is_detected_by_the_crc() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), 1 << 20).unwrap();
    append_all(&log, 0..3).await;
    drop(log);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&path, bytes).unwrap();

    let log = SegmentLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        log.usage().records,
        2,
        "the last record fails its CRC and is cut"
    );
    let got = read_n(&mut log.reader(), 2);
    assert_eq!(got[1].bytes, record(1));
}

#[tokio::test]
async fn a_corrupt_record_in_an_older_segment_is_skipped_with_its_segment_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    append_all(&log, 0..12).await;
    drop(log);
    let segments = list_segments(dir.path()).unwrap();
    let (first, second) = (segments[0], segments[1]);
    // Flip a byte of the first segment's second record.
    let path = segment_path(dir.path(), first);
    let mut bytes = fs::read(&path).unwrap();
    let second_record = (RECORD_HEADER as usize + record(0).len()) + RECORD_HEADER as usize;
    bytes[second_record] ^= 0xff;
    fs::write(&path, bytes).unwrap();

    let log = SegmentLog::open(dir.path(), 80).unwrap();
    let mut reader = log.reader();
    let first_record = reader.next_blocking().unwrap();
    assert_eq!(first_record.bytes, record(0));
    let next = reader.next_blocking().unwrap();
    assert_eq!(next.seq, second, "reading goes on at the next segment");
    assert_eq!(next.bytes, record(second));
    assert_eq!(log.corrupt_records(), second - 1);
}

#[tokio::test]
async fn a_lost_or_stale_cursor_delivers_again_rather_than_losing() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    append_all(&log, 0..12).await;
    let mut reader = log.reader();
    let got = read_n(&mut reader, 12);
    log.commit(got[2].next, freed(&got[..3])).unwrap();
    drop((reader, log));

    // Without its cursor the log starts at its oldest segment.
    fs::remove_file(dir.path().join(CURSOR_FILE)).unwrap();
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    assert_eq!(log.reader().next_blocking().unwrap().seq, 0);
    drop(log);

    // A cursor into a segment that no longer exists (deleted after a cursor write that did
    // not reach the disk) does the same.
    write_cursor(
        dir.path(),
        Position {
            seq: 1,
            segment: 999,
            offset: 0,
        },
    )
    .unwrap();
    let log = SegmentLog::open(dir.path(), 80).unwrap();
    assert_eq!(log.reader().next_blocking().unwrap().seq, 0);
    assert_eq!(log.usage().records, 12);
}

#[tokio::test]
async fn appends_wait_for_room_and_commits_free_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SegmentLog::open(dir.path(), 1 << 20).unwrap());
    append_all(&log, 0..4).await;
    let per_record = RECORD_HEADER + record(0).len() as u64;
    let max = 4 * per_record;
    assert_eq!(log.usage().bytes, max);
    assert!(!log.try_reserve(max, per_record));
    let waiting = tokio::spawn({
        let log = log.clone();
        async move { log.reserve(max, per_record).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    let got = read_n(&mut log.reader(), 1);
    log.commit(got[0].next, freed(&got)).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("a commit frees room")
        .unwrap();
    assert_eq!(
        log.usage().bytes,
        max,
        "the waiter reserved what the commit freed"
    );
}

#[tokio::test]
async fn a_buffer_open_elsewhere_is_refused_and_free_again_once_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), 1 << 20).unwrap();
    let e = SegmentLog::open(dir.path(), 1 << 20).err().expect("locked");
    assert!(
        e.to_string().contains("cannot share a data directory"),
        "{e}"
    );
    drop(log);
    SegmentLog::open(dir.path(), 1 << 20).expect("the lock is released with the log");
}
