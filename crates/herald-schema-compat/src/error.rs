//! The error type of this crate.

/// Why a name could not be parsed, or two schemas could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaCompatError {
    /// A compatibility level name is not one of Confluent's.
    #[error(
        "unknown compatibility level {value:?}: expected one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
    )]
    UnknownLevel {
        /// The rejected name.
        value: String,
    },
    /// A difference kind name is not one of Confluent's.
    #[error(
        "unknown difference kind {value:?}: expected an upper snake case name such as TYPE_CHANGED"
    )]
    UnknownDifferenceKind {
        /// The rejected name.
        value: String,
    },
    /// The schemas are too deeply nested or too intricate to compare within the bounds
    /// ([`crate::MAX_DEPTH`], [`crate::MAX_STEPS`]).
    #[error("the schemas are too complex to compare: {limit}")]
    TooComplex {
        /// Which bound was reached.
        limit: &'static str,
    },
}

/// A `Result` whose error defaults to [`SchemaCompatError`].
pub type Result<T, E = SchemaCompatError> = std::result::Result<T, E>;
