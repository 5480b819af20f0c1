//! The immutable zone snapshot that every source produces and the answer engine reads.
//!
//! # Design
//! A zone of a million names must load fast, stay small and answer without allocating,
//! so the snapshot is a handful of flat arrays rather than a tree of boxed records:
//!
//! - `names`: the lowercased wire-format owner names of all nodes, back to back;
//! - `nodes`: one entry per owner name, empty non-terminals included (RFC 4592 §2.2.2),
//!   each pointing at its run of RRsets;
//! - `rrsets`: type, TTL and rdata count, sorted by type within a node;
//! - `rdata`: every RDATA as RDLENGTH (2 octets, big-endian) + RDATA, ready to be copied
//!   into a response as it is;
//! - `index`: a hash table from lowercased owner name to node.
//!
//! Each node also carries flags computed once at build time (apex, delegation point,
//! below a zone cut), so the common query costs one hash lookup. A snapshot is never
//! changed once published: a source builds the next one aside (`Zone::build`) and the
//! zone set swaps it in.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use super::record::{Record, Rtype};
use crate::wire::name::{self, Name};

/// Why a set of records does not make a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No SOA record at the apex.
    #[error("no SOA record at the zone apex {0}")]
    NoSoa(Name),
    /// More than one SOA record at the apex.
    #[error("more than one SOA record at the zone apex {0}")]
    MultipleSoa(Name),
    /// A SOA record whose RDATA is not a valid SOA.
    #[error("malformed SOA RDATA at {0}")]
    BadSoa(Name),
    /// A record whose owner is not at or below the apex.
    #[error("{owner} is outside the zone {apex}")]
    OutOfZone {
        /// The offending owner name.
        owner: Name,
        /// The zone's apex.
        apex: Name,
    },
    /// The zone does not fit the snapshot's 32-bit offsets.
    #[error("zone too large")]
    TooLarge,
}

const APEX: u8 = 1;
const DELEGATION: u8 = 2;
const BELOW_CUT: u8 = 4;

// A node in `Zone::blob`, at the offset the index gives:
//
//   +0  flags u8 | +1 name length u8 | +2 RRset count u16 (LE)
//   +4  owner name (lowercased wire format)
//       RRset entries, RRSET_ENTRY octets each, by ascending type:
//         type u16 | count u16 | TTL u32 | length of its wire u32 (all LE)
//       the RRsets' wire (RDLENGTH + RDATA per record), in the same order
//
// One node's name, types and usual RDATA share one or two cache lines: a lookup in a
// zone of a million names costs the hash table's probe and this, no more.
const NODE_HEADER: usize = 4;
const RRSET_ENTRY: usize = 12;

/// An immutable, fully built zone.
pub struct Zone {
    apex: Name,
    blob: Vec<u8>,
    index: HashTable<u32>,
    hasher: FixedState,
    soa_wire_at: u32,
    record_count: usize,
}

/// A node (owner name) of a zone.
#[derive(Clone, Copy)]
pub struct NodeRef<'z> {
    /// The node's bytes, from its header to the end of the blob.
    bytes: &'z [u8],
    zone: &'z Zone,
}

/// An RRset of a node.
#[derive(Clone, Copy)]
pub struct RrsetRef<'z> {
    /// The RRset's type.
    pub rtype: Rtype,
    /// The RRset's TTL.
    pub ttl: u32,
    count: u16,
    wire: &'z [u8],
}

