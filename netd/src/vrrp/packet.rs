//! The VRRPv3 advertisement (RFC 5798 section 5.1), encoded and decoded byte-exact.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPvX Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers a pseudo-header (section 5.2.8) for both families: IPv6's
//! (RFC 8200 section 8.1) and, for IPv4, the TCP/UDP-style one (src, dst, zero, 112,
//! length), as keepalived and other VRRPv3 implementations compute it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// IPv4 multicast group of VRRP (section 5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (section 5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit every VRRP packet is sent with and must arrive with.
pub const TTL: u8 = 255;

const HEADER_LEN: usize = 8;
const VERSION: u8 = 3;
const TYPE_ADVERTISEMENT: u8 = 1;

//------------ Advertisement -------------------------------------------------

/// A VRRPv3 ADVERTISEMENT.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Advertisement {
    /// Virtual router id.
    pub vrid: u8,
    /// Sender's priority (0: it stops being master).
    pub priority: u8,
    /// Max_Advert_Int in centiseconds (12 bits).
    pub max_advert_int: u16,
    /// Virtual addresses, all of the family of the IP packet.
    pub addresses: Vec<IpAddr>,
}

impl Advertisement {
    /// The message with its checksum, for an IP packet from `src` to `dst`.
    ///
    /// `src` and `dst` must be of the family of the addresses; a mixed list is a
    /// configuration error caught earlier, and its foreign addresses are left out.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let addrs: Vec<&IpAddr> = self
            .addresses
            .iter()
            .filter(|a| a.is_ipv6() == src.is_ipv6())
            .take(255)
            .collect();
        let mut buf = Vec::with_capacity(HEADER_LEN + addrs.len() * 16);
        buf.push((VERSION << 4) | TYPE_ADVERTISEMENT);
        buf.push(self.vrid);
        buf.push(self.priority);
        buf.push(addrs.len() as u8);
        buf.extend_from_slice(&(self.max_advert_int & 0x0fff).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        for addr in addrs {
            match addr {
                IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
            }
        }
        let sum = checksum(src, dst, &buf);
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
        buf
    }

    /// Parses and checks a message that arrived in an IP packet from `src` to `dst`
    /// (section 7.1: version, type, length, address count, checksum).
    pub fn decode(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<Self, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Short(buf.len()));
        }
        let version = buf[0] >> 4;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let kind = buf[0] & 0x0f;
        if kind != TYPE_ADVERTISEMENT {
            return Err(DecodeError::Type(kind));
        }
        let count = usize::from(buf[3]);
        let width = if src.is_ipv6() { 16 } else { 4 };
        let expected = HEADER_LEN + count * width;
        if buf.len() < expected {
            return Err(DecodeError::Count {
                count: buf[3],
                len: buf.len(),
            });
        }
        // Bytes past the addresses (padding) are covered by the sender's checksum.
        if checksum(src, dst, buf) != 0 {
            return Err(DecodeError::Checksum);
        }
        let addresses = buf[HEADER_LEN..expected]
            .chunks_exact(width)
            .map(|c| match <[u8; 16]>::try_from(c) {
                Ok(b) => IpAddr::V6(Ipv6Addr::from(b)),
                Err(_) => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
            })
            .collect();
        Ok(Self {
            vrid: buf[1],
            priority: buf[2],
            max_advert_int: u16::from_be_bytes([buf[4], buf[5]]) & 0x0fff,
            addresses,
        })
    }
}

/// The Internet checksum of `msg` and the pseudo-header for `src` -> `dst`.
/// Over a message whose checksum field is filled in, the result is 0 when it is right.
pub fn checksum(src: IpAddr, dst: IpAddr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    let len = msg.len() as u32;
    match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            add(&s.octets());
            add(&d.octets());
            add(&len.to_be_bytes());
            add(&[0, 0, 0, PROTOCOL]);
        }
        (s, d) => {
            add(&v4_octets(s));
            add(&v4_octets(d));
            add(&[0, PROTOCOL]);
            add(&(len as u16).to_be_bytes());
        }
    }
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn v4_octets(addr: IpAddr) -> [u8; 4] {
    match addr {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or([0; 4], |a| a.octets()),
    }
}

//------------ DecodeError ---------------------------------------------------

/// Why a received packet was dropped (section 7.1). Each kind is a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DecodeError {
    /// Shorter than the fixed header.
    Short(usize),
    /// Not version 3.
    Version(u8),
    /// Not an ADVERTISEMENT.
    Type(u8),
    /// The address count does not fit the length.
    Count {
        /// Count field.
        count: u8,
        /// Bytes received.
        len: usize,
    },
    /// The checksum is wrong.
    Checksum,
    /// Arrived with a TTL / hop limit other than 255.
    Ttl(u8),
    /// The IP header is malformed or not VRRP.
    Ip,
}

impl DecodeError {
    /// The metric label of this kind of drop.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Short(_) | Self::Count { .. } | Self::Ip => "malformed",
            Self::Version(_) => "version",
            Self::Type(_) => "type",
            Self::Checksum => "checksum",
            Self::Ttl(_) => "ttl",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short(n) => write!(f, "short packet ({n} bytes)"),
            Self::Version(v) => write!(f, "version {v}, not 3"),
            Self::Type(t) => write!(f, "type {t}, not ADVERTISEMENT"),
            Self::Count { count, len } => {
                write!(f, "{count} addresses do not fit in {len} bytes")
            }
            Self::Checksum => write!(f, "bad checksum"),
            Self::Ttl(t) => write!(f, "TTL/hop limit {t}, not 255"),
            Self::Ip => write!(f, "malformed IP header"),
        }
    }
}

