//! A DNS client for tests: queries built byte by byte (so a test can set any opcode,
//! EDNS version, option or flag, or send garbage), exchanged over UDP and TCP with
//! timeouts, and responses normalized for comparison between servers: rcode, flags,
//! EDNS, and each section as RRsets (owner lowercased, TTL kept), each RRset's rdatas
//! sorted with their multiplicity (a record sent twice counts twice; the order of
//! records within an RRset is not significant, RFC 2181 §5), with a readable diff.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::Record;

/// EDNS0 settings of a query's OPT record (RFC 6891).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns {
    /// Advertised UDP payload size.
    pub size: u16,
    /// EDNS version (0 is the only one defined; 1 must get BADVERS).
    pub version: u8,
    /// The DO bit.
    pub dnssec_ok: bool,
    /// Options as (code, data).
    pub options: Vec<(u16, Vec<u8>)>,
}

impl Default for Edns {
    fn default() -> Self {
        Self {
            size: 1232,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        }
    }
}

/// A query to build: one question, flags and EDNS as the test wants them.
#[derive(Clone, Debug)]
pub struct Query {
    /// Message id.
    pub id: u16,
    /// Question name in presentation form, case kept as written ("WwW.Example.COM.").
    pub name: String,
    /// Question type (numeric, so unknown types can be asked).
    pub qtype: u16,
    /// Question class (1 = IN).
    pub qclass: u16,
    /// Opcode (0 = QUERY).
    pub opcode: u8,
    /// The RD flag.
    pub rd: bool,
    /// The CD flag.
    pub cd: bool,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
}

impl Query {
    /// A plain IN query with EDNS0 (1232 bytes), RD clear.
    pub fn new(name: &str, qtype: u16) -> Self {
        Self {
            id: 0x4242,
            name: name.to_string(),
            qtype,
            qclass: 1,
            opcode: 0,
            rd: false,
            cd: false,
            edns: Some(Edns::default()),
        }
    }

    /// The same query without an OPT record.
    pub fn no_edns(mut self) -> Self {
        self.edns = None;
        self
    }

    /// The query in wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&self.id.to_be_bytes());
        let mut flags: u16 = u16::from(self.opcode & 0x0f) << 11;
        if self.rd {
            flags |= 0x0100;
        }
        if self.cd {
            flags |= 0x0010;
        }
        b.extend_from_slice(&flags.to_be_bytes());
        let arcount: u16 = u16::from(self.edns.is_some());
        for count in [1u16, 0, 0, arcount] {
            b.extend_from_slice(&count.to_be_bytes());
        }
        encode_name(&self.name, &mut b);
        b.extend_from_slice(&self.qtype.to_be_bytes());
        b.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(edns) = &self.edns {
            b.push(0); // root owner
            b.extend_from_slice(&41u16.to_be_bytes());
            b.extend_from_slice(&edns.size.to_be_bytes());
            b.push(0); // extended rcode
            b.push(edns.version);
            let eflags: u16 = if edns.dnssec_ok { 0x8000 } else { 0 };
            b.extend_from_slice(&eflags.to_be_bytes());
            let rdlen: usize = edns.options.iter().map(|(_, d)| 4 + d.len()).sum();
            b.extend_from_slice(&(rdlen as u16).to_be_bytes());
            for (code, data) in &edns.options {
                b.extend_from_slice(&code.to_be_bytes());
                b.extend_from_slice(&(data.len() as u16).to_be_bytes());
                b.extend_from_slice(data);
            }
        }
        b
    }
}

/// Encodes a presentation-form name (no escapes; "." is the root) into wire labels.
pub fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// Sends `request` over UDP and returns the first datagram whose id matches, or None when
/// nothing came within `timeout`.
pub fn udp_exchange(server: SocketAddr, request: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().ok()?
    } else {
        "[::1]:0".parse().ok()?
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(server).ok()?;
    sock.send(request).ok()?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = sock.recv(&mut buf).ok()?;
        if request.len() < 2 || (n >= 2 && buf[..2] == request[..2]) {
            return Some(buf[..n].to_vec());
        }
    }
}