impl Zone {
    /// Builds a zone from records. Owner names may be in any case; duplicate records are
    /// merged (RFC 2181 §5); an RRset takes the TTL of its first record. The apex must
    /// hold exactly one SOA and every owner must be at or below `apex`. Semantic checks
    /// with file and line (CNAME beside other data, missing glue, ...) are
    /// `zone::check`'s business, before this.
    pub fn build(apex: &Name, mut records: Vec<Record>) -> Result<Zone, BuildError> {
        let apex = apex.to_lowercase();
        for record in &mut records {
            if !record.owner.is_subdomain_of(&apex) {
                return Err(BuildError::OutOfZone {
                    owner: record.owner.clone(),
                    apex,
                });
            }
            // Sources that lowercase owners already (the zone-file loader) cost no copy.
            if record.owner.as_wire().iter().any(u8::is_ascii_uppercase) {
                record.owner = record.owner.to_lowercase();
            }
        }
        // Stable: the first record of an RRset in source order gives its TTL.
        records.sort_by(|a, b| (a.owner.as_wire(), a.rtype).cmp(&(b.owner.as_wire(), b.rtype)));

        let mut soa_rdatas: Vec<&[u8]> = records
            .iter()
            .filter(|r| r.rtype == Rtype::SOA && r.owner == apex)
            .map(|r| &r.rdata[..])
            .collect();
        soa_rdatas.sort_unstable();
        soa_rdatas.dedup();
        match soa_rdatas.len() {
            0 => return Err(BuildError::NoSoa(apex)),
            1 => {}
            _ => return Err(BuildError::MultipleSoa(apex)),
        }

        // An upper bound, so that the blob is allocated once: growing it by doubling
        // would copy it and, at a million names, leave up to twice the memory committed.
        let bound: usize = records
            .iter()
            .map(|r| NODE_HEADER + r.owner.as_wire().len() + RRSET_ENTRY + 2 + r.rdata.len())
            .sum();
        let mut zone = Zone {
            apex: apex.clone(),
            blob: Vec::with_capacity(bound),
            index: HashTable::with_capacity(records.len()),
            hasher: FixedState::with_seed(0x6e65_7466_6162_7269),
            soa_wire_at: 0,
            record_count: 0,
        };

        let mut offsets: Vec<u32> = Vec::new();
        let mut group: Vec<&[u8]> = Vec::new();
        let mut types: Vec<(Rtype, u32, usize)> = Vec::new();
        let mut i = 0;
        while i < records.len() {
            let owner = &records[i].owner;
            let at = zone.blob.len();
            offsets.push(offset(at)?);
            // The RRset count and entries are known once the node's records are read.
            zone.blob
                .extend_from_slice(&[0, owner.as_wire().len() as u8, 0, 0]);
            zone.blob.extend_from_slice(owner.as_wire());
            let entries_at = zone.blob.len();
            let node_end = records[i..]
                .iter()
                .position(|r| r.owner != *owner)
                .map_or(records.len(), |n| i + n);
            types.clear();
            let mut j = i;
            while j < node_end {
                let rtype = records[j].rtype;
                let run = records[j..node_end]
                    .iter()
                    .take_while(|r| r.rtype == rtype)
                    .count();
                types.push((rtype, records[j].ttl, run));
                j += run;
            }
            let rrset_count = u16::try_from(types.len()).map_err(|_| BuildError::TooLarge)?;
            zone.blob.resize(entries_at + types.len() * RRSET_ENTRY, 0);
            for (k, &(rtype, ttl, run)) in types.iter().enumerate() {
                let wire_at = zone.blob.len();
                group.clear();
                group.extend(records[i..i + run].iter().map(|r| &r.rdata[..]));
                i += run;
                group.sort_unstable();
                group.dedup();
                let count = u16::try_from(group.len()).map_err(|_| BuildError::TooLarge)?;
                zone.record_count += group.len();
                for rdata in &group {
                    let len = u16::try_from(rdata.len()).map_err(|_| BuildError::TooLarge)?;
                    zone.blob.extend_from_slice(&len.to_be_bytes());
                    zone.blob.extend_from_slice(rdata);
                }
                if rtype == Rtype::SOA && *owner == apex {
                    zone.soa_wire_at = offset(wire_at)?;
                }
                let wire_len = offset(zone.blob.len() - wire_at)?;
                let entry = entries_at + k * RRSET_ENTRY;
                zone.blob[entry..entry + 2].copy_from_slice(&rtype.0.to_le_bytes());
                zone.blob[entry + 2..entry + 4].copy_from_slice(&count.to_le_bytes());
                zone.blob[entry + 4..entry + 8].copy_from_slice(&ttl.to_le_bytes());
                zone.blob[entry + 8..entry + 12].copy_from_slice(&wire_len.to_le_bytes());
            }
            zone.blob[at + 2..at + 4].copy_from_slice(&rrset_count.to_le_bytes());
        }
        drop(group);
        drop(records);
        zone.index_all(&offsets);

        // Empty non-terminals: every ancestor of an owner, up to the apex, is a node.
        let apex_len = apex.as_wire().len();
        let mut buf = [0u8; name::MAX_NAME_LEN];
        for n in 0..offsets.len() {
            let src = node_name(&zone.blob[offsets[n] as usize..]);
            let len = src.len();
            buf[..len].copy_from_slice(src);
            let owner = &buf[..len];
            // The apex itself, even the root's, is checked after this loop.
            for label in name::label_offsets(owner).skip(1) {
                let ancestor = &owner[label..];
                if ancestor.len() < apex_len || zone.find(ancestor).is_some() {
                    break;
                }
                let at = offset(zone.blob.len())?;
                zone.blob
                    .extend_from_slice(&[0, ancestor.len() as u8, 0, 0]);
                zone.blob.extend_from_slice(ancestor);
                zone.insert_index(at);
                offsets.push(at);
            }
        }
        if zone.find(apex.as_wire()).is_none() {
            let at = offset(zone.blob.len())?;
            zone.blob.extend_from_slice(&[0, apex_len as u8, 0, 0]);
            zone.blob.extend_from_slice(apex.as_wire());
            zone.insert_index(at);
            offsets.push(at);
        }
        zone.blob.shrink_to_fit();

        zone.set_flags(&offsets);
        zone.soa().ok_or_else(|| BuildError::BadSoa(apex.clone()))?;
        if zone.serial().is_none() {
            return Err(BuildError::BadSoa(apex));
        }
        Ok(zone)
    }

