//! The container source: every engine's containers in one state, turned into records
//! and committed to the zones, with what it did counted for the metrics.
//!
//! One task owns the state. It takes every report the engines sent since it last
//! looked (so a burst of 200 starts is one reconcile, and the zone manager's group
//! commit folds what arrives during a commit into the next), computes the records
//! wanted, and commits to each zone the difference from what the zone holds
//! (`sources::desired`). The zone file wins a name it defines: logged once when it
//! appears, counted (`dnsd_containers_conflicts_total`).
//!
//! # Bursts
//! A lone change is committed at once. But an engine starts containers one after the
//! other even when asked for 200 at once (`docker compose up`, a script running
//! `docker run` in parallel: about 2.4 a second on this machine, each its own change),
//! so the queue alone folds nothing. What shows a burst is several containers
//! starting at once: created and not yet running (counted by each engine, whether
//! already answered or not; one created and never started counts for
//! `starting::WAIT`). While more than one is, a change waits, at most [`FOLD_WAIT`]
//! from the first change waiting: a burst makes at most one version per zone per
//! [`FOLD_WAIT`] (plus one each time it thins to a single container starting), and no
//! record waits longer than that for it. A lone start (one container starting, this
//! one) is committed at once.
//!
//! Stops fold the same way: `docker compose down` signals every container at once,
//! and they go one by one, each inspect waiting for its container's stop to end
//! (~50 ms apart here: five versions for five containers). A container sent a signal
//! counts as leaving until it is gone (for at most `engine::LEAVE_WAIT`); while any
//! other is leaving, a change waits (at most [`FOLD_WAIT`]), so the last one gone
//! commits them all. A lone `docker stop` is committed at once.
//!
//! The state is written to `STATE/containers.json` after each change, so that a
//! dnsd restart while an engine is away keeps that engine's records (not flapping);
//! an engine that comes back is listed, and its list replaces what was remembered.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::SOURCE;
use super::engine::{EngineConfig, EngineEvent, OnTheirWay, follow};

/// The longest a change waits for the containers on their way (a burst).
pub const FOLD_WAIT: Duration = Duration::from_secs(2);
use super::records::{Container, RecordSettings, wanted};
use crate::manager::{CommitError, Manager, ZoneHandle};
use crate::sources::desired;
use crate::wire::name::Name;
use crate::zone::txn::Transaction;

/// What happens to an engine's records while it is away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineLoss {
    /// Kept until the engine is back and listed.
    #[default]
    Keep,
    /// Withdrawn once it has been away this long.
    Withdraw(Duration),
}

/// The `[containers]` table, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The engines followed.
    pub engines: Vec<EngineConfig>,
    /// How records are made.
    pub records: RecordSettings,
    /// An engine away.
    pub loss: EngineLoss,
}

//------------ ContainerStats ------------------------------------------------

/// What the source did, for `/metrics` (and status).
#[derive(Debug, Default)]
pub struct ContainerStats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default, Clone)]
struct StatsInner {
    engines: BTreeMap<String, EngineStats>,
    reconciles: u64,
    commits: u64,
    commit_errors: u64,
    conflicts_total: u64,
    conflicts: usize,
    duplicates: usize,
    records: usize,
    /// RRsets owned, by zone (zones where the source owns none left out).
    zones: BTreeMap<String, usize>,
    /// When the state was last compared with the zones (Unix time).
    last_reconcile: u64,
}

#[derive(Debug, Default, Clone)]
struct EngineStats {
    socket: String,
    up: bool,
    /// Since when it is connected, or away (Unix time).
    since: u64,
    last_error: Option<(u64, String)>,
    containers: usize,
    events: u64,
    last_event: u64,
    losses: u64,
}

