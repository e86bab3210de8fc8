//! The registry directory's `devices.toml`, as written by operators: registered CA
//! certificates (with their revocation lists), device certificates with their status,
//! things, and logins.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesFile {
    #[serde(default)]
    pub ca: Vec<CaEntry>,
    #[serde(default)]
    pub certificate: Vec<CertificateEntry>,
    #[serde(default)]
    pub thing: Vec<ThingEntry>,
    #[serde(default)]
    pub login: Vec<LoginEntry>,
}

/// A CA certificate (PEM file): device certificates it signed may complete the TLS
/// handshake. `policies` are attached to those of its certificates that are not registered
/// one by one (as a provisioning template would attach them); an empty list admits none
/// of them until they are registered.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    pub file: String,
    /// A certificate revocation list this CA issued (PEM or DER): the certificates it names
    /// are refused, registered or not. Reloaded like every file of the registry.
    pub crl: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Active,
    Inactive,
    Revoked,
}

/// A device certificate (PEM file), registered as AWS registers one: its status, the thing
/// it is attached to and the policies attached to it. A certificate registered here needs
/// no CA (AWS's "register without CA").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    pub file: String,
    #[serde(default = "active")]
    pub status: Status,
    pub thing: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
}

fn active() -> Status {
    Status::Active
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThingEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

/// A username and password for a device that cannot do mutual TLS. The password is stored as
/// the hex SHA-256 of its UTF-8 bytes (`printf %s "$PASSWORD" | sha256sum`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginEntry {
    pub username: String,
    pub password_sha256: String,
    pub thing: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default = "active")]
    pub status: Status,
}
