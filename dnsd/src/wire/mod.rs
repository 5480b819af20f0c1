//! DNS wire format: names, and (in later modules) messages.

pub mod name;
