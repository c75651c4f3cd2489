//! The [`Provider`] trait: one delivery service behind one channel kind.

use std::future::Future;

use async_trait::async_trait;
use futures::StreamExt as _;

use crate::{ChannelKind, Message, Receipt, SendError};

/// How many sends a provider takes at once unless it says otherwise
/// ([`Provider::max_concurrency`]): 32.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 32;

/// One delivery service (an SMTP relay, an SMS or push API, webhook endpoints).
///
/// Implementations classify every failure: [`SendError::retryable`] when the same message
/// may succeed later or through another provider, [`SendError::permanent`] otherwise.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's name, as receipts and errors show it (`smtp`, `twilio`).
    fn name(&self) -> &str;

    /// The kind of channel the provider delivers.
    fn kind(&self) -> ChannelKind;

    /// How many sends the provider takes at once: [`Provider::send_many`] and
    /// [`Channel::send`](crate::Channel::send) keep at most this many in flight. The
    /// SMTP provider answers its pool size. At least 1; default
    /// [`DEFAULT_PROVIDER_CONCURRENCY`].
    fn max_concurrency(&self) -> usize {
        DEFAULT_PROVIDER_CONCURRENCY
    }

    /// Sends one message.
    async fn send(&self, message: &Message) -> Result<Receipt, SendError>;

    /// Sends several messages; the results are in the same order as the messages.
    ///
    /// By default through [`Provider::send`], with at most [`Provider::max_concurrency`]
    /// sends in flight; a slow message holds only its own slot.
    async fn send_many(&self, messages: &[Message]) -> Vec<Result<Receipt, SendError>> {
        in_order(messages, self.max_concurrency(), |message| self.send(message)).await
    }
}

/// Runs `operation` on every item with at most `limit` (at least 1) in flight, and returns
/// the outputs in the items' order.
///
/// The operations complete in any order (`buffer_unordered`), so a slow one does not keep
/// the next ones from starting, as it would in an ordered buffer.
pub(crate) async fn in_order<'a, Item, Output, Operation, Fut>(
    items: &'a [Item],
    limit: usize,
    operation: Operation,
) -> Vec<Output>
where
    Operation: Fn(&'a Item) -> Fut,
    Fut: Future<Output = Output>,
{
    // The futures are made up front (they do nothing until polled): a closure inside the
    // stream would be held across the await, which trips rustc's inference of `Send` for
    // the boxed futures of `async_trait`.
    let pending: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let operation = operation(item);
            async move { (index, operation.await) }
        })
        .collect();
    let mut outputs: Vec<(usize, Output)> =
        futures::stream::iter(pending).buffer_unordered(limit.max(1)).collect().await;
    outputs.sort_unstable_by_key(|(index, _)| *index);
    outputs.into_iter().map(|(_, output)| output).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn in_order_keeps_the_order_and_the_bound() {
        let in_flight = AtomicUsize::new(0);
        let most_in_flight = AtomicUsize::new(0);
        let items: Vec<u64> = (0..20).collect();
        let outputs = in_order(&items, 4, |item| {
            let in_flight = &in_flight;
            let most_in_flight = &most_in_flight;
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most_in_flight.fetch_max(now, Ordering::SeqCst);
                // Later items finish first, so the output must be put back in order.
                tokio::time::sleep(Duration::from_millis(20 - item)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                item * 2
            }
        })
        .await;
        assert_eq!(outputs, items.iter().map(|item| item * 2).collect::<Vec<_>>());
        assert_eq!(most_in_flight.load(Ordering::SeqCst), 4);
    }
}
