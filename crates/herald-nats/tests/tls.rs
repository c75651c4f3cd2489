//! NATS over TLS, against a `nats-server` of the test's own that requires TLS, with a
//! certificate for 127.0.0.1 and localhost that a CA made by the test signed (a CA in no
//! system store): events go through, over `tls://` and over `nats://`, once the CA file is
//! trusted; a client that does not trust it is refused, naming the certificate; a client
//! in clear cannot publish; a server that verifies clients wants their certificate.
//!
//! Under `CI=true` a missing `nats-server` or `openssl` fails the test; elsewhere the
//! test says so and passes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_nats::{JetStream, NatsConfig};
use herald_testkit::smtp::free_port;
use herald_testkit::tls::{TestCertificates, require_tool};
use herald_testkit::transport_suite::{message, receive};
use herald_transport::{Publisher, Subscriber, Subscription, SubscriptionSpec};

/// The Debian package's server.
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A `nats-server` with JetStream that requires TLS, on a free port; killed on drop.
struct TlsNats {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl TlsNats {
    /// Starts the server in `dir` with the certificates' server certificate (and, with
    /// `verify_clients`, requiring client certificates the CA signed), and waits until it
    /// accepts connections.
    fn start(dir: &Path, certificates: &TestCertificates, verify_clients: bool) -> TlsNats {
        // A copy of the binary under a name of its own: the broker-restart tests stop
        // every process named `nats-server` (`pkill -x`), and `start-stop-daemon --exec`
        // would take this one for the machine's server.
        let binary = dir.join("herald-tls-nats");
        std::fs::copy(NATS_SERVER, &binary).expect("copy nats-server");
        let port = free_port();
        let log = dir.join("nats.log");
        let mut command = Command::new(&binary);
        command
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("jetstream"))
            .arg("-l")
            .arg(&log)
            .arg("--tls")
            .arg("--tlscert")
            .arg(&certificates.server_cert)
            .arg("--tlskey")
            .arg(&certificates.server_key);
        if verify_clients {
            command.arg("--tlsverify").arg("--tlscacert").arg(&certificates.ca);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let mut server = TlsNats { port, child, log };
        server.wait_until_listening();
        server
    }

