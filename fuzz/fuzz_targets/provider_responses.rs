//! Fuzzes `tollgate::protocol::invariants::provider_responses`: a Gemini or Bedrock response
//! is refused or converts to every dialect's response, which reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tollgate::protocol::invariants::provider_responses(data));
