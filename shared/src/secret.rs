//! Secrets that must never reach a log line, and reading them from files (Docker or Kubernetes secrets).

use std::fmt;
use std::path::Path;

/// A string whose `Debug` and `Display` print `***`. Read it with [`Secret::expose`] where it is really used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself: pass it to the client that needs it, never to a formatter.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Reads a secret from a file, as mounted by Docker secrets (`/run/secrets/…`) or a Kubernetes secret volume:
/// the whole file, minus its trailing line break(s), which editors and `echo` add but no password contains.
/// Used as a clap value parser, so an unreadable or empty file stops the program before it starts, with one
/// error line that names the path and never the content.
///
/// # Errors
/// The file cannot be read, is not UTF-8, or holds nothing but line breaks.
pub fn read_secret_file(path: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{path} is empty"));
    }
    Ok(Secret::new(value))
}

/// Replaces the password of a URL such as `postgres://user:password@host/db` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_secret_file_loses_its_trailing_line_break_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, " pa ss\r\n\n").unwrap();
        assert_eq!(read_secret_file(file.to_str().unwrap()).unwrap().expose(), " pa ss");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_secret_file(file.to_str().unwrap()).unwrap_err().ends_with("is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_secret_file_names_the_path() {
        let err = read_secret_file("/no/such/secret").unwrap_err();
        assert!(err.starts_with("cannot read /no/such/secret: "), "{err}");
    }

    #[test]
    fn url_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://kafka_user:p@ss@127.0.0.1:5432/food_orders"),
            "postgres://kafka_user:***@127.0.0.1:5432/food_orders"
        );
        assert_eq!(redact_url("postgres://127.0.0.1/db"), "postgres://127.0.0.1/db");
    }
}
