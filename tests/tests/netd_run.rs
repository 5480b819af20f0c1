//! netd run in namespaces: drift is repaired, configuration changes are applied as
//! element changes, and the other forwards keep every packet meanwhile.

use std::process::Stdio;
use std::time::Duration;

use netfabric_tests::netd::{CONFIG, Lab, tcp_ask, tcp_connect, tcp_say, udp_ask, wait_for};
use netfabric_tests::process::ProcessGuard;

/// Starts `netd run` with a short drift interval; stderr goes to `run.log`.
fn start(lab: &Lab) -> ProcessGuard {
    let mut argv = lab.netd_argv("run");
    argv.extend(["--interval".into(), "0.2".into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let log = std::fs::File::create(lab.dir.path().join("run.log")).unwrap();
    let mut cmd = lab.router.command(&argv);
    cmd.stdout(Stdio::null()).stderr(log);
    let guard = ProcessGuard::spawn("netd run", &mut cmd);
    let up = wait_for(Duration::from_secs(10), || {
        tcp_ask(&lab.inet, None, "203.0.113.1:80", "up").is_ok()
    });
    assert!(up, "netd run did not apply: {}", log_text(lab));
    guard
}

fn log_text(lab: &Lab) -> String {
    std::fs::read_to_string(lab.dir.path().join("run.log")).unwrap_or_default()
}

#[test]
fn drift_is_repaired() {
    let lab = Lab::new();
    let mut netd = start(&lab);

    // A deleted table (every rule) comes back.
    lab.router
        .exec_ok(&["nft", "delete", "table", "inet", "netd"]);
    let back = wait_for(Duration::from_secs(10), || {
        tcp_ask(&lab.inet, None, "203.0.113.1:80", "back").is_ok()
    });
    assert!(back, "table not restored: {}", log_text(&lab));

    // A deleted map element comes back.
    lab.router.exec_ok(&[
        "nft",
        "delete element inet netd fwd4_iif { \"up0\" . tcp . 80 }",
    ]);
    let back = wait_for(Duration::from_secs(10), || {
        String::from_utf8_lossy(
            &lab.router
                .exec(&["nft", "list", "map", "inet", "netd", "fwd4_iif"])
                .stdout,
        )
        .contains("\"up0\" . tcp . 80 :")
    });
    assert!(back, "element not restored: {}", log_text(&lab));

    // A deleted address comes back; an address netd did not add is left alone (in
    // another subnet: deleting a primary address takes its subnet's secondaries along).
    lab.router
        .exec_ok(&["ip", "addr", "add", "198.18.5.1/24", "dev", "br-svc"]);
    lab.router
        .exec_ok(&["ip", "addr", "del", "198.51.100.1/24", "dev", "br-svc"]);
    let back = wait_for(Duration::from_secs(10), || {
        let out = lab
            .router
            .exec(&["ip", "-o", "addr", "show", "dev", "br-svc"]);
        String::from_utf8_lossy(&out.stdout).contains("198.51.100.1/24")
    });
    assert!(back, "address not restored: {}", log_text(&lab));
    let out = lab
        .router
        .exec(&["ip", "-o", "addr", "show", "dev", "br-svc"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("198.18.5.1/24"));
    // A service reaches the internet again through the restored gateway.
    let ok = wait_for(Duration::from_secs(10), || {
        tcp_ask(&lab.svc1, None, "203.0.113.2:9999", "out").is_ok()
    });
    assert!(ok);

    let log = log_text(&lab);
    assert!(log.contains("drift repaired"), "{log}");
    assert!(log.contains("+ address 198.51.100.1/24 on br-svc"), "{log}");
    netd.terminate(Duration::from_secs(5));
}

#[test]
fn config_change_keeps_other_forwards_whole() {
    let lab = Lab::new();
    let mut netd = start(&lab);
    let mut web = tcp_connect(&lab.inet, None, "203.0.113.1:80").unwrap();

    // Move forward "range" back and forth; each change is an element change, and the
    // "web" forward answers every request in between, on one connection and anew.
    for round in 0..6 {
        let to_port = if round % 2 == 0 { 9001 } else { 9000 };
        lab.write_config(&CONFIG.replace("to-port = 9000", &format!("to-port = {to_port}")));
        let expect = if round % 2 == 0 { "9001" } else { "9000" };
        let applied = wait_for(Duration::from_secs(10), || {
            let out = lab
                .router
                .exec(&["nft", "list", "map", "inet", "netd", "fwd4_sel"]);
            String::from_utf8_lossy(&out.stdout)
                .contains(&format!("7000 . 0.0.0.0/0 : 198.51.100.11 . {expect}"))
        });
        assert!(applied, "change {round} not applied: {}", log_text(&lab));
        for i in 0..20 {
            let msg = format!("{round}.{i}");
            assert_eq!(
                tcp_say(&mut web, &msg).unwrap(),
                format!("svc1 203.0.113.2 {msg}")
            );
            assert_eq!(
                udp_ask(&lab.inet, None, "203.0.113.1:80", &msg).unwrap(),
                format!("svc1 203.0.113.2 {msg}")
            );
        }
    }
    let log = log_text(&lab);
    assert!(log.contains("config changed"), "{log}");
    assert!(log.contains("element change"), "{log}");
    netd.terminate(Duration::from_secs(5));
}
