//! Replays the `config_file` fuzz corpus (`fuzz/corpus/config_file/`, kept by `cargo xtask fuzz`) through
//! the fuzz target's own harness (`fuzz/harness/config_file.rs`): every file resolves, or fails listing its problems.

#[path = "../../../fuzz/harness/config_file.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn every_corpus_input_is_accepted_or_refused_without_a_panic() {
    let (accepted, refused) = replay::replay("config_file", |data: &[u8]| {
        harness::run(data).map_err(|problems| problems.join("; "))
    });
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}: the corpus lost its valid or its invalid inputs"
    );
}

#[test]
fn a_file_nested_ten_thousand_deep_is_a_problem_not_a_stack_overflow() {
    let file = format!("allowed_hosts = {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let problems = harness::run(file.as_bytes()).expect_err("too deep to read");
    assert!(
        problems.iter().any(|problem| problem.starts_with("config: `herald.toml`")),
        "{problems:?}"
    );
}
