//! The Postgres side: one multi-row upsert per batch, and the one list of errors that count as transient.
//!
//! The upsert keeps the newest version of each order: `ON CONFLICT (order_id) DO UPDATE … WHERE` the stored
//! version is older. A replay, a duplicate delivery or an older event therefore never adds a row and never
//! regresses one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tracing::{instrument, warn};
use uuid::Uuid;

use crate::batch::{Entry, Outcome};
use crate::roles::{DatabaseRoles, Role};

/// A database error, sorted by what the pipeline must do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, restarting, overloaded or in a state that will pass: retry the same batch
    /// later, commit nothing meanwhile.
    #[error("transient database error: {0}")]
    Transient(#[source] sqlx::Error),
    /// Postgres refused the data itself (a data exception or a constraint): retrying cannot help.
    #[error("database rejected the data: {0}")]
    Rejected(#[source] sqlx::Error),
}

/// The explicit list: only SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation) mean the
/// data is at fault. Everything else (connection loss, shutdown, resource limits, a missing table a migration will
/// bring back, an unknown failure) is treated as transient, because treating it as rejected would drop good orders.
pub fn classify(error: sqlx::Error) -> StoreError {
    let rejected = match &error {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        _ => false,
    };
    if rejected { StoreError::Rejected(error) } else { StoreError::Transient(error) }
}

/// Why start-up could not prepare the database. `setting` names the variable to fix: `DATABASE_URL` or
/// `MIGRATION_DATABASE_URL`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{setting} is not a valid Postgres URL: {source}")]
    BadUrl { setting: &'static str, source: sqlx::Error },
    #[error("cannot reach Postgres at {url}: {source} (is it running? scripts/stack.sh up)")]
    Unreachable { url: String, source: sqlx::Error },
    #[error("Postgres at {url} refused the connection: {source} (check the user, password and database in {setting})")]
    Refused { url: String, setting: &'static str, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The role running the migrations may not change the schema: typically a least-privilege `DATABASE_URL`
    /// without a `MIGRATION_DATABASE_URL`.
    #[error(
        "database migration failed: {source} ({setting}'s role may not change the schema: run the migrations as \
         the owner with MIGRATION_DATABASE_URL, docs/security.md)"
    )]
    MigrationPrivileges { setting: &'static str, source: sqlx::migrate::MigrateError },
    /// The working role cannot read and write `orders`: every batch would fail, so start-up stops instead.
    #[error(
        "database user '{user}' lacks SELECT, INSERT or UPDATE on table orders: run the migrations as the owner \
         (MIGRATION_DATABASE_URL) after creating the role, or grant them (docs/security.md)"
    )]
    Privileges { user: String },
    #[error("cannot check the database user's privileges on orders: {0}")]
    PrivilegeCheck(#[source] sqlx::Error),
}

/// How long one write waits for a connection. Short, so that during an outage the pipeline returns to polling
/// Kafka quickly between tries instead of blocking inside the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects as the working role (retrying for up to `timeout` while the server is unreachable, so consumers may
/// start before Postgres is ready), applies the migrations (as the migration role when there is one, on a pool
/// closed right after), and checks that the working role may read and write `orders`. Several consumers starting
/// at once are safe: sqlx holds an advisory lock while migrating, and the statements are idempotent. When a step
/// after the connection fails, the pool is closed before the error is returned.
///
/// # Errors
/// A malformed URL, wrong credentials, a server still unreachable after `timeout`, a failed migration, or a
/// working role without the privileges it needs.
pub async fn connect(roles: &DatabaseRoles, timeout: Duration) -> Result<PgPool, ConnectError> {
    let pool = open(&roles.work, 2, timeout).await?;
    match prepare(&pool, roles, timeout).await {
        Ok(()) => Ok(pool),
        Err(error) => {
            close(&pool).await;
            Err(error)
        }
    }
}

