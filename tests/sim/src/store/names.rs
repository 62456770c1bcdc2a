//! Object names: validation as the API server does it (RFC 1123 labels and subdomains) and the
//! random suffix of `metadata.generateName`.

/// Five characters from the alphabet the API server uses for `generateName` suffixes.
pub(super) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Checks a name as an RFC 1123 label (`label`, at most 63 characters) or subdomain (at most
/// 253); the error is the API server's message.
pub(super) fn valid_name(name: &str, label: bool) -> Result<(), String> {
    let max = if label { 63 } else { 253 };
    if name.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    let good = if label {
        ok_part(name)
    } else {
        name.split('.').all(ok_part)
    };
    if good {
        Ok(())
    } else if label {
        Err("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".into())
    } else {
        Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into())
    }
}
