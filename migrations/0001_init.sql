-- feedwatch schema, version 1.
-- Migrations are append-only: never edit a released file, add 0002_*.sql instead.
-- Times are Unix seconds (UTC) in INTEGER columns.

-- One row per configured feed. The URL is the identity; config order and names may change.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT    NOT NULL UNIQUE,
    name                 TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_poll_at         INTEGER,
    last_status          INTEGER,             -- HTTP status of the last poll (NULL: no response)
    last_error           TEXT,                -- NULL when the last poll succeeded
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         INTEGER,
    items_seen           INTEGER NOT NULL DEFAULT 0,
    articles_kept        INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);

-- Every item ever seen, kept compactly (its 64-bit identity hashes), so nothing is fetched
-- or matched twice. Most items do not match any rule and are only remembered here.
-- Append-only in rowid order and deliberately without an index on `key`: keys are random,
-- and a B-tree keyed by them would have every commit rewrite pages all over the table. The
-- daemon holds the set of keys in memory (loaded at start) and this table makes it durable.
CREATE TABLE seen_items (
    id         INTEGER PRIMARY KEY,
    key        INTEGER NOT NULL,
    feed_id    INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    first_seen INTEGER NOT NULL
);

-- Article pages that could not be fetched yet: the item stays unseen and is retried on the
-- next poll, up to a bound, so a transient outage does not lose an article's full text.
CREATE TABLE page_failures (
    key        INTEGER PRIMARY KEY,
    attempts   INTEGER NOT NULL,
    last_error TEXT    NOT NULL
);

-- Articles that matched at least one rule.
CREATE TABLE articles (
    id            INTEGER PRIMARY KEY,
    item_key      INTEGER NOT NULL UNIQUE,
    feed_id       INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    url           TEXT,
    canonical_url TEXT,
    title         TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    body_source   TEXT    NOT NULL,           -- 'page' (extracted), 'feed' (feed content), 'none'
    author        TEXT,
    lang          TEXT,
    published_at  INTEGER,
    fetched_at    INTEGER NOT NULL
);
CREATE INDEX articles_feed ON articles(feed_id);

-- One alert per (article, rule), ever. Alerts are written in the same transaction as the
-- article; delivery to the log happens after commit and sets delivered_at.
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    article_id   INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    rule         TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    terms        TEXT    NOT NULL,            -- JSON array of {term, field, start, end}
    snippet      TEXT    NOT NULL,
    delivered_at INTEGER,
    UNIQUE (article_id, rule)
);
CREATE INDEX alerts_undelivered ON alerts(id) WHERE delivered_at IS NULL;
CREATE INDEX alerts_created ON alerts(created_at);
