//! The UPDATE service: requests the fronts defer (`front::deferred`) are queued for one
//! worker thread, which takes every request waiting, checks each against the zone as
//! the requests before it in the batch left it (prerequisites, prescan, policy,
//! ownership), commits what the batch changes in each zone as one transaction, and
//! only then — the journal entry durable, the version served — answers each client.
//! A burst of updates so becomes few versions, as Knot does it.
//!
//! Authentication: a signed update (TSIG, RFC 8945) is checked first (`crate::tsig`,
//! the same checks as transfers and NOTIFY): an unknown key, a wrong MAC or a time
//! outside the fudge get NOTAUTH with the TSIG error (§5.3.2); a good one
//! makes the key's name the identity whose grants (`policy`) must cover every record
//! of the update section (else REFUSED, checked before the prerequisites, as BIND
//! 9.18 does), and its response is signed. Unsigned updates are accepted from the
//! configured loopback prefixes only (tests, local scripts), with every right;
//! anything else unsigned is REFUSED.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};

use arc_swap::ArcSwap;

use super::SOURCE;
use super::message::{self, Update, read};
use super::policy::{Grant, allowed};
use super::process::{apply_updates, check_prerequisites, prescan};
use crate::front::deferred::DeferredQuery;
use crate::manager::{CommitError, Manager};
use crate::tsig::{Check, KeyRing, ResponseSigner, Signed, failure_response_with_zone, unix_now};
use crate::wire::message::rcode;
use crate::wire::name::Name;
use crate::zone::txn::{self, Change, Transaction};

/// Requests waiting beyond which new ones get SERVFAIL at once.
const QUEUE_MAX: usize = 4096;

/// `[update]`, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Clients whose unsigned updates are accepted (loopback prefixes).
    pub allow_unsigned: Vec<ipnet::IpNet>,
    /// The TSIG keys (`key-files`).
    pub keys: KeyRing,
    /// Grants for TSIG identities.
    pub grants: Vec<Grant>,
}

/// Who sent a request: the counters' label and, for a signed request, the key and
/// the request's MAC that sign the response.
struct Who {
    label: String,
    key: Option<Signed>,
}

impl Who {
    fn unsigned() -> Self {
        Self {
            label: "unsigned".into(),
            key: None,
        }
    }
}

/// Counters, by RCODE.
#[derive(Debug, Default)]
pub struct UpdateStats {
    by_rcode: Mutex<BTreeMap<(String, u16), u64>>,
    commits: AtomicU64,
    batches: AtomicU64,
}

impl UpdateStats {
    fn count(&self, identity: &str, rcode: u16) {
        *self
            .by_rcode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((identity.to_string(), rcode))
            .or_default() += 1;
    }
}

impl crate::metrics::Render for UpdateStats {
    /// `dnsd_update_requests_total{key,rcode}` (key "unsigned" for unsigned updates),
    /// `dnsd_update_commits_total` (versions made), `dnsd_update_batches_total`.
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# TYPE dnsd_update_requests_total counter");
        for ((key, rcode), n) in self
            .by_rcode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "dnsd_update_requests_total{{key=\"{}\",rcode=\"{}\"}} {n}",
                crate::metrics::escape_label(key),
                rcode_name(*rcode)
            );
        }
        for (name, v) in [
            ("commits_total", &self.commits),
            ("batches_total", &self.batches),
        ] {
            let _ = writeln!(
                out,
                "# TYPE dnsd_update_{name} counter\ndnsd_update_{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

impl crate::sources::status::SourceStatus for UpdateStats {
    /// `source update key=KEY RCODE=N ...` per key (`unsigned` for unsigned
    /// updates), then `source update requests=N commits=N batches=N`.
    fn status(&self, out: &mut Vec<String>) {
        let by_rcode = self
            .by_rcode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut keys: BTreeMap<&str, String> = BTreeMap::new();
        for ((key, rcode), n) in &by_rcode {
            let line = keys.entry(key).or_default();
            line.push_str(&format!(" {}={n}", rcode_name(*rcode)));
        }
        for (key, counts) in keys {
            out.push(format!("source update key={key}{counts}"));
        }
        out.push(format!(
            "source update requests={} commits={} batches={}",
            by_rcode.values().sum::<u64>(),
            self.commits.load(Relaxed),
            self.batches.load(Relaxed)
        ));
    }
}

fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "OTHER",
    }
}

/// The service (see the module documentation).
pub struct UpdateService {
    manager: Arc<Manager>,
    /// As configured now: a SIGHUP replaces them ([`UpdateService::reconfigure`]).
    settings: ArcSwap<Settings>,
    queue: Mutex<Vec<DeferredQuery>>,
    wake: Condvar,
    stats: Arc<UpdateStats>,
}

