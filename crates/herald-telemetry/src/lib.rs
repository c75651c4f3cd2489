//! Herald's traces: one trace from the request that produced an event to every handler
//! that consumed it.
//!
//! - **Capture** ([`current_traceparent`]): when an event is written to the outbox without
//!   a `traceparent`, the producer's current span gives one (W3C Trace Context), and the
//!   envelope carries it through the relay and the broker.
//! - **Continue** ([`continue_trace`]): the consumer opens a span per event whose parent
//!   is the envelope's `traceparent`, so the handler's work joins the producer's trace.
//! - **Export** ([`Telemetry`]): the binary's log output, plus, when an OTLP endpoint is
//!   configured, spans exported over OTLP/HTTP (protobuf) to a collector, Jaeger, Tempo…
//!
//! With no OpenTelemetry layer installed, capture finds nothing and continuing a trace
//! does nothing: a producer that sets `traceparent` itself still has it carried, and the
//! hot path pays one failed lookup per event.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

mod export;

pub use export::{Telemetry, TelemetryError, check_endpoint, redact};

/// The header, and the envelope attribute, that W3C Trace Context defines.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C `traceparent` of the current span, if it belongs to a trace: the value to
/// store in an event written now.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The W3C `traceparent` of `span`, if it belongs to a trace.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = TraceparentCarrier::default();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.value
}

/// Makes `span` a child of the span that `traceparent` names. Call it before the span is
/// first entered. Returns whether the span now continues that trace: false when the
/// value is not a valid `traceparent`, or when no OpenTelemetry layer is installed.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) -> bool {
    if span.is_disabled() {
        return false; // Filtered out: parsing the header would be wasted.
    }
    let Some(parent) = parse_traceparent(traceparent) else {
        return false;
    };
    span.set_parent(parent).is_ok()
}

/// The remote span context that `traceparent` names, or `None` if it is not valid.
fn parse_traceparent(traceparent: &str) -> Option<Context> {
    if !is_version_00(traceparent) {
        return None;
    }
    let carrier = TraceparentCarrier { value: Some(traceparent.to_owned()) };
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// Whether `traceparent` has the shape of W3C Trace Context version 00, the only one the
/// envelope's `traceparent` attribute takes: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase.
/// OpenTelemetry's propagator alone is looser (it reads ids shorter than their length),
/// and a request header it accepted became an event attribute that fails validation.
fn is_version_00(traceparent: &str) -> bool {
    let mut parts = traceparent.split('-');
    let lower_hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    parts.next() == Some("00")
        && [32, 16, 2].into_iter().all(|len| parts.next().is_some_and(|part| lower_hex(part, len)))
        && parts.next().is_none()
}

/// The trace id (32 lowercase hex digits) of a `traceparent`, if it is valid.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let context = parse_traceparent(traceparent)?;
    Some(context.span().span_context().trace_id().to_string())
}

/// A text map holding only `traceparent`: all the envelope carries.
#[derive(Default)]
struct TraceparentCarrier {
    value: Option<String>,
}

impl Injector for TraceparentCarrier {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.value = Some(value);
        }
    }
}

impl Extractor for TraceparentCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.value.as_deref()).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn traced() -> (SdkTracerProvider, impl tracing::Subscriber + Send + Sync) {
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(InMemorySpanExporter::default())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        (provider, tracing_subscriber::registry().with(layer))
    }

    #[test]
    fn without_a_layer_nothing_is_captured_and_nothing_continued() {
        let span = tracing::info_span!("alone");
        assert_eq!(traceparent_of(&span), None);
        assert!(!continue_trace(&span, SAMPLE));
    }

    #[test]
    fn with_logs_alone_a_recorded_span_captures_and_continues_nothing() {
        let logs = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::EnvFilter::new("info")),
        );
        tracing::subscriber::with_default(logs, || {
            let span = tracing::info_span!("consume");
            assert!(!span.is_disabled(), "the log layer records the span");
            assert!(!continue_trace(&span, SAMPLE));
            assert_eq!(traceparent_of(&span), None);
        });
    }

    #[test]
    fn a_span_continues_the_trace_its_traceparent_names() {
        let (_provider, subscriber) = traced();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("consume");
            assert!(continue_trace(&span, SAMPLE));
            let captured = traceparent_of(&span).expect("the span is in a trace");
            assert_eq!(trace_id_of(&captured).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
            assert_ne!(captured, SAMPLE, "the child has a span id of its own");
        });
    }

    #[test]
    fn an_invalid_traceparent_is_ignored() {
        let (_provider, subscriber) = traced();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("consume");
            for bad in [
                "",
                "garbage",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                // Found by the `http_ingest` fuzz target: short ids, which the propagator
                // reads as if zero-padded.
                "00-4bf46f3577b34da6a3ce929d0e0e4-60f0a0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            ] {
                assert!(!continue_trace(&span, bad), "{bad:?} accepted");
                assert_eq!(trace_id_of(bad), None);
            }
        });
    }
}
