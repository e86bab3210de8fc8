//! Per-message mode: one object per message, against moto and the local filesystem.

use bytes::Bytes;

use super::{Moto, action, message, s3_context, settings};
use crate::AwsSettings;
use crate::s3::MULTIPART_THRESHOLD;

#[tokio::test]
async fn objects_arrive_with_rendered_bucket_keys_bodies_and_content_types() {
    let moto = Moto::start().await;
    moto.create_bucket("rw-room1").await;
    let (ctx, metrics) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let s3 = action(&ctx, "connection = \"moto\"\nbucket = \"rw-${topic(2)}\"\nkey = \"${topic()}/${timestamp()}-${site}.json\"").unwrap();
    assert_eq!(s3.kind(), "s3");

    // Templates see the ORIGINAL payload (`site`), the body is the output.
    s3.execute(&message("sensors/room1/data", br#"{"t":31}"#))
        .await
        .unwrap();
    let mut binary = message("sensors/room1/raw", b"\x00\x01binary");
    binary.timestamp_ms += 1;
    s3.execute(&binary).await.unwrap();

    assert_eq!(
        moto.keys("rw-room1").await,
        [
            "sensors/room1/data/1700000000000-north.json",
            "sensors/room1/raw/1700000000001-north.json"
        ]
    );
    let (body, ct) = moto
        .get("rw-room1", "sensors/room1/data/1700000000000-north.json")
        .await;
    assert_eq!(
        (body, ct.as_str()),
        (Bytes::from_static(br#"{"t":31}"#), "application/json")
    );
    let (body, ct) = moto
        .get("rw-room1", "sensors/room1/raw/1700000000001-north.json")
        .await;
    assert_eq!(
        (body, ct.as_str()),
        (
            Bytes::from_static(b"\x00\x01binary"),
            "application/octet-stream"
        )
    );
    assert_eq!(
        (
            metrics.get("success:s3"),
            metrics.get("failure:s3"),
            metrics.get("retry:s3")
        ),
        (2, 0, 0)
    );

    // A fixed content type, and a body above the multipart threshold (2 parts on moto).
    let s3 = action(&ctx, "connection = \"moto\"\nbucket = \"rw-room1\"\nkey = \"big/${clientid()}.bin\"\ncontent_type = \"text/csv\"").unwrap();
    let big: Vec<u8> = (0..MULTIPART_THRESHOLD + 3 * 1024 * 1024)
        .map(|i| (i % 253) as u8)
        .collect();
    s3.execute(&message("sensors/room1/data", &big))
        .await
        .unwrap();
    let (body, ct) = moto.get("rw-room1", "big/dev-7.bin").await;
    assert_eq!(ct, "text/csv");
    assert!(
        body == big,
        "the multipart object must read back byte for byte ({} vs {} bytes)",
        body.len(),
        big.len()
    );
}

#[tokio::test]
async fn a_missing_bucket_fails_after_the_retries_as_s3action_on_the_bucket() {
    let moto = Moto::start().await;
    let (ctx, metrics) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let s3 = action(
        &ctx,
        "connection = \"moto\"\nbucket = \"no-such-bucket\"\nkey = \"${topic()}/x.json\"",
    )
    .unwrap();
    let failure = s3.execute(&message("a/b", b"{}")).await.unwrap_err();
    assert_eq!(failure.failed_action, "S3Action");
    assert_eq!(failure.failed_resource, "no-such-bucket");
    let m = &failure.error_message;
    assert!(
        m.starts_with("Failed to put S3 object.") && m.contains("NoSuchBucket"),
        "{m}"
    );
    assert!(
        m.contains(
            "Message arrived on: a/b, Action: s3, Bucket: no-such-bucket, Key: \"a/b/x.json\""
        ),
        "{m}"
    );
    assert_eq!(
        (
            metrics.get("retry:s3"),
            metrics.get("failure:s3"),
            metrics.get("success:s3")
        ),
        (2, 1, 0)
    );

    // The error action's payload carries the same failure.
    let err_msg = message("a/b", b"{}").for_error_action(&[failure]);
    let v: serde_json::Value = serde_json::from_slice(&err_msg.output).unwrap();
    assert_eq!(
        (
            v["failures"][0]["failedAction"].as_str(),
            v["failures"][0]["failedResource"].as_str()
        ),
        (Some("S3Action"), Some("no-such-bucket"))
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_then_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again
    let aws: AwsSettings = toml::from_str(&format!(
        "[connections.down]\nendpoint = \"http://127.0.0.1:{port}\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\""
    ))
    .unwrap();
    let conn = "[connections.down]\nurl = \"s3://\"\naws = \"down\"";
    let (ctx, metrics) = s3_context(&settings(conn), &aws);
    let s3 = action(
        &ctx,
        "connection = \"down\"\nbucket = \"lake\"\nkey = \"k.json\"\nretry = { attempts = 2 }",
    )
    .unwrap();
    let failure = s3.execute(&message("a/b", b"{}")).await.unwrap_err();
    assert_eq!(
        (
            failure.failed_action.as_str(),
            failure.failed_resource.as_str()
        ),
        ("S3Action", "lake")
    );
    assert_eq!((metrics.get("retry:s3"), metrics.get("failure:s3")), (1, 1));
}

#[tokio::test]
async fn bad_rendered_keys_fail_at_once_without_retries() {
    let (ctx, metrics) = s3_context(
        &settings("[connections.m]\nurl = \"memory://\""),
        &AwsSettings::default(),
    );
    // `${nothing}` renders empty: `a//b` is not a valid key.
    let s3 = action(
        &ctx,
        "connection = \"m\"\nbucket = \"b\"\nkey = \"a/${nothing}/b\"",
    )
    .unwrap();
    let failure = s3.execute(&message("t", b"{}")).await.unwrap_err();
    assert!(
        failure
            .error_message
            .contains("invalid object key \"a//b\""),
        "{failure}"
    );
    assert_eq!(
        (failure.failed_resource.as_str(), metrics.get("retry:s3")),
        ("b", 0)
    );
}

#[tokio::test]
async fn the_file_backend_writes_files_under_bucket_directories() {
    let dir = tempfile::tempdir().unwrap();
    let conn = format!(
        "[connections.default]\nurl = \"file://{}\"",
        dir.path().display()
    );
    let (ctx, metrics) = s3_context(&settings(&conn), &AwsSettings::default());
    // No `connection`: the rule gets "default".
    let s3 = action(
        &ctx,
        "bucket = \"local\"\nkey = \"${topic()}/${timestamp()}.json\"",
    )
    .unwrap();
    s3.execute(&message("sensors/room1", br#"{"t":1}"#))
        .await
        .unwrap();
    let written = std::fs::read(dir.path().join("local/sensors/room1/1700000000000.json")).unwrap();
    assert_eq!(written, br#"{"t":1}"#);
    assert_eq!(metrics.get("success:s3"), 1);
}

/// `role_arn` (AWS's `roleArn`): the object is written with the role's credentials, assumed
/// through STS with the connection's; on a connection that is not `s3://` it is refused.
#[tokio::test]
async fn an_actions_role_signs_its_writes() {
    let moto = Moto::start().await;
    moto.create_bucket("rw-role").await;
    let (ctx, _) = s3_context(&moto.settings(), &moto.aws_settings("moto"));
    let role = "arn:aws:iam::123456789012:role/iot-to-s3";
    let s3 = action(
        &ctx,
        &format!(
            "connection = \"moto\"\nrole_arn = \"{role}\"\nbucket = \"rw-role\"\nkey = \"k.json\""
        ),
    )
    .unwrap();
    moto.start_recording().await;
    s3.execute(&message("sensors/room1/data", b"{}"))
        .await
        .unwrap();
    let recorded = moto.recorded().await;
    assert!(
        crate::testing::assumed_role(&recorded, role),
        "no AssumeRole of {role}"
    );
    let put = recorded
        .iter()
        .find(|r| r["method"] == "PUT" && r["url"].as_str().unwrap().ends_with("/rw-role/k.json"))
        .expect("the PUT of the object");
    let key = crate::testing::signing_key(put).unwrap();
    assert_ne!(
        key, "test",
        "signed with the role's key, not the connection's"
    );

    let (ctx, _) = s3_context(
        &settings("[connections.lake]\nurl = \"memory://\""),
        &AwsSettings::default(),
    );
    let e = action(
        &ctx,
        &format!("connection = \"lake\"\nrole_arn = \"{role}\"\nbucket = \"b\"\nkey = \"k\""),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e,
        "field `role_arn`: [s3.connections.lake] is not s3://; only S3 itself takes a role"
    );
}
