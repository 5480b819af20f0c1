//! DNS wire format: names, request messages (`message`, the query path) and any
//! message read record by record (`reader`: responses, transfers, NOTIFY).

pub mod message;
pub mod name;
pub mod reader;
