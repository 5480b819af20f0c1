//! Marks on the RDATAs of one zone version: a bitmap over the arena that holds its
//! nodes, one bit for every two octets, so that matching a zone file against a
//! million-record zone marks "this record is in the file" in a few megabytes that are
//! touched in file order, with no hashing and no table that grows.
//!
//! A mark names an RDATA by where its octets lie in the version's node blobs, which
//! stay put while the version lives. Two RDATAs of a blob start at least two octets
//! apart (each follows its own 2-octet length), so one bit per two octets tells them
//! apart.

use std::collections::HashSet;

use super::snapshot::Zone;

/// Marks on RDATAs of one zone version (see the module documentation).
pub struct RdataMarks {
    /// The arena's chunks, by address: start, length, and their bits (allocated at the
    /// first mark in the chunk).
    spans: Vec<Span>,
    /// Addresses outside every chunk: none for a version's own RDATAs; kept so that a
    /// stray slice is still marked right, not lost.
    others: HashSet<usize>,
}

struct Span {
    start: usize,
    len: usize,
    bits: Vec<u64>,
}

impl RdataMarks {
    /// No marks, over the arena of `zone`.
    pub fn new(zone: &Zone) -> Self {
        let mut spans: Vec<Span> = zone
            .arena_spans()
            .into_iter()
            .map(|(start, len)| Span {
                start,
                len,
                bits: Vec::new(),
            })
            .collect();
        spans.sort_unstable_by_key(|s| s.start);
        Self {
            spans,
            others: HashSet::new(),
        }
    }

    /// The span holding `at` and the bit's number in it.
    fn place(&self, at: usize) -> Option<(usize, usize)> {
        let i = self
            .spans
            .partition_point(|s| s.start <= at)
            .checked_sub(1)?;
        let span = &self.spans[i];
        // An empty RDATA at a chunk's very end points one past it.
        (at <= span.start + span.len).then(|| (i, (at - span.start) / 2))
    }

    /// Whether `rdata` (a slice of the version's node blobs) is marked.
    pub fn contains(&self, rdata: &[u8]) -> bool {
        let at = rdata.as_ptr() as usize;
        match self.place(at) {
            Some((i, bit)) => self.spans[i]
                .bits
                .get(bit / 64)
                .is_some_and(|word| word & (1 << (bit % 64)) != 0),
            None => self.others.contains(&at),
        }
    }

    /// Marks `rdata`; false if it was marked already.
    pub fn insert(&mut self, rdata: &[u8]) -> bool {
        let at = rdata.as_ptr() as usize;
        let Some((i, bit)) = self.place(at) else {
            return self.others.insert(at);
        };
        let span = &mut self.spans[i];
        if span.bits.is_empty() {
            span.bits = vec![0; span.len / 128 + 1];
        }
        let word = &mut span.bits[bit / 64];
        let mask = 1 << (bit % 64);
        let fresh = *word & mask == 0;
        *word |= mask;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::Name;
    use crate::zone::{Record, Rtype};

    fn record(owner: &str, rtype: Rtype, rdata: &[u8]) -> Record {
        Record {
            owner: Name::from_text(owner, None).unwrap(),
            rtype,
            ttl: 300,
            rdata: rdata.into(),
        }
    }

    #[test]
    fn every_rdata_of_a_zone_is_marked_apart_from_the_others() {
        let apex = Name::from_text("example.", None).unwrap();
        let mut soa = Name::from_text("ns.example.", None)
            .unwrap()
            .as_wire()
            .to_vec();
        soa.extend_from_slice(Name::from_text("h.example.", None).unwrap().as_wire());
        soa.extend_from_slice(&[0; 20]);
        let ns = Name::from_text("ns.example.", None).unwrap();
        let mut records = vec![
            record("example.", Rtype::SOA, &soa),
            record("example.", Rtype::NS, ns.as_wire()),
            record("ns.example.", Rtype::A, &[198, 51, 100, 1]),
        ];
        for i in 0..500u16 {
            let owner = format!("n{i}.example.");
            // Empty RDATAs next to each other: the closest two can start.
            records.push(record(&owner, Rtype(65280), &[]));
            records.push(record(&owner, Rtype(65281), &[]));
            records.push(record(&owner, Rtype::A, &[198, 51, 100, (i % 250) as u8]));
            records.push(record(&owner, Rtype::A, &[203, 0, 113, (i % 250) as u8]));
        }
        let zone = Zone::build(&apex, records).unwrap();
        let rdatas: Vec<&[u8]> = zone
            .nodes()
            .flat_map(|n| n.rrsets().flat_map(|r| r.rdatas()).collect::<Vec<_>>())
            .collect();
        assert_eq!(rdatas.len(), zone.record_count());
        let mut marks = RdataMarks::new(&zone);
        for (i, rdata) in rdatas.iter().enumerate() {
            if i % 3 == 0 {
                assert!(marks.insert(rdata));
                assert!(!marks.insert(rdata), "marked twice");
            }
        }
        for (i, rdata) in rdatas.iter().enumerate() {
            assert_eq!(marks.contains(rdata), i % 3 == 0, "rdata {i}");
        }
        // A slice that is not the zone's is still told apart.
        let stray = [1u8, 2];
        assert!(!marks.contains(&stray));
        assert!(marks.insert(&stray));
        assert!(marks.contains(&stray));
    }
}
