//! A zone-file edit as a change of the live zone (Knot's `zonefile-load: difference`):
//! the file's records, matched against the zone being served as they are parsed
//! (`zone::file_match`), become a transaction. Only RRsets that the file owns are
//! compared (`manager::ownership`): records that dynamic sources added stay, unless
//! the file now has the same RRset, which it takes over.
//!
//! The base is walked once in canonical order: an RRset none of whose records the file
//! holds is dropped, one the file holds exactly stays, any other is replaced by the
//! file's; RRsets the base lacks are added. Every change replaces a whole RRset, so the
//! transaction stays right when other sources committed after the base was taken
//! ([`FileChanges::rebase`]): they never touch what the file owns.

use std::sync::Arc;

use crate::manager::ownership::Ownership;
use crate::wire::name::Name;
use crate::zone::file_match::{FileMatch, Matched, Touched};
use crate::zone::load::Diagnostics;
use crate::zone::parse::Parsed;
use crate::zone::quote;
use crate::zone::snapshot::soa_without_serial;
use crate::zone::txn::{Change, Transaction, TxnError};
use crate::zone::{NodeRef, Record, RrsetRef, Rtype, Zone};

/// What a zone file changes in the live zone.
#[derive(Debug, Default)]
pub struct FileChanges {
    /// The changes, the SOA aside.
    pub txn: Transaction,
    /// RRsets a dynamic source owned that the file now defines (owner, type, source).
    pub takeovers: Vec<(Name, Rtype, Arc<str>)>,
    /// Whether the SOA differs in more than its serial (or its TTL differs).
    pub soa_changed: bool,
    /// The RRsets taken over whose records the file does not change: replaced all the
    /// same when the base is not the live zone any more (their source may have changed
    /// them since).
    pub kept_takeovers: Vec<Change>,
    /// Where the file writes the new records of each name it changes: `file:line`,
    /// for errors that the transaction's checks find (CNAME beside other data, ...).
    pub places: Vec<(Name, String)>,
}

impl FileChanges {
    /// Where the file writes what makes `error` (about a name), when known.
    pub fn place_of(&self, error: &TxnError) -> Option<&str> {
        let owner = error.owner()?;
        self.places
            .iter()
            .find(|(name, _)| name == owner)
            .map(|(_, place)| place.as_str())
    }

    /// Whether the file changes the zone's content at all.
    pub fn is_empty(&self) -> bool {
        self.txn.is_empty() && !self.soa_changed
    }

    /// Makes the changes, computed against an older version, right for the live zone
    /// whose dynamic owners are `ownership`: RRsets a dynamic source created since are
    /// taken over, and the takeovers that changed nothing replace their RRset.
    pub fn rebase(&mut self, ownership: &Ownership) {
        self.txn.changes.append(&mut self.kept_takeovers);
        let mut taken: Vec<(Name, Rtype)> = self
            .takeovers
            .iter()
            .map(|(owner, rtype, _)| (owner.clone(), *rtype))
            .collect();
        for change in &self.txn.changes {
            let (owner, rtype) = match change {
                Change::Replace { owner, rtype, .. } | Change::RemoveRrset { owner, rtype } => {
                    (owner, *rtype)
                }
                Change::Add(r) | Change::Remove(r) => (&r.owner, r.rtype),
                Change::RemoveName { .. } => continue,
            };
            if let Some(source) = ownership.owner_of(owner, rtype)
                && !taken.iter().any(|(o, t)| o == owner && *t == rtype)
            {
                taken.push((owner.clone(), rtype));
                self.takeovers.push((owner.clone(), rtype, source.clone()));
            }
        }
    }
}

/// The changes that make `live` hold what `file` holds, for the RRsets the file owns
/// (DNSSEC types left out when `skip` says so).
pub fn file_changes(file: &Zone, live: &Arc<Zone>, ownership: &Ownership) -> FileChanges {
    let mut matcher = FileMatch::new(live.clone(), |_| false);
    let mut diag = Diagnostics::new();
    for record in file.records() {
        matcher.record(
            Parsed {
                record,
                file: 0,
                line: 0,
            },
            &mut diag,
        );
    }
    match matcher.finish(&mut diag) {
        Some(matched) => changes_of(&matched, ownership),
        None => FileChanges::default(),
    }
}

