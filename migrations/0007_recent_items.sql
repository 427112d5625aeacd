-- Text of recently seen items that matched no rule, kept for a retention period
-- ([storage] recent_text_retention, default 14 days) so `feedwatch backtest` can try a new
-- rule on what was seen, not only on what was kept.
CREATE TABLE recent_items (
    key      INTEGER PRIMARY KEY,
    feed_id  INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    url      TEXT,
    title    TEXT    NOT NULL,
    summary  TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    seen_at  INTEGER NOT NULL
);
CREATE INDEX recent_items_seen ON recent_items(seen_at);
