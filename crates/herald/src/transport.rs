//! Opening a transport from a URL: the embedded log, RabbitMQ or NATS JetStream.

use std::path::PathBuf;
use std::sync::Arc;

use herald_db::Database;
use herald_log::{SqlLog, SqlLogConfig};
use herald_transport::{Pattern, Publisher, Subscriber};

use crate::{Error, Result};

/// An open transport: both sides of one broker.
#[derive(Clone)]
pub struct Transport {
    /// The publishing side (the relay's, and replays').
    pub publisher: Arc<dyn Publisher>,
    /// The subscribing side (consumers').
    pub subscriber: Arc<dyn Subscriber>,
    #[cfg(feature = "rabbitmq")]
    rabbit: Option<Arc<herald_rabbitmq::RabbitMq>>,
    #[cfg(feature = "nats")]
    nats: Option<Arc<herald_nats::JetStream>>,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub name: &'static str,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("name", &self.name).finish_non_exhaustive()
    }
}

/// TLS settings of the broker connection beyond what its URL says: a CA file to trust
/// besides the system's roots, and a client certificate for mutual TLS. Only NATS takes
/// them (`nats://…`, `tls://…`; either setting makes TLS required): the AMQP client has no
/// TLS, and the embedded log no connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerTls {
    /// A PEM file of CA certificates to trust besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain and its private key (PEM files), for a server that
    /// verifies its clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl BrokerTls {
    /// Whether nothing is set (the URL alone decides).
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.client_cert.is_none()
    }
}

/// The embedded log's name.
const EMBEDDED: &str = "embedded log";

/// What the broker URLs of this build may look like, for error messages.
const EXPECTED: &str = "is neither `amqp://…` or `amqps://…` (RabbitMQ) nor `nats://…` or \
     `tls://…` (NATS JetStream)";

impl Transport {
    /// Checks a broker URL's scheme and a namespace, without connecting. `None` (or an
    /// empty URL) is the embedded log.
    pub fn check(url: Option<&str>, namespace: &str) -> Result<()> {
        check_namespace(namespace)?;
        match url.filter(|url| !url.is_empty()) {
            None => Ok(()),
            Some(url) if is_amqp(url) => available(url, cfg!(feature = "rabbitmq"), "rabbitmq"),
            Some(url) if is_nats(url) => available(url, cfg!(feature = "nats"), "nats"),
            Some(url) => Err(invalid(url, EXPECTED)),
        }
    }

    /// Checks TLS settings for the broker at `url` without connecting: NATS takes a CA
    /// file and a client certificate, whose files must hold certificates (and a key)
    /// that can be used; RabbitMQ over `amqps://` takes a CA file.
    pub fn check_tls(url: Option<&str>, tls: &BrokerTls) -> Result<()> {
        if tls.is_empty() {
            return Ok(());
        }
        let broker = match url.filter(|url| !url.is_empty()) {
            None => "the embedded log, which has no connection",
            Some(url) if url.starts_with("amqps://") && tls.client_cert.is_some() => {
                "RabbitMQ, whose client certificates Herald does not present yet"
            }
            Some(url) if url.starts_with("amqps://") => return check_ca_file(tls),
            #[cfg(feature = "nats")]
            Some(url) if is_nats(url) => {
                let config = nats_config(url, "herald", tls);
                return config.check_tls().map_err(|error| Error::BrokerTls(error.to_string()));
            }
            Some(url) if is_nats(url) => return Transport::check(Some(url), "herald"),
            Some(_) => "`amqp://…`, in clear (give `amqps://…` for TLS)",
        };
        Err(Error::BrokerTls(format!(
            "a CA file is for a TLS broker (`amqps://…`, `nats://…`, `tls://…`), a client \
             certificate for NATS; the broker is {broker}"
        )))
    }

    /// Opens the transport a URL names: `amqp://…` is RabbitMQ, `nats://…` or `tls://…`
    /// NATS JetStream, none the embedded log in `db` with `partitions` partitions. Broker
    /// names start with `namespace` (exchange `<namespace>.events`, queues
    /// `<namespace>.<group>`, stream `<NAMESPACE>_EVENTS`), so several installations can
    /// share one broker. Nothing connects until the first publish or subscribe.
    pub fn open(
        url: Option<&str>,
        namespace: &str,
        db: &Database,
        partitions: u32,
    ) -> Result<Transport> {
        Transport::open_with_tls(url, namespace, db, partitions, &BrokerTls::default())
    }

