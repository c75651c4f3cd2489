//! Per-key order across lost connections, for publishers that pipeline.
//!
//! A publisher keeps many publishes in flight. When its connection dies, a publish
//! already written into it is lost, while a later publish of the same key may go out on
//! the next connection (handed over before the loss was known, or kept by the client
//! for its reconnection) and be stored first. The relay then publishes the lost one
//! again, after it: a consumer's inbox would apply the two out of order. [`KeyChains`]
//! remembers each key's last publish: a later publish of the key waits while it is
//! unconfirmed, and is held back once it failed, until the failed event is published
//! again (the relay's retry, which always starts at a key's oldest unsent event) or
//! [`HOLD_AFTER_FAILURE`] has passed (the relay may have lost the partition to another).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use uuid::Uuid;

use crate::{Result, TransportError};

/// How long a failed publish holds its key back when its event is not published again.
pub const HOLD_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Why a publish did not go through: the event that failed (the publish's own, or the
/// earlier event of its key that it waited for) and the error.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The event whose publish failed first.
    pub event_id: Uuid,
    /// What happened to it.
    pub error: TransportError,
}

impl Failure {
    /// The error to report for the publish of `event_id`: its own, or that it was held
    /// back by an earlier event of its key.
    pub fn error_for(&self, event_id: Uuid) -> TransportError {
        if self.event_id == event_id {
            return self.error.clone();
        }
        TransportError::NotConfirmed(format!(
            "held back: an earlier event of its partition key ({}) was not confirmed ({})",
            self.event_id, self.error
        ))
    }
}

/// The outcome of one publish, awaited by its caller and by the next publish of its key.
pub type Outcome = Shared<BoxFuture<'static, Result<(), Failure>>>;

/// What stands before a new publish of a key.
pub enum Earlier {
    /// Nothing: it may go out at once.
    Nothing,
    /// An unconfirmed publish, sent on `connection`.
    Pending {
        /// The connection's number (the publisher's own numbering).
        connection: u64,
        /// Its outcome.
        outcome: Outcome,
    },
    /// A failed publish whose event has not been published again: hold this one back.
    Failed(Failure),
}

impl Earlier {
    /// Waits for a pending publish; the failure that holds this publish back, if any.
    pub async fn failure(self) -> Option<Failure> {
        match self {
            Earlier::Nothing => None,
            Earlier::Pending { outcome, .. } => outcome.await.err(),
            Earlier::Failed(failure) => Some(failure),
        }
    }
}

/// Each partition key's last publish, the connection it went out on, and when.
#[derive(Default)]
pub struct KeyChains(Mutex<HashMap<String, Link>>);

struct Link {
    connection: u64,
    outcome: Outcome,
    at: Instant,
}

impl Link {
    /// Confirmed, or failed longer ago than the hold: it no longer matters.
    fn spent(&self) -> bool {
        match self.outcome.peek() {
            None => false,
            Some(Ok(())) => true,
            Some(Err(_)) => self.at.elapsed() > HOLD_AFTER_FAILURE,
        }
    }
}

impl KeyChains {
    /// Forgets the publishes that no longer hold their key back.
    pub fn forget_settled(&self) {
        self.lock().retain(|_, link| !link.spent());
    }

    /// What stands before a publish of `event_id` under `key`. Its own earlier failure
    /// does not: that is the retry the held-back publishes wait for.
    pub fn earlier(&self, key: &str, event_id: Uuid) -> Earlier {
        let chains = self.lock();
        let Some(link) = chains.get(key).filter(|link| !link.spent()) else {
            return Earlier::Nothing;
        };
        match link.outcome.peek() {
            None => Earlier::Pending { connection: link.connection, outcome: link.outcome.clone() },
            Some(Err(failure)) if failure.event_id != event_id => Earlier::Failed(failure.clone()),
            Some(_) => Earlier::Nothing,
        }
    }

    /// Remembers `outcome` as the last publish of `key`, sent on `connection`.
    pub fn record(&self, key: &str, connection: u64, outcome: Outcome) {
        self.lock().insert(key.to_owned(), Link { connection, outcome, at: Instant::now() });
    }

