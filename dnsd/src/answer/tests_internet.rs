//! `respond` with the options of a server facing the Internet: what rate limiting is
//! told about each response, DNS cookies, NSID, CHAOS identity, the UDP size limit,
//! EDE, and the slip response. Helpers are in `tests.rs`.

use std::net::SocketAddr;

use super::tests::{ask, zones};
use super::{AnswerOptions, CookieState, Outcome, RequestContext, Role, Transport, respond, slip};
use crate::cookies::{Secret, Secrets};
use crate::rrl::Kind;

const NOW: u32 = 1_700_000_000;

fn options() -> AnswerOptions {
    AnswerOptions {
        nsid: Some(b"ns-test".to_vec().into()),
        identity: Some(b"ns1.example.org".to_vec().into()),
        cookies: Some(Secrets::new(Secret([9; 16]), &[])),
        ..AnswerOptions::default()
    }
}

fn context(transport: Transport, options: &AnswerOptions) -> RequestContext<'_> {
    let client: SocketAddr = "198.51.100.77:5353".parse().unwrap();
    RequestContext::new(transport, client, 0, Role::Authoritative)
        .with_options(options, NOW)
        .with_rate_limit()
}

/// Appends the EDNS option `code` with `data` to a request that ends with its OPT.
fn with_option(mut request: Vec<u8>, code: u16, data: &[u8]) -> Vec<u8> {
    let rdlen_at = request.len() - 2;
    let rdlen = u16::from_be_bytes([request[rdlen_at], request[rdlen_at + 1]]);
    let new = rdlen + 4 + data.len() as u16;
    request[rdlen_at..].copy_from_slice(&new.to_be_bytes());
    request.extend_from_slice(&code.to_be_bytes());
    request.extend_from_slice(&(data.len() as u16).to_be_bytes());
    request.extend_from_slice(data);
    request
}

fn run(request: &[u8], context: &RequestContext<'_>) -> (Outcome, Vec<u8>) {
    let mut out = Vec::new();
    let outcome = respond(&zones(), request, context, &mut out).expect("a response");
    (outcome, out)
}

/// The data of EDNS option `code` in the response's OPT record.
fn option(response: &[u8], code: u16) -> Option<Vec<u8>> {
    netfabric_tests::dns::edns_option(response, code)
}

#[test]
fn each_response_says_what_rate_limiting_accounts_it_to() {
    let options = AnswerOptions::default();
    let ctx = context(Transport::Udp, &options);
    let key = |name: &'static str, qtype: u16| {
        let request = ask(name, qtype).bytes();
        let (outcome, _) = run(&request, &ctx);
        let key_name = outcome.limit.name(&request).to_vec();
        let text = crate::wire::name::Name::from_wire(&key_name)
            .map(|n| n.to_string())
            .unwrap_or_default();
        (outcome.limit.kind, text)
    };
    assert_eq!(
        key("WWW.example.org.", 1),
        (Kind::Positive, "WWW.example.org.".into())
    );
    assert_eq!(
        key("nothere.example.org.", 1),
        (Kind::Nxdomain, "example.org.".into())
    );
    assert_eq!(
        key("www.example.org.", 15),
        (Kind::Nodata, "example.org.".into())
    );
    assert_eq!(
        key("host.wild.example.org.", 16),
        (Kind::Wildcard, "wild.example.org.".into())
    );
    assert_eq!(
        key("www.sub.example.org.", 1),
        (Kind::Referral, "sub.example.org.".into())
    );
    assert_eq!(key("www.nowhere.invalid.", 1), (Kind::Error, String::new()));
    // Errors with no lookup at all are errors too.
    let mut garbage = ask("www.example.org.", 1).bytes();
    garbage[5] = 2;
    assert_eq!(run(&garbage, &ctx).0.limit.kind, Kind::Error);
}

#[test]
fn a_cookie_is_given_then_recognised() {
    let options = options();
    let udp = context(Transport::Udp, &options);
    let request = with_option(ask("www.example.org.", 1).bytes(), 10, b"clientck");
    let (outcome, response) = run(&request, &udp);
    assert_eq!(outcome.cookie, CookieState::Client);
    let cookie = option(&response, 10).expect("a COOKIE option");
    assert_eq!(cookie.len(), 24);
    assert_eq!(&cookie[..8], b"clientck");
    assert_eq!(cookie[8], 1, "RFC 9018 version");
    // Sent back: good, and echoed as it is (younger than half an hour).
    let request = with_option(ask("www.example.org.", 1).bytes(), 10, &cookie);
    let (outcome, response) = run(&request, &udp);
    assert_eq!(outcome.cookie, CookieState::Valid);
    assert_eq!(option(&response, 10), Some(cookie.clone()));
    // From another address it is not good.
    let elsewhere = RequestContext {
        client: "198.51.100.78:53".parse().unwrap(),
        ..udp
    };
    assert_eq!(run(&request, &elsewhere).0.cookie, CookieState::Client);
    // Cookies off: the option is ignored.
    let off = AnswerOptions::default();
    let (outcome, response) = run(&request, &context(Transport::Udp, &off));
    assert_eq!(outcome.cookie, CookieState::None);
    assert_eq!(option(&response, 10), None);
}

