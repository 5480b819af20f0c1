//! Transfers in, on the wire: the secondary's SOA query (UDP, TCP when truncated) and
//! its AXFR (RFC 5936) or IXFR (RFC 1995) request over TCP, signed with the
//! primary's key; every message of the answer verified (TSIG, RFC 8945 §5.3.1) and
//! read into records; the records assembled (`Assembler`, pure) into the whole zone,
//! the deltas of an IXFR, or "up to date". A primary with `tls` is asked both over
//! TLS (XoT, RFC 9103, `xot`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::manager::Delta;
use crate::tsig::{self, Key, ResponseVerifier, VerifyError};
use crate::wire::message::HEADER_LEN;
use crate::wire::name::Name;
use crate::wire::reader::{ReadError, Reader, Section};
use crate::zone::serial::serial_gt;
use crate::zone::stream::StreamBuilder;
use crate::zone::{BuildError, Record, Rtype};

/// Why a query or transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum XfrError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The primary answered with an error.
    #[error("the primary answered {}", rcode_name(*.0))]
    Rcode(u16),
    /// The answer's TSIG did not verify, or the primary refused ours.
    #[error("TSIG: {0}")]
    Tsig(#[from] VerifyError),
    /// The answer is not a transfer of the zone.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The whole zone sent does not make a zone (no SOA, a name outside it, ...).
    #[error("not a zone: {0}")]
    NotAZone(#[from] BuildError),
}

impl From<ReadError> for XfrError {
    fn from(e: ReadError) -> Self {
        XfrError::Malformed(e.to_string())
    }
}

fn rcode_name(code: u16) -> &'static str {
    match code {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        _ => "an error",
    }
}

/// A primary to ask, and how.
#[derive(Clone, Debug)]
pub struct Primary {
    /// Its address.
    pub address: SocketAddr,
    /// The key to sign with.
    pub key: Option<Arc<Key>>,
    /// Bound on each exchange (and on each read of a transfer).
    pub timeout: Duration,
    /// The address to send from (the primary's access list may name it); None: the
    /// system's choice.
    pub source: Option<IpAddr>,
    /// XoT: the TLS connector and how the primary is authenticated; None: TCP.
    pub tls: Option<super::xot::XotPeer>,
}

/// A connection to a primary: TCP, or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}
type Connection = Box<dyn Duplex>;

/// What a transfer brought.
pub enum Fetched {
    /// We are current: the primary's serial is not newer than ours.
    UpToDate(u32),
    /// The changes from our serial (IXFR).
    Incremental(Vec<Delta>),
    /// The whole zone (AXFR, or IXFR answered AXFR-style), built as it came in; its
    /// last step (`StreamBuilder::finish`: indexes and checks) is the caller's.
    Full(StreamBuilder),
}

/// Counts of a transfer, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Octets received.
    pub bytes: u64,
    /// Messages received.
    pub messages: u64,
    /// Records received.
    pub records: u64,
}

