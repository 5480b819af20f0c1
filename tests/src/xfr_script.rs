//! A scripted primary for fault tests: a small DNS server on loopback (UDP and TCP on
//! one address) that serves a zone's versions as a primary would (SOA, AXFR, IXFR
//! per RFC 1995) and misbehaves on demand where a real peer cannot: an IXFR whose
//! deltas do not chain, that deletes a record the zone does not have, that stops in
//! the middle of a message, or that is answered AXFR-style (a journal with no
//! history, RFC 1995 §4); AXFR refused; TSIG answered with BADKEY, BADSIG or BADTIME
//! (RFC 8945 §5.2, written by dnsd's own server side, with the key or clock the mode
//! says). Every request is recorded, so a test can see what the secondary asked and
//! in which order; [`notify`] sends a NOTIFY from any loopback address.
//!
//! ```text
//!  test ──► Script (versions, modes) ──► ScriptedPrimary threads ──► answers
//!                                            │
//!                                            └──► asked(): [SOA/udp, IXFR 1, AXFR, …]
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use dnsd::tsig::{self, Algorithm, Check, Key, KeyRing, ResponseSigner};
use dnsd::wire::name::Name;
use dnsd::zone::{Record, Rtype};

/// How IXFR requests are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IxfrMode {
    /// The condensed diff from the client's serial, as RFC 1995 §4 says.
    Good,
    /// The first delta right, then one whose old SOA is a serial the zone never had.
    WrongChain,
    /// One delta that deletes a record the client's version does not have.
    DeletesMissing,
    /// The first message whole, then half of the next, and the connection closed.
    Truncated,
    /// The journal has no history: the whole zone, AXFR-style (RFC 1995 §4).
    NoHistory,
}

/// How TSIG-signed requests are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsigMode {
    /// Verified with the right key, every response signed.
    Good,
    /// As a server that does not know the key: NOTAUTH, BADKEY.
    BadKey,
    /// As a server with another secret for the key: NOTAUTH, BADSIG.
    BadSig,
    /// As a server whose clock is an hour ahead: NOTAUTH, BADTIME (signed).
    BadTime,
}

/// What the primary serves and how it misbehaves; change it at any time.
pub struct Script {
    /// The zone's versions, by serial (records as zone text loads them).
    pub versions: BTreeMap<u32, Vec<Record>>,
    /// The serial served.
    pub current: u32,
    /// How IXFR is answered.
    pub ixfr: IxfrMode,
    /// Whether AXFR is answered REFUSED.
    pub axfr_refused: bool,
    /// The key signed requests must carry, as name and secret (hmac-sha256; None:
    /// TSIG is not checked).
    pub key: Option<(String, Vec<u8>)>,
    /// How signed requests are answered.
    pub tsig: TsigMode,
}

/// One request the primary got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    /// "SOA", "AXFR", "IXFR" or the type number.
    pub qtype: String,
    /// "udp" or "tcp".
    pub transport: &'static str,
    /// For IXFR: the client's serial.
    pub serial: Option<u32>,
    /// Whether it carried a TSIG record.
    pub signed: bool,
}

