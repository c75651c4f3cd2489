//! Fuzz target `config_file`: see `harness/config_file.rs`.
#![no_main]

#[path = "../harness/config_file.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
