//! NOTIFY out (RFC 1996): each new serial a zone serves is announced to its
//! secondaries once it is durable and served (the zone set's swap, which zone managers
//! make only after the journal entry is on disk).
//!
//! ```text
//!  publisher swap ──► zones whose serial changed ──► each target's sender
//!                                                      │ NOTIFY (SOA in the answer
//!                                                      │ section, signed if keyed)
//!                                                      ├─ NOERROR: acknowledged
//!                                                      └─ silence: again after 1, 2,
//!                                                         4, ... s, up to 8 tries
//! ```
//!
//! Targets: the zone's `notify` list, and with `notify-ns` the addresses its own data
//! gives its NS names (not ours). Serials that come quickly coalesce: a sender always
//! announces the newest, and a new serial restarts its tries.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::access::{Remote, XfrSettings};
use super::stats::XfrStats;
use crate::manager::Manager;
use crate::tsig::{self, Key};
use crate::wire::name::Name;
use crate::zone::{Rtype, Zone};

/// Tries of one NOTIFY before giving up.
const TRIES: u32 = 8;
/// Wait for the first answer; doubled at each try.
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// Starts NOTIFY out for `manager`'s zones until `shutdown`; `own` are our addresses
/// (never notified), `source` the address NOTIFYs are sent from (None: the system's
/// choice).
pub fn start(
    manager: Arc<Manager>,
    settings: Arc<ArcSwap<XfrSettings>>,
    stats: Arc<XfrStats>,
    own: Vec<SocketAddr>,
    source: Option<IpAddr>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut swaps = manager.publisher().subscribe();
    tokio::spawn(async move {
        let mut senders: HashMap<(Name, SocketAddr), watch::Sender<u32>> = HashMap::new();
        let mut announced: HashMap<Name, u32> = HashMap::new();
        loop {
            // As configured now (a SIGHUP may have changed the targets).
            let current = settings.load_full();
            let set = manager.zone_set().load_full();
            for zone in set.zones() {
                if zone.is_expired() {
                    continue;
                }
                let Some(serial) = zone.serial() else {
                    continue;
                };
                let apex = zone.apex().clone();
                if announced.get(&apex) == Some(&serial) {
                    continue;
                }
                announced.insert(apex.clone(), serial);
                for target in targets(zone, &current, &own) {
                    let key = (apex.clone(), target.address);
                    match senders.get(&key) {
                        Some(sender) if !sender.is_closed() => {
                            sender.send_replace(serial);
                        }
                        _ => {
                            let (tx, rx) = watch::channel(serial);
                            tokio::spawn(send_loop(
                                manager.clone(),
                                apex.clone(),
                                target.address,
                                settings.clone(),
                                source,
                                stats.clone(),
                                rx,
                            ));
                            senders.insert(key, tx);
                        }
                    }
                }
            }
            tokio::select! {
                changed = swaps.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Where NOTIFY for `zone` goes: its `notify` list, and with `notify_ns` the addresses
/// of its NS names held in the zone itself, except our own.
fn targets(zone: &Zone, settings: &XfrSettings, own: &[SocketAddr]) -> Vec<Remote> {
    let config = settings.zone(zone.apex());
    let mut targets: Vec<Remote> = config.notify.clone();
    if settings.notify_ns {
        let apex = zone.apex_node();
        let mname = zone.soa().and_then(|s| {
            s.rdatas()
                .next()
                .and_then(|r| crate::wire::name::wire_len(r).map(|l| r[..l].to_ascii_lowercase()))
        });
        for ns in apex.rrset(Rtype::NS).into_iter().flat_map(|r| r.rdatas()) {
            let target = ns.to_ascii_lowercase();
            // RFC 1996 §3.6: not the primary named in MNAME.
            if mname.as_deref() == Some(&target[..]) {
                continue;
            }
            let Some(node) = zone.node(&target) else {
                continue;
            };
            for (rtype, len) in [(Rtype::A, 4), (Rtype::AAAA, 16)] {
                for rdata in node.rrset(rtype).into_iter().flat_map(|r| r.rdatas()) {
                    let ip = match len {
                        4 => <[u8; 4]>::try_from(rdata).ok().map(IpAddr::from),
                        _ => <[u8; 16]>::try_from(rdata).ok().map(IpAddr::from),
                    };
                    if let Some(ip) = ip {
                        targets.push(Remote {
                            address: SocketAddr::new(ip, 53),
                            key: None,
                            tls: None,
                        });
                    }
                }
            }
        }
    }
    targets.retain(|t| !is_own(t.address, own));
    targets.sort_by_key(|t| t.address);
    targets.dedup_by_key(|t| t.address);
    targets
}

/// Whether `target` is where we listen ourselves (`own`): one of those addresses, or
/// the port of a wildcard listener (0.0.0.0, ::) on an address of this host.
fn is_own(target: SocketAddr, own: &[SocketAddr]) -> bool {
    own.iter().any(|o| {
        o.port() == target.port()
            && (o.ip() == target.ip() || (o.ip().is_unspecified() && is_local(target.ip())))
    })
}

/// Whether `ip` is an address of this host: a socket binds to it only then.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Announces the serials `serials` gives for `apex` to `to`, each until acknowledged.
/// A newer serial interrupts whatever the loop waits for (an answer, the pause before
/// the next try) and is sent at once.
async fn send_loop(
    manager: Arc<Manager>,
    apex: Name,
    to: SocketAddr,
    settings: Arc<ArcSwap<XfrSettings>>,
    source: Option<IpAddr>,
    stats: Arc<XfrStats>,
    mut serials: watch::Receiver<u32>,
) {
    let name = apex.to_string();
    let peer = to.to_string();
    loop {
        let serial = *serials.borrow_and_update();
        stats.set_notify_pending(&name, &peer, Some(serial));
        let mut wait = FIRST_WAIT;
        // How this serial's tries ended: None while they go on.
        let mut ended: Option<Ended> = None;
        for attempt in 1..=TRIES {
            // The version served (the zone set's, which a zone manager swaps before it
            // records it as its own): the SOA in the NOTIFY is the new serial, which
            // NSD compares with its own before it asks.
            let Some(zone) = manager.zone_set().load().get(&apex).cloned() else {
                return;
            };
            if zone.is_expired() {
                return;
            }
            recorded(&manager, &apex, zone.serial()).await;
            // The key as configured now (a SIGHUP may have changed it).
            let key = key_for(&settings.load(), &apex, to);
            stats.notify_out(&name, &peer, "sent");
            let answered = tokio::select! {
                answered = notify_once(&zone, to, key.as_ref(), source, wait) => answered,
                newer = serials.changed() => {
                    if newer.is_err() {
                        return;
                    }
                    ended = Some(Ended::Superseded);
                    break;
                }
            };
            match answered {
                Ok(()) => {
                    stats.notify_out(&name, &peer, "acknowledged");
                    tracing::info!(zone = %name, remote = %to, serial, "NOTIFY acknowledged");
                    ended = Some(Ended::Answered);
                    break;
                }
                Err(NotifyError::Refused(code)) => {
                    stats.notify_out(&name, &peer, "failed");
                    tracing::warn!(zone = %name, remote = %to, serial, rcode = code, "NOTIFY refused");
                    ended = Some(Ended::Answered);
                    break;
                }
                Err(e) => {
                    tracing::debug!(zone = %name, remote = %to, serial, attempt, "NOTIFY: {e}");
                }
            }
            if attempt == TRIES {
                break;
            }
            // The pause before the next try, which a newer serial cuts short.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                newer = serials.changed() => {
                    if newer.is_err() {
                        return;
                    }
                    ended = Some(Ended::Superseded);
                    break;
                }
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
        match ended {
            // The newer serial goes at once (`changed` marked it seen: the loop's
            // `borrow_and_update` reads it).
            Some(Ended::Superseded) => continue,
            Some(Ended::Answered) => stats.set_notify_pending(&name, &peer, None),
            None => {
                stats.set_notify_pending(&name, &peer, None);
                stats.notify_out(&name, &peer, "failed");
                tracing::warn!(zone = %name, remote = %to, serial, "NOTIFY not acknowledged after {TRIES} tries");
            }
        }
        if serials.changed().await.is_err() {
            return;
        }
    }
}

/// How the tries of one serial ended.
enum Ended {
    /// The secondary answered (acknowledged or refused).
    Answered,
    /// A newer serial came first.
    Superseded,
}

/// Waits (briefly) until `apex`'s manager has recorded the version with `serial` as
/// its own: it does so just after it swaps it in, and a secondary that asks at once
/// must find it there to transfer it.
async fn recorded(manager: &Manager, apex: &Name, serial: Option<u32>) {
    let current = || {
        manager
            .zone(apex)
            .and_then(|h| h.zone())
            .and_then(|z| z.serial())
    };
    for round in 0..1000 {
        if current() == serial {
            return;
        }
        // The gap is a few instructions of the writer's: yield first, then sleep.
        if round < 10 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The key NOTIFY to `to` for `apex` is signed with, as `settings` say (targets
/// from NS addresses have none).
fn key_for(settings: &XfrSettings, apex: &Name, to: SocketAddr) -> Option<Arc<Key>> {
    let remote = settings
        .zone(apex)
        .notify
        .iter()
        .find(|r| r.address == to)?;
    settings.keys.get(remote.key.as_ref()?).cloned()
}

#[derive(Debug, thiserror::Error)]
enum NotifyError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer")]
    Timeout,
    #[error("answered with RCODE {0}")]
    Refused(u16),
    #[error("TSIG: {0}")]
    Tsig(#[from] tsig::VerifyError),
}

/// Sends one NOTIFY for `zone` to `to` and waits `wait` for its answer.
async fn notify_once(
    zone: &Zone,
    to: SocketAddr,
    key: Option<&Arc<Key>>,
    source: Option<IpAddr>,
    wait: Duration,
) -> Result<(), NotifyError> {
    let (msg, id, mut verifier) = message(zone, key);
    let bind = match (source, to) {
        (Some(ip), _) if ip.is_ipv4() == to.is_ipv4() => SocketAddr::new(ip, 0),
        (_, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (_, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(to).await?;
    socket.send(&msg).await?;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(NotifyError::Timeout),
        };
        let answer = &buf[..n];
        // The answer to our NOTIFY: same id, QR, opcode NOTIFY.
        if n < 12
            || answer[0..2] != id.to_be_bytes()
            || answer[2] & 0x80 == 0
            || (answer[2] >> 3) & 0x0f != 4
        {
            continue;
        }
        if let Some(v) = verifier.as_mut() {
            v.verify(answer, tsig::unix_now())?;
        }
        let code = u16::from(answer[3] & 0x0f);
        return if code == 0 {
            Ok(())
        } else {
            Err(NotifyError::Refused(code))
        };
    }
}

/// A NOTIFY for `zone` (RFC 1996 §3.7: opcode NOTIFY, AA, question SOA, the SOA in
/// the answer section as a hint), signed with `key`.
fn message(zone: &Zone, key: Option<&Arc<Key>>) -> (Vec<u8>, u16, Option<tsig::ResponseVerifier>) {
    let id: u16 = rand::random();
    let apex = zone.apex().as_wire();
    let mut msg = Vec::with_capacity(128);
    msg.extend_from_slice(&id.to_be_bytes());
    // Opcode NOTIFY (4), AA.
    msg.extend_from_slice(&[0x24, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(apex);
    msg.extend_from_slice(&[0, 6, 0, 1]);
    if let Some(soa) = zone.soa()
        && let Some(rdata) = soa.rdatas().next()
    {
        msg[7] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1]);
        msg.extend_from_slice(&soa.ttl.to_be_bytes());
        msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        msg.extend_from_slice(rdata);
    }
    let verifier = key.map(|k| tsig::sign_request(k, &mut msg, tsig::unix_now()));
    (msg, id, verifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xfr::access::ZoneXfr;

    fn zone() -> Zone {
        let text = "$ORIGIN example.org.\n$TTL 300\n\
                    @ SOA ns1 hostmaster 1 3600 600 86400 300\n\
                    @ NS ns1\n@ NS ns2\n@ NS ns3\n@ NS ns.elsewhere.net.\n\
                    ns1 A 198.51.100.1\n\
                    ns2 A 198.51.100.2\nns2 AAAA 2001:db8::2\n\
                    ns3 A 127.0.0.1\n";
        crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("example.org.zone"),
            &Name::from_text("example.org.", None).unwrap(),
        )
        .unwrap()
        .zone
    }

    fn settings(notify_ns: bool) -> XfrSettings {
        XfrSettings {
            notify_ns,
            defaults: ZoneXfr {
                notify: vec![Remote {
                    address: "203.0.113.9:5300".parse().unwrap(),
                    key: None,
                    tls: None,
                }],
                ..ZoneXfr::default()
            },
            ..XfrSettings::default()
        }
    }

    fn addresses(targets: Vec<Remote>) -> Vec<String> {
        targets.iter().map(|t| t.address.to_string()).collect()
    }

    /// RFC 1996 §3.6: the notify list, and with `notify-ns` the zone's NS addresses
    /// (port 53) except MNAME's (the primary) and our own: those we listen on, also
    /// through a wildcard listener (127.0.0.1 is ours under 0.0.0.0:53).
    #[test]
    fn targets_are_the_list_and_the_ns_addresses_but_not_ours() {
        let zone = zone();
        let own: Vec<SocketAddr> = vec![
            "198.51.100.2:53".parse().unwrap(),
            "0.0.0.0:53".parse().unwrap(),
        ];
        assert_eq!(
            addresses(targets(&zone, &settings(true), &own)),
            ["203.0.113.9:5300", "[2001:db8::2]:53"]
        );
        assert_eq!(
            addresses(targets(&zone, &settings(false), &own)),
            ["203.0.113.9:5300"]
        );
        // Without ours among them, every NS address but MNAME's.
        assert_eq!(
            addresses(targets(&zone, &settings(true), &[])),
            [
                "127.0.0.1:53",
                "198.51.100.2:53",
                "203.0.113.9:5300",
                "[2001:db8::2]:53"
            ]
        );
    }
}
