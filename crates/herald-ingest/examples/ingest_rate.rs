//! HTTP ingest's throughput, side by side with its own check-and-enqueue path without
//! HTTP: batches of 100 CloudEvents, 4 requests in flight, into an outbox on SQLite.
//!
//! `cargo run --release -p herald-ingest --example ingest_rate [-- EVENTS]`

use std::sync::Arc;
use std::time::Instant;

use herald_db::{Database, DatabaseOptions};
use herald_envelope::{Envelope, Limits};
use herald_http::Credentials;
use herald_ingest::{BATCH_CONTENT_TYPE, Ingest, router};
use herald_outbox::{Outbox, OutboxConfig};
use herald_registry::SchemaStore;
use herald_schema::{LocalRegistry, Registration, Schemas};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BATCH: usize = 100;
const IN_FLIGHT: usize = 4;
const SCHEMA: &str = r#"{"type":"object","required":["order_id","quantity"],"properties":{"order_id":{"type":"string"},"quantity":{"type":"integer","minimum":1}}}"#;

fn event(n: usize) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{}","source":"/bench","type":"bench.order_placed","time":"2026-11-21T10:00:00Z","datacontenttype":"application/json","eventkind":"integration","schemaversion":1,"partitionkey":"c-{}","data":{{"order_id":"o-{n}","quantity":{}}}}}"#,
        uuid::Uuid::now_v7(),
        n % 1000,
        1 + n % 5
    )
}

async fn ingest(url: &str) -> Result<Ingest, Error> {
    let db = Database::connect(url, &DatabaseOptions::default()).await?;
    SchemaStore::new(db.clone()).register("bench.order_placed.v1", "JSON", SCHEMA).await?;
    let schemas = Schemas::new(
        LocalRegistry::new(SchemaStore::new(db.clone()), "http://127.0.0.1:8081"),
        Registration::LookUp,
    );
    let credentials = Credentials::bearer("t0ken");
    Ok(Ingest::new(db, Arc::new(schemas), Outbox::new(OutboxConfig::default())?, credentials))
}

fn report(what: &str, events: usize, started: Instant, baseline: Option<f64>) -> f64 {
    let rate = events as f64 / started.elapsed().as_secs_f64();
    let ratio =
        baseline.map_or(String::new(), |b| format!("  ({:.2}× the direct path's time)", b / rate));
    println!("{what:<40} {rate:>10.0} events/s{ratio}");
    rate
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let events: usize = std::env::args().nth(1).map_or(Ok(50_000), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let batches: Vec<Vec<String>> =
        (0..events).map(event).collect::<Vec<_>>().chunks(BATCH).map(<[String]>::to_vec).collect();

    let direct = ingest(&format!("sqlite://{}", dir.path().join("direct.db").display())).await?;
    let started = Instant::now();
    for batch in &batches {
        let envelopes = batch
            .iter()
            .map(|json| Envelope::from_json(json.as_bytes(), &Limits::default()))
            .collect::<Result<Vec<_>, _>>()?;
        direct.accept(envelopes).await?;
    }
    let baseline = report("decode + check + enqueue, no HTTP", events, started, None);

    let served = ingest(&format!("sqlite://{}", dir.path().join("http.db").display())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/events", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(served).into_router()).await });
    let http = reqwest::Client::new();
    let bodies: Vec<String> =
        batches.iter().map(|batch| format!("[{}]", batch.join(","))).collect();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(bodies.len());
    for chunk in bodies.chunks(IN_FLIGHT) {
        let requests = chunk.iter().map(|body| {
            let (http, url) = (http.clone(), url.clone());
            let body = body.clone();
            async move {
                let sent = Instant::now();
                let response = http
                    .post(url)
                    .bearer_auth("t0ken")
                    .header("content-type", BATCH_CONTENT_TYPE)
                    .body(body)
                    .send()
                    .await?;
                if response.status().as_u16() != 202 {
                    return Err(format!("HTTP {}", response.status()).into());
                }
                Ok::<_, Error>(sent.elapsed())
            }
        });
        for latency in futures::future::join_all(requests).await {
            latencies.push(latency?);
        }
    }
    report("POST /events (batch mode, 4 in flight)", events, started, Some(baseline));
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "request latency ({BATCH} events each): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
