//! Fuzz target `http_ingest`: see `harness/http_ingest.rs`.
#![no_main]

#[path = "../harness/http_ingest.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
