//! Committing one poll on PostgreSQL: every change a [`PollRecord`] carries, in one
//! transaction, with the meaning of the SQLite store's `store::poll`, fenced on the feed's
//! lease.
//!
//! What differs from SQLite, and why:
//! - **Fenced.** Several instances share the database, and a holder that stalled past its
//!   lease may find its feed taken over. The first statement updates the feed's row only
//!   where this instance still owns the lease under the claim's token; no row means the
//!   lease is lost ([`PgError::LeaseLost`]) and the transaction is rolled back before it
//!   wrote anything. That update holds the feed row's lock to the commit, so a takeover
//!   cannot slip in between the check and the commit (a claimer skips a locked row). A
//!   lease past its expiry that nobody claimed since still commits: no other instance
//!   polled the feed, and none can claim it until this commit ends.
//! - **Identity by the database.** SQLite has one writer; here two instances may commit the
//!   same item (met through two feeds) or two copies of one story at once. Item keys,
//!   articles and alerts are claimed with `INSERT … ON CONFLICT DO NOTHING` against unique
//!   constraints (see `seen` and `articles`), and story assignment is serialised by
//!   advisory locks on the articles' bands, so the answer does not depend on timing.
//! - **Lock order.** Rows two commits may both write are taken in one order (the feed row,
//!   then band locks, then seen keys sorted, then articles and alerts), so two commits wait
//!   for each other rather than deadlock. A deadlock the server still detects, like any
//!   other failed statement, rolls the whole poll back; the caller may commit it again.
//! - **Alert ids** come from the identity sequence, not SQLite's "highest plus one"; they
//!   are unique and never reused, but two instances' commits may finish out of id order.
//!   So the alerts' sink deliveries are queued by the commit that created them, in its
//!   transaction, rather than later by a cursor over ids (see `outbox`).

use super::cached;
use super::{articles, outbox, seen, PgError, PgStore};
use crate::config::sink::SinkSpec;
use crate::store::pg::coord::Claim;
use crate::store::{PollRecord, Validators};

/// What one committed poll changed, as the instance that committed it needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The record's keys this commit stored first, in record order: no other commit, of any
    /// instance, stored them before. A key of the record missing here was known already.
    pub new_keys: Vec<i64>,
    /// Items newly seen (counted by their identity key), added to the feed's `items_seen`.
    pub items_new: i64,
    /// Articles stored by this commit (an article already stored is not stored again).
    pub articles_new: i64,
    /// Alerts this commit created, by id, in creation order: this instance writes them to
    /// its alert log (an alert another commit created first is not in the list).
    pub alerts: Vec<i64>,
}

impl PgStore {
    /// Commits one poll of `claim`'s feed by `instance`, in one transaction: the feed's
    /// state, the items seen, the articles kept with their stories and alerts, the feed's
    /// counts. All of it or none of it is written.
    ///
    /// # Errors
    /// [`PgError::LeaseLost`] when `instance` no longer holds the lease `claim` gave it (it
    /// expired and another instance claimed the feed since), or `rec` is not `claim`'s
    /// feed: nothing is written. A connection or statement error (a lost server, a
    /// statement timeout, a deadlock): nothing is written, the caller may try again; except
    /// when the connection is lost during the `COMMIT` itself, which leaves the outcome
    /// unknown. A retry is then safe for identity (the keys are known, the article and
    /// alerts exist, nothing is created twice) but reports no new keys or alerts, and adds
    /// the feed's per-poll counts (gaps, failures) again: alert delivery must therefore
    /// follow the database's undelivered alerts, not [`Committed::alerts`] alone.
    pub async fn commit_poll(
        &self,
        instance: &str,
        claim: &Claim,
        rec: &PollRecord,
    ) -> Result<Committed, PgError> {
        self.commit_poll_with_sinks(instance, claim, rec, &[]).await
    }

