//! What tracing costs per event on the hot path, measured side by side in one process:
//! `cargo run --release -p herald-telemetry --example trace_cost`.
//!
//! - capture at enqueue (`current_traceparent`) with no OpenTelemetry layer (the default
//!   when no OTLP endpoint is configured), and inside a traced span;
//! - the consumer's span per event (`herald.consume`, its parent set from the envelope's
//!   `traceparent`), disabled by the log filter, and recorded by the layer (an exporter
//!   that keeps nothing, so that export itself is not measured).

use std::hint::black_box;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;

const ROUNDS: u32 = 200_000;
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// An exporter that drops every span.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

fn per_call(rounds: u32, mut work: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..rounds {
        work();
    }
    started.elapsed() / rounds
}

fn consume_span() {
    let span = tracing::info_span!(
        target: "herald",
        "herald.consume",
        otel.kind = "consumer",
        service = "billing",
        event.type = "shop.order_placed",
    );
    herald_telemetry::continue_trace(&span, TRACEPARENT);
    let _entered = span.enter();
    black_box(&span);
}

fn main() {
    let filtered = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(tracing_subscriber::EnvFilter::new("warn")),
    );
    let (capture_off, span_off) = tracing::subscriber::with_default(filtered, || {
        let capture = per_call(ROUNDS, || {
            black_box(herald_telemetry::current_traceparent());
        });
        (capture, per_call(ROUNDS, consume_span))
    });

    let provider = SdkTracerProvider::builder().with_simple_exporter(Discard).build();
    let traced = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let (capture_on, span_on) = tracing::subscriber::with_default(traced, || {
        let request = tracing::info_span!("request");
        let _entered = request.enter();
        let capture = per_call(ROUNDS, || {
            black_box(herald_telemetry::current_traceparent());
        });
        (capture, per_call(ROUNDS, consume_span))
    });

    println!("per event, {ROUNDS} rounds each:");
    println!("  capture at enqueue, no layer (default):  {capture_off:>10.1?}");
    println!("  consumer span, filtered out (default):   {span_off:>10.1?}");
    println!("  capture at enqueue, in a traced span:     {capture_on:>10.1?}");
    println!("  consumer span, recorded (OTLP on):       {span_on:>10.1?}");
}
