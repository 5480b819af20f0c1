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

/// What dnsd last served for a zone, as its zone manager remembers it (journal and
/// image, in the state folder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The serial served.
    pub serial: u32,
    /// The serial the zone file held then.
    pub file_serial: u32,
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

/// Chooses the serial for a zone whose file holds `file_serial` and whose content
/// changed (`content_changed`, the SOA serial aside) since what was `last` served
/// (None: never served), at the time `now` (seconds since the Unix epoch; passed in so
/// the policy is a pure function).
pub fn decide(
    policy: SerialPolicy,
    last: Option<&Served>,
    file_serial: u32,
    content_changed: bool,
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

/// The serial for a change that does not come from the zone file (a dynamic update,
/// a container record): above `current`, and for the automatic policies the current
/// time or date when that is higher. `keep` counts on by one, as Knot's
/// `serial-policy: increment` does for changes the file does not make.
pub fn next(policy: SerialPolicy, current: u32, now: u64) -> u32 {
    let generated = generate(policy, now);
    if policy != SerialPolicy::Keep && serial_gt(generated, current) {
        generated
    } else {
        current.wrapping_add(1)
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
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

#[cfg(test)]
#[path = "serial_tests.rs"]
mod tests;
