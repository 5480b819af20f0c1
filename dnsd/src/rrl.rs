//! Response rate limiting (RRL), as the "Response Rate Limiting in the DNS" technical
//! note (Vixie, Schryver) describes it and BIND, NSD and Knot implement it: a forged
//! source address must not turn the server into an amplifier aimed at its owner.
//!
//! Every UDP response is accounted to a bucket keyed by the client's prefix (IPv4
//! /24, IPv6 /56 by default), the kind of response and a name: the question's name
//! for a positive answer, the wildcard for an answer synthesized from one, the zone
//! for NXDOMAIN and NODATA, the delegation for a referral, and nothing for errors
//! (so that REFUSED for random names from one prefix shares one bucket). A bucket
//! holds tokens: `rate` a second come in, up to `rate × burst-seconds`; a response
//! takes one. A response that finds none is limited: every `slip`th limited response
//! of the bucket is sent truncated (TC, or BADCOOKIE to a client that sent a cookie),
//! so that a real client behind the prefix retries over TCP or with its cookie; the
//! others are dropped. A limited response takes no token (Knot's behaviour; BIND and
//! NSD also charge limited responses, so that a flood above the rate gets nothing
//! through at all): a flood of identical queries gets answers at the rate.
//!
//! TCP is never limited, nor are clients with a valid server cookie (RFC 7873 §5.4)
//! or in the exempt prefixes; the caller decides those before asking.
//!
//! # The table
//!
//! A fixed number of buckets, allocated and touched once at start: memory does not
//! grow whatever the sources. Buckets come in sets of eight (one cache line); a key
//! hashes (foldhash, seeded at random at start) to a set and a 22-bit tag. A new key
//! takes the bucket of its set that carries the least information: an empty one, or
//! else the one with the most tokens once refilled (a full bucket is the same as a
//! new one), so that a flood of random sources evicts idle buckets, not the ones
//! that are limiting. Each bucket is one `AtomicU64` updated with compare-and-swap:
//! every UDP worker shares the table without a lock, and a prefix is limited to its
//! rate whichever worker its datagrams reach. A lost race is retried a few times,
//! then the response passes.
//!
//! Time is whole seconds of a monotonic clock, passed in by the caller.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use foldhash::quality::FixedState;
use ipnet::IpNet;

use crate::wire::name::MAX_NAME_LEN;

/// Buckets per set (one 64-octet cache line of `AtomicU64`s).
const WAYS: usize = 8;
/// Attempts at a compare-and-swap before the response is let through.
const ATTEMPTS: usize = 4;
/// Seconds without a response after which a limiting bucket counts as stopped (and
/// a new limiting spell is logged again).
const QUIET_SECONDS: u16 = 2;

//------------ Kind ----------------------------------------------------------

/// The kind of a response, as the technical note sorts them: each has its own rate
/// and its own buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// NOERROR with an answer; keyed by the question's name.
    Positive = 0,
    /// An answer synthesized from a wildcard; keyed by the wildcard's parent, so that
    /// random names under it share a bucket. Limited at the positive rate.
    Wildcard = 1,
    /// NOERROR without an answer; keyed by the zone.
    Nodata = 2,
    /// NXDOMAIN; keyed by the zone.
    Nxdomain = 3,
    /// A referral to a child zone; keyed by the delegation.
    Referral = 4,
    /// Every other RCODE (REFUSED, FORMERR, ...); one bucket per prefix.
    Error = 5,
}

impl Kind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [Kind; 6] = [
        Kind::Positive,
        Kind::Wildcard,
        Kind::Nodata,
        Kind::Nxdomain,
        Kind::Referral,
        Kind::Error,
    ];

    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Positive => "positive",
            Kind::Wildcard => "wildcard",
            Kind::Nodata => "nodata",
            Kind::Nxdomain => "nxdomain",
            Kind::Referral => "referral",
            Kind::Error => "error",
        }
    }
}

//------------ Settings ------------------------------------------------------

/// What the configuration's `[rrl]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Responses a second per bucket, by `Kind` number; 0 = that kind is not limited.
    pub rates: [u32; 6],
    /// A bucket holds this many seconds of its rate.
    pub burst_seconds: u32,
    /// Every `slip`th limited response is sent truncated; 0 = none, 1 = every one.
    pub slip: u32,
    /// IPv4 prefix length of a client's bucket.
    pub ipv4_prefix: u8,
    /// IPv6 prefix length of a client's bucket.
    pub ipv6_prefix: u8,
    /// Clients never limited.
    pub exempt: Vec<IpNet>,
    /// Count and log what would be limited, but limit nothing.
    pub log_only: bool,
    /// Buckets in the table (rounded up to a power of two, at least one set).
    pub table_size: usize,
}

