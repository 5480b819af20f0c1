//! A runner for the replay scenarios of Unbound (`testdata/*.rpl`) and CZ.NIC's
//! Deckard: `parse` reads the format, `wire` builds and compares messages, `server`
//! plays the scenario's authoritative servers, `runner` runs one scenario against
//! dnsd in two network namespaces.

pub mod parse;
pub mod runner;
pub mod server;
pub mod wire;
