//! The opensearch action against a real HTTP server standing in for OpenSearch (it cannot be
//! installed here): the document request (method, path, body), HTTP basic auth, and SigV4
//! signatures VERIFIED by recomputing them from the received request with the test secret,
//! following the SigV4 specification (ring's HMAC and SHA-256, not aws-sigv4); retries on
//! 429 and 5xx; permanent failures; connection tables.

use std::sync::Arc;

use base64::Engine;
use rulewire_engine::SqlVersion;

use crate::{
    Action, ActionContext, Connections, FiredMessage, OpenSearchSettings,
    test_util::{
        Recorded, Recorder, Reply, build_action, endpoint_url_context, fired, table, try_build,
    },
};

/// OpenSearch's answer to a new document.
fn created() -> Reply {
    let body = r#"{"_index":"i","_id":"1","result":"created"}"#;
    (
        201,
        vec![("content-type", "application/json".to_owned())],
        body.to_owned(),
    )
}

/// A context whose `[opensearch.connections]` are `tables` and whose AWS connection `moto`
/// (keys `test`/`test`, us-east-1) points at `server`.
fn os_context(
    server: &Recorder,
    tables: &str,
) -> (ActionContext, Arc<crate::test_util::CountingMetrics>) {
    let (mut ctx, metrics) = endpoint_url_context(&server.endpoint);
    let settings: OpenSearchSettings = toml::from_str(tables).unwrap();
    ctx.opensearch = Arc::new(Connections::open(&settings).unwrap());
    (ctx, metrics)
}

fn action(ctx: &ActionContext, fields: &str) -> Arc<dyn Action> {
    let text = format!("type = \"opensearch\"\n{fields}");
    build_action(&table(&text), SqlVersion::default(), ctx).unwrap()
}

fn reading(n: u32) -> FiredMessage {
    fired(
        "search_rule",
        &format!("plant/p{}/data", n % 2),
        format!("{{\"n\":{n}}}").as_bytes(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

/// SigV4's URI encoding of a path: unreserved characters and `/` stay, every other byte
/// becomes `%XX`. Applied to the path as sent (already encoded once), this is the double
/// encoding SigV4 asks for outside S3.
fn uri_encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The credential scope of a verified request: access key, region, service.
type Scope = (String, String, String);

/// Recomputes the SigV4 signature of `r` with `secret` from what the server received: the
/// canonical request (method, double-encoded path, query, the signed headers' values, the
/// body's SHA-256), the string to sign and the derived key. `Ok(scope)` when it equals the
/// signature of the `Authorization` header.
fn verify_sigv4(r: &Recorded, secret: &str) -> Result<Scope, String> {
    let auth = r.header("authorization");
    let fields = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| format!("not a SigV4 authorization: {auth:?}"))?;
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name))
            .ok_or_else(|| format!("no {name} in {auth:?}"))
    };
    let (credential, signed, signature) = (
        field("Credential=")?,
        field("SignedHeaders=")?,
        field("Signature=")?,
    );
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(format!("bad credential scope {credential:?}"));
    };
    let payload = sha256_hex(&r.body);
    if r.header("x-amz-content-sha256") != payload {
        return Err("x-amz-content-sha256 is not the body's SHA-256".to_owned());
    }
    let amz_date = r.header("x-amz-date");
    if !amz_date.starts_with(date) {
        return Err(format!("x-amz-date {amz_date} is not of {date}"));
    }
    let headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", r.header(h).trim()))
        .collect();
    let (path, query) = r.path.split_once('?').unwrap_or((r.path.as_str(), ""));
    let canonical = format!(
        "{}\n{}\n{query}\n{headers}\n{signed}\n{payload}",
        r.method,
        uri_encode_path(path)
    );
    let scope_text = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope_text}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, to_sign.as_bytes()));
    if expected != signature {
        return Err(format!("signature mismatch:\n{canonical}"));
    }
    for needed in ["host", "x-amz-date", "x-amz-content-sha256", "content-type"] {
        if !signed.split(';').any(|h| h == needed) {
            return Err(format!("{needed} is not signed ({signed})"));
        }
    }
    Ok((key_id.to_owned(), region.to_owned(), service.to_owned()))
}

