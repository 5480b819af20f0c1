//! The fake authoritative servers of a scenario: UDP and TCP sockets on port 53 of
//! every address the scenario names (opened by the caller inside the replay
//! namespace), answering each query from the first entry of the first range that
//! covers the current step and the address asked (Unbound's testbound: ranges in file
//! order, entries in order, first match wins). A query no entry matches gets no
//! answer (a timeout, as in testbound) and is logged, so a failure can say which
//! question the scenario did not foresee.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::Message;

use super::parse::{Entry, Scenario};
use super::wire;

/// What the servers share: the scenario, the current step, the log of questions.
pub struct State {
    scenario: Scenario,
    /// The entries' messages, parsed once (None: the entry does not build).
    built: Vec<Vec<Option<Message>>>,
    /// The step whose ranges answer.
    pub step: AtomicU32,
    stop: AtomicBool,
    /// "address qname qtype -> entry line" or "… -> no match".
    pub log: Mutex<Vec<String>>,
}

impl State {
    /// The state of `scenario`'s servers, at step 0.
    pub fn new(scenario: Scenario) -> Arc<Self> {
        let built = scenario
            .ranges
            .iter()
            .map(|r| {
                r.entries
                    .iter()
                    .map(|e| wire::message(e, None).ok())
                    .collect()
            })
            .collect();
        Arc::new(Self {
            scenario,
            built,
            step: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Stops the servers' threads (within their 100 ms poll).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The entry that answers `query` sent to `to` now.
    fn entry_for(&self, to: IpAddr, query: &Message, tcp: bool) -> Option<&Entry> {
        let step = self.step.load(Ordering::Relaxed);
        for (r, range) in self.scenario.ranges.iter().enumerate() {
            if step < range.start || step > range.end {
                continue;
            }
            if !range.addrs.is_empty() && !range.addrs.contains(&to) {
                continue;
            }
            for (e, entry) in range.entries.iter().enumerate() {
                let Some(expected) = &self.built[r][e] else {
                    continue;
                };
                if wire::query_matches(entry, expected, query, tcp) {
                    return Some(entry);
                }
            }
        }
        None
    }

    /// The reply to the request `bytes` sent to `to`; None when nothing matches.
    fn answer(&self, to: IpAddr, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let query = Message::from_vec(bytes).ok()?;
        let question = query
            .queries
            .first()
            .map_or("(no question)".to_string(), |q| {
                format!("{} {}", q.name, q.query_type)
            });
        let step = self.step.load(Ordering::Relaxed);
        let transport = if tcp { "tcp" } else { "udp" };
        let entry = self.entry_for(to, &query, tcp);
        let said = match entry {
            Some(e) => format!("entry at line {}", e.line),
            None => "no match".to_string(),
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("step {step} {to} {transport} {question} -> {said}"));
        }
        wire::reply(entry?, &query).ok()
    }
}

/// Serves `addrs` (UDP and TCP, port 53) on threads of the current network namespace
/// until [`State::stop`]; the sockets are bound before it returns.
pub fn serve(
    state: &Arc<State>,
    addrs: &[IpAddr],
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut threads = Vec::new();
    for &addr in addrs {
        let udp = UdpSocket::bind(SocketAddr::new(addr, 53))?;
        udp.set_read_timeout(Some(Duration::from_millis(100)))?;
        let tcp = TcpListener::bind(SocketAddr::new(addr, 53))?;
        tcp.set_nonblocking(true)?;
        let s = state.clone();
        threads.push(std::thread::spawn(move || serve_udp(&s, addr, &udp)));
        let s = state.clone();
        threads.push(std::thread::spawn(move || serve_tcp(&s, addr, &tcp)));
    }
    Ok(threads)
}

fn serve_udp(state: &State, addr: IpAddr, socket: &UdpSocket) {
    let mut buf = vec![0u8; 65535];
    while !state.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = state.answer(addr, &buf[..n], false) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

fn serve_tcp(state: &Arc<State>, addr: IpAddr, listener: &TcpListener) {
    while !state.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let s = state.clone();
                std::thread::spawn(move || serve_conn(&s, addr, conn));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_conn(state: &State, addr: IpAddr, mut conn: TcpStream) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut msg).is_err() {
            return;
        }
        if let Some(reply) = state.answer(addr, &msg, true) {
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut out = len.to_be_bytes().to_vec();
            out.extend_from_slice(&reply);
            if conn.write_all(&out).is_err() {
                return;
            }
        }
        if state.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}
