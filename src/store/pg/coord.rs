//! Coordination of several `feedwatch run` instances on one PostgreSQL database: who is
//! alive (membership, heartbeats) and who polls which feed (leases on feed rows).
//!
//! **Why leases on rows, not advisory locks.** A session advisory lock lives as long as the
//! connection that took it: it would pin one pooled connection per feed being polled, it is
//! released by a connection drop that the holder may not notice (a pooler or a network
//! blip), and it is invisible to `status`. A lease is data: `lease_owner` and
//! `lease_expires` on the feed row, visible to every instance and to an operator, surviving
//! a reconnect, and ending on its own when its holder dies (kill -9, a lost machine, a
//! partition): once `lease_expires` passes, any instance may take the feed over.
//!
//! **Why `FOR UPDATE SKIP LOCKED`.** Instances claim due feeds at the same moment. With a
//! plain `FOR UPDATE` the second claimer would wait for the first's row locks and then find
//! those feeds taken; with no lock both could read the same due rows and both lease them.
//! `SKIP LOCKED` makes each claimer lock and lease only rows nobody else is leasing right now,
//! and PostgreSQL re-checks the `WHERE` clause on the newest row version before locking, so
//! a feed leased and committed a moment ago is not due any more. Each due feed goes to
//! exactly one instance, without waiting (Airflow's HA scheduler uses the same pattern).
//!
//! **Time.** Times are Unix seconds from the caller's clock, like every other time in the
//! store (the pipeline's clock is faked in tests). Instances' clocks must agree to well
//! within a lease (NTP does); a lease is minutes, skew is milliseconds.
//!
//! **Fencing.** A holder that stalls past its lease (a long GC-free pause is unlikely in Rust,
//! but a frozen VM is not) may find the feed taken over: [`PgStore::renew_leases`] says which
//! leases it still holds, and the poll's commit ([`PgStore::commit_poll`]) checks, inside its
//! transaction and under the feed row's lock, that the claim's token ([`Claim::token`]) is
//! still the feed's and this instance still its owner.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::cached;
use super::{PgError, PgStore};

/// One instance's membership row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its id: `hostname:pid` by default ([`default_instance_id`]), or configured.
    pub id: String,
    /// Host it runs on.
    pub hostname: String,
    /// Its process id on that host.
    pub pid: u32,
    /// feedwatch version it runs.
    pub version: String,
    /// When it registered (Unix seconds).
    pub started_at: i64,
    /// Its last heartbeat (Unix seconds).
    pub heartbeat_at: i64,
    /// Feeds it holds an unexpired lease on (filled by [`PgStore::instances`]).
    pub feeds_held: i64,
    /// Alerts it created (or adopted) and has not yet written to its log (filled by
    /// [`PgStore::instances`]).
    pub alerts_owed: i64,
    /// What its config lists (set by [`PgStore::set_listed`]); `None` until it has said, or
    /// for a version that does not.
    pub listed: Option<Listed>,
}

/// The feeds an instance's config lists, as the instances compare them: how many, and a
/// digest of their URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// How many feeds.
    pub feeds: i64,
    /// SHA-256 of the sorted URLs, each followed by a newline, in hex.
    pub digest: String,
}

impl Listed {
    /// The list of `urls`, in any order.
    pub fn of<'a>(urls: impl IntoIterator<Item = &'a str>) -> Listed {
        use sha2::Digest;
        let mut sorted: Vec<&str> = urls.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut h = sha2::Sha256::new();
        for u in &sorted {
            h.update(u.as_bytes());
            h.update(b"\n");
        }
        Listed {
            feeds: i64::try_from(sorted.len()).unwrap_or(i64::MAX),
            digest: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The digest's first 12 hex digits, as `status` and the journal show it.
    pub fn short(&self) -> &str {
        self.digest.get(..12).unwrap_or(&self.digest)
    }
}

/// The live instances among `instances` (heartbeat after `live_after`) that said what their
/// config lists, each with its list.
pub fn live_lists<'a>(
    instances: impl IntoIterator<Item = &'a Instance>,
    live_after: i64,
) -> impl Iterator<Item = (&'a Instance, &'a Listed)> {
    instances
        .into_iter()
        .filter(move |i| i.heartbeat_at > live_after)
        .filter_map(|i| Some((i, i.listed.as_ref()?)))
}

