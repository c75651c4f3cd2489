//! Fuzz target `amqp_message`: see `harness/amqp_message.rs`.
#![no_main]

#[path = "../harness/amqp_message.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::run(data);
});
