//! Containers on their way: created (and perhaps being started), their addresses not
//! yet known here.
//!
//! Docker gives a starting container its endpoint on each of its networks, with an
//! address, well before its process runs (~0.4 s here), and its embedded DNS answers
//! the name from then on; the network's `connect` event comes then too (probed, Docker
//! 20.10, five `docker run`: `connect` 30–80 ms after `create`, `start` 420–600 ms
//! after `connect`), but it carries no address, and inspecting the container waits
//! until its start is done. The network's inspect shows the endpoint at once: keyed
//! `ep-ENDPOINT` until the container's sandbox joins, by the container's ID after,
//! named as the container either way. So while containers are starting, their
//! networks are inspected (at Docker's network `connect` event, and every [`POLL`]:
//! see [`interval`]), and a container whose every network shows an address is
//! reported as running with those addresses; its own inspect follows at the `start`
//! event and says the same (the engine's short-ID alias aside, which gives
//! no name), so a start is still one version. A container that does not start within
//! [`WAIT`] of its creation (`docker create` alone) is left to its events.
//!
//! The container's own inspect right after its `create` event usually comes before
//! the start takes the container's lock, and tells its networks and aliases; when it
//! comes after (often in a burst), it waits for the start to end. Meanwhile the
//! creation event's name and labels stand in, and the container is looked for, by
//! name, on every network the engine's containers were seen on (without aliases:
//! those come with its inspect).
//!
//! A start that fails releases the endpoint with a network `disconnect` event (the
//! container's inspect then says it does not run: its records go).
//!
//! Podman (4.3's Docker-compatible service) gives nothing earlier than the end of the
//! start, so a Podman container is answered at its own inspect, when `docker run`
//! returns. Measured here (probe polling `GET /networks/NAME` over the socket while
//! `docker run` ran, three starts): the network lists the created container with an
//! empty `IPv4Address`; once the start begins, the network's inspect waits for it, as
//! the container's does (224–258 ms, the container's lock), and comes back with the
//! address only when the start is over, 315–395 ms after `docker run` began, as `docker
//! run` returns. The poll does no harm there (it finds the address with the inspect).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;

use super::records::{Attachment, Container};

/// How often the networks of starting containers are inspected, by the age of the
/// youngest (since its creation event): every [`POLL`] until [`SLOW_AFTER`], then every
/// [`POLL_SLOW`] (a `docker create` alone, watched for [`WAIT`]). Docker's network
/// `connect` event, which comes as the endpoint is made, asks for a poll at once
/// (`engine`): the poll is what Podman (no network events) and a missed event fall
/// back on. Faster polls cost more than they give: dockerd does the inspects during
/// the start it is busy with, and during part of it answers them only once a lock of
/// its own is released (~50 ms); probed here, 15 `docker run` each: a network inspect
/// every 2 ms made `docker run` 13% slower and the address seen later than with one
/// every 10 ms.
pub fn interval(youngest: Duration) -> Duration {
    if youngest < SLOW_AFTER {
        POLL
    } else {
        POLL_SLOW
    }
}
/// The poll's interval.
pub const POLL: Duration = Duration::from_millis(10);
/// When the poll slows down to [`POLL_SLOW`].
pub const SLOW_AFTER: Duration = Duration::from_secs(5);
/// The poll's interval for a container created long ago and still not started.
pub const POLL_SLOW: Duration = Duration::from_millis(100);
/// How long a created container is watched for an address.
pub const WAIT: Duration = Duration::from_secs(30);

/// The containers created and not yet given an address, each with when it was seen.
#[derive(Default)]
pub struct Starting {
    containers: HashMap<String, (Container, Instant)>,
    /// The networks the engine's containers were seen on.
    known: BTreeSet<String>,
}

impl Starting {
    /// A container's creation event: its name and labels, its networks unknown.
    pub fn created(&mut self, container: Container) {
        self.containers
            .entry(container.id.clone())
            .or_insert((container, Instant::now()));
    }

    /// A created container as its inspect shows it (its networks, no address yet).
    pub fn insert(&mut self, container: Container) {
        self.know(&container);
        let seen = self
            .containers
            .get(&container.id)
            .map_or_else(Instant::now, |(_, seen)| *seen);
        self.containers
            .insert(container.id.clone(), (container, seen));
    }

    /// Notes the networks `container` is on.
    pub fn know(&mut self, container: &Container) {
        for a in &container.networks {
            if !self.known.contains(&a.network) {
                self.known.insert(a.network.clone());
            }
        }
    }

    /// A container that runs or is gone: its own inspect said so.
    pub fn remove(&mut self, id: &str) {
        self.containers.remove(id);
    }

