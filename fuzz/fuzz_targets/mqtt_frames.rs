//! The ingest connection's packet reader on arbitrary broker bytes, fed in chunks of a
//! fuzzed size: it must never panic, never hold more than one packet's bound (or an oversized PUBLISH's head), hand out only
//! packets within the bounds, and every PUBLISH it hands out must go through the MQTT 3.1.1
//! and 5 decoders (and the head parser used for undecodable ones) without panicking.
#![no_main]

// Pure module (bytes only), included as source so that fuzzing does not build the service.
#[allow(dead_code)]
#[path = "../../src/mqtt/inbound/frame.rs"]
mod frame;

use bytes::Bytes;
use frame::{Frame, FrameLimits, FrameReader, PUBLISH};
use libfuzzer_sys::fuzz_target;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

const LIMITS: FrameLimits = FrameLimits {
    max_publish: 512,
    max_other: 64,
};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = chunk as usize % 64 + 1;
    let mut reader = FrameReader::new(LIMITS);
    for part in stream.chunks(chunk) {
        reader.buffer().extend_from_slice(part);
        loop {
            match reader.next_frame() {
                Ok(Some(Frame::Packet(packet))) => {
                    let publish = packet[0] >> 4 == PUBLISH;
                    let limit = if publish {
                        LIMITS.max_publish
                    } else {
                        LIMITS.max_other
                    };
                    assert!(packet.len() <= limit);
                    if publish {
                        let _ = frame::head_of_packet(&packet);
                        let bytes = Bytes::from(packet.to_vec());
                        let _ = rumqttc::mqttbytes::check(bytes.iter(), usize::MAX)
                            .and_then(|h| v4::Publish::read(h, bytes.clone()));
                        let _ = v5::check(bytes.iter(), None)
                            .and_then(|h| v5::Publish::read(h, bytes.clone()));
                    }
                }
                Ok(Some(Frame::Skipped(head))) => assert!(head.packet_len > LIMITS.max_publish),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // One packet's bound (or an oversized PUBLISH's head: 2 + 65,535 + 2 bytes), plus
        // the fixed header and what the last chunk brought past it.
        let bound = LIMITS.max_publish.max(65_539) + 5 + chunk;
        assert!(reader.buffer().len() <= bound);
    }
});
