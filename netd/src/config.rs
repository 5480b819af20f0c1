//! netd.toml: the file format (`Spec`) and its validation into the runtime `Config`.

use serde::Deserialize;

/// The file as written. Sections belong to the modules that use them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Spec {
    /// VRRP instances (`[[vrrp]]`), see `crate::vrrp::config`.
    #[serde(default)]
    pub vrrp: Vec<crate::vrrp::config::InstanceSpec>,
}
