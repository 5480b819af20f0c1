//! NAT and port forwarding: configuration to nftables ruleset (pure), applied atomically.