/// The migrations, then the working role's privilege check, on the working role's pool.
async fn prepare(pool: &PgPool, roles: &DatabaseRoles, timeout: Duration) -> Result<(), ConnectError> {
    match &roles.migrate {
        Some(owner) => {
            let owner_pool = open(owner, 1, timeout).await?;
            let migrated = sqlx::migrate!("../migrations").run(&owner_pool).await;
            close(&owner_pool).await;
            migrated.map_err(|e| migrate_error(owner, e))?;
        }
        None => sqlx::migrate!("../migrations").run(pool).await.map_err(|e| migrate_error(&roles.work, e))?,
    }
    check_privileges(pool).await
}

/// Longest [`close`] waits for a pool's connections to be closed.
const CLOSE_BUDGET: Duration = Duration::from_secs(5);

/// Closes `pool` and every connection it opened, each with a Terminate message, so that its server sessions end
/// now rather than when the process exits or the pool is dropped. Only the role that opened a session (or a
/// superuser) may end it, so a session left open by a least-privilege role blocks its owner's `DROP DATABASE`.
///
/// `PgPool::close` alone does not guarantee that in sqlx 0.8: a connection being handed back while the pool closes
/// (the hand-back pings the server first) can land in the idle queue after `close` emptied it, and stays open
/// until the pool is dropped (launchbadge/sqlx#3217). So this closes again until no connection is left, for at
/// most [`CLOSE_BUDGET`]; a connection still checked out then is logged and left to the process's exit.
pub async fn close(pool: &PgPool) {
    let deadline = tokio::time::Instant::now() + CLOSE_BUDGET;
    loop {
        let closed = tokio::time::timeout_at(deadline, pool.close()).await.is_ok();
        if pool.size() == 0 {
            return;
        }
        if !closed || tokio::time::Instant::now() >= deadline {
            warn!(
                event = "pool_close_incomplete",
                connections = pool.size(),
                budget_ms = CLOSE_BUDGET.as_millis() as u64,
                "database connections still open after closing the pool"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A migration refused for want of privileges (SQLSTATE 42501) says which role to use instead.
fn migrate_error(role: &Role, error: sqlx::migrate::MigrateError) -> ConnectError {
    let denied = match &error {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db)) => db.code().as_deref() == Some("42501"),
        _ => false,
    };
    if denied {
        ConnectError::MigrationPrivileges { setting: role.setting, source: error }
    } else {
        ConnectError::Migrate(error)
    }
}

/// A pool of at most `connections` for `role`, once one connection succeeded.
async fn open(role: &Role, connections: u32, timeout: Duration) -> Result<PgPool, ConnectError> {
    let options = role.connect_options()?;
    let pool =
        PgPoolOptions::new().max_connections(connections).acquire_timeout(ACQUIRE_TIMEOUT).connect_lazy_with(options);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match pool.acquire().await {
            Ok(_) => return Ok(pool),
            Err(source) if is_unreachable(&source) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(source) if is_unreachable(&source) => {
                return Err(ConnectError::Unreachable { url: role.redacted_url(), source });
            }
            Err(source) => {
                return Err(ConnectError::Refused { url: role.redacted_url(), setting: role.setting, source });
            }
        }
    }
}

/// `has_table_privilege` with several privileges is true when *any* is held, hence three calls.
const PRIVILEGES: &str = "SELECT current_user::text, has_table_privilege('orders', 'SELECT') \
     AND has_table_privilege('orders', 'INSERT') AND has_table_privilege('orders', 'UPDATE')";

/// Fails start-up with one clear line when the working role cannot write orders (say, the role was created after
/// the grant migration ran), instead of retrying every batch forever as a transient error.
async fn check_privileges(pool: &PgPool) -> Result<(), ConnectError> {
    let (user, allowed): (String, bool) =
        sqlx::query_as(PRIVILEGES).fetch_one(pool).await.map_err(ConnectError::PrivilegeCheck)?;
    if allowed { Ok(()) } else { Err(ConnectError::Privileges { user }) }
}

/// The server is not there yet (or is starting up); wrong credentials or a missing database are not retried.
fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P")),
        _ => false,
    }
}

