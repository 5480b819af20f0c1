//! The catalog zone tasks (RFC 9432): the producer keeps the catalog this server
//! publishes (`[xfr] catalog`) listing the zones it serves; the consumer turns each
//! consumed catalog (`[zone."NAME"] catalog = true`) into member secondary zones.
//!
//! ```text
//!  producer: zone set swapped ─► zones served (catalogs aside), each with its
//!            `catalog-group` ─► catalog::changes
//!            ─► submit("catalog") ─► journal, served, IXFR out, NOTIFY out
//!  consumer: consumed catalog's new serial ─► catalog::read ─► catalog::plan
//!            ─► members: XfrSettings::members (the primaries, keys and lists of
//!               the member's `[catalog-group]`, else the catalog's)
//!               add: Secondaries::spawn   remove / reset: stop (state deleted)
//! ```
//!
//! The producer's catalog is a zone with no file (SOA and `NS invalid.` from
//! `manager::dynamic_zone`, §4.1), committed as any zone is, so its transfers and
//! NOTIFYs are those of every zone. The consumer's members are persisted through the
//! catalog itself: after a restart the catalog is served from the state folder, read
//! again, and its members start from their own state, without any primary.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::access::{Membership, XfrSettings};
use super::catalog::{self, Member};
use super::secondary::Secondaries;
use crate::manager::dynamic_zone::{ApexSettings, open_dynamic};
use crate::manager::{Manager, ZoneOptions};
use crate::wire::name::Name;

/// The source the producer commits as.
pub const SOURCE: &str = "catalog";

//------------ Producer -------------------------------------------------------

/// Keeps the catalog `catalog` listing every zone served but catalogs, until
/// `shutdown`, or until `stop` turns true (it left the configuration: the catalog is
/// no longer served; its state stays, so serials go on if it comes back).
pub fn start_producer(
    manager: Arc<Manager>,
    shared: Arc<ArcSwap<XfrSettings>>,
    catalog: Name,
    options: ZoneOptions,
    (mut shutdown, mut stop): (watch::Receiver<bool>, watch::Receiver<bool>),
) {
    let mut swaps = manager.publisher().subscribe();
    tokio::spawn(async move {
        let apex = ApexSettings {
            ns: vec![Name::from_text("invalid.", None).unwrap_or_else(|_| Name::root())],
            hostmaster: Name::from_text("invalid.", None).unwrap_or_else(|_| Name::root()),
            ttl: 0,
            options,
        };
        let opened = {
            let (manager, catalog) = (manager.clone(), catalog.clone());
            tokio::task::spawn_blocking(move || open_dynamic(&manager, &catalog, &apex)).await
        };
        let handle = match opened {
            Ok(Ok((handle, _))) => handle,
            Ok(Err(e)) => {
                tracing::error!(zone = %catalog, "catalog zone not produced: {e}");
                return;
            }
            Err(e) => {
                tracing::error!(zone = %catalog, "catalog zone not produced: {e}");
                return;
            }
        };
        loop {
            let settings = shared.load_full();
            let consumed: BTreeSet<&Name> = settings.catalogs().collect();
            let members: catalog::Members = manager
                .zone_set()
                .load()
                .zones()
                .map(|z| z.apex().clone())
                .filter(|apex| *apex != catalog && !consumed.contains(apex))
                .map(|apex| {
                    let group = settings.zone(&apex.to_lowercase()).catalog_group.clone();
                    (apex, group)
                })
                .collect();
            if let Some(current) = handle.zone() {
                let txn = catalog::changes(&current, &members);
                if !txn.is_empty() {
                    let count = members.len();
                    let h = handle.clone();
                    match tokio::task::spawn_blocking(move || h.submit(SOURCE, txn)).await {
                        Ok(Ok(serial)) => {
                            tracing::info!(zone = %catalog, serial, members = count, "catalog zone updated")
                        }
                        Ok(Err(e)) => {
                            tracing::error!(zone = %catalog, "catalog zone not updated: {e}")
                        }
                        Err(e) => tracing::error!(zone = %catalog, "catalog zone not updated: {e}"),
                    }
                }
            }
            tokio::select! {
                changed = swaps.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
                _ = stop.wait_for(|stop| *stop) => {
                    manager.close(&catalog);
                    tracing::info!(zone = %catalog, "catalog zone no longer produced: [xfr] catalog changed");
                    return;
                }
            }
        }
    });
}

