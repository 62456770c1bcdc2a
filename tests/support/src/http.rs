//! A plain HTTP/1.0 GET, enough for the health, readiness and metrics endpoints.

use std::net::SocketAddr;
use std::time::Duration;

/// How long a GET may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(5);

/// `GET path` on `addr`: the status code and the body. A server that cannot be reached gives
/// status 0 and the error as the body (so a readiness loop can keep asking).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(request(path).as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(LIMIT, exchange).await {
        Ok(Ok(buf)) => parse(&buf),
        Ok(Err(e)) => (0, format!("GET {path} on {addr}: {e}")),
        Err(_) => (
            0,
            format!("GET {path} on {addr}: no answer within {LIMIT:?}"),
        ),
    }
}

/// [`get`] without an async runtime.
pub fn get_blocking(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let exchange = || {
        let mut s = std::net::TcpStream::connect_timeout(&addr, LIMIT)?;
        s.set_read_timeout(Some(LIMIT))?;
        s.write_all(request(path).as_bytes())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok::<_, std::io::Error>(buf)
    };
    match exchange() {
        Ok(buf) => parse(&buf),
        Err(e) => (0, format!("GET {path} on {addr}: {e}")),
    }
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")
}

fn parse(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        assert_eq!(
            parse(b"HTTP/1.0 503 Service Unavailable\r\ncontent-length: 8\r\n\r\nnot yet\n"),
            (503, "not yet\n".to_owned())
        );
        assert_eq!(parse(b""), (0, String::new()));
    }

    #[test]
    fn unreachable_server_is_status_zero() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The listener is gone: nothing accepts on that port any more.
        let (code, body) = get_blocking(addr, "/readyz");
        assert_eq!(code, 0, "{body}");
    }
}
