//! A zone's signing policy (the configuration's `[dnssec]` and `[zone."NAME".dnssec]`):
//! algorithm, key scheme, denial of existence, signature lifetimes and key lifetimes,
//! and the checks that refuse a policy that cannot work, naming the key.
//!
//! Defaults follow the range Knot uses: signatures valid 14 days and refreshed when 7
//! days remain, each signature's expiry moved back by up to a day (jitter) so that a
//! zone's signatures do not all expire, and get refreshed, at once; NSEC3 per RFC 9276
//! §3.1 (SHA-1, no iterations, no salt), opt-out only when asked.

use std::net::SocketAddr;

use super::keys::Algorithm;

/// One day, in seconds.
pub const DAY: u32 = 86_400;

/// The shortest `ds-check-interval` (seconds): the signing timer's floor too.
pub const MIN_DS_CHECK_INTERVAL: u32 = 1;

/// How the zone's keys are split (RFC 6781 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScheme {
    /// One Combined Signing Key signs everything (the default).
    Csk,
    /// A Key Signing Key signs the DNSKEY RRset, a Zone Signing Key the rest.
    KskZsk,
}

/// How names that do not exist are proven so (RFC 4034 §4, RFC 5155).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// NSEC (the default).
    Nsec,
    /// NSEC3 with SHA-1, no salt (RFC 9276 §3.1).
    Nsec3 {
        /// Additional hash iterations; RFC 9276 §3.1 asks for 0 and dnsd refuses others.
        iterations: u16,
        /// Opt-out: insecure delegations get no NSEC3 (RFC 5155 §6).
        opt_out: bool,
    },
}

/// A zone's signing policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The signing algorithm.
    pub algorithm: Algorithm,
    /// CSK or KSK+ZSK.
    pub scheme: KeyScheme,
    /// NSEC or NSEC3.
    pub denial: Denial,
    /// How long a new signature is valid (seconds).
    pub signature_validity: u32,
    /// A signature is replaced when less than this is left (seconds).
    pub signature_refresh: u32,
    /// Each new signature expires up to this much earlier (seconds), spread by a hash
    /// of its owner and type.
    pub signature_jitter: u32,
    /// A signature's inception lies this far in the past (clock skew, RFC 6781 §4.4.2).
    pub inception_offset: u32,
    /// TTL of the DNSKEY, CDS and CDNSKEY RRsets; None: the SOA's TTL.
    pub dnskey_ttl: Option<u32>,
    /// A ZSK (KSK+ZSK zones) is rolled after this long (seconds); 0: never.
    pub zsk_lifetime: u64,
    /// A KSK or CSK is rolled after this long (seconds); 0: never (`dnsd keys retire`
    /// rolls it by hand), as Knot's `ksk-lifetime` (a CSK rollover changes the
    /// parent's DS).
    pub ksk_lifetime: u64,
    /// Publish CDS and CDNSKEY (RFC 7344, RFC 8078) for the key-signing keys the
    /// parent's DS set should hold.
    pub publish_cds: bool,
    /// How long a change takes to reach every secondary (RFC 7583 §3.2 Dprp).
    pub propagation_delay: u32,
    /// The parent's DS RRset's TTL, as far as the rollover timing is concerned (RFC
    /// 7583 §3.3.1 TTLds).
    pub parent_ds_ttl: u32,
    /// Resolvers asked whether the parent publishes the new DS before a KSK or CSK
    /// rollover goes on (RFC 7583 §3.3.1 "DS seen"); empty: the step waits for
    /// `dnsd keys ds-seen`.
    pub parent_resolvers: Vec<SocketAddr>,
    /// How often the parent's DS is looked for (seconds; at least
    /// [`MIN_DS_CHECK_INTERVAL`], default an hour as Knot's `ksk-submission`).
    pub ds_check_interval: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::EcdsaP256Sha256,
            scheme: KeyScheme::Csk,
            denial: Denial::Nsec,
            signature_validity: 14 * DAY,
            signature_refresh: 7 * DAY,
            signature_jitter: DAY,
            inception_offset: 3600,
            dnskey_ttl: None,
            zsk_lifetime: 30 * u64::from(DAY),
            ksk_lifetime: 0,
            publish_cds: true,
            propagation_delay: 3600,
            parent_ds_ttl: DAY,
            parent_resolvers: Vec::new(),
            ds_check_interval: 3600,
        }
    }
}

