//! Loading a registry directory, and logins against it.

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
