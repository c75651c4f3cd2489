//! Aggregates: state folded from a stream's events, loaded from a snapshot when there is
//! one, and snapshotted by a [`SnapshotPolicy`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{EventStore, EventStoreError, RecordedEvent, Result};

/// Event-sourced state: the fold of a stream's events, starting from `Default`.
///
/// It is serialized as the snapshot, so a change to its shape must still read old
/// snapshots (or the snapshots must be deleted, and the streams are folded from the start).
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send {
    /// Folds one event into the state. An error names why the event cannot follow the
    /// state; loading the aggregate then fails with [`EventStoreError::Apply`].
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String>;
}

/// An aggregate as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The version of the last event folded in (0 for a new stream): expect it when
    /// appending the aggregate's next events.
    pub version: i64,
    /// The version of the snapshot the load started from (0 when there was none).
    pub snapshot_version: i64,
    /// How many events were read and folded after the snapshot.
    pub events_applied: usize,
}

/// Loads an aggregate: its latest snapshot if any, then the events after it.
pub async fn load_aggregate<A: Aggregate>(
    store: &EventStore,
    stream_id: &str,
) -> Result<Loaded<A>> {
    let (snapshot_version, mut state) = match store.snapshot(stream_id).await? {
        Some((version, state)) => {
            let state = serde_json::from_value(state).map_err(|source| EventStoreError::Json {
                what: format!("snapshot of stream `{stream_id}`"),
                source,
            })?;
            (version, state)
        }
        None => (0, A::default()),
    };
    let events = store.load(stream_id, snapshot_version).await?;
    let mut version = snapshot_version;
    for event in &events {
        state.apply(event).map_err(|reason| EventStoreError::Apply {
            stream_id: stream_id.to_owned(),
            version: event.version,
            reason,
        })?;
        version = event.version;
    }
    Ok(Loaded { state, version, snapshot_version, events_applied: events.len() })
}

/// When to take a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Take a snapshot once this many events follow the last one. Default 100.
    pub every: i64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self { every: 100 }
    }
}

impl SnapshotPolicy {
    /// Whether a loaded aggregate has enough events past its snapshot for a new one.
    pub fn is_due<A>(&self, loaded: &Loaded<A>) -> bool {
        loaded.version - loaded.snapshot_version >= self.every.max(1)
    }
}

/// Saves a snapshot of a loaded aggregate if the policy says it is due; returns whether
/// it did. Call it after a load (or after folding newly appended events into `loaded`).
pub async fn maybe_snapshot<A: Aggregate>(
    store: &EventStore,
    stream_id: &str,
    loaded: &Loaded<A>,
    policy: SnapshotPolicy,
) -> Result<bool> {
    if !policy.is_due(loaded) {
        return Ok(false);
    }
    let state = serde_json::to_value(&loaded.state).map_err(|source| EventStoreError::Json {
        what: format!("state of stream `{stream_id}`"),
        source,
    })?;
    store.save_snapshot(stream_id, loaded.version, &state).await?;
    Ok(true)
}
