//! The slow request path, built on hickory-proto: unusual queries (other opcodes, several or
//! no questions, compressed question names, EDNS versions other than 0, other classes, meta
//! types) and the reference the fast path is tested against.

use hickory_proto::op::{
    Edns as HEdns, Message, MessageType, OpCode, Query as HQuery, ResponseCode,
};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::fast::Ctx;
use crate::table::{Lookup, Rdata, Table, rtype};

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum SlowOutcome {
    /// Send these bytes; the RCODE (low 4 bits) for metrics and the query type.
    Reply {
        bytes: Vec<u8>,
        rcode: u8,
        qtype: u16,
    },
    /// The question is outside the zone: forward the raw packet.
    OutOfZone { qtype: u16 },
    /// Drop silently (responses, garbage shorter than a header).
    Drop,
}

/// Handles any request with hickory-proto.
pub fn handle(table: &Table, pkt: &[u8], ctx: &Ctx) -> SlowOutcome {
    if pkt.len() < 12 || pkt[2] & 0x80 != 0 {
        return SlowOutcome::Drop;
    }
    let req = match Message::from_vec(pkt) {
        Ok(m) => m,
        Err(_) => return formerr(pkt, ctx),
    };
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = ctx.recursion_available;
    let edns = req.edns.as_ref().map(|e| crate::fast::Edns {
        udp_size: e.max_payload(),
        dnssec_ok: e.flags().dnssec_ok,
    });
    if let Some(e) = &req.edns {
        let mut ours = HEdns::new();
        ours.set_max_payload(ctx.max_udp.max(512));
        ours.set_version(0);
        ours.set_dnssec_ok(e.flags().dnssec_ok);
        resp.set_edns(ours);
    }
    let qtype = req.queries.first().map_or(0, |q| u16::from(q.query_type()));
    resp.add_queries(req.queries.iter().cloned());
    if let Some(e) = &req.edns
        && e.version() != 0
    {
        // RFC 6891: BADVERS, no question processing.
        resp.metadata.response_code = ResponseCode::BADVERS;
        if let Some(ours) = resp.edns.as_mut() {
            ours.set_rcode_high(ResponseCode::BADVERS.high());
        }
        return finish(resp, ctx, edns, qtype);
    }
    if req.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return finish(resp, ctx, edns, qtype);
    }
    if req.queries.len() != 1 {
        resp.metadata.response_code = ResponseCode::FormErr;
        return finish(resp, ctx, edns, qtype);
    }
    let q = &req.queries[0];
    let lower = match q.name().to_lowercase().to_bytes() {
        Ok(b) => b,
        Err(_) => return formerr(pkt, ctx),
    };
    if !table.in_zone(&lower) {
        return SlowOutcome::OutOfZone { qtype };
    }
    let t = u16::from(q.query_type());
    if !table.is_complete() {
        // Before the first table: never a cacheable negative answer.
        resp.metadata.response_code = ResponseCode::ServFail;
        return finish(resp, ctx, edns, qtype);
    }
    resp.metadata.authoritative = true;
    if q.query_class() != DNSClass::IN {
        resp.metadata.authoritative = false;
        resp.metadata.response_code = ResponseCode::Refused;
        return finish(resp, ctx, edns, qtype);
    }
    if t == rtype::AXFR || t == rtype::IXFR {
        resp.metadata.response_code = ResponseCode::Refused;
        return finish(resp, ctx, edns, qtype);
    }
    if (128..255).contains(&t) || t == rtype::OPT {
        resp.metadata.response_code = ResponseCode::NotImp;
        return finish(resp, ctx, edns, qtype);
    }
    answer_into(table, q, &lower, &mut resp);
    finish(resp, ctx, edns, qtype)
}

