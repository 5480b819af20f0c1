//! The mini-Internet's authoritative servers: NSD, Knot and BIND, each started in the
//! namespace on its documentation address with its zones, logging to a file of the
//! work folder (`super::MiniInternet::logs`). BIND logs the queries it receives
//! (`querylog`), so that tests see what reached an authority.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::netns::Netns;
use crate::process::ProcessGuard;

pub(super) fn nsd(
    ns: &Netns,
    work: &Path,
    name: &str,
    addr: &str,
    zones: &[(&str, PathBuf)],
) -> ProcessGuard {
    let d = work.join(format!("nsd-{name}"));
    std::fs::create_dir_all(&d).expect("nsd folder");
    let d = d.display();
    let mut conf = format!(
        "server:\n  ip-address: {addr}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
         zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  \
         verbosity: 1\n  server-count: 1\n  rrl-ratelimit: 0\n  zonefiles-check: no\n\
         remote-control:\n  control-enable: no\n"
    );
    for (zone, path) in zones {
        write!(
            conf,
            "zone:\n  name: \"{zone}\"\n  zonefile: \"{}\"\n",
            path.display()
        )
        .unwrap();
    }
    let path = work.join(format!("nsd-{name}.conf"));
    std::fs::write(&path, conf).expect("write nsd.conf");
    spawn(
        ns,
        work,
        &format!("nsd-{name}"),
        &[
            "/usr/sbin/nsd",
            "-d",
            "-c",
            path.to_str().unwrap_or_default(),
        ],
    )
}

pub(super) fn knot(ns: &Netns, work: &Path, addr: &str, zones: &[(&str, PathBuf)]) -> ProcessGuard {
    let d = work.join("knot");
    std::fs::create_dir_all(&d).expect("knot folder");
    let d = d.display();
    let mut conf = format!(
        "server:\n  listen: {addr}@53\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\nzone:\n"
    );
    for (zone, path) in zones {
        write!(
            conf,
            "  - domain: \"{zone}\"\n    file: \"{}\"\n",
            path.display()
        )
        .unwrap();
    }
    let path = work.join("knot.conf");
    std::fs::write(&path, conf).expect("write knot.conf");
    spawn(
        ns,
        work,
        "knot",
        &["/usr/sbin/knotd", "-c", path.to_str().unwrap_or_default()],
    )
}

pub(super) fn bind(ns: &Netns, work: &Path, addr: &str, zones: &[(&str, PathBuf)]) -> ProcessGuard {
    let d = work.join("bind");
    std::fs::create_dir_all(&d).expect("bind folder");
    let mut conf = format!(
        "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
         listen-on port 53 {{ {addr}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  \
         dnssec-validation no;\n  minimal-responses yes;\n  notify no;\n  querylog yes;\n}};\n",
        d = d.display()
    );
    for (zone, path) in zones {
        writeln!(
            conf,
            "zone \"{zone}\" {{ type primary; file \"{}\"; }};",
            path.display()
        )
        .unwrap();
    }
    let path = work.join("named.conf");
    std::fs::write(&path, conf).expect("write named.conf");
    spawn(
        ns,
        work,
        "bind",
        &[
            "/usr/sbin/named",
            "-g",
            "-c",
            path.to_str().unwrap_or_default(),
        ],
    )
}

fn spawn(ns: &Netns, work: &Path, name: &str, argv: &[&str]) -> ProcessGuard {
    let log = std::fs::File::create(work.join(format!("{name}.log"))).expect("log");
    let mut cmd = ns.command(argv);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    ProcessGuard::spawn(name, &mut cmd)
}
