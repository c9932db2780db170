//! Fuzzes `tollgate::protocol::invariants::responses`: conversion refuses or reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tollgate::protocol::invariants::responses(data));
