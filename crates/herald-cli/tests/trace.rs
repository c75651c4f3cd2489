//! Traces exported over OTLP: `herald demo --otlp-endpoint` sends its spans to a collector
//! the test runs (OTLP/HTTP, protobuf, decoded with the OpenTelemetry protocol crate).
//! Every customer command is a trace; every consumer span continues the trace of the
//! event it handles, so a paid order's trace runs from the customer through shipping
//! and notifications to the notification service. On SQLite with the embedded
//! log, and on PostgreSQL with RabbitMQ.
#![allow(clippy::disallowed_methods)] // the OTLP collector here are not Herald APIs

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use herald_testkit::TestDb;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
    service_name: Option<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP collector on a free port: stores every span it is sent. Returns its
/// base URL.
async fn start_collector(spans: Spans) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let spans = Arc::clone(&spans);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                spans.lock().expect("spans").extend(received(request));
                ([("content-type", "application/x-protobuf")], Vec::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn received(request: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| text_attributes(&r.attributes));
        let service_name = resource.and_then(|r| r.get("service.name").cloned());
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Received {
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    attributes: text_attributes(&span.attributes),
                    service_name: service_name.clone(),
                });
            }
        }
    }
    out
}

fn text_attributes(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(text) => text.clone(),
                AnyValue::IntValue(n) => n.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// Runs the demo with spans exported to `endpoint`; returns its JSON summary.
fn demo(endpoint: &str, extra: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["demo", "--orders", "30", "--rate", "0", "--customers", "6", "--json"])
        .args(extra)
        .env("HERALD_OTLP_ENDPOINT", endpoint)
        .output()
        .expect("run herald demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("summary JSON: {e}: {stdout}"))
}

/// The checks on the spans of one demo run of 30 orders.
fn check_traces(spans: &[Received]) {
    let by_id: HashMap<&[u8], &Received> =
        spans.iter().map(|span| (span.span_id.as_slice(), span)).collect();
    assert!(spans.iter().all(|s| s.service_name.as_deref() == Some("herald")));
    let placed: Vec<&Received> =
        spans.iter().filter(|s| s.name == "customer.place_order").collect();
    assert_eq!(placed.len(), 30, "one span per order placed");
    let traces: HashSet<&[u8]> = placed.iter().map(|s| s.trace_id.as_slice()).collect();
    assert_eq!(traces.len(), 30, "each order placed is a trace of its own");
    assert!(placed.iter().all(|s| s.parent_span_id.is_empty()), "each is its trace's root");

    let consumed: Vec<&Received> = spans.iter().filter(|s| s.name == "herald.consume").collect();
    assert!(!consumed.is_empty(), "the services' spans are exported");
    for span in &consumed {
        let parent = by_id.get(span.parent_span_id.as_slice()).unwrap_or_else(|| {
            panic!("consumer span {span:?} has no exported parent: an event left a trace")
        });
        assert_eq!(parent.trace_id, span.trace_id, "the parent is in the same trace: {span:?}");
    }

    let mut services_of_trace: HashMap<&[u8], HashSet<&str>> = HashMap::new();
    for span in &consumed {
        let service = span.attributes.get("service").map_or("?", String::as_str);
        services_of_trace.entry(span.trace_id.as_slice()).or_default().insert(service);
    }
    for order in &placed {
        let services = services_of_trace.get(order.trace_id.as_slice());
        assert!(
            services.is_some_and(|s| s.contains("inventory")),
            "order {:?}: inventory handled it in the customer's trace ({services:?})",
            order.attributes.get("order")
        );
    }
    // A paid order ships and is announced; an order inventory rejects is cancelled.
    for chain in [["shipping", "notifications", "notify"].as_slice(), &["inventory", "orders"]] {
        assert!(
            services_of_trace.values().any(|s| chain.iter().all(|name| s.contains(name))),
            "some trace reaches {chain:?}: {:?}",
            services_of_trace.values().collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_exports_a_trace_per_command_on_the_embedded_defaults() {
    let spans = Spans::default();
    let endpoint = start_collector(Arc::clone(&spans)).await;
    let summary = tokio::task::spawn_blocking(move || demo(&endpoint, &[])).await.expect("demo");
    assert_eq!(summary["consistent"], true, "{summary}");
    check_traces(&spans.lock().expect("spans"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_exports_a_trace_per_command_over_postgres_and_rabbitmq() {
    let spans = Spans::default();
    let endpoint = start_collector(Arc::clone(&spans)).await;
    let test_db = TestDb::postgres("trace_rabbitmq").await;
    let namespace = herald_testkit::brokers::unique("trace").replace('_', "-");
    let broker_url = herald_testkit::brokers::amqp_url();
    let args = ["--database", &test_db.url, "--broker", &broker_url, "--namespace", &namespace]
        .map(str::to_owned);
    let summary = tokio::task::spawn_blocking(move || {
        demo(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("demo");
    let broker = herald_cli::transport::BrokerArgs {
        broker: Some(broker_url),
        namespace,
        ..Default::default()
    };
    let mut groups = herald_shop::shop::GROUPS.to_vec();
    groups.push(herald_shop::shop::NOTIFY_GROUP);
    let cleanup = broker.open(&test_db.db, 8).expect("transport");
    cleanup.delete_topology(&groups).await.expect("delete the broker names");
    assert_eq!(summary["consistent"], true, "{summary}");
    check_traces(&spans.lock().expect("spans"));
    test_db.cleanup().await;
}
