//! [`SmtpProvider`]: email over SMTP, through `lettre` connections kept in a small pool.
//!
//! The pool is this crate's, not `lettre`'s `AsyncSmtpTransport` pool: that one bounds
//! only the idle connections (every concurrent send opens a connection of its own) and
//! returns a connection from a spawned task, so the next send often opens a new one. Here
//! at most [`SmtpConfig::pool_size`] connections exist, each send takes one slot, and a
//! connection goes back to the pool before its slot is released, so a bulk send reuses
//! one connection per slot.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Semaphore;

use crate::error::chain;
use crate::{ChannelError, ChannelKind, Message, Provider, Receipt, SendError};

/// The name of the SMTP provider.
const NAME: &str = "smtp";

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text, for a relay on the same host or network only: credentials would
    /// travel in clear.
    None,
    /// A plain connection upgraded with `STARTTLS`, which the server must offer
    /// (submission, port 587). The default.
    #[default]
    StartTls,
    /// TLS from the first byte (submissions, port 465).
    Tls,
}

/// How the [`SmtpProvider`] reaches the SMTP server.
///
/// Its `Debug` output shows the user name but never the password.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server's host name (also the name its TLS certificate must have).
    pub host: String,
    /// The server's port. Default 587.
    pub port: u16,
    /// How the connection is secured. Default [`SmtpTls::StartTls`].
    pub tls: SmtpTls,
    /// The user name and password for `AUTH` (`PLAIN` or `LOGIN`); `None` to send
    /// without authenticating. Default `None`.
    pub credentials: Option<(String, String)>,
    /// The sender, as `noreply@example.com` or `Herald <noreply@example.com>`. Its domain
    /// is also the domain of the `Message-ID`s.
    pub from: String,
    /// How many connections are open at most, which is also how many messages are sent
    /// at once. At least 1; default 4.
    pub pool_size: u32,
    /// The longest one send may take, from taking a connection (opening one when none is
    /// idle) to the server's answer to the message; a send that takes longer fails
    /// retryably. Default 30 s.
    pub timeout: Duration,
    /// A PEM file of CA certificates to trust, besides the Mozilla roots built in
    /// (`webpki-roots`), when verifying the server's certificate: for a server whose
    /// certificate a private CA signed. Needs [`SmtpTls::StartTls`] or [`SmtpTls::Tls`].
    /// Default `None`.
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// A configuration for a submission server (port 587, `STARTTLS`), without
    /// credentials, with a pool of 4 connections and a 30 s timeout.
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 587,
            tls: SmtpTls::StartTls,
            credentials: None,
            from: from.into(),
            pool_size: 4,
            timeout: Duration::from_secs(30),
            ca_file: None,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = self.credentials.as_ref().map(|(user, _)| (user.as_str(), "<redacted>"));
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &credentials)
            .field("from", &self.from)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// How a connection is secured, with the TLS parameters it needs.
#[derive(Clone)]
enum Security {
    Plain,
    StartTls(TlsParameters),
    Wrapper(TlsParameters),
}

/// Opens authenticated connections to the SMTP server.
struct Connector {
    host: String,
    port: u16,
    timeout: Duration,
    hello: ClientId,
    security: Security,
    credentials: Option<Credentials>,
}

impl Connector {
    /// Connects, greets (`EHLO`), secures the connection as configured and
    /// authenticates, as `lettre`'s own transport does.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let wrapper = match &self.security {
            Security::Wrapper(parameters) => Some(parameters.clone()),
            Security::Plain | Security::StartTls(_) => None,
        };
        let address = (self.host.as_str(), self.port);
        let mut connection = match wrapper {
            Some(wrapper) => {
                AsyncSmtpConnection::connect_tokio1(
                    address,
                    Some(self.timeout),
                    &self.hello,
                    Some(wrapper),
                    None,
                )
                .await?
            }
            // Our own socket, for TCP_NODELAY: lettre writes a message's data and its final
            // `.` separately, and with Nagle's algorithm the second write waits for the
            // server's delayed ACK (about 40 ms per message). If the socket cannot be
            // opened, lettre's own connect reports the failure as an SMTP error.
            None => match nodelay_socket(address, self.timeout).await {
                Some(stream) => {
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await?
                }
                None => {
                    AsyncSmtpConnection::connect_tokio1(
                        address,
                        Some(self.timeout),
                        &self.hello,
                        None,
                        None,
                    )
                    .await?
                }
            },
        };
        if let Security::StartTls(parameters) = &self.security {
            connection.starttls(parameters.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(connection)
    }
}

/// At most `slots` connections: the idle ones wait in `idle`.
struct Pool {
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    slots: Semaphore,
}

