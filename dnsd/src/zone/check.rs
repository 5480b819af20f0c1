//! Semantic checks of a zone's records before the snapshot is built, each problem
//! reported with the file and line of the record at fault:
//!
//! - exactly one SOA, at the apex (RFC 1035 §5.2), and NS records at the apex (the
//!   line of the file's first record, or of the SOA, when one is missing);
//! - a CNAME alone at its name but for RRSIG/NSEC (RFC 2181 §10.1), one CNAME per name,
//!   one DNAME per name and never CNAME with DNAME (RFC 6672 §2.4);
//! - NS targets that need an address have one (`glue`: RFC 1034 §4.2.1, RFC 9471);
//! - no data below a DNAME (RFC 6672 §2.4: a server may refuse it, and NSD, Knot and,
//!   for an apex DNAME, BIND do; it would never be served);
//! - at most 65,535 records in an RRset (RDLENGTH and counts are 16 bits on the wire);
//! - warnings: RRsets whose records disagree on the TTL (RFC 2181 §5.2), data occluded
//!   below a delegation (other than glue addresses).
//!
//! Out-of-zone owners and bad TTLs are refused while parsing (`parse`).
//! The records are sorted by owner and type here, as `Zone::build` wants them.

use std::collections::HashSet;

use super::glue;
use super::load::{Diagnostics, LoadErrorKind};
use super::parse::Parsed;
use super::record::Rtype;
use crate::wire::name::{self, MAX_NAME_LEN, Name};

/// Most records of one RRset: its count must fit 16 bits (RFC 1035 §4.1.1), as the
/// snapshot stores it.
pub const MAX_RRSET_RECORDS: usize = u16::MAX as usize;

/// Checks `records` (sorted in place by owner and type), reporting to `diag`.
pub(crate) fn check(apex: &Name, records: &mut [Parsed], diag: &mut Diagnostics) {
    // "No SOA" is said at the file's first record (in the order written).
    let first_record = records.first().map_or((0, 0), |p| (p.file, p.line));
    records.sort_by(|a, b| {
        (a.record.owner.as_wire(), a.record.rtype).cmp(&(b.record.owner.as_wire(), b.record.rtype))
    });
    let parsed_cleanly = diag.errors.is_empty();
    let apex_wire = apex.as_wire();
    let mut apex_soa: Option<(u32, u32)> = None;
    let mut apex_ns = false;
    let mut cuts: HashSet<&[u8]> = HashSet::new();
    let mut dnames: HashSet<&[u8]> = HashSet::new();

    for node in owner_runs(records) {
        let owner = records[node.start].record.owner.as_wire();
        let at_apex = owner == apex_wire;
        let mut cname: Option<usize> = None;
        let mut dname: Option<usize> = None;
        let mut other: Option<usize> = None;
        for set in type_runs(records, node.clone()) {
            let first = &records[set.start];
            let rtype = first.record.rtype;
            ttl_mismatches(records, set.clone(), diag);
            rrset_size(records, set.clone(), diag);
            match rtype {
                Rtype::SOA if at_apex => {
                    apex_soa = Some((first.file, first.line));
                    if let Some(second) = second_distinct(records, set.clone()) {
                        let kind = LoadErrorKind::MultipleSoa {
                            apex: apex.clone(),
                            first_line: first.line as usize,
                        };
                        diag.report(records[second].file, records[second].line, kind);
                    }
                }
                Rtype::SOA => {
                    for p in &records[set.clone()] {
                        let kind = LoadErrorKind::SoaNotAtApex {
                            owner: p.record.owner.clone(),
                            apex: apex.clone(),
                        };
                        diag.report(p.file, p.line, kind);
                    }
                }
                Rtype::NS if at_apex => apex_ns = true,
                Rtype::NS => {
                    cuts.insert(owner);
                }
                _ => {}
            }
            match rtype {
                Rtype::CNAME => {
                    cname = Some(set.start);
                    if let Some(second) = second_distinct(records, set.clone()) {
                        let kind = LoadErrorKind::MultipleCname {
                            owner: first.record.owner.clone(),
                            first_line: first.line as usize,
                        };
                        diag.report(records[second].file, records[second].line, kind);
                    }
                }
                Rtype::DNAME => {
                    dname = Some(set.start);
                    dnames.insert(owner);
                    if let Some(second) = second_distinct(records, set.clone()) {
                        let kind = LoadErrorKind::MultipleDname {
                            owner: first.record.owner.clone(),
                            first_line: first.line as usize,
                        };
                        diag.report(records[second].file, records[second].line, kind);
                    }
                }
                Rtype::RRSIG | Rtype::NSEC => {}
                _ => {
                    if other.is_none() {
                        other = Some(set.start);
                    }
                }
            }
        }
        if let Some(c) = cname {
            let p = &records[c];
            let kind = if let Some(d) = dname {
                Some(LoadErrorKind::CnameAndDname {
                    owner: p.record.owner.clone(),
                    dname_line: records[d].line as usize,
                })
            } else {
                other.map(|o| LoadErrorKind::CnameAndOther {
                    owner: p.record.owner.clone(),
                    other: records[o].record.rtype,
                    other_line: records[o].line as usize,
                })
            };
            if let Some(kind) = kind {
                diag.report(p.file, p.line, kind);
            }
        }
    }

    // After parse errors a missing SOA or NS is most likely one of them: say it only
    // about files that parsed.
    if apex_soa.is_none() && parsed_cleanly {
        let (file, line) = first_record;
        diag.report(file, line, LoadErrorKind::NoSoa(apex.clone()));
    }
    if !apex_ns && parsed_cleanly {
        let (file, line) = apex_soa.unwrap_or(first_record);
        diag.report(file, line, LoadErrorKind::NoApexNs(apex.clone()));
    }
    if !cuts.is_empty() || !dnames.is_empty() {
        occlusion(records, apex_wire, &cuts, &dnames, diag);
    }
    glue::check(records, apex_wire, &cuts, diag);
}

