//! TSIG against itself and against hickory-proto's implementation (a second opinion
//! on every digest), and each refusal of RFC 8945 §5.2.

use std::sync::Arc;

use hickory_proto::op::{Message, OpCode, Query};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name as HName, RecordType, TSigner};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_700_000_000;

fn key(name: &str, algorithm: Algorithm) -> Arc<Key> {
    Arc::new(Key::new(
        &Name::from_text(name, None).unwrap(),
        algorithm,
        SECRET,
    ))
}

fn ring_of(keys: &[&Arc<Key>]) -> KeyRing {
    let mut ring = KeyRing::new();
    for k in keys {
        ring.insert(Key::new(k.name(), k.algorithm(), SECRET));
    }
    ring
}

/// An AXFR request for example.org., id 0x1234.
fn request() -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(b"\x07example\x03org\x00\x00\xfc\x00\x01");
    m
}

/// A response to `request` with `n` A records.
fn response(n: u8) -> Vec<u8> {
    let mut m = request();
    m[2] = 0x84;
    m[7] = n;
    for i in 0..n {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, i]);
    }
    m
}

fn hickory_signer(k: &Key) -> TSigner {
    let algorithm = match k.algorithm() {
        Algorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
        Algorithm::HmacSha384 => TsigAlgorithm::HmacSha384,
        Algorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
        Algorithm::HmacSha1 => TsigAlgorithm::HmacSha1,
        Algorithm::HmacMd5 => TsigAlgorithm::HmacMd5,
    };
    TSigner::new(
        SECRET.to_vec(),
        algorithm,
        HName::from_ascii(k.name().to_string()).unwrap(),
        DEFAULT_FUDGE,
    )
    .unwrap()
}

#[test]
fn a_signed_request_verifies_and_its_response_chain_verifies() {
    for algorithm in Algorithm::ALL {
        let k = key("Xfr.Example.", algorithm);
        let ring = ring_of(&[&k]);
        let mut req = request();
        let mut client = sign_request(&k, &mut req, NOW);
        let Check::Verified(signed) = ring.check_request(&req, NOW + 10) else {
            panic!("{algorithm}: not verified");
        };
        assert_eq!(signed.key.name().to_string(), "xfr.example.");
        let mut server = ResponseSigner::new(&signed);
        for n in 1..=3 {
            let mut resp = response(n);
            let before = resp.len();
            server.sign(&mut resp, NOW + 11);
            assert_eq!(resp.len() - before, server.overhead());
            client.verify(&resp, NOW + 12).unwrap();
        }
        client.finish().unwrap();
    }
}

#[test]
fn hickory_verifies_our_responses_and_we_verify_its_requests() {
    for algorithm in [
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ] {
        let k = key("xfr.example.", algorithm);
        let ring = ring_of(&[&k]);
        let signer = hickory_signer(&k);
        // hickory signs a request...
        let mut message =
            Message::new(0x4321, hickory_proto::op::MessageType::Query, OpCode::Query);
        message.add_query(Query::query(
            HName::from_ascii("example.org.").unwrap(),
            RecordType::AXFR,
        ));
        message.finalize(&signer, NOW).unwrap();
        let req = message.to_vec().unwrap();
        // ... that we verify;
        let Check::Verified(signed) = ring.check_request(&req, NOW) else {
            panic!("{algorithm}: hickory's request not verified");
        };
        // and our chain of responses verifies with hickory, message by message.
        let mut server = ResponseSigner::new(&signed);
        let mut previous = signed.mac.clone();
        for (i, n) in [2u8, 1, 3].into_iter().enumerate() {
            let mut resp = response(n);
            resp[0..2].copy_from_slice(&0x4321u16.to_be_bytes());
            server.sign(&mut resp, NOW);
            let (mac, time, _) = signer
                .verify_message_byte(&resp, Some(&previous), i == 0)
                .unwrap_or_else(|e| panic!("{algorithm} message {i}: {e}"));
            assert_eq!(time, NOW);
            previous = mac;
        }
    }
}

