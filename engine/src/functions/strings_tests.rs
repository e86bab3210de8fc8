//! Tests of the string functions: every documented example plus edge cases.

use super::*;
use crate::value::{Object, SqlVersion::V2016_03_23 as V2};
use Value::{Binary, Bool, Int, Null, Undefined};

/// The Decimal of a double's shortest spelling (tests spell Decimals as literals).
#[allow(non_snake_case)]
fn Decimal(x: f64) -> Value {
    Value::double(x)
}

fn s(x: &str) -> Value {
    Value::str(x)
}
fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

#[test]
fn chr_examples() {
    assert_eq!(chr(&[Int(65)], V2), s("A"));
    assert_eq!(chr(&[Int(49)], V2), s("1"));
    assert_eq!(chr(&[Decimal(65.9)], V2), s("A"));
    assert_eq!(chr(&[s("65")], V2), s("A"));
    assert_eq!(chr(&[Int(128)], V2), Undefined);
    assert_eq!(chr(&[Int(-1)], V2), Undefined);
    assert_eq!(chr(&[Bool(true)], V2), Undefined);
    assert_eq!(chr(&[Null], V2), Undefined);
}

#[test]
fn concat_doc_examples() {
    assert_eq!(concat(&[], V2), Undefined);
    assert_eq!(concat(&[Int(1)], V2), s("1"));
    assert_eq!(
        concat(&[arr(vec![Int(1), Int(2), Int(3)]), Int(4)], V2),
        arr(vec![Int(1), Int(2), Int(3), Int(4)])
    );
    assert_eq!(
        concat(&[arr(vec![Int(1), Int(2), Int(3)]), s("hello")], V2),
        arr(vec![Int(1), Int(2), Int(3), s("hello")])
    );
    assert_eq!(concat(&[s("con"), s("cat")], V2), s("concat"));
    assert_eq!(concat(&[Int(1), s("hello")], V2), s("1hello"));
    assert_eq!(concat(&[s("he"), s("is"), s("man")], V2), s("heisman"));
    assert_eq!(
        concat(
            &[
                arr(vec![Int(1), Int(2), Int(3)]),
                s("hello"),
                arr(vec![Int(4), Int(5), Int(6)])
            ],
            V2
        ),
        arr(vec![
            Int(1),
            Int(2),
            Int(3),
            s("hello"),
            Int(4),
            Int(5),
            Int(6)
        ])
    );
}

#[test]
fn concat_edge_cases() {
    assert_eq!(concat(&[Int(1), Int(2)], V2), s("12"));
    assert_eq!(
        concat(&[s("a"), Decimal(1.5), Bool(true)], V2),
        s("a1.5true")
    );
    assert_eq!(concat(&[s("a"), Null], V2), Undefined);
    assert_eq!(concat(&[s("a"), Undefined], V2), Undefined);
    assert_eq!(concat(&[arr(vec![]), Null], V2), arr(vec![Null]));
    assert_eq!(
        concat(&[arr(vec![arr(vec![Int(1)])]), Int(2)], V2),
        arr(vec![arr(vec![Int(1)]), Int(2)])
    );
    assert_eq!(concat(&[arr(vec![Int(1)])], V2), arr(vec![Int(1)]));
    let obj = Value::Object(Object(vec![("a".into(), Int(1))]));
    assert_eq!(concat(&[s("x"), obj], V2), s("x{\"a\":1}"));
}

#[test]
fn starts_ends_with() {
    assert_eq!(endswith(&[s("cat"), s("at")], V2), Bool(true));
    assert_eq!(startswith(&[s("ranger"), s("ran")], V2), Bool(true));
    assert_eq!(startswith(&[s("ranger"), s("ger")], V2), Bool(false));
    assert_eq!(endswith(&[Int(123), Int(23)], V2), Bool(true));
    assert_eq!(startswith(&[Null, s("a")], V2), Undefined);
    assert_eq!(endswith(&[s("a"), Undefined], V2), Undefined);
}

#[test]
fn indexof_length_numbytes() {
    assert_eq!(indexof(&[s("abcd"), s("bc")], V2), Int(1));
    assert_eq!(indexof(&[s("abcd"), s("x")], V2), Int(-1));
    assert_eq!(indexof(&[s("€ab"), s("b")], V2), Int(2));
    assert_eq!(indexof(&[Int(12345), Int(34)], V2), Int(2));
    assert_eq!(indexof(&[Null, s("a")], V2), Undefined);
    assert_eq!(length(&[s("hi")], V2), Int(2));
    assert_eq!(length(&[Bool(false)], V2), Int(5));
    assert_eq!(length(&[s("€€")], V2), Int(2));
    assert_eq!(length(&[Undefined], V2), Undefined);
    assert_eq!(numbytes(&[s("hi")], V2), Int(2));
    assert_eq!(numbytes(&[s("€")], V2), Int(3));
    assert_eq!(numbytes(&[Null], V2), Undefined);
}

