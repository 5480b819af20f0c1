//! Harness for the integration tests: where the binaries are, processes and network
//! namespaces that are cleaned up by their guards, also when a test fails
//! (shared/TESTNET.md).

pub mod bins;
pub mod dns;
pub mod dnsd;
pub mod engines;
pub mod fuzz;
pub mod metrics;
pub mod mini_internet;
pub mod netd;
pub mod netns;
pub mod perf;
pub mod process;
pub mod procstat;
pub mod replay;
pub mod resolver_bench;
pub mod rrl;
pub mod servers;
pub mod update;
pub mod vrrp;
pub mod xfr;
mod xfr_peer_config;
pub mod xfr_script;
pub mod xfr_sighup;
pub mod xot;
