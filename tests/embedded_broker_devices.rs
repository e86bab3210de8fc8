//! Devices on the embedded broker as AWS IoT Core admits them: logins and certificates from
//! the device registry (`devices_dir`), AWS IoT policies on connect, publish, subscribe and
//! delivery, revocation without a restart, and the safe default for exposed listeners.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::tls::Pki;
use common::*;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

/// The thing policy of AWS's documentation: a thing may connect as itself, and use topics and
/// filters under its own name; it receives only `<thing>/public/...`.
const THING_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
    {"Effect": "Allow", "Action": ["iot:Publish"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"]},
    {"Effect": "Allow", "Action": ["iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/public/*"]},
    {"Effect": "Allow", "Action": ["iot:Subscribe"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.ThingName}/*"]}
  ]
}"#;

// sha256("secret")
const SECRET: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

const ECHO: &str = "-- [[action]]
-- type = \"republish\"
-- topic = \"out/${topic()}\"
SELECT *, topic() AS t FROM 'lamp/#'
";

fn write_devices(dir: &Path, devices: &str) {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/ThingPolicy.json"), THING_POLICY).unwrap();
    // Write and rename, so the watcher never reads half a file.
    std::fs::write(dir.join("devices.toml.new"), devices).unwrap();
    std::fs::rename(dir.join("devices.toml.new"), dir.join("devices.toml")).unwrap();
}

/// A device connection: its client, and every event or error its event loop saw.
struct Device {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, String>>,
}

impl Device {
    fn start(opts: MqttOptions) -> Device {
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let r = eventloop.poll().await.map_err(|e| e.to_string());
                let failed = r.is_err();
                if tx.send(r).is_err() {
                    return;
                }
                if failed {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        });
        Device { client, events }
    }

    fn login(port: u16, id: &str, user: &str, password: &str) -> Device {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_credentials(user, password);
        Device::start(opts)
    }

    /// The next incoming packet or error, skipping outgoing events.
    async fn next(&mut self) -> Result<Packet, String> {
        loop {
            match tokio::time::timeout(T, self.events.recv()).await {
                Ok(Some(Ok(Event::Incoming(p)))) => return Ok(p),
                Ok(Some(Ok(Event::Outgoing(_)))) => continue,
                Ok(Some(Err(e))) => return Err(e),
                Ok(None) | Err(_) => panic!("no event from the device's connection"),
            }
        }
    }

    async fn connected(&mut self) {
        match self.next().await {
            Ok(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Success => {}
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }

    /// The next error of the connection (packets before it are skipped; a CONNACK that
    /// accepts is a failure).
    async fn refused(&mut self) -> String {
        loop {
            match self.next().await {
                Err(e) => return e,
                Ok(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Success => {
                    panic!("expected a refusal, the connection was accepted")
                }
                Ok(_) => {}
            }
        }
    }

    /// Two more refusals as the client reconnects by itself (a CONNACK that accepts fails).
    async fn refused_twice_more(&mut self) {
        let mut refusals = 0;
        while refusals < 2 {
            match self.next().await {
                Err(e) if e.contains("NotAuthorized") => refusals += 1,
                Err(_) => {}
                Ok(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Success => {
                    panic!("a revoked certificate connected again")
                }
                Ok(_) => {}
            }
        }
    }

    /// The next PUBLISH, or None after `wait`.
    async fn message(&mut self, wait: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Ok(Event::Incoming(Packet::Publish(p))))) => {
                    return Some((p.topic, p.payload.to_vec()));
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_and_policies_decide_what_a_device_may_do() {
    let devices = tempfile::tempdir().unwrap();
    write_devices(
        devices.path(),
        &format!(
            "[[thing]]\nname = \"lamp\"\n\
             [[login]]\nusername = \"lamp-user\"\npassword_sha256 = \"{SECRET}\"\nthing = \"lamp\"\npolicies = [\"ThingPolicy\"]\n"
        ),
    );
    let port = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-devices\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\ndevices_dir = \"{}\"\n",
        devices.path().display()
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "watcher", &["out/#"]).await;

    // A wrong password, and a client id the policy does not allow.
    let mut wrong = Device::login(port, "lamp", "lamp-user", "guess");
    assert!(wrong.refused().await.contains("BadUserNamePassword"));
    drop(wrong);
    let mut other = Device::login(port, "not-lamp", "lamp-user", "secret");
    assert!(other.refused().await.contains("NotAuthorized"));
    drop(other);

    let mut lamp = Device::login(port, "lamp", "lamp-user", "secret");
    lamp.connected().await;
    // Subscribe: its own filters only (SUBACK failure for the other).
    lamp.client
        .subscribe("lamp/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    lamp.client
        .subscribe("door/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut acks = Vec::new();
    while acks.len() < 2 {
        if let Packet::SubAck(a) = lamp.next().await.unwrap() {
            acks.push(format!("{:?}", a.return_codes));
        }
    }
    assert_eq!(acks, ["[Success(AtLeastOnce)]", "[Failure]"]);

    // Publish to its own topic: rules see it.
    lamp.client
        .publish("lamp/state", QoS::AtLeastOnce, false, r#"{"on": true}"#)
        .await
        .unwrap();
    let (topic, json) = out.next_json(T).await;
    assert_eq!(topic, "out/lamp/state");
    assert_eq!(json["on"], true);

    // Receive: lamp/public/... is delivered to it, lamp/private/... is not.
    let local = TestClient::connect(port, "local-tool", &[]).await;
    local.publish("lamp/private/x", "secret").await;
    local.publish("lamp/public/x", "hello").await;
    let mut got = Vec::new();
    while let Some((t, _)) = lamp.message(Duration::from_secs(1)).await {
        got.push(t);
    }
    assert!(got.contains(&"lamp/public/x".to_owned()), "{got:?}");
    assert!(
        !got.iter().any(|t| t.starts_with("lamp/private")),
        "{got:?}"
    );

    // Publish elsewhere: MQTT 3.1.1 is disconnected, and nothing reaches the rules.
    out.drain(Duration::from_millis(300)).await; // the rule's output of local-tool's messages
    lamp.client
        .publish("door/open", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let mut disconnected = false;
    for _ in 0..5 {
        if lamp.next().await.is_err() {
            disconnected = true;
            break;
        }
    }
    assert!(
        disconnected,
        "a 3.1.1 device publishing where it may not is disconnected"
    );
    assert!(out.next(Duration::from_millis(500)).await.is_none());

    let denied =
        |action: &str| format!("rulewire_embedded_broker_denied_total{{action=\"iot:{action}\"}}");
    // Each refused CONNECT counts; the two refused clients retried until dropped.
    assert!(rw.metric(&denied("Connect")).await >= 2.0);
    assert_eq!(rw.metric(&denied("Subscribe")).await, 1.0);
    assert_eq!(rw.metric(&denied("Publish")).await, 1.0);
    assert!(rw.metric(&denied("Receive")).await >= 1.0);
    assert_eq!(
        rw.logs().matches("embedded broker denied a device").count(),
        5,
        "one log line per client and action: {}",
        rw.logs()
    );
}

fn tls_device(port: u16, id: &str, pki: &Pki, cert: &str) -> Device {
    use rumqttc::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.path("ca.crt")).unwrap())
        .unwrap();
    let chain = vec![CertificateDer::from_pem_file(pki.path(&format!("{cert}.crt"))).unwrap()];
    let key = PrivateKeyDer::from_pem_file(pki.path(&format!("{cert}.key"))).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let mut opts = MqttOptions::new(id, "localhost", port);
    opts.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(config))));
    Device::start(opts)
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_connect_over_tls_and_revocation_needs_no_restart() {
    let pki = Pki::new();
    let devices = tempfile::tempdir().unwrap();
    let registry = |status: &str| {
        format!(
            "[[ca]]\nfile = \"{ca}\"\n\
             [[thing]]\nname = \"lamp\"\n\
             [[certificate]]\nfile = \"{crt}\"\nstatus = \"{status}\"\nthing = \"lamp\"\npolicies = [\"ThingPolicy\"]\n",
            ca = pki.path("ca.crt"),
            crt = pki.path("client.crt"),
        )
    };
    write_devices(devices.path(), &registry("ACTIVE"));
    let (port, tls_port) = (free_port(), free_port());
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-certs\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         devices_dir = \"{}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        devices.path().display(),
        pki.path("server.crt"),
        pki.path("server.key"),
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut out = TestClient::connect(port, "watcher", &["out/#"]).await;

    // A certificate from a CA nobody registered fails the handshake.
    let mut rogue = tls_device(tls_port, "lamp", &pki, "rogue");
    let e = rogue.refused().await;
    assert!(e.contains("UnknownCA"), "{e}");
    drop(rogue);

    // Hostile neighbours: 50 connections that never start TLS and one that sends garbage
    // stall no one (each handshake runs on its own, with a timeout).
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
                .await
                .unwrap(),
        );
    }
    let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, &[0x10; 4096])
        .await
        .unwrap();

    let mut lamp = tls_device(tls_port, "lamp", &pki, "client");
    lamp.connected().await;
    lamp.client
        .publish("lamp/state", QoS::AtLeastOnce, false, r#"{"on": 1}"#)
        .await
        .unwrap();
    let (topic, _) = out.next_json(T).await;
    assert_eq!(topic, "out/lamp/state");
    drop((idle, garbage));

    // Revoked while connected: disconnected, and refused at every reconnect.
    write_devices(devices.path(), &registry("REVOKED"));
    let e = lamp.refused().await;
    assert!(!e.is_empty());
    lamp.refused_twice_more().await;
    assert!(
        rw.logs()
            .contains("disconnecting a device after a registry change")
    );

    // Active again: it reconnects by itself.
    write_devices(devices.path(), &registry("ACTIVE"));
    loop {
        if let Ok(Packet::ConnAck(a)) = lamp.next().await
            && a.code == ConnectReturnCode::Success
        {
            break;
        }
    }
}

#[test]
fn an_exposed_listener_without_credentials_refuses_to_start() {
    let rules = rules_dir(&[("echo", ECHO)]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rulewire.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[embedded_broker]\nlisten = \"0.0.0.0:{port}\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let (code, _out, err) = rulewire(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("allow_anonymous") && err.contains("0.0.0.0"),
        "{err}"
    );
}

/// AWS's certificate-variable example policy, unchanged: a device connects with its
/// certificate's serial number (in decimal) as client id and publishes under its
/// organization and client id; a second statement lets it publish under the DNS name of its
/// subjectAltName.
const CERT_POLICY: &str = r#"{
 "Version":"2012-10-17",
 "Statement": [
 {"Effect": "Allow", "Action": ["iot:Connect"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Certificate.SerialNumber}"]},
 {"Effect": "Allow", "Action": ["iot:Publish"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Organization}/device-stats/${iot:ClientId}/*"]},
 {"Effect": "Allow", "Action": ["iot:Publish"],
  "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.AlternativeName.DNSName}/*"],
  "Condition": {"Null": {"iot:Certificate.Subject.CommonName": "false"}}}
 ]
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn certificate_fields_confine_a_device_through_policy_variables() {
    let pki = Pki::new();
    pki.device(
        "bulb",
        "/C=US/O=IoT Devices/CN=LightBulb Device Cert",
        "DNS:bulb.example.com",
        "0x921285cbb7a5e086",
    );
    let serial = "10525622389124227206";
    let devices = tempfile::tempdir().unwrap();
    write_devices(
        devices.path(),
        &format!(
            "[[certificate]]\nfile = \"{}\"\npolicies = [\"CertPolicy\"]\n",
            pki.path("bulb.crt")
        ),
    );
    std::fs::write(devices.path().join("policies/CertPolicy.json"), CERT_POLICY).unwrap();
    let (port, tls_port) = (free_port(), free_port());
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-cert-vars\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         devices_dir = \"{}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        devices.path().display(),
        pki.path("server.crt"),
        pki.path("server.key"),
    );
    let rw = Rulewire::start(&config, rules.path()).await;
    let mut watcher = TestClient::connect(port, "watcher", &["#"]).await;

    // Any other client id (the serial in hex too) is refused.
    let mut hex_id = tls_device(tls_port, "921285cbb7a5e086", &pki, "bulb");
    let e = hex_id.refused().await;
    assert!(e.contains("NotAuthorized"), "{e}");
    drop(hex_id);

    let mut bulb = tls_device(tls_port, serial, &pki, "bulb");
    bulb.connected().await;
    let stats = format!("IoT Devices/device-stats/{serial}/temperature");
    for topic in [stats.as_str(), "bulb.example.com/state"] {
        bulb.client
            .publish(topic, QoS::AtLeastOnce, false, r#"{"t": 21}"#)
            .await
            .unwrap();
        let (got, _) = watcher.next_json(T).await;
        assert_eq!(got, topic);
    }
    // Outside what its certificate's fields allow: refused (3.1.1 closes the connection).
    bulb.client
        .publish(
            "IoT Devices/device-stats/other/temperature",
            QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    assert!(!bulb.refused().await.is_empty());
    assert_eq!(watcher.next(Duration::from_secs(1)).await, None);
    assert!(
        rw.logs().contains("iot:Publish"),
        "the denial is logged: {}",
        rw.logs()
    );
}

/// Two logins: one whose policy admits it only from the loopback network and lets it
/// publish under its own address, one admitted only from elsewhere.
const NETWORK_POLICIES: [(&str, &str); 2] = [
    (
        "Loopback",
        r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"*",
   "Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1"]}}},
  {"Effect":"Allow","Action":"iot:Publish",
   "Resource":"arn:aws:iot:us-east-1:123456789012:topic/gateways/${aws:SourceIp}/*"}]}"#,
    ),
    (
        "Remote",
        r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"*",
   "Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}"#,
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_source_address_confines_a_device_through_aws_source_ip() {
    let devices = tempfile::tempdir().unwrap();
    write_devices(
        devices.path(),
        &format!(
            "[[login]]\nusername = \"gw\"\npassword_sha256 = \"{SECRET}\"\npolicies = [\"Loopback\"]\n\
             [[login]]\nusername = \"roamer\"\npassword_sha256 = \"{SECRET}\"\npolicies = [\"Remote\"]\n"
        ),
    );
    for (name, policy) in NETWORK_POLICIES {
        std::fs::write(devices.path().join(format!("policies/{name}.json")), policy).unwrap();
    }
    let port = free_port();
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-source-ip\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\ndevices_dir = \"{}\"\n",
        devices.path().display()
    );
    let _rw = Rulewire::start(&config, rules.path()).await;
    let mut watcher = TestClient::connect(port, "watcher", &["gateways/#"]).await;

    let mut roamer = Device::login(port, "roamer-1", "roamer", "secret");
    assert!(roamer.refused().await.contains("NotAuthorized"));
    drop(roamer);

    let mut gw = Device::login(port, "gw-1", "gw", "secret");
    gw.connected().await;
    gw.client
        .publish("gateways/127.0.0.1/up", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let (topic, _) = watcher.next_json(T).await;
    assert_eq!(topic, "gateways/127.0.0.1/up");
    // Another address's topic: refused (3.1.1 closes the connection).
    gw.client
        .publish("gateways/10.0.0.9/up", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    assert!(!gw.refused().await.is_empty());
    assert_eq!(watcher.next(Duration::from_secs(1)).await, None);
}

/// A certificate that a registered CA signed, not registered itself: its CA's revocation
/// list revokes it without a restart (the device is cut off and refused), a list the CA did
/// not sign is refused with the file named, and the previous registry stays in force.
#[tokio::test(flavor = "multi_thread")]
async fn a_cas_revocation_list_revokes_its_certificates_without_a_restart() {
    let pki = Pki::new();
    let devices = tempfile::tempdir().unwrap();
    let registry = |crl: Option<&str>| {
        let crl = crl.map_or(String::new(), |c| format!("crl = \"{c}\"\n"));
        format!(
            "[[ca]]\nfile = \"{}\"\npolicies = [\"Open\"]\n{crl}",
            pki.path("ca.crt")
        )
    };
    std::fs::create_dir_all(devices.path().join("policies")).unwrap();
    std::fs::write(
        devices.path().join("policies/Open.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    )
    .unwrap();
    write_devices(devices.path(), &registry(None));
    let (port, tls_port) = (free_port(), free_port());
    let rules = rules_dir(&[("echo", ECHO)]);
    let config = format!(
        "[broker]\nclient_id = \"rw-crl\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n\
         devices_dir = \"{}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        devices.path().display(),
        pki.path("server.crt"),
        pki.path("server.key"),
    );
    let rw = Rulewire::start(&config, rules.path()).await;

    let mut lamp = tls_device(tls_port, "lamp", &pki, "client");
    lamp.connected().await;

    // A list signed by another CA: refused, naming the file; the device stays connected.
    let rogue_crl = pki.revoke("rogue_ca", &["rogue"], 3600);
    write_devices(devices.path(), &registry(Some(&rogue_crl)));
    wait_until("the bad list is reported", T, async || {
        rw.logs().contains("rogue_ca.crl")
    })
    .await;
    assert!(lamp.message(Duration::from_millis(300)).await.is_none());

    // The CA revokes it: cut off, and refused at every reconnect. The list is already past
    // its nextUpdate: still used, with a warning.
    let crl = pki.revoke("ca", &["client"], 1);
    // Whole seconds: 2 s after it was made, its nextUpdate (1 s) has passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    write_devices(devices.path(), &registry(Some(&crl)));
    assert!(!lamp.refused().await.is_empty());
    lamp.refused_twice_more().await;
    let logs = rw.logs();
    assert!(
        logs.contains("revoked by its CA's certificate revocation list"),
        "the reason is logged: {logs}"
    );
    assert!(logs.contains("past its nextUpdate"), "{logs}");
}
