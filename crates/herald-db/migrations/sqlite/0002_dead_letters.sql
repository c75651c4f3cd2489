-- The dead-letter queue of each consuming service: events that failed every attempt, could
-- not be decoded or had no handler. Written in the consumer's own transaction, so an event is
-- dead-lettered exactly once. Times are microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS herald_dead_letters (
    id              BLOB    PRIMARY KEY,
    service         TEXT    NOT NULL,
    event_id        BLOB    NOT NULL,
    event_type      TEXT,
    routing_key     TEXT    NOT NULL,
    partition_key   TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    reason          TEXT    NOT NULL, -- handler_failed | rejected | undecodable | unhandled
    error           TEXT    NOT NULL,
    handler         TEXT,
    attempts        INTEGER NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at  INTEGER NOT NULL,
    replays         INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT 'dead', -- dead | replayed
    replayed_at     INTEGER,
    UNIQUE (service, event_id)
);
CREATE INDEX IF NOT EXISTS herald_dead_letters_by_service ON herald_dead_letters (service, status, last_failed_at);