/// The changes a finished match makes, for the RRsets the file owns.
pub fn changes_of(matched: &Matched, ownership: &Ownership) -> FileChanges {
    let mut out = FileChanges::default();
    let base = &matched.base;
    let dynamic = ownership.iter().next().is_some();
    let mut fresh_rrsigs = matched
        .fresh
        .keys()
        .filter(|(_, rtype, _)| *rtype == Rtype::RRSIG)
        .count();
    for node in base.nodes() {
        let owner = (dynamic || fresh_rrsigs > 0).then(|| node.owner_name());
        let mut signatures_changed = false;
        for rrset in node.rrsets() {
            if (node.is_apex() && rrset.rtype == Rtype::SOA) || (matched.skip)(rrset.rtype) {
                continue;
            }
            let owner_of = |rtype| {
                owner
                    .as_ref()
                    .and_then(|o| ownership.owner_of(o, rtype).cloned())
            };
            let touched = matched.touched.get(&(rrset.wire().as_ptr() as usize));
            let held = rrset.rdatas().filter(|r| matched.seen.contains(r)).count();
            let in_file = held > 0 || touched.is_some_and(|t| !t.added.is_empty());
            let source = owner_of(rrset.rtype);
            if rrset.rtype == Rtype::RRSIG {
                signatures_changed |= if in_file {
                    !same(&rrset, held, touched)
                } else {
                    source.is_none()
                };
                continue;
            }
            if !in_file {
                // The file dropped it, unless a dynamic source owns it.
                if source.is_none() {
                    out.txn.push(Change::RemoveRrset {
                        owner: node.owner_name(),
                        rtype: rrset.rtype,
                    });
                }
                continue;
            }
            let unchanged = same(&rrset, held, touched);
            if unchanged && source.is_none() {
                // Nearly every RRset of an edit: nothing to make, nothing to allocate.
                continue;
            }
            let owner = node.owner_name();
            if let Some(t) = touched.filter(|t| !t.added.is_empty()) {
                out.places.push((owner.clone(), place(matched, t.at)));
            }
            let replace = Change::Replace {
                owner: owner.clone(),
                rtype: rrset.rtype,
                ttl: touched.and_then(|t| t.ttl).unwrap_or(rrset.ttl),
                rdatas: file_rdatas(matched, &rrset, touched),
            };
            if let Some(source) = source {
                out.takeovers.push((owner, rrset.rtype, source));
                if unchanged {
                    out.kept_takeovers.push(replace);
                    continue;
                }
            }
            if !unchanged {
                out.txn.push(replace);
            }
        }
        if !signatures_changed && fresh_rrsigs == 0 {
            continue;
        }
        // The owner as a name only where signatures are compared (not for every node).
        let owner = owner.unwrap_or_else(|| node.owner_name());
        let fresh: Vec<(&(Name, Rtype, Rtype), &Touched)> = matched
            .fresh
            .range(
                (owner.clone(), Rtype::RRSIG, Rtype(0))
                    ..=(owner.clone(), Rtype::RRSIG, Rtype(u16::MAX)),
            )
            .collect();
        fresh_rrsigs -= fresh.len();
        if signatures_changed || !fresh.is_empty() {
            signatures(&mut out.txn, matched, &node, &owner, &fresh, ownership);
        }
    }
    // RRsets the base lacks (signatures at names the base has are done above).
    let mut signed_owner: Option<&Name> = None;
    for ((owner, rtype, _), touched) in &matched.fresh {
        out.places.push((owner.clone(), place(matched, touched.at)));
        let mut rdatas = touched.added.clone();
        rdatas.sort_unstable();
        rdatas.dedup();
        let ttl = touched.ttl.unwrap_or(0);
        if *rtype != Rtype::RRSIG {
            out.txn.push(Change::Replace {
                owner: owner.clone(),
                rtype: *rtype,
                ttl,
                rdatas,
            });
            continue;
        }
        if base.node(owner.as_wire()).is_some_and(|n| !n.is_empty()) {
            continue;
        }
        if signed_owner != Some(owner) {
            signed_owner = Some(owner);
            out.txn.push(Change::RemoveRrset {
                owner: owner.clone(),
                rtype: Rtype::RRSIG,
            });
        }
        for rdata in rdatas {
            out.txn.push(add(owner, Rtype::RRSIG, ttl, rdata));
        }
    }
    let (ttl, rdata) = &matched.soa;
    out.soa_changed = Some((*ttl, soa_without_serial(rdata)))
        != base
            .soa()
            .and_then(|soa| Some((soa.ttl, soa_without_serial(soa.rdatas().next()?))));
    out
}

