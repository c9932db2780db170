//! Fuzzes `tollgate::protocol::invariants::provider_requests`: Anthropic, Gemini or Bedrock
//! request bytes are refused or convert to Gemini and Bedrock bodies that read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tollgate::protocol::invariants::provider_requests(data));
