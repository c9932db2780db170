//! Wire formats, and nothing else: pure types and functions with no I/O, so they can be
//! unit-tested and fuzzed. Only this module knows what a dialect's JSON and SSE look like.

pub mod openai;
pub mod sse;
