//! The producer's catalog: schemas per event type, cached, and payloads checked before
//! they reach the outbox.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use herald_envelope::{Data, Envelope, Event};
use herald_registry::RegisteredSchema;

use crate::client::ClientError;
use crate::source::SchemaSource;
use crate::validate::CompiledSchema;
use crate::{Result, SchemaError};

/// How long the latest version of a subject is trusted before the registry is asked again
/// (an unreachable registry leaves the cached one in use).
const DEFAULT_LATEST_TTL: Duration = Duration::from_secs(30);

/// The subject of an event type's major version: `<type>.v<version>`.
///
/// Compatible changes are new versions of the subject; a breaking change is a new major
/// version of the event, hence a new subject (and an upcaster for consumers).
pub fn subject_for(event_type: &str, version: u32) -> String {
    format!("{event_type}.v{version}")
}

/// What a producer does with its event types' schemas on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Registers the type's schema (idempotent; refused when it breaks the subject's
    /// compatibility level): Confluent's `auto.register.schemas=true`.
    #[default]
    Register,
    /// Only looks it up: the schema must have been registered before, e.g. by
    /// `herald schema register` in the service's CI.
    LookUp,
}

type TypedKey = (&'static str, u32);

/// Schemas by event type and by subject version, compiled and cached.
pub struct Schemas {
    source: Arc<dyn SchemaSource>,
    registration: Registration,
    latest_ttl: Duration,
    typed: RwLock<HashMap<TypedKey, Arc<CompiledSchema>>>,
    versions: RwLock<HashMap<(String, i32), Arc<CompiledSchema>>>,
    latest: RwLock<HashMap<String, (Arc<CompiledSchema>, Instant)>>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas").field("registration", &self.registration).finish_non_exhaustive()
    }
}

impl Schemas {
    /// A catalog over `source`.
    pub fn new(source: impl SchemaSource, registration: Registration) -> Schemas {
        Schemas {
            source: Arc::new(source),
            registration,
            latest_ttl: DEFAULT_LATEST_TTL,
            typed: RwLock::default(),
            versions: RwLock::default(),
            latest: RwLock::default(),
        }
    }

    /// Trusts a subject's latest version for `ttl` before asking again (default 30 s).
    #[must_use]
    pub fn with_latest_ttl(mut self, ttl: Duration) -> Schemas {
        self.latest_ttl = ttl;
        self
    }