/// Fills answer/authority and RCODE for an in-zone IN question.
fn answer_into(table: &Table, q: &HQuery, lower: &[u8], resp: &mut Message) {
    match table.lookup(lower, u16::from(q.query_type())) {
        Lookup::Answer(set) => {
            for r in &set.rdata {
                resp.add_answer(Record::from_rdata(q.name().clone(), set.ttl, to_hickory(r)));
            }
            for (owner, r) in &set.additional {
                resp.add_additional(Record::from_rdata(name(owner), table.ttl(), to_hickory(r)));
            }
        }
        Lookup::NoData => {
            resp.add_authority(soa_record(table));
        }
        Lookup::NxDomain => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authority(soa_record(table));
        }
    }
}

fn soa_record(table: &Table) -> Record {
    let zone = Name::from_ascii(format!("{}.", table.zone())).unwrap_or_else(|_| Name::root());
    Record::from_rdata(zone, table.ttl(), to_hickory(table.soa()))
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{s}.")).unwrap_or_else(|_| Name::root())
}

/// Converts table record data to hickory's.
pub fn to_hickory(r: &Rdata) -> RData {
    match r {
        Rdata::A(a) => RData::A(A(*a)),
        Rdata::Aaaa(a) => RData::AAAA(AAAA(*a)),
        Rdata::Ns(n) => RData::NS(NS(name(n))),
        Rdata::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => RData::SOA(SOA::new(
            name(mname),
            name(rname),
            *serial,
            *refresh as i32,
            *retry as i32,
            *expire as i32,
            *minimum,
        )),
        Rdata::Txt(t) => RData::TXT(TXT::new(vec![t.clone()])),
        Rdata::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(target))),
    }
}

fn finish(
    mut resp: Message,
    ctx: &Ctx,
    edns: Option<crate::fast::Edns>,
    qtype: u16,
) -> SlowOutcome {
    let limit = crate::fast::response_limit(ctx, edns);
    let rcode = resp.metadata.response_code.low();
    let mut bytes = match resp.to_vec() {
        Ok(b) => b,
        Err(_) => return SlowOutcome::Drop,
    };
    if bytes.len() > limit && !resp.additionals.is_empty() {
        // Additional records are optional: leave them out rather than truncate (RFC 2181 9).
        resp.additionals.clear();
        bytes = match resp.to_vec() {
            Ok(b) => b,
            Err(_) => return SlowOutcome::Drop,
        };
    }
    if bytes.len() > limit {
        resp.answers.clear();
        resp.authorities.clear();
        resp.additionals.clear();
        resp.metadata.truncation = true;
        bytes = match resp.to_vec() {
            Ok(b) => b,
            Err(_) => return SlowOutcome::Drop,
        };
    }
    SlowOutcome::Reply {
        bytes,
        rcode,
        qtype,
    }
}

/// FORMERR with the header only (the question could not be parsed).
fn formerr(pkt: &[u8], ctx: &Ctx) -> SlowOutcome {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&pkt[0..2]);
    out.push(0x80 | (pkt[2] & 0x79));
    out.push(if ctx.recursion_available { 0x80 } else { 0 } | 1);
    out.extend_from_slice(&[0; 8]);
    SlowOutcome::Reply {
        bytes: out,
        rcode: 1,
        qtype: 0,
    }
}

/// A response with `code` and no records for a request that may not parse with the fast
/// parser (used for SERVFAIL/REFUSED on forwarded queries).
pub fn error_response(pkt: &[u8], ctx: &Ctx, code: ResponseCode) -> Option<Vec<u8>> {
    if pkt.len() < 12 {
        return None;
    }
    let req = Message::from_vec(pkt).ok()?;
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = ctx.recursion_available;
    resp.metadata.response_code = code;
    resp.add_queries(req.queries.iter().cloned());
    if let Some(e) = &req.edns {
        let mut ours = HEdns::new();
        ours.set_max_payload(ctx.max_udp.max(512));
        ours.set_dnssec_ok(e.flags().dnssec_ok);
        resp.set_edns(ours);
    }
    resp.to_vec().ok()
}

/// The record type of a code, for logs.
pub fn type_name(t: u16) -> String {
    RecordType::from(t).to_string()
}
