//! The shell around one virtual router: raw sockets for IP protocol 112, the timers,
//! and carrying out the state machine's actions.
//!
//! ```text
//!  raw socket ──► check_received ──► fsm::Router::step ──► actions ──► send advert
//!  timers (deadlines from ArmTimer) ──┘      ▲                     ├──► addr (rtnetlink)
//!  track (effective priority) ───────────────┘                     ├──► announce (GARP/NA)
//!  carrier (rtnetlink link events) ───────────┤                     └──► status, notify
//!  shutdown (SIGTERM, reload) ───────────────┘
//! ```
//!
//! One task per instance (started and stopped by `supervise.rs`); the sockets and
//! the receive checks are in `socket.rs`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use socket2::Socket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::announce;
use super::config::Instance;
use super::fsm::{Action, Input, Params, Router, State, Timer};
use super::packet::{Advertisement, DecodeError};
use super::peer::{PeerProblem, PeerProblems};
use super::socket::{Link, Received, Rejected, Sockets, check_received, discover, open, receive};
use super::status::{Board, InstanceStatus};
use crate::links::{Dad, Netlink};
use crate::owned::{Owned, OwnedVrrp};

//------------ The task ------------------------------------------------------

/// What every instance of one daemon shares.
#[derive(Clone)]
pub struct Env {
    /// netd's rtnetlink connection (the one address API).
    pub netlink: Netlink,
    /// Where the status is published.
    pub board: Arc<Board>,
    /// The state folder, for the ownership record (none: not recorded, in tests).
    pub state_dir: Option<PathBuf>,
}

/// Runs one instance until `shutdown` turns true; then resigns (priority 0), removes
/// its addresses and its accept-mode table, and drops them from the ownership record.
pub async fn run(instance: Instance, env: Env, mut shutdown: watch::Receiver<bool>) {
    let name = instance.name.clone();
    // The interface may come later (a bridge that links/ creates): wait for it.
    let mut warned = false;
    let (link, sockets) = loop {
        match discover(&instance).and_then(|link| Ok((link, open(&instance, &link)?))) {
            Ok(found) => break found,
            Err(e) => {
                if !warned {
                    tracing::warn!(instance = %name, error = %e, "vrrp: waiting for interface");
                    warned = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    };
    tracing::info!(instance = %name, interface = %instance.interface, vrid = instance.vrid,
        primary = %link.primary, "vrrp: starting");
    // Accept_Mode False: a non-owner master drops what is addressed to the addresses.
    let enforce_accept = !instance.accept && instance.priority != 255;
    // Intent first: the record names what this instance may add before it adds it.
    record(&env, &instance, enforce_accept);
    let mut carrier = match crate::links::carrier::watch(&instance.interface).await {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(instance = %name, error = %e, "vrrp: cannot follow the carrier; assuming it is up");
            watch::channel(true).1
        }
    };
    let mut probes = JoinSet::new();
    let mut priority = super::track::spawn(&instance, &mut probes);
    let Sockets { rx, tx, dsts } = sockets;
    let mut shell = Shell::new(instance, link, (tx, dsts), env.clone());
    if shell.instance.priority != 255 {
        // A crashed run may have left the addresses: a backup must not hold them.
        shell.remove_addresses().await;
    }
    if enforce_accept && let Err(e) = super::accept::install(&name, &shell.instance.addresses).await
    {
        tracing::error!(instance = %name, error = %e, "vrrp: cannot enforce accept = false");
    }
    let initial = *priority.borrow_and_update();
    shell.input(Input::Priority(initial)).await;
    if !*carrier.borrow_and_update() {
        tracing::warn!(instance = %name, interface = %shell.instance.interface, "vrrp: no carrier");
        shell.input(Input::LinkDown).await;
    }
    shell.input(Input::Startup).await;
    let mut buf = vec![0u8; 2048];
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        let next = shell.next_timer();
        let sleep_until = next.map_or_else(|| Instant::now() + Duration::from_secs(3600), |n| n.1);
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(sleep_until) => {
                if let Some((timer, _)) = next {
                    shell.timers.remove(&timer);
                    shell.input(Input::Timer(timer)).await;
                }
            }
            ready = rx.readable() => {
                let Ok(mut guard) = ready else { continue };
                loop {
                    match receive(guard.get_inner(), shell.ipv6, &mut buf) {
                        Ok((_, received)) => shell.received(&buf, received).await,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            guard.clear_ready();
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(instance = %shell.instance.name, error = %e, "vrrp: receive failed");
                            break;
                        }
                    }
                }
            }
            changed = carrier.changed(), if carrier.has_changed().is_ok() => {
                if changed.is_ok() {
                    let up = *carrier.borrow_and_update();
                    tracing::warn!(instance = %shell.instance.name, interface = %shell.instance.interface,
                        carrier = up, "vrrp: link {}", if up { "up" } else { "down" });
                    shell.input(if up { Input::LinkUp } else { Input::LinkDown }).await;
                }
            }
            changed = priority.changed(), if priority.has_changed().is_ok() => {
                if changed.is_ok() {
                    let p = *priority.borrow_and_update();
                    shell.input(Input::Priority(p)).await;
                }
            }
            _ = flush.tick() => shell.publish(true),
        }
    }
    shell.input(Input::Shutdown).await;
    shell.publish(true);
    if enforce_accept && let Err(e) = super::accept::remove(&name).await {
        tracing::error!(instance = %name, error = %e, "vrrp: cannot remove accept-mode table");
    }
    forget(&env, &name);
    tracing::info!(instance = %name, "vrrp: stopped");
}

