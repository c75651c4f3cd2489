//! [`Census`]: what a run of the shop committed and what reached each service, counted
//! from the database — the outbox rows committed since a [`RunMark`] and the consumers'
//! inbox records — not from in-process counters.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use herald_transport::Pattern;
use serde::Serialize;
use uuid::Uuid;

/// Where a run starts: the outbox's newest row and the time.
#[derive(Debug, Clone, Copy)]
pub struct RunMark {
    pub(crate) outbox_id: i64,
    pub(crate) time: DateTime<Utc>,
}

/// The events committed since a [`RunMark`] and their deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Census {
    /// Events committed to the outbox (integration and notification events).
    pub produced: u64,
    /// Of those, the ones the transport confirmed.
    pub published: u64,
    /// Of those, the ones every subscribing service has processed (an event no service
    /// subscribes to counts once published).
    pub delivered: u64,
    /// Committed events per type.
    pub by_type: BTreeMap<String, u64>,
    /// Per consuming service: the deliveries it owes and those it completed.
    pub services: BTreeMap<String, ServiceCensus>,
}

/// One service's share of a [`Census`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceCensus {
    /// Events committed since the mark that this service subscribes to.
    pub subscribed: u64,
    /// Of those, the ones it processed (recorded in its inbox).
    pub processed: u64,
    /// Processed events per type.
    pub by_type: BTreeMap<String, u64>,
}

impl Census {
    /// Counts `kept` (the outbox rows since the mark) against `processed` (inbox records
    /// as `(service, event id)`), each service subscribing to `subscriptions`' patterns.
    pub(crate) fn count(
        kept: &[herald_outbox::KeptEvent],
        processed: &[(String, Uuid)],
        subscriptions: &[(&'static str, Vec<Pattern>)],
    ) -> Census {
        let processed: HashSet<(&str, Uuid)> =
            processed.iter().map(|(service, id)| (service.as_str(), *id)).collect();
        let mut census = Census::default();
        for (service, _) in subscriptions {
            census.services.insert((*service).to_owned(), ServiceCensus::default());
        }
        for event in kept {
            census.produced += 1;
            *census.by_type.entry(event.event_type.clone()).or_insert(0) += 1;
            census.published += u64::from(event.sent);
            let mut everywhere = event.sent;
            for (service, patterns) in subscriptions {
                if !patterns.iter().any(|pattern| pattern.matches(&event.routing_key)) {
                    continue;
                }
                let figures = census.services.entry((*service).to_owned()).or_default();
                figures.subscribed += 1;
                if processed.contains(&(*service, event.event_id)) {
                    figures.processed += 1;
                    *figures.by_type.entry(event.event_type.clone()).or_insert(0) += 1;
                } else {
                    everywhere = false;
                }
            }
            if everywhere {
                census.delivered += 1;
            }
        }
        census
    }
}

#[cfg(test)]
mod tests {
    use herald_outbox::KeptEvent;

    use super::*;

    fn event(id: u128, routing_key: &str, sent: bool) -> KeptEvent {
        KeptEvent {
            id: i64::try_from(id).unwrap_or(0),
            event_id: Uuid::from_u128(id),
            event_type: routing_key.split('.').nth(1).unwrap_or_default().to_owned(),
            partition_key: "key".into(),
            routing_key: routing_key.into(),
            sent,
        }
    }

    #[test]
    fn an_event_counts_as_delivered_once_every_subscriber_processed_it() {
        let subscriptions: Vec<(&'static str, Vec<Pattern>)> = vec![
            ("inventory", vec!["integration.placed.#".parse().unwrap()]),
            (
                "shipping",
                vec![
                    "integration.placed.#".parse().unwrap(),
                    "integration.paid.#".parse().unwrap(),
                ],
            ),
        ];
        let kept = [
            event(1, "integration.placed.v1", true), // both processed
            event(2, "integration.placed.v1", true), // shipping missing
            event(3, "integration.paid.v1", false),  // not yet published
            event(4, "integration.other.v1", true),  // nobody subscribes
        ];
        let processed: Vec<(String, Uuid)> = vec![
            ("inventory".into(), Uuid::from_u128(1)),
            ("shipping".into(), Uuid::from_u128(1)),
            ("inventory".into(), Uuid::from_u128(2)),
            ("shipping".into(), Uuid::from_u128(99)), // another run's event
        ];
        let census = Census::count(&kept, &processed, &subscriptions);
        assert_eq!((census.produced, census.published, census.delivered), (4, 3, 2));
        assert_eq!(census.services["inventory"].subscribed, 2);
        assert_eq!(census.services["inventory"].processed, 2);
        assert_eq!(census.services["shipping"].subscribed, 3);
        assert_eq!(census.services["shipping"].processed, 1);
        assert_eq!(census.services["shipping"].by_type["placed"], 1);
        assert_eq!(census.by_type["paid"], 1);
    }
}
