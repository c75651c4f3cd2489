//! `herald up` (every server part in one process) and `herald config check`.

use std::process::ExitCode;

use clap::Subcommand;
use herald_cli::config::UpArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Exit 0 if `herald up` would start with this configuration; otherwise list every
    /// problem and exit 1.
    Check(UpArgs),
}

pub(crate) async fn run(args: &UpArgs) -> anyhow::Result<ExitCode> {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(problems) => return Ok(report_problems(&problems)),
    };
    herald_cli::up::run(config, super::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn check(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check(args) = args.command;
    match args.resolve() {
        Ok(config) => {
            eprintln!(
                "The configuration is valid: listen {}, database {}, {}, {} partitions, \
                 API token {}, notification channels: {}, traces: {}.",
                config.listen,
                if config.database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" },
                match &config.broker.broker {
                    Some(_) => "a broker",
                    None => "the embedded log",
                },
                config.partitions,
                match config.tokens.len() {
                    0 => "generated at start".to_owned(),
                    1 => "set".to_owned(),
                    n => format!("set ({n} valid, rotating)"),
                },
                match config.providers.channels()?.len() {
                    0 => "none".to_owned(),
                    n => n.to_string(),
                },
                config
                    .otlp_endpoint
                    .as_deref()
                    .map_or_else(|| "not exported".to_owned(), herald_telemetry::redact),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => Ok(report_problems(&problems)),
    }
}

/// Lists a configuration's problems on stderr; the exit code of a refused configuration.
fn report_problems(problems: &[String]) -> ExitCode {
    eprintln!("The configuration has {} problem(s):", problems.len());
    for problem in problems {
        eprintln!("  - {problem}");
    }
    ExitCode::FAILURE
}
