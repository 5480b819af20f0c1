//! Listener roles and access lists (issue 11, point 1), on the dnsd binary: one dnsd
//! with an authoritative listener, a resolver listener, and a resolver and a `both`
//! listener whose access lists leave loopback clients out.
//!
//! - authoritative: RA clear and REFUSED outside its zones, also with RD set;
//! - resolver: its zones answered with RA; a client outside the list gets REFUSED with
//!   EDE 18 (Prohibited) for every name, in its zones or not;
//! - both: its zones answered to everyone (RA clear for a client outside the list,
//!   which gets no recursion: REFUSED outside the zones, EDE 20);
//! - a resolver listener on a public address without `allow` is a configuration
//!   error (`dnsd check`, and `dnsd` at start).
//!
//! Recursion itself is tested against the mini-Internet in resolver_*.rs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netfabric_tests::dns::{Query, ede_codes, normalize, tcp_exchange, udp_exchange};
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile, free_port};

fn zones() -> Vec<ZoneFile> {
    ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases"))
}

/// (rcode: 0 NOERROR, 5 REFUSED; flags; EDE codes) of `query` sent to `addr` over UDP or TCP.
fn ask(addr: std::net::SocketAddr, query: &Query, tcp: bool) -> (u16, Vec<&'static str>, Vec<u16>) {
    let bytes = query.to_bytes();
    let reply = if tcp {
        tcp_exchange(addr, &bytes, Duration::from_secs(5)).ok()
    } else {
        udp_exchange(addr, &bytes, Duration::from_secs(5))
    }
    .unwrap_or_else(|| panic!("no answer from {addr} to {}", query.name));
    let n = normalize(&reply).unwrap_or_else(|e| panic!("{e}"));
    (n.rcode, n.flags.into_iter().collect(), ede_codes(&reply))
}

fn rd(name: &str) -> Query {
    let mut q = Query::new(name, 1);
    q.rd = true;
    q
}

#[test]
fn roles_and_access_lists() {
    let resolver = free_port();
    let closed = free_port();
    let both = free_port();
    // TESTNET.md: the resolver's hints name a loopback address nobody serves, so that
    // nothing in this test can reach a real root server.
    let files = tempfile::tempdir().unwrap();
    let hints = files.path().join("root.hints");
    let anchor = files.path().join("root.key");
    std::fs::write(&hints, ". 3600 NS ns.\nns. 3600 A 127.0.0.253\n").unwrap();
    std::fs::write(
        &anchor,
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
    )
    .unwrap();
    let config = format!(
        "[resolver]\nroot-hints = \"{}\"\ntrust-anchor = \"{}\"\nupstream-port = 9\n\
         [[listener]]\naddress = \"127.0.0.1:{resolver}\"\nrole = \"resolver\"\n\
         [[listener]]\naddress = \"127.0.0.1:{closed}\"\nrole = \"resolver\"\n\
         allow = [\"198.51.100.0/24\", \"2001:db8::/32\"]\n\
         [[listener]]\naddress = \"127.0.0.1:{both}\"\nrole = \"both\"\n\
         allow = [\"198.51.100.0/24\"]\n",
        hints.display(),
        anchor.display()
    );
    let server = Server::start(
        Kind::Dnsd,
        &zones(),
        &Options {
            dnsd_config: Some(config),
            ..Options::default()
        },
    );
    let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for tcp in [false, true] {
        // Authoritative: no RA, REFUSED outside the zones whatever RD says.
        let (rcode, flags, _) = ask(server.addr, &rd("www.example.com."), tcp);
        assert_eq!((rcode, flags.clone()), (0, vec!["aa", "qr", "rd"]));
        let (rcode, flags, ede) = ask(server.addr, &rd("www.elsewhere.test."), tcp);
        assert_eq!((rcode, flags, ede), (5, vec!["qr", "rd"], vec![20]));

        // Resolver, loopback admitted: local zones answered, with RA.
        let (rcode, flags, _) = ask(at(resolver), &rd("www.example.com."), tcp);
        assert_eq!((rcode, flags), (0, vec!["aa", "qr", "ra", "rd"]));

        // Resolver whose list leaves loopback out: REFUSED, Prohibited, for any name.
        for name in ["www.example.com.", "www.elsewhere.test."] {
            let (rcode, flags, ede) = ask(at(closed), &rd(name), tcp);
            assert_eq!((rcode, flags, ede), (5, vec!["qr", "rd"], vec![18]));
        }

        // Both, client outside the list: the zones as an authoritative server, no RA.
        let (rcode, flags, _) = ask(at(both), &rd("www.example.com."), tcp);
        assert_eq!((rcode, flags), (0, vec!["aa", "qr", "rd"]));
        let (rcode, flags, ede) = ask(at(both), &rd("www.elsewhere.test."), tcp);
        assert_eq!((rcode, flags, ede), (5, vec!["qr", "rd"], vec![20]));
    }
}

#[test]
fn a_public_resolver_without_access_list_is_refused_by_the_configuration_check() {
    // `dnsd check` runs the validation `dnsd` runs at start, without binding anything
    // (a regression must not open a resolver on the host's addresses).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dnsd.toml");
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        &config,
        "[[listener]]\naddress = \"0.0.0.0:5399\"\nrole = \"resolver\"\n",
    )
    .unwrap();
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run dnsd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("listener[0].allow: a resolver listener on 0.0.0.0:5399, a public address"),
        "{stderr}"
    );
}
