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

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::policy::Policy;
use super::sign::KeySet;
use super::signer::{self, Context, SignError, Signed};
use super::status::{KeyStatus, key_statuses};
use super::store::{self, StoreError, StoredKey};
use super::timeline::{self, Env, TimelineKey};
use super::withdraw::{self, Withdrawal};
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

/// The largest TTL of the zone's RRsets (RFC 7583's TTLsig).
pub fn max_ttl(zone: &Zone) -> u32 {
    zone.nodes()
        .flat_map(|n| n.rrsets().map(|r| r.ttl).collect::<Vec<_>>())
        .max()
        .unwrap_or(0)
}

/// A signed zone's signing state.
#[derive(Debug)]
pub struct Stage {
    /// The policy.
    pub policy: Policy,
    /// The zone's keys, as stored (with their timelines).
    pub keys: Vec<StoredKey>,
    /// What signs now.
    pub key_set: KeySet,
    /// When the next signature is due for refresh (seconds since the epoch); 0: not
    /// known yet (computed at the next commit).
    pub next_refresh: u64,
    /// When the key timeline next moves by itself; 0: at the next commit.
    next_key_event: u64,
    /// When the parent's DS was last asked for.
    last_ds_check: u64,
    apex: Name,
    state_dir: PathBuf,
    /// The keys folder's modification time when the keys were read.
    keys_mtime: Option<SystemTime>,
    /// Signing is turned off and the zone is going insecure (`withdraw`): where it
    /// stands (`started` 0: not yet).
    withdrawal: Option<Withdrawal>,
    /// The withdrawal is over: the zone is unsigned, the stage has nothing to do.
    finished: bool,
}

/// The parent's DS to look for: what a key-signing key rollover waits for.
#[derive(Debug, Clone)]
pub struct DsCheck {
    /// The zone.
    pub apex: Name,
    /// The keys waited for: tag and DS RDATA (SHA-256).
    pub wanted: Vec<(u16, Vec<u8>)>,
    /// Where to ask.
    pub servers: Vec<std::net::SocketAddr>,
    /// Whether the zone is going insecure: the check is that the parent publishes no
    /// DS at all (`wanted` is empty).
    pub gone: bool,
}

