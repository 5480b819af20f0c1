//! Which servers of a zone the iterator asks, and in what order (`super`).
//!
//! ```text
//!  ask_zone(zone, NS RRset, question)
//!    1. addresses known for the NS names: cache (A and AAAA, glue included),
//!       the root hints for the root (all of them when none of the root's NS
//!       names has an address known: a priming response without glue)
//!    2. NS names resolved one at a time, those without an address first, then
//!       the others (glue is not an answer: their own zone is asked); A, else
//!       AAAA; at most MAX_NS_FETCHES, never deeper than MAX_DEPTH
//!    3. last resort, the parent side (`parent_side`): the glue the parents gave
//!       for these names and for the names of the parent's own NS RRset
//!    4. names only the parent's NS RRset holds, their addresses resolved
//!  each step asks the addresses not asked before, in the upstream's order,
//!  until one gives a usable (not lame) response
//! ```
//!
//! Steps 2 to 4 run only when the steps before them gave no usable response: a
//! child whose NS RRset or addresses differ from its parent's, and whose own
//! servers fail, is still reached through the delegation that works (Unbound's
//! iterator does the same: more targets, then the parent-side last resort).

use std::net::IpAddr;

use hickory_proto::rr::{Name, Record, RecordType};

use super::super::classify::{Classified, Outcome, classify};
use super::super::records::{address_of, ns_name};
use super::super::upstream::Upstream;
use super::{Failure, Iterator, MAX_DEPTH, MAX_NS_FETCHES, MAX_QUERIES, Work};

/// Most servers asked in one step of [`Iterator::ask_zone`].
const MAX_TRIES_PER_STEP: usize = 6;

/// What [`Iterator::ask_zone`] has done so far for one question.
#[derive(Default)]
struct Attempt {
    /// Addresses asked.
    tried: Vec<IpAddr>,
    /// Names resolved for their addresses.
    fetched: Vec<Name>,
    /// Whether a name was left unresolved for the depth limit.
    too_deep: bool,
}

impl<U: Upstream> Iterator<U> {
    /// Asks the servers of `zone`, whose NS RRset is `ns`, about (`name`, `rtype`),
    /// in the order of the module's comment; None when every one failed or was
    /// lame.
    pub(super) async fn ask_zone(
        &self,
        zone: &Name,
        ns: &[Record],
        name: &Name,
        rtype: RecordType,
        work: &mut Work,
    ) -> Result<Option<Classified>, Failure> {
        let now = (self.clock)();
        let child: Vec<Name> = ns.iter().filter_map(ns_name).collect();
        let mut attempt = Attempt::default();
        let mut missing = Vec::new();
        let mut known = Vec::new();
        for server in &child {
            let found = self.known_addresses(zone, server, now);
            if found.is_empty() {
                missing.push(server.clone());
            }
            known.extend(found);
        }
        if zone.is_root() && known.is_empty() {
            // RFC 8109 §3: a priming response without addresses for the root's NS
            // names (or names other than the hints'): the hints' addresses are
            // root servers by configuration, asked before resolving any name
            // (which would itself need a root server).
            known.extend(self.hints.addresses.iter().filter_map(address_of));
        }
        if let Some(c) = self
            .ask(zone, &known, &mut attempt, name, rtype, work)
            .await?
        {
            return Ok(Some(c));
        }
        // Names without an address first, then those whose addresses (glue, most
        // likely: the lookup asks the name's own zone for them) all failed.
        let (with, without): (Vec<&Name>, Vec<&Name>) =
            child.iter().partition(|s| !missing.contains(s));
        for server in without.into_iter().chain(with) {
            let found = self.fetch_addresses(zone, server, &mut attempt, work).await;
            if let Some(c) = self
                .ask(zone, &found, &mut attempt, name, rtype, work)
                .await?
            {
                return Ok(Some(c));
            }
        }
        // The last resort: what the parent said.
        let parent = self.parent_side.ns_names(zone, now);
        let glue: Vec<IpAddr> = child
            .iter()
            .chain(&parent)
            .flat_map(|server| self.parent_side.glue(server, now))
            .collect();
        if !glue.is_empty() {
            tracing::debug!(%zone, %name, "asking the parent side's glue");
        }
        if let Some(c) = self
            .ask(zone, &glue, &mut attempt, name, rtype, work)
            .await?
        {
            return Ok(Some(c));
        }
        for server in parent.iter().filter(|s| !child.contains(s)) {
            let mut found = self.known_addresses(zone, server, now);
            if found.is_empty() {
                found = self.fetch_addresses(zone, server, &mut attempt, work).await;
            }
            if let Some(c) = self
                .ask(zone, &found, &mut attempt, name, rtype, work)
                .await?
            {
                return Ok(Some(c));
            }
        }
        if attempt.tried.is_empty() && attempt.too_deep {
            return Err(Failure::Limit);
        }
        Ok(None)
    }

