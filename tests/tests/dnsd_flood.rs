//! A flood of garbage does not stop dnsd answering good queries (issue 2 point 10).
//!
//! Input: 20,000 garbage datagrams (random bytes and mutated queries) from one socket,
//! and, interleaved with them by the same thread, a good query every 100 garbage
//! datagrams from another socket: 200 good queries sent while the flood runs, each sent
//! once. Output: which good queries were answered, correctly, first try.
//!
//! dnsd runs in a namespace of its own with one UDP worker, so it reads every datagram
//! of the flood and the good queries from one socket, in the order sent, and the
//! kernel counts the datagrams it dropped at that socket for a full buffer (and at the
//! good queries' socket): every good query left unanswered must be one the kernel
//! dropped, not one dnsd ignored. A probe sent after the flood tells when
//! dnsd has read everything before it, so nothing waits on a guessed timeout.

#[path = "dnsd_vs_nsd/cases.rs"]
#[allow(dead_code)]
mod cases;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize};
use netfabric_tests::dnsd::{Dnsd, PATIENCE};
use netfabric_tests::fuzz::{Rng, mutate};
use netfabric_tests::servers::ZoneFile;

const FLOOD: usize = 20_000;
/// A good query after every this many garbage datagrams.
const EVERY: usize = 100;
/// Ids of the probes sent after the flood (good queries use 0..FLOOD/EVERY).
const PROBE_IDS: u16 = 0xff00;

/// Datagrams the kernel dropped for a full receive buffer at the UDP sockets bound to
/// local `port` in the network namespace of process `pid` (the `drops` column of
/// /proc/PID/net/udp, one per socket).
fn udp_drops(pid: u32, port: u16) -> u64 {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/udp"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/net/udp: {e}"));
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port))
        })
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn a_flood_of_garbage_does_not_stop_it_answering() {
    let mut builder = Dnsd::builder().private_netns().config("[udp]\nworkers = 1");
    for zone in ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases")) {
        builder = builder.zone_file(&zone);
    }
    let mut dnsd = builder.start();
    let addr = dnsd.addr;
    let seeds: Vec<Vec<u8>> = cases::cases().into_iter().map(|c| c.request).collect();
    let pid = dnsd.pid();
    let drops_before = udp_drops(pid, addr.port());

    let (sent, answers, good_drops) = dnsd.run_in(move || {
        let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
        let good = UdpSocket::bind("127.0.0.1:0").unwrap();
        let good_port = good.local_addr().unwrap().port();
        good.connect(addr).unwrap();
        good.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let receiver = good.try_clone().unwrap();
        // Collects every answer on the good socket until a probe's answer comes.
        let collect = std::thread::spawn(move || {
            let mut answers: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
            let mut buf = vec![0u8; 65535];
            let deadline = Instant::now() + PATIENCE * 2;
            while Instant::now() < deadline {
                let Ok(n) = receiver.recv(&mut buf) else {
                    continue;
                };
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                if id >= PROBE_IDS {
                    return Some(answers);
                }
                answers.insert(id, buf[..n].to_vec());
            }
            None
        });
        let mut rng = Rng(0xf100d);
        let mut sent = Vec::new();
        for i in 0..FLOOD {
            let input = if i % 2 == 0 {
                let len = rng.below(600);
                rng.bytes(len)
            } else {
                let a = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, a, a)
            };
            flood
                .send_to(&input, addr)
                .unwrap_or_else(|e| panic!("garbage datagram {i} not sent: {e}"));
            if i % EVERY == EVERY / 2 {
                let mut query = Query::new("www.example.com.", 1);
                query.id = (i / EVERY) as u16;
                good.send(&query.to_bytes()).unwrap();
                sent.push(query.id);
            }
        }
        // The flood is over: a probe (sent again each second while the buffer drains)
        // whose answer comes after those of every good query dnsd read.
        let start = Instant::now();
        for k in 0.. {
            let mut probe = Query::new("www.example.com.", 1);
            probe.id = PROBE_IDS + k;
            good.send(&probe.to_bytes()).unwrap();
            if collect.is_finished() || start.elapsed() > PATIENCE {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let answers = collect
            .join()
            .unwrap()
            .expect("no answer to a probe sent after the flood");
        // Answers to good queries lost at the good socket (read by one thread only).
        (sent, answers, udp_drops(pid, good_port))
    });

    let dropped = udp_drops(pid, addr.port()) - drops_before + good_drops;
    for (id, response) in &answers {
        let n = normalize(response).unwrap_or_else(|e| panic!("good query {id}: {e}"));
        assert_eq!(n.rcode, 0, "good query {id}: {n}");
        assert_eq!(n.answer.len(), 1, "good query {id}: {n}");
    }
    let unanswered: Vec<u16> = sent
        .iter()
        .filter(|id| !answers.contains_key(id))
        .copied()
        .collect();
    println!(
        "{} of {} good queries sent during the flood answered first try; the kernel \
         dropped {dropped} datagrams for a full buffer",
        answers.len(),
        sent.len()
    );
    assert_eq!(sent.len(), FLOOD / EVERY);
    assert!(
        unanswered.len() as u64 <= dropped,
        "{} good queries unanswered ({unanswered:?}) but the kernel dropped only {dropped} \
         datagrams: dnsd ignored good queries during the flood\n{}",
        unanswered.len(),
        dnsd.log()
    );
    assert!(
        !answers.is_empty(),
        "no good query answered during the flood (kernel drops: {dropped})"
    );
    assert!(dnsd.is_running(), "dnsd stopped:\n{}", dnsd.log());
    let after = dnsd
        .ask("www.example.com.", 1)
        .expect("answer after the flood");
    assert_eq!(after.rcode, 0);
}
