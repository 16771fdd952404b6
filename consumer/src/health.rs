//! What `/readyz` answers (see [`shared::metrics`]): ready when the database answers and this process is a member
//! of the group. A scrape during a database outage still answers; it says "not ready" and why.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use shared::metrics::Readiness;
use sqlx::PgPool;

/// How long `/readyz` waits for the database's answer.
const DATABASE_CHECK_BUDGET: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Health {
    pool: OnceLock<PgPool>,
    member: AtomicBool,
}

impl Health {
    /// The pool `/readyz` checks, once it is connected.
    pub fn connected(&self, pool: &PgPool) {
        let _set_once = self.pool.set(pool.clone());
    }

    /// Whether this process is a member of the group (joined and not yet leaving).
    pub fn member(&self, member: bool) {
        self.member.store(member, Ordering::Relaxed);
    }
}

impl Readiness for Health {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let Some(pool) = self.pool.get() else { return Err("not connected to the database yet".to_owned()) };
            if !self.member.load(Ordering::Relaxed) {
                return Err("not a member of the group".to_owned());
            }
            match tokio::time::timeout(DATABASE_CHECK_BUDGET, sqlx::query("SELECT 1").execute(pool)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(format!("the database does not answer: {error}")),
                Err(_) => Err(format!("the database did not answer within {DATABASE_CHECK_BUDGET:?}")),
            }
        })
    }
}
