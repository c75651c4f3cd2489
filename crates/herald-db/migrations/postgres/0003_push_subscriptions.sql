-- Push subscriptions (webhooks): a service's pattern over routing keys and the HTTP
-- endpoint that receives the matching events, signed with the Standard Webhooks scheme.
-- `secret` is the `whsec_…` signing secret; it is stored in the clear because HMAC
-- signing needs it. After a rotation `previous_secret` also signs, until
-- `previous_secret_expires_at`. An endpoint is disabled (`disabled_at`) after too many
-- failed deliveries in a row.
CREATE TABLE IF NOT EXISTS herald_subscriptions (
    id                         UUID        PRIMARY KEY,
    service                    TEXT        NOT NULL,
    pattern                    TEXT        NOT NULL,
    endpoint                   TEXT        NOT NULL,
    secret                     TEXT        NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    disabled_at                TIMESTAMPTZ,
    consecutive_failures       INTEGER     NOT NULL DEFAULT 0,
    last_error                 TEXT,
    last_success_at            TIMESTAMPTZ,
    -- Also the index behind listing one service's subscriptions.
    UNIQUE (service, pattern, endpoint)
);
