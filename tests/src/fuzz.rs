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

/// Owners that transaction inputs pick from, below `example.`: nesting, a wildcard, a
/// delegation and names inside it, corners of canonical order.
const TXN_OWNERS: &[&str] = &[
    "example.",
    "a.example.",
    "b.a.example.",
    "*.a.example.",
    "sub.example.",
    "ns.sub.example.",
    "x.y.sub.example.",
    "\\000.example.",
    "\\255.example.",
    "z.example.",
    "outside.test.",
];

/// Reads a sequence of transactions from `data` (each change five bytes: operation,
/// owner, type, value, TTL; a zero operation byte ends a transaction) and applies them
/// to a small zone one after the other. Never a panic; a transaction is accepted or
/// refused with a reason, and an accepted one gives a version whose records are the
/// old ones minus the diff's removals plus its additions, whose structure (empty
/// non-terminals, flags, canonical order) is that of the same records built from
/// scratch, and which leaves the old version as it was. Returns how many were
/// accepted.
pub fn check_transactions(data: &[u8]) -> usize {
    use dnsd::zone::txn::{Change, Transaction, apply};
    use dnsd::zone::{Record, Rtype, Zone};

    let name = |text: &str| Name::from_text(text, None).unwrap_or_else(|_| Name::root());
    let apex = name("example.");
    let mut soa = name("ns.example.").as_wire().to_vec();
    soa.extend_from_slice(name("h.example.").as_wire());
    soa.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 14, 16, 0, 0, 3, 132, 0, 9, 58, 128, 0, 0, 1, 44,
    ]);
    let base = vec![
        Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 3600,
            rdata: soa.into(),
        },
        Record {
            owner: apex.clone(),
            rtype: Rtype::NS,
            ttl: 3600,
            rdata: name("ns.sub.example.").as_wire().into(),
        },
    ];
    let Ok(mut zone) = Zone::build(&apex, base) else {
        panic!("the base zone builds");
    };
    let mut accepted = 0;
    for chunk in data.split(|&b| b == 0) {
        let mut txn = Transaction::new();
        txn.strict = chunk.first().is_some_and(|b| b & 0x80 != 0);
        for c in chunk.chunks(5) {
            let [op, o, t, v, ttl] = [
                c[0],
                *c.get(1).unwrap_or(&0),
                *c.get(2).unwrap_or(&0),
                *c.get(3).unwrap_or(&0),
                *c.get(4).unwrap_or(&0),
            ];
            let owner = name(TXN_OWNERS[o as usize % TXN_OWNERS.len()]);
            let (rtype, rdata): (Rtype, Vec<u8>) = match t % 8 {
                0 => (Rtype::A, vec![198, 51, 100, v % 4]),
                1 => (
                    Rtype::AAAA,
                    [[0x20, 1, 0x0d, 0xb8], [0; 4], [0; 4], [0, 0, 0, v % 4]].concat(),
                ),
                2 => (
                    Rtype::NS,
                    name(TXN_OWNERS[v as usize % TXN_OWNERS.len()])
                        .as_wire()
                        .to_vec(),
                ),
                3 => (
                    Rtype::CNAME,
                    name(TXN_OWNERS[v as usize % TXN_OWNERS.len()])
                        .as_wire()
                        .to_vec(),
                ),
                4 => (Rtype::TXT, vec![1, v]),
                5 => (
                    Rtype::RRSIG,
                    vec![
                        0,
                        1 + v % 2,
                        13,
                        2,
                        0,
                        0,
                        0,
                        60,
                        0,
                        0,
                        0,
                        1,
                        0,
                        0,
                        0,
                        0,
                        0,
                        1,
                    ],
                ),
                6 => (Rtype::SOA, vec![v; 22]),
                _ => (Rtype(t as u16), vec![v]),
            };
            let record = Record {
                owner: owner.clone(),
                rtype,
                ttl: u32::from(ttl),
                rdata: rdata.clone().into(),
            };
            txn.push(match op % 5 {
                0 | 1 => Change::Add(record),
                2 => Change::Remove(record),
                3 => Change::Replace {
                    owner,
                    rtype,
                    ttl: u32::from(ttl),
                    rdatas: vec![rdata.into()],
                },
                _ => Change::RemoveName { owner },
            });
        }
        let before: Vec<Record> = zone.records().collect();
        let Ok(applied) = apply(&zone, &txn) else {
            continue;
        };
        assert_eq!(
            zone.records().collect::<Vec<_>>(),
            before,
            "the old version changed"
        );
        let mut expected: std::collections::BTreeSet<Record> = before.into_iter().collect();
        for r in &applied.diff.removed {
            assert!(
                expected.remove(r),
                "the diff removes a record that was not there: {r:?}"
            );
        }
        for r in &applied.diff.added {
            assert!(
                expected.insert(r.clone()),
                "the diff adds a record that was there: {r:?}"
            );
        }
        let got: Vec<Record> = applied.zone.records().collect();
        assert_eq!(
            got.iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            expected
        );
        let built = Zone::build(&apex, got)
            .unwrap_or_else(|e| panic!("accepted records do not build: {e}"));
        let shape = |z: &Zone| -> Vec<(Vec<u8>, bool, bool, bool, usize)> {
            z.nodes()
                .map(|n| {
                    (
                        n.owner().to_vec(),
                        n.is_apex(),
                        n.is_delegation(),
                        n.is_below_cut(),
                        n.rrsets().count(),
                    )
                })
                .collect()
        };
        assert_eq!(
            shape(&applied.zone),
            shape(&built),
            "structure differs from a build"
        );
        zone = applied.zone;
        accepted += 1;
    }
    accepted
}
