//! The AWS IoT SQL function library: name → arity, availability and implementation.
//!
//! Pure functions take evaluated arguments and return a [`Value`] (Undefined on bad input, as
//! AWS does). Context functions (`topic`, `clientid`, `timestamp`, ...) read the message and are
//! evaluated by [`crate::eval`]; functions that need an AWS service are rejected when a rule is
//! compiled. Implementations are grouped by theme in the submodules.

use crate::value::{SqlVersion, Value};

mod args;
pub mod java_regex;
mod math;
mod misc;
mod strings;
mod time;

pub use time::{format_joda, parse_to_epoch};

/// Which argument of `name` is a Java regular expression (the `regexp_*` functions), so that
/// the compiler can check a literal pattern.
pub fn regex_pattern_arg(name: &str) -> Option<usize> {
    matches!(name, "regexp_matches" | "regexp_replace" | "regexp_substr").then_some(1)
}

/// How a function is evaluated.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A pure function of its arguments (and the SQL version).
    Pure(fn(&[Value], SqlVersion) -> Value),
    /// Reads the message or the rule context; evaluated by the evaluator.
    Context,
    /// Reads data outside the message through the rule's [`crate::eval::Lookups`]
    /// (`get_thing_shadow`); evaluated by the evaluator, never vectorised.
    Lookup,
    /// Needs an AWS service; rejected at rule-load time with this explanation.
    Unsupported(&'static str),
}

/// What the compiler and evaluator know about a function.
#[derive(Clone, Copy)]
pub struct FunctionSpec {
    /// Lower-case name.
    pub name: &'static str,
    pub min_args: usize,
    /// `None`: variadic.
    pub max_args: Option<usize>,
    /// First SQL version that has it.
    pub since: SqlVersion,
    pub kind: Kind,
}

const V1: SqlVersion = SqlVersion::V2015_10_08;
const V2: SqlVersion = SqlVersion::V2016_03_23;

const fn pure(
    name: &'static str,
    min: usize,
    max: usize,
    since: SqlVersion,
    f: fn(&[Value], SqlVersion) -> Value,
) -> FunctionSpec {
    FunctionSpec {
        name,
        min_args: min,
        max_args: Some(max),
        since,
        kind: Kind::Pure(f),
    }
}
const fn context(name: &'static str, min: usize, max: usize) -> FunctionSpec {
    FunctionSpec {
        name,
        min_args: min,
        max_args: Some(max),
        since: V1,
        kind: Kind::Context,
    }
}
const fn unsupported(name: &'static str, why: &'static str) -> FunctionSpec {
    FunctionSpec {
        name,
        min_args: 0,
        max_args: None,
        since: V1,
        kind: Kind::Unsupported(why),
    }
}

