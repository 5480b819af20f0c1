//! netd.
fn main() {}
