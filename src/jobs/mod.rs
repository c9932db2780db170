//! Background jobs: work the gateway starts on its own, outside any request's lifetime.

pub mod gate;
pub mod low_priority;
pub mod retention;
pub mod retest;
pub mod status_probe;
