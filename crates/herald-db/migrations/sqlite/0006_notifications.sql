-- The notification service. Times in these tables are microseconds since the Unix epoch
-- (BIGINT), on both backends, so that one set of queries serves both.

-- Message templates per name, channel and locale; every save is a new version.
CREATE TABLE IF NOT EXISTS herald_templates (
    name        TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    locale      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    subject     TEXT,
    body        TEXT    NOT NULL,
    -- The registry subject whose schema the template's fields were checked against.
    schema_subject TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (name, channel, locale, version)
);

-- People (and systems) Herald notifies by id: locale, time zone and quiet hours.
CREATE TABLE IF NOT EXISTS herald_recipients (
    id          TEXT    PRIMARY KEY,
    locale      TEXT    NOT NULL,
    timezone    TEXT    NOT NULL,
    -- Local times `HH:MM`; both set or both NULL. The end may be before the start
    -- (quiet hours across midnight).
    quiet_start TEXT,
    quiet_end   TEXT,
    updated_at  INTEGER NOT NULL
);

-- One address per recipient and channel (email, sms, push, webhook).
CREATE TABLE IF NOT EXISTS herald_contacts (
    recipient_id TEXT NOT NULL REFERENCES herald_recipients (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    address      TEXT NOT NULL,
    PRIMARY KEY (recipient_id, channel)
);

-- Opt-outs per channel and category; `*` stands for every channel or every category.
CREATE TABLE IF NOT EXISTS herald_preferences (
    recipient_id TEXT    NOT NULL REFERENCES herald_recipients (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    opted_out    INTEGER NOT NULL,
    PRIMARY KEY (recipient_id, channel, category)
);

-- One row per delivery: (idempotency key, recipient, channel) is unique, so an event
-- delivered twice plans nothing twice. The idempotency key is the event's own, or its id.
CREATE TABLE IF NOT EXISTS herald_notifications (
    id              BLOB    PRIMARY KEY,
    event_id        BLOB    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    address         TEXT,
    template        TEXT    NOT NULL,
    category        TEXT,
    priority        TEXT    NOT NULL,
    subject         TEXT,
    body            TEXT,
    data            TEXT    NOT NULL,
    -- pending, sending, sent, failed, suppressed, held
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    provider        TEXT,
    provider_message_id TEXT,
    -- Not sent before this time: the end of quiet hours, or the next retry.
    not_before      INTEGER NOT NULL,
    -- A dispatcher's claim on a `sending` row; after it, another may take the row.
    claimed_until   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (idempotency_key, recipient, channel)
);
CREATE INDEX IF NOT EXISTS herald_notifications_due
    ON herald_notifications (channel, not_before) WHERE status IN ('pending', 'held', 'sending');
CREATE INDEX IF NOT EXISTS herald_notifications_event ON herald_notifications (event_id);
