//! The options of every command that serves HTTP (`up`, `registry`, `ingest`, `notify`,
//! `push`): TLS, which hosts it answers to and its limits, applied through
//! [`herald_http::hardening`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_http::hardening::{self, AllowedHosts, Limits};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How a command's HTTP listener protects itself.
#[derive(Clone, Debug, clap::Args)]
pub struct HttpArgs {
    /// A host name (or address) the API answers to besides loopback's; repeat it or
    /// separate by commas. On loopback only loopback names are answered by default (no DNS
    /// rebinding); on another address any host is, unless hosts are listed.
    #[arg(long = "allowed-host", env = "HERALD_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Seconds a request may take before it is answered 408 (its transaction rolled back).
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Requests served at once; beyond, 503 with Retry-After (load is shed, not queued).
    #[arg(long, env = "HERALD_MAX_CONCURRENT_REQUESTS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_concurrent_requests: u64,
    /// Largest request body in bytes (ingest's batches included); larger gets 413.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_body_bytes: u64,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
    #[arg(long, env = "HERALD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "HERALD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl HttpArgs {
    /// The limits these options set.
    pub fn limits(&self) -> Limits {
        Limits {
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_concurrent_requests: usize::try_from(self.max_concurrent_requests)
                .unwrap_or(usize::MAX),
            max_body_bytes: self.max_body_bytes_usize(),
        }
    }

    /// `--max-body-bytes` as a size.
    pub fn max_body_bytes_usize(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }

    /// The TLS configuration, when --tls-cert and --tls-key are given; the error names
    /// the file and what is wrong with it.
    pub fn tls(&self) -> anyhow::Result<Option<Arc<ServerConfig>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .with_context(|| {
                format!("--tls-cert `{}`: not a PEM certificate chain", cert.display())
            })?;
        if chain.is_empty() {
            anyhow::bail!("--tls-cert `{}`: no certificate in the file", cert.display());
        }
        let key_der = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("--tls-key `{}`: not a PEM private key", key.display()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .context("--tls-cert and --tls-key do not make a certificate and its key")?;
        Ok(Some(Arc::new(config)))
    }

    /// Serves `app` on `listener` (over TLS when configured) until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        app: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        match self.tls()? {
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await?,
            Some(config) => serve_tls(listener, app, TlsAcceptor::from(config), shutdown).await,
        }
        Ok(())
    }

    /// `http` or `https`, as this listener serves.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() { "https" } else { "http" }
    }

    /// `router`, answering only to the allowed hosts and within the limits, for a server
    /// listening on `listen`.
    pub fn harden(&self, router: axum::Router, listen: SocketAddr) -> axum::Router {
        let hosts = AllowedHosts::for_listener(listen, &self.allowed_hosts);
        hardening::harden(router, &self.limits(), hosts)
    }
}

/// Accepts TLS connections and serves each with HTTP/1.1 until `shutdown`; connections
/// open at that moment finish their requests on their own.
async fn serve_tls(
    listener: TcpListener,
    app: axum::Router,
    acceptor: TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue, // the client went away during the accept
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A failed handshake (a plain-HTTP client, a bad certificate) ends only it.
            let Ok(stream) = acceptor.accept(stream).await else { return };
            let service = TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
