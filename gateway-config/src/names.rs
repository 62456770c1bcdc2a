//! Syntax checks for Kubernetes names, label keys and values, and addresses.
//!
//! Each check returns `Err(reason)` where `reason` completes a sentence about the value,
//! e.g. `is not an RFC 1123 label`.

use std::net::IpAddr;

type Check = Result<(), String>;

fn fail(reason: &str) -> Check {
    Err(reason.to_owned())
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: 1-63 chars of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn rfc1123_label(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower);
    if ok {
        Ok(())
    } else {
        fail("is not an RFC 1123 label")
    }
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 chars.
pub fn rfc1123_subdomain(s: &str) -> Check {
    if s.is_empty() || s.len() > 253 || s.split('.').any(|l| rfc1123_label(l).is_err()) {
        return fail("is not an RFC 1123 subdomain");
    }
    Ok(())
}

/// Kubernetes label value: empty, or 1-63 chars of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn label_value(s: &str) -> Check {
    if s.is_empty() {
        return Ok(());
    }
    let ok = s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        fail("is not a valid Kubernetes label value")
    }
}

/// A non-empty Kubernetes label value.
pub fn label_value_nonempty(s: &str) -> Check {
    if s.is_empty() {
        return fail("must not be empty");
    }
    label_value(s)
}

/// Kubernetes qualified name (label key): optional `prefix/` (RFC 1123 subdomain) and a
/// name part like a non-empty label value.
pub fn qualified_name(s: &str) -> Check {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && rfc1123_subdomain(p).is_err()
    {
        return fail("is not a valid label key (bad prefix)");
    }
    if name.is_empty() || label_value(name).is_err() {
        return fail("is not a valid label key");
    }
    Ok(())
}

/// SPIFFE trust domain: lowercase letters, digits, `.`, `-`, `_`; non-empty, at most 255 chars.
pub fn trust_domain(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| is_alnum_lower(c) || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        fail("is not a valid trust domain")
    }
}

/// An IP address or a DNS name.
pub fn address(s: &str) -> Check {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let lower = s.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if rfc1123_subdomain(name).is_ok() && !name.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(());
    }
    fail("is neither an IP address nor a DNS name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "east-1", "0abc", &"a".repeat(63)] {
            assert!(rfc1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "East", "a_b", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(rfc1123_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values_and_keys() {
        assert!(label_value("").is_ok());
        assert!(label_value("Net_1.x").is_ok());
        assert!(label_value("a b").is_err());
        assert!(label_value_nonempty("").is_err());
        assert!(qualified_name("topology.istio.io/network").is_ok());
        assert!(qualified_name("env").is_ok());
        assert!(qualified_name("Bad Key").is_err());
        assert!(qualified_name("BAD_/x").is_err());
        assert!(qualified_name("a/").is_err());
    }

    #[test]
    fn addresses_and_domains() {
        for ok in [
            "203.0.113.10",
            "2001:db8::1",
            "gw.example.com",
            "gw.example.com.",
        ] {
            assert!(address(ok).is_ok(), "{ok}");
        }
        for bad in ["", "not an address", "1.2.3.400", "a..b"] {
            assert!(address(bad).is_err(), "{bad}");
        }
        assert!(trust_domain("cluster.local").is_ok());
        assert!(trust_domain("Cluster.local").is_err());
    }
}
