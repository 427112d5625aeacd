-- feedwatch schema, version 12: scheduled digests (issue #16; see src/sink/digest.rs).
-- A sink with `digest = "daily 07:00"` sends one digest per period instead of each alert.
-- The digest is rendered once, when its period is due, and stored whole with its delivery
-- state, so delivery is durable and at least once like an alert's (sink_deliveries), and a
-- restart neither renders nor sends a period again. Times are Unix seconds (UTC).

-- The due time (end) of the latest period queued for the sink. NULL until the sink first
-- runs with a schedule: it is then set to the latest due time already past, so a new digest
-- sink starts with the first period due after it was registered, not with history. Moved
-- forward in the transaction that inserts the period's row, so each period is queued once;
-- after a long stop only the latest missed period is queued.
ALTER TABLE sinks ADD COLUMN digest_through INTEGER;

-- One row per (sink, period) queued. Pending until exactly one of delivered_at or failed_at
-- is set, as in sink_deliveries; next_attempt_at is the backoff after a failure and the lease
-- while a delivery is in flight. The body is what `feedwatch digest --format <format>`
-- prints for [period_start, period_end); a rowid table, not WITHOUT ROWID, since bodies run
-- to tens of kilobytes.
CREATE TABLE digest_deliveries (
    id              INTEGER PRIMARY KEY,
    sink            TEXT    NOT NULL REFERENCES sinks(name) ON DELETE CASCADE,
    period_start    INTEGER NOT NULL,
    period_end      INTEGER NOT NULL,
    format          TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    UNIQUE (sink, period_end)
);
CREATE INDEX digest_deliveries_due ON digest_deliveries(sink, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
