//! A version built from node blobs that arrive already in canonical order (RFC 4034
//! §6.1), with their flags and empty non-terminals: what a producer that walks an
//! existing version in order (the DNSSEC signer re-signing a zone whole) hands over.
//! Each blob is copied into the arena as it comes, so the records are never held as
//! owned `Record`s beside the version being built — unlike `Zone::build`, which must
//! sort what it is given.

use super::arena::ChunkedWriter;
use super::canonical;
use super::node::NodeRef;
use super::record::Rtype;
use super::snapshot::{BuildError, Written, Zone};
use crate::wire::name::{self, Name};

/// Builds a [`Zone`] from node blobs pushed in canonical order.
pub struct OrderedBuilder {
    apex: Name,
    written: Written,
    last: Vec<u8>,
}

/// Why a blob does not fit where it was pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The blob's owner does not come after the previous one's in canonical order.
    #[error("{0} is out of canonical order")]
    Order(Name),
    /// The blob is shorter than its header says, or its owner is not a name.
    #[error("malformed node blob")]
    Malformed,
    /// The version cannot be built (no SOA, too large, outside the zone).
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl OrderedBuilder {
    /// A builder for a version of `apex` whose arena is about `capacity` octets (an
    /// upper bound is reserved, not held, until written).
    pub fn new(apex: &Name, capacity: usize, nodes: usize) -> Self {
        Self {
            apex: apex.to_lowercase(),
            written: Written::new(ChunkedWriter::with_capacity(capacity), nodes),
            last: Vec::new(),
        }
    }

    /// Appends the node `blob` (as `NodeData::encode` writes it: owner lowercased,
    /// RRsets in blob order, flags set), which must come after every node pushed
    /// before it in canonical order.
    pub fn push(&mut self, blob: &[u8]) -> Result<(), OrderError> {
        let node = NodeRef::new(blob);
        let header_ok = blob.len() >= 4 && blob.len() >= 4 + usize::from(blob[1]);
        if !header_ok || name::wire_len(node.owner()) != Some(node.owner().len()) {
            return Err(OrderError::Malformed);
        }
        let owner = node.owner();
        if !name::is_subdomain(owner, self.apex.as_wire()) {
            return Err(BuildError::OutOfZone {
                owner: node.owner_name(),
                apex: self.apex.clone(),
            }
            .into());
        }
        if !self.written.is_empty() && canonical::compare(&self.last, owner).is_ge() {
            return Err(OrderError::Order(node.owner_name()));
        }
        self.written.push(
            owner,
            blob,
            node.flags(),
            node.rrset(Rtype::NSEC3).is_some(),
            node.rrsets().map(|s| s.len()).sum::<usize>(),
        )?;
        self.last.clear();
        self.last.extend_from_slice(owner);
        Ok(())
    }

    /// The version holding every node pushed.
    pub fn finish(self) -> Result<Zone, BuildError> {
        self.written.finish(self.apex)
    }
}

