//! A zone's manager read back from the state folder at start: its content from the
//! image and the journal entries after it, and its floor — the highest serial it ever
//! served, from the journal's last entry, the image and the `serials` file
//! (`sources::state`) — so that losing or damaging any one of the three never lowers a
//! serial. The log says what was recovered from what, and what was lost.
//!
//! ```text
//!  serials file ─┐
//!  journal ──────┼─► floor = the highest ─► content below it is not served: the
//!  image ────────┘                          zone file is loaded above the floor
//!  image + journal entries after it ─► content (served at once)
//! ```

use std::sync::Arc;

use super::image;
use super::ownership::Ownership;
use super::{Manager, ZoneOptions, zone};
use crate::sources::state::journal_path;
use crate::wire::name::Name;
use crate::xfr::journal::Journal;
use crate::zone::Zone;
use crate::zone::serial::serial_gt;
use crate::zone::txn::{self, Change, Transaction};

/// The highest serial seen so far and where it was read.
#[derive(Default)]
struct Floor {
    serial: Option<u32>,
    from: &'static str,
}

impl Floor {
    fn raise(&mut self, serial: Option<u32>, from: &'static str) {
        if let Some(serial) = serial
            && self.serial.is_none_or(|f| serial_gt(serial, f))
        {
            self.serial = Some(serial);
            self.from = from;
        }
    }
}

impl Manager {
    /// Reads a zone's last version back from the state folder.
    pub(super) fn restore(&self, apex: &Name, options: ZoneOptions) -> zone::Writer {
        let name = apex.to_string();
        let journal_file = journal_path(&self.state_dir, apex);
        let image_file = image::image_path(&self.state_dir, apex);
        if let Err(e) = std::fs::create_dir_all(&self.state_dir) {
            tracing::error!(
                "{}: cannot create the state folder: {e}",
                self.state_dir.display()
            );
        }
        // What was found missing or damaged, one phrase each.
        let mut damage: Vec<String> = Vec::new();
        let (mut journal, entries) = match Journal::open(&journal_file, options.journal_limits()) {
            Ok((journal, entries, recovery)) => {
                if recovery.dropped_bytes > 0 {
                    damage.push(format!(
                        "{}: cut a torn or damaged tail of {} bytes",
                        journal_file.display(),
                        recovery.dropped_bytes
                    ));
                }
                if recovery.unchained > 0 {
                    damage.push(format!(
                        "{}: dropped {} entries that did not chain",
                        journal_file.display(),
                        recovery.unchained
                    ));
                }
                (journal, entries)
            }
            Err(e) => {
                damage.push(format!("journal unreadable ({e}); started over"));
                (
                    Journal::empty(&journal_file, options.journal_limits()),
                    Vec::new(),
                )
            }
        };
        let recorded = self.serials.get(apex);
        let mut floor = Floor::default();
        floor.raise(recorded.map(|s| s.serial), "the serials file");
        floor.raise(entries.last().map(|e| e.diff.new_serial), "the journal");
        let mut zone = None;
        let mut ownership = Ownership::default();
        let mut file_serial = None;
        let mut image_serial = None;
        match image::read(&image_file) {
            Ok(img) => {
                floor.raise(Some(img.serial), "the image");
                match Zone::build(apex, img.records) {
                    Ok(built) => {
                        image_serial = Some(img.serial);
                        file_serial = img.file_serial;
                        ownership = img.ownership;
                        zone = Some(built);
                    }
                    Err(e) => damage.push(format!(
                        "{}: does not build ({e}); ignored",
                        image_file.display()
                    )),
                }
            }
            Err(image::ImageError::Missing) if floor.serial.is_some() => {
                damage.push(format!("{}: missing", image_file.display()));
            }
            Err(image::ImageError::Missing) => {}
            Err(e) => damage.push(e.to_string()),
        }
        // Replay the journal from the image on.
        let mut replayed = 0;
        if let Some(mut current) = zone.take() {
            let from = entries
                .iter()
                .position(|e| Some(e.diff.old_serial) == current.serial());
            for entry in entries.iter().skip(from.unwrap_or(entries.len())) {
                let mut t = Transaction {
                    strict: true,
                    ..Transaction::default()
                };
                for r in &entry.diff.removed {
                    t.push(Change::Remove(r.clone()));
                }
                for r in &entry.diff.added {
                    t.push(Change::Add(r.clone()));
                }
                match txn::apply(&current, &t) {
                    Ok(applied) if applied.zone.serial() == Some(entry.diff.new_serial) => {
                        current = applied.zone;
                        ownership.apply(&entry.meta.owners);
                        if entry.meta.file_serial.is_some() {
                            file_serial = entry.meta.file_serial;
                        }
                        replayed += 1;
                    }
                    Ok(_) | Err(_) => {
                        damage.push(format!(
                            "journal entry {}→{} does not apply to the image",
                            entry.diff.old_serial, entry.diff.new_serial
                        ));
                        break;
                    }
                }
            }
            let serial = current.serial().unwrap_or(0);
            if entries.last().is_some_and(|e| e.diff.new_serial != serial) {
                // What the journal holds beyond the replay is lost; start it over from
                // here so that its chain and the served zone agree.
                journal = Journal::empty(&journal_file, options.journal_limits());
                image_serial = None;
            }
            zone = Some(current);
        }
        for what in &damage {
            tracing::warn!(zone = %name, "state folder: {what}");
        }
        let restored = zone.as_ref().map(|z| z.serial().unwrap_or(0));
        match (restored, floor.serial) {
            (Some(serial), Some(f)) if serial_gt(f, serial) => {
                // Changes after `serial` were served, then lost with the damaged state:
                // serving this content would lower the serial. The zone file is loaded
                // next and served above the floor.
                tracing::error!(
                    zone = %name,
                    serial,
                    floor = f,
                    "state folder: the content restored (image and {replayed} journal \
                     entries) is older than serial {f}, recorded in {}; it is not served: \
                     the zone file is loaded and served above serial {f}",
                    floor.from
                );
                zone = None;
                ownership = Ownership::default();
                file_serial = None;
                journal = Journal::empty(&journal_file, options.journal_limits());
                image_serial = None;
            }
            (Some(serial), _) => tracing::info!(
                zone = %name,
                serial,
                replayed,
                records = zone.as_ref().map_or(0, |z| z.record_count()),
                floor_from = floor.from,
                "zone restored from the state folder"
            ),
            (None, Some(f)) => tracing::info!(
                zone = %name,
                floor = f,
                "no content restored from the state folder; the highest serial served, \
                 {f}, is in {}: the zone file is loaded and served above it",
                floor.from
            ),
            (None, None) => {}
        }
        if let Some(s) = image_serial {
            let _ = journal.set_image_serial(s);
        }
        let signer = zone::open_signer(&self.state_dir, apex, &options);
        zone::Writer {
            signer,
            zone: zone.map(Arc::new),
            options,
            journal,
            ownership,
            file_serial,
            floor: floor.serial,
            state_dir: self.state_dir.clone(),
            clock: self.clock,
            image_serial,
            commits_since_image: 0,
            bytes_since_image: 0,
            serials: self.serials.clone(),
            transfers: Default::default(),
        }
    }
}
