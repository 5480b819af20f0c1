//! Going insecure when signing is turned off (`sign = false` for a zone dnsd signed):
//! the zone is not unsigned at once, which would make it bogus for every validator
//! that still holds the parent's DS. The sequence (RFC 8078 §4, RFC 6781 §4.3):
//!
//! 1. **Delete asked.** The keys stay and keep signing, no rollover starts, and the
//!    CDS and CDNSKEY RRsets become the delete form, `CDS 0 0 0 00` and `CDNSKEY 0 3 0
//!    AA==` (RFC 8078 §4 with erratum 5049: one zero octet of digest or key), signed
//!    like the DNSKEY RRset: the parent (or the registrar's CDS scanner) removes the
//!    DS.
//! 2. **DS gone.** dnsd asks `parent-resolvers` for the zone's DS every
//!    `ds-check-interval`; the DS is gone when every address answers NOERROR with no
//!    DS (an error or SERVFAIL proves nothing). Without `parent-resolvers`, the
//!    operator says so with `dnsd keys ds-gone ZONE`.
//! 3. **Unsigned.** `parent-ds-ttl + propagation-delay` after the DS was seen gone (no
//!    cache holds the DS any more), one version removes every DNSSEC record (DNSKEY,
//!    RRSIG, NSEC, NSEC3, NSEC3PARAM, CDS, CDNSKEY); the keys are marked removed.
//!
//! The signing stage's steps of the sequence are here too (`impl Stage`).
//!
//! The sequence's state is `STATE/keys/ZONE/withdraw.state` (`started`, `ds-gone`,
//! `unsigned`: seconds since the epoch). Turning signing on again deletes it: the keys
//! not yet removed sign on, and the CDS asks the parent for their DS again.

use std::path::{Path, PathBuf};

use super::policy::Policy;
use super::policy::time_text;
use super::signer::{SignError, Signed};
use super::stage::{Stage, is_signer_type, keys_mtime, max_ttl};
use super::store::StoredKey;
use super::store::{self, StoreError};
use super::timeline::{self, TimelineKey};
use crate::wire::name::Name;
use crate::zone::txn;
use crate::zone::{Rtype, Zone};

/// RFC 8078 §4: the CDS RDATA asking the parent to delete the DS RRset (key tag 0,
/// algorithm 0, digest type 0, one zero octet).
pub const CDS_DELETE: [u8; 5] = [0, 0, 0, 0, 0];
/// RFC 8078 §4: the CDNSKEY RDATA asking the same (flags 0, protocol 3, algorithm 0,
/// one zero octet).
pub const CDNSKEY_DELETE: [u8; 5] = [0, 0, 3, 0, 0];

/// Where a withdrawal stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Withdrawal {
    /// When the delete form was first published.
    pub started: u64,
    /// When the parent was seen to publish no DS any more.
    pub ds_gone: Option<u64>,
    /// When the zone was unsigned.
    pub unsigned: Option<u64>,
}

impl Withdrawal {
    /// When the zone may be unsigned: once the DS the parent published has left every
    /// cache (`parent-ds-ttl + propagation-delay` after it was seen gone).
    pub fn unsign_at(&self, policy: &Policy) -> Option<u64> {
        self.ds_gone.map(|gone| {
            gone + u64::from(policy.parent_ds_ttl) + u64::from(policy.propagation_delay)
        })
    }

    /// Whether the zone is to be unsigned at `now`.
    pub fn unsign_due(&self, policy: &Policy, now: u64) -> bool {
        self.unsigned.is_none() && self.unsign_at(policy).is_some_and(|t| t <= now)
    }
}

/// The state file of zone `apex`'s withdrawal.
pub fn path(state_dir: &Path, apex: &Name) -> PathBuf {
    store::zone_dir(state_dir, apex).join("withdraw.state")
}

/// The zone's withdrawal, if one was started.
pub fn load(state_dir: &Path, apex: &Name) -> Result<Option<Withdrawal>, StoreError> {
    let path = path(state_dir, apex);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Io {
                path,
                message: e.to_string(),
            });
        }
    };
    let mut w = Withdrawal::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || StoreError::Bad {
            path: path.clone(),
            message: format!("line {}: expected NAME: SECONDS", n + 1),
        };
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let value: u64 = value.trim().parse().map_err(|_| bad())?;
        match name.trim() {
            "started" => w.started = value,
            "ds-gone" => w.ds_gone = Some(value),
            "unsigned" => w.unsigned = Some(value),
            _ => return Err(bad()),
        }
    }
    Ok(Some(w))
}

