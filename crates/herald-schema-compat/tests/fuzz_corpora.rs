//! Replays the `schema_compat` fuzz corpus (`fuzz/corpus/schema_compat/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/schema_compat.rs`): every pair of schemas compares, or fails with `SchemaCompatError::TooComplex`.

#[path = "../../../fuzz/harness/schema_compat.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("schema_compat", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

#[test]
fn nesting_past_the_depth_bound_is_too_complex_not_a_stack_overflow() {
    // 100 levels of `items`: within serde_json's limit of 128, past the comparison's 64.
    let nested = |leaf: &str| format!("{}{leaf}{}", r#"{"items":"#.repeat(100), "}".repeat(100));
    let (original, update) = (nested("{}"), nested(r#"{"type":"string"}"#));
    let error = harness::run(format!("{original} {update}").as_bytes()).expect_err("too deep");
    assert!(matches!(error, herald_schema_compat::SchemaCompatError::TooComplex { .. }), "{error}");
}

#[test]
fn cyclic_refs_are_compared_once() {
    let cyclic =
        r##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}"##;
    let found = harness::run(format!("{cyclic} {{\"$ref\":\"#\"}}").as_bytes()).expect("bounded");
    assert!(found.iter().all(|issue| !issue.message.is_empty()));
}
