//! Per-key order across lost connections, for publishers that pipeline.
//!
//! A publisher keeps many publishes in flight. When its connection dies, a publish
//! already written into it is lost, while a later publish of the same key may go out on
//! the next connection (handed over before the loss was known, or kept by the client
//! for its reconnection) and be stored first. The relay then publishes the lost one
//! again, after it: a consumer's inbox would apply the two out of order. [`KeyChains`]
//! remembers each key's last publish until it is confirmed, so that a later publish
//! of the key can wait for it and stay unsent if it failed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::{BoxFuture, Shared};

use crate::{Result, TransportError};

/// The outcome of one publish, awaited by its caller and by the next publish of its key.
pub type Outcome = Shared<BoxFuture<'static, Result<()>>>;

/// Each partition key's last publish still awaiting its confirmation, and the connection
/// (a number the publisher gives each of its connections) it went out on.
#[derive(Default)]
pub struct KeyChains(Mutex<HashMap<String, (u64, Outcome)>>);

impl KeyChains {
    /// Forgets the publishes that have settled: only unconfirmed ones hold a key back.
    pub fn forget_settled(&self) {
        self.lock().retain(|_, (_, outcome)| outcome.peek().is_none());
    }

    /// The last publish of `key`, with its connection, if it is not yet settled.
    pub fn unsettled(&self, key: &str) -> Option<(u64, Outcome)> {
        self.lock().get(key).filter(|(_, outcome)| outcome.peek().is_none()).cloned()
    }

    /// Remembers `outcome` as the last publish of `key`, sent on `connection`.
    pub fn record(&self, key: &str, connection: u64, outcome: Outcome) {
        self.lock().insert(key.to_owned(), (connection, outcome));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (u64, Outcome)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The error of a publish held back because an earlier one of its key failed.
pub fn held_back(earlier: &TransportError) -> TransportError {
    TransportError::NotConfirmed(format!(
        "held back: an earlier event of its partition key was not confirmed ({earlier})"
    ))
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn only_unsettled_publishes_hold_a_key_back() {
        let chains = KeyChains::default();
        let (confirm, confirmation) = tokio::sync::oneshot::channel::<()>();
        let unconfirmed: Outcome = async move {
            confirmation.await.map_err(|_| TransportError::Unavailable("gone".into()))
        }
        .boxed()
        .shared();
        let confirmed = futures::future::ready(Ok(())).boxed().shared();
        assert!(confirmed.clone().now_or_never().is_some(), "a ready outcome settles");
        assert!(unconfirmed.clone().now_or_never().is_none(), "no confirmation yet");
        chains.record("a", 1, unconfirmed.clone());
        chains.record("b", 1, confirmed);
        assert!(chains.unsettled("a").is_some_and(|(connection, _)| connection == 1));
        assert!(chains.unsettled("b").is_none());
        confirm.send(()).expect("confirm");
        unconfirmed.await.expect("a confirmed");
        assert!(chains.unsettled("a").is_none());
        chains.forget_settled();
        assert!(chains.lock().is_empty());
    }
}
