//! The packets of rulewire's own MQTT connections (republish and ingest), for MQTT 3.1.1 and
//! 5, encoded and decoded with rumqttc's packet codecs: CONNECT, PUBLISH, PUBACK, SUBSCRIBE,
//! UNSUBSCRIBE, PINGREQ and DISCONNECT out; CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP and
//! DISCONNECT in (anything else the broker sends is `Other`).

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4 as v4b;
use rumqttc::v5::mqttbytes::v5 as v5b;

use rulewire_actions::PublishProperties;

use super::IncomingPublish;
use crate::config::Protocol;

/// What the CONNECT packet carries.
pub struct ConnectParams<'a> {
    pub client_id: &'a str,
    pub keep_alive_secs: u16,
    pub username: &'a str,
    pub password: &'a str,
    /// False keeps the session (and unacked messages) across connections.
    pub clean_session: bool,
    /// MQTT 5: how long the broker keeps a persistent session after a disconnect.
    pub session_expiry_secs: Option<u32>,
    /// MQTT 5: how many unacked QoS 1 messages the broker may send at once.
    pub receive_maximum: Option<u16>,
}

/// One PUBLISH to encode.
pub struct OutPublish<'a> {
    pub topic: &'a str,
    pub qos: u8,
    pub retain: bool,
    /// 0 for QoS 0.
    pub pkid: u16,
    pub payload: Bytes,
    /// MQTT 5 only; MQTT 3.1.1 has no properties.
    pub properties: &'a PublishProperties,
}

/// A packet from the broker that the publisher acts on.
#[derive(Debug)]
pub enum Incoming {
    /// `Err` holds the refusal; `receive_max` is the broker's MQTT 5 receive maximum.
    ConnAck {
        result: Result<(), String>,
        session_present: bool,
        receive_max: Option<u16>,
    },
    Publish(IncomingPublish),
    /// `Some` holds the refused filters' return codes.
    SubAck {
        refused: Option<String>,
    },
    /// `Err` holds an MQTT 5 failure reason.
    PubAck {
        pkid: u16,
        result: Result<(), String>,
    },
    PingResp,
    /// The broker closed the session (MQTT 5 carries a reason).
    Disconnect(String),
    Other,
}

pub fn connect(protocol: Protocol, p: &ConnectParams, buf: &mut BytesMut) -> Result<(), String> {
    let written = match protocol {
        Protocol::V4 => {
            let mut connect = v4b::Connect::new(p.client_id);
            connect.keep_alive = p.keep_alive_secs;
            connect.clean_session = p.clean_session;
            if !p.username.is_empty() {
                connect.set_login(p.username, p.password);
            }
            v4b::Packet::Connect(connect)
                .write(buf, usize::MAX)
                .map_err(|e| e.to_string())
        }
        Protocol::V5 => {
            let properties =
                (p.session_expiry_secs.is_some() || p.receive_maximum.is_some()).then(|| {
                    v5b::ConnectProperties {
                        session_expiry_interval: p.session_expiry_secs,
                        receive_maximum: p.receive_maximum,
                        ..v5b::ConnectProperties::new()
                    }
                });
            let connect = v5b::Connect {
                keep_alive: p.keep_alive_secs,
                client_id: p.client_id.to_owned(),
                clean_start: p.clean_session,
                properties,
            };
            let login = (!p.username.is_empty()).then(|| v5b::Login::new(p.username, p.password));
            v5b::Packet::Connect(connect, None, login)
                .write(buf, None)
                .map_err(|e| e.to_string())
        }
    };
    written
        .map(drop)
        .map_err(|e| format!("cannot encode CONNECT: {e}"))
}

