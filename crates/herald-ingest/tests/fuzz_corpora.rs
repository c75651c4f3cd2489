//! Replays the `http_ingest` fuzz corpus (`fuzz/corpus/http_ingest/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/http_ingest.rs`): every request, in binary, structured or batch mode, decodes to valid events or fails with an `IngestError`.

#[path = "../../../fuzz/harness/http_ingest.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("http_ingest", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

#[test]
fn a_batch_nested_ten_thousand_deep_is_refused_naming_the_event_not_a_stack_overflow() {
    let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let request = format!("content-type: application/cloudevents-batch+json\n\n{body}");
    let error = harness::run(request.as_bytes()).expect_err("not a batch of events");
    let invalid = matches!(error, herald_ingest::IngestError::InvalidEvent { index: Some(0), .. });
    assert!(invalid && error.to_string().contains("index 0"), "{error}");
}
