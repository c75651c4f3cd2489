//! Domain events inside a service.
//!
//! An aggregate records what happened as typed domain events ([`Raised`]). When the
//! service commits its business transaction it hands them to a [`DomainBus`], in the same
//! transaction:
//!
//! 1. every in-process [`DomainHandler`] registered for the event's type runs, with the
//!    transaction (to update a CQRS read model, enforce a cross-aggregate rule, …); an
//!    error aborts the dispatch, and the caller's rollback undoes everything;
//! 2. an event with a translation ([`DomainBus::translate`]) becomes an integration (or
//!    notification) event and is enqueued in the outbox, in the same transaction.
//!
//! Nothing leaves the service by accident: a domain event without a translation stays
//! inside, and a translation must produce an event whose kind is not `domain`.
//!
//! # Layout
//!
//! - [`Raised`], [`RaisedEvent`]: domain events as an aggregate records them.
//! - [`DomainHandler`]: an in-process handler of one event type.
//! - [`DomainBus`]: handlers and translations; [`DomainBus::dispatch`] runs them.
//! - [`DomainError`]: what dispatching can fail with.

mod bus;
mod error;
mod raised;

pub use bus::{Dispatched, DomainBus, DomainHandler};
pub use error::{DomainError, Result};
pub use raised::{Raised, RaisedEvent};
