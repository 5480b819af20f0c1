//! An UPDATE message (RFC 2136 §2) read with hickory's codec into dnsd's terms, and
//! the response written back: the header and the zone section of the request, with
//! the RCODE (§3.8).
//!
//! ```text
//!  Header (opcode 5) | Zone (ZOCOUNT = 1, type SOA) | Prerequisite | Update | Additional
//! ```

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::{DNSClass, RData, RecordData, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::process::Rr;
use crate::wire::message::rcode;
use crate::wire::name::Name;
use crate::zone::Rtype;

/// An UPDATE, read.
#[derive(Debug)]
pub struct Update {
    /// The message ID.
    pub id: u16,
    /// The zone (ZNAME, lowercased).
    pub zone: Name,
    /// ZCLASS.
    pub zclass: u16,
    /// The prerequisite section.
    pub prereqs: Vec<Rr>,
    /// The update section.
    pub updates: Vec<Rr>,
}

/// Why an UPDATE could not be read: the RCODE to send, and the ID when known.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The message ID (None: not even a header: no answer).
    pub id: Option<u16>,
    /// The RCODE.
    pub rcode: u16,
}

/// Reads `request` as an UPDATE.
pub fn read(request: &[u8]) -> Result<Update, Unreadable> {
    let id = (request.len() >= 2).then(|| u16::from_be_bytes([request[0], request[1]]));
    let formerr = Unreadable {
        id,
        rcode: rcode::FORMERR,
    };
    let message = Message::from_vec(request).map_err(|_| Unreadable {
        id,
        rcode: rcode::FORMERR,
    })?;
    if message.metadata.op_code != OpCode::Update {
        return Err(Unreadable {
            id,
            rcode: rcode::NOTIMP,
        });
    }
    // §3.1.1: exactly one zone, of type SOA.
    let [zone] = message.queries.as_slice() else {
        return Err(formerr);
    };
    if zone.query_type() != RecordType::SOA {
        return Err(formerr);
    }
    let zname = name_of(zone.name()).ok_or(Unreadable {
        id,
        rcode: rcode::FORMERR,
    })?;
    let convert = |records: &[hickory_proto::rr::Record]| -> Option<Vec<Rr>> {
        records
            .iter()
            .map(|r| {
                Some(Rr {
                    owner: name_of(&r.name)?,
                    rtype: Rtype(u16::from(r.record_type())),
                    class: u16::from(r.dns_class),
                    ttl: r.ttl,
                    rdata: rdata_wire(&r.data)?,
                })
            })
            .collect()
    };
    Ok(Update {
        id: message.metadata.id,
        zone: zname.to_lowercase(),
        zclass: u16::from(zone.query_class()),
        prereqs: convert(&message.answers).ok_or(Unreadable {
            id,
            rcode: rcode::FORMERR,
        })?,
        updates: convert(&message.authorities).ok_or(Unreadable {
            id,
            rcode: rcode::FORMERR,
        })?,
    })
}

fn name_of(name: &hickory_proto::rr::Name) -> Option<Name> {
    Name::from_wire(&name.to_bytes().ok()?).ok()
}

/// RDATA in uncompressed wire format (names keep their case); empty for the
/// zero-length RDATA of ANY/NONE deletions.
fn rdata_wire(data: &RData) -> Option<Box<[u8]>> {
    if data.is_update() {
        return Some(Box::from(&[][..]));
    }
    let mut out = Vec::new();
    let mut encoder = BinEncoder::new(&mut out);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut encoder).ok()?;
    Some(out.into())
}

/// The response to an UPDATE: the request's header (ID, opcode, RD) with QR and
/// `rcode`, and its zone section if it had one.
pub fn response(request: &[u8], rcode: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let id = request.get(..2).unwrap_or(&[0, 0]);
    out.extend_from_slice(id);
    let flags: u16 = 0x8000 | (5 << 11) | (rcode & 0xf);
    out.extend_from_slice(&flags.to_be_bytes());
    // The zone section, copied when it is one well-formed question.
    let zone = request.get(4..6).filter(|c| *c == [0, 1]).and_then(|_| {
        let rest = request.get(12..)?;
        let len = crate::wire::name::wire_len(rest)?;
        rest.get(..len + 4)
    });
    out.extend_from_slice(&[0, u8::from(zone.is_some()), 0, 0, 0, 0, 0, 0]);
    if let Some(zone) = zone {
        out.extend_from_slice(zone);
    }
    out
}

/// Whether `class` is the zone's class (IN: dnsd serves only IN).
pub fn is_in(class: u16) -> bool {
    class == u16::from(DNSClass::IN)
}
