//! A client of the Confluent Schema Registry REST API.

use std::time::Duration;

use herald_registry::RegisteredSchema;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;

/// The media type of Confluent's API.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Characters escaped in a subject that becomes a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How a request proves who sends it, the two ways Confluent clients do.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials (reads need none).
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP Basic user info.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
        }
    }
}

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached, or did not answer in time.
    #[error("the schema registry at {url} is unreachable: {reason}")]
    Unreachable {
        /// The registry's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry answered with an error.
    #[error(
        "the schema registry refused the request (HTTP {status}, error code {error_code}): {message}"
    )]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Confluent's `error_code` (40401 unknown subject, 409 incompatible, …).
        error_code: u32,
        /// Confluent's `message`.
        message: String,
    },
    /// The registry's answer is not what the API specifies.
    #[error("the schema registry at {url} answered something unexpected: {reason}")]
    Malformed {
        /// The registry's base URL.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl ClientError {
    /// True when the registry answered that the subject, version or schema does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Refused { status: 404, .. })
    }
}

/// The verdict of a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Compatibility {
    /// True when the schema may be registered.
    pub is_compatible: bool,
    /// One sentence per incompatibility (with `verbose`).
    #[serde(default)]
    pub messages: Vec<String>,
}

/// The Confluent Schema Registry REST API over HTTP.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    credentials: Credentials,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: u32,
    message: String,
}

#[derive(Deserialize)]
struct SchemaBody {
    subject: String,
    version: i32,
    id: i64,
    #[serde(rename = "schemaType", default = "avro_type")]
    schema_type: String,
    schema: String,
}

fn avro_type() -> String {
    "AVRO".to_owned()
}

impl From<SchemaBody> for RegisteredSchema {
    fn from(body: SchemaBody) -> Self {
        RegisteredSchema {
            subject: body.subject,
            version: body.version,
            id: body.id,
            schema_type: body.schema_type,
            schema: body.schema,
        }
    }
}

impl RegistryClient {
    /// A client of the registry at `base_url` (e.g. `http://127.0.0.1:8081`), with a
    /// 10-second timeout per request.
    pub fn new(base_url: &str, credentials: Credentials) -> RegistryClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        RegistryClient { base: base_url.trim_end_matches('/').to_owned(), http, credentials }
    }

    /// The registry's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Registers `schema` under `subject` (checked at the subject's compatibility level)
    /// and returns it with its version and id.
    pub async fn register(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<RegisteredSchema, ClientError> {
        let path = format!("/subjects/{}/versions", segment(subject));
        let body = json!({ "schema": schema, "schemaType": schema_type });
        self.send(reqwest::Method::POST, &path, Some(&body)).await?;
        self.lookup(subject, schema_type, schema).await
    }

    /// The version of `subject` that holds `schema` (`POST /subjects/{subject}`).
    pub async fn lookup(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<RegisteredSchema, ClientError> {
        let path = format!("/subjects/{}", segment(subject));
        let body = json!({ "schema": schema, "schemaType": schema_type });
        let answer = self.send(reqwest::Method::POST, &path, Some(&body)).await?;
        self.parse::<SchemaBody>(&answer).map(Into::into)
    }

    /// A version of `subject`: a number, or `latest` for `None`.
    pub async fn version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<RegisteredSchema, ClientError> {
        let version = version.map_or_else(|| "latest".to_owned(), |number| number.to_string());
        let path = format!("/subjects/{}/versions/{version}", segment(subject));
        let answer = self.send(reqwest::Method::GET, &path, None).await?;
        self.parse::<SchemaBody>(&answer).map(Into::into)
    }

    /// The live version numbers of `subject`.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>, ClientError> {
        let path = format!("/subjects/{}/versions", segment(subject));
        let answer = self.send(reqwest::Method::GET, &path, None).await?;
        self.parse(&answer)
    }

    /// Every subject with a live version.
    pub async fn subjects(&self) -> Result<Vec<String>, ClientError> {
        let answer = self.send(reqwest::Method::GET, "/subjects", None).await?;
        self.parse(&answer)
    }

    /// Whether `schema` is compatible with `version` of `subject` (`None`: latest), at the
    /// subject's level, with one sentence per incompatibility.
    pub async fn check(
        &self,
        subject: &str,
        version: Option<i32>,
        schema_type: &str,
        schema: &str,
    ) -> Result<Compatibility, ClientError> {
        let version = version.map_or_else(|| "latest".to_owned(), |number| number.to_string());
        let path =
            format!("/compatibility/subjects/{}/versions/{version}?verbose=true", segment(subject));
        let body = json!({ "schema": schema, "schemaType": schema_type });
        let answer = self.send(reqwest::Method::POST, &path, Some(&body)).await?;
        self.parse(&answer)
    }

    /// The compatibility level of `subject` (falling back to the global one), or the
    /// global level for `None`.
    pub async fn level(&self, subject: Option<&str>) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Config {
            #[serde(rename = "compatibilityLevel")]
            level: String,
        }
        let path = match subject {
            Some(subject) => format!("/config/{}?defaultToGlobal=true", segment(subject)),
            None => "/config".to_owned(),
        };
        let answer = self.send(reqwest::Method::GET, &path, None).await?;
        self.parse::<Config>(&answer).map(|config| config.level)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some(body) = body {
            request =
                request.header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE).body(body.to_string());
        }
        request = match &self.credentials {
            Credentials::None => request,
            Credentials::Bearer(token) => request.bearer_auth(token),
            Credentials::Basic { user, password } => request.basic_auth(user, Some(password)),
        };
        let unreachable = |error: reqwest::Error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: error.without_url().to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(error) => ClientError::Refused {
                status: status.as_u16(),
                error_code: error.error_code,
                message: error.message,
            },
            Err(_) => ClientError::Refused {
                status: status.as_u16(),
                error_code: u32::from(status.as_u16()),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            },
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|error| ClientError::Malformed {
            url: self.base.clone(),
            reason: error.to_string(),
        })
    }
}

fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}
