//! Replays the `cesql` fuzz corpus (`fuzz/corpus/cesql/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/cesql.rs`): every expression parses and evaluates, or fails with a `ParseError`.

#[path = "../../../fuzz/harness/cesql.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("cesql", harness::run);
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

/// Runs `test` on a thread with the default stack of a test thread (2 MiB), whatever
/// `RUST_MIN_STACK` says, so that a recursion the limits miss overflows here too.
fn on_test_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(test)
        .expect("a test thread")
        .join()
        .expect("the test passes without a panic or an overflow");
}

#[test]
fn ten_thousand_nested_parentheses_are_an_error_not_a_stack_overflow() {
    on_test_stack(|| {
        let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let error = harness::run(text.as_bytes()).expect_err("too deep to parse");
        assert!(matches!(error, herald_cesql::ParseError::TooDeep { limit: 64, .. }), "{error}");
        assert!(error.to_string().contains("64"), "the message names the limit: {error}");
    });
}

#[test]
fn the_deepest_expressions_allowed_parse_print_and_evaluate_on_a_test_stack() {
    on_test_stack(|| {
        let shapes: [fn(usize) -> String; 5] = [
            |n| format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            |n| format!("{}TRUE", "NOT ".repeat(n)),
            |n| format!("{}1", "- ".repeat(n)),
            |n| format!("{}1{}", "ABS(".repeat(n), ")".repeat(n)),
            |n| format!("{}1{}", "1 IN (".repeat(n), ")".repeat(n)),
        ];
        for shape in shapes {
            let deepest =
                (1..=200).take_while(|&n| harness::run(shape(n).as_bytes()).is_ok()).last();
            let deepest = deepest.expect("shallow nesting parses");
            assert!(deepest >= 60, "only {deepest} levels of `{}` parse", shape(2));
            assert!(harness::run(shape(deepest + 1).as_bytes()).is_err());
        }
    });
}