/// Ranges of `records` with one owner each.
fn owner_runs(records: &[Parsed]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    runs(records, 0..records.len(), |a, b| {
        a.record.owner == b.record.owner
    })
}

/// Ranges of `records[node]` with one type each.
fn type_runs(
    records: &[Parsed],
    node: std::ops::Range<usize>,
) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    runs(records, node, |a, b| a.record.rtype == b.record.rtype)
}

fn runs<'r>(
    records: &'r [Parsed],
    range: std::ops::Range<usize>,
    same: impl Fn(&Parsed, &Parsed) -> bool + 'r,
) -> impl Iterator<Item = std::ops::Range<usize>> + 'r {
    let mut at = range.start;
    std::iter::from_fn(move || {
        if at >= range.end {
            return None;
        }
        let start = at;
        at += 1;
        while at < range.end && same(&records[start], &records[at]) {
            at += 1;
        }
        Some(start..at)
    })
}

/// The first record of `set` whose RDATA differs from the first's (duplicates are one
/// record, RFC 2181 §5).
fn second_distinct(records: &[Parsed], set: std::ops::Range<usize>) -> Option<usize> {
    let first = &records[set.start].record.rdata;
    set.clone()
        .skip(1)
        .find(|&i| records[i].record.rdata != *first)
}

/// Warns for each record whose TTL differs from its RRset's first record. RRSIGs form
/// one RRset per type covered (RFC 4034 §3), each with its own TTL.
fn ttl_mismatches(records: &[Parsed], set: std::ops::Range<usize>, diag: &mut Diagnostics) {
    let covered = |p: &Parsed| match (p.record.rtype, p.record.rdata.get(..2)) {
        (Rtype::RRSIG, Some(&[a, b])) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    };
    let mut firsts: Vec<(Option<u16>, usize)> = Vec::new();
    for i in set {
        let p = &records[i];
        let key = covered(p);
        let Some(&(_, first)) = firsts.iter().find(|(k, _)| *k == key) else {
            firsts.push((key, i));
            continue;
        };
        let first = &records[first];
        if p.record.ttl != first.record.ttl {
            let kind = LoadErrorKind::TtlMismatch {
                owner: p.record.owner.clone(),
                rtype: p.record.rtype,
                ttl: p.record.ttl,
                rrset_ttl: first.record.ttl,
                first_line: first.line as usize,
            };
            diag.report(p.file, p.line, kind);
        }
    }
}

