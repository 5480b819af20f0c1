//! DNS cookies, the server's half (RFC 7873): the interoperable server cookie of
//! RFC 9018, made and checked with SipHash-2-4 under a secret, and the secrets
//! themselves: configured (shared by every server of a cluster, so that a cookie one
//! of them made is good at all of them) or generated at start and rotated.
//!
//! Pure: time comes in as Unix seconds, addresses as values. The answer path
//! (`answer::cookie`) reads the request's COOKIE option and writes the response's; the
//! daemon rotates generated secrets and swaps them in.
//!
//! # The server cookie (RFC 9018 §4)
//!
//! ```text
//!  0               1               2               3
//! +-------+-------+-------+-------+-------+-------+-------+-------+
//! |Version|    Reserved (0)       |        Timestamp (Unix s)     |
//! +-------+-------+-------+-------+-------+-------+-------+-------+
//! |      Hash = SipHash-2-4(secret, client cookie | version |      |
//! |              reserved | timestamp | client IP address)        |
//! +-------+-------+-------+-------+-------+-------+-------+-------+
//! ```
//!
//! A server cookie is good when its version is 1, its timestamp lies within the last
//! hour or at most five minutes ahead (RFC 9018 §4.3), and its hash matches under one
//! of the secrets. The same secret in Knot's `mod-cookies`, BIND's `cookie-secret`
//! (siphash24) or NSD's `cookie-secret` makes the same cookies.

use std::net::IpAddr;

use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// Octets of a client cookie (RFC 7873 §4).
pub const CLIENT_LEN: usize = 8;
/// Octets of the server cookies made here (RFC 9018 §4: 16).
pub const SERVER_LEN: usize = 16;
/// The RFC 9018 version made and understood.
pub const VERSION: u8 = 1;
/// How old a server cookie may be (RFC 9018 §4.3: one hour).
pub const MAX_AGE: u32 = 3600;
/// How far ahead of our clock a server cookie may be (RFC 9018 §4.3: five minutes).
pub const MAX_AHEAD: u32 = 300;
/// A cookie younger than this is echoed as it came rather than made anew (RFC 9018
/// §4.3: a server may re-use a cookie younger than half an hour).
pub const REUSE_AGE: u32 = 1800;
/// Most secrets kept at once: the one that makes cookies and older ones that still
/// check them.
pub const MAX_SECRETS: usize = 4;

//------------ Secret --------------------------------------------------------

/// A 128-bit server secret (RFC 7873 §7.1), the SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret(pub [u8; 16]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the key itself.
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from the kernel's random source (getrandom(2)); `None` if it fails.
    pub fn random() -> Option<Secret> {
        let mut key = [0u8; 16];
        // SAFETY: getrandom writes at most `key.len()` bytes into `key`.
        let n = unsafe { libc::getrandom(key.as_mut_ptr().cast(), key.len(), 0) };
        (n == key.len() as isize).then_some(Secret(key))
    }

    /// A secret written as 32 hexadecimal digits (an optional `0x` prefix, as Knot
    /// writes them).
    pub fn from_hex(text: &str) -> Option<Secret> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.len() != 32 {
            return None;
        }
        let mut key = [0u8; 16];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Secret(key))
    }

    /// The hash of RFC 9018 §4.4 over the client cookie, the first eight octets of the
    /// server cookie and the client's address.
    fn hash(&self, client: &[u8; CLIENT_LEN], head: &[u8; 8], ip: IpAddr) -> [u8; 8] {
        // One contiguous input, hashed in one call (cheaper than three writes).
        let mut input = [0u8; CLIENT_LEN + 8 + 16];
        input[..CLIENT_LEN].copy_from_slice(client);
        input[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(head);
        let len = match ip {
            IpAddr::V4(v4) => {
                input[16..20].copy_from_slice(&v4.octets());
                20
            }
            IpAddr::V6(v6) => {
                input[16..32].copy_from_slice(&v6.octets());
                32
            }
        };
        let mut hasher = SipHasher24::new_with_key(&self.0);
        hasher.write(&input[..len]);
        hasher.finish().to_le_bytes()
    }
}

//------------ Secrets -------------------------------------------------------

/// The secrets in use: the first makes cookies, every one checks them. Copy and
/// fixed-size, so that a request context can carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secrets {
    keys: [Secret; MAX_SECRETS],
    len: u8,
}

