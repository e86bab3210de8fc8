//! Who may connect, publish, subscribe and receive on the embedded broker, decided as AWS
//! IoT Core decides: a device proves who it is with its certificate (through the TLS
//! listener, `tls`) or a login from the device registry, gets the policies attached to that
//! credential, and every CONNECT, PUBLISH, SUBSCRIBE and delivery is checked against them
//! (`iot:Connect`, `iot:Publish` / `iot:RetainPublish`, `iot:Subscribe`, `iot:Receive`).
//!
//! Clients without credentials are trusted only from loopback (local tools and services on
//! the same host), or from anywhere when the operator sets `embedded_broker.allow_anonymous`;
//! they get full access. When the registry changes, connected devices are checked again and
//! those that lost `iot:Connect` (a revoked certificate, a removed login) are disconnected.
//!
//! AWS IoT Core has no QoS 2, and neither has this broker, for any client: a CONNECT whose
//! last will asks for QoS 2 is refused, a QoS 2 PUBLISH closes the connection before any
//! PUBREC (the message goes nowhere), and a QoS 2 SUBSCRIBE closes it too (rmqtt sends its
//! failure SUBACK first; AWS sends none).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use prometheus::IntCounterVec;
use rmqtt::codec::v5::{PublishAckReason, SubscribeAckReason};
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::session::Session;
use rmqtt::types::{
    AuthResult, ConnectInfo, Id, LastWill, ListenerId, Message, PublishAclResult, PublishResult,
    QoS, Reason, SubscribeAclResult,
};
use rulewire_engine::topic::without_shared_group;
use rulewire_engine::topic_limits::{filter_over_limits, topic_over_limits};

use super::tls::TlsPeers;
use crate::embedded::devices::Grant;
use crate::embedded::devices::watch::Devices;
use crate::embedded::policy::{Action, Decision, decide};

const KEY: &str = "rulewire.access";

/// (client, action) pairs remembered for "log once"; past this the memory starts over.
const MAX_LOGGED: usize = 10_000;

/// The characters of a denied topic that its log line shows.
const MAX_LOGGED_SUBJECT: usize = 300;

/// Accepted CONNECTs waiting for their session before old ones are swept.
const MAX_PENDING: usize = 1_000;

/// Hook priority: the access checks run before any other handler of the same hook.
const ACCESS_PRIORITY: u32 = 10;

/// Why a QoS 2 request is refused.
const NO_QOS_2: &str = "QoS 2 requested, which AWS IoT Core does not support (QoS 0 and 1 only)";

/// A connection between its CONNECT and its session: client id and remote address.
type ConnectionKey = (String, Option<SocketAddr>);

/// How a connected device proved who it is, to check it again when the registry changes.
#[derive(Debug, Clone)]
enum Credential {
    Certificate(Vec<u8>),
    Login {
        username: String,
        password_sha256: String,
    },
}

/// What a connected client may do: everything (a trusted anonymous client), or what the
/// policies of its credential allow.
enum Level {
    Full,
    Device {
        credential: Credential,
        grant: RwLock<Arc<Grant>>,
    },
}

/// The access of one connected client. Every session gets one at CONNECT; a session without
/// one is refused everything (fail closed).
pub struct DeviceAccess {
    id: Id,
    v5: bool,
    level: Level,
}

impl DeviceAccess {
    fn decide(&self, action: Action, subject: &str) -> Decision {
        let Level::Device { grant, .. } = &self.level else {
            return Decision::Allow;
        };
        let grant = grant.read().expect("grant lock").clone();
        decide(&grant.policies, action, subject, &grant.principal)
    }
}

