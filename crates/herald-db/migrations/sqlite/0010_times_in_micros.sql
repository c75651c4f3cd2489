-- Every time Herald stores is an INTEGER of microseconds since the Unix epoch, on both
-- databases. The lease tables kept milliseconds until this migration; their expiry times
-- are multiplied by 1,000 (stop every relay and consumer of an older release before
-- starting this one, as their leases would otherwise read as long expired).
UPDATE herald_leases SET expires_at = expires_at * 1000 WHERE expires_at > 0;
UPDATE herald_lease_members SET expires_at = expires_at * 1000;
