//! dnsd: see lib.rs.
fn main() {}