impl Secrets {
    /// `current` makes cookies; `older` (at most `MAX_SECRETS - 1`, the rest ignored)
    /// still check them.
    pub fn new(current: Secret, older: &[Secret]) -> Secrets {
        let mut keys = [current; MAX_SECRETS];
        let mut len = 1;
        for key in older.iter().take(MAX_SECRETS - 1) {
            keys[len] = *key;
            len += 1;
        }
        Secrets {
            keys,
            len: len as u8,
        }
    }

    /// The secret that makes cookies.
    pub fn current(&self) -> Secret {
        self.keys[0]
    }

    /// These secrets after a rotation to `next`: `next` makes cookies and the current
    /// one still checks them (the ones before it are dropped).
    pub fn rotated(&self, next: Secret) -> Secrets {
        Secrets::new(next, &[self.keys[0]])
    }

    /// The server cookie for a client with cookie `client` at `ip`, made at `now`.
    pub fn make(&self, client: &[u8; CLIENT_LEN], ip: IpAddr, now: u32) -> [u8; SERVER_LEN] {
        let mut cookie = [0u8; SERVER_LEN];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&now.to_be_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&cookie[..8]);
        cookie[8..].copy_from_slice(&self.keys[0].hash(client, &head, ip));
        cookie
    }

    /// Checks a server cookie that came with client cookie `client` from `ip` at
    /// `now`.
    pub fn check(&self, client: &[u8; CLIENT_LEN], server: &[u8], ip: IpAddr, now: u32) -> Check {
        let Ok(server) = <&[u8; SERVER_LEN]>::try_from(server) else {
            return Check::Bad;
        };
        if server[0] != VERSION {
            return Check::Bad;
        }
        let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
        // Serial arithmetic (RFC 1982), so that 2106 is no cliff.
        let age = now.wrapping_sub(stamp);
        let ahead = stamp.wrapping_sub(now);
        if age > MAX_AGE && ahead > MAX_AHEAD {
            return Check::Bad;
        }
        let mut head = [0u8; 8];
        head.copy_from_slice(&server[..8]);
        let good = self.keys[..usize::from(self.len)]
            .iter()
            .enumerate()
            .find(|(_, key)| constant_time_eq(&key.hash(client, &head, ip), &server[8..]));
        match good {
            Some((0, _)) if age <= REUSE_AGE || ahead <= MAX_AHEAD => Check::Fresh,
            Some(_) => Check::Good,
            None => Check::Bad,
        }
    }
}

/// What checking a server cookie found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Good, made with the current secret less than half an hour ago: it may be
    /// echoed as it is.
    Fresh,
    /// Good, but old or made with an older secret: answer with a new one.
    Good,
    /// Not a cookie we made for this client (wrong hash, version, length or time).
    Bad,
}