impl UpdateService {
    /// Starts the worker thread.
    pub fn start(manager: Arc<Manager>, settings: Settings) -> std::io::Result<Arc<Self>> {
        let service = Arc::new(Self {
            manager,
            settings: ArcSwap::from_pointee(settings),
            queue: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stats: Arc::new(UpdateStats::default()),
        });
        let worker = service.clone();
        std::thread::Builder::new()
            .name("dnsd-update".into())
            .spawn(move || worker.run())?;
        Ok(service)
    }

    /// Applies `[update]` as read again (a SIGHUP): requests from the next batch on
    /// are checked against it. Whether it changed.
    pub fn reconfigure(&self, settings: Settings) -> bool {
        let changed = **self.settings.load() != settings;
        self.settings.store(Arc::new(settings));
        changed
    }

    /// The counters.
    pub fn stats(&self) -> Arc<UpdateStats> {
        self.stats.clone()
    }

    /// Queues an UPDATE; false when the queue is full.
    pub fn defer(&self, query: DeferredQuery) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= QUEUE_MAX {
            return false;
        }
        queue.push(query);
        self.wake.notify_one();
        true
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                while queue.is_empty() {
                    queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
                std::mem::take(&mut *queue)
            };
            self.stats.batches.fetch_add(1, Relaxed);
            self.process(batch);
        }
    }

    /// Answers a batch of requests (see the module documentation).
    fn process(&self, batch: Vec<DeferredQuery>) {
        // Per zone: the requests whose changes wait for the commit.
        let mut zones: BTreeMap<Name, Vec<(DeferredQuery, Update, Who)>> = BTreeMap::new();
        for query in batch {
            let update = match read(&query.request) {
                Err(e) if e.id.is_none() => continue,
                Err(e) => {
                    self.answer(query, &Who::unsigned(), e.rcode);
                    continue;
                }
                Ok(update) => update,
            };
            let who = match self
                .settings
                .load()
                .keys
                .check_request(&query.request, unix_now())
            {
                Check::Unsigned => Who::unsigned(),
                Check::Verified(signed) => Who {
                    label: signed.key.name().to_string(),
                    key: Some(signed),
                },
                Check::Failed(failure) => {
                    tracing::info!(
                        client = %query.client,
                        key = %failure.key_text(),
                        "UPDATE not authenticated: TSIG {}",
                        failure.kind.name()
                    );
                    self.stats.count("bad-tsig", rcode::NOTAUTH);
                    let mut out = Vec::new();
                    failure_response_with_zone(&query.request, &failure, unix_now(), &mut out);
                    let _ = query.reply.send(out);
                    continue;
                }
            };
            if let Some(rc) = self.admit(&update, query.client, &who) {
                self.answer(query, &who, rc);
            } else {
                zones
                    .entry(update.zone.clone())
                    .or_default()
                    .push((query, update, who));
            }
        }
        for (apex, requests) in zones {
            self.process_zone(&apex, requests);
        }
    }

    /// The RCODE that ends a request before its zone is looked at, if any.
    fn admit(&self, update: &Update, client: SocketAddr, who: &Who) -> Option<u16> {
        if !message::is_in(update.zclass) || self.manager.zone(&update.zone).is_none() {
            // §3.1.1: not a zone served here.
            return Some(rcode::NOTAUTH);
        }
        if who.key.is_some() {
            // The grants are checked after the prerequisites (process_zone).
            return None;
        }
        let allowed = self
            .settings
            .load()
            .allow_unsigned
            .iter()
            .any(|net| net.contains(&client.ip()));
        (!allowed).then_some(rcode::REFUSED)
    }

    fn process_zone(&self, apex: &Name, requests: Vec<(DeferredQuery, Update, Who)>) {
        let Some(handle) = self.manager.zone(apex) else {
            for (q, _, who) in requests {
                self.answer(q, &who, rcode::NOTAUTH);
            }
            return;
        };
        let Some(base) = handle.zone() else {
            for (q, _, who) in requests {
                self.answer(q, &who, rcode::SERVFAIL);
            }
            return;
        };
        let ownership = handle.ownership();
        let mut working = (*base).clone();
        let mut combined = Transaction::new();
        let mut waiting = Vec::new();
        for (query, update, who) in requests {
            // §3.3: the identity's grants must cover every record of the update
            // section. BIND 9.18 checks them first, before the prerequisites: a key
            // without the right learns nothing about the zone from them.
            let permitted = |()| match &who.key {
                Some(Signed { key, .. })
                    if !allowed(
                        &self.settings.load().grants,
                        key.name(),
                        apex,
                        update.updates.iter().map(|rr| (&rr.owner, rr.rtype)),
                    ) =>
                {
                    tracing::info!(zone = %apex, key = %key.name(), "UPDATE refused: outside the key's grants");
                    Err(rcode::REFUSED)
                }
                _ => Ok(()),
            };
            let result = permitted(())
                .and_then(|()| check_prerequisites(&working, update.zclass, &update.prereqs))
                .and_then(|()| prescan(apex, update.zclass, &update.updates))
                .map(|()| apply_updates(&working, update.zclass, &update.updates));
            let txn = match result {
                Ok(txn) => txn,
                Err(rc) => {
                    self.answer(query, &who, rc);
                    continue;
                }
            };
            if txn.is_empty() {
                self.answer(query, &who, rcode::NOERROR);
                continue;
            }
            // The zone file's RRsets, and other sources', are not the update's to change.
            let foreign = txn.changes.iter().find_map(|c| {
                let (owner, rtype) = match c {
                    Change::Replace { owner, rtype, .. } | Change::RemoveRrset { owner, rtype } => {
                        (owner, *rtype)
                    }
                    _ => return None,
                };
                let exists = base
                    .node(owner.as_wire())
                    .is_some_and(|n| n.rrset(rtype).is_some());
                match ownership.owner_of(owner, rtype) {
                    Some(s) if &**s != SOURCE => Some(format!("{rtype} at {owner} belongs to {s}")),
                    None if exists => {
                        Some(format!("{rtype} at {owner} is defined by the zone file"))
                    }
                    _ => None,
                }
            });
            if let Some(why) = foreign {
                tracing::info!(zone = %apex, client = %query.client, "UPDATE refused: {why}");
                self.answer(query, &who, rcode::REFUSED);
                continue;
            }
            match txn::apply(&working, &txn) {
                Ok(applied) => {
                    working = applied.zone;
                    combined.changes.extend(txn.changes);
                    waiting.push((query, who));
                }
                Err(e) => {
                    tracing::info!(zone = %apex, client = %query.client, "UPDATE refused: {e}");
                    self.answer(query, &who, rcode::REFUSED);
                }
            }
        }
        if waiting.is_empty() {
            return;
        }
        let rc = match handle.submit(SOURCE, combined) {
            Ok(serial) => {
                self.stats.commits.fetch_add(1, Relaxed);
                tracing::debug!(zone = %apex, serial, updates = waiting.len(), "UPDATE committed");
                rcode::NOERROR
            }
            Err(
                e @ (CommitError::OwnedBy { .. }
                | CommitError::OwnedByFile { .. }
                | CommitError::Txn(_)),
            ) => {
                tracing::info!(zone = %apex, "UPDATE refused at commit: {e}");
                rcode::REFUSED
            }
            Err(e) => {
                tracing::error!(zone = %apex, "UPDATE not committed: {e}");
                rcode::SERVFAIL
            }
        };
        for (query, who) in waiting {
            self.answer(query, &who, rc);
        }
    }

    fn answer(&self, query: DeferredQuery, who: &Who, rc: u16) {
        self.stats.count(&who.label, rc);
        let mut response = message::response(&query.request, rc);
        if let Some(signed) = &who.key {
            ResponseSigner::new(signed).sign(&mut response, unix_now());
        }
        let _ = query.reply.send(response);
    }
}

/// The front's deferred sink: UPDATE requests to the service, the rest to the
/// resolver (if any).
pub struct Router {
    /// The resolver's sink.
    pub resolver: Option<crate::front::deferred::DeferSink>,
    /// The UPDATE service.
    pub update: Arc<UpdateService>,
}

fn is_update(request: &[u8]) -> bool {
    request.get(2).is_some_and(|b| (b >> 3) & 0xf == 5)
}

impl crate::front::deferred::Recursion for Router {
    fn answer_now(
        &self,
        request: &[u8],
        context: &crate::answer::RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<crate::answer::Outcome> {
        if is_update(request) {
            return None;
        }
        self.resolver.as_ref()?.answer_now(request, context, out)
    }

    fn defer(&self, query: DeferredQuery) -> bool {
        if is_update(&query.request) {
            return self.update.defer(query);
        }
        self.resolver.as_ref().is_some_and(|r| r.defer(query))
    }
}

impl Settings {
    /// Whether UPDATE is served at all.
    pub fn enabled(&self) -> bool {
        !self.allow_unsigned.is_empty() || !self.keys.is_empty()
    }
}
