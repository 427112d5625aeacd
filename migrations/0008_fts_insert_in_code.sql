-- The articles_fts insert trigger made every article insert a trigger program with its own
-- statement savepoint, and FTS5 writes its pending index to disk at every savepoint: one tiny
-- index segment per article, merged again and again. The store now inserts into articles_fts
-- itself, in the same transaction, right after the article (see store::write_poll); FTS5
-- then buffers a whole batch. Deletes and updates keep their triggers (they are rare).
DROP TRIGGER articles_fts_insert;
