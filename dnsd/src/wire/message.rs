//! DNS requests in wire format (RFC 1035 §4.1): the header, the one question, and the
//! EDNS OPT record of the additional section (RFC 6891 §6.1).
//!
//! Parsing borrows from the packet and never allocates. It decides only what the
//! packet *is*; what to answer is the answer engine's business. The rules follow NSD
//! 4.6, the server dnsd is compared with:
//!
//! - shorter than a header, or QR set: no reply at all;
//! - an opcode other than QUERY and NOTIFY: NOTIMP, checked before the question because
//!   other opcodes may give the counts other meanings;
//! - a nonzero RCODE in a query, a question that does not parse (truncated, compressed,
//!   a name too long), QDCOUNT other than 1, records in the answer or authority section
//!   (authority is allowed for IXFR, RFC 1995 §3), an additional record that is not one
//!   OPT with the root owner, two OPTs, or an OPT whose RDATA does not parse: FORMERR;
//! - bytes after the last record are ignored (NSD removes such "trailing garbage");
//! - QDCOUNT 0 with only an OPT record: an EDNS probe (RFC 7873 §5.4), answered NOERROR;
//! - a COOKIE option (RFC 7873 §4) shorter than a client cookie, longer than 40 octets,
//!   or with a server cookie shorter than 8: FORMERR (RFC 7873 §5.2.2). NSD 4.6 does
//!   not know cookies and ignores the option; Knot and BIND answer FORMERR.

use super::name::{MAX_LABEL_LEN, MAX_NAME_LEN};

/// Length of the message header.
pub const HEADER_LEN: usize = 12;

/// Opcodes (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
pub mod opcode {
    /// A standard query.
    pub const QUERY: u8 = 0;
    /// A zone change notification (RFC 1996).
    pub const NOTIFY: u8 = 4;
    /// A dynamic update (RFC 2136).
    pub const UPDATE: u8 = 5;
}

/// Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for the extended ones).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The request was malformed.
    pub const FORMERR: u16 = 1;
    /// The server failed.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// The opcode or the request is not implemented.
    pub const NOTIMP: u16 = 4;
    /// The server refuses to answer.
    pub const REFUSED: u16 = 5;
    /// A DNAME substitution made a name too long (RFC 6672 §2.2).
    pub const YXDOMAIN: u16 = 6;
    /// Not authoritative (RFC 2136, RFC 8945).
    pub const NOTAUTH: u16 = 9;
    /// Unsupported EDNS version (RFC 6891 §6.1.3).
    pub const BADVERS: u16 = 16;
}

/// Classes the server looks at.
pub mod class {
    /// The Internet.
    pub const IN: u16 = 1;
    /// Chaos.
    pub const CH: u16 = 3;
    /// Any class (QCLASS only).
    pub const ANY: u16 = 255;
}

/// The fixed header of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Query id, copied into the response.
    pub id: u16,
    /// QR, opcode, AA, TC, RD, RA, Z, AD, CD and RCODE, as on the wire.
    pub flags: u16,
    /// Number of questions.
    pub qdcount: u16,
    /// Number of answer records.
    pub ancount: u16,
    /// Number of authority records.
    pub nscount: u16,
    /// Number of additional records.
    pub arcount: u16,
}

/// Flag bits of the header's second word.
pub mod flags {
    /// The message is a response.
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// The opcode's bits.
    pub const OPCODE_MASK: u16 = 0x7800;
}

