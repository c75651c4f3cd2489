//! Fuzz target `registry_schema`: see `harness/registry_schema.rs`.
#![no_main]

#[path = "../harness/registry_schema.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