#[test]
fn lower_upper() {
    assert_eq!(lower(&[s("HELLO")], V2), s("hello"));
    assert_eq!(lower(&[arr(vec![s("HELLO")])], V2), s("[\"hello\"]"));
    assert_eq!(upper(&[s("hello")], V2), s("HELLO"));
    assert_eq!(upper(&[arr(vec![s("hello")])], V2), s("[\"HELLO\"]"));
    assert_eq!(upper(&[Bool(true)], V2), s("TRUE"));
    assert_eq!(lower(&[Null], V2), Undefined);
}

#[test]
fn pads() {
    assert_eq!(lpad(&[s("hello"), Int(2)], V2), s("  hello"));
    assert_eq!(lpad(&[Int(1), Int(3)], V2), s("   1"));
    assert_eq!(rpad(&[s("hello"), Int(2)], V2), s("hello  "));
    assert_eq!(rpad(&[Int(1), Int(3)], V2), s("1   "));
    assert_eq!(lpad(&[s("x"), Int(-5)], V2), s("x"));
    assert_eq!(lpad(&[s("x"), Decimal(2.9)], V2), s("  x"));
    assert_eq!(rpad(&[s("x"), s("1")], V2), s("x "));
    assert_eq!(rpad(&[s(""), Int(5000)], V2), s(&" ".repeat(1000)));
    assert_eq!(lpad(&[s("x"), Bool(true)], V2), Undefined);
    assert_eq!(lpad(&[Null, Int(1)], V2), Undefined);
}

#[test]
fn trims() {
    // The doc's `Ltrim(" h i ")` = "hi " is a typo (§3.16 item 4).
    assert_eq!(ltrim(&[s(" h i ")], V2), s("h i "));
    assert_eq!(rtrim(&[s(" h i ")], V2), s(" h i"));
    assert_eq!(trim(&[s(" hi ")], V2), s("hi"));
    assert_eq!(trim(&[s("\t\n hi \t")], V2), s("hi"));
    assert_eq!(trim(&[Int(5)], V2), s("5"));
    assert_eq!(trim(&[Null], V2), Undefined);
}

#[test]
fn replace_examples() {
    assert_eq!(replace(&[s("abcd"), s("bc"), s("x")], V2), s("axd"));
    assert_eq!(replace(&[s("abcdabcd"), s("b"), s("x")], V2), s("axcdaxcd"));
    assert_eq!(replace(&[s("a.b"), s("."), s("$1")], V2), s("a$1b"));
    assert_eq!(replace(&[Int(1212), Int(1), Int(3)], V2), s("3232"));
    assert_eq!(replace(&[s("abc"), Null, s("x")], V2), Undefined);
}

#[test]
fn substring_doc_examples() {
    assert_eq!(substring(&[s("012345"), Int(0)], V2), s("012345"));
    assert_eq!(substring(&[s("012345"), Int(2)], V2), s("2345"));
    assert_eq!(substring(&[s("012345"), Decimal(2.745)], V2), s("2345"));
    assert_eq!(substring(&[Int(123), Int(2)], V2), s("3"));
    assert_eq!(substring(&[s("012345"), Int(-1)], V2), s("012345"));
    assert_eq!(substring(&[Bool(true), Decimal(1.2)], V2), s("rue"));
    assert_eq!(
        substring(&[Bool(false), Decimal(-2.411E247)], V2),
        s("false")
    );
    assert_eq!(substring(&[s("012345"), Int(1), Int(3)], V2), s("12"));
    assert_eq!(
        substring(&[s("012345"), Int(-50), Int(50)], V2),
        s("012345")
    );
    assert_eq!(substring(&[s("012345"), Int(3), Int(1)], V2), s(""));
}

#[test]
fn substring_edges() {
    assert_eq!(substring(&[s("€uro"), Int(1)], V2), s("uro"));
    assert_eq!(substring(&[s("012345"), Int(9)], V2), s(""));
    assert_eq!(substring(&[s("012345"), s("2")], V2), s("2345"));
    assert_eq!(substring(&[s("012345"), Null], V2), Undefined);
    assert_eq!(substring(&[s("012345"), Int(1), Bool(true)], V2), Undefined);
    assert_eq!(substring(&[Undefined, Int(1)], V2), Undefined);
}