/// The running scripted primary; dropping it stops its threads.
pub struct ScriptedPrimary {
    /// Its address (UDP and TCP).
    pub addr: SocketAddr,
    apex: Name,
    script: Arc<Mutex<Script>>,
    asked: Arc<Mutex<Vec<Asked>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The records of zone text `text` for `apex`, as dnsd loads them.
pub fn records(apex: &str, text: &str) -> Vec<Record> {
    let apex = Name::from_text(apex, None).expect("apex");
    let loaded =
        dnsd::zone::load::load_zone_from_bytes(text.as_bytes(), Path::new("script"), &apex)
            .unwrap_or_else(|e| panic!("the scripted zone does not load: {e:?}"));
    loaded.zone.records().collect()
}

/// A TSIG key for the tests (hmac-sha256).
pub fn test_key(name: &str, secret: &[u8]) -> Arc<Key> {
    let name = Name::from_text(name, None).expect("key name");
    Arc::new(Key::new(&name, Algorithm::HmacSha256, secret))
}

impl ScriptedPrimary {
    /// Starts a primary of `apex` on a free loopback address, serving `script`.
    pub fn start(apex: &str, script: Script) -> Self {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("local address");
        let apex = Name::from_text(apex, None).expect("apex").to_lowercase();
        let script = Arc::new(Mutex::new(script));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let server = Server {
            apex: apex.clone(),
            script: script.clone(),
            asked: asked.clone(),
        };
        let server = Arc::new(server);
        let mut threads = Vec::new();
        {
            let (server, stop) = (server.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_udp(&server, &udp, &stop)));
        }
        {
            let (server, stop) = (server.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_tcp(&server, &tcp, &stop)));
        }
        ScriptedPrimary {
            addr,
            apex,
            script,
            asked,
            stop,
            threads,
        }
    }

    /// The script, to change.
    pub fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets the requests so far.
    pub fn clear_asked(&self) {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Sends a NOTIFY for the zone to `to` from the primary's own address, signed
    /// with `key` if given; the response.
    pub fn notify(&self, to: SocketAddr, key: Option<&Arc<Key>>) -> Option<Vec<u8>> {
        notify(self.addr.ip(), to, &self.apex, key)
    }
}

impl Drop for ScriptedPrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Sends a NOTIFY (RFC 1996) for `apex` from `from` (any loopback address) to `to`,
/// signed with `key` if given; the response, if one came within a few seconds.
pub fn notify(
    from: IpAddr,
    to: SocketAddr,
    apex: &Name,
    key: Option<&Arc<Key>>,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let id: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let mut msg = id.to_be_bytes().to_vec();
    msg.extend_from_slice(&[0x24, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(apex.as_wire());
    msg.extend_from_slice(&[0, 6, 0, 1]);
    if let Some(key) = key {
        tsig::sign_request(key, &mut msg, tsig::unix_now());
    }
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        socket.send_to(&msg, to).ok()?;
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

//------------ Serving -------------------------------------------------------

struct Server {
    apex: Name,
    script: Arc<Mutex<Script>>,
    asked: Arc<Mutex<Vec<Asked>>>,
}

/// A free loopback address with both a UDP and a TCP socket on it.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for attempt in 0..50u32 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().rotate_left(7)
            ^ attempt.wrapping_mul(0x9e37_79b9);
        let ip = IpAddr::from([
            127,
            1 + (seed % 200) as u8,
            (seed >> 8) as u8,
            2 + (seed >> 16) as u8 % 250,
        ]);
        let Ok(udp) = UdpSocket::bind(SocketAddr::new(ip, 0)) else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no free loopback address for the scripted primary");
}

fn serve_udp(server: &Server, socket: &UdpSocket, stop: &AtomicBool) {
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 65535];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let answer = server.answer(&buf[..n], "udp");
        if let Some(first) = answer.messages.first() {
            let _ = socket.send_to(first, from);
        }
    }
}

