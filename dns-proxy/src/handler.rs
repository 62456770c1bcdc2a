//! One request in, one action out: the fast path first, the slow path for anything unusual.

use hickory_proto::op::ResponseCode;

use crate::fast::{self, Ctx, Parsed};
use crate::slow::{self, SlowOutcome};
use crate::table::{Table, WireLookup};

/// What the server loop must do after [`handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `out` holds the response.
    Reply { rcode: u8, qtype: u16 },
    /// The name is outside the zone: forward the raw request upstream.
    Forward { qtype: u16 },
    /// Send nothing.
    Drop,
}

/// Handles one request. `may_forward` says whether this client may use forwarding; when it
/// may not, out-of-zone questions get REFUSED.
pub fn handle(
    table: &Table,
    pkt: &[u8],
    ctx: &Ctx,
    may_forward: bool,
    out: &mut Vec<u8>,
) -> Action {
    match fast::parse(pkt) {
        Parsed::Drop => Action::Drop,
        Parsed::Query(q) => {
            // Look up first: a name in the table is in the zone, so the zone check is only
            // needed for misses.
            let found = table.lookup_wire(q.lower_name(), q.qtype);
            if matches!(found, WireLookup::NxDomain) && !table.in_zone(q.lower_name()) {
                if may_forward {
                    return Action::Forward { qtype: q.qtype };
                }
                fast::error(pkt, &q, ctx, fast::rcode::REFUSED, out);
                return Action::Reply {
                    rcode: fast::rcode::REFUSED,
                    qtype: q.qtype,
                };
            }
            if !table.is_complete() {
                fast::error(pkt, &q, ctx, fast::rcode::SERVFAIL, out);
                return Action::Reply {
                    rcode: fast::rcode::SERVFAIL,
                    qtype: q.qtype,
                };
            }
            let rcode = fast::answer_with(table, found, pkt, &q, ctx, out);
            Action::Reply {
                rcode,
                qtype: q.qtype,
            }
        }
        Parsed::Slow => match slow::handle(table, pkt, ctx) {
            SlowOutcome::Reply {
                bytes,
                rcode,
                qtype,
            } => {
                out.clear();
                out.extend_from_slice(&bytes);
                Action::Reply { rcode, qtype }
            }
            SlowOutcome::OutOfZone { qtype } => {
                if may_forward {
                    return Action::Forward { qtype };
                }
                match slow::error_response(pkt, ctx, ResponseCode::Refused) {
                    Some(b) => {
                        out.clear();
                        out.extend_from_slice(&b);
                        Action::Reply {
                            rcode: fast::rcode::REFUSED,
                            qtype,
                        }
                    }
                    None => Action::Drop,
                }
            }
            SlowOutcome::Drop => Action::Drop,
        },
    }
}

/// A REFUSED for a client that may not use forwarding.
pub fn refused(pkt: &[u8], ctx: &Ctx) -> Option<Vec<u8>> {
    error_reply(pkt, ctx, fast::rcode::REFUSED, ResponseCode::Refused)
}

/// A SERVFAIL for a request whose forwarding failed.
pub fn servfail(pkt: &[u8], ctx: &Ctx) -> Option<Vec<u8>> {
    error_reply(pkt, ctx, fast::rcode::SERVFAIL, ResponseCode::ServFail)
}

fn error_reply(pkt: &[u8], ctx: &Ctx, code: u8, hcode: ResponseCode) -> Option<Vec<u8>> {
    if let Parsed::Query(q) = fast::parse(pkt) {
        let mut out = Vec::with_capacity(q.question_end + 11);
        fast::error(pkt, &q, ctx, code, &mut out);
        return Some(out);
    }
    slow::error_response(pkt, ctx, hcode)
}
