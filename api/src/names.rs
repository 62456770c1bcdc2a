//! Syntax checks for Kubernetes names, label keys and values, and addresses.
//!
//! Each check returns a [`NameError`] whose message completes a sentence about the value,
//! e.g. `"East_1" is not an RFC 1123 label`.

use std::net::IpAddr;

/// Why a name or value is not valid. The message completes a sentence about the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not an RFC 1123 label.
    #[error("is not an RFC 1123 label")]
    Rfc1123Label,
    /// Not an RFC 1123 subdomain.
    #[error("is not an RFC 1123 subdomain")]
    Rfc1123Subdomain,
    /// Not a Kubernetes label value.
    #[error("is not a valid Kubernetes label value")]
    LabelValue,
    /// Empty where a value is required.
    #[error("must not be empty")]
    Empty,
    /// The prefix of a label key is not a DNS subdomain.
    #[error("is not a valid label key (bad prefix)")]
    LabelKeyPrefix,
    /// Not a label key.
    #[error("is not a valid label key")]
    LabelKey,
    /// Not a trust domain.
    #[error("is not a valid trust domain")]
    TrustDomain,
    /// Neither an IP address nor a DNS name.
    #[error("is neither an IP address nor a DNS name")]
    Address,
}

type Check = Result<(), NameError>;

fn fail(reason: NameError) -> Check {
    Err(reason)
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
        fail(NameError::Rfc1123Label)
    }
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 chars.
pub fn rfc1123_subdomain(s: &str) -> Check {
    if s.is_empty() || s.len() > 253 || s.split('.').any(|l| rfc1123_label(l).is_err()) {
        return fail(NameError::Rfc1123Subdomain);
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
        fail(NameError::LabelValue)
    }
}

/// A non-empty Kubernetes label value.
pub fn label_value_nonempty(s: &str) -> Check {
    if s.is_empty() {
        return fail(NameError::Empty);
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
        return fail(NameError::LabelKeyPrefix);
    }
    if name.is_empty() || label_value(name).is_err() {
        return fail(NameError::LabelKey);
    }
    Ok(())
}

/// The trust domain of Isthmus identities when none is given: Istio's default.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// SPIFFE trust domain: lowercase letters, digits, `.`, `-`, `_`; non-empty, at most 255 chars.
pub fn trust_domain(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| is_alnum_lower(c) || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        fail(NameError::TrustDomain)
    }
}

/// An IP address or a DNS name: dot-separated RFC 1123 labels (checked in lowercase), at most
/// 253 characters, one trailing dot allowed, and a last label that is not all digits (a name
/// such as `gw.123` is refused, as istiod refuses it for a gateway address in
/// `pkg/config/validation/agent/validation.go`). IPv6 zones (`%eth0`) are refused.
pub fn address(s: &str) -> Check {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let lower = s.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let last = name.rsplit('.').next().unwrap_or(name);
    if rfc1123_subdomain(name).is_ok() && !last.chars().all(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    fail(NameError::Address)
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
        for bad in [
            "",
            "not an address",
            "1.2.3.400",
            "a..b",
            "gw.123",
            "fe80::1%eth0",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
        assert!(trust_domain("cluster.local").is_ok());
        assert!(trust_domain("Cluster.local").is_err());
    }
}
