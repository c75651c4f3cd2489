//! `herald schema register | check | list | show`: a registry's client.

use std::process::ExitCode;

use clap::Subcommand;
use herald_cli::schema::{self, RegistryClientArgs, SchemaFile, VersionArg};

#[derive(Debug, clap::Args)]
pub(crate) struct SchemaArgs {
    #[command(flatten)]
    registry: RegistryClientArgs,
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Register a schema under a subject (refused if it breaks the subject's compatibility).
    Register {
        #[command(flatten)]
        file: SchemaFile,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a schema against a subject's version at its compatibility level; exits 1 on
    /// a breaking change, listing each difference.
    Check {
        #[command(flatten)]
        file: SchemaFile,
        /// The version to check against (`latest`, or a number).
        #[arg(long, default_value = "latest")]
        version: VersionArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List subjects and their versions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a version of a subject.
    Show {
        /// The subject.
        subject: String,
        /// The version (`latest`, or a number).
        #[arg(long, default_value = "latest")]
        version: VersionArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let client = args.registry.client()?;
    match args.command {
        SchemaCommand::Register { file, json } => schema::register(&client, &file, json).await?,
        SchemaCommand::Check { file, version, json } => {
            let compatible = schema::check(&client, &file, version.0, json).await?;
            if !compatible {
                return Ok(ExitCode::FAILURE);
            }
        }
        SchemaCommand::List { json } => schema::list(&client, json).await?,
        SchemaCommand::Show { subject, version, json } => {
            schema::show(&client, &subject, version.0, json).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
