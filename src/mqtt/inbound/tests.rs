//! The ingest connection against a scripted broker on loopback: packets a real broker would
//! never send (undecodable PUBLISHes) and ones a general-purpose client drops the connection
//! for (a PUBLISH far over the limit) are rejected, acked and skipped on one connection.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::frame::tests::remaining_length;
use super::frame::{Frame, FrameLimits, FrameReader};
use super::*;
use crate::config::Protocol;

/// A QoS 1 PUBLISH with raw topic bytes (MQTT 5: empty properties).
fn publish(protocol: Protocol, topic: &[u8], pkid: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic);
    body.extend(pkid.to_be_bytes());
    if protocol == Protocol::V5 {
        body.push(0);
    }
    body.extend(payload);
    let mut packet = vec![0x32];
    remaining_length(body.len(), &mut packet);
    packet.extend(body);
    packet
}

/// Accepts one client, answers its CONNECT, sends `script`, and returns the packet ids of
/// the PUBACKs it receives until `acks` of them arrived (and whether a second connection
/// was attempted meanwhile: it must not be).
async fn scripted_broker(
    listener: TcpListener,
    protocol: Protocol,
    script: Vec<Vec<u8>>,
    acks: usize,
) -> Vec<u16> {
    let (mut socket, _) = listener.accept().await.unwrap();
    let limits = FrameLimits {
        max_publish: 1 << 20,
        max_other: 1 << 20,
    };
    let mut reader = FrameReader::new(limits);
    // CONNECT
    loop {
        socket.read_buf(reader.buffer()).await.unwrap();
        if let Some(Frame::Packet(p)) = reader.next_frame().unwrap() {
            assert_eq!(p[0] >> 4, 1, "CONNECT first");
            break;
        }
    }
    let connack: &[u8] = match protocol {
        Protocol::V4 => &[0x20, 2, 0, 0],
        Protocol::V5 => &[0x20, 3, 0, 0, 0],
    };
    socket.write_all(connack).await.unwrap();
    for packet in script {
        socket.write_all(&packet).await.unwrap();
    }
    let mut ids = Vec::new();
    while ids.len() < acks {
        if let Some(Frame::Packet(p)) = reader.next_frame().unwrap() {
            if p[0] >> 4 == 4 {
                ids.push(u16::from_be_bytes([p[2], p[3]]));
            }
            continue;
        }
        let n = socket.read_buf(reader.buffer()).await.unwrap();
        assert!(n > 0, "the client closed the connection");
    }
    let second = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(second.is_err(), "the client reconnected");
    ids
}

fn spec(port: u16, max_payload_bytes: usize) -> InboundSpec {
    InboundSpec {
        url: format!("mqtt://127.0.0.1:{port}"),
        client_id: "inbound-test".into(),
        clean_session: false,
        max_payload_bytes,
        receive_maximum: 100,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(50),
    }
}

async fn next(events: &mut mpsc::Receiver<InboundEvent>) -> InboundEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event")
        .expect("the connection task runs")
}

#[tokio::test]
async fn undecodable_and_oversized_publishes_are_rejected_acked_and_the_connection_stays() {
    for protocol in [Protocol::V4, Protocol::V5] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut bad_property = publish(protocol, b"dev/c", 3, b"{}");
        if protocol == Protocol::V5 {
            // A user property (0x26) whose key length runs past the properties.
            let mut body = vec![0, 5];
            body.extend(b"dev/c");
            body.extend([0, 3, 4, 0x26, 0, 9, b'k']);
            bad_property = vec![0x32];
            remaining_length(body.len(), &mut bad_property);
            bad_property.extend(body);
        }
        let script = vec![
            publish(protocol, b"dev/\xff\xfe", 1, b"{\"seq\": 0}"),
            publish(protocol, b"dev/big", 2, &vec![b'x'; 8 << 20]),
            bad_property,
            publish(protocol, b"dev/ok", 4, b"{\"seq\": 1}"),
        ];
        let broker = tokio::spawn(scripted_broker(listener, protocol, script, 4));
        let broker_config = crate::config::BrokerConfig {
            protocol,
            ..Default::default()
        };
        let (client, mut events) = start(&broker_config, spec(port, 1000)).unwrap();
        assert!(matches!(
            next(&mut events).await,
            InboundEvent::Connected { .. }
        ));
        let mut seen = Vec::new();
        while seen.len() < 4 {
            match next(&mut events).await {
                InboundEvent::Rejected(r) => {
                    let pkid = r.message.head.pkid.expect("an ackable packet id");
                    seen.push((pkid, r.message.reason.label().to_owned()));
                    client.ack(pkid, r.session);
                }
                InboundEvent::Publish(p) => {
                    let pkid = p.message.pkid().unwrap();
                    seen.push((pkid, p.message.topic()));
                    client.ack(pkid, p.session);
                }
                InboundEvent::SubscribeRefused(_) => {}
                other => panic!("{protocol:?}: {other:?}"),
            }
        }
        let want = match protocol {
            // MQTT 3.1.1 has no properties: packet 3 decodes.
            Protocol::V4 => [
                (1, "malformed"),
                (2, "too_large"),
                (3, "dev/c"),
                (4, "dev/ok"),
            ],
            Protocol::V5 => [
                (1, "malformed"),
                (2, "too_large"),
                (3, "malformed"),
                (4, "dev/ok"),
            ],
        };
        let want: Vec<(u16, String)> = want.iter().map(|(i, r)| (*i, r.to_string())).collect();
        assert_eq!(seen, want, "{protocol:?}");
        assert_eq!(
            broker.await.unwrap(),
            vec![1, 2, 3, 4],
            "{protocol:?}: PUBACKs in order"
        );
        client.disconnect(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_broken_length_prefix_reconnects_and_reports_why() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        socket.read_buf(&mut buf).await.unwrap();
        socket.write_all(&[0x20, 2, 0, 0]).await.unwrap();
        socket
            .write_all(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (client, mut events) = start(&Default::default(), spec(port, 1000)).unwrap();
    assert!(matches!(
        next(&mut events).await,
        InboundEvent::Connected { .. }
    ));
    match next(&mut events).await {
        InboundEvent::Lost {
            error,
            was_connected: true,
            ..
        } => assert!(error.contains("remaining length"), "{error}"),
        other => panic!("{other:?}"),
    }
    client.disconnect(Duration::from_secs(1)).await;
}
