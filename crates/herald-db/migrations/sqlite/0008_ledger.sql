-- The delivery ledger (read by `herald-admin`'s `ledger`): what the other tables forget.
-- An event's commit and publish times, written by the relay when it marks the row sent
-- (the outbox row itself is purged after its retention), and the steps no other table
-- keeps (a consumer's retries). Processing, dead letters, replays and notifications are
-- read from the inboxes, the dead-letter queue and the notification table. Times are
-- microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS herald_ledger_events (
    event_id      BLOB   PRIMARY KEY,
    event_type    TEXT   NOT NULL,
    partition_key TEXT   NOT NULL,
    committed_at  INTEGER NOT NULL,
    published_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_time ON herald_ledger_events (committed_at);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_key ON herald_ledger_events (partition_key, committed_at);
CREATE INDEX IF NOT EXISTS herald_ledger_events_by_type ON herald_ledger_events (event_type, committed_at);

CREATE TABLE IF NOT EXISTS herald_ledger_steps (
    event_id BLOB   NOT NULL,
    service  TEXT   NOT NULL,
    state    TEXT   NOT NULL, -- retried
    at       INTEGER NOT NULL,
    detail   TEXT
);
CREATE INDEX IF NOT EXISTS herald_ledger_steps_by_event ON herald_ledger_steps (event_id);

-- SQLite records the ledger by triggers, so that marking rows sent stays one statement on
-- the single writer (PostgreSQL does it in the marking statement itself). A row leaves
-- the outbox unsent only when the relay deletes it as sent (retention "delete on send").
CREATE TRIGGER IF NOT EXISTS herald_ledger_on_sent AFTER UPDATE OF sent_at ON herald_outbox
WHEN old.sent_at IS NULL AND new.sent_at IS NOT NULL
BEGIN
    INSERT INTO herald_ledger_events (event_id, event_type, partition_key, committed_at, published_at)
    VALUES (new.event_id, new.event_type, new.partition_key, new.created_at, new.sent_at)
    ON CONFLICT (event_id) DO NOTHING;
END;
CREATE TRIGGER IF NOT EXISTS herald_ledger_on_delete_sent AFTER DELETE ON herald_outbox
WHEN old.sent_at IS NULL
BEGIN
    INSERT INTO herald_ledger_events (event_id, event_type, partition_key, committed_at, published_at)
    VALUES (old.event_id, old.event_type, old.partition_key, old.created_at,
            CAST(unixepoch('subsec') * 1000000 AS INTEGER))
    ON CONFLICT (event_id) DO NOTHING;
END;
