-- Full-text index over kept articles, for `feedwatch search`.
-- External content: the text lives once, in `articles`; this table holds only the index, and
-- the triggers below keep it in step with every insert, update and delete (including the
-- cascade when a feed row is deleted). unicode61 with remove_diacritics 2 folds case and
-- accents ("Bagdád" finds "Baghdad"-style spellings that differ only in accents).
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, summary, body,
    content = 'articles',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, summary, body)
    VALUES (new.id, new.title, new.summary, new.body);
END;

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, old.title, old.summary, old.body);
END;

CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body)
    VALUES ('delete', old.id, old.title, old.summary, old.body);
    INSERT INTO articles_fts (rowid, title, summary, body)
    VALUES (new.id, new.title, new.summary, new.body);
END;

-- Index the articles kept before this migration.
INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
