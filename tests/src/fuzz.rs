//! Bad input (issue 2 point 10): the properties the fuzz targets in `fuzz/` check, and
//! the deterministic input generators the stable regression test
//! (`tests/tests/dnsd_bad_input.rs`) feeds them, so CI checks the same properties on a
//! bounded number of inputs without a nightly toolchain.
//!
//! - the message path: any bytes through `dnsd::answer::respond` give a response or
//!   nothing, never a panic; a response parses as a DNS message, echoes the id, has QR
//!   set, fits the transport, and `Outcome::len` is its length; a request shorter than
//!   a header or with QR=1 gets nothing.
//! - the zone loader: any text through `load_zone_from_bytes` gives a zone or errors
//!   that name a line, never a panic.

use std::path::Path;
use std::sync::Arc;

use dnsd::answer::{Transport, respond};
use dnsd::wire::name::Name;
use dnsd::zone::ZoneSet;
use dnsd::zone::load::load_zone_from_bytes;

/// Checks the message-path properties for `request` over both transports; `out` is a
/// reused buffer. Panics (the fuzzer's finding) when one does not hold. Returns how
/// many of the two transports got a response.
pub fn check_respond(zones: &ZoneSet, request: &[u8], out: &mut Vec<u8>) -> usize {
    let mut answered = 0;
    for transport in [Transport::Udp, Transport::Tcp] {
        let outcome = respond(zones, request, &transport.into(), out);
        let is_response = request.len() >= 3 && request[2] & 0x80 != 0;
        let Some(outcome) = outcome else {
            continue;
        };
        assert!(
            request.len() >= 12 && !is_response,
            "answered a request that deserves no answer: {request:02x?}"
        );
        assert_eq!(
            outcome.len,
            out.len(),
            "Outcome::len is not the response's length"
        );
        assert!(
            out.len() >= 12,
            "response shorter than a header: {out:02x?}"
        );
        assert_eq!(
            out[..2],
            request[..2],
            "response id differs from the request's"
        );
        assert!(out[2] & 0x80 != 0, "response without QR");
        // Over UDP, a response fits 512 bytes, or the size the client advertised in EDNS
        // (RFC 6891 §6.2.3), as far as the request parses to tell which.
        let limit = match (transport, hickory_proto::op::Message::from_vec(request)) {
            (Transport::Udp, Ok(req)) => match req.edns {
                Some(edns) => usize::from(edns.max_payload()).max(512),
                None => 512,
            },
            _ => 65_535,
        };
        assert!(
            out.len() <= limit,
            "response of {} bytes over {limit}:\nrequest {request:02x?}",
            out.len()
        );
        if let Err(e) = hickory_proto::op::Message::from_vec(out) {
            panic!("response does not parse ({e}):\nrequest {request:02x?}\nresponse {out:02x?}");
        }
        answered += 1;
    }
    answered
}

/// Loads zone text for `apex`; never panics, and a failed load says why. Returns
/// whether the text loaded.
pub fn check_load(apex: &Name, text: &[u8]) -> bool {
    match load_zone_from_bytes(text, Path::new("fuzz.zone"), apex) {
        Ok(_) => true,
        Err(errors) => {
            assert!(!errors.is_empty(), "a failed load gave no error");
            false
        }
    }
}

/// Builds the zone set of `zones` (apex, file) for the message-path checks.
pub fn zone_set(zones: &[(String, std::path::PathBuf)]) -> ZoneSet {
    let mut set = ZoneSet::new();
    for (apex, path) in zones {
        let name = Name::from_text(&format!("{apex}."), None)
            .unwrap_or_else(|e| panic!("apex {apex}: {e:?}"));
        let loaded = dnsd::zone::load::load_zone(path, &name).unwrap_or_else(|errors| {
            panic!(
                "{} does not load: {}",
                path.display(),
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        });
        set = set.with_zone(Arc::new(loaded.zone));
    }
    set
}

/// A small deterministic generator (splitmix64): the same seed gives the same inputs,
/// so a failure in CI can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// A mutation of `seed` as a fuzzer makes them: 1 to 8 steps of bit flips, byte
/// overwrites with interesting values, truncation, insertion, deletion, duplication of
/// a slice, or splicing in bytes of `other`.
pub fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    const INTERESTING: [u8; 10] = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff, 41, 12];
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => v.truncate(rng.below(len + 1)),
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let ins = rng.bytes(n);
                v.splice(at..at, ins);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                v.drain(at..end);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                let copy = v[at..end].to_vec();
                let to = rng.below(len + 1);
                v.splice(to..to, copy);
            }
            _ if !other.is_empty() => {
                let at = rng.below(other.len());
                let end = (at + 1 + rng.below(32)).min(other.len());
                let to = rng.below(len + 1);
                v.splice(to..to, other[at..end].iter().copied());
            }
            _ => {}
        }
    }
    v
}

/// A mutation of zone text: byte mutations as [`mutate`], and also the characters the
/// master-file syntax gives meaning to, lines duplicated or dropped.
pub fn mutate_zone(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    const SYNTAX: &[&[u8]] = &[
        b"(",
        b")",
        b";",
        b"\"",
        b"\\",
        b"\\#",
        b"$ORIGIN ",
        b"$TTL ",
        b"$INCLUDE ",
        b"@",
        b"*",
        b".",
        b" ",
        b"\t",
        b"\n",
        b"\\0",
        b"\\999",
        b"IN ",
        b"TYPE65535 ",
        b"CLASS1 ",
        b"4294967296",
        b"-1",
        b"SOA ",
        b"CNAME ",
        b"DNAME ",
        b"NS ",
        b"\\# 0",
    ];
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 => {
                let at = rng.below(v.len() + 1);
                let tok = SYNTAX[rng.below(SYNTAX.len())];
                v.splice(at..at, tok.iter().copied());
            }
            1 => {
                let lines: Vec<&[u8]> = v.split(|b| *b == b'\n').collect();
                let i = rng.below(lines.len());
                let mut out = Vec::with_capacity(v.len());
                for (j, l) in lines.iter().enumerate() {
                    if j == i && rng.below(2) == 0 {
                        continue; // drop the line
                    }
                    out.extend_from_slice(l);
                    out.push(b'\n');
                    if j == i {
                        out.extend_from_slice(l); // or say it twice
                        out.push(b'\n');
                    }
                }
                v = out;
            }
            _ => v = mutate(rng, &v, other),
        }
    }
    v
}