/// A policy that cannot work: the key (as in the configuration) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    /// The configuration key, e.g. `signature-refresh`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Policy {
    /// Checks that the policy can work; the first problem, naming its key.
    pub fn check(&self) -> Result<(), PolicyError> {
        let fail = |key, message: String| Err(PolicyError { key, message });
        if self.signature_refresh == 0 {
            return fail(
                "signature-refresh",
                "must be above 0 (signatures would expire before being replaced)".into(),
            );
        }
        if self.signature_validity <= self.signature_refresh {
            return fail(
                "signature-validity",
                format!(
                    "{} is not longer than signature-refresh ({}): every signature would be due for refresh as soon as it is made",
                    duration_text(u64::from(self.signature_validity)),
                    duration_text(u64::from(self.signature_refresh))
                ),
            );
        }
        if u64::from(self.signature_jitter) + u64::from(self.signature_refresh)
            >= u64::from(self.signature_validity)
        {
            return fail(
                "signature-jitter",
                format!(
                    "{} leaves no time between a signature's making and its refresh (validity {} - refresh {})",
                    duration_text(u64::from(self.signature_jitter)),
                    duration_text(u64::from(self.signature_validity)),
                    duration_text(u64::from(self.signature_refresh))
                ),
            );
        }
        if u64::from(self.signature_validity) > u64::from(u32::MAX / 2) {
            return fail(
                "signature-validity",
                "is beyond what RRSIG serial arithmetic can express (68 years)".into(),
            );
        }
        if let Denial::Nsec3 { iterations, .. } = self.denial
            && iterations > 0
        {
            return fail(
                "nsec3-iterations",
                format!(
                    "{iterations}: RFC 9276 §3.1 requires 0 additional iterations (validators treat more as insecure or bogus)"
                ),
            );
        }
        if self.ds_check_interval < MIN_DS_CHECK_INTERVAL {
            return fail(
                "ds-check-interval",
                format!(
                    "{}s is below the floor of {}s (the parent's servers would be asked without pause)",
                    self.ds_check_interval, MIN_DS_CHECK_INTERVAL
                ),
            );
        }
        // A key must outlive the signatures it makes and their caching (RFC 7583 §3.2).
        let min_life = u64::from(self.signature_validity) + u64::from(self.propagation_delay);
        for (key, life) in [
            ("zsk-lifetime", self.zsk_lifetime),
            ("ksk-lifetime", self.ksk_lifetime),
        ] {
            if life != 0 && life < min_life {
                return fail(
                    key,
                    format!(
                        "{} is shorter than signature-validity + propagation-delay ({})",
                        duration_text(life),
                        duration_text(min_life)
                    ),
                );
            }
        }
        Ok(())
    }

    /// The inception and expiration of a signature made at `now` over an RRset that
    /// `spread` (a hash of owner and type) tells apart.
    pub fn signature_times(&self, now: u64, spread: u64) -> (u32, u32) {
        let jitter = match self.signature_jitter {
            0 => 0,
            j => spread % u64::from(j),
        };
        let inception = now.saturating_sub(u64::from(self.inception_offset));
        let expiration = now + u64::from(self.signature_validity) - jitter;
        (inception as u32, expiration as u32)
    }
}

/// Parses a duration: seconds, or a number with a unit `s`, `m`, `h`, `d` or `w`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = digits.parse().ok()?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// A duration as the configuration writes it (the largest whole unit).
pub fn duration_text(seconds: u64) -> String {
    for (unit, factor) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= factor && seconds.is_multiple_of(factor) {
            return format!("{}{unit}", seconds / factor);
        }
    }
    format!("{seconds}s")
}

/// A time as RFC 3339 (UTC), or "always" for 0 (a key older than its timeline).
pub fn time_text(t: u64) -> String {
    if t == 0 {
        return "always".into();
    }
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_works() {
        Policy::default().check().unwrap();
    }

    #[test]
    fn policies_that_cannot_work_name_their_key() {
        let short = Policy {
            signature_validity: 3 * DAY,
            signature_refresh: 7 * DAY,
            ..Policy::default()
        };
        let e = short.check().unwrap_err();
        assert_eq!(e.key, "signature-validity");
        assert!(
            e.to_string()
                .contains("3d is not longer than signature-refresh (1w)")
        );
        let iterations = Policy {
            denial: Denial::Nsec3 {
                iterations: 10,
                opt_out: false,
            },
            ..Policy::default()
        };
        let e = iterations.check().unwrap_err();
        assert_eq!(e.key, "nsec3-iterations");
        assert!(e.to_string().contains("RFC 9276"));
        let jitter = Policy {
            signature_jitter: 7 * DAY,
            ..Policy::default()
        };
        assert_eq!(jitter.check().unwrap_err().key, "signature-jitter");
        let zsk = Policy {
            zsk_lifetime: u64::from(DAY),
            ..Policy::default()
        };
        assert_eq!(zsk.check().unwrap_err().key, "zsk-lifetime");
        let ds = Policy {
            ds_check_interval: 0,
            ..Policy::default()
        };
        assert_eq!(ds.check().unwrap_err().key, "ds-check-interval");
    }

    #[test]
    fn times_are_jittered_within_bounds() {
        let policy = Policy::default();
        let now = 1_800_000_000;
        let (inception, expiration) = policy.signature_times(now, 12_345);
        assert_eq!(u64::from(inception), now - 3600);
        let longest = now + u64::from(14 * DAY);
        assert!(u64::from(expiration) <= longest && u64::from(expiration) > longest - 86_400);
        let (_, other) = policy.signature_times(now, 99_999);
        assert_ne!(expiration, other);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d"), Some(14 * 86_400));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration("d"), None);
        assert_eq!(duration_text(14 * 86_400), "2w");
        assert_eq!(duration_text(3600), "1h");
        assert_eq!(duration_text(61), "61s");
    }
}
