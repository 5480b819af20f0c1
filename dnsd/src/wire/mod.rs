//! DNS wire format: names and request messages.

pub mod message;
pub mod name;
