//! The subscription store, written once and run on both databases (see `main.rs`).

use std::time::Duration;

use chrono::Utc;
use herald_db::Database;
use herald_http::signature::WEBHOOK_SIGNATURE;
use herald_http::verify;
use herald_push::{
    NewSubscription, PushClient, PushClientConfig, PushError, Secret, SubscriptionStore,
    SubscriptionStoreConfig,
};
use uuid::Uuid;

use crate::delivery::envelope;
use crate::receiver::Receiver;

/// A store that accepts the test's receivers on 127.0.0.1.
fn store(db: &Database) -> SubscriptionStore {
    let config = SubscriptionStoreConfig { allow_private_endpoints: true, ..Default::default() };
    SubscriptionStore::new(db.clone(), config).unwrap()
}

pub(crate) fn new_subscription(service: &str, pattern: &str, endpoint: &str) -> NewSubscription {
    NewSubscription {
        filter: None,
        service: service.into(),
        pattern: pattern.into(),
        endpoint: endpoint.into(),
        secret: None,
    }
}

pub(crate) async fn a_created_subscription_round_trips_and_its_secret_is_shown_once(db: &Database) {
    let store = store(db);
    let new = new_subscription("billing", "integration.orders.#", "https://billing.example/hook");
    let issued = store.create(&new).await.unwrap();
    let created = &issued.subscription;
    assert!(issued.secret.expose().starts_with("whsec_"));
    assert_eq!(
        (created.service.as_str(), created.pattern.as_str(), created.endpoint.as_str()),
        ("billing", "integration.orders.#", "https://billing.example/hook")
    );
    assert!((Utc::now() - created.created_at).num_seconds().abs() < 60);
    assert_eq!(created.consecutive_failures, 0);
    assert!(!created.is_disabled() && created.last_error.is_none());
    assert!(created.last_success_at.is_none() && created.previous_secret_expires_at.is_none());

    assert_eq!(&store.get(created.id).await.unwrap(), created);
    let other = new_subscription("shipping", "#.v2", "http://127.0.0.1:9000/events");
    store.create(&other).await.unwrap();
    let all = store.list(None).await.unwrap();
    assert_eq!(all.iter().map(|s| s.service.as_str()).collect::<Vec<_>>(), ["billing", "shipping"]);
    assert_eq!(store.list(Some("billing")).await.unwrap(), vec![created.clone()]);
    assert!(store.list(Some("nobody")).await.unwrap().is_empty());

    let listed = serde_json::to_string(&all).unwrap();
    assert!(!listed.contains("whsec_"), "{listed}");
    let target = store.target(created.id).await.unwrap();
    assert_eq!(target.secrets().len(), 1);
    assert_eq!(target.secrets()[0].expose(), issued.secret.expose());
    assert_eq!(target.endpoint().as_str(), "https://billing.example/hook");
}

