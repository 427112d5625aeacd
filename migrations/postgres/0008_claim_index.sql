-- feedwatch PostgreSQL schema, version 8: the claim of due feeds walks an index.
--
-- The claim (src/store/pg/coord.rs) asks for the most overdue feeds, `coalesce(next_poll_at,
-- 0) <= now` in that order, a few at a time. Version 2's index was on `next_poll_at` alone,
-- which that expression cannot use: every claim read and sorted every feed row (measured by
-- benches/backends.sh: 0.24 ms at 1,000 feeds, 8.2 ms at 100,000, once per poll, so a cycle's
-- cost grew with the square of the feeds). An index on the same expression, with `id` for
-- the tie-break, gives the claim its rows in order and stops at its LIMIT.
DROP INDEX feeds_due;
CREATE INDEX feeds_due ON feeds ((coalesce(next_poll_at, 0)), id) WHERE removed_at IS NULL;
