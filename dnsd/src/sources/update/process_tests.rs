use super::*;
use crate::zone::Record;

fn name(text: &str) -> Name {
    Name::from_text(text, None).expect("name")
}

fn zone() -> Zone {
    let apex = name("dyn.test.");
    let soa = [
        &b"\x03ns1\x00"[..],
        b"\x02hm\x00",
        &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
    ]
    .concat();
    let rec = |owner: &str, rtype: Rtype, rdata: &[u8]| Record {
        owner: name(owner),
        rtype,
        ttl: 300,
        rdata: rdata.into(),
    };
    Zone::build(
        &apex,
        vec![
            rec("dyn.test.", Rtype::SOA, &soa),
            rec("dyn.test.", Rtype::NS, b"\x03ns1\x00"),
            rec("www.dyn.test.", Rtype::A, &[198, 51, 100, 1]),
            rec(
                "alias.dyn.test.",
                Rtype::CNAME,
                b"\x03www\x03dyn\x04test\x00",
            ),
        ],
    )
    .expect("zone")
}

fn rr(owner: &str, rtype: Rtype, class: u16, ttl: u32, rdata: &[u8]) -> Rr {
    Rr {
        owner: name(owner),
        rtype,
        class,
        ttl,
        rdata: rdata.into(),
    }
}

#[test]
fn prerequisites_give_the_rfc_2136_rcodes() {
    let z = zone();
    let check = |p: Rr| check_prerequisites(&z, 1, &[p]);
    assert_eq!(
        check(rr("www.dyn.test.", Rtype(255), CLASS_ANY, 0, b"")),
        Ok(())
    );
    assert_eq!(
        check(rr("no.dyn.test.", Rtype(255), CLASS_ANY, 0, b"")),
        Err(rcode::NXDOMAIN)
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype::AAAA, CLASS_ANY, 0, b"")),
        Err(NXRRSET)
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype(255), CLASS_NONE, 0, b"")),
        Err(rcode::YXDOMAIN)
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype::A, CLASS_NONE, 0, b"")),
        Err(YXRRSET)
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype::A, 1, 0, &[198, 51, 100, 1])),
        Ok(())
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype::A, 1, 0, &[198, 51, 100, 2])),
        Err(NXRRSET)
    );
    assert_eq!(
        check(rr("www.other.", Rtype::A, CLASS_ANY, 0, b"")),
        Err(NOTZONE)
    );
    assert_eq!(
        check(rr("www.dyn.test.", Rtype::A, CLASS_ANY, 5, b"")),
        Err(rcode::FORMERR)
    );
}

#[test]
fn updates_apply_in_order_with_the_soa_ns_and_cname_rules() {
    let z = zone();
    let a = |o: &str, d: u8| rr(o, Rtype::A, 1, 60, &[198, 51, 100, d]);
    // Add, then delete one of two, then a whole RRset.
    let txn = apply_updates(
        &z,
        1,
        &[
            a("new.dyn.test.", 5),
            a("new.dyn.test.", 6),
            rr("new.dyn.test.", Rtype::A, CLASS_NONE, 0, &[198, 51, 100, 5]),
            rr("www.dyn.test.", Rtype::A, CLASS_ANY, 0, b""),
        ],
    );
    assert_eq!(txn.changes.len(), 2, "{txn:?}");
    assert!(matches!(&txn.changes[0], Change::Replace { rdatas, .. } if rdatas.len() == 1));
    assert!(matches!(&txn.changes[1], Change::RemoveRrset { .. }));
    // The apex SOA and NS are kept; a CNAME name takes no A; nothing else changes.
    let txn = apply_updates(
        &z,
        1,
        &[
            rr("dyn.test.", Rtype(255), CLASS_ANY, 0, b""),
            rr("dyn.test.", Rtype::NS, CLASS_NONE, 0, b"\x03ns1\x00"),
            rr("dyn.test.", Rtype::SOA, CLASS_ANY, 0, b""),
            a("alias.dyn.test.", 9),
            rr("www.dyn.test.", Rtype::CNAME, 1, 60, b"\x01x\x00"),
        ],
    );
    assert!(txn.is_empty(), "{txn:?}");
    // Adding what is there already changes nothing.
    let txn = apply_updates(
        &z,
        1,
        &[rr("www.dyn.test.", Rtype::A, 1, 300, &[198, 51, 100, 1])],
    );
    assert!(txn.is_empty(), "{txn:?}");
}

#[test]
fn the_prescan_refuses_bad_classes_and_types() {
    let apex = name("dyn.test.");
    let scan = |r: Rr| prescan(&apex, 1, &[r]);
    assert_eq!(
        scan(rr("x.dyn.test.", Rtype(255), 1, 0, b"")),
        Err(rcode::FORMERR)
    );
    assert_eq!(
        scan(rr("x.dyn.test.", Rtype::A, CLASS_ANY, 1, b"")),
        Err(rcode::FORMERR)
    );
    assert_eq!(
        scan(rr(
            "x.dyn.test.",
            Rtype::A,
            CLASS_NONE,
            1,
            b"\x01\x02\x03\x04"
        )),
        Err(rcode::FORMERR)
    );
    assert_eq!(
        scan(rr("x.dyn.test.", Rtype::A, 3, 1, b"\x01\x02\x03\x04")),
        Err(rcode::FORMERR)
    );
    assert_eq!(
        scan(rr("x.elsewhere.", Rtype::A, 1, 1, b"\x01\x02\x03\x04")),
        Err(NOTZONE)
    );
    assert_eq!(
        scan(rr("x.dyn.test.", Rtype(255), CLASS_ANY, 0, b"")),
        Ok(())
    );
}
