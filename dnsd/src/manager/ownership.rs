//! Which source owns each RRset of a zone (DESIGN.md: one zone type for every source).
//!
//! A zone may mix records from its zone file with records that dynamic sources add
//! (container engines, RFC 2136 updates, the API). Each RRset (owner, type) has one
//! owner:
//!
//! - the **zone file** owns every RRset it contains (and the SOA and apex NS always);
//! - a **dynamic source** owns the RRsets it created where the file has none, until it
//!   removes them.
//!
//! So a `git commit` of the zone file never wipes a container's record, and a dynamic
//! source never silently rewrites what the operator wrote: its change to a file-owned
//! RRset, or to another source's, is refused with the owner's name. When the file
//! later gains an RRset that a dynamic source owns, the file takes it over (its records
//! replace the source's, logged as a conflict). Only the dynamic owners are stored:
//! whatever is not listed here belongs to the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::wire::name::Name;
use crate::xfr::journal::OwnerChange;
use crate::zone::Rtype;

/// The name zone-file changes are submitted under.
pub const FILE_SOURCE: &str = "file";

/// The dynamic owners of a zone's RRsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ownership {
    dynamic: BTreeMap<(Name, Rtype), Arc<str>>,
}

impl Ownership {
    /// The dynamic source that owns (owner, rtype), if any (none: the zone file, or no
    /// such RRset). `owner` is lowercased.
    pub fn owner_of(&self, owner: &Name, rtype: Rtype) -> Option<&Arc<str>> {
        self.dynamic.get(&(owner.clone(), rtype))
    }

    /// Applies recorded changes (from the journal or a commit).
    pub fn apply(&mut self, changes: &[OwnerChange]) {
        for change in changes {
            let key = (change.owner.clone(), change.rtype);
            match &change.source {
                Some(source) => {
                    self.dynamic.insert(key, source.clone());
                }
                None => {
                    self.dynamic.remove(&key);
                }
            }
        }
    }

    /// Every dynamically owned RRset.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, Rtype, &Arc<str>)> {
        self.dynamic.iter().map(|((o, t), s)| (o, *t, s))
    }

    /// Number of dynamically owned RRsets.
    pub fn len(&self) -> usize {
        self.dynamic.len()
    }

    /// Whether no RRset is owned dynamically.
    pub fn is_empty(&self) -> bool {
        self.dynamic.is_empty()
    }

    /// This ownership as a batch of commits sees it, changes applied on top as the
    /// batch goes, without copying it (a zone with many dynamic RRsets would otherwise
    /// pay for all of them at every commit).
    pub fn overlay(&self) -> Overlay<'_> {
        Overlay {
            base: self,
            changed: BTreeMap::new(),
        }
    }

    /// RRsets owned by each source.
    pub fn counts(&self) -> BTreeMap<Arc<str>, usize> {
        let mut counts = BTreeMap::new();
        for source in self.dynamic.values() {
            *counts.entry(source.clone()).or_default() += 1;
        }
        counts
    }
}

/// An [`Ownership`] with a batch's changes on top ([`Ownership::overlay`]).
pub struct Overlay<'a> {
    base: &'a Ownership,
    /// (owner, type) -> its new owner (None: the zone file).
    changed: BTreeMap<(Name, Rtype), Option<Arc<str>>>,
}

impl Overlay<'_> {
    /// As [`Ownership::owner_of`], with the changes applied so far.
    pub fn owner_of(&self, owner: &Name, rtype: Rtype) -> Option<&Arc<str>> {
        match self.changed.get(&(owner.clone(), rtype)) {
            Some(changed) => changed.as_ref(),
            None => self.base.owner_of(owner, rtype),
        }
    }

    /// As [`Ownership::apply`], on the overlay only.
    pub fn apply(&mut self, changes: &[OwnerChange]) {
        for change in changes {
            self.changed
                .insert((change.owner.clone(), change.rtype), change.source.clone());
        }
    }
}
