//! The embedded broker's device registry: AWS IoT's registry kept in a directory of files.
//! `policies/<name>.json` are AWS IoT policy documents, `devices.toml` (see `file`) lists
//! registered CAs, device certificates with their status, things and logins. A device is
//! identified by its certificate (its id is the SHA-256 of the DER, as AWS's certificateId)
//! or its login, and gets the policies attached to it. Loaded at start and again on every
//! change (see `watch`); a directory that does not load keeps the previous registry.

mod certificate;
mod file;
pub mod watch;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::CertificateDer;

use crate::embedded::policy::{Policy, Principal, Thing};
pub use certificate::{CertificateFields, id as sha256_hex};
pub use file::Status;

/// What a device gets once its certificate or login is accepted.
#[derive(Debug, Clone)]
pub struct Grant {
    pub policies: Vec<Arc<Policy>>,
    /// The policy variables' values, without the client id (known at CONNECT).
    pub principal: Principal,
    /// The certificate id or `login:<username>`, for revocation.
    pub credential: String,
}

/// A registered CA: its certificate, and the policies of the certificates it signed that are
/// not registered one by one.
#[derive(Debug)]
struct Ca {
    der: CertificateDer<'static>,
    subject: Vec<u8>,
    policies: Vec<Arc<Policy>>,
    /// Serial numbers its revocation list (`crl`) revokes.
    revoked: HashSet<Vec<u8>>,
}

#[derive(Debug)]
struct Registered {
    status: Status,
    thing: Option<Thing>,
    policies: Vec<Arc<Policy>>,
}

#[derive(Debug)]
struct Login {
    password_sha256: String,
    status: Status,
    thing: Option<Thing>,
    policies: Vec<Arc<Policy>>,
}

#[derive(Debug, Default)]
pub struct Registry {
    dir: Option<PathBuf>,
    cas: Vec<Ca>,
    certificates: HashMap<String, Registered>,
    logins: HashMap<String, Login>,
}

