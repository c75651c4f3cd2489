//! Email through a real SMTP server.

use std::sync::Arc;
use std::time::Duration;

use herald_channels::{Channel, ChannelKind, Message, Provider, SmtpConfig, SmtpProvider, SmtpTls};

use herald_testkit::smtp::{ServerTls, SmtpServer};
use herald_testkit::tls::TestCertificates;

const FROM: &str = "Herald <noreply@herald.test>";

fn config(server: &SmtpServer, pool_size: u32) -> SmtpConfig {
    let mut config = SmtpConfig::new("127.0.0.1", FROM);
    config.port = server.port;
    config.tls = SmtpTls::None;
    config.pool_size = pool_size;
    config.timeout = Duration::from_secs(10);
    config
}

fn three_emails(prefix: &str) -> Vec<Message> {
    let bodies = ["Your order shipped.", "Ton colis est arrivé à Zürich.", "Line one\nLine two"];
    bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            Message::new(format!("{prefix}-{index}"), format!("user{index}@example.org"), *body)
                .with_subject(format!("Notice {index} for you"))
        })
        .collect()
}

/// The body as sent: the server sees CRLF line endings and a final line break.
fn normalised(body: &str) -> String {
    body.replace("\r\n", "\n").trim_end().to_owned()
}

#[tokio::test]
async fn a_bulk_send_delivers_every_email_over_fewer_connections_than_messages() {
    let server = SmtpServer::start().await;
    let provider = SmtpProvider::new(&config(&server, 2)).unwrap();
    let messages = three_emails("bulk");

    let receipts = provider.send_many(&messages).await;

    let received = server.messages();
    assert_eq!(received.len(), 3, "{received:?}");
    for (message, receipt) in messages.iter().zip(&receipts) {
        let receipt = receipt.as_ref().unwrap();
        assert_eq!(receipt.provider, "smtp");
        let expected_id = format!("<{}@herald.test>", message.id);
        assert_eq!(receipt.provider_message_id.as_deref(), Some(expected_id.as_str()));
        let email = received.iter().find(|email| email.message_id == expected_id).unwrap();
        assert_eq!(email.rcpt_tos, [message.to.as_str()]);
        assert_eq!(email.mail_from, "noreply@herald.test");
        assert_eq!(email.from, FROM);
        assert_eq!(email.to, message.to);
        assert_eq!(email.subject, message.subject);
        assert_eq!(normalised(&email.body), message.body);
    }
    // A pool of two connections: three messages cannot each have had their own.
    assert!(server.sessions() <= 2, "{} sessions for 3 messages", server.sessions());

    // The pooled connections are reused by the next bulk send.
    let more = three_emails("more");
    assert!(provider.send_many(&more).await.iter().all(Result::is_ok));
    assert_eq!(server.messages().len(), 6);
    assert!(server.sessions() <= 2, "{} sessions for 6 messages", server.sessions());
    provider.close().await;
}

#[tokio::test]
async fn one_pooled_connection_carries_a_whole_channel_send() {
    let server = SmtpServer::start().await;
    let provider = Arc::new(SmtpProvider::new(&config(&server, 1)).unwrap());
    let channel = Channel::new(ChannelKind::Email).with_provider(provider, None);
    let messages: Vec<Message> =
        (0..5).map(|index| Message::new(format!("n{index}"), "ada@example.org", "Hello")).collect();

    let results = channel.send(&messages).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let received = server.messages();
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|email| email.subject.is_none()));
    assert_eq!(server.sessions(), 1);
}