impl std::error::Error for DecodeError {}

//------------ IPv4 header ---------------------------------------------------

/// What the receive checks need from an IPv4 header (raw IPv4 sockets deliver it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Header length in bytes.
    pub header_len: usize,
}

impl Ipv4Header {
    /// Parses the IPv4 header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() < 20 || buf[0] >> 4 != 4 {
            return Err(DecodeError::Ip);
        }
        let header_len = usize::from(buf[0] & 0x0f) * 4;
        if header_len < 20 || buf.len() < header_len || buf[9] != PROTOCOL {
            return Err(DecodeError::Ip);
        }
        Ok(Self {
            src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
            dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
            ttl: buf[8],
            header_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // keepalived 2.2.7, vrrp_version 3, vrid 51, priority 100, advert_int 1,
    // 198.51.100.1, sent from 198.51.100.2 to 224.0.0.18 (captured from a raw socket).
    const KEEPALIVED_V4: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x35, 0x6d, 0xc6, 0x33, 0x64, 0x01,
    ];

    #[test]
    fn encodes_keepalived_bytes() {
        let advert = Advertisement {
            vrid: 51,
            priority: 100,
            max_advert_int: 100,
            addresses: vec![v4("198.51.100.1")],
        };
        let bytes = advert.encode(v4("198.51.100.2"), v4("224.0.0.18"));
        assert_eq!(bytes, KEEPALIVED_V4);
        let back = Advertisement::decode(&bytes, v4("198.51.100.2"), v4("224.0.0.18"));
        assert_eq!(back, Ok(advert));
    }

    // keepalived 2.2.7, vrrp_version 3, vrid 52, priority 100, advert_int 1,
    // 2001:db8::1, sent from fe80::ff:fe00:2 to ff02::12 (captured from a raw socket).
    const KEEPALIVED_V6: [u8; 24] = [
        0x31, 0x34, 0x64, 0x01, 0x00, 0x64, 0x3f, 0x8c, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x01,
    ];

    #[test]
    fn encodes_keepalived_bytes_ipv6() {
        let advert = Advertisement {
            vrid: 52,
            priority: 100,
            max_advert_int: 100,
            addresses: vec![v4("2001:db8::1")],
        };
        let (src, dst) = (v4("fe80::ff:fe00:2"), IpAddr::V6(MULTICAST_V6));
        assert_eq!(advert.encode(src, dst), KEEPALIVED_V6);
        assert_eq!(Advertisement::decode(&KEEPALIVED_V6, src, dst), Ok(advert));
    }

    #[test]
    fn ipv6_round_trip_and_pseudo_header() {
        let src = v4("fe80::1");
        let dst = IpAddr::V6(MULTICAST_V6);
        let advert = Advertisement {
            vrid: 7,
            priority: 200,
            max_advert_int: 10,
            addresses: vec![v4("2001:db8::1")],
        };
        let bytes = advert.encode(src, dst);
        assert_eq!(&bytes[..6], &[0x31, 7, 200, 1, 0, 10]);
        assert_eq!(bytes.len(), 24);
        assert_eq!(Advertisement::decode(&bytes, src, dst), Ok(advert));
        // The same bytes from another source fail: the pseudo-header is covered.
        assert_eq!(
            Advertisement::decode(&bytes, v4("fe80::2"), dst),
            Err(DecodeError::Checksum)
        );
    }

    #[test]
    fn rejects_bad_packets() {
        let (s, d) = (v4("198.51.100.2"), v4("224.0.0.18"));
        let ok = KEEPALIVED_V4;
        assert_eq!(
            Advertisement::decode(&ok[..7], s, d),
            Err(DecodeError::Short(7))
        );
        let mut v2 = ok;
        v2[0] = 0x21;
        assert_eq!(
            Advertisement::decode(&v2, s, d),
            Err(DecodeError::Version(2))
        );
        let mut ty = ok;
        ty[0] = 0x32;
        assert_eq!(Advertisement::decode(&ty, s, d), Err(DecodeError::Type(2)));
        let mut count = ok;
        count[3] = 2;
        assert_eq!(
            Advertisement::decode(&count, s, d),
            Err(DecodeError::Count { count: 2, len: 12 })
        );
        let mut sum = ok;
        sum[7] ^= 1;
        assert_eq!(
            Advertisement::decode(&sum, s, d),
            Err(DecodeError::Checksum)
        );
    }

    #[test]
    fn parses_ipv4_header() {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[8] = 255;
        h[9] = 112;
        h[12..16].copy_from_slice(&[198, 51, 100, 2]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        let parsed = Ipv4Header::parse(&h).unwrap();
        assert_eq!((parsed.ttl, parsed.header_len), (255, 20));
        assert_eq!(parsed.dst, MULTICAST_V4);
        h[9] = 17;
        assert_eq!(Ipv4Header::parse(&h), Err(DecodeError::Ip));
        assert_eq!(Ipv4Header::parse(&h[..10]), Err(DecodeError::Ip));
    }
}
