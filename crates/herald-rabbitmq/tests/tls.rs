//! RabbitMQ over TLS (`amqps://`): the test makes a CA and a server certificate, puts a
//! TLS endpoint with that certificate in front of the machine's RabbitMQ (TLS in, the
//! broker's own AMQP out), and publishes and consumes through it, trusting the CA by
//! file. A client that does not trust the CA is refused naming the certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_testkit::brokers::{amqp_url, unique};
use herald_testkit::tls::TestCertificates;
use herald_testkit::transport_suite::message;
use herald_transport::{Publisher, Subscriber, SubscriptionSpec};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS endpoint on loopback whose connections, once their handshake completed, are
/// piped to RabbitMQ's plain AMQP port; it counts the completed handshakes.
struct TlsFront {
    address: SocketAddr,
    handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    async fn start(certificates: &TestCertificates) -> TlsFront {
        let chain = CertificateDer::pem_file_iter(&certificates.server_cert)
            .expect("the server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificates");
        let key = PrivateKeyDer::from_pem_file(&certificates.server_key).expect("the server key");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the server identity");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&handshakes);
        let broker = broker_address();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, counted, broker) =
                    (acceptor.clone(), Arc::clone(&counted), broker.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else { return };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) = TcpStream::connect(broker).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        TlsFront { address, handshakes }
    }
}

/// RabbitMQ's `host:port`, from the test broker URL.
fn broker_address() -> String {
    let url = amqp_url();
    let after_at = url.rsplit_once('@').map_or(url.as_str(), |(_, rest)| rest);
    let host_port = after_at.trim_start_matches("amqp://").split('/').next().unwrap_or_default();
    host_port.to_owned()
}

fn transport(front: &TlsFront, ca_file: Option<std::path::PathBuf>) -> (RabbitMq, String) {
    let id = unique("tls");
    let url = format!("amqps://guest:guest@localhost:{}/%2f", front.address.port());
    let mut config = RabbitMqConfig::new(url);
    config.exchange = format!("herald.test.{id}");
    config.queue_prefix = format!("herald-test.{id}");
    config.confirm_timeout = Duration::from_secs(5);
    config.tls_ca_file = ca_file;
    (RabbitMq::new(config), id)
}

#[tokio::test]
async fn events_travel_over_amqps_once_the_ca_is_trusted() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(certificates) = TestCertificates::make(dir.path()) else { return };
    let front = TlsFront::start(&certificates).await;
    let (rabbit, _) = transport(&front, Some(certificates.ca.clone()));
    let spec = SubscriptionSpec {
        group: "tls".into(),
        member: "tls-1".into(),
        patterns: vec!["#".parse().expect("pattern")],
    };
    rabbit.declare_group(&spec).await.expect("declare the group over TLS");
    let event = message("order.placed", "customer-1", 0);
    let published = rabbit.publish(std::slice::from_ref(&event)).await;
    assert!(published[0].is_ok(), "{published:?}");
    let mut subscription = rabbit.subscribe(spec).await.expect("subscribe over TLS");
    let got = herald_testkit::transport_suite::receive(subscription.as_mut(), 1).await;
    assert_eq!(got[0].message.event_id, event.event_id);
    subscription.ack(&[got[0].tag]).await.expect("ack");
    subscription.close().await.expect("close");
    assert!(front.handshakes.load(Ordering::SeqCst) >= 1, "every byte went through TLS");
    rabbit.delete_topology(&["tls"]).await.expect("delete the test topology");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(certificates) = TestCertificates::make(dir.path()) else { return };
    let front = TlsFront::start(&certificates).await;
    let (rabbit, _) = transport(&front, None);
    let event = message("order.placed", "customer-1", 0);
    let published = rabbit.publish(&[event]).await;
    let error = published[0].as_ref().expect_err("an untrusted certificate").to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0, "no handshake completed");
}
