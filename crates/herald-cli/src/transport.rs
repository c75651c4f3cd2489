//! Choosing the transport from the command line: the embedded log, RabbitMQ or NATS.
//! Opening one from a URL is the facade's ([`herald::Transport::open`]); this module has
//! the flags and their messages.

use anyhow::anyhow;
use herald_db::Database;

pub use herald::Transport;

/// Where events travel between services.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Broker URL: `amqp://…` (RabbitMQ) or `nats://…` (NATS JetStream); default: the
    /// embedded log in the database.
    #[arg(long, env = "HERALD_BROKER_URL")]
    pub broker: Option<String>,
    /// Prefix of the broker's names (exchange, queues, stream, subjects), so that several
    /// Herald installations can share one broker.
    #[arg(long, env = "HERALD_NAMESPACE", default_value = "herald")]
    pub namespace: String,
}

impl Default for BrokerArgs {
    /// The embedded log, namespace `herald`.
    fn default() -> Self {
        BrokerArgs { broker: None, namespace: "herald".into() }
    }
}

impl BrokerArgs {
    /// Checks the namespace and the URL's scheme, without connecting.
    pub fn check(&self) -> anyhow::Result<()> {
        Transport::check(self.broker.as_deref(), &self.namespace).map_err(flag_error)
    }

    /// Opens the transport; the embedded log lives in `db`.
    pub fn open(&self, db: &Database, partitions: u32) -> anyhow::Result<Transport> {
        Transport::open(self.broker.as_deref(), &self.namespace, db, partitions).map_err(flag_error)
    }
}

impl From<BrokerArgs> for herald_bench::pipeline::Broker {
    /// The same broker for the benchmark's harness.
    fn from(args: BrokerArgs) -> Self {
        herald_bench::pipeline::Broker { url: args.broker, namespace: args.namespace }
    }
}

/// Names the flag of a bad broker setting that the benchmark's harness reported (it
/// opens the transport itself, and returns the facade's error unchanged); any other
/// error is returned as it is.
pub fn name_broker_flag(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<herald::Error>() {
        Some(herald::Error::InvalidNamespace(_) | herald::Error::InvalidBrokerUrl { .. }) => {
            match error.downcast::<herald::Error>() {
                Ok(error) => flag_error(error),
                Err(error) => error,
            }
        }
        _ => error,
    }
}

/// Names the flag a bad value came from.
fn flag_error(error: herald::Error) -> anyhow::Error {
    match error {
        herald::Error::InvalidNamespace(_) => anyhow!("--{error}"),
        herald::Error::InvalidBrokerUrl { .. } => anyhow!("--broker: {error}"),
        other => other.into(),
    }
}

/// The same broker for the reference shop; `None` for the embedded log, which the shop
/// opens itself with its own poll interval.
pub fn shop_broker(transport: &Transport) -> Option<Transport> {
    (!transport.is_embedded()).then(|| transport.clone())
}
