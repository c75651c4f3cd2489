//! The binary's telemetry: logs on standard error and, when configured, spans over OTLP.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP endpoint is not an `http://` URL.
    #[error("otlp_endpoint: `{0}` is not an http:// URL, e.g. http://127.0.0.1:4318")]
    Endpoint(String),
    /// The OTLP endpoint asks for TLS, which the exporter does not speak.
    #[error(
        "otlp_endpoint: `{0}` needs TLS, which Herald's exporter does not speak yet; \
         send to a collector over http:// (e.g. an OpenTelemetry Collector beside Herald)"
    )]
    Tls(String),
    /// The exporter could not be built.
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(String),
    /// A global subscriber was installed already.
    #[error("cannot install the log and trace subscriber: {0}")]
    Install(String),
}

/// Installed telemetry. Dropping it exports the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber: logs to standard error filtered by `HERALD_LOG`
    /// (default `warn`), and, with an `otlp_endpoint`, spans filtered by `HERALD_TRACE`
    /// (default `info`) exported in batches over OTLP/HTTP as `service_name`.
    ///
    /// The endpoint is the collector's base URL (`http://host:4318`), to which
    /// `/v1/traces` is added, or the full URL of its traces path. Call this before
    /// starting an async runtime: the exporter's HTTP client is a blocking one.
    pub fn install(
        otlp_endpoint: Option<&str>,
        service_name: &str,
    ) -> Result<Telemetry, TelemetryError> {
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(env_filter("HERALD_LOG", "warn"));
        let Some(endpoint) = otlp_endpoint else {
            tracing_subscriber::registry()
                .with(logs)
                .try_init()
                .map_err(|error| TelemetryError::Install(error.to_string()))?;
            return Ok(Telemetry { provider: None });
        };
        let provider = otlp_provider(endpoint, service_name)?;
        let spans = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("herald"))
            .with_filter(env_filter("HERALD_TRACE", "info"));
        tracing_subscriber::registry()
            .with(logs)
            .with(spans)
            .try_init()
            .map_err(|error| TelemetryError::Install(error.to_string()))?;
        Ok(Telemetry { provider: Some(provider) })
    }

    /// Whether spans are exported.
    pub fn exports(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: the last spans could not be exported: {error}");
        }
    }
}

fn env_filter(variable: &str, default: &str) -> EnvFilter {
    EnvFilter::try_from_env(variable).unwrap_or_else(|_| EnvFilter::new(default))
}

/// A tracer provider exporting batches to `endpoint` over OTLP/HTTP (protobuf).
fn otlp_provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let url = traces_url(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
    let resource = Resource::builder().with_service_name(service_name.to_owned()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// Checks an OTLP endpoint the way [`Telemetry::install`] will read it.
pub fn check_endpoint(endpoint: &str) -> Result<(), TelemetryError> {
    traces_url(endpoint).map(drop)
}

/// The URL of the collector's traces path.
pub(crate) fn traces_url(endpoint: &str) -> Result<String, TelemetryError> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("https://") {
        return Err(TelemetryError::Tls(redact(endpoint)));
    }
    let host = endpoint.strip_prefix("http://").unwrap_or_default();
    if host.is_empty() || host.starts_with('/') {
        return Err(TelemetryError::Endpoint(redact(endpoint)));
    }
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") { Ok(base.to_owned()) } else { Ok(format!("{base}/v1/traces")) }
}

/// An endpoint for messages: any credentials in it replaced by `***`.
pub fn redact(endpoint: &str) -> String {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_a_base_url_once() {
        for (given, expected) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("http://otel.example/v1/traces", "http://otel.example/v1/traces"),
        ] {
            assert_eq!(traces_url(given).unwrap(), expected);
        }
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_refused_by_name() {
        for bad in ["127.0.0.1:4318", "grpc://collector:4317", "http://", ""] {
            let error = traces_url(bad).unwrap_err().to_string();
            assert!(error.starts_with("otlp_endpoint:"), "{error}");
        }
        let error = traces_url("https://user:secret@otel.example").unwrap_err().to_string();
        assert!(error.contains("needs TLS") && error.contains("https://***@otel.example"));
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn credentials_in_an_endpoint_are_redacted() {
        assert_eq!(
            redact("http://u:p@collector:4318/v1/traces"),
            "http://***@collector:4318/v1/traces"
        );
        assert_eq!(redact("http://collector:4318/a@b"), "http://collector:4318/a@b");
        assert_eq!(redact("collector"), "collector");
    }
}
