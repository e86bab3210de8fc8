//! A buffered message as bytes on disk: every field of `FiredMessage` (actions render
//! templates against the original message, so all of it is kept) plus when it was buffered.
//!
//! Format version 1: a version byte, the buffering time (i64 LE, epoch ms), then the fields
//! in declaration order: strings and byte strings as `u32 LE length + bytes`, integers little
//! endian, options as a `0`/`1` byte then the value, lists as a `u32` count then items.

use bytes::Bytes;
use rulewire_engine::MqttProperties;

use crate::{FiredMessage, TraceId};

const VERSION: u8 = 1;

/// `msg` as a record, buffered at `buffered_ms` (epoch ms).
pub(crate) fn encode(msg: &FiredMessage, buffered_ms: i64) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(
        64 + msg.original_payload.len() + msg.output.len() + msg.topic.len(),
    ));
    w.0.push(VERSION);
    w.i64(buffered_ms);
    w.str(&msg.rule_name);
    w.str(&msg.topic);
    w.str(&msg.client_id);
    w.bytes(&msg.original_payload);
    w.bytes(&msg.output);
    w.i64(msg.timestamp_ms);
    w.str(&msg.trace_id);
    w.str(&msg.principal);
    w.str(&msg.account_id);
    w.str(&msg.source_ip);
    w.u32(msg.user_properties.len() as u32);
    for (k, v) in &msg.user_properties {
        w.str(k);
        w.str(v);
    }
    let p = &msg.mqtt_properties;
    w.opt(p.content_type.as_deref().map(str::as_bytes));
    w.opt(p.response_topic.as_deref().map(str::as_bytes));
    w.opt(p.correlation_data.as_deref());
    w.opt(
        p.payload_format_indicator
            .as_ref()
            .map(std::slice::from_ref),
    );
    w.0
}

/// A record back as the message and its buffering time; `Err` names what is malformed.
pub(crate) fn decode(record: &[u8]) -> Result<(FiredMessage, i64), String> {
    let mut r = Reader(record);
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(format!("unknown buffer record version {version}"));
    }
    let buffered_ms = r.i64()?;
    let mut msg = FiredMessage {
        rule_name: r.string()?.into(),
        topic: r.string()?,
        client_id: r.string()?,
        original_payload: Bytes::copy_from_slice(r.bytes()?),
        output: r.bytes()?.to_vec(),
        timestamp_ms: r.i64()?,
        trace_id: TraceId::try_from(r.string()?.as_str()).map_err(|e| e.to_string())?,
        principal: r.string()?,
        account_id: r.string()?,
        source_ip: r.string()?,
        ..Default::default()
    };
    let count = r.u32()?;
    for _ in 0..count {
        msg.user_properties.push((r.string()?, r.string()?));
    }
    let utf8 = |b: Option<&[u8]>| {
        b.map(|b| String::from_utf8(b.to_vec()).map_err(|_| "a property is not UTF-8".to_owned()))
            .transpose()
    };
    msg.mqtt_properties = MqttProperties {
        content_type: utf8(r.opt()?)?,
        response_topic: utf8(r.opt()?)?,
        correlation_data: r.opt()?.map(<[u8]>::to_vec),
        payload_format_indicator: match r.opt()? {
            Some([b]) => Some(*b),
            Some(_) => return Err("a payload format indicator is not one byte".into()),
            None => None,
        },
    };
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the message", r.0.len()));
    }
    Ok((msg, buffered_ms))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
            None => self.0.push(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the record is cut short".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a string is not UTF-8".into())
    }
    fn opt(&mut self) -> Result<Option<&'a [u8]>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => self.bytes().map(Some),
            b => Err(format!("bad option tag {b}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_round_trip() {
        let msg = FiredMessage {
            rule_name: "r".into(),
            topic: "a/b".into(),
            client_id: "dev-1".into(),
            original_payload: Bytes::from_static(b"\x00\xffraw"),
            output: br#"{"t":1}"#.to_vec(),
            timestamp_ms: -5,
            trace_id: TraceId::try_from("tid").unwrap(),
            principal: "p".into(),
            account_id: "123".into(),
            source_ip: "10.0.0.1".into(),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            mqtt_properties: MqttProperties {
                content_type: Some("text/plain".into()),
                response_topic: None,
                correlation_data: Some(vec![1, 2]),
                payload_format_indicator: Some(1),
            },
        };
        let bytes = encode(&msg, 1_700_000_000_000);
        assert_eq!(decode(&bytes), Ok((msg.clone(), 1_700_000_000_000)));
        let empty = FiredMessage::default();
        assert_eq!(decode(&encode(&empty, 0)), Ok((empty, 0)));
        // Every truncation is an error, never a panic or a wrong message.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
    }
}