#[test]
fn regexp_doc_examples() {
    assert_eq!(regexp_matches(&[s("aaaa"), s("a{2,}")], V2), Bool(true));
    assert_eq!(regexp_matches(&[s("aaaa"), s("b")], V2), Bool(false));
    assert_eq!(regexp_replace(&[s("abcd"), s("bc"), s("x")], V2), s("axd"));
    assert_eq!(
        regexp_replace(&[s("abcd"), s("b(.*)d"), s("$1")], V2),
        s("ac")
    );
    assert_eq!(regexp_substr(&[s("hihihello"), s("hi")], V2), s("hi"));
    assert_eq!(regexp_substr(&[s("hihihello"), s("(hi)*")], V2), s("hihi"));
}

#[test]
fn regexp_edges() {
    assert_eq!(regexp_matches(&[s("abc"), s("(")], V2), Undefined);
    // Java look-around (AWS gives true; the `regex` crate refused it before).
    assert_eq!(regexp_matches(&[s("abc"), s("(?=a)")], V2), Bool(true));
    assert_eq!(regexp_matches(&[s("abc"), s("(?<=a)b")], V2), Bool(true));
    assert_eq!(regexp_matches(&[s("abc"), s("(?<!a)b")], V2), Bool(false));
    assert_eq!(regexp_matches(&[s("abba"), s("(b)\\1")], V2), Bool(true));
    // Java syntax only: `(?P<x>...)` is Python's.
    assert_eq!(regexp_matches(&[s("abc"), s("(?P<x>b)")], V2), Undefined);
    assert_eq!(regexp_matches(&[Null, s("a")], V2), Undefined);
    assert_eq!(regexp_matches(&[Int(123), s("^\\d+$")], V2), Bool(true));
    assert_eq!(regexp_substr(&[s("abc"), s("x")], V2), s(""));
    assert_eq!(regexp_substr(&[s("abc"), s("[")], V2), Undefined);
    // Java replacement syntax: `$1a` is group 1 then "a"; `\$` is a literal dollar.
    assert_eq!(
        regexp_replace(&[s("abcd"), s("b(c)"), s("$1a")], V2),
        s("acad")
    );
    assert_eq!(
        regexp_replace(&[s("abcd"), s("b"), s("\\$")], V2),
        s("a$cd")
    );
    assert_eq!(
        regexp_replace(&[s("abcd"), s("(?<x>b)"), s("[${x}]")], V2),
        s("a[b]cd")
    );
    assert_eq!(regexp_replace(&[s("abcd"), s("b"), s("$1")], V2), Undefined);
    assert_eq!(regexp_replace(&[s("abcd"), s("b"), s("$")], V2), Undefined);
    assert_eq!(regexp_replace(&[s("abcd"), s("b"), s("$x")], V2), Undefined);
    assert_eq!(regexp_replace(&[s("aaa"), s("a"), s("b")], V2), s("bbb"));
    assert_eq!(regexp_replace(&[s("abc"), s(""), s("-")], V2), s("-a-b-c-"));
    assert_eq!(regexp_replace(&[s("abc"), s("("), s("-")], V2), Undefined);
    // Java reads the replacement at the first match only: no match, no error.
    assert_eq!(regexp_replace(&[s("abc"), s("x"), s("$9")], V2), s("abc"));
    assert_eq!(regexp_replace(&[s("abc"), s("b"), s("$9")], V2), Undefined);
    assert_eq!(
        regexp_replace(&[s("a1b22"), s("(?<d>\\d+)"), s("<${d}>")], V2),
        s("a<1>b<22>")
    );
}

#[test]
fn hashes() {
    assert_eq!(
        md2(&[s("hello")], V2),
        s("a9046c73e00331af68917d3804f70655")
    );
    assert_eq!(
        md5(&[s("hello")], V2),
        s("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(
        sha1(&[s("hello")], V2),
        s("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    assert_eq!(
        sha224(&[s("hello")], V2),
        s("ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193")
    );
    assert_eq!(
        sha256(&[s("hello")], V2),
        s("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(
        sha384(&[s("hello")], V2),
        s(
            "59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f"
        )
    );
    assert_eq!(
        sha512(&[s("hello")], V2),
        s(
            "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
        )
    );
    assert_eq!(
        sha256(&[Int(123)], V2),
        s("a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3")
    );
    assert_eq!(
        md5(&[arr(vec![Int(1), s("a")])], V2),
        s("fd4105d9312f0888af6ee470373c2c0d")
    );
    assert_eq!(
        md5(&[Binary(vec![0xff, 0x00])], V2),
        s("e0e8bfafbb0689563b2fba789c97b3cc")
    );
    assert_eq!(md5(&[Null], V2), Undefined);
    assert_eq!(sha1(&[Undefined], V2), Undefined);
}
