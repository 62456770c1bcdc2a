//! The fast request path: parses only the header, the question and an optional OPT record,
//! and copies a precomputed answer from the [`Table`]. No allocation per query.

use crate::table::{Table, WireLookup, rtype};

/// Response codes used here.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}

/// The largest UDP payload this server offers in its own OPT record and ever sends.
pub const DEFAULT_EDNS_UDP_SIZE: u16 = 1232;

/// The client's EDNS OPT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub dnssec_ok: bool,
}

/// A parsed standard query with one question.
#[derive(Clone, Debug)]
pub struct Query {
    /// End of the question section in the packet.
    pub question_end: usize,
    /// The question name, lower-cased, in wire form (with the root label).
    pub lower: [u8; 256],
    pub lower_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl Query {
    pub fn lower_name(&self) -> &[u8] {
        &self.lower[..self.lower_len]
    }
}

/// Result of the fast parser.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// A query the fast path can answer or forward.
    Query(Query),
    /// Valid-looking but unusual: hand it to the slow path.
    Slow,
    /// Not a query (a response, or shorter than a header): drop it silently.
    Drop,
}

/// Parses a request. Anything not a plain `QUERY` with one question, no answer/authority
/// records and at most one additional record (a version-0 OPT ending the packet) is `Slow`.
pub fn parse(pkt: &[u8]) -> Parsed {
    if pkt.len() < 12 || pkt[2] & 0x80 != 0 {
        return Parsed::Drop;
    }
    let opcode = (pkt[2] >> 3) & 0x0F;
    let qd = u16::from_be_bytes([pkt[4], pkt[5]]);
    let an = u16::from_be_bytes([pkt[6], pkt[7]]);
    let ns = u16::from_be_bytes([pkt[8], pkt[9]]);
    let ar = u16::from_be_bytes([pkt[10], pkt[11]]);
    if opcode != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return Parsed::Slow;
    }
    let mut q = Query {
        question_end: 0,
        lower: [0; 256],
        lower_len: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    let mut pos = 12usize;
    let mut out = 0usize;
    loop {
        let Some(&len) = pkt.get(pos) else {
            return Parsed::Slow;
        };
        if len & 0xC0 != 0 {
            // Compression pointers or extended labels in a question: rare, slow path.
            return Parsed::Slow;
        }
        let len = len as usize;
        if out + 1 + len > 255 || pos + 1 + len > pkt.len() {
            return Parsed::Slow;
        }
        q.lower[out] = len as u8;
        for i in 0..len {
            q.lower[out + 1 + i] = pkt[pos + 1 + i].to_ascii_lowercase();
        }
        out += 1 + len;
        pos += 1 + len;
        if len == 0 {
            break;
        }
    }
    q.lower_len = out;
    if pos + 4 > pkt.len() {
        return Parsed::Slow;
    }
    q.qtype = u16::from_be_bytes([pkt[pos], pkt[pos + 1]]);
    q.qclass = u16::from_be_bytes([pkt[pos + 2], pkt[pos + 3]]);
    pos += 4;
    q.question_end = pos;
    if ar == 1 {
        // OPT: root owner, type 41, class = UDP size, TTL = ext-rcode/version/flags, RDATA.
        if pos + 11 > pkt.len()
            || pkt[pos] != 0
            || u16::from_be_bytes([pkt[pos + 1], pkt[pos + 2]]) != rtype::OPT
        {
            return Parsed::Slow;
        }
        let udp_size = u16::from_be_bytes([pkt[pos + 3], pkt[pos + 4]]);
        let version = pkt[pos + 6];
        let dnssec_ok = pkt[pos + 7] & 0x80 != 0;
        let rdlen = u16::from_be_bytes([pkt[pos + 9], pkt[pos + 10]]) as usize;
        if version != 0 || pos + 11 + rdlen != pkt.len() {
            return Parsed::Slow;
        }
        q.edns = Some(Edns {
            udp_size,
            dnssec_ok,
        });
    } else if pos != pkt.len() {
        return Parsed::Slow;
    }
    if q.qclass != 1 || (128..255).contains(&q.qtype) || q.qtype == rtype::OPT {
        return Parsed::Slow;
    }
    Parsed::Query(q)
}

