-- Event sourcing (crate `herald-eventstore`). Times are microseconds since the Unix epoch
-- (BIGINT), payloads and metadata JSON text, on both backends, so that one set of queries
-- serves both.

-- Every event of every stream. `version` counts from 1 within a stream; `position` is the
-- global order, assigned as MAX(position) + 1 inside the appending transaction, so two
-- concurrent appenders collide on its unique constraint instead of committing out of order
-- (a projection reading `position > checkpoint` never skips a late commit).
CREATE TABLE IF NOT EXISTS herald_events (
    stream_id      TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    position       BIGINT  NOT NULL,
    event_id       UUID    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    BIGINT  NOT NULL,
    CONSTRAINT herald_events_pkey PRIMARY KEY (stream_id, version),
    CONSTRAINT herald_events_position_key UNIQUE (position),
    CONSTRAINT herald_events_event_id_key UNIQUE (event_id)
);

-- The latest snapshot of a stream's folded state, taken at `version`.
CREATE TABLE IF NOT EXISTS herald_snapshots (
    stream_id TEXT   PRIMARY KEY,
    version   BIGINT NOT NULL,
    state     TEXT   NOT NULL,
    taken_at  BIGINT NOT NULL
);

-- A projection's checkpoint: the position of the last event its read model holds.
CREATE TABLE IF NOT EXISTS herald_projections (
    name       TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
