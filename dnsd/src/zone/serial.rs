//! SOA serials: RFC 1982 serial arithmetic, the per-zone serial policy, and the content
//! digest that tells whether a zone changed.
//!
//! # Policy
//! Operators who keep zones in git should never have to edit a serial, yet secondaries
//! only transfer a zone whose serial went up (RFC 1034 §4.3.5). So each zone has a policy:
//!
//! - `keep`: the file's serial is served. A change whose file serial is not above the
//!   served one (RFC 1982 §3.2) is refused: the old version keeps serving, and the error
//!   says to raise the serial.
//! - `unixtime` / `date` (YYYYMMDDnn): when the content or the file serial changed, the
//!   served serial becomes the first of these that is above the served one: the file's
//!   serial if the operator raised it above the served one, the current time (or today's
//!   `YYYYMMDD00`), else the served serial + 1.
//!
//! Whatever the policy, a served serial never goes backwards: the last served serial and
//! a digest of the content (SOA serial left out) are persisted per zone, so a restart, or
//! a `git checkout` of an older commit whose file serial is lower, still moves forward.

use std::fmt;

use super::record::Rtype;
use super::snapshot::Zone;
use crate::wire::name;

/// How a zone's served serial is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SerialPolicy {
    /// The file's serial, which must go up with every change.
    Keep,
    /// Seconds since the Unix epoch when the zone changed.
    Unixtime,
    /// `YYYYMMDDnn` (UTC), `nn` counting the changes of the day.
    #[default]
    Date,
}

impl SerialPolicy {
    /// Parses the configuration's spelling: `keep`, `unixtime` or `date`.
    pub fn from_config(text: &str) -> Option<Self> {
        match text {
            "keep" => Some(Self::Keep),
            "unixtime" => Some(Self::Unixtime),
            "date" => Some(Self::Date),
            _ => None,
        }
    }
}

impl fmt::Display for SerialPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::Unixtime => "unixtime",
            Self::Date => "date",
        })
    }
}

/// `a > b` in serial number arithmetic (RFC 1982 §3.2, SERIAL_BITS = 32). Pairs exactly
/// 2^31 apart are undefined and compare false both ways.
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// What dnsd last served for a zone; persisted in the state folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The serial served.
    pub serial: u32,
    /// The serial the zone file held then.
    pub file_serial: u32,
    /// [`content_digest`] of the zone then.
    pub digest: u64,
}

impl Served {
    /// The state file's line: `SERIAL FILE-SERIAL DIGEST-HEX`.
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {:016x}\n",
            self.serial, self.file_serial, self.digest
        )
    }

    /// Reads [`Served::to_line`]'s output; None if it is not that.
    pub fn from_line(line: &str) -> Option<Self> {
        let mut fields = line.split_ascii_whitespace();
        let served = Self {
            serial: fields.next()?.parse().ok()?,
            file_serial: fields.next()?.parse().ok()?,
            digest: u64::from_str_radix(fields.next()?, 16).ok()?,
        };
        fields.next().is_none().then_some(served)
    }
}

/// The serial to serve for a freshly loaded zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Content and file serial are as last served: serve `serial` (the last served one).
    Unchanged(u32),
    /// Something changed: serve `serial`, which is above the last served one.
    Changed(u32),
}

impl Verdict {
    /// The serial to serve.
    pub fn serial(self) -> u32 {
        match self {
            Self::Unchanged(s) | Self::Changed(s) => s,
        }
    }
}

/// A change the `keep` policy cannot serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "serial {file} is not above the served serial {served} (RFC 1982): raise it in the file, \
     or set serial = \"date\" for this zone"
)]
pub struct SerialNotIncreased {
    /// The file's serial.
    pub file: u32,
    /// The serial being served.
    pub served: u32,
}

/// Chooses the serial for a zone whose file holds `file_serial` and whose content digest
/// is `digest`, given what was `last` served (None: never served) and the time `now`
/// (seconds since the Unix epoch; passed in so the policy is a pure function).
pub fn decide(
    policy: SerialPolicy,
    last: Option<&Served>,
    file_serial: u32,
    digest: u64,
    now: u64,
) -> Result<Verdict, SerialNotIncreased> {
    let Some(last) = last else {
        let serial = match policy {
            SerialPolicy::Keep => file_serial,
            _ => {
                let generated = generate(policy, now);
                if serial_gt(generated, file_serial) {
                    generated
                } else {
                    file_serial
                }
            }
        };
        return Ok(Verdict::Changed(serial));
    };
    let content_changed = digest != last.digest;
    let file_serial_changed = file_serial != last.file_serial;
    if !content_changed && !file_serial_changed {
        return Ok(Verdict::Unchanged(last.serial));
    }
    let raised = serial_gt(file_serial, last.serial);
    match policy {
        SerialPolicy::Keep if raised => Ok(Verdict::Changed(file_serial)),
        SerialPolicy::Keep => Err(SerialNotIncreased {
            file: file_serial,
            served: last.serial,
        }),
        // Only the serial moved, and not above what is served: nothing to publish.
        _ if !content_changed && !raised => Ok(Verdict::Unchanged(last.serial)),
        _ => {
            let mut serial = last.serial.wrapping_add(1);
            let generated = generate(policy, now);
            if serial_gt(generated, last.serial) {
                serial = generated;
            }
            if raised && file_serial_changed && serial_gt(file_serial, serial) {
                serial = file_serial;
            }
            Ok(Verdict::Changed(serial))
        }
    }
}

/// The serial an automatic policy generates at `now`.
fn generate(policy: SerialPolicy, now: u64) -> u32 {
    match policy {
        SerialPolicy::Keep => 0,
        SerialPolicy::Unixtime => now as u32,
        SerialPolicy::Date => {
            let (y, m, d) = civil_from_days((now / 86_400) as i64);
            (y as u32)
                .wrapping_mul(1_000_000)
                .wrapping_add(m * 10_000 + d * 100)
        }
    }
}

/// Year, month, day of the proleptic Gregorian calendar for a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A digest of the zone's content with the SOA serial left out, independent of the
/// order of nodes in the snapshot. It is persisted, so the function is our own and must
/// not change between versions (a change would only cost one extra serial increment).
pub fn content_digest(zone: &Zone) -> u64 {
    let mut sum = 0u64;
    for node in zone.nodes() {
        let owner = node.owner();
        for rrset in node.rrsets() {
            let mut h = Fnv::new();
            h.write(owner);
            h.write(&rrset.rtype.0.to_be_bytes());
            h.write(&rrset.ttl.to_be_bytes());
            if rrset.rtype == Rtype::SOA && node.is_apex() {
                for rdata in rrset.rdatas() {
                    write_soa_without_serial(&mut h, rdata);
                }
            } else {
                h.write(rrset.wire());
            }
            sum = sum.wrapping_add(mix(h.finish()));
        }
    }
    sum
}

fn write_soa_without_serial(h: &mut Fnv, rdata: &[u8]) {
    let names = name::wire_len(rdata)
        .and_then(|m| name::wire_len(&rdata[m..]).map(|r| m + r))
        .filter(|&n| rdata.len() >= n + 4);
    match names {
        Some(n) => {
            h.write(&rdata[..n]);
            h.write(&rdata[n + 4..]);
        }
        None => h.write(rdata),
    }
}

/// FNV-1a, 64 bits: stable across versions and platforms (unlike std's hashers).
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// splitmix64's finalizer: spreads FNV's bits before the order-free sum.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
#[path = "serial_tests.rs"]
mod tests;
