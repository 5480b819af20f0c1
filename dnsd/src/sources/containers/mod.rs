//! Records that follow containers (issue 10): Docker and Podman engines, followed over
//! their Engine API, give A/AAAA/PTR records in the zones their networks map to.
//!
//! ```text
//!  engine (bollard, one task each) ──EngineEvent──┐
//!  engine ...                       ──────────────┤
//!                                                 ▼
//!   source (one task): the containers of every engine (live, or remembered while
//!   an engine is away) ─► records::wanted ─► desired::plan per zone ─► submit
//!   ("containers") ─► zone manager: group commit, journal, serve
//! ```
//!
//! - `names`: container names to hostname labels (the documented rule).
//! - `records`: containers and settings to the records wanted (pure).
//! - `engine`: one engine's connection, list, events, backoff (I/O).
//! - `starting`: containers being started, answered once the engine gives them an
//!   address (before their process runs, as Docker's embedded DNS does).
//! - `source`: the state of every engine, its persistence in the state folder, the
//!   commits, conflicts and metrics.
//!
//! Nothing flaps: the source commits only the difference between what the zone holds
//! (what this source owns there) and what the containers give; a restart, or an
//! engine that reconnects with the same containers, commits nothing. While an engine
//! is away its containers are remembered (in the state folder too, so a dnsd restart
//! with the engine down keeps them) until it is back and listed, or — with
//! `on-engine-loss = "withdraw"` — until its grace time ends.

pub mod engine;
pub mod names;
pub mod records;
pub mod source;
pub mod starting;

pub use engine::EngineConfig;
pub use records::{Duplicates, NetworkMap, NetworkMatch, RecordSettings};
pub use source::{ContainerStats, EngineLoss, Settings, start};

/// The source name under which container records are committed and owned.
pub const SOURCE: &str = "containers";
