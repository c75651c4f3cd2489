//! The JetStream publisher and subscriber.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind, Context, stream};
use async_nats::rustls::pki_types::pem::{Error as PemError, PemObject};
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::rustls::{ClientConfig, RootCertStore};
use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use herald_transport::key_order::{self, Earlier, Failure, KeyChains};
use herald_transport::{
    Delivery, DeliveryTag, Features, Message, PendingConfirms, Publisher, Result, Subscriber,
    Subscription, SubscriptionSpec, TransportError,
};
use tokio::sync::{Mutex, watch};

use crate::subjects::common_filter;

/// Settings of the JetStream transport.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server's URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name.
    pub stream: String,
    /// The first word of every subject: `<prefix>.events.…`, `<prefix>.direct.…`.
    pub subject_prefix: String,
    /// How long the stream keeps events (limits retention).
    pub max_age: Duration,
    /// How long a delivery may stay unacknowledged before JetStream redelivers it.
    pub ack_wait: Duration,
    /// Most deliveries of one message; -1 for no limit (the default: the consumer's own
    /// retry policy dead-letters first, and a crash loop must not drop an event).
    pub max_deliver: i64,
    /// Unacknowledged deliveries a member may hold (the prefetch window).
    pub prefetch: i64,
    /// Longest wait for JetStream's acknowledgement of a publish.
    pub publish_timeout: Duration,
    /// A PEM file of CA certificates to trust besides the system's roots, for a server
    /// whose certificate a private CA signed. Setting it (or
    /// [`NatsConfig::tls_client_cert`]) makes TLS required, whatever the URL's scheme.
    /// Default `None`: `tls://…` URLs, and servers that require TLS, are verified against
    /// the system's roots alone.
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate chain and its private key (PEM files), for a server that
    /// verifies its clients (mutual TLS). Default `None`.
    pub tls_client_cert: Option<(PathBuf, PathBuf)>,
}

impl NatsConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            stream: "HERALD_EVENTS".into(),
            subject_prefix: "herald".into(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
            prefetch: 2048,
            publish_timeout: Duration::from_secs(10),
            tls_ca_file: None,
            tls_client_cert: None,
        }
    }

    /// Reads and checks the TLS files ([`NatsConfig::tls_ca_file`],
    /// [`NatsConfig::tls_client_cert`]) without connecting, so that a bad setting is
    /// reported at start rather than at the first publish.
    pub fn check_tls(&self) -> std::result::Result<(), NatsTlsError> {
        self.tls_client_config().map(|_| ())
    }

    /// The TLS client configuration of the CA file and the client certificate: the
    /// system's roots, the CA file's certificates, and the client certificate if any.
    /// `None` when neither is set (async-nats then verifies against the system's roots).
    fn tls_client_config(&self) -> std::result::Result<Option<ClientConfig>, NatsTlsError> {
        if self.tls_ca_file.is_none() && self.tls_client_cert.is_none() {
            return Ok(None);
        }
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        if !native.errors.is_empty() {
            tracing::debug!(errors = ?native.errors, "Some system root certificates did not load.");
        }
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = &self.tls_ca_file {
            for certificate in certificates(path)? {
                roots.add(certificate).map_err(|error| NatsTlsError::Invalid {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
            }
        }
        let builder = ClientConfig::builder().with_root_certificates(roots);
        let config = match &self.tls_client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates(cert)?;
                let private_key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|error| {
                    NatsTlsError::Invalid { path: key.clone(), reason: error.to_string() }
                })?;
                builder.with_client_auth_cert(chain, private_key).map_err(|error| {
                    NatsTlsError::ClientCert { cert: cert.clone(), reason: error.to_string() }
                })?
            }
        };
        Ok(Some(config))
    }

    fn events_base(&self) -> String {
        format!("{}.events", self.subject_prefix)
    }

    fn event_subject(&self, routing_key: &str) -> String {
        format!("{}.events.{routing_key}", self.subject_prefix)
    }

    fn direct_base(&self, group: &str) -> String {
        format!("{}.direct.{group}", self.subject_prefix)
    }
}

