//! Writing one poll: every change a [`PollRecord`] carries, inside the caller's transaction.

use rusqlite::{params, CachedStatement, Transaction};

use super::*;

/// Writes one poll inside an open transaction: the feed's state first, then the items it
/// saw, then the articles it kept (with their stories and alerts), then the feed's counts.
pub(super) fn write_poll(
    tx: &Transaction<'_>,
    rec: &PollRecord,
    id_floor: i64,
) -> Result<(), StoreError> {
    write_feed_state(tx, rec)?;
    write_recent(tx, rec)?;
    write_extract_failures(tx, rec)?;
    write_validators(tx, rec)?;
    let newly_seen = write_seen(tx, rec)?;
    write_deferred(tx, rec)?;
    let kept = write_articles(tx, rec, id_floor)?;
    write_sources(tx, rec)?;
    if newly_seen > 0 || kept > 0 {
        tx.prepare_cached(
            "UPDATE feeds SET items_seen = items_seen + ?2, articles_kept = articles_kept + ?3
             WHERE id = ?1",
        )?
        .execute(params![rec.feed_id, newly_seen, kept])?;
    }
    Ok(())
}

/// The poll's outcome on the feed's row: when, how it went, when next, and what the poll
/// learnt about the feed (its size, interval, a gap, a permanent move).
fn write_feed_state(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    let failed = rec.error.is_some();
    tx.prepare_cached(
        "UPDATE feeds SET last_poll_at = ?2, last_status = ?3, last_error = ?4,
                consecutive_failures = CASE WHEN ?5 THEN consecutive_failures + 1 ELSE 0 END,
                next_poll_at = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        rec.feed_id,
        rec.polled_at,
        rec.status,
        rec.error,
        failed,
        rec.next_poll_at
    ])?;
    tx.prepare_cached(
        "UPDATE feeds SET last_item_count = coalesce(?2, last_item_count), interval_secs = ?3,
                gaps = gaps + ?4, moved_to = coalesce(?5, moved_to)
         WHERE id = ?1",
    )?
    .execute(params![
        rec.feed_id,
        rec.item_count,
        rec.interval_secs,
        i64::from(rec.gap),
        rec.moved_to
    ])?;
    Ok(())
}

/// Texts of items that matched nothing, kept for backtests; and the pruning of those past
/// the retention.
fn write_recent(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    let mut recent = tx.prepare_cached(
        "INSERT INTO recent_items (key, feed_id, url, title, summary, body, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in &rec.recent {
        recent.execute(params![
            r.key,
            rec.feed_id,
            r.url,
            r.title,
            r.summary,
            r.body,
            rec.polled_at
        ])?;
    }
    if let Some(before) = rec.prune_recent_before {
        tx.prepare_cached("DELETE FROM recent_items WHERE seen_at < ?1")?
            .execute([before])?;
    }
    Ok(())
}

/// Article pages whose extraction failed this poll: counted, and the last one kept, so
/// `status` can say which feed's extraction needs a `[[sites]]` rule.
fn write_extract_failures(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    if let Some(last) = rec.extract_failures.last() {
        tx.prepare_cached(
            "UPDATE feeds SET extract_failures = extract_failures + ?2, last_extract_error = ?3
             WHERE id = ?1",
        )?
        .execute(params![
            rec.feed_id,
            rec.extract_failures.len() as i64,
            last
        ])?;
    }
    Ok(())
}

/// The validators for the next conditional fetch: kept, replaced, or cleared so that the
/// next poll downloads the feed again.
fn write_validators(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    match &rec.validators {
        Validators::Keep => {}
        Validators::Set {
            etag,
            last_modified,
        } => {
            tx.prepare_cached("UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE id = ?1")?
                .execute(params![rec.feed_id, etag, last_modified])?;
        }
        Validators::Clear => {
            tx.prepare_cached("UPDATE feeds SET etag = NULL, last_modified = NULL WHERE id = ?1")?
                .execute([rec.feed_id])?;
        }
    }
    Ok(())
}

