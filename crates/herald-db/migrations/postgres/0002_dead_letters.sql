-- The dead-letter queue of each consuming service: events that failed every attempt, could
-- not be decoded or had no handler. Written in the consumer's own transaction, so an event is
-- dead-lettered exactly once; the reason columns are the headers of the issue's DLQ.
CREATE TABLE IF NOT EXISTS herald_dead_letters (
    id              UUID        PRIMARY KEY,
    service         TEXT        NOT NULL,
    event_id        UUID        NOT NULL,
    event_type      TEXT,
    routing_key     TEXT        NOT NULL,
    partition_key   TEXT        NOT NULL,
    payload         BYTEA       NOT NULL,
    reason          TEXT        NOT NULL, -- handler_failed | rejected | undecodable | unhandled
    error           TEXT        NOT NULL,
    handler         TEXT,
    attempts        INTEGER     NOT NULL,
    first_failed_at TIMESTAMPTZ NOT NULL,
    last_failed_at  TIMESTAMPTZ NOT NULL,
    replays         INTEGER     NOT NULL DEFAULT 0,
    status          TEXT        NOT NULL DEFAULT 'dead', -- dead | replayed
    replayed_at     TIMESTAMPTZ,
    UNIQUE (service, event_id)
);
CREATE INDEX IF NOT EXISTS herald_dead_letters_by_service ON herald_dead_letters (service, status, last_failed_at);