/// What a server sent back to one UDP request that may deserve no answer at all.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// No datagram came before the answer to the probe sent after it.
    Silence,
    /// This datagram came.
    Datagram(Vec<u8>),
}

/// Sends `request`, then a good `probe` query (with another id) from the same socket, and
/// collects what comes back until the probe's answer: whatever came before it answered
/// `request`. Servers answer one socket's datagrams in order, so silence is known without
/// guessing a timeout. Returns None if even the probe got no answer within `timeout`.
pub fn udp_exchange_or_silence(
    server: SocketAddr,
    request: &[u8],
    probe: &Query,
    timeout: Duration,
) -> Option<Reply> {
    let sock = UdpSocket::bind(if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    })
    .ok()?;
    sock.connect(server).ok()?;
    let mut probe = probe.clone();
    probe.id = if request.len() >= 2 && request[..2] == probe.id.to_be_bytes() {
        probe.id.wrapping_add(1)
    } else {
        probe.id
    };
    sock.send(request).ok()?;
    sock.send(&probe.to_bytes()).ok()?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    let mut reply = Reply::Silence;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = sock.recv(&mut buf).ok()?;
        if n >= 2 && buf[..2] == probe.id.to_be_bytes() && reply != Reply::Silence {
            return Some(reply);
        }
        if n >= 2 && buf[..2] == probe.id.to_be_bytes() {
            return Some(Reply::Silence);
        }
        reply = Reply::Datagram(buf[..n].to_vec());
    }
}

/// Sends `request` over a new TCP connection (2-byte length prefix, RFC 7766) and returns
/// the response.
pub fn tcp_exchange(
    server: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect_timeout(&server, timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    tcp_send(&mut conn, request)?;
    tcp_recv(&mut conn)
}

/// Writes one length-prefixed message on a TCP connection.
pub fn tcp_send(conn: &mut TcpStream, request: &[u8]) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&(request.len() as u16).to_be_bytes());
    framed.extend_from_slice(request);
    conn.write_all(&framed)
}

/// Reads one length-prefixed message from a TCP connection.
pub fn tcp_recv(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut msg)?;
    Ok(msg)
}

/// One RRset's identity in a normalized section: owner (lowercased), type, class, TTL.
pub type RrsetKey = (String, String, String, u32);

/// A section: each RRset's rdatas in presentation form, sorted, duplicates kept.
pub type Section = BTreeMap<RrsetKey, Vec<String>>;

/// A response reduced to what two correct servers should agree on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Response code, EDNS extended bits merged (BADVERS = 16).
    pub rcode: u16,
    /// Opcode echoed.
    pub opcode: u8,
    /// Header flags that are set, by name (qr, aa, tc, rd, ra, ad, cd).
    pub flags: BTreeSet<&'static str>,
    /// The question section as sent back, case kept.
    pub question: Vec<String>,
    /// Answer section: RRset key -> its rdatas in presentation form (sorted, with
    /// their multiplicity).
    pub answer: Section,
    /// Authority section, as `answer`.
    pub authority: Section,
    /// Additional section without the OPT record, as `answer`.
    pub additional: Section,
    /// The OPT record: (version, DO bit), None when absent. The payload size is kept
    /// apart in `edns_size` since servers pick their own.
    pub edns: Option<(u8, bool)>,
    /// The payload size our peer advertised.
    pub edns_size: Option<u16>,
}

