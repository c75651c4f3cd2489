//! Test-only pieces, compiled only with the `testing` feature (which the integration
//! tests enable through the package's dev-dependency on itself): the hidden
//! `shop-consumer` subcommand and the relay's fault injection.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use herald_bench::workload::{self, RecordOrder, Tracker};
use herald_cli::transport::BrokerArgs;
use herald_consumer::{Consumer, ConsumerConfig, Router};
use herald_db::Database;
use herald_relay::RelayConfig;

#[derive(Debug, clap::Args)]
pub(crate) struct ShopConsumerArgs {
    /// Database URL holding the log, the inbox and the shop's effects.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// This member's name in the consumer group.
    #[arg(long)]
    member: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Fault injection for crash tests: each handler waits this long inside its
    /// transaction, so that a kill lands mid-handler.
    #[arg(long, default_value_t = 0, hide = true)]
    handler_delay_ms: u64,
}

/// The relay's fault injection (`herald relay --pause-before-mark-ms`).
#[derive(Debug, clap::Args)]
pub(crate) struct RelayFaults {
    /// Fault injection for crash tests: pause this long between the transport's
    /// confirmation and marking rows sent.
    #[arg(long, default_value_t = 0, hide = true)]
    pause_before_mark_ms: u64,
}

impl RelayFaults {
    /// `config` with these faults injected.
    pub(crate) fn apply(&self, config: RelayConfig) -> RelayConfig {
        RelayConfig {
            pause_before_mark: Duration::from_millis(self.pause_before_mark_ms),
            ..config
        }
    }
}

/// Runs the demo shop's consumer (`shipping`) until stopped.
pub(crate) async fn run_shop_consumer(args: ShopConsumerArgs) -> anyhow::Result<ExitCode> {
    let db = super::connect(&args.database).await?;
    workload::create_tables(&db, &db).await?;
    let transport = args.broker.open(&db, 16)?;
    let config = ConsumerConfig { member: args.member, ..ConsumerConfig::new("shipping") };
    let tracker = Arc::new(Tracker::new(""));
    let record =
        RecordOrder { tracker, handler_delay: Duration::from_millis(args.handler_delay_ms) };
    let subscriber = transport.subscriber.as_ref();
    match db {
        Database::Postgres(pool) => {
            Consumer::new(config, pool, Router::new().on(record))
                .run(subscriber, super::shutdown_signal())
                .await?;
        }
        Database::Sqlite(sqlite) => {
            Consumer::new(config, sqlite.writer, Router::new().on(record))
                .run(subscriber, super::shutdown_signal())
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
