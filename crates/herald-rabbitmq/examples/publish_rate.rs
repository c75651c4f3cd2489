//! Publishes 20,000 events in batches of 1,000 to a quorum queue and prints the rate:
//! the RabbitMQ publisher's own ceiling on this machine.
//!
//! `cargo run --release -p herald-rabbitmq --example publish_rate`

use std::time::Instant;

use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_testkit::transport_suite::message;
use herald_transport::{Pattern, Publisher, SubscriptionSpec};

#[tokio::main]
async fn main() {
    let mut config = RabbitMqConfig::new(herald_testkit::brokers::amqp_url());
    config.exchange = "herald.rate.events".into();
    config.queue_prefix = "herald-rate".into();
    let rabbit = RabbitMq::new(config);
    let spec = SubscriptionSpec {
        group: "sink".into(),
        member: "m".into(),
        patterns: vec!["#".parse::<Pattern>().expect("pattern")],
    };
    rabbit.declare_group(&spec).await.expect("declare");
    let messages: Vec<_> =
        (0..20_000).map(|n| message("orders.placed", &format!("k{}", n % 100), n)).collect();
    let started = Instant::now();
    for batch in messages.chunks(1000) {
        let batch_started = Instant::now();
        let results = rabbit.publish(batch).await;
        assert!(results.iter().all(Result::is_ok));
        eprint!("{:.0} ms ", batch_started.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("\n{:.0} messages/s confirmed", messages.len() as f64 / elapsed);
    rabbit.delete_topology(&["sink"]).await.expect("clean up");
}
