//! The Postgres settings every binary and tool of this project shares: `DATABASE_URL`, a [`Secret`] because it
//! may carry a password, with its one default ([`crate::DEFAULT_DATABASE_URL`]), and the URLs derived from it.
//!
//! Durations on the command line are here too ([`millis`]): the options whose names end in `_MS` take a number of
//! milliseconds, as their names say, or a duration such as `250ms` or `2s`.

use std::time::Duration;

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

/// A clap value parser for the options named `…_MS`: a bare number is milliseconds, as the name says; a duration
/// with its unit (`250ms`, `2s`, `1m`) is read as written.
///
/// # Errors
/// Neither a number nor a duration.
pub fn millis(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => humantime::parse_duration(value.trim()).map_err(|e| {
            format!("'{value}' is neither milliseconds (a whole number) nor a duration such as 250ms: {e}")
        }),
    }
}

/// As [`millis`], for the durations that must not be zero.
///
/// # Errors
/// Not a duration, or zero.
pub fn positive_millis(value: &str) -> Result<Duration, String> {
    let duration = millis(value)?;
    if duration.is_zero() { Err(format!("'{value}' must be at least 1 ms")) } else { Ok(duration) }
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

    #[test]
    fn milliseconds_are_a_number_or_a_duration() {
        assert_eq!(millis("50"), Ok(Duration::from_millis(50)));
        assert_eq!(millis("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(millis("250ms"), Ok(Duration::from_millis(250)));
        assert!(millis("soon").unwrap_err().contains("'soon' is neither milliseconds"));
        assert!(millis("-5").is_err());
        assert_eq!(positive_millis("0").unwrap_err(), "'0' must be at least 1 ms");
    }
}