pub(crate) async fn a_given_secret_is_kept_and_a_duplicate_is_refused(db: &Database) {
    let store = store(db);
    let secret = Secret::generate();
    let mut new = new_subscription("billing", "integration.orders.#", "https://b.example/hook");
    new.secret = Some(secret.expose().to_owned());
    let issued = store.create(&new).await.unwrap();
    assert_eq!(issued.secret.expose(), secret.expose());
    let target = store.target(issued.subscription.id).await.unwrap();
    assert_eq!(target.secrets()[0].expose(), secret.expose());

    new.secret = None;
    let error = store.create(&new).await.unwrap_err();
    assert!(matches!(error, PushError::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("already subscribes"), "{error}");
    new.pattern = "integration.payments.#".into();
    store.create(&new).await.unwrap();
    new.service = "shipping".into();
    store.create(&new).await.unwrap();
    assert_eq!(store.list(None).await.unwrap().len(), 3);
}

pub(crate) async fn bad_fields_are_refused_naming_the_field_and_nothing_is_written(db: &Database) {
    let store = store(db);
    let good = new_subscription("billing", "integration.orders.#", "https://b.example/hook");
    let with = |change: fn(&mut NewSubscription)| {
        let mut new = good.clone();
        change(&mut new);
        new
    };
    let cases = [
        ("service", "Billing!", with(|new| new.service = "Billing!".into())),
        ("pattern", "orders..#", with(|new| new.pattern = "orders..#".into())),
        ("pattern", "orders.#", with(|new| new.pattern = "orders.#".into())),
        ("endpoint", "ftp://b.example/", with(|new| new.endpoint = "ftp://b.example/".into())),
        ("secret", "not shown", with(|new| new.secret = Some("whsec_dG9vIHNob3J0".into()))),
    ];
    for (field, shown, new) in cases {
        let error = store.create(&new).await.unwrap_err();
        let message = error.to_string();
        assert_eq!(error.field(), Some(field), "{message}");
        assert!(message.contains(shown), "{message} should show {shown}");
        assert!(message.contains("expected"), "{message}");
        assert!(!message.contains("dG9vIHNob3J0"), "the secret leaked: {message}");
    }
    let error = store.list(Some("Not A Service")).await.unwrap_err();
    assert_eq!(error.field(), Some("service"));
    assert!(store.list(None).await.unwrap().is_empty());

    let guarded = SubscriptionStore::new(db.clone(), SubscriptionStoreConfig::default()).unwrap();
    for internal in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
    ] {
        let new = with_endpoint(&good, internal);
        let error = guarded.create(&new).await.unwrap_err();
        assert_eq!(error.field(), Some("endpoint"), "{internal}: {error}");
        assert!(error.to_string().contains("--allow-private-endpoints"), "{error}");
    }
    assert!(guarded.list(None).await.unwrap().is_empty(), "nothing was written");
}

fn with_endpoint(new: &NewSubscription, endpoint: &str) -> NewSubscription {
    NewSubscription { endpoint: endpoint.to_owned(), ..new.clone() }
}

pub(crate) async fn deleted_and_unknown_subscriptions_are_not_found(db: &Database) {
    let store = store(db);
    let issued = store.create(&new_subscription("billing", "#", "https://b.example/")).await;
    let id = issued.unwrap().subscription.id;
    store.delete(id).await.unwrap();
    assert!(store.list(None).await.unwrap().is_empty());

    let not_found = |result: Result<(), PushError>| match result {
        Err(PushError::NotFound { id: missing }) => assert_eq!(missing, id),
        other => panic!("expected NotFound, got {other:?}"),
    };
    not_found(store.get(id).await.map(drop));
    not_found(store.delete(id).await);
    not_found(store.enable(id).await.map(drop));
    not_found(store.rotate_secret(id, None).await.map(drop));
    not_found(store.target(id).await.map(drop));
    not_found(store.record_success(id).await);
    not_found(store.record_failure(id, "boom").await.map(drop));
    assert!(matches!(store.get(Uuid::now_v7()).await, Err(PushError::NotFound { .. })));
}

