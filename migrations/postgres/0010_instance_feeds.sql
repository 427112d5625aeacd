-- feedwatch PostgreSQL schema, version 10: which feeds each instance's config lists.
--
-- An instance claims only the feeds its own config lists (version 9's claim filter), so
-- instances whose configs differ split the feeds unevenly, and a feed only some list is
-- polled by those alone. That is right during a rolling reload and wrong when one host was
-- forgotten. Each instance records how many feeds its config lists and a digest of their
-- URLs (at start and at each reload); `status` and the instance's journal say when the
-- running instances' lists differ. NULL: an instance of an older version, which records none.
ALTER TABLE instances ADD COLUMN feeds_listed INTEGER;
ALTER TABLE instances ADD COLUMN feeds_digest TEXT;
