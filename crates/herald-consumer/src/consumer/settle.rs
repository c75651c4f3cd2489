//! Settling a round: acknowledgements, delayed retries, holding a partition back.

use std::collections::HashMap;
use std::time::Duration;

use herald_transport::{Delivery, DeliveryTag, Subscription};

use super::Consumer;
use super::stats::{Counts, Observation};
use crate::InboxBackend;

/// What to do with the deliveries of a round.
#[derive(Default)]
pub(super) struct Settlement {
    pub(super) acks: Vec<DeliveryTag>,
    pub(super) retries: Vec<(Delivery, Duration, String)>,
    pub(super) counts: Counts,
    /// Per event, for the metrics once committed: its type, what became of it, and for
    /// a processed one the time from its creation to the end of its handler.
    pub(super) observed: Vec<Observation>,
}

impl Settlement {
    pub(super) fn merge(&mut self, other: Settlement) {
        self.acks.extend(other.acks);
        self.retries.extend(other.retries);
        self.counts.add(other.counts);
        self.observed.extend(other.observed);
    }
}

impl<DB: InboxBackend> Consumer<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// Retries and acknowledges; returns whether anything failed (to back off).
    pub(super) async fn settle(
        &self,
        subscription: &mut dyn Subscription,
        mut settlement: Settlement,
        keeps_order: bool,
    ) -> bool {
        if keeps_order {
            hold_back_after_retries(&mut settlement);
        }
        self.count(settlement.counts);
        self.observe(&settlement.observed);
        let mut failed = !settlement.retries.is_empty();
        for (delivery, delay, error) in &settlement.retries {
            self.remember_failure(delivery);
            if let Err(transport) = subscription.retry(delivery, *delay, error).await {
                tracing::warn!(error = %transport, "Scheduling a retry failed; the delivery comes again.");
            }
        }
        if let Err(error) = subscription.ack(&settlement.acks).await {
            // The effects are committed; redelivery will meet the inbox.
            tracing::warn!(%error, "Acknowledging failed.");
            failed = true;
        }
        failed
    }
}

/// Where a retry holds its partition back, only the partition's first retry stands, and
/// nothing after it in the partition is acknowledged: it all comes again in order.
pub(super) fn hold_back_after_retries(settlement: &mut Settlement) {
    let mut first: HashMap<u32, i64> = HashMap::new();
    for (delivery, _, _) in &settlement.retries {
        let offset = first.entry(delivery.tag.partition).or_insert(delivery.tag.offset);
        *offset = (*offset).min(delivery.tag.offset);
    }
    settlement.retries.retain(|(delivery, _, _)| {
        first.get(&delivery.tag.partition) == Some(&delivery.tag.offset)
    });
    settlement
        .acks
        .retain(|tag| first.get(&tag.partition).is_none_or(|offset| tag.offset < *offset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_transport::Message;

    pub(super) fn delivery(partition: u32, offset: i64) -> Delivery {
        let message = Message {
            event_id: uuid::Uuid::now_v7(),
            routing_key: "integration.t.v1".into(),
            partition_key: "k".into(),
            payload: Vec::new(),
        };
        Delivery::first(DeliveryTag { partition, offset }, message)
    }

    #[test]
    pub(super) fn after_a_retry_nothing_later_in_its_partition_is_acknowledged() {
        let mut settlement = Settlement {
            acks: vec![
                DeliveryTag { partition: 0, offset: 1 },
                DeliveryTag { partition: 0, offset: 4 },
                DeliveryTag { partition: 1, offset: 9 },
            ],
            retries: vec![
                (delivery(0, 3), Duration::ZERO, "late".into()),
                (delivery(0, 2), Duration::ZERO, "first".into()),
            ],
            counts: Counts::default(),
            observed: Vec::new(),
        };
        hold_back_after_retries(&mut settlement);
        let kept: Vec<(u32, i64)> =
            settlement.acks.iter().map(|tag| (tag.partition, tag.offset)).collect();
        assert_eq!(kept, vec![(0, 1), (1, 9)], "offset 4 of partition 0 comes again");
        assert_eq!(settlement.retries.len(), 1, "only the partition's first retry stands");
        assert_eq!(settlement.retries[0].0.tag.offset, 2);
    }
}
