//! Substitution templates: arbitrary template text (up to the first 0x00 byte) parsed and
//! rendered against the rest of the input as the message payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rulewire_engine::{Message, SqlVersion, Template};

fuzz_target!(|data: &[u8]| {
    let (text, payload) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{\"a\": {\"b\": [1, \"x\"]}}"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    for version in [SqlVersion::V2016_03_23, SqlVersion::V2015_10_08] {
        if let Ok(template) = Template::parse(text, version) {
            let _ = template.render(&Message::new("a/b/c", payload));
        }
    }
});