/// Records in the ownership record what `instance` may put on the host.
fn record(env: &Env, instance: &Instance, table: bool) {
    let Some(dir) = &env.state_dir else { return };
    let owned = OwnedVrrp {
        interface: instance.interface.clone(),
        addresses: instance.addresses.clone(),
        table: table.then(|| super::accept::table_name(&instance.name)),
    };
    if let Err(e) = Owned::update(dir, |o| o.vrrp.insert(instance.name.clone(), owned)) {
        tracing::error!(instance = %instance.name, error = %e, "vrrp: cannot update the ownership record");
    }
}

/// Drops a cleanly stopped instance from the ownership record.
fn forget(env: &Env, name: &str) {
    let Some(dir) = &env.state_dir else { return };
    if let Err(e) = Owned::update(dir, |o| o.vrrp.remove(name)) {
        tracing::error!(instance = %name, error = %e, "vrrp: cannot update the ownership record");
    }
}

/// The state of one running instance's shell.
struct Shell {
    instance: Instance,
    link: Link,
    tx: Socket,
    dsts: Vec<IpAddr>,
    env: Env,
    router: Router,
    peers: PeerProblems,
    origin: Instant,
    timers: HashMap<Timer, Instant>,
    status: InstanceStatus,
    ipv6: bool,
    published: Option<(State, u8, Option<IpAddr>)>,
    dirty: bool,
}

