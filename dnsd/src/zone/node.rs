//! A node of a zone: one owner name and its RRsets, stored as one contiguous blob that
//! the answer engine reads in place ([`NodeRef`]), and the same node unpacked for a
//! transaction to change ([`NodeData`]).
//!
//! # Blob layout
//! ```text
//!   +0  flags u8 | +1 name length u8 | +2 RRset count u16 (LE)
//!   +4  owner name (lowercased wire format)
//!       RRset entries, RRSET_ENTRY octets each, by ascending type:
//!         type u16 | count u16 | TTL u32 | length of its wire u32 (all LE)
//!       the RRsets' wire (RDLENGTH + RDATA per record), in the same order
//! ```
//! One node's name, types and usual RDATA share one or two cache lines. RRSIGs are
//! kept as one RRset per type they cover (RFC 4034 §3: each RRSIG RRset has its own
//! TTL, that of the RRset it covers), ordered by that type after the type code 46.

use super::record::{Record, Rtype};
use crate::wire::name::Name;

/// The node is the zone apex.
pub const APEX: u8 = 1;
/// The node is a delegation point: NS records below the apex (a zone cut).
pub const DELEGATION: u8 = 2;
/// A zone cut lies strictly above the node: its data is glue or occluded.
pub const BELOW_CUT: u8 = 4;

pub(crate) const NODE_HEADER: usize = 4;
pub(crate) const RRSET_ENTRY: usize = 12;

/// A node (owner name) of a zone, read in place.
#[derive(Clone, Copy)]
pub struct NodeRef<'z> {
    /// The node's bytes, exactly.
    bytes: &'z [u8],
}

/// An RRset of a node, read in place.
#[derive(Clone, Copy)]
pub struct RrsetRef<'z> {
    /// The RRset's type.
    pub rtype: Rtype,
    /// The RRset's TTL.
    pub ttl: u32,
    count: u16,
    wire: &'z [u8],
}

/// The length of the node blob that starts `head` (which must hold at least its header
/// and RRset entries), computed from them.
pub(crate) fn blob_len(head: &[u8]) -> Option<usize> {
    let name_len = *head.get(1)? as usize;
    let count = u16::from_le_bytes([*head.get(2)?, *head.get(3)?]) as usize;
    let entries_at = NODE_HEADER + name_len;
    let mut len = entries_at + count * RRSET_ENTRY;
    for k in 0..count {
        let e = entries_at + k * RRSET_ENTRY + 8;
        len += u32::from_le_bytes(head.get(e..e + 4)?.try_into().ok()?) as usize;
    }
    Some(len)
}

/// The part of a blob `blob_len` needs: header, name and entries.
pub(crate) fn head_len(header: [u8; 4]) -> usize {
    NODE_HEADER
        + header[1] as usize
        + u16::from_le_bytes([header[2], header[3]]) as usize * RRSET_ENTRY
}

impl<'z> NodeRef<'z> {
    /// A node over `bytes`, which must be exactly one well-formed blob.
    pub(crate) fn new(bytes: &'z [u8]) -> Self {
        Self { bytes }
    }

