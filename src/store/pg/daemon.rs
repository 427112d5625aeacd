//! What `run` and `poll --once` need from PostgreSQL besides committing a poll: the
//! configured feeds registered, one feed's state for its poll, the seen-key and page-attempt
//! lookups of the pipeline, and the alerts written to an alert log marked delivered (which
//! alerts an instance owes to its log: `orphans`).
//!
//! Each is one statement on a pooled connection: the pipeline calls them from many polls at
//! once, and a pooled connection per call keeps one slow statement from holding up the rest.

use std::collections::HashMap;

use super::cached;
use super::read::{feed_row, FEEDS_SELECT};
use super::{PgError, PgStore};
use crate::store::FeedRow;

impl PgStore {
    /// Makes sure every configured feed has a row (new feeds are due at `now`) and updates
    /// names; feeds no longer listed are marked removed (as `Store::sync_feeds`). Several
    /// instances starting together with the same config write the same rows: `ON CONFLICT`
    /// makes that harmless, and a feed's schedule and lease are never touched. Returns the
    /// URLs this call marked removed, in order: on a shared database that stops every
    /// instance polling them, which the caller must say.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn sync_feeds(
        &self,
        feeds: &[(&str, Option<&str>)],
        now: i64,
    ) -> Result<Vec<String>, PgError> {
        let urls: Vec<&str> = feeds.iter().map(|(u, _)| *u).collect();
        let names: Vec<Option<&str>> = feeds.iter().map(|(_, n)| *n).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        cached::execute(
            &tx,
            "INSERT INTO feeds (url, name, created_at, next_poll_at)
             SELECT u, n, $3, $3 FROM unnest($1::text[], $2::text[]) AS f(u, n)
             ORDER BY u
             ON CONFLICT (url) DO UPDATE SET name = excluded.name, removed_at = NULL",
            &[&urls, &names, &now],
        )
        .await?;
        let removed = cached::query(
            &tx,
            "UPDATE feeds SET removed_at = $2 WHERE removed_at IS NULL AND url != ALL($1)
             RETURNING url",
            &[&urls, &now],
        )
        .await?;
        tx.commit().await?;
        let mut removed = removed
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        removed.sort_unstable();
        Ok(removed)
    }

    /// One feed's row by id, for its poll (the state the claim just leased).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn feed_by_id(&self, id: i64) -> Result<Option<FeedRow>, PgError> {
        let sql = format!("{FEEDS_SELECT} WHERE id = $1");
        let row = cached::query_opt(&self.client().await?, &sql, &[&id]).await?;
        row.as_ref().map(feed_row).transpose()
    }

    /// The stored keys among `keys`, each with its last presence (Unix seconds): what
    /// `SeenKeys::lookup_stored` decides new and stale items from.
    ///
    /// # Errors
    /// A connection or statement error: the caller must not take the keys for new.
    pub async fn seen_presence(&self, keys: &[i64]) -> Result<HashMap<i64, i64>, PgError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = cached::query(
            &self.client().await?,
            "SELECT key, last_present FROM seen_items WHERE key = ANY($1)",
            &[&keys],
        )
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Attempts made at an item's article page so far (as `Store::page_attempts`).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn page_attempts(&self, key: i64) -> Result<u32, PgError> {
        let row = cached::query_opt(
            &self.client().await?,
            "SELECT attempts FROM page_failures WHERE key = $1",
            &[&key],
        )
        .await?;
        Ok(match row {
            Some(r) => u32::try_from(r.try_get::<_, i32>(0)?).unwrap_or(0),
            None => 0,
        })
    }

    /// Marks alerts written to an alert log as delivered at `at`.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn mark_delivered(&self, ids: &[i64], at: i64) -> Result<(), PgError> {
        cached::execute(
            &self.client().await?,
            "UPDATE alerts SET delivered_at = $2 WHERE id = ANY($1) AND delivered_at IS NULL",
            &[&ids, &at],
        )
        .await?;
        Ok(())
    }
}