    /// The outcome of a publish of `event_id` that failed before it went out, recorded
    /// so that later publishes of `key` wait for the relay's retry; a failure already
    /// holding the key back stays the one they wait for.
    pub fn fail(
        &self,
        key: &str,
        connection: u64,
        event_id: Uuid,
        error: TransportError,
    ) -> Outcome {
        let earlier = self.earlier(key, event_id);
        if let Earlier::Failed(failure) = earlier {
            return settled(Err(failure));
        }
        let outcome = async move {
            match earlier.failure().await {
                Some(failure) => Err(failure),
                None => Err(Failure { event_id, error }),
            }
        }
        .boxed()
        .shared();
        self.record(key, connection, outcome.clone());
        outcome
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Link>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An outcome known already.
pub fn settled(result: Result<(), Failure>) -> Outcome {
    let outcome = futures::future::ready(result).boxed().shared();
    let _ = outcome.clone().now_or_never(); // settles it, so that `peek` sees it
    outcome
}

/// The results a caller gets for `messages`' outcomes.
pub async fn results(outcomes: Vec<(Uuid, Outcome)>) -> Vec<Result<()>> {
    let settled = futures::future::join_all(outcomes.into_iter().map(|(event_id, outcome)| {
        outcome.map(move |result| result.map_err(|failure| failure.error_for(event_id)))
    }));
    settled.await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(event_id: Uuid) -> Failure {
        Failure { event_id, error: TransportError::Unavailable("connection lost".into()) }
    }

    #[tokio::test]
    async fn a_pending_publish_is_waited_for_and_a_confirmed_one_forgotten() {
        let chains = KeyChains::default();
        let (confirm, confirmation) = tokio::sync::oneshot::channel::<()>();
        let first = Uuid::now_v7();
        let unconfirmed: Outcome =
            async move { confirmation.await.map_err(|_| failure(first)) }.boxed().shared();
        assert!(unconfirmed.clone().now_or_never().is_none(), "no confirmation yet");
        chains.record("a", 1, unconfirmed.clone());
        chains.record("b", 1, settled(Ok(())));
        let later = Uuid::now_v7();
        assert!(matches!(chains.earlier("a", later), Earlier::Pending { connection: 1, .. }));
        assert!(matches!(chains.earlier("b", later), Earlier::Nothing));
        confirm.send(()).expect("confirm");
        unconfirmed.await.expect("a confirmed");
        assert!(matches!(chains.earlier("a", later), Earlier::Nothing));
        chains.forget_settled();
        assert!(chains.lock().is_empty());
    }

    #[tokio::test]
    async fn a_failure_holds_its_key_back_until_its_event_goes_out_again() {
        let chains = KeyChains::default();
        let (lost, later) = (Uuid::now_v7(), Uuid::now_v7());
        let error = TransportError::Unavailable("connection refused".into());
        let outcome = chains.fail("a", 1, lost, error);
        assert_eq!(outcome.await.expect_err("failed").event_id, lost);
        chains.forget_settled();
        // A later event of the key is held back, and its own failure names the lost one.
        let Earlier::Failed(holding) = chains.earlier("a", later) else { panic!("not held") };
        assert_eq!(holding.event_id, lost);
        assert!(holding.error_for(later).to_string().contains(&lost.to_string()));
        let held = chains.fail("a", 1, later, TransportError::NotConfirmed("x".into()));
        assert_eq!(held.await.expect_err("held").event_id, lost, "still the first failure");
        // The lost event itself goes out again: the relay's retry.
        assert!(matches!(chains.earlier("a", lost), Earlier::Nothing));
        assert!(matches!(chains.earlier("b", later), Earlier::Nothing));
    }

    #[tokio::test]
    async fn a_publish_waiting_for_a_failed_one_carries_its_failure() {
        let chains = KeyChains::default();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        chains.record("a", 1, settled(Err(failure(first))));
        let outcome = chains.fail("a", 2, second, TransportError::Unavailable("down".into()));
        assert_eq!(outcome.await.expect_err("failed").event_id, first);
    }
}
