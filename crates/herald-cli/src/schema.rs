//! `herald schema register | check | list | show`: the registry from a terminal or a CI job.

use std::path::Path;

use anyhow::Context;
use herald_schema::{Credentials, RegistryClient};
use serde_json::json;

/// Where the registry is and who is asking (flags or `HERALD_REGISTRY_*`).
#[derive(Debug, clap::Args)]
pub struct RegistryClientArgs {
    /// The registry's base URL.
    #[arg(
        long,
        env = "HERALD_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    pub registry: String,
    /// Bearer token for changes.
    #[arg(long, env = "HERALD_REGISTRY_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// HTTP Basic user for changes (with --password).
    #[arg(long, env = "HERALD_REGISTRY_USER", global = true)]
    pub user: Option<String>,
    /// HTTP Basic password of --user.
    #[arg(long, env = "HERALD_REGISTRY_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
}

impl RegistryClientArgs {
    /// A client of the registry with the credentials given.
    pub fn client(&self) -> anyhow::Result<RegistryClient> {
        let credentials = match (&self.token, &self.user, &self.password) {
            (Some(token), _, _) => Credentials::Bearer(token.clone()),
            (None, Some(user), Some(password)) => {
                Credentials::Basic { user: user.clone(), password: password.clone() }
            }
            (None, Some(_), None) => anyhow::bail!("--user needs --password"),
            (None, None, Some(_)) => anyhow::bail!("--password needs --user"),
            (None, None, None) => Credentials::None,
        };
        Ok(RegistryClient::new(&self.registry, credentials))
    }
}

/// A schema given on the command line: its subject, file and type.
#[derive(Debug, clap::Args)]
pub struct SchemaFile {
    /// The subject, e.g. `orders.order_placed.v1` (`<type>.v<version>` for Herald events).
    #[arg(long)]
    pub subject: String,
    /// The schema file (a JSON Schema or an Avro schema, both JSON text; `-` reads
    /// standard input).
    pub file: std::path::PathBuf,
    /// The schema type: `json` or `avro` (any case).
    #[arg(long = "type", default_value = "JSON", value_parser = schema_type)]
    pub schema_type: String,
}

/// A schema type in any case, as the registry names it (`JSON`, `AVRO`).
fn schema_type(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "JSON" | "AVRO" => Ok(upper),
        "PROTOBUF" => Err("Protobuf schemas are not supported yet; use json or avro".into()),
        _ => Err(format!("`{text}` is not a schema type: expected json or avro")),
    }
}

impl SchemaFile {
    /// The schema's text, checked to be JSON.
    fn read(&self) -> anyhow::Result<String> {
        let text = read_file(&self.file)?;
        serde_json::from_str::<serde_json::Value>(&text)
            .with_context(|| format!("{} is not JSON", self.file.display()))?;
        Ok(text)
    }
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading standard input");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A version on the command line: `latest` or a number from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionArg(pub Option<i32>);

impl std::str::FromStr for VersionArg {
    type Err = String;

    fn from_str(text: &str) -> Result<VersionArg, String> {
        if text == "latest" {
            return Ok(VersionArg(None));
        }
        match text.parse::<i32>() {
            Ok(number) if number >= 1 => Ok(VersionArg(Some(number))),
            _ => Err(format!("`{text}` is not a version: expected `latest` or a number from 1")),
        }
    }
}

/// Registers the schema; prints its version and id.
pub async fn register(
    client: &RegistryClient,
    file: &SchemaFile,
    json: bool,
) -> anyhow::Result<()> {
    let text = file.read()?;
    let registered = client
        .register(&file.subject, &file.schema_type, &text)
        .await
        .with_context(|| format!("registering {} under `{}`", file.file.display(), file.subject))?;
    if json {
        let body = json!({ "subject": registered.subject, "version": registered.version, "id": registered.id });
        println!("{body}");
    } else {
        println!(
            "Registered `{}` version {} (schema id {}).",
            registered.subject, registered.version, registered.id
        );
    }
    Ok(())
}

/// Checks the schema against `version` of its subject; true when compatible.
pub async fn check(
    client: &RegistryClient,
    file: &SchemaFile,
    version: Option<i32>,
    json: bool,
) -> anyhow::Result<bool> {
    let text = file.read()?;
    let verdict = client
        .check(&file.subject, version, &file.schema_type, &text)
        .await
        .with_context(|| format!("checking {} against `{}`", file.file.display(), file.subject))?;
    let level = client.level(Some(&file.subject)).await.unwrap_or_else(|_| "?".into());
    let against = version.map_or_else(|| "latest".to_owned(), |number| format!("version {number}"));
    if json {
        let body = json!({
            "subject": file.subject,
            "against": against,
            "level": level,
            "is_compatible": verdict.is_compatible,
            "messages": verdict.messages,
        });
        println!("{body}");
    } else if verdict.is_compatible {
        println!("Compatible: `{}` may follow its {against} at level {level}.", file.subject);
    } else {
        println!(
            "Breaking change: `{}` cannot follow its {against} at level {level}.",
            file.subject
        );
        for message in &verdict.messages {
            println!("  - {message}");
        }
        println!(
            "Keep the change compatible, or give the event a new major version (a new subject) and an upcaster for its consumers."
        );
    }
    Ok(verdict.is_compatible)
}

/// Lists the subjects with their versions.
pub async fn list(client: &RegistryClient, json: bool) -> anyhow::Result<()> {
    let subjects = client.subjects().await.context("listing subjects")?;
    let mut rows = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let versions =
            client.versions(&subject).await.with_context(|| format!("versions of `{subject}`"))?;
        rows.push((subject, versions));
    }
    if json {
        let body: Vec<_> = rows
            .iter()
            .map(|(subject, versions)| json!({ "subject": subject, "versions": versions }))
            .collect();
        println!("{}", serde_json::Value::Array(body));
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "No subjects yet. Register one with `herald schema register --subject <s> <file>`."
        );
        return Ok(());
    }
    let width = rows.iter().map(|(subject, _)| subject.len()).max().unwrap_or(7).max(7);
    println!("{:<width$}  VERSIONS", "SUBJECT");
    for (subject, versions) in &rows {
        let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
        println!("{subject:<width$}  {}", versions.join(", "));
    }
    Ok(())
}

/// Shows one version of a subject, the schema pretty-printed.
pub async fn show(
    client: &RegistryClient,
    subject: &str,
    version: Option<i32>,
    json: bool,
) -> anyhow::Result<()> {
    let found =
        client.version(subject, version).await.with_context(|| format!("reading `{subject}`"))?;
    if json {
        println!("{}", serde_json::to_string(&found)?);
        return Ok(());
    }
    let schema: serde_json::Value = serde_json::from_str(&found.schema).unwrap_or_default();
    println!("subject: {}", found.subject);
    println!("version: {}", found.version);
    println!("id:      {}", found.id);
    println!("type:    {}", found.schema_type);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
