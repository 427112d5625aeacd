//! Full-text search over kept articles on PostgreSQL: the contract of the SQLite store's
//! `search` (the `limit` most relevant articles kept at or after `since`, listed newest first,
//! each with a marked snippet), over the `articles.search` column of migration 0004.
//!
//! A search is two statements on one connection: the server first tokenizes the query's terms
//! with the index's own function and parser (so a word meets the articles in exactly the form
//! they were indexed in, with no second implementation of the folding in Rust), then runs the
//! tsquery [`PgQuery`] writes from those lexemes, passed as a parameter.
//!
//! Ranking is `ts_rank_cd` (cover density) with the weights 10 : 4 : 1 for title, summary and
//! body, as SQLite's bm25 weights, and a length normalisation (rank / (1 + log(length))) like
//! bm25's, over the query's positive terms only ([`PgQuery::to_rank_tsquery`]: the full
//! query's `NEAR` expansion would make it quadratic); the two rankings agree on clear cases,
//! not on every tie. The snippet is
//! `ts_headline` over the title, summary and body, marked `«…»` and cut with `…` like FTS5's.
//! Its marks are found on the text as written, while the query's lexemes are folded, so a
//! word written with accents (`Café`) is found but not marked.

use std::collections::HashMap;

use super::tsquery::PgQuery;
use super::{PgError, PgStore};
use crate::store::search::{newest_first, SNIPPET_WORDS, WEIGHTS};
use crate::store::SearchHit;

/// Each term's lexemes, in order, as `to_tsvector` would index the term's text.
const LEXEMES: &str = "
    SELECT t.text,
           coalesce((SELECT array_agg(d.lexemes[1] ORDER BY d.n)
                       FROM ts_debug('simple'::regconfig, feedwatch_search_text(t.text))
                            WITH ORDINALITY AS d(alias, description, token, dictionaries,
                                                 dictionary, lexemes, n)
                      WHERE cardinality(d.lexemes) > 0), '{}')
    FROM unnest($1::text[]) AS t(text)";

/// The best `$3` matches of `$1` kept at or after `$2`, ranked by `$6`, with their snippets.
const SEARCH: &str = "
    WITH hits AS (
        SELECT ar.id, ts_rank_cd($4::float4[], ar.search, $6::text::tsquery, 1) AS rank
          FROM articles ar
         WHERE ar.search @@ $1::text::tsquery AND ar.fetched_at >= $2
         ORDER BY rank DESC, COALESCE(ar.published_at, ar.fetched_at) DESC, ar.id DESC
         LIMIT $3)
    SELECT ar.id, COALESCE(f.name, f.url), f.url, ar.title, ar.url, ar.published_at,
           ar.fetched_at, s.head,
           starts_with(s.plain_text, s.plain_head) AS whole_start,
           right(s.plain_text, length(s.plain_head)) = s.plain_head AS whole_end,
           -h.rank::float8
      FROM hits h
      JOIN articles ar ON ar.id = h.id
      JOIN feeds f ON f.id = ar.feed_id
     CROSS JOIN LATERAL (
        SELECT hl.head,
               btrim(replace(replace(src.t, '«', ''), '»', '')) AS plain_text,
               btrim(replace(replace(hl.head, '«', ''), '»', '')) AS plain_head
          FROM (SELECT concat_ws(' … ', nullif(ar.title, ''), nullif(ar.summary, ''),
                                 nullif(left(ar.body, 60000), '')) AS t) src,
               LATERAL (SELECT ts_headline('simple'::regconfig, src.t, $6::text::tsquery, $5)
                               AS head) hl) s";

impl PgStore {
    /// The `limit` most relevant articles kept at or after `since` (Unix seconds) that match
    /// `query`, newest first: what `Store::search` returns for the same query on SQLite.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn search(
        &self,
        query: &PgQuery,
        since: i64,
        limit: usize,
    ) -> Result<Vec<SearchHit>, PgError> {
        let client = self.client().await?;
        let lexemes: HashMap<String, Vec<String>> = client
            .query(LEXEMES, &[&query.term_texts()])
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        let tsquery = query.to_tsquery(&lexemes);
        let rank_tsquery = query.to_rank_tsquery(&lexemes);
        // ts_rank_cd takes the weights of D, C, B, A (D is unused), each at most 1.
        let top = WEIGHTS.0;
        #[allow(clippy::cast_possible_truncation)] // 1, 0.4 and 0.1 need no f64 precision
        let weights: Vec<f32> = [0.0, WEIGHTS.2 / top, WEIGHTS.1 / top, 1.0]
            .iter()
            .map(|w| *w as f32)
            .collect();
        let options = format!(
            "StartSel=«, StopSel=», MaxWords={SNIPPET_WORDS}, MinWords={}, ShortWord=0, \
             MaxFragments=1",
            SNIPPET_WORDS / 2
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                SEARCH,
                &[&tsquery, &since, &limit, &weights, &options, &rank_tsquery],
            )
            .await?;
        let mut hits = rows.iter().map(hit).collect::<Result<Vec<_>, _>>()?;
        newest_first(&mut hits);
        Ok(hits)
    }
}

/// One row of [`SEARCH`] as a hit, its snippet cut with `…` where the text goes on (as
/// FTS5's `snippet` marks it).
fn hit(r: &tokio_postgres::Row) -> Result<SearchHit, tokio_postgres::Error> {
    let head: String = r.try_get(7)?;
    let (whole_start, whole_end): (bool, bool) = (r.try_get(8)?, r.try_get(9)?);
    let mut snippet = String::with_capacity(head.len() + 6);
    if !whole_start {
        snippet.push('…');
    }
    snippet.push_str(head.trim());
    if !whole_end {
        snippet.push('…');
    }
    Ok(SearchHit {
        article_id: r.try_get(0)?,
        feed: r.try_get(1)?,
        feed_url: r.try_get(2)?,
        title: r.try_get(3)?,
        url: r.try_get(4)?,
        published_at: r.try_get(5)?,
        fetched_at: r.try_get(6)?,
        snippet,
        score: r.try_get(10)?,
    })
}
