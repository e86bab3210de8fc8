//! Device certificates: the PEM files of the registry, the AWS certificate id (SHA-256 of
//! the DER, lowercase hex), the fields AWS exposes as `iot:Certificate.*` policy
//! variables, and the serial numbers a CA's revocation list revokes.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use ring::digest::{SHA256, digest};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{
    ASN1Time, CertificateRevocationList, FromDer, GeneralName, ParsedExtension, X509Certificate,
    X509Name,
};

use crate::embedded::policy::variables::{MAX_VALUES, NAME_ATTRIBUTES};

/// The one certificate of a PEM file.
pub fn single_pem(pem: &[u8]) -> anyhow::Result<CertificateDer<'static>> {
    let mut certs = CertificateDer::pem_slice_iter(pem);
    let first = certs
        .next()
        .context("no PEM certificate in the file")?
        .context("bad PEM certificate")?;
    if certs.next().is_some() {
        bail!("more than one certificate in the file: register each one on its own");
    }
    Ok(first)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS IoT's certificate id: the SHA-256 of the DER, in lowercase hex.
pub fn id(der: &[u8]) -> String {
    hex(digest(&SHA256, der).as_ref())
}

/// Whether two digests in hex are the same, comparing every byte.
pub fn same_hex(actual: &str, expected_hex: &str) -> bool {
    actual.len() == expected_hex.len()
        && actual
            .bytes()
            .zip(expected_hex.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// What a certificate says about its holder.
#[derive(Debug, Clone)]
pub struct CertificateFields {
    /// DER of the subject and issuer names, to find the CA that signed a certificate.
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    /// The serial number as encoded, to look up in its CA's revocation list.
    pub serial_raw: Vec<u8>,
    /// Policy variable suffixes (after `iot:Certificate.`) and their values: `SerialNumber`
    /// (decimal), `Subject.CommonName`, `Subject.CommonName.1`,
    /// `Subject.AlternativeName.DNSName`, ... (see `policy::variables`).
    pub variables: HashMap<String, String>,
}

/// Characters AWS escapes with a backslash in a certificate attribute's value.
const ESCAPED: &[char] = &[',', '"', '\\', '+', '=', '<', '>', ';'];

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if ESCAPED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// AWS leaves a variable unreplaced (so it matches nothing) when its value holds a wildcard
/// character or is longer than 1024 characters.
fn replaceable(value: &str) -> bool {
    value.chars().count() <= 1024 && !value.contains(['*', '$', '+', '?', '#'])
}

/// Collects the values of certificate variables, several per name, in certificate order.
#[derive(Default)]
struct Collected(Vec<(String, Vec<String>)>);

impl Collected {
    fn push(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.0.push((name, vec![value])),
        }
    }

    /// `name` gives the first value, `name.<i>` the value at index i (up to AWS's five).
    fn into_variables(self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (name, values) in self.0 {
            for (i, value) in values.into_iter().take(MAX_VALUES).enumerate() {
                if !replaceable(&value) {
                    continue;
                }
                if i == 0 {
                    out.insert(name.clone(), value.clone());
                }
                out.insert(format!("{name}.{i}"), value);
            }
        }
        out
    }
}

/// The RFC 4514 key of a name attribute as AWS writes it in a `DirectoryName`.
fn directory_key(oid: &str) -> String {
    const OTHERS: &[(&str, &str)] = &[
        ("2.5.4.7", "l"),
        ("2.5.4.9", "street"),
        ("0.9.2342.19200300.100.1.25", "dc"),
        ("0.9.2342.19200300.100.1.1", "uid"),
        ("1.2.840.113549.1.9.1", "emailaddress"),
    ];
    NAME_ATTRIBUTES
        .iter()
        .map(|a| (a.0, a.2))
        .chain(OTHERS.iter().copied())
        .find(|(o, _)| *o == oid)
        .map_or_else(|| oid.to_owned(), |(_, key)| key.to_owned())
}

/// A name as AWS writes a `DirectoryName` variable: `cn=LightBulbCert,ou=SmartHome,o=IoT,c=US`
/// (most specific first, lowercase keys, values escaped).
fn directory_name(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    let value = match a.as_str() {
                        Ok(v) => escape(v),
                        Err(_) => format!("#{}", hex(a.attr_value().data)),
                    };
                    format!("{}={value}", directory_key(&a.attr_type().to_id_string()))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// `Subject.<attribute>` or `Issuer.<attribute>` for each attribute AWS exposes.
fn name_attributes(prefix: &str, name: &X509Name, out: &mut Collected) {
    for a in name.iter_attributes() {
        let oid = a.attr_type().to_id_string();
        if let Some((_, field, _)) = NAME_ATTRIBUTES.iter().find(|n| n.0 == oid)
            && let Ok(value) = a.as_str()
        {
            out.push(format!("{prefix}.{field}"), escape(value));
        }
    }
}

/// `<prefix>.AlternativeName.<kind>` for each name of a subject or issuer alternative name.
fn alternative_names(prefix: &str, names: &[GeneralName], out: &mut Collected) {
    for n in names {
        let (kind, value) = match n {
            GeneralName::RFC822Name(v) => ("RFC822Name", v.to_string()),
            GeneralName::DNSName(v) => ("DNSName", v.to_string()),
            GeneralName::URI(v) => ("UniformResourceIdentifier", v.to_string()),
            GeneralName::DirectoryName(name) => ("DirectoryName", directory_name(name)),
            GeneralName::IPAddress(bytes) => ("IPAddress", ip_address(bytes)),
            _ => continue,
        };
        out.push(format!("{prefix}.AlternativeName.{kind}"), value);
    }
}

fn ip_address(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        hex(bytes)
    }
}

impl CertificateFields {
    pub fn parse(der: &[u8]) -> anyhow::Result<CertificateFields> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
        let mut collected = Collected::default();
        name_attributes("Subject", cert.subject(), &mut collected);
        name_attributes("Issuer", cert.issuer(), &mut collected);
        for extension in cert.extensions() {
            match extension.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    alternative_names("Subject", &san.general_names, &mut collected)
                }
                ParsedExtension::IssuerAlternativeName(ian) => {
                    alternative_names("Issuer", &ian.general_names, &mut collected)
                }
                _ => {}
            }
        }
        let mut variables = collected.into_variables();
        // AWS gives the serial number in decimal.
        variables.insert("SerialNumber".into(), cert.serial.to_string());
        Ok(CertificateFields {
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            serial_raw: cert.raw_serial().to_vec(),
            variables,
        })
    }
}

