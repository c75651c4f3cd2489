//! The cost of produce-time validation, side by side in one run: building envelopes
//! without a schema, with `Schemas::envelope` (cached schema, payload validated,
//! `dataschema` set), and checking decoded envelopes as HTTP ingest does.
//!
//! `cargo run --release -p herald-schema --example validate_rate [-- EVENTS]`

use std::time::Instant;

use herald_db::{Database, DatabaseOptions};
use herald_envelope::{Envelope, Event, EventKind, Limits};
use herald_registry::SchemaStore;
use herald_schema::{LocalRegistry, Registration, Schemas};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlaced {
    order_id: String,
    customer_id: String,
    #[schemars(range(min = 1))]
    quantity: i64,
    #[schemars(length(min = 3, max = 3))]
    currency: String,
    lines: Vec<Line>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Line {
    sku: String,
    cents: i64,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "bench.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.customer_id.clone()
    }
}

fn order(n: usize) -> OrderPlaced {
    OrderPlaced {
        order_id: format!("order-{n}"),
        customer_id: format!("customer-{}", n % 1000),
        quantity: 1 + (n % 5) as i64,
        currency: "EUR".into(),
        lines: (0..3).map(|i| Line { sku: format!("sku-{i}"), cents: 100 * i }).collect(),
    }
}

fn report(what: &str, events: usize, started: Instant, baseline: Option<f64>) -> f64 {
    let per_second = events as f64 / started.elapsed().as_secs_f64();
    let ratio = baseline
        .map_or(String::new(), |base| format!("  ({:.2}× the baseline time)", base / per_second));
    println!("{what:<44} {per_second:>12.0} events/s{ratio}");
    per_second
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args().nth(1).map_or(Ok(200_000), |n| n.parse())?;
    let db = Database::connect("sqlite::memory:", &DatabaseOptions::default()).await?;
    let registry = LocalRegistry::new(SchemaStore::new(db), "http://127.0.0.1:8081");
    let schemas = Schemas::new(registry, Registration::Register);
    schemas.prepare::<OrderPlaced>().await?;
    let orders: Vec<OrderPlaced> = (0..events).map(order).collect();

    let started = Instant::now();
    let mut bytes = 0;
    for event in &orders {
        bytes += Envelope::from_event("/bench", event)?.encode(&Limits::default())?.len();
    }
    let baseline = report("envelope + encode, no schema (baseline)", events, started, None);

    let started = Instant::now();
    let mut encoded = Vec::with_capacity(events);
    for event in &orders {
        encoded.push(schemas.envelope("/bench", event).await?.encode(&Limits::default())?);
    }
    report("envelope + validate + encode (producer)", events, started, Some(baseline));

    let started = Instant::now();
    for json in &encoded {
        let mut envelope = Envelope::from_json(json, &Limits::default())?;
        schemas.validate(&mut envelope).await?;
    }
    report("decode + validate (HTTP ingest's check)", events, started, Some(baseline));
    println!("{events} events, {} bytes each on average", bytes / events);
    Ok(())
}