/// Parses and normalizes a response.
pub fn normalize(bytes: &[u8]) -> Result<Normalized, String> {
    let msg = Message::from_vec(bytes).map_err(|e| format!("unparsable response: {e}"))?;
    let meta = &msg.metadata;
    let mut flags = BTreeSet::new();
    for (on, name) in [
        (
            meta.message_type == hickory_proto::op::MessageType::Response,
            "qr",
        ),
        (meta.authoritative, "aa"),
        (meta.truncation, "tc"),
        (meta.recursion_desired, "rd"),
        (meta.recursion_available, "ra"),
        (meta.authentic_data, "ad"),
        (meta.checking_disabled, "cd"),
    ] {
        if on {
            flags.insert(name);
        }
    }
    Ok(Normalized {
        rcode: u16::from(meta.response_code),
        opcode: u8::from(meta.op_code),
        flags,
        question: msg
            .queries
            .iter()
            .map(|q| format!("{} {} {}", q.name, q.query_class, q.query_type))
            .collect(),
        answer: rrsets(&msg.answers),
        authority: rrsets(&msg.authorities),
        additional: rrsets(&msg.additionals),
        edns: msg
            .edns
            .as_ref()
            .map(|e| (e.version(), e.flags().dnssec_ok)),
        edns_size: msg.edns.as_ref().map(|e| e.max_payload()),
    })
}

fn rrsets(records: &[Record]) -> Section {
    let mut sets = Section::new();
    for r in records {
        let key = (
            r.name.to_lowercase().to_string(),
            r.record_type().to_string(),
            r.dns_class.to_string(),
            r.ttl,
        );
        // Names inside RDATA compare without case (RFC 4343); servers that compress them
        // against a mixed-case qname send them in its case.
        let rdata = match r.record_type().to_string().as_str() {
            "NS" | "CNAME" | "PTR" | "MX" | "SRV" | "SOA" => {
                r.data.to_string().to_ascii_lowercase()
            }
            _ => r.data.to_string(),
        };
        sets.entry(key).or_default().push(rdata);
    }
    for rdatas in sets.values_mut() {
        rdatas.sort();
    }
    sets
}

impl Normalized {
    /// Names of the sections, for diffs and allow-list rules.
    pub fn section(&self, name: &str) -> &Section {
        match name {
            "answer" => &self.answer,
            "authority" => &self.authority,
            _ => &self.additional,
        }
    }

    /// Mutable access to a section by name.
    pub fn section_mut(&mut self, name: &str) -> &mut Section {
        match name {
            "answer" => &mut self.answer,
            "authority" => &mut self.authority,
            _ => &mut self.additional,
        }
    }

    /// The rcode's name (NOERROR, NXDOMAIN, ...).
    pub fn rcode_name(&self) -> String {
        <hickory_proto::op::ResponseCode as From<u16>>::from(self.rcode)
            .to_str()
            .to_string()
    }
}

impl fmt::Display for Normalized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} flags [", self.rcode_name())?;
        for (i, flag) in self.flags.iter().enumerate() {
            write!(f, "{}{flag}", if i > 0 { " " } else { "" })?;
        }
        write!(f, "]")?;
        match (self.edns, self.edns_size) {
            (Some((version, dok)), Some(size)) => {
                write!(
                    f,
                    " edns v{version} size {size}{}",
                    if dok { " do" } else { "" }
                )?;
            }
            _ => write!(f, " no-edns")?,
        }
        writeln!(f)?;
        for q in &self.question {
            writeln!(f, "  question   {q}")?;
        }
        for name in ["answer", "authority", "additional"] {
            for ((owner, rtype, class, ttl), rdatas) in self.section(name) {
                for rdata in rdatas {
                    writeln!(f, "  {name:<10} {owner} {ttl} {class} {rtype} {rdata}")?;
                }
            }
        }
        Ok(())
    }
}

