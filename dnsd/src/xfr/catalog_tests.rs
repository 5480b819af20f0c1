//! The catalog's records, read back, changed, and the consumer's plan (RFC 9432).

use super::*;
use crate::manager::ZoneOptions;
use crate::manager::dynamic_zone::{ApexSettings, apex_records};
use crate::zone::txn;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn catalog_with(members: &[&str]) -> Zone {
    let catalog = n("catalog.invalid.");
    let settings = ApexSettings {
        ns: vec![n("invalid.")],
        hostmaster: n("invalid."),
        ttl: 0,
        options: ZoneOptions::default(),
    };
    let mut records = apex_records(&catalog, &settings);
    records.extend(super::records(
        &catalog,
        &members.iter().map(|m| (n(m), None)).collect(),
    ));
    Zone::build(&catalog, records).unwrap()
}

#[test]
fn a_catalog_lists_its_members_with_stable_ids_and_reads_back() {
    let zone = catalog_with(&["Example.NET.", "home.test."]);
    let members = read(&zone).unwrap();
    assert_eq!(
        members.keys().cloned().collect::<BTreeSet<_>>(),
        [n("example.net."), n("home.test.")].into()
    );
    assert_eq!(
        members[&n("example.net.")].id,
        member_id(&n("example.net.")).into_bytes()
    );
    assert_eq!(member_id(&n("EXAMPLE.net.")), member_id(&n("example.net.")));
    assert_eq!(member_id(&n("example.net.")).len(), 16);
}

#[test]
fn changes_make_the_catalog_list_exactly_the_members() {
    let zone = catalog_with(&["a.test.", "b.test."]);
    let want: Members = [(n("b.test."), None), (n("c.test."), None)].into();
    let t = changes(&zone, &want);
    assert_eq!(t.changes.len(), 2, "{:?}", t.changes);
    let applied = txn::apply(&zone, &t).unwrap().zone;
    assert_eq!(
        read(&applied).unwrap().into_keys().collect::<BTreeSet<_>>(),
        want.keys().cloned().collect()
    );
    assert!(changes(&applied, &want).is_empty());
}

/// RFC 9432 §4.4.2: a member's group is a TXT at `group.<id>.zones`, read back by a
/// consumer; a group given, changed or taken away changes only that record.
#[test]
fn a_member_group_is_published_changed_and_read_back() {
    let zone = catalog_with(&["a.test.", "b.test."]);
    let grouped: Members = [(n("a.test."), Some("signed".into())), (n("b.test."), None)].into();
    let t = changes(&zone, &grouped);
    assert_eq!(t.changes.len(), 1, "{:?}", t.changes);
    let applied = txn::apply(&zone, &t).unwrap().zone;
    let owner = n(&format!(
        "group.{}.zones.catalog.invalid.",
        member_id(&n("a.test."))
    ));
    assert!(
        applied
            .records()
            .any(|r| r.owner == owner && r.rtype == Rtype::TXT && &*r.rdata == b"\x06signed"),
        "{:?}",
        applied.records().collect::<Vec<_>>()
    );
    let members = read(&applied).unwrap();
    assert_eq!(members[&n("a.test.")].groups, vec!["signed".to_string()]);
    assert!(members[&n("b.test.")].groups.is_empty());
    // Another group: one record out, one in; none: the record goes.
    let regrouped: Members = [(n("a.test."), Some("plain".into())), (n("b.test."), None)].into();
    assert_eq!(changes(&applied, &regrouped).changes.len(), 2);
    let ungrouped: Members = [(n("a.test."), None), (n("b.test."), None)].into();
    let t = changes(&applied, &ungrouped);
    assert_eq!(t.changes.len(), 1);
    let back = txn::apply(&applied, &t).unwrap().zone;
    assert!(read(&back).unwrap()[&n("a.test.")].groups.is_empty());
}

#[test]
fn a_catalog_without_version_2_is_not_read() {
    let catalog = n("catalog.invalid.");
    let mut zone = catalog_with(&["a.test."]);
    let mut t = Transaction::new();
    t.changes.push(Change::Replace {
        owner: n("version.catalog.invalid."),
        rtype: Rtype::TXT,
        ttl: 0,
        rdatas: vec![txt_rdata("1")],
    });
    zone = txn::apply(&zone, &t).unwrap().zone;
    assert_eq!(
        read(&zone),
        Err(CatalogError::Version {
            catalog,
            found: Some("1".into())
        })
    );
}

#[test]
fn the_plan_adds_removes_resets_and_respects_other_catalogs() {
    let (a, b) = (n("cat-a.invalid."), n("cat-b.invalid."));
    let member = |id: &str, coo: Option<&Name>| Member {
        id: id.as_bytes().to_vec(),
        coo: coo.cloned(),
        groups: Vec::new(),
    };
    let owned: BTreeMap<Name, (Name, Vec<u8>)> = [
        (n("kept.test."), (a.clone(), b"1".to_vec())),
        (n("gone.test."), (a.clone(), b"2".to_vec())),
        (n("reset.test."), (a.clone(), b"3".to_vec())),
        (n("of-b.test."), (b.clone(), b"4".to_vec())),
        (n("moving.test."), (b.clone(), b"5".to_vec())),
    ]
    .into();
    let listed: BTreeMap<Name, Member> = [
        (n("kept.test."), member("1", None)),
        (n("reset.test."), member("9", None)),
        (n("new.test."), member("6", None)),
        (n("of-b.test."), member("7", None)),
        (n("moving.test."), member("8", None)),
    ]
    .into();
    // b's entry of moving.test. says `coo cat-a.invalid.` (§5.5).
    let coo = |owner: &Name, m: &Name| (*owner == b && *m == n("moving.test.")).then(|| a.clone());
    let p = plan(&a, &listed, &owned, &coo);
    assert_eq!(p.add, vec![n("new.test.")]);
    assert_eq!(p.remove, vec![n("gone.test.")]);
    assert_eq!(
        p.reset.into_iter().collect::<BTreeSet<_>>(),
        [n("moving.test."), n("reset.test.")].into()
    );
    assert_eq!(p.refused, vec![n("of-b.test.")]);
}
