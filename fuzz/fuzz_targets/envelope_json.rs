//! Fuzz target `envelope_json`: see `harness/envelope_json.rs`.
#![no_main]

#[path = "../harness/envelope_json.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