    /// The compiled schema of `E`, registered or looked up on first use (call it at start
    /// to find a missing or breaking schema before the first event).
    pub async fn prepare<E: Event>(&self) -> Result<Arc<CompiledSchema>> {
        let key = (E::TYPE, E::VERSION);
        if let Some(found) = read(&self.typed).get(&key) {
            return Ok(Arc::clone(found));
        }
        let subject = subject_for(E::TYPE, E::VERSION);
        let schema = serde_json::to_string(&<E as Event>::json_schema())?;
        let registered = match self.registration {
            Registration::Register => self.source.register(&subject, &schema).await,
            Registration::LookUp => self.source.lookup(&subject, &schema).await,
        }
        .map_err(|error| failure(&subject, error))?;
        let compiled = self.remember(&registered)?;
        write(&self.typed).insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// The envelope of `event` from `source`, its payload checked against the registered
    /// schema of its type and its `dataschema` set to that schema's registry version.
    pub async fn envelope<E: Event>(&self, source: &str, event: &E) -> Result<Envelope> {
        let compiled = self.prepare::<E>().await?;
        let payload = serde_json::to_value(event)?;
        compiled.validate(E::TYPE, E::VERSION, &payload)?;
        let mut envelope = Envelope::from_event(source, event)?;
        envelope.dataschema = Some(compiled.uri.clone());
        Ok(envelope)
    }

    /// Checks an envelope built elsewhere (HTTP ingest, another language) against the
    /// version its `dataschema` names, or else the latest of its subject, and sets
    /// `dataschema` to the version it was checked against.
    pub async fn validate(&self, envelope: &mut Envelope) -> Result<Arc<CompiledSchema>> {
        let subject = subject_for(&envelope.event_type, envelope.schema_version);
        let version = match &envelope.dataschema {
            Some(uri) => Some(self.version_of_uri(&subject, uri)?),
            None => None,
        };
        let compiled = self.version(&subject, version).await?;
        let payload = match &envelope.data {
            Some(Data::Json(raw)) => serde_json::from_str(raw.get())?,
            Some(Data::Binary(_)) => {
                return Err(SchemaError::NotJson {
                    event_type: envelope.event_type.clone(),
                    subject,
                    what: "binary data".into(),
                });
            }
            None => serde_json::Value::Null,
        };
        compiled.validate(&envelope.event_type, envelope.schema_version, &payload)?;
        envelope.dataschema = Some(compiled.uri.clone());
        Ok(compiled)
    }

    /// A version of `subject` (`None`: the latest), from the cache or the registry.
    pub async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<Arc<CompiledSchema>> {
        match version {
            Some(number) => {
                let key = (subject.to_owned(), number);
                if let Some(found) = read(&self.versions).get(&key) {
                    return Ok(Arc::clone(found));
                }
                let registered = self
                    .source
                    .version(subject, Some(number))
                    .await
                    .map_err(|error| failure(subject, error))?;
                self.remember(&registered)
            }
            None => self.latest(subject).await,
        }
    }

    async fn latest(&self, subject: &str) -> Result<Arc<CompiledSchema>> {
        let cached = read(&self.latest).get(subject).cloned();
        if let Some((compiled, fetched)) = &cached
            && fetched.elapsed() < self.latest_ttl
        {
            return Ok(Arc::clone(compiled));
        }
        match self.source.version(subject, None).await {
            Ok(registered) => {
                let compiled = self.remember(&registered)?;
                write(&self.latest)
                    .insert(subject.to_owned(), (Arc::clone(&compiled), Instant::now()));
                Ok(compiled)
            }
            Err(error) => match (failure(subject, error), cached) {
                (SchemaError::RegistryUnavailable { source, .. }, Some((compiled, _))) => {
                    tracing::warn!(%subject, error = %source, "The schema registry cannot be asked; the cached latest version stays in use.");
                    Ok(compiled)
                }
                (error, _) => Err(error),
            },
        }
    }

    fn remember(&self, registered: &RegisteredSchema) -> Result<Arc<CompiledSchema>> {
        let key = (registered.subject.clone(), registered.version);
        if let Some(found) = read(&self.versions).get(&key) {
            return Ok(Arc::clone(found));
        }
        let uri = self.source.schema_uri(&registered.subject, registered.version);
        let compiled = CompiledSchema::compile(registered, uri).map_err(|reason| {
            SchemaError::Uncompilable {
                subject: registered.subject.clone(),
                version: registered.version,
                reason,
            }
        })?;
        let compiled = Arc::new(compiled);
        write(&self.versions).insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn version_of_uri(&self, subject: &str, uri: &str) -> Result<i32> {
        let number = uri
            .rsplit_once('/')
            .and_then(|(_, last)| last.parse::<i32>().ok())
            .filter(|number| *number >= 1 && self.source.schema_uri(subject, *number) == uri);
        number.ok_or_else(|| SchemaError::ForeignDataschema {
            uri: uri.to_owned(),
            subject: subject.to_owned(),
            expected: self.source.schema_uri(subject, 1).replace("/versions/1", "/versions/<n>"),
        })
    }
}

/// Sorts a registry failure: unreachable or failing registries are outages, a 404 is a
/// missing schema, anything else is a refusal.
fn failure(subject: &str, error: ClientError) -> SchemaError {
    let subject = subject.to_owned();
    match error {
        ClientError::Unreachable { .. } | ClientError::Malformed { .. } => {
            SchemaError::RegistryUnavailable { subject, source: error }
        }
        ClientError::Refused { status, .. } if status >= 500 => {
            SchemaError::RegistryUnavailable { subject, source: error }
        }
        ClientError::Refused { status: 404, message, .. } => {
            SchemaError::NotRegistered { subject, detail: message }
        }
        ClientError::Refused { .. } => SchemaError::Refused { subject, source: error },
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
