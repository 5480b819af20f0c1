//! netd beside the other tables of the host (Docker's above all), read from
//! `nft list ruleset` and never changed: what would silently break netd's forwards
//! and masquerade, each with the exact fix. A pure function of the listing and the
//! configuration; `plan`, `apply` and `run` print or log what it finds.
//!
//! - A foreign base chain on the forward hook with `policy drop` (Docker's
//!   `ip filter FORWARD`) drops what netd translates unless it accepts it first:
//!   nftables runs every base chain, and a drop in any is final.
//! - A foreign `dnat` for a port a netd forward also takes: both tables translate
//!   at the same hook and priority, and which one wins is the order the tables were
//!   loaded in, not anything either says.

use std::fmt;

use crate::config::Config;
use crate::nat::forward::Protocol;

/// One problem, with its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What is wrong.
    pub what: String,
    /// Commands that fix it, or what to change.
    pub fix: Vec<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        for line in &self.fix {
            write!(f, "\n    fix: {line}")?;
        }
        Ok(())
    }
}

/// A chain of the listing: its table, name, hook and policy, and its rules.
#[derive(Debug, Default)]
struct Chain {
    table: String,
    name: String,
    hook: Option<String>,
    policy_drop: bool,
    rules: Vec<String>,
}

/// The chains of an `nft list ruleset` text, but netd's own tables.
fn chains(listing: &str) -> Vec<Chain> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut current: Option<Chain> = None;
    for line in listing.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("table ") {
            table = rest.trim_end_matches('{').trim().to_string();
        } else if let Some(rest) = t.strip_prefix("chain ") {
            current = Some(Chain {
                table: table.clone(),
                name: rest.trim_end_matches('{').trim().to_string(),
                ..Chain::default()
            });
        } else if t == "}" {
            out.extend(current.take());
        } else if let Some(c) = current.as_mut() {
            if t.starts_with("type ") && t.contains(" hook ") {
                c.hook = t
                    .split_whitespace()
                    .skip_while(|w| *w != "hook")
                    .nth(1)
                    .map(str::to_string);
                c.policy_drop = t.contains("policy drop");
            } else if !t.is_empty() && !t.starts_with('#') {
                c.rules.push(t.to_string());
            }
        }
    }
    out.retain(|c| c.table != "inet netd" && !c.table.starts_with("inet netd_vrrp_"));
    out
}

/// The ports `rule` translates with `dnat`, as (protocol, first, last).
fn dnat_ports(rule: &str) -> Vec<(Protocol, u16, u16)> {
    if !rule.contains("dnat to") {
        return Vec::new();
    }
    let words: Vec<&str> = rule.split_whitespace().collect();
    let mut out = Vec::new();
    for w in words.windows(3) {
        let proto = match w[0] {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => continue,
        };
        if w[1] != "dport" {
            continue;
        }
        let (a, b) = w[2].split_once('-').unwrap_or((w[2], w[2]));
        if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
            out.push((proto, a, b));
        }
    }
    out
}