pub fn publish(protocol: Protocol, p: OutPublish, buf: &mut BytesMut) -> Result<(), String> {
    let written = match protocol {
        Protocol::V4 => v4b::Packet::Publish(v4b::Publish {
            dup: false,
            qos: v4_qos(p.qos),
            retain: p.retain,
            topic: p.topic.to_owned(),
            pkid: p.pkid,
            payload: p.payload,
        })
        .write(buf, usize::MAX)
        .map_err(|e| e.to_string()),
        Protocol::V5 => {
            let props = p.properties;
            let properties =
                (*props != PublishProperties::default()).then(|| v5b::PublishProperties {
                    payload_format_indicator: props.payload_format_indicator,
                    message_expiry_interval: props.message_expiry,
                    response_topic: props.response_topic.clone(),
                    correlation_data: props.correlation_data.clone().map(Bytes::from),
                    user_properties: props.user_properties.clone(),
                    content_type: props.content_type.clone(),
                    ..Default::default()
                });
            let mut publish = v5b::Publish::new(p.topic, v5_qos(p.qos), p.payload, properties);
            publish.retain = p.retain;
            publish.pkid = p.pkid;
            v5b::Packet::Publish(publish)
                .write(buf, None)
                .map_err(|e| e.to_string())
        }
    };
    written
        .map(drop)
        .map_err(|e| format!("cannot encode PUBLISH to {:?}: {e}", p.topic))
}

/// An encoded PUBLISH sent again: the same bytes with the DUP flag (bit 3 of the first byte,
/// in MQTT 3.1.1 and 5 alike).
pub fn with_dup(packet: &Bytes) -> Bytes {
    let mut again = BytesMut::from(&packet[..]);
    if let Some(first) = again.first_mut() {
        *first |= 0x08;
    }
    again.freeze()
}

/// PUBACK for an incoming QoS 1 message.
pub fn puback(protocol: Protocol, pkid: u16, buf: &mut BytesMut) {
    match protocol {
        Protocol::V4 => drop(v4b::Packet::PubAck(v4b::PubAck::new(pkid)).write(buf, usize::MAX)),
        Protocol::V5 => drop(v5b::Packet::PubAck(v5b::PubAck::new(pkid, None)).write(buf, None)),
    }
}

/// SUBSCRIBE to one filter.
pub fn subscribe(protocol: Protocol, pkid: u16, filter: &str, qos: u8, buf: &mut BytesMut) {
    match protocol {
        Protocol::V4 => {
            let mut sub = v4b::Subscribe::new(filter, v4_qos(qos));
            sub.pkid = pkid;
            drop(v4b::Packet::Subscribe(sub).write(buf, usize::MAX))
        }
        Protocol::V5 => {
            let mut sub = v5b::Subscribe::new(v5b::Filter::new(filter, v5_qos(qos)), None);
            sub.pkid = pkid;
            drop(v5b::Packet::Subscribe(sub).write(buf, None))
        }
    }
}

/// UNSUBSCRIBE from one filter.
pub fn unsubscribe(protocol: Protocol, pkid: u16, filter: &str, buf: &mut BytesMut) {
    match protocol {
        Protocol::V4 => {
            let mut unsub = v4b::Unsubscribe::new(filter);
            unsub.pkid = pkid;
            drop(v4b::Packet::Unsubscribe(unsub).write(buf, usize::MAX))
        }
        Protocol::V5 => {
            let mut unsub = v5b::Unsubscribe::new(filter, None);
            unsub.pkid = pkid;
            drop(v5b::Packet::Unsubscribe(unsub).write(buf, None))
        }
    }
}

/// Encoding PINGREQ and DISCONNECT cannot fail (no payload, no size limit).
pub fn ping(protocol: Protocol, buf: &mut BytesMut) {
    match protocol {
        Protocol::V4 => drop(v4b::Packet::PingReq.write(buf, usize::MAX)),
        Protocol::V5 => drop(v5b::Packet::PingReq(v5b::PingReq).write(buf, None)),
    }
}

