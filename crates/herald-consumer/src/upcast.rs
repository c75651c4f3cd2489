//! Upcasters: lift an event stored in an old version to the version a handler takes.
//!
//! Each upcaster takes one `(type, version)` to the next; the router chains them
//! (v1 → v2 → v3) until it reaches a version with a handler. The envelope keeps its id,
//! source, time and partition key; its type, version and data become the target's.

use std::collections::HashMap;
use std::fmt::Write as _;

use herald_envelope::{Data, Envelope, Event};
use serde_json::value::RawValue;

/// The longest chain followed: more steps mean a cycle among the upcasters.
const LONGEST_CHAIN: usize = 64;

type Transform = dyn Fn(&str) -> Result<Box<RawValue>, String> + Send + Sync;

/// One step from a type and version to the next.
pub(crate) struct Upcaster {
    to_type: String,
    to_version: u32,
    transform: Box<Transform>,
}

impl Upcaster {
    /// A step from `From` to `To` by a typed function.
    pub(crate) fn typed<From, To, F>(lift: F) -> Upcaster
    where
        From: Event,
        To: Event,
        F: Fn(From) -> To + Send + Sync + 'static,
    {
        let transform = move |data: &str| {
            let old: From = serde_json::from_str(data).map_err(|error| {
                format!("the data does not decode as version {}: {error}", From::VERSION)
            })?;
            serde_json::value::to_raw_value(&lift(old))
                .map_err(|error| format!("the upcast data cannot be serialized: {error}"))
        };
        Upcaster {
            to_type: To::TYPE.to_owned(),
            to_version: To::VERSION,
            transform: Box::new(transform),
        }
    }

    /// A step that rewrites the JSON data.
    pub(crate) fn json<F>(to_type: &str, to_version: u32, lift: F) -> Upcaster
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        let transform = move |data: &str| {
            let old = serde_json::from_str(data)
                .map_err(|error| format!("the data is not JSON: {error}"))?;
            let new = lift(old)?;
            serde_json::value::to_raw_value(&new)
                .map_err(|error| format!("the upcast data cannot be serialized: {error}"))
        };
        Upcaster { to_type: to_type.to_owned(), to_version, transform: Box::new(transform) }
    }
}

/// Why an event could not be lifted to a handled version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UpcastFailure {
    /// No chain of upcasters leads from the event's version to a handled one.
    NoPath(String),
    /// An upcaster failed on the event's data.
    Failed(String),
}

/// Upcasters by the type and version they start from.
#[derive(Default)]
pub(crate) struct Upcasters {
    steps: HashMap<(String, u32), Upcaster>,
}

impl Upcasters {
    pub(crate) fn insert(&mut self, from_type: &str, from_version: u32, step: Upcaster) {
        self.steps.insert((from_type.to_owned(), from_version), step);
    }

    pub(crate) fn starts_at(&self, event_type: &str, version: u32) -> bool {
        self.steps.contains_key(&(event_type.to_owned(), version))
    }

    /// Lifts `envelope` step by step until `handled` accepts its type and version. `None`
    /// when no upcaster starts at the event's version.
    pub(crate) fn lift(
        &self,
        envelope: &Envelope,
        handled: impl Fn(&str, u32) -> bool,
    ) -> Option<Result<Envelope, UpcastFailure>> {
        let mut step = self.steps.get(&(envelope.event_type.clone(), envelope.schema_version))?;
        let mut lifted = envelope.clone();
        let mut path = format!("`{}` v{}", envelope.event_type, envelope.schema_version);
        for _ in 0..LONGEST_CHAIN {
            let data = match &lifted.data {
                Some(Data::Json(raw)) => raw.get().to_owned(),
                Some(Data::Binary(_)) => {
                    return Some(Err(UpcastFailure::Failed(format!(
                        "upcasting {path} failed: the data is binary, upcasters take JSON"
                    ))));
                }
                None => "null".to_owned(),
            };
            let _ = write!(path, " → `{}` v{}", step.to_type, step.to_version);
            let new_data = match (step.transform)(&data) {
                Ok(new_data) => new_data,
                Err(reason) => {
                    return Some(Err(UpcastFailure::Failed(format!(
                        "upcasting {path} failed: {reason}"
                    ))));
                }
            };
            lifted.event_type.clone_from(&step.to_type);
            lifted.schema_version = step.to_version;
            lifted.data = Some(Data::Json(new_data));
            lifted.dataschema = None;
            if handled(&lifted.event_type, lifted.schema_version) {
                return Some(Ok(lifted));
            }
            match self.steps.get(&(lifted.event_type.clone(), lifted.schema_version)) {
                Some(next) => step = next,
                None => {
                    return Some(Err(UpcastFailure::NoPath(format!(
                        "upcast {path}, but no handler takes `{}` v{} and no upcaster starts there",
                        lifted.event_type, lifted.schema_version
                    ))));
                }
            }
        }
        Some(Err(UpcastFailure::NoPath(format!(
            "the upcasters from `{}` v{} form a cycle or a chain longer than {LONGEST_CHAIN}",
            envelope.event_type, envelope.schema_version
        ))))
    }
}
