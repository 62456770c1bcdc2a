//! Cluster names: RFC 1123 labels, as Kubernetes requires for the names they end up in.

use super::CaError;

/// Checks that `name` is an RFC 1123 DNS label: 1 to 63 characters, lowercase letters, digits
/// and `-`, starting and ending with a letter or digit.
pub fn validate_cluster_name(name: &str) -> Result<(), CaError> {
    let fail = |problem: &str| CaError::ClusterName {
        name: name.to_string(),
        problem: problem.into(),
    };
    if name.is_empty() {
        return Err(fail("is empty"));
    }
    if name.len() > 63 {
        return Err(fail("is longer than 63 characters (RFC 1123 label)"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(fail(
            "may only hold lowercase letters, digits and '-' (RFC 1123 label)",
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(fail(
            "must start and end with a letter or digit (RFC 1123 label)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_labels() {
        for ok in ["a", "east", "cluster-1", "0abc", &"x".repeat(63)] {
            assert!(validate_cluster_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_non_labels() {
        for bad in [
            "",
            "East",
            "a_b",
            "-a",
            "a-",
            "a.b",
            "a/b",
            "../x",
            &"x".repeat(64),
            "é",
        ] {
            let err = validate_cluster_name(bad);
            assert!(
                matches!(err, Err(CaError::ClusterName { .. })),
                "{bad}: {err:?}"
            );
        }
    }
}
