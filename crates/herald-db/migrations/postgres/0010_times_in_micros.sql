-- Every time Herald stores is a BIGINT of microseconds since the Unix epoch, on both
-- databases, written from the database's clock where the database writes it. Until this
-- migration, PostgreSQL kept some times as TIMESTAMPTZ and leases in milliseconds; the
-- rows written by earlier releases are converted here (the lease tables' expiry times are
-- multiplied by 1,000: stop every relay and consumer of an older release before starting
-- this one, as their leases would otherwise read as long expired).

ALTER TABLE herald_outbox
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER COLUMN created_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
    ALTER COLUMN sent_at TYPE BIGINT USING (extract(epoch FROM sent_at) * 1000000)::bigint;

ALTER TABLE herald_log
    ALTER COLUMN published_at DROP DEFAULT,
    ALTER COLUMN published_at TYPE BIGINT USING (extract(epoch FROM published_at) * 1000000)::bigint,
    ALTER COLUMN published_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;

ALTER TABLE herald_inbox
    ALTER COLUMN processed_at DROP DEFAULT,
    ALTER COLUMN processed_at TYPE BIGINT USING (extract(epoch FROM processed_at) * 1000000)::bigint,
    ALTER COLUMN processed_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;

ALTER TABLE herald_dead_letters
    ALTER COLUMN first_failed_at TYPE BIGINT USING (extract(epoch FROM first_failed_at) * 1000000)::bigint,
    ALTER COLUMN last_failed_at TYPE BIGINT USING (extract(epoch FROM last_failed_at) * 1000000)::bigint,
    ALTER COLUMN replayed_at TYPE BIGINT USING (extract(epoch FROM replayed_at) * 1000000)::bigint;

ALTER TABLE herald_subscriptions
    ALTER COLUMN previous_secret_expires_at TYPE BIGINT USING (extract(epoch FROM previous_secret_expires_at) * 1000000)::bigint,
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER COLUMN created_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
    ALTER COLUMN disabled_at TYPE BIGINT USING (extract(epoch FROM disabled_at) * 1000000)::bigint,
    ALTER COLUMN last_success_at TYPE BIGINT USING (extract(epoch FROM last_success_at) * 1000000)::bigint;

ALTER TABLE herald_schemas
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER COLUMN created_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;

ALTER TABLE herald_subjects
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER COLUMN created_at SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;

UPDATE herald_leases SET expires_at = expires_at * 1000 WHERE expires_at > 0;
UPDATE herald_lease_members SET expires_at = expires_at * 1000;
