//! The outbox conformance suite: every case runs against PostgreSQL and SQLite.

mod suite;

/// Runs a suite case against both databases, each in a fresh database of its own.
macro_rules! both_databases {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let test_db = herald_testkit::TestDb::postgres(stringify!($case)).await;
                    crate::suite::$case(&test_db.db).await;
                    test_db.cleanup().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let test_db = herald_testkit::TestDb::sqlite(stringify!($case)).await;
                    crate::suite::$case(&test_db.db).await;
                    test_db.cleanup().await;
                }
            )*
        }
    };
}

both_databases!(
    committed_event_is_fetched_with_its_partition,
    rolled_back_event_never_exists,
    unsent_rows_come_in_id_order_per_partition,
    fetch_respects_partitions_and_limit,
    sent_rows_are_no_longer_fetched,
    delete_on_send_removes_rows,
    failure_is_recorded_and_row_stays_unsent,
    purge_removes_only_old_sent_rows_in_bounded_batches,
    ledger_records_past_retention_are_purged_in_bounded_batches,
    status_counts_unsent_rows_per_partition,
    invalid_envelope_is_refused_and_nothing_is_written,
    oversize_event_is_refused_and_nothing_is_written,
    a_batch_is_enqueued_in_order_and_each_id_is_its_rows,
    a_batch_with_one_invalid_envelope_writes_nothing,
    a_batch_larger_than_one_statement_is_written_whole,
);

#[path = "out_of_order.rs"]
mod out_of_order;

#[path = "vacuum.rs"]
mod vacuum;
