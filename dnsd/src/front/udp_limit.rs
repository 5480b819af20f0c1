//! Response rate limiting in the UDP front: for each response of a batch, the
//! `crate::rrl` decision (unless the client's cookie is good or it is exempt), the
//! slip response in place of a limited one (`answer::slip`), the counters, and a log
//! line when a bucket starts limiting, at most `LOG_LINES_PER_SECOND` a second.

use crate::answer::{CookieState, Outcome, RequestContext};
use crate::metrics::QueryCounters;
use crate::rrl::{Decision, Limiter};

/// Most "rate limiting started" log lines a worker writes per second.
const LOG_LINES_PER_SECOND: u32 = 10;

/// Response rate limiting for one response of a batch.
pub(super) struct Limited<'w> {
    /// The shared table.
    pub limiter: &'w Limiter,
    /// The worker's counters.
    pub counters: &'w QueryCounters,
    /// The worker's log budget: (second, lines written in it).
    pub log_budget: &'w mut (u32, u32),
    /// Monotonic seconds of this batch.
    pub seconds: u32,
}

impl Limited<'_> {
    /// Decides on the response `outcome` in `out` to `query`: the outcome to send
    /// (the same, or the slipped one now in `out`), or `None` to send nothing.
    pub fn apply(
        mut self,
        query: &[u8],
        context: &RequestContext<'_>,
        outcome: Outcome,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        let client = context.client.ip();
        if outcome.cookie == CookieState::Valid || self.limiter.is_exempt(client) {
            return Some(outcome);
        }
        let key = outcome.limit;
        let name = key.name(query);
        let verdict = self.limiter.decide(client, key.kind, name, self.seconds);
        let log_only = self.limiter.settings().log_only;
        if verdict.started {
            self.log_start(client, key.kind, name, log_only);
        }
        if verdict.decision == Decision::Pass {
            return Some(outcome);
        }
        self.counters
            .rrl_owned(key.kind, verdict.decision, log_only);
        match verdict.decision {
            _ if log_only => Some(outcome),
            Decision::Slip => crate::answer::slip(query, context, &outcome, out),
            _ => None,
        }
    }

    /// Logs that a bucket started limiting, at most `LOG_LINES_PER_SECOND` a second.
    fn log_start(
        &mut self,
        client: std::net::IpAddr,
        kind: crate::rrl::Kind,
        name: &[u8],
        log_only: bool,
    ) {
        if self.log_budget.0 != self.seconds {
            *self.log_budget = (self.seconds, 0);
        }
        if self.log_budget.1 >= LOG_LINES_PER_SECOND {
            return;
        }
        self.log_budget.1 += 1;
        let mut text = String::new();
        if name.is_empty() {
            text.push('-');
        } else {
            let _ = crate::wire::name::write_text(name, &mut text);
        }
        tracing::info!(
            prefix = %self.limiter.prefix_of(client),
            kind = kind.name(),
            name = %text,
            log_only,
            "rate limiting responses"
        );
    }
}