    /// [`PgStore::commit_poll`], queuing the alerts it creates for each of `sinks` whose
    /// filter accepts them, in the same transaction (see `outbox`): what the daemon calls
    /// with its configured sinks, which must be registered first
    /// ([`PgStore::register_sinks`]).
    ///
    /// # Errors
    /// As [`PgStore::commit_poll`].
    pub async fn commit_poll_with_sinks(
        &self,
        instance: &str,
        claim: &Claim,
        rec: &PollRecord,
        sinks: &[SinkSpec],
    ) -> Result<Committed, PgError> {
        let lost = || PgError::LeaseLost {
            feed_id: rec.feed_id,
            instance: instance.to_string(),
            token: claim.token,
        };
        if claim.feed_id != rec.feed_id {
            return Err(lost());
        }
        let mut client = self.client().await?;
        let result = commit_on(&mut client, instance, claim.token, rec, sinks).await;
        match result {
            Ok(Some(committed)) => Ok(committed),
            // The transaction was dropped, which rolls it back: it wrote nothing.
            Ok(None) => Err(lost()),
            Err(e) => {
                if e.connection_lost() {
                    // Not back into the pool: the next poll gets a fresh connection rather
                    // than this dead one (the pool may not have noticed it died yet).
                    drop(deadpool_postgres::Object::take(client));
                }
                Err(e)
            }
        }
    }
}

/// The transaction of [`PgStore::commit_poll`] on `client`; `None` when the lease is lost.
async fn commit_on(
    client: &mut deadpool_postgres::Object,
    instance: &str,
    token: i64,
    rec: &PollRecord,
    sinks: &[SinkSpec],
) -> Result<Option<Committed>, PgError> {
    let tx = client.transaction().await?;
    if !write_feed_state(&tx, instance, token, rec).await? {
        return Ok(None);
    }
    let committed = write_poll(&tx, instance, rec).await?;
    // The alerts' sink deliveries commit with the alerts (see `outbox`).
    outbox::queue(&tx, &committed.alerts, sinks, rec.polled_at).await?;
    tx.commit().await?;
    Ok(Some(committed))
}

/// Everything after the fence: locks for story assignment, the items, the articles, the
/// feed's counts.
async fn write_poll(
    tx: &deadpool_postgres::Transaction<'_>,
    instance: &str,
    rec: &PollRecord,
) -> Result<Committed, PgError> {
    articles::lock_stories(tx, rec).await?;
    write_recent(tx, rec).await?;
    let seen = seen::write(tx, rec).await?;
    write_deferred(tx, rec).await?;
    let kept = articles::write(tx, instance, rec).await?;
    write_sources(tx, rec).await?;
    if seen.items_new > 0 || kept.articles_new > 0 {
        cached::execute(
            tx,
            "UPDATE feeds SET items_seen = items_seen + $2, articles_kept = articles_kept + $3
             WHERE id = $1",
            &[&rec.feed_id, &seen.items_new, &kept.articles_new],
        )
        .await?;
    }
    Ok(Committed {
        new_keys: seen.new_keys,
        items_new: seen.items_new,
        articles_new: kept.articles_new,
        alerts: kept.alerts,
    })
}

