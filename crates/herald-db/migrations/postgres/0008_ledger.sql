-- The delivery ledger (read by `herald-admin`'s `ledger`): what the other tables forget.
-- An event's commit and publish times, written by the relay when it marks the row sent
-- (the outbox row itself is purged after its retention), and the steps no other table
-- keeps (a consumer's retries). Processing, dead letters, replays and notifications are
-- read from the inboxes, the dead-letter queue and the notification table. Times are
-- microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS herald_ledger_events (
    event_id      UUID   PRIMARY KEY,
    event_type    TEXT   NOT NULL,
    partition_key TEXT   NOT NULL,
    committed_at  BIGINT NOT NULL,
    published_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_time ON herald_ledger_events (committed_at);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_key ON herald_ledger_events (partition_key, committed_at);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_type ON herald_ledger_events (event_type, committed_at);

CREATE TABLE IF NOT EXISTS herald_ledger_steps (
    event_id UUID   NOT NULL,
    service  TEXT   NOT NULL,
    state    TEXT   NOT NULL, -- retried
    at       BIGINT NOT NULL,
    detail   TEXT
);
CREATE INDEX IF NOT EXISTS herald_ledger_steps_by_event ON herald_ledger_steps (event_id);
