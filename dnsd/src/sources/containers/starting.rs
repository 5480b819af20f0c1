//! Containers on their way: created (and perhaps being started), their addresses not
//! yet known here.
//!
//! Docker gives a starting container its endpoint on each of its networks, with an
//! address, well before its process runs (~0.4 s here), and its embedded DNS answers
//! the name from then on; but it sends no event then (the network's `connect` comes
//! with the `start`, after the process runs), and inspecting the container waits
//! until its start is done. The network's inspect shows the endpoint at once: keyed
//! `ep-ENDPOINT` until the container's sandbox joins, by the container's ID after,
//! named as the container either way. So while containers are starting, their
//! networks are inspected every [`POLL`], and a container whose every network shows
//! an address is reported as running with those addresses; its own inspect follows at
//! the `start` event and says the same (the engine's short-ID alias aside, which gives
//! no name), so a start is still one version. A container that does not start within
//! [`WAIT`] of its creation (`docker create` alone) is left to its events.
//!
//! A start that fails releases the endpoint with a network `disconnect` event (the
//! container's inspect then says it does not run: its records go).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;

use super::records::Container;

/// How often the networks of starting containers are inspected.
pub const POLL: Duration = Duration::from_millis(10);
/// How long a created container is watched for an address.
pub const WAIT: Duration = Duration::from_secs(30);

/// The containers created and not yet given an address, each with when it was seen.
#[derive(Default)]
pub struct Starting {
    containers: HashMap<String, (Container, Instant)>,
}

impl Starting {
    /// A container created (its networks known, no address yet).
    pub fn insert(&mut self, container: Container) {
        self.containers
            .entry(container.id.clone())
            .or_insert((container, Instant::now()));
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

    /// Inspects the networks of the starting containers; those with an address on
    /// every network they attach to, with their addresses (no longer watched).
    pub async fn poll(&mut self, docker: &Docker) -> Vec<Container> {
        self.containers.retain(|_, (_, seen)| seen.elapsed() < WAIT);
        let networks: BTreeSet<String> = self
            .containers
            .values()
            .flat_map(|(c, _)| c.networks.iter().map(|a| a.network.clone()))
            .collect();
        // (network, endpoint key or name) → addresses.
        let mut endpoints: HashMap<(String, String), Vec<IpAddr>> = HashMap::new();
        for network in networks {
            let Ok(info) = docker.inspect_network(&network, None).await else {
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
                    endpoints.insert((network.clone(), format!("/{name}")), addresses.clone());
                }
                endpoints.insert((network.clone(), key), addresses);
            }
        }
        let found = |network: &str, c: &Container| {
            endpoints
                .get(&(network.to_string(), c.id.clone()))
                .or_else(|| endpoints.get(&(network.to_string(), format!("/{}", c.name))))
        };
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
            .map(|(mut c, _)| {
                let addresses: Vec<Vec<IpAddr>> = c
                    .networks
                    .iter()
                    .map(|a| found(&a.network, &c).cloned().unwrap_or_default())
                    .collect();
                for (attachment, addresses) in c.networks.iter_mut().zip(addresses) {
                    attachment.addresses = addresses;
                }
                c
            })
            .collect()
    }
}

/// An endpoint's address as the network's inspect writes it (`198.18.0.5/22`).
fn address(text: &str) -> Option<IpAddr> {
    text.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn endpoint_addresses_lose_their_prefix_length() {
        assert_eq!(address("198.18.0.5/22"), "198.18.0.5".parse().ok());
        assert_eq!(address("2001:db8::5/64"), "2001:db8::5".parse().ok());
        assert_eq!(address(""), None);
    }
}
