//! Where a producer's schemas come from: a registry over HTTP, or the registry's tables.

use async_trait::async_trait;
use herald_registry::{RegisteredSchema, RegistryError, SchemaStore, VersionRef};

use crate::client::{ClientError, RegistryClient};

/// A registry, remote or in the producer's own database.
#[async_trait]
pub trait SchemaSource: Send + Sync + 'static {
    /// Registers `schema` (JSON Schema text) under `subject`, checked at the subject's
    /// compatibility level; the same schema again returns its existing version.
    async fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError>;

    /// The version of `subject` that holds `schema`.
    async fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError>;

    /// A version of `subject`, or its latest for `None`.
    async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<RegisteredSchema, ClientError>;

    /// The URI of a version, for the envelope's `dataschema`:
    /// `<registry>/subjects/<subject>/versions/<version>`.
    fn schema_uri(&self, subject: &str, version: i32) -> String;
}

#[async_trait]
impl SchemaSource for RegistryClient {
    async fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError> {
        RegistryClient::register(self, subject, "JSON", schema).await
    }

    async fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError> {
        RegistryClient::lookup(self, subject, "JSON", schema).await
    }

    async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<RegisteredSchema, ClientError> {
        RegistryClient::version(self, subject, version).await
    }

    fn schema_uri(&self, subject: &str, version: i32) -> String {
        format!("{}/subjects/{subject}/versions/{version}", self.base_url())
    }
}

/// The registry's tables in the producer's database, named by the URL the registry
/// serves them at (for `dataschema`).
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    store: SchemaStore,
    public_url: String,
}

impl LocalRegistry {
    /// The registry of `store`, published at `public_url` (where `herald registry` serves
    /// the same database, e.g. `http://127.0.0.1:8081`).
    pub fn new(store: SchemaStore, public_url: &str) -> LocalRegistry {
        LocalRegistry { store, public_url: public_url.trim_end_matches('/').to_owned() }
    }
}

fn refused(error: &RegistryError) -> ClientError {
    ClientError::Refused {
        status: error.http_status(),
        error_code: error.error_code(),
        message: error.to_string(),
    }
}

#[async_trait]
impl SchemaSource for LocalRegistry {
    async fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError> {
        self.store.register_checked(subject, "JSON", schema).await.map_err(|error| refused(&error))
    }

    async fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, ClientError> {
        self.store.lookup(subject, "JSON", schema).await.map_err(|error| refused(&error))
    }

    async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<RegisteredSchema, ClientError> {
        let version = version.map_or(VersionRef::Latest, VersionRef::Number);
        self.store.version(subject, version).await.map_err(|error| refused(&error))
    }

    fn schema_uri(&self, subject: &str, version: i32) -> String {
        format!("{}/subjects/{subject}/versions/{version}", self.public_url)
    }
}
