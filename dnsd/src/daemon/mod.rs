//! The daemon around the engine: what `dnsd` (`run`) and `dnsd check` (`check`) do,
//! the zone files they read (`zones`), the answer options and rate limiter built from
//! the configuration (`options`), the dynamic sources (`dynamic`) and logging
//! (`logging`); as a service: the open-files limit and the TCP connections it allows
//! (`limits`), readiness for systemd (`notify`), the hint when a port needs privilege
//! (`privileges`) and the state folder's lock (`state_dir`). `main.rs` parses the
//! command line and calls these.

pub mod check;
pub mod dynamic;
pub mod limits;
pub mod logging;
pub mod notify;
pub mod options;
pub mod privileges;
pub mod run;
pub mod state_dir;
pub mod zones;
