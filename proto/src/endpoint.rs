//! The shape of a discovery endpoint as users give it: the controller's URL and the name its
//! certificate is checked against. The DNS proxy checks its flags with these, and
//! `isthmus install` the flags it writes into the proxy's manifest.

use rustls_pki_types::ServerName;
use tonic::codegen::http::Uri;

/// Checks that `url` is `http://host[:port]` or `https://host[:port]` with no path or query;
/// the error completes "URL is unusable: ...".
pub fn check_url(url: &str) -> Result<(), &'static str> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "not a URL (expected https://host:port)")?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("the scheme must be https:// or http://");
    }
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err("no host"),
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("user information is not supported");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("a path or query is not supported");
    }
    Ok(())
}

/// Checks a TLS server name: a DNS name or an IP address.
pub fn check_server_name(name: &str) -> Result<(), String> {
    ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| format!("{name:?} is neither a DNS name nor an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://h:8443",
            "http://10.0.0.1:80",
            "https://h:8443/",
            "https://[::1]:1",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("h:8443", "scheme"),
            ("ftp://h", "scheme"),
            ("https://u@h:1", "user information"),
            ("https://h:1/x", "path or query"),
            ("https://h:1?q", "path or query"),
            ("not a url", "not a URL"),
        ] {
            let e = check_url(bad).err().unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn server_names() {
        assert!(check_server_name("isthmus-discovery.isthmus-system.svc").is_ok());
        assert!(check_server_name("discovery.isthmus.test").is_ok());
        assert!(check_server_name("127.0.0.1").is_ok());
        assert!(check_server_name("10.0.0.1").is_ok());
        let e = check_server_name("bad name").err().unwrap_or_default();
        assert!(e.contains("neither a DNS name nor an IP address"), "{e}");
    }
}
