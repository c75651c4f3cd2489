//! `herald bench --compare`: Herald and its yardsticks back to back in one run, with the
//! ratios, so that a figure never stands alone on a shared, noisy machine.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bench::{self, BenchOptions, LatencyMs, Summary};

/// One yardstick's result beside Herald's.
#[derive(Debug, Clone, Serialize)]
pub struct Yardstick {
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

/// Which yardsticks apply: the producers always; the broker alone with a broker; the
/// naive relay on PostgreSQL with a broker.
pub fn yardsticks(options: &BenchOptions) -> Vec<&'static str> {
    let has_broker = options.broker.url.is_some();
    let postgres = options.database.as_deref().is_some_and(|url| url.starts_with("postgres"));
    let mut names = vec!["producers"];
    if has_broker {
        names.push("broker");
    }
    if has_broker && postgres {
        names.push("naive");
    }
    names
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
    for name in yardsticks(options) {
        progress(name);
        let yardstick = run_yardstick(name, options).await?;
        let ratio = herald.throughput_eps / yardstick.0.max(f64::MIN_POSITIVE);
        let (throughput_eps, latency_ms, lost) = yardstick;
        baselines.insert(name.to_owned(), Yardstick { throughput_eps, ratio, latency_ms, lost });
    }
    Ok(Comparison { herald, baselines })
}

async fn run_yardstick(
    name: &str,
    options: &BenchOptions,
) -> anyhow::Result<(f64, Option<LatencyMs>, Option<u64>)> {
    Ok(match name {
        "producers" => (bench::baseline(options).await?.throughput_eps, None, None),
        "broker" => {
            let result = crate::broker::broker_baseline(options).await?;
            (result.throughput_eps, Some(result.latency_ms), Some(result.lost))
        }
        _ => {
            let result = crate::naive::naive_baseline(options).await?;
            (result.throughput_eps, Some(result.latency_ms), Some(result.lost))
        }
    })
}

impl Comparison {
    /// Herald's summary, then a line per yardstick with its ratio.
    pub fn render(&self) -> String {
        let mut text = self.herald.render();
        text.push_str("\n  compared in the same run (Herald's throughput ÷ the yardstick's):");
        for (name, yardstick) in &self.baselines {
            let what = match name.as_str() {
                "producers" => "the producers alone (database only)",
                "broker" => "the broker alone (no database)",
                _ => "a naive relay (no inbox)",
            };
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
