//! Device certificates: the PEM files of the registry, the AWS certificate id (SHA-256 of
//! the DER, lowercase hex) and the fields AWS exposes as `iot:Certificate.*` policy
//! variables.

use std::collections::HashMap;

use anyhow::{Context, bail};
use ring::digest::{SHA256, digest};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

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
    /// Policy variable suffixes (after `iot:Certificate.`) and their values.
    pub variables: HashMap<String, String>,
}

fn name_fields(prefix: &str, name: &X509Name, out: &mut HashMap<String, String>) {
    let attributes = [
        ("CommonName", name.iter_common_name().next()),
        ("Organization", name.iter_organization().next()),
        ("OrganizationalUnit", name.iter_organizational_unit().next()),
        ("Country", name.iter_country().next()),
        ("State", name.iter_state_or_province().next()),
        ("Locality", name.iter_locality().next()),
    ];
    for (field, value) in attributes {
        if let Some(v) = value.and_then(|a| a.as_str().ok()) {
            out.insert(format!("{prefix}.{field}"), v.to_owned());
        }
    }
}

impl CertificateFields {
    pub fn parse(der: &[u8]) -> anyhow::Result<CertificateFields> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
        let mut variables = HashMap::new();
        name_fields("Subject", cert.subject(), &mut variables);
        name_fields("Issuer", cert.issuer(), &mut variables);
        variables.insert("SerialNumber".into(), hex(cert.raw_serial()));
        Ok(CertificateFields {
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            variables,
        })
    }
}