/// Each output is `PUT /<index>/<type>/<id>` with the rendered templates (an id with `/` is
/// one path segment) and the output as the JSON body; `basic` connections send HTTP basic
/// auth, `none` nothing.
#[tokio::test]
async fn documents_are_put_at_the_rendered_path_with_basic_auth() {
    let server = Recorder::start(|_, _| created()).await;
    let (ctx, metrics) = os_context(
        &server,
        "[connections.logs]\nusername = \"rulewire\"\npassword = \"s3cret\"\n\
         [connections.open]\nauth = \"none\"",
    );
    let fields = |conn: &str| {
        format!(
            "connection = \"{conn}\"\nendpoint = \"{}\"\nindex = \"plant-${{topic(2)}}\"\nid = \"${{topic()}}\"",
            server.endpoint
        )
    };
    let logs = action(&ctx, &fields("logs"));
    for n in 0..2 {
        logs.execute(&reading(n)).await.unwrap();
    }
    let open = action(
        &ctx,
        &format!("{}\ndocument_type = \"reading\"", fields("open")),
    );
    open.execute(&reading(1)).await.unwrap();
    assert_eq!(metrics.get("success:opensearch"), 3);

    let requests = server.requests();
    let got: Vec<(&str, &str, &[u8], &str)> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.header("content-type"), "application/json");
            (
                r.method.as_str(),
                r.path.as_str(),
                r.body.as_slice(),
                r.header("authorization"),
            )
        })
        .collect();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("rulewire:s3cret")
    );
    assert_eq!(
        got,
        [
            (
                "PUT",
                "/plant-p0/_doc/plant%2Fp0%2Fdata",
                &b"{\"n\":0}"[..],
                basic.as_str()
            ),
            (
                "PUT",
                "/plant-p1/_doc/plant%2Fp1%2Fdata",
                &b"{\"n\":1}"[..],
                basic.as_str()
            ),
            (
                "PUT",
                "/plant-p1/reading/plant%2Fp1%2Fdata",
                &b"{\"n\":1}"[..],
                ""
            ),
        ]
    );
}

/// `auth = "sigv4"` signs with the AWS connection's credentials for the configured service
/// and region; the server recomputes each signature with the known secret (and a wrong
/// secret does not verify, so the check is not vacuous).
#[tokio::test]
async fn sigv4_signatures_verify_with_the_connection_secret() {
    let server = Recorder::start(|_, _| created()).await;
    let (ctx, _) = os_context(
        &server,
        "[connections.domain]\nauth = \"sigv4\"\naws = \"moto\"\nregion = \"eu-west-1\"\n\
         [connections.serverless]\nauth = \"sigv4\"\naws = \"moto\"\nservice = \"aoss\"",
    );
    for conn in ["domain", "serverless"] {
        let os = action(
            &ctx,
            &format!(
                "connection = \"{conn}\"\nendpoint = \"{}/prefix/\"\nindex = \"meters\"\nid = \"${{topic()}} 1\"",
                server.endpoint
            ),
        );
        os.execute(&reading(1)).await.unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].path,
        "/prefix/meters/_doc/plant%2Fp1%2Fdata%201"
    );
    let scopes: Vec<Scope> = requests
        .iter()
        .map(|r| verify_sigv4(r, "test").unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let scope =
        |region: &str, service: &str| ("test".to_owned(), region.to_owned(), service.to_owned());
    assert_eq!(
        scopes,
        [scope("eu-west-1", "es"), scope("us-east-1", "aoss")],
        "the table's region; else the AWS connection's"
    );
    assert!(verify_sigv4(&requests[0], "not-the-secret").is_err());
}

