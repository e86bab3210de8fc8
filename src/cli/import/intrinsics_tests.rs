//! The intrinsic functions, one by one and nested, over a small template.

use serde_json::{Value, json};

use super::*;
use crate::cli::import::problem::Severity;

fn template() -> Value {
    json!({
        "Parameters": {
            "Env": {"Type": "String", "Default": "prod"},
            "Topics": {"Type": "CommaDelimitedList", "Default": "a/b, c/d"},
            "NoDefault": {"Type": "String"},
            "FromSsm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/iot/queue"},
        },
        "Mappings": {"Stage": {"prod": {"Qos": "1"}}},
        "Conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "IsEu": {"Fn::Equals": ["eu-west-1", {"Ref": "AWS::Region"}]},
            "ProdInEu": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsEu"}]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Either": {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "IsEu"}]},
            "Cycle": {"Condition": "Cycle"},
        },
        "Resources": {
            "Alerts": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Env}-alerts"}}},
            "Anon": {"Type": "AWS::SQS::Queue"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "iot-rule-role"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "ingest"}},
            "Db": {"Type": "AWS::Timestream::Table", "Properties": {"TableName": "t"}},
            "Loop": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Loop"}}},
            "Custom": {"Type": "Custom::Thing"},
        }
    })
}

/// Resolves `expr` against `template()` with `deployment`; the value (or error) and notes.
fn eval_with(
    expr: Value,
    deployment: &Deployment,
) -> (Result<Option<Value>, Problem>, Vec<Problem>) {
    let root = template();
    let root = root.as_object().unwrap();
    let resources = root["Resources"].as_object().unwrap();
    let t = Template::new(root, resources, deployment, "mystack");
    let mut r = Resolver::new(&t);
    let v = r.resolve(&expr, "$.x");
    (v, r.problems)
}

fn eval(expr: Value) -> Value {
    let deployment = Deployment {
        region: Some("eu-west-1".into()),
        account_id: Some("111122223333".into()),
        ..Default::default()
    };
    let (v, problems) = eval_with(expr, &deployment);
    assert!(
        problems.iter().all(|p| p.severity == Severity::Note),
        "{problems:?}"
    );
    v.unwrap().unwrap()
}

fn error(expr: Value) -> String {
    let (v, _) = eval_with(expr, &Deployment::default());
    v.unwrap_err().message
}

#[test]
fn ref_gives_parameters_pseudo_parameters_and_resources() {
    assert_eq!(eval(json!({"Ref": "Env"})), "prod");
    assert_eq!(eval(json!({"Ref": "Topics"})), json!(["a/b", "c/d"]));
    assert_eq!(eval(json!({"Ref": "AWS::Region"})), "eu-west-1");
    assert_eq!(eval(json!({"Ref": "AWS::Partition"})), "aws");
    // A queue's Ref is its URL, built from its (resolved) QueueName.
    assert_eq!(
        eval(json!({"Ref": "Alerts"})),
        "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-alerts"
    );
    assert_eq!(eval(json!({"Ref": "Fn"})), "ingest");
    assert_eq!(eval(json!({"Ref": "Role"})), "iot-rule-role");
}

