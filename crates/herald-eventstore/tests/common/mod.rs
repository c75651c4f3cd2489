//! Shared by the event store tests: a tiny order domain (events, aggregate, rules) and the
//! macro that runs a case on both databases.

#![allow(dead_code, unreachable_pub)]

use herald_envelope::{Event, EventKind};
use herald_eventstore::{Aggregate, NewEvent, RecordedEvent};
use serde::{Deserialize, Serialize};

/// Runs each case on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(herald_testkit::TestDb::sqlite("eventstore").await).await } )+ }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(herald_testkit::TestDb::postgres("eventstore").await).await } )+ }
    };
}

/// An order was placed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer: String,
}

/// An item was added to an order.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItemAdded {
    pub order_id: String,
    pub customer: String,
    pub amount: i64,
}

/// An order was paid.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaid {
    pub order_id: String,
    pub customer: String,
}

/// An order was cancelled.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelled {
    pub order_id: String,
    pub customer: String,
}

macro_rules! order_event {
    ($event:ty, $type:literal) => {
        impl Event for $event {
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            const KIND: EventKind = EventKind::Integration;
            fn partition_key(&self) -> String {
                self.order_id.clone()
            }
        }
    };
}
order_event!(OrderPlaced, "orders.order_placed");
order_event!(ItemAdded, "orders.item_added");
order_event!(OrderPaid, "orders.order_paid");
order_event!(OrderCancelled, "orders.order_cancelled");

pub fn placed(order_id: &str, customer: &str) -> NewEvent {
    let event = OrderPlaced { order_id: order_id.into(), customer: customer.into() };
    NewEvent::from_event(&event).expect("serialize")
}

pub fn item(order_id: &str, customer: &str, amount: i64) -> NewEvent {
    let event = ItemAdded { order_id: order_id.into(), customer: customer.into(), amount };
    NewEvent::from_event(&event).expect("serialize")
}

pub fn paid(order_id: &str, customer: &str) -> NewEvent {
    let event = OrderPaid { order_id: order_id.into(), customer: customer.into() };
    NewEvent::from_event(&event).expect("serialize")
}

pub fn cancelled(order_id: &str, customer: &str) -> NewEvent {
    let event = OrderCancelled { order_id: order_id.into(), customer: customer.into() };
    NewEvent::from_event(&event).expect("serialize")
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[default]
    New,
    Placed,
    Paid,
    Cancelled,
}

/// The order aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub status: Status,
    pub customer: String,
    pub items: u32,
    pub total: i64,
    /// How many events were folded in, snapshot included.
    pub folded: u64,
}

impl Aggregate for Order {
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String> {
        let decode = |error: herald_eventstore::EventStoreError| error.to_string();
        if let Some(placed) = event.decode::<OrderPlaced>().map_err(decode)? {
            self.require(Status::New, "placed")?;
            self.status = Status::Placed;
            self.customer = placed.customer;
        } else if let Some(item) = event.decode::<ItemAdded>().map_err(decode)? {
            self.require(Status::Placed, "get an item")?;
            self.items += 1;
            self.total += item.amount;
        } else if event.decode::<OrderPaid>().map_err(decode)?.is_some() {
            self.require(Status::Placed, "be paid")?;
            self.status = Status::Paid;
        } else if event.decode::<OrderCancelled>().map_err(decode)?.is_some() {
            self.require(Status::Placed, "be cancelled")?;
            self.status = Status::Cancelled;
        } else {
            return Err(format!("unknown event type `{}`", event.event_type));
        }
        self.folded += 1;
        Ok(())
    }
}

impl Order {
    fn require(&self, status: Status, action: &str) -> Result<(), String> {
        if self.status == status {
            Ok(())
        } else {
            Err(format!("a {:?} order cannot {action}", self.status))
        }
    }

    /// The rule of the domain: only a placed order can be paid.
    pub fn pay(&self, order_id: &str) -> Result<NewEvent, String> {
        self.require(Status::Placed, "be paid")?;
        Ok(paid(order_id, &self.customer))
    }
}
