//! Replays the `amqp_message` fuzz corpus (`fuzz/corpus/amqp_message/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/amqp_message.rs`): every message, in binary or structured mode, reads as an event or is handed on unchanged for the consumer's policy.

#[path = "../../../fuzz/harness/amqp_message.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("amqp_message", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}
