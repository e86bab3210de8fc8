//! `rulewire test`: rule unit tests in `<rule>.test.toml` files, run offline.

mod common;

use common::rulewire;

/// The example rules ship with tests, and they pass.
#[test]
fn the_example_rules_tests_pass() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let (code, out, err) = rulewire(&["test", rules]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("high_temperature.test.toml"), "{out}");
    let total = out.lines().find(|l| l.starts_with("total")).unwrap();
    let numbers: Vec<usize> = total
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(numbers[0] >= 12 && numbers[2] == 0, "{total}");
}

const RULE: &str = "-- [[action]]
-- type = \"s3\"
-- bucket = \"lake\"
-- key = \"${topic(2)}/${newuuid()}.json\"
--
-- [error_action]
-- type = \"republish\"
-- topic = \"errors/${clientid()}\"
SELECT temperature, topic(2) AS room, get_thing_shadow(topic(2), 'role').state.desired.target AS target,
       get_user_properties('site') AS site
FROM 'sensors/+/data'
";

const TESTS: &str = r#"
[[case]]
name = "passes: fixed uuid, shadow, user property"
topic = "sensors/kitchen/data"
json = { temperature = 20 }
client_id = "th-1"
newuuid = "11111111-2222-4333-8444-555555555555"
user_properties = [["site", "north"]]
shadows = { kitchen = '{"state":{"desired":{"target":21}}}' }
output = { temperature = 20, room = "kitchen", target = 21, site = ["north"] }
targets = { "s3.key" = "kitchen/11111111-2222-4333-8444-555555555555.json", "s3.bucket" = "lake", "error_action.topic" = "errors/th-1" }

[[case]]
name = "Basic Ingest reaches the rule with the rest of the topic"
topic = "$aws/rules/lake/sensors/hall/data"
json = { temperature = 5 }
output = { temperature = 5, room = "hall" }

[[case]]
name = "fails: wrong room"
topic = "sensors/hall/data"
json = { temperature = 20 }
output = { temperature = 20, room = "kitchen" }

[[case]]
name = "fails: expected not to fire"
topic = "sensors/hall/data"
json = { temperature = 1 }
fires = false

[[case]]
name = "fails: no such target"
topic = "sensors/hall/data"
json = { temperature = 1 }
targets = { "republish.topic" = "x" }

[[case]]
name = "fails: another rule's Basic Ingest"
topic = "$aws/rules/other/sensors/hall/data"
json = { temperature = 1 }
output = { temperature = 1 }
"#;

#[test]
fn failures_print_a_diff_exit_1_and_go_to_the_junit_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lake.sql"), RULE).unwrap();
    std::fs::write(dir.path().join("lake.test.toml"), TESTS).unwrap();
    std::fs::write(dir.path().join("untested.sql"), "SELECT * FROM 'x'\n").unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = rulewire(&[
        "test",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("  ok      passes: fixed uuid, shadow, user property"),
        "{out}"
    );
    assert!(
        out.contains("  ok      Basic Ingest reaches the rule"),
        "{out}"
    );
    assert!(out.contains("  FAILED  fails: wrong room"), "{out}");
    assert!(out.contains("-   \"room\": \"kitchen\""), "{out}");
    assert!(out.contains("+   \"room\": \"hall\""), "{out}");
    assert!(
        out.contains("expected the rule not to fire; it gave:"),
        "{out}"
    );
    assert!(
        out.contains("targets.\"republish.topic\": no such action field (the rule has: error_action.topic, s3.bucket, s3.key)"),
        "{out}"
    );
    assert!(out.contains("does not reach it"), "{out}");
    assert!(
        out.contains("rules without tests:") && out.contains("untested.sql"),
        "{out}"
    );
    let total = out.lines().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["total", "6", "2", "4"]
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuites name="rulewire test" tests="6" failures="4">"#),
        "{xml}"
    );
    assert!(
        xml.contains(
            r#"<testcase classname="lake" name="passes: fixed uuid, shadow, user property"/>"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure message="output differs (- expected, + actual):">"#),
        "{xml}"
    );
    assert!(xml.contains("&quot;room&quot;: &quot;hall&quot;"), "{xml}");
}

#[test]
fn broken_test_files_and_rules_fail_with_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.sql"), "SELECT * FROM 'a'\n").unwrap();
    std::fs::write(
        dir.path().join("a.test.toml"),
        "[[case]]\nname = \"x\"\ntopic = \"a\"\npayload = \"{}\"\noutptu = 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.sql"), "SELECT nosuch() FROM 'b'\n").unwrap();
    std::fs::write(
        dir.path().join("b.test.toml"),
        "[[case]]\nname = \"x\"\ntopic = \"b\"\npayload = \"{}\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.sql"), "SELECT * FROM 'c'\n").unwrap();
    std::fs::write(dir.path().join("c.test.toml"), "# nothing yet\n").unwrap();
    let (code, out, _) = rulewire(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown field `outptu`"), "{out}");
    assert!(out.contains("line 5"), "{out}");
    assert!(
        out.contains("the rule does not load:")
            && out.contains("b.sql:1:8: unknown function `nosuch`"),
        "{out}"
    );
    assert!(out.contains("c.test.toml: no [[case]]"), "{out}");

    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = rulewire(&["test", empty.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no rule tests (.test.toml)"), "{err}");
}