/// What in `listing` (nft's `list ruleset`) breaks `config`'s forwards or masquerade.
pub fn check(listing: &str, config: &Config) -> Vec<Warning> {
    let chains = chains(listing);
    let mut warnings = Vec::new();
    let translates = !config.forwards.is_empty();
    let masquerades = !config.nat.is_empty();
    for c in chains
        .iter()
        .filter(|c| c.hook.as_deref() == Some("forward") && c.policy_drop)
    {
        // Docker jumps to DOCKER-USER first: accepts there are the place for a fix.
        let docker = chains
            .iter()
            .any(|o| o.table == c.table && o.name == "DOCKER-USER");
        let fixed_in: Vec<&Chain> = chains
            .iter()
            .filter(|o| o.table == c.table && (o.name == c.name || o.name == "DOCKER-USER"))
            .collect();
        let accepts = |pred: &dyn Fn(&str) -> bool| {
            fixed_in
                .iter()
                .flat_map(|o| &o.rules)
                .any(|r| r.ends_with("accept") && pred(r))
        };
        let mut fix = Vec::new();
        // An accept limited to some interface (Docker's own bridges) does not count.
        let any_interface = |r: &str| !r.contains("iifname") && !r.contains("oifname");
        if translates && !accepts(&|r| r.contains("ct status dnat") && any_interface(r)) {
            fix.push(if docker {
                "iptables -I DOCKER-USER -m conntrack --ctstate DNAT -j ACCEPT".to_string()
            } else {
                format!(
                    "nft insert rule {} {} ct status dnat accept",
                    c.table, c.name
                )
            });
        }
        if masquerades {
            for n in &config.nat {
                for b in &config.bridges {
                    let out_rule = format!("iifname \"{}\" oifname \"{}\"", b.name, n.egress);
                    if !accepts(&|r| r.contains(&out_rule)) {
                        fix.push(if docker {
                            format!(
                                "iptables -I DOCKER-USER -i {} -o {} -j ACCEPT",
                                b.name, n.egress
                            )
                        } else {
                            format!("nft insert rule {} {} {out_rule} accept", c.table, c.name)
                        });
                    }
                }
            }
            let established = |r: &str| {
                (r.contains("ct state established,related")
                    || r.contains("ct state related,established"))
                    && any_interface(r)
            };
            if !accepts(&established) {
                fix.push(if docker {
                    "iptables -I DOCKER-USER -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
                        .to_string()
                } else {
                    format!(
                        "nft insert rule {} {} ct state established,related accept",
                        c.table, c.name
                    )
                });
            }
        }
        if !fix.is_empty() {
            let who = if docker { "Docker's " } else { "" };
            warnings.push(Warning {
                what: format!(
                    "{who}chain {} in table {} drops forwarded traffic by default (policy drop): \
                     netd's forwards and masquerade are dropped there unless it accepts them",
                    c.name, c.table
                ),
                fix,
            });
        }
    }
    for c in &chains {
        for rule in &c.rules {
            for (proto, first, last) in dnat_ports(rule) {
                for f in &config.forwards {
                    let clash = f.protocols.contains(&proto)
                        && f.ports.first <= last
                        && first <= f.ports.last;
                    if clash {
                        let who = if c.table == "ip nat" && c.name == "DOCKER" {
                            "Docker publishes"
                        } else {
                            "another table translates"
                        };
                        warnings.push(Warning {
                            what: format!(
                                "{who} {proto} port {} too (table {}, chain {}): {} and it \
                                 translate the same packets at the same hook, and the table \
                                 loaded last wins",
                                if first == last {
                                    first.to_string()
                                } else {
                                    format!("{first}-{last}")
                                },
                                c.table,
                                c.name,
                                f.label()
                            ),
                            fix: vec![format!(
                                "move {} or the other one (`docker run -p`) to another port",
                                f.label()
                            )],
                        });
                    }
                }
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    /// `nft list ruleset` of a namespace where dockerd (20.10, iptables-nft) runs a
    /// container published with `-p 8080:80` on a user network.
    const DOCKER: &str = r#"table ip nat {
	chain DOCKER {
		iifname "br-9560748d9ce9" counter packets 0 bytes 0 return
		iifname != "br-9560748d9ce9" tcp dport 8080 counter packets 0 bytes 0 dnat to 198.18.0.2:80
	}

	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter packets 0 bytes 0 jump DOCKER
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter packets 0 bytes 0 jump DOCKER-USER
		oifname "br-9560748d9ce9" ct state related,established counter packets 0 bytes 0 accept
	}

	chain DOCKER-USER {
		counter packets 0 bytes 0 return
	}
}
table inet netd {
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
"#;

    const CONFIG: &str = "[[bridge]]\nname = \"br-svc\"\naddresses = [\"198.51.100.1/24\"]\n\
        [[nat]]\nsource = [\"198.51.100.0/24\"]\negress = \"up0\"\n\
        [[forward]]\nname = \"web\"\nport = \"8079-8081\"\nto = \"198.51.100.10\"\n";

    #[test]
    fn docker_forward_drop_and_a_shared_port_are_found_with_their_fix() {
        let w = check(DOCKER, &parse(CONFIG).unwrap());
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].what
                .starts_with("Docker's chain FORWARD in table ip filter")
        );
        assert_eq!(
            w[0].fix,
            [
                "iptables -I DOCKER-USER -m conntrack --ctstate DNAT -j ACCEPT",
                "iptables -I DOCKER-USER -i br-svc -o up0 -j ACCEPT",
                "iptables -I DOCKER-USER -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            ]
        );
        assert!(
            w[1].what
                .starts_with("Docker publishes tcp port 8080 too (table ip nat, chain DOCKER)"),
            "{}",
            w[1]
        );
    }

    #[test]
    fn accepts_in_docker_user_silence_the_warning() {
        let fixed = DOCKER.replace(
            "chain DOCKER-USER {\n",
            "chain DOCKER-USER {\n\t\tct status dnat counter packets 0 bytes 0 accept\n\
             \t\tiifname \"br-svc\" oifname \"up0\" counter packets 0 bytes 0 accept\n\
             \t\tct state established,related counter packets 0 bytes 0 accept\n",
        );
        let config = parse(&CONFIG.replace("8079-8081", "443")).unwrap();
        assert_eq!(check(&fixed, &config), []);
    }
}
