//! Forwarding of out-of-zone queries: the raw query goes to the upstreams in order, the raw
//! answer comes back unchanged (same ID). Failure or timeout is reported to the caller, which
//! answers SERVFAIL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::metrics::ForwardError as Kind;

/// Errors from forwarding.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream resolvers are configured")]
    NoUpstreams,
    #[error("upstream {upstream} timed out")]
    Timeout { upstream: SocketAddr },
    #[error("upstream {upstream}: {source}")]
    Io {
        upstream: SocketAddr,
        source: std::io::Error,
    },
    #[error("upstream {upstream} sent a malformed response")]
    BadResponse { upstream: SocketAddr },
}

impl ForwardError {
    /// The metrics label for this error.
    pub fn kind(&self) -> Kind {
        match self {
            ForwardError::Timeout { .. } => Kind::Timeout,
            ForwardError::BadResponse { .. } => Kind::BadResponse,
            _ => Kind::Io,
        }
    }
}

/// Sends queries to upstream resolvers.
#[derive(Clone, Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>, timeout: Duration) -> Self {
        Self { upstreams, timeout }
    }

    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Forwards over UDP, trying each upstream in turn.
    pub async fn udp(&self, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
        let mut last = ForwardError::NoUpstreams;
        for &up in &self.upstreams {
            match tokio::time::timeout(self.timeout, udp_once(up, query)).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) => last = e,
                Err(_) => last = ForwardError::Timeout { upstream: up },
            }
        }
        Err(last)
    }

    /// Forwards over TCP (used for queries that arrived over TCP).
    pub async fn tcp(&self, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
        let mut last = ForwardError::NoUpstreams;
        for &up in &self.upstreams {
            match tokio::time::timeout(self.timeout, tcp_once(up, query)).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) => last = e,
                Err(_) => last = ForwardError::Timeout { upstream: up },
            }
        }
        Err(last)
    }
}

fn io(upstream: SocketAddr) -> impl Fn(std::io::Error) -> ForwardError {
    move |source| ForwardError::Io { upstream, source }
}

async fn udp_once(up: SocketAddr, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let local: SocketAddr = match up.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await.map_err(io(up))?;
    sock.connect(up).await.map_err(io(up))?;
    sock.send(query).await.map_err(io(up))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await.map_err(io(up))?;
        // Only a response with the query's ID counts; anything else is ignored.
        if n >= 12 && buf[0..2] == query[0..2] && buf[2] & 0x80 != 0 {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_once(up: SocketAddr, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let mut s = TcpStream::connect(up).await.map_err(io(up))?;
    let mut msg = Vec::with_capacity(query.len() + 2);
    msg.extend_from_slice(&(query.len() as u16).to_be_bytes());
    msg.extend_from_slice(query);
    s.write_all(&msg).await.map_err(io(up))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(io(up))?;
    let n = u16::from_be_bytes(len) as usize;
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await.map_err(io(up))?;
    if n < 12 || buf[0..2] != query[0..2] {
        return Err(ForwardError::BadResponse { upstream: up });
    }
    Ok(buf)
}
