//! Accept_Mode False (RFC 5798 section 6.4.3): a master that is not the address
//! owner must not accept packets addressed to the virtual addresses (it still answers
//! ARP and neighbor solicitations for them, which the kernel does below nftables'
//! IP hooks). netd enforces it with one small nftables table per such instance,
//! `inet netd_vrrp_<instance>`, loaded when the instance starts and deleted when it
//! stops. While the instance is backup the addresses are not local, so the rule
//! matches nothing then.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::nat::apply::{NftError, run_batch};

/// The table's name for instance `name` (nft names: letters, digits, underscores).
pub fn table_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("netd_vrrp_{clean}")
}

/// The `nft -f` batch that (re)creates the instance's table.
pub fn ruleset(name: &str, addresses: &[IpNet]) -> String {
    let table = table_name(name);
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) =
        addresses.iter().map(IpNet::addr).partition(IpAddr::is_ipv4);
    let list = |a: &[IpAddr]| {
        a.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rules = String::new();
    if !v4.is_empty() {
        rules += &format!("    ip daddr {{ {} }} drop\n", list(&v4));
    }
    if !v6.is_empty() {
        rules += &format!("    ip6 daddr {{ {} }} drop\n", list(&v6));
    }
    format!(
        "table inet {table} {{ }}\ndelete table inet {table}\ntable inet {table} {{\n  \
         chain input {{\n    type filter hook input priority -10; policy accept;\n{rules}  }}\n}}\n"
    )
}

/// Loads the instance's table.
pub async fn install(name: &str, addresses: &[IpNet]) -> Result<(), NftError> {
    run_batch("load vrrp accept-mode table", &ruleset(name, addresses)).await
}

/// Deletes the instance's table (if it is there).
pub async fn remove(name: &str) -> Result<(), NftError> {
    remove_table(&table_name(name)).await
}

/// Deletes table `inet <table>` (if it is there): what `netd down` does with the
/// tables the ownership record names.
pub async fn remove_table(table: &str) -> Result<(), NftError> {
    run_batch(
        "delete vrrp accept-mode table",
        &format!("table inet {table} {{ }}\ndelete table inet {table}\n"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_table_per_instance() {
        let nets = [
            "198.51.100.1/24".parse().unwrap(),
            "198.51.100.53/32".parse().unwrap(),
        ];
        assert_eq!(
            ruleset("svc-4", &nets),
            "table inet netd_vrrp_svc_4 { }\n\
             delete table inet netd_vrrp_svc_4\n\
             table inet netd_vrrp_svc_4 {\n  \
             chain input {\n    \
             type filter hook input priority -10; policy accept;\n    \
             ip daddr { 198.51.100.1, 198.51.100.53 } drop\n  \
             }\n}\n"
        );
    }
}
