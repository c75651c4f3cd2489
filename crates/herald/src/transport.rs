//! Opening a transport from a URL: the embedded log, RabbitMQ or NATS JetStream.

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

/// The embedded log's name.
const EMBEDDED: &str = "embedded log";

/// What the broker URLs of this build may look like, for error messages.
/// Why `amqps://` is refused rather than connected to without TLS.
const AMQPS_UNSUPPORTED: &str = "is `amqps://`, but this build's AMQP client (lapin) has no TLS: \
     use `amqp://` on a trusted network, or a TLS-terminating proxy on loopback";
const EXPECTED: &str = "is neither `amqp://…` (RabbitMQ) nor `nats://…` (NATS JetStream)";

impl Transport {
    /// Checks a broker URL's scheme and a namespace, without connecting. `None` (or an
    /// empty URL) is the embedded log.
    pub fn check(url: Option<&str>, namespace: &str) -> Result<()> {
        check_namespace(namespace)?;
        match url.filter(|url| !url.is_empty()) {
            None => Ok(()),
            Some(url) if url.starts_with("amqps://") => Err(invalid(url, AMQPS_UNSUPPORTED)),
            Some(url) if is_amqp(url) => available(url, cfg!(feature = "rabbitmq"), "rabbitmq"),
            Some(url) if is_nats(url) => available(url, cfg!(feature = "nats"), "nats"),
            Some(url) => Err(invalid(url, EXPECTED)),
        }
    }

    /// Opens the transport a URL names: `amqp://…` is RabbitMQ, `nats://…` NATS
    /// JetStream, none the embedded log in `db` with `partitions` partitions. Broker names
    /// start with `namespace` (exchange `<namespace>.events`, queues `<namespace>.<group>`,
    /// stream `<NAMESPACE>_EVENTS`), so several installations can share one broker.
    /// Nothing connects until the first publish or subscribe.
    pub fn open(
        url: Option<&str>,
        namespace: &str,
        db: &Database,
        partitions: u32,
    ) -> Result<Transport> {
        Transport::check(url, namespace)?;
        match url.filter(|url| !url.is_empty()) {
            None => Ok(Transport::embedded(db, partitions)),
            #[cfg(feature = "rabbitmq")]
            Some(url) if is_amqp(url) => Ok(Transport::rabbit_mq(url, namespace)),
            #[cfg(feature = "nats")]
            Some(url) if is_nats(url) => Ok(Transport::nats_jet_stream(url, namespace)),
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
    fn rabbit_mq(url: &str, namespace: &str) -> Transport {
        let mut config = herald_rabbitmq::RabbitMqConfig::new(url);
        config.exchange = format!("{namespace}.events");
        config.queue_prefix = namespace.to_owned();
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
    fn nats_jet_stream(url: &str, namespace: &str) -> Transport {
        let mut config = herald_nats::NatsConfig::new(url);
        config.stream = format!("{}_EVENTS", namespace.to_ascii_uppercase().replace('-', "_"));
        config.subject_prefix = namespace.to_owned();
        let nats = Arc::new(herald_nats::JetStream::new(config));
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
    fn amqps_is_refused_rather_than_sent_in_clear() {
        let error = Transport::check(Some("amqps://guest:guest@broker:5671/%2f"), "herald")
            .expect_err("lapin is built without TLS");
        let message = error.to_string();
        assert!(message.contains("no TLS") && message.contains("amqp://"), "{message}");
        assert!(!message.contains("guest@"), "the password is not shown: {message}");
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
