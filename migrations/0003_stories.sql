-- One story, one alert: syndicated copies of a wire story (near-duplicate text) share a
-- story id, and every feed an article was seen in is remembered as a source.
ALTER TABLE articles ADD COLUMN link_canonical TEXT;   -- canonical form of the item's link
ALTER TABLE articles ADD COLUMN minhash BLOB;         -- MinHash signature of the text's 3-word shingles (see src/story.rs)
ALTER TABLE articles ADD COLUMN words INTEGER;         -- words in that text
ALTER TABLE articles ADD COLUMN story_id INTEGER;      -- id of the story's first article
CREATE INDEX articles_link ON articles(link_canonical);
CREATE INDEX articles_story ON articles(story_id);
CREATE INDEX articles_fetched ON articles(fetched_at);

-- Locality-sensitive index over the MinHash signatures: each article's signature cut into
-- bands (see src/story.rs); articles sharing a band are candidate copies, so finding a new
-- article's story costs a few index lookups, not a scan of every recent article.
CREATE TABLE article_bands (
    band       INTEGER NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (band, article_id)
) WITHOUT ROWID;
CREATE INDEX article_bands_article ON article_bands(article_id);

-- Feeds (other than the article's own) that carried the same article URL.
CREATE TABLE article_sources (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    feed_id    INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    url        TEXT,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (article_id, feed_id)
) WITHOUT ROWID;
