-- The delivery ledger's `delivered` state: when the consumer received the delivery that it
-- then processed (microseconds since the Unix epoch), written with the inbox record in
-- the same statement. NULL for rows recorded before this migration.
ALTER TABLE herald_inbox ADD COLUMN delivered_at INTEGER;

-- The relay purges retry steps past the ledger's retention by time.
CREATE INDEX IF NOT EXISTS herald_ledger_steps_by_time ON herald_ledger_steps (at);
