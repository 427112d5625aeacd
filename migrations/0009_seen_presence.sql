-- Seen keys are forgotten after a retention period ([storage] seen_retention, see
-- src/store/seen.rs), so each key now records when its item was last present in a feed
-- document and the item's published date. A key is forgotten only when both are older than
-- the retention; keys kept until then are refreshed at most once a day.
-- Rows from before this migration were last known present when first seen.
ALTER TABLE seen_items ADD COLUMN last_present INTEGER NOT NULL DEFAULT 0;
ALTER TABLE seen_items ADD COLUMN published_at INTEGER;   -- NULL: the item had no date
UPDATE seen_items SET last_present = first_seen;
-- The forgetting pass reads the oldest presences first. New and refreshed rows carry the
-- current time, so this index grows at its end, unlike one on the random keys.
CREATE INDEX seen_items_present ON seen_items(last_present);