    /// The node's blob, exactly.
    pub(crate) fn blob(&self) -> &'z [u8] {
        self.bytes
    }

    /// The blob's length in the arena (padded to 4 octets).
    pub(crate) fn stored_len(&self) -> usize {
        self.bytes.len().next_multiple_of(4)
    }

    /// The owner, lowercased wire format.
    pub fn owner(&self) -> &'z [u8] {
        &self.bytes[NODE_HEADER..NODE_HEADER + self.bytes[1] as usize]
    }

    /// The owner as a `Name`.
    pub fn owner_name(&self) -> Name {
        // Node names were valid names when inserted.
        Name::from_wire(self.owner()).unwrap_or_else(|_| Name::root())
    }

    pub(crate) fn flags(&self) -> u8 {
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

    /// The RRset of type `rtype`, if any; for RRSIG, the first (the signatures of the
    /// lowest type covered: see [`NodeRef::rrsets_of`]).
    pub fn rrset(&self, rtype: Rtype) -> Option<RrsetRef<'z>> {
        self.rrsets().find(|r| r.rtype == rtype)
    }

    /// Every RRset of type `rtype`: one, or for RRSIG one per type covered.
    pub fn rrsets_of(&self, rtype: Rtype) -> impl Iterator<Item = RrsetRef<'z>> + use<'z> {
        self.rrsets()
            .skip_while(move |r| r.rtype < rtype)
            .take_while(move |r| r.rtype == rtype)
    }

    /// The signatures (RRSIG RRset) of the RRset of type `covered`, if any.
    pub fn rrsig(&self, covered: Rtype) -> Option<RrsetRef<'z>> {
        self.rrsets_of(Rtype::RRSIG)
            .find(|r| r.covered() == Some(covered))
    }

    /// All RRsets, by ascending type (RRSIGs by the type they cover).
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

    /// Every record of the node, owners lowercased.
    pub fn records(&self) -> impl Iterator<Item = Record> + use<'z> {
        let owner = self.owner_name();
        self.rrsets().flat_map(move |rrset| {
            let owner = owner.clone();
            rrset.rdatas().map(move |rdata| Record {
                owner: owner.clone(),
                rtype: rrset.rtype,
                ttl: rrset.ttl,
                rdata: rdata.into(),
            })
        })
    }

    /// The node unpacked, for a transaction to change.
    pub fn to_data(&self) -> NodeData {
        NodeData {
            owner: self.owner_name(),
            rrsets: self
                .rrsets()
                .map(|r| RrsetData {
                    rtype: r.rtype,
                    ttl: r.ttl,
                    rdatas: r.rdatas().map(Box::from).collect(),
                })
                .collect(),
        }
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

    /// For an RRSIG RRset, the type its signatures cover (RFC 4034 §3.1.1).
    pub fn covered(&self) -> Option<Rtype> {
        (self.rtype == Rtype::RRSIG)
            .then(|| self.wire.get(2..4))
            .flatten()
            .map(|b| Rtype(u16::from_be_bytes([b[0], b[1]])))
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

//------------ NodeData ------------------------------------------------------

/// A node unpacked: what a transaction edits before the node is written again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeData {
    /// The owner, lowercased.
    pub owner: Name,
    /// RRsets in blob order ([`RrsetData::sort_key`]); each one's RDATAs sorted and
    /// without duplicates.
    pub rrsets: Vec<RrsetData>,
}

/// An RRset unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsetData {
    /// Its type.
    pub rtype: Rtype,
    /// Its TTL.
    pub ttl: u32,
    /// Its RDATAs, sorted, no duplicates.
    pub rdatas: Vec<Box<[u8]>>,
}

impl RrsetData {
    /// Where the RRset goes among its node's: by type, and RRSIGs by the type they
    /// cover.
    pub fn sort_key(&self) -> (Rtype, Rtype) {
        (
            self.rtype,
            covered_of(self.rtype, self.rdatas.first().map(|r| &r[..])),
        )
    }
}

/// The type an RRSIG RDATA covers (RFC 4034 §3.1.1); `Rtype(0)` for other types.
pub fn covered_of(rtype: Rtype, rdata: Option<&[u8]>) -> Rtype {
    match rdata {
        Some(r) if rtype == Rtype::RRSIG && r.len() >= 2 => Rtype(u16::from_be_bytes([r[0], r[1]])),
        _ => Rtype(0),
    }
}

/// Why a node cannot be written as a blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An RRset with more records than a count of 16 bits holds.
    #[error("the {rtype} RRset at {owner} has {count} records; at most 65535 fit one RRset")]
    RrsetTooLarge {
        /// Its owner.
        owner: Name,
        /// Its type.
        rtype: Rtype,
        /// Its size.
        count: usize,
    },
    /// More RRsets at one name than a count of 16 bits holds.
    #[error("{owner} has more than 65535 RRsets")]
    TooManyRrsets {
        /// The owner.
        owner: Name,
    },
    /// A record whose RDATA is longer than 65535 octets.
    #[error("a {rtype} record at {owner} has RDATA longer than 65535 octets")]
    RdataTooLong {
        /// Its owner.
        owner: Name,
        /// Its type.
        rtype: Rtype,
    },
}

impl NodeData {
    /// An empty node (an empty non-terminal, or one about to be filled).
    pub fn empty(owner: Name) -> Self {
        Self {
            owner,
            rrsets: Vec::new(),
        }
    }

    /// Whether the node holds no RRset.
    pub fn is_empty(&self) -> bool {
        self.rrsets.is_empty()
    }

    /// The RRset of type `rtype` (the first, for RRSIG).
    pub fn rrset(&self, rtype: Rtype) -> Option<&RrsetData> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.rrsets.iter().map(|r| r.rdatas.len()).sum()
    }

    /// Writes the node's blob, with `flags`, to the end of `out`.
    pub fn encode(&self, flags: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_parts(
            self.owner.as_wire(),
            flags,
            self.rrsets
                .iter()
                .map(|r| (r.rtype, r.ttl, r.rdatas.iter().map(|d| &d[..]))),
            out,
        )
    }
}