pub struct Access {
    devices: Arc<Devices>,
    allow_anonymous: bool,
    /// The internal listener behind the TLS front, and the certificates of its connections.
    tls: Option<(ListenerId, Arc<TlsPeers>)>,
    /// Accepted at CONNECT, waiting for the session to exist.
    pending: Mutex<HashMap<ConnectionKey, Arc<DeviceAccess>>>,
    connected: Mutex<HashMap<String, Arc<DeviceAccess>>>,
    denied: IntCounterVec,
    /// (client id, action) pairs already logged: a denial is logged once per client.
    logged: Mutex<HashSet<(String, &'static str)>>,
}

impl Access {
    pub fn new(
        devices: Arc<Devices>,
        allow_anonymous: bool,
        tls: Option<(ListenerId, Arc<TlsPeers>)>,
        denied: IntCounterVec,
    ) -> Arc<Access> {
        Arc::new(Access {
            devices,
            allow_anonymous,
            tls,
            pending: Mutex::default(),
            connected: Mutex::default(),
            denied,
            logged: Mutex::default(),
        })
    }

    /// Registers the hooks on `scx` and starts the task that re-checks devices on reload.
    pub async fn install(self: &Arc<Access>, scx: &ServerContext) {
        let hooks = scx.extends.hook_mgr().register();
        for typ in [
            Type::ClientAuthenticate,
            Type::ClientConnected,
            Type::ClientDisconnected,
            Type::ClientSubscribeCheckAcl,
            Type::MessagePublishCheckAcl,
            Type::MessageExpiryCheck,
        ] {
            // Before the rules' feed (priority 0): a refused publish never reaches the rules.
            let handler = AccessHooks {
                access: self.clone(),
                scx: scx.clone(),
            };
            hooks
                .add_priority(typ, ACCESS_PRIORITY, Box::new(handler))
                .await;
        }
        hooks.start().await;
        let access = self.clone();
        let scx = scx.clone();
        let mut changes = self.devices.changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                access.recheck(&scx).await;
            }
        });
    }

    fn deny(&self, client_id: &str, action: Action, subject: &str, why: &str) {
        self.denied.with_label_values(&[action.name()]).inc();
        let first = {
            let mut logged = self.logged.lock().expect("log lock");
            // Bounded: a device cycling through client ids must not grow it forever.
            if logged.len() >= MAX_LOGGED {
                logged.clear();
            }
            logged.insert((client_id.to_owned(), action.name()))
        };
        if first {
            // A topic can be 64 KiB: the log shows its start.
            let subject = match subject.char_indices().nth(MAX_LOGGED_SUBJECT) {
                Some((end, _)) => format!("{}...", &subject[..end]),
                None => subject.to_owned(),
            };
            tracing::warn!(
                client_id,
                action = action.name(),
                subject,
                why,
                "embedded broker denied a device (logged once per client and action; counted in rulewire_embedded_broker_denied_total)"
            );
        }
    }

    /// The grant for a CONNECT, `Ok(None)` for full access, or the refusal.
    fn authenticate(&self, ci: &ConnectInfo) -> Result<Option<(Credential, Grant)>, AuthResult> {
        let id = ci.id();
        let registry = self.devices.current();
        if let Some((lid, peers)) = &self.tls
            && id.lid == *lid
        {
            let Some((der, device)) = id.remote_addr.and_then(|a| peers.device(a)) else {
                return Err(AuthResult::NotAuthorized);
            };
            return match registry.certificate(&der) {
                Ok(mut grant) => {
                    grant.principal.source_ip = Some(device.ip().to_canonical());
                    Ok(Some((Credential::Certificate(der), grant)))
                }
                Err(why) => {
                    self.deny(&id.client_id, Action::Connect, &id.client_id, &why);
                    Err(AuthResult::NotAuthorized)
                }
            };
        }
        if let Some(username) = ci.username() {
            let password = ci.password().map(|p| p.as_ref()).unwrap_or_default();
            return match registry.login(username, password) {
                Ok(mut grant) => {
                    grant.principal.source_ip = id.remote_addr.map(|a| a.ip().to_canonical());
                    let credential = Credential::Login {
                        username: username.to_string(),
                        password_sha256: crate::embedded::devices::sha256_hex(password),
                    };
                    Ok(Some((credential, grant)))
                }
                Err(why) => {
                    self.deny(&id.client_id, Action::Connect, &id.client_id, &why);
                    Err(AuthResult::BadUsernameOrPassword)
                }
            };
        }
        let loopback = id.remote_addr.is_some_and(|a| a.ip().is_loopback());
        if loopback || self.allow_anonymous {
            return Ok(None);
        }
        self.deny(
            &id.client_id,
            Action::Connect,
            &id.client_id,
            "no certificate or login, and not from loopback (embedded_broker.allow_anonymous is false)",
        );
        Err(AuthResult::NotAuthorized)
    }

    fn on_authenticate(&self, ci: &ConnectInfo) -> AuthResult {
        let id = ci.id();
        let will_qos = ci.last_will().map(|w| match w {
            LastWill::V3(w) => w.qos,
            LastWill::V5(w) => w.qos,
        });
        if will_qos == Some(QoS::ExactlyOnce) {
            self.deny(&id.client_id, Action::Connect, &id.client_id, NO_QOS_2);
            return AuthResult::NotAuthorized;
        }
        let level = match self.authenticate(ci) {
            Ok(None) => Level::Full,
            Ok(Some((credential, mut grant))) => {
                grant.principal.client_id = id.client_id.to_string();
                Level::Device {
                    credential,
                    grant: RwLock::new(Arc::new(grant)),
                }
            }
            Err(refusal) => return refusal,
        };
        let device = Arc::new(DeviceAccess {
            id: id.clone(),
            v5: ci.proto_ver() == 5,
            level,
        });
        if !device.decide(Action::Connect, &id.client_id).allowed() {
            self.deny(
                &id.client_id,
                Action::Connect,
                &id.client_id,
                "no policy allows it",
            );
            return AuthResult::NotAuthorized;
        }
        // The broker publishes a last will without the publish check: a will the device may
        // not publish, or whose topic is over AWS's limits, is refused with its CONNECT.
        let will = ci.last_will().map(|w| match w {
            LastWill::V3(w) => (w.topic.clone(), w.retain),
            LastWill::V5(w) => (w.topic.clone(), w.retain),
        });
        if let Some((topic, retain)) = will {
            let refusal = match topic_over_limits(&topic) {
                Some(why) => Some((Action::Publish, format!("its last will's topic has {why}"))),
                None => may_publish(&device, &topic, retain).err().map(|action| {
                    let why = "no policy allows its last will's topic".to_owned();
                    (action, why)
                }),
            };
            if let Some((action, why)) = refusal {
                self.deny(&id.client_id, action, &topic, &why);
                return AuthResult::NotAuthorized;
            }
        }
        let mut pending = self.pending.lock().expect("pending lock");
        if pending.len() >= MAX_PENDING {
            // Connections that were accepted but never became sessions (they failed later in
            // the handshake) are dropped here; a real one waits milliseconds, not a minute.
            let cutoff = rmqtt::utils::timestamp_millis() - 60_000;
            pending.retain(|_, d| d.id.create_time > cutoff);
        }
        pending.insert((id.client_id.to_string(), id.remote_addr), device);
        // Never rmqtt's "superuser": it would skip the publish check, where the rules' feed
        // takes every message (rulewire's own republishes included, as AWS re-runs rules on
        // them).
        AuthResult::Allow(false, None)
    }

    async fn on_connected(&self, s: &Session) {
        let key = (s.id.client_id.to_string(), s.id.remote_addr);
        let Some(device) = self.pending.lock().expect("pending lock").remove(&key) else {
            return;
        };
        s.extra_attrs
            .write()
            .await
            .insert(KEY.into(), device.clone());
        self.connected
            .lock()
            .expect("connected lock")
            .insert(key.0, device);
    }

    fn on_disconnected(&self, s: &Session) {
        let mut connected = self.connected.lock().expect("connected lock");
        if connected
            .get(&*s.id.client_id)
            .is_some_and(|d| d.id.create_time == s.id.create_time)
        {
            connected.remove(&*s.id.client_id);
        }
    }

    /// After a registry change: the new grant of every connected device, or a disconnect.
    async fn recheck(&self, scx: &ServerContext) {
        let registry = self.devices.current();
        let devices: Vec<Arc<DeviceAccess>> = self
            .connected
            .lock()
            .expect("connected lock")
            .values()
            .cloned()
            .collect();
        for device in devices {
            let Level::Device { credential, grant } = &device.level else {
                continue;
            };
            let regranted = match credential {
                Credential::Certificate(der) => registry.certificate(der),
                Credential::Login {
                    username,
                    password_sha256,
                } => registry.login_again(username, password_sha256),
            };
            let source_ip = grant.read().expect("grant lock").principal.source_ip;
            let still = regranted.and_then(|mut regranted| {
                regranted.principal.client_id = device.id.client_id.to_string();
                regranted.principal.source_ip = source_ip;
                *grant.write().expect("grant lock") = Arc::new(regranted);
                match device.decide(Action::Connect, &device.id.client_id) {
                    Decision::Allow => Ok(()),
                    _ => Err("its policies no longer allow iot:Connect".to_owned()),
                }
            });
            if let Err(why) = still {
                tracing::warn!(client_id = %device.id.client_id, why, "disconnecting a device after a registry change");
                self.denied
                    .with_label_values(&[Action::Connect.name()])
                    .inc();
                let mut entry = scx.extends.shared().await.entry(device.id.clone());
                if let Err(e) = entry.kick(true, true, true).await {
                    tracing::warn!(client_id = %device.id.client_id, error = %e, "could not disconnect");
                }
            }
        }
    }
}

