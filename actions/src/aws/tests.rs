//! AWS connection tables: parsing, the `endpoint_url` alias, checks, redaction; and the SDK
//! configuration they load (region fallback, static credentials, AssumeRole through moto's STS).

use aws_credential_types::provider::ProvideCredentials;

use super::*;
use crate::connections::Connections;

/// The credentials the SDK would sign with.
async fn credentials(sdk: &SdkConfig) -> Credentials {
    let provider = sdk.credentials_provider().expect("a credentials provider");
    provider.provide_credentials().await.expect("credentials")
}

fn settings(text: &str) -> AwsSettings {
    toml::from_str(text).unwrap()
}

#[test]
fn tables_parse_check_and_redact() {
    let s = settings(
        "[connections.moto]\nregion = \"eu-west-1\"\nendpoint_url = \"http://127.0.0.1:5000\"\naccess_key_id = \"AKIAEXAMPLE\"\nsecret_access_key = \"${env:SECRET}\"",
    );
    assert_eq!(
        s.names(),
        ["default", "moto"],
        "default is the SDK environment"
    );
    assert_eq!(s.connections["moto"].endpoint, "http://127.0.0.1:5000");
    let conns =
        Connections::open_with_env(&s, |n| (n == "SECRET").then(|| "s3cr3t".into())).unwrap();
    let moto = conns.get("moto").unwrap();
    assert!(moto.has_endpoint() && !conns.get("default").unwrap().has_endpoint());
    let text = format!("{:?} {s:?}", moto.cfg);
    assert!(
        !text.contains("s3cr3t") && !text.contains("AKIAEXAMPLE"),
        "{text}"
    );

    let err = |text: &str| Connections::open(&settings(text)).unwrap_err().to_string();
    assert_eq!(
        err("[connections.a]\naccess_key_id = \"k\""),
        "[aws.connections.a] access_key_id and secret_access_key must be set together"
    );
    assert!(err("[connections.a]\nendpoint = \"localhost:5000\"").contains("endpoint: expected"));
    assert!(err("[connections.a]\nrole_arn = \"my-role\"").contains("role_arn: expected arn:"));
    assert!(
        toml::from_str::<AwsSettings>("[connections.a]\nendpoint = \"x\"\nendpoint_url = \"y\"")
            .is_err(),
        "both spellings at once is a duplicate field"
    );
}

#[tokio::test]
async fn static_credentials_region_fallback_and_assumed_role() {
    let s = settings(
        "[connections.keys]\naccess_key_id = \"AKIA1\"\nsecret_access_key = \"s1\"\n[connections.region]\nregion = \"ap-south-1\"\naccess_key_id = \"AKIA2\"\nsecret_access_key = \"s2\"",
    );
    let conns = Connections::open(&s).unwrap();
    let keys = conns.get("keys").unwrap();
    let sdk = keys.sdk_config().await;
    // No region in the table: the environment's, else the fallback.
    let expected = std::env::var("AWS_REGION").unwrap_or_else(|_| FALLBACK_REGION.into());
    assert_eq!(sdk.region().unwrap().as_ref(), expected);
    let creds = credentials(sdk).await;
    assert_eq!(creds.access_key_id(), "AKIA1");
    let region = conns.get("region").unwrap();
    let sdk = region.sdk_config().await;
    assert_eq!(sdk.region().unwrap().as_ref(), "ap-south-1");
}

/// `role_arn` is assumed through STS (moto's), with the table's keys as the base credentials;
/// the SDK then signs with the role's temporary credentials.
#[tokio::test]
async fn role_arn_is_assumed_through_sts() {
    let moto = crate::testing::Moto::start().await;
    let text = format!(
        "[connections.role]\nregion = \"us-east-1\"\nendpoint = \"{}\"\naccess_key_id = \"AKIABASE\"\nsecret_access_key = \"base\"\nrole_arn = \"arn:aws:iam::123456789012:role/rulewire-writer\"\nexternal_id = \"ext-1\"",
        moto.endpoint()
    );
    let conns = Connections::open(&settings(&text)).unwrap();
    let role = conns.get("role").unwrap();
    let sdk = role.sdk_config().await;
    let creds = credentials(sdk).await;
    assert_ne!(
        creds.access_key_id(),
        "AKIABASE",
        "the role's credentials, not the base keys"
    );
    assert!(
        creds.session_token().is_some(),
        "temporary credentials carry a session token"
    );
}

/// An action's `role_arn` (`AwsTarget`) is assumed on top of the connection, after the
/// connection's own role: STS (moto's) then says the caller is the action's role.
#[tokio::test]
async fn an_actions_role_is_assumed_after_the_connections() {
    let moto = crate::testing::Moto::start().await;
    let text = format!(
        "[connections.role]\nregion = \"us-east-1\"\nendpoint = \"{}\"\naccess_key_id = \"AKIABASE\"\nsecret_access_key = \"base\"\nrole_arn = \"arn:aws:iam::123456789012:role/rulewire-service\"",
        moto.endpoint()
    );
    let conns = Connections::open(&settings(&text)).unwrap();
    let caller = |conn: Arc<AwsConnection>| async move {
        let sts = aws_sdk_sts::Client::new(conn.sdk_config().await);
        let me = sts.get_caller_identity().send().await.unwrap();
        me.arn().unwrap().to_owned()
    };
    let connection = conns.get("role").unwrap();
    let action = Arc::new(connection.assuming("arn:aws:iam::123456789012:role/iot-to-sqs"));
    let (of_connection, of_action) = (caller(connection).await, caller(action).await);
    assert!(
        of_connection.contains(":assumed-role/rulewire-service/"),
        "{of_connection}"
    );
    assert!(
        of_action.contains(":assumed-role/iot-to-sqs/"),
        "{of_action}"
    );
}
