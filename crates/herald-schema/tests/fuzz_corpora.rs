//! Replays the `registry_schema` fuzz corpus (`fuzz/corpus/registry_schema/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/registry_schema.rs`): every submitted schema is registered and compiled, or refused with the reason.

#[path = "../../../fuzz/harness/registry_schema.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("registry_schema", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

#[test]
fn a_schema_nested_ten_thousand_deep_is_refused_not_a_stack_overflow() {
    let schema = format!("JSON\n{}{{}}{}", r#"{"not":"#.repeat(10_000), "}".repeat(10_000));
    let error = harness::run(schema.as_bytes()).expect_err("too deep to register");
    assert!(error.starts_with("registry: ") && error.contains("recursion limit"), "{error}");
}

#[test]
fn a_schema_whose_refs_expand_exponentially_is_refused_at_compile_time() {
    let mut defs = serde_json::Map::new();
    for level in 0..40 {
        let next = serde_json::json!({"$ref": format!("#/$defs/d{}", level + 1)});
        defs.insert(format!("d{level}"), serde_json::json!({"anyOf": [next.clone(), next]}));
    }
    defs.insert("d40".into(), serde_json::json!({"type": "string"}));
    let schema = serde_json::json!({"$defs": defs, "$ref": "#/$defs/d0"});
    let error = harness::run(format!("JSON\n{schema}").as_bytes()).expect_err("too complex");
    assert!(error.starts_with("compile: ") && error.contains("exponential"), "{error}");
}

#[test]
fn recursive_schemas_still_compile() {
    let tree =
        r##"{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#"}}}}"##;
    harness::run(format!("JSON\n{tree}").as_bytes()).expect("a recursive schema compiles");
}