#[tokio::test]
async fn refused_recipients_are_permanent_or_retryable_as_the_reply_code_says() {
    let server = SmtpServer::start().await;
    let provider = SmtpProvider::new(&config(&server, 2)).unwrap();
    let messages = [
        Message::new("unknown", "nobody@example.org", "Hello"),
        Message::new("busy", "busy@example.org", "Hello"),
        Message::new("invalid", "not-an-address", "Hello"),
        Message::new("fine", "ada@example.org", "Hello"),
    ];

    let results = provider.send_many(&messages).await;

    let unknown = results[0].as_ref().unwrap_err();
    assert!(!unknown.retryable, "{unknown}");
    assert!(unknown.message.contains("550"), "{unknown}");
    let busy = results[1].as_ref().unwrap_err();
    assert!(busy.retryable, "{busy}");
    assert!(busy.message.contains("451"), "{busy}");
    let invalid = results[2].as_ref().unwrap_err();
    assert!(!invalid.retryable, "{invalid}");
    assert!(invalid.message.starts_with("invalid recipient address"), "{invalid}");
    assert!(results[3].is_ok(), "{:?}", results[3]);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn credentials_authenticate_and_a_wrong_password_is_permanent_and_not_shown() {
    let server = SmtpServer::start().await;
    let mut good = config(&server, 1);
    good.credentials = Some(("mailer".to_owned(), "s3cret-password".to_owned()));
    let mut bad = good.clone();
    bad.credentials = Some(("mailer".to_owned(), "wrong-password".to_owned()));
    let message = Message::new("auth", "ada@example.org", "Hello").with_subject("Signed in");

    let receipt = SmtpProvider::new(&good).unwrap().send(&message).await.unwrap();
    let error = SmtpProvider::new(&bad).unwrap().send(&message).await.unwrap_err();

    assert_eq!(receipt.provider, "smtp");
    assert_eq!(server.messages().len(), 1);
    assert!(!error.retryable, "{error}");
    assert!(error.message.contains("535"), "{error}");
    assert!(!error.to_string().contains("wrong-password"), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let mut config = SmtpConfig::new("127.0.0.1", FROM);
    config.port = crate::support::free_port();
    config.tls = SmtpTls::None;
    let provider = SmtpProvider::new(&config).unwrap();

    let error = provider.send(&Message::new("n1", "ada@example.org", "Hello")).await.unwrap_err();

    assert!(error.retryable, "{error}");
    assert_eq!(error.provider, "smtp");
}

/// Sends one email through a server with TLS (`server_tls`) on a certificate the test's
/// CA signed: refused (retryably, naming the certificate, nothing delivered) by a client
/// that trusts only the built-in roots, delivered over TLS once the CA file is trusted.
async fn send_over_tls(server_tls: ServerTls, client_tls: SmtpTls) {
    let dir = tempfile::tempdir().unwrap();
    let Some(certificates) = TestCertificates::make(dir.path()) else { return };
    let server =
        SmtpServer::start_tls(server_tls, &certificates.server_cert, &certificates.server_key)
            .await;
    let mut untrusting = config(&server, 1);
    untrusting.tls = client_tls;
    let mut trusting = untrusting.clone();
    trusting.ca_file = Some(certificates.ca.clone());
    let message = Message::new("tls-1", "ada@example.org", "Sent over TLS.").with_subject("TLS");

    let error = SmtpProvider::new(&untrusting).unwrap().send(&message).await.unwrap_err();
    assert!(error.retryable, "{error}");
    assert!(error.message.to_lowercase().contains("certificate"), "the cause is named: {error}");
    assert!(server.messages().is_empty());

    let provider = SmtpProvider::new(&trusting).unwrap();
    let receipt = provider.send(&message).await.unwrap();
    assert_eq!(receipt.provider_message_id.as_deref(), Some("<tls-1@herald.test>"));
    let received = server.messages();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].tls, "the message came in clear: {received:?}");
    assert_eq!(normalised(&received[0].body), message.body);
    provider.close().await;
}

#[tokio::test]
async fn starttls_verifies_the_server_against_a_trusted_ca_file() {
    send_over_tls(ServerTls::StartTls, SmtpTls::StartTls).await;
}

#[tokio::test]
async fn implicit_tls_verifies_the_server_against_a_trusted_ca_file() {
    send_over_tls(ServerTls::Implicit, SmtpTls::Tls).await;
}

#[tokio::test]
async fn a_server_that_requires_starttls_refuses_mail_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let Some(certificates) = TestCertificates::make(dir.path()) else { return };
    let server = SmtpServer::start_tls(
        ServerTls::StartTls,
        &certificates.server_cert,
        &certificates.server_key,
    )
    .await;
    let plain = SmtpProvider::new(&config(&server, 1)).unwrap(); // SmtpTls::None

    let error = plain.send(&Message::new("n1", "ada@example.org", "Hello")).await.unwrap_err();

    assert!(!error.retryable && error.message.contains("530"), "{error}");
    assert!(server.messages().is_empty());
}