/// Errs for each RRset of more than [`MAX_RRSET_RECORDS`] distinct records, at the
/// first record beyond the limit.
fn rrset_size(records: &[Parsed], set: std::ops::Range<usize>, diag: &mut Diagnostics) {
    if set.len() <= MAX_RRSET_RECORDS {
        return;
    }
    // Duplicates are one record (RFC 2181 §5): count the distinct ones.
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(MAX_RRSET_RECORDS + 1);
    let mut beyond = None;
    for i in set.clone() {
        if seen.insert(&records[i].record.rdata) && seen.len() == MAX_RRSET_RECORDS + 1 {
            beyond = Some(i);
        }
    }
    if let Some(i) = beyond {
        let p = &records[i];
        let kind = LoadErrorKind::RrsetTooLarge {
            owner: p.record.owner.clone(),
            rtype: p.record.rtype,
            count: seen.len(),
        };
        diag.report(p.file, p.line, kind);
    }
}

/// Reports data that no query can reach: below a DNAME (an error), or below (or
/// beside, but for NS, DS and glue) a delegation (a warning). Glue is an address
/// record of an NS target.
fn occlusion(
    records: &[Parsed],
    apex: &[u8],
    cuts: &HashSet<&[u8]>,
    dnames: &HashSet<&[u8]>,
    diag: &mut Diagnostics,
) {
    // Glue: addresses of the names that NS records point to (RFC 1034 §4.2.1).
    let mut lower = [0u8; MAX_NAME_LEN];
    let ns_targets: HashSet<Vec<u8>> = records
        .iter()
        .filter(|p| p.record.rtype == Rtype::NS)
        .map(|p| name::lowercase_into(&p.record.rdata, &mut lower).to_vec())
        .collect();
    for node in owner_runs(records) {
        let owner = records[node.start].record.owner.as_wire();
        // Ancestors from the parent up to the apex; the apex is no cut, but a DNAME
        // there occludes the whole zone below it.
        let ancestors = name::label_offsets(owner)
            .skip(1)
            .map(|at| &owner[at..])
            .take_while(|a| a.len() >= apex.len());
        let mut cause = None;
        for ancestor in ancestors {
            if ancestor.len() > apex.len() && cuts.contains(ancestor) {
                cause = Some((ancestor, true));
            } else if dnames.contains(ancestor) {
                cause = Some((ancestor, false));
            }
        }
        let at_cut = cause.is_none() && cuts.contains(owner);
        let glue = ns_targets.contains(owner);
        // NSEC3 records hang below the apex by hash (RFC 5155), whatever the apex holds.
        let hashed = type_runs(records, node.clone())
            .all(|set| matches!(records[set.start].record.rtype, Rtype::NSEC3 | Rtype::RRSIG));
        for set in type_runs(records, node) {
            let p = &records[set.start];
            let rtype = p.record.rtype;
            let kind = match cause {
                Some((cut, true)) if !(glue && matches!(rtype, Rtype::A | Rtype::AAAA)) => {
                    LoadErrorKind::OccludedByDelegation {
                        owner: p.record.owner.clone(),
                        rtype,
                        cut: name_of(cut),
                    }
                }
                Some((_, false)) if hashed => continue,
                Some((dname, false)) => LoadErrorKind::BelowDname {
                    owner: p.record.owner.clone(),
                    rtype,
                    dname: name_of(dname),
                },
                None if at_cut
                    && !matches!(rtype, Rtype::NS | Rtype::DS | Rtype::RRSIG | Rtype::NSEC)
                    && !(glue && matches!(rtype, Rtype::A | Rtype::AAAA)) =>
                {
                    LoadErrorKind::OccludedByDelegation {
                        owner: p.record.owner.clone(),
                        rtype,
                        cut: p.record.owner.clone(),
                    }
                }
                _ => continue,
            };
            diag.report(p.file, p.line, kind);
        }
    }
}

fn name_of(wire: &[u8]) -> Name {
    Name::from_wire(wire).unwrap_or_else(|_| Name::root())
}
