//! Prefetch (issue 11 point 4), from outside: dnsd resolves through the local
//! mini-Internet (never the real one) with every TTL capped to 10 s, and a client asks
//! the same name ten times a second for 25 s (two and a half TTLs).
//!
//! With prefetch (the default), a hit in the last second of the answer's life makes
//! dnsd resolve it again in the background: every question after the first is
//! answered from the cache by the workers (the resolver's tasks answer one question:
//! the first), the answer never expires, and the authority (BIND, whose query log we
//! read) is asked again while the client keeps getting answers. A second dnsd with
//! `prefetch = false`, asked another name of the same zone alike, misses after each
//! expiry: its tasks answer every time the entry expired (the control that shows the
//! timing of the first part means something).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};

/// The value of the series `series` (its full name with labels) in `metrics`.
fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const RESOLVER_ANSWERS: &str = "dnsd_resolver_answers_total{source=\"resolver\"}";
const WORKER_ANSWERS: &str = "dnsd_resolver_answers_total{source=\"worker\"}";
const PREFETCHES: &str = "dnsd_resolver_prefetches_total{result=\"done\"}";

/// Asks `name` A of `resolver` every 100 ms for `length`; panics on a question not
/// answered NOERROR with the address.
fn keep_asking(net: &MiniInternet, resolver: SocketAddr, name: &str, length: Duration) {
    let mut query = Query::new(name, 1);
    query.rd = true;
    let bytes = query.to_bytes();
    let started = Instant::now();
    while started.elapsed() < length {
        let reply = net
            .ns
            .run_in(|| udp_exchange(resolver, &bytes, Duration::from_secs(10)))
            .unwrap_or_else(|| panic!("{resolver} answers {name}"));
        let reply = normalize(&reply).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reply.rcode, 0, "{reply}");
        assert_eq!(reply.answer.len(), 1, "{reply}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn popular_names_are_refreshed_before_they_expire() {
    let net = MiniInternet::start();
    let prefetching = resolver_addr(5331);
    let plain = resolver_addr(5332);
    let _prefetching = net.dnsd(prefetching, "max-ttl = 10\n");
    let _plain = net.dnsd(plain, "max-ttl = 10\nprefetch = false\n");
    let before = (
        net.scrape_dnsd(prefetching),
        net.scrape_dnsd(plain),
        net.bind_queries("www.secure.example", "A"),
    );

    let length = Duration::from_secs(25);
    std::thread::scope(|scope| {
        scope.spawn(|| keep_asking(&net, prefetching, "www.secure.example.", length));
        scope.spawn(|| keep_asking(&net, plain, "mail.secure.example.", length));
    });

    let after = (net.scrape_dnsd(prefetching), net.scrape_dnsd(plain));
    let grew =
        |before: &str, after: &str, series: &str| metric(after, series) - metric(before, series);
    // With prefetch: one question resolved by the tasks (the first), the other ~249
    // answered by the workers from the cache, and the answer refreshed twice at least
    // (at ~9 s and ~18 s).
    let (resolved, from_cache, refreshed) = (
        grew(&before.0, &after.0, RESOLVER_ANSWERS),
        grew(&before.0, &after.0, WORKER_ANSWERS),
        grew(&before.0, &after.0, PREFETCHES),
    );
    eprintln!(
        "prefetch: {resolved} resolved, {from_cache} from cache, {refreshed} prefetches; \
         without: {} resolved, {} from cache",
        grew(&before.1, &after.1, RESOLVER_ANSWERS),
        grew(&before.1, &after.1, WORKER_ANSWERS),
    );
    assert_eq!(
        resolved, 1,
        "a question waited for a resolution:\n{}",
        after.0
    );
    assert!(
        from_cache >= 100,
        "{from_cache} answers from cache:\n{}",
        after.0
    );
    assert!(refreshed >= 2, "{refreshed} prefetches:\n{}", after.0);
    // The authority saw the refreshes: the first question and one per prefetch.
    let asked = net.bind_queries("www.secure.example", "A") - before.2;
    assert!(asked >= 3, "BIND was asked {asked} times:\n{}", net.logs());

    // Without prefetch, the answer expired under the client twice at least.
    let missed = grew(&before.1, &after.1, RESOLVER_ANSWERS);
    assert!(
        missed >= 3,
        "{missed} resolutions without prefetch:\n{}",
        after.1
    );
    assert_eq!(grew(&before.1, &after.1, PREFETCHES), 0, "{}", after.1);
}
