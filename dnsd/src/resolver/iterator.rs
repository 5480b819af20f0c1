//! The iterator: resolves a question by asking authoritative servers, from the root
//! hints down, as RFC 1034 §5.3.3 describes, through the cache.
//!
//! ```text
//!  resolve(qname, qtype)
//!    └─ loop over the CNAME chain (at most MAX_CNAMES, RFC 1034 §3.6.2)
//!         cache: RRset? negative? CNAME? ──hit──► next link or done
//!         iterate(name, type):
//!           closest cut with NS in the cache (else the primed root, RFC 8109)
//!           └─ loop (at most MAX_REFERRALS):
//!                ask the zone's servers (iterator_targets.rs): addresses from
//!                glue and cache, then sub-resolutions (at most MAX_NS_FETCHES
//!                per cut: the NXNS limit), then the parent side's glue and NS
//!                (QNAME minimised, RFC 9156) ── classify ──►
//!                  Answer / NxDomain / NoData / Alias  → cache, return
//!                  Referral                             → cache NS + glue, descend
//!                  Lame / error / timeout               → next server
//!                  every server failed                  → SERVFAIL (EDE 22)
//! ```
//!
//! Limits per client query (`Work`): upstream queries sent, referrals followed, CNAMEs
//! followed, depth of name-server sub-resolutions. Exceeding one ends the resolution
//! with SERVFAIL, which keeps referral loops and NXNS-style fan-outs bounded.
//!
//! Names of a forward zone (`forward.rs`) are asked of its forwarders instead of
//! being iterated from the closest cut.
//!
//! QNAME minimisation (RFC 9156) is relaxed: the next label is asked with type A; a
//! referral descends, any other answer adds a label, and an NXDOMAIN or an error for a
//! minimised name makes the iterator ask the full name of the same servers (§2.3 leaves
//! this to the implementation; Unbound's relaxed mode does the same).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use hickory_proto::rr::{Name, Record, RecordType};

use super::cache::{Cache, CachedNegative, CachedRrset, Lookup, Rank};
use super::classify::{Outcome, classify};
use super::records::{address_of, cname_target, ns_name};
use super::upstream::Upstream;

/// Most CNAMEs followed for one question (Unbound's MAX_RESTART_COUNT is 11).
pub const MAX_CNAMES: usize = 11;
/// Most referrals followed for one name.
pub const MAX_REFERRALS: usize = 30;
/// Most queries sent upstream for one client query, sub-resolutions included.
pub const MAX_QUERIES: usize = 96;
/// Most name servers without glue resolved for one zone cut (NXNS, CVE-2020-12662).
pub const MAX_NS_FETCHES: usize = 4;
/// Deepest nesting of name-server address resolutions.
pub const MAX_DEPTH: usize = 4;
/// Most labels uncovered one by one by QNAME minimisation (RFC 9156 §2.3's
/// MAX_MINIMISE_COUNT); beyond, the full name is asked.
const MINIMISE_STEPS: usize = 10;

/// The result of a resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// NOERROR, NXDOMAIN or SERVFAIL.
    pub rcode: hickory_proto::op::ResponseCode,
    /// The CNAME chain and the final RRset, with the RRSIGs that came with each.
    pub answer: Vec<Record>,
    /// For negative answers: the SOA and its proofs; for answers expanded from a
    /// wildcard, the NSEC/NSEC3 proof that the name itself does not exist.
    pub authority: Vec<Record>,
    /// Why it failed (RFC 8914 code), for SERVFAIL.
    pub ede: Option<u16>,
}

/// Why a resolution failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Every server of a zone failed (RFC 8914 §4.23, No Reachable Authority).
    Unreachable,
    /// A limit of work per query was reached (RFC 8914 §4.1, Other).
    Limit,
}

impl Failure {
    /// The EDE code reported.
    pub fn ede(self) -> u16 {
        match self {
            Failure::Unreachable => 22,
            Failure::Limit => 0,
        }
    }
}

