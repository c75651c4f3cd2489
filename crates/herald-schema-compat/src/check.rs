//! Compatibility levels and the registry check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{DifferenceKind, SchemaCompatError, differences};

/// A subject's compatibility level, with Confluent's names (`BACKWARD_TRANSITIVE`, …) for
/// `Display`, `FromStr` and serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    /// Any schema may follow any other.
    None,
    /// The new schema can read data written with the latest previous schema. Confluent's default.
    #[default]
    Backward,
    /// The new schema can read data written with every previous schema.
    BackwardTransitive,
    /// The latest previous schema can read data written with the new schema.
    Forward,
    /// Every previous schema can read data written with the new schema.
    ForwardTransitive,
    /// Both `BACKWARD` and `FORWARD`.
    Full,
    /// Both `BACKWARD_TRANSITIVE` and `FORWARD_TRANSITIVE`.
    FullTransitive,
}

impl CompatibilityLevel {
    /// Every level, in declaration order.
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::None,
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
    ];

    /// Confluent's name for the level, for example `BACKWARD_TRANSITIVE`.
    pub fn name(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether the level checks every previous version rather than only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    fn directions(self) -> &'static [Direction] {
        match self {
            CompatibilityLevel::None => &[],
            CompatibilityLevel::Backward | CompatibilityLevel::BackwardTransitive => {
                &[Direction::Backward]
            }
            CompatibilityLevel::Forward | CompatibilityLevel::ForwardTransitive => {
                &[Direction::Forward]
            }
            CompatibilityLevel::Full | CompatibilityLevel::FullTransitive => {
                &[Direction::Backward, Direction::Forward]
            }
        }
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CompatibilityLevel {
    type Err = SchemaCompatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CompatibilityLevel::ALL
            .into_iter()
            .find(|level| level.name() == s)
            .ok_or_else(|| SchemaCompatError::UnknownLevel { value: s.to_owned() })
    }
}

impl Serialize for DifferenceKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DifferenceKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Which way a check reads data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// The new schema reads data written with a previous one.
    Backward,
    /// A previous schema reads data written with the new one.
    Forward,
}

/// A change that stops a reader from reading what a writer wrote.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Incompatibility {
    /// What changed, named as Confluent names it.
    pub kind: DifferenceKind,
    /// Where it changed: a JSON pointer such as `#/properties/age`, into the new schema for a
    /// backward check and into the previous schema for a forward one (they coincide unless the
    /// location exists on one side only).
    pub pointer: String,
    /// A sentence for a person: who cannot read what, where, and why.
    pub message: String,
    /// The index in `previous` of the version the new schema was checked against.
    pub against: usize,
    /// Whether the new schema was the reader (`Backward`) or the writer (`Forward`).
    pub direction: Direction,
}

/// Checks `candidate` against `previous` (oldest first) at `level`, with Confluent's semantics.
///
/// `BACKWARD` compares with the latest previous version as writer and the candidate as reader;
/// `FORWARD` swaps the roles; `FULL` does both. The `*_TRANSITIVE` levels compare with every
/// previous version. `NONE`, or an empty `previous`, is always compatible. Returns the
/// incompatible differences, ordered by `against` then direction; empty means compatible.
///
/// # Errors
///
/// [`SchemaCompatError::TooComplex`] when a comparison reaches the bounds of [`differences`].
pub fn check(
    candidate: &Value,
    previous: &[Value],
    level: CompatibilityLevel,
) -> crate::Result<Vec<Incompatibility>> {
    let Some(latest) = previous.len().checked_sub(1) else {
        return Ok(Vec::new());
    };
    let first = if level.is_transitive() { 0 } else { latest };
    let mut found = Vec::new();
    for (against, old) in previous.iter().enumerate().skip(first) {
        for &direction in level.directions() {
            let (writer, reader) = match direction {
                Direction::Backward => (old, candidate),
                Direction::Forward => (candidate, old),
            };
            for difference in differences(writer, reader)? {
                if difference.kind.is_compatible() {
                    continue;
                }
                let who = match direction {
                    Direction::Backward => {
                        "The new schema cannot read data written with the earlier schema"
                    }
                    Direction::Forward => {
                        "The earlier schema cannot read data written with the new schema"
                    }
                };
                let message = format!(
                    "{who}: at {} ({}), {}",
                    difference.pointer,
                    difference.kind,
                    lowercase_first(difference.kind.description()),
                );
                found.push(Incompatibility {
                    kind: difference.kind,
                    pointer: difference.pointer,
                    message,
                    against,
                    direction,
                });
            }
        }
    }
    Ok(found)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
}