/// `zone` in an arena of its own: the same nodes, names and flags, none of the garbage
/// that earlier versions left in the arena it shares with them (see
/// [`Zone::compaction_due`]). Costs a copy of the version's node blobs and a rebuild of
/// its indexes; the arena it leaves is freed with the last version that uses it.
pub fn compact(zone: &Zone) -> Result<Zone, OrderError> {
    // A little slack: the next transactions append to the new arena's first chunk.
    let capacity = zone.live_bytes() + zone.live_bytes() / 64 + (64 << 10);
    let mut builder = OrderedBuilder::new(zone.apex(), capacity, zone.node_count());
    for node in zone.nodes() {
        builder.push(node.blob())?;
    }
    let mut compacted = builder.finish()?;
    compacted.expired = zone.expired;
    Ok(compacted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::load::load_zone_from_bytes;

    #[test]
    fn a_version_pushed_in_order_equals_the_built_one() {
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                    a.b.c A 192.0.2.2\nsub NS ns.sub\nns.sub A 192.0.2.3\nZ AAAA ::1\n";
        let apex = Name::from_text("example.", None).unwrap();
        let path = std::path::Path::new("t.zone");
        let zone = load_zone_from_bytes(text.as_bytes(), path, &apex)
            .unwrap()
            .zone;
        let mut b = OrderedBuilder::new(zone.apex(), 1 << 16, 8);
        for node in zone.nodes() {
            b.push(node.blob()).unwrap();
        }
        let again = b.finish().unwrap();
        assert_eq!(
            again.records().collect::<Vec<_>>(),
            zone.records().collect::<Vec<_>>()
        );
        assert_eq!(again.node_count(), zone.node_count());
        assert_eq!(again.record_count(), zone.record_count());
        assert_eq!(again.live_bytes(), zone.live_bytes());
        assert_eq!(again.delegations().count(), 1);
        assert!(
            again
                .node(b"\x01c\x07example\x00")
                .is_some_and(|n| n.is_empty())
        );
        // Out of order: refused.
        let mut b = OrderedBuilder::new(zone.apex(), 1 << 16, 8);
        let nodes: Vec<_> = zone.nodes().collect();
        b.push(nodes[1].blob()).unwrap();
        assert!(matches!(b.push(nodes[0].blob()), Err(OrderError::Order(_))));
    }

    /// Many transactions leave most of the shared arena to versions gone by; the
    /// compacted version holds only its own nodes and answers the same.
    #[test]
    fn a_compacted_version_keeps_every_record_and_drops_the_garbage() {
        use crate::zone::record::Record;
        use crate::zone::txn::{self, Change, Transaction};
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                    sub NS ns.sub\nns.sub A 192.0.2.3\nx.y.z TXT \"deep\"\n";
        let apex = Name::from_text("example.", None).unwrap();
        let path = std::path::Path::new("t.zone");
        let mut zone = load_zone_from_bytes(text.as_bytes(), path, &apex)
            .unwrap()
            .zone;
        let owner = Name::from_text("big.example.", None).unwrap();
        let mut last: Option<Box<[u8]>> = None;
        for i in 0..2_000u32 {
            let mut t = Transaction::new();
            if let Some(old) = last.take() {
                t.push(Change::Remove(Record {
                    owner: owner.clone(),
                    rtype: Rtype::TXT,
                    ttl: 300,
                    rdata: old,
                }));
            }
            // 12 strings of 250 octets: 2,000 of them pass the 4 MiB floor.
            let mut rdata = Vec::new();
            for _ in 0..12 {
                rdata.push(250u8);
                rdata.extend(std::iter::repeat_n((i % 251) as u8, 250));
            }
            let rdata: Box<[u8]> = rdata.into();
            t.push(Change::Add(Record {
                owner: owner.clone(),
                rtype: Rtype::TXT,
                ttl: 300,
                rdata: rdata.clone(),
            }));
            last = Some(rdata);
            zone = txn::apply(&zone, &t).unwrap().zone;
        }
        assert!(zone.garbage_bytes() > 100 * zone.live_bytes());
        assert!(zone.compaction_due());
        let expired = zone.expired_copy();
        let compacted = compact(&expired).unwrap();
        assert!(compacted.is_expired());
        assert!(!compacted.compaction_due());
        assert!(
            compacted.garbage_bytes() < 64,
            "{}",
            compacted.garbage_bytes()
        );
        assert_eq!(compacted.live_bytes(), zone.live_bytes());
        assert_eq!(
            compacted.records().collect::<Vec<_>>(),
            zone.records().collect::<Vec<_>>()
        );
        assert_eq!(compacted.node_count(), zone.node_count());
        assert_eq!(compacted.serial(), zone.serial());
        assert_eq!(compacted.delegations().count(), 1);
        assert!(
            compacted
                .node(b"\x01z\x07example\x00")
                .is_some_and(|n| n.is_empty())
        );
        assert!(compacted.node(owner.as_wire()).is_some());
        // The next transaction goes on from the compacted version.
        let mut t = Transaction::new();
        t.push(Change::Add(Record {
            owner: Name::from_text("new.example.", None).unwrap(),
            rtype: Rtype::A,
            ttl: 300,
            rdata: vec![192, 0, 2, 9].into(),
        }));
        let next = txn::apply(&compacted, &t).unwrap().zone;
        assert_eq!(next.record_count(), zone.record_count() + 1);
    }
}
