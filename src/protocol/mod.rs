//! Wire formats, and nothing else: pure types and functions with no I/O, so they can be
//! unit-tested and fuzzed. Only this module knows what a dialect's JSON and SSE look like.
//!
//! Conversion goes through one canonical form, [`ir`]: each dialect has `request_to_ir` /
//! `request_from_ir` and `response_to_ir` / `response_from_ir` ([`openai::chat`],
//! [`anthropic`]), and [`stream`] holds one state machine per streaming direction.

pub mod anthropic;
pub mod ir;
pub mod openai;
pub mod sse;
pub mod stream;

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests;
