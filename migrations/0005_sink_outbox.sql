-- feedwatch schema, version 5: the outbox of alert sinks (webhook, exec; see src/sink/).
-- Every alert already lives in `alerts`, committed with its article; these tables only say
-- which configured sink still owes which alert, so delivery survives restarts and crashes.
-- Times are Unix seconds (UTC).

-- One row per sink name ever configured. `cursor` is the highest alert id already queued for
-- the sink (or skipped by its filter); it starts at the newest alert when the sink is first
-- registered, so adding a sink does not replay history. A sink removed from the config keeps
-- its row and queue (it is paused, not forgotten) and resumes from its cursor if it returns.
CREATE TABLE sinks (
    name                 TEXT    PRIMARY KEY,
    created_at           INTEGER NOT NULL,
    cursor               INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_error_at        INTEGER,
    last_delivered_at    INTEGER
);

-- One row per (alert, sink) the sink's filter accepted. A row is pending until exactly one
-- of delivered_at (the receiver accepted it) or failed_at (the receiver rejected it for good,
-- e.g. HTTP 400; kept for `status` and for a manual retry) is set. next_attempt_at is the
-- backoff after a failure, and also a lease while a delivery is in flight, so a second
-- process on the same database cannot send the same alert at the same time.
CREATE TABLE sink_deliveries (
    alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    sink            TEXT    NOT NULL REFERENCES sinks(name) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    PRIMARY KEY (alert_id, sink)
) WITHOUT ROWID;
CREATE INDEX sink_deliveries_due ON sink_deliveries(sink, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
