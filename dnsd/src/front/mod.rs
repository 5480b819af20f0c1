//! The front: listeners that move bytes between clients and the answer engine.
//!
//! - `udp`: one worker thread per core, each with its own SO_REUSEPORT socket per
//!   listen address, reading and answering batches (recvmmsg/sendmmsg), no lock.
//! - `tcp`: tokio listeners, length-prefixed and pipelined queries (RFC 7766), idle
//!   timeout and a connection limit.
//! - `dot`: DNS over TLS (RFC 7858) on `transport = "dot"` listeners, answers out of
//!   order as they are ready, EDNS padding and keepalive (`edns_tail`).
//! - `acl`: the clients each listener serves or recurses for.
//! - `deferred`: requests handed to the resolver and the way back to their client.
//! - `metrics_http`: the Prometheus endpoint that renders `crate::metrics`.
//! - `control`: the control socket, through which `dnsd ctl` and scripts change zones
//!   one transaction at a time and read their state.
//!
//! Both DNS transports call `answer::respond` over the zone set loaded from the
//! `Arc<ArcSwap<ZoneSet>>` that reloads swap, with the answer options (NSID, cookie
//! secrets, ...) loaded the same way. UDP responses then go through response rate
//! limiting (`crate::rrl`); TCP is never limited.

pub mod acl;
pub mod control;
pub mod deferred;
pub mod dot;
mod edns_tail;
pub mod metrics_http;
pub mod tcp;
pub mod udp;
mod udp_limit;

/// The time in whole Unix seconds (cookie timestamps, RFC 9018 §4.3).
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Whole seconds of the monotonic clock (rate limiting buckets).
pub fn monotonic_seconds() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u32
}
