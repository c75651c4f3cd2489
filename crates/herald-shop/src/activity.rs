//! [`Activity`]: what each service handled so far, live, for a view of the shop at work;
//! and [`Observed`], the handler layer that reports to it.
//!
//! The figures count handler runs that succeeded, before their transaction commits, so a
//! run rolled back later (and retried) counts twice. They are for watching; the
//! verification ([`crate::Shop::verify`], [`crate::census`]) counts from the database.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hdrhistogram::Histogram;
use herald_consumer::{HandlerContext, HandlerError, HandlerLayer, Next};

/// Live counters of the shop's services.
#[derive(Debug, Default)]
pub struct Activity {
    services: Mutex<BTreeMap<&'static str, ServiceActivity>>,
}

/// What one service handled.
#[derive(Debug, Clone)]
pub struct ServiceActivity {
    /// Handled events per event type.
    pub handled: BTreeMap<String, u64>,
    /// From the event's time (when its producer created it, in its transaction) to the
    /// end of this service's handler, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Default for ServiceActivity {
    fn default() -> Self {
        ServiceActivity { handled: BTreeMap::new(), latency_us: latency_histogram() }
    }
}

impl ServiceActivity {
    /// Every event this service handled.
    pub fn total(&self) -> u64 {
        self.handled.values().sum()
    }
}

/// A histogram from 1 µs to one hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Activity {
    /// Records that `service` handled an event of `event_type`, `latency_us` after it was
    /// created.
    pub fn record(&self, service: &'static str, event_type: &str, latency_us: u64) {
        if let Ok(mut services) = self.services.lock() {
            let service = services.entry(service).or_default();
            match service.handled.get_mut(event_type) {
                Some(count) => *count += 1,
                None => {
                    service.handled.insert(event_type.to_owned(), 1);
                }
            }
            service.latency_us.saturating_record(latency_us.max(1));
        }
    }

    /// A copy of every service's figures.
    pub fn snapshot(&self) -> BTreeMap<&'static str, ServiceActivity> {
        self.services.lock().map(|services| services.clone()).unwrap_or_default()
    }

    /// The latencies of every service together.
    pub fn overall_latency(&self) -> Histogram<u64> {
        let mut all = latency_histogram();
        for service in self.snapshot().values() {
            let _ = all.add(&service.latency_us);
        }
        all
    }
}

/// A handler layer ([`herald_consumer::Router::layer`]) that reports each event a
/// service's handlers handled to an [`Activity`].
#[derive(Debug, Clone)]
pub struct Observed {
    service: &'static str,
    activity: std::sync::Arc<Activity>,
}

impl Observed {
    /// Reports as `service` to `activity`.
    pub fn new(service: &'static str, activity: std::sync::Arc<Activity>) -> Self {
        Observed { service, activity }
    }
}

#[async_trait]
impl<DB: sqlx::Database> HandlerLayer<DB> for Observed {
    async fn call(
        &self,
        ctx: HandlerContext<'_, DB>,
        next: Next<'_, DB>,
    ) -> Result<(), HandlerError> {
        let (created, event_type) = (ctx.envelope.time, ctx.envelope.event_type.clone());
        next.run(ctx).await?;
        self.activity.record(self.service, &event_type, micros_since(created));
        Ok(())
    }
}

fn micros_since(time: chrono::DateTime<chrono::Utc>) -> u64 {
    let elapsed = chrono::Utc::now().signed_duration_since(time);
    u64::try_from(elapsed.num_microseconds().unwrap_or(0)).unwrap_or(0)
}
