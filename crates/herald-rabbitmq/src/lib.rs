//! The RabbitMQ transport.
//!
//! Events go to one durable topic exchange (`herald.events` by default) under their
//! routing key. Each consuming service (a consumer group) has one durable quorum queue,
//! `herald.<group>`, bound by the group's patterns, with a single active consumer so that
//! the queue's order reaches the service's key-hashed workers intact; the other members
//! stand by. Messages use the CloudEvents AMQP binding in binary mode: the attributes
//! travel as `cloudEvents_*` application properties, the data as the body. Structured
//! mode (`application/cloudevents+json`) is accepted on receive.
//!
//! Publishing uses publisher confirms with every message of a batch in flight at once; a
//! message counts as published only once the broker confirmed it. Delayed retries wait in
//! per-attempt delay queues (`herald.<group>.retry.<n>`) whose expired messages are
//! dead-lettered straight back to the group's queue. A lost connection (a broker restart)
//! fails what was in flight, and the next call reconnects; publishers and subscribers
//! never mark anything done that the broker did not confirm.
//!
//! # Layout
//!
//! - [`binding`]: the CloudEvents AMQP binding.
//! - [`RabbitMq`]: configuration and connections; it is both the [`Publisher`] and the
//!   [`Subscriber`] of the transport seam.
//!
//! [`Publisher`]: herald_transport::Publisher
//! [`Subscriber`]: herald_transport::Subscriber

pub mod binding;
mod publisher;
mod subscriber;
mod topology;

pub use publisher::AmqpPublisher;
pub use subscriber::RabbitMq;
pub use topology::RabbitMqConfig;
