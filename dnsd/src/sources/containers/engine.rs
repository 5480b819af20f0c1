//! One container engine followed over its Engine API on a unix socket (bollard):
//! Docker, or Podman's Docker-compatible service.
//!
//! ```text
//!  connect ─► subscribe to events (since a moment ago) ─► list + inspect every
//!     ▲        running container ─► Synced(all) ─► for each container or network
//!     │        event: inspect it again ─► Running(container) | Gone(id)
//!     └── stream ends or fails: Lost, then again after a backoff (0.5 s … 30 s)
//! ```
//!
//! Neither engine puts addresses in its events, and Podman 4.3 sends no network
//! events: every container event (and network connect/disconnect, where there are
//! any) leads to an inspect of the container, and what the inspect says is the truth.
//! The events stream is subscribed before the list, with `since` a little in the past,
//! so that no change between the list and the stream is missed (an event seen twice
//! only inspects twice). Inspects of different containers run side by side; those of
//! one container one after the other (events that come meanwhile make one more), so a
//! container that the engine keeps locked while it starts holds back no other.
//!
//! Podman with its `file` events logger hands each reader of its events what was
//! written only every 250 ms: a Podman engine's stream is read by
//! [`PODMAN_READERS`] readers at staggered phases, and the copies dropped.
//!
//! A container is answered from the moment the engine gives it an address, as
//! Docker's embedded DNS does, not only once its process runs (`starting`): Docker's
//! network `connect` event comes as the endpoint is made (~0.4 s before `start`
//! here) but carries no address, and inspecting the container waits until its start
//! is done; the network's inspect shows the endpoint, with its address, at once: it is
//! asked at that event, and polled while containers are on their way.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

use super::records::{Attachment, Container};
use super::starting::Starting;

/// One `[[containers.engine]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Its name in logs and metrics.
    pub name: String,
    /// The Engine API's unix socket.
    pub socket: PathBuf,
}

/// What an engine's follower reports.
#[derive(Debug)]
pub enum EngineEvent {
    /// Connected and listed: these are all its running containers.
    Synced(usize, Vec<Container>),
    /// A container runs (started, renamed, connected, ...), as inspected now.
    Running(usize, Container),
    /// A container no longer runs (or no longer exists).
    Gone(usize, String),
    /// The connection failed or ended; the follower tries again after a backoff.
    Lost(usize, String),
    /// How many containers are on their way: their records are about to come or go
    /// (`source` folds a burst with it).
    Pending(usize, OnTheirWay),
}

/// Containers whose records are about to change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnTheirWay {
    /// Created and not yet running, for at most `starting::WAIT` (answered already or
    /// not: their own inspect waits for the start to end).
    pub starting: usize,
    /// Sent a signal (`kill` event: `docker stop`, `docker compose down`, `docker
    /// kill`) and not yet gone, for at most [`LEAVE_WAIT`].
    pub leaving: usize,
}

/// How long a container sent a signal counts as leaving: Docker's default stop
/// timeout (10 s) and a little more. A signal that stops nothing (a `HUP` to reload)
/// counts that long too: while two do, a change waits, at most `source::FOLD_WAIT`.
pub const LEAVE_WAIT: Duration = Duration::from_secs(12);

