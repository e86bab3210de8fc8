//! Splits the broker's byte stream into MQTT packets without trusting what devices put in
//! them. A PUBLISH up to `max_publish` bytes is returned whole; a larger one (up to the 256 MB
//! MQTT allows) is never held in memory: its head (topic, QoS, packet id) is read and the rest
//! is skipped as it arrives, so the message can be acknowledged and the connection survives.
//! Other packets (CONNACK, SUBACK, PINGRESP, ...) are small; one over `max_other` is a broken
//! broker and fails the connection.
//!
//! [`FrameReader`] is a synchronous state machine over a buffer the caller fills: reading
//! may stop at any byte (it is cancel-safe under `select!`) and it is fuzzed directly.

use bytes::{Buf, BytesMut};

/// MQTT's PUBLISH packet type (the high nibble of the first byte).
pub const PUBLISH: u8 = 3;

/// Size bounds of the packets the reader holds whole.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// A PUBLISH over this many bytes (whole packet) is skipped, not held.
    pub max_publish: usize,
    /// Any other packet over this many bytes is a protocol error.
    pub max_other: usize,
}

/// One packet from the stream.
#[derive(Debug)]
pub enum Frame {
    /// A whole packet, fixed header included, for the codec.
    Packet(BytesMut),
    /// A PUBLISH over `max_publish`: its head was read and its bytes were discarded.
    Skipped(PublishHead),
}

/// What a PUBLISH says before its payload: enough to log and acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishHead {
    /// The topic (invalid UTF-8 replaced by U+FFFD).
    pub topic: String,
    pub qos: u8,
    /// The packet id of a QoS 1 or 2 message; `None` for QoS 0 or when the packet is too
    /// short to hold one (then it cannot be acknowledged).
    pub pkid: Option<u16>,
    /// The size of the whole packet in bytes.
    pub packet_len: usize,
}

/// A stream that cannot be split into packets any more (the connection must be dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The framing state of one connection.
pub struct FrameReader {
    buf: BytesMut,
    limits: FrameLimits,
    /// An oversized PUBLISH being skipped: its head and the bytes still to discard.
    skipping: Option<(PublishHead, usize)>,
}

impl FrameReader {
    pub fn new(limits: FrameLimits) -> FrameReader {
        FrameReader {
            buf: BytesMut::with_capacity(64 * 1024),
            limits,
            skipping: None,
        }
    }

    /// The buffer to read more bytes into (`AsyncReadExt::read_buf`). It grows only to the
    /// size of the packet being assembled, at most `max_publish` or `max_other`.
    pub fn buffer(&mut self) -> &mut BytesMut {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(8 * 1024);
        }
        &mut self.buf
    }

    /// Starts over, for a new connection.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skipping = None;
    }

    /// The next packet, `Ok(None)` until more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some((_, left)) = &mut self.skipping {
            let n = (*left).min(self.buf.len());
            self.buf.advance(n);
            *left -= n;
            if *left > 0 {
                return Ok(None);
            }
            let (head, _) = self.skipping.take().expect("checked above");
            return Ok(Some(Frame::Skipped(head)));
        }
        let Some((remaining, header_len)) = fixed_header(&self.buf)? else {
            return Ok(None);
        };
        let first = self.buf[0];
        let total = header_len + remaining;
        let is_publish = first >> 4 == PUBLISH;
        let limit = match is_publish {
            true => self.limits.max_publish,
            false => self.limits.max_other,
        };
        if total <= limit {
            if self.buf.len() < total {
                self.buf.reserve(total - self.buf.len());
                return Ok(None);
            }
            return Ok(Some(Frame::Packet(self.buf.split_to(total))));
        }
        if !is_publish {
            return Err(FrameError(format!(
                "the broker sent a packet of type {} and {total} bytes (at most {} expected)",
                first >> 4,
                self.limits.max_other
            )));
        }
        // An oversized PUBLISH: wait for its head (at most 65,539 bytes), then skip the rest.
        let body = &self.buf[header_len..];
        let head_len = match body {
            [hi, lo, ..] => (2 + u16::from_be_bytes([*hi, *lo]) as usize + 2).min(remaining),
            _ => 2.min(remaining),
        };
        if body.len() < head_len {
            self.buf.reserve(head_len - body.len());
            return Ok(None);
        }
        let head = publish_head(first, &body[..head_len], total);
        self.buf.advance(header_len);
        self.skipping = Some((head, remaining));
        self.next_frame()
    }
}

/// The remaining length and the fixed header's size, `None` until enough bytes are there.
fn fixed_header(buf: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
    let mut remaining = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((remaining, 2 + i)));
        }
    }
    Err(FrameError(
        "malformed remaining length in a packet from the broker".to_owned(),
    ))
}

/// The head of a whole PUBLISH packet that did not decode (for the log and its ack).
pub fn head_of_packet(packet: &[u8]) -> PublishHead {
    let first = packet.first().copied().unwrap_or(0);
    let body = match fixed_header(packet) {
        Ok(Some((_, header_len))) => &packet[header_len.min(packet.len())..],
        _ => &[],
    };
    publish_head(first, body, packet.len())
}

