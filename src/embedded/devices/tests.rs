//! Loading a registry directory, logins against it, and the policy variables of a
//! certificate.

use super::*;

const OPEN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;
// sha256("secret")
const SECRET: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

fn dir(devices: &str, policies: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("devices.toml"), devices).unwrap();
    std::fs::create_dir(d.path().join("policies")).unwrap();
    for (name, text) in policies {
        std::fs::write(d.path().join("policies").join(format!("{name}.json")), text).unwrap();
    }
    d
}

#[test]
fn a_login_gets_its_thing_and_policies() {
    let d = dir(
        &format!(
            "[[thing]]\nname = \"sensor-1\"\ntype = \"meter\"\nattributes = {{ site = \"north\" }}\n\
             [[login]]\nusername = \"s1\"\npassword_sha256 = \"{SECRET}\"\nthing = \"sensor-1\"\npolicies = [\"Open\"]\n\
             [[login]]\nusername = \"old\"\npassword_sha256 = \"{SECRET}\"\nstatus = \"INACTIVE\"\n"
        ),
        &[("Open", OPEN)],
    );
    let r = Registry::load(d.path()).unwrap();
    assert!(r.has_logins() && !r.has_certificates());
    let g = r.login("s1", b"secret").unwrap();
    assert_eq!(g.policies[0].name, "Open");
    assert_eq!(g.credential, "login:s1");
    let thing = g.principal.thing.unwrap();
    assert_eq!(
        (thing.name.as_str(), thing.type_name.as_deref()),
        ("sensor-1", Some("meter"))
    );
    assert_eq!(thing.attributes["site"], "north");

    assert!(
        r.login("s1", b"wrong")
            .unwrap_err()
            .contains("wrong password")
    );
    assert!(
        r.login("nobody", b"secret")
            .unwrap_err()
            .contains("no login")
    );
    assert!(r.login("old", b"secret").unwrap_err().contains("Inactive"));
    assert!(r.login_again("s1", SECRET).is_ok());
    assert!(r.login_again("s1", &"0".repeat(64)).is_err());
}

