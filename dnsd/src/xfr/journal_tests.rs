//! Tests of the journal: round trips, history bounds, chains, condensed reads and
//! crash safety.

use super::*;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn rec(serial: u32) -> Record {
    Record {
        owner: n("host.example.org."),
        rtype: Rtype::A,
        ttl: 300,
        rdata: serial.to_be_bytes().into(),
    }
}

fn entry(old: u32, new: u32) -> Entry {
    Entry {
        diff: ZoneDiff {
            old_serial: old,
            new_serial: new,
            removed: vec![rec(old)],
            added: vec![rec(new), rec(new + 1000)],
        },
        meta: Meta {
            file_serial: new.is_multiple_of(2).then_some(new),
            owners: vec![OwnerChange {
                owner: n("web.example.org."),
                rtype: Rtype::A,
                source: new.is_multiple_of(3).then(|| Arc::from("docker")),
            }],
        },
    }
}

const WIDE: Limits = Limits {
    max_entries: 10,
    max_bytes: 1 << 20,
};

fn serials(j: &Journal) -> Vec<u32> {
    j.view()
        .entries()
        .iter()
        .map(|e| e.diff.old_serial)
        .collect()
}

#[test]
fn entries_and_their_meta_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.org.journal");
    let (mut j, read, _) = Journal::open(&path, WIDE).unwrap();
    assert!(read.is_empty());
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    let (j2, read, recovery) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(recovery, Recovery::default());
    let expected: Vec<Entry> = (1..4).map(|s| entry(s, s + 1)).collect();
    assert_eq!(
        read.iter().map(|e| (**e).clone()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(serials(&j2), vec![1, 2, 3]);
    assert_eq!(j2.last(), Some(&entry(3, 4)));
}

#[test]
fn history_is_bounded_but_never_drops_what_a_restart_needs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let limits = Limits {
        max_entries: 3,
        max_bytes: 1 << 20,
    };
    let (mut j, _, _) = Journal::open(&path, limits).unwrap();
    for s in 1..8 {
        j.append(entry(s, s + 1)).unwrap();
    }
    // No image yet: every entry is needed to rebuild the zone.
    assert_eq!(serials(&j), (1..8).collect::<Vec<_>>());
    j.set_image_serial(6).unwrap();
    assert_eq!(
        serials(&j),
        vec![5, 6, 7],
        "history bound, and everything after 6"
    );
    j.set_image_serial(8).unwrap();
    for s in 8..20 {
        j.append(entry(s, s + 1)).unwrap();
    }
    assert_eq!(serials(&j).first(), Some(&8), "all since the image at 8");
    j.set_image_serial(19).unwrap();
    assert_eq!(serials(&j), vec![17, 18, 19]);
    // The file still holds what memory dropped (it is rewritten once that outweighs
    // the rest by a megabyte); reopened, it reads back whole and chained.
    let (mut again, read, _) = Journal::open(&path, limits).unwrap();
    assert_eq!(read.first().map(|e| e.diff.old_serial), Some(1));
    assert_eq!(read.last().map(|e| e.diff.new_serial), Some(20));
    again.set_image_serial(19).unwrap();
    assert_eq!(serials(&again), vec![17, 18, 19]);
    // Bytes bound too.
    let tiny = Limits {
        max_entries: 100,
        max_bytes: 1,
    };
    j.set_limits(tiny).unwrap();
    assert_eq!(serials(&j), vec![19], "the one entry after the image stays");
}

#[test]
fn an_entry_that_does_not_chain_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _, _) = Journal::open(&path, WIDE).unwrap();
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    j.append(entry(100, 101)).unwrap();
    assert_eq!(serials(&j), vec![100]);
    let (_, read, _) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len(), 1);
}

#[test]
fn changes_are_condensed_and_missing_history_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _, _) = Journal::open(&dir.path().join("z.journal"), WIDE).unwrap();
    for s in 1..5 {
        j.append(entry(s, s + 1)).unwrap();
    }
    let view = j.view();
    let changes = view.changes(2, 5).unwrap();
    assert_eq!((changes.old_serial, changes.new_serial), (2, 5));
    // 2 removed, 3 and 1003 added, then 3 removed (cancels), 4 and 1004 added, ...
    assert_eq!(changes.removed, vec![rec(2)]);
    let mut added = changes.added.clone();
    added.sort();
    let mut expected = vec![rec(1003), rec(1004), rec(5), rec(1005)];
    expected.sort();
    assert_eq!(added, expected);
    assert_eq!(view.changes(5, 5).unwrap().added, vec![]);
    assert_eq!(view.changes(0, 5), Err(NoHistory { from: 0, to: 5 }));
    assert_eq!(view.changes(2, 6), Err(NoHistory { from: 2, to: 6 }));
}