#[test]
fn refusals_follow_rfc_8945_section_5_2() {
    let k = key("xfr.example.", Algorithm::HmacSha256);
    let ring = ring_of(&[&k]);
    let failed = |msg: &[u8], now: u64| match ring.check_request(msg, now) {
        Check::Failed(f) => f.kind,
        other => panic!("not refused: {other:?}"),
    };
    let mut signed = request();
    sign_request(&k, &mut signed, NOW);
    assert!(matches!(
        ring.check_request(&request(), NOW),
        Check::Unsigned
    ));
    // Unknown key, and the right name with another algorithm.
    let mut other = request();
    sign_request(&key("other.", Algorithm::HmacSha256), &mut other, NOW);
    assert_eq!(failed(&other, NOW), FailureKind::BadKey);
    let mut wrong_alg = request();
    sign_request(
        &key("xfr.example.", Algorithm::HmacSha512),
        &mut wrong_alg,
        NOW,
    );
    assert_eq!(failed(&wrong_alg, NOW), FailureKind::BadKey);
    // A changed octet of the message, or of the secret.
    let mut tampered = signed.clone();
    tampered[13] ^= 0x20;
    assert_eq!(failed(&tampered, NOW), FailureKind::BadSig);
    let other_secret = Arc::new(Key::new(k.name(), k.algorithm(), b"another secret"));
    let mut forged = request();
    sign_request(&other_secret, &mut forged, NOW);
    assert_eq!(failed(&forged, NOW), FailureKind::BadSig);
    // Time outside the fudge (300 s), either way.
    assert!(matches!(
        ring.check_request(&signed, NOW + 300),
        Check::Verified(_)
    ));
    assert_eq!(failed(&signed, NOW + 301), FailureKind::BadTime);
    assert_eq!(failed(&signed, NOW - 301), FailureKind::BadTime);
    // The TSIG not last: FORMERR.
    let mut not_last = signed.clone();
    not_last.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    not_last[11] += 1;
    assert_eq!(failed(&not_last, NOW), FailureKind::FormErr);
}

/// `signed` with its MAC cut to `len` octets (MAC size and RDLENGTH adjusted).
fn truncate_mac(signed: &[u8], k: &Key, len: usize) -> Vec<u8> {
    let full = k.algorithm().mac_len();
    let tsig_at = request().len();
    let rdata_at = tsig_at + k.name().as_wire().len() + 10;
    let mac_size_at = rdata_at + k.algorithm().wire().len() + 8;
    let mut out = signed[..mac_size_at].to_vec();
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&signed[mac_size_at + 2..mac_size_at + 2 + len]);
    out.extend_from_slice(&signed[mac_size_at + 2 + full..]);
    let rdlen = u16::from_be_bytes([out[rdata_at - 2], out[rdata_at - 1]]) - (full - len) as u16;
    out[rdata_at - 2..rdata_at].copy_from_slice(&rdlen.to_be_bytes());
    out
}

#[test]
fn truncated_macs_are_formerr_below_the_floor_and_badtrunc_above_it() {
    let k = key("xfr.example.", Algorithm::HmacSha256);
    let ring = ring_of(&[&k]);
    let mut signed = request();
    sign_request(&k, &mut signed, NOW);
    let kind = |msg: &[u8]| match ring.check_request(msg, NOW) {
        Check::Failed(f) => Some(f.kind),
        Check::Verified(_) => None,
        Check::Unsigned => panic!("unsigned"),
    };
    assert_eq!(kind(&truncate_mac(&signed, &k, 32)), None);
    // 16 octets: half of SHA-256's 32, allowed by §5.2.2.1, too short for our policy.
    assert_eq!(
        kind(&truncate_mac(&signed, &k, 16)),
        Some(FailureKind::BadTrunc)
    );
    assert_eq!(
        kind(&truncate_mac(&signed, &k, 15)),
        Some(FailureKind::FormErr)
    );
    assert_eq!(
        kind(&truncate_mac(&signed, &k, 0)),
        Some(FailureKind::BadSig)
    );
    // A truncated MAC that does not match is BADSIG, not BADTRUNC.
    let mut bad = truncate_mac(&signed, &k, 20);
    let last_mac_octet = bad.len() - 7;
    bad[last_mac_octet] ^= 1;
    assert_eq!(kind(&bad), Some(FailureKind::BadSig));
}

#[test]
fn error_responses_are_unsigned_for_badkey_and_signed_for_badtime() {
    let k = key("xfr.example.", Algorithm::HmacSha256);
    let ring = ring_of(&[&k]);
    let mut req = request();
    let mut client = sign_request(&k, &mut req, NOW);
    let Check::Failed(late) = ring.check_request(&req, NOW + 1000) else {
        panic!("not refused");
    };
    let mut out = Vec::new();
    failure_response(&req, &late, NOW + 1000, &mut out);
    assert_eq!(out[3] & 0x0f, 9, "NOTAUTH");
    // The client verifies the signed BADTIME response and reports the error.
    assert_eq!(
        client.verify(&out, NOW + 1000),
        Err(VerifyError::Refused(error::BADTIME))
    );
    let mut other = request();
    let mut client = sign_request(&key("nope.", Algorithm::HmacSha256), &mut other, NOW);
    let Check::Failed(unknown) = ring.check_request(&other, NOW) else {
        panic!("not refused");
    };
    failure_response(&other, &unknown, NOW, &mut out);
    assert_eq!(u16::from_be_bytes([out[10], out[11]]), 1);
    assert_eq!(
        client.verify(&out, NOW),
        Err(VerifyError::Refused(error::BADKEY))
    );
}

