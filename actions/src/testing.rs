//! Test servers shared by this crate's tests and the service's (feature `test-servers`), each
//! on a free loopback port and killed on drop: a moto server (S3 and the AWS SDK actions'
//! services), `Recorder` (an HTTP server standing in for a service: it records each request
//! and answers as scripted) and a tansu broker (Kafka-compatible; in-memory storage, or S3
//! storage in a moto bucket so that it keeps its data across a restart), plus a reader for Kafka topics built on rdkafka's own consumer.
//! A missing `moto_server` or tansu binary FAILS the test with how to install it.
//!
//! The tansu binary comes from `RULEWIRE_TANSU`, else `${RULEWIRE_CACHE_DIR:-~/.cache/rulewire}
//! /tansu/bin/tansu` (where scripts/test.sh installs it); a test that can't find it FAILS.

use std::{
    io::ErrorKind,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod moto_batch;

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
};
pub use rdkafka::{
    Message,
    message::{Headers, OwnedMessage},
};

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server (S3, Kinesis) on 127.0.0.1.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = free_port();
        let spawned = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Each server records (`start_recording`) into its own file, not moto's shared one.
            .env("MOTO_RECORDER_FILEPATH", recording_path(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "moto_server is not installed: run `pip install 'moto[server]'` (scripts/test.sh does it)"
            ),
            Err(e) => panic!("cannot start moto_server: {e}"),
        };
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && moto.request("GET", "").await.0 == 200
            {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at startup: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// One unsigned HTTP/1.0 request (`path` without the leading `/`): (status, body);
    /// status 0 when the server can't be reached.
    pub async fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.request_with_body(method, path, "").await
    }

    /// `request` with a JSON body.
    pub async fn request_with_body(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return (0, String::new());
        };
        let head = format!(
            "{method} /{path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut response = Vec::new();
        if conn.write_all(head.as_bytes()).await.is_err()
            || conn.read_to_end(&mut response).await.is_err()
        {
            return (0, String::new());
        }
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_owned())
    }

    /// Starts moto's request recorder: every later request is kept (method, URL, headers,
    /// body) for `recorded`.
    pub async fn start_recording(&self) {
        let (status, body) = self
            .request("POST", "moto-api/recorder/start-recording")
            .await;
        assert_eq!(status, 200, "starting moto's recorder: {body}");
    }

    /// The requests moto recorded since `start_recording`, oldest first, each `body` as
    /// text (moto keeps binary bodies in base64).
    pub async fn recorded(&self) -> Vec<serde_json::Value> {
        let (status, lines) = self
            .request("GET", "moto-api/recorder/download-recording")
            .await;
        assert_eq!(status, 200, "reading moto's recording: {lines}");
        let decode = |mut request: serde_json::Value| {
            if request["body_encoded"] == true {
                let body = request["body"].as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .expect("a base64 body");
                request["body"] = String::from_utf8_lossy(&bytes).into_owned().into();
            }
            request
        };
        lines
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| decode(serde_json::from_str(l).expect("a recorded request")))
            .collect()
    }

    /// Makes moto accept Lambda Invoke without Docker: it answers 202 (or the payload, for a
    /// synchronous call) for any function, without running code or recording the call. Without
    /// this, moto needs Docker to run a function, but still answers 404 for a missing one.
    pub async fn lambda_without_docker(&self) {
        let config = r#"{"lambda": {"use_docker": false}}"#;
        let (status, body) = self
            .request_with_body("POST", "moto-api/config", config)
            .await;
        assert!(
            (200..300).contains(&status),
            "moto-api/config: {status} {body}"
        );
    }

    /// `http://127.0.0.1:<port>`, for an `endpoint` setting.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An `[aws.connections.<name>]` table (of `rulewire.toml`) for this server.
    pub fn aws_toml(&self, name: &str) -> String {
        format!(
            "[aws.connections.{name}]\nregion = \"us-east-1\"\nendpoint = \"{}\"\n\
             access_key_id = \"test\"\nsecret_access_key = \"test\"\n",
            self.endpoint()
        )
    }

    /// The `[aws]` settings with one connection `name` to this server.
    pub fn aws_settings(&self, name: &str) -> crate::AwsSettings {
        #[derive(serde::Deserialize)]
        struct File {
            aws: crate::AwsSettings,
        }
        let file: File = toml::from_str(&self.aws_toml(name)).expect("aws table");
        file.aws
    }

    /// The SDK configuration of a connection to this server (the action's own connection code).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let conns = crate::Connections::open(&self.aws_settings("moto")).expect("moto connection");
        let conn = conns.get("moto").expect("configured");
        conn.sdk_config().await.clone()
    }

    /// An SQS client for this server (through the action's own connection code).
    pub async fn sqs_client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    /// A Step Functions client for this server.
    pub async fn sfn_client(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk_config().await)
    }

    /// Creates a state machine `name` (one Pass state) and returns its ARN.
    pub async fn create_state_machine(&self, name: &str) -> String {
        let definition = r#"{"StartAt":"Keep","States":{"Keep":{"Type":"Pass","End":true}}}"#;
        let created = self
            .sfn_client()
            .await
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn("arn:aws:iam::123456789012:role/rulewire-sfn")
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStateMachine {name}: {e:?}"));
        created.state_machine_arn().to_owned()
    }

    /// Every execution of state machine `arn` as (name, input), sorted by name: ListExecutions,
    /// then DescribeExecution for each input.
    pub async fn executions(&self, arn: &str) -> Vec<(String, String)> {
        let sfn = self.sfn_client().await;
        let listed = sfn
            .list_executions()
            .state_machine_arn(arn)
            .max_results(1000)
            .send()
            .await
            .expect("ListExecutions");
        let mut out = Vec::new();
        for e in listed.executions() {
            let described = sfn
                .describe_execution()
                .execution_arn(e.execution_arn())
                .send()
                .await
                .expect("DescribeExecution");
            let input = described.input().unwrap_or_default().to_owned();
            out.push((e.name().to_owned(), input));
        }
        out.sort();
        out
    }

    /// An SNS topic `name` with an SQS queue `<name>-q` subscribed to it (raw delivery):
    /// (topic ARN, queue URL). Read what the topic delivers with `sqs_drain`.
    pub async fn sns_topic_into_queue(&self, name: &str) -> (String, String) {
        let sns = aws_sdk_sns::Client::new(&self.sdk_config().await);
        let topic = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic");
        let topic_arn = topic.topic_arn().expect("a topic ARN").to_owned();
        let url = create_queue(&self.sqs_client().await, &format!("{name}-q"), false).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-east-1:123456789012:{name}-q"))
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("Subscribe");
        (topic_arn, url)
    }

    /// A Kinesis client for this server (through the action's own connection code).
    pub async fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk_config().await)
    }

    /// A DynamoDB client for this server.
    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// Every record written to Timestream table `database.table`, as moto keeps them
    /// (WriteRecords' `Records` JSON: `Dimensions`, `MeasureName`, `MeasureValue`,
    /// `MeasureValueType`, `Time`, `TimeUnit`), read from moto's `/moto-api/data.json`: moto's
    /// own timestream-query does not read written records.
    pub async fn timestream_records(&self, database: &str, table: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.request("GET", "moto-api/data.json").await;
        assert_eq!(status, 200, "moto-api/data.json: {body}");
        let data: serde_json::Value = serde_json::from_str(&body).expect("moto's data.json");
        let tables = data["timestreamwrite"]["TimestreamTable"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = tables
            .into_iter()
            .find(|t| t["db_name"] == database && t["name"] == table)
            .unwrap_or_else(|| panic!("no Timestream table {database}.{table} in moto"));
        found["records"].as_array().cloned().unwrap_or_default()
    }

    /// Creates Timestream database `database` with table `table`.
    pub async fn create_timestream_table(&self, database: &str, table: &str) {
        let client = aws_sdk_timestreamwrite::Client::new(&self.sdk_config().await);
        client
            .create_database()
            .database_name(database)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateDatabase {database}: {e:?}"));
        client
            .create_table()
            .database_name(database)
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTable {database}.{table}: {e:?}"));
    }

    /// Creates a bucket: `PUT /<bucket>`.
    pub async fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", bucket).await;
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(recording_path(self.port));
    }
}

