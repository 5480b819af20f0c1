//! Each transfer peer's configuration in its own syntax (`xfr::PeerServer` starts
//! them): NSD's `nsd.conf`, Knot's `knot.conf`, BIND's `named.conf` and `rndc.conf`,
//! for a primary of its zone files or a secondary of a primary, with the TSIG key
//! for transfers and NOTIFY. Each returns the command line that starts the server.

use std::net::SocketAddr;
use std::path::Path;

use crate::xfr::{Role, TsigKey, write};

pub(crate) fn nsd(
    dir: &Path,
    addr: SocketAddr,
    role: &Role<'_>,
    key: Option<&TsigKey>,
) -> Vec<String> {
    let d = dir.display();
    let mut conf = format!(
        "server:\n  ip-address: {ip}@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
         zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  \
         logfile: \"{d}/nsd.log\"\n  verbosity: 2\n  rrl-ratelimit: 0\n  server-count: 1\n  \
         zonefiles-check: no\n\
         remote-control:\n  control-enable: yes\n  control-interface: \"{d}/nsd.sock\"\n",
        ip = addr.ip(),
        port = addr.port()
    );
    let key_name = key.map_or("NOKEY".to_string(), |k| k.name.clone());
    if let Some(k) = key {
        conf.push_str(&k.nsd_text());
    }
    match role {
        Role::Primary { zones, notify } => {
            for (name, text) in *zones {
                write(dir, &format!("{name}.zone"), text);
                conf.push_str(&format!(
                    "zone:\n  name: \"{name}\"\n  zonefile: \"{d}/{name}.zone\"\n  \
                     provide-xfr: 0.0.0.0/0 {key_name}\n"
                ));
                if let Some(n) = notify {
                    conf.push_str(&format!("  notify: {}@{} {key_name}\n", n.ip(), n.port()));
                }
            }
        }
        Role::Secondary { zones, primary } => {
            for name in *zones {
                conf.push_str(&format!(
                    "zone:\n  name: \"{name}\"\n  zonefile: \"{d}/{name}.zone\"\n  \
                     request-xfr: {}@{} {key_name}\n  allow-notify: {} {key_name}\n",
                    primary.ip(),
                    primary.port(),
                    primary.ip()
                ));
            }
        }
    }
    let path = write(dir, "nsd.conf", &conf);
    vec![
        "nsd".into(),
        "-d".into(),
        "-c".into(),
        path.display().to_string(),
    ]
}

pub(crate) fn knot(
    dir: &Path,
    addr: SocketAddr,
    role: &Role<'_>,
    key: Option<&TsigKey>,
) -> Vec<String> {
    let d = dir.display();
    let mut conf = knot_base(dir, addr);
    if let Some(k) = key {
        conf.push_str(&k.knot_text());
    }
    let key_line = key.map_or(String::new(), |k| format!("    key: {}\n", k.name));
    match role {
        Role::Primary { zones, notify } => {
            conf.push_str(&format!(
                "acl:\n  - id: xfr\n    action: transfer\n{key_line}"
            ));
            if let Some(n) = notify {
                conf.push_str(&format!(
                    "remote:\n  - id: notified\n    address: {}@{}\n{key_line}",
                    n.ip(),
                    n.port()
                ));
            }
            conf.push_str(&format!(
                "template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
                 zonefile-load: difference\n    journal-content: changes\n    \
                 semantic-checks: off\n    acl: xfr\n"
            ));
            if notify.is_some() {
                conf.push_str("    notify: notified\n");
            }
            conf.push_str("zone:\n");
            for (name, text) in *zones {
                write(dir, &format!("{name}.zone"), text);
                conf.push_str(&format!(
                    "  - domain: \"{name}\"\n    file: \"{d}/{name}.zone\"\n"
                ));
            }
        }
        Role::Secondary { zones, primary } => {
            conf.push_str(&format!(
                "remote:\n  - id: primary\n    address: {}@{}\n{key_line}\
                 acl:\n  - id: notify\n    address: {}\n    action: notify\n{key_line}\
                 template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
                 journal-content: changes\n    semantic-checks: off\n    master: primary\n    \
                 acl: notify\nzone:\n",
                primary.ip(),
                primary.port(),
                primary.ip()
            ));
            for name in *zones {
                conf.push_str(&format!(
                    "  - domain: \"{name}\"\n    file: \"{d}/{name}.zone\"\n"
                ));
            }
        }
    }
    // Knot keeps its journal there, and does not make the folder itself.
    std::fs::create_dir_all(dir.join("db")).expect("knot's database folder");
    let path = write(dir, "knot.conf", &conf);
    vec!["knotd".into(), "-c".into(), path.display().to_string()]
}

