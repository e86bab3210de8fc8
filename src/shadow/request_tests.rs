//! Request handling against AWS's documented and captured messages (byte for byte).

use super::*;

const LIMITS: Limits = Limits {
    max_document_bytes: 8192,
    requests_per_second_per_thing: 20,
    max_in_flight_per_connection: 10,
};

/// One shadow and the requests made to it, as the service would run them.
struct Sequence {
    name: ShadowName,
    entry: Option<Entry>,
}

impl Sequence {
    fn classic(thing: &str) -> Sequence {
        Sequence {
            name: ShadowName {
                thing: thing.into(),
                shadow: None,
            },
            entry: None,
        }
    }

    /// Runs a request at `now`; returns (topic suffix after the prefix, payload text).
    fn run(&mut self, op: Operation, payload: &str, now: i64) -> Vec<(String, String)> {
        let outcome = handle(
            &self.name,
            op,
            payload.as_bytes(),
            self.entry.as_ref(),
            now,
            LIMITS,
        );
        if let Some(e) = outcome.write {
            self.entry = Some(e);
        }
        let prefix = self.name.prefix();
        outcome
            .responses
            .into_iter()
            .map(|r| {
                (
                    r.topic.strip_prefix(&prefix).unwrap().to_owned(),
                    String::from_utf8(r.payload).unwrap(),
                )
            })
            .collect()
    }

    fn one(&mut self, op: Operation, payload: &str, now: i64) -> (String, String) {
        let mut r = self.run(op, payload, now);
        assert_eq!(r.len(), 1, "{r:?}");
        r.remove(0)
    }

    fn rejected(&mut self, payload: &str) -> String {
        let (topic, body) = self.one(Operation::Update, payload, 100);
        assert_eq!(topic, "/update/rejected");
        body
    }
}

fn pair(topic: &str, body: &str) -> (String, String) {
    (topic.to_owned(), body.to_owned())
}

#[test]
fn topics_are_parsed_and_responses_are_not_requests() {
    let classic = parse_topic("$aws/things/lamp-1/shadow/update").unwrap();
    assert_eq!(classic.0.key(), "lamp-1");
    assert_eq!(classic.1, Operation::Update);
    let named = parse_topic("$aws/things/lamp:1/shadow/name/config/get").unwrap();
    assert_eq!(named.0.key(), "lamp:1~config");
    assert_eq!(named.0.prefix(), "$aws/things/lamp:1/shadow/name/config");
    assert_eq!(ShadowName::from_key("lamp:1~config"), named.0);
    for not_request in [
        "$aws/things/lamp/shadow/update/accepted",
        "$aws/things/lamp/shadow/update/delta",
        "$aws/things/lamp/shadow/name/x/update/documents",
        "$aws/things/lamp/shadow/name/get",
        "$aws/things/lamp/shadow/list",
        "$aws/things/lamp/jobs/get",
        "things/lamp/shadow/get",
    ] {
        assert!(parse_topic(not_request).is_none(), "{not_request}");
    }
}