/// Per-request settings that do not come from the packet.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Over TCP the limit is 65535; over UDP it is 512 or the client's EDNS size.
    pub tcp: bool,
    /// Set RA in responses (the client may use forwarding).
    pub recursion_available: bool,
    /// Largest UDP payload this server sends and advertises.
    pub max_udp: u16,
}

/// The size limit for a response to `edns` under `ctx`.
pub fn response_limit(ctx: &Ctx, edns: Option<Edns>) -> usize {
    if ctx.tcp {
        return 65535;
    }
    match edns {
        Some(e) => (e.udp_size.max(512)).min(ctx.max_udp.max(512)) as usize,
        None => 512,
    }
}

/// Writes the response header, the question copied verbatim (keeping its case) and, when
/// the client sent EDNS, leaves room for the OPT record the caller appends.
#[allow(clippy::too_many_arguments)]
fn write_head(
    out: &mut Vec<u8>,
    pkt: &[u8],
    question_end: usize,
    ctx: &Ctx,
    aa: bool,
    tc: bool,
    code: u8,
    an: u16,
    ns: u16,
    ar: u16,
) {
    out.clear();
    out.extend_from_slice(&pkt[0..2]);
    let mut f1 = 0x80 | (pkt[2] & 0x01);
    if aa {
        f1 |= 0x04;
    }
    if tc {
        f1 |= 0x02;
    }
    let mut f2 = (pkt[3] & 0x10) | (code & 0x0F);
    if ctx.recursion_available {
        f2 |= 0x80;
    }
    out.push(f1);
    out.push(f2);
    let qd: u16 = if question_end > 12 { 1 } else { 0 };
    for v in [qd, an, ns, ar] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&pkt[12..question_end]);
}

/// Appends this server's OPT record.
pub fn push_opt(out: &mut Vec<u8>, ctx: &Ctx, edns: Edns) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&ctx.max_udp.max(512).to_be_bytes());
    out.extend_from_slice(&[0, 0, if edns.dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
}

/// Answers an in-zone query from the table into `out`; returns the RCODE.
pub fn answer(table: &Table, pkt: &[u8], q: &Query, ctx: &Ctx, out: &mut Vec<u8>) -> u8 {
    answer_with(
        table,
        table.lookup_wire(q.lower_name(), q.qtype),
        pkt,
        q,
        ctx,
        out,
    )
}

/// [`answer`] with the table lookup already done.
pub fn answer_with(
    table: &Table,
    found: WireLookup<'_>,
    pkt: &[u8],
    q: &Query,
    ctx: &Ctx,
    out: &mut Vec<u8>,
) -> u8 {
    let limit = response_limit(ctx, q.edns);
    let opt = u16::from(q.edns.is_some());
    let (code, body, an, ns, extra, xn): (u8, &[u8], u16, u16, &[u8], u16) = match found {
        WireLookup::Answer {
            wire,
            count,
            extra,
            extra_count,
        } => (rcode::NOERROR, wire, count, 0, extra, extra_count),
        WireLookup::NoData => (rcode::NOERROR, table.soa_authority(), 0, 1, &[], 0),
        WireLookup::NxDomain => (rcode::NXDOMAIN, table.soa_authority(), 0, 1, &[], 0),
    };
    let base = q.question_end + body.len() + if opt == 1 { 11 } else { 0 };
    if base + extra.len() <= limit {
        write_head(
            out,
            pkt,
            q.question_end,
            ctx,
            true,
            false,
            code,
            an,
            ns,
            xn + opt,
        );
        out.extend_from_slice(body);
        out.extend_from_slice(extra);
    } else if base <= limit {
        // Additional records are optional: leave them out rather than truncate (RFC 2181 9).
        write_head(
            out,
            pkt,
            q.question_end,
            ctx,
            true,
            false,
            code,
            an,
            ns,
            opt,
        );
        out.extend_from_slice(body);
    } else {
        write_head(out, pkt, q.question_end, ctx, true, true, code, 0, 0, opt);
    }
    if let Some(e) = q.edns {
        push_opt(out, ctx, e);
    }
    code
}

/// Writes an empty response with `code` (REFUSED, SERVFAIL...) for a parsed query.
pub fn error(pkt: &[u8], q: &Query, ctx: &Ctx, code: u8, out: &mut Vec<u8>) {
    let ar = u16::from(q.edns.is_some());
    write_head(out, pkt, q.question_end, ctx, false, false, code, 0, 0, ar);
    if let Some(e) = q.edns {
        push_opt(out, ctx, e);
    }
}
