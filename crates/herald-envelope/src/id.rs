//! The event identifier.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::EnvelopeError;

/// The identifier of one event: a UUID, version 7 for events Herald creates.
///
/// UUIDv7 identifiers sort by creation time, which keeps outbox and inbox indexes compact.
/// On the wire it is the CloudEvents `id` attribute, in hyphenated lowercase form.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// Creates a new time-ordered identifier (UUIDv7).
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Returns the underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Wraps an existing UUID of any version.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl Default for EventId {
    /// Creates a new time-ordered identifier, like [`EventId::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for EventId {
    type Err = EnvelopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| EnvelopeError::invalid("id", "must be a UUID", text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_ordered() {
        let first = EventId::new();
        let second = EventId::new();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn display_and_parse_round_trip() {
        let id = EventId::new();
        assert_eq!(id.to_string().parse::<EventId>().unwrap(), id);
    }

    #[test]
    fn parse_error_names_the_id_attribute() {
        let error = "1".parse::<EventId>().unwrap_err();
        assert_eq!(error.attribute(), Some("id"));
    }
}
