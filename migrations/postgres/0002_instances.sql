-- feedwatch PostgreSQL schema, version 2: several instances sharing one database
-- (issue #15; see src/store/pg/coord.rs for how these columns are used).

-- Membership: one row per instance that ever registered. An instance refreshes
-- heartbeat_at while it runs; `status` shows the rows, and a row whose heartbeat is older
-- than a lease is a dead (or partitioned) instance whose feeds the others take over.
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY,         -- hostname:pid, or configured
    hostname     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,            -- feedwatch version of the process
    started_at   BIGINT  NOT NULL,
    heartbeat_at BIGINT  NOT NULL
);

-- Feed leases: the instance polling a feed holds its row until lease_expires. A lease is
-- taken with SELECT … FOR UPDATE SKIP LOCKED, renewed while the poll runs, released after
-- it, and taken over by another instance once it has expired (its holder died or hung).
-- A feed is free when lease_owner is NULL or lease_expires has passed; removing an
-- instance's row frees its leases. The foreign key makes an instance register before it
-- can hold a lease, so every holder shows in `status`.
ALTER TABLE feeds ADD COLUMN lease_owner   TEXT REFERENCES instances(id) ON DELETE SET NULL;
ALTER TABLE feeds ADD COLUMN lease_expires BIGINT;

-- The claim reads due feeds of the config in next_poll_at order.
CREATE INDEX feeds_due ON feeds(next_poll_at) WHERE removed_at IS NULL;
CREATE INDEX feeds_lease_owner ON feeds(lease_owner) WHERE lease_owner IS NOT NULL;