/// Whether `device` may publish to `topic` (and retain there): the action refused, if any.
fn may_publish(device: &DeviceAccess, topic: &str, retain: bool) -> Result<(), Action> {
    if !device.decide(Action::Publish, topic).allowed() {
        return Err(Action::Publish);
    }
    if retain && !device.decide(Action::RetainPublish, topic).allowed() {
        return Err(Action::RetainPublish);
    }
    Ok(())
}

/// Whether `filter` (a shared group's or not) names Basic Ingest topics, which AWS IoT Core
/// lets clients publish to but not subscribe to (its reserved topics' table).
fn is_basic_ingest_filter(filter: &str) -> bool {
    let filter = without_shared_group(filter);
    filter == "$aws/rules" || filter.starts_with("$aws/rules/")
}

/// The session's access; a session without one (never expected) is refused everything.
async fn device_of(s: &Session) -> Result<Arc<DeviceAccess>, ()> {
    match s.extra_attrs.read().await.get::<Arc<DeviceAccess>>(KEY) {
        Some(d) => Ok(d.clone()),
        None => {
            tracing::error!(client_id = %s.id.client_id, "a session without an access record: refused");
            Err(())
        }
    }
}

struct AccessHooks {
    access: Arc<Access>,
    /// To close a connection from inside its own hook.
    scx: ServerContext,
}

