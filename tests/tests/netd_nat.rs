//! netd apply/down in namespaces: forwards (TCP and UDP), masquerade, hairpin,
//! allow-lists, idempotence, teardown, refused configurations, re-applies that keep
//! established connections. Topology: see `netfabric_tests::netd`.

use netfabric_tests::netd::{CONFIG, Lab, PUBLIC, tcp_ask, tcp_connect, tcp_say, udp_ask};

#[test]
fn forwards_masquerade_and_hairpin() {
    let lab = Lab::new();
    // Before netd, nothing crosses.
    assert!(tcp_ask(&lab.inet, None, "203.0.113.1:80", "x").is_err());

    lab.netd_ok("apply");

    // Every forward, TCP and UDP; the service sees the client's own address.
    let to = |port: u16| format!("{PUBLIC}:{port}");
    assert_eq!(
        tcp_ask(&lab.inet, None, &to(80), "a").unwrap(),
        "svc1 203.0.113.2 a"
    );
    assert_eq!(
        udp_ask(&lab.inet, None, &to(80), "b").unwrap(),
        "svc1 203.0.113.2 b"
    );
    assert_eq!(
        tcp_ask(&lab.inet, None, &to(7000), "c").unwrap(),
        "svc2 203.0.113.2 c"
    );
    assert_eq!(
        udp_ask(&lab.inet, None, &to(7001), "d").unwrap(),
        "svc2 203.0.113.2 d"
    );
    let tcp = tcp_ask(&lab.inet, Some("203.0.113.2"), &to(2222), "e");
    assert_eq!(tcp.unwrap(), "svc2 203.0.113.2 e");
    let udp = udp_ask(&lab.inet, Some("203.0.113.2"), &to(2222), "f");
    assert_eq!(udp.unwrap(), "svc2 203.0.113.2 f");

    // A source outside the allow-list is dropped: no answer at all, not even a reset.
    let e = tcp_ask(&lab.inet, Some("203.0.113.200"), &to(2222), "g").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        "expected a drop (timeout), got {e}"
    );
    assert!(udp_ask(&lab.inet, Some("203.0.113.200"), &to(2222), "h").is_err());
    // The open forwards still take it.
    assert!(tcp_ask(&lab.inet, Some("203.0.113.200"), &to(80), "i").is_ok());

    // Masquerade: a service reaches the internet, which sees the router's address.
    let out = tcp_ask(&lab.svc1, None, "203.0.113.2:9999", "j").unwrap();
    assert_eq!(out, "inet 203.0.113.1 j");
    let out = udp_ask(&lab.svc2, None, "203.0.113.2:9999", "k").unwrap();
    assert_eq!(out, "inet 203.0.113.1 k");

    // Hairpin: a host on the bridge reaches a forward through the public address.
    let out = tcp_ask(&lab.svc2, None, &to(80), "l").unwrap();
    assert_eq!(out, "svc1 198.51.100.1 l");
    let out = udp_ask(&lab.svc2, None, &to(80), "m").unwrap();
    assert_eq!(out, "svc1 198.51.100.1 m");
    // And a client on the router itself.
    let out = tcp_ask(&lab.router, None, &to(7000), "n").unwrap();
    assert_eq!(out, "svc2 203.0.113.1 n");
}

#[test]
fn apply_twice_changes_nothing_and_down_removes_everything() {
    let lab = Lab::new();
    // A table of someone else's, which netd must never touch.
    lab.router.exec_ok(&["nft", "add table ip hostfw; add chain ip hostfw input { type filter hook input priority 0; }; add rule ip hostfw input tcp dport 9 drop"]);
    let before_links = lab.links();
    let fwd = |lab: &Lab| {
        let out = lab.router.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(fwd(&lab), "0");

    let first = lab.netd_ok("apply");
    assert!(first.contains("+ bridge br-svc"), "{first}");
    assert!(first.contains("net.ipv4.ip_forward 0 -> 1"), "{first}");
    let ruleset = lab.ruleset();
    let links = lab.links();
    assert_eq!(fwd(&lab), "1");

    let second = lab.netd_ok("apply");
    assert_eq!(second.trim(), "no changes");
    assert_eq!(lab.ruleset(), ruleset);
    assert_eq!(lab.links(), links);

    let down = lab.netd_ok("down");
    assert!(down.contains("- bridge br-svc"), "{down}");
    let after = lab.ruleset();
    assert!(!after.contains("netd"), "{after}");
    assert!(after.contains("table ip hostfw"), "{after}");
    assert!(after.contains("tcp dport 9 drop"), "{after}");
    assert!(!lab.links().contains("br-svc"));
    assert_eq!(fwd(&lab), "0");
    assert!(!lab.state().join("owned.json").exists());
    // Nothing left to remove.
    assert_eq!(lab.netd_ok("down"), "");
    // The ports netd enslaved are back as they were (but for their state).
    assert_eq!(
        before_links.lines().filter(|l| l.contains("svc")).count(),
        lab.links().lines().filter(|l| l.contains("svc")).count()
    );
}

#[test]
fn invalid_configuration_applies_nothing() {
    let lab = Lab::new();
    let before = (lab.ruleset(), lab.links());

    lab.write_config(&CONFIG.replace("port = 2222", "port = 0"));
    let out = lab.netd("apply");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("netd.toml:30: forward[2].port: port 0 is not a port"),
        "{err}"
    );

    lab.write_config(&CONFIG.replace("egress = \"up0\"", "egress = \"up9\""));
    let out = lab.netd("apply");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nat[0].egress: unknown interface \"up9\""),
        "{err}"
    );

    lab.write_config(&format!(
        "{CONFIG}\n[[forward]]\nport = 80\nto = \"198.51.100.12\"\n"
    ));
    let out = lab.netd("apply");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("forward[3]: overlaps forward[0] (\"web\")"),
        "{err}"
    );

    lab.write_config(&format!("{CONFIG}\nfrobnicate = true\n"));
    let out = lab.netd("apply");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));

    assert_eq!((lab.ruleset(), lab.links()), before);
    assert!(!lab.state().join("owned.json").exists());
}