    /// Asks the servers at `addresses` not tried before, in the upstream's order,
    /// until one gives a usable response; None when every one failed or was lame.
    async fn ask(
        &self,
        zone: &Name,
        addresses: &[IpAddr],
        attempt: &mut Attempt,
        name: &Name,
        rtype: RecordType,
        work: &mut Work,
    ) -> Result<Option<Classified>, Failure> {
        let mut order: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|a| !attempt.tried.contains(a))
            .collect();
        order.sort();
        order.dedup();
        self.upstream.order(&mut order);
        for server in order.into_iter().take(MAX_TRIES_PER_STEP) {
            attempt.tried.push(server);
            work.queries += 1;
            if work.queries > MAX_QUERIES {
                return Err(Failure::Limit);
            }
            let Ok(response) = self.upstream.query(server, name, rtype).await else {
                continue;
            };
            let classified = classify(zone, name, rtype, &response);
            if let Outcome::Lame(why) = classified.outcome {
                tracing::debug!(%server, %zone, %name, why, "lame or broken response");
                continue;
            }
            self.store_zone_ns(zone, &response);
            return Ok(Some(classified));
        }
        Ok(None)
    }

    /// The addresses the cache holds for name server `server` of `zone` (A and
    /// AAAA, glue included), and the root hints' for the root's servers.
    fn known_addresses(&self, zone: &Name, server: &Name, now: u64) -> Vec<IpAddr> {
        let mut found = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(rrset) = self.cache.rrset(server, rtype, now) {
                found.extend(rrset.records.iter().filter_map(address_of));
            }
        }
        if zone.is_root() {
            found.extend(
                self.hints
                    .addresses
                    .iter()
                    .filter(|hint| hint.name == *server)
                    .filter_map(address_of),
            );
        }
        found
    }

    /// Resolves the addresses of name server `server` of `zone` (A, else AAAA):
    /// none for a name inside `zone` (only its servers, which failed, could say),
    /// for one already fetched, or beyond the limits.
    async fn fetch_addresses(
        &self,
        zone: &Name,
        server: &Name,
        attempt: &mut Attempt,
        work: &mut Work,
    ) -> Vec<IpAddr> {
        if zone.zone_of(server)
            || attempt.fetched.contains(server)
            || attempt.fetched.len() >= MAX_NS_FETCHES
        {
            return Vec::new();
        }
        if work.depth >= MAX_DEPTH {
            attempt.too_deep = true;
            return Vec::new();
        }
        attempt.fetched.push(server.clone());
        let mut found = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            work.depth += 1;
            let resolved = self.lookup(server, rtype, work).await;
            work.depth -= 1;
            if let Ok(resolution) = resolved {
                found.extend(
                    resolution
                        .answer
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .filter_map(address_of),
                );
            }
            if !found.is_empty() {
                break;
            }
        }
        found
    }
}
