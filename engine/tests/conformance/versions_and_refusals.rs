//! Issue 11, the SQL forms AWS accepts (continued from `grammar.rs`): FROM topic filters,
//! Basic Ingest, the §3.14 SQL-version table (each row in both versions), forms rulewire
//! refuses at compile time (each with a message), and §4 substitution templates.

use super::{V1, V2, check};
use rulewire_engine::{Message, Rule, SqlVersion, Template};

/// `(sql, version, needle)`: compiling must fail with a message containing `needle`.
fn rejects(cases: &[(&str, SqlVersion, &str)]) {
    for (sql, version, needle) in cases {
        match Rule::compile(sql, *version) {
            Ok(_) => panic!("{sql} ({}) compiled; expected an error", version.as_str()),
            Err(e) => assert!(
                e.message.contains(needle),
                "{sql}: `{}` lacks `{needle}`",
                e.message
            ),
        }
    }
}

/// §3.11 FROM topic filters: `+`, `#` and AWS's `#` rule, case sensitivity, `$` topics.
#[test]
fn from_topic_filters() {
    use rulewire_engine::topic::matches;
    let cases: &[(&str, &str, bool)] = &[
        ("topic/#", "topic/subtopic", true),
        ("topic/#", "topic/subtopic-3/details", true),
        ("topic/#", "topic-2/subtopic-x", false),
        ("topic/+", "topic/subtopic", true),
        ("topic/+", "topic/subtopic-3/details", false),
        ("sensor/#", "sensor/", true),
        ("sensor/#", "sensor/temperature", true),
        ("sensor/#", "sensor/temperature/room1", true),
        ("sensor/#", "sensor", false),
        ("Topic/+", "topic/a", false),
        ("devices/+/data", "devices/d1/data", true),
        ("devices/+/data", "devices/d1/x/data", false),
        (
            "$aws/things/RaspberryPi/shadow/update/accepted",
            "$aws/things/RaspberryPi/shadow/update/accepted",
            true,
        ),
        ("#", "$aws/things/x", false),
    ];
    for (filter, topic, want) in cases {
        assert_eq!(matches(filter, topic), *want, "'{filter}' vs {topic}");
        let rule = Rule::compile(&format!("SELECT * FROM '{filter}'"), V2).unwrap();
        assert_eq!(rule.topic_filter(), Some(*filter));
    }
}

