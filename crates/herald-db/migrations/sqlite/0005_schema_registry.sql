-- The schema registry (Confluent-compatible): schemas by global id, subject versions, and
-- compatibility settings (subject '' is the global default).
CREATE TABLE IF NOT EXISTS herald_schemas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_type TEXT    NOT NULL,
    schema      TEXT    NOT NULL, -- canonical JSON text
    fingerprint TEXT    NOT NULL,
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    UNIQUE (schema_type, fingerprint)
);
CREATE TABLE IF NOT EXISTS herald_subjects (
    subject    TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    schema_id  INTEGER NOT NULL REFERENCES herald_schemas (id),
    deleted    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (subject, version)
);
CREATE TABLE IF NOT EXISTS herald_config (
    subject       TEXT PRIMARY KEY,
    compatibility TEXT NOT NULL
);