/// Whether the file holds exactly the base RRset (`held` of its records, nothing
/// more, the same TTL).
fn same(rrset: &RrsetRef<'_>, held: usize, touched: Option<&Touched>) -> bool {
    held == rrset.len()
        && touched.is_none_or(|t| t.added.is_empty() && t.ttl.is_none_or(|ttl| ttl == rrset.ttl))
}

/// The file's RDATAs for a base RRset: the base's it holds, and the new ones.
fn file_rdatas(
    matched: &Matched,
    rrset: &RrsetRef<'_>,
    touched: Option<&Touched>,
) -> Vec<Box<[u8]>> {
    let mut rdatas: Vec<Box<[u8]>> = rrset
        .rdatas()
        .filter(|r| matched.seen.contains(r))
        .map(Box::from)
        .collect();
    if let Some(touched) = touched {
        rdatas.extend(touched.added.iter().cloned());
        rdatas.sort_unstable();
        rdatas.dedup();
    }
    rdatas
}

/// Replaces every signature at `node` by the file's: RRSIGs are one RRset per type
/// covered, each with its own TTL, and the transaction removes them all at once.
fn signatures(
    txn: &mut Transaction,
    matched: &Matched,
    node: &NodeRef<'_>,
    owner: &Name,
    fresh: &[(&(Name, Rtype, Rtype), &Touched)],
    ownership: &Ownership,
) {
    txn.push(Change::RemoveRrset {
        owner: owner.clone(),
        rtype: Rtype::RRSIG,
    });
    for rrset in node.rrsets_of(Rtype::RRSIG) {
        let touched = matched.touched.get(&(rrset.wire().as_ptr() as usize));
        let mut rdatas = file_rdatas(matched, &rrset, touched);
        let mut ttl = touched.and_then(|t| t.ttl).unwrap_or(rrset.ttl);
        if rdatas.is_empty() && ownership.owner_of(owner, Rtype::RRSIG).is_some() {
            // A dynamic source's signatures the file does not have stay.
            rdatas = rrset.rdatas().map(Box::from).collect();
            ttl = rrset.ttl;
        }
        for rdata in rdatas {
            txn.push(add(owner, Rtype::RRSIG, ttl, rdata));
        }
    }
    for (_, touched) in fresh {
        let mut rdatas = touched.added.clone();
        rdatas.sort_unstable();
        rdatas.dedup();
        for rdata in rdatas {
            txn.push(add(owner, Rtype::RRSIG, touched.ttl.unwrap_or(0), rdata));
        }
    }
}

/// `file:line` of a place in the files a match read.
fn place(matched: &Matched, (file, line): (u32, u32)) -> String {
    let path = matched
        .files
        .get(file as usize)
        .map(|p| quote::path(p))
        .unwrap_or_default();
    format!("{path}:{line}")
}

