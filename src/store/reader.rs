//! The backend-neutral boundary the read commands use (`alerts`, `alerts --follow`,
//! `status`, `search`, `backtest`, `digest`): one [`Reader`] over the SQLite store or the PostgreSQL store, with
//! the same model types from both, so a command is written once and runs on either.
//!
//! Why an enum and not a trait: there are two backends, known here, and their calls differ
//! in kind (SQLite's are blocking and run in `spawn_blocking`, PostgreSQL's are async); an
//! enum keeps each method one `match` with no boxed futures, and the daemon's slice can add
//! its writer calls the same way. What only one backend has (SQLite's integrity check and
//! lock file, PostgreSQL's instances) stays with that store; the reader offers the instances
//! as an `Option` so `status` can show them where they exist.

use std::sync::{Arc, Mutex};

use super::pg::{self, FollowCursor, PgError, PgStore};
use super::{
    fts, AlertRecord, ArticleRow, FeedRow, Lookup, SearchHit, SeenKeys, SinkStatus, Store,
    StoreError,
};
use crate::config::Backend;
use crate::rules::query::QueryError;

/// Errors from the read boundary: either store's, a search query refused, or the blocking
/// task lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The SQLite store failed.
    #[error(transparent)]
    Sqlite(#[from] StoreError),
    /// The PostgreSQL store failed (or could not be reached).
    #[error(transparent)]
    Postgres(#[from] PgError),
    /// The search query is not one the store can run (callers check it first with
    /// `fts::translate` to show the caret; both stores refuse the same queries).
    #[error("search query: {0}")]
    Query(#[from] QueryError),
    /// The blocking task running a SQLite call panicked or was cancelled, or a previous
    /// panic left the store's lock poisoned.
    #[error("the database task failed: {0}")]
    Task(String),
}

/// A store to read from: SQLite (blocking calls, run on the blocking pool one at a time) or
/// PostgreSQL (a pool). Cheap to clone.
#[derive(Debug, Clone)]
pub enum Reader {
    /// The SQLite database file.
    Sqlite(Arc<Mutex<Store>>),
    /// A PostgreSQL database, migrated.
    Postgres(PgStore),
}

/// Where `alerts --follow` stands, per backend (see [`Reader::follow`]).
#[derive(Debug, Clone)]
pub enum Follow {
    /// SQLite: the one writer commits alerts in id order, so the highest id printed is
    /// enough; only alerts written to the alert log are followed, as the log shows them.
    Sqlite {
        /// Highest id printed.
        last: i64,
        /// Only this rule's alerts.
        rule: Option<String>,
    },
    /// PostgreSQL: commits finish out of id order (see `store::pg::follow`).
    Postgres(FollowCursor),
}

/// One instance sharing a PostgreSQL database, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its membership row (id, host, pid, version, start, heartbeat, lease count).
    pub instance: pg::Instance,
    /// Names (or URLs) of the feeds it holds a live lease on, by feed id.
    pub feeds: Vec<String>,
}

impl Reader {
    /// Opens the backend the config selects: the SQLite file (created and migrated if
    /// missing, as every command does), or a pool to PostgreSQL with its schema migrated
    /// (the first statement connects, bounded by `connect_timeout`).
    ///
    /// # Errors
    /// The database cannot be opened, reached or migrated.
    pub async fn open(backend: Backend<'_>) -> Result<Reader, ReadError> {
        match backend {
            Backend::Sqlite(path) => {
                let path = path.to_path_buf();
                let store = blocking(move || Store::open(&path)).await??;
                Ok(Reader::from_store(store))
            }
            Backend::Postgres(settings) => {
                let store = pg::connect(settings)?;
                pg::migrate(&store).await?;
                Ok(Reader::Postgres(store))
            }
        }
    }

    /// A reader over a SQLite store already open.
    pub fn from_store(store: Store) -> Reader {
        Reader::Sqlite(Arc::new(Mutex::new(store)))
    }

    /// Runs `f` on the SQLite store in the blocking pool.
    async fn on_sqlite<T: Send + 'static>(
        store: &Arc<Mutex<Store>>,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let store = Arc::clone(store);
        blocking(move || {
            let guard = store
                .lock()
                .map_err(|_| ReadError::Task("the SQLite store's lock is poisoned".into()))?;
            Ok(f(&guard)?)
        })
        .await?
    }

    /// Every feed row, in id order.
    ///
    /// # Errors
    /// A database error.
    pub async fn feeds(&self) -> Result<Vec<FeedRow>, ReadError> {
        match self {
            Reader::Sqlite(s) => Self::on_sqlite(s, Store::feeds).await,
            Reader::Postgres(p) => Ok(p.feeds().await?),
        }
    }

    /// What `backtest` runs rules over: the articles kept at or after `since`, and the
    /// texts of items that matched nothing seen since then.
    ///
    /// # Errors
    /// A database error.
    pub async fn backtest_texts(
        &self,
        since: i64,
    ) -> Result<(Vec<ArticleRow>, Vec<ArticleRow>), ReadError> {
        match self {
            Reader::Sqlite(s) => {
                Self::on_sqlite(s, move |st| {
                    Ok((st.articles_since(since)?, st.recent_items_since(since)?))
                })
                .await
            }
            Reader::Postgres(p) => Ok(p.backtest_texts(since).await?),
        }
    }

    /// Delivery state of every registered sink, by name.
    ///
    /// # Errors
    /// A database error.
    pub async fn sink_status(&self) -> Result<Vec<SinkStatus>, ReadError> {
        match self {
            Reader::Sqlite(s) => Self::on_sqlite(s, Store::sink_status).await,
            Reader::Postgres(p) => Ok(p.sink_status().await?),
        }
    }

    /// Alerts created at or after `since` (Unix seconds), optionally one rule's, in id
    /// order, and where to follow on from.
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts(
        &self,
        since: i64,
        rule: Option<&str>,
    ) -> Result<(Vec<AlertRecord>, Follow), ReadError> {
        let rule = rule.map(str::to_string);
        match self {
            Reader::Sqlite(s) => {
                let r = rule.clone();
                let alerts = Self::on_sqlite(s, move |st| st.alerts(since, r.as_deref())).await?;
                let last = alerts.iter().map(|a| a.id).max().unwrap_or(0);
                Ok((alerts, Follow::Sqlite { last, rule }))
            }
            Reader::Postgres(p) => {
                let (alerts, cursor) = p.alerts_to_follow(since, rule.as_deref()).await?;
                Ok((alerts, Follow::Postgres(cursor)))
            }
        }
    }

    /// Alerts created in `[from, until)` (Unix seconds), in id order: a digest's window.
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_between(
        &self,
        from: i64,
        until: i64,
    ) -> Result<Vec<AlertRecord>, ReadError> {
        match self {
            Reader::Sqlite(s) => Self::on_sqlite(s, move |st| st.alerts_between(from, until)).await,
            Reader::Postgres(p) => Ok(p.alerts_between(from, until).await?),
        }
    }

    /// Alerts that appeared since `follow`'s last read, each once, in id order; moves it.
    ///
    /// # Errors
    /// A database error (`follow` is then unchanged).
    pub async fn follow(&self, follow: &mut Follow) -> Result<Vec<AlertRecord>, ReadError> {
        match (self, follow) {
            (Reader::Sqlite(s), Follow::Sqlite { last, rule }) => {
                let after = *last;
                let mut new =
                    Self::on_sqlite(s, move |st| st.delivered_alerts_after(after)).await?;
                *last = new.iter().map(|a| a.id).fold(*last, i64::max);
                new.retain(|a| rule.as_deref().is_none_or(|r| r == a.rule));
                Ok(new)
            }
            (Reader::Postgres(p), Follow::Postgres(cursor)) => Ok(p.follow_alerts(cursor).await?),
            _ => Err(ReadError::Task(
                "a follow cursor was used with the other backend".into(),
            )),
        }
    }

    /// The `limit` most relevant kept articles at or after `since` matching `query` (the
    /// search language), newest first.
    ///
    /// # Errors
    /// [`ReadError::Query`] for a query neither store runs; a database error.
    pub async fn search(
        &self,
        query: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<SearchHit>, ReadError> {
        match self {
            Reader::Sqlite(s) => {
                let fts = fts::translate(query)?;
                Self::on_sqlite(s, move |st| st.search(&fts, since, limit)).await
            }
            Reader::Postgres(p) => {
                let q = pg::tsquery::translate(query)?;
                Ok(p.search(&q, since, limit).await?)
            }
        }
    }

    /// The SQLite store, for what only the SQLite daemon does (its due queue reads every
    /// feed row synchronously); `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&Arc<Mutex<Store>>> {
        match self {
            Reader::Sqlite(s) => Some(s),
            Reader::Postgres(_) => None,
        }
    }

    /// Which of `keys` (present in a document read at `now`) are new, and which known ones
    /// are due a presence write (see `store::seen`), with `seen`'s held keys counted as
    /// known. On SQLite the query runs on the calling task, as the pipeline always did: it is
    /// one indexed read, cheaper than a hop to the blocking pool.
    ///
    /// # Errors
    /// A database error: the caller must not take the keys for new.
    pub async fn seen_lookup(
        &self,
        seen: &SeenKeys,
        keys: &[i64],
        now: i64,
    ) -> Result<Lookup, ReadError> {
        match self {
            Reader::Sqlite(s) => {
                let store = s.lock().unwrap_or_else(|e| e.into_inner());
                Ok(seen.lookup(&store, keys, now)?)
            }
            Reader::Postgres(p) => {
                let stored = p.seen_presence(keys).await?;
                Ok(seen.lookup_stored(&stored, keys, now))
            }
        }
    }

    /// Attempts made at an item's article page so far.
    ///
    /// # Errors
    /// A database error.
    pub async fn page_attempts(&self, key: i64) -> Result<u32, ReadError> {
        match self {
            Reader::Sqlite(s) => Self::on_sqlite(s, move |st| st.page_attempts(key)).await,
            Reader::Postgres(p) => Ok(p.page_attempts(key).await?),
        }
    }

    /// The instances sharing the database, with the feeds each holds at `now`: `None` on
    /// SQLite, where one process owns the file (its lock file says which).
    ///
    /// # Errors
    /// A database error.
    pub async fn members(&self, now: i64) -> Result<Option<Vec<Member>>, ReadError> {
        let Reader::Postgres(p) = self else {
            return Ok(None);
        };
        let held = p.held_feeds(now).await?;
        let members = p
            .instances(now)
            .await?
            .into_iter()
            .map(|instance| Member {
                feeds: held
                    .iter()
                    .filter(|(owner, _)| *owner == instance.id)
                    .map(|(_, feed)| feed.clone())
                    .collect(),
                instance,
            })
            .collect();
        Ok(Some(members))
    }
}

/// `spawn_blocking`, its join error as a [`ReadError`].
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReadError::Task(e.to_string()))
}