pub(crate) async fn failures_in_a_row_disable_the_endpoint_and_enable_clears_them(db: &Database) {
    let config = SubscriptionStoreConfig { disable_after: 3, ..Default::default() };
    let store = SubscriptionStore::new(db.clone(), config).unwrap();
    let issued = store.create(&new_subscription("billing", "#", "https://b.example/")).await;
    let id = issued.unwrap().subscription.id;

    assert!(!store.record_failure(id, "503 once").await.unwrap());
    assert!(!store.record_failure(id, "503 twice").await.unwrap());
    store.record_success(id).await.unwrap();
    let after_success = store.get(id).await.unwrap();
    assert_eq!(after_success.consecutive_failures, 0);
    assert!(after_success.last_success_at.is_some());

    assert!(!store.record_failure(id, "first").await.unwrap());
    assert!(!store.record_failure(id, "second").await.unwrap());
    assert!(store.record_failure(id, &"x".repeat(5000)).await.unwrap());
    let kept = store.get(id).await.unwrap().last_error.unwrap();
    assert_eq!(kept.chars().count(), 1001, "cut to 1000 characters and an ellipsis");
    assert!(store.record_failure(id, "fourth").await.unwrap(), "stays disabled");
    let disabled = store.get(id).await.unwrap();
    assert!(disabled.is_disabled());
    assert_eq!(disabled.consecutive_failures, 4);
    assert_eq!(disabled.last_error.as_deref(), Some("fourth"));

    let enabled = store.enable(id).await.unwrap();
    assert!(!enabled.is_disabled());
    assert_eq!(enabled.consecutive_failures, 0);
    assert!(!store.record_failure(id, "again").await.unwrap());
    assert_eq!(store.get(id).await.unwrap().last_error.as_deref(), Some("again"));

    let zero = SubscriptionStoreConfig { disable_after: 0, ..Default::default() };
    let error = SubscriptionStore::new(db.clone(), zero).unwrap_err();
    assert_eq!(error.field(), Some("disable_after"));
}

pub(crate) async fn a_rotated_secret_signs_beside_the_previous_one_until_the_overlap_ends(
    db: &Database,
) {
    let store = store(db);
    let issued = store.create(&new_subscription("billing", "#", "https://b.example/")).await;
    let issued = issued.unwrap();
    let id = issued.subscription.id;

    let rotated = store.rotate_secret(id, None).await.unwrap();
    assert_ne!(rotated.secret.expose(), issued.secret.expose());
    let valid_until = rotated.subscription.previous_secret_expires_at.expect("in rotation");
    let overlap = (valid_until - Utc::now()).num_seconds();
    assert!((24 * 3600 - 60..=24 * 3600).contains(&overlap), "{overlap}");
    let target = store.target(id).await.unwrap();
    let secrets: Vec<&str> = target.secrets().iter().map(Secret::expose).collect();
    assert_eq!(secrets, [rotated.secret.expose(), issued.secret.expose()]);

    let no_overlap =
        SubscriptionStoreConfig { rotation_overlap: Duration::ZERO, ..Default::default() };
    let store = SubscriptionStore::new(db.clone(), no_overlap).unwrap();
    let given = Secret::generate();
    let rotated_again = store.rotate_secret(id, Some(given.clone())).await.unwrap();
    assert_eq!(rotated_again.secret.expose(), given.expose());
    assert!(rotated_again.subscription.previous_secret_expires_at.is_none());
    let target = store.target(id).await.unwrap();
    let secrets: Vec<&str> = target.secrets().iter().map(Secret::expose).collect();
    assert_eq!(secrets, [given.expose()]);
}

pub(crate) async fn after_a_rotation_both_secrets_verify_a_delivery(db: &Database) {
    let store = store(db);
    let mut receiver = Receiver::start().await;
    let new = new_subscription("billing", "integration.orders.#", &receiver.url("/ok"));
    let issued = store.create(&new).await.unwrap();
    let id = issued.subscription.id;
    let rotated = store.rotate_secret(id, None).await.unwrap();

    let config = PushClientConfig { allow_private_endpoints: true, ..Default::default() };
    let client = PushClient::new(&config).unwrap();
    client.deliver(&store.target(id).await.unwrap(), &envelope()).await.unwrap();
    store.record_success(id).await.unwrap();
    let received = receiver.next().await;

    assert_eq!(received.headers[WEBHOOK_SIGNATURE].to_str().unwrap().split(' ').count(), 2);
    verify(&issued.secret, &received.headers, &received.body).unwrap();
    verify(&rotated.secret, &received.headers, &received.body).unwrap();
    assert!(verify(&Secret::generate(), &received.headers, &received.body).is_err());
    assert!(store.get(id).await.unwrap().last_success_at.is_some());
}