impl Shell {
    fn new(instance: Instance, link: Link, (tx, dsts): (Socket, Vec<IpAddr>), env: Env) -> Self {
        let router = Router::new(Params {
            vrid: instance.vrid,
            priority: instance.priority,
            advert_interval: instance.advert_interval,
            preempt: instance.preempt,
            preempt_delay: instance.preempt_delay,
            primary: link.primary,
            addresses: instance.addresses.iter().map(IpNet::addr).collect(),
        });
        let status = InstanceStatus::new(&instance, link.primary);
        Self {
            ipv6: instance.is_ipv6(),
            instance,
            link,
            tx,
            dsts,
            env,
            router,
            peers: PeerProblems::default(),
            origin: Instant::now(),
            timers: HashMap::new(),
            status,
            published: None,
            dirty: true,
        }
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(t, at)| (*t, *at))
    }

    async fn received(&mut self, buf: &[u8], received: Received) {
        let (n, src, dst, ttl) = match received {
            Ok(r) => r,
            Err(e) => {
                self.status.count_drop(e.label());
                self.dirty = true;
                return;
            }
        };
        let bytes = &buf[..n];
        let checked = check_received(
            bytes,
            src,
            dst,
            ttl,
            self.link.primary,
            &self.instance.unicast_peers,
        );
        match checked {
            Ok(advert) => {
                let actions = self.input_actions(Input::Advert { src, advert });
                // Accepted: it reached the election (no Drop from the state machine).
                if !actions.iter().any(|a| matches!(a, Action::Drop { .. })) {
                    self.status.adverts_received += 1;
                }
                self.dirty = true;
                for action in actions {
                    self.execute(action).await;
                }
                self.publish(false);
            }
            Err(Rejected::Own) => {}
            Err(rejected) => {
                tracing::debug!(instance = %self.instance.name, reason = rejected.label(), "vrrp: dropped packet");
                self.status.count_drop(rejected.label());
                self.dirty = true;
                // Another version for our VRID: a peer that will never agree with us.
                if let Rejected::Bad(DecodeError::Version(v)) = rejected
                    && bytes.get(1) == Some(&self.instance.vrid)
                {
                    self.peer_problem(src, PeerProblem::Version(v));
                }
            }
        }
    }

    /// Counts a problem of a peer and logs it loudly, at most once a minute each.
    fn peer_problem(&mut self, peer: IpAddr, problem: PeerProblem) {
        let now = self.origin.elapsed();
        if self.peers.record(peer, &problem, now, unix_now()) {
            tracing::error!(instance = %self.instance.name, peer = %peer, problem = problem.label(),
                "vrrp: MISCONFIGURED PEER: {} (logged once a minute while it lasts)", problem.describe());
            // Publish at once, as for a state change: an operator wants it now.
            self.published = None;
        }
        self.status.peer_problems = self.peers.list();
        self.dirty = true;
    }

    /// The state machine's actions for `input`, now.
    fn input_actions(&mut self, input: Input) -> Vec<Action> {
        let now = self.origin.elapsed();
        self.router.step(input, now)
    }

    async fn input(&mut self, input: Input) {
        let actions = self.input_actions(input);
        for action in actions {
            self.execute(action).await;
        }
        self.publish(false);
    }

    async fn execute(&mut self, action: Action) {
        let name = &self.instance.name;
        match action {
            Action::SendAdvert { priority } => self.send_advert(priority),
            Action::AddAddresses => {
                for net in &self.instance.addresses {
                    let added = self
                        .env
                        .netlink
                        .add_address_at(self.link.index, &self.instance.interface, *net, Dad::Skip)
                        .await;
                    if let Err(e) = added {
                        tracing::error!(instance = %name, error = %e, "vrrp: cannot add address");
                    }
                }
            }
            Action::RemoveAddresses => self.remove_addresses().await,
            Action::Announce => self.announce(),
            Action::ArmTimer { timer, at } => {
                self.timers.insert(timer, self.origin + at);
            }
            Action::CancelTimer(timer) => {
                self.timers.remove(&timer);
            }
            Action::StateChange { from, to } => {
                tracing::info!(instance = %name, from = from.as_str(), to = to.as_str(),
                    priority = self.router.priority(), "vrrp: state change");
                self.status.transitions += 1;
                self.status.since = unix_now();
                self.notify(to);
            }
            Action::Drop { reason } => {
                self.status.count_drop(&reason);
                self.dirty = true;
            }
            Action::PeerProblem { peer, problem } => self.peer_problem(peer, problem),
            Action::SplitBrain { peer, priority } => {
                tracing::error!(instance = %name, peer = %peer, peer_priority = priority,
                    "vrrp: SPLIT BRAIN: another master keeps advertising and does not hear us");
                self.status.split_brain += 1;
                // Publish at once, as for a state change: an operator wants it now.
                self.published = None;
            }
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let advert = Advertisement {
            vrid: self.instance.vrid,
            priority,
            max_advert_int: self.instance.advert_interval,
            addresses: self.instance.addresses.iter().map(IpNet::addr).collect(),
        };
        for dst in &self.dsts {
            let bytes = advert.encode(self.link.primary, *dst);
            let scope = if self.ipv6 { self.link.index } else { 0 };
            let to: SocketAddr = match dst {
                IpAddr::V6(a) => SocketAddrV6::new(*a, 0, 0, scope).into(),
                IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(*a), 0),
            };
            match self.tx.send_to(&bytes, &to.into()) {
                Ok(_) => self.status.adverts_sent += 1,
                Err(e) => {
                    self.status.count_drop("send-error");
                    tracing::warn!(instance = %self.instance.name, to = %dst, error = %e, "vrrp: send failed");
                }
            }
        }
        self.dirty = true;
    }

    async fn remove_addresses(&mut self) {
        for net in &self.instance.addresses {
            let removed = self
                .env
                .netlink
                .remove_address_at(self.link.index, &self.instance.interface, *net)
                .await;
            if let Err(e) = removed {
                tracing::error!(instance = %self.instance.name, error = %e, "vrrp: cannot remove address");
            }
        }
    }

    fn announce(&self) {
        let result = if self.ipv6 {
            let v6: Vec<_> = self
                .instance
                .addresses
                .iter()
                .filter_map(|n| match n.addr() {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                })
                .collect();
            announce::send_nas(self.link.index, self.link.mac, &v6)
        } else {
            let v4: Vec<_> = self
                .instance
                .addresses
                .iter()
                .filter_map(|n| match n.addr() {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                })
                .collect();
            announce::send_garps(self.link.index, self.link.mac, &v4)
        };
        if let Err(e) = result {
            tracing::warn!(instance = %self.instance.name, error = %e, "vrrp: cannot announce addresses");
        }
    }

    /// Runs the notify command with the instance name and new state appended.
    fn notify(&self, to: State) {
        let Some((program, args)) = self.instance.notify.split_first() else {
            return;
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).arg(&self.instance.name).arg(to.as_str());
        match cmd.spawn() {
            Ok(mut child) => {
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(e) => {
                tracing::warn!(instance = %self.instance.name, command = %program, error = %e, "vrrp: notify failed")
            }
        }
    }

    /// Writes the status at once when state, priority or master changed; counters
    /// alone are written by the periodic flush (`periodic`), at most once a second.
    fn publish(&mut self, periodic: bool) {
        let master = self.router.master();
        let key = (
            self.router.state(),
            self.router.priority(),
            master.map(|m| m.0),
        );
        self.status.state = key.0;
        self.status.priority = key.1;
        self.status.master = key.2;
        self.status.master_priority = master.map(|m| m.1);
        if self.published != Some(key) || (periodic && self.dirty) {
            self.env.board.update(self.status.clone());
            self.published = Some(key);
            self.dirty = false;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