/// The API version asked for: Docker 20.10 and Podman 4.3 both speak 1.41.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};
/// How many inspects of the starting containers' networks may be under way at once:
/// one. During part of a start, dockerd answers a network's inspect only once a lock
/// of its own is released (~50 ms); inspects sent meanwhile all come back at that
/// moment (traced: four under way ended within 0.3 ms of each other), so more at once
/// only load the engine.
const POLLS_IN_FLIGHT: usize = 1;
/// How many readers of the event stream a Podman engine gets. Podman (4.3) with its
/// `file` events logger (where journald does not run) hands a reader the events
/// written to its log file only at that reader's next look at the file, every
/// [`PODMAN_TICK`] from when it subscribed (probed: events arrive in bunches 250 ms
/// apart, `create` 200 ms late, `init` and `start` together): a container's `create`
/// reached dnsd 0–250 ms after it was written, often after the start was over, which
/// made the name answer on average 53 ms after the container started (~60 ms after
/// `podman run` returned). Five readers subscribed 50 ms apart see every event within
/// 50 ms of its writing (probed: 1–49 ms), so the `create` comes well before the start
/// is over (~150 ms after it here), and the inspect it leads to answers as the start
/// ends. Each event then comes once per reader: all but the first are dropped
/// ([`Recent`]). A few readers cost Podman a few `stat`s a second.
const PODMAN_READERS: u32 = 5;
/// How often a reader of Podman's events log looks at the file (its tail library's
/// poll interval).
const PODMAN_TICK: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Follows engine `index` until `shutdown`, reporting to `events`.
pub async fn follow(
    index: usize,
    config: EngineConfig,
    events: mpsc::UnboundedSender<EngineEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let ended = tokio::select! {
            ended = session(index, &config, &events) => ended,
            _ = shutdown.changed() => return,
        };
        let (error, synced) = match ended {
            Ok(()) => ("the event stream ended".to_string(), true),
            Err((e, synced)) => (e, synced),
        };
        if synced {
            backoff = BACKOFF_MIN;
        }
        if events.send(EngineEvent::Lost(index, error)).is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection: list, then follow events until the stream ends. Err carries why,
/// and whether the engine had been listed.
async fn session(
    index: usize,
    config: &EngineConfig,
    events: &mpsc::UnboundedSender<EngineEvent>,
) -> Result<(), (String, bool)> {
    let socket = config.socket.display().to_string();
    let docker = Docker::connect_with_unix(&socket, 30, &API_VERSION)
        .map_err(|e| (format!("{socket}: {e}"), false))?;
    docker
        .ping()
        .await
        .map_err(|e| (format!("{socket}: {e}"), false))?;
    let readers = if is_podman(&docker).await {
        PODMAN_READERS
    } else {
        1
    };
    let since = (crate::manager::unix_now().saturating_sub(2)).to_string();
    // Each reader drives its stream at once (the first before we list, so the engine
    // has it then), buffering; a stream that ends or fails ends the session.
    let (buffer_tx, mut buffer) = mpsc::unbounded_channel();
    let _pumps: Vec<AbortOnDrop> = (0..readers)
        .map(|k| {
            let (docker, buffer_tx, since) = (docker.clone(), buffer_tx.clone(), since.clone());
            AbortOnDrop(tokio::spawn(async move {
                tokio::time::sleep(PODMAN_TICK * k / readers).await;
                let filters: HashMap<&str, Vec<&str>> =
                    HashMap::from([("type", vec!["container", "network"])]);
                let mut stream = docker.events(Some(
                    EventsOptionsBuilder::new()
                        .since(&since)
                        .filters(&filters)
                        .build(),
                ));
                while let Some(item) = stream.next().await {
                    let stop = item.is_err();
                    if buffer_tx.send(Some(item)).is_err() || stop {
                        return;
                    }
                }
                let _ = buffer_tx.send(None);
            }))
        })
        .collect();
    drop(buffer_tx);
    let mut recent = Recent::default();
    let listed = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(false).build()))
        .await
        .map_err(|e| (format!("{socket}: listing containers: {e}"), false))?;
    let mut containers = Vec::new();
    for summary in listed {
        let Some(id) = summary.id else { continue };
        if let Inspected::Running(c) = inspect(&docker, &id).await.map_err(|e| (e, false))? {
            containers.push(c);
        }
    }
    tracing::info!(
        engine = %config.name,
        containers = containers.len(),
        "container engine connected and listed"
    );
    let mut starting = Starting::default();
    // Containers the engine showed running (listed or inspected since): the stream
    // replays the last seconds before the list, and a replayed `create` of one of
    // them must not make it "starting" again, under its name of then.
    let mut running: HashSet<String> = HashSet::new();
    for c in &containers {
        starting.know(c);
        running.insert(c.id.clone());
    }
    if events.send(EngineEvent::Synced(index, containers)).is_err() {
        return Ok(());
    }
    let mut inspects = FuturesUnordered::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut again: HashSet<String> = HashSet::new();
    // Containers created and not yet reported running or gone, with when: on their way
    // (their inspect may wait for the start to end, so `starting` alone misses most).
    let mut on_way: HashMap<String, std::time::Instant> = HashMap::new();
    // Containers sent a signal (stopping, most often), with when.
    let mut leaving: HashMap<String, std::time::Instant> = HashMap::new();
    let mut pending = OnTheirWay::default();
    // When the starting containers' networks were last inspected, and whether an
    // event asks for it again at once.
    let mut polled = tokio::time::Instant::now();
    let mut poll_now = false;
    // The networks' inspect under way (at most `POLLS_IN_FLIGHT`).
    let mut polls = FuturesUnordered::new();
    let send = |event| events.send(event).is_ok();
    loop {
        // The youngest container on its way sets the poll's pace; one leaving alone is
        // looked at every `POLL` (to count it gone after `LEAVE_WAIT`).
        let pace = on_way
            .values()
            .max()
            .map_or(super::starting::POLL, |youngest| {
                super::starting::interval(youngest.elapsed())
            });
        tokio::select! {
            item = buffer.recv() => {
                let Some(Some(item)) = item else { return Ok(()) };
                let message = item.map_err(|e| (format!("{socket}: events: {e}"), true))?;
                if readers > 1 && !recent.first_time(&message) {
                    continue;
                }
                let (action, late_ms) = (message.action.clone().unwrap_or_default(), delivery_ms(&message));
                let Some(Seen { id, created, signalled, connected }) = container_of(message) else { continue };
                tracing::debug!(engine = %config.name, container = %id, action, late_ms, "container event");
                // The endpoint is made: its network shows it now.
                poll_now |= connected && on_way.contains_key(&id);
                if signalled && running.contains(&id) {
                    leaving.insert(id.clone(), std::time::Instant::now());
                }
                if let Some(created) = created
                    && !running.contains(&id)
                {
                    on_way.insert(id.clone(), std::time::Instant::now());
                    starting.created(created);
                }
                if busy.contains(&id) {
                    again.insert(id);
                } else {
                    busy.insert(id.clone());
                    inspects.push(inspect_one(docker.clone(), id));
                }
            }
            Some((id, result, took)) = inspects.next(), if !inspects.is_empty() => {
                let result = result.map_err(|e| (e, true))?;
                tracing::debug!(engine = %config.name, container = %id, took_ms = took.as_secs_f64() * 1e3, state = result.state(), "container inspected");
                let event = match result {
                    Inspected::Running(c) => {
                        running.insert(id.clone());
                        starting.remove(&id);
                        starting.know(&c);
                        on_way.remove(&id);
                        Some(EngineEvent::Running(index, c))
                    }
                    Inspected::Created(c) => {
                        starting.insert(c);
                        None
                    }
                    Inspected::Gone => {
                        running.remove(&id);
                        leaving.remove(&id);
                        starting.remove(&id);
                        on_way.remove(&id);
                        Some(EngineEvent::Gone(index, id.clone()))
                    }
                };
                if let Some(event) = event && !send(event) {
                    return Ok(());
                }
                busy.remove(&id);
                if again.remove(&id) {
                    busy.insert(id.clone());
                    inspects.push(inspect_one(docker.clone(), id));
                }
            }
            () = tokio::time::sleep_until(if poll_now { polled } else { polled + pace }),
                if (!on_way.is_empty() || !leaving.is_empty()) && polls.len() < POLLS_IN_FLIGHT =>
            {
                poll_now = false;
                polled = tokio::time::Instant::now();
                on_way.retain(|_, seen| seen.elapsed() < super::starting::WAIT);
                leaving.retain(|_, seen| seen.elapsed() < LEAVE_WAIT);
                let networks = if on_way.is_empty() { Default::default() } else { starting.networks() };
                if !networks.is_empty() {
                    let docker = docker.clone();
                    polls.push(async move {
                        let began = std::time::Instant::now();
                        let seen = super::starting::inspect(docker, networks).await;
                        (began.elapsed(), seen)
                    });
                }
            }
            Some((took, seen)) = polls.next(), if !polls.is_empty() => {
                if took > super::starting::POLL {
                    tracing::debug!(engine = %config.name, poll_ms = took.as_secs_f64() * 1e3, "a slow inspect of the starting containers' networks");
                }
                for (c, age) in starting.ready(&seen) {
                    running.insert(c.id.clone());
                    tracing::debug!(engine = %config.name, container = %c.name, since_created_ms = age.as_secs_f64() * 1e3, "container given an address: answered while it starts");
                    if !send(EngineEvent::Running(index, c)) {
                        return Ok(());
                    }
                }
            }
        }
        let now = OnTheirWay {
            starting: on_way.len(),
            leaving: leaving.len(),
        };
        if now != pending {
            pending = now;
            if !send(EngineEvent::Pending(index, pending)) {
                return Ok(());
            }
        }
    }
}