impl Pool {
    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Keeps a connection for the next send, unless it broke (`lettre` marks a
    /// connection broken after any failed command).
    fn put_back(&self, connection: AsyncSmtpConnection) {
        if !connection.has_broken() {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(connection);
        }
    }
}

/// Sends email over SMTP. Named `smtp`.
///
/// Each [`Message`] becomes a `text/plain` email from [`SmtpConfig::from`] to
/// [`Message::to`], with [`Message::subject`] and the `Message-ID`
/// `<{message id}@{sender's domain}>`, which is also the receipt's id. [`Message::data`]
/// is not sent. A transient (4xx) reply, a timeout or a failed connection is retryable;
/// a permanent (5xx) reply or an invalid address is not.
pub struct SmtpProvider {
    connector: Connector,
    from: Mailbox,
    pool: Pool,
    pool_size: usize,
}

impl SmtpProvider {
    /// Builds the provider; no connection is opened until the first send. Fails when
    /// the sender is not a mailbox, the pool size is 0, the CA file cannot be used or TLS
    /// cannot be set up.
    pub fn new(config: &SmtpConfig) -> Result<SmtpProvider, ChannelError> {
        let from: Mailbox = config.from.parse().map_err(|error| ChannelError::InvalidConfig {
            setting: "smtp.from",
            expected: format!("a mailbox such as `Herald <noreply@example.com>` ({error})"),
        })?;
        let pool_size = usize::try_from(config.pool_size).unwrap_or(usize::MAX);
        if pool_size == 0 {
            return Err(ChannelError::InvalidConfig {
                setting: "smtp.pool_size",
                expected: "at least 1 connection".to_owned(),
            });
        }
        let connector = Connector {
            host: config.host.clone(),
            port: config.port,
            timeout: config.timeout,
            hello: ClientId::default(),
            security: security(config)?,
            credentials: config
                .credentials
                .as_ref()
                .map(|(user, password)| Credentials::new(user.clone(), password.clone())),
        };
        let pool = Pool { idle: Mutex::new(Vec::new()), slots: Semaphore::new(pool_size) };
        Ok(SmtpProvider { connector, from, pool, pool_size })
    }

    /// Says `QUIT` on the idle connections and closes them. Sends after this open new
    /// connections.
    pub async fn close(&self) {
        while let Some(mut connection) = self.pool.take_idle() {
            if connection.quit().await.is_err() {
                connection.abort().await;
            }
        }
    }

    /// The email for a message, and its `Message-ID`.
    fn email(&self, message: &Message) -> Result<(lettre::Message, String), SendError> {
        let to: Mailbox = message.to.parse().map_err(|error| {
            SendError::permanent(NAME, format!("invalid recipient address: {error}"))
        })?;
        let message_id = format!("<{}@{}>", id_text(&message.id), self.from.email.domain());
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .message_id(Some(message_id.clone()));
        if let Some(subject) = &message.subject {
            builder = builder.subject(subject);
        }
        let email = builder.header(ContentType::TEXT_PLAIN).body(message.body.clone()).map_err(
            |error| SendError::permanent(NAME, format!("cannot build the email: {error}")),
        )?;
        Ok((email, message_id))
    }

    /// Sends one email over a pooled connection, within the timeout.
    async fn deliver(&self, email: &lettre::Message) -> Result<(), SmtpError> {
        let mut connection = self.checkout().await?;
        let result = connection.send(email.envelope(), &email.formatted()).await;
        self.pool.put_back(connection);
        result.map(|_| ())
    }

    /// An idle connection that still answers `NOOP`, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        while let Some(mut connection) = self.pool.take_idle() {
            if connection.test_connected().await {
                return Ok(connection);
            }
            connection.abort().await;
        }
        self.connector.connect().await
    }
}