/// The sequence of the AWS IoT Device SDK v2 shadow sample, as its README prints the service's
/// answers (key order and compact JSON included).
#[test]
fn the_sdk_samples_sequence_gives_awss_messages() {
    let mut s = Sequence::classic("MyThing");
    assert_eq!(
        s.one(Operation::Get, r#"{"clientToken":"t0"}"#, 10),
        pair(
            "/get/rejected",
            r#"{"code":404,"message":"No shadow exists with name: 'MyThing'","clientToken":"t0"}"#
        )
    );
    assert_eq!(
        s.run(
            Operation::Update,
            r#"{"state":{"reported":{"Color":"green"}},"clientToken":"t1"}"#,
            20
        ),
        [
            pair(
                "/update/documents",
                r#"{"previous":null,"current":{"state":{"reported":{"Color":"green"}},"metadata":{"reported":{"Color":{"timestamp":20}}},"version":1},"timestamp":20,"clientToken":"t1"}"#
            ),
            pair(
                "/update/accepted",
                r#"{"state":{"reported":{"Color":"green"}},"metadata":{"reported":{"Color":{"timestamp":20}}},"version":1,"timestamp":20,"clientToken":"t1"}"#
            ),
        ]
    );
    // A desired change that differs from reported: the delta goes out.
    let r = s.run(
        Operation::Update,
        r#"{"state":{"desired":{"Color":"red"}},"clientToken":"t2"}"#,
        30,
    );
    assert_eq!(
        r[0],
        pair(
            "/update/delta",
            r#"{"version":2,"timestamp":30,"state":{"Color":"red"},"metadata":{"Color":{"timestamp":30}},"clientToken":"t2"}"#
        )
    );
    assert_eq!(
        r[1],
        pair(
            "/update/documents",
            r#"{"previous":{"state":{"reported":{"Color":"green"}},"metadata":{"reported":{"Color":{"timestamp":20}}},"version":1},"current":{"state":{"desired":{"Color":"red"},"reported":{"Color":"green"}},"metadata":{"desired":{"Color":{"timestamp":30}},"reported":{"Color":{"timestamp":20}}},"version":2},"timestamp":30,"clientToken":"t2"}"#
        )
    );
    // A reported-only update that still differs: the (whole) delta again, with the time
    // desired was set.
    let r = s.run(
        Operation::Update,
        r#"{"state":{"reported":{"Color":"blue","Size":1}}}"#,
        40,
    );
    assert_eq!(
        r[0],
        pair(
            "/update/delta",
            r#"{"version":3,"timestamp":40,"state":{"Color":"red"},"metadata":{"Color":{"timestamp":30}}}"#
        )
    );
    assert_eq!(
        s.one(Operation::Get, "", 45),
        pair(
            "/get/accepted",
            r#"{"state":{"desired":{"Color":"red"},"reported":{"Color":"blue","Size":1},"delta":{"Color":"red"}},"metadata":{"desired":{"Color":{"timestamp":30}},"reported":{"Color":{"timestamp":40},"Size":{"timestamp":40}}},"version":3,"timestamp":45}"#
        )
    );
    // In sync: no delta message.
    let r = s.run(
        Operation::Update,
        r#"{"state":{"reported":{"Color":"red"}}}"#,
        50,
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, "/update/documents");
    // Optimistic locking: the request's version must be the current one.
    assert_eq!(
        s.rejected(r#"{"state":{"desired":{"Color":"x"}},"version":3,"clientToken":"t5"}"#),
        r#"{"code":409,"message":"Version conflict","clientToken":"t5"}"#
    );
    let r = s.run(
        Operation::Update,
        r#"{"state":{"desired":{"Color":"x"}},"version":4}"#,
        55,
    );
    assert!(r.last().unwrap().1.contains(r#""version":5"#), "{r:?}");
    assert_eq!(
        s.one(Operation::Delete, r#"{"clientToken":"t6"}"#, 60),
        pair(
            "/delete/accepted",
            r#"{"version":5,"timestamp":60,"clientToken":"t6"}"#
        )
    );
    assert_eq!(
        s.one(Operation::Get, "", 61).0,
        "/get/rejected",
        "deleted shadows are gone"
    );
    assert_eq!(
        s.one(Operation::Delete, "", 62),
        pair(
            "/delete/rejected",
            r#"{"code":404,"message":"No shadow exists with name: 'MyThing'"}"#
        )
    );
    // The version carries on after a delete; the new shadow has no previous document.
    let r = s.run(
        Operation::Update,
        r#"{"state":{"reported":{"on":true}}}"#,
        70,
    );
    assert_eq!(
        r[0].1,
        r#"{"previous":null,"current":{"state":{"reported":{"on":true}},"metadata":{"reported":{"on":{"timestamp":70}}},"version":6},"timestamp":70}"#
    );
}

#[test]
fn a_version_is_kept_for_48_hours_after_a_delete() {
    let mut s = Sequence::classic("t");
    s.run(Operation::Update, r#"{"state":{"reported":{"a":1}}}"#, 0);
    s.run(Operation::Update, r#"{"state":{"reported":{"a":2}}}"#, 0);
    s.one(Operation::Delete, "", 1000);
    let later = 1000 + VERSION_KEPT_AFTER_DELETE_SECS;
    let r = s.run(
        Operation::Update,
        r#"{"state":{"reported":{"a":3}}}"#,
        later,
    );
    assert!(r[1].1.contains(r#""version":1,"#), "{r:?}");
}

/// AWS's delta example: nested objects give the path to what differs; arrays compare whole.
#[test]
fn the_delta_keeps_the_path_to_what_differs_and_compares_arrays_whole() {
    let mut s = Sequence::classic("t");
    s.run(
        Operation::Update,
        r#"{"state":{"reported":{"lights":{"color":{"r":255,"g":0,"b":255}},"list":["value_1","value_2"],"n":1}}}"#,
        1,
    );
    let r = s.run(
        Operation::Update,
        r#"{"state":{"desired":{"lights":{"color":{"r":255,"g":255,"b":255}},"list":["value_1","value_3"],"n":1.0,"new":{}}}}"#,
        2,
    );
    assert_eq!(
        r[0].1,
        r#"{"version":2,"timestamp":2,"state":{"lights":{"color":{"g":255}},"list":["value_1","value_3"],"new":{}},"metadata":{"lights":{"color":{"g":{"timestamp":2}}},"list":[{"timestamp":2},{"timestamp":2}],"new":{}}}"#
    );
}

#[test]
fn nulls_delete_and_empty_sections_disappear() {
    let mut s = Sequence::classic("t");
    s.run(
        Operation::Update,
        r#"{"state":{"desired":{"a":1,"b":{"c":2}},"reported":{"a":1}}}"#,
        1,
    );
    let r = s.run(
        Operation::Update,
        r#"{"state":{"desired":{"a":null,"b":{"c":null}},"reported":null}}"#,
        2,
    );
    assert_eq!(
        r.last().unwrap().1,
        r#"{"state":{"desired":{"a":null,"b":{"c":null}},"reported":null},"metadata":{"desired":{"a":{"timestamp":2},"b":{"c":{"timestamp":2}}},"reported":{"timestamp":2}},"version":2,"timestamp":2}"#
    );
    // `b` is kept as an empty object: AWS stores empty objects as values.
    assert_eq!(
        s.one(Operation::Get, "", 3).1,
        r#"{"state":{"desired":{"b":{}},"delta":{"b":{}}},"metadata":{"desired":{"b":{}}},"version":2,"timestamp":3}"#
    );
    let r = s.run(Operation::Update, r#"{"state":{"desired":{"b":null}}}"#, 4);
    assert_eq!(r.len(), 2, "no delta once desired is gone: {r:?}");
    assert_eq!(
        s.one(Operation::Get, "", 5).1,
        r#"{"state":{},"metadata":{},"version":3,"timestamp":5}"#
    );
}

#[test]
fn a_null_state_clears_the_shadow_and_keeps_it() {
    let mut s = Sequence::classic("t");
    s.run(
        Operation::Update,
        r#"{"state":{"reported":{"a":[1,2]}}}"#,
        1,
    );
    assert_eq!(
        s.one(Operation::Get, "", 1).1,
        r#"{"state":{"reported":{"a":[1,2]}},"metadata":{"reported":{"a":[{"timestamp":1},{"timestamp":1}]}},"version":1,"timestamp":1}"#
    );
    let r = s.run(Operation::Update, r#"{"state":null}"#, 2);
    assert_eq!(
        r.last().unwrap().1,
        r#"{"state":null,"metadata":{"timestamp":2},"version":2,"timestamp":2}"#
    );
    assert_eq!(
        s.one(Operation::Get, "", 3).1,
        r#"{"state":{},"metadata":{},"version":2,"timestamp":3}"#
    );
    // `{"state":{}}` changes nothing and still counts as an update.
    let r = s.run(Operation::Update, r#"{"state":{}}"#, 4);
    assert_eq!(
        r.last().unwrap().1,
        r#"{"state":{},"metadata":{},"version":3,"timestamp":4}"#
    );
}

#[test]
fn bad_updates_get_awss_codes_and_messages() {
    let mut s = Sequence::classic("t");
    let cases = [
        ("{", r#"{"code":400,"message":"Invalid JSON"}"#),
        ("[1]", r#"{"code":400,"message":"Invalid JSON"}"#),
        (
            r#"{"clientToken":"c"}"#,
            r#"{"code":400,"message":"Missing required node: state","clientToken":"c"}"#,
        ),
        (
            r#"{"state":5}"#,
            r#"{"code":400,"message":"State node must be an object"}"#,
        ),
        (
            r#"{"state":{"desired":[1]}}"#,
            r#"{"code":400,"message":"Desired node must be an object"}"#,
        ),
        (
            r#"{"state":{"reported":"on"}}"#,
            r#"{"code":400,"message":"Reported node must be an object"}"#,
        ),
        (
            r#"{"state":{"delta":{}}}"#,
            r#"{"code":400,"message":"State contains an invalid node: 'delta'"}"#,
        ),
        (
            r#"{"state":{},"version":"1"}"#,
            r#"{"code":400,"message":"Invalid version"}"#,
        ),
        (
            r#"{"state":{},"version":1.5}"#,
            r#"{"code":400,"message":"Invalid version"}"#,
        ),
        (
            r#"{"state":{},"clientToken":5}"#,
            r#"{"code":400,"message":"Invalid clientToken"}"#,
        ),
        (
            r#"{"state":{"desired":{"a":[1,null]}}}"#,
            r#"{"code":400,"message":"Invalid JSON"}"#,
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(s.rejected(payload), want, "{payload}");
    }
    let long = "x".repeat(65);
    assert_eq!(
        s.rejected(&format!(r#"{{"state":{{}},"clientToken":"{long}"}}"#)),
        r#"{"code":400,"message":"Invalid clientToken"}"#
    );
    // desired{1{2{3{4{5{6:v}}}}}} is the deepest allowed.
    let six = r#"{"state":{"desired":{"1":{"2":{"3":{"4":{"5":{"6":"v"}}}}}}}}"#;
    assert_eq!(s.run(Operation::Update, six, 1).len(), 3);
    assert_eq!(
        s.rejected(r#"{"state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":{"7":"v"}}}}}}}}}"#),
        r#"{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6"}"#
    );
    let (topic, body) = s.one(Operation::Update, "\u{0}", 1);
    assert_eq!(topic, "/update/rejected");
    assert_eq!(body, r#"{"code":400,"message":"Invalid JSON"}"#);
    let outcome = handle(
        &s.name,
        Operation::Update,
        b"{\"state\":\xff}",
        None,
        1,
        LIMITS,
    );
    assert_eq!(
        String::from_utf8(outcome.responses[0].payload.clone()).unwrap(),
        r#"{"code":415,"message":"Unsupported documented encoding; supported encoding is UTF-8"}"#
    );
    assert!(outcome.write.is_none());
}

#[test]
fn the_size_limit_counts_the_merged_state() {
    let mut s = Sequence::classic("t");
    let half = "x".repeat(4000);
    let r = s.run(
        Operation::Update,
        &format!(r#"{{"state":{{"reported":{{"a":"{half}"}}}}}}"#),
        1,
    );
    assert_eq!(r.len(), 2);
    // Alone this request is small; merged, the state is over 8192 bytes.
    assert_eq!(
        s.rejected(&format!(
            r#"{{"state":{{"desired":{{"b":"{half}","c":"{half}"}}}},"clientToken":"big"}}"#
        )),
        r#"{"code":413,"message":"The payload exceeds the maximum size allowed","clientToken":"big"}"#
    );
}

#[test]
fn named_shadows_and_bad_names() {
    let mut s = Sequence {
        name: ShadowName {
            thing: "lamp".into(),
            shadow: Some("config".into()),
        },
        entry: None,
    };
    assert_eq!(
        s.one(Operation::Get, "", 1),
        pair(
            "/get/rejected",
            r#"{"code":404,"message":"No shadow exists with name: 'lamp~config'"}"#
        )
    );
    let mut bad = Sequence::classic("no spaces");
    assert_eq!(
        bad.rejected(r#"{"state":{}}"#),
        r#"{"code":400,"message":"ThingName must match pattern [a-zA-Z0-9:_-]+"}"#
    );
    let mut long = Sequence::classic(&"t".repeat(129));
    assert_eq!(
        long.rejected(r#"{"state":{}}"#),
        r#"{"code":400,"message":"ThingName has a maximum length of 128"}"#
    );
}