/// The differences between two normalized responses, one line each, empty when they
/// match. `left`/`right` name the servers in the lines.
pub fn diff(
    left_name: &str,
    left: &Normalized,
    right_name: &str,
    right: &Normalized,
) -> Vec<String> {
    let mut out = Vec::new();
    if left.rcode != right.rcode {
        out.push(format!(
            "rcode: {left_name} {} / {right_name} {}",
            left.rcode_name(),
            right.rcode_name()
        ));
    }
    if left.opcode != right.opcode {
        out.push(format!(
            "opcode: {left_name} {} / {right_name} {}",
            left.opcode, right.opcode
        ));
    }
    if left.flags != right.flags {
        let only_l: Vec<_> = left.flags.difference(&right.flags).collect();
        let only_r: Vec<_> = right.flags.difference(&left.flags).collect();
        out.push(format!(
            "flags: only {left_name} {only_l:?}, only {right_name} {only_r:?}"
        ));
    }
    if left.question != right.question {
        out.push(format!(
            "question: {left_name} {:?} / {right_name} {:?}",
            left.question, right.question
        ));
    }
    if left.edns != right.edns {
        out.push(format!(
            "edns (version, do): {left_name} {:?} / {right_name} {:?}",
            left.edns, right.edns
        ));
    }
    for name in ["answer", "authority", "additional"] {
        let (l, r) = (left.section(name), right.section(name));
        for (key, rdatas) in l {
            if r.get(key) != Some(rdatas) {
                out.push(format!(
                    "{name}: only {left_name}: {} {} {} {} {:?}",
                    key.0, key.3, key.2, key.1, rdatas
                ));
            }
        }
        for (key, rdatas) in r {
            if l.get(key) != Some(rdatas) {
                out.push(format!(
                    "{name}: only {right_name}: {} {} {} {} {:?}",
                    key.0, key.3, key.2, key.1, rdatas
                ));
            }
        }
    }
    out
}

/// Transfers `zone` by AXFR over TCP (RFC 5936) and returns each owner name with the
/// types it holds, in the order they came.
pub fn axfr_owners(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<(String, Vec<u16>)>, String> {
    let q = Query::new(&format!("{}.", zone.trim_end_matches('.')), 252).no_edns();
    let mut conn = TcpStream::connect_timeout(&server, timeout).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp_send(&mut conn, &q.to_bytes()).map_err(|e| e.to_string())?;
    let mut owners: Vec<(String, Vec<u16>)> = Vec::new();
    let mut soas = 0;
    while soas < 2 {
        let bytes = tcp_recv(&mut conn).map_err(|e| e.to_string())?;
        let msg = Message::from_vec(&bytes).map_err(|e| e.to_string())?;
        if msg.metadata.response_code != hickory_proto::op::ResponseCode::NoError {
            return Err(format!("AXFR refused: {}", msg.metadata.response_code));
        }
        if msg.answers.is_empty() {
            return Err("empty AXFR message".to_string());
        }
        for r in &msg.answers {
            let rtype = u16::from(r.record_type());
            if rtype == 6 {
                soas += 1;
                if soas == 2 {
                    break;
                }
            }
            let owner = r.name.to_string();
            match owners.iter_mut().find(|(o, _)| *o == owner) {
                Some((_, types)) if !types.contains(&rtype) => types.push(rtype),
                Some(_) => {}
                None => owners.push((owner, vec![rtype])),
            }
        }
    }
    Ok(owners)
}

/// Skips a possibly compressed name at `at`; the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            0xc0..=0xff => return Some(at + 2),
            _ => at += 1 + usize::from(len),
        }
    }
}

/// The data of the first EDNS option `code` in the OPT record of `msg`, if any.
pub fn edns_option(msg: &[u8], code: u16) -> Option<Vec<u8>> {
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]));
    if msg.len() < 12 {
        return None;
    }
    let mut at = 12;
    for _ in 0..count(0) {
        at = skip_name(msg, at)? + 4;
    }
    for _ in 0..count(1) + count(2) + count(3) {
        let start = at;
        at = skip_name(msg, at)?;
        let rtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
        let rdlen = usize::from(u16::from_be_bytes([*msg.get(at + 8)?, *msg.get(at + 9)?]));
        let rdata = msg.get(at + 10..at + 10 + rdlen)?;
        at += 10 + rdlen;
        if rtype == 41 && msg.get(start) == Some(&0) {
            let mut options = rdata;
            while options.len() >= 4 {
                let c = u16::from_be_bytes([options[0], options[1]]);
                let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
                let data = options.get(4..4 + len)?;
                if c == code {
                    return Some(data.to_vec());
                }
                options = &options[4 + len..];
            }
        }
    }
    None
}

