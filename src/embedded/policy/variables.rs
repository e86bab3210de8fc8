//! The policy variables AWS IoT Core defines, by name: which exist, their canonical
//! spelling, and the X.509 name attributes behind `iot:Certificate.Subject.*` and
//! `iot:Certificate.Issuer.*`. A name that is not here is refused when the policy loads, so
//! a policy never silently denies because of a variable rulewire does not know.
//!
//! Certificate variables (AWS's "X.509 Certificate AWS IoT Core policy variables"):
//! `iot:Certificate.SerialNumber`; `iot:Certificate.{Subject,Issuer}.<attribute>` for the
//! attributes of [`NAME_ATTRIBUTES`]; `iot:Certificate.{Subject,Issuer}.AlternativeName.<kind>`
//! for the kinds of [`ALTERNATIVE_NAMES`]. A multi-valued one gives its first value, and
//! `.<n>` its value at index n (`.1` is the second, as AWS's example shows).

use super::PolicyError;

/// The X.509 name attributes AWS exposes: (OID, variable name, RFC 4514 key as AWS writes
/// it in a `DirectoryName`).
pub const NAME_ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("2.5.4.3", "CommonName", "cn"),
    ("2.5.4.6", "Country", "c"),
    ("2.5.4.10", "Organization", "o"),
    ("2.5.4.11", "OrganizationalUnit", "ou"),
    ("2.5.4.8", "State", "st"),
    ("2.5.4.5", "SerialNumber", "serialnumber"),
    ("2.5.4.12", "Title", "title"),
    ("2.5.4.4", "Surname", "sn"),
    ("2.5.4.42", "GivenName", "givenname"),
    ("2.5.4.43", "Initials", "initials"),
    ("2.5.4.65", "Pseudonym", "pseudonym"),
    ("2.5.4.44", "GenerationQualifier", "generationqualifier"),
    ("2.5.4.46", "DistinguishedNameQualifier", "dnqualifier"),
];

/// The alternative-name kinds AWS exposes (subject and issuer alike).
pub const ALTERNATIVE_NAMES: &[&str] = &[
    "RFC822Name",
    "DNSName",
    "DirectoryName",
    "UniformResourceIdentifier",
    "IPAddress",
];

/// How many values of one attribute are exposed (AWS: "limited to five items").
pub const MAX_VALUES: usize = 5;

const EXACT: &[&str] = &[
    "iot:ClientId",
    "aws:SourceIp",
    "iot:Connection.Thing.ThingName",
    "iot:Connection.Thing.ThingTypeName",
    "iot:Connection.Thing.IsAttached",
];

/// The canonical spelling of the variable `name`, or why rulewire refuses it. Names compare
/// without case, as IAM's condition keys do (`aws:sourceip` is `aws:SourceIp`).
pub fn canonical(name: &str) -> Result<String, PolicyError> {
    if let Some(exact) = EXACT.iter().find(|e| e.eq_ignore_ascii_case(name)) {
        return Ok((*exact).to_owned());
    }
    if let Some(attr) = name.strip_prefix("iot:Connection.Thing.Attributes[")
        && attr.ends_with(']')
    {
        return Ok(name.to_owned());
    }
    if let Some(field) = name.strip_prefix("iot:Certificate.") {
        return certificate(field).map(|f| format!("iot:Certificate.{f}"));
    }
    Err(PolicyError::new(format!(
        "policy variable ${{{name}}} is not supported by rulewire (supported: iot:ClientId, \
         aws:SourceIp, iot:Connection.Thing.*, iot:Certificate.*)"
    )))
}

/// A certificate field (after `iot:Certificate.`) in its canonical spelling: attribute and
/// kind names compare without case (AWS's own examples write `Subject.initials`).
fn certificate(field: &str) -> Result<String, PolicyError> {
    if field.eq_ignore_ascii_case("SerialNumber") {
        return Ok("SerialNumber".to_owned());
    }
    let unknown = || {
        PolicyError::new(format!(
            "policy variable ${{iot:Certificate.{field}}} is not one AWS IoT defines (supported: \
             iot:Certificate.SerialNumber, iot:Certificate.Subject.<attribute>, \
             iot:Certificate.Issuer.<attribute>, with <attribute> one of {} or \
             AlternativeName.<{}>, optionally followed by .<index>)",
            NAME_ATTRIBUTES
                .iter()
                .map(|a| a.1)
                .collect::<Vec<_>>()
                .join(", "),
            ALTERNATIVE_NAMES.join("|")
        ))
    };
    let (which, rest) = field.split_once('.').ok_or_else(unknown)?;
    let which = ["Subject", "Issuer"]
        .into_iter()
        .find(|w| w.eq_ignore_ascii_case(which))
        .ok_or_else(unknown)?;
    let mut parts = rest.split('.').collect::<Vec<_>>();
    let index = match parts.last() {
        Some(&"List") => {
            return Err(PolicyError::new(format!(
                "policy variable ${{iot:Certificate.{field}}}: a .List variable needs the \
                 ForAnyValue/ForAllValues condition operators, which rulewire does not evaluate"
            )));
        }
        Some(last) if parts.len() > 1 && last.bytes().all(|b| b.is_ascii_digit()) => {
            let n: usize = last.parse().map_err(|_| unknown())?;
            parts.pop();
            Some(n)
        }
        _ => None,
    };
    let name = match parts.as_slice() {
        [attr] => NAME_ATTRIBUTES
            .iter()
            .find(|a| a.1.eq_ignore_ascii_case(attr))
            .map(|a| a.1.to_owned()),
        [alt, kind] if alt.eq_ignore_ascii_case("AlternativeName") => ALTERNATIVE_NAMES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(kind))
            .map(|k| format!("AlternativeName.{k}")),
        _ => None,
    }
    .ok_or_else(unknown)?;
    Ok(match index {
        Some(n) => format!("{which}.{name}.{n}"),
        None => format!("{which}.{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn certificate_variables_are_aws_names_in_any_case_with_an_index() {
        let ok = |n: &str| canonical(n).unwrap();
        assert_eq!(
            ok("iot:Certificate.Subject.initials"),
            "iot:Certificate.Subject.Initials"
        );
        assert_eq!(
            ok("iot:Certificate.Issuer.Country.1"),
            "iot:Certificate.Issuer.Country.1"
        );
        assert_eq!(
            ok("iot:Certificate.Subject.AlternativeName.dnsname"),
            "iot:Certificate.Subject.AlternativeName.DNSName"
        );
        assert_eq!(
            ok("iot:Certificate.Issuer.AlternativeName.IPAddress.0"),
            "iot:Certificate.Issuer.AlternativeName.IPAddress.0"
        );
        assert_eq!(
            ok("iot:Certificate.SerialNumber"),
            "iot:Certificate.SerialNumber"
        );
        assert_eq!(ok("aws:sourceip"), "aws:SourceIp");
        assert_eq!(ok("IOT:ClientId"), "iot:ClientId");
        for refused in [
            // Not among AWS's attributes.
            "iot:Certificate.Subject.Locality",
            "iot:Certificate.SubjectAlternativeName.DNSName",
            "iot:Certificate.Subject.AlternativeName.OtherName",
            "iot:Certificate.Subject",
            "iot:Certificate.AvailableKeys",
            "iot:Certificate.Validity.NotAfter",
        ] {
            let e = canonical(refused).unwrap_err().to_string();
            assert!(e.contains("not one AWS IoT defines"), "{refused}: {e}");
        }
        let e = canonical("iot:Certificate.Subject.Country.List")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ForAnyValue"), "{e}");
    }
}