/// How many different feed lists the live instances among `instances` run with (see
/// [`live_lists`]): more than one means their configs differ, and each polls only the feeds
/// its own lists.
pub fn distinct_lists<'a>(
    instances: impl IntoIterator<Item = &'a Instance>,
    live_after: i64,
) -> usize {
    let mut digests: Vec<&str> = live_lists(instances, live_after)
        .map(|(_, l)| l.digest.as_str())
        .collect();
    digests.sort_unstable();
    digests.dedup();
    digests.len()
}

impl Instance {
    /// This process as an instance starting at `now`, with the default id.
    pub fn this_process(now: i64) -> Instance {
        Instance::named(None, now)
    }

    /// This process as an instance starting at `now`, with the configured id if any
    /// (`[storage] instance_id`), else `hostname:pid`.
    pub fn named(id: Option<&str>, now: i64) -> Instance {
        let hostname = hostname();
        let pid = std::process::id();
        Instance {
            id: id.map_or_else(|| format!("{hostname}:{pid}"), str::to_string),
            hostname,
            pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now,
            heartbeat_at: now,
            feeds_held: 0,
            alerts_owed: 0,
            listed: None,
        }
    }

    fn from_row(r: &Row) -> Result<Instance, PgError> {
        Ok(Instance {
            id: r.try_get("id")?,
            hostname: r.try_get("hostname")?,
            pid: u32::try_from(r.try_get::<_, i32>("pid")?).unwrap_or(0),
            version: r.try_get("version")?,
            started_at: r.try_get("started_at")?,
            heartbeat_at: r.try_get("heartbeat_at")?,
            feeds_held: r.try_get("feeds_held")?,
            alerts_owed: r.try_get("alerts_owed")?,
            listed: match (
                r.try_get::<_, Option<i32>>("feeds_listed")?,
                r.try_get::<_, Option<String>>("feeds_digest")?,
            ) {
                (Some(n), Some(digest)) => Some(Listed {
                    feeds: i64::from(n),
                    digest,
                }),
                _ => None,
            },
        })
    }
}

/// Whether a process with this id runs on this machine (an earlier run of this instance
/// that died leaves none).
fn process_alive(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The default instance id: `hostname:pid`, unique among live processes.
pub fn default_instance_id() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

fn hostname() -> String {
    let name = rustix::system::uname();
    let name = name.nodename().to_string_lossy();
    if name.is_empty() {
        "localhost".into()
    } else {
        name.into_owned()
    }
}

/// A feed leased to the caller by [`PgStore::claim_due_feeds`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The feed row's id.
    pub feed_id: i64,
    /// Its URL.
    pub url: String,
    /// When the lease ends unless renewed (Unix seconds).
    pub lease_expires: i64,
    /// The lease's fencing token: the feed's claim count, so a later claim of the same feed
    /// (by anyone, this instance included) has a higher one. The poll's commit names it
    /// ([`PgStore::commit_poll`]) and is refused once it is not the feed's current token.
    pub token: i64,
    /// The instance whose expired lease this one replaces, if any: its poll of the feed
    /// never finished (it died, hung or lost the database), worth a log line.
    pub taken_over_from: Option<String>,
}

/// Most feeds one claim may lease: a bound on one statement's work and on what one instance
/// grabs before the others get a turn.
pub const MAX_CLAIM: i64 = 10_000;

/// A claim's statement, given which feeds it may take besides being unleased (or past their
/// lease) and in which order: leases up to `$4` of them to `$1` until `$2 + $3`. `$5` is the
/// URLs the caller's config lists (`NULL`: any feed).
macro_rules! claim_sql {
    ($which:literal, $order:literal) => {
        concat!(
            "WITH due AS (
                 SELECT id, lease_owner AS previous FROM feeds
                 WHERE removed_at IS NULL
                   AND ($5::text[] IS NULL OR url = ANY($5::text[])) AND ",
            $which,
            "      AND (lease_owner IS NULL OR lease_expires <= $2)
                 ORDER BY ",
            $order,
            "    LIMIT $4
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE feeds f SET lease_owner = $1, lease_expires = $2::bigint + $3::bigint,
                 lease_token = f.lease_token + 1
             FROM due WHERE f.id = due.id
             RETURNING f.id, f.url, f.lease_expires, due.previous, f.lease_token"
        )
    };
}