/// Responses a second per bucket (positive answers; the others default to it).
pub const DEFAULT_RATE: u32 = 20;
/// Seconds of the rate a bucket holds.
pub const DEFAULT_BURST_SECONDS: u32 = 1;
/// Every second limited response is truncated (BIND's and NSD's default).
pub const DEFAULT_SLIP: u32 = 2;
/// Buckets in the table (512 KiB: it stays in a core's L2 cache beside the zones).
pub const DEFAULT_TABLE_SIZE: usize = 65_536;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rates: [DEFAULT_RATE; 6],
            burst_seconds: DEFAULT_BURST_SECONDS,
            slip: DEFAULT_SLIP,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            log_only: false,
            table_size: DEFAULT_TABLE_SIZE,
        }
    }
}

//------------ Decision ------------------------------------------------------

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it.
    Pass,
    /// Limited: send nothing.
    Drop,
    /// Limited: send a truncated response instead.
    Slip,
}

/// A decision, and whether this response made its bucket start limiting (worth a log
/// line): the first limited response after the bucket was quiet for two seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What to do.
    pub decision: Decision,
    /// The bucket was not limiting before this response.
    pub started: bool,
}

const PASS: Verdict = Verdict {
    decision: Decision::Pass,
    started: false,
};

//------------ Bucket --------------------------------------------------------

/// A bucket, packed in 64 bits: tokens (16), stamp (16, seconds modulo 2^16), the
/// count of limited responses towards the next slip (8), the limiting flag (1) and
/// the key's tag (23, never 0 in a used bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    tokens: u16,
    stamp: u16,
    slipped: u8,
    limiting: bool,
    tag: u32,
}

impl Bucket {
    fn unpack(word: u64) -> Bucket {
        Bucket {
            tokens: word as u16,
            stamp: (word >> 16) as u16,
            slipped: (word >> 32) as u8,
            limiting: (word >> 40) & 1 == 1,
            tag: (word >> 41) as u32,
        }
    }

    fn pack(self) -> u64 {
        u64::from(self.tokens)
            | u64::from(self.stamp) << 16
            | u64::from(self.slipped) << 32
            | u64::from(self.limiting) << 40
            | u64::from(self.tag & 0x7f_ffff) << 41
    }

    /// Its tokens at `now`, refilled at `rate` a second up to `burst`.
    fn refilled(&self, now: u16, rate: u32, burst: u32) -> u32 {
        let elapsed = u32::from(now.wrapping_sub(self.stamp));
        (u32::from(self.tokens) + rate.saturating_mul(elapsed)).min(burst)
    }
}

/// One cache line of buckets.
#[repr(align(64))]
struct Set([AtomicU64; WAYS]);

//------------ Limiter -------------------------------------------------------

/// The rate limiter: settings and the shared table of buckets.
pub struct Limiter {
    settings: Settings,
    /// Transfer peers, exempt as `exempt` is (`set_transfer_peers`): they change with
    /// a SIGHUP, the rest of the settings need a restart.
    peers: arc_swap::ArcSwap<Vec<IpNet>>,
    sets: Box<[Set]>,
    hasher: FixedState,
}

