//! The Postgres settings every binary and tool of this project shares: `DATABASE_URL`, a [`Secret`] because it
//! may carry a password, with its one default ([`crate::DEFAULT_DATABASE_URL`]), and the URLs derived from it.

use crate::secret::{Secret, redact_url};

/// Postgres, as `DATABASE_URL` names it.
#[derive(Debug, Clone, clap::Args)]
pub struct Database {
    /// Postgres connection URL (its password is never logged).
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = crate::DEFAULT_DATABASE_URL,
          hide_default_value = true, hide_env_values = true)]
    pub url: Secret,
}

impl Default for Database {
    fn default() -> Self {
        Self::new(crate::DEFAULT_DATABASE_URL)
    }
}

impl Database {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: Secret::new(url) }
    }

    /// The URL of another database on the same server, as the same user: this URL with `database` in place of
    /// its database name (the experiment creates its databases beside the stack's own). It carries the password:
    /// for the client or the child process that connects, never for a log line.
    pub fn url_beside(&self, database: &str) -> String {
        let url = self.url.expose();
        let Some((base, name)) = url.rsplit_once('/') else { return url.to_owned() };
        // The query string (`?sslmode=…`) belongs to the connection, not to the database name.
        match name.split_once('?') {
            Some((_, query)) => format!("{base}/{database}?{query}"),
            None => format!("{base}/{database}"),
        }
    }

    /// The URL with its password replaced by `***`: what errors and logs may show.
    pub fn redacted(&self) -> String {
        redact_url(self.url.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_beside_keeps_server_user_and_options() {
        let db = Database::new("postgres://u:p@h:5432/food_orders?sslmode=disable");
        assert_eq!(db.url_beside("bench_1"), "postgres://u:p@h:5432/bench_1?sslmode=disable");
        assert_eq!(
            Database::new(Database::default().url_beside("x")).redacted(),
            "postgres://kafka_user:***@127.0.0.1:5432/x"
        );
        assert_eq!(format!("{:?}", Database::default()), "Database { url: *** }");
    }
}
