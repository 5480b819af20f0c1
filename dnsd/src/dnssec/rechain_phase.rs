//! The phases of a change of the denial of existence (`rechain`): the one a zone is
//! in, found from the zone and the policy alone ([`start`], which is also how a
//! restart finds it again), the chains each phase's versions hold, and the phase
//! that follows each.

use std::fmt;

use crate::dnssec::nsec3::{Params, hashed_owner, node_of_chain, nsec3_hash, nsec3_types};
use crate::dnssec::policy::Policy;
use crate::dnssec::rdata::NSEC3_OPT_OUT;
use crate::dnssec::signer::{Chains, Upkeep, params};
use crate::zone::{NodeRef, Rtype, Zone};

/// An NSEC3 chain's parameters as a phase keeps them: hash iterations, salt (held
/// inline, so that a phase is a plain value) and Opt-Out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nsec3Chain {
    /// Additional hash iterations.
    pub iterations: u16,
    /// Whether insecure delegations are left out.
    pub opt_out: bool,
    salt_len: u8,
    salt: [u8; 255],
}

impl Nsec3Chain {
    /// The chain of `iterations`, `salt` (at most 255 octets, as its RDATA field
    /// holds) and `opt_out`.
    pub fn new(iterations: u16, salt: &[u8], opt_out: bool) -> Self {
        let mut out = Self {
            iterations,
            opt_out,
            salt_len: 0,
            salt: [0; 255],
        };
        let len = salt.len().min(255);
        out.salt[..len].copy_from_slice(&salt[..len]);
        out.salt_len = len as u8;
        out
    }

    /// The chain an NSEC3 RDATA belongs to (RFC 5155 §3.2: algorithm, flags,
    /// iterations, salt length, salt), its Opt-Out from the record's flag.
    fn of_rdata(rdata: &[u8]) -> Option<Self> {
        let iterations = u16::from_be_bytes([*rdata.get(2)?, *rdata.get(3)?]);
        let salt = rdata.get(5..5 + usize::from(*rdata.get(4)?))?;
        Some(Self::new(
            iterations,
            salt,
            rdata.get(1)? & NSEC3_OPT_OUT != 0,
        ))
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }

    /// The chain's parameters.
    pub fn params(&self) -> Params<'_> {
        Params {
            salt: self.salt(),
            iterations: self.iterations,
            opt_out: self.opt_out,
            opt_out_flag: self.opt_out,
        }
    }
}

impl fmt::Debug for Nsec3Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let salt: String = self.salt().iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("Nsec3Chain")
            .field("iterations", &self.iterations)
            .field("salt", &if salt.is_empty() { "-".into() } else { salt })
            .field("opt_out", &self.opt_out)
            .finish()
    }
}

/// A phase of the walk (see `rechain`'s documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// NSEC served; the policy's NSEC3 chain built beside it.
    BuildNsec3,
    /// The policy's NSEC3 chain served; the NSEC records go.
    DropNsec,
    /// The NSEC3 chain `served` served; NSEC built beside it.
    BuildNsec {
        /// The chain served.
        served: Nsec3Chain,
    },
    /// NSEC served; the NSEC3 records go.
    DropNsec3,
    /// The NSEC3 chain written again with `opt_out`'s members and `flag`.
    Flags {
        /// Whether insecure delegations are left out.
        opt_out: bool,
        /// The Opt-Out flag written.
        flag: bool,
    },
    /// The NSEC3 chain `served`, of other parameters (salt, iterations) than the
    /// policy's, served and named by the NSEC3PARAM; the policy's chain built beside
    /// it, named by none.
    BuildNsec3Beside {
        /// The chain served.
        served: Nsec3Chain,
    },
    /// The policy's NSEC3 chain served; the records of the chain `old` go.
    DropOldNsec3 {
        /// The chain going.
        old: Nsec3Chain,
    },
}

/// The NSEC3PARAM at the apex that the answer engine would use: flags 0, SHA-1.
fn usable_param(zone: &Zone) -> Option<(u16, Vec<u8>)> {
    let apex = zone.apex_node();
    let param = apex.rrset(Rtype::NSEC3PARAM)?;
    param.rdatas().find_map(|r| {
        let (&alg, &flags) = (r.first()?, r.get(1)?);
        let iterations = u16::from_be_bytes([*r.get(2)?, *r.get(3)?]);
        let salt = r.get(5..5 + usize::from(*r.get(4)?))?;
        (alg == 1 && flags == 0).then(|| (iterations, salt.to_vec()))
    })
}

/// The NSEC3 record of `owner` (a name of the zone) in the chain of `p`, if any.
fn nsec3_of<'z>(zone: &'z Zone, owner: &[u8], p: Params<'_>) -> Option<NodeRef<'z>> {
    let hash = nsec3_hash(owner, p.salt, p.iterations);
    zone.node(&hashed_owner(&hash, zone.apex().as_wire()))
        .filter(|n| node_of_chain(n, p))
}

