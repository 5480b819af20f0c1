//! `respond` on the wire side: EDNS, error responses, truncation, compression, TSIG,
//! and garbage in. Helpers are in `tests.rs`.

use hickory_proto::op::{Message, ResponseCode};

use super::tests::{Ask, ask, zones};
use super::{Transport, respond};
use crate::test_rng::Rng;

#[test]
fn truncates_at_rrset_boundaries() {
    // Six 100-octet TXT records do not fit 512 octets.
    let (m, outcome, bytes) = ask("mid.example.org.", 16).noedns().run(Transport::Udp);
    assert!(outcome.truncated && m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    assert!(bytes.len() <= 512);
    // With EDNS 1232 they fit; with EDNS 512 they do not, and the OPT stays.
    let mut a = ask("mid.example.org.", 16);
    assert_eq!(a.udp().answers.len(), 6);
    a.edns = Some((100, 0, false));
    let (m, outcome, bytes) = a.run(Transport::Udp);
    assert!(outcome.truncated && m.edns.is_some());
    assert!(bytes.len() <= 512);
    // Twelve do not fit 1232 either.
    let (m, outcome, bytes) = ask("big.example.org.", 16).run(Transport::Udp);
    assert!(outcome.truncated && m.answers.is_empty());
    assert!(bytes.len() <= 1232);
    // TCP carries all of it.
    let (m, outcome, _) = ask("mid.example.org.", 16).noedns().run(Transport::Tcp);
    assert!(!outcome.truncated);
    assert_eq!(m.answers.len(), 6);
    let (m, outcome, _) = ask("big.example.org.", 16).noedns().run(Transport::Tcp);
    assert!(!outcome.truncated);
    assert_eq!(m.answers.len(), 12);
}

#[test]
fn edns_is_echoed_and_versions_checked() {
    let mut a = ask("www.example.org.", 1);
    a.edns = Some((4096, 0, true));
    let m = a.udp();
    let edns = m.edns.unwrap();
    assert_eq!(edns.max_payload(), 1232);
    assert!(edns.flags().dnssec_ok);
    a.edns = Some((4096, 1, true));
    let (m, outcome, bytes) = a.run(Transport::Udp);
    assert_eq!(outcome.rcode, 16);
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS");
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.edns.unwrap().version(), 0);
    // The extended RCODE is in the OPT's TTL field: 16 >> 4 = 1; DO is copied into
    // every response to a query that set it, BADVERS included (RFC 3225 §3).
    let opt_ttl = &bytes[bytes.len() - 6..bytes.len() - 2];
    assert_eq!(opt_ttl, &[1, 0, 0x80, 0]);
    a.edns = Some((4096, 1, false));
    let (_, _, bytes) = a.run(Transport::Udp);
    assert_eq!(&bytes[bytes.len() - 6..bytes.len() - 2], &[1, 0, 0, 0]);
    // No EDNS in, no EDNS out.
    assert!(ask("www.example.org.", 1).noedns().udp().edns.is_none());
}