/// Marks the poll's item keys seen (each once: a key this batch wrote already is known), so
/// no later poll handles them again; a key seen clears its page failures. Returns how many
/// items were newly seen.
fn write_seen(tx: &Transaction<'_>, rec: &PollRecord) -> Result<i64, StoreError> {
    let mut newly_seen = 0i64;
    let mut clear_fail = tx.prepare_cached("DELETE FROM page_failures WHERE key = ?1")?;
    // Usually empty (only full-text feeds fail pages): then there is nothing to clear.
    let failures: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM page_failures)")?
        .query_row([], |r| r.get(0))?;
    for keys in &rec.seen {
        for (i, &k) in keys.iter().enumerate() {
            if !seen::insert(tx, rec, keys, k)? {
                continue;
            }
            // An item counts once, by its identity key.
            if i == 0 {
                newly_seen += 1;
            }
            if failures {
                clear_fail.execute([k])?;
            }
        }
    }
    seen::refresh(tx, rec)?;
    Ok(newly_seen)
}

/// Items whose article page failed transiently: one more attempt counted, so the pipeline
/// gives up on the page after a few.
fn write_deferred(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    let mut fail = tx.prepare_cached(
        "INSERT INTO page_failures (key, attempts, last_error, failed_at) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET attempts = attempts + 1, last_error = excluded.last_error,
                failed_at = excluded.failed_at",
    )?;
    for (k, err) in &rec.deferred {
        fail.execute(params![k, err, rec.polled_at])?;
    }
    Ok(())
}

/// Stores the articles that matched, each with its story and alerts. Returns how many were
/// new (an article already stored is not stored again).
fn write_articles(
    tx: &Transaction<'_>,
    rec: &PollRecord,
    id_floor: i64,
) -> Result<i64, StoreError> {
    let mut sql = ArticleSql::prepare(tx)?;
    let mut kept = 0i64;
    for a in &rec.articles {
        kept += sql.write(rec, a, id_floor)?;
    }
    Ok(kept)
}

/// The feeds this poll's already-seen links join as sources of articles other feeds stored.
fn write_sources(tx: &Transaction<'_>, rec: &PollRecord) -> Result<(), StoreError> {
    let mut source = tx.prepare_cached(
        "INSERT OR IGNORE INTO article_sources (article_id, feed_id, url, first_seen)
         SELECT id, ?2, url, ?3 FROM articles WHERE link_canonical = ?1 AND feed_id != ?2",
    )?;
    for link in &rec.also_seen {
        source.execute(params![link, rec.feed_id, rec.polled_at])?;
    }
    Ok(())
}

/// The statements that store one article, prepared once per poll rather than per article.
struct ArticleSql<'t> {
    insert: CachedStatement<'t>,
    id: CachedStatement<'t>,
    index: CachedStatement<'t>,
    candidates: CachedStatement<'t>,
    add_band: CachedStatement<'t>,
    set_story: CachedStatement<'t>,
    story_alerted: CachedStatement<'t>,
    alert: CachedStatement<'t>,
}

