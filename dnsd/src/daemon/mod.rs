//! The daemon around the engine: what `dnsd` (`run`) and `dnsd check` (`check`) do,
//! the zone files they read (`zones`), the answer options and rate limiter built from
//! the configuration (`options`) and logging (`logging`); as a service: the
//! open-files limit and the TCP connections it allows (`limits`).
//! `main.rs` parses the command line and calls these.

pub mod check;
pub mod limits;
pub mod logging;
pub mod options;
pub mod run;
pub mod zones;
