//! What parents said about their children's name servers: the NS names of each
//! referral and the glue addresses that came with it, kept apart from the cache.
//!
//! In the cache the child's own data outranks the parent's (RFC 2181 §5.4.1): the
//! child's NS RRset and its authoritative A/AAAA records replace the referral and
//! the glue. When the child's data is wrong (an NS name that does not work, an
//! address that moved while the glue did not) and every server it names fails, the
//! iterator falls back to what the parent said, as Unbound's iterator does (its
//! "parent-side last resort"). Only the iterator writes here (from referrals) and
//! reads (when every child-side server failed), so this is off the hit path.
//!
//! Bounded: at most `MAX_ENTRIES` zones and as many name-server names; when full,
//! expired entries go first, then everything (a fallback store, rebuilt by the next
//! referrals).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use hickory_proto::rr::{Name, Record};

use super::records::{address_of, ns_name};

/// Most zones (and most name-server names) remembered.
const MAX_ENTRIES: usize = 20_000;

/// A value and the second (on the iterator's clock) it expires.
#[derive(Debug)]
struct Entry<T> {
    value: T,
    expires: u64,
}

#[derive(Debug, Default)]
struct Maps {
    /// Zone → the NS names of the parent's referral.
    ns: HashMap<Name, Entry<Vec<Name>>>,
    /// Name server → the glue addresses of the last referral that carried any.
    glue: HashMap<Name, Entry<Vec<IpAddr>>>,
}

/// The parent side of delegations (see the module's comment).
#[derive(Debug, Default)]
pub struct ParentSide {
    maps: Mutex<Maps>,
}

impl ParentSide {
    /// Remembers a referral to `zone`: its NS RRset and glue, at `now`; `cap` caps
    /// a TTL as the cache caps it.
    pub fn remember(
        &self,
        zone: &Name,
        ns: &[Record],
        glue: &[Record],
        now: u64,
        cap: impl Fn(u32) -> u32,
    ) {
        let names: Vec<Name> = ns.iter().filter_map(ns_name).collect();
        if names.is_empty() {
            return;
        }
        let ttl = ns.iter().map(|r| r.ttl).min().unwrap_or(0);
        let Ok(mut maps) = self.maps.lock() else {
            return;
        };
        make_room(&mut maps.ns, now);
        maps.ns.insert(
            zone.clone(),
            Entry {
                value: names,
                expires: now + u64::from(cap(ttl)),
            },
        );
        let mut by_name: HashMap<&Name, (Vec<IpAddr>, u32)> = HashMap::new();
        for record in glue {
            if let Some(ip) = address_of(record) {
                let (addresses, ttl) = by_name
                    .entry(&record.name)
                    .or_insert((Vec::new(), u32::MAX));
                addresses.push(ip);
                *ttl = (*ttl).min(record.ttl);
            }
        }
        for (name, (addresses, ttl)) in by_name {
            make_room(&mut maps.glue, now);
            maps.glue.insert(
                name.clone(),
                Entry {
                    value: addresses,
                    expires: now + u64::from(cap(ttl)),
                },
            );
        }
    }

    /// The NS names the parent gave for `zone`, while they live.
    pub fn ns_names(&self, zone: &Name, now: u64) -> Vec<Name> {
        self.maps
            .lock()
            .ok()
            .and_then(|maps| live(maps.ns.get(zone), now))
            .unwrap_or_default()
    }

    /// The glue addresses a parent gave for name server `name`, while they live.
    pub fn glue(&self, name: &Name, now: u64) -> Vec<IpAddr> {
        self.maps
            .lock()
            .ok()
            .and_then(|maps| live(maps.glue.get(name), now))
            .unwrap_or_default()
    }
}

/// A copy of `entry`'s value unless it expired.
fn live<T: Clone>(entry: Option<&Entry<T>>, now: u64) -> Option<T> {
    entry.filter(|e| e.expires > now).map(|e| e.value.clone())
}

/// Keeps `map` below MAX_ENTRIES: expired entries first, then all.
fn make_room<T>(map: &mut HashMap<Name, Entry<T>>, now: u64) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, e| e.expires > now);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::classify::tests::{a, name, ns};

    #[test]
    fn keeps_the_referral_apart_until_it_expires() {
        let side = ParentSide::default();
        let mut delegation = ns("example.com.", "ns.example.net.");
        delegation.ttl = 100;
        let mut glue = a("ns.example.net.", [198, 51, 100, 44]);
        glue.ttl = 50;
        side.remember(&name("example.com."), &[delegation], &[glue], 1000, |t| t);
        assert_eq!(
            side.ns_names(&name("example.com."), 1099),
            vec![name("ns.example.net.")]
        );
        assert!(side.ns_names(&name("example.com."), 1100).is_empty());
        assert_eq!(
            side.glue(&name("ns.example.net."), 1049),
            vec![IpAddr::from([198, 51, 100, 44])]
        );
        assert!(side.glue(&name("ns.example.net."), 1050).is_empty());
        assert!(side.glue(&name("ns.example.com."), 1000).is_empty());
    }

    #[test]
    fn stays_bounded() {
        let side = ParentSide::default();
        for i in 0..MAX_ENTRIES + 10 {
            let zone = format!("z{i}.example.");
            side.remember(&name(&zone), &[ns(&zone, "ns.example.")], &[], 0, |t| t);
        }
        let maps = side.maps.lock().unwrap();
        assert!(maps.ns.len() <= MAX_ENTRIES);
    }
}
