//! `/metrics` scraped after a run: the consumer's counters, the handler and latency
//! histograms and the DLQ depth match what the test published and broke. One test per
//! binary: the recorder is process-wide.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Billing, SERVICE, Service, publish, serve};
use herald_testkit::{TestDb, wait_until};

/// The value of the series `name{labels}` in a scrape.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no `{series}` in the scrape:\n{scrape}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_match_the_events_the_test_counted() {
    let prometheus = herald_admin::metrics::install().expect("the recorder");
    let test = TestDb::sqlite("admin_metrics").await;
    // Every fifth invoice is broken: 40 processed, 10 dead-lettered.
    let service =
        Service::start(&test.db, Billing { broken: Arc::new(|n| n % 5 == 0), retryable: false });
    let base = serve(&test.db, Arc::clone(&service.log), Some(prometheus)).await;
    publish(&service.log, 0..50).await;
    wait_until(Duration::from_secs(10), "the consumer settles all 50", || async {
        let overview = common::get_json(&format!("{base}/api/overview")).await;
        overview["dlq"]["depth"] == 10 && overview["consumers"][0]["processed_total"] == 40
    })
    .await;
    let scrape =
        reqwest::get(format!("{base}/metrics")).await.expect("scrape").text().await.expect("body");
    let labels = |outcome: &str| {
        format!(
            r#"herald_consumer_events_total{{service="{SERVICE}",type="test.invoiced",outcome="{outcome}"}}"#
        )
    };
    assert_eq!(value(&scrape, &labels("processed")), 40.0);
    assert_eq!(value(&scrape, &labels("dead_lettered")), 10.0);
    assert_eq!(value(&scrape, &format!(r#"herald_dlq_depth{{service="{SERVICE}"}}"#)), 10.0);
    let handler = format!(
        r#"herald_handler_duration_seconds_count{{service="{SERVICE}",type="test.invoiced"}}"#
    );
    assert!(value(&scrape, &handler) >= 50.0, "every event ran its handler at least once");
    let latency = format!(r#"herald_commit_to_handler_seconds_count{{service="{SERVICE}"}}"#);
    assert_eq!(value(&scrape, &latency), 40.0);
    assert!(
        scrape.contains(r#"herald_commit_to_handler_seconds_bucket{service="billing",le="0.1"}"#),
        "histograms have buckets"
    );
    service.stop().await;
    test.cleanup().await;
}
