//! The control socket: a Unix socket in the state folder (mode 0600) through which an
//! operator, a script or `dnsd ctl` changes zones one transaction at a time and reads
//! their state, as `knotc zone-begin/zone-set/zone-commit` does for Knot.
//!
//! # Protocol
//! Lines of text; every line gets one reply line, `ok ...` or `error ...`:
//!
//! ```text
//! zone NAME [SOURCE]        start a transaction on zone NAME as SOURCE (default "control")
//! add OWNER TTL TYPE RDATA  add a record (zone-file syntax; OWNER relative to the zone)
//! del OWNER TYPE [RDATA]    remove a record, or the whole RRset without RDATA
//! del-name OWNER            remove every RRset at OWNER
//! commit                    commit: "ok SERIAL" once durable and served, or "error WHY"
//! abort                     drop the transaction
//! status [NAME]             one "zone ..." line per zone, each signed zone's
//!                           followed by one "key ZONE TAG ALGORITHM ROLE STATE ...
//!                           [next: STEP at TIME (in DURATION)]" line per key
//!                           (`dnssec::status`); without NAME, then one "source ..."
//!                           line or more per dynamic source (`sources::status`);
//!                           then "ok"
//! cache ...                 the resolver's caches: flush, dump (resolver/control.rs)
//! ```
//!
//! A change goes through the zone's manager like any other source's: checked, given a
//! serial, journaled, then served; the ownership rules apply (a source may not change
//! what the zone file defines). Clients may pipeline lines and read the replies after.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::manager::{FILE_SOURCE, Manager, ZoneHandle};
use crate::sources::status::Registry;
use crate::wire::name::Name;
use crate::xfr::stats::XfrStats;
use crate::zone::files::LoadOptions;
use crate::zone::parse::Parser;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype};

/// The source name of changes made through the control socket without a name.
pub const DEFAULT_SOURCE: &str = "control";
/// Longest line accepted.
const MAX_LINE: usize = 64 << 10;

/// What one line asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Start a transaction.
    Zone {
        /// The zone.
        apex: Name,
        /// The source it is made as.
        source: String,
    },
    /// A change of the open transaction.
    Change(Change),
    /// Commit the open transaction.
    Commit,
    /// Drop the open transaction.
    Abort,
    /// Report zones.
    Status(Option<Name>),
    /// A command on the resolver's caches (the words after `cache`).
    Cache(String),
}

/// Parses one line; `apex` is the zone of the open transaction, if any (the origin of
/// relative owners).
pub fn parse_line(line: &str, apex: Option<&Name>) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let need_zone =
        || apex.ok_or_else(|| "no open transaction: start one with `zone NAME`".to_string());
    match word {
        "zone" => {
            let mut words = rest.split_whitespace();
            let name = words.next().ok_or("zone needs a NAME")?;
            let apex = absolute(name)?;
            let source = words.next().unwrap_or(DEFAULT_SOURCE).to_string();
            if source == FILE_SOURCE {
                return Err(format!("source \"{FILE_SOURCE}\" is the zone file's own"));
            }
            if words.next().is_some() {
                return Err("zone takes a NAME and an optional SOURCE".into());
            }
            Ok(Command::Zone { apex, source })
        }
        "add" => {
            let apex = need_zone()?;
            let record = parse_record(rest, apex)?;
            Ok(Command::Change(Change::Add(record)))
        }
        "del" => {
            let apex = need_zone()?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [owner, rtype] => Ok(Command::Change(Change::RemoveRrset {
                    owner: owner_name(owner, apex)?,
                    rtype: Rtype::from_text(rtype)
                        .ok_or_else(|| format!("unknown type {rtype:?}"))?,
                })),
                [owner, rtype, ..] => {
                    let rdata = rest
                        .splitn(3, char::is_whitespace)
                        .nth(2)
                        .unwrap_or("")
                        .trim_start();
                    let record = parse_record(&format!("{owner} 0 {rtype} {rdata}"), apex)?;
                    Ok(Command::Change(Change::Remove(record)))
                }
                _ => Err("del needs OWNER TYPE [RDATA]".into()),
            }
        }
        "del-name" => {
            let apex = need_zone()?;
            let owner = rest
                .split_whitespace()
                .next()
                .ok_or("del-name needs an OWNER")?;
            Ok(Command::Change(Change::RemoveName {
                owner: owner_name(owner, apex)?,
            }))
        }
        "commit" => Ok(Command::Commit),
        "abort" => Ok(Command::Abort),
        "cache" => Ok(Command::Cache(rest.to_string())),
        "status" => Ok(Command::Status(match rest {
            "" => None,
            name => Some(absolute(name)?),
        })),
        "" => Err("empty line".into()),
        other => Err(format!(
            "unknown command {:?} (zone, add, del, del-name, commit, abort, status, cache)",
            crate::zone::quote::token(other.as_bytes())
        )),
    }
}

