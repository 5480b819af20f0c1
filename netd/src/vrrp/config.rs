//! The `[[vrrp]]` sections of netd.toml.

use serde::Deserialize;

/// One VRRP instance as written in netd.toml.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstanceSpec {
    /// Virtual router id, 1-255.
    pub vrid: u8,
}