/// The chain the apex's usable NSEC3PARAM names, its Opt-Out from the apex's record.
fn served_chain(zone: &Zone) -> Option<Nsec3Chain> {
    let (iterations, salt) = usable_param(zone)?;
    let plain = Nsec3Chain::new(iterations, &salt, false);
    let opt_out = nsec3_of(zone, zone.apex().as_wire(), plain.params())
        .and_then(|n| {
            n.rrset(Rtype::NSEC3)?
                .rdatas()
                .next()
                .map(|r| r[1] & 1 == 1)
        })
        .unwrap_or(false);
    Some(Nsec3Chain::new(iterations, &salt, opt_out))
}

/// The phase a walk from `zone` to `policy`'s denial starts with (or, after a
/// restart, goes on with); None when there is nothing to walk.
pub fn start(zone: &Zone, policy: &Policy) -> Option<Phase> {
    let apex = zone.apex_node();
    let served = served_chain(zone);
    let Some(p) = params(policy) else {
        return match served {
            Some(served) => Some(Phase::BuildNsec { served }),
            None => zone
                .nsec3_nodes()
                .next()
                .is_some()
                .then_some(Phase::DropNsec3),
        };
    };
    let Some(served) = served else {
        return apex
            .rrset(Rtype::NSEC)
            .is_some()
            .then_some(Phase::BuildNsec3);
    };
    if served.salt() != p.salt || served.iterations != p.iterations {
        return Some(Phase::BuildNsec3Beside { served });
    }
    if zone.nodes().any(|n| n.rrset(Rtype::NSEC).is_some()) {
        return Some(Phase::DropNsec);
    }
    // Records of another chain left (a change of parameters under way).
    if let Some(old) = zone
        .nsec3_nodes()
        .filter(|n| !node_of_chain(n, p))
        .find_map(|n| Nsec3Chain::of_rdata(n.rrset(Rtype::NSEC3)?.rdatas().next()?))
    {
        return Some(Phase::DropOldNsec3 { old });
    }
    let wrong_flag = zone.nsec3_nodes().any(|n| {
        n.rrset(Rtype::NSEC3)
            .and_then(|r| r.rdatas().next())
            .is_some_and(|r| r.get(1).copied().unwrap_or(0) & 1 != p.flags())
    });
    // Insecure delegations: in the chain without Opt-Out, out of it with.
    let mut insecure = zone
        .delegations()
        .filter(|d| !d.is_below_cut() && nsec3_types(d, true).is_none());
    if p.opt_out {
        let extra = insecure.any(|d| nsec3_of(zone, d.owner(), p).is_some());
        (wrong_flag || extra).then_some(Phase::Flags {
            opt_out: true,
            flag: true,
        })
    } else if insecure.any(|d| nsec3_of(zone, d.owner(), p).is_none()) {
        Some(Phase::Flags {
            opt_out: false,
            flag: true,
        })
    } else {
        wrong_flag.then_some(Phase::Flags {
            opt_out: false,
            flag: false,
        })
    }
}

impl Phase {
    /// The chains the phase's versions hold, and how changes keep them.
    pub fn chains(&self, policy: &Policy) -> Chains<'_> {
        let target = params(policy);
        let (nsec, nsec3, beside) = match self {
            Phase::BuildNsec3 => (
                Some(Upkeep::Whole),
                target.map(|p| (p, Upkeep::Building)),
                None,
            ),
            Phase::DropNsec => (
                Some(Upkeep::Going),
                target.map(|p| (p, Upkeep::Whole)),
                None,
            ),
            Phase::BuildNsec { served } => (
                Some(Upkeep::Building),
                Some((served.params(), Upkeep::Whole)),
                None,
            ),
            Phase::DropNsec3 => (Some(Upkeep::Whole), None, None),
            Phase::Flags { opt_out, flag } => (
                None,
                target.map(|p| {
                    (
                        Params {
                            opt_out: *opt_out,
                            opt_out_flag: *flag,
                            ..p
                        },
                        Upkeep::Whole,
                    )
                }),
                None,
            ),
            Phase::BuildNsec3Beside { served } => (
                None,
                Some((served.params(), Upkeep::Whole)),
                target.map(|p| (p, Upkeep::Building)),
            ),
            Phase::DropOldNsec3 { old } => (
                None,
                target.map(|p| (p, Upkeep::Whole)),
                Some((old.params(), Upkeep::Going)),
            ),
        };
        Chains {
            nsec,
            nsec3,
            beside,
        }
    }

    /// The chain whose records a batch of the phase writes again name by name (the
    /// one built, or the one whose bitmaps change); None: the phase removes records.
    pub fn walked(&self, policy: &Policy) -> Option<Params<'_>> {
        let chains = self.chains(policy);
        match self {
            Phase::BuildNsec3Beside { .. } => chains.beside.map(|(p, _)| p),
            Phase::DropNsec3 | Phase::DropOldNsec3 { .. } => None,
            _ => chains.nsec3.map(|(p, _)| p),
        }
    }

    /// The phase after this one; None: the walk is over.
    pub fn next(self) -> Option<Phase> {
        match self {
            Phase::BuildNsec3 => Some(Phase::DropNsec),
            Phase::BuildNsec { .. } => Some(Phase::DropNsec3),
            Phase::Flags {
                opt_out: false,
                flag: true,
            } => Some(Phase::Flags {
                opt_out: false,
                flag: false,
            }),
            Phase::BuildNsec3Beside { served } => Some(Phase::DropOldNsec3 { old: served }),
            _ => None,
        }
    }
}