/// The claim of `run`: due feeds, most overdue first, on the `feeds_due` index (version 8).
const CLAIM_DUE: &str = claim_sql!(
    "coalesce(next_poll_at, 0) <= $2",
    "coalesce(next_poll_at, 0), id"
);

/// The claim of `poll --once`: feeds not polled since `$6` (the server's clock, microseconds
/// since the epoch), due or not, polled longest ago first, on the `feeds_unpolled` index
/// (version 9).
const CLAIM_UNPOLLED: &str = claim_sql!(
    "coalesce(polled_at, '-infinity'::timestamptz) < to_timestamp($6::bigint / 1e6)",
    "coalesce(polled_at, '-infinity'::timestamptz), id"
);

impl PgStore {
    /// Records `instance` as alive (or again alive, after a restart with the same id),
    /// unless another live process holds its id: a row with a heartbeat after
    /// `stale_before`, from another host, or from a process of this host still running.
    ///
    /// # Errors
    /// [`PgError::InstanceIdInUse`]; a connection or statement error.
    pub async fn register_instance(
        &self,
        instance: &Instance,
        stale_before: i64,
    ) -> Result<(), PgError> {
        let pid = i32::try_from(instance.pid).unwrap_or(i32::MAX);
        let client = self.client().await?;
        let row = cached::query_opt(
            &client,
            "SELECT hostname, pid, heartbeat_at FROM instances WHERE id = $1",
            &[&instance.id],
        )
        .await?;
        if let Some(r) = row {
            let (host, other, beat): (String, i32, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let same_process = host == instance.hostname && other == pid;
            let gone = host == instance.hostname && !process_alive(other);
            if beat > stale_before && !same_process && !gone {
                return Err(PgError::InstanceIdInUse {
                    id: instance.id.clone(),
                    hostname: host,
                    pid: other,
                    age_secs: instance.heartbeat_at.saturating_sub(beat),
                });
            }
        }
        cached::execute(
            &client,
            "INSERT INTO instances (id, hostname, pid, version, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
                     version = excluded.version, started_at = excluded.started_at,
                     heartbeat_at = excluded.heartbeat_at,
                     feeds_listed = NULL, feeds_digest = NULL",
            &[
                &instance.id,
                &instance.hostname,
                &pid,
                &instance.version,
                &instance.started_at,
                &instance.heartbeat_at,
            ],
        )
        .await?;
        Ok(())
    }

    /// Refreshes the instance's heartbeat. `false` when its row is gone (another instance
    /// forgot it as dead): the caller must register again, and has lost its leases.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn heartbeat(&self, id: &str, now: i64) -> Result<bool, PgError> {
        let n = cached::execute(
            &self.client().await?,
            "UPDATE instances SET heartbeat_at = greatest(heartbeat_at, $2) WHERE id = $1",
            &[&id, &now],
        )
        .await?;
        Ok(n == 1)
    }

