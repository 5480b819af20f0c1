//! VRRPv3 (RFC 5798): packet codec and state machine (pure), socket I/O at the edge.

pub mod config;