impl ContainerStats {
    fn with<T>(&self, f: impl FnOnce(&mut StatsInner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The metrics (Prometheus text format):
    /// - `dnsd_containers_engine_up{engine}`: 1 while connected and listed;
    /// - `dnsd_containers_engine_containers{engine}`: running containers known (live
    ///   or remembered);
    /// - `dnsd_containers_engine_events_total{engine}`, `..._losses_total{engine}`,
    ///   `dnsd_containers_engine_last_event_seconds{engine}` (Unix time);
    /// - `dnsd_containers_reconciles_total` (state compared with the zones),
    ///   `dnsd_containers_commits_total` (versions made, one per zone changed),
    ///   `dnsd_containers_commit_errors_total`;
    /// - `dnsd_containers_records`: RRsets the source owns in the zones;
    /// - `dnsd_containers_conflicts` (names the zone file wins now) and
    ///   `dnsd_containers_conflicts_total` (each time one appeared);
    /// - `dnsd_containers_duplicate_names`: names claimed by several containers.
    pub fn render(&self, out: &mut String) {
        let s = self.with(|s| s.clone());
        for (metric, kind, get) in [
            (
                "engine_up",
                "gauge",
                (|e: &EngineStats| u64::from(e.up)) as fn(&EngineStats) -> u64,
            ),
            ("engine_containers", "gauge", |e| e.containers as u64),
            ("engine_events_total", "counter", |e| e.events),
            ("engine_losses_total", "counter", |e| e.losses),
            ("engine_last_event_seconds", "gauge", |e| e.last_event),
        ] {
            let _ = writeln!(out, "# TYPE dnsd_containers_{metric} {kind}");
            for (name, e) in &s.engines {
                let _ = writeln!(
                    out,
                    "dnsd_containers_{metric}{{engine=\"{}\"}} {}",
                    crate::metrics::escape_label(name),
                    get(e)
                );
            }
        }
        for (metric, kind, value) in [
            ("reconciles_total", "counter", s.reconciles),
            ("commits_total", "counter", s.commits),
            ("commit_errors_total", "counter", s.commit_errors),
            ("records", "gauge", s.records as u64),
            ("conflicts", "gauge", s.conflicts as u64),
            ("conflicts_total", "counter", s.conflicts_total),
            ("duplicate_names", "gauge", s.duplicates as u64),
        ] {
            let _ = writeln!(out, "# TYPE dnsd_containers_{metric} {kind}");
            let _ = writeln!(out, "dnsd_containers_{metric} {value}");
        }
    }
}

impl crate::sources::status::SourceStatus for ContainerStats {
    /// `source containers engine=NAME socket=PATH state=connected|away since=T
    /// containers=N events=N last-event=T losses=N [last-error-at=T last-error="..."]`
    /// per engine, `source containers zone=APEX records=N` per zone it has records in,
    /// then `source containers records=N reconciles=N last-reconcile=T commits=N
    /// commit-errors=N conflicts=N conflicts-total=N duplicate-names=N`.
    fn status(&self, out: &mut Vec<String>) {
        use crate::sources::status::{text, time};
        let s = self.with(|s| s.clone());
        for (name, e) in &s.engines {
            let mut line = format!(
                "source containers engine={name} socket={} state={} since={} containers={} events={} last-event={} losses={}",
                e.socket,
                if e.up { "connected" } else { "away" },
                time(e.since),
                e.containers,
                e.events,
                time(e.last_event),
                e.losses,
            );
            if let Some((at, error)) = &e.last_error {
                let _ = write!(line, " last-error-at={at} last-error={}", text(error));
            }
            out.push(line);
        }
        for (zone, records) in &s.zones {
            out.push(format!("source containers zone={zone} records={records}"));
        }
        out.push(format!(
            "source containers records={} reconciles={} last-reconcile={} commits={} commit-errors={} conflicts={} conflicts-total={} duplicate-names={}",
            s.records,
            s.reconciles,
            time(s.last_reconcile),
            s.commits,
            s.commit_errors,
            s.conflicts,
            s.conflicts_total,
            s.duplicates
        ));
    }
}

impl crate::metrics::Render for ContainerStats {
    fn render(&self, out: &mut String) {
        ContainerStats::render(self, out);
    }
}

//------------ The source's task ---------------------------------------------

/// One engine's containers and connection.
#[derive(Default)]
struct EngineState {
    containers: BTreeMap<String, Container>,
    /// Connected and listed.
    up: bool,
    /// Since when it has been away (None while up).
    away_since: Option<Instant>,
    /// Containers starting (created, not yet running) and leaving (sent a signal).
    pending: OnTheirWay,
}

/// Starts following `settings.engines` (on the current tokio runtime) and committing
/// their containers' records to `manager`'s zones until `shutdown`.
pub fn start(
    settings: Settings,
    manager: Arc<Manager>,
    shutdown: watch::Receiver<bool>,
) -> Arc<ContainerStats> {
    let stats = Arc::new(ContainerStats::default());
    stats.with(|s| {
        for engine in &settings.engines {
            let e = s.engines.entry(engine.name.clone()).or_default();
            e.socket = engine.socket.display().to_string();
            e.since = crate::manager::unix_now();
        }
    });
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, engine) in settings.engines.iter().enumerate() {
        tokio::spawn(follow(i, engine.clone(), tx.clone(), shutdown.clone()));
    }
    let path = manager.state_dir().join("containers.json");
    tokio::spawn(run(settings, manager, rx, shutdown, stats.clone(), path));
    stats
}

async fn run(
    settings: Settings,
    manager: Arc<Manager>,
    mut rx: mpsc::UnboundedReceiver<EngineEvent>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<ContainerStats>,
    path: PathBuf,
) {
    let started = Instant::now();
    let remembered = read_state(&path);
    let mut engines: Vec<EngineState> = settings
        .engines
        .iter()
        .map(|e| EngineState {
            containers: remembered.get(&e.name).cloned().unwrap_or_default(),
            up: false,
            away_since: Some(started),
            pending: OnTheirWay::default(),
        })
        .collect();
    let mut reporter = Reporter::default();
    // Since when a change waits (None: nothing to commit).
    let mut dirty: Option<Instant> = Some(started);
    let mut retry: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let starting: usize = engines.iter().map(|e| e.pending.starting).sum();
        let leaving: usize = engines.iter().map(|e| e.pending.leaving).sum();
        if let Some(since) = dirty
            && ((starting <= 1 && leaving == 0) || since.elapsed() >= FOLD_WAIT)
        {
            let waited = since.elapsed();
            dirty = None;
            publish_engine_stats(&settings, &engines, &stats);
            let all: Vec<Container> = engines
                .iter()
                .flat_map(|e| e.containers.values().cloned())
                .collect();
            let (records, manager2, stats2) =
                (settings.records.clone(), manager.clone(), stats.clone());
            let began = Instant::now();
            let outcome =
                tokio::task::spawn_blocking(move || reconcile(&all, &records, &manager2, &stats2))
                    .await;
            tracing::debug!(
                waited_ms = waited.as_secs_f64() * 1e3,
                reconcile_ms = began.elapsed().as_secs_f64() * 1e3,
                "container records reconciled"
            );
            match outcome {
                Ok(outcome) => {
                    reporter.report(&outcome, &stats);
                    retry = (!outcome.failed.is_empty())
                        .then(|| Instant::now() + Duration::from_secs(2));
                }
                Err(e) => tracing::error!("container records: reconcile task failed: {e}"),
            }
            write_state(&path, &settings, &engines);
        }
        let fold_until = dirty.map(|since| tokio::time::Instant::from_std(since + FOLD_WAIT));
        let mut changed = false;
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { return };
                changed |= apply(&settings, &mut engines, event, &stats);
                while let Ok(event) = rx.try_recv() {
                    changed |= apply(&settings, &mut engines, event, &stats);
                }
            }
            () = async {
                if let Some(t) = fold_until {
                    tokio::time::sleep_until(t).await;
                }
            }, if fold_until.is_some() => {}
            _ = tick.tick() => {
                if let EngineLoss::Withdraw(grace) = settings.loss {
                    for (i, e) in engines.iter_mut().enumerate() {
                        if e.away_since.is_some_and(|t| t.elapsed() >= grace) && !e.containers.is_empty() {
                            tracing::warn!(engine = %settings.engines[i].name, containers = e.containers.len(), "container engine away past its grace time: its records are withdrawn");
                            e.containers.clear();
                            changed = true;
                        }
                    }
                }
                if retry.is_some_and(|t| Instant::now() >= t) {
                    retry = None;
                    changed = true;
                }
            }
            _ = shutdown.changed() => return,
        }
        if changed {
            dirty.get_or_insert_with(Instant::now);
        }
    }
}

