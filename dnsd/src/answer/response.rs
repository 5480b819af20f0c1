//! The answer as a description, before it becomes bytes: which RRsets go in which
//! section, under which owner name, with which TTL (domain's `zonetree/answer.rs`
//! `Answer` is the model). The lookup fills it; `render` writes it.
//!
//! Everything lives in inline, uninitialized storage (`SmallVec` below its inline
//! capacity) so that building an answer neither allocates nor clears kilobytes of
//! stack. `push` refuses past the inline capacity, so the storage never spills to the
//! heap: a pathological answer loses trailing additional data, and a chain that needs
//! more synthesized names than fit stops where NSD's would (it has a fixed pool too).

use smallvec::SmallVec;

use crate::wire::name::MAX_NAME_LEN;

use crate::zone::{RrsetRef, Rtype};

/// Most RRsets a response describes.
pub const MAX_ITEMS: usize = 48;
/// Room for the names a response synthesizes (DNAME substitutions), in octets.
pub const SYNTHESIZED_ROOM: usize = 1024;

/// The section of a message an RRset goes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Section {
    /// The answer section.
    Answer,
    /// The authority section.
    Authority,
    /// The additional section.
    Additional,
}

/// A domain name the response refers to, without copying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRef<'z> {
    /// The question's name, as the client spelled it (rendered as a pointer to it).
    Question,
    /// An uncompressed wire name held by a zone (an owner, or a name in RDATA).
    Wire(&'z [u8]),
    /// A name synthesized by a DNAME substitution, kept in the response: its offset
    /// and length in the response's name storage.
    Synthesized(u16, u8),
}

/// What an item's records carry.
#[derive(Clone, Copy)]
pub enum Data<'z> {
    /// An RRset of a zone.
    Rrset(RrsetRef<'z>),
    /// A CNAME synthesized from a DNAME (RFC 6672 §3.1); its target.
    Cname(NameRef<'z>),
}

/// One RRset of the response.
#[derive(Clone, Copy)]
pub struct Item<'z> {
    /// Its section.
    pub section: Section,
    /// Its owner.
    pub owner: NameRef<'z>,
    /// Its type.
    pub rtype: Rtype,
    /// Its TTL (the RRset's own, or the negative-caching TTL for a SOA).
    pub ttl: u32,
    /// Its records.
    pub data: Data<'z>,
    /// Whether the response must be truncated (TC) rather than go without it. True for
    /// answer and authority, and for in-domain glue of a referral (RFC 9471 §3).
    pub required: bool,
    /// The RRSIG RRset that covers it, written right after it in the same section,
    /// when the query had DO (RFC 4035 §3.1.1) and the zone holds one.
    pub sigs: Option<RrsetRef<'z>>,
}

/// The answer to a query, described.
pub struct Response<'z> {
    /// The RCODE (12 bits with EDNS).
    pub rcode: u16,
    /// Whether the AA bit is set.
    pub authoritative: bool,
    /// The closest encloser whose wildcard answered the question (RFC 4592), if
    /// one did: rate limiting accounts such answers to the wildcard.
    pub wildcard: Option<&'z [u8]>,
    /// The query had DO (RFC 3225): signatures and denial proofs go in.
    pub dnssec: bool,
    /// The time of the request (Unix seconds), for the TTL of signatures (RFC 4035
    /// §2.2); 0 = unknown, TTLs are not cut.
    pub now: u32,
    items: SmallVec<[Item<'z>; MAX_ITEMS]>,
    synthesized: SmallVec<[u8; SYNTHESIZED_ROOM]>,
}

impl<'z> Response<'z> {
    /// An empty NOERROR response.
    pub fn new() -> Self {
        Self {
            rcode: 0,
            authoritative: false,
            wildcard: None,
            dnssec: false,
            now: 0,
            items: SmallVec::new(),
            synthesized: SmallVec::new(),
        }
    }

    /// Adds an item; false when the response is full.
    pub fn push(&mut self, item: Item<'z>) -> bool {
        if self.items.len() == MAX_ITEMS {
            return false;
        }
        self.items.push(item);
        true
    }

    /// The items, in the order they were added.
    pub fn items(&self) -> &[Item<'z>] {
        &self.items
    }

    /// Whether an item with this RRset (or synthesized data) and owner is already in.
    pub fn contains(&self, owner: NameRef<'z>, data: &Data<'z>, question: &[u8]) -> bool {
        self.items.iter().any(|item| {
            let same_data = match (&item.data, data) {
                (Data::Rrset(a), Data::Rrset(b)) => std::ptr::eq(a.wire(), b.wire()),
                (Data::Cname(a), Data::Cname(b)) => self
                    .name(*a, question)
                    .eq_ignore_ascii_case(self.name(*b, question)),
                _ => false,
            };
            same_data
                && self
                    .name(item.owner, question)
                    .eq_ignore_ascii_case(self.name(owner, question))
        })
    }

    /// Stores a synthesized name; `None` when there is no room left.
    pub fn synthesize(&mut self, parts: &[&[u8]]) -> Option<NameRef<'z>> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let at = self.synthesized.len();
        if total > MAX_NAME_LEN || at + total > SYNTHESIZED_ROOM {
            return None;
        }
        for part in parts {
            self.synthesized.extend_from_slice(part);
        }
        Some(NameRef::Synthesized(at as u16, total as u8))
    }

    /// The wire bytes of a name; `question` is the question's name.
    pub fn name<'a>(&'a self, name: NameRef<'a>, question: &'a [u8]) -> &'a [u8] {
        match name {
            NameRef::Question => question,
            NameRef::Wire(wire) => wire,
            NameRef::Synthesized(at, len) => {
                &self.synthesized[at as usize..at as usize + len as usize]
            }
        }
    }
}

impl Default for Response<'_> {
    fn default() -> Self {
        Self::new()
    }
}