    fn insert_index(&mut self, at: u32) {
        let Self {
            index,
            blob,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one(node_name(&blob[at as usize..]));
        index.insert_unique(hash, at, |&n| {
            hasher.hash_one(node_name(&blob[n as usize..]))
        });
    }

    /// Indexes the nodes at `offsets`, in the order of the table slots they hash to:
    /// inserting a million names in name order touches the table at random, one cache
    /// miss each, which was the largest cost of a build. (The slot order assumes
    /// hashbrown's power-of-two tables probed from the hash's low bits; were that to
    /// change, only the speed would suffer.)
    fn index_all(&mut self, offsets: &[u32]) {
        let buckets = (self.index.capacity().max(offsets.len()) / 7 * 8 + 8).next_power_of_two();
        let mask = buckets as u64 - 1;
        let mut order: Vec<(u64, u32)> = offsets
            .iter()
            .map(|&at| {
                (
                    self.hasher.hash_one(node_name(&self.blob[at as usize..])),
                    at,
                )
            })
            .collect();
        order.sort_unstable_by_key(|&(hash, _)| hash & mask);
        for (_, at) in order {
            self.insert_index(at);
        }
    }

    fn set_flags(&mut self, offsets: &[u32]) {
        let apex_len = self.apex.as_wire().len();
        for &at in offsets {
            let node = self.node_at(at);
            let owner = node.owner();
            let mut flags = 0;
            if owner.len() == apex_len {
                flags |= APEX;
            } else if node.rrset(Rtype::NS).is_some() {
                flags |= DELEGATION;
            }
            // Strict ancestors below the apex: is any of them a delegation point?
            let below_cut = name::label_offsets(owner).skip(1).any(|label| {
                let ancestor = &owner[label..];
                ancestor.len() > apex_len
                    && self
                        .node(ancestor)
                        .is_some_and(|a| a.rrset(Rtype::NS).is_some())
            });
            if below_cut {
                flags |= BELOW_CUT;
            }
            self.blob[at as usize] = flags;
        }
    }

    fn find(&self, lower: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(lower);
        self.index
            .find(hash, |&at| node_name(&self.blob[at as usize..]) == lower)
            .copied()
    }

    fn node_at(&self, at: u32) -> NodeRef<'_> {
        NodeRef {
            bytes: &self.blob[at as usize..],
            zone: self,
        }
    }

