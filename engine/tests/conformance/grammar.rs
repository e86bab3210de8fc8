//! Issue 11, "the SQL forms AWS accepts": every syntactic form `aws-iot-sql.md` shows (§1,
//! §3.5–3.15, §4 and the SQL in `/work/shared/seeds/`), one conformance case each, run through
//! both paths by [`check`]: the SELECT side here; topic filters, Basic Ingest, the SQL-version
//! table, refused forms and §4 templates in `versions_and_refusals.rs`. [UNDOC] marks a pinned
//! rulewire choice the docs do not settle.

use super::{V2, check};

const SENML: &str = r#"{"e":[{"n":"temperature","u":"Cel","t":1234,"v":22.5},{"n":"light","t":1235,"v":135},{"n":"acidity","t":1236,"v":11}]}"#;

/// §1 statement structure and §3.8 SELECT list forms, plus the seeds' rules.
#[test]
fn statement_and_select_list_forms() {
    check(
        V2,
        &[
            // seeds/004: `*` after other items; items keep their order, `*` merges in place.
            // [UNDOC] key order (JSON objects are unordered; rulewire writes list order).
            (
                "SELECT clientid() as ClientID, topic() as Topic, * FROM 'topic/#'",
                "topic/a",
                r#"{"x":1}"#,
                Some(r#"{"ClientID":"client-7","Topic":"topic/a","x":1}"#),
            ),
            // seeds/003: a statement over several lines.
            (
                "SELECT temperature, humidity\nFROM 'sensors/room1'\nWHERE temperature > 30",
                "sensors/room1",
                r#"{"temperature":31,"humidity":40,"other":1}"#,
                Some(r#"{"temperature":31,"humidity":40}"#),
            ),
            (
                "SELECT temperature, humidity\nFROM 'sensors/room1'\nWHERE temperature > 30",
                "sensors/room1",
                r#"{"temperature":30,"humidity":40}"#,
                None,
            ),
            (
                "SELECT * FROM 'devices/+/data'",
                "devices/d1/data",
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            // §1: "SELECT * from" (lower-case keyword in the docs).
            (
                "SELECT * from 'topic/#'",
                "topic/x",
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            // §1: names with spaces can't be fields but pass through `*`.
            (
                "SELECT * FROM 't'",
                "t",
                r#"{"a b":1,"c":2}"#,
                Some(r#"{"a b":1,"c":2}"#),
            ),
            // §4 documented example: `SELECT *, timestamp() AS timestamp` adds the key.
            (
                "SELECT *, timestamp() AS timestamp FROM 'my/iot/topic'",
                "my/iot/topic",
                r#"{"deviceid":"iot123","temp":54.98,"humidity":32.43,"coords":{"latitude":47.615694,"longitude":-122.3359976}}"#,
                Some(
                    r#"{"deviceid":"iot123","temp":54.98,"humidity":32.43,"coords":{"latitude":47.615694,"longitude":-122.3359976},"timestamp":1481825251155}"#,
                ),
            ),
            // §3.13: adding data beside `*` (a JSON payload here).
            (
                "SELECT *, principal() as principal, timestamp() as time FROM 't'",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"a":1,"principal":"p1","time":1481825251155}"#),
            ),
            // §3.13 "string input to JSON": decode(encode(*)) gives the JSON document, or a
            // String when the text is not JSON (§2.2 decode).
            (
                "SELECT decode(encode(*, 'base64'), 'base64') AS payload FROM 'topic'",
                "topic",
                r#"{"a":1}"#,
                Some(r#"{"payload":{"a":1}}"#),
            ),
            (
                "SELECT decode(encode(*, 'base64'), 'base64') AS payload FROM 'topic'",
                "topic",
                "hello",
                Some(r#"{"payload":"hello"}"#),
            ),
            // AS with a dotted output name builds nested objects. [UNDOC]
            (
                "SELECT foo.bar AS bar.baz FROM 't'",
                "t",
                r#"{"foo":{"bar":1}}"#,
                Some(r#"{"bar":{"baz":1}}"#),
            ),
            (
                "SELECT foo.bar AS bar.baz FROM 't'",
                "t",
                r#"{"foo":{"other":1}}"#,
                Some("{}"),
            ),
            // `SELECT * AS name` alone (DynamoDB action page) on a non-object payload. [UNDOC]
            (
                "SELECT * AS message FROM 't'",
                "t",
                "[1,2]",
                Some(r#"{"message":[1,2]}"#),
            ),
            // §3.8 SELECT VALUE forms.
            (
                "SELECT VALUE {'t': temp, 'topic': topic()} FROM 't'",
                "t",
                r#"{"temp":20}"#,
                Some(r#"{"t":20,"topic":"t"}"#),
            ),
            // §5.3: `SELECT VALUE transform(...)` gives an Array (for batchMode actions).
            (
                "SELECT VALUE transform('enrichArray', attributes, values) FROM 't'",
                "t",
                r#"{"attributes":{"d":1},"values":[{"a":1},{"b":2}]}"#,
                Some(r#"[{"a":1,"d":1},{"b":2,"d":1}]"#),
            ),
            (
                "SELECT VALUE * FROM 't'",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            // An attribute named `value` is still a field when no expression follows. [UNDOC]
            (
                "SELECT value FROM 't'",
                "t",
                r#"{"value":3}"#,
                Some(r#"{"value":3}"#),
            ),
            // §3.12 / §3.7: SELECT aliases are not visible in WHERE.
            (
                "SELECT a AS b FROM 't' WHERE b = 1",
                "t",
                r#"{"a":1}"#,
                None,
            ),
            // §3.13 WHERE on timestamp(): 1481825251155 % 12 = 3, % 5 = 0.
            (
                "SELECT * FROM 't' WHERE timestamp() % 12 = 0",
                "t",
                r#"{"a":1}"#,
                None,
            ),
            (
                "SELECT * FROM 't' WHERE timestamp() % 5 = 0",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            // §3.6: a double-quoted string on the right of `=` in WHERE.
            (
                "SELECT a FROM 't' WHERE a = \"myValue\"",
                "t",
                r#"{"a":"myValue"}"#,
                Some(r#"{"a":"myValue"}"#),
            ),
            // WHERE on topic levels (the tutorials' `topic(2)`).
            (
                "SELECT topic(2) AS id FROM 'things/+' WHERE topic(2) <> 'ignored'",
                "things/t9",
                "{}",
                Some(r#"{"id":"t9"}"#),
            ),
            // WHERE with a nested query (§3.7 `get((SELECT ...),0).v` pattern).
            (
                "SELECT e FROM 't' WHERE get((SELECT v FROM e WHERE n = 'light'), 0).v > 100",
                "t",
                r#"{"e":[{"n":"light","v":135}]}"#,
                Some(r#"{"e":[{"n":"light","v":135}]}"#),
            ),
        ],
    );
}

/// §3.15 SET: variables in SELECT, WHERE, other SETs, nested SELECTs and function arguments;
/// member access; keywords in any case.
#[test]
fn set_clause_forms() {
    check(
        V2,
        &[
            // The SET page example, verbatim (an Int payload). The page shows 23.89; §3.5's
            // operator table says Int / Int is an Int, which rulewire follows (README; the
            // conflict is §3.16 #10). The Decimal-input variant is in `set_variables`.
            (
                "SET @temp_celsius = (temp_fahrenheit - 32) * 5 / 9 SELECT @temp_celsius AS celsius, humidity FROM 'device/data'",
                "device/data",
                r#"{"temp_fahrenheit": 75, "humidity": 60}"#,
                Some(r#"{"celsius":23,"humidity":60}"#),
            ),
            (
                "SET @min = 100 SELECT (SELECT VALUE n FROM e WHERE v > @min) AS big FROM 't'",
                "t",
                SENML,
                Some(r#"{"big":["light"]}"#),
            ),
            (
                "SET @s = name SELECT upper(@s) AS u FROM 't'",
                "t",
                r#"{"name":"hello"}"#,
                Some(r#"{"u":"HELLO"}"#),
            ),
            (
                "SET @t = temp SELECT temp FROM 't' WHERE @t > 50",
                "t",
                r#"{"temp":40}"#,
                None,
            ),
            (
                "SET @r = state.reported SELECT @r.temp AS t, @r AS all FROM 't'",
                "t",
                r#"{"state":{"reported":{"temp":21}}}"#,
                Some(r#"{"t":21,"all":{"temp":21}}"#),
            ),
            // An Undefined variable behaves as Undefined: its key is dropped.
            (
                "SET @x = missing SELECT @x AS x, 1 AS one FROM 't'",
                "t",
                "{}",
                Some(r#"{"one":1}"#),
            ),
            (
                "set @a = 2, @b_2 = @a * 3 select value @b_2 from 't'",
                "t",
                "{}",
                Some("6"),
            ),
            (
                "SET @t = temp\nSELECT @t AS t\nFROM 't'\nWHERE @t IN (1, 2)",
                "t",
                r#"{"temp":2}"#,
                Some(r#"{"t":2}"#),
            ),
        ],
    );
}

/// §3.9 nested queries, including `FROM *` over an array or object payload.
#[test]
fn nested_query_forms() {
    let arr = r#"[{"TS":1,"v":2},{"TS":3,"v":4}]"#;
    check(
        V2,
        &[
            // A real-world CDK rule's Timestream dimension: `FROM *` over an ARRAY payload
            // iterates its elements.
            (
                "SELECT get((SELECT TS FROM *), 0).TS AS ts FROM 't'",
                "t",
                arr,
                Some(r#"{"ts":1}"#),
            ),
            (
                "SELECT get((SELECT *, topic() AS topic FROM *), 0) AS first FROM 't'",
                "t",
                arr,
                Some(r#"{"first":{"TS":1,"v":2,"topic":"t"}}"#),
            ),
            (
                "SELECT VALUE get((SELECT *, topic() AS topic FROM *), 0) FROM 't'",
                "t",
                arr,
                Some(r#"{"TS":1,"v":2,"topic":"t"}"#),
            ),
            // Over an OBJECT payload the nested query returns the projected object (§3.9:
            // "(select a, b from data2) returns the object"), and get(Object, Int) is
            // Undefined (§2.2: "Anything else→Undefined"), so the key is left out (§3.1).
            (
                "SELECT get((SELECT *, topic() AS topic FROM *), 0) AS first FROM 't'",
                "t",
                r#"{"TS":1}"#,
                Some("{}"),
            ),
            (
                "SELECT (SELECT *, topic() AS topic FROM *) AS o FROM 't'",
                "t",
                r#"{"TS":1}"#,
                Some(r#"{"o":{"TS":1,"topic":"t"}}"#),
            ),
            (
                "SELECT get((SELECT TS FROM *), 0).TS AS ts FROM 't'",
                "t",
                r#"{"TS":1}"#,
                Some("{}"),
            ),
            // §3.9 over an array: no element passes → an empty array. [DERIVED]
            (
                "SELECT (SELECT v FROM e WHERE n = 'none') AS o FROM 't'",
                "t",
                SENML,
                Some(r#"{"o":[]}"#),
            ),
            // §3.9 verbatim, lower-case keywords.
            (
                "SELECT (select a, b from data2) AS o, (select value c from data2) AS c FROM 't'",
                "t",
                r#"{"data2":{"a":1,"b":2,"c":3}}"#,
                Some(r#"{"o":{"a":1,"b":2},"c":3}"#),
            ),
            // FROM a dotted attribute path.
            (
                "SELECT (SELECT VALUE v FROM a.e) AS o FROM 't'",
                "t",
                r#"{"a":{"e":[{"v":1},{"v":2}]}}"#,
                Some(r#"{"o":[1,2]}"#),
            ),
            // §3.7: `.` after get() of a nested query's result.
            (
                "SELECT get((SELECT v FROM e WHERE n = 'light'), 0).v AS light FROM 't'",
                "t",
                SENML,
                Some(r#"{"light":135}"#),
            ),
            // Nested query without its own parentheses inside another function's argument
            // list, and in an object literal (aws_lambda inputJson style).
            (
                "SELECT isUndefined(SELECT VALUE u FROM *) AS no_u FROM 't'",
                "t",
                r#"{"u":"Cel"}"#,
                Some(r#"{"no_u":false}"#),
            ),
            (
                "SELECT {'t': (SELECT VALUE v FROM e WHERE v < 100)} AS o FROM 't'",
                "t",
                SENML,
                Some(r#"{"o":{"t":[22.5,11]}}"#),
            ),
        ],
    );
}

/// §3.6 literals: strings (both quotes), numbers incl. exponent forms, booleans, null,
/// object and array literals.
#[test]
fn literal_forms() {
    check(
        V2,
        &[
            // The parse_time example: a double-quoted string containing single quotes.
            (
                "SELECT \"yyyy.MM.dd G 'at' HH:mm:ss z\" AS p FROM 't'",
                "t",
                "{}",
                Some(r#"{"p":"yyyy.MM.dd G 'at' HH:mm:ss z"}"#),
            ),
            // [UNDOC] a doubled quote is a literal quote; a backslash is an ordinary character.
            (
                "SELECT 'it''s' AS a, \"say \"\"hi\"\"\" AS b, 'a\\nb' AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":"it's","b":"say \"hi\"","c":"a\\nb"}"#),
            ),
            // Exponent forms (`-2.411E247`, `5E-12`), lower-case `e`, a `+` exponent sign.
            (
                "SELECT -2.411E247 < 0 AS neg, 1.5e3 AS x, 1E+2 = 100 AS y, 5E-12 > 0 AS z FROM 't'",
                "t",
                "{}",
                Some(r#"{"neg":true,"x":1500,"y":true,"z":true}"#),
            ),
            (
                "SELECT 0.5 AS h, -7 AS n, 12345678901234567890 AS big FROM 't'",
                "t",
                "{}",
                Some(r#"{"h":0.5,"n":-7,"big":12345678901234567890}"#),
            ),
            // Keyword literals in any case.
            (
                "SELECT Null AS a, null AS b, TRUE AS c, False AS d FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":null,"b":null,"c":true,"d":false}"#),
            ),
            // Object literal with double-quoted keys (`{"payload":attribute1}`), nesting,
            // empty literals.
            (
                "SELECT {\"payload\": attribute1, 'n': [1, {'b': [true]}]} AS o, {} AS e, [] AS a FROM 't'",
                "t",
                r#"{"attribute1":"x"}"#,
                Some(r#"{"o":{"payload":"x","n":[1,{"b":[true]}]},"e":{},"a":[]}"#),
            ),
            (
                "SELECT [lat, long] AS p, {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} AS q FROM 't'",
                "t",
                r#"{"lat":1,"long":2,"lat_long":[3,4]}"#,
                Some(r#"{"p":[1,2],"q":{"latitude":3,"longitude":4}}"#),
            ),
        ],
    );
}

/// §3.5 operators: precedence and associativity ([UNDOC] in AWS; rulewire follows standard
/// SQL as its README states), and the forms not covered by `operators`.
#[test]
fn operator_precedence_and_forms() {
    check(
        V2,
        &[
            (
                "SELECT 10 - 4 - 3 AS a, 100 / 10 / 5 AS b, 2 * 3 % 4 AS c, -2 * 3 AS d, 2 - -3 AS e FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":3,"b":2,"c":2,"d":-6,"e":5}"#),
            ),
            (
                "SELECT 1 + 2 = 3 AS a FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":true}"#),
            ),
            (
                "SELECT true OR false AND false AS a, NOT true AND false AS b, NOT 1 = 2 AS c, (true OR false) AND false AS d FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":true,"b":false,"c":true,"d":false}"#),
            ),
            // `+` with a String on either side concatenates (§3.5), left to right.
            (
                "SELECT 1 + 2 + 'x' AS a, 'x' + 1 + 2 AS b FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":"3x","b":"x12"}"#),
            ),
            // `%` with strings that convert (§3.5) and unary minus on an attribute.
            (
                "SELECT '8' % 3 AS a, -(a + 1) AS b FROM 't'",
                "t",
                r#"{"a":2}"#,
                Some(r#"{"a":2,"b":-3}"#),
            ),
            // [UNDOC] `!=` accepted for `<>` (README).
            (
                "SELECT 1 != 2 AS a FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":true}"#),
            ),
            // IN with an Undefined left side is not true.
            (
                "SELECT a FROM 't' WHERE missing IN (1, 2)",
                "t",
                r#"{"a":1}"#,
                None,
            ),
        ],
    );
}

/// §3.7 JSON extensions: get() on nested keys, `.` on arrays, `[n]`.
#[test]
fn json_extension_forms() {
    check(
        V2,
        &[
            // The JSON extensions page example, verbatim (double quotes, index "0").
            (
                "SELECT get(get(get(mydata,\"item2\"),\"0\"),\"my-key\") AS v FROM 't'",
                "t",
                r#"{"mydata":{"item2":[{"my-key":"x"}]}}"#,
                Some(r#"{"v":"x"}"#),
            ),
            // Names with digits work in dot notation when they don't start with one.
            (
                "SELECT mydata.item2 AS v FROM 't'",
                "t",
                r#"{"mydata":{"item2":[1]}}"#,
                Some(r#"{"v":[1]}"#),
            ),
            // A hyphen in dot notation is subtraction (the docs: it "does not work"):
            // `mydata.my - key` is Undefined.
            (
                "SELECT mydata.my-key AS v FROM 't'",
                "t",
                r#"{"mydata":{"my-key":1}}"#,
                Some("{}"),
            ),
            // `.` on an array is Undefined (§3.7: `.` follows an object). [UNDOC]
            (
                "SELECT arr.x AS v FROM 't'",
                "t",
                r#"{"arr":[{"x":1}]}"#,
                Some("{}"),
            ),
            // [UNDOC] `[n]` indexing extension, chained with `.`; out of range is Undefined.
            (
                "SELECT arr[0].x AS v, arr[5] AS w, get(arr, -1) AS z FROM 't'",
                "t",
                r#"{"arr":[{"x":1}]}"#,
                Some(r#"{"v":1}"#),
            ),
            // get() on an object key, on a string, on a function result.
            (
                "SELECT get({'a': 'b'}, 'a') AS a, get(['a', 'b', 'c'], 1) AS b, get(topic(), 0) AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":"b","b":"b","c":"t"}"#),
            ),
        ],
    );
}

/// §1: keywords and function names are case-insensitive; the docs' own spellings.
#[test]
fn case_insensitive_names() {
    check(
        V2,
        &[
            (
                "SELECT Round(1.2) AS a, Round(-1.5) AS b, Ltrim(' h i ') AS c, Nanvl(8, 3) AS d, Trim(' hi ') AS e FROM 't'",
                "t",
                "{}",
                Some(r#"{"a":1,"b":-2,"c":"h i ","d":8,"e":"hi"}"#),
            ),
            (
                "SELECT cast(x as Int) AS a, CAST(x AS INTEGER) AS b, cast(x AS varchar) AS c, ISNULL(NULL) AS d FROM 't'",
                "t",
                r#"{"x":2.7}"#,
                Some(r#"{"a":2,"b":2,"c":"2.7","d":true}"#),
            ),
            (
                "Select Value a From 't' Where a > 0 And Not a = 5 Or a In (7)",
                "t",
                r#"{"a":3}"#,
                Some("3"),
            ),
            (
                "select case a when 1 then 'one' else 'other' end as c from 't'",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"c":"one"}"#),
            ),
        ],
    );
}

/// §3.10 CASE: the simple form with an Undefined operand, a nested CASE, CASE in WHERE;
/// the searched form is an [UNDOC] rulewire extension (README).
#[test]
fn case_forms() {
    check(
        V2,
        &[
            (
                "SELECT CASE missing WHEN 1 THEN 'a' ELSE 'b' END AS c FROM 't'",
                "t",
                "{}",
                Some("{}"),
            ),
            (
                "SELECT CASE a WHEN 1 THEN CASE b WHEN 2 THEN 'ab' END ELSE 'x' END AS c FROM 't'",
                "t",
                r#"{"a":1,"b":2}"#,
                Some(r#"{"c":"ab"}"#),
            ),
            (
                "SELECT a FROM 't' WHERE CASE a WHEN 1 THEN true ELSE false END",
                "t",
                r#"{"a":1}"#,
                Some(r#"{"a":1}"#),
            ),
            (
                "SELECT CASE WHEN missing > 1 THEN 'big' ELSE 'else' END AS c FROM 't'",
                "t",
                "{}",
                Some(r#"{"c":"else"}"#),
            ),
        ],
    );
}
