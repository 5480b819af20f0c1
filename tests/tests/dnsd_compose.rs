//! A real compose project (Debian 12's `docker-compose`, 1.29) against Debian's dockerd
//! in a namespace (`netfabric_tests::engines`), dnsd following it (issue 10): after
//! `up` with three services, one scaled to 3, the names answer — `SERVICE.PROJECT` (the
//! scaled one round robin over its three addresses), the network aliases compose sets
//! (the service name) and those of the file, a `dns.name` label, each container's own
//! name (`proj_web_1` → `proj-web-1`) and the PTRs — and they came in a few versions
//! of the zone (folded: compose starts the containers side by side), not one per
//! container; after `down` every one of them is gone, again in a few versions (the
//! containers compose signals at once are folded as they leave).
//!
//! The network is the project's own (`proj_front`, created by `up`, removed by `down`),
//! mapped to the zone by its name.

use std::path::Path;
use std::process::Command;

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::{Dnsd, PATIENCE};
use netfabric_tests::engines::{Dockerd, Engine, IMAGE, containers_config, wait, wait_engine_up};

const SVC: &str = "$ORIGIN svc.test.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";
const REVERSE: &str = "$ORIGIN 18.198.in-addr.arpa.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";

/// Three services on the project's network: `web` (scaled to 3 by the test, alias
/// `www`), `db` (alias `database`), `cache` (label `dns.name=redis`).
fn compose_file() -> String {
    let service = |extra: &str| {
        format!(
            "    image: {IMAGE}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n\
             \x20   stop_grace_period: 1s\n{extra}"
        )
    };
    format!(
        "version: \"3.7\"\nservices:\n  web:\n{}  db:\n{}  cache:\n{}\
         networks:\n  front:\n    ipam:\n      config:\n        - subnet: 198.18.2.0/24\n",
        service("    networks:\n      front:\n        aliases: [www]\n"),
        service("    networks:\n      front:\n        aliases: [database]\n"),
        service("    labels:\n      dns.name: redis\n    networks: [front]\n"),
    )
}

/// Runs Debian's docker-compose on project `proj` in `dir` against `engine`.
fn compose(engine: &impl Engine, dir: &Path, args: &[&str]) {
    let out = Command::new("/usr/bin/docker-compose")
        .current_dir(dir)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", engine.socket().display()),
        )
        .args(["--no-ansi", "-p", "proj"])
        .args(args)
        .output()
        .expect("run docker-compose (Debian package docker-compose)");
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        engine.log()
    );
}

/// The PTR name of an IPv4 address in 18.198.in-addr.arpa.
fn ptr(ip: &str) -> String {
    let o: Vec<&str> = ip.split('.').collect();
    format!("{}.{}.18.198.in-addr.arpa.", o[3], o[2])
}

#[test]
fn compose_up_and_down() {
    let docker = Dockerd::start();
    let state = tempfile::tempdir().expect("state dir");
    let mut dnsd = Dnsd::builder()
        .zone("svc.test", SVC)
        .zone("18.198.in-addr.arpa", REVERSE)
        .metrics()
        .config(&containers_config(
            state.path(),
            "",
            &[("docker", &docker.socket())],
            &[("name", "proj_front", "svc.test")],
        ))
        .start();
    wait_engine_up(&mut dnsd, "docker");
    let ask = |name: &str, t: &str| {
        let mut a = short(dnsd.addr, name, t);
        a.sort();
        a
    };
    let versions = |d: &Dnsd| {
        d.metric("dnsd_zone_changes_total{zone=\"svc.test.\"}")
            .unwrap_or(0)
    };
    let project = tempfile::tempdir().expect("project dir");
    std::fs::write(project.path().join("docker-compose.yml"), compose_file()).expect("file");

    compose(&docker, project.path(), &["up", "-d", "--scale", "web=3"]);
    let address = |c: &str| docker.address(c, "proj_front");
    let mut web: Vec<String> = (1..=3).map(|i| address(&format!("proj_web_{i}"))).collect();
    web.sort();
    let db = vec![address("proj_db_1")];
    let cache = vec![address("proj_cache_1")];
    wait("the project answered", PATIENCE, || {
        ask("web.proj.svc.test.", "A") == web
            && ask("db.proj.svc.test.", "A") == db
            && ask("cache.proj.svc.test.", "A") == cache
    });
    let up = versions(&dnsd);
    for (name, want) in [
        ("www.svc.test.", &web),
        ("web.svc.test.", &web),
        ("database.svc.test.", &db),
        ("db.svc.test.", &db),
        ("redis.svc.test.", &cache),
        ("cache.svc.test.", &cache),
        ("proj-db-1.svc.test.", &db),
        ("proj-cache-1.svc.test.", &cache),
    ] {
        assert_eq!(&ask(name, "A"), want, "{name}\n{}", dnsd.log());
    }
    for (i, ip) in (1..=3).map(|i| (i, address(&format!("proj_web_{i}")))) {
        assert_eq!(ask(&format!("proj-web-{i}.svc.test."), "A"), [ip.as_str()]);
        assert_eq!(ask(&ptr(&ip), "PTR"), [format!("proj-web-{i}.svc.test.")]);
    }
    assert_eq!(ask(&ptr(&cache[0]), "PTR"), ["redis.svc.test."]);
    // Five containers created and started side by side by compose: a few versions,
    // not one per container (each measured run: 1 to 2).
    assert!(
        (1..=3).contains(&up),
        "{up} versions of svc.test. for `up` of 5 containers\n{}",
        dnsd.log()
    );

    compose(&docker, project.path(), &["down"]);
    wait("the project gone", PATIENCE, || {
        ask("web.proj.svc.test.", "A").is_empty()
            && ask("db.proj.svc.test.", "A").is_empty()
            && ask("redis.svc.test.", "A").is_empty()
    });
    for name in [
        "www.svc.test.",
        "web.svc.test.",
        "database.svc.test.",
        "db.svc.test.",
        "cache.svc.test.",
        "cache.proj.svc.test.",
        "proj-web-1.svc.test.",
        "proj-web-2.svc.test.",
        "proj-web-3.svc.test.",
        "proj-db-1.svc.test.",
        "proj-cache-1.svc.test.",
    ] {
        assert!(ask(name, "A").is_empty(), "{name}\n{}", dnsd.log());
    }
    for ip in web.iter().chain(&db).chain(&cache) {
        assert!(ask(&ptr(ip), "PTR").is_empty(), "{ip}");
    }
    // compose signals the five at once; they go one by one, ~50 ms apart (five
    // versions before leaving containers were folded; each measured run: 1).
    let down = versions(&dnsd) - up;
    eprintln!("svc.test.: {up} versions for `up`, {down} for `down`");
    assert!(
        (1..=2).contains(&down),
        "{down} versions of svc.test. for `down` of 5 containers\n{}",
        dnsd.log()
    );
}
