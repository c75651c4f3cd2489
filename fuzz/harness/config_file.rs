//! The `config_file` harness: the input is the contents of `herald up`'s configuration
//! file, resolved by `UpArgs::resolve_contents` with no flags (as `herald up --config`
//! and `herald config check` resolve it).
//!
//! Shared by the fuzz target and `herald-cli`'s corpus replay (`tests/fuzz_corpora.rs`).

use std::path::Path;

use clap::Parser;
use herald_cli::config::{UpArgs, UpConfig};

/// `herald up`'s flags alone.
#[derive(Parser)]
struct Up {
    #[command(flatten)]
    args: UpArgs,
}

/// Resolves the file's contents; the problems found are listed in the error.
pub(crate) fn run(data: &[u8]) -> Result<UpConfig, Vec<String>> {
    let args = Up::parse_from(["herald"]).args;
    args.resolve_contents(Path::new("herald.toml"), data)
}
