//! Articles, stories and alerts on PostgreSQL, inside a poll's transaction: the meaning of
//! the SQLite store's `ArticleSql` (`store::poll`), enforced by the database.
//!
//! - **An article once.** `articles.item_key` is unique; the insert is `ON CONFLICT DO
//!   NOTHING RETURNING id`, so a commit knows whether it stored the article or found it.
//! - **An alert once per article and rule, and per story and rule.** Both are unique
//!   constraints on `alerts` (`migrations/postgres/0001_init.sql`); the insert is `ON
//!   CONFLICT DO NOTHING RETURNING id`, so the commit that created an alert knows it, and a
//!   syndicated copy of a story that alerted adds a source, not an alert, whichever
//!   instance stores it. (SQLite checks the story in code, inside its single writer.)
//! - **One story for copies stored at once.** A new article joins the story of a recent
//!   near-duplicate found through the shared bands of their fingerprints. Two instances
//!   storing two copies at once would each miss the other's uncommitted copy and start two
//!   stories, and two alerts. So before anything else the commit takes a transaction-scoped
//!   advisory lock on every band of its articles, in band order: two commits whose articles
//!   share a band (every pair that can be one story shares one, see `story::BAND_ROWS`) run
//!   one after the other, and the second sees the first's copy. A record with more than
//!   [`MAX_BAND_LOCKED_ARTICLES`] articles takes one exclusive lock over all stories
//!   instead, which bounds the locks one transaction holds (the server's lock table is
//!   shared and finite); every band-locking commit holds that lock shared.

use std::collections::BTreeSet;

use super::cached;
use super::PgError;
use crate::store::{NewArticle, PollRecord};
use crate::story::{self, Fingerprint};

/// Articles of one record beyond which the commit locks all stories rather than each band.
/// Advisory locks live in the server's shared lock table, sized `max_locks_per_transaction`
/// (64 by default) times `max_connections`; at 32 bands an article this holds one commit to
/// 257 locks, about four connections' share, and a pool of 8 to about 2,000. Most polls keep
/// no article or a few; a large first poll of a feed waits for the others' story locks
/// instead, a few milliseconds each.
pub const MAX_BAND_LOCKED_ARTICLES: usize = 8;

/// Key of the advisory lock over all stories ("fw-stor" in ASCII); the migration lock is
/// another fixed key, and band keys are 64-bit hashes (a clash only makes a commit wait).
const ALL_STORIES_LOCK: i64 = 0x0066_772d_7374_6f72;

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// What storing a poll's articles did.
#[derive(Debug, Default)]
pub(super) struct ArticlesWritten {
    /// Articles stored by this commit.
    pub articles_new: i64,
    /// Alerts created by this commit, by id, in creation order.
    pub alerts: Vec<i64>,
}

/// Takes the story-assignment locks for `rec`'s articles (see the module doc), held to the
/// end of the transaction.
pub(super) async fn lock_stories(tx: &Tx<'_>, rec: &PollRecord) -> Result<(), PgError> {
    if rec.articles.is_empty() {
        return Ok(());
    }
    if rec.articles.len() > MAX_BAND_LOCKED_ARTICLES {
        cached::execute(tx, "SELECT pg_advisory_xact_lock($1)", &[&ALL_STORIES_LOCK]).await?;
        return Ok(());
    }
    cached::execute(
        tx,
        "SELECT pg_advisory_xact_lock_shared($1)",
        &[&ALL_STORIES_LOCK],
    )
    .await?;
    // Sorted and without repeats: unnest keeps the array's order, so every commit takes its
    // band locks in one global order and none waits in a cycle.
    let bands: Vec<i64> = rec
        .articles
        .iter()
        .flat_map(|a| a.fingerprint.bands())
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    cached::execute(
        tx,
        "SELECT pg_advisory_xact_lock(b) FROM unnest($1::bigint[]) AS b",
        &[&bands],
    )
    .await?;
    Ok(())
}

/// Stores the articles that matched, in record order (as SQLite), each with its story and
/// alerts.
pub(super) async fn write(
    tx: &Tx<'_>,
    instance: &str,
    rec: &PollRecord,
) -> Result<ArticlesWritten, PgError> {
    let mut out = ArticlesWritten::default();
    for a in &rec.articles {
        let (id, story_id, new) = insert_article(tx, rec, a).await?;
        if new {
            out.articles_new += 1;
        }
        let sid = match story_id {
            Some(sid) => sid,
            None => assign_story(tx, rec, a, id).await?,
        };
        write_alerts(tx, (instance, rec), a, (id, sid), &mut out.alerts).await?;
    }
    Ok(out)
}

