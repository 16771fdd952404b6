//! Who the consumer is in Postgres: the role that does the work (`DATABASE_URL`) and, optionally, the role that
//! owns the schema and runs the migrations (`MIGRATION_DATABASE_URL`), each with its password from the URL or
//! from a file.
//!
//! Two roles are what lets the working role hold only `SELECT, INSERT, UPDATE` on `orders`: no DDL, no `DELETE`,
//! no `TRUNCATE` (the grant is a migration, `migrations/20261125000002_grant_orders_app.sql`; the roles and why
//! are in docs/security.md). With one role, as before, that role does both.

use shared::secret::{Secret, redact_url};
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::config::ConsumerSettings;

/// A database URL that does not parse, with the setting that holds it.
#[derive(Debug, thiserror::Error)]
#[error("{setting} is not a valid Postgres URL: {source}")]
pub struct BadUrl {
    pub setting: &'static str,
    source: sqlx::Error,
}

/// One Postgres role: the setting it came from (for error messages), its URL and its password from a file.
#[derive(Debug, Clone)]
pub struct Role {
    /// The environment variable that named the role, so an error says which one to fix.
    pub setting: &'static str,
    url: Secret,
    /// From `…_PASSWORD_FILE`; wins over the URL's password.
    password: Option<Secret>,
}

impl Role {
    pub fn new(setting: &'static str, url: Secret, password: Option<Secret>) -> Self {
        Self { setting, url, password }
    }

    /// The URL with its password replaced by `***`: what errors and logs may show.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }

    /// Connect options: the URL's, with the file's password when there is one. The password is set on the
    /// options rather than spliced into the URL, so it needs no percent-encoding.
    ///
    /// # Errors
    /// [`BadUrl`] when the URL is not a Postgres URL.
    pub fn connect_options(&self) -> Result<PgConnectOptions, BadUrl> {
        let options: PgConnectOptions =
            self.url.expose().parse().map_err(|source| BadUrl { setting: self.setting, source })?;
        let options = match &self.password {
            Some(password) => options.password(password.expose()),
            None => options,
        };
        Ok(options.log_statements(tracing::log::LevelFilter::Trace))
    }
}

/// The working role and, when it is a different one, the role that runs the migrations.
#[derive(Debug, Clone)]
pub struct DatabaseRoles {
    pub work: Role,
    /// `None`: the working role runs the migrations too (the single-role set-up).
    pub migrate: Option<Role>,
    /// `--skip-migrations`: a migration job ran them; nobody migrates here.
    pub skip_migrations: bool,
}

impl DatabaseRoles {
    /// The roles the settings name.
    pub fn of(settings: &ConsumerSettings) -> Self {
        Self {
            work: Role::new("DATABASE_URL", settings.database.url.clone(), settings.database_password.clone()),
            migrate: settings
                .migration_database_url
                .clone()
                .map(|url| Role::new("MIGRATION_DATABASE_URL", url, settings.migration_database_password.clone())),
            skip_migrations: settings.skip_migrations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> ConsumerSettings {
        ConsumerSettings::try_parse_from([&["order-consumer"], args].concat()).unwrap()
    }

    #[test]
    fn the_password_file_overrides_the_urls_password() {
        let mut s = settings(&["--database-url", "postgres://orders_app:old@h:5432/db"]);
        s.database_password = Some(Secret::new("n:e/w@"));
        let options = DatabaseRoles::of(&s).work.connect_options().unwrap();
        assert_eq!(options.get_username(), "orders_app");
        assert_eq!(options.get_host(), "h");
        assert_eq!(options.get_database(), Some("db"));
        // PgConnectOptions has no password getter; its Debug shows it, which is why it is never logged.
        assert!(format!("{options:?}").contains("\"n:e/w@\""));
    }

    #[test]
    fn without_a_migration_url_one_role_does_everything() {
        let roles = DatabaseRoles::of(&settings(&[]));
        assert!(roles.migrate.is_none());
        assert_eq!(roles.work.redacted_url(), "postgres://kafka_user:***@127.0.0.1:5432/food_orders");
    }

    #[test]
    fn the_migration_role_is_its_own_and_its_password_stays_out_of_debug_output() {
        let s = settings(&[
            "--database-url",
            "postgres://orders_app@h/db",
            "--migration-database-url",
            "postgres://owner:0wner-secret@h/db",
        ]);
        let roles = DatabaseRoles::of(&s);
        let migrate = roles.migrate.as_ref().unwrap();
        assert_eq!(migrate.setting, "MIGRATION_DATABASE_URL");
        assert_eq!(migrate.connect_options().unwrap().get_username(), "owner");
        assert!(!format!("{s:?} {roles:?}").contains("0wner-secret"));
    }

    #[test]
    fn a_bad_url_names_its_setting() {
        let s = settings(&["--migration-database-url", "not a url"]);
        let err = DatabaseRoles::of(&s).migrate.unwrap().connect_options().unwrap_err();
        assert!(err.to_string().starts_with("MIGRATION_DATABASE_URL is not a valid Postgres URL"), "{err}");
    }
}
