-- The schema registry (Confluent-compatible): schemas by global id, subject versions, and
-- compatibility settings (subject '' is the global default).
CREATE TABLE IF NOT EXISTS herald_schemas (
    id          BIGSERIAL PRIMARY KEY,
    schema_type TEXT        NOT NULL,
    schema      TEXT        NOT NULL, -- canonical JSON text
    fingerprint TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (schema_type, fingerprint)
);
CREATE TABLE IF NOT EXISTS herald_subjects (
    subject    TEXT        NOT NULL,
    version    INTEGER     NOT NULL,
    schema_id  BIGINT      NOT NULL REFERENCES herald_schemas (id),
    deleted    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (subject, version)
);
CREATE TABLE IF NOT EXISTS herald_config (
    subject       TEXT PRIMARY KEY,
    compatibility TEXT NOT NULL
);