impl Stage {
    /// The stage of zone `apex` under `policy`, its keys read from the state folder
    /// (the keys it lacks are made at the first signing, each logged by tag, never its
    /// material).
    pub fn open(state_dir: &Path, apex: &Name, policy: Policy) -> Result<Self, StoreError> {
        let keys_mtime = keys_mtime(state_dir, apex);
        let keys = store::load(state_dir, apex)?;
        Ok(Self {
            policy,
            keys,
            key_set: KeySet::default(),
            next_refresh: 0,
            next_key_event: 0,
            last_ds_check: 0,
            apex: apex.clone(),
            state_dir: state_dir.to_path_buf(),
            keys_mtime,
            withdrawal: None,
            finished: false,
        })
    }

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
        stage.withdrawal = Some(withdraw::load(state_dir, apex)?.unwrap_or_default());
        Ok(stage)
    }

    /// Whether the stage is done: the zone went insecure and is unsigned.
    pub fn finished(&self) -> bool {
        self.finished
    }

    fn ctx(&self, now: u64) -> Context<'_> {
        Context {
            policy: &self.policy,
            keys: &self.key_set,
            now,
        }
    }

    /// The timeline's view of the zone.
    fn env<'a>(&'a self, zone: &'a Zone, max: &'a dyn Fn() -> u32) -> Env<'a> {
        Env {
            policy: &self.policy,
            dnskey_ttl: signer::dnskey_ttl(zone, &self.policy),
            max_ttl: max,
        }
    }

    /// Moves the key timeline to `now` when it is due (keys made, rollovers started
    /// and advanced, each step logged with the time of the next), and sets the key
    /// set of the moment.
    pub fn advance(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        self.reload_if_changed();
        if self.next_key_event != 0 && now < self.next_key_event {
            return Ok(());
        }
        if self.withdrawal.is_some() {
            return self.advance_withdrawal(zone, now);
        }
        let max = || max_ttl(zone);
        let mut line: Vec<TimelineKey> = self.keys.iter().map(StoredKey::timeline).collect();
        // A key without a timeline (made by an older dnsd, or imported by hand) has
        // been published since before; its lifetime counts from now.
        for t in line.iter_mut() {
            if t.times.active == 0 && t.times.retire.is_none() && t.times.remove.is_none() {
                t.times.active = now;
            }
        }
        let mut made: Vec<StoredKey> = Vec::new();
        let (state_dir, apex, algorithm) = (&self.state_dir, &self.apex, self.policy.algorithm);
        let step = {
            let env = self.env(zone, &max);
            timeline::step(&mut line, &env, now, &mut |sep, times| {
                let key = store::generate(state_dir, apex, algorithm, sep, times)?;
                let t = key.timeline();
                made.push(key);
                Ok::<_, StoreError>(t)
            })
            .map_err(|e| SignError::Store(e.to_string()))?
        };
        self.keys.extend(made);
        for (key, t) in self.keys.iter_mut().zip(&line) {
            if key.times != t.times {
                key.times = t.times;
                store::save_times(key).map_err(|e| SignError::Store(e.to_string()))?;
            }
        }
        let env = self.env(zone, &max);
        let next = timeline::next_event(&line, &env, now);
        let next_text = next.map_or("none".into(), time_text);
        for entry in &step.log {
            tracing::info!(zone = %self.apex, next_key_step = %next_text, "dnssec: {entry}");
        }
        self.key_set = store::key_set(&self.apex, &self.keys, &env, now);
        self.next_key_event = next.unwrap_or(u64::MAX);
        if step.changed {
            self.keys_mtime = keys_mtime(&self.state_dir, &self.apex);
        }
        Ok(())
    }

    /// The key set while going insecure: no timeline step (no key made, no rollover
    /// started), the delete form in CDS and CDNSKEY; the first time, the withdrawal's
    /// start is noted and logged.
    fn advance_withdrawal(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        let store_err = |e: StoreError| SignError::Store(e.to_string());
        let mut w = self.withdrawal.unwrap_or_default();
        if w.started == 0 {
            w.started = now;
            withdraw::save(&self.state_dir, &self.apex, &w).map_err(store_err)?;
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
        let mut set = store::key_set(&self.apex, &self.keys, &env, now);
        if self.policy.publish_cds {
            set.cds = vec![withdraw::CDS_DELETE.to_vec()];
            set.cdnskeys = vec![withdraw::CDNSKEY_DELETE.to_vec()];
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
    fn unsign(&mut self, zone: &Zone, now: u64) -> Result<Signed, SignError> {
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
        withdraw::save(&self.state_dir, &self.apex, &w).map_err(store_err)?;
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
            withdraw::save(&self.state_dir, &self.apex, w)?;
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

    /// Reads the keys again when `dnsd keys` changed the store (the folder's
    /// modification time moved); whether it did. A key that cannot be read leaves the
    /// keys as they were, loudly.
    fn reload_if_changed(&mut self) -> bool {
        let mtime = keys_mtime(&self.state_dir, &self.apex);
        if mtime == self.keys_mtime {
            return false;
        }
        if self.withdrawal.is_some()
            && let Ok(Some(w)) = withdraw::load(&self.state_dir, &self.apex)
        {
            self.withdrawal = Some(w);
        }
        match store::load(&self.state_dir, &self.apex) {
            Ok(keys) => {
                self.keys = keys;
                self.next_key_event = 0;
                self.keys_mtime = mtime;
                true
            }
            Err(e) => {
                tracing::error!(zone = %self.apex, "dnssec: {e}; signing goes on with the keys read before");
                self.keys_mtime = mtime;
                false
            }
        }
    }

    /// Signs `zone` whole (a first version).
    pub fn sign_whole(&mut self, zone: &Zone, now: u64) -> Result<Zone, SignError> {
        if self.skip_unsigned(zone) {
            return Ok(zone.clone());
        }
        self.advance(zone, now)?;
        if self.unsign_due(now) {
            return Ok(self.unsign(zone, now)?.zone);
        }
        let signed = signer::sign_full(zone, self.ctx(now))?;
        self.next_refresh = 0;
        self.note_refresh(&signed, now)?;
        Ok(signed)
    }

    /// Signs what `diff` changed in `zone` (the version it led to), and refreshes the
    /// signatures due: the signed version and what signing changed.
    pub fn sign(&mut self, zone: &Zone, diff: &ZoneDiff, now: u64) -> Result<Signed, SignError> {
        if self.skip_unsigned(zone) {
            return Ok(Signed {
                zone: zone.clone(),
                diff: ZoneDiff {
                    old_serial: diff.new_serial,
                    new_serial: diff.new_serial,
                    removed: Vec::new(),
                    added: Vec::new(),
                },
            });
        }
        self.advance(zone, now)?;
        if self.unsign_due(now) {
            return self.unsign(zone, now);
        }
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

    /// Whether the unsigning is due at `now`.
    fn unsign_due(&self, now: u64) -> bool {
        self.withdrawal
            .is_some_and(|w| w.unsign_due(&self.policy, now))
    }

    /// Whether there is nothing to sign: the withdrawal is over, or a withdrawal that
    /// never started finds the zone unsigned (keys made or imported, never used).
    fn skip_unsigned(&mut self, zone: &Zone) -> bool {
        if self
            .withdrawal
            .is_some_and(|w| w.started == 0 && zone.apex_node().rrset(Rtype::DNSKEY).is_none())
        {
            self.finished = true;
        }
        self.finished
    }

    /// When the served version `zone` next needs the signer: now when it is not
    /// signed as the policy and keys say (a restart after a key or policy change, a
    /// key changed by `dnsd keys`), else when its first signature is due for refresh
    /// or the key timeline moves.
    pub fn due(&mut self, zone: &Zone, now: u64) -> u64 {
        if self.reload_if_changed() {
            return now;
        }
        if self.next_key_event == 0 || self.key_set.zsks.is_empty() {
            return now;
        }
        if self.next_refresh == 0 {
            if signer::needs_full(zone, self.ctx(now)) {
                return now;
            }
            if self.note_refresh(zone, now).is_err() {
                return now;
            }
        }
        self.next_refresh.min(self.next_key_event)
    }

    /// The parent's DS to look for now, if a rollover waits for it and the policy
    /// names where to ask (at most every `ds-check-interval`).
    pub fn ds_check(&mut self, zone: &Zone, now: u64) -> Option<DsCheck> {
        if self.policy.parent_resolvers.is_empty()
            || now < self.last_ds_check + u64::from(self.policy.ds_check_interval)
        {
            return None;
        }
        if let Some(w) = self.withdrawal {
            if w.started == 0 || w.ds_gone.is_some() || self.finished {
                return None;
            }
            self.last_ds_check = now;
            return Some(DsCheck {
                apex: self.apex.clone(),
                wanted: Vec::new(),
                servers: self.policy.parent_resolvers.clone(),
                gone: true,
            });
        }
        let max = || max_ttl(zone);
        let env = self.env(zone, &max);
        let line: Vec<TimelineKey> = self.keys.iter().map(StoredKey::timeline).collect();
        let waiting = timeline::awaiting_ds(&line, now, &env);
        if waiting.is_empty() {
            return None;
        }
        self.last_ds_check = now;
        let owner = self.apex.to_lowercase();
        Some(DsCheck {
            apex: self.apex.clone(),
            wanted: waiting
                .into_iter()
                .map(|i| {
                    let k = &self.keys[i];
                    (k.tag, super::keys::ds_rdata(owner.as_wire(), &k.dnskey()))
                })
                .collect(),
            servers: self.policy.parent_resolvers.clone(),
            gone: false,
        })
    }

    /// Notes that the parent publishes the DS of the keys `tags` (seen at `now`).
    pub fn ds_seen(&mut self, tags: &[u16], now: u64) -> Result<(), StoreError> {
        for key in self.keys.iter_mut().filter(|k| tags.contains(&k.tag)) {
            if key.times.ds_seen.is_none() {
                key.times.ds_seen = Some(now);
                store::save_times(key)?;
                tracing::info!(zone = %self.apex, tag = key.tag, "dnssec: the parent publishes the DS of key {}", key.tag);
            }
        }
        self.next_key_event = 0;
        self.keys_mtime = keys_mtime(&self.state_dir, &self.apex);
        Ok(())
    }

    /// Each key's state at `now`: role, algorithm, tag, state, and the next step with
    /// its time (`dnsd ctl status`, the metrics).
    pub fn status(&self, zone: &Zone, now: u64) -> Vec<KeyStatus> {
        let max = || max_ttl(zone);
        let env = self.env(zone, &max);
        key_statuses(&self.keys, &env, now)
    }

    /// Computes the next refresh time of a freshly signed version.
    fn note_refresh(&mut self, zone: &Zone, now: u64) -> Result<(), SignError> {
        let (_, next) = signer::refresh(zone, self.ctx(now))?;
        self.next_refresh = next.unwrap_or(now + 3600);
        Ok(())
    }
}

/// The keys folder's modification time (a rename into it changes it).
fn keys_mtime(state_dir: &Path, apex: &Name) -> Option<SystemTime> {
    std::fs::metadata(store::zone_dir(state_dir, apex))
        .and_then(|m| m.modified())
        .ok()
}

/// A time as RFC 3339 (UTC), or "always" for 0 (a key older than its timeline).
pub fn time_text(t: u64) -> String {
    if t == 0 {
        return "always".into();
    }
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
                    // A rollover waiting for the parent's DS: ask it (off the writer).
                    if let Some(Some(check)) = zone.with_signer(|s, z| s.ds_check(z, now)) {
                        let noted = if check.gone {
                            // Going insecure: the parent's DS set is empty.
                            super::parent::gone(&check)
                                .then(|| zone.with_signer(|s, _| s.ds_gone(now)))
                                .flatten()
                        } else {
                            let seen = super::parent::seen(&check);
                            (!seen.is_empty())
                                .then(|| zone.with_signer(|s, _| s.ds_seen(&seen, now)))
                                .flatten()
                        };
                        if let Some(Err(e)) = noted {
                            tracing::error!(zone = %zone.apex(), "dnssec: {e}");
                        }
                    }
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
