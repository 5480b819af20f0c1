//! The resolver's response to its client, from a resolution: the client's ID, RD, CD
//! and question (its case kept, RFC 4343), RA (RFC 1035 §4.1.1), the answer chain and,
//! for a negative answer, the SOA (RFC 2308 §3); RRSIG, NSEC and NSEC3 only for a
//! client that set DO (RFC 4035 §3.2.1); our OPT when the request had one (RFC 6891
//! §7), with the Extended DNS Error of a failure (RFC 8914). A response larger than the
//! client's UDP limit goes out truncated (TC, sections empty, RFC 2181 §9).

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, Record, RecordType};

use super::iterator::Resolution;
use crate::answer::{EDNS_UDP_SIZE, PLAIN_UDP_SIZE, TCP_SIZE, Transport};

/// What the response needs from the client's request.
#[derive(Clone, Debug)]
pub struct ClientQuery {
    /// Message ID.
    pub id: u16,
    /// The question's name as sent (case kept).
    pub name: Name,
    /// QTYPE.
    pub qtype: RecordType,
    /// RD as sent.
    pub rd: bool,
    /// CD as sent (RFC 4035 §3.2.2).
    pub cd: bool,
    /// The EDNS payload size and DO bit, when the request had an OPT.
    pub edns: Option<(u16, bool)>,
    /// How it came.
    pub transport: Transport,
}

/// DNSSEC record types a client without DO does not get.
fn is_dnssec(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
    )
}

/// The response to `query` carrying `resolution`, in wire format.
pub fn render(query: &ClientQuery, resolution: &Resolution, authentic: bool) -> Vec<u8> {
    let dnssec_ok = query.edns.is_some_and(|(_, d)| d);
    let mut message = Message::new(query.id, MessageType::Response, OpCode::Query);
    message.metadata.recursion_desired = query.rd;
    message.metadata.recursion_available = true;
    message.metadata.checking_disabled = query.cd;
    message.metadata.authentic_data = authentic && resolution.rcode != ResponseCode::ServFail;
    message.metadata.response_code = resolution.rcode;
    message.add_query(Query::query(query.name.clone(), query.qtype));
    let keep =
        |r: &&Record| dnssec_ok || !is_dnssec(r.record_type()) || r.record_type() == query.qtype;
    message.add_answers(resolution.answer.iter().filter(keep).cloned());
    message.add_authorities(resolution.authority.iter().filter(keep).cloned());
    if let Some((_, dnssec_ok)) = query.edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_UDP_SIZE);
        opt.set_dnssec_ok(dnssec_ok);
        if let Some(code) = resolution.ede {
            opt.options_mut().insert(EdnsOption::Unknown(
                u16::from(EdnsCode::from(15)),
                code.to_be_bytes().to_vec(),
            ));
        }
        message.set_edns(opt);
    }
    let limit = match (query.transport, query.edns) {
        (Transport::Tcp, _) => TCP_SIZE,
        (Transport::Udp, None) => PLAIN_UDP_SIZE,
        (Transport::Udp, Some((size, _))) => {
            usize::from(size.clamp(PLAIN_UDP_SIZE as u16, EDNS_UDP_SIZE))
        }
    };
    match message.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        _ => {
            // RFC 2181 §9: too big for the transport: TC, and the client asks over TCP.
            message.answers.clear();
            message.authorities.clear();
            message.additionals.clear();
            message.metadata.truncation = true;
            message.to_vec().unwrap_or_default()
        }
    }
}
