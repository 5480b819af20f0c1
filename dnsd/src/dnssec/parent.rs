//! Asking the parent whether it publishes a key's DS (RFC 7583 §3.3.1 "DS seen",
//! RFC 7344 §4.1): a DS query, recursion desired, to each address of the policy's
//! `parent-resolvers` (the parent's own servers, or a resolver); the DS counts as
//! seen when every address answers with a DS RRset that holds it; it is gone (a zone
//! going insecure, RFC 8078 §4) when every address answers NOERROR without a DS. Blocking, with a
//! short timeout: the signing timer's thread calls it, never the zone's writer. The
//! stage's side: which DS a rollover waits for ([`DsCheck`], at most every
//! `ds-check-interval`), and noting it seen.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name as HName, RData, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use super::stage::{Stage, keys_mtime, max_ttl};
use super::store::{self, StoreError, StoredKey};
use super::timeline::{self, TimelineKey};
use crate::wire::name::Name;
use crate::zone::Zone;

/// How long one server is waited for.
const WAIT: Duration = Duration::from_secs(3);

/// The DS RDATAs `server` answers for `zone` (wire name), or why not (an answer
/// other than NOERROR is an error: it proves neither a DS nor its absence).
fn ds_set(server: SocketAddr, zone: &str) -> Result<Vec<Vec<u8>>, String> {
    let name = HName::from_ascii(zone).map_err(|e| format!("{zone}: {e}"))?;
    let id: u16 = rand::random();
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name, RecordType::DS));
    let bytes = query.to_bytes().map_err(|e| e.to_string())?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket.send(&bytes).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket
            .recv(&mut buf)
            .map_err(|e| format!("no answer: {e}"))?;
        let Ok(answer) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if answer.metadata.id != id {
            continue;
        }
        if answer.metadata.response_code != hickory_proto::op::ResponseCode::NoError {
            return Err(format!("answered {}", answer.metadata.response_code));
        }
        let mut out = Vec::new();
        for record in &answer.answers {
            if let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DS(ds)) = &record.data {
                let mut rdata = Vec::new();
                let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(&mut rdata);
                ds.emit(&mut encoder).map_err(|e| e.to_string())?;
                out.push(rdata);
            }
        }
        return Ok(out);
    }
}

/// The tags of `check.wanted` whose DS every server of `check.servers` publishes.
pub fn seen(check: &DsCheck) -> Vec<u16> {
    let zone = check.apex.to_string();
    let mut seen: Vec<u16> = check.wanted.iter().map(|(tag, _)| *tag).collect();
    for &server in &check.servers {
        match ds_set(server, &zone) {
            Ok(set) => {
                seen.retain(|tag| {
                    check
                        .wanted
                        .iter()
                        .filter(|(t, _)| t == tag)
                        .any(|(_, rdata)| set.contains(rdata))
                });
            }
            Err(e) => {
                tracing::info!(zone = %check.apex, %server, "dnssec: parent DS check: {e}");
                return Vec::new();
            }
        }
    }
    seen
}

/// Whether every server of `check.servers` answers that the parent publishes no DS
/// for the zone (NOERROR, no DS): a zone going insecure (`withdraw`) may be unsigned
/// once that DS has left the caches.
pub fn gone(check: &DsCheck) -> bool {
    let zone = check.apex.to_string();
    !check.servers.is_empty()
        && check
            .servers
            .iter()
            .all(|&server| match ds_set(server, &zone) {
                Ok(set) => set.is_empty(),
                Err(e) => {
                    tracing::info!(zone = %check.apex, %server, "dnssec: parent DS check: {e}");
                    false
                }
            })
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
    /// The zone's `ds-check-interval` (seconds): when the next check comes.
    pub interval: u32,
}

impl Stage {
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
                interval: self.policy.ds_check_interval,
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
            interval: self.policy.ds_check_interval,
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
}