/// Applies one engine report to the state; whether it changed the containers (or the
/// connection state worth showing).
fn apply(
    settings: &Settings,
    engines: &mut [EngineState],
    event: EngineEvent,
    stats: &ContainerStats,
) -> bool {
    let index = match &event {
        EngineEvent::Synced(i, _)
        | EngineEvent::Running(i, _)
        | EngineEvent::Gone(i, _)
        | EngineEvent::Lost(i, _)
        | EngineEvent::Pending(i, _) => *i,
    };
    let (Some(engine), Some(config)) = (engines.get_mut(index), settings.engines.get(index)) else {
        return false;
    };
    if let EngineEvent::Pending(_, n) = event {
        engine.pending = n;
        return false;
    }
    stats.with(|s| {
        let now = crate::manager::unix_now();
        let e = s.engines.entry(config.name.clone()).or_default();
        e.events += 1;
        e.last_event = now;
        match &event {
            EngineEvent::Lost(_, why) => {
                if engine.up {
                    e.losses += 1;
                    e.since = now;
                }
                e.last_error = Some((now, why.clone()));
            }
            EngineEvent::Synced(..) if !engine.up => e.since = now,
            _ => {}
        }
    });
    match event {
        EngineEvent::Synced(_, list) => {
            engine.containers = list.into_iter().map(|c| (c.id.clone(), c)).collect();
            engine.up = true;
            engine.away_since = None;
            true
        }
        EngineEvent::Running(_, c) => {
            let changed = engine.containers.get(&c.id) != Some(&c);
            engine.containers.insert(c.id.clone(), c);
            changed
        }
        EngineEvent::Gone(_, id) => engine.containers.remove(&id).is_some(),
        EngineEvent::Pending(..) => false,
        EngineEvent::Lost(_, why) => {
            if engine.up {
                tracing::warn!(engine = %config.name, "container engine lost: {why}; its records are kept meanwhile");
            } else {
                tracing::debug!(engine = %config.name, "container engine unreachable: {why}");
            }
            let was_up = engine.up;
            engine.up = false;
            engine.pending = OnTheirWay::default();
            engine.away_since.get_or_insert_with(Instant::now);
            was_up
        }
    }
}