/// A TCP connection with `TCP_NODELAY`, or `None` if it cannot be opened in time.
async fn nodelay_socket(address: (&str, u16), timeout: Duration) -> Option<tokio::net::TcpStream> {
    let stream =
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await.ok()?.ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// The connection security of a configuration, with TLS parameters for its host: the
/// server's certificate must chain to a built-in root or to one of the CA file's.
fn security(config: &SmtpConfig) -> Result<Security, ChannelError> {
    let parameters = || {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.ca_file {
            builder = builder.add_root_certificate(ca_certificates(path)?);
        }
        builder
            .build()
            .map_err(|source| ChannelError::SmtpTls { host: config.host.clone(), source })
    };
    Ok(match config.tls {
        SmtpTls::None if config.ca_file.is_some() => {
            return Err(ChannelError::InvalidConfig {
                setting: "smtp.ca_file",
                expected: "TLS (`starttls` or `tls`) for a CA file to be used".to_owned(),
            });
        }
        SmtpTls::None => Security::Plain,
        SmtpTls::StartTls => Security::StartTls(parameters()?),
        SmtpTls::Tls => Security::Wrapper(parameters()?),
    })
}

/// The certificates of a CA file (PEM), at least one.
fn ca_certificates(path: &Path) -> Result<Certificate, ChannelError> {
    let invalid = |reason: String| ChannelError::SmtpCaFile { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    // lettre reads no certificate, without an error, from a file with none.
    if !pem.windows(PEM_CERTIFICATE.len()).any(|window| window == PEM_CERTIFICATE) {
        return Err(invalid("no PEM certificate (`-----BEGIN CERTIFICATE-----`) in it".to_owned()));
    }
    Certificate::from_pem(&pem).map_err(|error| invalid(chain(&error)))
}

/// The line that starts a certificate in a PEM file.
const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The message id as the local part of a `Message-ID`: characters outside RFC 5322's
/// `dot-atom-text` become `_` (a UUID or a ULID is kept as it is).
fn id_text(id: &str) -> String {
    let allowed = |character: char| {
        character.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(character)
    };
    id.chars().map(|character| if allowed(character) { character } else { '_' }).collect()
}

/// Classifies an SMTP failure: a permanent (5xx) reply or a refusal by `lettre` itself
/// (such as a server without `SMTPUTF8` for a non-ASCII address) is permanent; a
/// transient (4xx) reply, a failed or broken connection, TLS and timeouts are retryable.
fn send_error(error: &SmtpError) -> SendError {
    let reason = chain(error);
    if error.is_permanent() || error.is_client() {
        SendError::permanent(NAME, reason)
    } else {
        SendError::retryable(NAME, reason)
    }
}

impl fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpProvider")
            .field("host", &self.connector.host)
            .field("port", &self.connector.port)
            .field("from", &self.from.to_string())
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for SmtpProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    /// The pool size: a bulk send keeps every connection busy, and no more.
    fn max_concurrency(&self) -> usize {
        self.pool_size
    }

    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let (email, message_id) = self.email(message)?;
        let _slot = self.pool.slots.acquire().await.expect("the semaphore is never closed");
        let timeout = self.connector.timeout;
        match tokio::time::timeout(timeout, self.deliver(&email)).await {
            Ok(Ok(())) => {
                Ok(Receipt { provider: NAME.to_owned(), provider_message_id: Some(message_id) })
            }
            Ok(Err(error)) => Err(send_error(&error)),
            Err(_) => Err(SendError::retryable(NAME, format!("no answer within {timeout:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        let mut config = SmtpConfig::new("smtp.example.com", "Herald <noreply@example.com>");
        config.credentials = Some(("mailer".to_owned(), "hunter2-secret".to_owned()));
        config
    }

    #[test]
    fn debug_output_shows_the_user_but_never_the_password() {
        let shown = format!("{:?}", config());
        assert!(shown.contains("mailer"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{:?}", SmtpProvider::new(&config()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_bad_sender_or_an_empty_pool_is_refused() {
        let mut bad_from = config();
        bad_from.from = "not an address".to_owned();
        let error = SmtpProvider::new(&bad_from).unwrap_err();
        assert!(error.to_string().starts_with("invalid smtp.from"), "{error}");
        let mut empty_pool = config();
        empty_pool.pool_size = 0;
        assert!(SmtpProvider::new(&empty_pool).is_err());
    }

    #[test]
    fn emails_carry_the_message_id_in_the_senders_domain() {
        let provider = SmtpProvider::new(&config()).unwrap();
        let message = Message::new("0190-abc", "ada@example.org", "Hello").with_subject("Hi");
        let (email, message_id) = provider.email(&message).unwrap();
        assert_eq!(message_id, "<0190-abc@example.com>");
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(text.contains("Message-ID: <0190-abc@example.com>"), "{text}");
        assert!(text.contains("Subject: Hi"), "{text}");
        assert_eq!(id_text("a b<c>@d"), "a_b_c__d");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate_and_needs_tls() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_ca = config();
        with_ca.ca_file = Some(dir.path().join("missing.pem"));
        let error = SmtpProvider::new(&with_ca).unwrap_err().to_string();
        assert!(error.starts_with("cannot use the smtp CA file") && error.contains("missing.pem"));
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        with_ca.ca_file = Some(not_pem);
        let error = SmtpProvider::new(&with_ca).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        with_ca.tls = SmtpTls::None;
        let error = SmtpProvider::new(&with_ca).unwrap_err().to_string();
        assert!(error.starts_with("invalid smtp.ca_file: expected TLS"), "{error}");
    }

    #[test]
    fn an_invalid_recipient_is_a_permanent_error() {
        let provider = SmtpProvider::new(&config()).unwrap();
        let error = provider.email(&Message::new("n1", "no-at-sign", "Hello")).unwrap_err();
        assert!(!error.retryable);
        assert!(error.message.starts_with("invalid recipient address"), "{error}");
    }
}
