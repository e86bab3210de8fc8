//! Shared helpers for the service tests: free ports, a private Mosquitto per test
//! (`max_queued_messages 0` so nothing is dropped), rulewire as a subprocess (the built
//! binary) with its own config and rules directory, and a small rumqttc test client.
#![allow(dead_code)]

pub mod brokers;
pub mod browser;
pub mod kill;
pub mod tls;
pub mod webhook;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// Runs the built `rulewire` with `args` to completion: exit code, stdout, stderr.
pub fn rulewire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rulewire"))
        .args(args)
        .output()
        .expect("run rulewire");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `f` holds, or panics with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Mosquitto started for one test, on a free port; killed on drop.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("", None)
    }

    /// `listener_extra` is appended after the `listener` line (e.g. TLS settings);
    /// `port` forces a port.
    pub fn start_with(listener_extra: &str, port: Option<u16>) -> Mosquitto {
        Mosquitto::start_configured(listener_extra, port, false)
    }

    /// With persistence: sessions and queued messages survive [`Mosquitto::stop`] and
    /// [`Mosquitto::restart`].
    pub fn start_persistent(listener_extra: &str) -> Mosquitto {
        Mosquitto::start_configured(listener_extra, None, true)
    }

    fn start_configured(listener_extra: &str, port: Option<u16>, persistent: bool) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = port.unwrap_or_else(free_port);
        let conf = dir.path().join("mosquitto.conf");
        let persistence = if persistent {
            // Mosquitto started as root drops to its own user: let it write its database.
            use std::os::unix::fs::PermissionsExt;
            let db = dir.path().join("db");
            std::fs::create_dir(&db).unwrap();
            for d in [dir.path(), db.as_path()] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
            format!("persistence true\npersistence_location {}/", db.display())
        } else {
            "persistence false".to_owned()
        };
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\n{persistence}\nmax_queued_messages 0\n\
                 max_inflight_messages 20\nlistener {port} 127.0.0.1\n{listener_extra}\n"
            ),
        )
        .unwrap();
        let child = Mosquitto::spawn(&conf, port);
        Mosquitto {
            port,
            child,
            conf,
            _dir: dir,
        }
    }

    fn spawn(conf: &Path, port: u16) -> Child {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// SIGTERM (a persistent broker saves its sessions), and waits for the exit.
    pub fn stop(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.child.wait();
    }

    /// Starts again on the same ports with the same configuration.
    pub fn restart(&mut self) {
        self.child = Mosquitto::spawn(&self.conf, self.port);
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A rules directory with some rule files.
pub fn rules_dir(rules: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in rules {
        write_rule(dir.path(), name, text);
    }
    dir
}

/// Writes `<dir>/<name>.sql` atomically (rename), as editors do.
pub fn write_rule(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.sql"))).unwrap();
}

/// rulewire running as a subprocess of the test.
pub struct Rulewire {
    pub child: Child,
    pub http_port: u16,
    pub stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rulewire {
    /// Starts the built binary with `config` (TOML; `[http]` and `[rules]` are added) and
    /// waits until `/readyz` answers 200.
    pub async fn start(config: &str, rules: &Path) -> Rulewire {
        let rw = Rulewire::spawn(config, rules);
        rw.wait_ready().await;
        rw
    }

    /// Starts without waiting for readiness. Without a `[storage]` table in `config` the data
    /// directory is a temporary one of this instance.
    pub fn spawn(config: &str, rules: &Path) -> Rulewire {
        Rulewire::spawn_with_env(config, rules, &[])
    }

    /// [`Rulewire::spawn`] with extra environment variables (e.g. `RULEWIRE_HTTP_AUTH`).
    pub fn spawn_with_env(config: &str, rules: &Path, env: &[(&str, &str)]) -> Rulewire {
        let dir = tempfile::tempdir().unwrap();
        let http_port = free_port();
        let path = dir.path().join("rulewire.toml");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(
            f,
            "{config}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[rules]\ndir = {:?}\n",
            rules.display().to_string()
        )
        .unwrap();
        if !config.contains("[storage]") {
            let data = dir.path().join("data");
            writeln!(f, "[storage]\ndata_dir = {:?}", data.display().to_string()).unwrap();
        }
        let stderr_path = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_rulewire"))
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info,rulewire=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        Rulewire {
            child,
            http_port,
            stderr_path,
            _dir: dir,
        }
    }

    pub async fn wait_ready(&self) {
        wait_until("rulewire /readyz", Duration::from_secs(20), async || {
            self.get("/readyz")
                .await
                .is_some_and(|(code, _)| code == 200)
        })
        .await;
    }

    /// GET on the admin server: (status, body), or None when it does not answer.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        rulewire::mqtt::install_crypto_provider();
        let url = format!("http://127.0.0.1:{}{path}", self.http_port);
        let resp = reqwest::get(url).await.ok()?;
        let code = resp.status().as_u16();
        Some((code, resp.text().await.ok()?))
    }

    /// The value of one metric line (`name{labels}`), 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics").await.unwrap_or_default();
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (panics after `timeout`).
    pub fn sigterm(&mut self, timeout: Duration) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rulewire did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rulewire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test MQTT client: publish with `client`, read what arrives on `rx` as (topic, payload).
pub struct TestClient {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl TestClient {
    /// Connects (clean session) and subscribes to `filters`; returns once every SUBACK arrived.
    pub async fn connect(port: u16, id: &str, filters: &[&str]) -> TestClient {
        TestClient::connect_with(port, id, filters, true).await
    }

    /// `connect`, with a persistent session when `clean_session` is false (the broker keeps
    /// the subscriptions and queues QoS 1 messages while the client is away).
    pub async fn connect_with(
        port: u16,
        id: &str,
        filters: &[&str],
        clean_session: bool,
    ) -> TestClient {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(10))
            .set_clean_session(clean_session)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let c = client.clone();
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        tokio::spawn(async move {
            // One SUBSCRIBE per filter: ready once every one of them is acknowledged.
            let mut subacks_due = 0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for f in &filters {
                            c.subscribe(f.clone(), QoS::AtLeastOnce).await.unwrap();
                        }
                        subacks_due = filters.len();
                        if subacks_due == 0 {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks_due = subacks_due.saturating_sub(1);
                        if subacks_due == 0 {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx.recv())
            .await
            .expect("test client connect")
            .unwrap();
        TestClient { client, rx }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
    }

    /// The next message, or None after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next message as (topic, JSON), panicking after `timeout`.
    pub async fn next_json(&mut self, timeout: Duration) -> (String, serde_json::Value) {
        let (topic, payload) = self.next(timeout).await.expect("a message");
        (
            topic,
            serde_json::from_slice(&payload)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&payload))),
        )
    }

    /// Collects messages until `timeout` passes with nothing new.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(m) = self.next(quiet).await {
            out.push(m);
        }
        out
    }
}

/// An AWS action's end-to-end setup: rulewire on `broker` with the AWS connection `moto`,
/// a subscriber to the error actions' `errors/#`, and `count` readings `{"seq": s}`
/// published on `meters/m<s % 3>/reading`. `name` keeps client ids apart.
pub async fn start_meter_readings(
    name: &str,
    broker: &Mosquitto,
    aws_toml: &str,
    rules: &Path,
    count: u64,
) -> (Rulewire, TestClient) {
    let config = format!(
        "[broker]\nurl = \"{}\"\nclient_id = \"rw-{name}\"\n{aws_toml}",
        broker.url()
    );
    let rw = Rulewire::start(&config, rules).await;
    let errors = TestClient::connect(broker.port, &format!("{name}-errors"), &["errors/#"]).await;
    let producer = TestClient::connect(broker.port, &format!("{name}-producer"), &[]).await;
    for s in 0..count {
        let payload = format!("{{\"seq\": {s}}}");
        producer
            .publish(&format!("meters/m{}/reading", s % 3), payload)
            .await;
    }
    (rw, errors)
}

/// A rule file on `meters/+/reading` (`SELECT seq, topic(2) AS device`) with one action
/// (`action`: its header lines without the `-- ` prefix) and a republish error action to
/// `errors/<device>`, as the AWS actions' end-to-end tests use it.
pub fn meter_rule(action: &str) -> String {
    let action: String = action.lines().map(|l| format!("-- {l}\n")).collect();
    format!(
        "-- [[action]]\n{action}--\n-- [error_action]\n-- type = \"republish\"\n\
         -- topic = \"errors/${{topic(2)}}\"\n-- qos = 1\n\
         SELECT seq, topic(2) AS device FROM 'meters/+/reading'\n"
    )
}

/// Reads `count` error payloads from `errors` and checks each: rule `rule`, one failure of
/// `failed_action` on `failed_resource`.
pub async fn expect_error_payloads(
    errors: &mut TestClient,
    count: usize,
    rule: &str,
    failed_action: &str,
    failed_resource: &str,
) {
    for _ in 0..count {
        let (topic, json) = errors.next_json(Duration::from_secs(30)).await;
        assert!(topic.starts_with("errors/m"), "{topic}");
        assert_eq!(json["ruleName"], rule);
        assert_eq!(json["failures"][0]["failedAction"], failed_action);
        assert_eq!(json["failures"][0]["failedResource"], failed_resource);
    }
}

/// Counts of each value in `items`.
pub fn counts<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> HashMap<T, usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// Connects with `opts` and returns the refusal's CONNACK code; panics if the broker accepts
/// the client or does not answer within 10 s.
pub async fn connect_refused(opts: MqttOptions) -> rumqttc::ConnectReturnCode {
    let (_client, mut events) = AsyncClient::new(opts, 10);
    match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
        Ok(Err(rumqttc::ConnectionError::ConnectionRefused(code))) => code,
        other => panic!("expected a refused CONNECT, got {other:?}"),
    }
}

/// The PUBACK reason codes of an MQTT 5 device's QoS 1 messages, in the order of its publishes.
pub async fn mqtt5_puback_reasons(port: u16, id: &str, topics: &[&str]) -> Vec<String> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (device, mut events) = AsyncClient::new(opts, 10);
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let Event::Incoming(Packet::PubAck(ack)) = event {
                let _ = acks.send(format!("{:?}", ack.reason));
            }
        }
    });
    let qos = rumqttc::v5::mqttbytes::QoS::AtLeastOnce;
    let mut reasons = Vec::new();
    for topic in topics {
        device
            .publish(*topic, qos, false, r#"{"n": 1}"#)
            .await
            .unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(10), acked.recv()).await;
        reasons.push(reason.expect("a PUBACK").expect("the device's connection"));
    }
    reasons
}
