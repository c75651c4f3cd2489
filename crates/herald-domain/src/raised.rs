//! Domain events as an aggregate records them, before the commit.

use herald_envelope::{Event, EventKind};

use crate::{DomainError, Result};

/// One recorded domain event: its type, version, key and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedEvent {
    /// The event's type (`Event::TYPE`).
    pub event_type: &'static str,
    /// Its schema version.
    pub version: u32,
    /// Its kind (usually `domain`).
    pub kind: EventKind,
    /// Its partition key (the aggregate id).
    pub partition_key: String,
    /// The event, as JSON.
    pub payload: serde_json::Value,
}

impl RaisedEvent {
    /// Records `event`.
    pub fn new<E: Event>(event: &E) -> Result<RaisedEvent> {
        let payload = serde_json::to_value(event).map_err(|error| DomainError::Serde {
            event_type: E::TYPE.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(RaisedEvent {
            event_type: E::TYPE,
            version: E::VERSION,
            kind: E::KIND,
            partition_key: event.partition_key(),
            payload,
        })
    }

    /// The event as `E`, if it is one.
    pub fn decode<E: Event>(&self) -> Option<Result<E>> {
        if self.event_type != E::TYPE || self.version != E::VERSION {
            return None;
        }
        Some(serde_json::from_value(self.payload.clone()).map_err(|error| DomainError::Serde {
            event_type: E::TYPE.to_owned(),
            reason: error.to_string(),
        }))
    }
}

/// The domain events an aggregate raised, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Raised {
    events: Vec<RaisedEvent>,
}

impl Raised {
    /// No events yet.
    pub fn new() -> Raised {
        Raised::default()
    }

    /// Records `event`.
    pub fn raise<E: Event>(&mut self, event: &E) -> Result<()> {
        self.events.push(RaisedEvent::new(event)?);
        Ok(())
    }

    /// The events, oldest first.
    pub fn events(&self) -> &[RaisedEvent] {
        &self.events
    }

    /// Takes the events out, leaving none.
    pub fn take(&mut self) -> Vec<RaisedEvent> {
        std::mem::take(&mut self.events)
    }

    /// True when nothing was raised.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