    /// The apex, lowercased.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// The node whose owner is `lower`, a lowercased wire-format name.
    pub fn node(&self, lower: &[u8]) -> Option<NodeRef<'_>> {
        self.find(lower).map(|at| self.node_at(at))
    }

    /// The apex node.
    pub fn apex_node(&self) -> NodeRef<'_> {
        // `build` guarantees the apex node exists; fall back to the first node rather
        // than panic should that ever not hold.
        self.node(self.apex.as_wire())
            .unwrap_or_else(|| self.node_at(0))
    }

    /// The apex SOA RRset.
    pub fn soa(&self) -> Option<RrsetRef<'_>> {
        self.apex_node().rrset(Rtype::SOA)
    }

    /// Offset in the blob of the SOA's serial field.
    fn serial_at(&self) -> Option<usize> {
        let rdata_at = self.soa_wire_at as usize + 2;
        let names = soa_names_len(self.blob.get(rdata_at..)?)?;
        Some(rdata_at + names)
    }

    /// The SOA serial.
    pub fn serial(&self) -> Option<u32> {
        let at = self.serial_at()?;
        let serial = self.blob.get(at..at + 4)?;
        Some(u32::from_be_bytes(serial.try_into().ok()?))
    }

    /// Replaces the SOA serial. Only for a zone that is still being built (not yet
    /// published), e.g. by the serial policy.
    pub fn set_serial(&mut self, serial: u32) {
        let Some(at) = self.serial_at() else {
            return;
        };
        if let Some(dst) = self.blob.get_mut(at..at + 4) {
            dst.copy_from_slice(&serial.to_be_bytes());
        }
    }

    /// The SOA MINIMUM field (negative-caching TTL, RFC 2308 §4).
    pub fn soa_minimum(&self) -> Option<u32> {
        let at = self.serial_at()? + 16;
        let min = self.blob.get(at..at + 4)?;
        Some(u32::from_be_bytes(min.try_into().ok()?))
    }

    /// Every node, empty non-terminals included, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.index.iter().map(move |&at| self.node_at(at))
    }

    /// Every record of the zone (owners lowercased), in no particular order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.nodes().flat_map(|node| {
            let owner = node.owner_name();
            node.rrsets().flat_map(move |rrset| {
                let owner = owner.clone();
                rrset.rdatas().map(move |rdata| Record {
                    owner: owner.clone(),
                    rtype: rrset.rtype,
                    ttl: rrset.ttl,
                    rdata: rdata.into(),
                })
            })
        })
    }

    /// Number of nodes (owner names and empty non-terminals).
    pub fn node_count(&self) -> usize {
        self.index.len()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.record_count
    }
}