/// Stores one article unless its item is stored already. Returns its id, its story (none
/// yet when new) and whether this commit stored it.
async fn insert_article(
    tx: &Tx<'_>,
    rec: &PollRecord,
    a: &NewArticle,
) -> Result<(i64, Option<i64>, bool), PgError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO articles (item_key, feed_id, url, canonical_url, title, summary, body,
                 body_source, author, lang, published_at, fetched_at, link_canonical, minhash,
                 words)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (item_key) DO NOTHING
             RETURNING id",
        )
        .await?;
    let words = i32::try_from(a.fingerprint.words).unwrap_or(i32::MAX);
    let inserted = tx
        .query_opt(
            &insert,
            &[
                &a.item_key,
                &rec.feed_id,
                &a.url,
                &a.canonical_url,
                &a.title,
                &a.summary,
                &a.body,
                &a.body_source,
                &a.author,
                &a.lang,
                &a.published_at,
                &rec.polled_at,
                &a.link_canonical,
                &a.fingerprint.to_bytes(),
                &words,
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok((row.try_get(0)?, None, true));
    }
    // Stored by an earlier commit (the conflict waited for it to finish, so it is visible).
    let row = cached::query_one(
        tx,
        "SELECT id, story_id FROM articles WHERE item_key = $1",
        &[&a.item_key],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, false))
}

/// A new article's story: that of the first recent near-duplicate, else its own (as
/// SQLite's `assign_story`). Its bands are stored so later articles find it. The band locks
/// taken by [`lock_stories`] make every copy committed before them visible here.
async fn assign_story(
    tx: &Tx<'_>,
    rec: &PollRecord,
    a: &NewArticle,
    id: i64,
) -> Result<i64, PgError> {
    let window = rec.polled_at - story::WINDOW_SECS;
    let bands = a.fingerprint.bands();
    let candidates = tx
        .prepare_cached(
            "SELECT DISTINCT ar.id, ar.story_id, ar.minhash, ar.words
             FROM article_bands b JOIN articles ar ON ar.id = b.article_id
             WHERE b.band = ANY($1) AND ar.fetched_at >= $2 AND ar.minhash IS NOT NULL
               AND ar.item_key != $3
             ORDER BY ar.id",
        )
        .await?;
    let rows = tx
        .query(&candidates, &[&bands, &window, &a.item_key])
        .await?;
    let mut found = None;
    for r in &rows {
        let (oid, ostory): (i64, Option<i64>) = (r.try_get(0)?, r.try_get(1)?);
        let (bytes, words): (Vec<u8>, Option<i32>) = (r.try_get(2)?, r.try_get(3)?);
        let words = usize::try_from(words.unwrap_or(0)).unwrap_or(0);
        let other = Fingerprint::from_bytes(&bytes, words);
        if other.is_some_and(|o| story::same_story(&a.fingerprint, &o)) {
            found = Some(ostory.unwrap_or(oid));
            break;
        }
    }
    let sid = found.unwrap_or(id);
    cached::execute(
        tx,
        "INSERT INTO article_bands (band, article_id) SELECT b, $2 FROM unnest($1::bigint[]) AS b
         ON CONFLICT DO NOTHING",
        &[&bands, &id],
    )
    .await?;
    cached::execute(
        tx,
        "UPDATE articles SET story_id = $2 WHERE id = $1",
        &[&id, &sid],
    )
    .await?;
    Ok(sid)
}

/// The article's alerts, one per rule and story: the unique constraints drop a repeat, and
/// the ids of those created are pushed onto `created`. `instance`, the committing one, owes
/// them to its alert log (`logged_by`, see migrations/postgres/0007_alert_owner.sql).
async fn write_alerts(
    tx: &Tx<'_>,
    (instance, rec): (&str, &PollRecord),
    a: &NewArticle,
    (id, sid): (i64, i64),
    created: &mut Vec<i64>,
) -> Result<(), PgError> {
    if a.alerts.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO alerts (article_id, story_id, rule, severity, created_at, terms, snippet,
                                 logged_by)
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .await?;
    for al in &a.alerts {
        let row = tx
            .query_opt(
                &insert,
                &[
                    &id,
                    &sid,
                    &al.rule,
                    &al.severity.to_string(),
                    &rec.polled_at,
                    &al.terms_json(),
                    &al.snippet,
                    &instance,
                ],
            )
            .await?;
        if let Some(row) = row {
            created.push(row.try_get(0)?);
        }
    }
    Ok(())
}
