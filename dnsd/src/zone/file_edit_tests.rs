//! A file read as an edit must give the zone that reading it whole gives: random
//! files (directives, blank owners, parentheses, comments) edited at random, each edit
//! read as an edit of the last and compared with the whole load; and the cases that
//! must fall back to the whole file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::zone::file_match::FileMatch;
use crate::zone::load::{MatchOutcome, load_zone_from_bytes, match_zone_file};
use crate::zone::record::Record;
use crate::zone::txn::{self, Transaction};

use crate::test_rng::Rng;

fn apex() -> Name {
    Name::from_text("example.net.", None).unwrap()
}

fn whole(text: &str) -> Zone {
    load_zone_from_bytes(text.as_bytes(), Path::new("z"), &apex())
        .unwrap_or_else(|e| panic!("whole load: {e:?}"))
        .zone
}

fn sorted(zone: &Zone) -> Vec<Record> {
    let mut records: Vec<Record> = zone.records().collect();
    records.sort_by(|a, b| {
        (a.owner.as_wire(), a.rtype.0, &a.rdata, a.ttl).cmp(&(
            b.owner.as_wire(),
            b.rtype.0,
            &b.rdata,
            b.ttl,
        ))
    });
    records
}

/// A folder with the zone file and the copies.
struct Files {
    _dir: tempfile::TempDir,
    path: PathBuf,
    copies: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.net.zone");
        let copies = dir.path().join("copies");
        Self {
            _dir: dir,
            path,
            copies,
        }
    }

    /// Writes `text` as git does (a new file renamed onto the old).
    fn write(&self, text: &str) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }

    /// The file read whole against `live`: its memo.
    fn memo(&self, text: &str, live: &Arc<Zone>) -> Option<FileMemo> {
        self.write(text);
        let matcher = FileMatch::new(live.clone(), |_| false).with_memo(self.copies.clone(), None);
        match match_zone_file(&self.path, matcher, &LoadOptions::default()).0 {
            Ok((MatchOutcome::Matched(matched), _)) => matched.memo,
            Ok((MatchOutcome::Edited(_), _)) => panic!("no memo was given"),
            Err(e) => panic!("match: {e:?}"),
        }
    }

    /// `text` written and read as an edit of `memo` against `live`: the zone the edit
    /// makes and the next memo; or why it is read whole.
    fn edit(
        &self,
        text: &str,
        memo: &FileMemo,
        live: &Arc<Zone>,
    ) -> Result<(Zone, Option<FileMemo>), &'static str> {
        self.write(text);
        let Edit::Changed(edited) =
            read_edit(&self.path, memo, live, |_| false, &LoadOptions::default())
        else {
            let Edit::Whole(why) =
                read_edit(&self.path, memo, live, |_| false, &LoadOptions::default())
            else {
                unreachable!()
            };
            return Err(why);
        };
        let Edited {
            changes, soa, memo, ..
        } = *edited;
        let mut txn = Transaction {
            changes,
            ..Transaction::default()
        };
        txn.push(Change::Replace {
            owner: apex(),
            rtype: Rtype::SOA,
            ttl: soa.0,
            rdatas: vec![soa.1],
        });
        let Ok(applied) = txn::apply(live, &txn) else {
            return Err("the changes do not apply");
        };
        Ok((applied.zone, memo.write(&self.copies)))
    }
}

/// Zone text: a header, then `lines` (each one entry, maybe several lines).
fn text(serial: u32, lines: &[String]) -> String {
    let mut t = format!(
        "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for line in lines {
        t.push_str(line);
        t.push('\n');
    }
    t
}

/// One random entry (some of several lines, some directives, some blank-owner).
fn entry(rng: &mut Rng, i: u64) -> String {
    match rng.below(20) {
        0 => format!("$ORIGIN sub{}.example.net.", rng.below(3)),
        1 => "$ORIGIN example.net.".to_string(),
        2 => format!("  AAAA 2001:db8::{:x}", rng.below(1 << 16)),
        3 => format!("mx{i} MX ( 10\n    mail{i} ) ; two lines"),
        4 => "; a comment".to_string(),
        5 => format!("t{} 600 TXT \"text {}\"", rng.below(50), rng.below(1 << 30)),
        6 => format!(
            "r{} A 10.{}.{}.{}",
            rng.below(20),
            rng.below(250),
            rng.below(250),
            rng.below(250)
        ),
        _ => format!(
            "h{i} A 10.{}.{}.{}",
            rng.below(250),
            rng.below(250),
            rng.below(250)
        ),
    }
}

#[test]
fn a_one_line_edit_is_read_as_an_edit_and_gives_the_whole_loads_zone() {
    let files = Files::new();
    let lines: Vec<String> = (0..5000)
        .map(|i| format!("host{i} A 10.0.{}.{}", i / 250, i % 250))
        .collect();
    let first = text(1, &lines);
    let live = Arc::new(whole(&first));
    let memo = files.memo(&first, &live).expect("a memo of a plain file");
    assert!(
        memo.checkpoints.len() > 3,
        "checkpoints every {EVERY} entries"
    );

    // The serial raised at the top, a line changed in the middle, one added at the end
    // (how the propagation bench edits).
    let mut edited = lines.clone();
    edited[2500] = "host2500 A 192.0.2.99".to_string();
    edited.push("added A 198.51.100.7".to_string());
    let second = text(2, &edited);
    let (zone, next) = files.edit(&second, &memo, &live).expect("read as an edit");
    assert_eq!(sorted(&zone), sorted(&whole(&second)));
    assert!(next.is_some());
}