impl<'t> ArticleSql<'t> {
    fn prepare(tx: &'t Transaction<'_>) -> Result<Self, StoreError> {
        Ok(ArticleSql {
            insert: tx.prepare_cached(
                "INSERT OR IGNORE INTO articles (item_key, feed_id, url, canonical_url, title,
                    summary, body, body_source, author, lang, published_at, fetched_at,
                    link_canonical, minhash, words)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?,
            id: tx.prepare_cached("SELECT id, story_id FROM articles WHERE item_key = ?1")?,
            index: tx.prepare_cached(
                "INSERT INTO articles_fts (rowid, title, summary, body) VALUES (?1, ?2, ?3, ?4)",
            )?,
            candidates: tx.prepare_cached(
                "SELECT DISTINCT ar.id, ar.story_id, ar.minhash, ar.words
                 FROM article_bands b JOIN articles ar ON ar.id = b.article_id
                 WHERE b.band IN (SELECT value FROM json_each(?1))
                   AND ar.fetched_at >= ?2 AND ar.minhash IS NOT NULL AND ar.item_key != ?3
                 ORDER BY ar.id",
            )?,
            add_band: tx.prepare_cached(
                "INSERT OR IGNORE INTO article_bands (band, article_id) VALUES (?1, ?2)",
            )?,
            set_story: tx.prepare_cached("UPDATE articles SET story_id = ?2 WHERE id = ?1")?,
            story_alerted: tx.prepare_cached(
                "SELECT 1 FROM alerts a JOIN articles ar ON ar.id = a.article_id
                 WHERE ar.story_id = ?1 AND a.rule = ?2",
            )?,
            alert: tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts (id, article_id, rule, severity, created_at, terms,
                    snippet)
                 VALUES ((SELECT max(coalesce(max(id), 0), ?7) + 1 FROM alerts),
                         ?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
        })
    }

    /// Stores one article (indexed for search when new), gives it a story if it has none,
    /// and writes its alerts. Returns 1 when the article is new, else 0.
    fn write(
        &mut self,
        rec: &PollRecord,
        a: &NewArticle,
        id_floor: i64,
    ) -> Result<i64, StoreError> {
        let inserted = self.insert.execute(params![
            a.item_key,
            rec.feed_id,
            a.url,
            a.canonical_url,
            a.title,
            a.summary,
            a.body,
            a.body_source,
            a.author,
            a.lang,
            a.published_at,
            rec.polled_at,
            a.link_canonical,
            a.fingerprint.to_bytes(),
            a.fingerprint.words as i64
        ])?;
        let (id, story_id): (i64, Option<i64>) = self
            .id
            .query_row([a.item_key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if inserted > 0 {
            self.index
                .execute(params![id, a.title, a.summary, a.body])?;
        }
        let sid = match story_id {
            Some(sid) => sid,
            None => self.assign_story(rec, a, id)?,
        };
        self.write_alerts(rec, a, id, sid, id_floor)?;
        Ok(inserted as i64)
    }

    /// A new article's story: that of the first recent near-duplicate, else its own. Its
    /// fingerprint's bands are stored so later articles find it. Returns the story id.
    fn assign_story(
        &mut self,
        rec: &PollRecord,
        a: &NewArticle,
        id: i64,
    ) -> Result<i64, StoreError> {
        let window = rec.polled_at - story::WINDOW_SECS;
        let bands = a.fingerprint.bands();
        let band_list = serde_json::to_string(&bands).unwrap_or_else(|_| "[]".into());
        let mut rows = self
            .candidates
            .query(params![band_list, window, a.item_key])?;
        let mut found = None;
        while let Some(r) = rows.next()? {
            let (oid, ostory, bytes, words): (i64, Option<i64>, Vec<u8>, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let other = Fingerprint::from_bytes(&bytes, usize::try_from(words).unwrap_or(0));
            if other.is_some_and(|o| story::same_story(&a.fingerprint, &o)) {
                found = Some(ostory.unwrap_or(oid));
                break;
            }
        }
        drop(rows);
        for b in bands {
            self.add_band.execute(params![b, id])?;
        }
        let sid = found.unwrap_or(id);
        self.set_story.execute(params![id, sid])?;
        Ok(sid)
    }

    /// The article's alerts, one per rule and story: a syndicated copy of a story that
    /// already alerted on a rule adds a source, not an alert.
    fn write_alerts(
        &mut self,
        rec: &PollRecord,
        a: &NewArticle,
        id: i64,
        sid: i64,
        id_floor: i64,
    ) -> Result<(), StoreError> {
        for al in &a.alerts {
            if sid != id && self.story_alerted.exists(params![sid, al.rule])? {
                continue;
            }
            let hits = al.terms_json();
            self.alert.execute(params![
                id,
                al.rule,
                al.severity.to_string(),
                rec.polled_at,
                hits,
                al.snippet,
                id_floor
            ])?;
        }
        Ok(())
    }
}
