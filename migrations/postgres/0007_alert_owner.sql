-- feedwatch PostgreSQL schema, version 7: which instance owes each alert to an alert log.
--
-- Each instance writes the alerts its own commits created to its own log, then marks them
-- delivered. An instance that dies between the commit and the mark (kill -9, a lost
-- machine) would leave them in the database and in no log. `logged_by` names the instance
-- that owes an undelivered alert to a log: set by the commit that created it, and handed
-- to a live instance (src/store/pg/orphans.rs) once the owner's heartbeat is older than a
-- lease, the same rule that frees its feeds. Rows from before this version have no owner:
-- undelivered ones are adopted by the first live instance, delivered ones keep NULL.
ALTER TABLE alerts ADD COLUMN logged_by TEXT;
