//! `rulewire import` as users run it: the real binary on AWS definitions of each accepted
//! form (tests/fixtures/import/), then `rulewire check` on what it wrote.
//!
//! Every imported action, `role_arn` included, must pass `check` as written.

mod common;

use std::path::{Path, PathBuf};

use common::rulewire;
use rulewire::rulefile;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

const GOOD: [&str; 7] = [
    "get-topic-rule.json",
    "factory_alerts.json",
    "IotStack.template.json",
    "fleet_positions.json",
    "iot-rules.yaml",
    "stack.template.json",
    "sam-template.yaml",
];

/// Imports the good fixtures into `dir/rules`, connections into `dir/rulewire.toml`.
fn import_good(dir: &Path) -> (String, String) {
    let out = dir.join("rules");
    let conns = dir.join("rulewire.toml");
    let mut args = vec![
        "import".to_owned(),
        "--out".into(),
        out.display().to_string(),
        "--connections".into(),
        conns.display().to_string(),
        "--region".into(),
        "eu-west-1".into(),
        "--account-id".into(),
        "111122223333".into(),
        "--stack-name".into(),
        "iot-prod".into(),
    ];
    args.extend(GOOD.iter().map(|f| fixture(f)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = rulewire(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    (stdout, stderr)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn import_writes_one_rule_file_per_rule_with_the_sql_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = import_good(dir.path());
    assert_eq!(stdout, "", "connections went to --connections");
    let rules = dir.path().join("rules");
    let mut names: Vec<String> = std::fs::read_dir(&rules)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "DoorEventsFunctionDoorOpened.sql",
            "MeterArchive.sql",
            "SoilMoistureRule.sql",
            "device_readings.sql",
            "factory_alerts.sql",
            "fleet_positions.sql",
            "greenhouse_north_frost_alert.sql",
            "temperature_alerts.sql",
        ]
    );
    // The SQL as AWS stores it, folded/literal YAML blocks included.
    let sql = |name: &str| rulefile::load_file(&rules.join(name)).unwrap();
    assert_eq!(
        sql("temperature_alerts.sql").sql,
        "SELECT temperature, humidity, topic(3) AS room, timestamp() AS ts FROM 'building/+/+/telemetry' WHERE temperature > 28"
    );
    assert_eq!(
        sql("greenhouse_north_frost_alert.sql").sql,
        "SELECT topic(3) AS bed, temperature FROM 'greenhouse/+/+/climate' WHERE temperature < 2"
    );
    assert_eq!(
        sql("SoilMoistureRule.sql").sql,
        "SELECT moisture, topic(3) AS bed FROM 'greenhouse/+/+/soil'\n"
    );
    assert!(stderr.contains("8 rule(s) written, 0 failed"), "{stderr}");

    // A get-topic-rule export, whole.
    assert_eq!(
        read(rules.join("temperature_alerts.sql")),
        r#"-- description = "Rooms over 28 C: alert topic, on-call queue and the readings table"
-- sql_version = "2016-03-23"
-- enabled = true
--
-- [[action]]
-- type = "republish"
-- content_type = "application/json"
-- user_properties = [{ key = "site", value = "${topic(2)}" }]
-- qos = 1
-- topic = "alerts/${topic(2)}/${topic(3)}"
--
-- [[action]]
-- type = "sqs"
-- queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/oncall-alerts"
-- role_arn = "arn:aws:iam::111122223333:role/iot-to-sqs"
-- use_base64 = false
--
-- [[action]]
-- type = "dynamodb_v2"
-- put_item = { table_name = "room_readings" }
-- role_arn = "arn:aws:iam::111122223333:role/iot-to-dynamodb"
--
-- [error_action]
-- type = "s3"
-- bucket = "iot-rule-errors-111122223333"
-- key = "temperature_alerts/${timestamp()}.json"
-- role_arn = "arn:aws:iam::111122223333:role/iot-errors"
SELECT temperature, humidity, topic(3) AS room, timestamp() AS ts FROM 'building/+/+/telemetry' WHERE temperature > 28"#
    );

    // A YAML template: short tags, a parameter default, `RuleDisabled: "true"`, a queue
    // without a name (its logical id), an unquoted date, get_secret in Kafka properties.
    assert_eq!(
        read(rules.join("SoilMoistureRule.sql")),
        r#"-- sql_version = "2015-10-08"
-- enabled = false
--
-- [[action]]
-- type = "sqs"
-- queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/SoilQueue"
-- role_arn = "arn:aws:iam::111122223333:role/greenhouse-iot-rules"
-- use_base64 = true
--
-- [[action]]
-- type = "kafka"
-- connection = "kafka"
-- key = "${topic(3)}"
-- partition = 0
-- topic = "soil-moisture"
--
-- [[action]]
-- type = "firehose"
-- batch_mode = false
-- delivery_stream_name = "greenhouse-soil"
-- role_arn = "arn:aws:iam::111122223333:role/greenhouse-iot-rules"
-- separator = "\n"
--
-- [[action]]
-- type = "timestream"
-- database_name = "greenhouse"
-- dimensions = [{ name = "bed", value = "${topic(3)}" }]
-- role_arn = "arn:aws:iam::111122223333:role/greenhouse-iot-rules"
-- table_name = "soil"
-- timestamp = { unit = "MILLISECONDS", value = "${timestamp()}" }
SELECT moisture, topic(3) AS bed FROM 'greenhouse/+/+/soil'
"#
    );
    let frost = read(rules.join("greenhouse_north_frost_alert.sql"));
    assert!(frost.starts_with("-- description = \"Frost warning for greenhouse_north\"\n-- sql_version = \"2016-03-23\"\n-- enabled = true\n"), "{frost}");
    assert!(
        frost.contains(
            "-- target_arn = \"arn:aws:sns:eu-west-1:111122223333:greenhouse_north-alerts\"\n"
        ),
        "{frost}"
    );
    assert!(frost.contains("-- [error_action]\n-- type = \"cloudwatch_logs\"\n-- batch_mode = false\n-- log_group_name = \"/iot/greenhouse/errors\"\n"), "{frost}");
    let archive = read(rules.join("MeterArchive.sql"));
    assert!(
        archive.contains("-- role_arn = \"arn:aws:iam::111122223333:role/ArchiveRole\"\n"),
        "{archive}"
    );
    assert!(
        archive.contains("-- bucket = \"meter-archive-eu\"\n"),
        "{archive}"
    );
    assert!(
        archive.contains("-- topic = \"errors/iot-prod/archive\"\n"),
        "{archive}"
    );
    // A CDK synth output: generated logical ids, the role and function named by them.
    let cdk = read(rules.join("device_readings.sql"));
    assert!(cdk.contains("-- queue_url = \"https://sqs.eu-west-1.amazonaws.com/111122223333/ReadingsQueueB2F8E1A4\"\n-- role_arn = \"arn:aws:iam::111122223333:role/TopicRuleTopicRuleActionRole246C4F77\"\n"), "{cdk}");
    assert!(cdk.contains("-- function_arn = \"arn:aws:lambda:eu-west-1:111122223333:function:EnrichFunction6E1B4C7A\"\n"), "{cdk}");
    assert!(cdk.ends_with("-- log_group_name = \"RuleErrors5C0F9B2D\"\n-- role_arn = \"arn:aws:iam::111122223333:role/TopicRuleTopicRuleActionRole246C4F77\"\nSELECT topic(2) as device_id, temperature FROM 'device/+/data'"), "{cdk}");
    let door = read(rules.join("DoorEventsFunctionDoorOpened.sql"));
    assert!(door.contains("-- type = \"lambda\"\n-- function_arn = \"arn:aws:lambda:eu-west-1:111122223333:function:door-events\"\n"), "{door}");
    let fleet = read(rules.join("fleet_positions.sql"));
    assert!(
        fleet.contains("-- sql_version = \"2015-10-08\"\n"),
        "{fleet}"
    );
    assert!(fleet.contains("-- [error_action]\n-- type = \"republish\"\n-- qos = 0\n-- topic = \"$$aws/rules/errors/fleet\"\n"), "{fleet}");

    // Notes, each at its JSON path.
    for note in [
        "SoilQueue has no QueueName: CloudFormation would generate its name; used the logical id \"SoilQueue\"",
        "note: $.rule.errorAction.s3.cannedAcl: rulewire sets no canned ACL",
        "note: $: no awsIotSqlVersion: AWS uses 2015-10-08",
        "set GREENHOUSE_KAFKA_PASSWORD to key \"password\" of Secrets Manager secret \"greenhouse/kafka\"",
    ] {
        assert!(stderr.contains(note), "{note:?} not in\n{stderr}");
    }
}

#[test]
fn imported_rules_pass_check_with_the_imported_connections() {
    let dir = tempfile::tempdir().unwrap();
    import_good(dir.path());
    let rules = dir.path().join("rules");
    let config_path = dir.path().join("rulewire.toml");
    let config_text = read(config_path.clone());
    assert!(
        config_text.contains("[kafka.connections.kafka]\n"),
        "{config_text}"
    );
    assert!(
        config_text.contains("\"sasl.password\" = \"${env:GREENHOUSE_KAFKA_PASSWORD}\""),
        "{config_text}"
    );

    // 1. In-process: every imported action checks against the imported connections (so the
    // kafka action's `connection` must exist), `role_arn` included.
    let config = rulewire::config::Config::load(&config_path, true).unwrap();
    let names = rulewire_actions::ConnectionNames::from_settings(
        &config.s3,
        &config.kafka,
        &config.aws,
        &config.opensearch,
    );
    let mut checked = std::collections::BTreeSet::new();
    for path in rulefile::rule_paths(&rules).unwrap() {
        let rf = rulefile::load_file(&path).unwrap();
        for spec in rf.actions.iter().chain(rf.error_action.iter()) {
            rulewire::registry::check_action_spec(&rf, spec, &names)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked.insert(spec.table["type"].as_str().unwrap().to_owned());
        }
    }
    // `mqtt` (a remote broker) is rulewire's own: no AWS rule can hold it.
    let every: std::collections::BTreeSet<String> = rulewire_actions::action_types()
        .into_iter()
        .filter(|t| *t != "mqtt")
        .map(str::to_owned)
        .collect();
    assert_eq!(checked, every, "the fixtures must hold every action type");

    // 2. `rulewire check` on the written files: no errors at all.
    let (code, out, err) = rulewire(&[
        "check",
        "--config",
        config_path.to_str().unwrap(),
        rules.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let summary: Vec<&str> = err.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(summary, ["8", "8", "0"], "rules, ok, with errors: {err}");
}

#[test]
fn what_cannot_carry_over_is_reported_with_its_path_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rules");
    let (code, stdout, stderr) = rulewire(&[
        "import",
        "--out",
        out.to_str().unwrap(),
        &fixture("legacy_export.json"),
        &fixture("fleet_positions.json"),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let advice = rulewire_actions::unsupported_advice("iot_analytics").unwrap();
    assert!(
        stderr.contains(&format!(
            "error: $.rule.actions[0].iotAnalytics: iotAnalytics has no rulewire counterpart: {advice}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("FAILED (1 error)"), "{stderr}");
    assert!(stderr.contains("1 rule(s) written, 1 failed"), "{stderr}");
    assert!(!out.join("legacy_export.sql").exists());
    assert!(out.join("fleet_positions.sql").exists());
}

#[test]
fn kafka_connections_go_to_stdout_and_files_are_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rules");
    let args = ["import", "--out", out.to_str().unwrap()];
    let yaml = fixture("iot-rules.yaml");
    let (code, stdout, stderr) = rulewire(&[&args[..], &[yaml.as_str()]].concat());
    assert_eq!(code, 0, "{stderr}");
    let parsed: toml::Table = toml::from_str(&stdout).unwrap();
    let kafka = &parsed["kafka"]["connections"]["kafka"];
    assert_eq!(
        kafka["bootstrap_servers"].as_str(),
        Some(
            "b-1.plant.x1y2z3.c4.kafka.eu-west-1.amazonaws.com:9096,b-2.plant.x1y2z3.c4.kafka.eu-west-1.amazonaws.com:9096"
        )
    );
    assert_eq!(
        kafka["properties"]["sasl.mechanisms"].as_str(),
        Some("SCRAM-SHA-512")
    );
    // Without --region/--account-id, what was assumed is said.
    assert!(
        stderr.contains("used us-east-1 (pass --region)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("used 123456789012 (pass --account-id)"),
        "{stderr}"
    );

    let (code, _, stderr) = rulewire(&[&args[..], &[yaml.as_str()]].concat());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("exists (pass --force to replace it)"),
        "{stderr}"
    );
    let (code, _, stderr) = rulewire(&[&args[..], &["--force", yaml.as_str()]].concat());
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn sql_rulewire_cannot_run_and_unknown_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("shadow-lookup.json");
    std::fs::write(
        &payload,
        r#"{"sql": "SELECT get_dynamodb('t', 'k', clientid(), 'arn:aws:iam::1:role/r') AS cfg FROM 'a/b'", "awsIotSqlVersion": "2016-03-23", "actions": []}"#,
    )
    .unwrap();
    let junk = dir.path().join("notes.json");
    std::fs::write(&junk, r#"{"hello": "world"}"#).unwrap();
    let out = dir.path().join("rules");
    let (code, _, stderr) = rulewire(&[
        "import",
        "--out",
        out.to_str().unwrap(),
        payload.to_str().unwrap(),
        junk.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    // The file stem had a `-`: renamed, and said.
    assert!(
        stderr.contains(
            "rule name \"shadow-lookup\" does not match ^[a-zA-Z0-9_]+$: named \"shadow_lookup\""
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: $.sql: rulewire cannot load this rule:"),
        "{stderr}"
    );
    assert!(stderr.contains("get_dynamodb"), "{stderr}");
    assert!(
        stderr.contains("not an AWS IoT rule definition"),
        "{stderr}"
    );
    assert!(stderr.contains("0 rule(s) written, 2 failed"), "{stderr}");
}