//------------ Consumer -------------------------------------------------------

/// A member started from a catalog.
struct Running {
    catalog: Name,
    id: Vec<u8>,
    stop: watch::Sender<bool>,
    /// Its secondary task; None while a zone file of the same name serves it (handed
    /// over: the file's zone manager is the member's, kept when it goes back).
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the member's task and deletes its state (it left the catalog, or is
    /// reset); a member its zone file serves is the file's: nothing to stop.
    async fn stop(self) {
        if let Some(task) = self.task {
            let _ = self.stop.send(true);
            let _ = task.await;
        }
    }
}

/// Starts the secondary task of `member` of `catalog`.
fn start_member(
    secondaries: &Secondaries,
    templates: &ArcSwap<BTreeMap<Name, ZoneOptions>>,
    catalog: &Name,
    member: &Name,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stop_rx) = watch::channel(false);
    let options = templates.load().get(catalog).cloned().unwrap_or_default();
    (stop, secondaries.spawn(member, options, Some(stop_rx)))
}

/// Follows every consumed catalog of `shared` (as configured now: a SIGHUP adds and
/// removes catalogs), starting and stopping its members through `secondaries` with
/// the zone options of their catalog in `templates`, until `shutdown`. The members of
/// a catalog no longer consumed are stopped. A member that `files` (the zones served
/// from zone files, as the configuration was last read) holds is handed over to its
/// file, its task stopped without touching its zone, and handed back when the file
/// leaves: the zone is served throughout.
pub fn start_consumer(
    shared: Arc<ArcSwap<XfrSettings>>,
    secondaries: Arc<Secondaries>,
    templates: Arc<ArcSwap<BTreeMap<Name, ZoneOptions>>>,
    mut files: watch::Receiver<BTreeSet<Name>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let manager = secondaries.manager().clone();
    let mut swaps = manager.publisher().subscribe();
    tokio::spawn(async move {
        let mut running: BTreeMap<Name, Running> = BTreeMap::new();
        let mut seen: BTreeMap<Name, u32> = BTreeMap::new();
        let mut listed: BTreeMap<Name, BTreeMap<Name, Member>> = BTreeMap::new();
        loop {
            let settings = shared.load_full();
            let set = manager.zone_set().load_full();
            // Catalogs no longer consumed: their members go.
            let consumed: BTreeSet<&Name> = settings.catalogs().collect();
            let orphans: Vec<Name> = running
                .iter()
                .filter(|(_, r)| !consumed.contains(&r.catalog))
                .map(|(m, _)| m.clone())
                .collect();
            let file_zones = files.borrow_and_update().clone();
            for (member, r) in running.iter_mut() {
                let filed = file_zones.contains(&member.to_lowercase());
                match (&r.task, filed) {
                    (Some(task), true) => {
                        // Its file's reload, which follows, loads into the same zone
                        // manager; a transfer still committing is refused there.
                        task.abort();
                        secondaries.forget(member);
                        r.task = None;
                        tracing::info!(zone = %r.catalog, member = %member, "member zone is now served from its zone file: handed over");
                    }
                    (None, false) => {
                        let (stop, task) =
                            start_member(&secondaries, &templates, &r.catalog, member);
                        (r.stop, r.task) = (stop, Some(task));
                        tracing::info!(zone = %r.catalog, member = %member, "member zone's file is gone: handed back to the catalog's primaries");
                    }
                    _ => {}
                }
            }
            for member in orphans {
                if let Some(r) = running.remove(&member) {
                    let catalog = r.catalog.clone();
                    r.stop().await;
                    shared.rcu(|s| {
                        let mut s = (**s).clone();
                        s.members.remove(&member);
                        s
                    });
                    tracing::info!(zone = %catalog, member = %member, "member zone no longer served: its catalog is no longer consumed");
                }
            }
            seen.retain(|c, _| consumed.contains(c));
            listed.retain(|c, _| consumed.contains(c));
            // A catalog to read again at once: it lists a member that another catalog
            // hands over to it (`coo`) only since it was read.
            let mut again = false;
            for catalog in settings.catalogs() {
                let Some(zone) = set.get(catalog) else {
                    continue;
                };
                let Some(serial) = zone.serial() else {
                    continue;
                };
                // An expired catalog keeps its members as they were (they expire by
                // themselves); each serial is read once.
                if zone.is_expired() || seen.get(catalog) == Some(&serial) {
                    continue;
                }
                seen.insert(catalog.clone(), serial);
                let members = match catalog::read(zone) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(zone = %catalog, serial, "{e}");
                        continue;
                    }
                };
                let owned: BTreeMap<Name, (Name, Vec<u8>)> = running
                    .iter()
                    .map(|(m, r)| (m.clone(), (r.catalog.clone(), r.id.clone())))
                    .collect();
                let coo_of = |owner: &Name, member: &Name| {
                    listed
                        .get(owner)
                        .and_then(|l| l.get(member))
                        .and_then(|m| m.coo.clone())
                };
                let plan = catalog::plan(catalog, &members, &owned, &coo_of);
                // §5.5: the new owner may have listed the member before this catalog
                // named it with `coo`: it takes the member over now.
                for (member, entry) in &members {
                    if let Some(target) = &entry.coo
                        && target != catalog
                        && owned.get(member).is_some_and(|(owner, _)| owner == catalog)
                        && listed.get(target).is_some_and(|l| l.contains_key(member))
                        && seen.remove(target).is_some()
                    {
                        again = true;
                    }
                }
                for member in &plan.refused {
                    tracing::warn!(zone = %catalog, member = %member, "member belongs to another catalog, which does not hand it over (coo); ignored (RFC 9432 §5.4)");
                }
                for member in plan.remove.iter().chain(&plan.reset) {
                    if let Some(r) = running.remove(member) {
                        r.stop().await;
                        shared.rcu(|s| {
                            let mut s = (**s).clone();
                            s.members.remove(member);
                            s
                        });
                        let why = if plan.reset.contains(member) {
                            "reset (RFC 9432 §5.6): its data dropped, transferred again"
                        } else {
                            "left the catalog: no longer served"
                        };
                        tracing::info!(zone = %catalog, member = %member, "member zone {why}");
                    }
                }
                for member in plan.add.iter().chain(&plan.reset) {
                    let Some(entry) = members.get(member) else {
                        continue;
                    };
                    shared.rcu(|s| {
                        let mut s = (**s).clone();
                        s.members.insert(
                            member.clone(),
                            Membership {
                                catalog: catalog.clone(),
                                groups: entry.groups.clone(),
                            },
                        );
                        s
                    });
                    let (stop, task) = if file_zones.contains(&member.to_lowercase()) {
                        tracing::info!(zone = %catalog, member = %member, "member zone added from the catalog; served from its zone file meanwhile");
                        (watch::channel(false).0, None)
                    } else {
                        tracing::info!(zone = %catalog, member = %member, groups = ?entry.groups, "member zone added from the catalog");
                        let (stop, task) = start_member(&secondaries, &templates, catalog, member);
                        (stop, Some(task))
                    };
                    running.insert(
                        member.clone(),
                        Running {
                            catalog: catalog.clone(),
                            id: entry.id.clone(),
                            stop,
                            task,
                        },
                    );
                }
                // A member whose groups changed takes its new group's settings from
                // its next step (`XfrSettings::zone`).
                for (member, entry) in &members {
                    let ours = running.get(member).is_some_and(|r| r.catalog == *catalog);
                    let known = shared.load().members.get(member).map(|m| m.groups.clone());
                    if ours && known.is_some_and(|g| g != entry.groups) {
                        shared.rcu(|s| {
                            let mut s = (**s).clone();
                            if let Some(m) = s.members.get_mut(member) {
                                m.groups = entry.groups.clone();
                            }
                            s
                        });
                        tracing::info!(zone = %catalog, member = %member, groups = ?entry.groups, "member zone's groups changed");
                    }
                }
                listed.insert(catalog.clone(), members);
            }
            if again {
                continue;
            }
            tokio::select! {
                changed = swaps.changed() => if changed.is_err() { return },
                changed = files.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    });
}