impl Limiter {
    /// A limiter with `settings`, its table allocated and zeroed now, its hash seeded
    /// with `seed` (random in the daemon, so that nobody can aim keys at one set).
    pub fn new(settings: Settings, seed: u64) -> Limiter {
        let sets = settings
            .table_size
            .div_ceil(WAYS)
            .max(1)
            .next_power_of_two();
        Limiter {
            sets: (0..sets)
                .map(|_| Set(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            settings,
            peers: arc_swap::ArcSwap::from_pointee(Vec::new()),
            hasher: FixedState::with_seed(seed),
        }
    }

    /// Exempts `peers` (and no longer those set before): the secondaries and
    /// primaries of the transfer settings, whose SOA queries and NOTIFY answers a
    /// flood from their prefix must not limit.
    pub fn set_transfer_peers(&self, peers: Vec<IpNet>) {
        self.peers.store(std::sync::Arc::new(peers));
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Octets the table takes.
    pub fn table_bytes(&self) -> usize {
        self.sets.len() * size_of::<Set>()
    }

    /// Whether `client` is exempt.
    pub fn is_exempt(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        self.settings.exempt.iter().any(|net| net.contains(&client))
            || self.peers.load().iter().any(|net| net.contains(&client))
    }

    /// Accounts a response of `kind` keyed by `name` (uncompressed wire format, any
    /// case; empty for none) to `client` at `now` (monotonic seconds), and decides.
    /// Takes no lock and allocates nothing.
    pub fn decide(&self, client: IpAddr, kind: Kind, name: &[u8], now: u32) -> Verdict {
        let rate = self.settings.rates[kind as usize];
        if rate == 0 {
            return PASS;
        }
        let burst = rate.saturating_mul(self.settings.burst_seconds).min(0xffff);
        let hash = self.key_hash(&client, kind, name);
        let set = &self.sets[(hash as usize) & (self.sets.len() - 1)].0;
        let tag = ((hash >> 41) as u32) | 0x40_0000;
        let now = now as u16;
        for _ in 0..ATTEMPTS {
            let words: [u64; WAYS] = std::array::from_fn(|i| set[i].load(Relaxed));
            let found = words
                .iter()
                .position(|&w| w != 0 && Bucket::unpack(w).tag == tag);
            let (way, verdict, next) = match found {
                Some(way) => {
                    let (verdict, next) = self.charge(Bucket::unpack(words[way]), now, rate, burst);
                    (way, verdict, next)
                }
                None => {
                    // A new key: it takes the bucket that says least, and one token.
                    let way = victim(&words, now, rate, burst);
                    let next = Bucket {
                        tokens: (burst - 1) as u16,
                        stamp: now,
                        slipped: 0,
                        limiting: false,
                        tag,
                    };
                    (way, PASS, next)
                }
            };
            if set[way]
                .compare_exchange(words[way], next.pack(), Relaxed, Relaxed)
                .is_ok()
            {
                return verdict;
            }
        }
        PASS
    }

    /// Takes a token from `bucket`, or counts a limited response.
    fn charge(&self, bucket: Bucket, now: u16, rate: u32, burst: u32) -> (Verdict, Bucket) {
        let tokens = bucket.refilled(now, rate, burst);
        if tokens > 0 {
            // A bucket limited in the last seconds is still "limiting" for the log: a
            // steady flood starts limiting once, not once a second.
            let quiet = now.wrapping_sub(bucket.stamp) >= QUIET_SECONDS;
            let next = Bucket {
                tokens: (tokens - 1) as u16,
                stamp: now,
                slipped: 0,
                limiting: bucket.limiting && !quiet,
                ..bucket
            };
            return (PASS, next);
        }
        let slip = self.settings.slip;
        let slipped = u32::from(bucket.slipped) + 1;
        let (decision, slipped) = if slip > 0 && slipped >= slip {
            (Decision::Slip, 0)
        } else {
            (Decision::Drop, slipped)
        };
        let next = Bucket {
            tokens: 0,
            stamp: now,
            slipped: slipped as u8,
            limiting: true,
            ..bucket
        };
        let verdict = Verdict {
            decision,
            started: !bucket.limiting,
        };
        (verdict, next)
    }

    /// The hash of the key: the client's prefix, the kind and the lowercased name.
    fn key_hash(&self, client: &IpAddr, kind: Kind, name: &[u8]) -> u64 {
        // One contiguous input: family and prefix (17), kind (1), lowercased name.
        let mut input = [0u8; 18 + MAX_NAME_LEN];
        match canonical(*client) {
            IpAddr::V4(v4) => {
                let mask = prefix_mask_u32(self.settings.ipv4_prefix);
                input[0] = 4;
                input[1..5].copy_from_slice(&(u32::from(v4) & mask).to_be_bytes());
            }
            IpAddr::V6(v6) => {
                let mask = prefix_mask_u128(self.settings.ipv6_prefix);
                input[0] = 6;
                input[1..17].copy_from_slice(&(u128::from(v6) & mask).to_be_bytes());
            }
        }
        input[17] = kind as u8;
        let len = name.len().min(MAX_NAME_LEN);
        for (to, from) in input[18..].iter_mut().zip(&name[..len]) {
            *to = from.to_ascii_lowercase();
        }
        let mut hasher = self.hasher.build_hasher();
        hasher.write(&input[..18 + len]);
        hasher.finish()
    }

    /// The client's prefix as text (`198.51.100.0/24`), for logs.
    pub fn prefix_of(&self, client: IpAddr) -> IpNet {
        let client = canonical(client);
        let len = match client {
            IpAddr::V4(_) => self.settings.ipv4_prefix,
            IpAddr::V6(_) => self.settings.ipv6_prefix,
        };
        IpNet::new(client, len).map_or(IpNet::from(client), |net| net.trunc())
    }
}

/// The way of `words` a new key takes: an empty one, else the one with the most
/// tokens at `now` (the oldest among equals).
fn victim(words: &[u64; WAYS], now: u16, rate: u32, burst: u32) -> usize {
    let mut best = 0;
    let mut best_score = (0u32, 0u16);
    for (way, &word) in words.iter().enumerate() {
        if word == 0 {
            return way;
        }
        let bucket = Bucket::unpack(word);
        let score = (
            bucket.refilled(now, rate, burst),
            now.wrapping_sub(bucket.stamp),
        );
        if way == 0 || score > best_score {
            best = way;
            best_score = score;
        }
    }
    best
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_mask_u32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn prefix_mask_u128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "rrl_tests.rs"]
mod tests;
