//! `herald bench --compare`: Herald and its yardsticks back to back in one run, with the
//! ratios, so that a figure never stands alone on a shared, noisy machine.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bench::{self, BenchOptions, LatencyMs, Summary};

/// One yardstick's result beside Herald's.
#[derive(Debug, Clone, Serialize)]
pub struct Yardstick {
    /// Which yardstick ran.
    #[serde(skip)]
    pub kind: YardstickKind,
    /// What the yardstick did per second (transactions, or messages delivered).
    pub throughput_eps: f64,
    /// Herald's throughput divided by this one's.
    pub ratio: f64,
    /// Its latency (due to receipt), where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<LatencyMs>,
    /// Messages it lost (must be 0), where it counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

/// Herald's summary with its yardsticks (`--compare --json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Herald's run.
    #[serde(flatten)]
    pub herald: Summary,
    /// By name: `producers` (the database alone), `broker` (the broker alone, with a
    /// broker), `naive` (the hand-written relay, on PostgreSQL with a broker).
    pub baselines: BTreeMap<String, Yardstick>,
}

/// A yardstick Herald is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YardstickKind {
    /// The producers' transactions alone ([`bench::baseline`]).
    Producers,
    /// The broker alone ([`crate::broker::broker_baseline`]).
    Broker,
    /// The hand-written relay ([`crate::naive::naive_baseline`]).
    Naive,
}

impl YardstickKind {
    /// Its key in [`Comparison::baselines`].
    pub fn name(self) -> &'static str {
        match self {
            YardstickKind::Producers => "producers",
            YardstickKind::Broker => "broker",
            YardstickKind::Naive => "naive",
        }
    }

    /// What it is, for a person.
    fn describe(self) -> &'static str {
        match self {
            YardstickKind::Producers => "the producers alone (database only)",
            YardstickKind::Broker => "the broker alone (no database)",
            YardstickKind::Naive => "a naive relay (no inbox)",
        }
    }

    /// Runs it: its throughput, and its latency and losses where it counts them.
    async fn run(
        self,
        options: &BenchOptions,
    ) -> anyhow::Result<(f64, Option<LatencyMs>, Option<u64>)> {
        let yardstick = match self {
            YardstickKind::Producers => {
                return Ok((bench::baseline(options).await?.throughput_eps, None, None));
            }
            YardstickKind::Broker => crate::broker::broker_baseline(options).await?,
            YardstickKind::Naive => crate::naive::naive_baseline(options).await?,
        };
        Ok((yardstick.throughput_eps, Some(yardstick.latency_ms), Some(yardstick.lost)))
    }
}

/// Which yardsticks apply: the producers always; the broker alone with a broker; the
/// naive relay on PostgreSQL with a broker.
pub fn yardsticks(options: &BenchOptions) -> Vec<YardstickKind> {
    let has_broker = options.broker.url.is_some();
    let postgres = options.database.as_deref().is_some_and(|url| url.starts_with("postgres"));
    let mut kinds = vec![YardstickKind::Producers];
    if has_broker {
        kinds.push(YardstickKind::Broker);
    }
    if has_broker && postgres {
        kinds.push(YardstickKind::Naive);
    }
    kinds
}

/// Runs Herald, then each yardstick of [`yardsticks`] with the same options; `progress`
/// hears the name of each run as it starts.
pub async fn compare(
    options: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Comparison> {
    progress("herald");
    let herald = bench::run(options).await?;
    let mut baselines = BTreeMap::new();
    for kind in yardsticks(options) {
        progress(kind.name());
        let (throughput_eps, latency_ms, lost) = kind.run(options).await?;
        let ratio = herald.throughput_eps / throughput_eps.max(f64::MIN_POSITIVE);
        let yardstick = Yardstick { kind, throughput_eps, ratio, latency_ms, lost };
        baselines.insert(kind.name().to_owned(), yardstick);
    }
    Ok(Comparison { herald, baselines })
}

impl Comparison {
    /// Herald's summary, then a line per yardstick with its ratio.
    pub fn render(&self) -> String {
        let mut text = self.herald.render();
        text.push_str("\n  compared in the same run (Herald's throughput ÷ the yardstick's):");
        for yardstick in self.baselines.values() {
            let what = yardstick.kind.describe();
            let latency =
                yardstick.latency_ms.map(|l| format!(", p99 {:.2} ms", l.p99)).unwrap_or_default();
            text.push_str(&format!(
                "\n    {what:<38} {:>8.0}/s{latency}  → ratio {:.2}",
                yardstick.throughput_eps, yardstick.ratio
            ));
        }
        text
    }

    /// Whether Herald and every yardstick kept their counts.
    pub fn is_clean(&self) -> bool {
        self.herald.is_clean() && self.baselines.values().all(|y| y.lost.unwrap_or(0) == 0)
    }
}
