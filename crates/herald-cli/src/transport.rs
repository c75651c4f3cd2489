//! Choosing the transport from the command line: the embedded log, RabbitMQ or NATS.
//! Opening one from a URL is the facade's ([`herald::Transport::open`]); this module has
//! the flags and their messages.

use std::path::PathBuf;

use anyhow::anyhow;
use herald_db::Database;

pub use herald::{BrokerTls, Transport};

/// Where events travel between services.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Broker URL: `amqp://…` or `amqps://…` (RabbitMQ), `nats://…` or `tls://…` (NATS
    /// JetStream; with `nats://` TLS is used when the server requires it); default: the
    /// embedded log in the database.
    #[arg(long, env = "HERALD_BROKER_URL")]
    pub broker: Option<String>,
    /// Prefix of the broker's names (exchange, queues, stream, subjects), so that several
    /// Herald installations can share one broker.
    #[arg(long, env = "HERALD_NAMESPACE", default_value = "herald")]
    pub namespace: String,
    /// A PEM file of CA certificates to trust, besides the system's, when verifying the
    /// broker's TLS certificate (`amqps://`, or NATS, where it makes TLS required).
    #[arg(long, env = "HERALD_BROKER_CA_FILE")]
    pub broker_ca_file: Option<PathBuf>,
    /// NATS: a client certificate (PEM) for a server that verifies its clients (mutual
    /// TLS); with --broker-client-key.
    #[arg(long, env = "HERALD_BROKER_CLIENT_CERT")]
    pub broker_client_cert: Option<PathBuf>,
    /// NATS: the private key (PEM) of --broker-client-cert.
    #[arg(long, env = "HERALD_BROKER_CLIENT_KEY")]
    pub broker_client_key: Option<PathBuf>,
}

impl Default for BrokerArgs {
    /// The embedded log, namespace `herald`, no TLS settings.
    fn default() -> Self {
        BrokerArgs {
            broker: None,
            namespace: "herald".into(),
            broker_ca_file: None,
            broker_client_cert: None,
            broker_client_key: None,
        }
    }
}

impl BrokerArgs {
    /// Checks the namespace, the URL's scheme and the TLS files, without connecting.
    pub fn check(&self) -> anyhow::Result<()> {
        Transport::check(self.broker.as_deref(), &self.namespace).map_err(flag_error)?;
        Transport::check_tls(self.broker.as_deref(), &self.tls()?).map_err(flag_error)
    }

    /// Opens the transport; the embedded log lives in `db`.
    pub fn open(&self, db: &Database, partitions: u32) -> anyhow::Result<Transport> {
        let (url, tls) = (self.broker.as_deref(), self.tls()?);
        Transport::open_with_tls(url, &self.namespace, db, partitions, &tls).map_err(flag_error)
    }

    /// The TLS settings of the flags; a client certificate needs its key and the reverse.
    pub fn tls(&self) -> anyhow::Result<BrokerTls> {
        let client_cert = match (&self.broker_client_cert, &self.broker_client_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => {
                return Err(anyhow!(
                    "--broker-client-cert and --broker-client-key: give both, or neither"
                ));
            }
        };
        Ok(BrokerTls { ca_file: self.broker_ca_file.clone(), client_cert })
    }
}

impl TryFrom<BrokerArgs> for herald_bench::pipeline::Broker {
    type Error = anyhow::Error;

    /// The same broker for the benchmark's harness.
    fn try_from(args: BrokerArgs) -> anyhow::Result<Self> {
        let tls = args.tls()?;
        Ok(herald_bench::pipeline::Broker { url: args.broker, namespace: args.namespace, tls })
    }
}

/// Names the flag of a bad broker setting that the benchmark's harness reported (it
/// opens the transport itself, and returns the facade's error unchanged); any other
/// error is returned as it is.
pub fn name_broker_flag(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<herald::Error>() {
        Some(
            herald::Error::InvalidNamespace(_)
            | herald::Error::InvalidBrokerUrl { .. }
            | herald::Error::BrokerTls(_),
        ) => match error.downcast::<herald::Error>() {
            Ok(error) => flag_error(error),
            Err(error) => error,
        },
        _ => error,
    }
}

/// Names the flag a bad value came from.
fn flag_error(error: herald::Error) -> anyhow::Error {
    match error {
        herald::Error::InvalidNamespace(_) => anyhow!("--{error}"),
        herald::Error::InvalidBrokerUrl { .. } => anyhow!("--broker: {error}"),
        herald::Error::BrokerTls(_) => anyhow!("--broker-ca-file, --broker-client-cert: {error}"),
        other => other.into(),
    }
}

/// The same broker for the reference shop; `None` for the embedded log, which the shop
/// opens itself with its own poll interval.
pub fn shop_broker(transport: &Transport) -> Option<Transport> {
    (!transport.is_embedded()).then(|| transport.clone())
}
