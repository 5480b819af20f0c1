//! The signing stage of a zone's manager: between a batch's changes (and its serial)
//! and the journal, a signed zone's new version is signed — the RRsets the diff
//! touched, the NSEC/NSEC3 links around them, and the signatures due for refresh — so
//! that what is journaled, served and transferred is always signed. A zone's first
//! version, and any version after a key or policy change, is signed whole.
//!
//! The stage holds the zone's policy and key set (read from the state folder,
//! `store`) and the time the next signature is due for refresh; the daemon's refresh
//! timer commits an empty change to each zone whose refresh is due
//! ([`SIGNER_SOURCE`]), which makes a new version with the refreshed signatures even
//! when nothing else changes.

use std::path::Path;

use super::policy::Policy;
use super::sign::KeySet;
use super::signer::{self, Context, SignError, Signed};
use super::store::{self, StoreError, StoredKey};
use crate::wire::name::Name;
use crate::zone::diff::ZoneDiff;
use crate::zone::txn;
use crate::zone::{Rtype, Zone};

/// The source name of the signer's own commits (signature refresh).
pub const SIGNER_SOURCE: &str = "dnssec";

/// Whether records of `rtype` are the signer's (a signed zone's file or dynamic
/// sources do not set them: the signer makes them).
pub fn is_signer_type(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM | Rtype::DNSKEY
    ) || matches!(rtype.0, 59 | 60)
}

/// A signed zone's signing state.
#[derive(Debug)]
pub struct Stage {
    /// The policy.
    pub policy: Policy,
    /// The zone's keys, as stored.
    pub keys: Vec<StoredKey>,
    /// What signs now.
    pub key_set: KeySet,
    /// When the next signature is due for refresh (seconds since the epoch); 0: not
    /// known yet (computed at the next commit).
    pub next_refresh: u64,
}

impl Stage {
    /// The stage of zone `apex` under `policy`, its keys read from the state folder and
    /// made when missing (each new key logged by tag, never its material).
    pub fn open(state_dir: &Path, apex: &Name, policy: Policy) -> Result<Self, StoreError> {
        let (keys, made) = store::ensure(state_dir, apex, &policy)?;
        for key in &made {
            tracing::info!(
                zone = %apex,
                tag = key.tag,
                algorithm = %key.pair.algorithm(),
                role = key.role(policy.scheme),
                file = %key.path.display(),
                "generated a DNSSEC key"
            );
        }
        let key_set = store::key_set(&keys, &policy);
        Ok(Self {
            policy,
            keys,
            key_set,
            next_refresh: 0,
        })
    }

    fn ctx(&self, now: u64) -> Context<'_> {
        Context {
            policy: &self.policy,
            keys: &self.key_set,
            now,
        }
    }

    /// Signs `zone` whole (a first version).
    pub fn sign_whole(&mut self, zone: &Zone, now: u64) -> Result<Zone, SignError> {
        let signed = signer::sign_full(zone, self.ctx(now))?;
        self.next_refresh = 0;
        self.note_refresh(&signed, now)?;
        Ok(signed)
    }

    /// Signs what `diff` changed in `zone` (the version it led to), and refreshes the
    /// signatures due: the signed version and what signing changed.
    pub fn sign(&mut self, zone: &Zone, diff: &ZoneDiff, now: u64) -> Result<Signed, SignError> {
        let full = signer::needs_full(zone, self.ctx(now));
        let mut signed = signer::sign_diff(zone, diff, self.ctx(now))?;
        if full {
            self.next_refresh = 0;
        }
        if self.next_refresh == 0 || now >= self.next_refresh {
            let (refresh, next) = signer::refresh(&signed.zone, self.ctx(now))?;
            if !refresh.is_empty() {
                let applied = txn::apply(&signed.zone, &refresh)?;
                signed.diff = signed.diff.then(applied.diff);
                signed.zone = applied.zone;
            }
            self.next_refresh = next.unwrap_or(now + 3600);
        }
        Ok(signed)
    }

    /// When the served version `zone` next needs the signer: now when it is not
    /// signed as the policy and keys say (a restart after a key or policy change),
    /// else when its first signature is due for refresh.
    pub fn due(&mut self, zone: &Zone, now: u64) -> u64 {
        if self.next_refresh == 0 {
            if signer::needs_full(zone, self.ctx(now)) {
                return now;
            }
            if self.note_refresh(zone, now).is_err() {
                return now;
            }
        }
        self.next_refresh
    }

    /// Computes the next refresh time of a freshly signed version.
    fn note_refresh(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        let (_, next) = signer::refresh(zone, self.ctx(now))?;
        self.next_refresh = next.unwrap_or(now + 3600);
        Ok(())
    }
}

/// Starts the refresh timer: every `period`, each signed zone whose refresh is due
/// gets a version with its signatures refreshed (an empty change from
/// [`SIGNER_SOURCE`]), so that a zone that never changes stays validly signed.
pub fn spawn_refresh_timer(
    manager: std::sync::Arc<crate::manager::Manager>,
    clock: crate::manager::Clock,
    period: std::time::Duration,
) {
    let spawned = std::thread::Builder::new()
        .name("dnssec-refresh".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                let now = clock();
                for zone in manager.zones() {
                    let Some(due) = zone.signature_refresh_due(now) else {
                        continue;
                    };
                    if due > now {
                        continue;
                    }
                    match zone.refresh_signatures() {
                        Ok(serial) => tracing::info!(
                            zone = %zone.apex(),
                            serial,
                            "dnssec: signatures refreshed"
                        ),
                        Err(e) => tracing::error!(
                            zone = %zone.apex(),
                            "dnssec: signatures not refreshed: {e}; the zone keeps its last signed version"
                        ),
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("dnssec: cannot start the signature refresh timer: {e}");
    }
}
