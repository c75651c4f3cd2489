//! Replays the `envelope_json` fuzz corpus (`fuzz/corpus/envelope_json/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/envelope_json.rs`): every input decodes to an event or fails with an `EnvelopeError` naming the attribute.

#[path = "../../../fuzz/harness/envelope_json.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("envelope_json", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

#[test]
fn data_nested_ten_thousand_deep_is_kept_as_text_without_a_stack_overflow() {
    let data = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = format!(
        r#"{{"specversion":"1.0","id":"01890a5d-ac96-774b-bcce-b302099a8057","source":"/s","type":"t.t","time":"2024-07-01T12:00:00Z","eventkind":"integration","schemaversion":1,"partitionkey":"k","data":{data}}}"#
    );
    let envelope = harness::run(text.as_bytes()).expect("the data is kept as raw JSON text");
    assert!(matches!(&envelope.data, Some(herald_envelope::Data::Json(raw)) if raw.get() == data));
    let deep_member =
        text.replace(r#""data":"#, r#""ext":"#).replace(&data, &format!("{{\"a\":{data}}}"));
    let error = harness::run(deep_member.as_bytes()).expect_err("an attribute is not nested JSON");
    assert!(!error.to_string().is_empty());
}