    /// Like [`Transport::open`], with TLS settings for the broker connection, checked
    /// first ([`Transport::check_tls`]).
    pub fn open_with_tls(
        url: Option<&str>,
        namespace: &str,
        db: &Database,
        partitions: u32,
        tls: &BrokerTls,
    ) -> Result<Transport> {
        Transport::check(url, namespace)?;
        Transport::check_tls(url, tls)?;
        match url.filter(|url| !url.is_empty()) {
            None => Ok(Transport::embedded(db, partitions)),
            #[cfg(feature = "rabbitmq")]
            Some(url) if is_amqp(url) => Ok(Transport::rabbit_mq(url, namespace, tls)),
            #[cfg(feature = "nats")]
            Some(url) if is_nats(url) => Ok(Transport::nats_jet_stream(url, namespace, tls)),
            Some(url) => Err(invalid(url, EXPECTED)),
        }
    }

    /// The embedded log in `db`.
    pub fn embedded(db: &Database, partitions: u32) -> Transport {
        let log = Arc::new(SqlLog::new(
            db.clone(),
            SqlLogConfig { partitions, ..SqlLogConfig::default() },
        ));
        Transport {
            publisher: log.clone(),
            subscriber: log,
            #[cfg(feature = "rabbitmq")]
            rabbit: None,
            #[cfg(feature = "nats")]
            nats: None,
            name: EMBEDDED,
        }
    }

    #[cfg(feature = "rabbitmq")]
    fn rabbit_mq(url: &str, namespace: &str, tls: &BrokerTls) -> Transport {
        let mut config = herald_rabbitmq::RabbitMqConfig::new(url);
        config.exchange = format!("{namespace}.events");
        config.queue_prefix = namespace.to_owned();
        config.tls_ca_file = tls.ca_file.clone();
        let rabbit = Arc::new(herald_rabbitmq::RabbitMq::new(config));
        Transport {
            publisher: rabbit.clone(),
            subscriber: rabbit.clone(),
            rabbit: Some(rabbit),
            #[cfg(feature = "nats")]
            nats: None,
            name: "RabbitMQ",
        }
    }

    #[cfg(feature = "nats")]
    fn nats_jet_stream(url: &str, namespace: &str, tls: &BrokerTls) -> Transport {
        let nats = Arc::new(herald_nats::JetStream::new(nats_config(url, namespace, tls)));
        Transport {
            publisher: nats.clone(),
            subscriber: nats.clone(),
            #[cfg(feature = "rabbitmq")]
            rabbit: None,
            nats: Some(nats),
            name: "NATS JetStream",
        }
    }

    /// Whether this is the embedded log (no broker).
    pub fn is_embedded(&self) -> bool {
        self.name == EMBEDDED
    }

    /// The RabbitMQ transport, if this is one.
    #[cfg(feature = "rabbitmq")]
    pub fn as_rabbit_mq(&self) -> Option<&Arc<herald_rabbitmq::RabbitMq>> {
        self.rabbit.as_ref()
    }

    /// The NATS JetStream transport, if this is one.
    #[cfg(feature = "nats")]
    pub fn as_nats(&self) -> Option<&Arc<herald_nats::JetStream>> {
        self.nats.as_ref()
    }

    /// Declares a consumer group's topology ahead of its consumer (RabbitMQ: its queue
    /// and bindings, so that nothing published before the consumer starts is unrouted).
    /// The other transports keep every event without it.
    pub async fn declare_group(&self, group: &str, patterns: &[Pattern]) -> Result<()> {
        #[cfg(feature = "rabbitmq")]
        if let Some(rabbit) = &self.rabbit {
            let spec = herald_transport::SubscriptionSpec {
                group: group.into(),
                member: "declare".into(),
                patterns: patterns.to_vec(),
            };
            rabbit.declare_group(&spec).await?;
        }
        let _ = (group, patterns);
        Ok(())
    }