impl AccessHooks {
    /// Closes the connection of session `id` once the packet being handled is answered (its
    /// session stays, as when the client goes away).
    async fn close(&self, id: &Id) {
        let entry = self.scx.extends.shared().await.entry(id.clone());
        if let Some(tx) = entry.tx() {
            let refused = Reason::SubscribeFailed(Some(NO_QOS_2.into()));
            // An error means the connection is already gone.
            let _ = tx.unbounded_send(Message::Closed(refused));
        }
    }
}

#[async_trait]
impl Handler for AccessHooks {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let access = &self.access;
        match param {
            Parameter::ClientAuthenticate(ci) => {
                return (
                    false,
                    Some(HookResult::AuthResult(access.on_authenticate(ci))),
                );
            }
            Parameter::ClientConnected(s) => access.on_connected(s).await,
            Parameter::ClientDisconnected(s, _) => access.on_disconnected(s),
            Parameter::ClientSubscribeCheckAcl(s, sub) => {
                let filter = &sub.topic_filter;
                if sub.opts.qos() == QoS::ExactlyOnce {
                    access.deny(&s.id.client_id, Action::Subscribe, filter, NO_QOS_2);
                    self.close(&s.id).await;
                    let refused =
                        SubscribeAclResult::new_failure(SubscribeAckReason::UnspecifiedError);
                    return (false, Some(HookResult::SubscribeAclResult(refused)));
                }
                if let Some(why) = filter_over_limits(filter) {
                    access.deny(&s.id.client_id, Action::Subscribe, filter, &why);
                    let refused =
                        SubscribeAclResult::new_failure(SubscribeAckReason::TopicFilterInvalid);
                    return (false, Some(HookResult::SubscribeAclResult(refused)));
                }
                if is_basic_ingest_filter(filter) {
                    let why = "Basic Ingest topics are for publishing only, as on AWS IoT Core";
                    access.deny(&s.id.client_id, Action::Subscribe, filter, why);
                    let refused =
                        SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized);
                    return (false, Some(HookResult::SubscribeAclResult(refused)));
                }
                let device = device_of(s).await;
                let result = if device.is_ok_and(|d| d.decide(Action::Subscribe, filter).allowed())
                {
                    SubscribeAclResult::new_success(sub.opts.qos(), None)
                } else {
                    access.deny(
                        &s.id.client_id,
                        Action::Subscribe,
                        filter,
                        "no policy allows it",
                    );
                    SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized)
                };
                return (false, Some(HookResult::SubscribeAclResult(result)));
            }
            Parameter::MessagePublishCheckAcl(s, publish) => {
                let topic = &publish.topic;
                if publish.qos == QoS::ExactlyOnce {
                    access.deny(&s.id.client_id, Action::Publish, topic, NO_QOS_2);
                    let closes = PublishAclResult::rejected(true, Some(NO_QOS_2.into()));
                    return (false, Some(HookResult::PublishAclResult(closes)));
                }
                let Ok(device) = device_of(s).await else {
                    let result = PublishAclResult::rejected(true, None);
                    return (false, Some(HookResult::PublishAclResult(result)));
                };
                if let Some(why) = topic_over_limits(topic) {
                    access.deny(&s.id.client_id, Action::Publish, topic, &why);
                    // As a denial: MQTT 5 gets PUBACK "Topic Name invalid", 3.1.1 is closed.
                    let reason = PublishAckReason::TopicNameInvalid;
                    let result = PublishResult::reason_code(reason, Some(why.into()), !device.v5);
                    return (
                        false,
                        Some(HookResult::PublishAclResult(PublishAclResult(result))),
                    );
                }
                if let Err(action) = may_publish(&device, topic, publish.retain) {
                    access.deny(&s.id.client_id, action, topic, "no policy allows it");
                    // AWS: MQTT 5 gets PUBACK "Not authorized", MQTT 3.1.1 is disconnected.
                    let result = PublishAclResult::rejected(!device.v5, None);
                    return (false, Some(HookResult::PublishAclResult(result)));
                }
            }
            Parameter::MessageExpiryCheck(s, _from, publish) => {
                let device = device_of(s).await;
                if !device.is_ok_and(|d| d.decide(Action::Receive, &publish.topic).allowed()) {
                    access.deny(
                        &s.id.client_id,
                        Action::Receive,
                        &publish.topic,
                        "no policy allows it",
                    );
                    return (false, Some(HookResult::MessageExpiry));
                }
            }
            _ => {}
        }
        (true, acc)
    }
}