pub fn disconnect(protocol: Protocol, buf: &mut BytesMut) {
    match protocol {
        Protocol::V4 => drop(v4b::Packet::Disconnect.write(buf, usize::MAX)),
        Protocol::V5 => {
            let normal = v5b::Disconnect::new(v5b::DisconnectReasonCode::NormalDisconnection);
            drop(v5b::Packet::Disconnect(normal).write(buf, None))
        }
    }
}

/// The next whole packet in `buf`, or `None` until more bytes arrive.
pub fn read(
    protocol: Protocol,
    buf: &mut BytesMut,
    max_size: usize,
) -> Result<Option<Incoming>, String> {
    match protocol {
        Protocol::V4 => match v4b::Packet::read(buf, max_size) {
            Ok(packet) => Ok(Some(from_v4(packet))),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(format!("malformed packet from the broker: {e}")),
        },
        Protocol::V5 => {
            let max = u32::try_from(max_size).unwrap_or(u32::MAX);
            match v5b::Packet::read(buf, Some(max)) {
                Ok(packet) => Ok(Some(from_v5(packet))),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
                Err(e) => Err(format!("malformed packet from the broker: {e}")),
            }
        }
    }
}

/// Decodes one whole PUBLISH packet (fixed header included). Taking `Bytes` lets the caller
/// keep the packet (a cheap clone) to report a PUBLISH that does not decode.
pub fn read_publish(protocol: Protocol, packet: Bytes) -> Result<IncomingPublish, String> {
    match protocol {
        Protocol::V4 => rumqttc::mqttbytes::check(packet.iter(), usize::MAX)
            .and_then(|header| v4b::Publish::read(header, packet))
            .map(IncomingPublish::V4)
            .map_err(|e| e.to_string()),
        Protocol::V5 => {
            let publish = v5b::check(packet.iter(), None)
                .and_then(|header| v5b::Publish::read(header, packet))
                .map_err(|e| e.to_string())?;
            // rumqttc keeps MQTT 5 topics as bytes; MQTT requires UTF-8 (as 3.1.1 checks).
            if std::str::from_utf8(&publish.topic).is_err() {
                return Err("the topic is not valid UTF-8".to_owned());
            }
            Ok(IncomingPublish::V5(publish))
        }
    }
}

fn from_v4(packet: v4b::Packet) -> Incoming {
    match packet {
        v4b::Packet::ConnAck(ack) => Incoming::ConnAck {
            result: match ack.code {
                v4b::ConnectReturnCode::Success => Ok(()),
                code => Err(format!("the broker refused the connection: {code:?}")),
            },
            session_present: ack.session_present,
            receive_max: None,
        },
        v4b::Packet::Publish(p) => Incoming::Publish(IncomingPublish::V4(p)),
        v4b::Packet::SubAck(s) => Incoming::SubAck {
            refused: s
                .return_codes
                .iter()
                .any(|c| matches!(c, v4b::SubscribeReasonCode::Failure))
                .then(|| format!("SUBACK {:?}", s.return_codes)),
        },
        v4b::Packet::PubAck(ack) => Incoming::PubAck {
            pkid: ack.pkid,
            result: Ok(()),
        },
        v4b::Packet::PingResp => Incoming::PingResp,
        v4b::Packet::Disconnect => Incoming::Disconnect("DISCONNECT".to_owned()),
        _ => Incoming::Other,
    }
}

