//! `${env:NAME}` in pipeline values: secrets come from the environment, and
//! their values never appear in logs, status or errors; only the names do.

/// Each `${env:NAME}` in `text`, by name, in order; `Err` with a message
/// for a malformed reference.
pub fn references(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
        let inner = &after[..end];
        let name = inner.strip_prefix("env:").ok_or_else(|| {
            format!("`${{{inner}}}` is not a reference Sluice knows: write `${{env:NAME}}`")
        })?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{env:{name}}}`: an environment variable name is letters, digits and `_`"
            ));
        }
        names.push(name);
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// `text` with each `${env:NAME}` replaced by the variable's value; `Err`
/// names the first variable that is not set.
pub fn resolve(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after
            .find('}')
            .ok_or_else(|| "unclosed `${env:` in a value".to_string())?;
        let name = &after[..end];
        let value =
            lookup(name).ok_or_else(|| format!("the environment variable `{name}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_checked() {
        assert_eq!(
            references("postgres://${env:PG_USER}@h/${env:DB}").unwrap(),
            ["PG_USER", "DB"]
        );
        assert!(references("${PG_DSN}").unwrap_err().contains("${env:NAME}"));
        assert!(references("${env:PG-DSN}").is_err());
        assert!(references("${env:X").is_err());
        assert!(references("plain").unwrap().is_empty());
    }

    #[test]
    fn resolve_substitutes_and_names_what_is_missing() {
        let lookup = |name: &str| (name == "A").then(|| "secret".to_owned());
        assert_eq!(resolve("x-${env:A}-y", lookup).unwrap(), "x-secret-y");
        let error = resolve("${env:B}", lookup).unwrap_err();
        assert!(
            error.contains("`B`") && !error.contains("secret"),
            "{error}"
        );
    }
}
