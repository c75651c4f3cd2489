//! Handler layers: code that runs around every handler call of a consumer, such as its
//! trace span, its metrics, or a service's own counters, added with [`Router::layer`]
//! rather than written into each handler or into the consumer's loop.
//!
//! A layer gets the handler's context and [`Next`], the rest of the chain; it may look at
//! the envelope, run code before and after, and must return what `next.run(ctx)` returned
//! (or an error of its own). The consumer puts its own layers outermost: [`TraceLayer`]
//! (the `herald.consume` span), then [`MetricsLayer`] (`herald_handler_duration_seconds`),
//! then the router's layers in the order they were added, then the handler.
//!
//! [`Router::layer`]: crate::Router::layer

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use crate::handler::ErasedHandler;
use crate::{HandlerContext, HandlerError};

/// Code that wraps every handler call (see the [module docs](self)).
#[async_trait]
pub trait HandlerLayer<DB: sqlx::Database>: Send + Sync + 'static {
    /// Runs around one handler call: call `next.run(ctx)` to go on.
    async fn call(
        &self,
        ctx: HandlerContext<'_, DB>,
        next: Next<'_, DB>,
    ) -> Result<(), HandlerError>;
}

/// The rest of a layer chain: the layers after this one, then the handler.
pub struct Next<'a, DB: sqlx::Database> {
    layers: &'a [Arc<dyn HandlerLayer<DB>>],
    handler: &'a dyn ErasedHandler<DB>,
}

impl<'a, DB: sqlx::Database> Next<'a, DB> {
    pub(crate) fn new(
        layers: &'a [Arc<dyn HandlerLayer<DB>>],
        handler: &'a dyn ErasedHandler<DB>,
    ) -> Next<'a, DB> {
        Next { layers, handler }
    }

    /// Runs the next layer, or the handler after the last one.
    pub async fn run(self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        match self.layers.split_first() {
            Some((layer, rest)) => {
                layer.call(ctx, Next { layers: rest, handler: self.handler }).await
            }
            None => self.handler.call(ctx).await,
        }
    }
}

/// Runs each handler call in a span of its own, `herald.consume`, which continues the
/// producer's trace when the envelope carries a W3C `traceparent`, and is marked as an
/// error (`otel.status_description`) when the handler fails.
#[derive(Debug, Clone)]
pub struct TraceLayer {
    service: String,
}

impl TraceLayer {
    /// Spans named for the consuming `service`.
    pub fn new(service: impl Into<String>) -> TraceLayer {
        TraceLayer { service: service.into() }
    }
}

#[async_trait]
impl<DB: sqlx::Database> HandlerLayer<DB> for TraceLayer {
    async fn call(
        &self,
        ctx: HandlerContext<'_, DB>,
        next: Next<'_, DB>,
    ) -> Result<(), HandlerError> {
        let envelope = ctx.envelope;
        let span = tracing::info_span!(
            target: "herald",
            "herald.consume",
            otel.kind = "consumer",
            service = %self.service,
            event.id = %envelope.id,
            event.type = %envelope.event_type,
            otel.status_description = tracing::field::Empty,
        );
        if let Some(traceparent) = &envelope.traceparent {
            herald_telemetry::continue_trace(&span, traceparent);
        }
        let result = next.run(ctx).instrument(span.clone()).await;
        if let Err(error) = &result
            && !span.is_disabled()
        {
            span.record("otel.status_description", error.to_string());
        }
        result
    }
}

/// Records how long each handler call ran, in the histogram
/// `herald_handler_duration_seconds` by service and event type.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    service: String,
}

impl MetricsLayer {
    /// Durations labelled with the consuming `service`.
    pub fn new(service: impl Into<String>) -> MetricsLayer {
        MetricsLayer { service: service.into() }
    }
}

#[async_trait]
impl<DB: sqlx::Database> HandlerLayer<DB> for MetricsLayer {
    async fn call(
        &self,
        ctx: HandlerContext<'_, DB>,
        next: Next<'_, DB>,
    ) -> Result<(), HandlerError> {
        let event_type = ctx.envelope.event_type.clone();
        let started = Instant::now();
        let result = next.run(ctx).await;
        metrics::histogram!(
            "herald_handler_duration_seconds",
            "service" => self.service.clone(),
            "type" => event_type
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}