    /// Deletes what the namespace holds on the broker: the queues of `groups` and the
    /// exchange (RabbitMQ) or the stream (NATS). For tests and teardown.
    pub async fn delete_topology(&self, groups: &[&str]) -> Result<()> {
        #[cfg(feature = "rabbitmq")]
        if let Some(rabbit) = &self.rabbit {
            rabbit.delete_topology(groups).await?;
        }
        #[cfg(feature = "nats")]
        if let Some(nats) = &self.nats {
            nats.delete_stream().await?;
        }
        let _ = groups;
        Ok(())
    }
}

/// The NATS settings of a URL, a namespace and TLS settings.
#[cfg(feature = "nats")]
fn nats_config(url: &str, namespace: &str, tls: &BrokerTls) -> herald_nats::NatsConfig {
    let mut config = herald_nats::NatsConfig::new(url);
    config.stream = format!("{}_EVENTS", namespace.to_ascii_uppercase().replace('-', "_"));
    config.subject_prefix = namespace.to_owned();
    config.tls_ca_file = tls.ca_file.clone();
    config.tls_client_cert = tls.client_cert.clone();
    config
}

/// A CA file that can be read and holds a PEM certificate.
fn check_ca_file(tls: &BrokerTls) -> Result<()> {
    let Some(path) = &tls.ca_file else { return Ok(()) };
    let text = std::fs::read_to_string(path)
        .map_err(|error| Error::BrokerTls(format!("cannot read `{}`: {error}", path.display())))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::BrokerTls(format!(
            "`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        )));
    }
    Ok(())
}

fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

fn is_nats(url: &str) -> bool {
    url.starts_with("nats://") || url.starts_with("tls://")
}

fn available(url: &str, built_in: bool, feature: &str) -> Result<()> {
    if built_in {
        return Ok(());
    }
    Err(invalid(url, &format!("needs the `{feature}` feature of the `herald` crate")))
}

fn invalid(url: &str, reason: &str) -> Error {
    Error::InvalidBrokerUrl { url: redact(url), reason: reason.to_owned() }
}

/// Checks that a namespace can be part of broker names: 1 to 48 characters of `a-z`,
/// `0-9` and `-`, starting with a letter.
pub fn check_namespace(namespace: &str) -> Result<()> {
    let valid = namespace.len() <= 48
        && namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && namespace.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid { Ok(()) } else { Err(Error::InvalidNamespace(namespace.to_owned())) }
}

/// A URL without its user info's secret, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_url_of_no_known_scheme_is_refused_without_its_password() {
        let error = Transport::check(Some("kafka://user:secret@localhost:9092"), "herald")
            .expect_err("kafka is not a transport yet");
        let message = error.to_string();
        assert!(message.contains("`kafka://***@localhost:9092` is neither"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn amqps_is_a_rabbitmq_url() {
        assert!(Transport::check(Some("amqps://guest:guest@broker:5671/%2f"), "herald").is_ok());
    }

    #[test]
    fn tls_settings_need_a_tls_broker_and_their_files_are_read_first() {
        let tls = BrokerTls { ca_file: Some("/nonexistent/ca.pem".into()), client_cert: None };
        assert!(Transport::check_tls(Some("amqp://localhost"), &BrokerTls::default()).is_ok());
        for url in [None, Some("amqp://guest:guest@localhost:5672/%2f")] {
            let error = Transport::check_tls(url, &tls).expect_err("no TLS broker").to_string();
            assert!(error.contains("is for a TLS broker"), "{error}");
        }
        let amqps = Transport::check_tls(Some("amqps://localhost:5671/%2f"), &tls);
        let error = amqps.expect_err("a missing CA file").to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        let client = BrokerTls { ca_file: None, client_cert: Some(("c".into(), "k".into())) };
        let error = Transport::check_tls(Some("amqps://localhost:5671/%2f"), &client)
            .expect_err("no AMQP client certificates")
            .to_string();
        assert!(error.contains("client certificates"), "{error}");
        if cfg!(feature = "nats") {
            let error = Transport::check_tls(Some("tls://localhost:4222"), &tls)
                .expect_err("a missing CA file")
                .to_string();
            assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        }
    }

    #[test]
    fn namespaces_must_fit_broker_names() {
        assert!(check_namespace("herald-2").is_ok());
        for bad in ["", "Nope!", "2fast", &"a".repeat(49)] {
            let error = check_namespace(bad).expect_err(bad).to_string();
            assert!(error.contains("expected 1 to 48 characters"), "{error}");
        }
    }
}