#[test]
fn a_file_cut_at_any_byte_keeps_its_complete_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _, _) = Journal::open(&path, WIDE).unwrap();
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    let sizes: Vec<usize> = (1..4)
        .map(|s| encode_entry(&entry(s, s + 1)).len())
        .collect();
    // The entries, without the zeros written ahead of them.
    let mut full = fs::read(&path).unwrap();
    full.truncate(sizes.iter().sum());
    for cut in 0..=full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let (j, read, recovery) = Journal::open(&path, WIDE).unwrap();
        let mut complete = 0;
        let mut at = 0;
        for size in &sizes {
            if at + size > cut {
                break;
            }
            complete += 1;
            at += size;
        }
        assert_eq!(read.len(), complete, "cut at {cut}");
        // Up to the last octet that is not zero: zeros are what the file is grown with.
        let end = full[..cut]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        assert_eq!(recovery.dropped_bytes as usize, end.saturating_sub(at));
        assert_eq!(fs::metadata(&path).unwrap().len() as usize, at);
        drop(j);
    }
}

#[test]
fn a_corrupt_entry_ends_the_readable_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _, _) = Journal::open(&path, WIDE).unwrap();
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    let mut bytes = fs::read(&path).unwrap();
    let second = encode_entry(&entry(1, 2)).len();
    bytes[second + 20] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (_, read, recovery) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len(), 1);
    assert!(recovery.dropped_bytes > 0);
}

#[test]
fn first_release_entries_are_read() {
    // An NFJ1 entry: the v2 payload without meta.
    let mut v2 = encode_entry(&Entry {
        diff: entry(1, 2).diff,
        meta: Meta::default(),
    });
    let meta_len = 1 + 4 + 4;
    let payload_len = v2.len() - FRAMING - meta_len;
    let mut v1 = MAGIC_V1.to_vec();
    v1.extend_from_slice(&(payload_len as u32).to_be_bytes());
    v1.extend_from_slice(&v2[8..8 + payload_len]);
    let mut h = Fnv::new();
    h.write(&v1[4..]);
    v1.extend_from_slice(&h.finish().to_be_bytes());
    v2.clear();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    fs::write(&path, &v1).unwrap();
    let (_, read, _) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].diff, entry(1, 2).diff);
}

#[test]
fn a_view_reads_the_history_of_its_version_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.journal");
    let limits = Limits {
        max_entries: 3,
        max_bytes: 1 << 20,
    };
    let (mut j, _, _) = Journal::open(&path, limits).unwrap();
    for s in 1..3 {
        j.append(entry(s, s + 1)).unwrap();
    }
    j.set_image_serial(100).unwrap();
    assert_eq!(serials(&j), vec![1, 2]);
    let old = j.view();
    for s in 3..6 {
        j.append(entry(s, s + 1)).unwrap();
    }
    // Newer entries are not the old view's; the bounds dropped its oldest.
    assert_eq!(
        old.entries()
            .iter()
            .map(|e| e.diff.old_serial)
            .collect::<Vec<_>>(),
        Vec::<u32>::new()
    );
    assert!(old.changes(1, 3).is_err());
    assert_eq!(serials(&j), vec![3, 4, 5]);
    let now = j.view();
    let condensed = now.changes(4, 6).unwrap();
    assert_eq!((condensed.old_serial, condensed.new_serial), (4, 6));
    // A chain that starts over leaves the views made before it without history.
    j.append(entry(50, 51)).unwrap();
    assert!(now.changes(4, 6).is_err());
    assert_eq!(serials(&j), vec![50]);
}

#[test]
fn the_zeros_written_ahead_are_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _, _) = Journal::open(&path, WIDE).unwrap();
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    let entries: usize = (1..4).map(|s| encode_entry(&entry(s, s + 1)).len()).sum();
    let on_disk = fs::metadata(&path).unwrap().len() as usize;
    assert!(
        on_disk > entries,
        "{on_disk} octets on disk for {entries} of entries: the file is not grown ahead"
    );
    drop(j);
    // Read back: every entry, nothing reported as torn, the zeros kept for later.
    let (mut j, read, recovery) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(recovery, Recovery::default());
    assert_eq!(fs::metadata(&path).unwrap().len() as usize, on_disk);
    // Appends after a restart go after the entries, into the zeros, and past them.
    let mut s = 4;
    while (fs::metadata(&path).unwrap().len() as usize) == on_disk {
        j.append(entry(s, s + 1)).unwrap();
        s += 1;
    }
    drop(j);
    let (_, read, recovery) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len() as u32, s - 1);
    assert_eq!(recovery, Recovery::default());
    assert!(
        read.windows(2)
            .all(|w| w[0].diff.new_serial == w[1].diff.old_serial)
    );
}

#[test]
fn a_torn_entry_among_the_zeros_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.journal");
    let (mut j, _, _) = Journal::open(&path, WIDE).unwrap();
    for s in 1..4 {
        j.append(entry(s, s + 1)).unwrap();
    }
    drop(j);
    let sizes: Vec<usize> = (1..4)
        .map(|s| encode_entry(&entry(s, s + 1)).len())
        .collect();
    // The last entry half written over the zeros, as a crash in its write leaves it.
    let mut bytes = fs::read(&path).unwrap();
    let last = sizes[0] + sizes[1];
    for b in &mut bytes[last + sizes[2] / 2..last + sizes[2]] {
        *b = 0;
    }
    fs::write(&path, &bytes).unwrap();
    let (_, read, recovery) = Journal::open(&path, WIDE).unwrap();
    assert_eq!(read.len(), 2);
    assert!(recovery.dropped_bytes > 0);
    assert_eq!(fs::metadata(&path).unwrap().len() as usize, last);
}
