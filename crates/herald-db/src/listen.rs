//! Wake-ups when rows are committed: LISTEN/NOTIFY on PostgreSQL, an in-process signal on
//! SQLite. A wake-up is a hint, never a guarantee: callers still poll as a fallback.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::{Database, Result};

/// What to be woken about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Outbox rows were committed (channel `herald_outbox`).
    Outbox,
    /// Log entries were appended (channel `herald_log`).
    Log,
}

impl Topic {
    fn channel(self) -> &'static str {
        match self {
            Topic::Outbox => "herald_outbox",
            Topic::Log => "herald_log",
        }
    }
}

/// Waits for wake-ups on one topic.
#[derive(Debug)]
pub struct Listener {
    inner: ListenerInner,
}

#[derive(Debug)]
enum ListenerInner {
    Postgres(Box<PgListener>),
    Sqlite(watch::Receiver<u64>),
}

impl Listener {
    /// Starts listening; wake-ups sent after this call are not missed.
    pub async fn new(db: &Database, topic: Topic) -> Result<Listener> {
        let inner = match db {
            Database::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(topic.channel()).await?;
                ListenerInner::Postgres(Box::new(listener))
            }
            Database::Sqlite(sqlite) => ListenerInner::Sqlite(match topic {
                Topic::Outbox => sqlite.wakeup.watch_outbox(),
                Topic::Log => sqlite.wakeup.watch_log(),
            }),
        };
        Ok(Listener { inner })
    }

    /// Waits until woken or `timeout` passes; returns whether it was woken. Wake-ups that
    /// arrived while nobody waited are consumed at once.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        match &mut self.inner {
            ListenerInner::Postgres(listener) => {
                match tokio::time::timeout(timeout, listener.recv()).await {
                    Ok(Ok(_)) => {
                        // Drain what else is queued: one pass handles them all.
                        while listener.next_buffered().is_some() {}
                        true
                    }
                    // The listener reconnects by itself; the caller polls meanwhile.
                    Ok(Err(_)) | Err(_) => false,
                }
            }
            ListenerInner::Sqlite(receiver) => {
                matches!(tokio::time::timeout(timeout, receiver.changed()).await, Ok(Ok(())))
            }
        }
    }
}
