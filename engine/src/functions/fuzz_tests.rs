//! Property test: no pure function panics, whatever its arguments (AWS returns Undefined for
//! bad input, it never fails the rule).

use super::{FUNCTIONS, Kind};
use crate::value::{Object, SqlVersion, Value};
use proptest::prelude::*;

/// Strings that exercise the parsers: patterns, regexes, replacements, base64, numbers, zones.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("yyyy-MM-dd HH:mm:ss.SSS z".to_owned()),
        Just("yyyyMMddHHmmssSSS".to_owned()),
        Just("[yyyy]['T'HH]VV XXX O".to_owned()),
        Just("America/Los_Angeles".to_owned()),
        Just("UTC+01:00".to_owned()),
        Just("enrichArray".to_owned()),
        Just("base64".to_owned()),
        Just("eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg==".to_owned()),
        Just("(a)(b)?$2$1${x}\\".to_owned()),
        Just("-2.411E247".to_owned()),
        Just("99999999999999999999".to_owned()),
        "[-+:0-9TZ ./'a-zA-Z\\[\\]$(){}*?\\\\]{0,24}",
        any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1i64),
            Just(0i64),
            any::<i64>(),
            -2000i64..2000
        ]
        .prop_map(|i| Value::Int(i.into())),
        Just(Value::Int(9999999999999999999999999999999999)),
        prop_oneof![Just(-0.0), Just(1e300), Just(1e-300), any::<f64>()].prop_map(Value::double),
        "-?[0-9]{1,40}(\\.[0-9]{1,40})?(E-?[0-9]{1,3})?".prop_map(|t| {
            crate::value::parse_decimal_string(&t)
                .map(Value::Decimal)
                .unwrap_or_default()
        }),
        interesting_string().prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Binary),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-c]{1,2}", inner), 0..4)
                .prop_map(|kv| Value::Object(Object(kv))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn pure_functions_never_panic(args in proptest::collection::vec(value(), 0..4), v1 in any::<bool>()) {
        let version = if v1 { SqlVersion::V2015_10_08 } else { SqlVersion::V2016_03_23 };
        for spec in FUNCTIONS {
            if let Kind::Pure(f) = spec.kind {
                let max = spec.max_args.unwrap_or(usize::MAX);
                if args.len() >= spec.min_args && args.len() <= max {
                    let _ = f(&args, version);
                }
            }
        }
    }
}