/// Knot's `server`, `control`, `database` and `log` sections.
pub(crate) fn knot_base(dir: &Path, addr: SocketAddr) -> String {
    let d = dir.display();
    format!(
        "server:\n  listen: {}@{}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         background-workers: 2\n  tcp-workers: 2\n  udp-workers: 1\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: info\n",
        addr.ip(),
        addr.port()
    )
}

pub(crate) fn bind(
    dir: &Path,
    addr: SocketAddr,
    role: &Role<'_>,
    key: Option<&TsigKey>,
) -> Vec<String> {
    let d = dir.display();
    // rndc over loopback of its namespace, on a port of its own.
    let rndc_port = addr.port().wrapping_add(1000).max(1024);
    let rndc_secret = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
    let mut conf = format!(
        "options {{\n  directory \"{d}\";\n  pid-file none;\n  session-keyfile none;\n  \
         listen-on port {port} {{ {ip}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  \
         dnssec-validation no;\n  notify explicit;\n  minimal-responses yes;\n}};\n\
         key \"rndc\" {{ algorithm hmac-sha256; secret \"{rndc_secret}\"; }};\n\
         controls {{ inet 127.0.0.1 port {rndc_port} allow {{ 127.0.0.1; }} keys {{ \"rndc\"; }}; }};\n",
        port = addr.port(),
        ip = addr.ip()
    );
    write(
        dir,
        "rndc.conf",
        &format!(
            "key \"rndc\" {{ algorithm hmac-sha256; secret \"{rndc_secret}\"; }};\n\
             options {{ default-key \"rndc\"; default-server 127.0.0.1; default-port {rndc_port}; }};\n"
        ),
    );
    if let Some(k) = key {
        conf.push_str(&k.bind_text());
    }
    let key_ref = key.map_or(String::new(), |k| format!(" key \"{}\"", k.name));
    let key_acl = key.map_or("any".to_string(), |k| format!("key \"{}\"", k.name));
    match role {
        Role::Primary { zones, notify } => {
            for (name, text) in *zones {
                write(dir, &format!("{name}.zone"), text);
                conf.push_str(&format!(
                    "zone \"{name}\" {{\n  type primary;\n  file \"{d}/{name}.zone\";\n  \
                     allow-transfer {{ {key_acl}; }};\n  ixfr-from-differences yes;\n  \
                     max-ixfr-ratio unlimited;\n  max-journal-size unlimited;\n"
                ));
                if let Some(n) = notify {
                    conf.push_str(&format!(
                        "  also-notify {{ {} port {}{key_ref}; }};\n",
                        n.ip(),
                        n.port()
                    ));
                }
                conf.push_str("};\n");
            }
        }
        Role::Secondary { zones, primary } => {
            for name in *zones {
                conf.push_str(&format!(
                    "zone \"{name}\" {{\n  type secondary;\n  file \"{d}/{name}.db\";\n  \
                     masterfile-format text;\n  primaries {{ {} port {}{key_ref}; }};\n  \
                     allow-notify {{ {}; }};\n}};\n",
                    primary.ip(),
                    primary.port(),
                    primary.ip()
                ));
            }
        }
    }
    let path = write(dir, "named.conf", &conf);
    vec![
        "named".into(),
        "-g".into(),
        "-c".into(),
        path.display().to_string(),
    ]
}
