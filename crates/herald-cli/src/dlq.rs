//! `herald dlq`: list, show and replay dead letters.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use herald_consumer::{DeadLetterEntry, DeadLetterFilter, DeadLetterStore};
use herald_db::Database;

use crate::transport::BrokerArgs;

/// Which dead letters a command concerns.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only this consuming service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this event type (e.g. `shop.order_placed`).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Only this partition key.
    #[arg(long)]
    pub key: Option<String>,
    /// Only entries whose error contains this text.
    #[arg(long)]
    pub error: Option<String>,
    /// Only entries whose last failure is at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only entries whose last failure is before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many entries.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        self.service.is_none()
            && self.event_type.is_none()
            && self.key.is_none()
            && self.error.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// The store's filter.
    pub fn filter(&self, id: Option<uuid::Uuid>, include_replayed: bool) -> DeadLetterFilter {
        DeadLetterFilter {
            service: self.service.clone(),
            event_type: self.event_type.clone(),
            partition_key: self.key.clone(),
            error_contains: self.error.clone(),
            since: self.since,
            until: self.until,
            id,
            include_replayed,
            limit: Some(self.limit),
        }
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("expected an RFC 3339 time such as 2026-11-21T18:00:00Z: {error}"))
}

/// `herald dlq list`.
pub async fn list(
    db: Database,
    filter: &FilterArgs,
    include_replayed: bool,
    json: bool,
) -> anyhow::Result<()> {
    let entries = DeadLetterStore::new(db).list(&filter.filter(None, include_replayed)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("No dead letters match.");
        return Ok(());
    }
    println!(
        "{:<36}  {:<16}  {:<24}  {:>8}  {:<8}  {:<20}  error",
        "id", "service", "type", "attempts", "status", "last failure"
    );
    for entry in &entries {
        println!(
            "{:<36}  {:<16}  {:<24}  {:>8}  {:<8}  {:<20}  {}",
            entry.id,
            entry.service,
            entry.event_type.as_deref().unwrap_or("?"),
            entry.attempts,
            entry.status,
            entry.last_failed_at.format("%Y-%m-%d %H:%M:%S"),
            first_line(&entry.error, 60),
        );
    }
    println!("{} entries.", entries.len());
    Ok(())
}

/// `herald dlq show ID`.
pub async fn show(db: Database, id: uuid::Uuid, json: bool) -> anyhow::Result<()> {
    let filter =
        DeadLetterFilter { id: Some(id), include_replayed: true, ..DeadLetterFilter::default() };
    let Some(entry) = DeadLetterStore::new(db).list(&filter).await?.into_iter().next() else {
        bail!("no dead letter with id {id}; `herald dlq list` shows them");
    };
    if json {
        let mut value = serde_json::to_value(&entry)?;
        value["payload"] = payload_json(&entry);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("dead letter      {}", entry.id);
    println!("service          {}", entry.service);
    println!(
        "event            {} ({})",
        entry.event_id,
        entry.event_type.as_deref().unwrap_or("undecodable")
    );
    println!("routing key      {}", entry.routing_key);
    println!("partition key    {}", entry.partition_key);
    println!("reason           {}", entry.reason);
    println!("handler          {}", entry.handler.as_deref().unwrap_or("-"));
    println!("attempts         {}", entry.attempts);
    println!("first failure    {}", entry.first_failed_at.to_rfc3339());
    println!("last failure     {}", entry.last_failed_at.to_rfc3339());
    println!("replays          {}", entry.replays);
    println!("status           {}", entry.status);
    println!("error            {}", entry.error);
    println!("event\n{}", serde_json::to_string_pretty(&payload_json(&entry))?);
    Ok(())
}

fn payload_json(entry: &DeadLetterEntry) -> serde_json::Value {
    serde_json::from_slice(&entry.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&entry.payload).into_owned())
    })
}

/// What `herald dlq replay` was asked.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// One entry.
    pub id: Option<uuid::Uuid>,
    /// Or the entries a filter selects.
    pub filter: FilterArgs,
    /// Replay every dead entry (required when neither an id nor a filter is given).
    pub all: bool,
    /// Say what would be replayed, change nothing.
    pub dry_run: bool,
    /// Entries replayed this often already are left alone.
    pub max_replays: u32,
    /// Print JSON.
    pub json: bool,
}

/// `herald dlq replay`: publishes the selected entries again to their service only.
pub async fn replay(
    db: Database,
    broker: &BrokerArgs,
    request: &ReplayRequest,
) -> anyhow::Result<bool> {
    if request.id.is_none() && request.filter.is_empty() && !request.all {
        bail!(
            "say what to replay: an id, a filter (--service, --type, --key, --error, --since, --until), or --all"
        );
    }
    let transport = broker.open(&db, 16)?;
    let store = DeadLetterStore::new(db);
    let filter = request.filter.filter(request.id, false);
    let report = store
        .replay(transport.publisher.as_ref(), &filter, request.max_replays, request.dry_run)
        .await
        .context("replaying")?;
    if request.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let verb = if request.dry_run { "would replay" } else { "replayed" };
        println!("{verb} {} dead letters through {}", report.replayed.len(), transport.name);
        for id in &report.over_limit {
            println!(
                "left {id}: replayed {} times already (the loop guard; raise --max-replays to force)",
                request.max_replays
            );
        }
        for (id, error) in &report.failed {
            println!("failed {id}: {error}");
        }
    }
    Ok(report.failed.is_empty())
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_owned()
    }
}
