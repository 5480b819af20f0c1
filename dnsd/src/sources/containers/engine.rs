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
//! only inspects twice).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::records::{Attachment, Container};

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
}

/// The API version asked for: Docker 20.10 and Podman 4.3 both speak 1.41.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};
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
    let since = (crate::manager::unix_now().saturating_sub(2)).to_string();
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("type", vec!["container", "network"])]);
    let mut stream = docker.events(Some(
        EventsOptionsBuilder::new()
            .since(&since)
            .filters(&filters)
            .build(),
    ));
    // Drive the stream at once (so the engine has it before we list), buffering.
    let (buffer_tx, mut buffer) = mpsc::unbounded_channel();
    let pump = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let stop = item.is_err();
            if buffer_tx.send(item).is_err() || stop {
                break;
            }
        }
    });
    let _pump = AbortOnDrop(pump);
    let listed = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(false).build()))
        .await
        .map_err(|e| (format!("{socket}: listing containers: {e}"), false))?;
    let mut containers = Vec::new();
    for summary in listed {
        let Some(id) = summary.id else { continue };
        if let Some(c) = inspect(&docker, &id).await.map_err(|e| (e, false))? {
            containers.push(c);
        }
    }
    tracing::info!(
        engine = %config.name,
        containers = containers.len(),
        "container engine connected and listed"
    );
    if events.send(EngineEvent::Synced(index, containers)).is_err() {
        return Ok(());
    }
    while let Some(item) = buffer.recv().await {
        let message = item.map_err(|e| (format!("{socket}: events: {e}"), true))?;
        let attributes = message
            .actor
            .as_ref()
            .and_then(|a| a.attributes.clone())
            .unwrap_or_default();
        let action = message.action.unwrap_or_default();
        let id = match message.typ.map(|t| t.to_string()).as_deref() {
            Some("container") => message.actor.and_then(|a| a.id),
            Some("network") if action == "connect" || action == "disconnect" => {
                attributes.get("container").cloned()
            }
            _ => None,
        };
        let Some(id) = id else { continue };
        if action.starts_with("exec_") || action.starts_with("health_status") {
            continue;
        }
        let event = match inspect(&docker, &id).await.map_err(|e| (e, true))? {
            Some(c) => EngineEvent::Running(index, c),
            None => EngineEvent::Gone(index, id),
        };
        if events.send(event).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The container `id` if it exists and runs; Err when the engine cannot be asked.
async fn inspect(docker: &Docker, id: &str) -> Result<Option<Container>, String> {
    let response = match docker.inspect_container(id, None).await {
        Ok(r) => r,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(format!("inspecting {id}: {e}")),
    };
    let running = response
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    if !running {
        return Ok(None);
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
    Ok(Some(Container {
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
    }))
}
