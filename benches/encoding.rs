//! Output encoding (Value → JSON bytes, AWS number printing) and substitution-template
//! rendering, per call.
//!
//! Run: `cargo bench -p rulewire-benches --bench encoding`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rulewire_engine::json_in::parse_json;
use rulewire_engine::json_out::write_json;
use rulewire_engine::{Message, SqlVersion, Template};
use std::hint::black_box;

const PAYLOAD: &str = r#"{"device_id":"sensor-00042","temperature":31.5,"humidity":48.25,"pressure":1013.25,"battery":77,"status":"ok","firmware":"v2.4.1","location":{"site":"plant-3","zone":"z4"},"seq":42}"#;

fn encoding(c: &mut Criterion) {
    let value = parse_json(PAYLOAD.as_bytes()).unwrap();
    let mut group = c.benchmark_group("encoding");
    group.throughput(Throughput::Elements(1));
    group.bench_function("value_to_json (200 B object)", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            write_json(&mut out, black_box(&value), SqlVersion::V2016_03_23);
            black_box(out.len())
        })
    });
    let msg = Message {
        client_id: "dev-42",
        timestamp_ms: 1_700_000_000_000,
        ..Message::new("sensors/room4/data", PAYLOAD.as_bytes())
    };
    for (name, text) in [
        ("template_static", "alerts/fixed"),
        ("template_topic_level", "alerts/${topic(2)}/temperature"),
        (
            "template_payload_field",
            "devices/${device_id}/${timestamp()}",
        ),
    ] {
        let t = Template::parse(text, SqlVersion::V2016_03_23).unwrap();
        group.bench_function(name, |b| b.iter(|| black_box(t.render(black_box(&msg)))));
    }
    group.finish();
}

criterion_group!(benches, encoding);
criterion_main!(benches);
