-- Seen keys are looked up in the database, by key, instead of all being loaded into memory
-- at start (issue #14; see src/store/seen.rs): start-up, memory and a poll's cost no longer
-- follow the number of keys kept.
--
-- `seen_items` is keyed by the key itself (the rowid: no separate index, the most compact
-- form SQLite has). `first_seen` is gone: the forgetting rule only needed it for undated
-- items, whose first sighting is never later than their last presence. The index on
-- `last_present` is gone too: forgetting sweeps the table in key order instead.
CREATE TABLE seen_items_by_key (
    key          INTEGER PRIMARY KEY,
    feed_id      INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    last_present INTEGER NOT NULL,
    published_at INTEGER                -- NULL: the item had no date
);
-- A key stored twice (two processes on one database before the lock existed) keeps its
-- latest presence and date: the row kept longest.
INSERT INTO seen_items_by_key (key, feed_id, last_present, published_at)
    SELECT key, min(feed_id), max(last_present), max(published_at)
    FROM seen_items GROUP BY key ORDER BY key;
DROP TABLE seen_items;
ALTER TABLE seen_items_by_key RENAME TO seen_items;

-- Keys written since the sweep last passed their place in `seen_items`: new keys, and the
-- new presence of known ones. Commits write here, a small table whose pages stay in cache,
-- instead of into `seen_items`, where random keys would dirty pages all over the table at
-- every commit; the sweep moves them over in key order, each page of `seen_items` written
-- once per sweep. A key is known when it is in either table.
CREATE TABLE seen_staged (
    key          INTEGER PRIMARY KEY,
    feed_id      INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    last_present INTEGER NOT NULL,
    published_at INTEGER
);

-- Where the sweep goes on: it walks `seen_items` in key order, a bounded window per pass,
-- and starts again from the lowest key at the end. Kept here, so a `poll --once` run from a
-- timer goes on where the last one stopped.
CREATE TABLE seen_sweep (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_key INTEGER NOT NULL
);
INSERT INTO seen_sweep (id, next_key) VALUES (1, -9223372036854775807 - 1);
