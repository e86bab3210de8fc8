//! The web console in a real browser (headless Chromium): the rules page with live counters,
//! the rule tester (an output, and an error with line:col), and a live trace that shows a
//! message published while it runs. With `RULEWIRE_SCREENSHOTS=DIR` the pages' screenshots
//! are kept there (docs/ holds the README's).

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::*;

const HOT: &str = "-- description = \"A room is over 30 C: republish an alert per room\"
-- [[action]]
-- type = \"republish\"
-- topic = \"alerts/${topic(2)}/temperature\"
-- [error_action]
-- type = \"republish\"
-- topic = \"rulewire/errors\"
SELECT temperature, topic(2) AS room FROM 'sensors/+/data' WHERE temperature > 30
";

fn keep(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    if let Ok(dir) = std::env::var("RULEWIRE_SCREENSHOTS") {
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_lists_rules_tests_them_and_traces_one_live() {
    let port = free_port();
    let config = format!(
        "[broker]\nclient_id = \"rw-console\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let rules = rules_dir(&[("hot", HOT)]);
    let rw = Rulewire::start(&config, rules.path()).await;
    let device = TestClient::connect(port, "console-device", &[]).await;
    device
        .publish("sensors/kitchen/data", r#"{"temperature": 35}"#)
        .await;
    let browser = Browser::start().await;
    let console = format!("http://127.0.0.1:{}", rw.http_port);

    // Rules, with the counters of /metrics.
    browser.open(&format!("{console}/#rules")).await;
    let row = browser.wait_for_text("#rule-hot", "running").await;
    assert!(row.contains("sensors/+/data"), "{row}");
    browser
        .wait_for_text("#rule-hot td:nth-child(6)", "1")
        .await;
    browser.click("#rule-hot").await;
    browser
        .wait_for_text("#rule-detail .sql", "WHERE temperature > 30")
        .await;
    let actions = browser
        .wait_for_text("#rule-detail .actions", "republish")
        .await;
    assert!(actions.contains("republish 1 0 0.0 0.0"), "{actions}");
    keep("console-rules.png", &browser.screenshot().await);

    // The tester: an existing rule, then SQL that does not compile.
    browser.click("#nav-test").await;
    browser.click("#test-rule option[value='hot']").await;
    browser.type_into("#test-topic", "sensors/hall/data").await;
    browser
        .type_into("#test-payload", r#"{"temperature": 31.5}"#)
        .await;
    browser.click("#test-run").await;
    let result = browser
        .wait_for_text("#test-result", r#"{"temperature":31.5,"room":"hall"}"#)
        .await;
    assert!(result.starts_with("fired"), "{result}");
    let targets = browser
        .wait_for_text("#test-targets", "alerts/hall/temperature")
        .await;
    assert!(targets.contains("republish.topic"), "{targets}");
    keep("console-test.png", &browser.screenshot().await);
    browser.click("#test-rule option[value='']").await;
    browser
        .type_into("#test-sql", "SELECT nosuch(a) FROM 'sensors/+/data'")
        .await;
    browser.click("#test-run").await;
    browser
        .wait_for_text("#test-result", "1:8: unknown function `nosuch`")
        .await;
    browser
        .type_into(
            "#test-sql",
            "SELECT get_user_properties('site') AS site FROM 'sensors/+/data'",
        )
        .await;
    browser.type_into("#test-properties", "site=north").await;
    browser.click("#test-run").await;
    browser
        .wait_for_text("#test-result", r#"{"site":["north"]}"#)
        .await;

    // A live trace: on for the rule, then a message shows up as it happens.
    browser.click("#nav-trace").await;
    browser.find("#trace-rule option[value='hot']").await;
    browser.type_into("#trace-seconds", "30").await;
    browser.click("#trace-start").await;
    browser
        .wait_for_text("#trace-state", "Tracing hot for 30 s")
        .await;
    // The event stream may open a moment after the button: publish until an event arrives.
    let mut seen = String::new();
    wait_until("the traced message", Duration::from_secs(15), async || {
        device
            .publish("sensors/attic/data", r#"{"temperature": 44}"#)
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen = browser.text("#trace-events").await;
        seen.contains("republish ok")
    })
    .await;
    assert!(
        seen.contains(r#"sensors/attic/data from console-device: {"temperature": 44} → fired: {"temperature":44,"room":"attic"}"#),
        "{seen}"
    );
    keep("console-trace.png", &browser.screenshot().await);
    browser.click("#trace-stop").await;
    browser
        .wait_for_text("#trace-state", "Tracing is off")
        .await;
}

/// With `http.auth`, the console and every API need the credentials; health checks do not.
#[tokio::test(flavor = "multi_thread")]
async fn http_auth_guards_everything_but_health_checks() {
    let port = free_port();
    let config = format!(
        "[broker]\nclient_id = \"rw-auth\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let rules = rules_dir(&[("hot", HOT)]);
    // The test harness writes the [http] table itself: auth comes from the environment.
    let rw = Rulewire::spawn_with_env(
        &config,
        rules.path(),
        &[("RULEWIRE_HTTP_AUTH", "bearer:s3cret")],
    );
    rw.wait_ready().await;
    rulewire::mqtt::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", rw.http_port);
    for path in ["/", "/rules", "/metrics", "/api/trace/hot/events"] {
        let r = http.get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = http
            .get(url(path))
            .header("authorization", "Bearer wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = http
        .get(url("/rules"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(url("/healthz")).send().await.unwrap().status(),
        200
    );
}

/// Without `http.auth` the loopback console answers only requests for a loopback name (no DNS
/// rebinding), and a trace starts only from a JSON request (no cross-site form).
#[tokio::test(flavor = "multi_thread")]
async fn the_loopback_console_refuses_other_host_names_and_cross_site_posts() {
    let port = free_port();
    let config = format!(
        "[broker]\nclient_id = \"rw-host\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let rules = rules_dir(&[("hot", HOT)]);
    let rw = Rulewire::start(&config, rules.path()).await;
    rulewire::mqtt::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", rw.http_port);
    let rebound = http
        .get(url("/rules"))
        .header("host", format!("attacker.example:{}", rw.http_port))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let local = http
        .get(url("/rules"))
        .header("host", format!("localhost:{}", rw.http_port))
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    let form = http
        .post(url("/api/trace/hot?seconds=5"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let json = http
        .post(url("/api/trace/hot?seconds=5"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
}
