-- feedwatch PostgreSQL schema, version 3: what the poll commit needs (issue #15; see
-- src/store/pg/poll.rs). Seen keys take the meaning of SQLite's version 11
-- (migrations/0011_seen_by_key.sql), and a feed lease carries a fencing token.

-- Seen keys are keyed by the key itself, as in SQLite since version 11: a poll looks keys up
-- by key, and claims new ones with INSERT … ON CONFLICT (key) DO NOTHING RETURNING key, so
-- of two instances that meet the same item at once exactly one is told it is new. The
-- surrogate `id` and `first_seen` go, as in SQLite (forgetting needs `first_seen` only for
-- undated items, whose first sighting is never later than their last presence, which keeps
-- the later of the two below); the index on `last_present` goes too, since forgetting
-- sweeps in key order (`seen_sweep`). The unique constraint on `key` becomes the primary
-- key (an index that backs a constraint cannot be adopted as another).
--
-- Unlike SQLite there is no staging table: there it keeps random-key writes off the big
-- table's pages, but PostgreSQL appends new rows to the heap whatever their key (only the
-- primary-key index is written at random), and one table keeps the claim of a key in one
-- unique index, which a staging table beside it would split across two.
UPDATE seen_items SET last_present = first_seen WHERE last_present < first_seen;
ALTER TABLE seen_items DROP COLUMN id;
ALTER TABLE seen_items DROP COLUMN first_seen;
ALTER TABLE seen_items DROP CONSTRAINT seen_items_key_key, ADD PRIMARY KEY (key);
DROP INDEX seen_items_present;

-- Where the forgetting sweep goes on (as SQLite's): it walks `seen_items` in key order, a
-- bounded window per pass, and starts again from the lowest key at the end.
CREATE TABLE seen_sweep (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_key BIGINT  NOT NULL
);
INSERT INTO seen_sweep (id, next_key) VALUES (1, -9223372036854775808);

-- A fencing token for feed leases: every claim of a feed increments it, and a poll's commit
-- names the token of the claim it polled under. A holder that stalled past its lease while
-- another instance took the feed over (and perhaps released it, and it was claimed again)
-- holds an old token, and its commit is refused: the owner's id alone could not tell a
-- lease from the same instance's earlier one.
ALTER TABLE feeds ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