fn recording_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("rulewire-moto-{port}.jsonl"))
}

/// The access key id a recorded request (`Moto::recorded`) was signed with (SigV4's
/// `Credential=<key>/...`).
pub fn signing_key(request: &serde_json::Value) -> Option<String> {
    let auth = request["headers"]["Authorization"].as_str()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

/// Whether moto recorded an STS AssumeRole of `role_arn`.
pub fn assumed_role(recorded: &[serde_json::Value], role_arn: &str) -> bool {
    let encoded = role_arn.replace(':', "%3A").replace('/', "%2F");
    recorded.iter().any(|r| {
        let body = r["body"].as_str().unwrap_or_default();
        body.contains("Action=AssumeRole") && (body.contains(&encoded) || body.contains(role_arn))
    })
}

/// One request a [`Recorder`] received: method, path and query as sent (percent-encoded),
/// headers, body.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Header `name` as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// What a [`Recorder`] answers: status, headers, body.
pub type Reply = (u16, Vec<(&'static str, String)>, String);

/// A real HTTP server on a free loopback port standing in for a service: it records every
/// request and answers each with `reply(index of the request, the request)`.
pub struct Recorder {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start(
        reply: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> Recorder {
        use axum::{extract::Request, response::IntoResponse};
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (log, reply) = (requests.clone(), Arc::new(reply));
        let app = axum::Router::new().fallback(move |req: Request| {
            let (log, reply) = (log.clone(), reply.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts
                        .uri
                        .path_and_query()
                        .map_or("", |p| p.as_str())
                        .to_owned(),
                    headers: parts.headers,
                    body: body.to_vec(),
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(recorded.clone());
                    log.len() - 1
                };
                let (status, headers, body) = (reply.as_ref())(index, &recorded);
                let mut response =
                    (axum::http::StatusCode::from_u16(status).unwrap(), body).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { endpoint, requests }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// `text` with its `%XX` escapes decoded (a recorded path back to its labels).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Creates queue `name` (a FIFO queue when `fifo`) and returns its URL.
pub async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, fifo: bool) -> String {
    let mut req = client.create_queue().queue_name(name);
    if fifo {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let created = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"));
    created.queue_url().expect("a queue URL").to_owned()
}

/// Receives and deletes every message of queue `url`: (body, message group id), in the
/// order SQS hands them out.
pub async fn sqs_drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    loop {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = got.messages();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned();
            out.push((m.body().unwrap_or_default().to_owned(), group));
            let handle = m.receipt_handle().unwrap();
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

/// Creates DynamoDB table `name` with partition key `hash` and optional sort key `range`,
/// each (attribute name, `S` or `N`).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    hash: (&str, &str),
    range: Option<(&str, &str)>,
) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    let keys = [
        Some((hash, KeyType::Hash)),
        range.map(|r| (r, KeyType::Range)),
    ];
    for ((attr, kind), key_type) in keys.into_iter().flatten() {
        let def = AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::from(kind))
            .build()
            .expect("attribute definition");
        let key = KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
            .expect("key schema element");
        req = req.attribute_definitions(def).key_schema(key);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
}

/// Every item of DynamoDB table `name` (one Scan; the tests' tables are small).
pub async fn scan_items(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let got = client
        .scan()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("Scan {name}: {e:?}"));
    assert!(got.last_evaluated_key().is_none(), "one Scan page only");
    got.items().to_vec()
}

/// An item (or map) as sorted `name=value` text, e.g. `device=S(m1) payload=M(seq=N(4))`,
/// for comparing items in tests that do not depend on the SDK's types.
pub fn item_text(
    attrs: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> String {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut parts: Vec<String> = attrs
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::S(s) => format!("{k}=S({s})"),
            AttributeValue::N(n) => format!("{k}=N({n})"),
            AttributeValue::M(m) => format!("{k}=M({})", item_text(m)),
            other => format!("{k}={other:?}"),
        })
        .collect();
    parts.sort();
    parts.join(" ")
}

/// Creates `stream` with `shards` shards.
pub async fn create_stream(client: &aws_sdk_kinesis::Client, stream: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating stream {stream}: {e}"));
}

/// Every record of `stream`, per shard in sequence order: (partition key, data as text).
pub async fn read_stream(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<Vec<(String, String)>> {
    use aws_sdk_kinesis::types::ShardIteratorType;
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let it = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let mut iterator = it.shard_iterator().map(str::to_owned);
        let mut records = Vec::new();
        while let Some(i) = iterator {
            let got = client.get_records().shard_iterator(i).send().await.unwrap();
            if got.records().is_empty() {
                break;
            }
            for r in got.records() {
                let data = String::from_utf8_lossy(r.data().as_ref()).into_owned();
                records.push((r.partition_key().unwrap_or_default().to_owned(), data));
            }
            iterator = got.next_shard_iterator().map(str::to_owned);
        }
        out.push(records);
    }
    out
}

/// The tansu binary; panics with how to get it when it can't be found.
pub fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("RULEWIRE_TANSU") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "RULEWIRE_TANSU={} is not a file",
            path.display()
        );
        return path;
    }
    let cache = std::env::var("RULEWIRE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/rulewire")
        });
    let path = cache.join("tansu/bin/tansu");
    assert!(
        path.is_file(),
        "tansu (the Kafka-compatible test broker) is not installed: run scripts/test.sh, which \
         installs it into {}, or set RULEWIRE_TANSU=/path/to/tansu",
        cache.join("tansu").display()
    );
    path
}

