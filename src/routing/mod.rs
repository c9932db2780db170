//! Routing: which target and credential serve a request. Pure decisions over the snapshot.

pub mod resolve;
pub mod wrr;
