-- feedwatch PostgreSQL schema, version 6: the transaction that created each alert, so that
-- `feedwatch alerts --follow` can read alerts in commit order rather than id order.
--
-- Alert ids come from an identity sequence, drawn when the row is inserted; two instances'
-- commits can finish out of id order (the one holding id 41 commits after the one holding
-- 42), so a follower that asks for "id > last seen" would skip 41 for ever. Instead a
-- follower notes the snapshot's xmin each time it reads (every transaction below it has
-- finished) and next time reads the alerts of transactions at or above it, minus those it
-- already printed: an alert committed late is read then, whatever its id, and no
-- assumption on how long a transaction may run is needed. See src/store/pg/follow.rs.
--
-- The default fills existing rows with this migration's transaction id: they are older than
-- any follower that starts after it.
ALTER TABLE alerts ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX alerts_xact ON alerts(xact);