/// §6.1 Basic Ingest: FROM is optional; the service strips `$aws/rules/<rule>/` before the
/// engine sees the topic (the harness passes the stripped topic, as `Message.topic` documents).
#[test]
fn basic_ingest_forms() {
    let topic = "Buildings/Building5/Floor2/Room201/Lights";
    check(
        V2,
        &[
            (
                "SELECT topic() AS t, topic(3) AS t3",
                topic,
                "{}",
                Some(r#"{"t":"Buildings/Building5/Floor2/Room201/Lights","t3":"Floor2"}"#),
            ),
            (
                "SELECT topic(3) AS t3 FROM 'Buildings/#' WHERE state = 'on'",
                topic,
                r#"{"state":"on"}"#,
                Some(r#"{"t3":"Floor2"}"#),
            ),
            (
                "SELECT * WHERE state = 'on'",
                topic,
                r#"{"state":"off"}"#,
                None,
            ),
        ],
    );
    assert_eq!(Rule::compile("SELECT *", V2).unwrap().topic_filter(), None);
}

/// §3.14 the SQL-version table: each row, one case per version (V2's side of several rows is
/// also in the other tests).
#[test]
fn sql_version_table() {
    // Nested JSON selection works in both versions.
    check(
        V1,
        &[
            (
                "SELECT a.b.c AS x, a.b AS y FROM 't'",
                "t",
                r#"{"a":{"b":{"c":3}}}"#,
                Some(r#"{"x":3,"y":{"c":3}}"#),
            ),
            // SELECT VALUE of a single item.
            (
                "SELECT VALUE color FROM 't'",
                "t",
                r#"{"color":"red"}"#,
                Some(r#""red""#),
            ),
            // Whole-number decimals stay Decimal in V1, even after a cast.
            (
                "SELECT cast(10 AS Double) AS d, 10.0 AS e FROM 't'",
                "t",
                "{}",
                Some(r#"{"d":10.0,"e":10.0}"#),
            ),
            // Every V1 cast keyword.
            (
                "SELECT cast(1 AS String) AS a, cast(1 AS Nvarchar) AS b, cast(1 AS Text) AS c, cast(1 AS Ntext) AS d, cast(1 AS varchar) AS e, cast('2' AS Int) AS f, cast('2' AS Integer) AS g FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":"1","b":"1","c":"1","d":"1","e":"1","f":2,"g":2}"#),
            ),
            (
                "SELECT sql_version() AS v FROM 't'",
                "t",
                "{}",
                Some(r#"{"v":"2015-10-08"}"#),
            ),
        ],
    );
    check(
        V2,
        &[
            (
                "SELECT a.b.c AS x, a.b AS y FROM 't'",
                "t",
                r#"{"a":{"b":{"c":3}}}"#,
                Some(r#"{"x":3,"y":{"c":3}}"#),
            ),
            // The SQL-versions page example, verbatim.
            (
                "SELECT VALUE arr FROM 'topic'",
                "topic",
                r#"{"a":{"b":"c"},"arr":[1,2,3,4]}"#,
                Some("[1,2,3,4]"),
            ),
            (
                "SELECT cast(10 AS Decimal) AS d, 10.0 AS e FROM 't'",
                "t",
                "{}",
                Some(r#"{"d":10,"e":10}"#),
            ),
            (
                "SELECT cast('TRUE' AS Bool) AS a, cast(0 AS Boolean) AS b, cast('1.5' AS Decimal) AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":true,"b":false,"c":1.5}"#),
            ),
            (
                "SELECT decode(encode('hi', 'base64'), 'base64') AS s FROM 't'",
                "t",
                "{}",
                Some(r#"{"s":"hi"}"#),
            ),
            (
                "SELECT indexof('abcd', 'bc') AS a, isUndefined(5) AS b, length('hi') AS c, numbytes('hi') AS d, time_to_epoch('18 December 2015', 'dd MMMM yyyy') AS e FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":1,"b":false,"c":2,"d":2,"e":1450396800000}"#),
            ),
            (
                "SELECT parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000, 'America/Belize') AS p FROM 't'",
                "t",
                "{}",
                Some(r#"{"p":"1970.01.01 AD at 21:46:40 CST"}"#),
            ),
        ],
    );
    // The V1 side of the rows that are V2-only: a compile error naming 2016-03-23.
    rejects(&[
        ("SELECT (SELECT v FROM e) AS o FROM 't'", V1, "2016-03-23"),
        (
            "SELECT isNull(SELECT VALUE v FROM e) AS o FROM 't'",
            V1,
            "2016-03-23",
        ),
        ("SELECT {'a': 1} AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT [1] AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT decode(a, 'base64') AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT encode(a, 'base64') AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT indexof('a', 'b') AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT isUndefined(a) AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT length('a') AS o FROM 't'", V1, "2016-03-23"),
        ("SELECT numbytes('a') AS o FROM 't'", V1, "2016-03-23"),
        (
            "SELECT parse_time('yyyy', 0) AS o FROM 't'",
            V1,
            "2016-03-23",
        ),
        (
            "SELECT time_to_epoch('1', 'd') AS o FROM 't'",
            V1,
            "2016-03-23",
        ),
        (
            "SELECT transform('enrichArray', a, b) AS o FROM 't'",
            V1,
            "2016-03-23",
        ),
        (
            "SELECT cast(a AS Decimal) AS o FROM 't'",
            V1,
            "unknown cast type",
        ),
        (
            "SELECT cast(a AS Bool) AS o FROM 't'",
            V1,
            "unknown cast type",
        ),
        // External functions: refused in both versions (no AWS behind rulewire).
        (
            "SELECT get_dynamodb('t', 'k', id, 'r') AS o FROM 't'",
            V1,
            "not supported",
        ),
        (
            "SELECT aws_lambda('arn', *) AS o FROM 't'",
            V1,
            "not supported",
        ),
    ]);
}

/// Forms rulewire refuses at compile time, each with a message.
#[test]
fn refused_forms() {
    rejects(&[
        // §1: comments are not supported, in either style.
        ("SELECT a FROM 't' -- c", V2, "comments"),
        ("SELECT a /* c */ FROM 't'", V2, "comment"),
        // The spec shows no quoted identifiers; backticks are not IoT SQL.
        ("SELECT `a` FROM 't'", V2, "unexpected character"),
        // §4: `${...}` belongs to action fields, not to the SQL.
        ("SELECT ${topic()} AS t FROM 't'", V2, "expected"),
        // §3.15: one SET, before SELECT; each variable once; names ≤ 64 characters.
        ("SET @a = 1 SET @b = 2 SELECT @a FROM 't'", V2, "SELECT"),
        ("SELECT a FROM 't' SET @a = 1", V2, "end of statement"),
        ("SET @a = 1, @a = 2 SELECT @a FROM 't'", V2, "set twice"),
        (
            "SET @a1234567890123456789012345678901234567890123456789012345678901234 = 1 SELECT 1 FROM 't'",
            V2,
            "64 characters",
        ),
        // §3.8: SELECT VALUE takes one expression.
        ("SELECT VALUE a, b FROM 't'", V2, "end of statement"),
        // §3.16 #11/#12: the docs' typos (unquoted topic, stray comma before FROM).
        ("SELECT * from iot/rules", V2, "topic filter"),
        // (the `#` stops the tokenizer first: the message names the character, not FROM)
        ("SELECT * FROM topic/#", V2, "unexpected character `#`"),
        ("SELECT a, b, FROM 't'", V2, "FROM"),
        // §3.11: `+` and `#` fill a whole level; FROM needs single quotes.
        ("SELECT * FROM 'a/b+'", V2, "`+`"),
        ("SELECT * FROM \"a/b\"", V2, "single quotes"),
        // §3.7: a digit-led segment needs get().
        ("SELECT a.0 FROM 't'", V2, "get()"),
        // §2.1 external functions, whatever the version.
        (
            "SELECT *, get_dynamodb(\"InServiceDevices\", \"deviceId\", id, \"arn:aws:iam::12345678910:role/getdynamo\").location AS location FROM 'some/topic'",
            V2,
            "not supported",
        ),
        (
            "SELECT * FROM 't' WHERE machinelearning_predict('my-model', 'arn:aws:iam::1:role/r', *).predictedLabel=1",
            V2,
            "not supported",
        ),
        (
            "SELECT aws_lambda(\"arn:aws:lambda:us-east-1:account_id:function:lambda_function\", {\"payload\":attribute1}) as output FROM 't'",
            V2,
            "not supported",
        ),
        (
            "SELECT get_registry_data('DescribeThing', 't', 'r') AS o FROM 't'",
            V2,
            "not supported",
        ),
        (
            "SELECT get_secret('API_KEY', 'SecretString', 'API_KEY_VALUE', 'arn:aws:iam::12345678910:role/getsecret') AS o FROM 't'",
            V2,
            "not supported",
        ),
    ]);
}

/// §4 substitution templates: the documented forms, evaluated against the original message.
#[test]
fn substitution_template_forms() {
    let render = |text: &str, topic: &str, payload: &str| -> String {
        let t = Template::parse(text, V2).unwrap_or_else(|e| panic!("{text}: {e}"));
        let msg = Message {
            client_id: "client-7",
            timestamp_ms: 1481825251155,
            ..Message::new(topic, payload.as_bytes())
        };
        t.render(&msg)
    };
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "${topic()}/republish",
            "my/iot/topic",
            "{}",
            "my/iot/topic/republish",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:${topic()}",
            "f1",
            "{}",
            "arn:aws:lambda:us-east-1:123456789012:function:f1",
        ),
        (
            "${topic()}/${timestamp()}",
            "some/topic",
            "{}",
            "some/topic/1481825251155",
        ),
        (
            "device/${device_id}",
            "t",
            r#"{"device_id":"d7"}"#,
            "device/d7",
        ),
        ("${value}", "t", r#"{"value":21.5}"#, "21.5"),
        ("${clientId()}", "t", "{}", "client-7"),
        (
            "${replace(topic(), '/', '-') + '-' + timestamp()}",
            "some/topic",
            "{}",
            "some-topic-1481825251155",
        ),
        (
            "${parse_time('yyyy', timestamp(), 'UTC')}",
            "t",
            "{}",
            "2016",
        ),
        ("${cast(topic(2) AS DECIMAL)}", "a/3.25", "{}", "3.25"),
        // The CDK Timestream dimension: a nested query over an array payload.
        (
            "${get((SELECT TS FROM *), 0).TS}",
            "t",
            r#"[{"TS":7},{"TS":8}]"#,
            "7",
        ),
        // [UNDOC] Undefined renders as the empty string (README).
        ("x${missing}y", "t", "{}", "xy"),
    ];
    for (text, topic, payload, want) in cases {
        assert_eq!(render(text, topic, payload), *want, "{text} on {payload}");
    }
}

/// Issue 11: a `regexp_*` pattern written as a string literal is compiled with the rule. A
/// pattern Java rejects, or a Java construct rulewire cannot run, is a compile error at the
/// literal's line:col (AWS would throw on every message; rulewire would give Undefined on every
/// message). A pattern read from the payload still gives Undefined at run time.
#[test]
fn literal_regex_patterns_are_checked_when_the_rule_compiles() {
    // (sql, version, line:col of the literal, needles the message must contain)
    type Case<'a> = (&'a str, SqlVersion, (u32, u32), &'a [&'a str]);
    let refused: &[Case] = &[
        (
            "SELECT regexp_matches(s, '(') FROM 't'",
            V2,
            (1, 26),
            &["regexp_matches", "Java rejects", "'('", "unclosed group"],
        ),
        (
            "SELECT regexp_matches(s, '\\p{InGreek}') FROM 't'",
            V2,
            (1, 26),
            &["does not support", "Unicode blocks", "\\p{InGreek}"],
        ),
        (
            "SELECT a\nFROM 't'\nWHERE regexp_substr(s, '\\X') = 'x'",
            V1,
            (3, 24),
            &[
                "regexp_substr",
                "does not support",
                "\\X (grapheme cluster)",
            ],
        ),
        (
            "SELECT regexp_replace(s, \"a{2,1}\", 'x') AS r FROM 't'",
            V2,
            (1, 26),
            &["regexp_replace", "Java rejects", "illegal repetition range"],
        ),
        // Look-behind must have a bounded length in Java too.
        (
            "SELECT regexp_matches(s, '(?<=(ab)+)b') FROM 't'",
            V2,
            (1, 26),
            &["Java rejects", "look-behind"],
        ),
        // Parenthesised, nested in another call, in SET and inside a nested query.
        (
            "SELECT upper(regexp_substr(s, ('[a'))) AS u FROM 't'",
            V2,
            (1, 31),
            &["Java rejects", "unclosed character class"],
        ),
        (
            "SET @m = regexp_matches(s, '\\N{LATIN SMALL LETTER A}') SELECT @m FROM 't'",
            V2,
            (1, 28),
            &["does not support", "\\N{name}"],
        ),
        (
            "SELECT (SELECT VALUE regexp_matches(n, '(?c)a') FROM items) AS x FROM 't'",
            V2,
            (1, 40),
            &["does not support", "CANON_EQ"],
        ),
    ];
    for (sql, version, (line, col), needles) in refused {
        let err = match Rule::compile(sql, *version) {
            Ok(_) => panic!("{sql} compiled; expected a regex error"),
            Err(e) => e,
        };
        assert_eq!((err.line, err.col), (*line, *col), "{sql}: {err}");
        for needle in *needles {
            assert!(
                err.message.contains(needle),
                "{sql}: `{err}` lacks `{needle}`"
            );
        }
    }
    // Substitution templates are checked the same way (the column is the expression's).
    let err = Template::parse("x/${regexp_matches(topic(), '(')}", V2).unwrap_err();
    assert_eq!((err.line, err.col), (1, 5), "{err}");
    assert!(err.message.contains("Java rejects"), "{err}");

    // Valid patterns compile, look-behind included, and run.
    check(
        V2,
        &[
            (
                "SELECT regexp_matches(s, '(?<=id=)\\d+') AS a, regexp_substr(s, '(?<!x)\\d{2}') AS b, regexp_replace(s, '(?<=i?d{1,3})=', ':') AS c FROM 't'",
                "t",
                r#"{"s":"aid=42"}"#,
                Some(r#"{"a":true,"b":"42","c":"aid:42"}"#),
            ),
            // A pattern from the payload is only known per message: Undefined (key dropped).
            (
                "SELECT regexp_matches(s, p) AS m, regexp_substr(s, p) AS r FROM 't'",
                "t",
                r#"{"s":"a","p":"("}"#,
                Some("{}"),
            ),
            (
                "SELECT regexp_matches(s, p) AS m FROM 't'",
                "t",
                r#"{"s":"αβ","p":"\\p{InGreek}"}"#,
                Some("{}"),
            ),
            // Non-string literals go through the String conversion (as at run time); a Null
            // literal is Undefined at run time.
            (
                "SELECT regexp_matches(s, 12) AS m, regexp_matches(s, null) AS n FROM 't'",
                "t",
                r#"{"s":"a12"}"#,
                Some(r#"{"m":true}"#),
            ),
        ],
    );
    assert!(Rule::compile("SELECT regexp_matches(s, '(?<=a)b') AS m FROM 't'", V1).is_ok());
}