fn absolute(name: &str) -> Result<Name, String> {
    let text = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::from_text(&text, None)
        .map(|n| n.to_lowercase())
        .map_err(|e| format!("{name:?} is not a domain name: {e}"))
}

fn owner_name(owner: &str, apex: &Name) -> Result<Name, String> {
    if owner == "@" {
        return Ok(apex.clone());
    }
    Name::from_text(owner, Some(apex)).map_err(|e| format!("{owner:?} is not a domain name: {e}"))
}

/// One record in zone-file syntax (`OWNER TTL TYPE RDATA`), owner relative to `apex`.
fn parse_record(text: &str, apex: &Name) -> Result<Record, String> {
    let mut parser = Parser::new(apex, false, LoadOptions::default());
    let line = format!("{text}\n");
    parser.parse_bytes(line.as_bytes(), Path::new("control"));
    let (mut records, diag) = parser.into_parts();
    if let Some(error) = diag.errors.first() {
        // "control:1: what": the line is the client's own, say only what.
        let message = error.to_string();
        return Err(message
            .strip_prefix("control:1: ")
            .unwrap_or(&message)
            .to_string());
    }
    match records.len() {
        1 => Ok(records.remove(0).record),
        0 => Err("no record on the line".into()),
        _ => Err("one record per line".into()),
    }
}

/// The state of one connection.
#[derive(Default)]
struct Session {
    open: Option<(ZoneHandle, String, Transaction)>,
}