/// The serial numbers a CA's certificate revocation list (PEM or DER) revokes, once its
/// signature is checked against the CA certificate `ca_der`.
pub fn revoked_serials(crl: &[u8], ca_der: &[u8]) -> anyhow::Result<HashSet<Vec<u8>>> {
    let der = match x509_parser::pem::parse_x509_pem(crl) {
        Ok((_, pem)) if pem.label == "X509 CRL" => pem.contents,
        Ok((_, pem)) => bail!("a PEM {:?}, not an X509 CRL", pem.label),
        Err(_) => crl.to_vec(),
    };
    let (_, list) = CertificateRevocationList::from_der(&der)
        .map_err(|e| anyhow::anyhow!("not a certificate revocation list: {e}"))?;
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|e| anyhow::anyhow!("the CA is not an X.509 certificate: {e}"))?;
    if list.issuer().as_raw() != ca.subject().as_raw() {
        bail!(
            "the list was issued by {}, not by this CA ({})",
            list.issuer(),
            ca.subject()
        );
    }
    list.verify_signature(ca.public_key())
        .map_err(|e| anyhow::anyhow!("its signature does not verify with the CA's key: {e}"))?;
    // A stale list still revokes what it names; the operator is told to publish a new one.
    if let Some(next) = list.next_update()
        && next.timestamp() < ASN1Time::now().timestamp()
    {
        tracing::warn!(issuer = %list.issuer(), next_update = %next,
            "a certificate revocation list is past its nextUpdate; it is still used: publish a new one");
    }
    Ok(list
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect())
}