const UPSERT: &str = r#"
INSERT INTO orders (order_id, customer_id, customer_name, restaurant, items, total_amount, status, created_at,
                    customer_seq, version, kafka_partition, kafka_offset, produced_at, processed_by)
SELECT u.order_id, u.customer_id, u.customer_name, u.restaurant, u.items::jsonb, u.total_amount, u.status,
       u.created_at, u.customer_seq, u.version, u.kafka_partition, u.kafka_offset, u.produced_at, $14
  FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[],
              $8::timestamptz[], $9::int8[], $10::int4[], $11::int4[], $12::int8[], $13::timestamptz[])
       AS u(order_id, customer_id, customer_name, restaurant, items, total_amount, status, created_at,
            customer_seq, version, kafka_partition, kafka_offset, produced_at)
ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
    items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status,
    created_at = EXCLUDED.created_at, customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version,
    kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,
    produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by, processed_at = clock_timestamp()
WHERE orders.version < EXCLUDED.version
"#;

/// Column arrays for one UNNEST statement.
#[derive(Default)]
struct Columns {
    order_id: Vec<Uuid>,
    customer_id: Vec<String>,
    customer_name: Vec<String>,
    restaurant: Vec<String>,
    items: Vec<String>,
    total_amount: Vec<Decimal>,
    status: Vec<&'static str>,
    created_at: Vec<DateTime<Utc>>,
    customer_seq: Vec<i64>,
    version: Vec<i32>,
    kafka_partition: Vec<i32>,
    kafka_offset: Vec<i64>,
    produced_at: Vec<Option<DateTime<Utc>>>,
}

impl Columns {
    fn from_entries(entries: &[&Entry]) -> Self {
        let mut c = Columns::default();
        for entry in entries {
            let Outcome::Order(o) = &entry.outcome else { continue };
            c.order_id.push(o.order_id);
            c.customer_id.push(o.customer_id.clone());
            c.customer_name.push(o.customer_name.clone());
            c.restaurant.push(o.restaurant.clone());
            c.items.push(serde_json::to_string(&o.items).unwrap_or_else(|_| "[]".to_owned()));
            c.total_amount.push(o.total_amount);
            c.status.push(o.status.as_str());
            c.created_at.push(o.created_at);
            c.customer_seq.push(i64::try_from(o.customer_seq).unwrap_or(i64::MAX));
            c.version.push(i32::try_from(o.version).unwrap_or(i32::MAX));
            c.kafka_partition.push(entry.partition);
            c.kafka_offset.push(entry.offset);
            c.produced_at.push(entry.produced_at);
        }
        c
    }
}

/// Upserts the given orders in one statement (its own transaction). Returns the rows inserted or updated; a
/// duplicate or older version counts 0.
///
/// # Errors
/// A [`StoreError`], already classified.
#[instrument(skip_all, fields(rows = entries.len()))]
pub async fn upsert(pool: &PgPool, entries: &[&Entry], processed_by: &str) -> Result<u64, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let c = Columns::from_entries(entries);
    let result = sqlx::query(UPSERT)
        .bind(&c.order_id)
        .bind(&c.customer_id)
        .bind(&c.customer_name)
        .bind(&c.restaurant)
        .bind(&c.items)
        .bind(&c.total_amount)
        .bind(&c.status)
        .bind(&c.created_at)
        .bind(&c.customer_seq)
        .bind(&c.version)
        .bind(&c.kafka_partition)
        .bind(&c.kafka_offset)
        .bind(&c.produced_at)
        .bind(processed_by)
        .execute(pool)
        .await
        .map_err(classify)?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_pool_errors_are_transient() {
        assert!(matches!(classify(sqlx::Error::PoolTimedOut), StoreError::Transient(_)));
        let io = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert!(matches!(classify(io), StoreError::Transient(_)));
    }
}