/// Reads topic, QoS and packet id from a PUBLISH's first byte and the start of its variable
/// header (`body`, possibly cut short). Never fails: what is missing is left out.
pub fn publish_head(first: u8, body: &[u8], packet_len: usize) -> PublishHead {
    let qos = (first >> 1) & 0b11;
    let (topic, rest) = match body {
        [hi, lo, rest @ ..] => {
            let len = (u16::from_be_bytes([*hi, *lo]) as usize).min(rest.len());
            (&rest[..len], &rest[len..])
        }
        _ => (&[][..], &[][..]),
    };
    let topic_complete =
        body.len() >= 2 && topic.len() == u16::from_be_bytes([body[0], body[1]]) as usize;
    let pkid = match (qos, rest) {
        (1 | 2, [hi, lo, ..]) if topic_complete => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    };
    PublishHead {
        topic: String::from_utf8_lossy(topic).into_owned(),
        qos,
        pkid: pkid.filter(|&id| id != 0),
        packet_len,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Appends MQTT's variable-length encoding of `n`.
    pub(in crate::mqtt::inbound) fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let mut byte = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if n == 0 {
                return;
            }
        }
    }

    const LIMITS: FrameLimits = FrameLimits {
        max_publish: 100,
        max_other: 16,
    };

    fn publish(qos: u8, topic: &str, pkid: u16, payload_len: usize) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend((topic.len() as u16).to_be_bytes());
        body.extend(topic.as_bytes());
        if qos > 0 {
            body.extend(pkid.to_be_bytes());
        }
        body.extend(std::iter::repeat_n(b'x', payload_len));
        let mut packet = vec![0x30 | (qos << 1)];
        remaining_length(body.len(), &mut packet);
        packet.extend(body);
        packet
    }

    /// Feeds `stream` in chunks of `chunk` bytes and collects every frame.
    fn frames(stream: &[u8], chunk: usize) -> Result<Vec<Frame>, FrameError> {
        let mut reader = FrameReader::new(LIMITS);
        let mut out = Vec::new();
        for part in stream.chunks(chunk) {
            reader.buffer().extend_from_slice(part);
            while let Some(frame) = reader.next_frame()? {
                out.push(frame);
            }
        }
        Ok(out)
    }

    #[test]
    fn small_packets_come_whole_and_big_publishes_are_skipped_at_any_chunking() {
        let mut stream = publish(1, "a/b", 7, 10);
        stream.extend(publish(1, "big/topic", 8, 5_000));
        stream.extend([0xd0, 0x00]); // PINGRESP
        stream.extend(publish(0, "c", 0, 3));
        for chunk in [1, 2, 3, 7, 64, 10_000] {
            let got = frames(&stream, chunk).unwrap();
            assert_eq!(got.len(), 4, "chunk {chunk}");
            assert!(matches!(&got[0], Frame::Packet(p) if p.len() == 2 + 2 + 3 + 2 + 10));
            match &got[1] {
                Frame::Skipped(head) => assert_eq!(
                    head,
                    &PublishHead {
                        topic: "big/topic".into(),
                        qos: 1,
                        pkid: Some(8),
                        packet_len: 3 + 2 + 9 + 2 + 5_000,
                    }
                ),
                other => panic!("{other:?}"),
            }
            assert!(matches!(&got[2], Frame::Packet(p) if p[..] == [0xd0, 0x00]));
            assert!(matches!(&got[3], Frame::Packet(p) if p.len() == 2 + 2 + 1 + 3));
        }
    }

    #[test]
    fn a_skipped_publish_is_never_buffered_whole() {
        let stream = publish(1, "t", 1, 1_000_000);
        let mut reader = FrameReader::new(LIMITS);
        let mut peak = 0;
        for part in stream.chunks(4096) {
            reader.buffer().extend_from_slice(part);
            peak = peak.max(reader.buf.len());
            while reader.next_frame().unwrap().is_some() {}
        }
        assert!(peak <= 4096 + 8, "buffered {peak} bytes");
    }

    #[test]
    fn broken_streams_are_errors_not_panics() {
        // Remaining length with five continuation bytes.
        assert!(frames(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 1).is_err());
        // A SUBACK larger than any SUBACK.
        assert!(frames(&[0x90, 0x7f], 1).is_err());
        // An oversized PUBLISH whose topic length runs past the packet: skipped, no pkid.
        let mut short = vec![0x32, 0x7f, 0xff, 0xff];
        short.extend(std::iter::repeat_n(0u8, 125));
        match &frames(&short, 9).unwrap()[..] {
            [Frame::Skipped(h)] => assert_eq!((h.qos, h.pkid), (1, None)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heads_of_truncated_publishes() {
        assert_eq!(publish_head(0x32, &[], 2).pkid, None);
        assert_eq!(publish_head(0x32, &[0, 1, b'a'], 5).pkid, None);
        let h = publish_head(0x32, &[0, 1, b'a', 0, 9], 7);
        assert_eq!((h.topic.as_str(), h.pkid), ("a", Some(9)));
        let h = publish_head(0x30, &[0, 2, 0xff, b'b'], 6);
        assert_eq!((h.topic.as_str(), h.qos, h.pkid), ("\u{fffd}b", 0, None));
    }
}