/// Whether the engine is Podman (its version lists a "Podman Engine" component). An
/// engine that cannot say is taken for Docker: one reader of its events.
async fn is_podman(docker: &Docker) -> bool {
    docker.version().await.is_ok_and(|v| {
        v.components
            .unwrap_or_default()
            .iter()
            .any(|c| c.name.starts_with("Podman"))
    })
}

/// How late an event came: from the time the engine stamped on it to now, in ms
/// (for the debug log; 0 when it has none).
fn delivery_ms(message: &bollard::models::EventMessage) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    message
        .time_nano
        .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1e6)
}

/// The events seen lately, to drop the copies that the other readers of a Podman
/// engine's events bring ([`PODMAN_READERS`]). An event is known by its type, action,
/// actor (and the container a network event names) and its time in nanoseconds; the
/// copies come within a tick of each other (and the replay since the subscription),
/// so the last [`Recent::KEEP`] are enough.
#[derive(Default)]
struct Recent {
    seen: HashSet<EventKey>,
    order: std::collections::VecDeque<EventKey>,
}

/// What identifies one event (see [`Recent`]).
type EventKey = (String, String, String, String, i64);

impl Recent {
    const KEEP: usize = 4096;

    /// Whether `message` is seen for the first time (it is remembered then).
    fn first_time(&mut self, message: &bollard::models::EventMessage) -> bool {
        let actor = message.actor.as_ref();
        let key = (
            message.typ.map(|t| t.to_string()).unwrap_or_default(),
            message.action.clone().unwrap_or_default(),
            actor.and_then(|a| a.id.clone()).unwrap_or_default(),
            actor
                .and_then(|a| a.attributes.as_ref())
                .and_then(|a| a.get("container").cloned())
                .unwrap_or_default(),
            message.time_nano.unwrap_or_default(),
        );
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > Self::KEEP
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// What an event says of a container whose records it may change.
struct Seen {
    id: String,
    /// What its creation event says of it.
    created: Option<Container>,
    /// Sent a signal: it may be stopping.
    signalled: bool,
    /// Connected to a network (Docker: its endpoint is made, the network shows it).
    connected: bool,
}

/// The container an event is about, if it may change the records.
fn container_of(message: bollard::models::EventMessage) -> Option<Seen> {
    let action = message.action.unwrap_or_default();
    if action.starts_with("exec_") || action.starts_with("health_status") {
        return None;
    }
    let actor = message.actor?;
    match message.typ.map(|t| t.to_string()).as_deref() {
        Some("container") => {
            let id = actor.id?;
            let created = (action == "create").then(|| {
                // The attributes are its labels, and "image" and "name".
                let mut labels: std::collections::BTreeMap<String, String> =
                    actor.attributes.unwrap_or_default().into_iter().collect();
                labels.remove("image");
                Container {
                    id: id.clone(),
                    name: labels.remove("name").unwrap_or_default(),
                    created: message
                        .time_nano
                        .map(super::starting::rfc3339)
                        .unwrap_or_default(),
                    labels,
                    networks: Vec::new(),
                }
            });
            Some(Seen {
                id,
                created,
                signalled: action == "kill",
                connected: false,
            })
        }
        Some("network") if action == "connect" || action == "disconnect" => actor
            .attributes
            .and_then(|a| a.get("container").cloned())
            .map(|id| Seen {
                id,
                created: None,
                signalled: false,
                connected: action == "connect",
            }),
        _ => None,
    }
}

/// An inspect of `id`, labelled with it and how long it took.
async fn inspect_one(docker: Docker, id: String) -> (String, Result<Inspected, String>, Duration) {
    let began = std::time::Instant::now();
    let result = inspect(&docker, &id).await;
    (id, result, began.elapsed())
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What an inspect found.
pub(super) enum Inspected {
    /// The container runs.
    Running(Container),
    /// Created, never started (or starting now): its networks, with no address yet.
    Created(Container),
    /// It does not exist, or has stopped.
    Gone,
}

impl Inspected {
    /// Its state, for the debug log.
    fn state(&self) -> &'static str {
        match self {
            Inspected::Running(_) => "running",
            Inspected::Created(_) => "created",
            Inspected::Gone => "gone",
        }
    }
}

/// The container `id` if it exists and runs; Err when the engine cannot be asked.
async fn inspect(docker: &Docker, id: &str) -> Result<Inspected, String> {
    let response = match docker.inspect_container(id, None).await {
        Ok(r) => r,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(Inspected::Gone),
        Err(e) => return Err(format!("inspecting {id}: {e}")),
    };
    let state = response.state.as_ref();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let created = state.and_then(|s| s.status) == Some(ContainerStateStatusEnum::CREATED);
    if !running && !created {
        return Ok(Inspected::Gone);
    }
    let mut networks: Vec<Attachment> = response
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(network, endpoint)| {
            let addresses = [endpoint.ip_address, endpoint.global_ipv6_address]
                .into_iter()
                .flatten()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .collect();
            let mut aliases = endpoint.aliases.unwrap_or_default();
            aliases.extend(endpoint.dns_names.unwrap_or_default());
            aliases.sort();
            aliases.dedup();
            Attachment {
                network,
                addresses,
                aliases,
            }
        })
        .collect();
    networks.sort_by(|a, b| a.network.cmp(&b.network));
    let container = Container {
        id: response.id.unwrap_or_else(|| id.to_string()),
        name: response
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        created: response.created.unwrap_or_default(),
        labels: response
            .config
            .and_then(|c| c.labels)
            .unwrap_or_default()
            .into_iter()
            .collect(),
        networks,
    };
    Ok(if running {
        Inspected::Running(container)
    } else {
        Inspected::Created(container)
    })
}

#[cfg(test)]
mod tests {
    use super::Recent;
    use bollard::models::{EventActor, EventMessage, EventMessageTypeEnum};

    fn event(action: &str, id: &str, nanos: i64) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: None,
            }),
            time_nano: Some(nanos),
            ..Default::default()
        }
    }

    #[test]
    fn the_copies_other_readers_bring_are_dropped() {
        let mut recent = Recent::default();
        assert!(recent.first_time(&event("create", "c1", 1)));
        assert!(!recent.first_time(&event("create", "c1", 1)));
        // Another action, container or time is another event.
        assert!(recent.first_time(&event("start", "c1", 1)));
        assert!(recent.first_time(&event("create", "c2", 1)));
        assert!(recent.first_time(&event("create", "c1", 2)));
        assert!(!recent.first_time(&event("start", "c1", 1)));
    }

    #[test]
    fn only_the_latest_events_are_remembered() {
        let mut recent = Recent::default();
        for n in 0..=Recent::KEEP as i64 {
            assert!(recent.first_time(&event("start", "c", n)));
        }
        assert_eq!(recent.seen.len(), Recent::KEEP);
        // The oldest is forgotten, the newest still known.
        assert!(recent.first_time(&event("start", "c", 0)));
        assert!(!recent.first_time(&event("start", "c", Recent::KEEP as i64)));
    }
}
