//! `${env:NAME}` references in connection settings (`[s3|kafka|aws.connections.*]` of
//! `rulewire.toml`), resolved once when the service starts, so secrets stay out of files.
//!
//! Shared by every action with named connections; an unset variable or an unterminated
//! reference is an error naming the field.

/// Replaces every `${env:NAME}` in `text` (the value of `field`) with `env(NAME)`.
pub(crate) fn substitute(
    field: &str,
    text: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{field}: unterminated ${{env:...}}"))?;
        let name = &after[..end];
        let value =
            env(name).ok_or_else(|| format!("{field}: environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn replaces_references_and_names_missing_ones() {
        let env = |n: &str| (n == "A").then(|| "x".to_owned());
        assert_eq!(
            substitute("f", "p-${env:A}-${env:A}", &env).unwrap(),
            "p-x-x"
        );
        assert_eq!(substitute("f", "plain", &env).unwrap(), "plain");
        assert_eq!(
            substitute("f", "${env:B}", &env).unwrap_err(),
            "f: environment variable B is not set"
        );
        assert_eq!(
            substitute("f", "${env:A", &env).unwrap_err(),
            "f: unterminated ${env:...}"
        );
    }
}