/// Equality that takes the same time wherever the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn client(text: &str) -> [u8; 8] {
        hex(text).try_into().unwrap()
    }

    /// RFC 9018 Appendix A: the cookies its examples hand out, byte for byte.
    #[test]
    fn rfc9018_appendix_a() {
        let secrets = Secrets::new(
            Secret::from_hex("e5e973e5a6b2a43f48e7dc849e37bfcf").unwrap(),
            &[],
        );
        for (client_cookie, ip, now, want) in [
            // A.1: learning a new server cookie.
            (
                "2464c4abcf10c957",
                "198.51.100.100",
                1559731985,
                "010000005cf79f111f8130c3eee29480",
            ),
            // A.2: the same client, 40 minutes later, given a new one.
            (
                "2464c4abcf10c957",
                "198.51.100.100",
                1559734385,
                "010000005cf7a871d4a564a1442aca77",
            ),
            // A.3: another client.
            (
                "fc93fc62807ddb86",
                "203.0.113.203",
                1559734700,
                "010000005cf7a9acf73a7810aca2381e",
            ),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let made = secrets.make(&client(client_cookie), ip, now);
            assert_eq!(made.to_vec(), hex(want), "{client_cookie} at {now}");
        }
        // A.2's client comes back with A.1's cookie 40 minutes later: good, but older
        // than half an hour, so it gets a new one.
        let a1 = hex("010000005cf79f111f8130c3eee29480");
        let ip: IpAddr = "198.51.100.100".parse().unwrap();
        assert_eq!(
            secrets.check(&client("2464c4abcf10c957"), &a1, ip, 1559734385),
            Check::Good
        );
        assert_eq!(
            secrets.check(&client("2464c4abcf10c957"), &a1, ip, 1559731990),
            Check::Fresh
        );
    }

    #[test]
    fn a_cookie_is_bound_to_client_cookie_address_and_secret() {
        let secrets = Secrets::new(Secret([7; 16]), &[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let cc = client("0102030405060708");
        let made = secrets.make(&cc, ip, 1000);
        assert_eq!(secrets.check(&cc, &made, ip, 1000), Check::Fresh);
        let other_ip: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(secrets.check(&cc, &made, other_ip, 1000), Check::Bad);
        assert_eq!(
            secrets.check(&client("0102030405060709"), &made, ip, 1000),
            Check::Bad
        );
        let other = Secrets::new(Secret([8; 16]), &[]);
        assert_eq!(other.check(&cc, &made, ip, 1000), Check::Bad);
        let mut tampered = made;
        tampered[15] ^= 1;
        assert_eq!(secrets.check(&cc, &tampered, ip, 1000), Check::Bad);
        let mut version = made;
        version[0] = 2;
        assert_eq!(secrets.check(&cc, &version, ip, 1000), Check::Bad);
        assert_eq!(secrets.check(&cc, &made[..15], ip, 1000), Check::Bad);
    }

    #[test]
    fn a_cookie_is_good_for_an_hour_and_five_minutes_ahead() {
        let secrets = Secrets::new(Secret([1; 16]), &[]);
        let ip: IpAddr = "::1".parse().unwrap();
        let cc = client("aaaaaaaaaaaaaaaa");
        let made = secrets.make(&cc, ip, 100_000);
        assert_eq!(secrets.check(&cc, &made, ip, 101_800), Check::Fresh);
        assert_eq!(secrets.check(&cc, &made, ip, 101_801), Check::Good);
        assert_eq!(secrets.check(&cc, &made, ip, 103_600), Check::Good);
        assert_eq!(secrets.check(&cc, &made, ip, 103_601), Check::Bad);
        assert_eq!(secrets.check(&cc, &made, ip, 99_700), Check::Fresh);
        assert_eq!(secrets.check(&cc, &made, ip, 99_699), Check::Bad);
        // Across the 32-bit wrap of the timestamp.
        let late = secrets.make(&cc, ip, u32::MAX - 10);
        assert_eq!(secrets.check(&cc, &late, ip, 20), Check::Fresh);
    }

    /// Rotation keeps the cookies made under the previous secret good until the next
    /// rotation; with at least an hour between rotations, every cookie stays good for
    /// its whole hour.
    #[test]
    fn rotation_keeps_cookies_of_the_previous_secret() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let cc = client("1111111111111111");
        let first = Secrets::new(Secret([1; 16]), &[]);
        let old = first.make(&cc, ip, 5000);
        let second = first.rotated(Secret([2; 16]));
        assert_eq!(second.current(), Secret([2; 16]));
        assert_eq!(second.check(&cc, &old, ip, 5100), Check::Good);
        let new = second.make(&cc, ip, 5100);
        assert_eq!(second.check(&cc, &new, ip, 5100), Check::Fresh);
        assert_eq!(first.check(&cc, &new, ip, 5100), Check::Bad);
        let third = second.rotated(Secret([3; 16]));
        assert_eq!(third.check(&cc, &old, ip, 5200), Check::Bad);
        assert_eq!(third.check(&cc, &new, ip, 5200), Check::Good);
    }

    #[test]
    fn secrets_in_hex() {
        assert_eq!(
            Secret::from_hex("0x000102030405060708090a0b0c0d0e0f"),
            Some(Secret([
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
            ]))
        );
        assert_eq!(Secret::from_hex("0001"), None);
        assert_eq!(Secret::from_hex("zz0102030405060708090a0b0c0d0e0f"), None);
        assert_eq!(Secret::from_hex("é0102030405060708090a0b0c0d0e0f"), None);
        assert!(Secret::random().is_some());
        assert_ne!(Secret::random(), Secret::random());
    }
}
