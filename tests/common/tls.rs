//! Test certificates made with the `openssl` CLI: a CA, a server certificate for localhost
//! and a client certificate it signs, and a rogue CA with a client certificate of its own.

use std::path::Path;
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI (scripts/test.sh installs it)");
    assert!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// A CA `<ca>.crt/.key` and a certificate `<name>.crt/.key` it signs.
pub fn ca(dir: &Path, ca: &str) {
    let (key, crt, subj) = (
        format!("{ca}.key"),
        format!("{ca}.crt"),
        format!("/CN={ca}"),
    );
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-days", "2", "-subj", &subj,
        ],
    );
}

pub fn signed(dir: &Path, ca: &str, name: &str, cn: &str) {
    sign(
        dir,
        ca,
        name,
        &format!("/CN={cn}"),
        "DNS:localhost,IP:127.0.0.1",
        None,
    );
}

/// A certificate `<name>.crt/.key` that `ca` signs, with this subject (`/O=.../CN=...`),
/// subjectAltName and serial number (`0x...` or decimal; none: a random one).
fn sign(dir: &Path, ca: &str, name: &str, subject: &str, alt_names: &str, serial: Option<&str>) {
    let ext = format!("{name}.cnf");
    std::fs::write(dir.join(&ext), format!("subjectAltName={alt_names}\n")).unwrap();
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ],
    );
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    let mut args = vec![
        "x509", "-req", "-in", &csr, "-CA", &ca_crt, "-CAkey", &ca_key, "-out", &crt, "-days", "2",
        "-extfile", &ext,
    ];
    match serial {
        Some(serial) => args.extend(["-set_serial", serial]),
        None => args.push("-CAcreateserial"),
    }
    openssl(dir, &args);
}

pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        ca(dir.path(), "ca");
        signed(dir.path(), "ca", "server", "localhost");
        signed(dir.path(), "ca", "client", "rulewire");
        ca(dir.path(), "rogue_ca");
        signed(dir.path(), "rogue_ca", "rogue", "rulewire");
        // Mosquitto started as root drops to its own user: let it read the files.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::set_permissions(
                entry.unwrap().path(),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
        }
        Pki { dir }
    }
    /// A device certificate `<name>.crt/.key` that `ca` signs, with this subject
    /// (`/O=.../CN=...`), subjectAltName and serial number (`0x...` or decimal).
    pub fn device(&self, name: &str, subject: &str, alt_names: &str, serial: &str) {
        sign(
            self.dir.path(),
            "ca",
            name,
            subject,
            alt_names,
            Some(serial),
        );
    }

    /// A certificate revocation list `<ca>.crl` in which `ca` revokes the certificates
    /// `<name>.crt` (made with `openssl ca`), due again in `next_update_secs`; returns its
    /// path.
    pub fn revoke(&self, ca: &str, names: &[&str], next_update_secs: u32) -> String {
        let dir = self.dir.path();
        let (db, number, config) = (
            format!("{ca}.index"),
            format!("{ca}.crlnumber"),
            format!("{ca}.ca.cnf"),
        );
        std::fs::write(dir.join(&db), "").unwrap();
        std::fs::write(dir.join(&number), "01\n").unwrap();
        std::fs::write(
            dir.join(&config),
            format!(
                "[ca]\ndefault_ca = d\n[d]\ndatabase = {db}\ncrlnumber = {number}\n\
                 default_md = sha256\ndefault_crl_days = 2\n"
            ),
        )
        .unwrap();
        let (key, crt, crl) = (
            format!("{ca}.key"),
            format!("{ca}.crt"),
            format!("{ca}.crl"),
        );
        for name in names {
            let revoked = format!("{name}.crt");
            openssl(
                dir,
                &[
                    "ca", "-config", &config, "-keyfile", &key, "-cert", &crt, "-revoke", &revoked,
                ],
            );
        }
        let secs = next_update_secs.to_string();
        openssl(
            dir,
            &[
                "ca", "-config", &config, "-keyfile", &key, "-cert", &crt, "-gencrl", "-crlsec",
                &secs, "-out", &crl,
            ],
        );
        self.path(&crl)
    }

    pub fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// Mosquitto configuration lines for a TLS listener on `port` with the server
    /// certificate, requiring client certificates signed by `ca`.
    pub fn listener(&self, port: u16) -> String {
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            self.path("ca.crt"),
            self.path("server.crt"),
            self.path("server.key")
        )
    }
}