impl<'z> NodeRef<'z> {
    /// The owner, lowercased wire format.
    pub fn owner(&self) -> &'z [u8] {
        node_name(self.bytes)
    }

    /// The owner as a `Name`.
    pub fn owner_name(&self) -> Name {
        // Node names were valid names when inserted.
        Name::from_wire(self.owner()).unwrap_or_else(|_| Name::root())
    }

    fn flags(&self) -> u8 {
        self.bytes[0]
    }

    /// Whether this is the zone apex.
    pub fn is_apex(&self) -> bool {
        self.flags() & APEX != 0
    }

    /// Whether this is a delegation point: NS records below the apex (a zone cut).
    pub fn is_delegation(&self) -> bool {
        self.flags() & DELEGATION != 0
    }

    /// Whether a zone cut lies strictly above this node: its data is glue or occluded.
    pub fn is_below_cut(&self) -> bool {
        self.flags() & BELOW_CUT != 0
    }

    /// Whether the node holds no RRsets (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.rrset_count() == 0
    }

    fn rrset_count(&self) -> usize {
        u16::from_le_bytes([self.bytes[2], self.bytes[3]]) as usize
    }

    /// The RRset of type `rtype`, if any.
    pub fn rrset(&self, rtype: Rtype) -> Option<RrsetRef<'z>> {
        self.rrsets().find(|r| r.rtype == rtype)
    }

    /// All RRsets, by ascending type.
    pub fn rrsets(&self) -> impl Iterator<Item = RrsetRef<'z>> + use<'z> {
        let bytes = self.bytes;
        let count = self.rrset_count();
        let entries_at = NODE_HEADER + bytes[1] as usize;
        let mut wire_at = entries_at + count * RRSET_ENTRY;
        (0..count).map(move |k| {
            let e = &bytes[entries_at + k * RRSET_ENTRY..entries_at + (k + 1) * RRSET_ENTRY];
            let le32 = |at: usize| u32::from_le_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]);
            let wire_len = le32(8) as usize;
            let wire = &bytes[wire_at..wire_at + wire_len];
            wire_at += wire_len;
            RrsetRef {
                rtype: Rtype(u16::from_le_bytes([e[0], e[1]])),
                count: u16::from_le_bytes([e[2], e[3]]),
                ttl: le32(4),
                wire,
            }
        })
    }

    /// The zone this node belongs to.
    pub fn zone(&self) -> &'z Zone {
        self.zone
    }
}

impl<'z> RrsetRef<'z> {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the RRset is empty (never, in a built zone).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each record's RDATA preceded by its RDLENGTH, back to back: what a response
    /// carries after owner, type, class and TTL.
    pub fn wire(&self) -> &'z [u8] {
        self.wire
    }

    /// Each record's RDATA.
    pub fn rdatas(&self) -> impl Iterator<Item = &'z [u8]> + use<'z> {
        let mut rest = self.wire;
        std::iter::from_fn(move || {
            let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
            let rdata = rest.get(2..2 + len)?;
            rest = &rest[2 + len..];
            Some(rdata)
        })
    }
}

/// The owner name of the node whose bytes start `node`.
fn node_name(node: &[u8]) -> &[u8] {
    &node[NODE_HEADER..NODE_HEADER + node[1] as usize]
}

/// Length of MNAME + RNAME at the start of SOA RDATA, if the RDATA is a valid SOA.
fn soa_names_len(rdata: &[u8]) -> Option<usize> {
    let mname = name::wire_len(rdata)?;
    let rname = name::wire_len(&rdata[mname..])?;
    (rdata.len() >= mname + rname + 20).then_some(mname + rname)
}