/// Every function of the AWS IoT SQL reference.
pub static FUNCTIONS: &[FunctionSpec] = &[
    // math
    pure("abs", 1, 1, V1, math::abs),
    pure("acos", 1, 1, V1, math::acos),
    pure("asin", 1, 1, V1, math::asin),
    pure("atan", 1, 1, V1, math::atan),
    pure("atan2", 2, 2, V1, math::atan2),
    pure("bitand", 2, 2, V1, math::bitand),
    pure("bitor", 2, 2, V1, math::bitor),
    pure("bitxor", 2, 2, V1, math::bitxor),
    pure("bitnot", 1, 1, V1, math::bitnot),
    pure("ceil", 1, 1, V1, math::ceil),
    pure("cos", 1, 1, V1, math::cos),
    pure("cosh", 1, 1, V1, math::cosh),
    pure("exp", 1, 1, V1, math::exp),
    pure("floor", 1, 1, V1, math::floor),
    pure("ln", 1, 1, V1, math::ln),
    pure("log", 1, 1, V1, math::log),
    pure("mod", 2, 2, V1, math::modulo),
    pure("remainder", 2, 2, V1, math::modulo),
    pure("nanvl", 2, 2, V1, math::nanvl),
    pure("power", 2, 2, V1, math::power),
    pure("round", 1, 1, V1, math::round),
    pure("sign", 1, 1, V1, math::sign),
    pure("sin", 1, 1, V1, math::sin),
    pure("sinh", 1, 1, V1, math::sinh),
    pure("sqrt", 1, 1, V1, math::sqrt),
    pure("tan", 1, 1, V1, math::tan),
    pure("tanh", 1, 1, V1, math::tanh),
    pure("trunc", 2, 2, V1, math::trunc),
    // strings
    pure("chr", 1, 1, V1, strings::chr),
    pure("concat", 0, usize::MAX, V1, strings::concat),
    pure("endswith", 2, 2, V1, strings::endswith),
    pure("startswith", 2, 2, V1, strings::startswith),
    pure("indexof", 2, 2, V2, strings::indexof),
    pure("length", 1, 1, V2, strings::length),
    pure("lower", 1, 1, V1, strings::lower),
    pure("upper", 1, 1, V1, strings::upper),
    pure("lpad", 2, 2, V1, strings::lpad),
    pure("rpad", 2, 2, V1, strings::rpad),
    pure("ltrim", 1, 1, V1, strings::ltrim),
    pure("rtrim", 1, 1, V1, strings::rtrim),
    pure("trim", 1, 1, V1, strings::trim),
    pure("numbytes", 1, 1, V2, strings::numbytes),
    pure("replace", 3, 3, V1, strings::replace),
    pure("substring", 2, 3, V1, strings::substring),
    pure("regexp_matches", 2, 2, V1, strings::regexp_matches),
    pure("regexp_replace", 3, 3, V1, strings::regexp_replace),
    pure("regexp_substr", 2, 2, V1, strings::regexp_substr),
    pure("md2", 1, 1, V1, strings::md2),
    pure("md5", 1, 1, V1, strings::md5),
    pure("sha1", 1, 1, V1, strings::sha1),
    pure("sha224", 1, 1, V1, strings::sha224),
    pure("sha256", 1, 1, V1, strings::sha256),
    pure("sha384", 1, 1, V1, strings::sha384),
    pure("sha512", 1, 1, V1, strings::sha512),
    // misc
    pure("encode", 2, 2, V2, misc::encode),
    pure("decode", 2, 2, V2, misc::decode),
    pure("get", 2, 2, V1, misc::get),
    pure("get_or_default", 2, 2, V2, misc::get_or_default),
    pure("isnull", 1, 1, V1, misc::is_null),
    pure("isundefined", 1, 1, V2, misc::is_undefined),
    pure("transform", 3, 3, V2, misc::transform),
    pure("parse_time", 2, 3, V2, time::parse_time),
    pure("time_to_epoch", 2, 2, V2, time::time_to_epoch),
    // context
    context("accountid", 0, 0),
    context("clientid", 0, 0),
    context("principal", 0, 0),
    context("topic", 0, 1),
    context("traceid", 0, 0),
    context("timestamp", 0, 0),
    context("newuuid", 0, 0),
    context("rand", 0, 0),
    context("sql_version", 0, 0),
    context("sourceip", 0, 0),
    context("get_mqtt_property", 1, 1),
    context("get_user_properties", 0, 1),
    // rulewire's own Device Shadows
    FunctionSpec {
        name: "get_thing_shadow",
        min_args: 2,
        max_args: Some(3),
        since: V2,
        kind: Kind::Lookup,
    },
    // external AWS services
    unsupported("aws_lambda", "it invokes an AWS Lambda function"),
    unsupported("get_dynamodb", "it reads an Amazon DynamoDB table"),
    unsupported("get_secret", "it reads AWS Secrets Manager"),
    unsupported(
        "machinelearning_predict",
        "it calls Amazon Machine Learning",
    ),
    unsupported("get_registry_data", "it reads the AWS IoT thing registry"),
];

/// Looks a function up by its lower-case name.
pub fn lookup(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Calls a pure function by name; Undefined for unknown or non-pure names.
pub fn call_pure(name: &str, args: &[Value], version: SqlVersion) -> Value {
    match lookup(name).map(|f| f.kind) {
        Some(Kind::Pure(f)) => f(args, version),
        _ => Value::Undefined,
    }
}

#[cfg(test)]
mod fuzz_tests;
