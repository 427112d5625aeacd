-- feedwatch PostgreSQL schema, version 9: when a feed's last poll was committed, by the
-- server's clock, to the microsecond.
--
-- `poll --once` polls every feed once (as on SQLite), sharing them with any instance running:
-- it claims the feeds not polled since it started. `last_poll_at` is whole seconds of the
-- polling instance's clock, too coarse for that: two `poll --once` started in the same
-- second would each poll what the other had just polled (or neither would). `polled_at` is
-- set by the commit with the server's `clock_timestamp()` and compared with the server's
-- clock read when the run started, so every instance compares times of one clock.
ALTER TABLE feeds ADD COLUMN polled_at TIMESTAMPTZ;

-- That claim asks for the feeds polled longest ago (never polled first), a few at a time:
-- an index on the same expression gives them in order and stops at the run's start, so a
-- claim does not read every feed row (a run of N feeds would otherwise cost N² rows read).
CREATE INDEX feeds_unpolled ON feeds ((coalesce(polled_at, '-infinity'::timestamptz)), id)
    WHERE removed_at IS NULL;
