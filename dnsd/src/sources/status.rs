//! What the dynamic sources (container engines, RFC 2136 updates, the
//! PowerDNS-compatible API) tell `dnsd ctl status`: each running source registers
//! here, and the control socket asks every one for its lines when a client asks.
//!
//! Every line starts with `source NAME` and goes on with `key=value` words (times in
//! Unix seconds, `-` for never; a free-text value, such as the last error, is quoted
//! and comes last), so that scripts can read it as well as people.

use std::sync::{Arc, Mutex};

/// A source that can say how it is doing.
pub trait SourceStatus: Send + Sync {
    /// Appends its lines (without newlines) to `out`.
    fn status(&self, out: &mut Vec<String>);
}

/// The running sources, in the order they started.
#[derive(Default)]
pub struct Registry {
    sources: Mutex<Vec<Arc<dyn SourceStatus>>>,
}

impl Registry {
    /// Adds a running source.
    pub fn attach(&self, source: Arc<dyn SourceStatus>) {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source);
    }

    /// Every source's lines.
    pub fn lines(&self) -> Vec<String> {
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = Vec::new();
        for source in sources {
            source.status(&mut out);
        }
        out
    }
}

/// A Unix time for a status line: `-` for 0 (never).
pub fn time(seconds: u64) -> String {
    if seconds == 0 {
        "-".into()
    } else {
        seconds.to_string()
    }
}

/// A free-text value for a status line: quoted, one line.
pub fn text(value: &str) -> String {
    format!("{:?}", value.replace('\n', " "))
}