    /// How many are on their way.
    pub fn len(&self) -> usize {
        self.containers.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// The networks to inspect for the starting containers (empty: none waits).
    pub fn networks(&mut self) -> BTreeSet<String> {
        self.containers.retain(|_, (_, seen)| seen.elapsed() < WAIT);
        let unknown = self.containers.values().any(|(c, _)| c.networks.is_empty());
        let mut networks: BTreeSet<String> = self
            .containers
            .values()
            .flat_map(|(c, _)| c.networks.iter().map(|a| a.network.clone()))
            .collect();
        if unknown && !self.containers.is_empty() {
            networks.extend(self.known.iter().cloned());
        }
        networks
    }

    /// The starting containers that `seen` (an inspect of some networks) shows with an
    /// address on every network they attach to, with their addresses and how long
    /// since their creation event (no longer watched).
    pub fn ready(&mut self, seen: &Endpoints) -> Vec<(Container, Duration)> {
        let found = |network: &str, c: &Container| {
            seen.addresses
                .get(&(network.to_string(), c.id.clone()))
                .or_else(|| {
                    seen.addresses
                        .get(&(network.to_string(), format!("/{}", c.name)))
                })
        };
        // A container known by its creation event alone: on the networks it shows up on.
        for (c, _) in self.containers.values_mut() {
            if c.networks.is_empty() {
                c.networks = seen
                    .inspected
                    .iter()
                    .filter(|n| found(n, c).is_some())
                    .map(|n| Attachment {
                        network: n.clone(),
                        addresses: Vec::new(),
                        aliases: Vec::new(),
                    })
                    .collect();
            }
        }
        let ready: Vec<String> = self
            .containers
            .values()
            .filter(|(c, _)| {
                !c.networks.is_empty() && c.networks.iter().all(|a| found(&a.network, c).is_some())
            })
            .map(|(c, _)| c.id.clone())
            .collect();
        ready
            .into_iter()
            .filter_map(|id| self.containers.remove(&id))
            .map(|(mut c, seen)| {
                let addresses: Vec<Vec<IpAddr>> = c
                    .networks
                    .iter()
                    .map(|a| found(&a.network, &c).cloned().unwrap_or_default())
                    .collect();
                for (attachment, addresses) in c.networks.iter_mut().zip(addresses) {
                    attachment.addresses = addresses;
                }
                (c, seen.elapsed())
            })
            .collect()
    }
}

/// What an inspect of some networks showed: the endpoints with an address, by
/// (network, endpoint key or `/NAME`).
#[derive(Default)]
pub struct Endpoints {
    /// The networks inspected (those that could not be are left out).
    pub inspected: BTreeSet<String>,
    /// (network, endpoint key or `/NAME`) → addresses.
    pub addresses: HashMap<(String, String), Vec<IpAddr>>,
}

/// Inspects `networks`, every one at once (each inspect's wait is the answer's).
pub async fn inspect(docker: Docker, networks: BTreeSet<String>) -> Endpoints {
    let inspected =
        futures_util::future::join_all(networks.iter().map(|n| docker.inspect_network(n, None)))
            .await;
    let mut seen = Endpoints::default();
    for (network, info) in networks.into_iter().zip(inspected) {
        let Ok(info) = info else {
            continue;
        };
        for (key, endpoint) in info.containers.unwrap_or_default() {
            let addresses: Vec<IpAddr> = [endpoint.ipv4_address, endpoint.ipv6_address]
                .into_iter()
                .flatten()
                .filter_map(|a| address(&a))
                .collect();
            if addresses.is_empty() {
                continue;
            }
            if let Some(name) = endpoint.name {
                seen.addresses
                    .insert((network.clone(), format!("/{name}")), addresses.clone());
            }
            seen.addresses.insert((network.clone(), key), addresses);
        }
        seen.inspected.insert(network);
    }
    seen
}

/// A time in nanoseconds since the Unix epoch as the engine writes a container's
/// creation (`2026-12-07T03:34:52.123456789Z`).
pub fn rfc3339(nanos: i64) -> String {
    let (secs, sub) = (
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000),
    );
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::zone::serial::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{sub:09}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

/// An endpoint's address as the network's inspect writes it (`198.18.0.5/22`).
fn address(text: &str) -> Option<IpAddr> {
    text.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{address, rfc3339};

    #[test]
    fn creation_times_as_the_engine_writes_them() {
        assert_eq!(
            rfc3339(1_796_614_492_123_456_789),
            "2026-12-07T03:34:52.123456789Z"
        );
    }

    #[test]
    fn endpoint_addresses_lose_their_prefix_length() {
        assert_eq!(address("198.18.0.5/22"), "198.18.0.5".parse().ok());
        assert_eq!(address("2001:db8::5/64"), "2001:db8::5".parse().ok());
        assert_eq!(address(""), None);
    }
}
