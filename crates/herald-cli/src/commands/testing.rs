//! Test-only pieces, compiled only with the `testing` feature (which the integration
//! tests enable through the package's dev-dependency on itself): the relay's fault
//! injection.

use std::time::Duration;

use herald_relay::RelayConfig;

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