/// Serves the control socket at `path` until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    manager: Arc<Manager>,
    xfr: Option<Arc<XfrStats>>,
    sources: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let context = (manager.clone(), xfr.clone(), sources.clone());
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, context, shutdown).await {
                        tracing::debug!(error = %e, "control connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Binds the control socket at `path` (mode 0600), replacing a stale one. The caller
/// turns it into a tokio listener inside the runtime.
pub fn bind(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        // A socket nobody answers on is what a killed dnsd leaves behind.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by another dnsd", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Replies not yet written, in the order of the lines; a session may pipeline this many.
const MAX_PIPELINED: usize = 256;

/// The reply to one line: ready, or a commit still in progress.
enum Reply {
    Text(String),
    Commit(crate::manager::Submitted),
}

async fn session(
    stream: UnixStream,
    (manager, xfr, sources): (Arc<Manager>, Option<Arc<XfrStats>>, Arc<Registry>),
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    // Replies go out in the order of the lines; commits queued by one session are
    // committed in that order, so a client may pipeline transactions and read the
    // acknowledgements after.
    let (replies, mut pending) = tokio::sync::mpsc::channel::<Reply>(MAX_PIPELINED);
    // The replies ready at once go out in one write: a client pipelining `zone`, `add`,
    // `commit` costs one send per batch, not three per transaction. A commit not yet
    // done does not hold back the replies before it.
    let writer = tokio::spawn(async move {
        let mut out = String::new();
        while let Some(first) = pending.recv().await {
            let mut next = Some(first);
            while let Some(reply) = next.take() {
                match reply {
                    Reply::Text(text) => out.push_str(&text),
                    Reply::Commit(submitted) => {
                        if !out.is_empty() && !submitted.is_done() {
                            write.write_all(out.as_bytes()).await?;
                            out.clear();
                        }
                        match submitted.done().await {
                            Ok(serial) => out.push_str(&format!("ok {serial}\n")),
                            Err(e) => out.push_str(&format!("error {e}\n")),
                        }
                    }
                }
                if out.len() >= 1 << 16 {
                    write.write_all(out.as_bytes()).await?;
                    out.clear();
                }
                next = pending.try_recv().ok();
            }
            if !out.is_empty() {
                write.write_all(out.as_bytes()).await?;
                out.clear();
            }
        }
        Ok::<_, std::io::Error>(())
    });
    let mut lines = BufReader::new(read);
    let mut session = Session::default();
    let mut line = String::new();
    loop {
        line.clear();
        let mut limited = (&mut lines).take(MAX_LINE as u64);
        let read = tokio::select! {
            read = limited.read_line(&mut line) => read?,
            _ = shutdown.changed() => break,
        };
        if read == 0 {
            break;
        }
        if !line.ends_with('\n') && read >= MAX_LINE {
            let _ = replies
                .send(Reply::Text("error line too long\n".into()))
                .await;
            break;
        }
        let reply = answer(&mut session, (&manager, xfr.as_deref(), &sources), &line);
        if replies.send(reply).await.is_err() {
            break;
        }
    }
    drop(replies);
    writer.await.map_err(std::io::Error::other)?
}

/// The reply to one line (ending with a newline).
fn answer(
    session: &mut Session,
    (manager, xfr, sources): (&Arc<Manager>, Option<&XfrStats>, &Registry),
    line: &str,
) -> Reply {
    let text = |t: &str| Reply::Text(t.to_string());
    let apex = session.open.as_ref().map(|(h, _, _)| h.apex().clone());
    let command = match parse_line(line, apex.as_ref()) {
        Ok(command) => command,
        Err(e) => return Reply::Text(format!("error {e}\n")),
    };
    match command {
        Command::Zone { apex, source } => match manager.zone(&apex) {
            Some(handle) => {
                session.open = Some((handle, source, Transaction::new()));
                text("ok\n")
            }
            None => Reply::Text(format!("error zone {apex} is not served\n")),
        },
        Command::Change(change) => match session.open.as_mut() {
            Some((_, _, txn)) => {
                txn.push(change);
                text("ok\n")
            }
            None => text("error no open transaction\n"),
        },
        Command::Abort => {
            session.open = None;
            text("ok\n")
        }
        Command::Commit => {
            let Some((handle, source, txn)) = session.open.take() else {
                return text("error no open transaction\n");
            };
            // Queued now, in the order of the session's lines; waited for elsewhere.
            let submitted = handle.enqueue(&source, txn);
            submitted.start();
            Reply::Commit(submitted)
        }
        Command::Status(name) => {
            let mut out = String::new();
            for zone in manager.zones() {
                if name.as_ref().is_some_and(|n| n != zone.apex()) {
                    continue;
                }
                out.push_str(&status_line(&zone, xfr));
                out.push_str(&key_lines(&zone));
            }
            if out.is_empty() && name.is_some() {
                return text("error no such zone\n");
            }
            if name.is_none() {
                for line in sources.lines() {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            out.push_str("ok\n");
            Reply::Text(out)
        }
        Command::Cache(rest) => Reply::Text(crate::resolver::control::command(&rest)),
    }
}

/// One zone's `status` line; with the transfer counters, a secondary zone's refresh
/// state and pending NOTIFYs at its end (`XfrStats::status_fields`).
fn status_line(zone: &ZoneHandle, xfr: Option<&XfrStats>) -> String {
    let line = status_head(zone);
    match xfr {
        Some(stats) => {
            let extra = stats.status_fields(&zone.apex().to_string(), crate::manager::unix_now());
            format!("{}{extra}\n", line.trim_end())
        }
        None => line,
    }
}

/// A signed zone's `key ...` lines: each key's state at the time (`dnssec::status`).
fn key_lines(zone: &ZoneHandle) -> String {
    let now = crate::manager::unix_now();
    let keys = zone
        .with_signer(|stage, z| stage.status(z, now))
        .unwrap_or_default();
    keys.iter()
        .map(|k| format!("key {} {}\n", zone.apex(), k.line(now)))
        .collect()
}

fn status_head(zone: &ZoneHandle) -> String {
    let published = zone.published();
    let owned = zone.ownership().counts();
    let sources: Vec<String> = owned.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    match &published.zone {
        Some(z) => format!(
            "zone {} serial={} records={} nodes={} journal={} dynamic={}\n",
            zone.apex(),
            z.serial().unwrap_or(0),
            z.record_count(),
            z.node_count(),
            published.journal.entries().len(),
            if sources.is_empty() {
                "-".into()
            } else {
                sources.join(",")
            }
        ),
        None => format!("zone {} not-loaded\n", zone.apex()),
    }
}

/// Sends `lines` to the control socket at `path` and returns the replies, each
/// command's lines (`status` gives several) joined in order. Blocking: for `dnsd ctl`.
pub fn client(path: &Path, lines: &[String]) -> std::io::Result<Vec<String>> {
    use std::io::{BufRead, Write};
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    // Lines are written while replies are read, so that a long script never waits on
    // replies nobody reads.
    let mut text = String::new();
    for line in lines {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let writer = std::thread::spawn(move || {
        let mut stream = stream;
        stream.write_all(text.as_bytes())
    });
    let mut replies = Vec::new();
    for _ in lines {
        // Each command ends with one `ok ...` or `error ...` line; `status` first
        // gives its `zone ...` lines, `cache dump` its records (an owner named "ok."
        // is no end).
        loop {
            let mut reply = String::new();
            if reader.read_line(&mut reply)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "dnsd closed the control connection",
                ));
            }
            let reply = reply.trim_end().to_string();
            let last = ["ok", "error"].iter().any(|end| {
                reply
                    .strip_prefix(end)
                    .is_some_and(|r| r.is_empty() || r.starts_with(' '))
            });
            replies.push(reply);
            if last {
                break;
            }
        }
    }
    writer
        .join()
        .map_err(|_| std::io::Error::other("the writer thread panicked"))??;
    Ok(replies)
}

/// The control socket of a state folder.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn lines_parse_into_commands() {
        let apex = n("home.example.");
        assert_eq!(
            parse_line("zone home.example", None),
            Ok(Command::Zone {
                apex: apex.clone(),
                source: DEFAULT_SOURCE.into()
            })
        );
        assert!(
            parse_line("zone home.example file", None).is_err(),
            "the file's source is reserved"
        );
        assert!(
            parse_line("add www 60 A 198.51.100.1", None).is_err(),
            "no transaction"
        );
        assert_eq!(
            parse_line("add www 60 A 198.51.100.1", Some(&apex)),
            Ok(Command::Change(Change::Add(Record {
                owner: n("www.home.example."),
                rtype: Rtype::A,
                ttl: 60,
                rdata: vec![198, 51, 100, 1].into(),
            })))
        );
        assert_eq!(
            parse_line("del www.home.example. A 198.51.100.1", Some(&apex)),
            Ok(Command::Change(Change::Remove(Record {
                owner: n("www.home.example."),
                rtype: Rtype::A,
                ttl: 0,
                rdata: vec![198, 51, 100, 1].into(),
            })))
        );
        assert_eq!(
            parse_line("del @ TXT", Some(&apex)),
            Ok(Command::Change(Change::RemoveRrset {
                owner: apex.clone(),
                rtype: Rtype::TXT
            }))
        );
        let error = parse_line("add www 60 A 300.1.1.1", Some(&apex)).unwrap_err();
        assert!(error.contains("A"), "{error}");
        assert!(
            parse_line("frobnicate\x1b[2J", None)
                .unwrap_err()
                .contains("\\"),
            "escaped"
        );
        assert_eq!(parse_line("status", None), Ok(Command::Status(None)));
    }
}
