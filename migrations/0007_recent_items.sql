-- Text of recently seen items that matched no rule, kept for a retention period
-- ([storage] recent_text_retention, default 14 days) so `feedwatch backtest` can try a new
-- rule on what was seen, not only on what was kept.
-- Rows are appended in rowid order (not keyed by the random 64-bit item key), so a batch
-- of inserts writes a few new pages instead of touching pages all over the table.
CREATE TABLE recent_items (
    id       INTEGER PRIMARY KEY,
    key      INTEGER NOT NULL,
    feed_id  INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    url      TEXT,
    title    TEXT    NOT NULL,
    summary  TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    seen_at  INTEGER NOT NULL
);
CREATE INDEX recent_items_seen ON recent_items(seen_at);
