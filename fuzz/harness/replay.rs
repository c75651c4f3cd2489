//! The replay of a fuzz target's corpus as a regression test: every file of
//! `fuzz/corpus/<target>/` goes through the target's harness, which must return (the
//! event, or an error with a message) rather than panic.
//!
//! Included with `#[path]` by each crate's `tests/fuzz_corpora.rs`, so that the default
//! test command replays every corpus without building the fuzz targets.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The corpus directory of `target`.
pub(crate) fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Runs `run` on every file of the corpus of `target`. Fails when the corpus is empty,
/// naming every file whose run panicked or returned an error without a message, and
/// returns how many inputs were accepted and how many refused.
pub(crate) fn replay<T, E: Display>(
    target: &str,
    run: impl Fn(&[u8]) -> Result<T, E>,
) -> (usize, usize) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read the corpus `{}`: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus `{}` holds no input", dir.display());
    let (mut accepted, mut refused, mut failed) = (0, 0, Vec::new());
    for file in &files {
        let data = std::fs::read(file)
            .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", file.display()));
        let outcome =
            catch_unwind(AssertUnwindSafe(|| run(&data).map(drop).map_err(|e| e.to_string())));
        match outcome {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) if !message.trim().is_empty() => refused += 1,
            Ok(Err(_)) => failed.push(format!("{} (an error without a message)", file.display())),
            Err(_) => failed.push(format!("{} (panicked)", file.display())),
        }
    }
    assert!(failed.is_empty(), "corpus inputs of `{target}` failed: {failed:#?}");
    (accepted, refused)
}