fn publish_engine_stats(settings: &Settings, engines: &[EngineState], stats: &ContainerStats) {
    stats.with(|s| {
        for (config, e) in settings.engines.iter().zip(engines) {
            let entry = s.engines.entry(config.name.clone()).or_default();
            entry.up = e.up;
            entry.containers = e.containers.len();
        }
    });
}

/// What one reconcile found.
#[derive(Default)]
struct Outcome {
    conflicts: BTreeSet<(Name, String)>,
    duplicates: BTreeMap<Name, Vec<String>>,
    skipped: BTreeSet<String>,
    refused: BTreeSet<String>,
    failed: Vec<String>,
}

/// Computes the records the containers give and commits each zone's difference.
fn reconcile(
    containers: &[Container],
    settings: &RecordSettings,
    manager: &Manager,
    stats: &ContainerStats,
) -> Outcome {
    let zones = manager.zones();
    let served: Vec<Name> = zones.iter().map(|z| z.apex().clone()).collect();
    let refs: Vec<&Container> = containers.iter().collect();
    let mut w = wanted(&refs, settings, &served);
    let mut outcome = Outcome {
        duplicates: w.duplicates.into_iter().collect(),
        skipped: w.skipped.into_iter().collect(),
        ..Outcome::default()
    };
    let mut records = 0;
    let mut by_zone = BTreeMap::new();
    for handle in zones {
        let desired = w.zones.remove(handle.apex()).unwrap_or_default();
        let ownership = handle.ownership();
        let owns = ownership.iter().any(|(_, _, s)| &**s == SOURCE);
        if desired.is_empty() && !owns {
            continue;
        }
        let Some(zone) = handle.zone() else { continue };
        let plan = desired::plan(&zone, &ownership, SOURCE, &desired);
        for (owner, rtype, by) in &plan.conflicts {
            let by = by.as_deref().unwrap_or("the zone file");
            outcome
                .conflicts
                .insert((owner.clone(), format!("{by} ({rtype})")));
        }
        if !plan.txn.is_empty() {
            commit(&handle, plan.txn, stats, &mut outcome);
        }
        let owned = handle
            .ownership()
            .counts()
            .get(SOURCE)
            .copied()
            .unwrap_or(0);
        records += owned;
        if owned > 0 {
            by_zone.insert(handle.apex().to_string(), owned);
        }
    }
    for (apex, desired) in &w.zones {
        if !desired.is_empty() {
            outcome.skipped.insert(format!(
                "the zone {apex} is not served: its records are left out"
            ));
        }
    }
    stats.with(|s| {
        s.records = records;
        s.zones = by_zone;
        s.reconciles += 1;
        s.last_reconcile = crate::manager::unix_now();
    });
    outcome
}

