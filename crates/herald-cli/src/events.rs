//! `herald events show | list`: the delivery ledger from a terminal.

use anyhow::Context;
use herald_admin::ledger::{self, EventFilter};
use herald_db::Database;

/// Prints an event's journey, one state per line in time order (or JSON).
pub async fn show(db: &Database, id: &str, json: bool) -> anyhow::Result<bool> {
    let event_id: uuid::Uuid =
        id.parse().with_context(|| format!("`{id}` is not an event id (a UUID)"))?;
    let Some(journey) = ledger::journey(db, event_id).await? else {
        eprintln!(
            "No table knows event {event_id}: not in the outbox, the ledger, an inbox, the \
             dead-letter queue or the notifications."
        );
        return Ok(false);
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&journey)?);
        return Ok(true);
    }
    println!(
        "Event {event_id} ({}, key {})",
        journey.event_type.as_deref().unwrap_or("type unknown"),
        journey.partition_key.as_deref().unwrap_or("unknown")
    );
    for step in &journey.states {
        println!(
            "  {}  {:<20} {:<16} {}",
            step.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            step.state,
            step.service.as_deref().unwrap_or("-"),
            step.detail.as_deref().unwrap_or("")
        );
    }
    Ok(true)
}

/// Prints the events matching `filter`, newest first (or JSON).
pub async fn list(db: &Database, filter: &EventFilter, json: bool) -> anyhow::Result<()> {
    let found = ledger::search(db, filter).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    if found.is_empty() {
        println!("No event matches.");
        return Ok(());
    }
    println!("{:<36}  {:<28}  {:<20}  COMMITTED", "EVENT", "TYPE", "KEY");
    for event in &found {
        println!(
            "{:<36}  {:<28}  {:<20}  {}",
            event.event_id,
            event.event_type,
            event.partition_key,
            event.committed_at.format("%Y-%m-%d %H:%M:%S%.3f")
        );
    }
    Ok(())
}
