//! `[resolver.forward]`: forward zones, a table from a domain to the addresses of its
//! forwarders (`"198.51.100.7"`, port 53, or `"198.51.100.7:5353"`,
//! `"[2001:db8::7]:53"`); the domain `"."` is the global forwarder. The resolver's
//! `forward` module says how they are used.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;
use toml::Spanned;

use super::Problems;

/// The spec: domain -> forwarder addresses.
pub type ForwardSpec = Option<Spanned<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>>;

/// Validates `[resolver.forward]`: each domain a name, each list non-empty, each entry
/// an address with an optional port.
pub fn forward_zones(
    spec: &ForwardSpec,
    problems: &mut Problems<'_>,
) -> Vec<(Name, Vec<SocketAddr>)> {
    let mut zones: Vec<(Name, Vec<SocketAddr>)> = Vec::new();
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
                         [2001:db8::7]:53)",
                        server.get_ref()
                    ),
                ),
            }
        }
        zones.push((name, addresses));
    }
    zones
}

/// An address, with port 53 when none is given.
fn parse_server(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| {
            text.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .filter(|addr| addr.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::parse_server;

    #[test]
    fn forwarders_are_addresses_with_an_optional_port() {
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
