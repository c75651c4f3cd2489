//! [`Channel`]: the ordered providers of one channel kind, with failover and rate limits.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::provider::in_order;
use crate::{ChannelKind, Message, Provider, Receipt, SendError};

/// How many messages one [`Channel::send`] handles at once by default: 64. Each provider
/// also bounds its own sends ([`Provider::max_concurrency`]).
pub const DEFAULT_CHANNEL_CONCURRENCY: usize = 64;

/// A provider's rate limit: a sustained rate and a burst (the generic cell rate algorithm
/// of `governor`: after `burst` sends at once, one more every `1 / per_second` seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The sustained rate, in sends per second.
    pub per_second: NonZeroU32,
    /// How many sends may go at once after a quiet period.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// A limit of `per_second` sends per second, with a burst of the same size (as
    /// `governor`'s `Quota::per_second`).
    pub fn per_second(per_second: NonZeroU32) -> RateLimit {
        RateLimit { per_second, burst: per_second }
    }

    /// The `governor` quota.
    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// One provider of a channel, with its limits.
struct Route {
    provider: Arc<dyn Provider>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// At most [`Provider::max_concurrency`] sends through this provider at once.
    slots: Semaphore,
}

impl Route {
    /// Sends through this route's provider once a slot is free and the rate limiter
    /// allows. The slot is taken first, so a send that the limiter let go is not held
    /// back afterwards (which would bunch sends up beyond the limit).
    async fn send(&self, kind: ChannelKind, message: &Message) -> Result<Receipt, SendError> {
        let provider_kind = self.provider.kind();
        if provider_kind != kind {
            let reason = format!("the provider sends {provider_kind}, not {kind}");
            return Err(SendError::permanent(self.provider.name(), reason));
        }
        let _slot = self.slots.acquire().await.expect("the semaphore is never closed");
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.provider.send(message).await
    }
}

/// The delivery of one channel kind: providers in order of preference, each with an
/// optional rate limit.
///
/// Built with [`Channel::new`] and [`Channel::with_provider`]; shared between tasks
/// behind an `Arc` (the rate limits are per channel, so build each channel once).
pub struct Channel {
    kind: ChannelKind,
    routes: Vec<Route>,
    concurrency: usize,
}

impl Channel {
    /// A channel without providers; add them with [`Channel::with_provider`].
    pub fn new(kind: ChannelKind) -> Channel {
        Channel { kind, routes: Vec::new(), concurrency: DEFAULT_CHANNEL_CONCURRENCY }
    }

    /// Adds a provider after the ones already added, with an optional rate limit.
    ///
    /// A provider of another kind than the channel's fails every send permanently.
    #[must_use]
    pub fn with_provider(
        mut self,
        provider: Arc<dyn Provider>,
        limit: Option<RateLimit>,
    ) -> Channel {
        let limiter = limit.map(|limit| RateLimiter::direct(limit.quota()));
        let slots = Semaphore::new(provider.max_concurrency().max(1));
        self.routes.push(Route { provider, limiter, slots });
        self
    }

    /// Sets how many messages one [`Channel::send`] handles at once (at least 1);
    /// default [`DEFAULT_CHANNEL_CONCURRENCY`].
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Channel {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The channel's kind.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// The providers' names, in order of preference.
    pub fn provider_names(&self) -> Vec<String> {
        self.routes.iter().map(|route| route.provider.name().to_owned()).collect()
    }

    /// Sends each message through the first provider. A retryable failure (no
    /// connection, a timeout, HTTP 5xx or 429, a transient SMTP reply) fails over to the
    /// next provider in order; a permanent one (another HTTP 4xx, an invalid address)
    /// does not. Before each send, waits for the provider's rate limiter.
    ///
    /// Returns, in the messages' order, the receipt or the last error; when several
    /// providers were tried, the error's message lists the earlier providers' errors too.
    ///
    /// Up to [`Channel::with_concurrency`] messages are handled at once, and each
    /// provider takes at most its [`Provider::max_concurrency`]; a slow message holds
    /// only its own slot.
    pub async fn send(&self, messages: &[Message]) -> Vec<Result<Receipt, SendError>> {
        in_order(messages, self.concurrency, |message| self.send_one(message)).await
    }

    /// Sends one message, failing over on retryable errors.
    async fn send_one(&self, message: &Message) -> Result<Receipt, SendError> {
        let mut failures: Vec<SendError> = Vec::new();
        for route in &self.routes {
            match route.send(self.kind, message).await {
                Ok(receipt) => return Ok(receipt),
                Err(error) => {
                    let retryable = error.retryable;
                    tracing::warn!(
                        kind = %self.kind,
                        message_id = %message.id,
                        provider = %error.provider,
                        retryable,
                        error = %error.message,
                        "Provider did not deliver the message."
                    );
                    failures.push(error);
                    if !retryable {
                        break;
                    }
                }
            }
        }
        Err(self.summarise(failures))
    }

    /// The error to return after every failure of one message: the last one, whose
    /// message also lists the earlier providers' errors.
    fn summarise(&self, mut failures: Vec<SendError>) -> SendError {
        let Some(mut last) = failures.pop() else {
            let reason = format!("the {} channel has no provider", self.kind);
            return SendError::permanent("none", reason);
        };
        if !failures.is_empty() {
            let earlier: Vec<String> = failures
                .iter()
                .map(|failure| format!("{}: {}", failure.provider, failure.message))
                .collect();
            last.message = format!("{}; earlier providers: {}", last.message, earlier.join("; "));
        }
        last
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("kind", &self.kind)
            .field("providers", &self.provider_names())
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn a_channel_is_shareable_and_its_send_can_be_spawned() {
        let channel = Arc::new(Channel::new(ChannelKind::Email).with_concurrency(0));
        assert_eq!(channel.concurrency, 1);
        let messages = Vec::new();
        let sending = channel.send(&messages);
        assert_send(&sending);
        assert_send(&channel);
    }
}
