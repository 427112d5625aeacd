-- feedwatch PostgreSQL schema, version 4: full-text search over kept articles (`feedwatch
-- search`; see src/store/pg/tsquery.rs for how queries use it). Version 3 is the poll commit.

-- The text the index tokenizes: Latin diacritics folded (NFD, combining marks dropped) and
-- punctuation made into spaces, so that PostgreSQL's parser sees plain words as SQLite's
-- `unicode61 remove_diacritics 2` tokenizer does: `Green-Zone`, `example.com` and
-- `10:30` are two words each, not one hyphenated word, host or time. Queries' words go
-- through this same function (on the server), so both sides meet in the same form.
-- IMMUTABLE (normalize and regexp_replace are), as a generated column requires.
CREATE FUNCTION feedwatch_search_text(t TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT regexp_replace(
        regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g'),
        '[\u0021-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u007e\u00a0-\u00bf\u00d7\u00f7'
        '\u2000-\u206f\u2e00-\u2e7f\u3000-\u303f\u060c\u061b\u061f\u066a-\u066d\u06d4'
        '\ufe30-\ufe4f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+',
        ' ', 'g')
$$;

-- Title, summary and body under the weights A, B and C (ranked 10 : 4 : 1, as SQLite's bm25
-- weights), with the `simple` configuration: words as written (lower-cased), no stop words
-- and no stemming, like the SQLite index. Generated, so every path that writes an article
-- (the poll commit, a copy from SQLite) indexes it without knowing about search. Each field
-- is cut first (2,000 / 20,000 / 60,000 characters): a tsvector holds at most 1 MB, and an
-- article past it must still be stored; positions stop at 16,383 anyway, about 60,000
-- characters of text.
ALTER TABLE articles ADD COLUMN search TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, feedwatch_search_text(left(title, 2000))), 'A')
    || setweight(to_tsvector('simple'::regconfig, feedwatch_search_text(left(summary, 20000))), 'B')
    || setweight(to_tsvector('simple'::regconfig, feedwatch_search_text(left(body, 60000))), 'C')
) STORED;

CREATE INDEX articles_search ON articles USING gin (search);
