//! The opensearch action end to end: rule files -> rulewire (a subprocess) -> Mosquitto -> a
//! real HTTP server standing in for OpenSearch (`testing::Recorder`; OpenSearch itself cannot
//! be installed here), authenticated with HTTP basic auth from an `[opensearch.connections]`
//! table of `rulewire.toml`. SigV4 signing is verified by the action's own tests.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::*;
use rulewire_actions::testing::Recorder;

const T: Duration = Duration::from_secs(30);

fn rule(endpoint: &str, index: &str) -> String {
    meter_rule(&format!(
        "type = \"opensearch\"\nconnection = \"search\"\nendpoint = \"{endpoint}\"\n\
         index = \"{index}\"\nid = \"${{topic(2)}}-${{seq}}\""
    ))
}

/// Two rules on the same messages: one indexes each output as document
/// `<device>-<seq>` of index `meters`, the other into an index the cluster refuses with 403
/// (each message ends in that rule's error action as an OpenSearchAction failure naming the
/// index).
#[tokio::test(flavor = "multi_thread")]
async fn rule_files_to_opensearch_and_to_the_error_action() {
    let broker = Mosquitto::start();
    let search = Recorder::start(|_, request| {
        if request.path.starts_with("/locked/") {
            return (
                403,
                vec![],
                r#"{"error":"no permissions for [indices:data/write/index]"}"#.to_owned(),
            );
        }
        (201, vec![], r#"{"result":"created"}"#.to_owned())
    })
    .await;
    let rules = rules_dir(&[
        ("to_index", &rule(&search.endpoint, "meters")),
        ("to_locked", &rule(&search.endpoint, "locked")),
    ]);
    let config =
        "[opensearch.connections.search]\nusername = \"rulewire\"\npassword = \"s3cret\"\n";
    let (rw, mut errors) =
        start_meter_readings("opensearch", &broker, config, rules.path(), 30).await;
    wait_until("30 documents", T, async || {
        rw.metric("rulewire_action_success_total{action=\"opensearch\",rule=\"to_index\"}")
            .await
            == 30.0
    })
    .await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("rulewire:s3cret")
    );
    let mut documents = BTreeMap::new();
    for request in search.requests() {
        assert_eq!(request.method, "PUT");
        assert_eq!(request.header("authorization"), basic);
        if let Some(id) = request.path.strip_prefix("/meters/_doc/") {
            documents.insert(id.to_owned(), String::from_utf8(request.body).unwrap());
        }
    }
    let expected: BTreeMap<String, String> = (0..30u64)
        .map(|s| {
            let device = format!("m{}", s % 3);
            let doc = format!("{{\"seq\":{s},\"device\":\"{device}\"}}");
            (format!("{device}-{s}"), doc)
        })
        .collect();
    assert_eq!(documents, expected);

    expect_error_payloads(&mut errors, 30, "to_locked", "OpenSearchAction", "locked").await;
}
