-- The transactional outbox: one row per event, written in the producer's own transaction.
-- Times are microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS herald_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      BLOB    NOT NULL,
    partition     INTEGER NOT NULL,
    partition_key TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    routing_key   TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    headers       TEXT,
    created_at    INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    sent_at       INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS herald_outbox_unsent ON herald_outbox (partition, id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS herald_outbox_sent ON herald_outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS herald_leases (
    scope      TEXT    NOT NULL,
    partition  INTEGER NOT NULL,
    owner      TEXT,
    expires_at INTEGER NOT NULL DEFAULT 0, -- milliseconds since the Unix epoch
    PRIMARY KEY (scope, partition)
);
CREATE TABLE IF NOT EXISTS herald_lease_members (
    scope      TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, owner)
);

CREATE TABLE IF NOT EXISTS herald_log (
    partition     INTEGER NOT NULL,
    log_offset    INTEGER NOT NULL,
    event_id      BLOB    NOT NULL,
    routing_key   TEXT    NOT NULL,
    partition_key TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    published_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (partition, log_offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS herald_log_offsets (
    consumer_group TEXT    NOT NULL,
    partition      INTEGER NOT NULL,
    committed      INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, partition)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS herald_inbox (
    consumer     TEXT    NOT NULL,
    event_id     BLOB    NOT NULL,
    processed_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
