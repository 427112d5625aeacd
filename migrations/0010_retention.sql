-- Retention for what grows with time (issue #14; see src/store/retention.rs).
--
-- A feed no longer in the config keeps its row as a tombstone: kept articles, their sources
-- and seen keys reference it (ON DELETE CASCADE), and alerts and search show its name. The
-- row records when it left the config; it is deleted once nothing references it any more.
ALTER TABLE feeds ADD COLUMN removed_at INTEGER;   -- NULL: in the config
-- When a page last failed, so failures of items that left their feed can be dropped. Rows
-- from before this migration count as failed now: they get the whole retention.
ALTER TABLE page_failures ADD COLUMN failed_at INTEGER NOT NULL DEFAULT 0;
UPDATE page_failures SET failed_at = CAST(strftime('%s', 'now') AS INTEGER);
-- Finished sink deliveries, oldest first, for their retention; pending rows are not in it.
CREATE INDEX sink_deliveries_finished ON sink_deliveries(coalesce(delivered_at, failed_at))
    WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;
-- Articles whose story fingerprint is still stored, oldest first: fingerprint retention
-- reads only these, not every article kept since the start.
CREATE INDEX articles_fingerprinted ON articles(fetched_at) WHERE minhash IS NOT NULL;
