//! The peer resolvers besides Unbound (`super::MiniInternet::unbound`): Knot Resolver
//! (kresd) and BIND (named with recursion), each validating with the mini-Internet's
//! trust anchor and starting from its root hints only (shared/TESTNET.md: never the
//! real root), on an address of the namespace; their guards stop them.

use std::net::SocketAddr;
use std::process::Stdio;

use super::MiniInternet;
use crate::process::ProcessGuard;

impl MiniInternet {
    /// Starts Knot Resolver (Debian's kresd, one process) on `addr`, with `extra` Lua
    /// appended to its configuration (e.g. `"cache.size = 2 * GB\n"`); returns once
    /// it resolves the root's SOA.
    pub fn kresd_with(&self, addr: SocketAddr, extra: &str) -> ProcessGuard {
        let dir = self.dir().join(format!("kresd-{}", addr.port()));
        std::fs::create_dir_all(&dir).expect("kresd folder");
        let conf = format!(
            "net.listen('{ip}', {port}, {{ kind = 'dns' }})\n\
             net.ipv6 = false\n\
             modules = {{ 'hints > iterate' }}\n\
             hints.root_file('{hints}')\n\
             trust_anchors.add_file('{anchor}', true)\n\
             -- The mini-Internet's servers are on documentation addresses.\n\
             policy.add(policy.all(policy.FLAGS({{'ALLOW_LOCAL'}})))\n\
             cache.open(100 * MB, 'lmdb://{cache}')\n\
             {extra}\n",
            ip = addr.ip(),
            port = addr.port(),
            hints = self.root_hints().display(),
            anchor = self.trust_anchor().display(),
            cache = dir.join("cache").display(),
        );
        let path = dir.join("kresd.conf");
        std::fs::write(&path, conf).expect("write kresd.conf");
        let log = std::fs::File::create(self.dir().join(format!("kresd-{}.log", addr.port())))
            .expect("log");
        let mut cmd = self.ns.command(&["/usr/sbin/kresd", "-n", "-q", "-c"]);
        cmd.arg(&path)
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let guard = ProcessGuard::spawn("kresd", &mut cmd);
        self.wait_for_resolver(addr);
        guard
    }

    /// Starts BIND (named) as a validating resolver on `addr` (IPv4 only), with
    /// `extra` lines added to its `options` (e.g. `"  max-cache-size 2g;\n"`);
    /// returns once it resolves the root's SOA.
    pub fn bind_resolver_with(&self, addr: SocketAddr, extra: &str) -> ProcessGuard {
        let dir = self.dir().join(format!("named-{}", addr.port()));
        std::fs::create_dir_all(&dir).expect("named folder");
        let conf = format!(
            "options {{\n  directory \"{d}\";\n  pid-file none;\n  \
             listen-on port {port} {{ {ip}; }};\n  listen-on-v6 {{ none; }};\n  \
             recursion yes;\n  allow-recursion {{ any; }};\n  allow-query-cache {{ any; }};\n  \
             dnssec-validation yes;\n  minimal-responses yes;\n  qname-minimization relaxed;\n  \
             notify no;\n{extra}}};\n\
             zone \".\" {{ type hint; file \"{hints}\"; }};\n\
             trust-anchors {{\n{anchors}}};\n",
            d = dir.display(),
            ip = addr.ip(),
            port = addr.port(),
            hints = self.root_hints().display(),
            anchors = static_ds(&std::fs::read_to_string(self.trust_anchor()).unwrap_or_default()),
        );
        let path = dir.join("named.conf");
        std::fs::write(&path, conf).expect("write named.conf");
        let log = std::fs::File::create(self.dir().join(format!("named-{}.log", addr.port())))
            .expect("log");
        let mut cmd = self.ns.command(&["/usr/sbin/named", "-g", "-4", "-c"]);
        cmd.arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let guard = ProcessGuard::spawn("named", &mut cmd);
        self.wait_for_resolver(addr);
        guard
    }
}

/// BIND's `static-ds` lines for the DS records of `anchor` (zone-file lines: owner,
/// TTL, class, DS, key tag, algorithm, digest type, digest).
fn static_ds(anchor: &str) -> String {
    anchor
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|f| f.eq_ignore_ascii_case("DS"))?;
            let [tag, alg, digest_type] = [1, 2, 3].map(|i| fields.get(at + i).copied());
            let digest: String = fields.get(at + 4..)?.concat();
            Some(format!(
                "  \"{}\" static-ds {} {} {} \"{digest}\";\n",
                fields.first()?,
                tag?,
                alg?,
                digest_type?
            ))
        })
        .collect()
}
