//! [`Activity`]: what each service handled so far, live, for a view of the shop at work;
//! and [`Observed`], the handler wrapper that reports to it.
//!
//! The figures count handler runs that succeeded, before their transaction commits, so a
//! run rolled back later (and retried) counts twice. They are for watching; the
//! verification ([`crate::Shop::verify`], [`crate::census`]) counts from the database.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hdrhistogram::Histogram;
use herald_consumer::{EnvelopeHandler, Handler, HandlerContext, HandlerError};
use herald_envelope::Event;

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

/// A handler (typed or envelope) that reports each event it handled to an [`Activity`].
#[derive(Debug, Clone)]
pub struct Observed<H> {
    service: &'static str,
    activity: std::sync::Arc<Activity>,
    handler: H,
}

impl<H> Observed<H> {
    /// Wraps `handler`, reporting as `service`.
    pub fn new(service: &'static str, activity: std::sync::Arc<Activity>, handler: H) -> Self {
        Observed { service, activity, handler }
    }
}

#[async_trait]
impl<E, DB, H> Handler<E, DB> for Observed<H>
where
    E: Event + Send + 'static,
    DB: sqlx::Database,
    H: Handler<E, DB>,
{
    async fn handle(&self, event: E, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        let created = ctx.envelope.time;
        self.handler.handle(event, ctx).await?;
        self.activity.record(self.service, E::TYPE, micros_since(created));
        Ok(())
    }
}

#[async_trait]
impl<DB, H> EnvelopeHandler<DB> for Observed<H>
where
    DB: sqlx::Database,
    H: EnvelopeHandler<DB>,
{
    async fn handle(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        let (created, event_type) = (ctx.envelope.time, ctx.envelope.event_type.clone());
        self.handler.handle(ctx).await?;
        self.activity.record(self.service, &event_type, micros_since(created));
        Ok(())
    }
}

fn micros_since(time: chrono::DateTime<chrono::Utc>) -> u64 {
    let elapsed = chrono::Utc::now().signed_duration_since(time);
    u64::try_from(elapsed.num_microseconds().unwrap_or(0)).unwrap_or(0)
}