impl Header {
    /// Reads the header at the start of `packet`; `None` if the packet is shorter.
    pub fn parse(packet: &[u8]) -> Option<Header> {
        let word = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
        (packet.len() >= HEADER_LEN).then(|| Header {
            id: word(0),
            flags: word(2),
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    /// The opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags & flags::OPCODE_MASK) >> 11) as u8
    }

    /// Whether QR is set.
    pub fn is_response(&self) -> bool {
        self.flags & flags::QR != 0
    }

    /// Whether RD is set.
    pub fn recursion_desired(&self) -> bool {
        self.flags & flags::RD != 0
    }

    /// The 4-bit RCODE of the header.
    pub fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }
}

/// The EDNS information of a request's OPT record (RFC 6891 §6.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns<'a> {
    /// The requestor's UDP payload size.
    pub udp_size: u16,
    /// The EDNS version.
    pub version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
    /// The data of the first COOKIE option (RFC 7873 §4): a client cookie of 8
    /// octets, then a server cookie of 8 to 32, or none.
    pub cookie: Option<&'a [u8]>,
    /// Whether the request asks for our name server identifier (RFC 5001 §2.1).
    pub nsid: bool,
}

/// EDNS option codes (IANA registry).
pub mod option {
    /// Name server identifier (RFC 5001).
    pub const NSID: u16 = 3;
    /// DNS cookie (RFC 7873).
    pub const COOKIE: u16 = 10;
    /// Extended DNS error (RFC 8914).
    pub const EDE: u16 = 15;
}

/// The question of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// The whole question as received: name, QTYPE, QCLASS.
    pub wire: &'a [u8],
    /// The name in uncompressed wire format, case as the client sent it.
    pub name: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// A request that parsed: what the answer engine works from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The header as received.
    pub header: Header,
    /// The question; `None` only for an EDNS probe (QDCOUNT 0 with an OPT).
    pub question: Option<Question<'a>>,
    /// The OPT record, if there was one.
    pub edns: Option<Edns<'a>>,
    /// The TSIG record of the additional section, if any (RFC 8945).
    pub tsig: Option<Tsig<'a>>,
}

/// The parts of a request's TSIG record (RFC 8945 §4.2) that an error response echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tsig<'a> {
    /// The key name, uncompressed.
    pub key: &'a [u8],
    /// The algorithm name, uncompressed.
    pub algorithm: &'a [u8],
    /// Time signed (48 bits) and fudge (16 bits), as received.
    pub time_and_fudge: &'a [u8],
    /// The original message id.
    pub original_id: u16,
}

/// Why a packet is not a request the engine answers from its zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Send nothing: shorter than a header, or a response (QR set).
    Drop,
    /// An opcode the server does not implement: NOTIMP, header only.
    NotImplemented(Header),
    /// Malformed: FORMERR, header only. `keep_rd` says whether RD is echoed (NSD
    /// clears every flag when QDCOUNT is not 1 and keeps RD otherwise).
    Malformed {
        /// The header as received.
        header: Header,
        /// Whether the response echoes RD.
        keep_rd: bool,
    },
}

/// Parses a request.
pub fn parse(packet: &[u8]) -> Result<Request<'_>, Rejection> {
    let header = Header::parse(packet).ok_or(Rejection::Drop)?;
    if header.is_response() {
        return Err(Rejection::Drop);
    }
    let op = header.opcode();
    if op != opcode::QUERY && op != opcode::NOTIFY {
        return Err(Rejection::NotImplemented(header));
    }
    let malformed = Rejection::Malformed {
        header,
        keep_rd: true,
    };
    if header.rcode() != 0 {
        return Err(malformed);
    }
    if header.qdcount == 0 && header.ancount == 0 && header.nscount == 0 && header.arcount == 1 {
        // An EDNS probe: nothing but an OPT record.
        if let Ok((Some(edns), _)) = parse_additional(packet, HEADER_LEN, 1) {
            return Ok(Request {
                header,
                question: None,
                edns: Some(edns),
                tsig: None,
            });
        }
    }
    let (question, mut at) = parse_question(packet, HEADER_LEN).ok_or(malformed)?;
    if header.qdcount != 1 {
        return Err(Rejection::Malformed {
            header,
            keep_rd: false,
        });
    }
    if header.ancount != 0 {
        // NOTIFY may carry the zone's new SOA in the answer section (RFC 1996 §3.7).
        if header.opcode() != opcode::NOTIFY || header.ancount > 4 {
            return Err(malformed);
        }
        for _ in 0..header.ancount {
            at = skip_record(packet, at).ok_or(malformed)?.1;
        }
    }
    if header.nscount != 0 {
        // IXFR carries the client's SOA in the authority section (RFC 1995 §3); NSD
        // accepts up to 64 records there.
        if question.qtype != 251 || header.nscount > 64 {
            return Err(malformed);
        }
        for _ in 0..header.nscount {
            at = skip_record(packet, at).ok_or(malformed)?.1;
        }
    }
    let (edns, tsig) = match parse_additional(packet, at, header.arcount) {
        Ok((edns, tsig)) => (edns, tsig),
        Err(()) => return Err(malformed),
    };
    Ok(Request {
        header,
        question: Some(question),
        edns,
        tsig,
    })
}

