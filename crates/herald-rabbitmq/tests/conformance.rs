//! The transport conformance suite on a real RabbitMQ broker, with an exchange and
//! queues of each test's own.

use async_trait::async_trait;
use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_testkit::brokers::{amqp_url, start_rabbitmq, stop_rabbitmq, unique};
use herald_testkit::transport_suite::Fixture;
use herald_transport::{Publisher, Subscriber};

/// Every group name the suite uses, to delete their queues afterwards.
const GROUPS: &[&str] = &[
    "billing",
    "shipping",
    "ledger",
    "audit",
    "projector",
    "mailer",
    "target",
    "bystander",
    "survivor",
];

struct RabbitFixture {
    transport: RabbitMq,
}

async fn fixture() -> Box<dyn Fixture> {
    let id = unique("t");
    let mut config = RabbitMqConfig::new(amqp_url());
    config.exchange = format!("herald.test.{id}");
    config.queue_prefix = format!("herald-test.{id}");
    Box::new(RabbitFixture { transport: RabbitMq::new(config) })
}

#[async_trait]
impl Fixture for RabbitFixture {
    fn publisher(&self) -> &dyn Publisher {
        &self.transport
    }

    fn subscriber(&self) -> &dyn Subscriber {
        &self.transport
    }

    async fn restart(&self) {
        tokio::task::spawn_blocking(|| {
            stop_rabbitmq();
            start_rabbitmq();
        })
        .await
        .expect("restart RabbitMQ");
    }

    async fn cleanup(self: Box<Self>) {
        self.transport.delete_topology(GROUPS).await.expect("delete the test topology");
    }
}

herald_testkit::transport_conformance!(fixture);