#[test]
fn errors_and_silence() {
    let zones = zones();
    let mut out = Vec::new();
    assert!(respond(&zones, &[0; 11], &Transport::Udp.into(), &mut out).is_none());
    let mut q = ask("www.example.org.", 1).bytes();
    q[2] |= 0x80;
    assert!(respond(&zones, &q, &Transport::Udp.into(), &mut out).is_none());
    // Unknown opcode: NOTIMP, header only.
    let mut q = ask("www.example.org.", 1).bytes();
    q[2] = 0x18 | 0x01; // opcode 3, RD
    let outcome = respond(&zones, &q, &Transport::Udp.into(), &mut out).unwrap();
    assert_eq!(outcome.rcode, 4);
    assert_eq!(out, [0xab, 0xcd, 0x99, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Two questions: FORMERR, header only.
    let mut q = ask("www.example.org.", 1).noedns().bytes();
    q[5] = 2;
    let outcome = respond(&zones, &q, &Transport::Udp.into(), &mut out).unwrap();
    assert_eq!(outcome.rcode, 1);
    assert_eq!(out.len(), 12);
    // AXFR over UDP: NOTIMP; over TCP (not served yet): REFUSED.
    let (m, _, _) = ask("example.org.", 252).run(Transport::Udp);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    let (m, _, _) = ask("example.org.", 252).run(Transport::Tcp);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    // Other classes: REFUSED; CHAOS too (no version.bind).
    let mut a = ask("version.bind.", 16);
    a.qclass = 3;
    assert_eq!(a.udp().metadata.response_code, ResponseCode::Refused);
    let mut a = ask("www.example.org.", 1);
    a.qclass = 4;
    assert_eq!(a.udp().metadata.response_code, ResponseCode::Refused);
    // Class ANY: the IN data without AA, no SOA in negative answers.
    let mut a = ask("www.example.org.", 1);
    a.qclass = 255;
    let m = a.udp();
    assert!(!m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    let mut a = ask("nx.example.org.", 1);
    a.qclass = 255;
    let m = a.udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.authorities.is_empty());
}

#[test]
fn compresses_rdata_names_of_rfc1035_types_only() {
    let (m, _, bytes) = ask("example.org.", 15).run(Transport::Udp);
    assert_eq!(m.answers.len(), 1);
    // MX: owner pointer, then RDATA = preference + "mail" + pointer to example.org.
    let rdata_at = 12 + 13 + 4 + 2 + 10;
    assert_eq!(&bytes[rdata_at - 2..rdata_at], &[0, 9]);
    assert_eq!(&bytes[rdata_at + 2..rdata_at + 9], b"\x04mail\xc0\x0c");
    // SRV targets stay uncompressed.
    let (_, _, bytes) = ask("srv._tcp.example.org.", 33).run(Transport::Udp);
    let needle = b"\x03www\x07example\x03org\x00";
    assert!(bytes.windows(needle.len()).any(|w| w == needle));
}

#[test]
fn garbage_never_panics_and_replies_stay_within_bounds() {
    let zones = zones();
    let seeds: Vec<Vec<u8>> = [
        ask("www.example.org.", 1),
        ask("x.d.example.org.", 1),
        ask("host.wild.example.org.", 15),
        ask("x.sub.example.org.", 1),
        ask("big.example.org.", 16).noedns(),
        ask("example.org.", 255),
    ]
    .iter()
    .map(Ask::bytes)
    .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for round in 0..200_000 {
        let mut packet = seeds[round % seeds.len()].clone();
        // Flip, overwrite, cut or extend a few octets.
        for _ in 0..1 + rng.below(4) {
            let r = rng.next();
            let at = (r >> 8) as usize % packet.len().max(1);
            match r % 5 {
                0 => packet[at] ^= 1 << ((r >> 40) % 8),
                1 => packet[at] = (r >> 32) as u8,
                2 => packet.truncate(at),
                3 => packet.push((r >> 24) as u8),
                _ => {
                    // The header and counts, where the parser decides the most.
                    let header_at = at.min(11).min(packet.len() - 1);
                    packet[header_at] = (r >> 16) as u8;
                }
            }
            if packet.is_empty() {
                break;
            }
        }
        for transport in [Transport::Udp, Transport::Tcp] {
            let Some(outcome) = respond(&zones, &packet, &transport.into(), &mut out) else {
                continue;
            };
            assert_eq!(outcome.len, out.len());
            assert!(out.len() >= 12);
            assert_eq!(out[..2], packet[..2], "id echoed");
            assert!(out[2] & 0x80 != 0, "QR set");
            if transport == Transport::Udp {
                assert!(out.len() <= 1232, "{packet:02x?}");
            }
            Message::from_vec(&out).unwrap_or_else(|e| panic!("{e}: {packet:02x?} -> {out:02x?}"));
        }
    }
}

#[test]
fn signed_requests_get_badkey_until_keys_exist() {
    let mut request = ask("www.example.org.", 1).noedns().bytes();
    request[11] = 1;
    let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
    rdata.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 2, 9, 9]);
    rdata.extend_from_slice(&[0xab, 0xcd, 0, 0, 0, 0]);
    request.extend_from_slice(b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00");
    request.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    request.extend_from_slice(&rdata);
    let mut out = Vec::new();
    let outcome = respond(&zones(), &request, &Transport::Udp.into(), &mut out).unwrap();
    assert_eq!(outcome.rcode, 9, "NOTAUTH");
    assert_eq!(&out[4..12], &[0, 0, 0, 0, 0, 0, 0, 1]);
    // Key, type TSIG, class ANY, TTL 0, then algorithm, time and fudge echoed, an empty
    // MAC, the original id, error 17 (BADKEY), no other data.
    let mut tsig = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x1d".to_vec();
    tsig.extend_from_slice(b"\x0bhmac-sha256\x00");
    tsig.extend_from_slice(&[
        0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 0, 0xab, 0xcd, 0, 17, 0, 0,
    ]);
    assert_eq!(&out[12..], &tsig[..]);
}
