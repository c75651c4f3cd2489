-- A push subscription may narrow its pattern with a CloudEvents SQL expression over the
-- event's attributes and extensions (e.g. `source = '/orders' AND eventkind = 'integration'`).
ALTER TABLE herald_subscriptions ADD COLUMN filter TEXT;