fn from_v5(packet: v5b::Packet) -> Incoming {
    match packet {
        v5b::Packet::ConnAck(ack) => Incoming::ConnAck {
            result: match ack.code {
                v5b::ConnectReturnCode::Success => Ok(()),
                code => Err(format!("the broker refused the connection: {code:?}")),
            },
            session_present: ack.session_present,
            receive_max: ack.properties.and_then(|p| p.receive_max),
        },
        v5b::Packet::Publish(p) => Incoming::Publish(IncomingPublish::V5(p)),
        v5b::Packet::SubAck(s) => Incoming::SubAck {
            refused: s
                .return_codes
                .iter()
                .any(|c| !matches!(c, v5b::SubscribeReasonCode::Success(_)))
                .then(|| format!("SUBACK {:?}", s.return_codes)),
        },
        v5b::Packet::PubAck(ack) => Incoming::PubAck {
            pkid: ack.pkid,
            result: match ack.reason {
                v5b::PubAckReason::Success | v5b::PubAckReason::NoMatchingSubscribers => Ok(()),
                reason => Err(format!("{reason:?}")),
            },
        },
        v5b::Packet::PingResp(_) => Incoming::PingResp,
        v5b::Packet::Disconnect(d) => Incoming::Disconnect(format!("{:?}", d.reason_code)),
        _ => Incoming::Other,
    }
}

fn v4_qos(q: u8) -> rumqttc::QoS {
    if q == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn v5_qos(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    if q == 0 {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce
    } else {
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What we encode, rumqttc's decoder reads back (both protocols), and a partial packet
    /// waits for more bytes instead of failing.
    #[test]
    fn publish_round_trips_and_partial_packets_wait() {
        for protocol in [Protocol::V4, Protocol::V5] {
            let mut buf = BytesMut::new();
            let props = PublishProperties {
                user_properties: vec![("k".to_owned(), "v".to_owned())],
                content_type: Some("application/json".into()),
                correlation_data: Some(vec![1, 2, 3]),
                message_expiry: Some(60),
                payload_format_indicator: Some(1),
                response_topic: Some("reply/to".into()),
            };
            let out = OutPublish {
                topic: "out/room1",
                qos: 1,
                retain: true,
                pkid: 7,
                payload: Bytes::from_static(b"{\"t\":1}"),
                properties: &props,
            };
            publish(protocol, out, &mut buf).unwrap();
            let whole = buf.clone();
            let mut partial = BytesMut::from(&whole[..whole.len() - 1]);
            assert!(read(protocol, &mut partial, 1 << 20).unwrap().is_none());
            match protocol {
                Protocol::V4 => match v4b::Packet::read(&mut buf, 1 << 20).unwrap() {
                    v4b::Packet::Publish(p) => {
                        assert_eq!((p.topic.as_str(), p.pkid, p.retain), ("out/room1", 7, true));
                        assert_eq!(&p.payload[..], b"{\"t\":1}");
                    }
                    other => panic!("{other:?}"),
                },
                Protocol::V5 => match v5b::Packet::read(&mut buf, None).unwrap() {
                    v5b::Packet::Publish(p) => {
                        assert_eq!(
                            (&p.topic[..], p.pkid, p.retain),
                            (&b"out/room1"[..], 7, true)
                        );
                        let got = p.properties.unwrap();
                        assert_eq!(got.user_properties, props.user_properties);
                        assert_eq!(got.content_type.as_deref(), Some("application/json"));
                        assert_eq!(got.correlation_data.as_deref(), Some(&[1u8, 2, 3][..]));
                        assert_eq!(got.message_expiry_interval, Some(60));
                        assert_eq!(got.payload_format_indicator, Some(1));
                        assert_eq!(got.response_topic.as_deref(), Some("reply/to"));
                    }
                    other => panic!("{other:?}"),
                },
            }
        }
    }

    #[test]
    fn puback_failure_reasons_are_errors_in_mqtt5() {
        let mut buf = BytesMut::new();
        let ack = v5b::PubAck {
            pkid: 3,
            reason: v5b::PubAckReason::NotAuthorized,
            properties: None,
        };
        v5b::Packet::PubAck(ack).write(&mut buf, None).unwrap();
        match read(Protocol::V5, &mut buf, 1 << 20).unwrap() {
            Some(Incoming::PubAck { pkid: 3, result }) => {
                assert!(result.unwrap_err().contains("NotAuthorized"))
            }
            other => panic!("{other:?}"),
        }
    }
}
