//! One persistent session's unacknowledged QoS 1 messages, in the order they came, found by
//! packet id and by fingerprint without a scan: a client can have a thousand messages in
//! flight and thousands queued, and every delivery and acknowledgement looks one up.

use std::collections::{BTreeMap, HashMap};

use super::store::Pending;

/// One kept message.
pub struct Row {
    /// Its key in the file; rows of a session are pushed in increasing order.
    pub seq: u64,
    /// Tells the message apart from others (see `fingerprint`).
    pub fingerprint: u64,
    pub pending: Pending,
}

/// The rows of one session, by sequence number, with two indexes.
#[derive(Default)]
pub struct Rows {
    by_seq: BTreeMap<u64, Row>,
    /// Packet id → sequence number, for rows sent and awaiting their PUBACK.
    by_packet: HashMap<u16, u64>,
    /// Fingerprint → sequence numbers, oldest first.
    by_fingerprint: HashMap<u64, Vec<u64>>,
}

impl Rows {
    /// Rows in increasing `seq` order.
    pub fn from_ordered(rows: impl IntoIterator<Item = Row>) -> Rows {
        let mut all = Rows::default();
        for row in rows {
            all.push(row);
        }
        all
    }

    /// Adds a row with a `seq` above every other.
    pub fn push(&mut self, row: Row) {
        if let Some(pid) = row.pending.packet_id {
            self.by_packet.insert(pid, row.seq);
        }
        self.by_fingerprint
            .entry(row.fingerprint)
            .or_default()
            .push(row.seq);
        self.by_seq.insert(row.seq, row);
    }

    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_seq.keys().copied()
    }

    /// The row sent with `packet_id`.
    pub fn sent_with(&self, packet_id: u16) -> Option<&Row> {
        self.by_packet
            .get(&packet_id)
            .and_then(|seq| self.by_seq.get(seq))
    }

    /// The oldest row with fingerprint `fp` that satisfies `wanted`.
    fn oldest(&self, fp: u64, wanted: impl Fn(&Row) -> bool) -> Option<u64> {
        let seqs = self.by_fingerprint.get(&fp)?;
        seqs.iter()
            .copied()
            .find(|seq| self.by_seq.get(seq).is_some_and(&wanted))
    }

    /// The oldest row with fingerprint `fp` not sent yet (no packet id).
    pub fn oldest_unsent(&self, fp: u64) -> Option<u64> {
        self.oldest(fp, |r| r.pending.packet_id.is_none())
    }

    /// The row a message that left the session stands for: the one with its fingerprint and
    /// packet id (`None`: not sent), else the oldest with its fingerprint.
    pub fn settled_by(&self, fp: u64, packet_id: Option<u16>) -> Option<u64> {
        let exact = match packet_id {
            Some(pid) => self
                .sent_with(pid)
                .filter(|r| r.fingerprint == fp)
                .map(|r| r.seq),
            None => self.oldest_unsent(fp),
        };
        exact.or_else(|| self.oldest(fp, |_| true))
    }

    /// Marks row `seq` as sent with `packet_id`; the row, to write it again.
    pub fn mark_sent(&mut self, seq: u64, packet_id: u16) -> Option<&Row> {
        let row = self.by_seq.get_mut(&seq)?;
        row.pending.packet_id = Some(packet_id);
        self.by_packet.insert(packet_id, seq);
        Some(row)
    }

    pub fn remove(&mut self, seq: u64) -> Option<Row> {
        let row = self.by_seq.remove(&seq)?;
        if let Some(pid) = row.pending.packet_id
            && self.by_packet.get(&pid) == Some(&seq)
        {
            self.by_packet.remove(&pid);
        }
        if let Some(seqs) = self.by_fingerprint.get_mut(&row.fingerprint) {
            seqs.retain(|s| *s != seq);
            if seqs.is_empty() {
                self.by_fingerprint.remove(&row.fingerprint);
            }
        }
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmqtt::types::{CodecPublish, From, Id, Publish, QoS};

    fn row(seq: u64, fingerprint: u64, packet_id: Option<u16>) -> Row {
        let codec = CodecPublish {
            dup: false,
            retain: false,
            qos: QoS::AtLeastOnce,
            topic: "t".into(),
            packet_id: None,
            payload: bytes::Bytes::from_static(b"{}"),
            properties: None,
        };
        let id = Id::new(1, 0, None, None, "dev".into(), None);
        Row {
            seq,
            fingerprint,
            pending: Pending {
                from: From::from_system(id),
                publish: Publish::new(Box::new(codec), None, None, None),
                packet_id,
            },
        }
    }

    #[test]
    fn rows_are_found_by_packet_id_and_by_fingerprint_oldest_first() {
        let mut rows = Rows::from_ordered([row(1, 7, Some(3)), row(2, 7, None), row(3, 7, None)]);
        assert_eq!(rows.sent_with(3).map(|r| r.seq), Some(1));
        assert_eq!(rows.oldest_unsent(7), Some(2));
        assert!(rows.mark_sent(2, 4).is_some());
        assert_eq!(rows.oldest_unsent(7), Some(3));
        assert_eq!(rows.settled_by(7, Some(4)), Some(2), "by packet id");
        assert_eq!(rows.settled_by(7, None), Some(3), "the oldest unsent");
        assert_eq!(
            rows.settled_by(7, Some(9)),
            Some(1),
            "else the oldest alike"
        );
        assert_eq!(rows.settled_by(8, None), None);

        assert!(rows.remove(1).is_some());
        assert!(rows.sent_with(3).is_none(), "its packet id is free again");
        assert_eq!(rows.seqs().collect::<Vec<_>>(), [2, 3]);
        rows.remove(2);
        rows.remove(3);
        assert!(rows.by_fingerprint.is_empty() && rows.by_packet.is_empty());
    }
}
