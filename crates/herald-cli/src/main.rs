//! The `herald` binary.

use std::process::ExitCode;

use clap::Parser;

mod commands;

use commands::Command;

/// Herald: every event, reliably and fast, from the transaction that made it to whoever
/// needs it.
#[derive(Debug, Parser)]
#[command(name = "herald", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let otlp_endpoint = match &cli.command {
        Command::Up(args) => args.resolve().ok().and_then(|config| config.otlp_endpoint),
        Command::Demo(args) => args.otlp_endpoint.clone().filter(|url| !url.is_empty()),
        // The check reports a bad endpoint along with every other problem.
        Command::Config(_) => None,
        _ => std::env::var("HERALD_OTLP_ENDPOINT").ok().filter(|url| !url.is_empty()),
    };
    // Installed before the runtime starts (the exporter's client is a blocking one), and
    // dropped after it stops, which exports the last spans.
    let _telemetry = match herald_telemetry::Telemetry::install(otlp_endpoint.as_deref(), "herald")
    {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
