//! Tests of the journal: round trips, trimming, chains, and crash safety.

use super::*;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn diff(old: u32, new: u32) -> ZoneDiff {
    let rec = |serial: u32| Record {
        owner: n("host.example.org."),
        rtype: Rtype::A,
        ttl: 300,
        rdata: serial.to_be_bytes().into(),
    };
    ZoneDiff {
        old_serial: old,
        new_serial: new,
        removed: vec![rec(old)],
        added: vec![rec(new), rec(new + 1000)],
    }
}

#[test]
fn entries_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.org.journal");
    let (mut j, _) = Journal::open(&path, 10).unwrap();
    for s in 1..4 {
        j.append(diff(s, s + 1)).unwrap();
    }
    let (j2, recovery) = Journal::open(&path, 10).unwrap();
    assert_eq!(recovery, Recovery::default());
    assert_eq!(j2.entries(), j.entries());
    assert_eq!(j2.diffs(2, 4).unwrap(), &j.entries()[1..]);
    assert_eq!(j2.diffs(4, 4).unwrap(), &[]);
    assert!(j2.diffs(0, 4).is_none(), "does not reach back");
    assert!(
        j2.diffs(2, 5).is_none(),
        "does not end at the current serial"
    );
}

#[test]
fn trims_to_the_maximum_and_starts_over_when_the_chain_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _) = Journal::open(&path, 3).unwrap();
    for s in 1..8 {
        j.append(diff(s, s + 1)).unwrap();
    }
    let serials = |j: &Journal| j.entries().iter().map(|d| d.old_serial).collect::<Vec<_>>();
    assert_eq!(serials(&j), vec![5, 6, 7]);
    assert_eq!(serials(&Journal::open(&path, 3).unwrap().0), vec![5, 6, 7]);
    assert_eq!(serials(&Journal::open(&path, 2).unwrap().0), vec![6, 7]);
    assert_eq!(serials(&Journal::open(&path, 2).unwrap().0), vec![6, 7]);
    let (mut j, _) = Journal::open(&path, 3).unwrap();
    j.append(diff(100, 101)).unwrap();
    assert_eq!(serials(&j), vec![100]);
    assert_eq!(serials(&Journal::open(&path, 3).unwrap().0), vec![100]);
    let (mut off, _) = Journal::open(&dir.path().join("off.journal"), 0).unwrap();
    off.append(diff(1, 2)).unwrap();
    assert!(off.entries().is_empty() && !dir.path().join("off.journal").exists());
}

/// A crash can stop a write at any byte: every complete entry before it must read back,
/// and the next append must be readable after the cut.
#[test]
fn a_file_cut_at_any_byte_keeps_its_complete_entries() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.journal");
    let (mut j, _) = Journal::open(&full, 10).unwrap();
    let mut ends = Vec::new();
    for s in 1..4 {
        j.append(diff(s, s + 1)).unwrap();
        ends.push(fs::metadata(&full).unwrap().len() as usize);
    }
    let bytes = fs::read(&full).unwrap();
    let cut = dir.path().join("cut.journal");
    for at in 0..=bytes.len() {
        fs::write(&cut, &bytes[..at]).unwrap();
        let (mut j, recovery) = Journal::open(&cut, 10).unwrap();
        let complete = ends.iter().filter(|&&end| end <= at).count();
        assert_eq!(j.entries().len(), complete, "cut at {at}");
        assert_eq!(
            j.entries(),
            &Journal::open(&full, 10).unwrap().0.entries()[..complete]
        );
        let kept = if complete == 0 { 0 } else { ends[complete - 1] };
        assert_eq!(recovery.dropped_bytes as usize, at - kept, "cut at {at}");
        let next = complete as u32 + 1;
        j.append(diff(next, next + 1)).unwrap();
        let (again, _) = Journal::open(&cut, 10).unwrap();
        assert_eq!(again.entries().len(), complete + 1, "cut at {at}, appended");
        assert_eq!(again.entries().last(), Some(&diff(next, next + 1)));
    }
}

#[test]
fn a_corrupt_entry_ends_the_readable_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _) = Journal::open(&path, 10).unwrap();
    j.append(diff(1, 2)).unwrap();
    let first = fs::metadata(&path).unwrap().len() as usize;
    j.append(diff(2, 3)).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[first + 20] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let (j, recovery) = Journal::open(&path, 10).unwrap();
    assert_eq!(j.entries(), &[diff(1, 2)]);
    assert_eq!(recovery.dropped_bytes as usize, bytes.len() - first);
}

/// Flipped bytes anywhere, and pure garbage, never make reading panic; what reads back
/// is always a prefix of what was written.
#[test]
fn damaged_journals_read_back_a_prefix_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _) = Journal::open(&path, 10).unwrap();
    for s in 1..5 {
        j.append(diff(s, s + 1)).unwrap();
    }
    let written = j.entries().to_vec();
    let bytes = fs::read(&path).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..2000 {
        let mut damaged = bytes.clone();
        if round % 4 == 0 {
            damaged = (0..next() % 300).map(|_| next() as u8).collect();
        } else {
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % damaged.len();
                damaged[at] ^= 1 << (next() % 8);
            }
        }
        let (entries, valid) = read_entries(&damaged);
        assert!(valid <= damaged.len());
        assert_eq!(entries[..], written[..entries.len()], "round {round}");
    }
}