#[test]
fn every_mistake_in_the_directory_names_its_file_and_entry() {
    let error = |devices: &str, policies: &[(&str, &str)]| {
        let d = dir(devices, policies);
        format!("{:#}", Registry::load(d.path()).unwrap_err())
    };
    let e = error(
        &format!(
            "[[login]]\nusername = \"a\"\npassword_sha256 = \"{SECRET}\"\npolicies = [\"Missing\"]\n"
        ),
        &[],
    );
    assert!(
        e.contains("devices.toml") && e.contains("policies/Missing.json"),
        "{e}"
    );
    let e = error(
        "[[login]]\nusername = \"a\"\npassword_sha256 = \"xyz\"\n",
        &[],
    );
    assert!(e.contains("64 hex digits"), "{e}");
    let e = error(
        &format!(
            "[[login]]\nusername = \"a\"\npassword_sha256 = \"{SECRET}\"\nthing = \"ghost\"\n"
        ),
        &[],
    );
    assert!(e.contains("thing \"ghost\""), "{e}");
    let e = error("[[certificate]]\nfile = \"nope.pem\"\n", &[]);
    assert!(e.contains("nope.pem"), "{e}");
    let e = error("[[login]]\nuser = \"a\"\n", &[]);
    assert!(e.contains("devices.toml"), "{e}");
    let e = error(
        "",
        &[(
            "Bad",
            r#"{"Statement":[{"Effect":"Allow","NotAction":"x","Resource":"*"}]}"#,
        )],
    );
    assert!(e.contains("Bad.json") && e.contains("NotAction"), "{e}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The certificate of AWS's "Using X.509 certificate policy variables" page, made with
/// openssl: its CA's and its own name attributes, alternative names and serial number, plus
/// a second country, a value with characters AWS escapes and one with a wildcard.
fn aws_example_certificate(dir: &Path) -> CertificateFields {
    std::fs::write(
        dir.join("ext.cnf"),
        "[ext]\n\
         subjectAltName = DNS:example.com, IP:1.2.3.4, URI:ResourceIdentifier001, \
         email:device1@example.com, dirName:device_dir, DNS:second.example.com\n\
         issuerAltName = DNS:issuer.com, IP:5.6.7.8, URI:PrimarySignerCA, \
         email:primary@issuer.com, dirName:issuer_dir\n\
         [device_dir]\nC = US\nO = IoT\nOU = SmartHome\nCN = LightBulbCert\n\
         [issuer_dir]\nC = US\nO = Issuer\nOU = IoT Devices\nCN = Primary Issuer CA\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/C=US/O=IoT Devices/OU=SmartHome/ST=WA/CN=IoT Devices Primary CA/GN=Primary CA1\
             /initials=XY/dnQualifier=Example corp/SN=SmartHome/title=CA1/pseudonym=Primary_CA\
             /generationQualifier=2/serialNumber=987",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "device.key",
            "-out",
            "device.csr",
            "-subj",
            "/C=US/C=CA/O=IoT Devices/OU=Light,Bulb=1;2/OU=Smart#Home/ST=NY\
             /CN=LightBulb Device Cert/GN=Bulb/initials=ZZ/dnQualifier=Bulb001/SN=Multi Color\
             /title=RGB/pseudonym=RGB Device/generationQualifier=4/serialNumber=123",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "device.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x921285cbb7a5e086",
            "-out",
            "device.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ext",
        ],
    );
    let der = certificate::single_pem(&std::fs::read(dir.join("device.crt")).unwrap()).unwrap();
    CertificateFields::parse(&der).unwrap()
}

#[test]
fn certificate_fields_become_the_policy_variables_aws_documents() {
    let d = tempfile::tempdir().unwrap();
    let v = aws_example_certificate(d.path()).variables;
    let expected = [
        // AWS: "treats the certificate serial number as ... a decimal integer".
        ("SerialNumber", "10525622389124227206"),
        ("Issuer.Country", "US"),
        ("Issuer.Organization", "IoT Devices"),
        ("Issuer.OrganizationalUnit", "SmartHome"),
        ("Issuer.State", "WA"),
        ("Issuer.CommonName", "IoT Devices Primary CA"),
        ("Issuer.GivenName", "Primary CA1"),
        ("Issuer.Initials", "XY"),
        ("Issuer.DistinguishedNameQualifier", "Example corp"),
        ("Issuer.Surname", "SmartHome"),
        ("Issuer.Title", "CA1"),
        ("Issuer.Pseudonym", "Primary_CA"),
        ("Issuer.GenerationQualifier", "2"),
        ("Issuer.SerialNumber", "987"),
        ("Subject.Country", "US"),
        ("Subject.Country.0", "US"),
        ("Subject.Country.1", "CA"),
        ("Subject.Organization", "IoT Devices"),
        ("Subject.State", "NY"),
        ("Subject.CommonName", "LightBulb Device Cert"),
        ("Subject.GivenName", "Bulb"),
        ("Subject.Initials", "ZZ"),
        ("Subject.DistinguishedNameQualifier", "Bulb001"),
        ("Subject.Surname", "Multi Color"),
        ("Subject.Title", "RGB"),
        ("Subject.Pseudonym", "RGB Device"),
        ("Subject.GenerationQualifier", "4"),
        ("Subject.SerialNumber", "123"),
        // Special characters get a backslash.
        ("Subject.OrganizationalUnit", r"Light\,Bulb\=1\;2"),
        ("Subject.AlternativeName.DNSName", "example.com"),
        ("Subject.AlternativeName.DNSName.1", "second.example.com"),
        ("Subject.AlternativeName.IPAddress", "1.2.3.4"),
        (
            "Subject.AlternativeName.UniformResourceIdentifier",
            "ResourceIdentifier001",
        ),
        ("Subject.AlternativeName.RFC822Name", "device1@example.com"),
        (
            "Subject.AlternativeName.DirectoryName",
            "cn=LightBulbCert,ou=SmartHome,o=IoT,c=US",
        ),
        ("Issuer.AlternativeName.DNSName", "issuer.com"),
        ("Issuer.AlternativeName.IPAddress", "5.6.7.8"),
        (
            "Issuer.AlternativeName.UniformResourceIdentifier",
            "PrimarySignerCA",
        ),
        ("Issuer.AlternativeName.RFC822Name", "primary@issuer.com"),
        (
            "Issuer.AlternativeName.DirectoryName",
            "cn=Primary Issuer CA,ou=IoT Devices,o=Issuer,c=US",
        ),
    ];
    for (name, value) in expected {
        assert_eq!(v.get(name).map(String::as_str), Some(value), "{name}");
    }
    // A value with a wildcard character is not substituted; its neighbours are.
    assert!(!v.contains_key("Subject.OrganizationalUnit.1"), "{v:?}");
    assert!(v.contains_key("Subject.OrganizationalUnit.0"));
    assert!(!v.contains_key("Subject.Country.2"));
}
