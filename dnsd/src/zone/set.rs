//! The set of zones a server is authoritative for, looked up by the closest enclosing
//! apex of a query name. A set is immutable: a change builds a new set (sharing the
//! unchanged zones through `Arc`) that the server swaps in atomically.

use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashMap;

use super::snapshot::Zone;
use crate::wire::name::{self, Name};

/// Zones by lowercased apex. foldhash rather than SipHash: `find` hashes every
/// ancestor of every query name, and SipHash made that a fifth of the answer's cost.
#[derive(Clone, Default)]
pub struct ZoneSet {
    // Keys are shared, so that copying the set for a new version of one zone costs a
    // reference count per zone, not an allocation.
    zones: HashMap<Arc<[u8]>, Arc<Zone>, RandomState>,
}

impl ZoneSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The zone whose apex is the closest encloser of `lower`, a lowercased wire name.
    pub fn find(&self, lower: &[u8]) -> Option<&Arc<Zone>> {
        if self.zones.is_empty() {
            return None;
        }
        std::iter::once(0)
            .chain(name::label_offsets(lower).skip(1))
            .chain(std::iter::once(lower.len().saturating_sub(1)))
            .find_map(|at| self.zones.get(&lower[at..]))
    }

    /// The zone with apex `apex` (any case).
    pub fn get(&self, apex: &Name) -> Option<&Arc<Zone>> {
        self.zones.get(apex.to_lowercase().as_wire())
    }

    /// A copy of this set with `zone` added or replacing the zone of the same apex.
    pub fn with_zone(&self, zone: Arc<Zone>) -> Self {
        let mut next = self.clone();
        let key: Arc<[u8]> = match next.zones.get_key_value(zone.apex().as_wire()) {
            Some((key, _)) => key.clone(),
            None => zone.apex().as_wire().into(),
        };
        next.zones.insert(key, zone);
        next
    }

    /// A copy of this set without the zone at `apex`.
    pub fn without_zone(&self, apex: &Name) -> Self {
        let mut next = self.clone();
        next.zones.remove(apex.to_lowercase().as_wire());
        next
    }

    /// Every zone, in no particular order.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// Whether the set holds no zone.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{Record, Rtype};

    fn zone(apex: &str) -> Arc<Zone> {
        let apex = Name::from_text(apex, None).unwrap();
        let mut soa = apex.as_wire().to_vec();
        soa.extend_from_slice(apex.as_wire());
        soa.extend_from_slice(&[0; 20]);
        let record = Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 60,
            rdata: soa.into(),
        };
        Arc::new(Zone::build(&apex, vec![record]).unwrap())
    }

    fn lower(text: &str) -> Vec<u8> {
        Name::from_text(text, None)
            .unwrap()
            .to_lowercase()
            .as_wire()
            .to_vec()
    }

    #[test]
    fn finds_the_closest_enclosing_zone() {
        let set = ZoneSet::new()
            .with_zone(zone("example.org."))
            .with_zone(zone("sub.Example.org."));
        let apex_of = |q: &str| set.find(&lower(q)).map(|z| z.apex().to_string());
        assert_eq!(apex_of("www.example.org."), Some("example.org.".into()));
        assert_eq!(
            apex_of("a.sub.example.org."),
            Some("sub.example.org.".into())
        );
        assert_eq!(apex_of("sub.example.org."), Some("sub.example.org.".into()));
        assert_eq!(apex_of("example.org."), Some("example.org.".into()));
        assert_eq!(apex_of("example.com."), None);
        assert_eq!(apex_of("org."), None);
        let root = set.with_zone(zone("."));
        assert_eq!(
            root.find(&lower("example.com."))
                .map(|z| z.apex().to_string()),
            Some(".".into())
        );
        let fewer = set.without_zone(&Name::from_text("SUB.example.org.", None).unwrap());
        assert_eq!(fewer.len(), 1);
    }
}
