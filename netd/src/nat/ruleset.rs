//! The nftables table netd owns, as data: named sets and maps with their elements, and
//! chains with their rules, rendered to `nft -f` text.
//!
//! Two ways to load it, both one atomic transaction:
//! - [`Ruleset::replace_batch`]: `add table; delete table; table inet netd { ... }`
//!   replaces the whole table (the `add` makes the `delete` safe when none exists);
//! - [`Ruleset::delta_batch`]: when only set and map *elements* differ from a table
//!   known to be loaded, the element deletions and additions alone, so that changing
//!   one forward among a thousand costs one element, not a thousand.
//!
//! Text syntax, not JSON: nft 1.0.6 (Debian 12) creates named maps with concatenated
//! data given as JSON as plain sets.

use std::collections::HashSet;
use std::fmt::Write;

/// Family and name of netd's table; nothing else in the ruleset is ever touched.
pub const TABLE: &str = "inet netd";

/// One element of a named set (`data` is `None`) or map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Element {
    /// The key, e.g. `"eth0" . 203.0.113.1 . tcp . 80 . 0.0.0.0/0`.
    pub key: String,
    /// The value of a map element, e.g. `198.51.100.10 . 8080`.
    pub data: Option<String>,
}

/// A named set or map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSet {
    /// Its name in the table.
    pub name: &'static str,
    /// `type ...` line, e.g. `ipv4_addr . inet_service : ipv4_addr`.
    pub datatype: String,
    /// Whether it is a map (`map`) or a set (`set`).
    pub is_map: bool,
    /// Whether elements are intervals (prefixes, ranges).
    pub interval: bool,
    /// Elements, in a stable order.
    pub elements: Vec<Element>,
    /// Why it exists, rendered as a comment line above it.
    pub doc: &'static str,
}

/// A base chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name in the table.
    pub name: &'static str,
    /// `type nat hook prerouting priority dstnat; policy accept;`
    pub head: &'static str,
    /// Rules, in order.
    pub rules: Vec<String>,
}

/// netd's whole table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Named sets and maps, declared before the chains that use them.
    pub sets: Vec<NamedSet>,
    /// Base chains.
    pub chains: Vec<Chain>,
}

impl Ruleset {
    /// `table inet netd { ... }`, as `nft -f` reads it.
    pub fn table_text(&self) -> String {
        let elements: usize = self.sets.iter().map(|s| s.elements.len()).sum();
        let mut out = String::with_capacity(1024 + elements * 80);
        let _ = writeln!(out, "table {TABLE} {{");
        for s in &self.sets {
            let _ = writeln!(out, "\t# {}", s.doc);
            let kind = if s.is_map { "map" } else { "set" };
            let _ = writeln!(out, "\t{kind} {} {{", s.name);
            let _ = writeln!(out, "\t\ttype {}", s.datatype);
            if s.interval {
                let _ = writeln!(out, "\t\tflags interval");
            }
            if !s.elements.is_empty() {
                out.push_str("\t\telements = {");
                for (i, e) in s.elements.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ",\n\t\t\t     " });
                    write_element(&mut out, e);
                }
                out.push_str(" }\n");
            }
            let _ = writeln!(out, "\t}}");
            out.push('\n');
        }
        for (i, c) in self.chains.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "\tchain {} {{", c.name);
            let _ = writeln!(out, "\t\t{}", c.head);
            for r in &c.rules {
                let _ = writeln!(out, "\t\t{r}");
            }
            let _ = writeln!(out, "\t}}");
        }
        out.push_str("}\n");
        out
    }

    /// The one transaction that replaces the whole table (or creates it).
    pub fn replace_batch(&self) -> String {
        format!(
            "add table {TABLE}\ndelete table {TABLE}\n{}",
            self.table_text()
        )
    }

    /// Whether `self` and `other` have the same chains and set declarations, so that
    /// one can become the other by element changes alone.
    pub fn same_shape(&self, other: &Ruleset) -> bool {
        self.chains == other.chains
            && self.sets.len() == other.sets.len()
            && self.sets.iter().zip(&other.sets).all(|(a, b)| {
                a.name == b.name
                    && a.datatype == b.datatype
                    && a.is_map == b.is_map
                    && a.interval == b.interval
            })
    }

    /// The transaction that turns a loaded `old` into `self` by element changes, or
    /// `None` when the shapes differ (then only [`Self::replace_batch`] will do).
    /// An empty string means nothing to change.
    pub fn delta_batch(&self, old: &Ruleset) -> Option<String> {
        if !self.same_shape(old) {
            return None;
        }
        let mut deletes = String::new();
        let mut adds = String::new();
        for (new_set, old_set) in self.sets.iter().zip(&old.sets) {
            let new_elems: HashSet<&Element> = new_set.elements.iter().collect();
            let old_elems: HashSet<&Element> = old_set.elements.iter().collect();
            let gone: Vec<&Element> = old_set
                .elements
                .iter()
                .filter(|e| !new_elems.contains(e))
                .collect();
            let came: Vec<&Element> = new_set
                .elements
                .iter()
                .filter(|e| !old_elems.contains(e))
                .collect();
            if !gone.is_empty() {
                let _ = write!(deletes, "delete element {TABLE} {} {{ ", new_set.name);
                for (i, e) in gone.iter().enumerate() {
                    if i > 0 {
                        deletes.push_str(", ");
                    }
                    deletes.push_str(&e.key);
                }
                deletes.push_str(" }\n");
            }
            if !came.is_empty() {
                let _ = write!(adds, "add element {TABLE} {} {{ ", new_set.name);
                for (i, e) in came.iter().enumerate() {
                    if i > 0 {
                        adds.push_str(", ");
                    }
                    write_element(&mut adds, e);
                }
                adds.push_str(" }\n");
            }
        }
        // Deletions first: a changed map element is deleted by key, then added back
        // with its new value, in the same transaction.
        deletes.push_str(&adds);
        Some(deletes)
    }

    /// Number of elements in all sets and maps.
    pub fn element_count(&self) -> usize {
        self.sets.iter().map(|s| s.elements.len()).sum()
    }
}

/// `key` or `key : data`.
fn write_element(out: &mut String, e: &Element) {
    out.push_str(&e.key);
    if let Some(d) = &e.data {
        out.push_str(" : ");
        out.push_str(d);
    }
}

/// The transaction that removes netd's table, whether it exists or not.
pub fn delete_batch() -> String {
    format!("add table {TABLE}\ndelete table {TABLE}\n")
}