/// Submits `txn`; when the zone refuses it as a whole (a CNAME where an address would
/// go, say), each change alone, so that one bad name does not hold back the rest.
/// Failures worth a retry (the journal, a race with a zone-file reload) go to
/// `failed`; records the zone cannot take are reported as conflicts.
fn commit(handle: &ZoneHandle, txn: Transaction, stats: &ContainerStats, outcome: &mut Outcome) {
    let zone = handle.apex().to_string();
    let changes = txn.changes.len();
    let began = Instant::now();
    match handle.submit(SOURCE, txn.clone()) {
        Ok(serial) => {
            stats.with(|s| s.commits += 1);
            let commit_ms = began.elapsed().as_secs_f64() * 1e3;
            tracing::info!(zone = %zone, serial, changes, commit_ms, "container records committed");
        }
        Err(
            e @ (CommitError::Journal(_)
            | CommitError::NotLoaded(_)
            | CommitError::Serial(_)
            | CommitError::Dnssec(_)
            | CommitError::InFile { .. }
            | CommitError::Reread),
        ) => {
            stats.with(|s| s.commit_errors += 1);
            tracing::error!(zone = %zone, "container records not committed: {e}");
            outcome.failed.push(format!("{zone}: {e}"));
        }
        Err(CommitError::OwnedBy { .. } | CommitError::OwnedByFile { .. }) => {
            // The zone changed under the plan (a zone-file reload): plan again.
            outcome.failed.push(format!("{zone}: changed meanwhile"));
        }
        Err(CommitError::Txn(_)) => {
            for change in txn.changes {
                let one = Transaction {
                    changes: vec![change],
                    strict: false,
                };
                match handle.submit(SOURCE, one) {
                    Ok(_) => stats.with(|s| s.commits += 1),
                    Err(e) => {
                        stats.with(|s| s.commit_errors += 1);
                        outcome.refused.insert(format!("{zone}: {e}"));
                    }
                }
            }
        }
    }
}

/// Logs what is new in each reconcile's remarks (once, not at every event) and keeps
/// the gauges.
#[derive(Default)]
struct Reporter {
    conflicts: BTreeSet<(Name, String)>,
    duplicates: BTreeMap<Name, Vec<String>>,
    skipped: BTreeSet<String>,
    refused: BTreeSet<String>,
}

impl Reporter {
    fn report(&mut self, outcome: &Outcome, stats: &ContainerStats) {
        let mut new_conflicts = 0;
        for (owner, by) in outcome.conflicts.difference(&self.conflicts) {
            new_conflicts += 1;
            tracing::warn!(name = %owner, "container name conflict: {owner} is defined by {by}, which wins; the container's records there are not published");
        }
        for (owner, containers) in &outcome.duplicates {
            if self.duplicates.get(owner) != Some(containers) {
                tracing::warn!(name = %owner, "name claimed by several containers: {}", containers.join(", "));
            }
        }
        for line in outcome.skipped.difference(&self.skipped) {
            tracing::warn!("container records: {line}");
        }
        for line in outcome.refused.difference(&self.refused) {
            tracing::warn!("container record refused by the zone: {line}");
        }
        stats.with(|s| {
            s.conflicts_total += new_conflicts;
            s.conflicts = outcome.conflicts.len();
            s.duplicates = outcome.duplicates.len();
        });
        self.conflicts = outcome.conflicts.clone();
        self.duplicates = outcome.duplicates.clone();
        self.skipped = outcome.skipped.clone();
        self.refused = outcome.refused.clone();
    }
}

//------------ The state file ------------------------------------------------

/// The containers of each engine, by engine name, as last known.
type Remembered = BTreeMap<String, BTreeMap<String, Container>>;

/// Reads the state file; a missing or unreadable one is an empty state (logged).
fn read_state(path: &Path) -> Remembered {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: not a container state file ({e}); starting empty",
                path.display()
            );
            Remembered::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Remembered::new(),
        Err(e) => {
            tracing::warn!("{}: {e}; starting empty", path.display());
            Remembered::new()
        }
    }
}

/// Writes the state file (a temporary file renamed over it).
fn write_state(path: &Path, settings: &Settings, engines: &[EngineState]) {
    let state: Remembered = settings
        .engines
        .iter()
        .zip(engines)
        .map(|(c, e)| (c.name.clone(), e.containers.clone()))
        .collect();
    let Ok(bytes) = serde_json::to_vec(&state) else {
        return;
    };
    let tmp = path.with_extension("json.tmp");
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!("{}: cannot write the container state: {e}", path.display());
    }
}
