//! DNS queries built with hickory, and one UDP exchange with a server.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

/// The id of every query built by [`query`].
pub const QUERY_ID: u16 = 0x4242;

/// A query for `name` of type `t` (class IN, recursion desired, id [`QUERY_ID`]), with an OPT
/// record advertising `edns` bytes when given.
pub fn query(name: &str, t: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(QUERY_ID, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut q = Query::query(
        Name::from_ascii(name).unwrap_or_else(|e| panic!("{name}: {e}")),
        t,
    );
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// Sends `packet` to `server` over UDP and parses the reply; `Err` when none comes within
/// `limit` or it does not parse.
pub async fn ask(server: SocketAddr, packet: &[u8], limit: Duration) -> Result<Message, String> {
    let s = tokio::net::UdpSocket::bind(local_for(server))
        .await
        .map_err(|e| e.to_string())?;
    s.send_to(packet, server)
        .await
        .map_err(|e| format!("sending to {server}: {e}"))?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(limit, s.recv(&mut buf))
        .await
        .map_err(|_| format!("no answer from {server} within {limit:?}"))?
        .map_err(|e| format!("receiving from {server}: {e}"))?;
    Message::from_vec(&buf[..n]).map_err(|e| format!("answer from {server}: {e}"))
}

/// [`ask`] without an async runtime.
pub fn ask_blocking(server: SocketAddr, packet: &[u8], limit: Duration) -> Result<Message, String> {
    let s = std::net::UdpSocket::bind(local_for(server)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.send_to(packet, server)
        .map_err(|e| format!("sending to {server}: {e}"))?;
    let mut buf = vec![0u8; 65535];
    let n = s
        .recv(&mut buf)
        .map_err(|e| format!("no answer from {server} within {limit:?}: {e}"))?;
    Message::from_vec(&buf[..n]).map_err(|e| format!("answer from {server}: {e}"))
}

/// The IPv4 addresses in the answer section, sorted.
pub fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// An ephemeral local address of the server's family.
fn local_for(server: SocketAddr) -> SocketAddr {
    if server.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips_through_hickory() {
        let m = Message::from_vec(&query(
            "web.shop.svc.clusterset.local.",
            RecordType::A,
            Some(1232),
        ))
        .unwrap();
        assert_eq!(m.metadata.id, QUERY_ID);
        assert!(m.metadata.recursion_desired);
        assert_eq!(
            m.queries[0].name().to_ascii(),
            "web.shop.svc.clusterset.local."
        );
        assert_eq!(m.queries[0].query_type(), RecordType::A);
        assert_eq!(m.edns.as_ref().map(Edns::max_payload), Some(1232));
    }
}