#[test]
fn require_answers_badcookie_over_udp_only() {
    let options = AnswerOptions {
        require_cookie: true,
        ..options()
    };
    let request = with_option(ask("www.example.org.", 1).bytes(), 10, b"clientck");
    let (outcome, response) = run(&request, &context(Transport::Udp, &options));
    assert_eq!(outcome.rcode, 23);
    let message = hickory_proto::op::Message::from_vec(&response).unwrap();
    assert!(message.answers.is_empty());
    assert_eq!(option(&response, 10).map(|c| c.len()), Some(24));
    let (outcome, _) = run(&request, &context(Transport::Tcp, &options));
    assert_eq!(outcome.rcode, 0, "TCP proves the address already");
    // No cookie at all: answered (a client that does not speak cookies).
    let (outcome, _) = run(
        &ask("www.example.org.", 1).bytes(),
        &context(Transport::Udp, &options),
    );
    assert_eq!(outcome.rcode, 0);
}

#[test]
fn nsid_only_when_asked_and_configured() {
    let options = options();
    let udp = context(Transport::Udp, &options);
    let asked = with_option(ask("www.example.org.", 1).bytes(), 3, b"");
    assert_eq!(option(&run(&asked, &udp).1, 3), Some(b"ns-test".to_vec()));
    let plain = ask("www.example.org.", 1).bytes();
    assert_eq!(option(&run(&plain, &udp).1, 3), None);
    let off = AnswerOptions::default();
    assert_eq!(
        option(&run(&asked, &context(Transport::Udp, &off)).1, 3),
        None
    );
}

#[test]
fn chaos_identity_only_when_configured() {
    let options = options();
    let chaos = |name: &'static str, options: &AnswerOptions| {
        let mut a = ask(name, 16);
        a.qclass = 3;
        let (outcome, response) = run(&a.bytes(), &context(Transport::Udp, options));
        (outcome.rcode, response)
    };
    for name in ["id.server.", "HOSTNAME.bind."] {
        let (rcode, response) = chaos(name, &options);
        assert_eq!(rcode, 0);
        let message = hickory_proto::op::Message::from_vec(&response).unwrap();
        assert!(message.metadata.authoritative);
        assert_eq!(message.answers.len(), 1);
        assert!(
            response.windows(15).any(|w| w == b"ns1.example.org"),
            "{response:?}"
        );
    }
    assert_eq!(chaos("version.bind.", &options).0, 5);
    assert_eq!(chaos("id.server.", &AnswerOptions::default()).0, 5);
}

#[test]
fn udp_max_response_size_bounds_udp_answers() {
    let options = AnswerOptions {
        udp_max: 600,
        ..AnswerOptions::default()
    };
    // Six 100-octet TXT records: about 700 octets.
    let mut a = ask("mid.example.org.", 16);
    a.edns = Some((4096, 0, false));
    let (outcome, response) = run(&a.bytes(), &context(Transport::Udp, &options));
    assert!(outcome.truncated && response.len() <= 600);
    let message = hickory_proto::op::Message::from_vec(&response).unwrap();
    assert_eq!(message.edns.unwrap().max_payload(), 600);
    let (outcome, _) = run(
        &a.bytes(),
        &context(Transport::Udp, &AnswerOptions::default()),
    );
    assert!(!outcome.truncated);
}

#[test]
fn a_refused_transfer_says_prohibited() {
    let options = AnswerOptions::default();
    let (outcome, response) = run(
        &ask("example.org.", 252).bytes(),
        &context(Transport::Tcp, &options),
    );
    assert_eq!(outcome.rcode, 5);
    assert_eq!(option(&response, 15), Some(vec![0, 18]));
}

#[test]
fn a_slip_is_tc_with_the_question_or_badcookie() {
    let options = options();
    let udp = context(Transport::Udp, &options);
    let request = ask("www.example.org.", 1).bytes();
    let (limited, mut out) = run(&request, &udp);
    let outcome = slip(&request, &udp, &limited, &mut out).unwrap();
    assert!(outcome.truncated);
    let message = hickory_proto::op::Message::from_vec(&out).unwrap();
    assert!(message.metadata.truncation && message.metadata.authoritative);
    assert_eq!(message.queries.len(), 1);
    assert!(message.answers.is_empty() && message.edns.is_some());
    // A client that sent a cookie: BADCOOKIE with a fresh server cookie, no TC.
    let request = with_option(ask("www.example.org.", 1).bytes(), 10, b"clientck");
    let (limited, mut out) = run(&request, &udp);
    let outcome = slip(&request, &udp, &limited, &mut out).unwrap();
    assert_eq!((outcome.rcode, outcome.truncated), (23, false));
    assert_eq!(option(&out, 10).map(|c| c.len()), Some(24));
}