/// The poll's outcome on the feed's row (as SQLite's `write_feed_state`, `write_validators`
/// and `write_extract_failures`, in one statement), only where `instance` holds the lease
/// under `token`. Whether it did: `false` is a lost lease, and nothing was written.
async fn write_feed_state(
    tx: &deadpool_postgres::Transaction<'_>,
    instance: &str,
    token: i64,
    rec: &PollRecord,
) -> Result<bool, PgError> {
    let (set_validators, etag, last_modified) = match &rec.validators {
        Validators::Keep => (false, None, None),
        Validators::Set {
            etag,
            last_modified,
        } => (true, etag.as_deref(), last_modified.as_deref()),
        Validators::Clear => (true, None, None),
    };
    let status = rec.status.map(i32::from);
    let item_count = rec.item_count.map(clamp_i32);
    let extract_failures = clamp_i32(i64::try_from(rec.extract_failures.len()).unwrap_or(0));
    let st = tx
        .prepare_cached(
            "UPDATE feeds SET last_poll_at = $4, polled_at = clock_timestamp(),
                 last_status = $5, last_error = $6,
                 consecutive_failures = CASE WHEN $7 THEN consecutive_failures + 1 ELSE 0 END,
                 next_poll_at = $8, last_item_count = coalesce($9, last_item_count),
                 interval_secs = $10, gaps = gaps + $11, moved_to = coalesce($12, moved_to),
                 extract_failures = extract_failures + $13,
                 last_extract_error = coalesce($14, last_extract_error),
                 etag = CASE WHEN $15 THEN $16 ELSE etag END,
                 last_modified = CASE WHEN $15 THEN $17 ELSE last_modified END
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3",
        )
        .await?;
    let n = tx
        .execute(
            &st,
            &[
                &rec.feed_id,
                &instance,
                &token,
                &rec.polled_at,
                &status,
                &rec.error,
                &rec.error.is_some(),
                &rec.next_poll_at,
                &item_count,
                &clamp_i32(rec.interval_secs),
                &i32::from(rec.gap),
                &rec.moved_to,
                &extract_failures,
                &rec.extract_failures.last(),
                &set_validators,
                &etag,
                &last_modified,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// An `INTEGER` column's value from the record's `i64`, saturated (a count past 2^31 is
/// not a real feed's).
fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// Texts of items that matched nothing, kept for backtests (one statement for all), and the
/// pruning of those past the retention.
async fn write_recent(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &PollRecord,
) -> Result<(), PgError> {
    if !rec.recent.is_empty() {
        let keys: Vec<i64> = rec.recent.iter().map(|r| r.key).collect();
        let urls: Vec<Option<&str>> = rec.recent.iter().map(|r| r.url.as_deref()).collect();
        let titles: Vec<&str> = rec.recent.iter().map(|r| r.title.as_str()).collect();
        let summaries: Vec<&str> = rec.recent.iter().map(|r| r.summary.as_str()).collect();
        let bodies: Vec<&str> = rec.recent.iter().map(|r| r.body.as_str()).collect();
        cached::execute(
            tx,
            "INSERT INTO recent_items (key, feed_id, url, title, summary, body, seen_at)
             SELECT k, $2, u, t, s, b, $3
             FROM unnest($1::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                  AS r(k, u, t, s, b)",
            &[
                &keys,
                &rec.feed_id,
                &rec.polled_at,
                &urls,
                &titles,
                &summaries,
                &bodies,
            ],
        )
        .await?;
    }
    if let Some(before) = rec.prune_recent_before {
        cached::execute(
            tx,
            "DELETE FROM recent_items WHERE seen_at < $1",
            &[&before],
        )
        .await?;
    }
    Ok(())
}

/// Items whose article page failed transiently: one more attempt counted. In key order, so
/// two commits counting the same keys wait for each other instead of deadlocking.
async fn write_deferred(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &PollRecord,
) -> Result<(), PgError> {
    if rec.deferred.is_empty() {
        return Ok(());
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO page_failures (key, attempts, last_error, failed_at) VALUES ($1, 1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET attempts = page_failures.attempts + 1,
                 last_error = excluded.last_error, failed_at = excluded.failed_at",
        )
        .await?;
    let mut deferred: Vec<&(i64, String)> = rec.deferred.iter().collect();
    deferred.sort_by_key(|(k, _)| *k);
    for (k, err) in deferred {
        tx.execute(&st, &[k, err, &rec.polled_at]).await?;
    }
    Ok(())
}

/// The feeds this poll's already-seen links join as sources of articles other feeds stored.
async fn write_sources(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &PollRecord,
) -> Result<(), PgError> {
    if rec.also_seen.is_empty() {
        return Ok(());
    }
    cached::execute(
        tx,
        "INSERT INTO article_sources (article_id, feed_id, url, first_seen)
         SELECT id, $2, url, $3 FROM articles
         WHERE link_canonical = ANY($1) AND feed_id != $2
         ON CONFLICT DO NOTHING",
        &[&rec.also_seen, &rec.feed_id, &rec.polled_at],
    )
    .await?;
    Ok(())
}
