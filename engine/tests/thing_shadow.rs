//! `get_thing_shadow(thingName, [shadowName,] roleArn)`: the rule reads what its [`Lookups`]
//! hold (the service's shadow store; here a fixed map), on the reference path.

use std::collections::HashMap;
use std::sync::Arc;

use rulewire_engine::json_in::parse_json;
use rulewire_engine::{Lookups, Message, Rule, SqlVersion, Template, Value};

struct Shadows(HashMap<(String, Option<String>), Value>);

impl Lookups for Shadows {
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<Value> {
        self.0
            .get(&(thing.to_owned(), shadow.map(str::to_owned)))
            .cloned()
    }
}

fn shadows() -> Arc<Shadows> {
    let doc = |alarm: &str| {
        parse_json(
            format!(
                r#"{{"state":{{"reported":{{"alarm":"{alarm}"}}}},"metadata":{{}},"version":3,"timestamp":9}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    };
    Arc::new(Shadows(HashMap::from([
        (("MyThing".to_owned(), None), doc("ON")),
        (("MyThing".to_owned(), Some("power".to_owned())), doc("OFF")),
    ])))
}

fn run(sql: &str, payload: &str) -> Option<String> {
    let rule = Rule::compile(sql, SqlVersion::V2016_03_23)
        .unwrap()
        .with_lookups(shadows());
    assert!(!rule.is_vectorised());
    let msg = Message::new("t/MyThing", payload.as_bytes());
    let one = rule.evaluate(&msg);
    assert_eq!(rule.evaluate_batch(&[msg]), std::slice::from_ref(&one));
    one.output.map(|o| String::from_utf8(o).unwrap())
}

#[test]
fn the_awss_documented_example_reads_the_classic_shadow() {
    let sql = "SELECT * FROM 't/+' WHERE get_thing_shadow(\"MyThing\",\"arn:aws:iam::123456789012:role/AllowsThingShadowAccess\").state.reported.alarm = 'ON'";
    assert_eq!(run(sql, r#"{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
}

#[test]
fn named_shadows_things_from_the_topic_and_missing_shadows() {
    let sql = "SELECT get_thing_shadow(topic(2), 'power', 'role').state.reported.alarm AS named, \
               get_thing_shadow(topic(2), 'role').version AS v, \
               get_thing_shadow('Nobody', 'role') AS missing, \
               get_thing_shadow(5, 'role') AS not_a_name FROM 't/+'";
    assert_eq!(run(sql, "{}").as_deref(), Some(r#"{"named":"OFF","v":3}"#));
}

#[test]
fn without_lookups_it_is_undefined_and_templates_refuse_it() {
    let rule = Rule::compile(
        "SELECT get_thing_shadow('MyThing', 'r') AS s, 1 AS one FROM 't'",
        SqlVersion::V2016_03_23,
    )
    .unwrap();
    let out = rule.evaluate(&Message::new("t", b"{}")).output.unwrap();
    assert_eq!(out, br#"{"one":1}"#);
    let e = Template::parse(
        "a/${get_thing_shadow('MyThing', 'r').version}",
        SqlVersion::V2016_03_23,
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("cannot be used in an action's substitution template"),
        "{e}"
    );
    // Also inside a nested query.
    let e = Template::parse(
        "a/${get((SELECT VALUE get_thing_shadow(t, 'r').version FROM items), 0)}",
        SqlVersion::V2016_03_23,
    )
    .unwrap_err();
    assert!(e.message.contains("get_thing_shadow"), "{e}");
}
