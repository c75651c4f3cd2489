-- The transactional outbox: one row per event, written in the producer's own transaction.
CREATE TABLE IF NOT EXISTS herald_outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      UUID        NOT NULL,
    partition     INTEGER     NOT NULL,
    partition_key TEXT        NOT NULL,
    event_type    TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    routing_key   TEXT        NOT NULL,
    payload       BYTEA       NOT NULL,
    headers       JSONB,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    sent_at       TIMESTAMPTZ,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    last_error    TEXT
);
-- The relay reads unsent rows per partition in id order; sent rows leave this index.
CREATE INDEX IF NOT EXISTS herald_outbox_unsent ON herald_outbox (partition, id) WHERE sent_at IS NULL;
-- Retention purges the oldest sent rows in bounded batches through this index.
CREATE INDEX IF NOT EXISTS herald_outbox_sent ON herald_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- No NOTIFY trigger on herald_outbox: a NOTIFY in the producer's transaction takes a
-- database-wide lock held through the commit's WAL flush, which serialises every producer.
-- Producers wake relays through `Wakeup::for_postgres` instead: one NOTIFY, in a
-- transaction of its own, for however many commits happened since the last one.

-- Partition leases shared by relays (scope 'relay') and consumer groups (scope 'group:<name>').
CREATE TABLE IF NOT EXISTS herald_leases (
    scope      TEXT    NOT NULL,
    partition  INTEGER NOT NULL,
    owner      TEXT,
    expires_at BIGINT  NOT NULL DEFAULT 0, -- milliseconds since the Unix epoch, database clock
    PRIMARY KEY (scope, partition)
);
CREATE TABLE IF NOT EXISTS herald_lease_members (
    scope      TEXT   NOT NULL,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, owner)
);

-- The embedded transport: a partitioned, durable log with consumer-group offsets.
CREATE TABLE IF NOT EXISTS herald_log (
    partition     INTEGER     NOT NULL,
    log_offset    BIGINT      NOT NULL,
    event_id      UUID        NOT NULL,
    routing_key   TEXT        NOT NULL,
    partition_key TEXT        NOT NULL,
    payload       BYTEA       NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (partition, log_offset)
);
CREATE TABLE IF NOT EXISTS herald_log_offsets (
    consumer_group TEXT    NOT NULL,
    partition      INTEGER NOT NULL,
    committed      BIGINT  NOT NULL,
    PRIMARY KEY (consumer_group, partition)
);
CREATE OR REPLACE FUNCTION herald_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_log', '');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS herald_log_notify ON herald_log;
CREATE TRIGGER herald_log_notify AFTER INSERT ON herald_log
    FOR EACH STATEMENT EXECUTE FUNCTION herald_log_notify();

-- The consumer inbox: an event id recorded in the consumer's own transaction is never applied again.
CREATE TABLE IF NOT EXISTS herald_inbox (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