#[test]
fn parameter_overrides_win_over_defaults() {
    let d = Deployment {
        parameters: [
            ("Env".to_owned(), "dev".to_owned()),
            ("NoDefault".to_owned(), "x".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    assert_eq!(
        eval_with(json!({"Ref": "Env"}), &d).0.unwrap().unwrap(),
        "dev"
    );
    assert_eq!(
        eval_with(json!({"Ref": "NoDefault"}), &d)
            .0
            .unwrap()
            .unwrap(),
        "x"
    );
}

#[test]
fn a_resource_without_a_name_is_its_logical_id_and_says_so() {
    let (v, notes) = eval_with(
        json!({"Fn::GetAtt": ["Anon", "QueueName"]}),
        &Deployment::default(),
    );
    assert_eq!(v.unwrap().unwrap(), "Anon");
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].message.contains("used the logical id \"Anon\""),
        "{notes:?}"
    );
    let (v, notes) = eval_with(json!({"Ref": "Custom"}), &Deployment::default());
    assert_eq!(v.unwrap().unwrap(), "Custom");
    assert!(
        notes[0].message.contains("does not know this type"),
        "{notes:?}"
    );
}

#[test]
fn unknown_deploy_time_values_are_chosen_and_noted() {
    let (v, notes) = eval_with(
        json!({"Fn::GetAtt": ["Role", "Arn"]}),
        &Deployment::default(),
    );
    assert_eq!(
        v.unwrap().unwrap(),
        "arn:aws:iam::123456789012:role/iot-rule-role"
    );
    let messages: Vec<&str> = notes.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("--region"), "{messages:?}");
    assert!(messages[1].contains("--account-id"), "{messages:?}");
    let (v, notes) = eval_with(
        json!({"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}),
        &Deployment::default(),
    );
    assert_eq!(v.unwrap().unwrap(), "mystack-us-east-1");
    assert_eq!(notes.len(), 2, "{notes:?}");
}

#[test]
fn get_att_takes_both_forms() {
    let arn = "arn:aws:lambda:eu-west-1:111122223333:function:ingest";
    assert_eq!(eval(json!({"Fn::GetAtt": ["Fn", "Arn"]})), arn);
    assert_eq!(eval(json!({"Fn::GetAtt": "Fn.Arn"})), arn);
    assert_eq!(eval(json!({"Fn::GetAtt": ["Db", "Name"]})), "t");
}

#[test]
fn sub_resolves_names_attributes_variables_and_escapes() {
    assert_eq!(
        eval(
            json!({"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Env}"})
        ),
        "arn:aws:sqs:eu-west-1:111122223333:prod"
    );
    assert_eq!(
        eval(json!({"Fn::Sub": "${Role.Arn}"})),
        "arn:aws:iam::111122223333:role/iot-rule-role"
    );
    assert_eq!(
        eval(json!({"Fn::Sub": ["${Q}/x", {"Q": {"Ref": "Env"}}]})),
        "prod/x"
    );
    // `${!x}` is CloudFormation's escape for a literal `${x}`: the IoT templates.
    assert_eq!(
        eval(json!({"Fn::Sub": "alerts/${!topic(2)}/${Env}"})),
        "alerts/${topic(2)}/prod"
    );
    // An IoT template written without the escape is kept, with a note.
    let (v, notes) = eval_with(json!({"Fn::Sub": "a/${topic(2)}"}), &Deployment::default());
    assert_eq!(v.unwrap().unwrap(), "a/${topic(2)}");
    assert!(notes[0].message.contains("${!topic(2)}"), "{notes:?}");
}

#[test]
fn join_select_split_and_find_in_map() {
    assert_eq!(
        eval(json!({"Fn::Join": ["/", ["a", {"Ref": "Env"}, "c"]]})),
        "a/prod/c"
    );
    assert_eq!(
        eval(json!({"Fn::Join": [",", {"Ref": "Topics"}]})),
        "a/b,c/d"
    );
    assert_eq!(eval(json!({"Fn::Select": ["1", {"Ref": "Topics"}]})), "c/d");
    assert_eq!(
        eval(json!({"Fn::Select": [0, {"Fn::Split": ["-", "x-y"]}]})),
        "x"
    );
    assert_eq!(
        eval(json!({"Fn::Select": [4, {"Fn::Split": ["/", {"Ref": "Alerts"}]}]})),
        "prod-alerts"
    );
    assert_eq!(
        eval(json!({"Fn::FindInMap": ["Stage", {"Ref": "Env"}, "Qos"]})),
        "1"
    );
}

#[test]
fn if_follows_the_conditions() {
    assert_eq!(eval(json!({"Fn::If": ["IsProd", "a", "b"]})), "a");
    assert_eq!(
        eval(json!({"Fn::If": ["NotProd", "a", {"Ref": "Env"}]})),
        "prod"
    );
    assert_eq!(eval(json!({"Fn::If": ["ProdInEu", "a", "b"]})), "a");
    assert_eq!(eval(json!({"Fn::If": ["Either", "a", "b"]})), "a");
    assert_eq!(
        eval(json!({"k": {"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]}})),
        json!({})
    );
    assert!(error(json!({"Fn::If": ["Nope", "a", "b"]})).contains("no condition \"Nope\""));
    assert!(error(json!({"Fn::If": ["Cycle", "a", "b"]})).contains("too deeply"));
}

#[test]
fn no_value_removes_the_property_and_containers_keep_going_after_an_error() {
    assert_eq!(
        eval(json!({"a": {"Ref": "AWS::NoValue"}, "b": ["x", {"Ref": "AWS::NoValue"}]})),
        json!({"b": ["x"]})
    );
    let root = template();
    let root = root.as_object().unwrap();
    let d = Deployment::default();
    let t = Template::new(root, root["Resources"].as_object().unwrap(), &d, "s");
    let mut r = Resolver::new(&t);
    let v = r
        .resolve(
            &json!({"a": {"Ref": "Nope"}, "b": {"Fn::Base64": "x"}, "c": "ok"}),
            "$",
        )
        .unwrap()
        .unwrap();
    assert_eq!(v, json!({"c": "ok"}));
    let paths: Vec<&str> = r.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.a.Ref", "$.b[\"Fn::Base64\"]"]);
}

#[test]
fn errors_name_what_is_missing() {
    assert!(error(json!({"Ref": "Nope"})).contains("no such parameter or resource"));
    assert!(error(json!({"Ref": "NoDefault"})).contains("--parameter NoDefault=VALUE"));
    assert!(error(json!({"Ref": "FromSsm"})).contains("read from SSM"));
    assert!(error(json!({"Ref": "Db"})).contains("Fn::GetAtt Db.Name"));
    assert!(
        error(json!({"Fn::GetAtt": ["Fn", "SnapStartResponse"]}))
            .contains("cannot be known offline")
    );
    assert!(error(json!({"Fn::Select": ["5", ["a"]]})).contains("out of range"));
    assert!(error(json!({"Fn::Join": ["/"]})).contains("2 arguments"));
    assert!(error(json!({"Ref": "Loop"})).contains("too deeply"));
    assert!(error(json!({"Fn::ImportValue": "x"})).contains("Fn::ImportValue is not supported"));
    assert!(error(json!({"Ref": "AWS::NotificationARNs"})).contains("not supported"));
}