/// A TLS setting of [`NatsConfig`] that cannot be used.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NatsTlsError {
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate file holds no PEM certificate.
    #[error("`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A file holds something that is not a usable certificate or private key.
    #[error("`{}`: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The client certificate and its key do not make a client identity.
    #[error("client certificate `{}` and its key: {reason}", cert.display())]
    ClientCert {
        /// The certificate file.
        cert: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The bytes of a TLS file.
fn read(path: &Path) -> std::result::Result<Vec<u8>, NatsTlsError> {
    std::fs::read(path).map_err(|source| NatsTlsError::Read { path: path.to_owned(), source })
}

/// The certificates of a PEM file; at least one.
fn certificates(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, NatsTlsError> {
    let pem = read(path)?;
    let invalid = |error: PemError| NatsTlsError::Invalid {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if certificates.is_empty() {
        return Err(NatsTlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(certificates)
}

/// The JetStream transport: publisher and subscriber over one configuration.
pub struct JetStream {
    config: NatsConfig,
    context: Mutex<Option<Context>>,
    chains: KeyChains,
    /// Counts the client's disconnections: a publish awaiting its acknowledgement when
    /// the connection is lost fails then, not at the publish timeout.
    disconnections: Arc<watch::Sender<u64>>,
}

fn unavailable(error: impl std::fmt::Display) -> TransportError {
    TransportError::Unavailable(error.to_string())
}

/// The headers of `message`: the deduplication id (the event id, or for a message to
/// one group the event id with a fresh suffix), the event id and the partition key.
fn headers(message: &Message, direct: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let event_id = message.event_id.to_string();
    let dedup_id = match direct {
        false => event_id.clone(),
        true => format!("{event_id}.{}", uuid::Uuid::now_v7().simple()),
    };
    headers.insert("Nats-Msg-Id", dedup_id.as_str());
    headers.insert("Herald-Event-Id", event_id.as_str());
    headers.insert("Herald-Partition-Key", message.partition_key.as_str());
    headers
}

/// Awaits JetStream's acknowledgement of a publish handed to the client, until the
/// timeout or until the connection is lost (`lost` changes): async-nats keeps waiting
/// for the reply across a reconnection, but a publish written into a dead connection
/// never gets one. Failing it at once lets the relay publish it again within moments;
/// if it was stored after all, the stream's deduplication drops the second copy.
async fn acknowledged<E: std::fmt::Display>(
    sent: std::result::Result<jetstream::context::PublishAckFuture, E>,
    timeout: Duration,
    mut lost: watch::Receiver<u64>,
) -> Result<()> {
    let ack = sent.map_err(unavailable)?;
    let disconnected = async move {
        if lost.changed().await.is_err() {
            std::future::pending::<()>().await; // the transport is gone: only the timeout
        }
    };
    tokio::select! {
        acked = tokio::time::timeout(timeout, ack) => match acked {
            Err(_) => Err(TransportError::NotConfirmed("no JetStream ack before the timeout".into())),
            Ok(Err(error)) => Err(TransportError::NotConfirmed(error.to_string())),
            Ok(Ok(_)) => Ok(()),
        },
        () = disconnected => Err(TransportError::Unavailable(
            "the connection to NATS was lost before JetStream acknowledged the publish".into(),
        )),
    }
}

impl JetStream {
    /// The transport for the server of `config`; it connects on first use.
    pub fn new(config: NatsConfig) -> JetStream {
        JetStream {
            config,
            context: Mutex::new(None),
            chains: KeyChains::default(),
            disconnections: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// The JetStream context, connecting and creating the stream on first use.
    async fn context(&self) -> Result<Context> {
        let mut context = self.context.lock().await;
        if let Some(open) = context.as_ref() {
            return Ok(open.clone());
        }
        // Reconnect quickly after a server restart: 100 ms more per attempt, at most 1 s.
        let disconnections = Arc::clone(&self.disconnections);
        let mut options = async_nats::ConnectOptions::new()
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(1000))
            })
            .event_callback(move |event| {
                let disconnections = Arc::clone(&disconnections);
                async move {
                    if matches!(event, async_nats::Event::Disconnected) {
                        disconnections.send_modify(|count| *count += 1);
                    }
                }
            });
        let config = self.config.clone();
        let tls = tokio::task::spawn_blocking(move || config.tls_client_config())
            .await
            .map_err(unavailable)?
            .map_err(|error| TransportError::Refused(format!("NATS TLS settings: {error}")))?;
        if let Some(tls) = tls {
            options = options.require_tls(true).tls_client_config(tls);
        }
        let client = options.connect(&self.config.url).await.map_err(unavailable)?;
        let opened = jetstream::new(client);
        self.ensure_stream(&opened).await?;
        *context = Some(opened.clone());
        Ok(opened)
    }

    /// Creates the stream if it does not exist (idempotent).
    async fn ensure_stream(&self, context: &Context) -> Result<stream::Stream> {
        let prefix = &self.config.subject_prefix;
        context
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![format!("{prefix}.events.>"), format!("{prefix}.direct.>")],
                max_age: self.config.max_age,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..stream::Config::default()
            })
            .await
            .map_err(unavailable)
    }

    /// Deletes the stream and everything in it (for tests and teardown).
    pub async fn delete_stream(&self) -> Result<()> {
        let context = self.context().await?;
        context.delete_stream(&self.config.stream).await.map_err(unavailable)?;
        Ok(())
    }

    /// Publishes to `subjects[i]`, in order; the returned future awaits every
    /// acknowledgement. The deduplication id is the event id, or, for a message to one
    /// group (a replay of an event the stream already holds), the event id with a fresh
    /// suffix. A message whose partition key has an earlier publish still unacknowledged
    /// goes out only once that one is acknowledged, and not at all if it failed, until
    /// the failed event goes out again ([`KeyChains`]).
    async fn hand_over(
        &self,
        messages: &[Message],
        subjects: Vec<String>,
        direct: bool,
    ) -> PendingConfirms {
        // async-nats keeps what it has not written for its next connection, so any
        // unconfirmed earlier publish of a key may be overtaken: each one is waited for
        // (one connection number for all).
        self.chains.forget_settled();
        let context = match self.context().await {
            Ok(context) => context,
            Err(error) => {
                let failed = messages.iter().map(|message| {
                    let key = &message.partition_key;
                    let outcome = self.chains.fail(key, 0, message.event_id, error.clone());
                    (message.event_id, outcome)
                });
                return Box::pin(key_order::results(failed.collect()));
            }
        };
        let timeout = self.config.publish_timeout;
        let mut pending = Vec::with_capacity(messages.len());
        for (message, subject) in messages.iter().zip(subjects) {
            let (key, event_id) = (&message.partition_key, message.event_id);
            let headers = headers(message, direct);
            let payload = message.payload.clone();
            let failed = move |error| Failure { event_id, error };
            let outcome = match self.chains.earlier(key, event_id) {
                Earlier::Nothing => {
                    let lost = self.disconnections.subscribe();
                    let sent = context.publish_with_headers(subject, headers, payload.into()).await;
                    let acked = acknowledged(sent, timeout, lost);
                    acked.map(move |acked| acked.map_err(failed)).boxed()
                }
                Earlier::Failed(failure) => {
                    pending.push((event_id, key_order::settled(Err(failure))));
                    continue; // held back; the key keeps waiting for its failed event
                }
                earlier @ Earlier::Pending { .. } => {
                    let context = context.clone();
                    let disconnections = Arc::clone(&self.disconnections);
                    async move {
                        if let Some(failure) = earlier.failure().await {
                            return Err(failure);
                        }
                        let lost = disconnections.subscribe();
                        let sent =
                            context.publish_with_headers(subject, headers, payload.into()).await;
                        acknowledged(sent, timeout, lost).await.map_err(failed)
                    }
                    .boxed()
                }
            }
            .shared();
            self.chains.record(key, 0, outcome.clone());
            pending.push((event_id, outcome));
        }
        Box::pin(key_order::results(pending))
    }

    /// Creates (or finds) a durable pull consumer.
    async fn consumer(&self, name: &str, filter: String) -> Result<PullConsumer> {
        let context = self.context().await?;
        let stream = self.ensure_stream(&context).await?;
        stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_owned()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_deliver: self.config.max_deliver,
                    max_ack_pending: self.config.prefetch,
                    filter_subject: filter,
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(|error| TransportError::Refused(format!("consumer `{name}`: {error}")))
    }
}

#[async_trait]
impl Publisher for JetStream {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<()>> {
        self.send(messages).await.await
    }

    async fn send(&self, messages: &[Message]) -> PendingConfirms {
        let subjects = messages.iter().map(|m| self.config.event_subject(&m.routing_key)).collect();
        self.hand_over(messages, subjects, false).await
    }

    async fn publish_to_group(&self, group: &str, messages: &[Message]) -> Vec<Result<()>> {
        if let Err(error) = herald_transport::check_name("group", group) {
            return messages.iter().map(|_| Err(error.clone())).collect();
        }
        let base = self.config.direct_base(group);
        let subjects = messages.iter().map(|m| format!("{base}.{}", m.routing_key)).collect();
        self.hand_over(messages, subjects, true).await.await
    }
}

/// Which of a member's two consumers a delivery came from.
const FROM_EVENTS: u32 = 0;
const FROM_DIRECT: u32 = 1;

#[async_trait]
impl Subscriber for JetStream {
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Box<dyn Subscription>> {
        spec.validate()?;
        let filter = common_filter(&self.config.events_base(), &spec.patterns);
        let events = self.consumer(&spec.group, filter).await?;
        let direct_base = self.config.direct_base(&spec.group);
        let direct_name = format!("DIRECT_{}", spec.group); // upper case: never a group name
        let direct = self.consumer(&direct_name, format!("{direct_base}.>")).await?;
        Ok(Box::new(JetStreamSubscription {
            events: events.messages().await.map_err(unavailable)?,
            direct: direct.messages().await.map_err(unavailable)?,
            events_prefix: format!("{}.", self.config.events_base()),
            direct_prefix: format!("{direct_base}."),
            spec,
            in_hand: HashMap::new(),
        }))
    }

    fn features(&self) -> Features {
        Features {
            name: "NATS JetStream",
            retry_keeps_order: false,
            durable_retry_delay: true,
            members_keep_key_order: false,
        }
    }
}

/// One member pulling from its group's two durable consumers.
struct JetStreamSubscription {
    events: pull::Stream,
    direct: pull::Stream,
    events_prefix: String,
    direct_prefix: String,
    spec: SubscriptionSpec,
    /// Deliveries handed out and not settled, to acknowledge through.
    in_hand: HashMap<DeliveryTag, jetstream::Message>,
}

impl JetStreamSubscription {
    /// Turns a JetStream message into a delivery; messages the patterns do not want
    /// (the server's filter is wider when patterns cannot be expressed) are acked at once.
    async fn accept(&mut self, from: u32, message: jetstream::Message) -> Option<Delivery> {
        let info = message.info().ok()?;
        let tag = DeliveryTag { partition: from, offset: info.stream_sequence as i64 };
        let attempt = u32::try_from(info.delivered).unwrap_or(u32::MAX).max(1);
        let subject = message.subject.as_str();
        let prefix = if from == FROM_DIRECT { &self.direct_prefix } else { &self.events_prefix };
        let routing_key = subject.strip_prefix(prefix.as_str()).unwrap_or(subject).to_owned();
        if from == FROM_EVENTS && !self.spec.wants(&routing_key) {
            if let Err(error) = message.ack().await {
                tracing::debug!(%error, "Acknowledging an unwanted message failed.");
            }
            return None;
        }
        let header = |name: &str| {
            message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
        };
        let delivery = Delivery {
            tag,
            message: Message {
                event_id: header("Herald-Event-Id")
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_default(),
                routing_key,
                partition_key: header("Herald-Partition-Key").unwrap_or_default(),
                payload: message.payload.to_vec(),
            },
            attempt,
            first_failed_at: None,
        };
        self.in_hand.insert(tag, message);
        Some(delivery)
    }

    /// The next message from either consumer, waiting up to `wait`.
    async fn next(&mut self, wait: Duration) -> Result<Option<(u32, jetstream::Message)>> {
        let next = tokio::time::timeout(wait, async {
            tokio::select! {
                Some(message) = self.events.next() => Some((FROM_EVENTS, message)),
                Some(message) = self.direct.next() => Some((FROM_DIRECT, message)),
                else => None,
            }
        })
        .await;
        match next {
            Err(_) => Ok(None),
            Ok(None) => Err(TransportError::Unavailable("the JetStream consumers ended".into())),
            Ok(Some((from, Ok(message)))) => Ok(Some((from, message))),
            Ok(Some((_, Err(error)))) => Err(unavailable(error)),
        }
    }

    /// A message that is ready now, from either consumer.
    fn ready(&mut self) -> Option<(u32, jetstream::Message)> {
        if let Some(Some(Ok(message))) = self.events.next().now_or_never() {
            return Some((FROM_EVENTS, message));
        }
        if let Some(Some(Ok(message))) = self.direct.next().now_or_never() {
            return Some((FROM_DIRECT, message));
        }
        None
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let mut deliveries = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while deliveries.is_empty() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some((from, message)) = self.next(left).await? else {
                return Ok(deliveries);
            };
            deliveries.extend(self.accept(from, message).await);
        }
        while deliveries.len() < max {
            let Some((from, message)) = self.ready() else { break };
            deliveries.extend(self.accept(from, message).await);
        }
        Ok(deliveries)
    }

    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<()> {
        for tag in tags {
            if let Some(message) = self.in_hand.remove(tag) {
                message.ack().await.map_err(unavailable)?;
            }
        }
        Ok(())
    }

    async fn retry(&mut self, delivery: &Delivery, delay: Duration, _error: &str) -> Result<()> {
        if let Some(message) = self.in_hand.remove(&delivery.tag) {
            message.ack_with(AckKind::Nak(Some(delay))).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        self.in_hand.clear(); // Unacknowledged messages come again after the ack wait.
        Ok(())
    }
}