#[test]
fn random_edits_read_as_edits_give_the_whole_loads_zone() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let files = Files::new();
    let mut lines: Vec<String> = (0..4000).map(|i| entry(&mut rng, i)).collect();
    let mut serial = 1;
    let mut current = text(serial, &lines);
    let mut live = Arc::new(whole(&current));
    let mut memo = files.memo(&current, &live);
    let (mut as_edits, mut whole_reads) = (0, 0);
    for round in 0..120u64 {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(lines.len() as u64) as usize;
            match rng.below(3) {
                0 => lines[at] = entry(&mut rng, 10_000 + round),
                1 => {
                    lines.remove(at);
                }
                _ => lines.insert(at, entry(&mut rng, 20_000 + round)),
            }
        }
        if rng.below(2) == 0 {
            serial += 1;
        }
        let next = text(serial, &lines);
        let expected = whole(&next);
        let result = match &memo {
            Some(m) => files.edit(&next, m, &live),
            None => Err("no memo"),
        };
        match result {
            Ok((zone, next_memo)) => {
                assert_eq!(sorted(&zone), sorted(&expected), "round {round}");
                as_edits += 1;
                live = Arc::new(zone);
                memo = next_memo;
            }
            Err(why) => {
                eprintln!("round {round}: read whole: {why}");
                whole_reads += 1;
                live = Arc::new(expected);
                memo = files.memo(&next, &live);
            }
        }
        current = next;
    }
    let _ = current;
    assert!(
        as_edits > 60,
        "{as_edits} edits read as edits, {whole_reads} whole"
    );
}

#[test]
fn edits_that_change_how_the_rest_reads_fall_back_to_the_whole_file() {
    let files = Files::new();
    let lines: Vec<String> = (0..3000)
        .map(|i| match i {
            1500 => "$TTL 300".to_string(),
            2000 => "$ORIGIN example.net.".to_string(),
            _ => format!("host{i} A 10.0.{}.{}", i / 250, i % 250),
        })
        .collect();
    let first = text(1, &lines);
    let live = Arc::new(whole(&first));
    let memo = files.memo(&first, &live).unwrap();
    let cases: Vec<(usize, &str, &str)> = vec![
        (1500, "$TTL 60", "how the rest"),
        (2000, "$ORIGIN sub.example.net.", "how the rest"),
        (10, "host10 A 10.0.0.999", "warnings or errors"),
        (11, "$INCLUDE other.zone", "warnings or errors"),
        (12, "www CNAME x\nwww A 10.1.1.1", "do not apply"),
        (
            13,
            "host13 RRSIG A 13 3 300 20300101000000 20200101000000 1 example.net. AAAA",
            "DNSSEC",
        ),
        (14, "@ NS ns2", ""),
    ];
    for (at, line, why) in cases {
        let mut edited = lines.clone();
        edited[at] = line.to_string();
        match files.edit(&text(1, &edited), &memo, &live) {
            Err(reason) => assert!(reason.contains(why), "{line}: {reason}"),
            Ok(_) if why.is_empty() => {}
            Ok(_) => panic!("{line}: read as an edit"),
        }
    }
}

#[test]
fn an_rrset_written_in_two_places_keeps_both_halves() {
    let files = Files::new();
    let mut lines: Vec<String> = (0..3000)
        .map(|i| format!("host{i} A 10.0.{}.{}", i / 250, i % 250))
        .collect();
    lines[100] = "multi A 192.0.2.1".to_string();
    lines[2900] = "multi A 192.0.2.2".to_string();
    let first = text(1, &lines);
    let live = Arc::new(whole(&first));
    let memo = files.memo(&first, &live).unwrap();
    // One half changed: the other stays.
    let mut edited = lines.clone();
    edited[100] = "multi A 192.0.2.3".to_string();
    let second = text(1, &edited);
    let (zone, _) = files.edit(&second, &memo, &live).unwrap();
    assert_eq!(sorted(&zone), sorted(&whole(&second)));
    // Another TTL for one half: the whole file decides which TTL the RRset takes.
    edited[100] = "multi 60 A 192.0.2.1".to_string();
    assert!(files.edit(&text(1, &edited), &memo, &live).is_err());
}

#[test]
fn a_file_with_a_record_written_twice_leaves_no_memo() {
    let files = Files::new();
    let mut lines: Vec<String> = (0..100).map(|i| format!("host{i} A 10.0.0.{i}")).collect();
    lines.push("host5 A 10.0.0.5".to_string());
    let first = text(1, &lines);
    let live = Arc::new(whole(&first));
    // Removing one of the two lines would remove the record, read as an edit.
    assert!(files.memo(&first, &live).is_none());
}
