//! Schema migrations for PostgreSQL: the files under `migrations/postgres/`, numbered, append-
//! only, applied in order, and recorded in `feedwatch_schema` (one row per version).
//!
//! Several instances may start at once against a fresh database, so the whole run is one
//! transaction that first takes a transaction-scoped advisory lock: the second instance waits
//! for the first to commit, then finds nothing left to do. Transactional DDL means a failed
//! migration leaves nothing half-applied. A database whose recorded version is above what
//! this binary knows was written by a newer feedwatch, and is refused rather than used with a
//! schema this code does not understand (as the SQLite store does).
//!
//! Tables are created in the session's current schema (the first of `search_path`), which is
//! how the tests give each case its own schema on one server.

use super::{PgError, PgStore};

/// The migrations, in order: (version, file contents). Versions are 1, 2, 3, … with no gap.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_instances.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_poll_commit.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_search.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_digest_schedule.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_alert_xact.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/postgres/0007_alert_owner.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/postgres/0008_claim_index.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/postgres/0009_polled_at.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/postgres/0010_instance_feeds.sql"),
    ),
];

/// The schema version this binary writes.
pub const LATEST_VERSION: i32 = 10;

/// Key of the advisory lock that serialises migration runs across processes: any fixed
/// 64-bit number no other application on the database uses ("fw-migr" in ASCII).
const MIGRATION_LOCK: i64 = 0x0066_772d_6d69_6772;

/// Brings the database's schema to [`LATEST_VERSION`]. Returns the version found before.
///
/// # Errors
/// [`PgError::NewerSchema`] for a database written by a newer feedwatch; a connection or
/// statement error (the transaction is then rolled back whole).
pub async fn migrate(store: &PgStore) -> Result<i32, PgError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    // Every command on PostgreSQL migrates first: the server's "already exists, skipping"
    // notice would otherwise reach the log (stderr) at each `status` or `alerts`.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS feedwatch_schema (
             version    INTEGER     PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM feedwatch_schema",
            &[],
        )
        .await?
        .get(0);
    if found > LATEST_VERSION {
        return Err(PgError::NewerSchema {
            found,
            supported: LATEST_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO feedwatch_schema (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_latest_is_the_last() {
        for (i, (v, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(*v).ok(), Some(i + 1));
            assert!(!sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(LATEST_VERSION));
    }

    #[test]
    fn every_file_under_migrations_postgres_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations/postgres")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (name, (v, _)) in files.iter().zip(MIGRATIONS) {
            assert!(
                name.starts_with(&format!("{v:04}_")),
                "{name} is not version {v}"
            );
        }
    }
}
