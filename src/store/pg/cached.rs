//! Statements through the connection's cache of prepared statements.
//!
//! A statement given as text is prepared anew at every use: a parse round trip, then the
//! execution. `benches/backends.sh` counted 34.6 round trips per cold poll with only the
//! commit's inner statements cached, 13.55 of them parses, and the server parsing each one.
//! Through these helpers a statement is parsed once per pooled connection
//! (`prepare_cached`, keyed by its text) and every later use is one round trip.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

/// Parameters of a statement.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// `execute` of `sql`, prepared once per connection.
pub(super) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Error> {
    let st = c.prepare_cached(sql).await?;
    c.execute(&st, params).await
}

/// `query` of `sql`, prepared once per connection.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Error> {
    let st = c.prepare_cached(sql).await?;
    c.query(&st, params).await
}

/// `query_opt` of `sql`, prepared once per connection.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Error> {
    let st = c.prepare_cached(sql).await?;
    c.query_opt(&st, params).await
}

/// `query_one` of `sql`, prepared once per connection.
pub(super) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, Error> {
    let st = c.prepare_cached(sql).await?;
    c.query_one(&st, params).await
}