/// A request for `zone`, `qtype`, with `authority` (IXFR: our SOA), signed with `key`.
fn request(
    zone: &Name,
    qtype: Rtype,
    authority: Option<&Record>,
    key: Option<&Arc<Key>>,
) -> (Vec<u8>, u16, Option<ResponseVerifier>) {
    let id: u16 = rand::random();
    let mut msg = Vec::with_capacity(128);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(zone.as_wire());
    msg.extend_from_slice(&qtype.0.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    if let Some(soa) = authority {
        msg[9] = 1;
        msg.extend_from_slice(soa.owner.as_wire());
        msg.extend_from_slice(&Rtype::SOA.0.to_be_bytes());
        msg.extend_from_slice(&1u16.to_be_bytes());
        msg.extend_from_slice(&soa.ttl.to_be_bytes());
        msg.extend_from_slice(&(soa.rdata.len() as u16).to_be_bytes());
        msg.extend_from_slice(&soa.rdata);
    }
    let verifier = key.map(|k| tsig::sign_request(k, &mut msg, tsig::unix_now()));
    (msg, id, verifier)
}

/// Checks the header of a response to request `id`; its RCODE.
fn check_header(msg: &[u8], id: u16) -> Result<u16, XfrError> {
    if msg.len() < HEADER_LEN {
        return Err(XfrError::Malformed("shorter than a header".into()));
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return Err(XfrError::Malformed(
            "not the response to our request".into(),
        ));
    }
    Ok(u16::from(msg[3] & 0x0f))
}

/// Asks `primary` for the SOA serial of `zone` (UDP, then TCP if truncated).
pub async fn soa_serial(primary: &Primary, zone: &Name) -> Result<u32, XfrError> {
    let (msg, id, mut verifier) = request(zone, Rtype::SOA, None, primary.key.as_ref());
    if primary.tls.is_some() {
        // XoT: the SOA query goes over TLS too (a TLS port does not speak UDP).
        let mut stream = connect(primary).await?;
        write_framed(&mut stream, &msg, primary.timeout).await?;
        let answer = read_framed(&mut stream, primary.timeout)
            .await?
            .ok_or_else(|| XfrError::Malformed("connection closed".into()))?;
        return serial_in(&answer, id, zone, verifier.as_mut());
    }
    let socket = UdpSocket::bind(source_of(primary)).await?;
    socket.connect(primary.address).await?;
    let mut answer = vec![0u8; 4096];
    let mut got = None;
    for _ in 0..3 {
        socket.send(&msg).await?;
        match tokio::time::timeout(primary.timeout / 3, socket.recv(&mut answer)).await {
            Ok(Ok(n)) if n >= HEADER_LEN && answer[0..2] == id.to_be_bytes() => {
                got = Some(n);
                break;
            }
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => continue,
        }
    }
    let Some(n) = got else {
        return Err(XfrError::Timeout);
    };
    let mut answer = answer[..n].to_vec();
    if answer[2] & 0x02 != 0 {
        // Truncated: ask again over TCP.
        let (msg, tcp_id, tcp_verifier) = request(zone, Rtype::SOA, None, primary.key.as_ref());
        verifier = tcp_verifier;
        let mut stream = connect(primary).await?;
        write_framed(&mut stream, &msg, primary.timeout).await?;
        answer = read_framed(&mut stream, primary.timeout)
            .await?
            .ok_or_else(|| XfrError::Malformed("connection closed".into()))?;
        return serial_in(&answer, tcp_id, zone, verifier.as_mut());
    }
    serial_in(&answer, id, zone, verifier.as_mut())
}

fn serial_in(
    answer: &[u8],
    id: u16,
    zone: &Name,
    verifier: Option<&mut ResponseVerifier>,
) -> Result<u32, XfrError> {
    if let Some(v) = verifier {
        v.verify(answer, tsig::unix_now())?;
    }
    let rcode = check_header(answer, id)?;
    if rcode != 0 {
        return Err(XfrError::Rcode(rcode));
    }
    let mut reader = Reader::new(answer).ok_or_else(|| XfrError::Malformed("short".into()))?;
    while let Some(record) = reader.record()? {
        if record.section == Section::Answer
            && record.rtype == Rtype::SOA
            && record.owner.to_lowercase() == zone.to_lowercase()
        {
            let rdata = record.to_record(answer)?.rdata;
            return crate::zone::snapshot::soa_fields(&rdata)
                .map(|f| f[0])
                .ok_or_else(|| XfrError::Malformed("bad SOA".into()));
        }
    }
    Err(XfrError::Malformed("no SOA in the answer".into()))
}

/// The local address to send to `primary` from.
fn source_of(primary: &Primary) -> SocketAddr {
    match (primary.source, primary.address) {
        (Some(ip), to) if ip.is_ipv4() == to.is_ipv4() => SocketAddr::new(ip, 0),
        (_, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (_, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// A TCP connection to `primary`, with TLS on it when the primary has `tls`.
async fn connect(primary: &Primary) -> Result<Connection, XfrError> {
    let stream = connect_tcp(primary).await?;
    let Some(tls) = &primary.tls else {
        return Ok(Box::new(stream));
    };
    match tokio::time::timeout(primary.timeout, tls.handshake(stream, primary.address)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(XfrError::Timeout),
    }
}

async fn connect_tcp(primary: &Primary) -> Result<TcpStream, XfrError> {
    let socket = match primary.address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if primary.source.is_some() {
        socket.bind(source_of(primary))?;
    }
    match tokio::time::timeout(primary.timeout, socket.connect(primary.address)).await {
        Ok(Ok(stream)) => {
            stream.set_nodelay(true)?;
            Ok(stream)
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(XfrError::Timeout),
    }
}

async fn write_framed(
    stream: &mut Connection,
    msg: &[u8],
    timeout: Duration,
) -> Result<(), XfrError> {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    match tokio::time::timeout(timeout, stream.write_all(&framed)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(XfrError::Timeout),
    }
}

/// The next length-prefixed message; None when the peer closed cleanly before it.
async fn read_framed(
    stream: &mut Connection,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, XfrError> {
    let read = async {
        let mut len = [0u8; 2];
        match stream.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(XfrError::from(e)),
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match stream.read_exact(&mut msg).await {
            Ok(_) => Ok(Some(msg)),
            // A stream cut inside a message: the answer is broken, not the link (an
            // IXFR so cut falls back to AXFR).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(XfrError::Malformed(format!(
                    "the connection closed inside a message of {} octets",
                    msg.len()
                )))
            }
            Err(e) => Err(XfrError::from(e)),
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(XfrError::Timeout),
    }
}

/// Transfers `zone` from `primary`: IXFR from `ours` (our SOA) when given, else
/// AXFR. A whole zone is built as it arrives, in an arena whose first chunk takes
/// `capacity` octets (the size of the version served, when there is one).
pub async fn fetch(
    primary: &Primary,
    zone: &Name,
    ours: Option<&Record>,
    capacity: usize,
) -> Result<(Fetched, Counts), XfrError> {
    let qtype = if ours.is_some() {
        Rtype::IXFR
    } else {
        Rtype::AXFR
    };
    let (msg, id, mut verifier) = request(zone, qtype, ours, primary.key.as_ref());
    let mut stream = connect(primary).await?;
    write_framed(&mut stream, &msg, primary.timeout).await?;
    let our_serial =
        ours.and_then(|soa| crate::zone::snapshot::soa_fields(&soa.rdata).map(|f| f[0]));
    let mut assembler = Assembler::new(zone.clone(), our_serial).with_capacity(capacity);
    let mut counts = Counts::default();
    loop {
        let Some(answer) = read_framed(&mut stream, primary.timeout).await? else {
            if assembler.first_soa_only() {
                // A lone SOA newer than ours and nothing after: the primary will not
                // send an IXFR (RFC 1995 §2); the caller asks for AXFR.
                return Err(XfrError::Malformed("IXFR answered with a lone SOA".into()));
            }
            return Err(XfrError::Malformed(
                "connection closed before the transfer ended".into(),
            ));
        };
        counts.bytes += answer.len() as u64 + 2;
        counts.messages += 1;
        if let Some(v) = verifier.as_mut() {
            v.verify(&answer, tsig::unix_now())?;
        }
        let rcode = check_header(&answer, id)?;
        if rcode != 0 {
            return Err(XfrError::Rcode(rcode));
        }
        let mut reader = Reader::new(&answer).ok_or_else(|| XfrError::Malformed("short".into()))?;
        while let Some(record) = reader.record()? {
            if record.section != Section::Answer {
                continue;
            }
            counts.records += 1;
            assembler.push(record.into_record(&answer)?)?;
        }
        if assembler.is_done() {
            break;
        }
    }
    if let Some(v) = &verifier {
        v.finish()?;
    }
    Ok((assembler.finish()?, counts))
}

//------------ Assembler -----------------------------------------------------

/// Where an answer's records stand.
#[derive(Debug)]
enum State {
    /// Nothing yet.
    Start,
    /// The first SOA (the primary's serial).
    First,
    /// A whole zone, until the SOA comes again.
    Full,
    /// An IXFR delta's removals (after its old SOA).
    Removing,
    /// An IXFR delta's additions (after its new SOA).
    Adding,
    /// The transfer ended.
    Done,
}

/// Turns an answer's records, in order, into what the transfer brought (pure). The
/// records of a whole zone go to a [`StreamBuilder`] as they come: never held as a
/// list of records when the primary sends them in canonical order.
pub struct Assembler {
    zone: Name,
    ours: Option<u32>,
    state: State,
    serial: u32,
    first: Option<Record>,
    full: Option<StreamBuilder>,
    capacity: usize,
    deltas: Vec<Delta>,
    current: Option<Delta>,
    incremental: bool,
}

/// The first arena chunk of a zone whose size is not known.
const DEFAULT_CAPACITY: usize = 64 << 10;

impl Assembler {
    /// An assembler for `zone`; `ours` is our serial for an IXFR.
    pub fn new(zone: Name, ours: Option<u32>) -> Self {
        Self {
            zone: zone.to_lowercase(),
            ours,
            state: State::Start,
            serial: 0,
            first: None,
            full: None,
            capacity: DEFAULT_CAPACITY,
            deltas: Vec::new(),
            current: None,
            incremental: false,
        }
    }

    /// The size in octets of the first arena chunk of a whole zone (default 64 KiB).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(DEFAULT_CAPACITY);
        self
    }

    /// Starts the whole zone with the first SOA, then `record` when given.
    fn start_full(&mut self, record: Option<Record>) -> Result<(), XfrError> {
        let mut full = StreamBuilder::new(&self.zone, self.capacity);
        if let Some(first) = self.first.clone() {
            full.push(first)?;
        }
        if let Some(record) = record {
            full.push(record)?;
        }
        self.full = Some(full);
        Ok(())
    }

    /// Whether the transfer ended (or, for an IXFR, we are current).
    pub fn is_done(&self) -> bool {
        match self.state {
            State::Done => true,
            // An IXFR whose only record is a SOA not newer than ours.
            State::First => self.ours.is_some_and(|ours| !serial_gt(self.serial, ours)),
            _ => false,
        }
    }

    /// Whether only the first SOA came.
    pub fn first_soa_only(&self) -> bool {
        matches!(self.state, State::First)
    }

    fn soa_serial(&self, record: &Record) -> Result<Option<u32>, XfrError> {
        if record.rtype != Rtype::SOA {
            return Ok(None);
        }
        if record.owner.to_lowercase() != self.zone {
            return Err(XfrError::Malformed(format!(
                "a SOA record for {}",
                record.owner
            )));
        }
        crate::zone::snapshot::soa_fields(&record.rdata)
            .map(|f| Some(f[0]))
            .ok_or_else(|| XfrError::Malformed("a malformed SOA".into()))
    }

    /// Takes the next record of the answer.
    pub fn push(&mut self, record: Record) -> Result<(), XfrError> {
        let soa = self.soa_serial(&record)?;
        match self.state {
            State::Start => {
                let Some(serial) = soa else {
                    return Err(XfrError::Malformed(
                        "the answer does not start with the SOA".into(),
                    ));
                };
                self.serial = serial;
                self.first = Some(record);
                self.state = State::First;
            }
            State::First => match soa {
                Some(serial) if self.ours == Some(serial) && serial != self.serial => {
                    // RFC 1995 §4: an incremental answer; this is the first delta's
                    // old SOA.
                    self.incremental = true;
                    self.current = Some(Delta {
                        old_soa: record,
                        removed: Vec::new(),
                        new_soa: self
                            .first
                            .clone()
                            .ok_or_else(|| XfrError::Malformed("no SOA".into()))?,
                        added: Vec::new(),
                    });
                    self.state = State::Removing;
                }
                Some(serial) if serial == self.serial => {
                    // A zone of its SOA alone.
                    self.start_full(None)?;
                    self.state = State::Done;
                }
                Some(_) => return Err(XfrError::Malformed("an unexpected SOA".into())),
                None => {
                    self.start_full(Some(record))?;
                    self.state = State::Full;
                }
            },
            State::Full => match (soa, self.full.as_mut()) {
                (Some(serial), _) if serial == self.serial => self.state = State::Done,
                (Some(_), _) => {
                    return Err(XfrError::Malformed("a second, different SOA".into()));
                }
                (None, Some(full)) => full.push(record)?,
                (None, None) => return Err(XfrError::Malformed("no zone started".into())),
            },
            State::Removing => {
                let delta = self
                    .current
                    .as_mut()
                    .ok_or_else(|| XfrError::Malformed("no delta".into()))?;
                match soa {
                    Some(_) => {
                        delta.new_soa = record;
                        self.state = State::Adding;
                    }
                    None => delta.removed.push(record),
                }
            }
            State::Adding => {
                let delta = self
                    .current
                    .as_mut()
                    .ok_or_else(|| XfrError::Malformed("no delta".into()))?;
                let delta_serial =
                    crate::zone::snapshot::soa_fields(&delta.new_soa.rdata).map(|f| f[0]);
                match soa {
                    Some(serial) if serial == self.serial && delta_serial == Some(self.serial) => {
                        self.deltas.extend(self.current.take());
                        self.state = State::Done;
                    }
                    Some(_) => {
                        let next = Delta {
                            old_soa: record,
                            removed: Vec::new(),
                            new_soa: delta.new_soa.clone(),
                            added: Vec::new(),
                        };
                        self.deltas.extend(self.current.replace(next));
                        self.state = State::Removing;
                    }
                    None => delta.added.push(record),
                }
            }
            State::Done => return Err(XfrError::Malformed("records after the final SOA".into())),
        }
        Ok(())
    }

    /// What the answer brought; an error unless it ended.
    pub fn finish(self) -> Result<Fetched, XfrError> {
        if !self.is_done() {
            return Err(XfrError::Malformed(
                "the transfer did not end with the SOA".into(),
            ));
        }
        if matches!(self.state, State::First) {
            return Ok(Fetched::UpToDate(self.serial));
        }
        if self.incremental {
            return Ok(Fetched::Incremental(self.deltas));
        }
        self.full
            .map(Fetched::Full)
            .ok_or_else(|| XfrError::Malformed("no zone".into()))
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
