//! Fuzz target `cesql`: see `harness/cesql.rs`.
#![no_main]

#[path = "../harness/cesql.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