#[test]
fn established_connection_survives_reapply() {
    let lab = Lab::new();
    lab.netd_ok("apply");
    let mut web = tcp_connect(&lab.inet, None, "203.0.113.1:80").unwrap();
    assert_eq!(tcp_say(&mut web, "1").unwrap(), "svc1 203.0.113.2 1");

    // A change of NAT reshapes the table: it is replaced whole, in one transaction.
    lab.write_config(&CONFIG.replace(
        "source = [\"198.51.100.0/24\"]",
        "source = [\"198.51.100.0/25\", \"198.51.100.128/25\"]",
    ));
    let out = lab.netd_ok("apply");
    assert!(out.contains("table inet netd replaced"), "{out}");
    assert_eq!(tcp_say(&mut web, "2").unwrap(), "svc1 203.0.113.2 2");

    // Moving another forward leaves this one's connection alone too.
    lab.write_config(&CONFIG.replace("to-port = 9000", "to-port = 9001"));
    lab.netd_ok("apply");
    assert_eq!(tcp_say(&mut web, "3").unwrap(), "svc1 203.0.113.2 3");
    let moved = tcp_ask(&lab.inet, None, "203.0.113.1:7000", "4").unwrap();
    assert_eq!(moved, "svc2 203.0.113.2 4");
}

#[test]
fn plan_changes_nothing_and_needs_no_root() {
    let lab = Lab::new();
    let before = (lab.ruleset(), lab.links());
    let plan = lab.netd_ok("plan");
    assert!(plan.contains("+ bridge br-svc"), "{plan}");
    assert!(plan.contains("+ port svc1 -> br-svc"), "{plan}");
    assert!(
        plan.contains("~ sysctl net.ipv4.ip_forward 0 -> 1"),
        "{plan}"
    );
    assert!(plan.contains("table inet netd {"), "{plan}");
    assert!(
        plan.contains("\"up0\" . tcp . 80 : 198.51.100.10 . 8080"),
        "{plan}"
    );
    assert_eq!((lab.ruleset(), lab.links()), before);

    // As nobody: the same changes and the same table.
    for p in [lab.dir.path().to_path_buf(), lab.config()] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut argv = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let netd = lab.netd_argv("plan");
    argv.extend(netd.iter().map(String::as_str));
    let out = lab.router.exec(&argv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), plan);
}

#[test]
fn the_routers_own_connections_from_a_guarded_port_get_their_answers() {
    let lab = Lab::new();
    lab.netd_ok("apply");
    // 2222 is guarded (forward "guarded" has an allow-list): new connections to it
    // from outside the list are dropped. A connection the router itself opens from
    // local port 2222 is not one of them: its answers must come back.
    let local: std::net::SocketAddr = "203.0.113.1:2222".parse().unwrap();
    let inet: std::net::SocketAddr = "203.0.113.2:9999".parse().unwrap();
    let tcp = lab.router.run_in(|| -> std::io::Result<String> {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.bind(&local.into())?;
        s.connect_timeout(&inet.into(), std::time::Duration::from_secs(4))?;
        let mut stream: std::net::TcpStream = s.into();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(4)))?;
        tcp_say(&mut stream, "out")
    });
    assert_eq!(tcp.unwrap(), "inet 203.0.113.1 out");
    let udp = lab.router.run_in(|| -> std::io::Result<String> {
        let s = std::net::UdpSocket::bind(local)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(4)))?;
        s.send_to(b"out", inet)?;
        let mut buf = [0u8; 128];
        let n = s.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
    });
    assert_eq!(udp.unwrap(), "inet 203.0.113.1 out");
    // The guard still holds for new connections from outside the list.
    assert!(
        tcp_ask(
            &lab.inet,
            Some("203.0.113.200"),
            &format!("{PUBLIC}:2222"),
            "g"
        )
        .is_err()
    );
}
