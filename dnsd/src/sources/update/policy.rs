//! Who may change what (RFC 2136 §3.3): update policies with BIND's `update-policy`
//! semantics as the reference — `grant IDENTITY RULE [NAME] [TYPES]`:
//!
//! | rule        | the owner must be                                  |
//! |-------------|----------------------------------------------------|
//! | `name`      | exactly NAME                                       |
//! | `subdomain` | NAME or below it                                   |
//! | `wildcard`  | matched by NAME, a wildcard (`*.dhcp.example.net`)  |
//! | `self`      | the identity (the key's name) itself               |
//! | `selfsub`   | the identity or below it                           |
//! | `zonesub`   | anywhere in the zone                               |
//!
//! Without types, a rule covers every type but SOA, NS, RRSIG, NSEC and NSEC3 (as
//! BIND). Every record of the update section must be covered by a rule of the
//! request's identity, or the update is REFUSED.

use crate::wire::name::Name;
use crate::zone::Rtype;

/// How a rule matches owners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// Exactly this name.
    Name(Name),
    /// This name and below.
    Subdomain(Name),
    /// The wildcard pattern (its first label `*`).
    Wildcard(Name),
    /// The identity itself.
    SelfName,
    /// The identity and below.
    SelfSub,
    /// Anywhere in the zone.
    ZoneSub,
}

/// One `grant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The identity (a TSIG key's name, lowercased).
    pub identity: Name,
    /// Which owners.
    pub matches: Match,
    /// Which types (None: all but SOA, NS, RRSIG, NSEC, NSEC3).
    pub types: Option<Vec<Rtype>>,
    /// In which zones (None: every zone; BIND writes the policy inside each zone).
    pub zones: Option<Vec<Name>>,
}

impl Grant {
    /// Whether this grant lets `identity` change (owner, rtype) in `zone`.
    pub fn allows(&self, identity: &Name, zone: &Name, owner: &Name, rtype: Rtype) -> bool {
        if self.identity != *identity || self.zones.as_ref().is_some_and(|z| !z.contains(zone)) {
            return false;
        }
        let owner = owner.to_lowercase();
        let owner_ok = match &self.matches {
            Match::Name(n) => owner == *n,
            Match::Subdomain(n) => owner.is_subdomain_of(n),
            Match::Wildcard(n) => n
                .parent()
                .is_some_and(|base| owner.is_subdomain_of(&base) && owner != base),
            Match::SelfName => owner == *identity,
            Match::SelfSub => owner.is_subdomain_of(identity),
            Match::ZoneSub => owner.is_subdomain_of(zone),
        };
        let type_ok = match &self.types {
            Some(types) => types.contains(&rtype),
            None => !matches!(
                rtype,
                Rtype::SOA | Rtype::NS | Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3
            ),
        };
        owner_ok && type_ok
    }
}

/// Whether `grants` let `identity` change every (owner, type) of `changes` in `zone`.
pub fn allowed<'a>(
    grants: &[Grant],
    identity: &Name,
    zone: &Name,
    mut changes: impl Iterator<Item = (&'a Name, Rtype)>,
) -> bool {
    changes.all(|(owner, rtype)| {
        grants
            .iter()
            .any(|g| g.allows(identity, zone, owner, rtype))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_text(text, None).expect("name")
    }

    #[test]
    fn bind_rules_match_as_bind_does() {
        let zone = name("home.test.");
        let key = name("host1.home.test.");
        let grant = |matches, types| Grant {
            identity: key.clone(),
            matches,
            types,
            zones: None,
        };
        let a = Rtype::A;
        let g = grant(Match::SelfName, None);
        assert!(g.allows(&key, &zone, &name("HOST1.home.test."), a));
        assert!(!g.allows(&key, &zone, &name("other.home.test."), a));
        assert!(!g.allows(&key, &zone, &key, Rtype::NS));
        assert!(!g.allows(&name("k2."), &zone, &key, a));
        let g = grant(
            Match::Wildcard(name("*.dhcp.home.test.")),
            Some(vec![a, Rtype::PTR]),
        );
        assert!(g.allows(&key, &zone, &name("pc1.dhcp.home.test."), a));
        assert!(!g.allows(&key, &zone, &name("dhcp.home.test."), a));
        assert!(!g.allows(&key, &zone, &name("pc1.dhcp.home.test."), Rtype::TXT));
        let g = grant(
            Match::Subdomain(name("_acme-challenge.home.test.")),
            Some(vec![Rtype::TXT]),
        );
        assert!(g.allows(&key, &zone, &name("_acme-challenge.home.test."), Rtype::TXT));
        assert!(g.allows(
            &key,
            &zone,
            &name("x._acme-challenge.home.test."),
            Rtype::TXT
        ));
        let g = grant(Match::ZoneSub, None);
        assert!(g.allows(&key, &zone, &name("a.b.home.test."), a));
        assert!(!g.allows(&key, &zone, &name("a.elsewhere."), a));
        assert!(allowed(
            std::slice::from_ref(&g),
            &key,
            &zone,
            [(&name("x.home.test."), a)].into_iter()
        ));
        assert!(!allowed(
            std::slice::from_ref(&g),
            &key,
            &zone,
            [(&zone, Rtype::SOA)].into_iter()
        ));
        let g = Grant {
            zones: Some(vec![name("other.test.")]),
            ..g
        };
        assert!(!g.allows(&key, &zone, &name("x.home.test."), a));
    }
}