/// The RCODE of `msg`, with the upper eight bits from its OPT record (RFC 6891 §6.1.3).
pub fn full_rcode(msg: &[u8]) -> u16 {
    let low = u16::from(msg.get(3).copied().unwrap_or(0) & 0x0f);
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]));
    if msg.len() < 12 {
        return low;
    }
    let mut at = 12;
    for _ in 0..count(0) {
        match skip_name(msg, at) {
            Some(next) => at = next + 4,
            None => return low,
        }
    }
    for _ in 0..count(1) + count(2) + count(3) {
        let Some(name_end) = skip_name(msg, at) else {
            return low;
        };
        let field = |i: usize| msg.get(name_end + i).copied().unwrap_or(0);
        let rdlen = usize::from(u16::from_be_bytes([field(8), field(9)]));
        if u16::from_be_bytes([field(0), field(1)]) == 41 {
            return low | u16::from(field(4)) << 4;
        }
        at = name_end + 10 + rdlen;
    }
    low
}

/// The Extended DNS Error codes (RFC 8914) of a response's OPT record, in order.
pub fn ede_codes(bytes: &[u8]) -> Vec<u16> {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    let Ok(msg) = Message::from_vec(bytes) else {
        return Vec::new();
    };
    let Some(edns) = msg.edns.as_ref() else {
        return Vec::new();
    };
    edns.options()
        .get_all(EdnsCode::from(15))
        .into_iter()
        .filter_map(|option| match option {
            EdnsOption::Unknown(_, data) if data.len() >= 2 => {
                Some(u16::from_be_bytes([data[0], data[1]]))
            }
            _ => None,
        })
        .collect()
}

/// `dig +short +norec` of `name` `qtype` at `server` (2 s, 2 tries), its lines sorted;
/// empty when dig gets no answer.
pub fn short(server: std::net::SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{}", server.ip()),
            "-p",
            &server.port().to_string(),
            "+short",
            "+norec",
            "+time=2",
            "+tries=2",
            name,
            qtype,
        ])
        .output()
        .expect("run dig");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// The questions a zone's AXFR as dig prints it answers: each (owner, type code) of
/// its records of the common types (SOA, NS, A, AAAA, MX, TXT, PTR, CNAME, SRV, CAA),
/// once each, in order. A differential test asks them of two servers.
pub fn axfr_questions(dig_text: &str) -> BTreeSet<(String, u16)> {
    dig_text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let qtype = match *f.get(3)? {
                "SOA" => 6,
                "NS" => 2,
                "A" => 1,
                "AAAA" => 28,
                "MX" => 15,
                "TXT" => 16,
                "PTR" => 12,
                "CNAME" => 5,
                "SRV" => 33,
                "CAA" => 257,
                _ => return None,
            };
            Some((f[0].to_string(), qtype))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to www.example.com. A with `addresses` in the answer section (TTL 300).
    fn response(addresses: &[[u8; 4]]) -> Vec<u8> {
        let mut b = vec![
            0x42,
            0x42,
            0x84,
            0x00,
            0,
            1,
            0,
            addresses.len() as u8,
            0,
            0,
            0,
            0,
        ];
        encode_name("www.example.com.", &mut b);
        b.extend_from_slice(&[0, 1, 0, 1]);
        for a in addresses {
            b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
            b.extend_from_slice(a);
        }
        b
    }

    #[test]
    fn a_record_sent_twice_counts_twice() {
        let once = normalize(&response(&[[198, 51, 100, 1], [198, 51, 100, 2]])).unwrap();
        let twice = normalize(&response(&[
            [198, 51, 100, 2],
            [198, 51, 100, 1],
            [198, 51, 100, 1],
        ]))
        .unwrap();
        let rdatas: Vec<&Vec<String>> = twice.answer.values().collect();
        assert_eq!(
            rdatas,
            [&vec![
                "198.51.100.1".to_string(),
                "198.51.100.1".into(),
                "198.51.100.2".into()
            ]]
        );
        let lines = diff("a", &once, "b", &twice);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].starts_with("answer: only b: www.example.com. 300 IN A"));
        // The order of records within an RRset does not matter.
        let swapped = normalize(&response(&[[198, 51, 100, 2], [198, 51, 100, 1]])).unwrap();
        assert!(diff("a", &once, "b", &swapped).is_empty());
    }
}
