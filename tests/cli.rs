//! `rulewire eval` and `rulewire check` as users run them: the real binary, real files.

mod common;

use std::process::Command;

use common::rulewire;

#[test]
fn eval_prints_the_payload_when_the_rule_fires() {
    let (code, out, _) = rulewire(&[
        "eval",
        "--sql",
        "SELECT temperature, topic(2) AS room FROM 'sensors/+/data' WHERE temperature > 30",
        "--topic",
        "sensors/kitchen/data",
        "--payload",
        r#"{"temperature": 31.50, "humidity": 40}"#,
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "{\"temperature\":31.5,\"room\":\"kitchen\"}\n");
}

#[test]
fn eval_prints_nothing_when_the_rule_does_not_fire() {
    let (code, out, _) = rulewire(&[
        "eval",
        "--sql",
        "SELECT a FROM 't' WHERE a > 5",
        "--topic",
        "t",
        "--payload",
        r#"{"a":1}"#,
    ]);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn eval_takes_binary_payloads_from_a_file_and_client_ids() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, [0u8, 1, b'a', b'b', b'c']).unwrap();
    let (code, out, _) = rulewire(&[
        "eval",
        "--sql",
        "SELECT encode(*, 'base64') AS d, clientid() AS c FROM 't'",
        "--topic",
        "t",
        "--payload-file",
        file.to_str().unwrap(),
        "--client-id",
        "dev-9",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "{\"d\":\"AAFhYmM=\",\"c\":\"dev-9\"}\n");
}

#[test]
fn eval_versions_differ_in_number_printing() {
    let args = |v| {
        vec![
            "eval",
            "--sql",
            "SELECT a FROM 't'",
            "--topic",
            "t",
            "--payload",
            r#"{"a":10.0}"#,
            "--sql-version",
            v,
        ]
    };
    assert_eq!(rulewire(&args("2016-03-23")).1, "{\"a\":10}\n");
    assert_eq!(rulewire(&args("2015-10-08")).1, "{\"a\":10.0}\n");
}

#[test]
fn eval_reports_compile_errors_with_line_and_column() {
    let (code, out, err) = rulewire(&[
        "eval",
        "--sql",
        "SELECT a\nFROM 't'\nWHERE a >",
        "--topic",
        "t",
        "--payload",
        "{}",
    ]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.contains("3:10: expected an expression"), "{err}");
    let (code, _, err) = rulewire(&[
        "eval",
        "--sql",
        "SELECT aws_lambda('arn', *) FROM 't'",
        "--topic",
        "t",
        "--payload",
        "{}",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("1:8") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn check_reports_every_error_as_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.sql"),
        "-- description = \"fine\"\nSELECT a FROM 'x/+'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad_sql.sql"),
        "-- description = \"broken\"\nSELECT a\nFROM 'x' WHERE\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad_template.sql"),
        "-- [[action]]\n-- type = \"republish\"\n-- topic = \"a/${nosuch()}\"\nSELECT a FROM 'x'\n",
    )
    .unwrap();
    let (code, out, err) = rulewire(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    // The summary table: rules, ok, with errors.
    let summary: Vec<&str> = err.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(summary, ["3", "1", "2"], "{err}");
    let bad_sql = format!(
        "{}:3:15: expected an expression",
        dir.path().join("bad_sql.sql").display()
    );
    assert!(out.contains(&bad_sql), "{out}");
    let bad_template = dir.path().join("bad_template.sql").display().to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with(&bad_template) && l.contains("unknown function")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, _, err) = rulewire(&["check", dir.path().join("good.sql").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// `check --config` knows the connections the service would have: a rule naming one that
/// `rulewire.toml` lacks is an error at the action's line, and passes once it is configured.
/// Nothing is connected to (the kafka broker named here does not exist).
#[test]
fn check_validates_connection_names_against_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("to_kafka.sql");
    std::fs::write(
        &rule,
        "-- [[action]]\n-- type = \"kafka\"\n-- connection = \"events\"\n-- topic = \"t\"\nSELECT * FROM 'x'\n",
    )
    .unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let (code, out, err) = rulewire(&[
        "check",
        "--config",
        empty.to_str().unwrap(),
        rule.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = format!(
        "{}:1:4: kafka action: field `connection`: no [kafka.connections.events] in rulewire.toml (configured: none)",
        rule.display()
    );
    assert!(out.contains(&expected), "{out}");

    let config = dir.path().join("rulewire.toml");
    std::fs::write(
        &config,
        "[kafka.connections.events]\nbootstrap_servers = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let (code, out, err) = rulewire(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        rule.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let typo = dir.path().join("typo.toml");
    let check_typo = |text: &str| {
        std::fs::write(&typo, text).unwrap();
        let (code, _, err) = rulewire(&[
            "check",
            "--config",
            typo.to_str().unwrap(),
            rule.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{err}");
        err
    };
    let err = check_typo("[s3.connections.lake]\nurl = \"s3://\"\naws = \"prdo\"\n");
    assert!(
        err.contains("[s3.connections.lake] aws: no [aws.connections.prdo]"),
        "{err}"
    );
    // The same for an OpenSearch connection's AWS connection.
    let err = check_typo("[opensearch.connections.search]\naws = \"prdo\"\n");
    assert!(
        err.contains("[opensearch.connections.search] aws: no [aws.connections.prdo]"),
        "{err}"
    );
    let missing = dir.path().join("nope.toml");
    let (code, _, err) = rulewire(&[
        "check",
        "--config",
        missing.to_str().unwrap(),
        rule.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn check_accepts_the_example_rules() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let (code, out, err) = rulewire(&["check", rules]);
    assert_eq!(code, 0, "{out}{err}");
}

/// 5,000 nested parentheses once overflowed the stack and aborted `eval`; now they are a
/// positioned compile error in `eval` and in `check`.
#[test]
fn too_deeply_nested_rules_are_positioned_errors_not_crashes() {
    let deep = format!("SELECT {}1{} FROM 'a'", "(".repeat(5000), ")".repeat(5000));
    let (code, out, err) = rulewire(&["eval", "--sql", &deep, "--topic", "a", "--payload", "{}"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("1:") && err.contains("levels deep"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.sql");
    let chain = format!("SELECT x{} AS y FROM 'a'", " + 1".repeat(10_000));
    std::fs::write(&file, format!("-- description = \"deep\"\n{chain}\n")).unwrap();
    let (code, out, err) = rulewire(&["check", file.to_str().unwrap()]);
    let report = format!("{out}{err}");
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("deep.sql:2:") && report.contains("levels deep"),
        "{report}"
    );
}

/// The README's first command, on a machine where an MQTT broker already holds 1883 and
/// something else holds 9464: the demo moves to free ports, says so, and rules fire.
#[test]
fn the_demo_runs_with_its_ports_taken() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let broker_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rulewire"))
        .args(["run", "--demo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "RULEWIRE_EMBEDDED_BROKER_LISTEN",
            broker_port.local_addr().unwrap().to_string(),
        )
        .env(
            "RULEWIRE_HTTP_LISTEN",
            http_port.local_addr().unwrap().to_string(),
        )
        .env("RULEWIRE_BROKER_CLIENT_ID", "rulewire-demo-test")
        .env("HOME", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut lines = Vec::new();
    let fired = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(" <- ") => break true,
            Ok(line) => lines.push(line),
            Err(_) if Instant::now() > deadline => break false,
            Err(_) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(fired, "no rule output within 40 s: {lines:#?}");
    let moved = lines.iter().filter(|l| l.contains("is taken")).count();
    assert_eq!(moved, 2, "both taken ports are reported: {lines:#?}");
}

/// MQTT 5 user properties and Basic Ingest in `eval`, as the service sees them.
#[test]
fn eval_takes_user_properties_and_basic_ingest_topics() {
    let sql = "SELECT get_user_properties('k') AS k, get_user_properties() AS all, topic() AS t FROM 'sensors/+'";
    let (code, out, err) = rulewire(&[
        "eval",
        "--sql",
        sql,
        "--topic",
        "sensors/a",
        "--payload",
        "{}",
        "--user-property",
        "k=v1",
        "--user-property",
        "other=x=y",
        "--user-property",
        "k=v2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"k\":[\"v1\",\"v2\"],\"all\":[\"v1\",\"x=y\",\"v2\"],\"t\":\"sensors/a\"}\n"
    );

    // Basic Ingest: the rule sees the rest of the topic, and its FROM filter is not checked.
    let (code, out, err) = rulewire(&[
        "eval",
        "--sql",
        "SELECT topic() AS t, topic(1) AS first FROM 'sensors/+'",
        "--topic",
        "$aws/rules/r1/plant/line-4",
        "--rule-name",
        "r1",
        "--payload",
        "{}",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "{\"t\":\"plant/line-4\",\"first\":\"plant\"}\n");

    // For another rule (or without --rule-name) the rule does not see it, and eval says why.
    let (code, out, err) = rulewire(&[
        "eval",
        "--sql",
        "SELECT * FROM 'sensors/+'",
        "--topic",
        "$aws/rules/r2/x",
        "--rule-name",
        "r1",
        "--payload",
        "{}",
    ]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("--rule-name r2"), "{err}");
    let (code, _, err) = rulewire(&[
        "eval",
        "--sql",
        "SELECT * FROM 'a'",
        "--topic",
        "a",
        "--payload",
        "{}",
        "--user-property",
        "novalue",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("KEY=VALUE"), "{err}");
}

/// `--mqtt-property` for `get_mqtt_property()`, and a clear error for a bad one.
#[test]
fn eval_takes_mqtt5_properties() {
    let sql = "SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('correlation_data') AS cd, get_mqtt_property('format_indicator') AS fi FROM 'a'";
    let (code, out, err) = rulewire(&[
        "eval",
        "--sql",
        sql,
        "--topic",
        "a",
        "--payload",
        "{}",
        "--mqtt-property",
        "content_type=text/plain",
        "--mqtt-property",
        "correlation_data=AAEC",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"ct\":\"text/plain\",\"cd\":\"AAEC\",\"fi\":\"UNSPECIFIED_BYTES\"}\n"
    );
    let (code, _, err) = rulewire(&[
        "eval",
        "--sql",
        sql,
        "--topic",
        "a",
        "--payload",
        "{}",
        "--mqtt-property",
        "color=red",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("content_type"), "{err}");
}