fn offset(n: usize) -> Result<u32, BuildError> {
    u32::try_from(n).map_err(|_| BuildError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn soa_rdata(serial: u32) -> Box<[u8]> {
        let mut rdata = n("ns1.example.org.").as_wire().to_vec();
        rdata.extend_from_slice(n("hostmaster.example.org.").as_wire());
        for v in [serial, 3600, 900, 604800, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        rdata.into()
    }

    fn rec(owner: &str, rtype: Rtype, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: n(owner),
            rtype,
            ttl,
            rdata: rdata.into(),
        }
    }

    fn example() -> Zone {
        let apex = n("Example.org.");
        let records = vec![
            Record {
                owner: apex.clone(),
                rtype: Rtype::SOA,
                ttl: 3600,
                rdata: soa_rdata(7),
            },
            rec(
                "example.org.",
                Rtype::NS,
                3600,
                n("ns1.example.org.").as_wire(),
            ),
            rec("ns1.example.org.", Rtype::A, 300, &[198, 51, 100, 1]),
            rec("WWW.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
            rec("www.example.org.", Rtype::A, 600, &[198, 51, 100, 3]),
            rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
            rec("a.b.c.example.org.", Rtype::TXT, 300, b"\x02hi"),
            rec(
                "sub.example.org.",
                Rtype::NS,
                300,
                n("ns.sub.example.org.").as_wire(),
            ),
            rec("ns.sub.example.org.", Rtype::A, 300, &[198, 51, 100, 9]),
        ];
        Zone::build(&apex, records).unwrap()
    }

    #[test]
    fn builds_nodes_rrsets_and_empty_non_terminals() {
        let zone = example();
        assert_eq!(zone.apex(), &n("example.org."));
        assert_eq!(zone.serial(), Some(7));
        assert_eq!(zone.soa_minimum(), Some(300));
        let www = zone.node(n("www.example.org.").as_wire()).unwrap();
        let a = www.rrset(Rtype::A).unwrap();
        assert_eq!(a.len(), 2, "duplicates merged");
        assert_eq!(a.ttl, 300, "the first record in source order gives the TTL");
        assert_eq!(
            a.rdatas().collect::<Vec<_>>(),
            vec![&[198, 51, 100, 2][..], &[198, 51, 100, 3][..]]
        );
        assert_eq!(&a.wire()[..2], &[0, 4]);
        for ent in ["b.c.example.org.", "c.example.org."] {
            let node = zone.node(n(ent).as_wire()).unwrap();
            assert!(node.is_empty(), "{ent} is an empty non-terminal");
        }
        assert!(zone.node(n("d.example.org.").as_wire()).is_none());
        assert_eq!(zone.record_count(), 8);
        assert_eq!(zone.records().count(), 8);
    }

    #[test]
    fn flags_apex_delegations_and_glue() {
        let zone = example();
        assert!(zone.apex_node().is_apex());
        assert!(
            !zone.apex_node().is_delegation(),
            "apex NS is no delegation"
        );
        let sub = zone.node(n("sub.example.org.").as_wire()).unwrap();
        assert!(sub.is_delegation() && !sub.is_below_cut());
        let glue = zone.node(n("ns.sub.example.org.").as_wire()).unwrap();
        assert!(glue.is_below_cut() && !glue.is_delegation());
        let www = zone.node(n("www.example.org.").as_wire()).unwrap();
        assert!(!www.is_below_cut() && !www.is_delegation() && !www.is_apex());
    }

    #[test]
    fn set_serial_rewrites_the_soa() {
        let mut zone = example();
        zone.set_serial(2026112201);
        assert_eq!(zone.serial(), Some(2026112201));
        assert_eq!(zone.soa_minimum(), Some(300));
    }

    #[test]
    fn rejects_zones_without_one_soa_or_with_outside_names() {
        let apex = n("example.org.");
        let ns = rec("example.org.", Rtype::NS, 1, n("ns.example.org.").as_wire());
        assert_eq!(
            Zone::build(&apex, vec![ns.clone()]).err(),
            Some(BuildError::NoSoa(apex.clone()))
        );
        let soa = Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 1,
            rdata: soa_rdata(1),
        };
        let soa2 = Record {
            rdata: soa_rdata(2),
            ..soa.clone()
        };
        assert_eq!(
            Zone::build(&apex, vec![soa.clone(), soa2]).err(),
            Some(BuildError::MultipleSoa(apex.clone()))
        );
        let outside = rec("example.com.", Rtype::A, 1, &[1, 2, 3, 4]);
        assert!(matches!(
            Zone::build(&apex, vec![soa.clone(), outside]),
            Err(BuildError::OutOfZone { .. })
        ));
        let bad_soa = Record {
            rdata: Box::new([0, 0, 1]),
            ..soa
        };
        assert_eq!(
            Zone::build(&apex, vec![bad_soa]).err(),
            Some(BuildError::BadSoa(apex))
        );
    }
}
