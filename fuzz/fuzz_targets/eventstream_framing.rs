//! Fuzzes `tollgate::protocol::invariants::eventstream_framing`: the first input byte picks where the rest
//! is split, and the output must not depend on it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&first, rest)) = data.split_first() {
        let split = if rest.is_empty() { 0 } else { first as usize % (rest.len() + 1) };
        tollgate::protocol::invariants::eventstream_framing(rest, split);
    }
});
