-- feedwatch PostgreSQL schema, version 5: scheduled digests (issue #16), as SQLite's
-- migrations/0012_digest_schedule.sql (see there for the semantics). The PostgreSQL store
-- does not run sinks yet; the tables keep the two schemas alike.

-- The due time (end) of the latest period queued for a digest sink; NULL until it first
-- runs with a schedule.
ALTER TABLE sinks ADD COLUMN digest_through BIGINT;

-- One row per (sink, period) queued, with the rendered body and its delivery state.
CREATE TABLE digest_deliveries (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink            TEXT    NOT NULL REFERENCES sinks(name) ON DELETE CASCADE,
    period_start    BIGINT  NOT NULL,
    period_end      BIGINT  NOT NULL,
    format          TEXT    NOT NULL,
    body            BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    delivered_at    BIGINT,
    failed_at       BIGINT,
    UNIQUE (sink, period_end),
    CHECK (delivered_at IS NULL OR failed_at IS NULL)
);
CREATE INDEX digest_deliveries_due ON digest_deliveries(sink, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
