//! The database connection's life, apart from the hot path: connecting as the working role, migrating as the
//! owner, checking the working role's privileges, and closing so that every server session ends.
//!
//! Who the roles are and where their passwords come from is [`crate::roles`]'s; the writes are [`crate::store`]'s.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tracing::warn;

use crate::roles::{BadUrl, DatabaseRoles, Role};

/// Why start-up could not prepare the database. `setting` names the variable to fix: `DATABASE_URL` or
/// `MIGRATION_DATABASE_URL`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    BadUrl(#[from] BadUrl),
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
    /// `OFFSET_STORE=postgres`, and the working role cannot read and write `consumer_offsets`.
    #[error(
        "database user '{user}' lacks SELECT, INSERT or UPDATE on table consumer_offsets, which OFFSET_STORE=postgres \
         needs: run the migrations as the owner (MIGRATION_DATABASE_URL) after creating the role, or grant them \
         (docs/security.md)"
    )]
    OffsetPrivileges { user: String },
    /// `--skip-migrations`, and the migrations have not run yet.
    #[error(
        "table orders does not exist: the migrations have not run (run order-consumer --migrate-only as the \
         owner first, or start without --skip-migrations)"
    )]
    NotMigrated,
    #[error("cannot check the database user's privileges on orders: {0}")]
    PrivilegeCheck(#[source] sqlx::Error),
}

/// How long one write waits for a connection. Short, so that during an outage the pipeline returns to polling
/// Kafka quickly between tries instead of blocking inside the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects as the working role with a pool of at most `connections` (retrying for up to `timeout` while the server
/// is unreachable, so consumers may start before Postgres is ready), applies the migrations unless
/// `--skip-migrations` (as the migration role when there is one, on a pool closed right after), and checks that the working role may read and write `orders` (and `consumer_offsets` when
/// `offsets_table`, i.e. `OFFSET_STORE=postgres`). Several consumers starting at once are safe: sqlx holds an
/// advisory lock while migrating, and the statements are idempotent. When a step after the connection fails, the
/// pool is closed before the error is returned.
///
/// # Errors
/// A malformed URL, wrong credentials, a server still unreachable after `timeout`, a failed migration, or a
/// working role without the privileges it needs.
pub async fn connect(
    roles: &DatabaseRoles,
    connections: u32,
    timeout: Duration,
    offsets_table: bool,
) -> Result<PgPool, ConnectError> {
    let pool = open(&roles.work, connections, timeout).await?;
    match prepare(&pool, roles, timeout, offsets_table).await {
        Ok(()) => Ok(pool),
        Err(error) => {
            close(&pool).await;
            Err(error)
        }
    }
}

/// The migrations, then the working role's privilege check, on the working role's pool.
async fn prepare(
    pool: &PgPool,
    roles: &DatabaseRoles,
    timeout: Duration,
    offsets_table: bool,
) -> Result<(), ConnectError> {
    match &roles.migrate {
        _ if roles.skip_migrations => {}
        Some(owner) => {
            let owner_pool = open(owner, 1, timeout).await?;
            let migrated = sqlx::migrate!("../migrations").run(&owner_pool).await;
            close(&owner_pool).await;
            migrated.map_err(|e| migrate_error(owner, e))?;
        }
        None => sqlx::migrate!("../migrations").run(pool).await.map_err(|e| migrate_error(&roles.work, e))?,
    }
    check_privileges(pool, offsets_table).await
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

/// `has_table_privilege` with several privileges is true when *any* is held, hence three calls per table.
const PRIVILEGES: &str = "SELECT current_user::text, to_regclass('orders') IS NOT NULL, \
     CASE WHEN to_regclass('orders') IS NULL THEN false ELSE has_table_privilege('orders', 'SELECT') \
     AND has_table_privilege('orders', 'INSERT') AND has_table_privilege('orders', 'UPDATE') END, \
     CASE WHEN to_regclass('consumer_offsets') IS NULL THEN false ELSE \
     has_table_privilege('consumer_offsets', 'SELECT') AND has_table_privilege('consumer_offsets', 'INSERT') \
     AND has_table_privilege('consumer_offsets', 'UPDATE') END";

/// Fails start-up with one clear line when the working role cannot write orders (say, the role was created after
/// the grant migration ran), or `consumer_offsets` when `offsets_table` (`OFFSET_STORE=postgres`), instead of
/// retrying every batch forever as a transient error.
async fn check_privileges(pool: &PgPool, offsets_table: bool) -> Result<(), ConnectError> {
    let (user, migrated, orders, offsets): (String, bool, bool, bool) =
        sqlx::query_as(PRIVILEGES).fetch_one(pool).await.map_err(ConnectError::PrivilegeCheck)?;
    if !migrated {
        return Err(ConnectError::NotMigrated);
    }
    match (orders, offsets || !offsets_table) {
        (true, true) => Ok(()),
        (false, _) => Err(ConnectError::Privileges { user }),
        (true, false) => Err(ConnectError::OffsetPrivileges { user }),
    }
}

/// The server is not there yet (or is starting up); wrong credentials or a missing database are not retried.
fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P")),
        _ => false,
    }
}
