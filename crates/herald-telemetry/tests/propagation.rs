//! Trace propagation through the outbox: an event committed inside a producer's span is
//! handled inside a consumer span of the same trace, whose parent is the producer's span;
//! an event committed outside any trace starts none; a `traceparent` set by the producer
//! (from an upstream system) is kept; a failed handler marks its span as an error.
//! SQLite, the relay, the embedded log, a consumer.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use herald_consumer::{Consumer, ConsumerConfig, Handler, HandlerContext, HandlerError, Router};
use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};
use herald_testkit::TestDb;

use herald_log::{SqlLog, SqlLogConfig};
use opentelemetry::trace::{
    SpanId, SpanKind, Status, TraceContextExt, TraceId, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// The parcel whose handler fails: its span is marked as an error.
const LOST_PARCEL: u32 = 13;

/// An upstream system's trace context, as a producer might receive it in a request.
const UPSTREAM: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Shipped {
    parcel: u32,
}

impl Event for Shipped {
    const TYPE: &'static str = "test.shipped";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;
    fn partition_key(&self) -> String {
        format!("parcel-{}", self.parcel)
    }
}

/// What the handler saw: the event's id, the `traceparent` its envelope carried and the
/// `traceparent` of the span the handler ran in.
struct Seen {
    id: uuid::Uuid,
    carried: Option<String>,
    current: Option<String>,
}

struct Track {
    seen: mpsc::UnboundedSender<Seen>,
}

#[async_trait]
impl Handler<Shipped, sqlx::Sqlite> for Track {
    async fn handle(
        &self,
        event: Shipped,
        ctx: HandlerContext<'_, sqlx::Sqlite>,
    ) -> Result<(), HandlerError> {
        let _ = self.seen.send(Seen {
            id: *ctx.envelope.id.as_uuid(),
            carried: ctx.envelope.traceparent.clone(),
            current: herald_telemetry::current_traceparent(),
        });
        if event.parcel == LOST_PARCEL {
            return Err(HandlerError::dead_letter("parcel 13 is lost"));
        }
        Ok(())
    }
}

/// The process's spans, exported in memory as each ends.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the test's subscriber is the only one");
        exporter
    })
}

/// Commits one shipment to the outbox in the caller's span; returns its id.
async fn commit(db: &Database, outbox: &Outbox, envelope: Envelope) -> uuid::Uuid {
    let Database::Sqlite(sqlite) = db else { unreachable!("the test runs on SQLite") };
    let mut tx = sqlite.writer.begin().await.expect("begin");
    outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
    tx.commit().await.expect("commit");
    *envelope.id.as_uuid()
}

/// The trace and span ids of a span that belongs to a trace.
fn ids(span: &tracing::Span) -> (TraceId, SpanId) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    assert!(span_context.is_valid(), "the producer's span is in a trace");
    (span_context.trace_id(), span_context.span_id())
}

