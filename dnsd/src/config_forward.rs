//! `[resolver.forward]`: forward zones, a table from a domain to the addresses of its
//! forwarders (`"198.51.100.7"`, port 53, or `"198.51.100.7:5353"`,
//! `"[2001:db8::7]:53"`); the domain `"."` is the global forwarder. A forwarder asked
//! over DNS over TLS is written `"tls://198.51.100.7"` (port 853) or
//! `"tls://198.51.100.7:8853#dns.example"` (`#`: the name its certificate must carry;
//! without it, its IP address). The resolver's `forward` module says how they are used.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;

use crate::resolver::forward::Forwarder;
use toml::Spanned;

use super::Problems;

/// The spec: domain -> forwarder addresses.
pub type ForwardSpec = Option<Spanned<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>>;

/// Validates `[resolver.forward]`: each domain a name, each list non-empty, each entry
/// an address with an optional port.
pub fn forward_zones(
    spec: &ForwardSpec,
    problems: &mut Problems<'_>,
) -> Vec<(Name, Vec<Forwarder>)> {
    let mut zones: Vec<(Name, Vec<Forwarder>)> = Vec::new();
    let Some(table) = spec else {
        return zones;
    };
    for (domain, servers) in table.get_ref() {
        let key = format!("resolver.forward.{domain:?}");
        let name = match Name::from_ascii(domain) {
            Ok(mut name) if !domain.is_empty() => {
                name.set_fqdn(true);
                name.to_lowercase()
            }
            _ => {
                problems.fail(
                    Some(servers.span()),
                    key,
                    format!("{domain:?} is not a domain name"),
                );
                continue;
            }
        };
        if zones.iter().any(|(other, _)| *other == name) {
            problems.fail(Some(servers.span()), key, format!("{name} is listed twice"));
            continue;
        }
        if servers.get_ref().is_empty() {
            problems.fail(Some(servers.span()), key, "names no forwarder".into());
            continue;
        }
        let mut addresses = Vec::new();
        for (i, server) in servers.get_ref().iter().enumerate() {
            match parse_server(server.get_ref()) {
                Some(addr) => addresses.push(addr),
                None => problems.fail(
                    Some(server.span()),
                    format!("{key}[{i}]"),
                    format!(
                        "{:?} is not an address (198.51.100.7, 198.51.100.7:5353, \
                         [2001:db8::7]:53, tls://198.51.100.7:853#dns.example)",
                        server.get_ref()
                    ),
                ),
            }
        }
        zones.push((name, addresses));
    }
    zones
}

/// A forwarder: an address, with port 53 when none is given; or `tls://` an address
/// (port 853 by default), then optionally `#` and its authentication name.
fn parse_server(text: &str) -> Option<Forwarder> {
    let Some(rest) = text.strip_prefix("tls://") else {
        return address(text, 53).map(Forwarder::plain);
    };
    let (addr, auth_name) = match rest.split_once('#') {
        Some((addr, name)) => {
            let valid =
                tokio_rustls::rustls::pki_types::ServerName::try_from(name.trim_end_matches('.'))
                    .is_ok_and(|n| {
                        matches!(n, tokio_rustls::rustls::pki_types::ServerName::DnsName(_))
                    });
            if !valid {
                return None;
            }
            (addr, Some(name.to_string()))
        }
        None => (rest, None),
    };
    Some(Forwarder {
        addr: address(addr, 853)?,
        tls: true,
        auth_name,
    })
}

/// An address with an optional port (`port` when none is given).
fn address(text: &str, port: u16) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| {
            let bare = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(text);
            bare.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, port))
        })
        .filter(|addr| addr.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::{Forwarder, parse_server};

    #[test]
    fn tls_forwarders_have_port_853_and_an_optional_name() {
        let tls = |addr: &str, name: Option<&str>| Forwarder {
            addr: addr.parse().unwrap(),
            tls: true,
            auth_name: name.map(str::to_string),
        };
        assert_eq!(
            parse_server("tls://198.51.100.7"),
            Some(tls("198.51.100.7:853", None))
        );
        assert_eq!(
            parse_server("tls://198.51.100.7:8853#dns.example"),
            Some(tls("198.51.100.7:8853", Some("dns.example")))
        );
        assert_eq!(
            parse_server("tls://[2001:db8::7]#dns.example."),
            Some(tls("[2001:db8::7]:853", Some("dns.example.")))
        );
        assert_eq!(parse_server("tls://198.51.100.7#"), None);
        assert_eq!(parse_server("tls://198.51.100.7#bad name"), None);
        assert_eq!(parse_server("tls://dns.example"), None);
        assert_eq!(parse_server("198.51.100.7#dns.example"), None);
    }

    #[test]
    fn forwarders_are_addresses_with_an_optional_port() {
        let parse_server = |s: &str| parse_server(s).filter(|f| !f.tls).map(|f| f.addr);
        assert_eq!(
            parse_server("198.51.100.7"),
            Some("198.51.100.7:53".parse().unwrap())
        );
        assert_eq!(
            parse_server("198.51.100.7:5353"),
            Some("198.51.100.7:5353".parse().unwrap())
        );
        assert_eq!(
            parse_server("2001:db8::7"),
            Some("[2001:db8::7]:53".parse().unwrap())
        );
        assert_eq!(
            parse_server("[2001:db8::7]:853"),
            Some("[2001:db8::7]:853".parse().unwrap())
        );
        assert_eq!(parse_server("resolver.corp.example"), None);
        assert_eq!(parse_server("198.51.100.7:0"), None);
    }
}
