//! The daemon around the engine: what `dnsd` (`run`) and `dnsd check` (`check`) do,
//! the zone files they read (`zones`) and logging (`logging`). `main.rs` parses the
//! command line and calls these.

pub mod check;
pub mod logging;
pub mod run;
pub mod zones;