/// Writes the blob of the node `owner` (lowercased wire format) with `flags` and
/// `rrsets` (type, TTL, RDATAs; in blob order, each one's RDATAs sorted and without
/// duplicates) to the end of `out`: [`NodeData::encode`] without the node unpacked,
/// for a builder that holds the records elsewhere.
pub fn encode_parts<'d, R>(
    owner: &[u8],
    flags: u8,
    rrsets: impl ExactSizeIterator<Item = (Rtype, u32, R)>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError>
where
    R: Iterator<Item = &'d [u8]>,
{
    let name = || Name::from_wire(owner).unwrap_or_else(|_| Name::root());
    let rrset_count = rrsets.len();
    let count =
        u16::try_from(rrset_count).map_err(|_| EncodeError::TooManyRrsets { owner: name() })?;
    let start = out.len();
    out.extend_from_slice(&[flags, owner.len() as u8]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(owner);
    let entries_at = out.len();
    out.resize(entries_at + rrset_count * RRSET_ENTRY, 0);
    for (k, (rtype, ttl, rdatas)) in rrsets.enumerate() {
        let wire_at = out.len();
        let mut records = 0usize;
        for rdata in rdatas {
            let len = u16::try_from(rdata.len()).map_err(|_| EncodeError::RdataTooLong {
                owner: name(),
                rtype,
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(rdata);
            records += 1;
        }
        let records = u16::try_from(records).map_err(|_| EncodeError::RrsetTooLarge {
            owner: name(),
            rtype,
            count: records,
        })?;
        let wire_len = (out.len() - wire_at) as u32;
        let e = entries_at + k * RRSET_ENTRY;
        out[e..e + 2].copy_from_slice(&rtype.0.to_le_bytes());
        out[e + 2..e + 4].copy_from_slice(&records.to_le_bytes());
        out[e + 4..e + 8].copy_from_slice(&ttl.to_le_bytes());
        out[e + 8..e + 12].copy_from_slice(&wire_len.to_le_bytes());
    }
    debug_assert_eq!(blob_len(&out[start..]), Some(out.len() - start));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn rrsig(covered: Rtype, tag: u8) -> Box<[u8]> {
        let mut r = covered.0.to_be_bytes().to_vec();
        r.extend_from_slice(&[13, 2, 0, 0, 1, 0, tag]);
        r.into()
    }

    #[test]
    fn a_node_round_trips_through_its_blob() {
        let data = NodeData {
            owner: n("www.example.org."),
            rrsets: vec![
                RrsetData {
                    rtype: Rtype::A,
                    ttl: 300,
                    rdatas: vec![Box::new([198, 51, 100, 1]), Box::new([198, 51, 100, 2])],
                },
                RrsetData {
                    rtype: Rtype::RRSIG,
                    ttl: 300,
                    rdatas: vec![rrsig(Rtype::A, 1)],
                },
                RrsetData {
                    rtype: Rtype::RRSIG,
                    ttl: 3600,
                    rdatas: vec![rrsig(Rtype::NSEC, 2)],
                },
            ],
        };
        let mut blob = vec![0xee; 3];
        data.encode(BELOW_CUT, &mut blob).unwrap();
        let node = NodeRef::new(&blob[3..]);
        assert_eq!(blob_len(&blob[3..]), Some(blob.len() - 3));
        assert!(node.is_below_cut() && !node.is_apex() && !node.is_delegation());
        assert_eq!(node.owner(), n("www.example.org.").as_wire());
        assert_eq!(node.to_data(), data);
        assert_eq!(node.rrset(Rtype::A).unwrap().len(), 2);
        assert_eq!(node.rrsig(Rtype::A).unwrap().ttl, 300);
        assert_eq!(
            node.rrsig(Rtype::NSEC).unwrap().ttl,
            3600,
            "own TTL per RRSIG RRset"
        );
        assert_eq!(node.rrsets_of(Rtype::RRSIG).count(), 2);
        assert_eq!(node.records().count(), 4);
    }

    #[test]
    fn an_rrset_too_large_for_a_blob_is_named() {
        let data = NodeData {
            owner: n("big.example.org."),
            rrsets: vec![RrsetData {
                rtype: Rtype::TXT,
                ttl: 1,
                rdatas: (0..70_000u32)
                    .map(|i| i.to_be_bytes().to_vec().into())
                    .collect(),
            }],
        };
        let error = data.encode(0, &mut Vec::new()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("TXT RRset at big.example.org. has 70000 records")
        );
    }
}