fn trace_id_of(traceparent: &str) -> TraceId {
    let id = herald_telemetry::trace_id_of(traceparent).expect("a valid traceparent");
    TraceId::from_hex(&id).expect("hex trace id")
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn a_consumer_span_continues_the_producers_trace() {
    let exporter = exporter();
    let test = TestDb::sqlite("trace-propagation").await;
    let Database::Sqlite(sqlite) = &test.db else { unreachable!() };
    let log = Arc::new(SqlLog::new(
        test.db.clone(),
        SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() },
    ));
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let consumer = Consumer::new(
        ConsumerConfig::new("shipping-tracker"),
        sqlite.writer.clone(),
        Router::new().on::<Shipped, _>(Track { seen }),
    );
    let relay = Relay::new(
        OutboxStore::new(test.db.clone(), Retention::Keep(Duration::from_secs(3600))),
        Arc::clone(&log) as Arc<dyn herald_transport::Publisher>,
        RelayConfig { poll_interval: Duration::from_millis(20), ..RelayConfig::default() },
    );
    let (stop, stopped) = watch::channel(false);
    let until = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let relay_task = tokio::spawn(relay.run(until(stopped.clone())));
    let subscriber = Arc::clone(&log);
    let consumer_stopped = until(stopped);
    let consumer_task =
        tokio::spawn(async move { consumer.run(subscriber.as_ref(), consumer_stopped).await });

    // Three requests, each in its own trace; one write outside any trace; one write that
    // carries an upstream system's trace context.
    let outbox = Outbox::new(OutboxConfig::default()).expect("outbox");
    let mut producers = HashMap::new();
    for parcel in 0..3 {
        let request = tracing::info_span!("ship_parcel", parcel);
        let envelope = Envelope::from_event("/shipping", &Shipped { parcel }).expect("envelope");
        let id = commit(&test.db, &outbox, envelope).instrument(request.clone()).await;
        producers.insert(id, ids(&request));
    }
    let untraced = commit(
        &test.db,
        &outbox,
        Envelope::from_event("/shipping", &Shipped { parcel: 10 }).expect("envelope"),
    )
    .await;
    let upstream = commit(
        &test.db,
        &outbox,
        Envelope::from_event("/shipping", &Shipped { parcel: 11 })
            .expect("envelope")
            .with_traceparent(UPSTREAM),
    )
    .instrument(tracing::info_span!("ship_parcel", parcel = 11))
    .await;

    let mut handled = HashMap::new();
    while handled.len() < 5 {
        let seen = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
            .await
            .expect("all five events are handled within 10 s")
            .expect("the consumer runs");
        handled.insert(seen.id, seen);
    }
    // A failing handler, in a round of its own (a failure reruns the rest of its round).
    let lost = commit(
        &test.db,
        &outbox,
        Envelope::from_event("/shipping", &Shipped { parcel: LOST_PARCEL }).expect("envelope"),
    )
    .instrument(tracing::info_span!("ship_parcel", parcel = LOST_PARCEL))
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
        .await
        .expect("the lost parcel is handled within 10 s")
        .expect("the consumer runs");
    assert_eq!(seen.id, lost);
    stop.send_replace(true);
    relay_task.await.expect("relay task").expect("relay");
    consumer_task.await.expect("consumer task").expect("consumer");

    // The envelope carried the producer's trace context, captured at enqueue, and the
    // handler ran in that trace.
    for (id, (trace_id, _)) in &producers {
        let carried = handled[id].carried.as_deref().expect("traceparent captured at enqueue");
        assert_eq!(trace_id_of(carried), *trace_id, "event {id}: the producer's trace");
        let current = handled[id].current.as_deref().expect("the handler runs in a trace");
        assert_eq!(trace_id_of(current), *trace_id, "event {id}: the handler's trace");
    }
    assert_eq!(handled[&untraced].carried, None, "no span, no trace context");
    assert_eq!(handled[&upstream].carried.as_deref(), Some(UPSTREAM), "the producer's own kept");
    let upstream_current = handled[&upstream].current.as_deref().expect("in a trace");
    assert_eq!(trace_id_of(upstream_current), trace_id_of(UPSTREAM));

    // The exported consumer spans: kind consumer, parent the producer's span.
    let spans = exporter.get_finished_spans().expect("finished spans");
    let consumed = |id: &uuid::Uuid| -> SpanData {
        let matching: Vec<&SpanData> = spans
            .iter()
            .filter(|s| s.name == "herald.consume")
            .filter(|s| attribute(s, "event.id").as_deref() == Some(id.to_string().as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "one consumer span for event {id}");
        matching[0].clone()
    };
    for (id, (trace_id, span_id)) in &producers {
        let span = consumed(id);
        assert_eq!(span.span_context.trace_id(), *trace_id, "event {id}: trace");
        assert_eq!(span.parent_span_id, *span_id, "event {id}: parent is the producer's span");
        assert!(span.parent_span_is_remote, "the parent came through the envelope");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(attribute(&span, "service").as_deref(), Some("shipping-tracker"));
        assert_eq!(attribute(&span, "event.type").as_deref(), Some("test.shipped"));
    }
    let lone = consumed(&untraced);
    assert!(
        producers.values().all(|(trace_id, _)| *trace_id != lone.span_context.trace_id()),
        "an untraced event starts a trace of its own"
    );
    assert_eq!(lone.parent_span_id, SpanId::INVALID, "and its consumer span is a root");
    let continued = consumed(&upstream);
    assert_eq!(continued.span_context.trace_id(), trace_id_of(UPSTREAM));
    assert_eq!(continued.parent_span_id, SpanId::from_hex("00f067aa0ba902b7").expect("hex"));
    assert_eq!(continued.status, Status::Unset, "a handler that succeeds sets no status");
    let failed = consumed(&lost);
    assert_eq!(failed.status, Status::error("parcel 13 is lost"), "a failure marks the span");
    test.cleanup().await;
}
