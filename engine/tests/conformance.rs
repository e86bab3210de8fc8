//! Conformance suite: documented AWS IoT SQL examples, run end to end (SQL text + payload →
//! outgoing payload) through BOTH the reference row path and the vectorised batch path.
//!
//! Each case is `(sql, topic, payload, expected)`: `Some(text)` is the exact outgoing payload,
//! `None` means the rule does not fire. Cases cite the reference section they come from
//! (`aws-iot-sql.md`); [UNDOC] cases pin rulewire's documented choices (README).

use rulewire_engine::{Message, Rule, SqlVersion};

const V1: SqlVersion = SqlVersion::V2015_10_08;
const V2: SqlVersion = SqlVersion::V2016_03_23;

fn run(version: SqlVersion, sql: &str, topic: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let rule = Rule::compile(sql, version).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let msg = Message {
        client_id: "client-7",
        timestamp_ms: 1481825251155,
        trace_id: "trace-1",
        principal: "p1",
        account_id: "123456789012",
        ..Message::new(topic, payload)
    };
    let row = rule.evaluate(&msg);
    // The batch path must agree, alone and inside a batch of other messages.
    let other = Message::new(topic, br#"{"unrelated":true}"#);
    let batch = rule.evaluate_batch(&[other, msg, other]);
    assert_eq!(
        batch[1],
        row,
        "batch path disagrees with row path for {sql} on {}",
        String::from_utf8_lossy(payload)
    );
    row.output
}

fn check(version: SqlVersion, cases: &[(&str, &str, &str, Option<&str>)]) {
    let mut failures = Vec::new();
    for (sql, topic, payload, expected) in cases {
        let got = run(version, sql, topic, payload.as_bytes());
        let got_text = got
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        if got_text.as_deref() != *expected {
            failures.push(format!(
                "{sql}\n  payload:  {payload}\n  expected: {expected:?}\n  got:      {got_text:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

const T: &str = "topic/subtopic";

/// Issue 11: one case per SQL form the reference shows (`conformance/grammar.rs`,
/// `conformance/versions_and_refusals.rs`).
#[path = "conformance/grammar.rs"]
mod grammar;
#[path = "conformance/versions_and_refusals.rs"]
mod versions_and_refusals;

#[test]
fn select_and_where() {
    check(
        V2,
        &[
            // §1 worked example
            (
                "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
                T,
                r#"{"color":"red","temperature":100}"#,
                Some(r#"{"rgb":"red"}"#),
            ),
            (
                "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
                T,
                r#"{"color":"red","temperature":40}"#,
                None,
            ),
            // §3.8
            (
                "SELECT * FROM 'topic/subtopic'",
                T,
                r#"{"color":"red","temperature":100}"#,
                Some(r#"{"color":"red","temperature":100}"#),
            ),
            (
                "SELECT color FROM 'topic/subtopic'",
                T,
                r#"{"color":"red","temperature":100}"#,
                Some(r#"{"color":"red"}"#),
            ),
            (
                "SELECT *, 15 as speed FROM 'topic/subtopic'",
                T,
                r#"{"color":"red"}"#,
                Some(r#"{"color":"red","speed":15}"#),
            ),
            (
                "SELECT *, 15 as color FROM 'topic/subtopic'",
                T,
                r#"{"color":"red","x":1}"#,
                Some(r#"{"color":15,"x":1}"#),
            ),
            (
                "SELECT VALUE color FROM 'topic/subtopic'",
                T,
                r#"{"color":"red"}"#,
                Some(r#""red""#),
            ),
            (
                "SELECT VALUE arr FROM 'topic/subtopic'",
                T,
                r#"{"arr":[1,2,3,4]}"#,
                Some("[1,2,3,4]"),
            ),
            (
                "SELECT VALUE missing FROM 'topic/subtopic'",
                T,
                r#"{"a":1}"#,
                Some(""),
            ),
            (
                "SELECT missing FROM 'topic/subtopic'",
                T,
                r#"{"a":1}"#,
                Some("{}"),
            ),
            (
                "SELECT foo, bar FROM 'topic/subtopic'",
                T,
                r#"{"foo":null}"#,
                Some(r#"{"foo":null}"#),
            ),
            (
                "SELECT NULL AS n FROM 'topic/subtopic'",
                T,
                r#"{}"#,
                Some(r#"{"n":null}"#),
            ),
            (
                "SELECT a.b.c AS x FROM 'topic/subtopic'",
                T,
                r#"{"a":{"b":{"c":3}}}"#,
                Some(r#"{"x":3}"#),
            ),
            (
                "SELECT a.b.c FROM 'topic/subtopic'",
                T,
                r#"{"a":{"b":{"c":3}}}"#,
                Some(r#"{"c":3}"#),
            ),
            (
                "SELECT a.b.missing.c AS x FROM 'topic/subtopic'",
                T,
                r#"{"a":{"b":{"c":3}}}"#,
                Some("{}"),
            ),
            (
                "SELECT state.reported.temp AS state.debug FROM 'topic/subtopic'",
                T,
                r#"{"state":{"reported":{"temp":21}}}"#,
                Some(r#"{"state":{"debug":21}}"#),
            ),
            (
                "SELECT a AS x.y, b AS x.z FROM 'topic/subtopic'",
                T,
                r#"{"a":1,"b":2}"#,
                Some(r#"{"x":{"y":1,"z":2}}"#),
            ),
            (
                "select value color from 'topic/subtopic' where Temperature > 1",
                T,
                r#"{"color":"red","Temperature":2}"#,
                Some(r#""red""#),
            ),
            (
                "SeLeCt color FrOm 'topic/subtopic' WhErE temperature > 1",
                T,
                r#"{"color":"red","temperature":2}"#,
                Some(r#"{"color":"red"}"#),
            ),
            (
                "SELECT temperature FROM 'topic/subtopic'",
                T,
                r#"{"Temperature":2}"#,
                Some("{}"),
            ),
            // WHERE only fires on Boolean true (§3.12)
            (
                "SELECT a FROM 'topic/subtopic' WHERE a",
                T,
                r#"{"a":true}"#,
                Some(r#"{"a":true}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a",
                T,
                r#"{"a":"true"}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a",
                T,
                r#"{"a":1}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE missing = 1",
                T,
                r#"{"a":1}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE missing <> 1",
                T,
                r#"{"a":1}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE NOT (a = 2)",
                T,
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a = 1 OR missing = 1",
                T,
                r#"{"a":1}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a = 1 AND b = 'x'",
                T,
                r#"{"a":1,"b":"x"}"#,
                Some(r#"{"a":1}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a IN (1, 2, 3)",
                T,
                r#"{"a":2}"#,
                Some(r#"{"a":2}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE a IN (1, 3)",
                T,
                r#"{"a":2}"#,
                None,
            ),
            (
                "SELECT a FROM 'topic/subtopic' WHERE 'x' IN tags",
                T,
                r#"{"a":2,"tags":["y","x"]}"#,
                Some(r#"{"a":2}"#),
            ),
            // no FROM: Basic Ingest only rule
            ("SELECT a", "x", r#"{"a":1}"#, Some(r#"{"a":1}"#)),
        ],
    );
}

#[test]
fn types_and_number_printing() {
    check(
        V2,
        &[
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":10.0}"#,
                Some(r#"{"a":10}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":21.50}"#,
                Some(r#"{"a":21.5}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":1e3}"#,
                Some(r#"{"a":1000}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":-0.000000015}"#,
                Some(r#"{"a":-1.5E-8}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{ "a" : [ 1 , 2.50 , "x" , null , true ] }"#,
                Some(r#"{"a":[1,2.5,"x",null,true]}"#),
            ),
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":"\u00e9\n\"q\""}"#,
                Some("{\"a\":\"\u{e9}\\n\\\"q\\\"\"}"),
            ),
            (
                "SELECT cast(a AS Decimal) AS d FROM 'topic/subtopic'",
                T,
                r#"{"a":10}"#,
                Some(r#"{"d":10}"#),
            ),
            (
                "SELECT 1.5 * 2 AS x FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"x":3}"#),
            ),
            (
                "SELECT 47.696 AS lat, -122.3 AS lon, 5E-12 AS tiny FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"lat":47.696,"lon":-122.3,"tiny":5E-12}"#),
            ),
            (
                "SELECT true AS t, false AS f, NULL AS n, 'str' AS s, \"dq\" AS d FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"t":true,"f":false,"n":null,"s":"str","d":"dq"}"#),
            ),
            (
                "SELECT [lat, long] AS p FROM 'topic/subtopic'",
                T,
                r#"{"lat":1.5,"long":2}"#,
                Some(r#"{"p":[1.5,2]}"#),
            ),
            (
                "SELECT {'latitude': get(ll, 0), 'longitude': get(ll, 1)} AS p FROM 'topic/subtopic'",
                T,
                r#"{"ll":[47.6,-122.3]}"#,
                Some(r#"{"p":{"latitude":47.6,"longitude":-122.3}}"#),
            ),
            (
                "SELECT {\"key\": a.b} AS o FROM 'topic/subtopic'",
                T,
                r#"{"a":{"b":1}}"#,
                Some(r#"{"o":{"key":1}}"#),
            ),
            (
                "SELECT [1, missing, 2] AS arr FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"arr":[1,2]}"#),
            ),
            (
                "SELECT {'a': missing, 'b': 1} AS o FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"o":{"b":1}}"#),
            ),
        ],
    );
    check(
        V1,
        &[
            (
                "SELECT a FROM 'topic/subtopic'",
                T,
                r#"{"a":10.0}"#,
                Some(r#"{"a":10.0}"#),
            ),
            (
                "SELECT a * 2 AS b FROM 'topic/subtopic'",
                T,
                r#"{"a":2.5}"#,
                Some(r#"{"b":5.0}"#),
            ),
            (
                "SELECT cast(a AS Double) AS d FROM 'topic/subtopic'",
                T,
                r#"{"a":10}"#,
                Some(r#"{"d":10.0}"#),
            ),
            (
                "SELECT sql_version() AS v FROM 'topic/subtopic'",
                T,
                "{}",
                Some(r#"{"v":"2015-10-08"}"#),
            ),
        ],
    );
}

#[test]
fn operators() {
    check(
        V2,
        &[
            (
                "SELECT a + b AS x FROM 't'",
                "t",
                r#"{"a":1,"b":2}"#,
                Some(r#"{"x":3}"#),
            ),
            (
                "SELECT a + b AS x FROM 't'",
                "t",
                r#"{"a":1,"b":2.5}"#,
                Some(r#"{"x":3.5}"#),
            ),
            (
                "SELECT a + b AS x FROM 't'",
                "t",
                r#"{"a":"a","b":2}"#,
                Some(r#"{"x":"a2"}"#),
            ),
            (
                "SELECT a + b AS x FROM 't'",
                "t",
                r#"{"a":1,"b":"b"}"#,
                Some(r#"{"x":"1b"}"#),
            ),
            (
                "SELECT a + b AS x FROM 't'",
                "t",
                r#"{"a":true,"b":1}"#,
                Some("{}"),
            ),
            (
                "SELECT a - b AS x FROM 't'",
                "t",
                r#"{"a":"5","b":2}"#,
                Some(r#"{"x":3}"#),
            ),
            (
                "SELECT a - b AS x FROM 't'",
                "t",
                r#"{"a":"five","b":2}"#,
                Some("{}"),
            ),
            (
                "SELECT a * b AS x FROM 't'",
                "t",
                r#"{"a":3,"b":"1.5"}"#,
                Some(r#"{"x":4.5}"#),
            ),
            (
                "SELECT a / b AS x FROM 't'",
                "t",
                r#"{"a":7,"b":2}"#,
                Some(r#"{"x":3}"#),
            ),
            (
                "SELECT a / b AS x FROM 't'",
                "t",
                r#"{"a":7.0,"b":2}"#,
                Some(r#"{"x":3.5}"#),
            ),
            (
                "SELECT a / b AS x FROM 't'",
                "t",
                r#"{"a":7,"b":0}"#,
                Some("{}"),
            ),
            (
                "SELECT a % b AS x FROM 't'",
                "t",
                r#"{"a":8,"b":3}"#,
                Some(r#"{"x":2}"#),
            ),
            (
                "SELECT (50 - 32) * 5 / 9 AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"c":10}"#),
            ),
            (
                "SELECT -a AS x FROM 't'",
                "t",
                r#"{"a":4}"#,
                Some(r#"{"x":-4}"#),
            ),
            (
                "SELECT 2 + 3 * 4 AS x, (2 + 3) * 4 AS y FROM 't'",
                "t",
                "{}",
                Some(r#"{"x":14,"y":20}"#),
            ),
            (
                "SELECT a > b AS x FROM 't'",
                "t",
                r#"{"a":"10","b":9}"#,
                Some(r#"{"x":true}"#),
            ),
            (
                "SELECT a > b AS x FROM 't'",
                "t",
                r#"{"a":"ten","b":9}"#,
                Some("{}"),
            ),
            (
                "SELECT a >= b AS x, a <= b AS y, a < b AS z FROM 't'",
                "t",
                r#"{"a":2,"b":2.0}"#,
                Some(r#"{"x":true,"y":true,"z":false}"#),
            ),
            (
                "SELECT a = b AS x FROM 't'",
                "t",
                r#"{"a":1,"b":1.0}"#,
                Some(r#"{"x":true}"#),
            ),
            (
                "SELECT a = b AS x, a <> b AS y FROM 't'",
                "t",
                r#"{"a":"1","b":1}"#,
                Some(r#"{"x":false,"y":true}"#),
            ),
            (
                "SELECT a = b AS x FROM 't'",
                "t",
                r#"{"a":[1,2],"b":[1,2]}"#,
                Some(r#"{"x":true}"#),
            ),
            (
                "SELECT a = b AS x FROM 't'",
                "t",
                r#"{"a":[1,2],"b":[2,1]}"#,
                Some(r#"{"x":false}"#),
            ),
            (
                "SELECT a = b AS x FROM 't'",
                "t",
                r#"{"a":{"p":1,"q":2},"b":{"q":2,"p":1}}"#,
                Some(r#"{"x":true}"#),
            ),
            (
                "SELECT a <> b AS x FROM 't'",
                "t",
                r#"{"a":null,"b":null}"#,
                Some(r#"{"x":false}"#),
            ),
            ("SELECT a = b AS x FROM 't'", "t", r#"{"a":1}"#, Some("{}")),
            (
                "SELECT a AND b AS x, a OR b AS y FROM 't'",
                "t",
                r#"{"a":true,"b":"false"}"#,
                Some(r#"{"x":false,"y":true}"#),
            ),
            (
                "SELECT a AND b AS x FROM 't'",
                "t",
                r#"{"a":true,"b":1}"#,
                Some("{}"),
            ),
            (
                "SELECT a OR b AS x FROM 't'",
                "t",
                r#"{"a":true}"#,
                Some("{}"),
            ),
            (
                "SELECT NOT a AS x FROM 't'",
                "t",
                r#"{"a":"TRUE"}"#,
                Some(r#"{"x":false}"#),
            ),
            ("SELECT NOT a AS x FROM 't'", "t", r#"{"a":0}"#, Some("{}")),
            (
                "SELECT a = 'red' AS x FROM 't'",
                "t",
                r#"{"a":"Red"}"#,
                Some(r#"{"x":false}"#),
            ),
        ],
    );
}

#[test]
fn case_expressions() {
    check(
        V2,
        &[
            (
                "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END AS instructions FROM 't'",
                "t",
                r#"{"color":"yellow"}"#,
                Some(r#"{"instructions":"caution"}"#),
            ),
            (
                "SELECT CASE color WHEN 'green' THEN 'go' ELSE 'other' END AS i FROM 't'",
                "t",
                r#"{"color":"blue"}"#,
                Some(r#"{"i":"other"}"#),
            ),
            (
                "SELECT CASE color WHEN 'green' THEN 'go' END AS i FROM 't'",
                "t",
                r#"{"color":"blue"}"#,
                Some("{}"),
            ),
            (
                "SELECT CASE color WHEN 'green' THEN 'go' ELSE 'x' END AS i FROM 't'",
                "t",
                r#"{}"#,
                Some("{}"),
            ),
            (
                "SELECT CASE n WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS i FROM 't'",
                "t",
                r#"{"n":2.0}"#,
                Some(r#"{"i":"two"}"#),
            ),
            (
                "SELECT CASE WHEN t > 30 THEN 'hot' WHEN t > 20 THEN 'warm' ELSE 'cold' END AS i FROM 't'",
                "t",
                r#"{"t":25}"#,
                Some(r#"{"i":"warm"}"#),
            ),
        ],
    );
}

#[test]
fn nested_object_queries() {
    let payload = r#"{"e":[{"n":"temperature","u":"Cel","t":1234,"v":22.5},{"n":"light","t":1235,"v":135},{"n":"acidity","t":1236,"v":11}]}"#;
    check(
        V2,
        &[
            (
                "SELECT (SELECT v FROM e WHERE n = 'temperature') AS temperature FROM 't'",
                "t",
                payload,
                Some(r#"{"temperature":[{"v":22.5}]}"#),
            ),
            (
                "SELECT (SELECT VALUE v FROM e WHERE n = 'light') AS light FROM 't'",
                "t",
                payload,
                Some(r#"{"light":[135]}"#),
            ),
            (
                "SELECT get((SELECT VALUE v FROM e WHERE n = 'light'), 0) AS light FROM 't'",
                "t",
                payload,
                Some(r#"{"light":135}"#),
            ),
            (
                "SELECT (SELECT n, t FROM e WHERE v > 100) AS big FROM 't'",
                "t",
                payload,
                Some(r#"{"big":[{"n":"light","t":1235}]}"#),
            ),
            (
                "SELECT (SELECT * FROM e WHERE n = 'acidity') AS a FROM 't'",
                "t",
                payload,
                Some(r#"{"a":[{"n":"acidity","t":1236,"v":11}]}"#),
            ),
            (
                "SELECT (SELECT a, b FROM data2) AS o FROM 't'",
                "t",
                r#"{"data2":{"a":1,"b":2,"c":3}}"#,
                Some(r#"{"o":{"a":1,"b":2}}"#),
            ),
            (
                "SELECT (SELECT VALUE c FROM data2) AS o FROM 't'",
                "t",
                r#"{"data2":{"a":1,"b":2,"c":3}}"#,
                Some(r#"{"o":3}"#),
            ),
            (
                "SELECT (SELECT VALUE x FROM *) AS o FROM 't'",
                "t",
                r#"{"x":5}"#,
                Some(r#"{"o":5}"#),
            ),
            (
                "SELECT (SELECT v FROM missing) AS o FROM 't'",
                "t",
                payload,
                Some("{}"),
            ),
            // A nested query as a function argument needs no parentheses of its own (AWS
            // accepts `isNull(SELECT VALUE L1 FROM Pos)`), also inside another nested query.
            (
                "SELECT get(SELECT VALUE v FROM e WHERE n = 'light', 0) AS light FROM 't'",
                "t",
                payload,
                Some(r#"{"light":135}"#),
            ),
            (
                "SELECT isNull(SELECT VALUE L1 FROM Pos) AS n FROM 't'",
                "t",
                r#"{"Pos":{"L1":null}}"#,
                Some(r#"{"n":true}"#),
            ),
            (
                "SELECT (SELECT n FROM e WHERE isUndefined(SELECT VALUE u FROM *)) AS no_unit FROM 't'",
                "t",
                payload,
                Some(r#"{"no_unit":[{"n":"light"},{"n":"acidity"}]}"#),
            ),
        ],
    );
}

/// `SELECT * AS name` puts the whole payload under one key (AWS's DynamoDB action page uses
/// it), alone or with other items.
#[test]
fn star_with_an_alias() {
    check(
        V2,
        &[
            (
                "SELECT * AS message FROM 't'",
                "t",
                r#"{"a":1,"b":{"c":2}}"#,
                Some(r#"{"message":{"a":1,"b":{"c":2}}}"#),
            ),
            (
                "SELECT * AS message, topic() AS t FROM 't'",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"message":{"a":1},"t":"t"}"#),
            ),
            (
                "SELECT *, * AS copy FROM 't'",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"a":1,"copy":{"a":1}}"#),
            ),
        ],
    );
}

#[test]
fn functions_in_sql() {
    check(
        V2,
        &[
            (
                "SELECT abs(-5) AS a, abs('-5.123') AS b FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":5,"b":5.123}"#),
            ),
            (
                "SELECT ceil(1.2) AS a, ceil(-1.2) AS b, floor(-1.2) AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":2,"b":-1,"c":-2}"#),
            ),
            (
                "SELECT round(1.5) AS a, round(-1.5) AS b FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":2,"b":-2}"#),
            ),
            (
                "SELECT concat('con', 'cat') AS a, concat([1, 2, 3], 4) AS b FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":"concat","b":[1,2,3,4]}"#),
            ),
            (
                "SELECT upper('hello') AS u, lower(['HELLO']) AS l FROM 't'",
                "t",
                "{}",
                Some(r#"{"u":"HELLO","l":"[\"hello\"]"}"#),
            ),
            (
                "SELECT md5('hello') AS h FROM 't'",
                "t",
                "{}",
                Some(r#"{"h":"5d41402abc4b2a76b9719d911017c592"}"#),
            ),
            (
                "SELECT get(get(get(mydata, 'item2'), 0), 'my-key') AS v FROM 't'",
                "t",
                r#"{"mydata":{"item2":[{"my-key":"x"}]}}"#,
                Some(r#"{"v":"x"}"#),
            ),
            (
                "SELECT arr[1] AS v FROM 't'",
                "t",
                r#"{"arr":[10,20]}"#,
                Some(r#"{"v":20}"#),
            ),
            (
                "SELECT topic() AS t, topic(1) AS t1, topic(3) AS t3, topic(9) AS t9 FROM 'things/+/thingOne'",
                "things/myThings/thingOne",
                "{}",
                Some(r#"{"t":"things/myThings/thingOne","t1":"things","t3":"thingOne"}"#),
            ),
            (
                "SELECT clientid() AS c, timestamp() AS ts, traceid() AS tr, principal() AS p, accountid() AS a FROM 't'",
                "t",
                "{}",
                Some(
                    r#"{"c":"client-7","ts":1481825251155,"tr":"trace-1","p":"p1","a":"123456789012"}"#,
                ),
            ),
            (
                "SELECT sql_version() AS v FROM 't'",
                "t",
                "{}",
                Some(r#"{"v":"2016-03-23"}"#),
            ),
            (
                "SELECT topic(2) FROM 'sensors/+'",
                "sensors/kitchen",
                "{}",
                Some(r#"{"topic":"kitchen"}"#),
            ),
            (
                "SELECT cast(true AS Int) AS i, cast('12.7' AS Int) AS j, cast(topic(2) AS DECIMAL) AS d FROM 'a/+'",
                "a/3.25",
                "{}",
                Some(r#"{"i":1,"j":12,"d":3.25}"#),
            ),
            (
                "SELECT isUndefined(floor([1,2,3])) AS u, isNull(NULL) AS n FROM 't'",
                "t",
                "{}",
                Some(r#"{"u":true,"n":true}"#),
            ),
            (
                "SELECT decode(encoded_temp, 'base64').temperature AS temp FROM 't'",
                "t",
                r#"{"encoded_temp":"eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="}"#,
                Some(r#"{"temp":33}"#),
            ),
            (
                "SELECT transform('enrichArray', attributes, values) AS r FROM 't'",
                "t",
                r#"{"attributes":{"data1":1,"data2":2},"values":[{"a":1},{"b":2}]}"#,
                Some(r#"{"r":[{"a":1,"data1":1,"data2":2},{"b":2,"data1":1,"data2":2}]}"#),
            ),
            (
                "SELECT get_or_default(missing, 'dflt') AS v FROM 't'",
                "t",
                "{}",
                Some(r#"{"v":"dflt"}"#),
            ),
            (
                "SELECT regexp_replace('abcd', 'b(.*)d', '$1') AS r FROM 't'",
                "t",
                "{}",
                Some(r#"{"r":"ac"}"#),
            ),
            (
                "SELECT substring('012345', 1, 3) AS s FROM 't'",
                "t",
                "{}",
                Some(r#"{"s":"12"}"#),
            ),
        ],
    );
}

#[test]
fn set_variables() {
    check(
        V2,
        &[
            (
                "SET @c = (f - 32) * 5 / 9 SELECT @c AS celsius, humidity FROM 'device/data'",
                "device/data",
                r#"{"f":75.0,"humidity":60}"#,
                // AWS's page shows 23.89 ("shown rounded"); Decimal division keeps 34 digits
                // (BigDecimal with MathContext.DECIMAL128).
                Some(r#"{"celsius":23.88888888888888888888888888888889,"humidity":60}"#),
            ),
            (
                "SET @a = 1, @b = @a + 1 SELECT @b AS b FROM 't' WHERE @a = 1",
                "t",
                "{}",
                Some(r#"{"b":2}"#),
            ),
            (
                "SET @o = {'x': {'y': 3}} SELECT @o.x.y AS v FROM 't'",
                "t",
                "{}",
                Some(r#"{"v":3}"#),
            ),
        ],
    );
}

#[test]
fn binary_payloads() {
    check(
        V2,
        &[
            (
                "SELECT * FROM 'topic/subtopic'",
                T,
                "not json \u{1}",
                Some("not json \u{1}"),
            ),
            (
                "SELECT encode(*, 'base64') AS data FROM 'my_topic'",
                "my_topic",
                "hello",
                Some(r#"{"data":"aGVsbG8="}"#),
            ),
            (
                "SELECT encode(*, 'base64') AS data FROM 'my_topic'",
                "my_topic",
                r#"{"a":1}"#,
                Some(r#"{"data":"eyJhIjoxfQ=="}"#),
            ),
            (
                "SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 't' WHERE decode(encode(*, 'base64'), 'base64') > 50",
                "t",
                "80",
                Some(r#"{"value":80}"#),
            ),
            (
                "SELECT * FROM 't' WHERE device_type = 'thermostat'",
                "t",
                "\u{0}\u{1}",
                None,
            ),
            (
                "SELECT *, topic() AS t FROM 't'",
                "t",
                "raw",
                Some(r#"{"t":"t"}"#),
            ),
            ("SELECT * FROM 't'", "t", "80", Some("80")),
            ("SELECT * FROM 't'", "t", "[1, 2]", Some("[1,2]")),
            ("SELECT a FROM 't'", "t", r#"{"a":1"#, Some("{}")),
        ],
    );
}

#[test]
fn topic_filters_in_from() {
    check(
        V2,
        &[(
            "SELECT topic() AS t FROM '$aws/things/+/shadow/update/accepted'",
            "$aws/things/Pi/shadow/update/accepted",
            "{}",
            Some(r#"{"t":"$aws/things/Pi/shadow/update/accepted"}"#),
        )],
    );
}

#[test]
fn parse_error_is_flagged() {
    let rule = Rule::compile("SELECT a FROM 't'", V2).unwrap();
    assert!(rule.evaluate(&Message::new("t", b"{\"a\":")).parse_error);
    assert!(!rule.evaluate(&Message::new("t", b"binary")).parse_error);
    assert!(!rule.evaluate(&Message::new("t", b"{\"a\":1}")).parse_error);
}

#[test]
fn compile_errors_point_at_line_and_column() {
    let cases: &[(&str, SqlVersion, (u32, u32), &str)] = &[
        (
            "SELECT a FROM 't' WHERE",
            V2,
            (1, 24),
            "expected an expression",
        ),
        (
            "SELECT a\nFROM 't'\nWHERE a >",
            V2,
            (3, 10),
            "expected an expression",
        ),
        (
            "SELECT nosuch(a) FROM 't'",
            V2,
            (1, 8),
            "unknown function `nosuch`",
        ),
        (
            "SELECT aws_lambda('arn', *) FROM 't'",
            V2,
            (1, 8),
            "not supported",
        ),
        (
            "SELECT get_dynamodb('t', 'k', id, 'role') FROM 't'",
            V2,
            (1, 8),
            "not supported",
        ),
        (
            "SELECT\n  get_thing_shadow('t', 'r') AS s FROM 't'",
            V1,
            (2, 3),
            "needs SQL version 2016-03-23",
        ),
        (
            "SELECT get_secret('a','SecretString','k','r') FROM 't'",
            V2,
            (1, 8),
            "not supported",
        ),
        (
            "SELECT machinelearning_predict('m','r',*) FROM 't'",
            V2,
            (1, 8),
            "not supported",
        ),
        (
            "SELECT get_registry_data('DescribeThing','t','r') FROM 't'",
            V2,
            (1, 8),
            "not supported",
        ),
        ("SELECT abs(1, 2) FROM 't'", V2, (1, 8), "takes 1 argument"),
        ("SELECT a FROM \"t\"", V2, (1, 15), "single quotes"),
        ("SELECT a FROM 't/#/x'", V2, (1, 15), "`#`"),
        ("SELECT a FROM t", V2, (1, 15), "topic filter"),
        ("SELECT [1] AS a FROM 't'", V1, (1, 8), "2016-03-23"),
        (
            "SELECT encode(*, 'base64') AS a FROM 't'",
            V1,
            (1, 8),
            "2016-03-23",
        ),
        (
            "SELECT cast(a AS Boolean) AS a FROM 't'",
            V1,
            (1, 18),
            "unknown cast type",
        ),
        ("SELECT @x AS a FROM 't'", V2, (1, 8), "not SET"),
        ("SELECT a FROM 't' -- comment", V2, (1, 19), "comments"),
        ("SELECT CASE a END FROM 't'", V2, (1, 15), "WHEN"),
        ("SELECT a FROM 't' extra", V2, (1, 19), "end of statement"),
    ];
    for (sql, version, (line, col), needle) in cases {
        let err = Rule::compile(sql, *version).expect_err(sql);
        assert_eq!((err.line, err.col), (*line, *col), "{sql}: {err}");
        assert!(
            err.message.contains(needle),
            "{sql}: `{}` lacks `{needle}`",
            err.message
        );
    }
}

/// `get_mqtt_property(name)`: the MQTT 5 publish properties (README: correlation data as
/// base64 text, an absent format indicator of an MQTT 5 message is UNSPECIFIED_BYTES),
/// Undefined for an MQTT 3.1.1 message or an unknown name. Both paths.
#[test]
fn mqtt5_properties() {
    use rulewire_engine::MqttProperties;
    let props = MqttProperties {
        content_type: Some("application/json".into()),
        response_topic: Some("reply/7".into()),
        correlation_data: Some(vec![0, 1, 2, 250]),
        payload_format_indicator: Some(1),
    };
    let user = vec![("k".to_owned(), "v".to_owned())];
    let sql = "SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('response_topic') AS rt, \
               get_mqtt_property('correlation_data') AS cd, get_mqtt_property('format_indicator') AS fi, \
               get_mqtt_property('nope') AS x, get_user_properties('k') AS k FROM 't'";
    let rule = Rule::compile(sql, V2).unwrap();
    let msg = Message {
        user_properties: &user,
        mqtt_properties: &props,
        ..Message::new("t", b"{}")
    };
    let want =
        r#"{"ct":"application/json","rt":"reply/7","cd":"AAEC+g==","fi":"UTF8_DATA","k":["v"]}"#;
    assert_eq!(
        String::from_utf8(rule.evaluate(&msg).output.unwrap()).unwrap(),
        want
    );
    assert_eq!(rule.evaluate_batch(&[msg])[0], rule.evaluate(&msg));
    let plain = Message::new("t", b"{}");
    assert_eq!(rule.evaluate(&plain).output.unwrap(), b"{}");
    let unspecified = MqttProperties {
        payload_format_indicator: Some(0),
        ..Default::default()
    };
    let rule = Rule::compile(
        "SELECT VALUE get_mqtt_property('format_indicator') FROM 't'",
        V2,
    )
    .unwrap();
    let msg = Message {
        mqtt_properties: &unspecified,
        ..Message::new("t", b"{}")
    };
    assert_eq!(
        rule.evaluate(&msg).output.unwrap(),
        br#""UNSPECIFIED_BYTES""#
    );
}