/// Writes the zone's withdrawal (a temporary file renamed into place).
pub fn save(state_dir: &Path, apex: &Name, w: &Withdrawal) -> Result<(), StoreError> {
    let path = path(state_dir, apex);
    let mut text = format!("started: {}\n", w.started);
    if let Some(t) = w.ds_gone {
        text.push_str(&format!("ds-gone: {t}\n"));
    }
    if let Some(t) = w.unsigned {
        text.push_str(&format!("unsigned: {t}\n"));
    }
    let tmp = path.with_extension("state.tmp");
    let io = |e: std::io::Error| StoreError::Io {
        path: path.clone(),
        message: e.to_string(),
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Forgets the zone's withdrawal (signing is on again).
pub fn forget(state_dir: &Path, apex: &Name) {
    let path = path(state_dir, apex);
    if path.exists()
        && let Err(e) = std::fs::remove_file(&path)
    {
        tracing::error!(zone = %apex, "{}: {e}", path.display());
    }
}

/// Whether zone `apex`, not signed by the configuration, still has to be withdrawn:
/// it has keys dnsd signed with that are not removed, and no withdrawal finished.
pub fn pending(state_dir: &Path, apex: &Name) -> bool {
    if matches!(load(state_dir, apex), Ok(Some(w)) if w.unsigned.is_some()) {
        return false;
    }
    store::load(state_dir, apex).is_ok_and(|keys| keys.iter().any(|k| k.times.remove.is_none()))
}

impl Stage {
    /// The stage of zone `apex` whose signing is turned off while dnsd's keys still
    /// sign it (`withdraw`): the keys sign on as they are, under `policy` (the values
    /// the configuration gives with `sign = false`) with the keys' own algorithm and
    /// scheme, and the CDS and CDNSKEY ask the parent to delete the DS.
    pub fn open_withdrawal(
        state_dir: &Path,
        apex: &Name,
        mut policy: Policy,
    ) -> Result<Self, StoreError> {
        let mut stage = Self::open(state_dir, apex, policy.clone())?;
        let live: Vec<&StoredKey> = stage
            .keys
            .iter()
            .filter(|k| k.times.remove.is_none())
            .collect();
        if let Some(newest) = live
            .iter()
            .filter(|k| k.timeline().sep)
            .max_by_key(|k| k.times.publish)
        {
            policy.algorithm = newest.pair.algorithm();
        }
        policy.scheme = if live.iter().any(|k| !k.timeline().sep) {
            super::policy::KeyScheme::KskZsk
        } else {
            super::policy::KeyScheme::Csk
        };
        stage.policy = policy;
        stage.withdrawal = Some(load(state_dir, apex)?.unwrap_or_default());
        Ok(stage)
    }

    /// The key set while going insecure: no timeline step (no key made, no rollover
    /// started), the delete form in CDS and CDNSKEY; the first time, the withdrawal's
    /// start is noted and logged.
    pub(super) fn advance_withdrawal(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        let store_err = |e: StoreError| SignError::Store(e.to_string());
        let mut w = self.withdrawal.unwrap_or_default();
        if w.started == 0 {
            w.started = now;
            save(&self.state_dir, &self.apex, &w).map_err(store_err)?;
            self.keys_mtime = keys_mtime(&self.state_dir, &self.apex);
            let how = if self.policy.parent_resolvers.is_empty() {
                "`dnsd keys ds-gone` tells dnsd"
            } else {
                "dnsd asks parent-resolvers"
            };
            tracing::info!(
                zone = %self.apex,
                "dnssec: signing turned off: CDS and CDNSKEY ask the parent to delete the DS (RFC 8078); the zone stays signed until the DS is gone ({how}) and parent-ds-ttl + propagation-delay have passed"
            );
        }
        self.withdrawal = Some(w);
        let max = || max_ttl(zone);
        let env = self.env(zone, &max);
        let line: Vec<TimelineKey> = self.keys.iter().map(StoredKey::timeline).collect();
        let mut set = super::keyset::key_set(&self.apex, &self.keys, &env, now);
        if self.policy.publish_cds {
            set.cds = vec![CDS_DELETE.to_vec()];
            set.cdnskeys = vec![CDNSKEY_DELETE.to_vec()];
        }
        let next = [
            timeline::next_event(&line, &env, now),
            w.unsign_at(&self.policy).filter(|&t| t > now),
        ];
        self.key_set = set;
        self.next_key_event = next.into_iter().flatten().min().unwrap_or(u64::MAX);
        Ok(())
    }

    /// The version without any DNSSEC record (the withdrawal's last step); the keys
    /// are marked removed.
    pub(super) fn unsign(&mut self, zone: &Zone, now: u64) -> Result<Signed, SignError> {
        let store_err = |e: StoreError| SignError::Store(e.to_string());
        let mut txn = txn::Transaction::new();
        for node in zone.nodes() {
            if super::nsec3::is_nsec3_node(&node) {
                txn.push(txn::Change::RemoveName {
                    owner: node.owner_name(),
                });
                continue;
            }
            let mut types: Vec<Rtype> = node
                .rrsets()
                .map(|r| r.rtype)
                .filter(|&t| is_signer_type(t))
                .collect();
            types.dedup();
            for rtype in types {
                txn.push(txn::Change::RemoveRrset {
                    owner: node.owner_name(),
                    rtype,
                });
            }
        }
        let applied = txn::apply(zone, &txn)?;
        for key in self.keys.iter_mut() {
            if key.times.remove.is_none_or(|r| r > now) {
                key.times.retire = Some(key.times.retire.map_or(now, |r| r.min(now)));
                key.times.remove = Some(now);
                store::save_times(key).map_err(store_err)?;
            }
        }
        let mut w = self.withdrawal.unwrap_or_default();
        w.unsigned = Some(now);
        save(&self.state_dir, &self.apex, &w).map_err(store_err)?;
        self.withdrawal = Some(w);
        self.finished = true;
        tracing::info!(
            zone = %self.apex,
            "dnssec: the parent's DS is gone from every cache: the zone is served unsigned"
        );
        Ok(Signed {
            zone: applied.zone,
            diff: applied.diff,
        })
    }

    /// Notes that the parent publishes no DS for the zone any more (seen at `now`).
    pub fn ds_gone(&mut self, now: u64) -> Result<(), StoreError> {
        let Some(w) = self.withdrawal.as_mut() else {
            return Ok(());
        };
        if w.ds_gone.is_none() {
            w.ds_gone = Some(now);
            save(&self.state_dir, &self.apex, w)?;
            let at = w.unsign_at(&self.policy).unwrap_or(now);
            tracing::info!(
                zone = %self.apex,
                next_key_step = %time_text(at),
                "dnssec: the parent publishes no DS any more; the zone is unsigned in {} (parent-ds-ttl + propagation-delay)",
                super::policy::duration_text(at.saturating_sub(now))
            );
        }
        self.next_key_event = 0;
        self.keys_mtime = keys_mtime(&self.state_dir, &self.apex);
        Ok(())
    }

    /// Whether the unsigning is due at `now`.
    pub(super) fn unsign_due(&self, now: u64) -> bool {
        self.withdrawal
            .is_some_and(|w| w.unsign_due(&self.policy, now))
    }

    /// Whether there is nothing to sign: the withdrawal is over, or a withdrawal that
    /// never started finds the zone unsigned (keys made or imported, never used).
    pub(super) fn skip_unsigned(&mut self, zone: &Zone) -> bool {
        if self
            .withdrawal
            .is_some_and(|w| w.started == 0 && zone.apex_node().rrset(Rtype::DNSKEY).is_none())
        {
            self.finished = true;
        }
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_is_unsigned_once_the_ds_has_left_the_caches() {
        let policy = Policy {
            parent_ds_ttl: 3600,
            propagation_delay: 600,
            ..Policy::default()
        };
        let mut w = Withdrawal {
            started: 1000,
            ..Withdrawal::default()
        };
        assert!(!w.unsign_due(&policy, 1_000_000));
        w.ds_gone = Some(2000);
        assert_eq!(w.unsign_at(&policy), Some(2000 + 3600 + 600));
        assert!(!w.unsign_due(&policy, 6199));
        assert!(w.unsign_due(&policy, 6200));
        w.unsigned = Some(6200);
        assert!(!w.unsign_due(&policy, 7000));
    }

    #[test]
    fn the_state_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let apex = Name::from_text("w.test.", None).unwrap();
        std::fs::create_dir_all(store::zone_dir(dir.path(), &apex)).unwrap();
        assert_eq!(load(dir.path(), &apex), Ok(None));
        let w = Withdrawal {
            started: 5,
            ds_gone: Some(7),
            unsigned: None,
        };
        save(dir.path(), &apex, &w).unwrap();
        assert_eq!(load(dir.path(), &apex), Ok(Some(w)));
        forget(dir.path(), &apex);
        assert_eq!(load(dir.path(), &apex), Ok(None));
    }
}
