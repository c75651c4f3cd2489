//! The transport conformance suite on a real NATS JetStream server, with a stream and
//! subjects of each test's own.

use std::time::Duration;

use async_trait::async_trait;
use herald_nats::{JetStream, NatsConfig};
use herald_testkit::brokers::{nats_url, start_nats, stop_nats, unique};
use herald_testkit::transport_suite::Fixture;
use herald_transport::{Publisher, Subscriber};

struct NatsFixture {
    transport: JetStream,
}

async fn fixture() -> Box<dyn Fixture> {
    let id = uuid_word(&unique("t"));
    let mut config = NatsConfig::new(nats_url());
    config.stream = format!("HERALD_TEST_{id}");
    config.subject_prefix = format!("herald-test-{id}");
    config.ack_wait = Duration::from_secs(2);
    Box::new(NatsFixture { transport: JetStream::new(config) })
}

/// Stream names allow no `.`, `*`, `>` or spaces.
fn uuid_word(text: &str) -> String {
    text.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[async_trait]
impl Fixture for NatsFixture {
    fn publisher(&self) -> &dyn Publisher {
        &self.transport
    }

    fn subscriber(&self) -> &dyn Subscriber {
        &self.transport
    }

    async fn restart(&self) {
        tokio::task::spawn_blocking(|| {
            stop_nats();
            start_nats();
        })
        .await
        .expect("restart NATS");
    }

    async fn cleanup(self: Box<Self>) {
        self.transport.delete_stream().await.expect("delete the test stream");
    }
}

herald_testkit::transport_conformance!(fixture);
