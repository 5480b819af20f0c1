//! The operator's commands on the resolver's caches, given on the control socket
//! (`front/control.rs`, lines starting with `cache`) and by `dnsd ctl`:
//!
//! ```text
//! cache flush NAME        drop what is cached at NAME (every type, negative answers)
//! cache flush-tree NAME   drop what is cached at NAME and below it
//! cache flush-all         drop everything
//! cache dump [NAME]       the cache (or what is at NAME), one record per line
//! cache dump-tree NAME    what is at NAME and below it
//! ```
//!
//! Each ends with `ok N` (entries dropped or listed) or `error WHY`. A dump lists
//! RRsets as zone-file lines with the TTL left (RRSIGs after the records they sign)
//! and negative answers (RFC 2308) as `; NXDOMAIN OWNER` or `; NODATA OWNER TYPE`
//! followed by the SOA and proofs they came with; expired entries kept for serve-stale
//! are not listed.
//!
//! A flush also drops every rendered answer (the workers' copies: one may hold the
//! flushed data behind a CNAME or DNAME of another name, and they are made again from
//! the RRset cache) and what the validator learnt of the keys of zones at or below
//! the name (all of it for `flush-all`), so that the next question is answered from
//! the authorities again.
//!
//! One resolver runs per process: the daemon installs its handle at start
//! ([`install`]) and the control socket finds it there.

use std::sync::{Arc, OnceLock};

use hickory_proto::rr::Name;

use super::answers::AnswerCache;
use super::cache::Cache;
use super::trust::Trust;

/// The caches as the operator reaches them.
pub struct CacheControl {
    cache: Arc<Cache>,
    answers: Arc<AnswerCache>,
    trust: Arc<Trust>,
    clock: fn() -> u64,
}

static INSTALLED: OnceLock<CacheControl> = OnceLock::new();

/// Makes `control` the one the control socket uses (the first one installed stays).
pub fn install(control: CacheControl) {
    let _ = INSTALLED.set(control);
}

/// The reply to the line `cache REST` (lines ending with `\n`, the last `ok ...` or
/// `error ...`).
pub fn command(rest: &str) -> String {
    match INSTALLED.get() {
        Some(control) => control.command(rest),
        None => "error this dnsd has no resolver (no listener with role resolver)\n".into(),
    }
}

impl CacheControl {
    /// The handle on `cache`, `answers` and `trust`; `clock` is the cache's.
    pub fn new(
        cache: Arc<Cache>,
        answers: Arc<AnswerCache>,
        trust: Arc<Trust>,
        clock: fn() -> u64,
    ) -> Self {
        Self {
            cache,
            answers,
            trust,
            clock,
        }
    }

    /// The reply to `cache REST`.
    pub fn command(&self, rest: &str) -> String {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let name = |text: &str| -> Result<Name, String> {
            let text = if text.ends_with('.') {
                text.to_string()
            } else {
                format!("{text}.")
            };
            Name::from_ascii(&text).map_err(|e| format!("{text:?} is not a domain name: {e}"))
        };
        let reply = match words.as_slice() {
            ["flush", owner] => name(owner).map(|owner| {
                let dropped = self.cache.flush_name(&owner);
                self.forget(Some(&owner));
                format!("ok {dropped}\n")
            }),
            ["flush-tree", owner] => name(owner).map(|owner| {
                let dropped = self.cache.flush(&owner);
                self.forget(Some(&owner));
                format!("ok {dropped}\n")
            }),
            ["flush-all"] => {
                let dropped = self.cache.flush_all();
                self.forget(None);
                Ok(format!("ok {dropped}\n"))
            }
            ["dump"] => Ok(self.dump(None, false)),
            ["dump", owner] => name(owner).map(|owner| self.dump(Some(&owner), false)),
            ["dump-tree", owner] => name(owner).map(|owner| self.dump(Some(&owner), true)),
            _ => Err(
                "cache takes flush NAME, flush-tree NAME, flush-all, dump [NAME] or \
                      dump-tree NAME"
                    .into(),
            ),
        };
        reply.unwrap_or_else(|e| format!("error {e}\n"))
    }

    /// The rendered answers and the keys learnt at or below `name` go too.
    fn forget(&self, name: Option<&Name>) {
        self.answers.clear();
        self.trust.forget(name);
    }

    fn dump(&self, name: Option<&Name>, tree: bool) -> String {
        let mut out = String::new();
        let entries = self.cache.dump(name, tree, (self.clock)(), &mut out);
        out.push_str(&format!("ok {entries}\n"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::cache::{CachedRrset, Rank};
    use hickory_proto::rr::{RData, Record, rdata::A};

    fn a(owner: &str, last: u8) -> CachedRrset {
        CachedRrset {
            records: vec![Record::from_rdata(
                Name::from_ascii(owner).unwrap(),
                300,
                RData::A(A::new(198, 51, 100, last)),
            )],
            signatures: Vec::new(),
            rank: Rank::Answer,
            proof: Vec::new(),
        }
    }

    #[test]
    fn flushes_drop_a_name_a_tree_or_everything_and_dumps_list_what_is_left() {
        let cache = Arc::new(Cache::new(1 << 20, 0, 86400));
        // No key in the anchor: the test validates nothing.
        let anchor = [Record::from_rdata(
            Name::root(),
            300,
            RData::A(A::new(198, 51, 100, 1)),
        )];
        let trust = Trust::new(&anchor, || 0).unwrap();
        let control = CacheControl::new(
            cache.clone(),
            Arc::new(AnswerCache::new(1 << 20)),
            Arc::new(trust),
            || 10,
        );
        for (owner, last) in [("a.example.", 1), ("b.a.example.", 2), ("c.example.", 3)] {
            cache.put_rrset(a(owner, last), 0);
        }
        assert_eq!(
            control.command("dump A.Example"),
            "a.example. 290 IN A 198.51.100.1\nok 1\n"
        );
        assert_eq!(control.command("flush a.example."), "ok 1\n");
        assert_eq!(
            control.command("dump-tree a.example"),
            "b.a.example. 290 IN A 198.51.100.2\nok 1\n"
        );
        assert_eq!(control.command("flush-tree example."), "ok 2\n");
        assert_eq!(control.command("dump"), "ok 0\n");
        assert!(control.command("flush").starts_with("error "));
    }
}
