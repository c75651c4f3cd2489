//! The event identifier.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::EnvelopeError;

/// The UUID namespace of [`EventId::of_foreign`] (a fixed, random UUID: changing it
/// would change the ids of events already received).
const FOREIGN_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b9e_8d4a_4e57_9a30_5c7e_21d8_b4f3);

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

    /// The id Herald gives an event whose producer's `id` is not a UUID: the UUID
    /// (version 5, in Herald's own namespace) of its `source` and `id`, so the same
    /// producer's event always gets the same id, and two sources' equal ids never meet.
    pub fn of_foreign(source: &str, id: &str) -> Self {
        let name = format!("{source}\n{id}");
        Self(Uuid::new_v5(&FOREIGN_ID_NAMESPACE, name.as_bytes()))
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
    fn a_foreign_id_is_the_same_for_the_same_source_and_differs_across_sources() {
        let id = EventId::of_foreign("/shop", "order-1");
        assert_eq!(id, EventId::of_foreign("/shop", "order-1"));
        assert_ne!(id, EventId::of_foreign("/billing", "order-1"));
        assert_ne!(id, EventId::of_foreign("/shop", "order-2"));
        assert_eq!(id.as_uuid().get_version_num(), 5);
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
