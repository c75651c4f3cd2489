//! `herald relay`: publish committed outbox rows to the transport.

use std::process::ExitCode;
use std::time::Duration;

use herald_cli::transport::BrokerArgs;
use herald_db::Database;
use herald_outbox::{OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct RelayArgs {
    /// Database URL holding the outbox (and the embedded log).
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// This relay's unique name (default: random).
    #[arg(long)]
    relay_id: Option<String>,
    /// Outbox partitions; all producers and relays must agree.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Longest wait between polls, in milliseconds (wake-ups come sooner).
    #[arg(long, default_value_t = 500)]
    poll_interval_ms: u64,
    /// Keep sent rows this many seconds before purging (0 = delete when sent).
    #[arg(long, default_value_t = 3600)]
    retention_secs: u64,
    /// Keep the delivery ledger's records (`herald events show`) this many days.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    ledger_retention_days: u32,
    #[cfg(feature = "testing")]
    #[command(flatten)]
    faults: super::testing::RelayFaults,
}

pub(crate) async fn run(args: RelayArgs) -> anyhow::Result<ExitCode> {
    let config = RelayConfig {
        partitions: args.partitions,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(1)),
        relay_id: args.relay_id.unwrap_or_else(|| RelayConfig::default().relay_id),
        ..RelayConfig::default()
    };
    #[cfg(feature = "testing")]
    let config = args.faults.apply(config);
    let (retention_secs, ledger_retention_days) = (args.retention_secs, args.ledger_retention_days);
    let store = |db| {
        OutboxStore::new(db, retention_of(retention_secs))
            .with_ledger_retention(days(ledger_retention_days))
    };
    run_relay(&args.database, &args.broker, config, store).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_relay(
    url: &str,
    broker: &BrokerArgs,
    config: RelayConfig,
    store: impl FnOnce(Database) -> OutboxStore,
) -> anyhow::Result<()> {
    let db = super::connect(url).await?;
    let transport = broker.open(&db, config.partitions)?;
    eprintln!(
        "Relay {} publishing to {}; stop it with Ctrl-C or SIGTERM.",
        config.relay_id, transport.name
    );
    let relay = Relay::new(store(db), transport.publisher, config);
    relay.run(super::shutdown_signal()).await?;
    Ok(())
}

/// The outbox retention of `--retention-secs`: 0 deletes rows when sent.
fn retention_of(secs: u64) -> Retention {
    match secs {
        0 => Retention::DeleteOnSend,
        secs => Retention::Keep(Duration::from_secs(secs)),
    }
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 3600)
}
