-- Push subscriptions (webhooks); see the PostgreSQL migration for the columns.
-- Times are microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS herald_subscriptions (
    id                         BLOB    PRIMARY KEY,
    service                    TEXT    NOT NULL,
    pattern                    TEXT    NOT NULL,
    endpoint                   TEXT    NOT NULL,
    secret                     TEXT    NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at INTEGER,
    created_at                 INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    disabled_at                INTEGER,
    consecutive_failures       INTEGER NOT NULL DEFAULT 0,
    last_error                 TEXT,
    last_success_at            INTEGER,
    UNIQUE (service, pattern, endpoint)
);
