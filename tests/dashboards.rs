//! The Grafana dashboard and the Prometheus alert rules of `deploy/` query what rulewire
//! exports: every metric name in their expressions is a family a running rulewire serves, and
//! every label they group by is on it. The run makes each series exist: a rule that fires, a
//! webhook that fails (retries, failure, error action), an error action that fails too,
//! malformed JSON, an oversized payload and Basic Ingest to an unknown rule.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::StatusCode;
use common::webhook::Hook;
use common::*;

/// Every query expression of the dashboard and the alert rules, with where it is.
fn expressions() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut out = Vec::new();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/grafana/rulewire-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("dashboard panel {:?}", panel["title"]),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let variable = &dashboard["templating"]["list"][0]["query"]["query"];
    out.push((
        "dashboard variable".into(),
        variable.as_str().unwrap().to_owned(),
    ));
    let alerts = std::fs::read_to_string(format!("{root}/deploy/prometheus/alerts.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&alerts).unwrap();
    for group in docs[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            out.push((
                format!("alert {}", rule["alert"].as_str().unwrap()),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(out.len() > 15, "{out:?}");
    out
}

/// `rulewire_...` names in an expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("rulewire_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The labels of `by (...)` clauses.
fn grouping_labels(expr: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("by (") {
        let tail = &rest[i + 4..];
        let end = tail.find(')').unwrap();
        labels.extend(tail[..end].split(',').map(|l| l.trim().to_owned()));
        rest = &tail[end..];
    }
    labels.remove("le");
    labels
}

/// Metric families in an exposition: name → labels seen on its samples.
fn families(exposition: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_owned()).or_default();
        if let Some(open) = line.find('{') {
            let close = line.find('}').unwrap();
            for pair in line[open + 1..close].split(',') {
                labels.insert(pair.split('=').next().unwrap().to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_and_alerts_query_metrics_rulewire_exports() {
    let broker = Mosquitto::start();
    let hook = Hook::start(StatusCode::SERVICE_UNAVAILABLE).await;
    hook.set_down(true);
    let url = format!("http://127.0.0.1:{}/hook", hook.port);
    let ok =
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"out/ok\"\nSELECT * FROM 'dash/ok'\n";
    let webhook = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"{url}\"\n-- [error_action]\n-- type = \"republish\"\n-- topic = \"out/errors\"\nSELECT * FROM 'dash/a'\n"
    );
    let both_fail = format!(
        "-- [[action]]\n-- type = \"http\"\n-- url = \"{url}\"\n-- [error_action]\n-- type = \"http\"\n-- url = \"{url}\"\nSELECT * FROM 'dash/b'\n"
    );
    let rules = rules_dir(&[("ok", ok), ("webhook", &webhook), ("both_fail", &both_fail)]);
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-dash\"\n[limits]\nmax_payload_bytes = 1000\n\
         [actions]\nattempts = 2\nbase_delay_ms = 10\nmax_delay_ms = 20\n",
        broker.url()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let device = TestClient::connect(broker.port, "dash-device", &[]).await;
    for topic in ["dash/ok", "dash/a", "dash/b"] {
        device.publish(topic, r#"{"seq": 1}"#).await;
    }
    device.publish("dash/ok", r#"{"seq": "#).await;
    device.publish("dash/ok", vec![b'x'; 2000]).await;
    device.publish("$aws/rules/nosuch/x", "{}").await;
    wait_until("every series", Duration::from_secs(20), async || {
        rw.metric("rulewire_error_action_failure_total{action=\"http\",rule=\"both_fail\"}")
            .await
            >= 1.0
            && rw
                .metric("rulewire_payload_rejected_total{reason=\"too_large\"}")
                .await
                >= 1.0
            && rw
                .metric("rulewire_rule_not_found_total{rule=\"nosuch\"}")
                .await
                >= 1.0
    })
    .await;
    let (_, exposition) = rw.get("/metrics").await.unwrap();
    let served = families(&exposition);
    let mut problems = Vec::new();
    for (place, expr) in expressions() {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{place}: no rulewire metric in {expr}");
        let mut labels = BTreeSet::new();
        for name in &names {
            match served.get(name) {
                Some(l) => labels.extend(l.iter().cloned()),
                None => problems.push(format!("{place}: {name} is not served")),
            }
        }
        for label in grouping_labels(&expr) {
            if !labels.contains(&label) {
                problems.push(format!("{place}: no label {label:?} on {names:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