    /// Polls a connection to the port until it is accepted; fails, with the server's log,
    /// if the server exits or 10 s pass.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("nats-server's status") {
                panic!("nats-server exited with {status}: {}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "nats-server did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Settings for the server at `scheme://host:port`, trusting `ca` if given.
    fn config(&self, scheme: &str, host: &str, ca: Option<&Path>) -> NatsConfig {
        let mut config = NatsConfig::new(format!("{scheme}://{host}:{}", self.port));
        config.tls_ca_file = ca.map(Path::to_path_buf);
        config.publish_timeout = Duration::from_secs(5);
        config
    }

    /// A transport to the server at `scheme://host:port`, trusting `ca` if given.
    fn transport(&self, scheme: &str, host: &str, ca: Option<&Path>) -> JetStream {
        JetStream::new(self.config(scheme, host, ca))
    }
}

impl Drop for TlsNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test's certificates and its server, or `None` when a tool is missing outside CI.
fn server(dir: &Path, verify_clients: bool) -> Option<(TestCertificates, TlsNats)> {
    if !require_tool(NATS_SERVER, &["--version"], "the NATS TLS tests") {
        return None;
    }
    let certificates = TestCertificates::make(dir)?;
    let server = TlsNats::start(dir, &certificates, verify_clients);
    Some((certificates, server))
}

/// Joins `group` (which creates the stream if missing), for every event.
async fn join(subscriber: &JetStream, group: &str) -> Box<dyn Subscription> {
    let spec = SubscriptionSpec {
        group: group.into(),
        member: "m1".into(),
        patterns: vec!["integration.#".parse().expect("pattern")],
    };
    subscriber.subscribe(spec).await.expect("subscribe over TLS")
}

/// Publishes one event through `publisher` and requires `subscriber`'s group to receive
/// it.
async fn carries_an_event(publisher: &JetStream, subscriber: &JetStream, group: &str) {
    let mut subscription = join(subscriber, group).await;
    sends_the_next_event(publisher, subscription.as_mut()).await;
}

/// Publishes one event and requires it to be the next one `subscription` receives.
async fn sends_the_next_event(publisher: &JetStream, subscription: &mut dyn Subscription) {
    let sent = message("order.placed", "customer-1", 1);
    let published = publisher.publish(std::slice::from_ref(&sent)).await;
    assert!(published.iter().all(Result::is_ok), "{published:?}");
    let deliveries = receive(subscription, 1).await;
    assert_eq!(deliveries[0].message.event_id, sent.event_id);
    assert_eq!(deliveries[0].message.payload, sent.payload);
    subscription.ack(&[deliveries[0].tag]).await.expect("ack");
}

/// The error of publishing one event.
async fn publish_error(transport: &JetStream) -> String {
    let results = transport.publish(&[message("order.placed", "customer-1", 1)]).await;
    match &results[0] {
        Ok(()) => panic!("published over a connection that should have been refused"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_travel_over_tls_and_nats_urls_once_the_ca_is_trusted() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some((certificates, server)) = server(dir.path(), false) else { return };
    let ca = Some(certificates.ca.as_path());
    // tls:// asks for TLS; nats:// gets it because the server requires it.
    let over_tls = server.transport("tls", "127.0.0.1", ca);
    let over_nats = server.transport("nats", "localhost", ca);

    let mut subscription = join(&over_nats, "billing").await;
    sends_the_next_event(&over_tls, subscription.as_mut()).await;
    sends_the_next_event(&over_nats, subscription.as_mut()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_ca_is_refused_naming_the_certificate() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some((_certificates, server)) = server(dir.path(), false) else { return };
    for scheme in ["tls", "nats"] {
        let error = publish_error(&server.transport(scheme, "127.0.0.1", None)).await;
        assert!(error.contains("broker unavailable"), "{scheme}: {error}");
        assert!(error.contains("certificate"), "{scheme}: the cause is named: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_in_clear_cannot_publish() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some((certificates, server)) = server(dir.path(), false) else { return };
    // The stream exists, so that whatever the server took from the client would be kept.
    let trusted = server.transport("tls", "127.0.0.1", Some(&certificates.ca));
    let mut subscription = join(&trusted, "audit").await;

    // A client that speaks the protocol in clear, as one without TLS would.
    let mut socket = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    let mut info = [0; 4096];
    let read = socket.read(&mut info).expect("the server's INFO");
    let info = String::from_utf8_lossy(&info[..read]);
    assert!(info.starts_with("INFO ") && info.contains("\"tls_required\":true"), "{info}");
    let plain = "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false}\r\n\
                 PUB herald.events.integration.order.placed 5\r\nhello\r\nPING\r\n";
    // The server may close the connection while it is written to.
    let _ = socket.write_all(plain.as_bytes());
    let mut answer = Vec::new();
    let closed = socket.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("PONG") && !answer.contains("+OK"), "served in clear: {answer}");
    // Closed by the server (end of stream or reset), not left waiting.
    let timed_out = |error: &std::io::Error| {
        matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    };
    assert!(!closed.as_ref().is_err_and(timed_out), "the server kept the connection: {closed:?}");

    // Nothing was stored: the next event the group receives is the trusted client's.
    sends_the_next_event(&trusted, subscription.as_mut()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_verifies_clients_accepts_only_a_client_certificate_of_its_ca() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some((certificates, server)) = server(dir.path(), true) else { return };
    let without = server.transport("tls", "127.0.0.1", Some(&certificates.ca));
    let error = publish_error(&without).await;
    assert!(error.contains("broker unavailable"), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "the cause is named: {error}");

    let mut config = server.config("tls", "127.0.0.1", Some(&certificates.ca));
    config.tls_client_cert =
        Some((certificates.client_cert.clone(), certificates.client_key.clone()));
    let with = JetStream::new(config);
    carries_an_event(&with, &with, "billing").await;
}

#[test]
fn unusable_tls_files_are_named_before_connecting() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = NatsConfig::new("tls://127.0.0.1:4222");
    config.tls_ca_file = Some(dir.path().join("missing.pem"));
    let error = config.check_tls().expect_err("a missing file").to_string();
    assert!(error.starts_with("cannot read `") && error.contains("missing.pem"), "{error}");
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    config.tls_ca_file = Some(not_pem);
    let error = config.check_tls().expect_err("no certificate").to_string();
    assert!(error.contains("holds no PEM certificate"), "{error}");
    config.tls_ca_file = None;
    assert!(config.check_tls().is_ok(), "no TLS file: nothing to check");
}