fn serve_tcp(server: &Server, listener: &TcpListener, stop: &AtomicBool) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => serve_connection(server, stream),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_connection(server: &Server, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut len = [0u8; 2];
    if stream.read_exact(&mut len).is_err() {
        return;
    }
    let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if stream.read_exact(&mut request).is_err() {
        return;
    }
    let answer = server.answer(&request, "tcp");
    for (i, msg) in answer.messages.iter().enumerate() {
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        if answer.truncate_at == Some(i) {
            // Half of this message, then the connection closed.
            let _ = stream.write_all(&framed[..framed.len() / 2]);
            return;
        }
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
    // Wait for the client to close (it may send nothing more).
    let _ = stream.read(&mut len);
}

/// The messages to send, and where to cut the stream.
struct Answer {
    messages: Vec<Vec<u8>>,
    truncate_at: Option<usize>,
}

/// A request's question and the SOA serial in its authority section (IXFR).
struct Parsed {
    id: u16,
    question: Vec<u8>,
    qtype: u16,
    ixfr_serial: Option<u32>,
}

fn parse(request: &[u8]) -> Option<Parsed> {
    let id = u16::from_be_bytes([*request.first()?, *request.get(1)?]);
    let mut pos = 12;
    let name_len = dnsd::wire::name::wire_len(request.get(pos..)?)?;
    let question = request.get(pos..pos + name_len + 4)?.to_vec();
    let qtype = u16::from_be_bytes([question[name_len], question[name_len + 1]]);
    pos += name_len + 4;
    let nscount = u16::from_be_bytes([*request.get(8)?, *request.get(9)?]);
    let mut ixfr_serial = None;
    if nscount > 0 {
        // Our SOA, uncompressed as dnsd writes it: owner, type, class, TTL, length,
        // then MNAME and RNAME, then the serial.
        let owner = dnsd::wire::name::wire_len(request.get(pos..)?)?;
        let rdata = pos + owner + 10;
        let mname = dnsd::wire::name::wire_len(request.get(rdata..)?)?;
        let rname = dnsd::wire::name::wire_len(request.get(rdata + mname..)?)?;
        let s = rdata + mname + rname;
        ixfr_serial = Some(u32::from_be_bytes(request.get(s..s + 4)?.try_into().ok()?));
    }
    Some(Parsed {
        id,
        question,
        qtype,
        ixfr_serial,
    })
}

fn qtype_name(qtype: u16) -> String {
    match qtype {
        6 => "SOA".into(),
        251 => "IXFR".into(),
        252 => "AXFR".into(),
        other => other.to_string(),
    }
}

impl Server {
    fn answer(&self, request: &[u8], transport: &'static str) -> Answer {
        let none = Answer {
            messages: Vec::new(),
            truncate_at: None,
        };
        let Some(parsed) = parse(request) else {
            return none;
        };
        let script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        let signed_request = dnsd::wire::message::parse(request).is_ok_and(|r| r.tsig.is_some());
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Asked {
                qtype: qtype_name(parsed.qtype),
                transport,
                serial: parsed.ixfr_serial,
                signed: signed_request,
            });
        // TSIG first (RFC 8945 §5.2), with the key and clock the mode says.
        let mut signer = None;
        if let Some((name, secret)) = &script.key {
            let name = Name::from_text(name, None).expect("key name");
            let key = |secret: &[u8]| Key::new(&name, Algorithm::HmacSha256, secret);
            let mut ring = KeyRing::new();
            let mut now = tsig::unix_now();
            match script.tsig {
                TsigMode::Good => {
                    ring.insert(key(secret));
                }
                TsigMode::BadKey => {}
                TsigMode::BadSig => {
                    ring.insert(key(b"another secret, not the key's"));
                }
                TsigMode::BadTime => {
                    ring.insert(key(secret));
                    now += 3600;
                }
            }
            match ring.check_request(request, now) {
                Check::Verified(signed) => signer = Some(ResponseSigner::new(&signed)),
                Check::Failed(failure) => {
                    let mut out = Vec::new();
                    tsig::failure_response(request, &failure, now, &mut out);
                    return Answer {
                        messages: vec![out],
                        truncate_at: None,
                    };
                }
                Check::Unsigned => {}
            }
        }
        let mut answer = self.plan(&script, &parsed);
        if let Some(signer) = signer.as_mut() {
            let now = tsig::unix_now();
            for msg in &mut answer.messages {
                signer.sign(msg, now);
            }
        }
        answer
    }

    /// The messages answering `parsed`, unsigned.
    fn plan(&self, script: &Script, parsed: &Parsed) -> Answer {
        let message = |rcode: u8, records: &[&Record]| {
            let mut msg = parsed.id.to_be_bytes().to_vec();
            msg.extend_from_slice(&[0x84, rcode, 0, 1]);
            msg.extend_from_slice(&(records.len() as u16).to_be_bytes());
            msg.extend_from_slice(&[0, 0, 0, 0]);
            msg.extend_from_slice(&parsed.question);
            for r in records {
                msg.extend_from_slice(r.owner.as_wire());
                msg.extend_from_slice(&r.rtype.0.to_be_bytes());
                msg.extend_from_slice(&[0, 1]);
                msg.extend_from_slice(&r.ttl.to_be_bytes());
                msg.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
                msg.extend_from_slice(&r.rdata);
            }
            msg
        };
        let single = |msg: Vec<u8>| Answer {
            messages: vec![msg],
            truncate_at: None,
        };
        let Some(current) = script.versions.get(&script.current) else {
            return single(message(2, &[]));
        };
        let soa = |records: &[Record]| -> Record {
            records
                .iter()
                .find(|r| r.rtype == Rtype::SOA)
                .cloned()
                .expect("every version has a SOA")
        };
        let new_soa = soa(current);
        // Records in 50s, one message each, so a transfer spans several messages.
        let stream = |records: Vec<&Record>| -> Vec<Vec<u8>> {
            records.chunks(50).map(|c| message(0, c)).collect()
        };
        match parsed.qtype {
            6 => single(message(0, &[&new_soa])),
            252 if script.axfr_refused => single(message(5, &[])),
            252 => {
                let mut all = vec![&new_soa];
                all.extend(current.iter().filter(|r| r.rtype != Rtype::SOA));
                all.push(&new_soa);
                Answer {
                    messages: stream(all),
                    truncate_at: None,
                }
            }
            251 => {
                let from = parsed.ixfr_serial.unwrap_or(0);
                let Some(old) = script.versions.get(&from) else {
                    return single(message(0, &[&new_soa]));
                };
                if from == script.current {
                    return single(message(0, &[&new_soa]));
                }
                let old_soa = soa(old);
                let diff = |a: &[Record], b: &[Record]| -> Vec<Record> {
                    a.iter()
                        .filter(|r| r.rtype != Rtype::SOA && !b.contains(r))
                        .cloned()
                        .collect()
                };
                let removed = diff(old, current);
                let added = diff(current, old);
                let mut records: Vec<Record> = Vec::new();
                let mut truncate_at = None;
                match script.ixfr {
                    IxfrMode::Good | IxfrMode::Truncated => {
                        records.push(new_soa.clone());
                        records.push(old_soa);
                        records.extend(removed);
                        records.push(new_soa.clone());
                        records.extend(added);
                        records.push(new_soa.clone());
                        if script.ixfr == IxfrMode::Truncated {
                            truncate_at = Some(1);
                        }
                    }
                    IxfrMode::WrongChain => {
                        // Our serial → (ours + 1), then a delta from a serial we
                        // never had to the current one.
                        let mut middle = new_soa.clone();
                        set_serial(&mut middle, from.wrapping_add(1));
                        let mut stranger = new_soa.clone();
                        set_serial(&mut stranger, from.wrapping_add(1000));
                        records.push(new_soa.clone());
                        records.push(old_soa);
                        records.extend(removed);
                        records.push(middle);
                        records.push(stranger);
                        records.push(new_soa.clone());
                        records.extend(added);
                        records.push(new_soa.clone());
                    }
                    IxfrMode::DeletesMissing => {
                        let mut ghost = added.first().cloned().unwrap_or_else(|| new_soa.clone());
                        ghost.owner = Name::from_text("ghost-never-there", Some(&self.apex))
                            .expect("ghost name");
                        ghost.rtype = Rtype::A;
                        ghost.rdata = vec![198, 51, 100, 99].into_boxed_slice();
                        records.push(new_soa.clone());
                        records.push(old_soa);
                        records.extend(removed);
                        records.push(ghost);
                        records.push(new_soa.clone());
                        records.extend(added);
                        records.push(new_soa.clone());
                    }
                    IxfrMode::NoHistory => {
                        records.push(new_soa.clone());
                        records.extend(current.iter().filter(|r| r.rtype != Rtype::SOA).cloned());
                        records.push(new_soa.clone());
                    }
                }
                let messages = stream(records.iter().collect());
                if truncate_at.is_some() && messages.len() < 2 {
                    // Cut inside the only message.
                    truncate_at = Some(0);
                }
                Answer {
                    messages,
                    truncate_at,
                }
            }
            _ => single(message(4, &[])),
        }
    }
}

/// Sets the serial of SOA record `soa`.
fn set_serial(soa: &mut Record, serial: u32) {
    let mut rdata = soa.rdata.to_vec();
    let Some(mname) = dnsd::wire::name::wire_len(&rdata) else {
        return;
    };
    let Some(rname) = dnsd::wire::name::wire_len(&rdata[mname..]) else {
        return;
    };
    let at = mname + rname;
    if rdata.len() >= at + 4 {
        rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    }
    soa.rdata = rdata.into_boxed_slice();
}