fn add(owner: &Name, rtype: Rtype, ttl: u32, rdata: Box<[u8]>) -> Change {
    Change::Add(Record {
        owner: owner.clone(),
        rtype,
        ttl,
        rdata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use crate::xfr::journal::OwnerChange;
    use crate::zone::file_match::FileMatch;
    use crate::zone::txn::apply;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn zone(text: &str) -> Arc<Zone> {
        let text = format!(
            "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n{text}"
        );
        crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("t.zone"),
            &n("example.org."),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .zone
        .into()
    }

    fn sorted(zone: &Zone) -> Vec<Record> {
        let mut r: Vec<Record> = zone.records().collect();
        r.sort();
        r
    }

    #[test]
    fn an_edit_becomes_the_changes_that_make_the_live_zone_the_file() {
        let live = zone("www A 198.51.100.2\nold TXT \"x\"\nkeep MX 10 ns\n");
        let file = zone("www 60 A 198.51.100.2\nnew.a.b AAAA 2001:db8::1\nkeep MX 10 ns\n");
        let changes = file_changes(&file, &live, &Ownership::default());
        assert!(!changes.soa_changed);
        let applied = apply(&live, &changes.txn).unwrap();
        assert_eq!(sorted(&applied.zone), sorted(&file));
        let unchanged = file_changes(&live, &live, &Ownership::default());
        assert!(unchanged.is_empty());
        let resoa = zone("www A 198.51.100.2\nold TXT \"x\"\nkeep MX 10 ns\n");
        assert!(file_changes(&resoa, &live, &Ownership::default()).is_empty());
    }

    #[test]
    fn dynamic_records_stay_unless_the_file_takes_them_over() {
        let live = zone("web A 198.51.100.7\nweb TXT \"from docker\"\nfile A 198.51.100.2\n");
        let mut ownership = Ownership::default();
        for rtype in [Rtype::A, Rtype::TXT] {
            ownership.apply(&[OwnerChange {
                owner: n("web.example.org."),
                rtype,
                source: Some(Arc::from("docker")),
            }]);
        }
        // The file has neither: both stay.
        let file = zone("file A 198.51.100.2\n");
        let changes = file_changes(&file, &live, &ownership);
        assert!(changes.is_empty() && changes.takeovers.is_empty());
        // The file defines web A: it takes it over, the TXT stays.
        let file = zone("file A 198.51.100.2\nweb A 198.51.100.99\n");
        let changes = file_changes(&file, &live, &ownership);
        assert_eq!(changes.takeovers.len(), 1);
        let applied = apply(&live, &changes.txn).unwrap();
        let web = applied.zone.node(n("web.example.org.").as_wire()).unwrap();
        assert_eq!(
            web.rrset(Rtype::A).unwrap().rdatas().collect::<Vec<_>>(),
            vec![&[198, 51, 100, 99][..]]
        );
        assert!(web.rrset(Rtype::TXT).is_some());
    }

    #[test]
    fn soa_fields_other_than_the_serial_are_changes() {
        let live = zone("");
        let text = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 7200 900 604800 300\n@ NS ns\nns A 198.51.100.1\n";
        let file = crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("t.zone"),
            &n("example.org."),
        )
        .unwrap()
        .zone;
        assert!(file_changes(&file, &live, &Ownership::default()).soa_changed);
    }

    const HEAD: &str = "$ORIGIN example.org.\n@ 300 SOA ns h 1 3600 900 604800 300\n@ 300 NS ns\nns 300 A 198.51.100.1\n";

    /// A record line of a random kind at a random name, with a TTL of a few.
    fn line(rng: &mut Rng) -> String {
        let owner = match rng.index(3) {
            0 => format!("n{}", rng.index(40)),
            1 => format!("d{}.n{}", rng.index(3), rng.index(40)),
            _ => format!("n{}.sub", rng.index(10)),
        };
        let ttl = [60, 300, 3600][rng.index(3)];
        let v = rng.index(4);
        let rdata = match rng.index(8) {
            6 => format!("MX ( {v} ; split\n   mx{v} )"),
            7 => format!("TXT \"t{v}\\\nz\""),
            0 => format!("A 198.51.100.{v}"),
            1 => format!("AAAA 2001:db8::{v}"),
            2 => format!("TXT \"t{v}\" \"x\""),
            3 => format!("MX {v} mx{v}"),
            4 => format!(
                "RRSIG A 13 3 300 20270101000000 20261201000000 {v} example.org. AAAA{v}A=="
            ),
            _ => format!(
                "RRSIG TXT 13 3 300 20270101000000 20261201000000 {v} example.org. BBBB{v}A=="
            ),
        };
        format!("{owner} {ttl} {rdata}\n")
    }

    fn records(zone: &Zone) -> Vec<Record> {
        let mut r: Vec<Record> = zone.records().filter(|r| r.rtype != Rtype::SOA).collect();
        r.sort();
        r
    }

    /// Matches the file at `path` against `base` as it is parsed, read `piece` octets
    /// at a time.
    fn matched(path: &std::path::Path, base: &Arc<Zone>, piece: usize) -> Matched {
        let mut parser = crate::zone::parse::Parser::new(
            &n("example.org."),
            true,
            crate::zone::load::LoadOptions::default(),
        );
        parser.set_piece(piece);
        parser.set_matcher(FileMatch::new(base.clone(), |_| false));
        parser.parse_file(path);
        let (matcher, mut diag) = parser.into_match();
        let matched = matcher.unwrap().finish(&mut diag).unwrap();
        assert!(diag.errors.is_empty(), "{:?}", diag.errors);
        matched
    }

    #[test]
    fn a_file_matched_as_it_is_parsed_makes_the_zone_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.org.zone");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let lines: Vec<String> = (0..rng.index(60)).map(|_| line(&mut rng)).collect();
            let base = zone(&lines.concat());
            // The edit: lines dropped, added, repeated, their order shuffled.
            let mut edited: Vec<String> = lines
                .iter()
                .filter(|_| rng.index(10) != 0)
                .cloned()
                .collect();
            for _ in 0..rng.index(8) {
                edited.push(line(&mut rng));
            }
            if rng.index(3) == 0 && !edited.is_empty() {
                let again = edited[rng.index(edited.len())].clone();
                edited.push(again);
            }
            for i in (1..edited.len()).rev() {
                if rng.index(4) == 0 {
                    edited.swap(i, rng.index(i + 1));
                }
            }
            let text = format!("{HEAD}{}", edited.concat());
            let want = crate::zone::load::load_zone_from_bytes(
                text.as_bytes(),
                std::path::Path::new("t.zone"),
                &n("example.org."),
            )
            .unwrap_or_else(|e| panic!("{e:?}"))
            .zone;
            std::fs::write(&path, &text).unwrap();
            let piece = [1, 7, 64, 1 << 20][round % 4];
            let m = matched(&path, &base, piece);
            let changes = changes_of(&m, &Ownership::default());
            let applied = apply(&base, &changes.txn).unwrap();
            assert_eq!(
                records(&applied.zone),
                records(&want),
                "round {round}:\n{text}"
            );
            // The zone built whole gives the same changes.
            let whole = file_changes(&want, &base, &Ownership::default());
            assert_eq!(whole.txn, changes.txn, "round {round}");
            // And matching the result against itself finds nothing to do.
            let settled = Arc::new(applied.zone);
            let again = changes_of(&matched(&path, &settled, piece), &Ownership::default());
            assert!(again.txn.is_empty(), "round {round}: {:?}", again.txn);
        }
    }

    #[test]
    fn changes_made_against_an_older_version_take_over_what_a_source_added_since() {
        let base = zone("file A 198.51.100.2\n");
        let text = format!("{HEAD}file A 198.51.100.2\nweb A 198.51.100.99\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z");
        std::fs::write(&path, text).unwrap();
        let m = matched(&path, &base, 1 << 20);
        // Meanwhile a dynamic source added web A and web TXT.
        let mut txn = Transaction::default();
        for (rtype, rdata) in [
            (Rtype::A, vec![198, 51, 100, 7]),
            (Rtype::TXT, b"\x01d".to_vec()),
        ] {
            txn.push(Change::Add(Record {
                owner: n("web.example.org."),
                rtype,
                ttl: 30,
                rdata: rdata.into(),
            }));
        }
        let live = apply(&base, &txn).unwrap().zone;
        let mut ownership = Ownership::default();
        for rtype in [Rtype::A, Rtype::TXT] {
            ownership.apply(&[OwnerChange {
                owner: n("web.example.org."),
                rtype,
                source: Some(Arc::from("docker")),
            }]);
        }
        let mut changes = changes_of(&m, &ownership);
        changes.rebase(&ownership);
        assert_eq!(changes.takeovers.len(), 1);
        assert_eq!(changes.takeovers[0].1, Rtype::A);
        let web = apply(&live, &changes.txn).unwrap().zone;
        let node = web.node(n("web.example.org.").as_wire()).unwrap();
        let a: Vec<&[u8]> = node.rrset(Rtype::A).unwrap().rdatas().collect();
        assert_eq!(a, vec![&[198, 51, 100, 99][..]]);
        assert!(node.rrset(Rtype::TXT).is_some());
    }
}