    /// Records what the instance `id`'s config lists (at start, and at each reload).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn set_listed(&self, id: &str, listed: &Listed) -> Result<(), PgError> {
        let n = i32::try_from(listed.feeds).unwrap_or(i32::MAX);
        cached::execute(
            &self.client().await?,
            "UPDATE instances SET feeds_listed = $2, feeds_digest = $3 WHERE id = $1",
            &[&id, &n, &listed.digest],
        )
        .await?;
        Ok(())
    }

    /// Every registered instance, by id, with the feeds each holds a live lease on at `now`
    /// and the alerts it owes to its log.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn instances(&self, now: i64) -> Result<Vec<Instance>, PgError> {
        let rows = cached::query(
            &self.client().await?,
            "SELECT i.id, i.hostname, i.pid, i.version, i.started_at, i.heartbeat_at,
                        i.feeds_listed, i.feeds_digest, count(f.id) AS feeds_held,
                        (SELECT count(*) FROM alerts a
                         WHERE a.delivered_at IS NULL AND a.logged_by = i.id) AS alerts_owed
                 FROM instances i
                 LEFT JOIN feeds f ON f.lease_owner = i.id AND f.lease_expires > $1
                 GROUP BY i.id ORDER BY i.id",
            &[&now],
        )
        .await?;
        rows.iter().map(Instance::from_row).collect()
    }

    /// Removes instances whose last heartbeat is before `before`; their leases become free
    /// at once (the foreign key clears `lease_owner`). Returns the ids removed.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn forget_instances(&self, before: i64) -> Result<Vec<String>, PgError> {
        let rows = cached::query(
            &self.client().await?,
            "DELETE FROM instances WHERE heartbeat_at < $1 RETURNING id",
            &[&before],
        )
        .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(PgError::from))
            .collect()
    }

    /// Leases up to `limit` feeds that are due at `now` (in the config, `next_poll_at` not
    /// after `now`) and not leased, or whose lease has expired, to `instance` until
    /// `now + lease_secs`. Most overdue first. Concurrent callers never get the same feed
    /// (see the module doc); a caller may get fewer than are due while others claim.
    ///
    /// With `listed`, only feeds whose URL is in it: an instance claims only what its config
    /// lists, so that while configs differ (a rolling reload) a feed only some list is left
    /// to those. Claiming and handing back such a feed starved the instances that list it
    /// whenever the other one asked first after each hand-back.
    ///
    /// # Errors
    /// A connection or statement error; an `instance` that is not registered (foreign key).
    pub async fn claim_due_feeds(
        &self,
        instance: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
        listed: Option<&[String]>,
    ) -> Result<Vec<Claim>, PgError> {
        self.claim(instance, now, lease_secs, limit, listed, None)
            .await
    }

    /// As [`claim_due_feeds`](Self::claim_due_feeds), for `poll --once`: the feeds whose last
    /// poll was committed before `started` (the run's start by the server's clock,
    /// [`server_clock_micros`](Self::server_clock_micros)), due or not, polled longest ago
    /// first. So one `poll --once` polls every feed once, as on SQLite (a feed it polled was
    /// stamped after `started` by its commit, and is leased to it until then), and a feed
    /// another instance polled since it started is not polled again.
    ///
    /// # Errors
    /// As [`claim_due_feeds`](Self::claim_due_feeds).
    pub async fn claim_unpolled_feeds(
        &self,
        instance: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
        listed: Option<&[String]>,
        started: i64,
    ) -> Result<Vec<Claim>, PgError> {
        self.claim(instance, now, lease_secs, limit, listed, Some(started))
            .await
    }

    /// The server's clock, in microseconds since the epoch: when a `poll --once` started,
    /// on the clock `polled_at` is written with.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn server_clock_micros(&self) -> Result<i64, PgError> {
        let row = cached::query_one(
            &self.client().await?,
            "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint",
            &[],
        )
        .await?;
        Ok(row.try_get(0)?)
    }

    /// For `poll --once`, the feeds it must wait for: not polled since `started`, and
    /// leased by another instance until after `now` (polling them, or dead and not yet past
    /// its lease). How many, and when the first lease ends; `None` when there are none.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn leased_unpolled(
        &self,
        instance: &str,
        now: i64,
        started: i64,
    ) -> Result<Option<(i64, i64)>, PgError> {
        let row = cached::query_one(
            &self.client().await?,
            "SELECT count(*), min(lease_expires) FROM feeds
              WHERE removed_at IS NULL
                AND coalesce(polled_at, '-infinity'::timestamptz) < to_timestamp($3::bigint / 1e6)
                AND lease_owner IS NOT NULL AND lease_owner <> $1 AND lease_expires > $2",
            &[&instance, &now, &started],
        )
        .await?;
        let (n, first): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        Ok(first.filter(|_| n > 0).map(|f| (n, f)))
    }

    async fn claim(
        &self,
        instance: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
        listed: Option<&[String]>,
        unpolled_since: Option<i64>,
    ) -> Result<Vec<Claim>, PgError> {
        let limit = limit.clamp(0, MAX_CLAIM);
        let lease_secs = lease_secs.max(1);
        let client = self.client().await?;
        let rows = match unpolled_since {
            None => {
                let args: [&(dyn ToSql + Sync); 5] =
                    [&instance, &now, &lease_secs, &limit, &listed];
                cached::query(&client, CLAIM_DUE, &args).await?
            }
            Some(started) => {
                let args: [&(dyn ToSql + Sync); 6] =
                    [&instance, &now, &lease_secs, &limit, &listed, &started];
                cached::query(&client, CLAIM_UNPOLLED, &args).await?
            }
        };
        let mut claims = rows
            .iter()
            .map(|r| {
                Ok(Claim {
                    feed_id: r.try_get(0)?,
                    url: r.try_get(1)?,
                    lease_expires: r.try_get(2)?,
                    taken_over_from: r.try_get::<_, Option<String>>(3)?.filter(|p| p != instance),
                    token: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, PgError>>()?;
        claims.sort_by_key(|c| c.feed_id);
        Ok(claims)
    }

    /// Extends the caller's leases on `feed_ids` to `now + lease_secs`, while their polls
    /// run. Returns the ids still held: a feed missing from the answer was taken over (its
    /// lease had expired), and the caller must not commit that poll.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn renew_leases(
        &self,
        instance: &str,
        feed_ids: &[i64],
        now: i64,
        lease_secs: i64,
    ) -> Result<Vec<i64>, PgError> {
        let lease_secs = lease_secs.max(1);
        let rows = cached::query(
            &self.client().await?,
            "UPDATE feeds SET lease_expires = $3::bigint + $4::bigint
                 WHERE lease_owner = $1 AND id = ANY($2)
                 RETURNING id",
            &[&instance, &feed_ids, &now, &lease_secs],
        )
        .await?;
        let mut held = rows
            .iter()
            .map(|r| r.try_get(0).map_err(PgError::from))
            .collect::<Result<Vec<i64>, _>>()?;
        held.sort_unstable();
        Ok(held)
    }

    /// Ends the caller's lease on a feed once its poll is done, setting when it is next due
    /// (so no other instance polls it again this interval). `false` when the caller no longer
    /// held the lease (it was taken over).
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn release_lease(
        &self,
        instance: &str,
        feed_id: i64,
        next_poll_at: i64,
    ) -> Result<bool, PgError> {
        let n = cached::execute(
            &self.client().await?,
            "UPDATE feeds SET lease_owner = NULL, lease_expires = NULL, next_poll_at = $3
                 WHERE id = $2 AND lease_owner = $1",
            &[&instance, &feed_id, &next_poll_at],
        )
        .await?;
        Ok(n == 1)
    }

    /// Gives up every lease the caller holds without touching `next_poll_at` (a clean
    /// shutdown: the feeds are due for the others at once). Returns how many were held.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn release_all(&self, instance: &str) -> Result<u64, PgError> {
        Ok(cached::execute(
            &self.client().await?,
            "UPDATE feeds SET lease_owner = NULL, lease_expires = NULL WHERE lease_owner = $1",
            &[&instance],
        )
        .await?)
    }

    /// Removes `instance`'s membership row at a clean stop, after its leases went back, so
    /// `status` does not list a stopped instance as dead for a week (a `poll --once` from a
    /// timer registers a new `hostname:pid` each run). Not while it owes alerts to its log:
    /// then the row stays, and another instance adopts them once a lease has passed. True
    /// when the row went.
    ///
    /// # Errors
    /// A connection or statement error.
    pub async fn leave(&self, instance: &str) -> Result<bool, PgError> {
        let n = cached::execute(
            &self.client().await?,
            "DELETE FROM instances i WHERE i.id = $1
                AND NOT EXISTS (SELECT 1 FROM alerts a
                                 WHERE a.logged_by = $1 AND a.delivered_at IS NULL)",
            &[&instance],
        )
        .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_hostname_and_pid() {
        let i = Instance::this_process(5);
        assert_eq!(i.id, default_instance_id());
        assert_eq!(i.id, format!("{}:{}", i.hostname, std::process::id()));
        assert!(!i.hostname.is_empty());
        assert_eq!((i.started_at, i.heartbeat_at), (5, 5));
    }
}
