//! Policies as the AWS IoT developer guide writes them, evaluated for principals.

use super::*;

const THING_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"]},
    {"Effect": "Allow", "Action": ["iot:Subscribe"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.ThingName}/*"]}
  ]
}"#;

fn lamp(client_id: &str) -> Principal {
    Principal {
        client_id: client_id.into(),
        source_ip: Some("192.168.1.20".parse().unwrap()),
        thing: Some(Thing {
            name: "lamp".into(),
            type_name: Some("light".into()),
            attributes: HashMap::from([("floor".into(), "3".into())]),
        }),
        certificate: HashMap::from([
            ("Subject.CommonName".into(), "lamp-cert".into()),
            ("SerialNumber".into(), "0a1b".into()),
        ]),
    }
}

fn allowed(policy: &str, action: Action, subject: &str, who: &Principal) -> Decision {
    let p = Policy::parse("test", policy).unwrap();
    decide(&[&p], action, subject, who)
}

#[test]
fn a_thing_policy_lets_a_thing_use_its_own_topics_only() {
    let who = lamp("lamp");
    assert_eq!(
        allowed(THING_POLICY, Action::Connect, "lamp", &who),
        Decision::Allow
    );
    assert_eq!(
        allowed(THING_POLICY, Action::Connect, "other", &who),
        Decision::ImplicitDeny
    );
    assert!(allowed(THING_POLICY, Action::Publish, "lamp/state", &who).allowed());
    assert!(allowed(THING_POLICY, Action::Receive, "lamp/a/b", &who).allowed());
    assert!(!allowed(THING_POLICY, Action::Publish, "door/state", &who).allowed());
    assert!(allowed(THING_POLICY, Action::Subscribe, "lamp/#", &who).allowed());
    assert!(!allowed(THING_POLICY, Action::Subscribe, "#", &who).allowed());
    // Not attached to a thing: the variable does not resolve, and nothing is allowed.
    let stranger = Principal {
        client_id: "lamp".into(),
        ..Default::default()
    };
    assert_eq!(
        allowed(THING_POLICY, Action::Connect, "lamp", &stranger),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_explicit_deny_in_any_policy_wins() {
    let open = Policy::parse(
        "open",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let deny = Policy::parse(
        "deny",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["iot:Publish"],
            "Resource":["arn:aws:iot:eu-west-1:111122223333:topic/admin/*"]}]}"#,
    )
    .unwrap();
    let who = lamp("lamp");
    assert_eq!(
        decide(&[&open, &deny], Action::Publish, "admin/reboot", &who),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[&deny, &open], Action::Publish, "admin/reboot", &who),
        Decision::ExplicitDeny
    );
    assert!(decide(&[&open, &deny], Action::Subscribe, "admin/#", &who).allowed());
    assert_eq!(
        decide::<&Policy>(&[], Action::Connect, "lamp", &who),
        Decision::ImplicitDeny
    );
}

#[test]
fn actions_match_with_wildcards_and_without_case() {
    let p = r#"{"Statement":[{"Effect":"Allow","Action":"iot:*Shadow","Resource":"*"}]}"#;
    let who = lamp("lamp");
    assert!(allowed(p, Action::GetThingShadow, "lamp", &who).allowed());
    assert!(allowed(p, Action::DeleteThingShadow, "lamp", &who).allowed());
    assert!(!allowed(p, Action::Publish, "x", &who).allowed());
    let lower = r#"{"Statement":[{"Effect":"Allow","Action":"IOT:publish","Resource":"*"}]}"#;
    assert!(allowed(lower, Action::Publish, "x", &who).allowed());
}

#[test]
fn conditions_on_thing_attachment_type_attributes_and_certificate() {
    let who = lamp("lamp");
    let stranger = Principal {
        client_id: "lamp".into(),
        ..Default::default()
    };
    let attached = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],
        "Resource":["*"],"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}}]}"#;
    assert!(allowed(attached, Action::Connect, "lamp", &who).allowed());
    assert!(!allowed(attached, Action::Connect, "lamp", &stranger).allowed());

    let typed = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish"],
        "Resource":"arn:aws:iot:us-east-1:123456789012:topic/device/stats",
        "Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3",
                                     "iot:Connection.Thing.ThingTypeName":"light"}}}]}"#;
    assert!(allowed(typed, Action::Publish, "device/stats", &who).allowed());
    let mut other_floor = lamp("lamp");
    other_floor
        .thing
        .as_mut()
        .unwrap()
        .attributes
        .insert("floor".into(), "4".into());
    assert!(!allowed(typed, Action::Publish, "device/stats", &other_floor).allowed());

    let by_cn = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
        "Resource":"arn:aws:iot:*:*:topic/certs/${iot:Certificate.Subject.CommonName}/*"}]}"#;
    assert!(allowed(by_cn, Action::Publish, "certs/lamp-cert/x", &who).allowed());
    assert!(!allowed(by_cn, Action::Publish, "certs/other/x", &who).allowed());

    // A negated operator holds when the key is absent, as in IAM.
    let not_type = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
        "Condition":{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"camera"}}}]}"#;
    assert!(allowed(not_type, Action::Connect, "x", &who).allowed());
    assert!(allowed(not_type, Action::Connect, "x", &stranger).allowed());
    let like = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
        "Condition":{"StringLike":{"iot:ClientId":"lamp-*"}}}]}"#;
    assert!(allowed(like, Action::Connect, "lamp-7", &lamp("lamp-7")).allowed());
    assert!(!allowed(like, Action::Connect, "door-7", &lamp("door-7")).allowed());
}

#[test]
fn what_rulewire_does_not_evaluate_is_refused_with_the_policy_name() {
    let refused = |doc: &str, needle: &str| {
        let e = Policy::parse("p1", doc).unwrap_err().to_string();
        assert!(e.contains("policy p1") && e.contains(needle), "{e}");
    };
    refused(
        r#"{"Statement":[{"Effect":"Allow","NotAction":"iot:Connect","Resource":"*"}]}"#,
        "NotAction",
    );
    refused(
        r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}}]}"#,
        "DateGreaterThan",
    );
    refused(
        r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"StringEquals":{"aws:username":"x"}}}]}"#,
        "aws:username",
    );
    refused(
        r#"{"Statement":[{"Effect":"Maybe","Action":"iot:Connect","Resource":"*"}]}"#,
        "Effect",
    );
    refused(
        r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:s3:::bucket"}]}"#,
        "arn:aws:s3",
    );
    refused(r#"{"Version":"2008-10-17","Statement":[]}"#, "2012-10-17");
    refused("{not json", "not JSON");
}

/// The two example policies of AWS's "Using X.509 certificate policy variables", pasted as
/// AWS shows them.
#[test]
fn aws_certificate_variable_examples_work_unchanged() {
    let serial_and_org = r#"{
 "Version":"2012-10-17",
 "Statement": [
 {"Effect": "Allow", "Action": ["iot:Connect"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Certificate.SerialNumber}"]},
 {"Effect": "Allow", "Action": ["iot:Publish"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Organization}/device-stats/${iot:ClientId}/*"]}
 ]
}"#;
    let present = r#"{
 "Version":"2012-10-17",
 "Statement": [
 {"Effect": "Allow", "Action": ["iot:Connect"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:client/*"],
  "Condition": {"Null": {"iot:Certificate.SerialNumber": "false",
                         "iot:Certificate.Subject.CommonName": "false"}}}
 ]
}"#;
    let device = Principal {
        client_id: "10525622389124227206".into(),
        source_ip: None,
        thing: None,
        certificate: HashMap::from([
            ("SerialNumber".into(), "10525622389124227206".into()),
            ("Subject.Organization".into(), "IoT Devices".into()),
            ("Subject.CommonName".into(), "LightBulb Device Cert".into()),
        ]),
    };
    let id = "10525622389124227206";
    assert!(allowed(serial_and_org, Action::Connect, id, &device).allowed());
    assert!(!allowed(serial_and_org, Action::Connect, "921285cbb7a5e086", &device).allowed());
    let topic = format!("IoT Devices/device-stats/{id}/temperature");
    assert!(allowed(serial_and_org, Action::Publish, &topic, &device).allowed());
    assert!(
        !allowed(
            serial_and_org,
            Action::Publish,
            "Other/device-stats/x/t",
            &device
        )
        .allowed()
    );

    assert!(allowed(present, Action::Connect, id, &device).allowed());
    let mut no_cn = device.clone();
    no_cn.certificate.remove("Subject.CommonName");
    assert!(!allowed(present, Action::Connect, id, &no_cn).allowed());
    // "true": only without the value.
    let absent = present.replace("\"false\"", "\"true\"");
    assert!(allowed(&absent, Action::Connect, id, &Principal::default()).allowed());
    assert!(!allowed(&absent, Action::Connect, id, &device).allowed());

    let e = Policy::parse(
        "p",
        r#"{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"Null":{"iot:ClientId":"maybe"}}}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Null") && e.contains("maybe"), "{e}");
}

#[test]
fn variable_names_take_their_canonical_spelling() {
    // AWS's own table writes `initials` in lower case.
    let p = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Publish",
        "Resource":"arn:aws:iot:*:*:topic/${iot:Certificate.Subject.initials}/*",
        "Condition":{"StringEquals":{"iot:Certificate.subject.alternativename.dnsname":"a.example"}}}]}"#;
    let who = Principal {
        certificate: HashMap::from([
            ("Subject.Initials".into(), "ZZ".into()),
            ("Subject.AlternativeName.DNSName".into(), "a.example".into()),
        ]),
        ..Default::default()
    };
    assert!(allowed(p, Action::Publish, "ZZ/x", &who).allowed());
}

#[test]
fn source_ip_ranges_and_the_source_ip_variable() {
    // AWS's IAM-style condition: only from the plant's network.
    let lan = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["192.168.1.0/24","10.0.0.7"]}}}]}"#;
    let from = |ip: Option<&str>| Principal {
        source_ip: ip.map(|ip| ip.parse().unwrap()),
        ..Default::default()
    };
    assert!(allowed(lan, Action::Connect, "x", &from(Some("192.168.1.20"))).allowed());
    assert!(allowed(lan, Action::Connect, "x", &from(Some("10.0.0.7"))).allowed());
    assert!(!allowed(lan, Action::Connect, "x", &from(Some("10.0.0.8"))).allowed());
    assert!(!allowed(lan, Action::Connect, "x", &from(Some("192.168.2.1"))).allowed());
    assert!(!allowed(lan, Action::Connect, "x", &from(None)).allowed());
    // An IPv4 client seen through an IPv6 socket is the same address.
    assert!(allowed(lan, Action::Connect, "x", &from(Some("::ffff:192.168.1.9"))).allowed());

    let not_lan = lan.replace("\"IpAddress\"", "\"NotIpAddress\"");
    assert!(!allowed(&not_lan, Action::Connect, "x", &from(Some("192.168.1.20"))).allowed());
    assert!(allowed(&not_lan, Action::Connect, "x", &from(Some("172.16.0.1"))).allowed());

    let v6 = r#"{"Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}},
        {"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;
    assert_eq!(
        allowed(v6, Action::Connect, "x", &from(Some("2001:db8:1::5"))),
        Decision::ExplicitDeny
    );
    assert!(allowed(v6, Action::Connect, "x", &from(Some("2001:db9::5"))).allowed());
    assert!(allowed(v6, Action::Connect, "x", &from(Some("192.168.1.1"))).allowed());

    let by_ip = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Publish",
        "Resource":"arn:aws:iot:*:*:topic/gateways/${aws:SourceIp}/*"}]}"#;
    let gw = from(Some("10.1.2.3"));
    assert!(allowed(by_ip, Action::Publish, "gateways/10.1.2.3/up", &gw).allowed());
    assert!(!allowed(by_ip, Action::Publish, "gateways/10.1.2.4/up", &gw).allowed());

    for (bad, needle) in [
        (r#"{"aws:SourceIp":"10.0.0.0/33"}"#, "10.0.0.0/33"),
        (r#"{"aws:SourceIp":"lan"}"#, "\"lan\""),
        (r#"{"iot:ClientId":"10.0.0.1"}"#, "aws:SourceIp only"),
    ] {
        let doc = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
                "Condition":{{"IpAddress":{bad}}}}}]}}"#
        );
        let e = Policy::parse("p", &doc).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}
