//! A version built from records as they arrive (a transfer in, message by message),
//! without holding them all first.
//!
//! A primary that sends its zone in canonical order (RFC 4034 §6.1; dnsd does, as
//! AXFR out walks the version in order) hands over each owner's records together and
//! the owners in order: each owner is then written as a node, with the empty
//! non-terminals above it, as soon as the next owner shows that it is complete, and
//! the records themselves are never held beyond their owner. Order is checked at
//! each new owner; the first owner out of order (RFC 5936 §2.2 lets a primary send
//! its records in any order) turns the builder into a collector: the nodes written so
//! far are read back as records, and [`Zone::build`] sorts the whole at the end. Both
//! ways give the same version, with the same checks (owners in the zone, one SOA at
//! the apex, RRsets that fit a node).

use super::arena::ChunkedWriter;
use super::canonical;
use super::node::covered_of;
use super::record::{Record, Rtype};
use super::snapshot::{BuildError, Bulk, Zone};
use crate::wire::name::Name;

/// Builds a [`Zone`] from records pushed one by one, in any order (see the module
/// documentation).
pub struct StreamBuilder {
    apex: Name,
    mode: Mode,
    /// The first SOA RDATA at the apex; a second, different one makes the zone fail.
    soa: Option<Box<[u8]>>,
    multiple_soa: bool,
}

/// How the records are taken.
enum Mode {
    /// Owners so far in canonical order: every owner but the last written as a node.
    Ordered {
        bulk: Box<Bulk>,
        /// The last owner's records (owner lowercased), not written yet.
        group: Vec<Record>,
    },
    /// An owner came out of order: every record kept, sorted at the end.
    Collect(Vec<Record>),
}

impl StreamBuilder {
    /// A builder of a version of `apex` whose node blobs take about `capacity` octets
    /// (the size of its first arena chunk: reserved, held only as written; more
    /// chunks come as needed).
    pub fn new(apex: &Name, capacity: usize) -> Self {
        let apex = apex.to_lowercase();
        let apex_len = apex.as_wire().len();
        Self {
            apex,
            mode: Mode::Ordered {
                bulk: Box::new(Bulk::new(
                    ChunkedWriter::with_capacity(capacity),
                    0,
                    apex_len,
                )),
                group: Vec::new(),
            },
            soa: None,
            multiple_soa: false,
        }
    }

    /// Whether every owner so far came in canonical order (no sort will be needed).
    pub fn in_order(&self) -> bool {
        matches!(self.mode, Mode::Ordered { .. })
    }

    /// Takes the next record; an error when its owner is outside the zone or its
    /// owner's node cannot be written.
    pub fn push(&mut self, mut record: Record) -> Result<(), BuildError> {
        if !record.owner.is_subdomain_of(&self.apex) {
            return Err(BuildError::OutOfZone {
                owner: record.owner,
                apex: self.apex.clone(),
            });
        }
        if record.owner.as_wire().iter().any(u8::is_ascii_uppercase) {
            record.owner = record.owner.to_lowercase();
        }
        if record.rtype == Rtype::SOA && record.owner == self.apex {
            match &self.soa {
                None => self.soa = Some(record.rdata.clone()),
                Some(first) => self.multiple_soa |= *first != record.rdata,
            }
        }
        let Mode::Ordered { bulk, group } = &mut self.mode else {
            if let Mode::Collect(records) = &mut self.mode {
                records.push(record);
            }
            return Ok(());
        };
        let Some(last) = group.first() else {
            group.push(record);
            return Ok(());
        };
        if last.owner == record.owner {
            group.push(record);
            return Ok(());
        }
        if canonical::compare(last.owner.as_wire(), record.owner.as_wire()).is_lt() {
            write_group(bulk, group)?;
            group.push(record);
            return Ok(());
        }
        // Out of order: the nodes written go back to records, in the order they came
        // (the first record of an RRset still gives its TTL).
        let mut records: Vec<Record> = bulk.nodes().flat_map(|n| n.records()).collect();
        records.append(group);
        records.push(record);
        self.mode = Mode::Collect(records);
        Ok(())
    }

    /// The version of every record pushed.
    pub fn finish(self) -> Result<Zone, BuildError> {
        match (&self.soa, self.multiple_soa) {
            (None, _) => return Err(BuildError::NoSoa(self.apex)),
            (Some(_), true) => return Err(BuildError::MultipleSoa(self.apex)),
            (Some(_), false) => {}
        }
        match self.mode {
            Mode::Ordered {
                mut bulk,
                mut group,
            } => {
                write_group(&mut bulk, &mut group)?;
                bulk.finish(self.apex)
            }
            Mode::Collect(records) => Zone::build(&self.apex, records),
        }
    }
}

/// Writes the node of one owner's records (sorted here by type and type covered,
/// stably: the first record of an RRset gives its TTL), and empties `group`.
fn write_group(bulk: &mut Bulk, group: &mut Vec<Record>) -> Result<(), BuildError> {
    if group.is_empty() {
        return Ok(());
    }
    let key = |r: &Record| (r.rtype, covered_of(r.rtype, Some(&r.rdata[..])));
    if !group.is_sorted_by_key(key) {
        group.sort_by_key(key);
    }
    bulk.owner(group[0].owner.as_wire(), group)?;
    group.clear();
    Ok(())
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
