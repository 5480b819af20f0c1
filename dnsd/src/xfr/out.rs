//! AXFR (RFC 5936) and IXFR (RFC 1995) out: what a transfer request gets, and its
//! records in the order they go, read in place from the served version or the
//! journal's condensed diff, written message by message (`writer`) without the
//! transfer ever being built in memory.
//!
//! - AXFR: the SOA, every RRset in canonical order (the apex SOA aside), the SOA again
//!   (RFC 5936 §2.2).
//! - IXFR from serial N (RFC 1995 §4): N current or ahead of us: our SOA alone;
//!   history from N in the journal: our SOA, then N's SOA and the records removed,
//!   our SOA and the records added (the journal condenses every step from N, §4), our
//!   SOA; no history from N: the zone as AXFR sends it (§4, "AXFR-style").

use std::iter::Peekable;

use super::writer::{Message, RecordRef};
use crate::manager::Published;
use crate::wire::reader::{Reader, Section};
use crate::zone::diff::ZoneDiff;
use crate::zone::serial::serial_gt;
use crate::zone::{Rtype, Zone};

/// What a transfer request gets.
#[derive(Debug)]
pub enum Plan {
    /// Our SOA alone: the client is current (IXFR), or must retry over TCP.
    SoaOnly,
    /// The changes since the client's serial.
    Ixfr(ZoneDiff),
    /// The whole zone (AXFR, or IXFR without history).
    Axfr,
}

impl Plan {
    /// Its name in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Plan::SoaOnly => "soa",
            Plan::Ixfr(_) => "ixfr",
            Plan::Axfr => "axfr",
        }
    }
}

/// What an IXFR from `client_serial` gets from `published` (whose zone is `zone`).
pub fn plan_ixfr(published: &Published, zone: &Zone, client_serial: u32) -> Plan {
    let serial = zone.serial().unwrap_or(0);
    if !serial_gt(serial, client_serial) {
        return Plan::SoaOnly;
    }
    match published.journal.changes(client_serial, serial) {
        Ok(diff) => Plan::Ixfr(diff),
        Err(_) => Plan::Axfr,
    }
}

/// The serial of the SOA of zone `apex` in `section` of `msg`: the client's in an
/// IXFR request (RFC 1995 §3: authority), the primary's in a NOTIFY (RFC 1996 §3.7:
/// answer). None when the section holds none for the zone.
pub fn soa_serial(msg: &[u8], apex: &[u8], section: Section) -> Option<u32> {
    let request = msg;
    let mut reader = Reader::new(request)?;
    while let Ok(Some(record)) = reader.record() {
        if record.section == section
            && record.rtype == Rtype::SOA
            && record.owner.as_wire().eq_ignore_ascii_case(apex)
        {
            let rdata = record.to_record(request).ok()?.rdata;
            return crate::zone::snapshot::soa_fields(&rdata).map(|f| f[0]);
        }
    }
    None
}

/// The records of a transfer of `zone` as `plan` says, in the order they go.
pub fn records<'z>(
    zone: &'z Zone,
    plan: &'z Plan,
) -> Box<dyn Iterator<Item = RecordRef<'z>> + Send + 'z> {
    let apex = zone.apex().as_wire();
    let soa = zone.soa().and_then(|s| {
        s.rdatas().next().map(|rdata| RecordRef {
            owner: apex,
            rtype: Rtype::SOA,
            ttl: s.ttl,
            rdata,
        })
    });
    let soa = soa.into_iter();
    match plan {
        Plan::SoaOnly => Box::new(soa),
        Plan::Ixfr(diff) => {
            let of = |r: &'z crate::zone::Record| RecordRef {
                owner: r.owner.as_wire(),
                rtype: r.rtype,
                ttl: r.ttl,
                rdata: &r.rdata,
            };
            Box::new(
                soa.clone()
                    .chain(diff.removed.iter().map(of))
                    .chain(diff.added.iter().map(of))
                    .chain(soa),
            )
        }
        Plan::Axfr => {
            let body = zone.nodes().flat_map(|node| {
                let owner = node.owner();
                let apex_node = node.is_apex();
                node.rrsets()
                    .filter(move |r| !(apex_node && r.rtype == Rtype::SOA))
                    .flat_map(move |rrset| {
                        rrset.rdatas().map(move |rdata| RecordRef {
                            owner,
                            rtype: rrset.rtype,
                            ttl: rrset.ttl,
                            rdata,
                        })
                    })
            });
            Box::new(soa.clone().chain(body).chain(soa))
        }
    }
}

/// A record larger than a whole message: the transfer cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a record does not fit in a message")]
pub struct TooLarge;

/// Cuts a transfer's records into messages.
pub struct Producer<'z> {
    records: Peekable<Box<dyn Iterator<Item = RecordRef<'z>> + Send + 'z>>,
    id: u16,
    flags: u16,
    question: Option<&'z [u8]>,
    apex: &'z [u8],
    /// Records written so far.
    pub written: u64,
}

impl<'z> Producer<'z> {
    /// A producer of the responses to a request with `id` and `flags` (RD is kept)
    /// and `question` (as received) for the zone whose apex is `apex`.
    pub fn new(
        records: Box<dyn Iterator<Item = RecordRef<'z>> + Send + 'z>,
        id: u16,
        request_flags: u16,
        question: Option<&'z [u8]>,
        apex: &'z [u8],
    ) -> Self {
        // QR, AA, the request's opcode and RD (RFC 5936 §2.2.1).
        let flags = 0x8400 | (request_flags & 0x7900);
        Self {
            records: records.peekable(),
            id,
            flags,
            question,
            apex,
            written: 0,
        }
    }

    /// Writes the next message into `msg`; Ok(false) once every record went out.
    pub fn next_message(&mut self, msg: &mut Message) -> Result<bool, TooLarge> {
        if self.records.peek().is_none() {
            return Ok(false);
        }
        msg.start(self.id, self.flags, self.question, self.apex);
        while let Some(record) = self.records.peek() {
            if !msg.push(record) {
                if msg.count() == 0 {
                    return Err(TooLarge);
                }
                break;
            }
            self.written += 1;
            self.records.next();
        }
        Ok(true)
    }

    /// Whether records are left.
    pub fn has_more(&mut self) -> bool {
        self.records.peek().is_some()
    }
}

#[cfg(test)]
#[path = "out_tests.rs"]
mod tests;