/// `auto` (the default connection): a request to an AWS domain is signed for the region and
/// service its host names. The domain resolves to the test server.
#[tokio::test]
async fn aws_domains_are_signed_for_the_region_and_service_of_their_host() {
    let server = Recorder::start(|_, _| created()).await;
    let (mut ctx, _) = os_context(&server, "[connections.default]\naws = \"moto\"");
    let addr: std::net::SocketAddr = server.endpoint["http://".len()..].parse().unwrap();
    let domain = "search-meters-abc123.ap-south-1.es.amazonaws.com";
    let aoss = "abc123.eu-central-1.aoss.amazonaws.com";
    ctx.http = reqwest::Client::builder()
        .resolve(domain, addr)
        .resolve(aoss, addr)
        .build()
        .unwrap();
    for host in [domain, aoss] {
        let endpoint = format!("http://{host}:{}", addr.port());
        let os = action(
            &ctx,
            &format!("endpoint = \"{endpoint}\"\nindex = \"m\"\nid = \"1\""),
        );
        os.execute(&reading(1)).await.unwrap();
    }
    let scopes: Vec<Scope> = server
        .requests()
        .iter()
        .map(|r| verify_sigv4(r, "test").unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let scope =
        |region: &str, service: &str| ("test".to_owned(), region.to_owned(), service.to_owned());
    assert_eq!(
        scopes,
        [scope("ap-south-1", "es"), scope("eu-central-1", "aoss")]
    );

    // Not an AWS host and no username: auto sends no authentication at all.
    let plain = action(
        &ctx,
        &format!(
            "endpoint = \"{}\"\nindex = \"m\"\nid = \"2\"",
            server.endpoint
        ),
    );
    plain.execute(&reading(1)).await.unwrap();
    assert_eq!(server.requests()[2].header("authorization"), "");
}

/// 429 and 5xx are retried (PUT with an id is idempotent); any other status fails at once
/// with the response; output that is not a JSON object is never sent. `failedResource` is
/// the index.
#[tokio::test]
async fn throttling_is_retried_and_other_statuses_fail_at_once() {
    let server = Recorder::start(|index, request| match request.path.as_str() {
        "/flaky/_doc/1" if index == 0 => (429, vec![], "Too Many Requests".to_owned()),
        "/flaky/_doc/1" if index == 1 => (503, vec![], "unavailable".to_owned()),
        "/Bad/_doc/1" => (
            400,
            vec![],
            r#"{"error":{"type":"invalid_index_name_exception","reason":"must be lowercase"}}"#
                .to_owned(),
        ),
        _ => created(),
    })
    .await;
    let (ctx, metrics) = os_context(&server, "[connections.default]\nauth = \"none\"");
    let os = |index: &str| {
        action(
            &ctx,
            &format!(
                "endpoint = \"{}\"\nindex = \"{index}\"\nid = \"1\"",
                server.endpoint
            ),
        )
    };
    os("flaky").execute(&reading(1)).await.unwrap();
    assert_eq!(server.requests().len(), 3);
    assert_eq!(metrics.get("retry:opensearch"), 2);

    let e = os("Bad").execute(&reading(1)).await.unwrap_err();
    assert_eq!(
        (e.failed_action.as_str(), e.failed_resource.as_str()),
        ("OpenSearchAction", "Bad")
    );
    assert!(e.error_message.starts_with("HTTP status 400"), "{e:?}");
    assert!(e.error_message.contains("must be lowercase"), "{e:?}");
    assert_eq!(
        (metrics.get("retry:opensearch"), server.requests().len()),
        (2, 4)
    );

    let e = os("m")
        .execute(&fired("search_rule", "plant/p1/data", b"[1,2]"))
        .await
        .unwrap_err();
    assert!(e.error_message.contains("not a JSON object"), "{e:?}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn connection_tables_and_rule_tables_are_checked() {
    let open = |text: &str| {
        let settings: OpenSearchSettings = toml::from_str(text).unwrap();
        Connections::open(&settings)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        open("[connections.a]\nauth = \"basic\""),
        Err("[opensearch.connections.a] auth = \"basic\" needs username and password".to_owned())
    );
    let e = open("[connections.a]\nauth = \"sigv4\"\nusername = \"u\"\npassword = \"p\"");
    assert!(e.unwrap_err().contains("not auth = \"sigv4\""));
    let e = open(
        "[connections.a]\nusername = \"u\"\npassword = \"p\"\nregion = \"x\"\nauth = \"basic\"",
    );
    assert!(e.unwrap_err().contains("region is for SigV4"));
    let e = open("[connections.a]\nservice = \"kibana\"");
    assert!(e.unwrap_err().contains("service: expected \"es\""));
    let e = open("[connections.a]\npassword = \"p\"");
    assert!(e.unwrap_err().contains("password needs a username"));
    let settings: OpenSearchSettings =
        toml::from_str("[connections.a]\nusername = \"u\"\npassword = \"hunter2\"").unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"));
    assert_eq!(settings.names(), ["a", "default"]);

    let (mut ctx, _) = endpoint_url_context("http://127.0.0.1:1");
    ctx.opensearch = Arc::new(Connections::open(&settings).unwrap());
    let err =
        |fields: &str| try_build(&ctx, &format!("type = \"opensearch\"\n{fields}")).unwrap_err();
    let e = err("endpoint = \"search-d.es.amazonaws.com\"\nindex = \"i\"\nid = \"1\"");
    assert!(e.starts_with("field `endpoint`: expected https://"), "{e}");
    let e = err("endpoint = \"https://h?x=1\"\nindex = \"i\"\nid = \"1\"");
    assert!(e.starts_with("field `endpoint`: expected https://"), "{e}");
    let e = err("endpoint = \"https://h\"\nindex = \"\"\nid = \"1\"");
    assert_eq!(e, "field `index`: must not be empty");
    let e = err("endpoint = \"https://h\"\nindex = \"i\"");
    assert!(e.contains("missing field `id`"), "{e}");
    let e = err("endpoint = \"https://h\"\nindex = \"i\"\nid = \"1\"\ndoc_type = \"d\"");
    assert!(e.contains("unknown field `doc_type`"), "{e}");
    let e = err("connection = \"b\"\nendpoint = \"https://h\"\nindex = \"i\"\nid = \"1\"");
    assert!(e.contains("no [opensearch.connections.b]"), "{e}");
}
