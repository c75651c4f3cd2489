//! Integration tests of push subscriptions: the store and the API on PostgreSQL and
//! SQLite, deliveries to a local receiver that verifies every signature, and the
//! CloudEvents HTTP binding's conformance scenario.
#![allow(clippy::disallowed_methods)] // the webhook receivers here are not Herald APIs

mod api;
mod conformance;
mod delivery;
mod receiver;
mod store;

/// Runs a case written once against `&Database` on both databases, each in a fresh
/// database of its own.
macro_rules! both_databases {
    ($module:ident: $($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let test_db = herald_testkit::TestDb::postgres(stringify!($case)).await;
                    crate::$module::$case(&test_db.db).await;
                    test_db.cleanup().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let test_db = herald_testkit::TestDb::sqlite(stringify!($case)).await;
                    crate::$module::$case(&test_db.db).await;
                    test_db.cleanup().await;
                }
            )*
        }
    };
}

mod store_on {
    both_databases!(
        store:
        a_created_subscription_round_trips_and_its_secret_is_shown_once,
        a_given_secret_is_kept_and_a_duplicate_is_refused,
        bad_fields_are_refused_naming_the_field_and_nothing_is_written,
        deleted_and_unknown_subscriptions_are_not_found,
        failures_in_a_row_disable_the_endpoint_and_enable_clears_them,
        a_rotated_secret_signs_beside_the_previous_one_until_the_overlap_ends,
        after_a_rotation_both_secrets_verify_a_delivery,
    );
}

mod api_on {
    both_databases!(
        api:
        state_changing_requests_need_the_bearer_token,
        bad_input_gets_a_json_error_naming_the_field,
        subscriptions_are_created_listed_shown_rotated_enabled_and_deleted,
    );
}
