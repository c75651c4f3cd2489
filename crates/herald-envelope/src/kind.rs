//! The kind of an event.

use std::fmt;
use std::str::FromStr;

use crate::EnvelopeError;

/// What an event is for; the first segment of its routing key.
///
/// On the wire it is the `eventkind` extension attribute.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A fact inside one service's bounded context.
    Domain,
    /// A fact published for other services.
    Integration,
    /// A message meant for people (email, push, and so on).
    Notification,
}

impl EventKind {
    /// Returns the wire name: `domain`, `integration` or `notification`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Integration => "integration",
            Self::Notification => "notification",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = EnvelopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "domain" => Ok(Self::Domain),
            "integration" => Ok(Self::Integration),
            "notification" => Ok(Self::Notification),
            _ => Err(EnvelopeError::invalid(
                "eventkind",
                "must be one of domain, integration, notification",
                text,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [EventKind::Domain, EventKind::Integration, EventKind::Notification] {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn unknown_names_are_rejected() {
        let error = "Domain".parse::<EventKind>().unwrap_err();
        assert_eq!(error.attribute(), Some("eventkind"));
    }
}