/// The work one client query has done so far.
#[derive(Debug, Default)]
pub struct Work {
    pub(super) queries: usize,
    depth: usize,
    /// Whether the client's question skips the cache (prefetch).
    fresh: bool,
}

/// Root hints: the root's NS records and their addresses.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    /// NS records of the root.
    pub ns: Vec<Record>,
    /// A/AAAA records of those names.
    pub addresses: Vec<Record>,
}

/// The iterator: cache, upstream, hints, clock.
pub struct Iterator<U> {
    /// The cache shared with every other resolution.
    pub cache: Arc<Cache>,
    /// How queries reach servers.
    pub upstream: U,
    /// Where to start when the cache knows nothing.
    pub hints: Hints,
    /// Seconds on a monotonic clock.
    pub clock: fn() -> u64,
    /// Whether to minimise QNAMEs (RFC 9156).
    pub qname_minimisation: bool,
    /// Domains whose names are asked of forwarders instead (`forward.rs`).
    pub forwards: super::forward::Forwards,
    /// What the parents' referrals said, for when the child's servers fail.
    pub parent_side: super::parent_side::ParentSide,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<U: Upstream> Iterator<U> {
    /// Resolves (`qname`, `qtype`): never fails, a failure is a SERVFAIL resolution.
    pub async fn resolve(&self, qname: &Name, qtype: RecordType) -> Resolution {
        self.resolve_with(qname, qtype, false).await
    }

    /// [`Self::resolve`]; with `fresh`, the question and its CNAME chain are asked of
    /// the servers even when the cache still holds them (a prefetch: the answers
    /// replace the cached ones); zone cuts and addresses still come from the cache.
    pub async fn resolve_with(&self, qname: &Name, qtype: RecordType, fresh: bool) -> Resolution {
        let mut work = Work {
            fresh,
            ..Work::default()
        };
        match self.lookup(qname, qtype, &mut work).await {
            Ok(resolution) => resolution,
            Err(failure) => Resolution {
                rcode: hickory_proto::op::ResponseCode::ServFail,
                answer: Vec::new(),
                authority: Vec::new(),
                ede: Some(failure.ede()),
            },
        }
    }

    /// The answer to (`qname`, `qtype`), following CNAMEs, from the cache or servers.
    fn lookup<'a>(
        &'a self,
        qname: &'a Name,
        qtype: RecordType,
        work: &'a mut Work,
    ) -> Boxed<'a, Result<Resolution, Failure>> {
        Box::pin(async move {
            let mut answer = Vec::new();
            // Wildcard proofs of the RRsets in `answer` (RFC 4035 §5.3.4).
            let mut proof = Vec::new();
            let mut current = qname.clone();
            // Only the client's own question is refreshed, not the sub-resolutions.
            let fresh = std::mem::take(&mut work.fresh);
            for _ in 0..=MAX_CNAMES {
                let now = (self.clock)();
                let cached = if fresh {
                    Lookup::Miss
                } else {
                    self.cache.get(&current, qtype, now)
                };
                match cached {
                    // RFC 2181 §5.4.1: glue and referral data are not answers; the
                    // zone's own servers are asked (and their answer replaces them).
                    Lookup::Rrset(rrset) if rrset.rank < Rank::Authority => {}
                    Lookup::Rrset(rrset) => {
                        answer.extend(rrset.records);
                        answer.extend(rrset.signatures);
                        proof.extend(rrset.proof);
                        return Ok(positive(answer, proof));
                    }
                    Lookup::Negative(negative) => {
                        return Ok(negative_resolution(answer, proof, negative));
                    }
                    Lookup::Miss => {}
                }
                if qtype != RecordType::CNAME
                    && !fresh
                    && let Some(cname) = self.cache.rrset(&current, RecordType::CNAME, now)
                    && let Some(target) = cname_target(&cname.records)
                {
                    // RFC 6672 §3.4: a CNAME synthesized from a DNAME comes after it.
                    if let Some(dname) = self.cached_dname_above(&current, now) {
                        answer.extend(dname.records);
                        answer.extend(dname.signatures);
                        proof.extend(dname.proof);
                    }
                    answer.extend(cname.records);
                    answer.extend(cname.signatures);
                    proof.extend(cname.proof);
                    current = target;
                    continue;
                }
                let classified = self.iterate(&current, qtype, work).await?;
                answer.extend(classified.chain);
                proof.extend(classified.proof);
                match classified.outcome {
                    Outcome::Answer {
                        records,
                        signatures,
                    } => {
                        answer.extend(records);
                        answer.extend(signatures);
                        return Ok(positive(answer, proof));
                    }
                    Outcome::NxDomain(authority) => {
                        let negative = CachedNegative {
                            nxdomain: true,
                            authority,
                        };
                        return Ok(negative_resolution(answer, proof, negative));
                    }
                    Outcome::NoData(authority) => {
                        let negative = CachedNegative {
                            nxdomain: false,
                            authority,
                        };
                        return Ok(negative_resolution(answer, proof, negative));
                    }
                    Outcome::Alias(target) => current = target,
                    Outcome::Referral { .. } | Outcome::Lame(_) => {
                        return Err(Failure::Unreachable);
                    }
                }
            }
            Err(Failure::Limit)
        })
    }

    /// A cached DNAME RRset at a proper ancestor of `name`, the closest one.
    fn cached_dname_above(&self, name: &Name, now: u64) -> Option<CachedRrset> {
        let mut above = name.clone();
        while !above.is_root() {
            above = above.base_name();
            if let Some(dname) = self.cache.rrset(&above, RecordType::DNAME, now) {
                return Some(dname);
            }
        }
        None
    }

    /// Asks servers about (`name`, `qtype`) from the closest known cut down; caches
    /// what the final response says and returns it.
    async fn iterate(
        &self,
        name: &Name,
        qtype: RecordType,
        work: &mut Work,
    ) -> Result<super::classify::Classified, Failure> {
        // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
        let below = if qtype == RecordType::DS && !name.is_root() {
            name.base_name()
        } else {
            name.clone()
        };
        let (mut zone, mut ns) = match self.forwards.find(&below) {
            Some((forward_zone, servers)) => {
                let Some(classified) = self
                    .ask_forwarders(forward_zone, servers, name, qtype, work)
                    .await?
                else {
                    return Err(Failure::Unreachable);
                };
                match classified.outcome {
                    // A stub zone's server delegates further: iterate from there.
                    Outcome::Referral {
                        zone: child,
                        ns: child_ns,
                        glue,
                        authority,
                    } if !(qtype == RecordType::DS && child == *name) => {
                        self.store_referral(&child_ns, &glue, &authority);
                        (child, child_ns)
                    }
                    Outcome::Referral { .. } => return Err(Failure::Unreachable),
                    _ => {
                        self.store(name, qtype, &classified);
                        return Ok(classified);
                    }
                }
            }
            None => self.closest_cut(&below, work).await?,
        };
        let wanted = usize::from(below.num_labels());
        // RFC 9156 §2.3: minimise only while few labels are left to uncover.
        let mut minimise = self.qname_minimisation;
        let mut labels = usize::from(zone.num_labels()) + 1;
        for _ in 0..MAX_REFERRALS + MINIMISE_STEPS {
            if wanted.saturating_sub(labels) > MINIMISE_STEPS {
                minimise = false;
            }
            // RFC 9156 §3: the next label below the zone, type A, until the full name.
            let full = !(minimise && labels < wanted);
            let (ask_name, ask_type) = if full {
                (name.clone(), qtype)
            } else {
                (below.trim_to(labels), RecordType::A)
            };
            let Some(classified) = self.ask_zone(&zone, &ns, &ask_name, ask_type, work).await?
            else {
                if full {
                    return Err(Failure::Unreachable);
                }
                minimise = false;
                continue;
            };
            match classified.outcome {
                Outcome::Referral {
                    zone: child,
                    ns: child_ns,
                    glue,
                    authority,
                } => {
                    if qtype == RecordType::DS && child == *name {
                        // The parent's servers must answer DS themselves.
                        return Err(Failure::Unreachable);
                    }
                    self.store_referral(&child_ns, &glue, &authority);
                    labels = usize::from(child.num_labels()) + 1;
                    zone = child;
                    ns = child_ns;
                }
                _ if full => {
                    self.store(name, qtype, &classified);
                    return Ok(classified);
                }
                // An NXDOMAIN for a minimised name (relaxed mode) or a lame answer:
                // ask the full name instead.
                Outcome::NxDomain(_) | Outcome::Lame(_) => minimise = false,
                // No cut at the minimised name: one more label.
                _ => labels += 1,
            }
        }
        Err(Failure::Limit)
    }

    /// The closest zone cut above `name` whose NS RRset the cache holds, else the
    /// root (primed from the hints, RFC 8109).
    async fn closest_cut(
        &self,
        name: &Name,
        work: &mut Work,
    ) -> Result<(Name, Vec<Record>), Failure> {
        let now = (self.clock)();
        let mut cut = name.clone();
        loop {
            if let Some(ns) = self.cache.rrset(&cut, RecordType::NS, now) {
                return Ok((cut, ns.records));
            }
            if cut.is_root() {
                break;
            }
            cut = cut.base_name();
        }
        self.prime(work).await?;
        match self
            .cache
            .rrset(&Name::root(), RecordType::NS, (self.clock)())
        {
            Some(ns) => Ok((Name::root(), ns.records)),
            None => Ok((Name::root(), self.hints.ns.clone())),
        }
    }

    /// RFC 8109: asks a root server from the hints for the root's NS RRset, and caches
    /// it with the addresses of the additional section.
    async fn prime(&self, work: &mut Work) -> Result<(), Failure> {
        let root = Name::root();
        let addresses: Vec<IpAddr> = self.hints.addresses.iter().filter_map(address_of).collect();
        for server in addresses {
            work.queries += 1;
            if work.queries > MAX_QUERIES {
                return Err(Failure::Limit);
            }
            let Ok(response) = self.upstream.query(server, &root, RecordType::NS).await else {
                continue;
            };
            let classified = classify(&root, &root, RecordType::NS, &response);
            if let Outcome::Answer {
                records,
                signatures,
            } = classified.outcome
            {
                let now = (self.clock)();
                let names: Vec<Name> = records.iter().filter_map(ns_name).collect();
                self.cache.put_rrset(
                    CachedRrset {
                        records,
                        signatures,
                        rank: Rank::Answer,
                        proof: Vec::new(),
                    },
                    now,
                );
                self.store_addresses(&response.additionals, &names, Rank::Glue);
                return Ok(());
            }
        }
        // No root server answered: the hints themselves, for this once.
        Ok(())
    }
}

/// A positive resolution: the chain and RRset, and the wildcard proofs of any of them.
fn positive(answer: Vec<Record>, proof: Vec<Record>) -> Resolution {
    Resolution {
        rcode: hickory_proto::op::ResponseCode::NoError,
        answer,
        authority: proof,
        ede: None,
    }
}

/// A negative resolution: the chain (and its wildcard proofs), then the negative
/// answer's SOA and proofs.
fn negative_resolution(
    answer: Vec<Record>,
    mut proof: Vec<Record>,
    negative: CachedNegative,
) -> Resolution {
    Resolution {
        rcode: if negative.nxdomain {
            hickory_proto::op::ResponseCode::NXDomain
        } else {
            hickory_proto::op::ResponseCode::NoError
        },
        answer,
        authority: {
            proof.extend(negative.authority);
            proof
        },
        ede: None,
    }
}

#[path = "iterator_store.rs"]
mod store;

#[path = "iterator_targets.rs"]
mod targets;

#[cfg(test)]
#[path = "iterator_tests.rs"]
mod tests;