#[test]
fn an_update_failure_echoes_its_zone_section_and_still_verifies() {
    let k = key("xfr.example.", Algorithm::HmacSha256);
    let ring = ring_of(&[&k]);
    let mut req = request();
    req[2] = 5 << 3; // UPDATE
    let mut client = sign_request(&k, &mut req, NOW);
    let Check::Failed(late) = ring.check_request(&req, NOW + 1000) else {
        panic!("not refused");
    };
    let mut out = Vec::new();
    failure_response_with_zone(&req, &late, NOW + 1000, &mut out);
    assert_eq!(
        (out[2] >> 3 & 0xf, out[3] & 0x0f),
        (5, 9),
        "UPDATE, NOTAUTH"
    );
    assert_eq!(u16::from_be_bytes([out[4], out[5]]), 1);
    assert_eq!(out[12..29], req[12..29], "the zone section");
    assert_eq!(
        client.verify(&out, NOW + 1000),
        Err(VerifyError::Refused(error::BADTIME))
    );
}

#[test]
fn a_client_accepts_unsigned_messages_between_signed_ones_but_not_at_the_end() {
    let k = key("xfr.example.", Algorithm::HmacSha256);
    let ring = ring_of(&[&k]);
    let mut req = request();
    let mut client = sign_request(&k, &mut req, NOW);
    let Check::Verified(signed) = ring.check_request(&req, NOW) else {
        panic!("not verified");
    };
    // A server that signs the first message, then every third one (§5.3.1 allows up
    // to 99 unsigned in a row): the digest spans the unsigned ones.
    let mut ctx_key = signed.key.context();
    record::feed_mac(&mut ctx_key, &signed.mac);
    let mut first = response(1);
    let mut server = ResponseSigner::new(&signed);
    server.sign(&mut first, NOW);
    client.verify(&first, NOW).unwrap();
    let prior = first[first.len() - 32 - 6..first.len() - 6].to_vec();
    let (m2, m3) = (response(2), response(3));
    client.verify(&m2, NOW).unwrap();
    assert_eq!(client.finish(), Err(VerifyError::Unsigned));
    // The signed third message covers the second: prior MAC, m2, m3, timers.
    let mut ctx = k.context();
    record::feed_mac(&mut ctx, &prior);
    ctx.update(&m2);
    ctx.update(&m3);
    record::feed_timers(&mut ctx, NOW, DEFAULT_FUDGE);
    let mac = ctx.sign();
    let mut m3_signed = m3.clone();
    record::append(
        &mut m3_signed,
        &record::Written {
            key_name: k.name().as_wire(),
            algorithm: k.algorithm().wire(),
            time: NOW,
            fudge: DEFAULT_FUDGE,
            mac: mac.as_ref(),
            original_id: 0x1234,
            error: 0,
            other: &[],
        },
    );
    client.verify(&m3_signed, NOW).unwrap();
    client.finish().unwrap();
    // A first message without TSIG is refused.
    let mut req = request();
    let mut client = sign_request(&k, &mut req, NOW);
    assert_eq!(client.verify(&response(1), NOW), Err(VerifyError::Unsigned));
}

#[test]
fn key_rings_differ_when_only_a_secret_differs() {
    let name = Name::from_text("home-vps.", None).expect("name");
    let ring = |secret: &[u8]| {
        let mut ring = KeyRing::new();
        ring.insert(Key::new(&name, Algorithm::HmacSha256, secret));
        ring
    };
    let a = ring(b"first secret, thirty-two octets!");
    assert_eq!(a, ring(b"first secret, thirty-two octets!"));
    // Same name, algorithm and length: only the secret differs (a SIGHUP must see it).
    assert_ne!(a, ring(b"other secret, thirty-two octets!"));
    assert_ne!(
        Key::new(&name, Algorithm::HmacSha256, b"a"),
        Key::new(&name, Algorithm::HmacSha256, b"b")
    );
}