/// Reads the question at `at`: an uncompressed name, QTYPE and QCLASS.
fn parse_question(packet: &[u8], at: usize) -> Option<(Question<'_>, usize)> {
    let len = name_len(packet.get(at..)?)?;
    let name = &packet[at..at + len];
    let fixed = packet.get(at + len..at + len + 4)?;
    let question = Question {
        wire: &packet[at..at + len + 4],
        name,
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
    };
    Some((question, at + len + 4))
}

/// Length of the uncompressed name at the start of `bytes`.
fn name_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = *bytes.get(at)? as usize;
        if len > MAX_LABEL_LEN {
            return None;
        }
        at += 1 + len;
        if at > MAX_NAME_LEN || at > bytes.len() {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *packet.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + len as usize,
            0xc0..=0xff => {
                packet.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

/// Skips one resource record; returns its type and the offset after it.
fn skip_record(packet: &[u8], at: usize) -> Option<(u16, usize)> {
    let at = skip_name(packet, at)?;
    let fixed = packet.get(at..at + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let end = at + 10 + rdlen;
    (end <= packet.len()).then_some((rtype, end))
}

/// What the additional section of a request holds.
type Additional<'a> = (Option<Edns<'a>>, Option<Tsig<'a>>);

/// Reads the additional section: at most one OPT (root owner, well-formed options) and
/// one TSIG, last (RFC 6891 §6.1.1, RFC 8945 §5.1), nothing else.
fn parse_additional(packet: &[u8], mut at: usize, count: u16) -> Result<Additional<'_>, ()> {
    let mut edns = None;
    let mut tsig = None;
    for _ in 0..count {
        let start = at;
        let (rtype, end) = skip_record(packet, at).ok_or(())?;
        match rtype {
            41 if edns.is_none() && tsig.is_none() => {
                if packet[start] != 0 {
                    return Err(());
                }
                let fixed = &packet[start + 1..start + 11];
                let rdata = &packet[start + 11..end];
                let (cookie, nsid) = options_parse(rdata).ok_or(())?;
                edns = Some(Edns {
                    udp_size: u16::from_be_bytes([fixed[2], fixed[3]]),
                    version: fixed[5],
                    dnssec_ok: fixed[6] & 0x80 != 0,
                    cookie,
                    nsid,
                });
            }
            250 if tsig.is_none() => tsig = Some(parse_tsig(packet, start, end).ok_or(())?),
            _ => return Err(()),
        }
        at = end;
    }
    Ok((edns, tsig))
}

/// Reads the TSIG record that spans `packet[start..end]`: uncompressed names, and an
/// RDATA whose fields add up (RFC 8945 §4.2).
fn parse_tsig(packet: &[u8], start: usize, end: usize) -> Option<Tsig<'_>> {
    let record = &packet[start..end];
    let key_len = name_len(record)?;
    let rdata = record.get(key_len + 10..)?;
    let algorithm_len = name_len(rdata)?;
    let time_and_fudge = rdata.get(algorithm_len..algorithm_len + 8)?;
    let at = algorithm_len + 8;
    let mac_len = u16::from_be_bytes([*rdata.get(at)?, *rdata.get(at + 1)?]) as usize;
    let at = at + 2 + mac_len;
    let fixed = rdata.get(at..at + 6)?;
    let other_len = u16::from_be_bytes([fixed[4], fixed[5]]) as usize;
    if at + 6 + other_len != rdata.len() {
        return None;
    }
    Some(Tsig {
        key: &record[..key_len],
        algorithm: &rdata[..algorithm_len],
        time_and_fudge,
        original_id: u16::from_be_bytes([fixed[0], fixed[1]]),
    })
}

/// Reads OPT RDATA, a sequence of {code, length, data} options: the first COOKIE
/// option's data and whether NSID is asked; `None` if the options are not well
/// formed or a cookie has a length RFC 7873 §5.2.2 rejects.
fn options_parse(mut rdata: &[u8]) -> Option<(Option<&[u8]>, bool)> {
    let mut cookie = None;
    let mut nsid = false;
    while !rdata.is_empty() {
        let head = rdata.get(..4)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let data = rdata.get(4..4 + len)?;
        match code {
            option::COOKIE if cookie.is_none() => {
                if !(len == 8 || (16..=40).contains(&len)) {
                    return None;
                }
                cookie = Some(data);
            }
            option::NSID => nsid = true,
            _ => {}
        }
        rdata = &rdata[4 + len..];
    }
    Some((cookie, nsid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34];
        for w in [flags, qd, an, ns, ar] {
            p.extend_from_slice(&w.to_be_bytes());
        }
        p
    }

    fn question(p: &mut Vec<u8>, name: &[u8], qtype: u16) {
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
    }

    fn opt(p: &mut Vec<u8>, size: u16, version: u8, dnssec_ok: bool, rdata: &[u8]) {
        p.push(0);
        p.extend_from_slice(&41u16.to_be_bytes());
        p.extend_from_slice(&size.to_be_bytes());
        p.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0]);
        p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        p.extend_from_slice(rdata);
    }

    const WWW: &[u8] = b"\x03www\x07Example\x03org\x00";

    #[test]
    fn parses_a_query_with_edns() {
        let mut p = header(0x0100, 1, 0, 0, 1);
        question(&mut p, WWW, 28);
        opt(&mut p, 4096, 0, true, b"\x00\x0b\x00\x02ab");
        let req = parse(&p).unwrap();
        assert_eq!(req.header.id, 0x1234);
        assert!(req.header.recursion_desired());
        let q = req.question.unwrap();
        assert_eq!((q.name, q.qtype, q.qclass), (WWW, 28, 1));
        assert_eq!(
            req.edns,
            Some(Edns {
                udp_size: 4096,
                version: 0,
                dnssec_ok: true,
                cookie: None,
                nsid: false,
            })
        );
    }

    #[test]
    fn drops_short_packets_and_responses() {
        assert_eq!(parse(&[0; 11]), Err(Rejection::Drop));
        let mut p = header(0x8000, 1, 0, 0, 0);
        question(&mut p, WWW, 1);
        assert_eq!(parse(&p), Err(Rejection::Drop));
    }

    #[test]
    fn rejects_other_opcodes_before_looking_at_the_rest() {
        let p = header(0x2800, 7, 0, 0, 0); // UPDATE, nonsense counts
        assert!(matches!(parse(&p), Err(Rejection::NotImplemented(_))));
    }

    #[test]
    fn malformed_requests() {
        let formerr = |p: &[u8]| matches!(parse(p), Err(Rejection::Malformed { .. }));
        // Truncated question, compressed question name, two questions, no question.
        let mut p = header(0, 1, 0, 0, 0);
        p.extend_from_slice(&WWW[..6]);
        assert!(formerr(&p));
        let mut p = header(0, 1, 0, 0, 0);
        question(&mut p, b"\x03www\xc0\x0c", 1);
        assert!(formerr(&p));
        let mut p = header(0x0100, 2, 0, 0, 0);
        question(&mut p, WWW, 1);
        question(&mut p, WWW, 1);
        assert_eq!(
            parse(&p),
            Err(Rejection::Malformed {
                header: Header::parse(&p).unwrap(),
                keep_rd: false
            })
        );
        assert!(formerr(&header(0, 0, 0, 0, 0)));
        // An answer record, two OPTs, an OPT not at the root, an A record in additional.
        let mut p = header(0, 1, 1, 0, 0);
        question(&mut p, WWW, 1);
        assert!(formerr(&p));
        let mut p = header(0, 1, 0, 0, 2);
        question(&mut p, WWW, 1);
        opt(&mut p, 1232, 0, false, b"");
        opt(&mut p, 1232, 0, false, b"");
        assert!(formerr(&p));
        let mut p = header(0, 1, 0, 0, 1);
        question(&mut p, WWW, 1);
        p.extend_from_slice(b"\x01x");
        opt(&mut p, 1232, 0, false, b"");
        assert!(formerr(&p));
        // A badly formed option, and a nonzero RCODE in the query.
        let mut p = header(0, 1, 0, 0, 1);
        question(&mut p, WWW, 1);
        opt(&mut p, 1232, 0, false, b"\x00\x0a\x00\x09ab");
        assert!(formerr(&p));
        let mut p = header(0x0005, 1, 0, 0, 0);
        question(&mut p, WWW, 1);
        assert!(formerr(&p));
    }

    #[test]
    fn tolerates_trailing_bytes_and_ixfr_authority() {
        let mut p = header(0, 1, 0, 0, 0);
        question(&mut p, WWW, 1);
        p.extend_from_slice(b"garbage");
        assert!(parse(&p).is_ok());
        let mut p = header(0, 1, 0, 1, 0);
        question(&mut p, WWW, 251);
        p.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(parse(&p).is_ok());
    }

    #[test]
    fn an_edns_probe_without_question() {
        let mut p = header(0x0100, 0, 0, 0, 1);
        opt(&mut p, 1232, 0, false, b"");
        let req = parse(&p).unwrap();
        assert_eq!(req.question, None);
        assert!(req.edns.is_some());
    }

    #[test]
    fn reads_cookie_and_nsid_options() {
        let mut p = header(0, 1, 0, 0, 1);
        question(&mut p, WWW, 1);
        opt(
            &mut p,
            1232,
            0,
            false,
            b"\x00\x03\x00\x00\x00\x0a\x00\x0812345678",
        );
        let edns = parse(&p).unwrap().edns.unwrap();
        assert_eq!(edns.cookie, Some(&b"12345678"[..]));
        assert!(edns.nsid);
        // Client and server cookie.
        let mut p = header(0, 1, 0, 0, 1);
        question(&mut p, WWW, 1);
        opt(&mut p, 1232, 0, false, b"\x00\x0a\x00\x1012345678abcdefgh");
        assert_eq!(
            parse(&p).unwrap().edns.unwrap().cookie,
            Some(&b"12345678abcdefgh"[..])
        );
        // RFC 7873 §5.2.2: lengths 0-7, 9-15 and above 40 are FORMERR.
        for len in [0usize, 7, 9, 15, 41] {
            let mut rdata = vec![0, 10, 0, len as u8];
            rdata.extend(std::iter::repeat_n(b'x', len));
            let mut p = header(0, 1, 0, 0, 1);
            question(&mut p, WWW, 1);
            opt(&mut p, 1232, 0, false, &rdata);
            assert!(
                matches!(parse(&p), Err(Rejection::Malformed { .. })),
                "cookie of {len}"
            );
        }
    }

    #[test]
    fn keeps_a_higher_edns_version_for_badvers() {
        let mut p = header(0, 1, 0, 0, 1);
        question(&mut p, WWW, 1);
        opt(&mut p, 512, 1, false, b"");
        assert_eq!(parse(&p).unwrap().edns.unwrap().version, 1);
    }
}
