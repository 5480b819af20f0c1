//! The front: listeners that move bytes between clients and the answer engine.
//!
//! - `udp`: one worker thread per core, each with its own SO_REUSEPORT socket per
//!   listen address, reading and answering batches (recvmmsg/sendmmsg), no lock.
//! - `tcp`: tokio listeners, length-prefixed and pipelined queries (RFC 7766), idle
//!   timeout and a connection limit.
//! - `metrics_http`: the Prometheus endpoint that renders `crate::metrics`.
//!
//! Both DNS transports call `answer::respond` over the zone set loaded from the
//! `Arc<ArcSwap<ZoneSet>>` that reloads swap.

pub mod metrics_http;
pub mod tcp;
pub mod udp;