/// A tansu broker on 127.0.0.1.
pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
    bin: PathBuf,
    /// `Some(moto port)`: storage in the bucket `tansu` of that moto server.
    s3: Option<u16>,
}

impl Tansu {
    /// A broker with in-memory storage (a restart empties it).
    pub async fn start() -> Tansu {
        Tansu::start_with(None).await
    }

    /// A broker storing its data in `moto` (bucket `tansu`, created here), so that records
    /// survive a restart (tansu's `s3://` engine, with conditional PUTs).
    pub async fn start_on_s3(moto: &Moto) -> Tansu {
        moto.create_bucket("tansu").await;
        Tansu::start_with(Some(moto.port)).await
    }

    async fn start_with(s3: Option<u16>) -> Tansu {
        let mut t = Tansu {
            child: None,
            port: free_port(),
            bin: tansu_binary(),
            s3,
        };
        t.restart().await;
        t
    }

    /// `host:port` for `bootstrap_servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on the same port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ]);
        match self.s3 {
            None => cmd.args(["--storage-engine", "memory://tansu/"]),
            Some(port) => cmd
                .args(["--storage-engine", "s3://tansu/"])
                .env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_REGION", "us-east-1"),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("tansu exited at startup: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 30 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the broker (SIGKILL: no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `tansu topic create <name> --partitions <n>`.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `[kafka.connections.<name>]` table (of `rulewire.toml`) for this broker, with
    /// `extra` librdkafka properties.
    pub fn connection_toml(&self, name: &str, extra: &[(&str, &str)]) -> String {
        let mut props = String::new();
        for (k, v) in extra {
            props.push_str(&format!("\"{k}\" = \"{v}\"\n"));
        }
        format!(
            "[kafka.connections.{name}]\nbootstrap_servers = \"{}\"\n\
             [kafka.connections.{name}.properties]\n{props}",
            self.bootstrap()
        )
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `topic` (partitions `0..partitions`) from the beginning until `want` records have
/// arrived or `within` has passed; returns what arrived.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    want: usize,
    within: Duration,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", free_port()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < want {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => out.push(m.detach()),
            Ok(Err(e)) => panic!("consuming {topic}: {e}"),
            Err(_) => break,
        }
    }
    out
}

/// The record's value as text.
pub fn value(m: &OwnedMessage) -> String {
    String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap()
}