fn read(dir: &Path, file: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(file);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

fn load_policies(dir: &Path) -> anyhow::Result<HashMap<String, Arc<Policy>>> {
    let mut policies = HashMap::new();
    let policy_dir = dir.join("policies");
    let entries = match std::fs::read_dir(&policy_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(policies),
        Err(e) => return Err(e).with_context(|| format!("reading {}", policy_dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("policy file name")?
            .to_owned();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let policy = Policy::parse(&name, &text).with_context(|| path.display().to_string())?;
        policies.insert(name, Arc::new(policy));
    }
    Ok(policies)
}

impl Registry {
    /// No devices: only loopback clients (and, if the operator allows it, anonymous ones).
    pub fn empty() -> Registry {
        Registry::default()
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Loads `dir` (`devices.toml` and `policies/*.json`); every problem is an error naming
    /// its file.
    pub fn load(dir: &Path) -> anyhow::Result<Registry> {
        let policies = load_policies(dir)?;
        let devices_path = dir.join("devices.toml");
        let text = match std::fs::read_to_string(&devices_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", devices_path.display())),
        };
        let devices: file::DevicesFile =
            toml::from_str(&text).with_context(|| format!("in {}", devices_path.display()))?;
        let in_file = |what: String| format!("{}: {what}", devices_path.display());
        let attach = |names: &[String], owner: &str| -> anyhow::Result<Vec<Arc<Policy>>> {
            names
                .iter()
                .map(|n| {
                    policies.get(n).cloned().with_context(|| {
                        in_file(format!(
                            "{owner} names policy {n:?}, but there is no policies/{n}.json"
                        ))
                    })
                })
                .collect()
        };
        let mut things = HashMap::new();
        for t in devices.thing {
            let thing = Thing {
                name: t.name.clone(),
                type_name: t.type_name,
                attributes: t.attributes,
            };
            if things.insert(t.name.clone(), thing).is_some() {
                bail!(in_file(format!("thing {:?} is listed twice", t.name)));
            }
        }
        let thing = |name: &Option<String>, owner: &str| -> anyhow::Result<Option<Thing>> {
            match name {
                None => Ok(None),
                Some(n) => things.get(n).cloned().map(Some).with_context(|| {
                    in_file(format!(
                        "{owner} is attached to thing {n:?}, which is not listed"
                    ))
                }),
            }
        };

        let mut cas = Vec::new();
        for ca in devices.ca {
            let der = certificate::single_pem(&read(dir, &ca.file)?)
                .with_context(|| in_file(format!("ca {:?}", ca.file)))?;
            let fields = CertificateFields::parse(&der)
                .with_context(|| in_file(format!("ca {:?}", ca.file)))?;
            let revoked = match &ca.crl {
                Some(crl) => certificate::revoked_serials(&read(dir, crl)?, &der)
                    .with_context(|| in_file(format!("ca {:?}: crl {crl:?}", ca.file)))?,
                None => HashSet::new(),
            };
            cas.push(Ca {
                subject: fields.subject_raw.clone(),
                policies: attach(&ca.policies, &format!("ca {:?}", ca.file))?,
                der,
                revoked,
            });
        }
        let mut certificates = HashMap::new();
        for c in devices.certificate {
            let owner = format!("certificate {:?}", c.file);
            let der = certificate::single_pem(&read(dir, &c.file)?)
                .with_context(|| in_file(owner.clone()))?;
            let id = certificate::id(&der);
            let registered = Registered {
                status: c.status,
                thing: thing(&c.thing, &owner)?,
                policies: attach(&c.policies, &owner)?,
            };
            if certificates.insert(id, registered).is_some() {
                bail!(in_file(format!("{owner} is registered twice")));
            }
        }
        let mut logins = HashMap::new();
        for l in devices.login {
            let owner = format!("login {:?}", l.username);
            let hash = l.password_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(in_file(format!(
                    "{owner}: password_sha256 must be 64 hex digits (printf %s \"$PASSWORD\" | sha256sum)"
                )));
            }
            let login = Login {
                password_sha256: hash,
                status: l.status,
                thing: thing(&l.thing, &owner)?,
                policies: attach(&l.policies, &owner)?,
            };
            if logins.insert(l.username.clone(), login).is_some() {
                bail!(in_file(format!("{owner} is listed twice")));
            }
        }
        Ok(Registry {
            dir: Some(dir.to_owned()),
            cas,
            certificates,
            logins,
        })
    }

    pub fn has_logins(&self) -> bool {
        !self.logins.is_empty()
    }

    pub fn has_certificates(&self) -> bool {
        !self.cas.is_empty() || !self.certificates.is_empty()
    }

    /// The registered CAs, as TLS trust anchors for device certificates.
    pub fn ca_certificates(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        self.cas.iter().map(|c| &c.der)
    }

    /// Whether this certificate is registered (whatever its status).
    pub fn is_registered(&self, der: &[u8]) -> bool {
        self.certificates.contains_key(&certificate::id(der))
    }

    /// The grant of a device that completed the TLS handshake with `leaf` (its chain, or its
    /// registration, already verified), or why it may not connect.
    pub fn certificate(&self, leaf: &[u8]) -> Result<Grant, String> {
        let id = certificate::id(leaf);
        let fields = CertificateFields::parse(leaf).map_err(|e| e.to_string())?;
        let principal = |thing: Option<Thing>| Principal {
            thing,
            certificate: fields.variables.clone(),
            ..Principal::default()
        };
        let ca = self.cas.iter().find(|ca| ca.subject == fields.issuer_raw);
        if ca.is_some_and(|ca| ca.revoked.contains(&fields.serial_raw)) {
            return Err(format!(
                "certificate {id} is revoked by its CA's certificate revocation list"
            ));
        }
        if let Some(r) = self.certificates.get(&id) {
            if r.status != Status::Active {
                return Err(format!("certificate {id} is {:?}", r.status));
            }
            return Ok(Grant {
                policies: r.policies.clone(),
                principal: principal(r.thing.clone()),
                credential: id,
            });
        }
        match ca {
            Some(ca) if !ca.policies.is_empty() => Ok(Grant {
                policies: ca.policies.clone(),
                principal: principal(None),
                credential: id,
            }),
            Some(_) => Err(format!(
                "certificate {id} is signed by a registered CA but not registered itself, and that CA attaches no policies"
            )),
            None => Err(format!("certificate {id} is not registered")),
        }
    }

    /// The grant of a username and password, or why they are refused.
    pub fn login(&self, username: &str, password: &[u8]) -> Result<Grant, String> {
        self.login_again(username, &certificate::id(password))
    }

    /// `login` for a device that logged in before a reload: its password's SHA-256 must
    /// still be the registered one.
    pub fn login_again(&self, username: &str, password_sha256: &str) -> Result<Grant, String> {
        let Some(l) = self.logins.get(username) else {
            return Err(format!("no login {username:?}"));
        };
        if !certificate::same_hex(password_sha256, &l.password_sha256) {
            return Err(format!("wrong password for login {username:?}"));
        }
        if l.status != Status::Active {
            return Err(format!("login {username:?} is {:?}", l.status));
        }
        Ok(Grant {
            policies: l.policies.clone(),
            principal: Principal {
                thing: l.thing.clone(),
                ..Principal::default()
            },
            credential: format!("login:{username}"),
        })
    }
}

#[cfg(test)]
mod tests;
