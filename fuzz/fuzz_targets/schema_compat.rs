//! Fuzz target `schema_compat`: see `harness/schema_compat.rs`.
#![no_main]

#[path = "../harness/schema_compat.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
